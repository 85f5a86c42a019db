"""Events, commands, timers and Q.931 builders of the H.225.0 call machine.

:mod:`gateway.h323.call` holds the state machine; this module holds its
vocabulary: frozen keyword-only events (past tense, base
:class:`H225CallEvent`) and commands (imperative, base
:class:`H225CallCommand`), the :class:`H225CallConfig` timers, and the
helpers that wrap an :class:`H225Message` in the Q.931 message that carries
it (H.225.0 section 7.3, Table 4).
"""

from dataclasses import dataclass, field
from enum import Enum

from gateway.h323 import codec, q931
from gateway.h323.codec import (
    AliasAddress,
    AliasKind,
    EndpointInfo,
    H225Message,
    TransportAddress,
)
from gateway.h323.errors import LocalH323Error
from gateway.h323.q931 import IeId, InformationElement
from gateway.h323.tpkt import encode_tpkt

__all__ = [
    "AlertingReceived",
    "CallProceedingReceived",
    "CallState",
    "ConnectReceived",
    "FacilityReceived",
    "FastStartAccepted",
    "FastStartRefused",
    "H225CallCommand",
    "H225CallConfig",
    "H225CallEvent",
    "MessageDropped",
    "PeerH245Address",
    "ProgressReceived",
    "ProtocolErrorDetected",
    "Released",
    "SendAlerting",
    "SendCallProceeding",
    "SendConnect",
    "SendH245",
    "SendProgress",
    "SendRelease",
    "SendSetup",
    "SendStartH245",
    "SetupReceived",
    "StatusReceived",
    "TunnelledH245",
]


class CallState(Enum):
    """Q.931 section 2.1.1 user-side call states; values are the Call State IE.

    RELEASED is the Null state after the call was cleared; it reports 0.
    """

    NULL = 0
    CALL_INITIATED = 1
    OUTGOING_CALL_PROCEEDING = 3
    CALL_DELIVERED = 4
    CALL_PRESENT = 6
    CALL_RECEIVED = 7
    INCOMING_CALL_PROCEEDING = 9
    ACTIVE = 10
    RELEASED = -1

    @property
    def call_state_ie(self) -> int:
        """The Call State IE value (Q.931 section 4.5.7)."""
        return max(self.value, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class H225CallConfig:
    """Timers and local identity of an H.225.0 call (Q.931 Table 9-1).

    ``t303_s`` bounds the wait for any answer to Setup (H.225.0 section 7.4
    suggests 4 s), ``t310_s`` the wait after Call Proceeding and ``t301_s``
    the ringing (Q.931: at least 180 s).  ``clear_on_out_of_order`` (the
    default) makes a message unexpected in the call state clear the call
    with Release Complete, cause 101: on H.225.0's reliable TCP channel such
    a message means the peer's call state went astray, and a gateway must
    fail the call at once rather than ring until T301 (issue #5).  False
    gives Q.931 section 5.8.4's Status 101 reply instead, a tolerance for
    peers known to send harmless messages out of sequence.
    """

    t303_s: float = 4.0
    t310_s: float = 30.0
    t301_s: float = 180.0
    endpoint: EndpointInfo = field(default_factory=EndpointInfo)
    display: str | None = None
    local_address: TransportAddress | None = None
    max_pdu_size_bytes: int = 16384
    clear_on_out_of_order: bool = True

    def __post_init__(self) -> None:
        for name in ("t303_s", "t310_s", "t301_s"):
            if getattr(self, name) <= 0:
                raise LocalH323Error(f"{name} must be positive")


# -- events ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class H225CallEvent:
    """Base of every event an :class:`~gateway.h323.call.H225Call` reports."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupReceived(H225CallEvent):
    """The peer's Setup (H.225.0 section 8.1): who calls whom, and how.

    ``dialled_digits`` is the Called Party Number, else the first
    dialledDigits destination alias.  ``fast_start`` holds the proposed
    OpenLogicalChannels (PER) or None when the caller did not use Fast Start.
    """

    call_reference: int
    call_identifier: bytes
    conference_id: bytes | None
    source_aliases: tuple[AliasAddress, ...]
    destination_aliases: tuple[AliasAddress, ...]
    dialled_digits: str | None
    calling_number: str | None
    display: str | None
    fast_start: tuple[bytes, ...] | None
    is_h245_tunnelling: bool
    h245_address: TransportAddress | None
    source_call_signal_address: TransportAddress | None
    endpoint: EndpointInfo | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallProceedingReceived(H225CallEvent):
    """Call Proceeding arrived (Q.931 section 5.1.5.2)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertingReceived(H225CallEvent):
    """Alerting arrived: the called party rings (Q.931 section 5.1.7)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgressReceived(H225CallEvent):
    """Progress arrived; ``progress_description`` from its indicator, if any."""

    progress_description: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectReceived(H225CallEvent):
    """Connect arrived: the call is answered (Q.931 section 5.1.8)."""

    endpoint: EndpointInfo | None


@dataclass(frozen=True, slots=True, kw_only=True)
class FastStartAccepted(H225CallEvent):
    """The callee accepted Fast Start with these OLCs (H.323 section 8.1.7.1)."""

    olcs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FastStartRefused(H225CallEvent):
    """Connect came without fastStart in any response (H.323 section 8.1.7.1)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerH245Address(H225CallEvent):
    """The peer listens for a separate H.245 connection here (H.323 8.1.8)."""

    address: TransportAddress


@dataclass(frozen=True, slots=True, kw_only=True)
class TunnelledH245(H225CallEvent):
    """H.245 PDUs from h245Control (H.323 section 8.2.1), in received order."""

    pdus: tuple[bytes, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FacilityReceived(H225CallEvent):
    """A Facility whose reason needs the application (e.g. callForwarded)."""

    reason: str | None
    alternative_address: TransportAddress | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusReceived(H225CallEvent):
    """A Status (Q.931 section 5.8.11): the peer's cause and call state."""

    cause: int | None
    call_state: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolErrorDetected(H225CallEvent):
    """The peer broke Q.931/H.225.0; ``cause`` is the Q.850 cause of the error.

    It is the cause of the Release Complete or Status we answered with, if
    any: a broken Release Complete is not answered (Q.931 section 5.8.6.1).
    """

    cause: int
    reason: str
    is_call_cleared: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDropped(H225CallEvent):
    """A message was ignored without a reply (Q.931 sections 5.8.1-5.8.3).

    For example after release, for another call reference, with a foreign
    protocol discriminator or a malformed call reference.
    """

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Released(H225CallEvent):
    """The call is cleared.  ``is_local`` is True when we sent Release Complete.

    ``reason`` is the peer's ReleaseCompleteReason name, when it sent one.
    """

    cause: int
    reason: str | None
    is_local: bool


# -- commands --------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class H225CallCommand:
    """Base of every command an :class:`~gateway.h323.call.H225Call` accepts."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendSetup(H225CallCommand):
    """Place the call (Q.931 section 5.1.1, H.225.0 section 8.1)."""

    destination_aliases: tuple[AliasAddress, ...] = ()
    called_number: str | None = None
    calling_number: str | None = None
    source_aliases: tuple[AliasAddress, ...] = ()
    display: str | None = None
    fast_start: tuple[bytes, ...] = ()
    is_h245_tunnelling: bool = True
    h245_address: TransportAddress | None = None
    dest_call_signal_address: TransportAddress | None = None
    conference_id: bytes | None = None
    # The gatekeeper already knows the call by these (ARQ, H.225.0 7.9.3).
    call_identifier: bytes | None = None
    call_reference: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendCallProceeding(H225CallCommand):
    """Answer Setup with Call Proceeding (Q.931 section 5.2.5.2)."""

    fast_start_accepted: tuple[bytes, ...] | None = None
    h245_address: TransportAddress | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendAlerting(H225CallCommand):
    """Ring: send Alerting (Q.931 section 5.2.5.3)."""

    fast_start_accepted: tuple[bytes, ...] | None = None
    h245_address: TransportAddress | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendProgress(H225CallCommand):
    """Send Progress; ``progress_description`` 8 is in-band info (Q.931 4.5.23)."""

    fast_start_accepted: tuple[bytes, ...] | None = None
    h245_address: TransportAddress | None = None
    progress_description: int = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class SendConnect(H225CallCommand):
    """Answer the call (Q.931 section 5.2.8)."""

    fast_start_accepted: tuple[bytes, ...] | None = None
    h245_address: TransportAddress | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRelease(H225CallCommand):
    """Clear the call with Release Complete and Q.850 ``cause``."""

    cause: int = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class SendH245(H225CallCommand):
    """Tunnel H.245 PDUs in h245Control (H.323 section 8.2.1)."""

    pdus: tuple[bytes, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SendStartH245(H225CallCommand):
    """Offer a separate H.245 address in Facility startH245 (H.323 8.2.3)."""

    address: TransportAddress


# -- Q.931 builders --------------------------------------------------------------

NO_CALL_IDENTIFIER = bytes(16)
"""callIdentifier sent when a broken first message left us without one."""


def frame(
    message_type: q931.MessageType,
    *,
    call_reference: int,
    is_from_destination: bool,
    body: H225Message,
    ies: tuple[InformationElement, ...] = (),
    display: str | None = None,
) -> bytes:
    """The TPKT-framed Q.931 message carrying ``body`` (H.225.0 7.2, RFC 1006).

    IEs go in ascending identifier order (Q.931 section 4.5.1); Display sits
    before the party numbers and the User-User IE comes last.
    """
    extra = [*ies]
    if display:
        extra.append(q931.display_ie(display))
    extra.sort(key=lambda ie: ie.identifier)
    message = q931.Q931Message(
        message_type=message_type,
        call_reference=call_reference,
        is_from_destination=is_from_destination,
        ies=(*extra, q931.user_user_ie(codec.encode_h225(body))),
    )
    return encode_tpkt(q931.encode(message))


def setup_ies(command: SendSetup) -> tuple[InformationElement, ...]:
    """Bearer Capability and party numbers of Setup (H.225.0 section 7.3.10)."""
    ies = [q931.BearerCapability().to_ie()]
    if command.calling_number:
        number = q931.PartyNumber(digits=command.calling_number, presentation=0)
        ies.append(number.to_ie(is_calling=True))
    if command.called_number:
        called = q931.PartyNumber(digits=command.called_number)
        ies.append(called.to_ie(is_calling=False))
    return tuple(ies)


def progress_ie(description: int) -> InformationElement:
    """Progress Indicator: ITU coding, location user (Q.931 section 4.5.23)."""
    return InformationElement(
        identifier=IeId.PROGRESS_INDICATOR,
        contents=bytes((0x80, 0x80 | (description & 0x7F))),
    )


def status_ies(cause: int, state: CallState) -> tuple[InformationElement, ...]:
    """Cause and Call State, both mandatory in Status (Q.931 section 3.1.16)."""
    call_state = InformationElement(
        identifier=IeId.CALL_STATE, contents=bytes((state.call_state_ie,))
    )
    return (q931.Cause(value=cause).to_ie(), call_state)


def progress_description(message: q931.Q931Message) -> int | None:
    """The progress description of a Progress Indicator IE, if well formed."""
    contents = message.find(IeId.PROGRESS_INDICATOR)
    if contents is None or len(contents) < 2:
        return None
    return contents[1] & 0x7F


def call_state_of(message: q931.Q931Message) -> int | None:
    """The Call State IE value (Q.931 section 4.5.7), if present."""
    contents = message.find(IeId.CALL_STATE)
    return None if not contents else contents[0] & 0x3F


def dialled_digits(
    message: q931.Q931Message, aliases: tuple[AliasAddress, ...]
) -> str | None:
    """The Called Party Number, else the first dialledDigits alias.

    Raises RemoteH323Error (cause 100) if the Called Party Number is malformed.
    """
    called = message.called_party_number
    if called is not None:
        return called.digits
    return first_digits(aliases)


def first_digits(aliases: tuple[AliasAddress, ...]) -> str | None:
    """The value of the first dialledDigits alias, if any."""
    for alias in aliases:
        if alias.kind is AliasKind.DIALLED_DIGITS:
            return alias.value
    return None
