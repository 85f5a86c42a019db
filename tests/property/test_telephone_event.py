"""RFC 4733 digit detection under loss, duplication and reordering.

Key presses are generated with the package's own generator (start
timestamps strictly increasing, as a sender's clock makes them), then the
packet list is damaged. Invariants: a press is never reported twice and
nothing is reported that was not pressed; a clean list gives exactly the
digits pressed with their durations; with loss and duplication but no
reordering, every press with at least one packet through is reported once.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.media.telephone_event import (
    EVENT_DIGITS,
    DigitDetected,
    TelephoneEventDetector,
    generate_digit,
)

CLOCK = 8000
SSRC = 0x0BADCAFE


@dataclass(frozen=True)
class Press:
    digit: str
    timestamp: int
    duration: int


@dataclass(frozen=True)
class Arrival:
    at_s: float
    packet: bytes
    press: int


presses_st = st.lists(
    st.tuples(
        st.sampled_from(EVENT_DIGITS),
        st.integers(min_value=10, max_value=1500),  # Press duration, ms.
        st.integers(min_value=0, max_value=400),  # Pause after it, ms.
        st.sampled_from([20, 50]),  # Update interval, ms.
    ),
    min_size=1,
    max_size=12,
)


def sent(
    spec: list[tuple[str, int, int, int]], first_ts: int, first_seq: int
) -> tuple[list[Press], list[Arrival]]:
    """The presses and their packets in sending order, with send times."""
    presses, arrivals = [], []
    start_s, seq = 0.0, first_seq
    for index, (digit, duration_ms, pause_ms, interval_ms) in enumerate(spec):
        timestamp = (first_ts + round(start_s * CLOCK)) % (1 << 32)
        scheduled = generate_digit(
            digit=digit,
            duration_ms=duration_ms,
            payload_type=101,
            ssrc=SSRC,
            sequence=seq,
            timestamp=timestamp,
            interval_ms=interval_ms,
        )
        presses.append(Press(digit, timestamp, duration_ms * CLOCK // 1000))
        arrivals += [Arrival(start_s + p.offset_s, p.packet, index) for p in scheduled]
        seq += len(scheduled)
        last_s = start_s + scheduled[-1].offset_s
        start_s = last_s + (pause_ms + 20) / 1000
    return presses, arrivals


def run(arrivals: list[Arrival]) -> list[DigitDetected]:
    """Feed in list order, firing timeouts as a loop would, then drain."""
    detector = TelephoneEventDetector(clock_rate=CLOCK)
    now = 0.0
    for arrival in arrivals:
        now = max(now, arrival.at_s)
        deadline = detector.next_deadline()
        if deadline is not None and deadline <= now:
            detector.handle_timeout(deadline)
        detector.receive_packet(arrival.packet, now)
    detector.handle_timeout(now + 10.0)
    return detector.pop_events()


def check_no_double_no_phantom(
    presses: list[Press], found: list[DigitDetected]
) -> None:
    by_ts = {p.timestamp: p for p in presses}
    stamps = [d.timestamp for d in found]
    assert len(stamps) == len(set(stamps)), "a press reported twice"
    for digit in found:
        press = by_ts.get(digit.timestamp)
        assert press is not None and press.digit == digit.digit
        assert digit.ssrc == SSRC and digit.duration <= press.duration


first_ts_st = st.integers(min_value=0, max_value=(1 << 32) - 1)
first_seq_st = st.integers(min_value=0, max_value=(1 << 16) - 1)


@settings(max_examples=100, deadline=None)
@given(presses_st, first_ts_st, first_seq_st)
def test_clean_stream_gives_exactly_the_digits_pressed(
    spec: list[tuple[str, int, int, int]], first_ts: int, first_seq: int
) -> None:
    """In order, nothing lost: each press once, in order, with its duration."""
    presses, arrivals = sent(spec, first_ts, first_seq)
    found = run(arrivals)
    assert [(d.digit, d.timestamp, d.duration) for d in found] == [
        (p.digit, p.timestamp, p.duration) for p in presses
    ]
    assert all(d.is_end_seen for d in found)


@settings(max_examples=150, deadline=None)
@given(presses_st, first_ts_st, first_seq_st, st.data())
def test_damaged_stream_never_reports_a_press_twice(
    spec: list[tuple[str, int, int, int]],
    first_ts: int,
    first_seq: int,
    data: st.DataObject,
) -> None:
    """Loss, duplication and reordering: never twice, never a phantom."""
    presses, arrivals = sent(spec, first_ts, first_seq)
    damaged = []
    for arrival in arrivals:
        copies = data.draw(st.integers(min_value=0, max_value=3), label="copies")
        for _ in range(copies):
            delay = data.draw(st.floats(min_value=0.0, max_value=1.0), label="delay")
            damaged.append(Arrival(arrival.at_s + delay, arrival.packet, arrival.press))
    damaged.sort(key=lambda a: a.at_s)
    check_no_double_no_phantom(presses, run(damaged))


@settings(max_examples=150, deadline=None)
@given(presses_st, first_ts_st, first_seq_st, st.data())
def test_loss_without_reordering_reports_every_press_once(
    spec: list[tuple[str, int, int, int]],
    first_ts: int,
    first_seq: int,
    data: st.DataObject,
) -> None:
    """Loss and duplicates in order: every press with a packet through, once."""
    presses, arrivals = sent(spec, first_ts, first_seq)
    kept = []
    for arrival in arrivals:
        copies = data.draw(st.integers(min_value=0, max_value=2), label="copies")
        kept += [arrival] * copies
    found = run(kept)
    check_no_double_no_phantom(presses, found)
    through = sorted({a.press for a in kept})
    assert [d.timestamp for d in found] == [presses[i].timestamp for i in through]
