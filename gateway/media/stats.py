"""Receive statistics per leg (RFC 3550 A.1, A.3, A.8) and the peer's reports.

:class:`ReceiveStats` follows the RFC 3550 appendix algorithms: sequence
validation with probation, the extended highest sequence number, cumulative
and fraction lost, and the interarrival jitter estimator. It is updated per
packet, so :meth:`ReceiveStats.update` has a fast path for the in-order case
and allocates nothing beyond the header unpack.

:class:`PeerReport` is what the far end says about the stream we send it,
read from the report blocks of its SR/RR (RFC 3550 §6.4).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from gateway.media.errors import LocalMediaError
from gateway.media.rtcp import ReportBlock

__all__ = [
    "MAX_DROPOUT",
    "MAX_MISORDER",
    "MIN_SEQUENTIAL",
    "PeerReport",
    "ReceiveStats",
]

MIN_SEQUENTIAL = 2
"""Packets in sequence before a source is valid (RFC 3550 A.1)."""
MAX_DROPOUT = 3000
"""Largest forward jump still taken as loss, not a restart (RFC 3550 A.1)."""
MAX_MISORDER = 100
"""Largest backward jump taken as reordering (RFC 3550 A.1)."""
_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32
_HALF_TS = 1 << 31
_unpack_seq_ts_ssrc = struct.Struct("!HII").unpack_from


def _clamp_lost(lost: int) -> int:
    # RFC 3550 §6.4.1: cumulative lost is a signed 24-bit field and clamps.
    return max(-(1 << 23), min(lost, (1 << 23) - 1))


class ReceiveStats:
    """Statistics of the RTP stream received on one leg (RFC 3550 A.1/A.3/A.8).

    ``clock_rate`` is the RTP clock of the stream, used to express arrival
    times in timestamp units for the jitter. A new SSRC restarts the
    statistics (RFC 3550 A.1 source initialisation). Times are monotonic
    seconds supplied by the caller.
    """

    __slots__ = (
        "_bad_seq",
        "_clock_rate",
        "_expected_prior",
        "_last_sr",
        "_last_sr_at",
        "_next_seq",
        "_probation",
        "_received_prior",
        "_transit",
        "base_seq",
        "cycles",
        "jitter",
        "max_seq",
        "received",
        "ssrc",
    )

    def __init__(self, *, clock_rate: int) -> None:
        if clock_rate <= 0:
            raise LocalMediaError("RTP clock rate must be positive")
        self._clock_rate = clock_rate
        self.ssrc: int | None = None
        self._reset(0, 0)
        self.ssrc = None  # No source yet: the first packet initialises.

    def _reset(self, ssrc: int, seq: int) -> None:
        self.ssrc = ssrc
        self.base_seq = seq
        self.max_seq = (seq - 1) % _SEQ_MOD
        self.cycles = 0
        self.received = 0
        self._bad_seq = _SEQ_MOD + 1
        self._probation = MIN_SEQUENTIAL
        self._next_seq = -1  # Disables the fast path during probation.
        self._received_prior = 0
        self._expected_prior = 0
        self._transit: float | None = None
        self.jitter = 0.0
        self._last_sr = 0
        self._last_sr_at: float | None = None

    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.cycles = 0
        self.received = 0
        self._bad_seq = _SEQ_MOD + 1
        self._received_prior = 0
        self._expected_prior = 0
        self._next_seq = (seq + 1) % _SEQ_MOD

    def update(self, packet: bytes, now: float) -> None:
        """Account RTP ``packet`` (at least 12 bytes) that arrived at ``now``."""
        seq, timestamp, ssrc = _unpack_seq_ts_ssrc(packet, 2)
        if ssrc != self.ssrc:
            self._reset(ssrc, seq)
        if seq == self._next_seq:
            # In order: the overwhelmingly common case of A.1's update_seq.
            if seq == 0:
                self.cycles += _SEQ_MOD
            self.max_seq = seq
            self._next_seq = (seq + 1) & 0xFFFF
            self.received += 1
        else:
            self._update_seq(seq)
        # A.8: jitter from the difference in relative transit times.
        transit = now * self._clock_rate - timestamp
        previous = self._transit
        self._transit = transit
        if previous is not None:
            delta = abs(transit - previous)
            if delta > _HALF_TS:  # The RTP timestamp wrapped between packets.
                delta = abs(delta - _TS_MOD)
            self.jitter += (delta - self.jitter) / 16.0

    def _update_seq(self, seq: int) -> None:
        """RFC 3550 A.1 update_seq() for every case but the in-order one."""
        udelta = (seq - self.max_seq) % _SEQ_MOD
        if self._probation:
            if seq == (self.max_seq + 1) % _SEQ_MOD:
                self._probation -= 1
                self.max_seq = seq
                if self._probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                return
            self._probation = MIN_SEQUENTIAL - 1
            self.max_seq = seq
            return
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += _SEQ_MOD
            self.max_seq = seq
            self._next_seq = (seq + 1) % _SEQ_MOD
        elif udelta <= _SEQ_MOD - MAX_MISORDER:
            if seq != self._bad_seq:
                self._bad_seq = (seq + 1) % _SEQ_MOD
                return
            # Two sequential packets after a jump: the sender restarted.
            self._init_seq(seq)
        # Else a duplicate or reordered packet: counted, max_seq unchanged.
        self.received += 1

    @property
    def is_valid(self) -> bool:
        """Whether the source passed probation (RFC 3550 A.1)."""
        return self.ssrc is not None and self._probation == 0

    @property
    def extended_max_seq(self) -> int:
        """Extended highest sequence number received (RFC 3550 A.3)."""
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        """Packets expected since the source became valid (RFC 3550 A.3)."""
        if not self.is_valid:
            return 0
        return self.extended_max_seq - self.base_seq + 1

    @property
    def cumulative_lost(self) -> int:
        """Expected minus received, clamped to 24 signed bits (RFC 3550 A.3)."""
        return _clamp_lost(self.expected - self.received)

    def timestamp_at(self, now: float) -> int | None:
        """The source's RTP timestamp at ``now``, extrapolated from its last packet.

        The relative transit time of the last packet (A.8) maps arrival
        time to the source's timeline; None before any packet.
        """
        transit = self._transit
        if transit is None:
            return None
        return round(now * self._clock_rate - transit) % _TS_MOD

    def note_sender_report(self, ntp_timestamp: int, now: float) -> None:
        """Remember an SR's NTP time for the LSR/DLSR fields (RFC 3550 §6.4.1)."""
        self._last_sr = (ntp_timestamp >> 16) & 0xFFFFFFFF
        self._last_sr_at = now

    def report_block(self, now: float) -> ReportBlock | None:
        """Return a report block for this source and start a new interval.

        Computes the fraction lost since the previous call (RFC 3550 A.3);
        returns None before the source is valid.
        """
        if not self.is_valid or self.ssrc is None:
            return None
        expected = self.expected
        expected_interval = expected - self._expected_prior
        received_interval = self.received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = (lost_interval << 8) // expected_interval
        dlsr = 0
        if self._last_sr_at is not None:
            dlsr = int((now - self._last_sr_at) * 65536) & 0xFFFFFFFF
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=fraction,
            cumulative_lost=self.cumulative_lost,
            highest_sequence=self.extended_max_seq & 0xFFFFFFFF,
            jitter=int(self.jitter),
            last_sr=self._last_sr,
            delay_since_last_sr=dlsr,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerReport:
    """The far end's view of the stream we send it (RFC 3550 §6.4.1)."""

    ssrc: int
    """The SSRC the report is about (ours, as sent on that leg)."""
    fraction_lost: float
    """Fraction lost in the peer's last interval, 0.0..1.0."""
    cumulative_lost: int
    jitter_units: int
    jitter_s: float
    received_at: float

    @classmethod
    def from_block(
        cls, block: ReportBlock, *, clock_rate: int, now: float
    ) -> PeerReport:
        """Convert a report block using the stream's RTP ``clock_rate``."""
        return cls(
            ssrc=block.ssrc,
            fraction_lost=block.fraction_lost / 256.0,
            cumulative_lost=block.cumulative_lost,
            jitter_units=block.jitter,
            jitter_s=block.jitter / clock_rate,
            received_at=now,
        )
