"""Media relay core: legs with their crypto and latching, and relay streams.

The relay is a small pipeline, not a socket-to-socket copy. Each
:class:`MediaLeg` owns its crypto (an SRTP leg, or clear RTP), its latching
state, counters and receive statistics; inside the relay packets are plain
RTP. A :class:`RelayStream` wires two legs (or one, in echo mode) through an
optional :class:`~gateway.media.rtp.RtpRewriter` per direction, and hands
RTCP keyframe requests to an optional per-call keyframe broker.

Sans-IO with one deliberate exception: the app injects each leg's
``sendto`` callables with :meth:`MediaLeg.attach`, and the per-packet
methods call them directly instead of queueing (datagram, address) pairs for
a ``pop_outgoing()``. A queue would cost an allocation and a loop per packet
on the relay's hottest path; the core still opens no socket, reads no clock
and logs nothing, and tests inject list appenders.

Latching (symmetric RTP, RFC 4961 §2 sending back to where packets come
from): an SRTP leg latches only on a packet that passes SRTP authentication
and the replay check, so a spoofed packet from another address never moves
it; before the first such packet it sends to the address from SDP. A clear
RTP leg cannot authenticate, so it latches once, on the first packet from
the SDP host, and then ignores every other address. Failures are counted
and sampled (at most one sample per second per leg), never raised.

DTMF (RFC 4733): legs carry their negotiated telephone-event payload type;
the stream reads key presses out of those packets, drops them toward a leg
without the type, and injects generated presses into the stream it sends a
leg. See :class:`RelayStream` and gateway/media/telephone_event.py.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from gateway.media.errors import LocalMediaError, RemoteMediaError
from gateway.media.keyframe import KeyframeBroker
from gateway.media.rtcp import (
    FirEntry,
    FullIntraRequest,
    PictureLossIndication,
    ReceiverReport,
    RtcpPacket,
    SenderReport,
    build_fir,
    build_pli,
    build_rr,
    parse_compound,
    serialize_compound,
)
from gateway.media.rtp import RTP_HEADER_BYTES, RtpRewriter, SequenceShift
from gateway.media.stats import PeerReport, ReceiveStats
from gateway.media.telephone_event import (
    ScheduledPacket,
    TelephoneEventDetector,
    generate_digit,
)
from gateway.srtp.errors import RemoteSrtpError, SrtpFailure
from gateway.srtp.session import SrtpLeg

__all__ = [
    "Address",
    "DigitCallback",
    "FailureSample",
    "LegCounters",
    "LegReport",
    "MediaLeg",
    "RelayStream",
    "SendTo",
]

Address = tuple[str, int]
SendTo = Callable[[bytes, Address], None]
DigitCallback = Callable[[str, str, int], None]
"""``on_digit(label, digit, duration_ms)``: a key press read from a leg."""
_SAMPLE_INTERVAL_S = 1.0
_SAMPLES_KEPT = 16
_NO_PT = -1  # A payload type no packet carries (they are 0..127).
_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32
_SEQ = struct.Struct("!H")


def _clear(packet: bytes) -> bytes:
    return packet


def _unattached(packet: bytes, address: Address) -> None:
    """Stand-in sender until the app attaches the leg's socket: drops."""


def _no_deadline(deadline: float | None) -> None:
    """Stand-in timer hook until the app sets one: detectors never time out."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FailureSample:
    """One sampled packet failure, for the app to log."""

    at: float
    leg: str
    kind: str
    source: Address


class LegCounters:
    """Per-leg counters for CDRs and logs; mutable, updated per packet."""

    __slots__ = (
        "_last_sample_at",
        "auth_failures",
        "bad_packets",
        "bad_rtcp",
        "bytes_in",
        "bytes_out",
        "dropped_no_destination",
        "events_dropped",
        "events_injected",
        "failure_samples",
        "foreign_packets",
        "latch_changes",
        "latched_rtcp",
        "latched_rtp",
        "packets_in",
        "packets_out",
        "protect_failures",
        "replay_failures",
        "rtcp_in",
        "rtcp_out",
    )

    def __init__(self) -> None:
        self.packets_in = 0
        self.bytes_in = 0
        self.packets_out = 0
        self.bytes_out = 0
        self.rtcp_in = 0
        self.rtcp_out = 0
        self.auth_failures = 0
        self.replay_failures = 0
        self.bad_packets = 0
        """Undecryptable or malformed packets (libsrtp bad_packet, short RTP)."""
        self.bad_rtcp = 0
        """Authenticated RTCP we could not parse (still forwarded)."""
        self.foreign_packets = 0
        """Clear-RTP packets from an address the leg does not accept."""
        self.protect_failures = 0
        self.dropped_no_destination = 0
        self.events_dropped = 0
        """Telephone-event packets from this leg not relayed (no PT beyond)."""
        self.events_injected = 0
        """Telephone-event packets the relay generated toward this leg."""
        self.latch_changes = 0
        self.latched_rtp: Address | None = None
        self.latched_rtcp: Address | None = None
        self.failure_samples: deque[FailureSample] = deque(maxlen=_SAMPLES_KEPT)
        self._last_sample_at: float | None = None

    def count_failure(self, leg: str, kind: str, source: Address, now: float) -> None:
        """Count a refused inbound packet and keep a sample at most once a second."""
        if kind == SrtpFailure.AUTH:
            self.auth_failures += 1
        elif kind == SrtpFailure.REPLAY:
            self.replay_failures += 1
        else:
            self.bad_packets += 1
        last = self._last_sample_at
        if last is None or now - last >= _SAMPLE_INTERVAL_S:
            self._last_sample_at = now
            self.failure_samples.append(
                FailureSample(at=now, leg=leg, kind=str(kind), source=source)
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class LegReport:
    """A leg's figures for the CDR: counters, our receive stats, the peer's view."""

    label: str
    packets_in: int
    bytes_in: int
    packets_out: int
    bytes_out: int
    rtcp_in: int
    rtcp_out: int
    auth_failures: int
    replay_failures: int
    bad_packets: int
    foreign_packets: int
    latched_rtp: Address | None
    received_lost: int
    """Packets lost on the way to us (RFC 3550 A.3 cumulative lost)."""
    received_jitter_s: float
    peer_fraction_lost: float | None
    """What the endpoint reported about our stream (RTCP report block)."""
    peer_cumulative_lost: int | None
    peer_jitter_s: float | None


class MediaLeg:
    """One side of a relay stream: crypto, addresses, latching, counters.

    ``crypto`` is the leg's :class:`SrtpLeg`, or None for clear RTP.
    ``remote_rtp``/``remote_rtcp`` are the addresses from SDP (IP literals);
    RTCP defaults to RTP+1, or to the RTP address with ``rtcp_mux``
    (RFC 5761). ``clock_rate`` is the RTP clock of the stream (jitter).
    ``telephone_event_pt`` is the payload type this leg's endpoint sends
    telephone-event with (RFC 4733 §7.1.1; None if the leg did not
    negotiate it): packets of that type from the leg are read for digits.
    ``telephone_event_send_pt`` is the type the endpoint expects from us
    (RFC 3264 §6.1: it may differ on a leg the gateway offered), used for
    events relayed or injected toward the leg; it defaults to
    ``telephone_event_pt``. Events share the audio's RTP clock,
    ``clock_rate``.
    """

    __slots__ = (
        "_is_secure",
        "_protect_rtcp",
        "_protect_rtp",
        "_unprotect_rtcp",
        "_unprotect_rtp",
        "clock_rate",
        "counters",
        "crypto",
        "label",
        "remote_report",
        "remote_rtcp",
        "remote_rtp",
        "rtcp_dest",
        "rtcp_mux",
        "rtp_dest",
        "sendto_rtcp",
        "sendto_rtp",
        "stats",
        "telephone_event_pt",
        "telephone_event_send_pt",
    )

    def __init__(
        self,
        *,
        crypto: SrtpLeg | None,
        remote_rtp: Address | None,
        remote_rtcp: Address | None,
        rtcp_mux: bool,
        label: str = "",
        clock_rate: int = 90000,
        telephone_event_pt: int | None = None,
        telephone_event_send_pt: int | None = None,
    ) -> None:
        if telephone_event_send_pt is None:
            telephone_event_send_pt = telephone_event_pt
        if any(
            pt is not None and not 0 <= pt < 128
            for pt in (telephone_event_pt, telephone_event_send_pt)
        ):
            raise LocalMediaError("telephone-event payload type must fit 7 bits")
        self.telephone_event_pt = telephone_event_pt
        self.telephone_event_send_pt = telephone_event_send_pt
        self.crypto = crypto
        self.label = label
        self.rtcp_mux = rtcp_mux
        self.clock_rate = clock_rate
        self.remote_rtp = remote_rtp
        if rtcp_mux:
            remote_rtcp = remote_rtp
        elif remote_rtcp is None and remote_rtp is not None:
            remote_rtcp = (remote_rtp[0], remote_rtp[1] + 1)  # RFC 3550 §11
        self.remote_rtcp = remote_rtcp
        self.rtp_dest = remote_rtp
        self.rtcp_dest = remote_rtcp
        self._is_secure = crypto is not None
        self._unprotect_rtp = crypto.unprotect_rtp if crypto else _clear
        self._protect_rtp = crypto.protect_rtp if crypto else _clear
        self._unprotect_rtcp = crypto.unprotect_rtcp if crypto else _clear
        self._protect_rtcp = crypto.protect_rtcp if crypto else _clear
        self.counters = LegCounters()
        self.stats = ReceiveStats(clock_rate=clock_rate)
        self.remote_report: PeerReport | None = None
        self.sendto_rtp: SendTo = _unattached
        self.sendto_rtcp: SendTo = _unattached

    def attach(self, *, sendto_rtp: SendTo, sendto_rtcp: SendTo) -> None:
        """Give the leg its sockets' ``sendto`` (the app's side of the pipe)."""
        self.sendto_rtp = sendto_rtp
        self.sendto_rtcp = sendto_rtcp

    def adopt(self, old: MediaLeg) -> None:
        """Continue from ``old`` after a re-INVITE (RFC 3264 §8).

        Counters carry over so that the CDR covers the whole call. The latch
        carries over only if the crypto and SDP address are unchanged: new
        keys or a new address must be proven again by an authenticated packet.
        """
        self.counters = old.counters
        if old.crypto is self.crypto and old.remote_rtp == self.remote_rtp:
            self.rtp_dest = old.rtp_dest
            self.rtcp_dest = old.rtcp_dest
            self.stats = old.stats
        else:
            self.counters.latched_rtp = None
            self.counters.latched_rtcp = None

    def _may_latch(self, source: Address) -> bool:
        if self._is_secure:
            return True
        # Clear RTP: once, and only from the host the SDP named.
        remote = self.remote_rtp
        return (
            self.counters.latched_rtp is None
            and remote is not None
            and source[0] == remote[0]
        )

    def _latch(self, source: Address, *, is_rtcp: bool) -> None:
        counters = self.counters
        counters.latch_changes += 1
        if is_rtcp and not self.rtcp_mux:
            counters.latched_rtcp = source
            self.rtcp_dest = source
            return
        counters.latched_rtp = source
        self.rtp_dest = source
        if self.rtcp_mux:
            counters.latched_rtcp = source
            self.rtcp_dest = source

    def receive_rtp(self, data: bytes, source: Address, now: float) -> bytes | None:
        """Authenticate and decrypt an inbound packet; None if refused (counted).

        :class:`_Path` inlines this method on the relay's hot path; the two
        must stay in step.
        """
        try:
            plain = self._unprotect_rtp(data)
        except RemoteSrtpError as exc:
            self.counters.count_failure(self.label, exc.kind, source, now)
            return None
        counters = self.counters
        if (source != counters.latched_rtp or len(plain) < RTP_HEADER_BYTES) and (
            not self.accept_source(plain, source, now)
        ):
            return None
        counters.packets_in += 1
        counters.bytes_in += len(data)
        self.stats.update(plain, now)
        return plain

    def accept_source(self, plain: bytes, source: Address, now: float) -> bool:
        """Decide on a decrypted packet from a new source, or a runt (slow path).

        Latches if the leg may (see the module docstring); counts and
        refuses otherwise.
        """
        counters = self.counters
        if len(plain) < RTP_HEADER_BYTES:
            counters.count_failure(self.label, SrtpFailure.BAD_PACKET, source, now)
            return False
        if source != counters.latched_rtp:
            if not self._may_latch(source):
                counters.foreign_packets += 1
                return False
            self._latch(source, is_rtcp=False)
        return True

    def send_rtp(self, plain: bytes) -> None:
        """Protect and send a plain RTP packet to the leg's current address.

        Inlined by :class:`_Path` on the hot path, like :meth:`receive_rtp`.
        """
        dest = self.rtp_dest
        counters = self.counters
        if dest is None:
            counters.dropped_no_destination += 1
            return
        try:
            out = self._protect_rtp(plain)
        except RemoteSrtpError:
            counters.protect_failures += 1
            return
        self.sendto_rtp(out, dest)
        counters.packets_out += 1
        counters.bytes_out += len(out)

    def receive_rtcp(
        self, data: bytes, source: Address, now: float
    ) -> tuple[bytes, tuple[RtcpPacket, ...]] | None:
        """Authenticate, decrypt and read an inbound RTCP packet.

        Returns the plain compound and its parsed packets (empty if it did
        not parse: counted as ``bad_rtcp`` but still relayed), or None if
        refused. SR/RR report blocks update :attr:`remote_report`.
        """
        try:
            plain = self._unprotect_rtcp(data)
        except RemoteSrtpError as exc:
            self.counters.count_failure(self.label, exc.kind, source, now)
            return None
        counters = self.counters
        latched = counters.latched_rtp if self.rtcp_mux else counters.latched_rtcp
        if source != latched:
            if not self._is_secure and not self._may_latch_rtcp(source):
                counters.foreign_packets += 1
                return None
            self._latch(source, is_rtcp=True)
        counters.rtcp_in += 1
        try:
            packets = parse_compound(plain)
        except RemoteMediaError:
            counters.bad_rtcp += 1
            return plain, ()
        self._read_reports(packets, now)
        return plain, packets

    def _may_latch_rtcp(self, source: Address) -> bool:
        remote = self.remote_rtcp
        latched = self.counters.latched_rtcp
        if self.rtcp_mux:
            return self._may_latch(source)
        return latched is None and remote is not None and source[0] == remote[0]

    def _read_reports(self, packets: tuple[RtcpPacket, ...], now: float) -> None:
        for packet in packets:
            if isinstance(packet, SenderReport):
                self.stats.note_sender_report(packet.ntp_timestamp, now)
            if isinstance(packet, SenderReport | ReceiverReport) and packet.reports:
                self.remote_report = PeerReport.from_block(
                    packet.reports[0], clock_rate=self.clock_rate, now=now
                )

    def send_rtcp(self, plain: bytes) -> None:
        """Protect and send a plain compound RTCP packet to the leg."""
        dest = self.rtcp_dest
        counters = self.counters
        if dest is None:
            counters.dropped_no_destination += 1
            return
        try:
            out = self._protect_rtcp(plain)
        except RemoteSrtpError:
            counters.protect_failures += 1
            return
        self.sendto_rtcp(out, dest)
        counters.rtcp_out += 1

    def report(self) -> LegReport:
        """Return the leg's figures for the CDR."""
        c, peer = self.counters, self.remote_report
        return LegReport(
            label=self.label,
            packets_in=c.packets_in,
            bytes_in=c.bytes_in,
            packets_out=c.packets_out,
            bytes_out=c.bytes_out,
            rtcp_in=c.rtcp_in,
            rtcp_out=c.rtcp_out,
            auth_failures=c.auth_failures,
            replay_failures=c.replay_failures,
            bad_packets=c.bad_packets,
            foreign_packets=c.foreign_packets,
            latched_rtp=c.latched_rtp,
            received_lost=self.stats.cumulative_lost,
            received_jitter_s=self.stats.jitter / self.clock_rate,
            peer_fraction_lost=None if peer is None else peer.fraction_lost,
            peer_cumulative_lost=None if peer is None else peer.cumulative_lost,
            peer_jitter_s=None if peer is None else peer.jitter_s,
        )


_SIDES = ("a", "b")


class _Path:
    """One direction of a stream: the per-packet RTP pipeline.

    Inlines :meth:`MediaLeg.receive_rtp` and :meth:`MediaLeg.send_rtp`
    because each Python call costs about 5% of the relay's budget per packet
    (measured: see bench/bench_relay.py); the slow cases go back to the leg.
    Telephone-event packets leave the hot path after one payload-type
    compare (``event_pt`` is -1, which no packet carries, when the source
    leg has no telephone-event type).
    """

    __slots__ = (
        "detector",
        "dst",
        "event_pt",
        "forward_event_pt",
        "own_sequence",
        "rewriter",
        "src",
        "stream",
    )

    def __init__(
        self,
        stream: RelayStream,
        src: MediaLeg,
        dst: MediaLeg,
        rewriter: RtpRewriter | None,
    ) -> None:
        self.stream = stream
        self.src = src
        self.dst = dst
        self.rewriter = rewriter
        self.detector: TelephoneEventDetector | None = None
        self.event_pt = _NO_PT
        self.forward_event_pt = _NO_PT
        # Our own numbering, for digits injected before any packet from the
        # source gave us a stream to continue (RFC 3550 §5.1: random start).
        self.own_sequence = stream.rtcp_ssrc & 0x7FFF
        self.configure_events()

    def configure_events(self) -> None:
        """Read the legs' telephone-event types (again, after a re-INVITE)."""
        src, dst = self.src, self.dst
        src_pt, dst_pt = src.telephone_event_pt, dst.telephone_event_send_pt
        self.event_pt = _NO_PT if src_pt is None else src_pt
        self.forward_event_pt = _NO_PT if dst_pt is None else dst_pt
        detector = self.detector
        if src_pt is not None and (
            detector is None or detector.clock_rate != src.clock_rate
        ):
            self.detector = TelephoneEventDetector(clock_rate=src.clock_rate)

    def rtp(self, data: bytes, source: Address, now: float) -> None:
        src = self.src
        try:
            plain = src._unprotect_rtp(data)
        except RemoteSrtpError as exc:
            src.counters.count_failure(src.label, exc.kind, source, now)
            return
        counters = src.counters
        if (source != counters.latched_rtp or len(plain) < RTP_HEADER_BYTES) and (
            not src.accept_source(plain, source, now)
        ):
            return
        counters.packets_in += 1
        counters.bytes_in += len(data)
        src.stats.update(plain, now)
        self.stream.last_packet_at = now
        if plain[1] & 0x7F == self.event_pt:
            event = self.telephone_event(plain, now)
            if event is None:
                return
            plain = event
        rewriter = self.rewriter
        if rewriter is not None:
            plain = rewriter.rewrite(plain)
        dst = self.dst
        dest = dst.rtp_dest
        counters = dst.counters
        if dest is None:
            counters.dropped_no_destination += 1
            return
        try:
            out = dst._protect_rtp(plain)
        except RemoteSrtpError:
            counters.protect_failures += 1
            return
        dst.sendto_rtp(out, dest)
        counters.packets_out += 1
        counters.bytes_out += len(out)

    def telephone_event(self, plain: bytes, now: float) -> bytes | None:
        """Read a telephone-event packet for digits; return what to relay.

        Relayed (with the far leg's payload type) if the far leg negotiated
        telephone-event; otherwise dropped, and the sequence numbers of the
        packets after it close the gap, so the far end sees no loss.
        """
        detector = self.detector
        if detector is not None:
            detector.receive_packet(plain, now)
            self.stream.report_digits(self.src.label, detector)
        forward = self.forward_event_pt
        if forward == _NO_PT:
            self.src.counters.events_dropped += 1
            self.shift_sequence(-1)
            return None
        if forward != plain[1] & 0x7F:
            return bytes((plain[0], (plain[1] & 0x80) | forward)) + plain[2:]
        return plain

    def shift_sequence(self, delta: int) -> None:
        """Move the outgoing sequence numbers by ``delta`` from now on.

        The path keeps a :class:`SequenceShift` rewriter from then on (its
        cost per packet: bench/bench_relay_path.py). A packet reordered
        across the shift leaves with a number already used: libsrtp refuses
        it (``protect_failures``) or a clear-RTP receiver drops it as a
        duplicate; either way one late packet is lost.
        """
        rewriter = self.rewriter
        if rewriter is None:
            rewriter = self.rewriter = SequenceShift()
        rewriter.seq_offset = (rewriter.seq_offset + delta) % _SEQ_MOD

    def outgoing_ssrc(self) -> int | None:
        """SSRC of the stream this path sends, or None before any packet."""
        rewriter = self.rewriter
        if rewriter is not None and rewriter.ssrc is not None:
            return rewriter.ssrc
        return self.src.stats.ssrc

    def event_origin(self, now: float) -> tuple[int, int]:
        """SSRC and RTP timestamp at ``now`` of the stream this path sends.

        The source's timeline, extrapolated from its last packet and moved
        by the rewriter's offset; our own SSRC and timeline if nothing was
        received yet.
        """
        ssrc = self.outgoing_ssrc()
        source_ts = self.src.stats.timestamp_at(now)
        if ssrc is None or source_ts is None:
            own = self.stream.rtcp_ssrc
            return own, (round(now * self.dst.clock_rate) + own) % _TS_MOD
        rewriter = self.rewriter
        ts_offset = 0 if rewriter is None else rewriter.ts_offset
        return ssrc, (source_ts + ts_offset) % _TS_MOD

    def inject(self, packet: bytes) -> None:
        """Send a generated packet with the next sequence number of its SSRC.

        Continuing the relayed stream: the number after the highest one
        sent, and every later relayed packet moves up by one (RFC 3550
        §5.1: one sequence per SSRC, and libsrtp refuses to protect an
        index twice). Raises :class:`LocalMediaError` for a runt.
        """
        if len(packet) < RTP_HEADER_BYTES:
            raise LocalMediaError("generated RTP packet too short")
        ssrc = int.from_bytes(packet[8:12], "big")
        stats = self.src.stats
        if stats.ssrc is not None and ssrc == self.outgoing_ssrc():
            rewriter = self.rewriter
            offset = 0 if rewriter is None else rewriter.seq_offset
            sequence = (stats.max_seq + offset + 1) % _SEQ_MOD
            self.shift_sequence(1)
        else:
            sequence = self.own_sequence
            self.own_sequence = (sequence + 1) % _SEQ_MOD
        dst = self.dst
        dst.counters.events_injected += 1
        dst.send_rtp(packet[:2] + _SEQ.pack(sequence) + packet[4:])


class RelayStream:
    """Two legs relayed both ways, or one leg echoed back to itself.

    ``a_to_b``/``b_to_a`` rewrite headers on the way out; in echo mode
    (``b`` is ``a``) ``a_to_b`` is the echo's rewriter, which should give the
    echo its own SSRC so the endpoint does not see its own SSRC come back
    (RFC 3550 §8.2 loop detection). ``broker`` (keys ``"a"``/``"b"``), if
    given, takes PLI/FIR out of relayed RTCP and decides what to send.
    ``rtcp_ssrc`` is the SSRC the relay uses for RTCP of its own (and for
    digits injected before the far side sent any media).

    DTMF (RFC 4733), for legs with a ``telephone_event_pt``:

    * Detection: each telephone-event packet from such a leg feeds that
      direction's :class:`~gateway.media.telephone_event.TelephoneEventDetector`
      and each key press calls ``on_digit(leg.label, digit, duration_ms)``
      once (digits ``0-9 * # A-D``, ``!`` for flash). The packet is relayed
      if the other leg has a telephone-event type too (rewritten to that
      type), else dropped with the later sequence numbers closing the gap.
      A press whose end packets were all lost is reported when the next one
      starts or at the detector's deadline: the app learns deadlines through
      ``on_event_deadline(deadline_or_none)`` (called after every
      telephone-event packet) and calls :meth:`handle_event_timeout`.
    * Injection: :meth:`digit_packets` plans one press toward a leg in the
      stream the relay sends it (same SSRC, timestamp now on its timeline)
      and :meth:`send_event_packet` sends each planned packet, at its
      ``offset_s``, with the next sequence number; the app does the pacing.

    ``on_digit`` and ``on_event_deadline`` are called on the packet path and
    must not raise.
    """

    __slots__ = (
        "_ab",
        "_ba",
        "a",
        "b",
        "broker",
        "is_echo",
        "is_on_hold",
        "last_packet_at",
        "on_digit",
        "on_event_deadline",
        "rtcp_ssrc",
    )

    def __init__(
        self,
        *,
        a: MediaLeg,
        b: MediaLeg | None,
        now: float,
        a_to_b: RtpRewriter | None = None,
        b_to_a: RtpRewriter | None = None,
        broker: KeyframeBroker | None = None,
        rtcp_ssrc: int = 0,
        on_digit: DigitCallback | None = None,
    ) -> None:
        self.is_echo = b is None
        self.a = a
        self.b = a if b is None else b
        self.broker = broker
        self.rtcp_ssrc = rtcp_ssrc
        self.on_digit = on_digit
        self.on_event_deadline: Callable[[float | None], None] = _no_deadline
        self._ab = _Path(self, self.a, self.b, a_to_b)
        self._ba = _Path(self, self.b, self.a, b_to_a)
        self.last_packet_at = now
        self.is_on_hold = False

    def idle_for_s(self, now: float) -> float:
        """Seconds since the last authenticated packet either way (0 on hold)."""
        if self.is_on_hold:
            return 0.0
        return now - self.last_packet_at

    def leg(self, side: str) -> MediaLeg:
        """Return leg ``"a"`` or ``"b"``; raises :class:`LocalMediaError`."""
        if side not in _SIDES:
            raise LocalMediaError(f"no side {side!r}")
        return self.a if side == "a" else self.b

    def replace_leg(self, side: str, leg: MediaLeg, now: float) -> None:
        """Swap in a re-negotiated leg; it adopts the old leg's counters."""
        old = self.leg(side)
        leg.adopt(old)
        leg.attach(sendto_rtp=old.sendto_rtp, sendto_rtcp=old.sendto_rtcp)
        if side == "a" or self.is_echo:
            self.a = self._ab.src = self._ba.dst = leg
        if side == "b" or self.is_echo:
            self.b = self._ab.dst = self._ba.src = leg
        self._ab.configure_events()
        self._ba.configure_events()
        self.last_packet_at = now  # A new offer/answer starts a new timeout.

    @property
    def a_to_b(self) -> RtpRewriter | None:
        """The rewriter of packets from a to b (the echo's, in echo mode)."""
        return self._ab.rewriter

    @a_to_b.setter
    def a_to_b(self, rewriter: RtpRewriter | None) -> None:
        self._ab.rewriter = rewriter

    @property
    def b_to_a(self) -> RtpRewriter | None:
        """The rewriter of packets from b to a."""
        return self._ba.rewriter

    @b_to_a.setter
    def b_to_a(self, rewriter: RtpRewriter | None) -> None:
        self._ba.rewriter = rewriter

    @property
    def rtp_from_a(self) -> Callable[[bytes, Address, float], None]:
        """Per-packet handler of RTP arriving on leg a's port."""
        return self._ab.rtp

    @property
    def rtp_from_b(self) -> Callable[[bytes, Address, float], None]:
        """Per-packet handler of RTP arriving on leg b's port."""
        return self._ba.rtp

    # --- DTMF (RFC 4733) ------------------------------------------------------

    def report_digits(self, label: str, detector: TelephoneEventDetector) -> None:
        """Hand a detector's digits to ``on_digit`` and tell the app its deadline."""
        on_digit = self.on_digit
        for found in detector.pop_events():
            if on_digit is not None:
                on_digit(label, found.digit, found.duration_ms)
        self.on_event_deadline(self.event_deadline())

    def event_deadline(self) -> float | None:
        """When an unfinished key press times out (either direction), or None."""
        deadlines = [
            deadline
            for path in (self._ab, self._ba)
            if path.detector is not None
            and (deadline := path.detector.next_deadline()) is not None
        ]
        return min(deadlines, default=None)

    def handle_event_timeout(self, now: float) -> None:
        """Report key presses whose end packets never came (RFC 4733 §2.5.2)."""
        for path in (self._ab, self._ba):
            detector = path.detector
            if detector is not None:
                detector.handle_timeout(now)
                self.report_digits(path.src.label, detector)

    def digit_packets(
        self,
        toward: str,
        digit: str,
        *,
        duration_ms: int,
        now: float,
        interval_ms: int = 50,
        volume: int = 10,
    ) -> tuple[ScheduledPacket, ...]:
        """Plan one key press toward leg ``toward`` (RFC 4733 §2.5.1).

        The packets carry the SSRC of the stream the relay sends that leg,
        the RTP timestamp of that stream at ``now`` (the press starts now)
        and the leg's telephone-event type; their sequence numbers are
        placeholders that :meth:`send_event_packet` replaces. Send each at
        its ``offset_s`` after ``now``. Raises :class:`LocalMediaError` if
        the leg has no telephone-event type or for a bad digit or duration.
        """
        path = self._path_to(toward)
        dst = path.dst
        payload_type = dst.telephone_event_send_pt
        if payload_type is None:
            raise LocalMediaError(f"leg {toward!r} has no telephone-event type")
        ssrc, timestamp = path.event_origin(now)
        return generate_digit(
            digit=digit,
            duration_ms=duration_ms,
            payload_type=payload_type,
            ssrc=ssrc,
            sequence=0,
            timestamp=timestamp,
            clock_rate=dst.clock_rate,
            interval_ms=interval_ms,
            volume=volume,
        )

    def send_event_packet(self, toward: str, packet: bytes) -> None:
        """Send a packet from :meth:`digit_packets` to leg ``toward`` now.

        It gets the next sequence number of the relayed stream (protected
        with the leg's SRTP key if it has one) and the relayed packets after
        it move up by one.
        """
        self._path_to(toward).inject(packet)

    def _path_to(self, side: str) -> _Path:
        """The path whose packets go to leg ``side`` (the echo's in echo mode)."""
        self.leg(side)  # Raises for an unknown side.
        return self._ab if side == "b" or self.is_echo else self._ba

    def rtcp_from_a(self, data: bytes, source: Address, now: float) -> None:
        """Relay (or consume) an RTCP packet that arrived on leg a's ports."""
        self._rtcp("a", self.a, self.b, data, source, now)

    def rtcp_from_b(self, data: bytes, source: Address, now: float) -> None:
        """Relay (or consume) an RTCP packet that arrived on leg b's ports."""
        self._rtcp("b", self.b, self.a, data, source, now)

    def _rtcp(
        self,
        side: str,
        leg: MediaLeg,
        other: MediaLeg,
        data: bytes,
        source: Address,
        now: float,
    ) -> None:
        result = leg.receive_rtcp(data, source, now)
        if result is None:
            return
        self.last_packet_at = now
        plain, packets = result
        broker = self.broker
        if broker is not None and any(
            isinstance(p, PictureLossIndication | FullIntraRequest) for p in packets
        ):
            broker.receive_request(from_leg=side, now=now)
            rest = [
                p
                for p in packets
                if not isinstance(p, PictureLossIndication | FullIntraRequest)
            ]
            plain = serialize_compound(rest) if rest else b""
        if plain and not self.is_echo:
            other.send_rtcp(plain)

    def receiver_report(self, side: str, now: float) -> bytes:
        """Build our RR for what we receive on ``side`` (RFC 3550 §6.4.2)."""
        block = self.leg(side).stats.report_block(now)
        return build_rr(self.rtcp_ssrc, () if block is None else (block,))

    def send_pli(self, side: str, media_ssrc: int | None) -> None:
        """Send RR + PLI (RFC 4585 §6.3.1) on ``side`` for its encoder."""
        leg = self.leg(side)
        ssrc = media_ssrc if media_ssrc is not None else leg.stats.ssrc or 0
        leg.send_rtcp(build_rr(self.rtcp_ssrc) + build_pli(self.rtcp_ssrc, ssrc))

    def send_fir(self, side: str, media_ssrc: int | None, sequence: int) -> None:
        """Send RR + FIR (RFC 5104 §4.3.1) on ``side`` for its encoder."""
        leg = self.leg(side)
        ssrc = media_ssrc if media_ssrc is not None else leg.stats.ssrc or 0
        entry = FirEntry(ssrc=ssrc, sequence=sequence)
        leg.send_rtcp(build_rr(self.rtcp_ssrc) + build_fir(self.rtcp_ssrc, (entry,)))
