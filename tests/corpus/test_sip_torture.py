"""RFC 4475 torture messages (tests/corpus/sip, provenance in its README.md).

Valid messages must parse, re-serialize and parse again to the same message;
invalid ones must raise RemoteSipError with the status we reply with.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.sip.errors import RemoteSipError
from gateway.sip.framing import StreamFramer
from gateway.sip.message import SipRequest, SipResponse
from gateway.sip.parse import parse_message
from gateway.sip.serialize import serialize
from gateway.sip.uri import SipUri

CORPUS = Path(__file__).parent / "sip"

VALID = [
    "wsinv",
    "intmeth",
    "esc01",
    "escnull",
    "esc02",
    "lwsdisp",
    "longreq",
    "dblreq",
    "semiuri",
    "transports",
    "mpart01",
    "unreason",
    "noreason",
    "zeromf",
    "regescrt",
]

INVALID = {
    "badinv01": 400,
    "clerr": 400,
    "ncl": 400,
    "scalar02": 400,
    "scalarlg": 400,
    "quotbal": 400,
    "ltgtruri": 400,
    "lwsruri": 400,
    "lwsstart": 400,
    "trws": 400,
    "escruri": 400,
    "baddate": 400,
    "regbadct": 400,
    "badaspec": 400,
    "baddn": 400,
    "badvers": 505,
    "mismatch01": 400,
    "mismatch02": 400,
    "bigcode": 400,
    "insuf": 400,
    "unksm": 416,
    "mcl01": 400,
    "multi01": 400,
}


def load(name: str) -> bytes:
    return (CORPUS / f"{name}.sip").read_bytes()


def same_message(a: SipRequest | SipResponse, b: SipRequest | SipResponse) -> bool:
    return (
        type(a) is type(b)
        and list(a.headers) == list(b.headers)
        and a.body == b.body
        and (a.method, a.uri) == (b.method, b.uri)
        if isinstance(a, SipRequest) and isinstance(b, SipRequest)
        else isinstance(a, SipResponse)
        and isinstance(b, SipResponse)
        and (a.status, a.reason, list(a.headers), a.body)
        == (b.status, b.reason, list(b.headers), b.body)
    )


def test_corpus_is_complete() -> None:
    """Every corpus file is classified, and every classified name has a file."""
    files = {path.stem for path in CORPUS.glob("*.sip")}
    assert files == set(VALID) | set(INVALID)


@pytest.mark.parametrize("name", VALID)
def test_valid_messages_parse_and_round_trip(name: str) -> None:
    """Valid torture messages parse; serialize(parse(b)) parses to the same message
    and is then a fixed point."""
    msg = parse_message(load(name))
    again = parse_message(serialize(msg))
    assert same_message(msg, again)
    assert serialize(again) == serialize(msg)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_messages_rejected_with_status(name: str) -> None:
    """Invalid torture messages raise RemoteSipError with the expected status."""
    with pytest.raises(RemoteSipError) as info:
        parse_message(load(name))
    assert info.value.status == INVALID[name]


@pytest.mark.parametrize("name", VALID)
def test_valid_messages_through_the_stream_framer(name: str) -> None:
    """Fed byte by byte to a StreamFramer, canonical re-serialisations come out
    whole and parse with stream=True."""
    data = serialize(parse_message(load(name)))
    framer = StreamFramer()
    items: list[bytes | object] = []
    for index in range(len(data)):
        items += framer.receive_data(data[index : index + 1])
    assert items == [data]
    parse_message(data, stream=True)


def test_wsinv_details() -> None:
    """wsinv: folded, oddly spaced headers give the right typed values."""
    msg = parse_message(load("wsinv"))
    assert isinstance(msg, SipRequest)
    assert msg.to_addr.tag == "1918181833n"
    assert msg.from_addr.display_name == 'J Rosenberg \\"'
    assert msg.from_addr.tag == "98asjd8"
    assert msg.cseq.seq == 9
    assert [v.branch for v in msg.vias] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]
    assert msg.headers.get("s") == ""
    assert msg.contacts[0].param("q") == "0.33"
    assert msg.headers.get("NewFangledHeader") == (
        "newfangled value continued newfangled value"
    )


def test_escape_details() -> None:
    """esc01/escnull/esc02: escapes decode in URIs, not in methods or tokens."""
    esc01 = parse_message(load("esc01"))
    assert isinstance(esc01, SipRequest)
    uri = esc01.request_uri
    assert isinstance(uri, SipUri)
    assert uri.user == "sips:user@example.com"
    contact = esc01.contacts[0].uri
    assert isinstance(contact, SipUri)
    assert contact.params == (("lr", None), ("name", "value%41"))
    escnull = parse_message(load("escnull"))
    assert [c.uri for c in escnull.contacts][1] == SipUri(
        user="\x00\x00", host="host5.example.com"
    )
    esc02 = parse_message(load("esc02"))
    assert isinstance(esc02, SipRequest)
    assert esc02.method == "RE%47IST%45R"
    assert len(esc02.contacts) == 2  # "C%6Fntact" is an unknown header


def test_dblreq_keeps_only_the_first_request() -> None:
    """dblreq: bytes after Content-Length in a datagram are discarded (§18.3)."""
    msg = parse_message(load("dblreq"))
    assert isinstance(msg, SipRequest)
    assert msg.method == "REGISTER"
    assert msg.body == b""


def test_transports_and_reasons() -> None:
    """Unknown Via transports are kept; odd reason phrases parse."""
    msg = parse_message(load("transports"))
    assert [v.transport for v in msg.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]
    noreason = parse_message(load("noreason"))
    assert isinstance(noreason, SipResponse)
    assert (noreason.status, noreason.reason) == (100, "")
    unreason = parse_message(load("unreason"))
    assert isinstance(unreason, SipResponse)
    assert unreason.reason.endswith("простое")


def test_mpart01_binary_body_intact() -> None:
    """mpart01: a binary body passes through untouched."""
    data = load("mpart01")
    msg = parse_message(data)
    assert msg.body == data[data.index(b"\r\n\r\n") + 4 :]
    assert b"\x00\xff" in msg.body or bytes(range(256)) in msg.body
