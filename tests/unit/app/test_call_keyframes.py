"""Which keyframe dialect a leg speaks, read from the SDP its endpoint sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.app.call_keyframes import leg_dialect
from gateway.media.keyframe import KeyframeDialect
from gateway.sdp.parse import parse_sdp

CORPUS = Path(__file__).parents[2] / "corpus" / "sdp" / "valid"


def video_index(name: str) -> tuple[object, int]:
    sdp = parse_sdp((CORPUS / name).read_bytes())
    index = next(i for i, m in enumerate(sdp.media) if m.kind == "video")
    return sdp, index


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cisco_tc_offer.sdp", KeyframeDialect.RTCP_FIR),
        ("polycom_hdx_offer.sdp", KeyframeDialect.RTCP_FIR),
        ("lifesize_icon_offer.sdp", KeyframeDialect.SIP_INFO),
    ],
)
def test_dialect_from_rtcp_fb(name: str, expected: KeyframeDialect) -> None:
    """ccm fir wins over nack pli; no rtcp-fb means SIP INFO (RFC 5168)."""
    sdp, index = video_index(name)
    assert leg_dialect(sdp, index) is expected  # type: ignore[arg-type]


def test_pli_only_endpoint_and_missing_sdp() -> None:
    """nack pli alone gives PLI; an unknown leg falls back to SIP INFO."""
    text = (
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
        b"m=video 5000 RTP/AVPF 96\r\na=rtpmap:96 H264/90000\r\n"
        b"a=rtcp-fb:96 nack pli\r\n"
    )
    assert leg_dialect(parse_sdp(text), 0) is KeyframeDialect.RTCP_PLI
    assert leg_dialect(None, 0) is KeyframeDialect.SIP_INFO
