"""Tests of gateway.sdp.model accessors and gateway.sdp.serialize."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.sdp.errors import LocalSdpError
from gateway.sdp.model import (
    Attribute,
    Bandwidth,
    Connection,
    CryptoAttribute,
    Direction,
    MediaDescription,
    Origin,
    RtcpAttribute,
    RtpMap,
    SessionDescription,
    TransportProfile,
)
from gateway.sdp.parse import parse_sdp
from gateway.sdp.serialize import serialize_sdp

HEAD = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"


def sdp(*lines: str, head: str = HEAD) -> SessionDescription:
    return parse_sdp((head + "".join(f"{line}\r\n" for line in lines)).encode())


def test_round_trip_is_byte_exact() -> None:
    """serialize(parse(b)) == b for a canonical body with unknown lines."""
    data = (
        HEAD + "a=X-nat:0\r\na=odd: spaced : value \r\n"
        "m=audio 5004/2 RTP/AVP 0 96\r\ni=x\r\nc=IN IP4 224.2.1.1/127/2\r\n"
        "b=TIAS:64000\r\nk=prompt\r\na=rtpmap:96 opus/48000/2\r\na=sendonly\r\n"
    ).encode()
    assert serialize_sdp(parse_sdp(data)) == data


def test_lf_input_serializes_with_crlf() -> None:
    """Bare-LF input comes out with CRLF line ends."""
    data = HEAD.replace("\r\n", "\n").encode()
    assert serialize_sdp(parse_sdp(data)) == HEAD.encode()


def test_serialize_refuses_line_injection() -> None:
    """A value with CRLF would forge lines; serialization raises LocalSdpError."""
    bad = dataclasses.replace(sdp(), session_name="x\r\na=evil")
    with pytest.raises(LocalSdpError, match="CR, LF"):
        serialize_sdp(bad)


def test_serialize_refuses_lone_surrogate() -> None:
    """A surrogate that did not come from input bytes cannot be encoded."""
    bad = dataclasses.replace(sdp(), session_name="\ud800")
    with pytest.raises(LocalSdpError, match="surrogate"):
        serialize_sdp(bad)


def test_rtpmap_fmtp_and_feedback_accessors() -> None:
    """rtpmaps/fmtp/rtcp_feedback read the typed attributes per payload type."""
    media = sdp(
        "m=video 5006 RTP/AVPF 96 97",
        "a=rtpmap:96 H264/90000",
        "a=rtpmap:96 VP8/90000",
        "a=rtpmap:97 opus/48000",
        "a=fmtp:96  profile-level-id=42e01f ",
        "a=rtcp-fb:* ccm fir",
        "a=rtcp-fb:96 nack pli",
        "a=rtcp-fb:97 nack",
    ).media[0]
    assert media.rtpmaps == {
        96: RtpMap(payload_type=96, encoding_name="H264", clock_rate=90000),
        97: RtpMap(payload_type=97, encoding_name="opus", clock_rate=48000),
    }
    assert media.fmtp(96) == "profile-level-id=42e01f"
    assert media.fmtp(97) is None
    assert media.rtcp_feedback(96) == ("ccm fir", "nack pli")
    assert media.rtcp_feedback(97) == ("ccm fir", "nack")
    assert str(media.rtpmaps[96]) == "96 H264/90000"
    assert str(RtpMap(payload_type=9, encoding_name="x", clock_rate=1, channels=2)) == (
        "9 x/1/2"
    )


def test_rtcp_and_mux_accessors() -> None:
    """a=rtcp port with and without address (RFC 3605); a=rtcp-mux flag."""
    section = sdp(
        "m=audio 5004 RTP/AVP 0",
        "a=rtcp:5005",
        "m=audio 5006 RTP/AVP 0",
        "a=rtcp:6000 IN IP4 192.0.2.9",
        "a=rtcp-mux",
    )
    assert section.media[0].rtcp == RtcpAttribute(port=5005)
    assert section.media[1].rtcp == RtcpAttribute(
        port=6000, connection=Connection(address="192.0.2.9")
    )
    assert not section.media[0].rtcp_mux
    assert section.media[1].rtcp_mux
    assert sdp("m=audio 1 RTP/AVP 0").media[0].rtcp is None


def test_content_label_mid() -> None:
    """a=content lists (RFC 4796), a=label (RFC 4574), a=mid (RFC 5888)."""
    media = sdp(
        "m=video 5008 RTP/AVP 96",
        "a=content:Slides, main",
        "a=label:3",
        "a=mid:v1",
    ).media[0]
    assert media.content == ("slides", "main")
    assert media.label == "3"
    assert media.mid == "v1"


def test_crypto_get_and_set() -> None:
    """a=crypto lines parse per RFC 4568 and can be replaced in place."""
    media = sdp(
        "m=audio 5004 RTP/SAVP 0",
        "a=rtpmap:0 PCMU/8000",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:KEY1|2^20|1:32 KDR=1",
        "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:KEY2",
        "a=sendrecv",
    ).media[0]
    first, second = media.crypto
    assert first == CryptoAttribute(
        tag=1,
        suite="AES_CM_128_HMAC_SHA1_80",
        key_params="inline:KEY1|2^20|1:32",
        session_params=("KDR=1",),
    )
    assert str(first) == "1 AES_CM_128_HMAC_SHA1_80 inline:KEY1|2^20|1:32 KDR=1"
    assert second.tag == 2
    ours = CryptoAttribute(tag=2, suite="AES_CM_128_HMAC_SHA1_32", key_params="k")
    updated = media.with_crypto([ours])
    assert updated.crypto == (ours,)
    assert [a.name for a in updated.attributes] == ["rtpmap", "crypto", "sendrecv"]
    assert media.with_crypto([]).crypto == ()


def test_with_attributes_appends_when_absent() -> None:
    """with_attributes adds new lines last when none existed."""
    media = sdp("m=audio 5004 RTP/AVP 0", "a=sendrecv").media[0]
    updated = media.with_attributes("label", ["7"])
    assert updated.attributes[-1] == Attribute(name="label", value="7")
    assert updated.without_attributes("LABEL", "sendrecv").attributes == ()


def test_direction_resolution() -> None:
    """Media direction beats session direction, which beats sendrecv."""
    session = sdp(
        "a=sendonly",
        "m=audio 5004 RTP/AVP 0",
        "m=audio 5006 RTP/AVP 0",
        "a=inactive",
        "a=recvonly",
    )
    assert session.direction is Direction.SENDONLY
    assert session.direction_of(0) is Direction.SENDONLY
    assert session.direction_of(1) is Direction.INACTIVE
    assert sdp("m=audio 1 RTP/AVP 0").direction_of(0) is Direction.SENDRECV


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        ("sendrecv", Direction.SENDONLY),
        ("sendonly", Direction.SENDONLY),
        ("recvonly", Direction.INACTIVE),
        ("inactive", Direction.INACTIVE),
    ],
)
def test_legacy_hold_clears_receive(attribute: str, expected: Direction) -> None:
    """c=0.0.0.0 (RFC 2543 hold, RFC 3264 §8.4) means the writer won't receive."""
    session = sdp(
        "m=audio 5004 RTP/AVP 0",
        f"a={attribute}",
        head=HEAD.replace("c=IN IP4 192.0.2.1", "c=IN IP4 0.0.0.0"),
    )
    assert session.is_legacy_hold(0)
    assert session.direction_of(0) is expected


def test_zero_address_with_ice_is_not_hold() -> None:
    """With ICE, c=0.0.0.0 only means no candidate yet (RFC 8839)."""
    session = sdp(
        "a=ice-ufrag:abcd",
        "m=audio 9 RTP/AVP 0",
        head=HEAD.replace("c=IN IP4 192.0.2.1", "c=IN IP4 0.0.0.0"),
    )
    assert not session.is_legacy_hold(0)
    assert session.direction_of(0) is Direction.SENDRECV


def test_ipv6_hold_and_multicast_host() -> None:
    """:: is a hold address too; host strips /ttl/count."""
    assert Connection(addr_type="IP6", address="::").is_hold
    assert Connection(address="224.2.1.1/127/3").host == "224.2.1.1"
    assert not Connection(address="192.0.2.1").is_hold


def test_bandwidth_units() -> None:
    """AS and CT are kbit/s, TIAS bit/s (RFC 3890); others unknown."""
    assert Bandwidth(bw_type="AS", value=384).kbps == 384
    assert Bandwidth(bw_type="ct", value=2048).kbps == 2048
    assert Bandwidth(bw_type="TIAS", value=384000).kbps == 384
    assert Bandwidth(bw_type="RR", value=800).kbps is None


def test_bandwidth_per_stream() -> None:
    """A stream's rate is the lowest of its own b= lines; session b= is ignored."""
    session = sdp(
        "b=AS:4000",
        "m=video 5006 RTP/AVP 96",
        "b=AS:1024",
        "b=TIAS:768000",
        "m=audio 5004 RTP/AVP 0",
        head=HEAD,
    )
    assert session.bandwidth_kbps(0) == 768
    assert session.bandwidth_kbps(1) is None


def test_direction_flags_and_reverse() -> None:
    """Direction flags and the view from the other side."""
    assert Direction.SENDONLY.reversed() is Direction.RECVONLY
    assert Direction.SENDRECV.reversed() is Direction.SENDRECV
    assert Direction.INACTIVE.reversed() is Direction.INACTIVE
    assert Direction.from_flags(sends=False, receives=True) is Direction.RECVONLY


def test_with_direction_replaces_existing() -> None:
    """with_direction leaves exactly one direction attribute (or none)."""
    media = sdp("m=audio 5004 RTP/AVP 0", "a=sendrecv", "a=label:1").media[0]
    held = media.with_direction(Direction.SENDONLY)
    assert held.direction is Direction.SENDONLY
    assert [a.name for a in held.attributes] == ["label", "sendonly"]
    assert media.with_direction(None).direction is None


def test_transport_profiles() -> None:
    """Every profile named in the brief is recognised with its properties."""
    avp = TransportProfile.from_proto("rtp/avp")
    assert avp is TransportProfile.RTP_AVP
    assert avp.is_rtp and not avp.is_srtp and not avp.has_feedback
    savpf = TransportProfile.RTP_SAVPF
    assert savpf.is_srtp and savpf.has_feedback and not savpf.is_dtls
    dtls = TransportProfile.from_proto("UDP/TLS/RTP/SAVPF")
    assert dtls is not None and dtls.is_dtls and dtls.is_srtp
    assert TransportProfile.from_proto("UDP/TLS/RTP/SAVP") is not None
    for proto in ("UDP/BFCP", "TCP/BFCP", "TCP/TLS/BFCP"):
        bfcp = TransportProfile.from_proto(proto)
        assert bfcp is not None and bfcp.is_bfcp and not bfcp.is_rtp
    assert TransportProfile.from_proto("udptl") is None


def test_payload_types_only_for_rtp() -> None:
    """payload_types reads numeric formats of RTP sections only."""
    media = MediaDescription(kind="audio", port=1, proto="RTP/AVP", formats=("0", "8"))
    assert media.payload_types == (0, 8)
    assert media.is_rtp
    other = MediaDescription(kind="image", port=1, proto="udptl", formats=("t38",))
    assert other.payload_types == ()


def test_origin_next_version_and_with_media() -> None:
    """next_version increments o= version; with_media replaces one section."""
    origin = Origin(session_id="5", session_version=9, address="192.0.2.1")
    assert origin.next_version().session_version == 10
    session = sdp("m=audio 5004 RTP/AVP 0", "m=video 5006 RTP/AVP 34")
    rejected = dataclasses.replace(session.media[1], port=0)
    assert session.with_media(1, rejected).media[1].port == 0
    assert session.media[1].port == 5006
