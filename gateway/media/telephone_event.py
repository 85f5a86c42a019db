"""DTMF as RTP telephone-event packets (RFC 4733): parse, detect, generate.

Sans-IO. Three pieces:

* :func:`parse_event` / :func:`build_payload` read and write the 4-byte
  event payload (RFC 4733 §2.3): event code, E (end) bit, volume, duration
  in RTP timestamp units.
* :class:`TelephoneEventDetector` turns the telephone-event packets of one
  stream into one :class:`DigitDetected` per key press. A press is sent as
  many packets with the same RTP timestamp (the start of the event,
  §2.5.1.2): a first one with the marker bit, updates with a growing
  duration, and an end packet (E=1) sent three times (§2.5.1.4). The
  detector keys presses by (SSRC, RTP timestamp), reports on the first E=1
  packet, and also reports a press whose end packets were all lost: when a
  newer press starts (a new timestamp is a new event, §2.5.2), when the
  SSRC changes, or ``end_timeout_s`` after its last packet
  (``next_deadline``/``handle_timeout``). Every report happens at most once
  per press, whatever is lost, duplicated or reordered: a packet older
  than the current press (RFC 3550 serial arithmetic on timestamps) is
  late and ignored, and reported keys are remembered. A key held past the
  16-bit duration is sent in segments (§2.5.1.3): a segment that starts
  0xFFFF units after the previous one, same event, no marker, continues the
  same press.
* :func:`generate_digit` builds the packets of one press for sending, and
  when to send each (the shape of RFC 4733's examples): updates every
  ``interval_ms`` carrying the duration so far, the first with the marker
  bit, then the final duration with E=1 three times, ``interval_ms`` apart,
  all with the event's start timestamp and consecutive sequence numbers.

Events 0-9, ``*``, ``#``, A-D are codes 0..15 and flash is 16 (RFC 4733
§3.2); digits are the one-character strings of :data:`EVENT_DIGITS` (``!``
for flash, as H.245 signalType and the SIP INFO dtmf-relay body spell it).
Other events (the tones and signals of RFC 4734) are ignored. Packets that
pack several events (§2.5.1.5) are read for their first event only.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from gateway.media.errors import LocalMediaError, RemoteMediaError
from gateway.media.rtp import payload_offset

__all__ = [
    "EVENT_DIGITS",
    "MAX_DURATION",
    "PAYLOAD_BYTES",
    "DigitDetected",
    "ScheduledPacket",
    "TelephoneEvent",
    "TelephoneEventDetector",
    "build_payload",
    "digit_of_event",
    "event_of_digit",
    "generate_digit",
    "parse_event",
]

EVENT_DIGITS = "0123456789*#ABCD!"
"""Digit of each DTMF event code, in code order (RFC 4733 §3.2)."""
PAYLOAD_BYTES = 4
"""Size of one event in a telephone-event payload (RFC 4733 §2.3)."""
MAX_DURATION = 0xFFFF
"""Largest duration field; longer events are segmented (RFC 4733 §2.5.1.3)."""
_FLASH = 16
_MAX_VOLUME = 63
_END_REPEATS = 3  # RFC 4733 §2.5.1.4: the final packet is sent three times.
_TS_MOD = 1 << 32
_HALF_TS = 1 << 31
_SEQ_MOD = 1 << 16
_EVENT = struct.Struct("!BBH")
_HEADER = struct.Struct("!BBHII")
_SEQ_TS_SSRC = struct.Struct("!HII")


@dataclass(frozen=True, slots=True, kw_only=True)
class TelephoneEvent:
    """One event block of a telephone-event payload (RFC 4733 §2.3)."""

    event: int
    is_end: bool
    volume: int
    """Power level in -dBm0 (0..63); 0 for events without one."""
    duration: int
    """Duration so far, in RTP timestamp units of the payload's clock."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DigitDetected:
    """One key press recognised in a telephone-event stream."""

    digit: str
    event: int
    ssrc: int
    timestamp: int
    """RTP timestamp of the press's start (its first segment)."""
    duration: int
    """Total duration in RTP timestamp units (all segments)."""
    duration_ms: int
    is_end_seen: bool
    """False if it was reported without an end packet (all of them lost)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledPacket:
    """A packet to send ``offset_s`` seconds after the event starts."""

    offset_s: float
    packet: bytes


def digit_of_event(event: int) -> str | None:
    """The digit of DTMF event code ``event`` (0..16), or None for others."""
    return EVENT_DIGITS[event] if 0 <= event <= _FLASH else None


def event_of_digit(digit: str) -> int:
    """The event code of ``digit`` (``0-9 * # A-D !``, any case).

    Raises :class:`LocalMediaError` for anything else.
    """
    code = EVENT_DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise LocalMediaError(f"not a DTMF digit: {digit!r}")
    return code


def parse_event(payload: bytes) -> TelephoneEvent:
    """Read the first event of a telephone-event payload (RFC 4733 §2.3).

    The R bit is ignored as the RFC asks of receivers. Raises
    :class:`RemoteMediaError` if the payload is shorter than 4 bytes.
    """
    if len(payload) < PAYLOAD_BYTES:
        raise RemoteMediaError("telephone-event payload shorter than 4 bytes")
    event, flags, duration = _EVENT.unpack_from(payload)
    return TelephoneEvent(
        event=event,
        is_end=bool(flags & 0x80),
        volume=flags & 0x3F,
        duration=duration,
    )


def build_payload(*, event: int, is_end: bool, volume: int, duration: int) -> bytes:
    """Serialize one event block (RFC 4733 §2.3); R is sent as 0.

    Raises :class:`LocalMediaError` for out-of-range fields.
    """
    if not 0 <= event <= 255 or not 0 <= volume <= _MAX_VOLUME:
        raise LocalMediaError("event must fit 8 bits and volume 0..63")
    if not 0 <= duration <= MAX_DURATION:
        raise LocalMediaError("duration must fit 16 bits")
    return _EVENT.pack(event, (0x80 if is_end else 0) | volume, duration)


def generate_digit(
    *,
    digit: str,
    duration_ms: int,
    payload_type: int,
    ssrc: int,
    sequence: int,
    timestamp: int,
    clock_rate: int = 8000,
    interval_ms: int = 50,
    volume: int = 10,
) -> tuple[ScheduledPacket, ...]:
    """Build the RTP packets of one key press and when to send them.

    ``timestamp`` is the RTP timestamp of the start of the press and
    ``sequence`` the sequence number of the first packet (the others follow,
    modulo 2^16). Updates go out every ``interval_ms`` with the duration so
    far (RFC 4733 §2.5.1.2), the first one with the marker bit; at
    ``duration_ms`` the final duration goes out with E=1 three times,
    ``interval_ms`` apart (§2.5.1.4). A press shorter than one interval is
    just the three end packets, the first with the marker bit.

    Raises :class:`LocalMediaError` for a non-digit, a duration that does
    not fit one segment (0xFFFF units: 8.19 s at 8 kHz), or bad RTP fields.
    """
    event = event_of_digit(digit)
    if not 0 <= payload_type < 128 or not 0 <= ssrc < _TS_MOD:
        raise LocalMediaError("payload type must fit 7 bits and SSRC 32 bits")
    if clock_rate <= 0 or interval_ms <= 0:
        raise LocalMediaError("clock rate and interval must be positive")
    total = duration_ms * clock_rate // 1000
    if not 0 < total <= MAX_DURATION:
        raise LocalMediaError("digit duration must be 1..65535 RTP time units")
    step = interval_ms * clock_rate // 1000 or 1
    plan = [(elapsed, False) for elapsed in range(step, total, step)]
    plan += [(total, True)] * _END_REPEATS
    packets = []
    for index, (elapsed, is_end) in enumerate(plan):
        payload = build_payload(
            event=event, is_end=is_end, volume=volume, duration=elapsed
        )
        repeat = index - len(plan) + _END_REPEATS  # 0, 1, 2 for end packets.
        offset_s = (elapsed + max(repeat, 0) * step) / clock_rate
        header = _HEADER.pack(
            0x80,
            (0x80 if index == 0 else 0) | payload_type,
            (sequence + index) % _SEQ_MOD,
            timestamp % _TS_MOD,
            ssrc,
        )
        packets.append(ScheduledPacket(offset_s=offset_s, packet=header + payload))
    return tuple(packets)


class _Press:
    """The key press being received (mutable, internal)."""

    __slots__ = (
        "base",
        "duration",
        "event",
        "is_reported",
        "last_at",
        "ssrc",
        "start",
        "timestamp",
    )

    def __init__(self, event: int, ssrc: int, timestamp: int, now: float) -> None:
        self.event = event
        self.ssrc = ssrc
        self.start = timestamp
        self.timestamp = timestamp  # Of the current segment.
        self.base = 0  # Duration of the segments before this one.
        self.duration = 0
        self.is_reported = False
        self.last_at = now


def _is_newer(timestamp: int, than: int) -> bool:
    """RFC 3550 serial-number order of 32-bit timestamps (wraps)."""
    return timestamp != than and (timestamp - than) % _TS_MOD < _HALF_TS


class TelephoneEventDetector:
    """Digits from one stream's telephone-event packets (see module doc).

    ``clock_rate`` is the payload's RTP clock (durations in ms). With
    ``report_flash`` false, flash (event 16) is ignored like other events.
    Counters: ``packets`` fed, ``malformed`` (runt payload or RTP header),
    ``ignored`` (not a digit, late or already reported).
    """

    __slots__ = (
        "_clock_rate",
        "_current",
        "_end_timeout_s",
        "_events",
        "_max_event",
        "_reported",
        "_reported_order",
        "_ssrc",
        "ignored",
        "malformed",
        "packets",
    )

    def __init__(
        self,
        *,
        clock_rate: int = 8000,
        end_timeout_s: float = 0.5,
        report_flash: bool = True,
        history: int = 64,
    ) -> None:
        if clock_rate <= 0 or end_timeout_s <= 0 or history <= 0:
            raise LocalMediaError("clock rate, end timeout and history must be > 0")
        self._clock_rate = clock_rate
        self._end_timeout_s = end_timeout_s
        self._max_event = _FLASH if report_flash else _FLASH - 1
        self._ssrc: int | None = None
        self._current: _Press | None = None
        # Keys of reported presses, so that no reordering across an SSRC
        # change can report one twice; bounded, oldest forgotten first.
        self._reported: set[tuple[int, int]] = set()
        self._reported_order: deque[tuple[int, int]] = deque(maxlen=history)
        self._events: list[DigitDetected] = []
        self.packets = 0
        self.malformed = 0
        self.ignored = 0

    def receive_packet(self, packet: bytes, now: float) -> None:
        """Feed one plain RTP packet of the telephone-event payload type.

        A malformed header or payload is counted, never raised.
        """
        try:
            offset = payload_offset(packet)
        except RemoteMediaError:
            self.packets += 1
            self.malformed += 1
            return
        # Presses are keyed by timestamp; the sequence number adds nothing.
        _, timestamp, ssrc = _SEQ_TS_SSRC.unpack_from(packet, 2)
        self.receive(
            packet[offset:],
            timestamp=timestamp,
            ssrc=ssrc,
            marker=bool(packet[1] & 0x80),
            now=now,
        )

    def receive(
        self, payload: bytes, *, timestamp: int, ssrc: int, marker: bool, now: float
    ) -> None:
        """Feed the payload of one telephone-event packet and its RTP fields."""
        self.packets += 1
        try:
            event = parse_event(payload)
        except RemoteMediaError:
            self.malformed += 1
            return
        if event.event > self._max_event:
            self.ignored += 1
            return
        if ssrc != self._ssrc:
            self._flush()
            self._ssrc = ssrc
            self._current = None
        current = self._current
        if current is not None and timestamp == current.timestamp:
            if event.event != current.event:
                self.ignored += 1  # Same timestamp, another event: malformed.
                return
            self._update(current, event, now)
            return
        if current is not None and not _is_newer(timestamp, current.timestamp):
            self.ignored += 1  # Late: an earlier press or segment.
            return
        if current is not None and self._continues(current, event, timestamp, marker):
            current.base += (timestamp - current.timestamp) % _TS_MOD
            current.timestamp = timestamp
            current.duration = 0
            if current.is_reported:
                self._remember(ssrc, timestamp)
            self._update(current, event, now)
            return
        self._flush()
        if (ssrc, timestamp) in self._reported:
            self.ignored += 1
            self._current = None
            return
        press = self._current = _Press(event.event, ssrc, timestamp, now)
        self._update(press, event, now)

    @property
    def clock_rate(self) -> int:
        """The RTP clock of the payload (Hz)."""
        return self._clock_rate

    def pop_events(self) -> list[DigitDetected]:
        """Return and clear the digits detected so far, in detection order."""
        events, self._events = self._events, []
        return events

    def next_deadline(self) -> float | None:
        """When an unfinished press times out without an end packet, or None."""
        current = self._current
        if current is None or current.is_reported:
            return None
        return current.last_at + self._end_timeout_s

    def handle_timeout(self, now: float) -> None:
        """Report an unfinished press whose end packets never came."""
        deadline = self.next_deadline()
        if deadline is not None and now >= deadline:
            self._flush()

    @staticmethod
    def _continues(
        press: _Press, event: TelephoneEvent, timestamp: int, marker: bool
    ) -> bool:
        # RFC 4733 §2.5.1.3: the next segment of a long event starts where
        # the previous one (of maximum duration) stopped, without a marker.
        return (
            not marker
            and event.event == press.event
            and (timestamp - press.timestamp) % _TS_MOD == MAX_DURATION
        )

    def _update(self, press: _Press, event: TelephoneEvent, now: float) -> None:
        press.duration = max(press.duration, event.duration)
        press.last_at = now
        if event.is_end and not press.is_reported:
            self._report(press, is_end_seen=True)

    def _flush(self) -> None:
        current = self._current
        if current is not None and not current.is_reported:
            self._report(current, is_end_seen=False)

    def _report(self, press: _Press, *, is_end_seen: bool) -> None:
        press.is_reported = True
        ssrc = press.ssrc
        self._remember(ssrc, press.start)
        self._remember(ssrc, press.timestamp)
        duration = press.base + press.duration
        self._events.append(
            DigitDetected(
                digit=EVENT_DIGITS[press.event],
                event=press.event,
                ssrc=ssrc,
                timestamp=press.start,
                duration=duration,
                duration_ms=duration * 1000 // self._clock_rate,
                is_end_seen=is_end_seen,
            )
        )

    def _remember(self, ssrc: int, timestamp: int) -> None:
        key = (ssrc, timestamp)
        if key in self._reported:
            return
        if len(self._reported_order) == self._reported_order.maxlen:
            self._reported.discard(self._reported_order[0])
        self._reported_order.append(key)
        self._reported.add(key)
