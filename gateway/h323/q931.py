"""Q.931 messages as used by H.225.0 call signalling (ITU-T Q.931, H.225.0 clause 7).

A message is the protocol discriminator 0x08, a 2-octet call reference with its
flag bit, a message type and information elements (IEs) in the order received.
IEs are kept raw; typed helpers parse and build the ones H.323 endpoints use.
``encode(decode(b)) == b`` for every message ``decode`` accepts.
"""

from dataclasses import dataclass
from enum import IntEnum

from gateway.h323.errors import (
    CAUSE_INVALID_IE_CONTENTS,
    CAUSE_INVALID_MESSAGE,
    CAUSE_MESSAGE_TYPE_NONEXISTENT,
    LocalH323Error,
    RemoteH323Error,
)

__all__ = [
    "PROTOCOL_DISCRIMINATOR",
    "BearerCapability",
    "Cause",
    "IeId",
    "InformationElement",
    "MessageType",
    "PartyNumber",
    "Q931Message",
    "RawHeader",
    "decode",
    "display_ie",
    "encode",
    "peek_header",
    "user_user_ie",
]

PROTOCOL_DISCRIMINATOR = 0x08
CALL_REFERENCE_LENGTH = 2
_CALL_REFERENCE_FLAG = 0x8000
_MAX_CALL_REFERENCE = 0x7FFF


class MessageType(IntEnum):
    """Q.931 section 4.4 message types used by H.225.0 (Table 4)."""

    ALERTING = 0x01
    CALL_PROCEEDING = 0x02
    PROGRESS = 0x03
    SETUP = 0x05
    CONNECT = 0x07
    SETUP_ACKNOWLEDGE = 0x0D
    RELEASE_COMPLETE = 0x5A
    FACILITY = 0x62
    NOTIFY = 0x6E
    STATUS_INQUIRY = 0x75
    INFORMATION = 0x7B
    STATUS = 0x7D


class IeId(IntEnum):
    """Codeset 0 information element identifiers (Q.931 section 4.5, Table 4-3)."""

    BEARER_CAPABILITY = 0x04
    CAUSE = 0x08
    CALL_STATE = 0x14
    PROGRESS_INDICATOR = 0x1E
    NOTIFICATION_INDICATOR = 0x27
    DISPLAY = 0x28
    KEYPAD = 0x2C
    SIGNAL = 0x34
    CALLING_PARTY_NUMBER = 0x6C
    CALLED_PARTY_NUMBER = 0x70
    SENDING_COMPLETE = 0xA1
    USER_USER = 0x7E


@dataclass(frozen=True, slots=True, kw_only=True)
class InformationElement:
    """One IE as received.

    Single-octet IEs (identifier bit 8 set, Q.931 section 4.5.1) have no
    contents; for them ``identifier`` is the whole octet.
    """

    identifier: int
    contents: bytes = b""

    @property
    def is_single_octet(self) -> bool:
        """True for the single-octet IE format (shift, sending complete...)."""
        return self.identifier >= 0x80


@dataclass(frozen=True, slots=True, kw_only=True)
class Q931Message:
    """A Q.931 message.

    ``is_from_destination`` is the call reference flag (Q.931 section 4.3): False
    on messages sent by the side that allocated the call reference.
    """

    message_type: MessageType
    call_reference: int
    is_from_destination: bool = False
    ies: tuple[InformationElement, ...] = ()

    def find(self, identifier: int) -> bytes | None:
        """Contents of the first IE with ``identifier``, or None if absent.

        An empty IE counts as absent (Q.931 section 4.5.1).
        """
        for ie in self.ies:
            if ie.identifier == identifier and ie.contents:
                return ie.contents
        return None

    @property
    def user_user(self) -> bytes | None:
        """User-User IE contents (protocol discriminator 5 + H.225.0 PER)."""
        return self.find(IeId.USER_USER)

    @property
    def display(self) -> str | None:
        """The Display IE as text (Q.931 section 4.5.16: IA5 characters)."""
        contents = self.find(IeId.DISPLAY)
        # Some stacks (ooh323c) NUL-terminate the display; the NUL is not text.
        return None if contents is None else contents.decode("latin-1").rstrip("\0")

    @property
    def cause(self) -> "Cause | None":
        """The parsed Cause IE, if present."""
        contents = self.find(IeId.CAUSE)
        return None if contents is None else Cause.decode(contents)

    @property
    def bearer_capability(self) -> "BearerCapability | None":
        """The parsed Bearer Capability IE, if present."""
        contents = self.find(IeId.BEARER_CAPABILITY)
        return None if contents is None else BearerCapability.decode(contents)

    @property
    def calling_party_number(self) -> "PartyNumber | None":
        """The parsed Calling Party Number IE, if present."""
        contents = self.find(IeId.CALLING_PARTY_NUMBER)
        return None if contents is None else PartyNumber.decode(contents)

    @property
    def called_party_number(self) -> "PartyNumber | None":
        """The parsed Called Party Number IE, if present."""
        contents = self.find(IeId.CALLED_PARTY_NUMBER)
        return None if contents is None else PartyNumber.decode(contents)


def _bad_ie(text: str) -> RemoteH323Error:
    return RemoteH323Error(text, q931_cause=CAUSE_INVALID_IE_CONTENTS)


@dataclass(frozen=True, slots=True, kw_only=True)
class BearerCapability:
    """Bearer Capability IE (Q.931 section 4.5.5), octets 3, 4 and optional 5.

    H.225.0 section 7.2.2.1 uses ITU coding, unrestricted digital information
    (8) or speech (0), packet mode (transfer_mode 2, rate 0) and H.221 layer 1
    (5).  ``rate_multiplier`` is octet 4.1, present only for rate 0x18.
    """

    coding_standard: int = 0
    transfer_capability: int = 0x08
    transfer_mode: int = 2
    transfer_rate: int = 0
    rate_multiplier: int | None = None
    layer1_protocol: int | None = 5

    @classmethod
    def decode(cls, contents: bytes) -> "BearerCapability":
        """Parse IE contents; raises RemoteH323Error (cause 100) if too short."""
        if len(contents) < 2:
            raise _bad_ie("Bearer Capability shorter than 2 octets")
        index = 2
        multiplier = None
        if contents[1] & 0x1F == 0x18:
            if len(contents) < 3:
                raise _bad_ie("Bearer Capability lacks the rate multiplier")
            multiplier = contents[2] & 0x7F
            index = 3
        layer1 = None
        if len(contents) > index and (contents[index] >> 5) & 0x03 == 1:
            layer1 = contents[index] & 0x1F
        return cls(
            coding_standard=(contents[0] >> 5) & 0x03,
            transfer_capability=contents[0] & 0x1F,
            transfer_mode=(contents[1] >> 5) & 0x03,
            transfer_rate=contents[1] & 0x1F,
            rate_multiplier=multiplier,
            layer1_protocol=layer1,
        )

    def encode(self) -> bytes:
        """IE contents, every octet with the extension bit set (last octet)."""
        out = bytearray(
            (
                0x80 | self.coding_standard << 5 | self.transfer_capability,
                0x80 | self.transfer_mode << 5 | self.transfer_rate,
            )
        )
        if self.rate_multiplier is not None:
            out.append(0x80 | self.rate_multiplier)
        if self.layer1_protocol is not None:
            out.append(0x80 | 1 << 5 | self.layer1_protocol)
        return bytes(out)

    def to_ie(self) -> InformationElement:
        """This Bearer Capability as an IE."""
        return InformationElement(
            identifier=IeId.BEARER_CAPABILITY, contents=self.encode()
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PartyNumber:
    """Calling/Called Party Number IE (Q.931 sections 4.5.10 and 4.5.8).

    ``type_of_number`` and ``numbering_plan`` share octet 3 (E.164 plan is 1).
    Octet 3a (presentation, screening) exists only in Calling Party Number;
    it is None when absent.
    """

    digits: str
    type_of_number: int = 0
    numbering_plan: int = 1
    presentation: int | None = None
    screening: int | None = None

    @classmethod
    def decode(cls, contents: bytes) -> "PartyNumber":
        """Parse IE contents; raises RemoteH323Error (cause 100) if malformed."""
        if not contents:
            raise _bad_ie("empty party number")
        presentation = screening = None
        index = 1
        if not contents[0] & 0x80:
            if len(contents) < 2:
                raise _bad_ie("party number lacks octet 3a")
            presentation = (contents[1] >> 5) & 0x03
            screening = contents[1] & 0x03
            index = 2
        try:
            digits = contents[index:].decode("ascii")
        except UnicodeDecodeError as exc:
            raise _bad_ie("party number digits are not IA5") from exc
        return cls(
            digits=digits,
            type_of_number=(contents[0] >> 4) & 0x07,
            numbering_plan=contents[0] & 0x0F,
            presentation=presentation,
            screening=screening,
        )

    def encode(self) -> bytes:
        """IE contents; octet 3a is written when presentation is set."""
        octet3 = self.type_of_number << 4 | self.numbering_plan
        if self.presentation is None:
            head = bytes((0x80 | octet3,))
        else:
            head = bytes(
                (octet3, 0x80 | self.presentation << 5 | (self.screening or 0))
            )
        return head + self.digits.encode("ascii")

    def to_ie(self, *, is_calling: bool) -> InformationElement:
        """This number as a Calling (True) or Called (False) Party Number IE."""
        identifier = (
            IeId.CALLING_PARTY_NUMBER if is_calling else IeId.CALLED_PARTY_NUMBER
        )
        return InformationElement(identifier=identifier, contents=self.encode())


@dataclass(frozen=True, slots=True, kw_only=True)
class Cause:
    """Cause IE (Q.931 section 4.5.12, Q.850 section 2).

    ``location`` 0 is "user"; ``value`` is the Q.850 cause (e.g. 16 normal
    call clearing).  ``diagnostics`` are the octets after the cause value.
    """

    value: int
    coding_standard: int = 0
    location: int = 0
    diagnostics: bytes = b""

    @classmethod
    def decode(cls, contents: bytes) -> "Cause":
        """Parse IE contents; raises RemoteH323Error (cause 100) if too short."""
        index = 1 if contents[:1] and contents[0] & 0x80 else 2
        if len(contents) <= index:
            raise _bad_ie("Cause IE lacks the cause value")
        return cls(
            value=contents[index] & 0x7F,
            coding_standard=(contents[0] >> 5) & 0x03,
            location=contents[0] & 0x0F,
            diagnostics=contents[index + 1 :],
        )

    def encode(self) -> bytes:
        """IE contents without the optional recommendation octet 3a."""
        if not 0 <= self.value <= 0x7F:
            raise LocalH323Error(f"cause value {self.value} out of range")
        return (
            bytes((0x80 | self.coding_standard << 5 | self.location, 0x80 | self.value))
            + self.diagnostics
        )

    def to_ie(self) -> InformationElement:
        """This cause as a Cause IE."""
        return InformationElement(identifier=IeId.CAUSE, contents=self.encode())


def _error(text: str, cause: int | None = CAUSE_INVALID_MESSAGE) -> RemoteH323Error:
    return RemoteH323Error(text, q931_cause=cause)


def _ignored(text: str) -> RemoteH323Error:
    """A message Q.931 sections 5.8.1-5.8.3.1 say to ignore: no reply at all."""
    return RemoteH323Error(text, q931_cause=None)


@dataclass(frozen=True, slots=True, kw_only=True)
class RawHeader:
    """The header fields of a message that :func:`decode` may refuse.

    ``message_type`` is the raw octet, or None when the message stops
    before it.
    """

    call_reference: int
    is_from_destination: bool
    message_type: int | None


def peek_header(data: bytes) -> RawHeader | None:
    """Call reference, flag and type octet, read without checking the rest.

    None unless ``data`` starts with Q.931's discriminator and a 2-octet
    call reference: then no call can be named (Q.931 section 5.8.3.1).
    """
    if (
        len(data) < 2 + CALL_REFERENCE_LENGTH
        or data[0] != PROTOCOL_DISCRIMINATOR
        or data[1] != CALL_REFERENCE_LENGTH
    ):
        return None
    value = int.from_bytes(data[2:4], "big")
    return RawHeader(
        call_reference=value & _MAX_CALL_REFERENCE,
        is_from_destination=bool(value & _CALL_REFERENCE_FLAG),
        message_type=data[4] if len(data) > 4 else None,
    )


def decode(data: bytes) -> Q931Message:
    """Parse one Q.931 message (Q.931 section 4, H.225.0 section 7.2).

    Raises RemoteH323Error.  Its ``q931_cause`` is None for a message the
    receiver must ignore: a protocol discriminator other than Q.931 (Q.931
    section 5.8.1), a message too short to hold its message type (5.8.2) or
    a call reference that is not H.225.0's 2 octets (5.8.3.1, H.225.0
    section 7.2.2.3).  Otherwise it is 97 for an unknown message type, 100
    for an IE whose length runs past the message and 95 for an IE cut
    before its length.  A zero-length IE is not an error: Q.931 section
    4.5.1 reads it as absent (see :meth:`Q931Message.find`).
    """
    if not data:
        raise _ignored("empty Q.931 message")
    if data[0] != PROTOCOL_DISCRIMINATOR:
        raise _ignored(f"protocol discriminator {data[0]:#04x} is not Q.931")
    if len(data) < 2:
        raise _ignored("Q.931 message shorter than its header")
    if data[1] != CALL_REFERENCE_LENGTH:
        # Bits 5-8 must be 0; H.225.0 uses 2-octet references only.
        raise _ignored(f"call reference octet {data[1]:#04x} is not 2 octets")
    if len(data) < 5:
        raise _ignored("Q.931 message shorter than its header")
    reference = int.from_bytes(data[2:4], "big")
    try:
        message_type = MessageType(data[4])
    except ValueError:
        raise _error(
            f"unknown message type {data[4]:#04x}", CAUSE_MESSAGE_TYPE_NONEXISTENT
        ) from None
    return Q931Message(
        message_type=message_type,
        call_reference=reference & _MAX_CALL_REFERENCE,
        is_from_destination=bool(reference & _CALL_REFERENCE_FLAG),
        ies=tuple(_decode_ies(data, 5)),
    )


def _decode_ies(data: bytes, index: int) -> list[InformationElement]:
    ies: list[InformationElement] = []
    while index < len(data):
        identifier = data[index]
        if identifier & 0x80:
            ies.append(InformationElement(identifier=identifier))
            index += 1
            continue
        # H.225.0 section 7.2.2.11: User-User has a 2-octet length.
        length_size = 2 if identifier == IeId.USER_USER else 1
        start = index + 1 + length_size
        if start > len(data):
            raise _error(f"IE {identifier:#04x} truncated in its length")
        length = int.from_bytes(data[index + 1 : start], "big")
        if start + length > len(data):
            raise _error(
                f"IE {identifier:#04x} length {length} runs past the message",
                CAUSE_INVALID_IE_CONTENTS,
            )
        ies.append(
            InformationElement(
                identifier=identifier, contents=data[start : start + length]
            )
        )
        index = start + length
    return ies


def encode(message: Q931Message) -> bytes:
    """Serialize a Q.931 message.

    Raises LocalH323Error for a call reference above 0x7FFF or an IE whose
    contents are too long for its length field.  An empty variable-length IE
    is written with length 0, as received (Q.931 section 4.5.1).
    """
    if not 0 <= message.call_reference <= _MAX_CALL_REFERENCE:
        raise LocalH323Error(f"call reference {message.call_reference} out of range")
    reference = message.call_reference
    if message.is_from_destination:
        reference |= _CALL_REFERENCE_FLAG
    out = bytearray((PROTOCOL_DISCRIMINATOR, CALL_REFERENCE_LENGTH))
    out += reference.to_bytes(2, "big")
    out.append(message.message_type)
    for ie in message.ies:
        out += _encode_ie(ie)
    return bytes(out)


def _encode_ie(ie: InformationElement) -> bytes:
    if not 0 <= ie.identifier <= 0xFF:
        raise LocalH323Error(f"IE identifier {ie.identifier} out of range")
    if ie.is_single_octet:
        if ie.contents:
            raise LocalH323Error("single-octet IE with contents")
        return bytes((ie.identifier,))
    length_size = 2 if ie.identifier == IeId.USER_USER else 1
    if len(ie.contents) >= 1 << (8 * length_size):
        raise LocalH323Error(f"IE {ie.identifier:#04x} has {len(ie.contents)} octets")
    return (
        bytes((ie.identifier,))
        + len(ie.contents).to_bytes(length_size, "big")
        + ie.contents
    )


def user_user_ie(contents: bytes) -> InformationElement:
    """A User-User IE carrying H.225.0 (``codec.encode_h225`` output)."""
    return InformationElement(identifier=IeId.USER_USER, contents=contents)


def display_ie(text: str) -> InformationElement:
    """A Display IE for ``text`` (IA5; Q.931 section 4.5.16 allows 82 octets)."""
    contents = text.encode("ascii", errors="replace")[:82]
    return InformationElement(identifier=IeId.DISPLAY, contents=contents)
