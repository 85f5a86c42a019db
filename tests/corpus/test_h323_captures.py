"""The codec decodes every PDU of two real ooh323c calls to what tshark shows.

The captures live in ../shared/h323 (read-only); tshark runs at test time and
its ``-T fields`` output is compared with the gateway's decoding of the same
frame.  The hex corpus in tests/corpus/h323 must equal a fresh extraction,
and every PDU must re-encode to itself (bytes, where PER is canonical for
the ASN.1 version both sides use; value otherwise).
"""

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.h323 import codec, q931
from gateway.h323.codec import H225Kind, H225Message, H245Category, RasKind
from tests.corpus.h323 import extract

SHARED_DIR = Path(__file__).parents[3] / "shared" / "h323"
CORPUS_DIR = Path(__file__).parent / "h323"
CORPUS_FILES = sorted(CORPUS_DIR.glob("*.hex"))

# ooh323c speaks H.225.0 version 4; pycrate's module is a later version whose
# messages have more extension additions, so its extension bitmaps are longer
# (X.691 section 19.7 sizes the bitmap by the additions the encoder knows).
# These PDUs therefore re-encode to equal values but not equal bytes.
NOT_BYTE_EXACT = {
    "faststart-f004-0.q931.hex",  # Setup_UUIE
    "faststart-f008-0.q931.hex",  # Alerting_UUIE
    "faststart-f010-0.q931.hex",  # Connect_UUIE
    "faststart-f020-0.q931.hex",  # ReleaseComplete_UUIE
    "slowstart-f004-0.q931.hex",
    "slowstart-f008-0.q931.hex",
    "slowstart-f010-0.q931.hex",
    "slowstart-f239-0.q931.hex",
}

# Alternative indices tshark reports (H.225.0 / H.245 ASN.1 order).
REASON_INDEX = {"undefinedReason": 11, "transportedInformation": 10}
H245_INDEX = {
    "masterSlaveDetermination": 1,
    "terminalCapabilitySet": 2,
    "openLogicalChannel": 3,
    "masterSlaveDeterminationAck": 1,
    "terminalCapabilitySetAck": 3,
    "openLogicalChannelAck": 5,
    "endSessionCommand": 5,
}
# ASN.1 component names whose every occurrence tshark shows as "h245.<name>".
H245_LEAVES = (
    "sequenceNumber",
    "terminalType",
    "statusDeterminationNumber",
    "forwardLogicalChannelNumber",
    "sessionID",
    "g711Ulaw64k",
    "tsapIdentifier",
    "capabilityTableEntryNumber",
)
H225_FIELDS = (
    "q931.call_ref",
    "q931.call_ref_flag",
    "q931.message_type",
    "q931.display_information",
    "q931.calling_party_number.digits",
    "q931.called_party_number.digits",
    "q931.numbering_plan",
    "q931.number_type",
    "q931.cause_value",
    "q931.information_transfer_capability",
    "q931.transfer_mode",
    "q931.uil1",
    "h225.h323_message_body",
    "h225.RasMessage",
    "h225.requestSeqNum",
    "h225.protocolIdentifier",
    "h225.guid",
    "h225.conferenceID",
    "h225.dialledDigits",
    "h225.h323_ID",
    "h225.ipV4",
    "h225.ipV4_port",
    "h225.h245Ip",
    "h225.h245IpPort",
    "h225.h245Tunnelling",
    "h225.FastStart_item",
    "h225.H245Control_item",
    "h225.reason",
    "h225.productId",
    "h225.t35CountryCode",
)
H245_FIELDS = (
    "h245.pdu_type",
    "h245.request",
    "h245.response",
    "h245.command",
    *(f"h245.{name}" for name in H245_LEAVES),
)
ALL_FIELDS = ("frame.number", *H225_FIELDS, *H245_FIELDS)


def leaves(value: Any, name: str) -> Iterator[Any]:
    """Values of every component or alternative called ``name``, in tree order."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == name:
                yield item
            else:
                yield from leaves(item, name)
    elif isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        if value[0] == name:
            yield value[1]
        else:
            yield from leaves(value[1], name)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from leaves(item, name)


def text(value: Any) -> str:
    """A decoded value as tshark prints it."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple):  # OBJECT IDENTIFIER
        return ".".join(map(str, value))
    return str(value)


def hex_byte(value: int | None) -> list[str]:
    """A Q.931 octet field as tshark prints it (hex), or nothing if absent."""
    return [] if value is None else [f"0x{value:02x}"]


def guid(value: bytes | None) -> list[str]:
    return [] if value is None else [str(uuid.UUID(bytes=value))]


def h245_expectation(messages: list[codec.H245Message]) -> dict[str, list[str]]:
    """The h245.* fields tshark should show for these H.245 PDUs."""
    expected: dict[str, list[str]] = {
        "h245.pdu_type": [str(list(H245Category).index(m.category)) for m in messages]
    }
    for category in ("request", "response", "command"):
        expected[f"h245.{category}"] = [
            str(H245_INDEX[m.name]) for m in messages if m.category.value == category
        ]
    for name in H245_LEAVES:
        values = [
            leaf
            for m in messages
            for leaf in leaves(m.body, name)
            if not isinstance(leaf, dict)
        ]
        expected[f"h245.{name}"] = [text(v) for v in values]
    return expected


def olc_leaves(items: tuple[bytes, ...], name: str) -> list[str]:
    values = [codec.decode_open_logical_channel(item) for item in items]
    return [text(v) for olc in values for v in leaves(olc, name)]


def q931_expectation(data: bytes) -> dict[str, list[str]]:
    """The q931.*, h225.* and h245.* fields tshark should show for a Q.931 PDU."""
    message = q931.decode(data)
    assert message.user_user is not None
    h225 = codec.decode_h225(message.user_user)
    body = h225.raw["h323-uu-pdu"]["h323-message-body"][1]
    bearer = message.bearer_capability
    numbers = [
        n for n in (message.calling_party_number, message.called_party_number) if n
    ]
    tunnelled = [codec.decode_h245(item) for item in h225.h245_control]
    expected = {
        "q931.call_ref": [f"{message.call_reference:04x}"],
        "q931.call_ref_flag": [text(message.is_from_destination)],
        "q931.message_type": [f"0x{message.message_type:02x}"],
        "q931.display_information": [message.display] if message.display else [],
        "q931.calling_party_number.digits": [
            n.digits for n in [message.calling_party_number] if n
        ],
        "q931.called_party_number.digits": [
            n.digits for n in [message.called_party_number] if n
        ],
        "q931.numbering_plan": [h for n in numbers for h in hex_byte(n.numbering_plan)],
        "q931.number_type": [h for n in numbers for h in hex_byte(n.type_of_number)],
        "q931.cause_value": [str(c.value) for c in [message.cause] if c],
        "q931.information_transfer_capability": hex_byte(
            None if bearer is None else bearer.transfer_capability
        ),
        "q931.transfer_mode": hex_byte(
            None if bearer is None else bearer.transfer_mode
        ),
        "q931.uil1": hex_byte(None if bearer is None else bearer.layer1_protocol),
        "h225.h323_message_body": [str(list(H225Kind).index(h225.kind))],
        "h225.protocolIdentifier": [text(body["protocolIdentifier"])],
        "h225.guid": guid(h225.call_identifier),
        "h225.conferenceID": guid(h225.conference_id),
        "h225.dialledDigits": [text(v) for v in leaves(body, "dialledDigits")],
        "h225.h323_ID": [text(v) for v in leaves(body, "h323-ID")],
        "h225.h245Tunnelling": [text(h225.h245_tunnelling)],
        "h225.FastStart_item": [str(len(item)) for item in h225.fast_start or ()],
        "h225.H245Control_item": [str(len(item)) for item in h225.h245_control],
        "h225.reason": [
            str(REASON_INDEX[r])
            for r in (h225.release_reason, h225.facility_reason)
            if r
        ],
    }
    expected |= address_expectation(h225)
    expected |= endpoint_expectation(h225.endpoint)
    expected |= h245_expectation(tunnelled)
    for name in H245_LEAVES:
        # fastStart OLCs precede the tunnelled H.245 in the tree.
        fast = olc_leaves(h225.fast_start or (), name)
        expected[f"h245.{name}"] = fast + expected[f"h245.{name}"]
    return expected


def address_expectation(h225: H225Message) -> dict[str, list[str]]:
    # destCallSignalAddress is a root component, sourceCallSignalAddress an
    # extension addition, so that is their order on the wire.
    signal = [
        a for a in (h225.dest_call_signal_address, h225.source_call_signal_address) if a
    ]
    h245 = [h225.h245_address] if h225.h245_address else []
    return {
        "h225.ipV4": [a.host for a in signal],
        "h225.ipV4_port": [str(a.port) for a in signal],
        "h225.h245Ip": [a.host for a in h245],
        "h225.h245IpPort": [str(a.port) for a in h245],
    }


def endpoint_expectation(endpoint: codec.EndpointInfo | None) -> dict[str, list[str]]:
    if endpoint is None:
        return {"h225.productId": [], "h225.t35CountryCode": []}
    return {
        "h225.productId": [endpoint.product_id.decode()],
        "h225.t35CountryCode": [str(endpoint.t35_country_code)],
    }


def ras_expectation(data: bytes) -> dict[str, list[str]]:
    """The h225.* fields tshark should show for a RAS PDU."""
    message = codec.decode_ras(data)
    _, body = message.raw
    expected = {
        "h225.RasMessage": [str(list(RasKind).index(message.kind))],
        "h225.requestSeqNum": [str(message.request_seq_num)],
        "h225.protocolIdentifier": [text(body["protocolIdentifier"])],
        "h225.dialledDigits": [
            a.value for a in message.aliases if a.kind.value == "dialledDigits"
        ],
        "h225.h323_ID": [a.value for a in message.aliases if a.kind.value == "h323-ID"],
        "h225.ipV4": [a.host for a in message.ras_addresses],
        "h225.ipV4_port": [str(a.port) for a in message.ras_addresses],
    }
    return expected | endpoint_expectation(message.endpoint)


def h245_tcp_expectation(data: bytes) -> dict[str, list[str]]:
    return h245_expectation([codec.decode_h245(data)])


EXPECTATIONS: dict[str, Callable[[bytes], dict[str, list[str]]]] = {
    "q931": q931_expectation,
    "ras": ras_expectation,
    "h245": h245_tcp_expectation,
}


@pytest.fixture(scope="module", params=sorted(extract.CAPTURES))
def capture(
    request: pytest.FixtureRequest,
) -> tuple[list[extract.Pdu], dict[int, dict[str, list[str]]]]:
    """A capture's PDUs (via tshark) and tshark's fields for each frame."""
    name: str = request.param
    pdus = extract.extract(name, SHARED_DIR)
    arguments = ["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
    for field in ALL_FIELDS:
        arguments += ["-e", field]
    output = extract.tshark(SHARED_DIR / extract.CAPTURES[name], *arguments)
    frames = {}
    for line in output.splitlines():
        values = dict(zip(ALL_FIELDS, line.split("\t"), strict=True))
        frames[int(values.pop("frame.number"))] = {
            key: value.split("|") if value else [] for key, value in values.items()
        }
    return pdus, frames


def test_captures_have_the_expected_pdus(
    capture: tuple[list[extract.Pdu], dict[int, dict[str, list[str]]]],
) -> None:
    """Each capture yields Q.931/H.225.0 PDUs and H.245 or RAS PDUs."""
    pdus, _ = capture
    kinds = {pdu.kind for pdu in pdus}
    assert "q931" in kinds and kinds & {"h245", "ras"}
    assert len(pdus) >= 13


def test_fields_equal_what_tshark_shows(
    capture: tuple[list[extract.Pdu], dict[int, dict[str, list[str]]]],
) -> None:
    """For every frame, our decoding gives exactly the values tshark prints."""
    pdus, frames = capture
    by_frame: dict[int, dict[str, list[str]]] = {}
    for pdu in pdus:
        expected = by_frame.setdefault(pdu.frame, {})
        for field, values in EXPECTATIONS[pdu.kind](pdu.data).items():
            expected[field] = expected.get(field, []) + values
    compared = 0
    for frame, expected in by_frame.items():
        shown = frames[frame]
        for field, values in expected.items():
            assert shown[field] == values, (frame, field)
            compared += bool(values)
    assert compared > 100


def test_corpus_equals_fresh_extraction() -> None:
    """The hex files are exactly what extract.py gets from the captures now."""
    pdus = [
        pdu
        for name in sorted(extract.CAPTURES)
        for pdu in extract.extract(name, SHARED_DIR)
    ]
    on_disk = {path.name: bytes.fromhex(path.read_text()) for path in CORPUS_FILES}
    assert on_disk == {pdu.file_name: pdu.data for pdu in pdus}


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda path: path.name)
def test_corpus_pdu_round_trips(path: Path) -> None:
    """Each PDU re-encodes to itself: bytes where canonical, else the same value."""
    data = bytes.fromhex(path.read_text())
    kind = path.name.split(".")[-2]
    if kind == "q931":
        message = q931.decode(data)
        assert q931.encode(message) == data
        assert message.user_user is not None
        h225 = codec.decode_h225(message.user_user)
        again = codec.encode_h225_value(h225.raw)
        assert codec.decode_h225(again).raw == h225.raw
        assert (again == message.user_user) is (path.name not in NOT_BYTE_EXACT)
        for item in h225.h245_control:
            assert codec.encode_h245(codec.decode_h245(item)) == item
        for item in h225.fast_start or ():
            olc = codec.decode_open_logical_channel(item)
            assert codec.encode_open_logical_channel(olc) == item
    elif kind == "ras":
        assert codec.encode_ras_value(codec.decode_ras(data).raw) == data
    else:
        assert codec.encode_h245(codec.decode_h245(data)) == data
