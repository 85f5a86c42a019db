"""Property tests for the SIP parser, serializer, grammar and framer.

- generated URIs, Vias, name-addrs and whole messages round-trip;
- arbitrary or mutated bytes give a message or RemoteSipError, nothing else,
  and whatever parses re-serializes to something that parses the same.
"""

from __future__ import annotations

import ipaddress
import string
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.sip.errors import RemoteSipError
from gateway.sip.framing import StreamFramer
from gateway.sip.grammar import CSeq, NameAddr, Via, parse_name_addr, parse_via
from gateway.sip.message import Headers, SipRequest, SipResponse, canonical_name
from gateway.sip.parse import SipLimits, parse_message
from gateway.sip.serialize import serialize
from gateway.sip.uri import SipUri, TelUri, parse_uri

TOKEN = string.ascii_letters + string.digits + "-.!%*_+`'~"
tokens = st.text(TOKEN, min_size=1, max_size=12)
label = st.from_regex(r"[a-z0-9]([a-z0-9\-]{0,8}[a-z0-9])?", fullmatch=True)
hostnames = st.lists(label, min_size=1, max_size=4).map(".".join)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(lambda a: f"[{ipaddress.IPv6Address(a).compressed}]")
hosts = st.one_of(hostnames, ipv4, ipv6)
ports = st.none() | st.integers(0, 65535)
# Any text without surrogates: URIs escape what they must.
free_text = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=10)
param_lists = st.lists(st.tuples(free_text, st.none() | free_text), max_size=3)


@st.composite
def sip_uris(draw: st.DrawFn) -> SipUri:
    user = draw(st.none() | free_text)
    return SipUri(
        scheme=draw(st.sampled_from(["sip", "sips"])),
        user=user,
        password=draw(st.none() | free_text) if user is not None else None,
        host=draw(hosts),
        port=draw(ports),
        params=tuple(draw(param_lists)),
        headers=tuple(draw(st.lists(st.tuples(free_text, st.text(max_size=5))))),
    )


header_params = st.lists(st.tuples(tokens, st.none() | tokens), max_size=3).map(tuple)


@st.composite
def vias(draw: st.DrawFn) -> Via:
    return Via(
        transport=draw(st.sampled_from(["UDP", "TCP", "TLS", "WS", "WSS", "SCTP"])),
        host=draw(hosts),
        port=draw(ports),
        params=(("branch", "z9hG4bK" + draw(tokens)), *draw(header_params)),
    )


display_names = st.none() | st.text(
    st.characters(blacklist_categories=["Cs", "Cc"]), max_size=12
)


@st.composite
def name_addrs(draw: st.DrawFn, tag: bool = True) -> NameAddr:
    uri = draw(sip_uris()) if draw(st.booleans()) else TelUri(number="+84243825")
    params = draw(header_params)
    if tag:
        params = (("tag", draw(tokens)), *params)
    return NameAddr(display_name=draw(display_names), uri=uri, params=params)


safe_value = st.text(
    st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="\x7f"),
    max_size=20,
).map(lambda s: s.strip(" \t"))


@st.composite
def messages(draw: st.DrawFn) -> SipRequest | SipResponse:
    method = draw(st.sampled_from(["INVITE", "ACK", "BYE", "REGISTER"]) | tokens)
    headers = Headers()
    for via in draw(st.lists(vias(), min_size=1, max_size=4)):
        headers.add(draw(st.sampled_from(["Via", "v", "VIA"])), str(via))
    headers.add("From", str(draw(name_addrs())))
    headers.add("To", str(draw(name_addrs(tag=False))))
    headers.add("Call-ID", draw(tokens) + "@" + draw(hostnames))
    headers.add("CSeq", str(CSeq(seq=draw(st.integers(0, 2**31 - 1)), method=method)))
    headers.add("Max-Forwards", str(draw(st.integers(0, 255))))
    for _ in range(draw(st.integers(0, 3))):
        headers.add("X-" + draw(tokens), draw(safe_value))
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):
        uri = replace(draw(sip_uris()), headers=())  # §19.1.1: none in a R-URI
        return SipRequest(headers=headers, body=body, method=method, uri=str(uri))
    return SipResponse(
        headers=headers,
        body=body,
        status=draw(st.integers(100, 699)),
        reason=draw(safe_value),
    )


@given(sip_uris())
def test_sip_uri_round_trip(uri: SipUri) -> None:
    """parse_uri(str(u)) == u for every generated SIP URI."""
    assert parse_uri(str(uri)) == uri


@given(vias())
def test_via_round_trip(via: Via) -> None:
    """parse_via(str(v)) == v."""
    assert parse_via(str(via)) == via


@given(name_addrs())
def test_name_addr_round_trip(addr: NameAddr) -> None:
    """parse_name_addr(str(n)) == n, display names included."""
    assert parse_name_addr(str(addr)) == addr


@settings(max_examples=200)
@given(messages())
def test_message_round_trip(message: SipRequest | SipResponse) -> None:
    """Serialized generated messages parse back to the same fields, and
    re-serialize byte-exact."""
    data = serialize(message)
    parsed = parse_message(data)
    assert serialize(parsed) == data
    assert list(parsed.headers)[: len(message.headers)] == list(message.headers)
    assert parsed.body == message.body
    assert parsed.vias == [parse_via(v) for v in message.headers.values("via")]
    assert parsed.cseq == parse_message(data, stream=True).cseq
    framer = StreamFramer()
    assert [x for b in data for x in framer.receive_data(bytes([b]))] == [data]


def check_bytes(data: bytes) -> None:
    limits = SipLimits(max_message_bytes=4096, max_headers=20, max_via=5)
    try:
        message = parse_message(data, limits)
    except RemoteSipError as exc:
        assert 400 <= exc.status <= 599
        return
    # Whatever parses: typed views work and a re-serialization parses the same.
    _ = (message.vias, message.cseq, message.from_addr, message.to_addr)
    again = parse_message(serialize(message), limits, stream=True)
    assert without_length(again) == without_length(message)
    assert again.body == message.body


def without_length(message: SipRequest | SipResponse) -> list[tuple[str, str]]:
    # The serializer rewrites Content-Length ("0150" -> "150", or adds one).
    return [(n, v) for n, v in message.headers if canonical_name(n) != "content-length"]


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_parse_or_raise_remote_error(data: bytes) -> None:
    """Arbitrary bytes give a message or RemoteSipError, nothing else."""
    check_bytes(data)


SEED = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1;rport, SIP/2.0/TCP [::1]:5\r\n"
    b"Max-Forwards: 70\r\n"
    b'To: "B\\"ob" <sip:bob@example.com;lr>\r\n'
    b"f: sip:alice@example.com;tag=x\r\n"
    b"Call-ID: 1@h\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"m: <sip:a@b>;expires=5, *\r\n"
    b"Content-Length: 3\r\n\r\nabc"
)


@settings(max_examples=500)
@given(
    st.lists(
        st.tuples(st.integers(0, len(SEED)), st.integers(0, 3), st.binary(max_size=3)),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_messages_parse_or_raise_remote_error(
    edits: list[tuple[int, int, bytes]],
) -> None:
    """A valid message with bytes deleted/inserted gives a message or RemoteSipError."""
    data = bytearray(SEED)
    for position, delete, insert in edits:
        data[position : position + delete] = insert
    check_bytes(bytes(data))


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=80), max_size=8))
def test_framer_takes_anything(chunks: list[bytes]) -> None:
    """The framer returns items or raises RemoteSipError for any input chunks."""
    framer = StreamFramer(SipLimits(max_message_bytes=1024))
    try:
        for chunk in chunks:
            for item in framer.receive_data(chunk):
                assert isinstance(item, bytes) or item.is_ping in (True, False)
    except RemoteSipError:
        pass
