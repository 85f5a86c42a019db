"""Tests of gateway.sdp.media: the neutral stream description and its SDP map."""

from __future__ import annotations

import pytest

from gateway.sdp.codecs import H264Params
from gateway.sdp.errors import LocalSdpError, RemoteSdpError
from gateway.sdp.media import (
    MediaFormat,
    MediaKind,
    MediaRole,
    StreamDescription,
    answer_format,
    assign_payload_types,
    formats_from_media,
    media_from_stream,
    stream_from_sdp,
)
from gateway.sdp.model import Attribute, Direction, SessionDescription
from gateway.sdp.parse import parse_sdp
from gateway.sdp.serialize import serialize_sdp

HEAD = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"


def sdp(*lines: str) -> SessionDescription:
    return parse_sdp((HEAD + "".join(f"{line}\r\n" for line in lines)).encode())


def test_formats_from_static_and_dynamic_types() -> None:
    """Static types need no rtpmap; dynamic ones without rtpmap are skipped."""
    media = sdp(
        "m=audio 5004 RTP/AVP 0 96 97 2 101 0",
        "a=rtpmap:96 opus/48000/2",
        "a=fmtp:96 useinbandfec=1",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
    ).media[0]
    formats = formats_from_media(media)
    assert [(f.name, f.payload_type) for f in formats] == [
        ("PCMU", 0),
        ("opus", 96),
        ("telephone-event", 101),
    ]
    assert formats[1].channels == 2 and formats[1].fmtp == "useinbandfec=1"
    assert formats[2].is_auxiliary and not formats[0].is_auxiliary


def test_rtpmap_without_channels_means_one() -> None:
    """a=rtpmap:9 G722/8000 (no channels) is a one-channel format."""
    media = sdp("m=audio 5004 RTP/AVP 9", "a=rtpmap:9 G722/8000").media[0]
    assert formats_from_media(media)[0].channels == 1


def test_rtpmap_overrides_static_meaning() -> None:
    """An explicit rtpmap wins over the RFC 3551 table."""
    media = sdp("m=audio 5004 RTP/AVP 9", "a=rtpmap:9 G722/16000").media[0]
    assert formats_from_media(media)[0].clock_rate == 16000


def test_stream_from_sdp_fields() -> None:
    """Kind, role, direction, bit rate, label and feedback come across."""
    session = sdp(
        "m=video 5006 RTP/AVP 109",
        "b=AS:768",
        "a=rtpmap:109 H264/90000",
        "a=fmtp:109 profile-level-id=42801f",
        "a=rtcp-fb:* ccm fir",
        "a=content:slides",
        "a=label:3",
        "a=sendonly",
    )
    stream = stream_from_sdp(session, 0)
    assert stream is not None
    assert stream.kind is MediaKind.VIDEO
    assert stream.role is MediaRole.SLIDES
    assert stream.direction is Direction.SENDONLY
    assert stream.bitrate_kbps == 768
    assert stream.label == "3"
    (fmt,) = stream.formats
    assert fmt.rtcp_feedback == ("ccm fir",)
    params = fmt.h264
    assert params is not None and params.profile_level_id == "42801f"


def test_stream_from_sdp_none_for_non_rtp_and_other_kinds() -> None:
    """BFCP, T.38 and text sections have no neutral form."""
    session = sdp(
        "m=application 5070 TCP/BFCP *",
        "m=image 6000 udptl t38",
        "m=text 6002 RTP/AVP 98",
    )
    assert [stream_from_sdp(session, i) for i in range(3)] == [None, None, None]


def test_media_format_helpers() -> None:
    """param() is case-insensitive; h264 is None for other codecs."""
    fmt = MediaFormat(name="G7221", clock_rate=16000, fmtp="Bitrate=24000")
    assert fmt.param("BITRATE") == "24000"
    assert fmt.h264 is None
    bad = MediaFormat(name="H264", clock_rate=90000, fmtp="profile-level-id=x")
    with pytest.raises(RemoteSdpError):
        _ = bad.h264


def test_same_codec() -> None:
    """same_codec compares name/clock/channels and configuration params."""
    g24 = MediaFormat(name="G7221", clock_rate=16000, fmtp="bitrate=24000")
    g32 = MediaFormat(name="g7221", clock_rate=16000, fmtp="bitrate=32000")
    assert g24.same_codec(g24) and not g24.same_codec(g32)
    h_mode1 = MediaFormat.from_h264(H264Params(packetization_mode=1))
    h_mode0 = MediaFormat.from_h264(H264Params(packetization_mode=0))
    assert h_mode1.same_codec(h_mode1) and not h_mode1.same_codec(h_mode0)
    bad = MediaFormat(name="H264", clock_rate=90000, fmtp="profile-level-id=x")
    assert not bad.same_codec(h_mode0)
    assert not g24.same_codec(h_mode0)


def test_answer_format_uses_local_fmtp_when_present() -> None:
    """The answer keeps the offered PT; fmtp comes from the local side if any."""
    offered = MediaFormat(
        name="telephone-event", clock_rate=8000, fmtp="0-16", payload_type=101
    )
    local = MediaFormat(name="telephone-event", clock_rate=8000, fmtp="0-15")
    assert answer_format(offered, local) == MediaFormat(
        name="telephone-event", clock_rate=8000, fmtp="0-15", payload_type=101
    )
    bare = MediaFormat(name="telephone-event", clock_rate=8000)
    assert answer_format(offered, bare) == offered
    assert answer_format(offered, MediaFormat(name="PCMU", clock_rate=8000)) is None
    g24 = MediaFormat(name="G7221", clock_rate=16000, fmtp="bitrate=24000")
    g32 = MediaFormat(name="G7221", clock_rate=16000, fmtp="bitrate=32000")
    assert answer_format(g24, g32) is None


def test_answer_format_h264_level_rewritten_in_place() -> None:
    """H.264: offered profile, negotiated level, rest of the fmtp untouched."""
    offered = MediaFormat(
        name="H264",
        clock_rate=90000,
        fmtp="profile-level-id=42801f; max-mbps=108000",
        payload_type=109,
    )
    local = MediaFormat(name="H264", clock_rate=90000, fmtp="profile-level-id=42e016")
    agreed = answer_format(offered, local)
    assert agreed is not None
    assert agreed.payload_type == 109
    assert agreed.fmtp == "profile-level-id=428016"
    bare_local = MediaFormat(name="h264", clock_rate=90000)
    agreed = answer_format(offered, bare_local)
    assert (
        agreed is not None and agreed.fmtp == "profile-level-id=42800a; max-mbps=108000"
    )
    bad = MediaFormat(name="H264", clock_rate=90000, fmtp="packetization-mode=9")
    assert answer_format(bad, local) is None
    mode1 = MediaFormat(name="H264", clock_rate=90000, fmtp="packetization-mode=1")
    assert answer_format(offered, mode1) is None


def test_assign_payload_types() -> None:
    """Static codecs get their number; others take free dynamic numbers."""
    formats = assign_payload_types(
        [
            MediaFormat(name="PCMU", clock_rate=8000),
            MediaFormat(name="opus", clock_rate=48000, channels=2, payload_type=96),
            MediaFormat(name="H264", clock_rate=90000),
            MediaFormat(name="PCMU", clock_rate=8000),
        ]
    )
    assert [f.payload_type for f in formats] == [0, 96, 97, 98]


def test_assign_payload_types_runs_out() -> None:
    """Needing more than 32 dynamic numbers is a local error."""
    many = [MediaFormat(name=f"x{n}", clock_rate=8000) for n in range(33)]
    with pytest.raises(LocalSdpError, match="32 dynamic"):
        assign_payload_types(many)


def test_media_from_stream_layout() -> None:
    """rtpmap/fmtp/rtcp-fb per format, shared feedback as *, then extras."""
    stream = StreamDescription(
        kind=MediaKind.VIDEO,
        role=MediaRole.SLIDES,
        formats=(
            MediaFormat.from_h264(
                H264Params(packetization_mode=1), rtcp_feedback=("ccm fir", "nack")
            ),
            MediaFormat(name="H263", clock_rate=90000, rtcp_feedback=("ccm fir",)),
        ),
        direction=Direction.RECVONLY,
        bitrate_kbps=512,
        label="12",
    )
    media = media_from_stream(
        stream,
        port=40000,
        proto="RTP/SAVP",
        extra_attributes=[Attribute(name="rtcp-mux")],
    )
    assert media.formats == ("96", "34")
    assert [str(a) for a in media.attributes] == [
        "rtpmap:96 H264/90000",
        "fmtp:96 profile-level-id=42e01f;packetization-mode=1",
        "rtcp-fb:96 nack",
        "rtpmap:34 H263/90000",
        "rtcp-fb:* ccm fir",
        "content:slides",
        "label:12",
        "rtcp-mux",
        "recvonly",
    ]
    assert media.bandwidths[0].value == 512


def test_media_from_stream_audio_channels() -> None:
    """Audio rtpmap carries channels only when not one."""
    stream = StreamDescription(
        kind=MediaKind.AUDIO,
        formats=(
            MediaFormat(name="opus", clock_rate=48000, channels=2, payload_type=111),
            MediaFormat(name="PCMA", clock_rate=8000),
        ),
    )
    media = media_from_stream(stream, port=40000, proto="RTP/AVP")
    assert media.attribute_values("rtpmap") == ("111 opus/48000/2", "8 PCMA/8000")


def test_media_from_stream_needs_a_format() -> None:
    """A stream without formats cannot become an m= line."""
    with pytest.raises(LocalSdpError):
        media_from_stream(StreamDescription(kind=MediaKind.AUDIO), port=1, proto="x")


def test_sdp_neutral_sdp_round_trip() -> None:
    """SDP -> neutral -> SDP keeps codecs, fmtp, direction and role."""
    session = sdp(
        "m=video 5006 RTP/AVP 97 34",
        "b=AS:1024",
        "a=rtpmap:97 H264/90000",
        "a=fmtp:97 profile-level-id=640028;packetization-mode=1",
        "a=rtpmap:34 H263/90000",
        "a=content:slides",
        "a=sendonly",
    )
    stream = stream_from_sdp(session, 0)
    assert stream is not None
    rebuilt = media_from_stream(stream, port=5006, proto="RTP/AVP")
    again = stream_from_sdp(
        parse_sdp(
            serialize_sdp(
                SessionDescription(origin=session.origin, media=(rebuilt,))
            ).replace(b"t=0 0", b"c=IN IP4 192.0.2.1\r\nt=0 0")
        ),
        0,
    )
    assert again == stream
