"""Property tests for gateway.sdp (hypothesis).

* generated descriptions round-trip through serialize/parse;
* arbitrary bytes (raw, mutated corpus files, line soup) give a
  ``SessionDescription`` or ``RemoteSdpError``, nothing else, and what parses
  re-serializes to a fixed point;
* offer/answer on any parsed offer answers or raises ``RemoteSdpError``, and
  our own answers always satisfy ``negotiate``.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.model import (
    ATTRIBUTE_VALIDATORS,
    Attribute,
    Bandwidth,
    Connection,
    CryptoAttribute,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
)
from gateway.sdp.offer_answer import (
    CodecPolicy,
    LocalMedia,
    LocalSession,
    build_answer,
    build_offer_from,
    negotiate,
)
from gateway.sdp.parse import parse_sdp
from gateway.sdp.serialize import serialize_sdp

CORPUS = sorted((Path(__file__).parent.parent / "corpus" / "sdp").rglob("*.sdp"))

TOKEN = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~",
    min_size=1,
    max_size=12,
)
# Any text a line may hold: no CR, LF, NUL, and no surrogates (those only
# arise from undecodable input bytes).
VALUE = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n\x00"),
    max_size=30,
)
ATTRIBUTE = st.builds(
    Attribute,
    name=TOKEN.filter(lambda name: name.lower() not in ATTRIBUTE_VALIDATORS),
    value=st.none() | VALUE,
)
CONNECTION = st.builds(
    Connection,
    net_type=st.just("IN"),
    addr_type=st.sampled_from(["IP4", "IP6"]),
    address=TOKEN,
)
BANDWIDTH = st.builds(
    Bandwidth, bw_type=TOKEN, value=st.integers(min_value=0, max_value=2**32)
)
RTP_PROTOS = ["RTP/AVP", "RTP/SAVP", "RTP/AVPF", "RTP/SAVPF", "UDP/TLS/RTP/SAVPF"]
OTHER_PROTOS = ["TCP/BFCP", "UDP/BFCP", "TCP/TLS/BFCP", "udptl"]


@st.composite
def media_sections(draw: st.DrawFn) -> MediaDescription:
    proto = draw(st.sampled_from(RTP_PROTOS + OTHER_PROTOS))
    port = draw(st.integers(min_value=0, max_value=65535))
    fmt = st.integers(0, 127).map(str) if "RTP/" in proto else TOKEN
    formats = draw(st.lists(fmt, min_size=0 if port == 0 else 1, max_size=5))
    return MediaDescription(
        kind=draw(st.sampled_from(["audio", "video", "application", "text"])),
        port=port,
        port_count=draw(st.none() | st.integers(0, 65535)),
        proto=proto,
        formats=tuple(formats),
        information=draw(st.none() | VALUE),
        connections=tuple(draw(st.lists(CONNECTION, max_size=2))),
        bandwidths=tuple(draw(st.lists(BANDWIDTH, max_size=2))),
        key=draw(st.none() | VALUE),
        attributes=tuple(draw(st.lists(ATTRIBUTE, max_size=5))),
    )


@st.composite
def sessions(draw: st.DrawFn) -> SessionDescription:
    media = tuple(draw(st.lists(media_sections(), max_size=4)))
    connection = draw(st.none() | CONNECTION)
    if connection is None and any(m.port and not m.connections for m in media):
        connection = draw(CONNECTION)
    timing = st.builds(
        Timing,
        start=st.integers(0, 2**64),
        stop=st.integers(0, 2**64),
        repeats=st.lists(VALUE, max_size=2).map(tuple),
    )
    return SessionDescription(
        origin=Origin(
            username=draw(TOKEN),
            session_id=draw(TOKEN),
            session_version=draw(st.integers(0, 10**18)),
            addr_type=draw(st.sampled_from(["IP4", "IP6"])),
            address=draw(TOKEN),
        ),
        session_name=draw(VALUE),
        information=draw(st.none() | VALUE),
        uri=draw(st.none() | VALUE),
        emails=tuple(draw(st.lists(VALUE, max_size=2))),
        phones=tuple(draw(st.lists(VALUE, max_size=2))),
        connection=connection,
        bandwidths=tuple(draw(st.lists(BANDWIDTH, max_size=2))),
        timings=tuple(draw(st.lists(timing, min_size=1, max_size=2))),
        time_zones=draw(st.none() | VALUE),
        key=draw(st.none() | VALUE),
        attributes=tuple(draw(st.lists(ATTRIBUTE, max_size=4))),
        media=media,
    )


@settings(max_examples=300)
@given(sessions())
def test_generated_sessions_round_trip(session: SessionDescription) -> None:
    """parse(serialize(s)) == s, and the bytes are stable."""
    data = serialize_sdp(session)
    assert parse_sdp(data) == session
    assert serialize_sdp(parse_sdp(data)) == data


def check_bytes(data: bytes) -> None:
    try:
        parsed = parse_sdp(data)
    except RemoteSdpError:
        return
    assert isinstance(parsed, SessionDescription)
    once = serialize_sdp(parsed)
    assert parse_sdp(once) == parsed
    assert serialize_sdp(parse_sdp(once)) == once


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_arbitrary_bytes(data: bytes) -> None:
    """Random bytes parse or raise RemoteSdpError; parses are a fixed point."""
    check_bytes(data)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(CORPUS),
    st.lists(st.tuples(st.integers(0, 10**6), st.binary(max_size=4)), max_size=6),
)
def test_mutated_corpus(path: Path, edits: list[tuple[int, bytes]]) -> None:
    """Corpus files with spliced random bytes never crash the parser."""
    data = bytearray(path.read_bytes())
    for position, chunk in edits:
        index = position % (len(data) + 1)
        data[index : index + len(chunk)] = chunk
    check_bytes(bytes(data))


HEAD = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc={c}\r\nt=0 0\r\n"
LINES = st.one_of(
    st.sampled_from(
        [
            "m=audio 5004 RTP/AVP 0 8 96 101",
            "m=video 5006 RTP/AVP 96 97 34",
            "m=video 5008 RTP/SAVP 97",
            "m=audio 0 RTP/AVP 0",
            "m=application 5070 TCP/BFCP *",
            "m=application 5072 UDP/BFCP *",
            "m=application 5010 RTP/AVP 100",
            "m=image 6000 udptl t38",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111",
            "a=rtpmap:96 opus/48000/2",
            "a=rtpmap:96 H264/90000",
            "a=rtpmap:97 H264/90000",
            "a=rtpmap:100 H224/4800",
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1",
            "a=fmtp:97 profile-level-id=640028",
            "a=fmtp:97 profile-level-id=zz",
            "a=fmtp:96 packetization-mode=7",
            "a=fmtp:101 0-15",
            "a=rtcp-fb:* nack pli",
            "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA",
            "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:BBBB",
            "a=sendonly",
            "a=recvonly",
            "a=inactive",
            "a=rtcp-mux",
            "a=rtcp:7000",
            "a=content:slides",
            "a=floorctrl:c-s",
            "a=floorctrl:c-only",
            "a=setup:actpass",
            "a=setup:holdconn",
            "a=mid:x",
            "a=ice-ufrag:u",
            "c=IN IP4 0.0.0.0",
            "b=AS:512",
        ]
    ),
    VALUE.map(lambda v: "a=" + v),
)


def our_key(offered: tuple[CryptoAttribute, ...]) -> CryptoAttribute:
    """Our key for the first offered suite, as gateway/srtp would choose."""
    tag, suite = (1, "AES_CM_128_HMAC_SHA1_80")
    if offered:
        tag, suite = offered[0].tag, offered[0].suite
    return CryptoAttribute(tag=tag, suite=suite, key_params="inline:" + "K" * 40)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["IN IP4 192.0.2.1", "IN IP4 0.0.0.0"]),
    st.lists(LINES, max_size=25),
    st.booleans(),
)
def test_offer_answer_never_crashes(
    connection: str, lines: list[str], require_srtp: bool
) -> None:
    """Any parsed offer is answered or refused with RemoteSdpError; our own
    answers and onward offers are valid SDP that negotiate() accepts."""
    data = (HEAD.format(c=connection) + "".join(f"{x}\r\n" for x in lines)).encode()
    try:
        offer = parse_sdp(data)
    except RemoteSdpError:
        return
    media = [
        LocalMedia(port=40000 + 2 * n, crypto=(our_key(section.crypto),))
        for n, section in enumerate(offer.media)
    ]
    local = LocalSession(
        origin=Origin(session_id="1", session_version=1, address="x"),
        address="203.0.113.5",
        require_srtp=require_srtp,
    )
    onward = build_offer_from(offer, policy=CodecPolicy(), local=local, media=media)
    assert parse_sdp(serialize_sdp(onward)) == onward
    try:
        answer = build_answer(offer, policy=CodecPolicy(), local=local, media=media)
    except RemoteSdpError as exc:
        assert exc.status == 488
        return
    wire = parse_sdp(serialize_sdp(answer))
    assert wire == answer
    streams = negotiate(offer, wire)
    assert len(streams) == len(offer.media)
