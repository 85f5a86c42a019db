"""Typed builders and readers for the H.245 messages the gateway exchanges.

Every builder returns an :class:`~gateway.h323.codec.H245Message` whose body
is in pycrate's plain value form (SEQUENCE as dict, CHOICE as ``(name,
value)``, NULL as 0), ready for :func:`~gateway.h323.codec.encode_h245`.
The readers lift the few fields the control protocol needs out of decoded
bodies (into the events :class:`~gateway.h323.h245.H245Session` reports) and
raise :class:`RemoteH323Error` when a mandatory one is missing.  The session's
configuration and event classes live here too so that ``h245.py`` holds only
the state machine.
Clause numbers refer to ITU-T H.245 (05/2011) and its Annex A syntax.
"""

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from gateway.h323.codec import (
    H245Category,
    H245Message,
    TransportAddress,
    h245_protocol_identifier,
)
from gateway.h323.errors import LocalH323Error, RemoteH323Error

__all__ = [
    "DTMF_SIGNALS",
    "TERMINAL_TYPE_GATEWAY",
    "TERMINAL_TYPE_MCU",
    "TERMINAL_TYPE_TERMINAL",
    "CapabilitiesAcknowledged",
    "CapabilitiesReceived",
    "CapabilitiesRejected",
    "CapabilityEntry",
    "ChannelClosed",
    "ChannelOpenRequested",
    "ChannelOpened",
    "ChannelRejected",
    "FastUpdateRequested",
    "FlowControl",
    "H245Config",
    "H245Event",
    "H2250Parameters",
    "MasterSlaveDetermined",
    "MediaAddresses",
    "MessageIgnored",
    "Paused",
    "PeerUnresponsive",
    "ProtocolError",
    "RoundTripMeasured",
    "SessionEnded",
    "UserInput",
    "UserInputKind",
    "close_logical_channel",
    "close_logical_channel_ack",
    "end_session_command",
    "flow_control_command",
    "function_not_supported",
    "function_not_understood",
    "master_slave_determination",
    "master_slave_determination_ack",
    "master_slave_determination_reject",
    "master_slave_determination_release",
    "open_logical_channel",
    "open_logical_channel_ack",
    "open_logical_channel_reject",
    "read_ack_addresses",
    "read_capability_set",
    "read_fast_update",
    "read_flow_control",
    "read_h245_address",
    "read_open_logical_channel",
    "read_user_input",
    "round_trip_delay_request",
    "round_trip_delay_response",
    "terminal_capability_set",
    "terminal_capability_set_ack",
    "terminal_capability_set_reject",
    "terminal_capability_set_release",
    "user_input",
    "video_fast_update_picture",
]

REQUEST, RESPONSE = H245Category.REQUEST, H245Category.RESPONSE
COMMAND, INDICATION = H245Category.COMMAND, H245Category.INDICATION

DTMF_SIGNALS = frozenset("0123456789#*ABCD!")
"""Characters allowed in userInput signal.signalType (H.245 Annex A)."""
MAX_STATUS_DETERMINATION_NUMBER = (1 << 24) - 1
MAX_BITRATE_UNITS = (1 << 24) - 1
"""flowControlCommand maximumBitRate is in units of 100 bit/s (H.245 15.4)."""

CapabilityEntry = tuple[int, Any]
"""(capabilityTableEntryNumber, Capability CHOICE value), H.245 6.2.8.1."""


class UserInputKind(Enum):
    """How digits travel in userInput (H.245 6.3.7 / 11.2)."""

    ALPHANUMERIC = "alphanumeric"
    SIGNAL = "signal"


@dataclass(frozen=True, slots=True, kw_only=True)
class H2250Parameters:
    """H2250LogicalChannelParameters of an OpenLogicalChannel (H.245 Annex A).

    ``media`` is where the receiver should send RTP (omitted for a
    unidirectional forward channel, H.323 8.4.1); ``media_control`` is our
    RTCP address.  ``dynamic_payload_type`` is 96..127 or None.
    """

    session_id: int
    media_control: TransportAddress | None = None
    media: TransportAddress | None = None
    dynamic_payload_type: int | None = None
    is_silence_suppressed: bool | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.session_id <= 255:
            raise LocalH323Error(f"session id {self.session_id} not in 0..255")
        pt = self.dynamic_payload_type
        if pt is not None and not 96 <= pt <= 127:
            raise LocalH323Error(f"dynamic payload type {pt} not in 96..127")

    def to_asn(self) -> dict[str, Any]:
        """The H2250LogicalChannelParameters value."""
        value: dict[str, Any] = {"sessionID": self.session_id}
        if self.media is not None:
            value["mediaChannel"] = self.media.to_h245()
        if self.media_control is not None:
            value["mediaControlChannel"] = self.media_control.to_h245()
        if self.is_silence_suppressed is not None:
            value["silenceSuppression"] = self.is_silence_suppressed
        if self.dynamic_payload_type is not None:
            value["dynamicRTPPayloadType"] = self.dynamic_payload_type
        return value


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaAddresses:
    """Media (RTP) and media control (RTCP) addresses from an OLC or its Ack."""

    session_id: int | None
    media: TransportAddress | None
    media_control: TransportAddress | None


def _check_channel(number: int) -> None:
    # LogicalChannelNumber ::= INTEGER (1..65535); 0 is not a forward channel.
    if not 1 <= number <= 65535:
        raise LocalH323Error(f"logical channel number {number} not in 1..65535")


def _check_sequence(number: int) -> None:
    if not 0 <= number <= 255:
        raise LocalH323Error(f"sequence number {number} not in 0..255")


# -- master-slave determination (H.245 8.2) -------------------------------------


def master_slave_determination(*, terminal_type: int, number: int) -> H245Message:
    """MasterSlaveDetermination (H.245 8.2): terminal type and random number."""
    if not 0 <= terminal_type <= 255:
        raise LocalH323Error(f"terminal type {terminal_type} not in 0..255")
    if not 0 <= number <= MAX_STATUS_DETERMINATION_NUMBER:
        raise LocalH323Error(f"status determination number {number} too large")
    body = {"terminalType": terminal_type, "statusDeterminationNumber": number}
    return H245Message(category=REQUEST, name="masterSlaveDetermination", body=body)


def master_slave_determination_ack(*, is_receiver_master: bool) -> H245Message:
    """MasterSlaveDeterminationAck: ``decision`` is the receiver's role (8.2)."""
    decision = ("master" if is_receiver_master else "slave", 0)
    return H245Message(
        category=RESPONSE,
        name="masterSlaveDeterminationAck",
        body={"decision": decision},
    )


def master_slave_determination_reject() -> H245Message:
    """MasterSlaveDeterminationReject with cause identicalNumbers (8.2)."""
    return H245Message(
        category=RESPONSE,
        name="masterSlaveDeterminationReject",
        body={"cause": ("identicalNumbers", 0)},
    )


def master_slave_determination_release() -> H245Message:
    """MasterSlaveDeterminationRelease, sent when T106 expires (C.2.4)."""
    return H245Message(
        category=INDICATION, name="masterSlaveDeterminationRelease", body={}
    )


# -- capability exchange (H.245 8.3) -----------------------------------------------


def terminal_capability_set(
    *,
    sequence_number: int,
    capability_table: Sequence[CapabilityEntry],
    capability_descriptors: Sequence[Mapping[str, Any]],
) -> H245Message:
    """TerminalCapabilitySet (H.245 8.3).

    An empty ``capability_table`` gives the empty set that pauses the peer's
    transmission (H.323 8.4.6); its descriptors are then omitted too.
    """
    _check_sequence(sequence_number)
    body: dict[str, Any] = {
        "sequenceNumber": sequence_number,
        "protocolIdentifier": h245_protocol_identifier(),
    }
    numbers = [number for number, _ in capability_table]
    if len(set(numbers)) != len(numbers) or not all(1 <= n <= 65535 for n in numbers):
        raise LocalH323Error(f"bad capability entry numbers {numbers}")
    if capability_table:
        body["capabilityTable"] = [
            {"capabilityTableEntryNumber": number, "capability": value}
            for number, value in capability_table
        ]
        if capability_descriptors:
            body["capabilityDescriptors"] = [dict(d) for d in capability_descriptors]
    return H245Message(category=REQUEST, name="terminalCapabilitySet", body=body)


def terminal_capability_set_ack(*, sequence_number: int) -> H245Message:
    """TerminalCapabilitySetAck echoing the set's sequence number (8.3)."""
    _check_sequence(sequence_number)
    return H245Message(
        category=RESPONSE,
        name="terminalCapabilitySetAck",
        body={"sequenceNumber": sequence_number},
    )


def terminal_capability_set_reject(
    *, sequence_number: int, cause: str = "unspecified"
) -> H245Message:
    """TerminalCapabilitySetReject with a NULL-valued cause name (8.3)."""
    _check_sequence(sequence_number)
    body = {"sequenceNumber": sequence_number, "cause": (cause, 0)}
    return H245Message(category=RESPONSE, name="terminalCapabilitySetReject", body=body)


def terminal_capability_set_release() -> H245Message:
    """TerminalCapabilitySetRelease, sent when T101 expires (C.4.4)."""
    return H245Message(
        category=INDICATION, name="terminalCapabilitySetRelease", body={}
    )


# -- logical channels (H.245 8.4) -----------------------------------------------------


def open_logical_channel(
    *, number: int, data_type: Any, parameters: H2250Parameters
) -> H245Message:
    """A unidirectional OpenLogicalChannel over H.225.0 (H.245 8.4.1)."""
    _check_channel(number)
    body = {
        "forwardLogicalChannelNumber": number,
        "forwardLogicalChannelParameters": {
            "dataType": data_type,
            "multiplexParameters": (
                "h2250LogicalChannelParameters",
                parameters.to_asn(),
            ),
        },
    }
    return H245Message(category=REQUEST, name="openLogicalChannel", body=body)


def open_logical_channel_ack(
    *,
    number: int,
    session_id: int | None,
    media: TransportAddress | None,
    media_control: TransportAddress | None,
) -> H245Message:
    """OpenLogicalChannelAck with h2250LogicalChannelAckParameters (8.4.1).

    ``media`` is where the opener must send RTP to us and ``media_control``
    our RTCP address (H.323 8.4.1).
    """
    _check_channel(number)
    parameters: dict[str, Any] = {}
    if session_id is not None:
        parameters["sessionID"] = session_id
    if media is not None:
        parameters["mediaChannel"] = media.to_h245()
    if media_control is not None:
        parameters["mediaControlChannel"] = media_control.to_h245()
    body = {
        "forwardLogicalChannelNumber": number,
        "forwardMultiplexAckParameters": (
            "h2250LogicalChannelAckParameters",
            parameters,
        ),
    }
    return H245Message(category=RESPONSE, name="openLogicalChannelAck", body=body)


def open_logical_channel_reject(*, number: int, cause: str) -> H245Message:
    """OpenLogicalChannelReject with a NULL-valued cause name (8.4.1)."""
    _check_channel(number)
    body = {"forwardLogicalChannelNumber": number, "cause": (cause, 0)}
    return H245Message(category=RESPONSE, name="openLogicalChannelReject", body=body)


def close_logical_channel(*, number: int, is_user: bool = True) -> H245Message:
    """CloseLogicalChannel; source lcse when the protocol itself closes (8.4.2)."""
    _check_channel(number)
    body = {
        "forwardLogicalChannelNumber": number,
        "source": ("user" if is_user else "lcse", 0),
    }
    return H245Message(category=REQUEST, name="closeLogicalChannel", body=body)


def close_logical_channel_ack(*, number: int) -> H245Message:
    """CloseLogicalChannelAck (8.4.2)."""
    _check_channel(number)
    return H245Message(
        category=RESPONSE,
        name="closeLogicalChannelAck",
        body={"forwardLogicalChannelNumber": number},
    )


# -- commands and indications --------------------------------------------------------


def end_session_command() -> H245Message:
    """EndSessionCommand disconnect (H.245 15.9, H.323 8.5)."""
    return H245Message(
        category=COMMAND, name="endSessionCommand", body=("disconnect", 0)
    )


def round_trip_delay_request(*, sequence_number: int) -> H245Message:
    """RoundTripDelayRequest (H.245 8.9)."""
    _check_sequence(sequence_number)
    body = {"sequenceNumber": sequence_number}
    return H245Message(category=REQUEST, name="roundTripDelayRequest", body=body)


def round_trip_delay_response(*, sequence_number: int) -> H245Message:
    """RoundTripDelayResponse echoing the request's number (H.245 8.9)."""
    _check_sequence(sequence_number)
    body = {"sequenceNumber": sequence_number}
    return H245Message(category=RESPONSE, name="roundTripDelayResponse", body=body)


def user_input(
    *, digits: str, kind: UserInputKind, duration_ms: int | None = None
) -> H245Message:
    """UserInputIndication alphanumeric (any text) or signal (one DTMF key).

    A signal carries exactly one character of ``DTMF_SIGNALS`` and an
    optional duration in ms (1..65535), H.245 6.3.7.  Raises LocalH323Error
    otherwise.
    """
    if kind is UserInputKind.ALPHANUMERIC:
        if not digits or duration_ms is not None:
            raise LocalH323Error("alphanumeric user input needs text, no duration")
        return H245Message(
            category=INDICATION, name="userInput", body=("alphanumeric", digits)
        )
    if len(digits) != 1 or digits not in DTMF_SIGNALS:
        raise LocalH323Error(f"signal user input needs one DTMF key, not {digits!r}")
    signal: dict[str, Any] = {"signalType": digits}
    if duration_ms is not None:
        if not 1 <= duration_ms <= 65535:
            raise LocalH323Error(f"signal duration {duration_ms} not in 1..65535")
        signal["duration"] = duration_ms
    return H245Message(category=INDICATION, name="userInput", body=("signal", signal))


def video_fast_update_picture(*, number: int) -> H245Message:
    """MiscellaneousCommand videoFastUpdatePicture for a channel (H.245 15.10)."""
    _check_channel(number)
    body = {"logicalChannelNumber": number, "type": ("videoFastUpdatePicture", 0)}
    return H245Message(category=COMMAND, name="miscellaneousCommand", body=body)


def flow_control_command(
    *, number: int | None, max_bitrate_bps: int | None
) -> H245Message:
    """FlowControlCommand for one channel or the whole multiplex (H.245 15.4).

    The bitrate is rounded down to units of 100 bit/s; None lifts the limit.
    """
    scope: tuple[str, int]
    if number is None:
        scope = ("wholeMultiplex", 0)
    else:
        _check_channel(number)
        scope = ("logicalChannelNumber", number)
    restriction: tuple[str, int]
    if max_bitrate_bps is None:
        restriction = ("noRestriction", 0)
    else:
        units = max_bitrate_bps // 100
        if not 0 <= units <= MAX_BITRATE_UNITS:
            raise LocalH323Error(f"bitrate {max_bitrate_bps} bit/s out of range")
        restriction = ("maximumBitRate", units)
    body = {"scope": scope, "restriction": restriction}
    return H245Message(category=COMMAND, name="flowControlCommand", body=body)


def function_not_understood(message: H245Message) -> H245Message:
    """FunctionNotUnderstood returning a request, response or command.

    H.245 Annex A: the indication carries the whole message it returns.
    Raises LocalH323Error for an indication (indications are never returned).
    """
    if message.category is INDICATION:
        raise LocalH323Error("indications are never returned in functionNotUnderstood")
    body = (message.category.value, (message.name, message.body))
    return H245Message(category=INDICATION, name="functionNotUnderstood", body=body)


def function_not_supported(*, cause: str, returned: bytes | None) -> H245Message:
    """FunctionNotSupported (syntaxError, semanticError or unknownFunction).

    ``returned`` is the offending PDU as received, when there is one.
    """
    body: dict[str, Any] = {"cause": (cause, 0)}
    if returned is not None:
        body["returnedFunction"] = returned
    return H245Message(category=INDICATION, name="functionNotSupported", body=body)


# -- readers ---------------------------------------------------------------------------


def _remote(text: str) -> RemoteH323Error:
    return RemoteH323Error(text, q931_cause=None, h245_reject="unspecified")


def read_h245_address(value: Any) -> TransportAddress | None:
    """An H.245 unicast IPv4/IPv6 TransportAddress, or None for other kinds."""
    if not isinstance(value, tuple) or value[0] != "unicastAddress":
        return None
    kind, body = value[1]
    if kind not in ("iPAddress", "iP6Address") or not isinstance(body, dict):
        return None
    try:
        host = str(ipaddress.ip_address(bytes(body["network"])))
    except (KeyError, ValueError) as exc:
        raise _remote(f"bad H.245 address {value!r}") from exc
    return TransportAddress(host=host, port=int(body["tsapIdentifier"]))


def _addresses(parameters: Mapping[str, Any]) -> MediaAddresses:
    return MediaAddresses(
        session_id=parameters.get("sessionID"),
        media=read_h245_address(parameters.get("mediaChannel")),
        media_control=read_h245_address(parameters.get("mediaControlChannel")),
    )


def read_open_logical_channel(
    body: Mapping[str, Any],
) -> tuple[int, Any, MediaAddresses, int | None]:
    """Channel number, dataType, addresses and dynamic payload type of an OLC.

    Raises RemoteH323Error if forward parameters are missing or not H.225.0.
    """
    try:
        number = int(body["forwardLogicalChannelNumber"])
        forward = body["forwardLogicalChannelParameters"]
        data_type = forward["dataType"]
        kind, parameters = forward["multiplexParameters"]
    except (KeyError, TypeError, ValueError) as exc:
        raise _remote(f"incomplete openLogicalChannel: {exc!r}") from exc
    if kind != "h2250LogicalChannelParameters":
        raise _remote(f"openLogicalChannel with {kind} is not H.225.0")
    return (
        number,
        data_type,
        _addresses(parameters),
        parameters.get("dynamicRTPPayloadType"),
    )


def read_ack_addresses(body: Mapping[str, Any]) -> MediaAddresses:
    """The addresses in an OpenLogicalChannelAck (all None if absent)."""
    kind, parameters = body.get("forwardMultiplexAckParameters", ("", {}))
    if kind != "h2250LogicalChannelAckParameters":
        return MediaAddresses(session_id=None, media=None, media_control=None)
    return _addresses(parameters)


# -- configuration and events ------------------------------------------------

# H.323 Table 1 terminalType values (entities without an active MC).
TERMINAL_TYPE_TERMINAL = 50
TERMINAL_TYPE_GATEWAY = 60
TERMINAL_TYPE_MCU = 190

_FAST_UPDATE_TYPES = frozenset(
    ("videoFastUpdatePicture", "videoFastUpdateGOB", "videoFastUpdateMB")
)


@dataclass(frozen=True, slots=True, kw_only=True)
class H245Config:
    """H.245 timers (seconds), retry counter and limits (H.323 6.2.8.5).

    ``terminal_type`` is ours in master-slave determination (H.323 Table 1:
    terminal 50, gateway 60, MCU 190).  ``n100`` bounds determination
    attempts that end indeterminate.  ``max_incoming_channels`` caps the
    peer's simultaneous channels; ``max_pdu_size_bytes`` is checked before
    decoding.
    """

    terminal_type: int = TERMINAL_TYPE_GATEWAY
    t101_s: float = 30.0
    t103_s: float = 30.0
    t105_s: float = 10.0
    t106_s: float = 30.0
    n100: int = 3
    max_incoming_channels: int = 32
    max_pdu_size_bytes: int = 65536

    def __post_init__(self) -> None:
        if not 0 <= self.terminal_type <= 255:
            raise LocalH323Error(f"terminal type {self.terminal_type} not in 0..255")
        for name in ("t101_s", "t103_s", "t105_s", "t106_s"):
            if getattr(self, name) <= 0:
                raise LocalH323Error(f"{name} must be positive")
        if self.n100 < 1 or self.max_incoming_channels < 1:
            raise LocalH323Error("n100 and max_incoming_channels must be >= 1")
        if self.max_pdu_size_bytes < 16:
            raise LocalH323Error("max_pdu_size_bytes too small")


# events ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class H245Event:
    """Base class of everything :meth:`H245Session.pop_events` returns."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MasterSlaveDetermined(H245Event):
    """Master-slave determination finished (H.245 8.2)."""

    is_master: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CapabilitiesReceived(H245Event):
    """The peer's TerminalCapabilitySet, already acknowledged (H.245 8.3).

    ``table`` holds (entry number, Capability value) pairs and
    ``descriptors`` the raw CapabilityDescriptor values.
    """

    sequence_number: int
    table: tuple[CapabilityEntry, ...]
    descriptors: tuple[Any, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CapabilitiesAcknowledged(H245Event):
    """The peer acknowledged our TerminalCapabilitySet."""

    sequence_number: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CapabilitiesRejected(H245Event):
    """The peer rejected our TerminalCapabilitySet, or T101 expired ("timeout")."""

    sequence_number: int
    cause: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Paused(H245Event):
    """The peer sent an empty capability set (H.323 8.4.6 third-party pause).

    The caller should close the channels it opened (H.323 8.4.6.1) and expect
    a new capability exchange and determination.
    """


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelOpenRequested(H245Event):
    """The peer asks to open its forward channel; answer with accept/reject."""

    number: int
    data_type: Any
    session_id: int | None
    media: TransportAddress | None
    media_control: TransportAddress | None
    dynamic_payload_type: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelOpened(H245Event):
    """The peer acknowledged our channel: send RTP to ``media``."""

    number: int
    media: TransportAddress | None
    media_control: TransportAddress | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelRejected(H245Event):
    """The peer rejected our channel, or T103 expired (cause "timeout")."""

    number: int
    cause: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelClosed(H245Event):
    """A channel is released; ``is_outgoing`` if it was ours."""

    number: int
    is_outgoing: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionEnded(H245Event):
    """Both sides are done with H.245 after endSessionCommand (H.323 8.5)."""

    is_peer_initiated: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundTripMeasured(H245Event):
    """Our roundTripDelayRequest was answered after ``delay_s``."""

    delay_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerUnresponsive(H245Event):
    """T105 expired without a roundTripDelayResponse (H.245 RTDSE)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UserInput(H245Event):
    """userInput alphanumeric text or one signal (DTMF) key with its duration."""

    digits: str
    kind: UserInputKind
    duration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FastUpdateRequested(H245Event):
    """videoFastUpdatePicture (or GOB/MB) for our channel ``number``."""

    number: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowControl(H245Event):
    """flowControlCommand: ``number`` None means the whole multiplex."""

    number: int | None
    max_bitrate_bps: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ProtocolError(H245Event):
    """The peer broke H.245 (undecodable PDU, SDL error indication)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageIgnored(H245Event):
    """A PDU was dropped on purpose (unsupported, stale or after the end)."""

    name: str
    reason: str


# -- readers of indications and commands into events -----------------------------------


def read_capability_set(body: Mapping[str, Any]) -> CapabilitiesReceived | None:
    """The peer's TerminalCapabilitySet, or None for the empty set (H.323 8.4.6).

    Raises RemoteH323Error (h245_reject undefinedTableEntryUsed) if a
    descriptor names an entry the table lacks (H.245 8.3).
    """
    sequence = int(body["sequenceNumber"])
    if "capabilityTable" not in body:
        return None
    table = tuple(
        (int(entry["capabilityTableEntryNumber"]), entry["capability"])
        for entry in body["capabilityTable"]
        if "capability" in entry
    )
    descriptors = tuple(body.get("capabilityDescriptors", ()))
    used = {
        number
        for descriptor in descriptors
        for alternatives in descriptor.get("simultaneousCapabilities", ())
        for number in alternatives
    }
    missing = used - {number for number, _ in table}
    if missing:
        raise RemoteH323Error(
            f"capability descriptors use undefined entries {sorted(missing)}",
            q931_cause=None,
            h245_reject="undefinedTableEntryUsed",
        )
    return CapabilitiesReceived(
        sequence_number=sequence, table=table, descriptors=descriptors
    )


def read_user_input(body: Any) -> UserInput | None:
    """alphanumeric, extendedAlphanumeric or signal userInput; else None."""
    kind, value = body
    if kind == "alphanumeric":
        return UserInput(digits=value, kind=UserInputKind.ALPHANUMERIC)
    if kind == "extendedAlphanumeric":
        return UserInput(digits=value["alphanumeric"], kind=UserInputKind.ALPHANUMERIC)
    if kind == "signal":
        return UserInput(
            digits=value["signalType"],
            kind=UserInputKind.SIGNAL,
            duration_ms=value.get("duration"),
        )
    return None


def read_fast_update(body: Mapping[str, Any]) -> FastUpdateRequested | None:
    """videoFastUpdatePicture/GOB/MB miscellaneousCommand; else None (15.10)."""
    if body["type"][0] not in _FAST_UPDATE_TYPES:
        return None
    return FastUpdateRequested(number=int(body["logicalChannelNumber"]))


def read_flow_control(body: Mapping[str, Any]) -> FlowControl | None:
    """flowControlCommand for a channel or the whole multiplex; else None (15.4)."""
    scope, channel = body["scope"]
    if scope == "resourceID":
        return None  # H.223 only
    kind, units = body["restriction"]
    return FlowControl(
        number=int(channel) if scope == "logicalChannelNumber" else None,
        max_bitrate_bps=int(units) * 100 if kind == "maximumBitRate" else None,
    )
