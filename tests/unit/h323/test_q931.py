"""Q.931 message model for H.225.0 call signalling (Q.931 section 4)."""

from pathlib import Path

import pytest

from gateway.h323 import q931
from gateway.h323.errors import LocalH323Error, RemoteH323Error
from gateway.h323.q931 import (
    BearerCapability,
    Cause,
    IeId,
    InformationElement,
    MessageType,
    PartyNumber,
    Q931Message,
)

CORPUS = Path(__file__).parents[2] / "corpus" / "h323"
Q931_FILES = sorted(CORPUS.glob("*.q931.hex"))


def corpus(name: str) -> bytes:
    return bytes.fromhex((CORPUS / name).read_text())


def test_decodes_ooh323c_setup() -> None:
    """A real Setup gives its call reference, flag, type and IEs in order."""
    message = q931.decode(corpus("faststart-f004-0.q931.hex"))
    assert message.message_type is MessageType.SETUP
    assert (message.call_reference, message.is_from_destination) == (0x5E, False)
    assert [ie.identifier for ie in message.ies] == [0x04, 0x28, 0x6C, 0x7E]
    assert message.display == "alice"
    assert message.bearer_capability == BearerCapability()
    assert message.calling_party_number == PartyNumber(
        digits="1001", presentation=0, screening=0
    )
    assert message.called_party_number is None
    assert message.user_user is not None and message.user_user[0] == 5


def test_decodes_ooh323c_release_complete_cause() -> None:
    """Release Complete from the called side carries cause 16 at location user."""
    message = q931.decode(corpus("slowstart-f239-0.q931.hex"))
    assert message.message_type is MessageType.RELEASE_COMPLETE
    assert message.is_from_destination
    assert message.cause == Cause(value=16)


@pytest.mark.parametrize("path", Q931_FILES, ids=lambda path: path.name)
def test_corpus_round_trips_byte_exact(path: Path) -> None:
    """encode(decode(b)) == b for every real message."""
    data = bytes.fromhex(path.read_text())
    assert q931.encode(q931.decode(data)) == data


def test_round_trip_keeps_unknown_and_single_octet_ies() -> None:
    """Unknown IEs stay raw; single-octet IEs (Sending Complete) have no length."""
    message = Q931Message(
        message_type=MessageType.SETUP,
        call_reference=0x7FFF,
        ies=(
            InformationElement(identifier=IeId.SENDING_COMPLETE),
            InformationElement(identifier=0x73, contents=b"\x01\x02"),
            InformationElement(identifier=IeId.USER_USER, contents=bytes(300)),
        ),
    )
    data = q931.encode(message)
    assert data[:7] == b"\x08\x02\x7f\xff\x05\xa1\x73"
    # User-User has a 2-octet length (H.225.0 section 7.2.2.11).
    assert data[10:13] == b"\x7e\x01\x2c"
    assert q931.decode(data) == message
    assert message.ies[0].is_single_octet and not message.ies[1].is_single_octet


def test_flag_bit_marks_messages_from_the_destination() -> None:
    """The call reference flag is the top bit of the 2-octet reference."""
    message = Q931Message(
        message_type=MessageType.CONNECT, call_reference=1, is_from_destination=True
    )
    assert q931.encode(message) == b"\x08\x02\x80\x01\x07"
    assert q931.decode(b"\x08\x02\x80\x01\x07") == message


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        (b"\x08\x02\x00\x01\x99", 97),  # unknown message type
        (b"\x08\x02\x00\x01\x05\x28\x05abc", 100),  # overlong Display
        (b"\x08\x02\x00\x01\x05\x28", 95),  # IE cut before its length
        (b"\x08\x02\x00\x01\x05\x7e\x00", 95),  # User-User length cut
        (b"\x08\x02\x00\x01\x05\x7e\x00\x09\x05", 100),  # User-User overlong
    ],
)
def test_malformed_messages_raise_with_cause(data: bytes, cause: int) -> None:
    """Broken input raises RemoteH323Error carrying the Q.850 cause to send."""
    with pytest.raises(RemoteH323Error) as info:
        q931.decode(data)
    assert info.value.q931_cause == cause


@pytest.mark.parametrize(
    "data",
    [
        b"",  # nothing at all
        b"\x08\x02\x00",  # shorter than the header (Q.931 5.8.2)
        b"\x09\x02\x00\x01\x05",  # not Q.931 (5.8.1)
        b"\x08\x01\x01\x05",  # 1-octet call reference (5.8.3.1, H.225.0 7.2.2.3)
        b"\x08\x01\x01\x05\x00",
        b"\x08\x03\x00\x00\x01\x05",  # 3-octet call reference
        b"\x08\x12\x00\x01\x05",  # bits 5-8 of the reference octet not 0
    ],
)
def test_messages_to_ignore_raise_without_cause(data: bytes) -> None:
    """Q.931 5.8.1-5.8.3.1 say to ignore these: the error carries no cause.

    (These raised with causes 95 and 81 before; the receiver must not answer
    a message it cannot attribute to a call.)
    """
    with pytest.raises(RemoteH323Error) as info:
        q931.decode(data)
    assert info.value.q931_cause is None


def test_zero_length_ie_reads_as_absent_and_round_trips() -> None:
    """Q.931 4.5.1: an empty IE equals an absent one; the bytes are kept.

    (A zero-length IE used to raise cause 100.)
    """
    data = b"\x08\x02\x00\x01\x05\x28\x00\x70\x00"
    message = q931.decode(data)
    assert message.display is None and message.called_party_number is None
    assert message.find(IeId.DISPLAY) is None
    assert q931.encode(message) == data


@pytest.mark.parametrize(
    "message",
    [
        Q931Message(message_type=MessageType.SETUP, call_reference=0x8000),
        Q931Message(
            message_type=MessageType.SETUP,
            call_reference=1,
            ies=(InformationElement(identifier=0xA1, contents=b"x"),),
        ),
        Q931Message(
            message_type=MessageType.SETUP,
            call_reference=1,
            ies=(InformationElement(identifier=IeId.DISPLAY, contents=bytes(256)),),
        ),
        Q931Message(
            message_type=MessageType.SETUP,
            call_reference=1,
            ies=(InformationElement(identifier=0x100, contents=b"x"),),
        ),
    ],
    ids=["reference", "single-octet-contents", "ie-too-long", "ie-id"],
)
def test_unencodable_messages_raise_local_error(message: Q931Message) -> None:
    """Out-of-range references and identifiers, oversized IEs are our bugs."""
    with pytest.raises(LocalH323Error):
        q931.encode(message)


def test_bearer_capability_round_trips_with_rate_multiplier() -> None:
    """Octet 4.1 appears only for multirate (0x18); layer 1 is optional."""
    plain = BearerCapability()
    assert plain.encode() == b"\x88\xc0\xa5"
    multirate = BearerCapability(
        transfer_capability=0x08,
        transfer_mode=0,
        transfer_rate=0x18,
        rate_multiplier=6,
        layer1_protocol=None,
    )
    assert multirate.encode() == b"\x88\x98\x86"
    assert BearerCapability.decode(multirate.encode()) == multirate
    assert BearerCapability.decode(plain.encode()) == plain


@pytest.mark.parametrize("contents", [b"\x88", b"\x88\x98"])
def test_short_bearer_capability_raises(contents: bytes) -> None:
    """Missing octet 4 or the rate multiplier is invalid IE contents (100)."""
    with pytest.raises(RemoteH323Error) as info:
        BearerCapability.decode(contents)
    assert info.value.q931_cause == 100


def test_party_number_octet_3a_is_optional() -> None:
    """Called numbers have no octet 3a; calling numbers may carry one."""
    called = PartyNumber(digits="1001", type_of_number=2)
    assert called.encode() == b"\xa11001"
    calling = PartyNumber(digits="84", presentation=1, screening=3)
    assert calling.encode() == b"\x01\xa384"
    assert PartyNumber.decode(called.encode()) == called
    assert PartyNumber.decode(calling.encode()) == calling


@pytest.mark.parametrize("contents", [b"", b"\x01", b"\x81\xff"])
def test_bad_party_number_raises(contents: bytes) -> None:
    """Empty, cut before octet 3a, or non-IA5 digits are cause 100."""
    with pytest.raises(RemoteH323Error) as info:
        PartyNumber.decode(contents)
    assert info.value.q931_cause == 100


def test_cause_round_trips_and_skips_octet_3a() -> None:
    """Coding, location, value and diagnostics survive; octet 3a is skipped."""
    cause = Cause(value=17, coding_standard=0, location=1, diagnostics=b"\x01")
    assert cause.encode() == b"\x81\x91\x01"
    assert Cause.decode(cause.encode()) == cause
    assert Cause.decode(b"\x02\x80\x90") == Cause(value=16, location=2)


@pytest.mark.parametrize("contents", [b"", b"\x80", b"\x02\x80"])
def test_cause_without_value_raises(contents: bytes) -> None:
    """A Cause IE with no cause value octet is cause 100."""
    with pytest.raises(RemoteH323Error) as info:
        Cause.decode(contents)
    assert info.value.q931_cause == 100


def test_cause_value_must_fit_seven_bits() -> None:
    """Encoding cause 128 is our bug."""
    with pytest.raises(LocalH323Error):
        Cause(value=128).encode()


def test_display_ie_is_ia5_and_bounded() -> None:
    """Non-ASCII characters become '?', and the text is cut to 82 octets."""
    assert q931.display_ie("Hà Nội").contents == b"H? N?i"
    assert len(q931.display_ie("x" * 100).contents) == 82


def test_typed_helpers_build_their_ies() -> None:
    """to_ie()/user_user_ie() give IEs with the right identifiers and contents."""
    number = PartyNumber(digits="1001")
    assert number.to_ie(is_calling=True).identifier == IeId.CALLING_PARTY_NUMBER
    assert number.to_ie(is_calling=False) == InformationElement(
        identifier=IeId.CALLED_PARTY_NUMBER, contents=b"\x811001"
    )
    assert Cause(value=16).to_ie().contents == b"\x80\x90"
    assert BearerCapability().to_ie().identifier == IeId.BEARER_CAPABILITY
    assert q931.user_user_ie(b"\x05x").identifier == IeId.USER_USER


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x08\x02\x80\x07\x05\x7e\x00\xff", (7, True, 0x05)),  # overlong IE
        (b"\x08\x02\x12\x34", (0x1234, False, None)),  # cut before its type
        (b"\x08\x02\x00\x01\x99", (1, False, 0x99)),  # unknown type
        (b"\x09\x02\x00\x01\x05", None),  # not Q.931
        (b"\x08\x01\x01\x05", None),  # 1-octet call reference
        (b"\x08\x02\x00", None),
    ],
)
def test_peek_header_reads_what_decode_refuses(
    data: bytes, expected: tuple[int, bool, int | None] | None
) -> None:
    """The call reference of a broken message, to answer on it (Q.931 5.8)."""
    header = q931.peek_header(data)
    if expected is None:
        assert header is None
    else:
        assert header is not None
        assert (
            header.call_reference,
            header.is_from_destination,
            header.message_type,
        ) == expected
