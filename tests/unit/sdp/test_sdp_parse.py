"""Tests of gateway.sdp.parse (RFC 8866 §5 grammar, tolerances, limits)."""

from __future__ import annotations

import pytest

from gateway.errors import ConfigError
from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.model import Attribute, Bandwidth, Connection, Timing
from gateway.sdp.parse import SdpLimits, parse_sdp

HEAD = [
    "v=0",
    "o=- 20518 0 IN IP4 203.0.113.1",
    "s=-",
    "c=IN IP4 203.0.113.1",
    "t=0 0",
]


def body(*lines: str, head: list[str] | None = None, end: str = "\r\n") -> bytes:
    all_lines = (HEAD if head is None else head) + list(lines)
    return (end.join(all_lines) + end).encode()


def test_minimal_session_fields() -> None:
    """Required lines land in their fields; defaults fill the rest."""
    sdp = parse_sdp(body())
    assert sdp.version == 0
    assert sdp.origin.username == "-"
    assert sdp.origin.session_id == "20518"
    assert sdp.origin.session_version == 0
    assert sdp.origin.address == "203.0.113.1"
    assert sdp.session_name == "-"
    assert sdp.connection == Connection(address="203.0.113.1")
    assert sdp.timings == (Timing(start=0, stop=0),)
    assert sdp.media == ()


def test_media_section_fields() -> None:
    """An m= line and its i=, c=, b=, k=, a= lines belong to that section."""
    sdp = parse_sdp(
        body(
            "m=video 51372/2 RTP/AVP 99 34",
            "i=camera",
            "c=IN IP4 198.51.100.1",
            "b=AS:512",
            "b=TIAS:500000",
            "k=prompt",
            "a=rtpmap:99 H264/90000",
            "a=recvonly",
        )
    )
    (media,) = sdp.media
    assert media.kind == "video"
    assert (media.port, media.port_count) == (51372, 2)
    assert media.proto == "RTP/AVP"
    assert media.formats == ("99", "34")
    assert media.information == "camera"
    assert media.connections == (Connection(address="198.51.100.1"),)
    assert media.bandwidths == (
        Bandwidth(bw_type="AS", value=512),
        Bandwidth(bw_type="TIAS", value=500000),
    )
    assert media.key == "prompt"
    assert media.attributes[-1] == Attribute(name="recvonly")


def test_bare_lf_and_blank_lines_are_accepted() -> None:
    """Bare LF line ends and blank lines (old room systems) parse the same."""
    crlf = parse_sdp(body("m=audio 5004 RTP/AVP 0"))
    lf = parse_sdp(body("m=audio 5004 RTP/AVP 0", "", end="\n"))
    assert lf == crlf


def test_missing_final_line_end_is_accepted() -> None:
    """A body whose last line lacks CRLF still parses."""
    data = body("m=audio 5004 RTP/AVP 0").rstrip(b"\r\n")
    assert parse_sdp(data).media[0].port == 5004


def test_empty_session_name_is_accepted() -> None:
    """A bare ``s=`` (no content) is kept as an empty name."""
    head = [*HEAD[:2], "s=", *HEAD[3:]]
    assert parse_sdp(body(head=head)).session_name == ""


def test_attribute_value_kept_raw() -> None:
    """Attribute values keep spaces, colons and case byte for byte."""
    sdp = parse_sdp(body("a=X-Vendor:Foo: bar  baz ", "a=flag", "a=empty:"))
    assert sdp.attributes == (
        Attribute(name="X-Vendor", value="Foo: bar  baz "),
        Attribute(name="flag"),
        Attribute(name="empty", value=""),
    )


def test_zero_port_media_without_formats_is_tolerated() -> None:
    """A rejected stream with no format list parses (seen in old answers)."""
    sdp = parse_sdp(body("m=video 0 RTP/AVP"))
    assert sdp.media[0].formats == ()


def test_non_rtp_formats_are_free_tokens() -> None:
    """Formats of non-RTP protos (BFCP ``*``, udptl t38) are not numbers."""
    sdp = parse_sdp(body("m=application 5070 UDP/BFCP *", "m=image 6000 udptl t38"))
    assert sdp.media[0].formats == ("*",)
    assert sdp.media[1].formats == ("t38",)
    assert sdp.media[1].payload_types == ()


def test_connection_only_in_media_sections() -> None:
    """c= may be absent at session level if every used stream has one."""
    head = [line for line in HEAD if not line.startswith("c=")]
    sdp = parse_sdp(
        body(
            "m=audio 5004 RTP/AVP 0",
            "c=IN IP4 192.0.2.1",
            "m=video 0 RTP/AVP 0",
            head=head,
        )
    )
    assert sdp.connection is None
    assert sdp.connection_for(0) == Connection(address="192.0.2.1")


def test_repeat_and_zone_lines() -> None:
    """r= lines attach to the preceding t=; z= and k= are kept raw."""
    head = [*HEAD[:4], "t=2873397496 2873404696", "r=7d 1h 0 25h", "r=1d 1h 0"]
    sdp = parse_sdp(body("z=2882844526 -1h", "k=prompt", head=head))
    assert sdp.timings == (
        Timing(start=2873397496, stop=2873404696, repeats=("7d 1h 0 25h", "1d 1h 0")),
    )
    assert sdp.time_zones == "2882844526 -1h"
    assert sdp.key == "prompt"


def test_session_lines_out_of_order_are_accepted() -> None:
    """Session-level lines in a non-canonical order still parse."""
    head = ["v=0", "s=-", "t=0 0", "o=- 1 1 IN IP4 192.0.2.1", "c=IN IP4 192.0.2.1"]
    assert parse_sdp(body(head=head)).origin.session_id == "1"


def test_non_utf8_bytes_survive() -> None:
    """Latin-1 bytes in s= are kept (surrogate-escaped), not refused."""
    data = body().replace(b"s=-", b"s=Reuni\xf3n")
    assert parse_sdp(data).session_name == "Reuni\udcf3n"


@pytest.mark.parametrize(
    ("lines", "fragment"),
    [
        (["o=- 1 1 IN IP4 a"], "must start with v="),
        (["v=1", *HEAD[1:]], "is not 0"),
        ([*HEAD, "x=1"], "unknown SDP line type"),
        ([*HEAD, "v=0"], "twice"),
        ([*HEAD, "s=again"], "twice"),
        ([*HEAD, "m=audio 5004 RTP/AVP 0", "t=0 0"], "not allowed in a media"),
        ([*HEAD, "A=foo"], "not <type>=<value>"),
        ([*HEAD, "a"], "not <type>=<value>"),
        ([*HEAD, "a =x"], "not <type>=<value>"),
        ([*HEAD, "m=audio 5004 RTP/AVP 0 128"], "not a payload type"),
        ([*HEAD, "m=audio 5004 RTP/AVP x"], "not a payload type"),
        ([*HEAD, "m=audio 5004 RTP/AVP ²"], "not a payload type"),
        ([*HEAD, "m=audio 65536 RTP/AVP 0"], "m= port"),
        ([*HEAD, "m=audio 5004/x RTP/AVP 0"], "port count"),
        ([*HEAD, "m=audio 5004"], "needs <media>"),
        ([*HEAD, "m=audio 5004 RTP/AVP"], "lists no formats"),
        ([*HEAD, "m=au(dio 5004 RTP/AVP 0"], "invalid media"),
        ([*HEAD, "b=AS"], "needs <bwtype>"),
        ([*HEAD, "b=AS:fast"], "b= value"),
        ([*HEAD[:3], "c=IN IP4", "t=0 0"], "c="),
        ([*HEAD[:4], "t=0"], "t="),
        ([*HEAD[:4], "r=1d 1h 0", "t=0 0"], "r= must follow"),
        (["v=0", "o=- 1 x IN IP4 a", *HEAD[2:]], "session version"),
        (["v=0", "o=- 1 1 IN IP4", *HEAD[2:]], "six fields"),
        ([*HEAD, "a=bad name:1"], "invalid attribute name"),
        ([*HEAD, "a=:1"], "invalid attribute name"),
        ([*HEAD, "m=audio 1 RTP/AVP 96", "a=rtpmap:96 opus"], "a=rtpmap"),
        ([*HEAD, "m=audio 1 RTP/AVP 96", "a=rtpmap:96 opus/x"], "clock rate"),
        ([*HEAD, "m=audio 1 RTP/AVP 96", "a=rtpmap:200 a/8000"], "payload type"),
        ([*HEAD, "m=audio 1 RTP/AVP 96", "a=rtpmap"], "needs a value"),
        ([*HEAD, "m=audio 1 RTP/AVP 96", "a=fmtp: "], "a=fmtp"),
        ([*HEAD, "m=audio 1 RTP/AVP 96", "a=rtcp:x"], "a=rtcp port"),
        ([*HEAD, "m=audio 1 RTP/AVP 96", "a=rtcp:1 IN IP4"], "a=rtcp"),
        ([*HEAD, "m=audio 1 RTP/AVP 96", "a=rtcp-fb:96"], "feedback type"),
        ([*HEAD, "m=audio 1 RTP/AVP 96", "a=crypto:1 AES"], "a=crypto"),
        ([*HEAD, "m=audio 1 RTP/AVP 96", "i=a", "i=b"], "i= appears twice"),
        ([*HEAD, "m=audio 1 RTP/AVP 96", "k=a", "k=b"], "k= appears twice"),
    ],
)
def test_forbidden_forms_raise(lines: list[str], fragment: str) -> None:
    """Each form RFC 8866 forbids raises RemoteSdpError naming the problem."""
    with pytest.raises(RemoteSdpError) as info:
        parse_sdp(body(head=lines))
    assert fragment in str(info.value)
    assert info.value.status == 400
    assert info.value.reason == "Bad Request"


def test_error_carries_line_number() -> None:
    """The error names the 1-based line that broke the grammar."""
    with pytest.raises(RemoteSdpError) as info:
        parse_sdp(body("m=audio 5004 RTP/AVP 0", "a=rtpmap:0 PCMU"))
    assert info.value.line_number == 7
    assert str(info.value).startswith("SDP line 7:")


@pytest.mark.parametrize("missing", ["o=", "s=", "t="])
def test_missing_required_line(missing: str) -> None:
    """A body without o=, s= or t= is refused (RFC 8866 §5)."""
    head = [line for line in HEAD if not line.startswith(missing)]
    with pytest.raises(RemoteSdpError, match="lacks required"):
        parse_sdp(body(head=head))


def test_used_stream_without_connection() -> None:
    """A stream with a port but no c= at any level is refused."""
    head = [line for line in HEAD if not line.startswith("c=")]
    with pytest.raises(RemoteSdpError, match="no c="):
        parse_sdp(body("m=audio 5004 RTP/AVP 0", head=head))


def test_rejected_stream_needs_no_connection() -> None:
    """A port-0 stream without c= is fine: nobody sends to it."""
    head = [line for line in HEAD if not line.startswith("c=")]
    assert parse_sdp(body("m=audio 0 RTP/AVP 0", head=head)).media[0].port == 0


def test_bare_cr_and_nul_are_refused() -> None:
    """CR inside a line and NUL anywhere are refused (RFC 8866 §5)."""
    with pytest.raises(RemoteSdpError, match="bare CR"):
        parse_sdp(body("a=x\ry"))
    with pytest.raises(RemoteSdpError, match="NUL"):
        parse_sdp(body("a=x\x00y"))


def test_empty_body_is_refused() -> None:
    """An empty body lacks every required line."""
    with pytest.raises(RemoteSdpError):
        parse_sdp(b"")


def test_size_limit_checked_first() -> None:
    """A body larger than max_size_bytes is refused before parsing."""
    limits = SdpLimits(max_size_bytes=64)
    with pytest.raises(RemoteSdpError, match="exceeds 64"):
        parse_sdp(body("a=" + "x" * 100), limits)


def test_media_limit() -> None:
    """More m= lines than max_media are refused; exactly max_media passes."""
    lines = ["m=audio 0 RTP/AVP 0"] * 3
    assert len(parse_sdp(body(*lines), SdpLimits(max_media=3)).media) == 3
    with pytest.raises(RemoteSdpError, match="3 m= lines, limit 2"):
        parse_sdp(body(*lines), SdpLimits(max_media=2))


def test_attribute_limit() -> None:
    """More a= lines than max_attributes are refused."""
    lines = ["a=x"] * 5
    assert len(parse_sdp(body(*lines), SdpLimits(max_attributes=5)).attributes) == 5
    with pytest.raises(RemoteSdpError, match="5 a= lines, limit 4"):
        parse_sdp(body(*lines), SdpLimits(max_attributes=4))


def test_format_limit() -> None:
    """An m= line with more formats than max_formats is refused."""
    line = "m=audio 5004 RTP/AVP " + " ".join(str(n) for n in range(10))
    with pytest.raises(RemoteSdpError, match="more than 9 formats"):
        parse_sdp(body(line), SdpLimits(max_formats=9))


@pytest.mark.parametrize(
    "field", ["max_size_bytes", "max_media", "max_attributes", "max_formats"]
)
def test_limits_must_be_positive(field: str) -> None:
    """SdpLimits refuses a zero limit at construction."""
    with pytest.raises(ConfigError, match=field):
        SdpLimits(**{field: 0})


def test_fmtp_for_non_rtp_format() -> None:
    """a=fmtp may name a non-numeric or large format (RFC 8866 §6.15)."""
    sdp = parse_sdp(
        body(
            "m=application 5000 DTLS/SCTP 5000",
            "a=fmtp:5000 protocol=webrtc-datachannel;streams=1024",
            "m=audio 5004 RTP/AVP 0",
            "a=fmtp:0",
        )
    )
    assert sdp.media[0].fmtp(5000) == "protocol=webrtc-datachannel;streams=1024"
    assert sdp.media[1].fmtp(0) == ""
