"""RTP header helpers, RFC 5761 demux and the header rewriter."""

from __future__ import annotations

import struct

import pytest

from gateway.media.errors import LocalMediaError, RemoteMediaError
from gateway.media.rtp import RtpRewriter, is_rtcp, parse_header, payload_offset


def rtp(seq: int, ts: int, ssrc: int, pt: int = 96, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, pt | (0x80 if marker else 0), seq, ts, ssrc)


def test_demux_splits_rtcp_types_from_rtp_payload_types() -> None:
    """Second octets 192..223 are RTCP (RFC 5761 §4); RTP types are not."""
    assert all(is_rtcp(bytes((0x80, value))) for value in range(192, 224))
    assert not any(is_rtcp(bytes((0x80, value))) for value in (0, 96, 111, 127))
    assert not any(is_rtcp(bytes((0x80, 0x80 | pt))) for pt in (0, 8, 9, 34))
    assert not is_rtcp(b"\x80")


def test_parse_header_reads_fields_csrcs_and_extension() -> None:
    """Header fields, CSRCs and the extension length give the payload offset."""
    packet = (
        struct.pack("!BBHII", 0x92, 0xE0, 7, 1000, 0xAABBCCDD)
        + struct.pack("!II", 1, 2)
        + struct.pack("!HHI", 0xBEDE, 1, 0)
        + b"payload"
    )
    header = parse_header(packet)
    assert header.marker and header.payload_type == 96
    assert (header.sequence, header.timestamp, header.ssrc) == (7, 1000, 0xAABBCCDD)
    assert header.csrcs == (1, 2) and header.has_extension
    assert payload_offset(packet) == 12 + 8 + 8


@pytest.mark.parametrize(
    "packet",
    [b"", rtp(1, 1, 1)[:11], b"\x40" + rtp(1, 1, 1)[1:], b"\x81" + rtp(1, 1, 1)[1:]],
)
def test_malformed_rtp_raises_remote_error(packet: bytes) -> None:
    """Short, wrong-version or CSRC-truncated packets are RemoteMediaError."""
    with pytest.raises(RemoteMediaError):
        payload_offset(packet)


def test_rewriter_applies_ssrc_payload_type_and_offsets_with_wrap() -> None:
    """SSRC, PT map and offsets modulo 2^16 / 2^32 (RFC 3550 §5.1); marker kept."""
    rewriter = RtpRewriter(
        ssrc=0x01020304, payload_types={96: 100}, seq_offset=10, ts_offset=100
    )
    out = rewriter.rewrite(rtp(65530, 2**32 - 50, 0x55, pt=96, marker=True) + b"x")
    header = parse_header(out)
    assert header.ssrc == 0x01020304 and header.payload_type == 100 and header.marker
    assert header.sequence == 4 and header.timestamp == 50
    assert out.endswith(b"x")
    other = parse_header(rewriter.rewrite(rtp(1, 1, 0x55, pt=0)))
    assert other.payload_type == 0  # Unmapped types pass through.


def test_rewriter_splice_continues_sequence_and_timeline() -> None:
    """After a source change the output continues from the last packet sent."""
    rewriter = RtpRewriter(ssrc=9)
    assert rewriter.rewrite(rtp(5, 5, 1)) == rtp(5, 5, 9)
    rewriter.rewrite(rtp(100, 9000, 1))
    rewriter.splice(next_sequence=40000, next_timestamp=7, ts_step=3000)
    header = parse_header(rewriter.rewrite(rtp(40000, 7, 2)))
    assert (header.sequence, header.timestamp, header.ssrc) == (101, 12000, 9)


def test_rewriter_leaves_runts_and_refuses_bad_settings() -> None:
    """A packet shorter than a header is returned as is; bad settings raise."""
    assert RtpRewriter(ssrc=1).rewrite(b"\x80\x60") == b"\x80\x60"
    with pytest.raises(LocalMediaError):
        RtpRewriter(ssrc=2**32)
    with pytest.raises(LocalMediaError):
        RtpRewriter(payload_types={96: 128})
