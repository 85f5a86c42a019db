"""Receive statistics against hand-computed RFC 3550 A.1/A.3/A.8 values."""

from __future__ import annotations

import struct

import pytest

from gateway.media.errors import LocalMediaError
from gateway.media.rtcp import ReportBlock
from gateway.media.stats import PeerReport, ReceiveStats


def rtp(seq: int, ts: int = 0, ssrc: int = 0x5151) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts, ssrc)


def feed(stats: ReceiveStats, seqs: list[int], now: float = 0.0) -> None:
    for seq in seqs:
        stats.update(rtp(seq), now)


def test_probation_then_in_order_counting() -> None:
    """The first packet is probation; the source starts at the second (A.1)."""
    stats = ReceiveStats(clock_rate=8000)
    feed(stats, [1])
    assert not stats.is_valid and stats.report_block(0.0) is None
    feed(stats, list(range(2, 11)))
    assert stats.is_valid and stats.base_seq == 2
    assert (stats.received, stats.expected, stats.cumulative_lost) == (9, 9, 0)


def test_loss_and_fraction_per_interval() -> None:
    """2 of 9 lost -> fraction 2*256//9 = 56; next clean interval -> 0 (A.3)."""
    stats = ReceiveStats(clock_rate=8000)
    feed(stats, [1, 2, 3, 4, 5, 8, 9, 10])
    block = stats.report_block(1.0)
    assert block is not None
    assert (block.fraction_lost, block.cumulative_lost) == (56, 2)
    assert block.highest_sequence == 10 and block.ssrc == 0x5151
    feed(stats, [11, 12])
    block = stats.report_block(2.0)
    assert block is not None
    assert (block.fraction_lost, block.cumulative_lost) == (0, 2)


def test_sequence_wrap_extends_the_highest_sequence() -> None:
    """Crossing 65535 -> 0 adds a cycle: extended max 65537 (A.1)."""
    stats = ReceiveStats(clock_rate=8000)
    feed(stats, [65533, 65534, 65535, 0, 1])
    assert stats.cycles == 65536 and stats.extended_max_seq == 65537
    assert (stats.expected, stats.received) == (4, 4)


def test_reordering_and_duplicates() -> None:
    """A late packet is received without moving max_seq; duplicates make loss
    negative, as RFC 3550 §6.4.1 allows."""
    stats = ReceiveStats(clock_rate=8000)
    feed(stats, [1, 2, 4, 3, 5, 5])
    assert stats.max_seq == 5
    assert (stats.expected, stats.received, stats.cumulative_lost) == (4, 5, -1)


def test_large_jump_needs_two_sequential_packets_to_restart() -> None:
    """A jump beyond MAX_DROPOUT is ignored once, then restarts the count (A.1)."""
    stats = ReceiveStats(clock_rate=8000)
    feed(stats, [1, 2, 3, 20000])
    assert stats.max_seq == 3 and stats.received == 2
    feed(stats, [20001])
    assert stats.base_seq == 20001 and stats.received == 1
    feed(stats, [20002])
    assert (stats.expected, stats.received) == (2, 2)


def test_new_ssrc_restarts_statistics() -> None:
    """Another SSRC is a new source: probation again."""
    stats = ReceiveStats(clock_rate=8000)
    feed(stats, [1, 2, 3])
    stats.update(rtp(500, ssrc=7), 0.0)
    assert stats.ssrc == 7 and not stats.is_valid


def test_jitter_estimator_matches_hand_computation() -> None:
    """Periodic arrivals give 0; one 10 ms late packet gives 80/16 = 5, the
    next on-time one 5 + (80 - 5)/16 = 9.6875 (A.8, 8 kHz clock)."""
    stats = ReceiveStats(clock_rate=8000)
    for index in range(5):
        stats.update(rtp(index + 1, ts=160 * index), 0.02 * index)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)
    stats.update(rtp(6, ts=800), 0.11)
    assert stats.jitter == pytest.approx(5.0)
    stats.update(rtp(7, ts=960), 0.12)
    assert stats.jitter == pytest.approx(9.6875)
    block = stats.report_block(1.0)
    assert block is not None and block.jitter == 9


def test_jitter_survives_timestamp_wrap() -> None:
    """A timestamp crossing 2^32 is a 160-unit step, not a 4e9 jump."""
    stats = ReceiveStats(clock_rate=8000)
    stats.update(rtp(1, ts=2**32 - 80), 0.0)
    stats.update(rtp(2, ts=80), 0.02)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)


def test_lsr_and_dlsr_from_the_last_sender_report() -> None:
    """LSR is the middle 32 bits of the SR's NTP time; DLSR in 1/65536 s."""
    stats = ReceiveStats(clock_rate=8000)
    feed(stats, [1, 2])
    stats.note_sender_report(0x1122334455667788, now=10.0)
    block = stats.report_block(10.5)
    assert block is not None
    assert (block.last_sr, block.delay_since_last_sr) == (0x33445566, 32768)


def test_peer_report_converts_units_and_clock_rate_is_checked() -> None:
    """A peer's block becomes a fraction and seconds; a zero clock is a bug."""
    block = ReportBlock(
        ssrc=1,
        fraction_lost=64,
        cumulative_lost=12,
        highest_sequence=5,
        jitter=900,
        last_sr=0,
        delay_since_last_sr=0,
    )
    peer = PeerReport.from_block(block, clock_rate=90000, now=3.0)
    assert (peer.fraction_lost, peer.jitter_s, peer.cumulative_lost) == (0.25, 0.01, 12)
    with pytest.raises(LocalMediaError):
        ReceiveStats(clock_rate=0)
