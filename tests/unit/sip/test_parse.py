"""Tests for gateway.sip.parse (RFC 3261 §7, §18.3, §20)."""

from __future__ import annotations

import pytest

from gateway.errors import ConfigError
from gateway.sip.errors import RemoteSipError
from gateway.sip.message import SipRequest, SipResponse
from gateway.sip.parse import DEFAULT_LIMITS, SipLimits, parse_message
from gateway.sip.uri import SipUri

HEADERS = [
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnashds8;rport",
    "Max-Forwards: 70",
    "To: Bob <sip:bob@biloxi.example.com>",
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
    "CSeq: 314159 INVITE",
    "Contact: <sip:alice@pc33.atlanta.example.com>",
    "Content-Type: application/sdp",
]
BODY = b"v=0\r\n"


def request(
    headers: list[str] | None = None,
    body: bytes = BODY,
    start: str = "INVITE sip:bob@biloxi.example.com SIP/2.0",
    length: int | None = None,
) -> bytes:
    lines = [start, *(HEADERS if headers is None else headers)]
    lines.append(f"Content-Length: {len(body) if length is None else length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def without(name: str) -> list[str]:
    return [h for h in HEADERS if not h.lower().startswith(name.lower() + ":")]


def status_of(data: bytes, **kwargs: object) -> int:
    with pytest.raises(RemoteSipError) as info:
        parse_message(data, **kwargs)  # type: ignore[arg-type]
    return info.value.status


def test_request_fields_and_typed_views() -> None:
    """A canonical INVITE parses into its start line, headers, body and views."""
    msg = parse_message(request())
    assert isinstance(msg, SipRequest)
    assert msg.method == "INVITE"
    assert msg.uri == "sip:bob@biloxi.example.com"
    assert msg.body == BODY
    assert msg.top_via is not None and msg.top_via.branch == "z9hG4bKnashds8"
    assert msg.cseq.seq == 314159
    assert msg.from_addr.tag == "1928301774"
    assert msg.to_addr.tag is None
    assert msg.call_id == "a84b4c76e66710@pc33.atlanta.example.com"
    assert isinstance(msg.request_uri, SipUri)


def test_response_fields() -> None:
    """A status line gives status and reason; Max-Forwards is not required."""
    data = request(
        [h for h in HEADERS if not h.startswith("Max-Forwards")],
        body=b"",
        start="SIP/2.0 180 Ringing",
    )
    msg = parse_message(data)
    assert isinstance(msg, SipResponse)
    assert (msg.status, msg.reason) == (180, "Ringing")


def test_empty_and_utf8_reason_phrases() -> None:
    """Reason phrases may be empty or UTF-8 (RFC 4475 noreason, unreason)."""
    for start, reason in [
        ("SIP/2.0 100 ", ""),
        ("SIP/2.0 100", ""),
        ("SIP/2.0 200 = 2**3 * 5**2 но сто", "= 2**3 * 5**2 но сто"),
    ]:
        msg = parse_message(request(without("Max-Forwards"), b"", start))
        assert isinstance(msg, SipResponse)
        assert msg.reason == reason


def test_compact_forms_and_folding() -> None:
    """Compact names and folded lines are understood (§7.3.1, §7.3.3)."""
    data = (
        b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
        b"v: SIP/2.0/TCP h1.example.com\r\n ;branch=z9hG4bK1,\r\n"
        b"\tSIP/2.0/UDP h2.example.com;branch=z9hG4bK2\r\n"
        b"Max-Forwards: 70\r\n"
        b"t:\r\n sip:bob@example.com\r\n"
        b"f: <sip:a@example.com>\r\n  ;tag=x\r\n"
        b"i: c1@example.com\r\n"
        b"CSeq: 1\r\n OPTIONS\r\n"
        b"l: 0\r\n\r\n"
    )
    msg = parse_message(data)
    assert [v.branch for v in msg.vias] == ["z9hG4bK1", "z9hG4bK2"]
    assert msg.from_addr.tag == "x"
    assert msg.cseq.method == "OPTIONS"
    assert msg.headers.get("t") == "sip:bob@example.com"


def test_repeated_and_comma_separated_vias_agree() -> None:
    """Repeated Via lines and one comma list give the same Via list (§7.3.1)."""
    base = without("Via")
    one = request(["Via: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b", *base])
    two = request(["Via: SIP/2.0/UDP a;branch=z9hG4bK1", "Via: SIP/2.0/UDP b", *base])
    assert parse_message(one).vias == parse_message(two).vias


def test_leading_crlf_ignored() -> None:
    """CRLFs before the start line are skipped (§7.5)."""
    assert isinstance(parse_message(b"\r\n\r\n" + request()), SipRequest)


def test_datagram_body_truncated_to_content_length() -> None:
    """Extra datagram bytes after Content-Length are dropped (§18.3)."""
    msg = parse_message(request(body=BODY) + b"junk")
    assert msg.body == BODY


def test_datagram_without_content_length_takes_the_rest() -> None:
    """With no Content-Length a datagram body runs to the end (§18.3)."""
    data = ("\r\n".join(["INVITE sip:b@h SIP/2.0", *HEADERS]) + "\r\n\r\n").encode()
    assert parse_message(data + b"xyz").body == b"xyz"


def test_stream_rules() -> None:
    """On a stream Content-Length is mandatory and exact (§18.3, §20.14)."""
    assert parse_message(request(), stream=True).body == BODY
    no_length = (
        "\r\n".join(["INVITE sip:b@h SIP/2.0", *HEADERS]) + "\r\n\r\n"
    ).encode()
    assert status_of(no_length, stream=True) == 400
    assert status_of(request() + b"x", stream=True) == 400


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (request(length=100), 400),
        (request(length=-1), 400),
        (request(length=10**6), 413),
        (request(start="INVITE sip:b@h SIP/3.0"), 505),
        (request(start="INVITE sip:b@h sip/2.0a"), 400),
        (request(start="INVITE isbn:1234 SIP/2.0"), 416),
        (request(start="INVITE <sip:b@h> SIP/2.0"), 400),
        (request(start="INVITE  sip:b@h SIP/2.0"), 400),
        (request(start="INVITE sip:b@h SIP/2.0 "), 400),
        (request(start="INVITE sip:b@h?Route=%3Csip:x%3E SIP/2.0"), 400),
        (request(start="INV(ITE sip:b@h SIP/2.0"), 400),
        (request(start="OPTIONS sip:b@h SIP/2.0"), 400),
        (request(start="SIP/2.0 4294967301 big"), 400),
        (request(start="SIP/2.0 099 low"), 400),
        (request(start="SIP/2.0 2000 OK"), 400),
        (request(start="SIP/2.0 200 O\x01K"), 400),
        (request(without("To")), 400),
        (request(without("From")), 400),
        (request(without("Call-ID")), 400),
        (request(without("CSeq")), 400),
        (request(without("Via")), 400),
        (request(without("Max-Forwards")), 400),
        (request([*HEADERS, "To: <sip:x@y>"]), 400),
        (request([*HEADERS, "Content-Length: 5"]), 400),
        (request([*HEADERS, "Max-Forwards: 300"]), 400),
        (request([*HEADERS, "Expires: 99999999999999999999"]), 400),
        (request([*HEADERS, "Date: Fri, 01 Jan 2010 16:00:00 EST"]), 400),
        (request([*HEADERS, "Contact: <sip:a@b>;expires=280297596632815"]), 400),
        (request([*without("Call-ID"), "Call-ID: a b"]), 400),
        (request([*HEADERS, "Bad Name: x"]), 400),
        (request([*HEADERS, "NoColon"]), 400),
        (request([*HEADERS, "X: a\rb"]), 400),
        (b"INVITE sip:b@h SIP/2.0\r\nVia: x\r\n", 400),
        (b"\xff\xfe\r\n\r\n", 400),
        (b"\r\n \r\n\r\n", 400),
        (b"INVITE sip:b@h SIP/2.0\r\n continued: x\r\n\r\n", 400),
        (request([*without("Via"), "Via: SIP/2.0/UDP 192.0.2.15;;,;,,"]), 400),
    ],
)
def test_rejections_carry_status(data: bytes, status: int) -> None:
    """Each malformed message raises RemoteSipError with the right status."""
    assert status_of(data) == status


def test_date_in_gmt_accepted() -> None:
    """A GMT rfc1123 Date is valid."""
    parse_message(request([*HEADERS, "Date: Sat, 13 Nov 2010 23:29:00 GMT"]))


def test_contact_star_accepted() -> None:
    """Contact: * parses (REGISTER removal, §10.2.2)."""
    msg = parse_message(
        request(
            [*without("Contact"), "Expires: 0", "Contact: *"],
            start="INVITE sip:registrar.example.com SIP/2.0",
        )
    )
    assert msg.is_contact_star


def test_size_limit_checked_first() -> None:
    """A message larger than max_message_bytes gives 513 before any parsing."""
    limits = SipLimits(max_message_bytes=300)
    assert status_of(b"x" * 301, limits=limits) == 513


def test_header_count_limit() -> None:
    """More header lines than max_headers are rejected with 400."""
    limits = SipLimits(max_headers=10)
    assert len(HEADERS) + 1 <= 10
    parse_message(request(), limits)
    assert status_of(request([*HEADERS, "X: 1", "Y: 2"]), limits=limits) == 400


def test_via_limit() -> None:
    """More Via elements than max_via are rejected with 400."""
    limits = SipLimits(max_via=2)
    vias = ["Via: SIP/2.0/UDP a, SIP/2.0/UDP b", "Via: SIP/2.0/UDP c"]
    assert status_of(request([*vias, *without("Via")]), limits=limits) == 400
    parse_message(request([*vias[:1], *without("Via")]), limits)


def test_header_value_limit() -> None:
    """A header line longer than max_header_value_bytes is rejected with 400."""
    limits = SipLimits(max_header_value_bytes=100)
    assert status_of(request([*HEADERS, "X: " + "a" * 100]), limits=limits) == 400


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_message_bytes": 0},
        {"max_message_bytes": 100},
        {"max_headers": -1},
        {"max_via": True},
        {"max_header_value_bytes": 1.5},
    ],
)
def test_limits_validated(kwargs: dict[str, object]) -> None:
    """SipLimits rejects non-positive or non-int values."""
    with pytest.raises(ConfigError):
        SipLimits(**kwargs)  # type: ignore[arg-type]


def test_default_limits() -> None:
    """The defaults are the documented safe values."""
    assert (
        SipLimits(
            max_message_bytes=65535,
            max_headers=200,
            max_via=40,
            max_header_value_bytes=8192,
        )
        == DEFAULT_LIMITS
    )


def test_empty_via_rejected() -> None:
    """A Via header with an empty value is a 400."""
    assert status_of(request(["Via:", *without("Via")])) == 400
