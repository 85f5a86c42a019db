"""RFC 4733 telephone-event payloads, the digit detector and the generator."""

from __future__ import annotations

import struct

import pytest

from gateway.media.errors import LocalMediaError, RemoteMediaError
from gateway.media.rtp import parse_header, payload_offset
from gateway.media.telephone_event import (
    MAX_DURATION,
    DigitDetected,
    TelephoneEvent,
    TelephoneEventDetector,
    build_payload,
    digit_of_event,
    event_of_digit,
    generate_digit,
    parse_event,
)

SSRC = 0x11223344


def te_packet(
    event: int,
    *,
    ts: int,
    duration: int,
    end: bool = False,
    marker: bool = False,
    seq: int = 1,
    ssrc: int = SSRC,
) -> bytes:
    header = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | 101, seq, ts, ssrc)
    return header + build_payload(event=event, is_end=end, volume=10, duration=duration)


def press(
    digit: str, *, ts: int, duration_ms: int = 200, seq: int = 1, ssrc: int = SSRC
) -> list[bytes]:
    return [
        p.packet
        for p in generate_digit(
            digit=digit,
            duration_ms=duration_ms,
            payload_type=101,
            ssrc=ssrc,
            sequence=seq,
            timestamp=ts,
        )
    ]


def feed(
    detector: TelephoneEventDetector, packets: list[bytes], now: float = 0.0
) -> list[DigitDetected]:
    for packet in packets:
        detector.receive_packet(packet, now)
    return detector.pop_events()


def test_payload_fields_round_trip() -> None:
    """Event, E bit, volume and duration survive build and parse (§2.3)."""
    payload = build_payload(event=11, is_end=True, volume=63, duration=0xFFFF)
    assert payload == b"\x0b\xbf\xff\xff"
    assert parse_event(payload) == TelephoneEvent(
        event=11, is_end=True, volume=63, duration=0xFFFF
    )
    # The reserved bit is ignored on receipt; extra bytes are not read.
    assert parse_event(b"\x05\x4a\x01\x40junk") == TelephoneEvent(
        event=5, is_end=False, volume=10, duration=320
    )


def test_runt_payload_and_bad_fields_raise() -> None:
    """A payload under 4 bytes is the peer's error; bad fields are ours."""
    with pytest.raises(RemoteMediaError):
        parse_event(b"\x01\x02\x03")
    for kwargs in (
        {"event": 256, "volume": 0, "duration": 0},
        {"event": 1, "volume": 64, "duration": 0},
        {"event": 1, "volume": 0, "duration": 0x10000},
    ):
        with pytest.raises(LocalMediaError):
            build_payload(is_end=False, **kwargs)


def test_digit_codes_follow_rfc_4733_table() -> None:
    """0-9, *, #, A-D are 0..15 and flash is 16; other codes have no digit."""
    assert [event_of_digit(d) for d in "09*#AD!"] == [0, 9, 10, 11, 12, 15, 16]
    assert event_of_digit("b") == 13
    assert digit_of_event(10) == "*" and digit_of_event(16) == "!"
    assert digit_of_event(17) is None and digit_of_event(-1) is None
    for bad in ("E", "", "12", " "):
        with pytest.raises(LocalMediaError):
            event_of_digit(bad)


def test_generated_press_has_rfc_4733_shape() -> None:
    """Marker first, one timestamp, updates every 50 ms, three end packets."""
    scheduled = generate_digit(
        digit="7",
        duration_ms=180,
        payload_type=101,
        ssrc=SSRC,
        sequence=65534,
        timestamp=0xFFFFFF00,
    )
    headers = [parse_header(p.packet) for p in scheduled]
    events = [parse_event(p.packet[payload_offset(p.packet) :]) for p in scheduled]
    assert [h.marker for h in headers] == [True] + [False] * 5
    assert {h.timestamp for h in headers} == {0xFFFFFF00}
    assert {(h.ssrc, h.payload_type) for h in headers} == {(SSRC, 101)}
    assert [h.sequence for h in headers] == [65534, 65535, 0, 1, 2, 3]
    assert [e.duration for e in events] == [400, 800, 1200, 1440, 1440, 1440]
    assert [e.is_end for e in events] == [False] * 3 + [True] * 3
    assert {(e.event, e.volume) for e in events} == {(7, 10)}
    offsets = [p.offset_s for p in scheduled]
    assert offsets == pytest.approx([0.05, 0.10, 0.15, 0.18, 0.23, 0.28])


def test_short_press_and_20_ms_updates() -> None:
    """A press shorter than an interval is its three end packets; 20 ms works."""
    short = generate_digit(
        digit="#",
        duration_ms=40,
        payload_type=96,
        ssrc=1,
        sequence=0,
        timestamp=0,
    )
    assert [parse_header(p.packet).marker for p in short] == [True, False, False]
    assert all(parse_event(p.packet[12:]).is_end for p in short)
    fast = generate_digit(
        digit="1",
        duration_ms=100,
        payload_type=96,
        ssrc=1,
        sequence=0,
        timestamp=0,
        interval_ms=20,
        clock_rate=48000,
    )
    durations = [parse_event(p.packet[12:]).duration for p in fast]
    assert durations == [960, 1920, 2880, 3840, 4800, 4800, 4800]


def test_generator_refuses_what_it_cannot_send() -> None:
    """Non-digits, zero or over-long durations and bad RTP fields raise."""
    base = {"payload_type": 101, "ssrc": 1, "sequence": 0, "timestamp": 0}
    for digit, duration_ms in (("x", 100), ("1", 0), ("1", 8200)):
        with pytest.raises(LocalMediaError):
            generate_digit(digit=digit, duration_ms=duration_ms, **base)
    with pytest.raises(LocalMediaError):
        generate_digit(digit="1", duration_ms=100, **{**base, "payload_type": 128})
    with pytest.raises(LocalMediaError):
        generate_digit(digit="1", duration_ms=100, interval_ms=0, **base)


def test_one_digit_per_press_reported_on_first_end_packet() -> None:
    """The first E=1 packet reports; its two repeats report nothing more."""
    detector = TelephoneEventDetector()
    packets = press("5", ts=8000, duration_ms=250)
    assert feed(detector, packets[:-3]) == []
    assert detector.next_deadline() == pytest.approx(0.5)
    [digit] = feed(detector, packets[-3:-2])
    assert digit == DigitDetected(
        digit="5",
        event=5,
        ssrc=SSRC,
        timestamp=8000,
        duration=2000,
        duration_ms=250,
        is_end_seen=True,
    )
    assert feed(detector, packets[-2:] + packets) == []
    assert detector.next_deadline() is None


def test_same_digit_twice_is_two_presses() -> None:
    """Two presses of one key differ by timestamp: two digits."""
    detector = TelephoneEventDetector()
    found = feed(detector, press("9", ts=0) + press("9", ts=4000, seq=20))
    assert [(d.digit, d.timestamp) for d in found] == [("9", 0), ("9", 4000)]


def test_lost_end_packets_reported_when_next_press_starts() -> None:
    """All end packets lost: the next press's first packet reports the old one."""
    detector = TelephoneEventDetector()
    first = press("1", ts=100, duration_ms=200)[:-3]
    found = feed(detector, first + press("2", ts=4000, seq=30))
    assert [(d.digit, d.is_end_seen, d.duration_ms) for d in found] == [
        ("1", False, 150),
        ("2", True, 200),
    ]


def test_lost_end_packets_reported_after_the_timeout() -> None:
    """With no next press, the end timeout reports the press; a late end does not."""
    detector = TelephoneEventDetector(end_timeout_s=0.3)
    packets = press("*", ts=0)
    feed(detector, packets[:2], now=10.0)
    deadline = detector.next_deadline()
    assert deadline == pytest.approx(10.3)
    detector.handle_timeout(10.29)
    assert detector.pop_events() == []
    detector.handle_timeout(10.3)
    [digit] = detector.pop_events()
    assert (digit.digit, digit.is_end_seen, digit.duration) == ("*", False, 800)
    assert detector.next_deadline() is None
    assert feed(detector, packets[2:], now=11.0) == []


def test_late_packets_of_an_earlier_press_are_ignored() -> None:
    """Reordering: a packet older than the current press reports nothing."""
    detector = TelephoneEventDetector()
    one, two = press("1", ts=0), press("2", ts=4000, seq=30)
    found = feed(detector, one[:1] + two[:1] + one[1:] + two[1:])
    assert [d.digit for d in found] == ["1", "2"]
    assert detector.ignored == len(one) - 1


def test_ssrc_change_flushes_and_keys_by_ssrc() -> None:
    """A new source ends the old press; presses are keyed per SSRC."""
    detector = TelephoneEventDetector()
    old = press("3", ts=500)[:2]
    new = press("4", ts=500, ssrc=0x99)
    found = feed(detector, old + new + old)
    assert [(d.digit, d.ssrc, d.is_end_seen) for d in found] == [
        ("3", SSRC, False),
        ("4", 0x99, True),
    ]


def test_timestamps_wrap() -> None:
    """Serial-number order across 2^32: the wrapped press is the newer one."""
    detector = TelephoneEventDetector()
    found = feed(detector, press("A", ts=0xFFFFFE00) + press("B", ts=0x100))
    assert [d.digit for d in found] == ["A", "B"]


def test_long_press_segments_are_one_digit() -> None:
    """A key held past 0xFFFF units is one press over its segments (§2.5.1.3)."""
    detector = TelephoneEventDetector()
    first = [
        te_packet(6, ts=1000, duration=400, marker=True),
        te_packet(6, ts=1000, duration=MAX_DURATION),
    ]
    second = [
        te_packet(6, ts=1000 + MAX_DURATION, duration=400),
        te_packet(6, ts=1000 + MAX_DURATION, duration=800, end=True),
    ]
    [digit] = feed(detector, first + second + second)
    assert digit.timestamp == 1000 and digit.duration == MAX_DURATION + 800
    # A segment that ended with E=1 is continued, not pressed again.
    detector = TelephoneEventDetector()
    ended = te_packet(6, ts=1000, duration=MAX_DURATION, end=True, marker=True)
    found = feed(detector, [ended, *second, ended])
    assert [(d.digit, d.duration) for d in found] == [("6", MAX_DURATION)]
    # The marker bit makes it a new press.
    restarted = te_packet(6, ts=1000 + MAX_DURATION, duration=80, marker=True)
    detector = TelephoneEventDetector()
    assert len(feed(detector, [ended, restarted])) == 1
    detector.handle_timeout(10.0)
    assert [d.duration for d in detector.pop_events()] == [80]


def test_non_digit_events_flash_and_malformed_packets() -> None:
    """Tones are ignored, flash is '!' unless disabled, runts are counted."""
    detector = TelephoneEventDetector()
    tone = te_packet(70, ts=0, duration=400, end=True, marker=True)
    flash = te_packet(16, ts=800, duration=400, end=True, marker=True)
    assert [d.digit for d in feed(detector, [tone, flash])] == ["!"]
    no_flash = TelephoneEventDetector(report_flash=False)
    assert feed(no_flash, [flash]) == [] and no_flash.ignored == 1
    runt = te_packet(1, ts=0, duration=1)[:14]
    detector.receive_packet(runt, 0.0)
    detector.receive_packet(b"\x80\x65", 0.0)
    assert detector.malformed == 2 and detector.packets == 4
    mixed = te_packet(2, ts=800, duration=400)
    assert feed(detector, [mixed]) == [] and detector.ignored == 2


def test_header_with_csrc_and_extension() -> None:
    """The payload is found after CSRCs and a header extension (RFC 3550 §5.3.1)."""
    payload = build_payload(event=8, is_end=True, volume=10, duration=800)
    header = struct.pack("!BBHII", 0x91, 0xE5, 7, 1234, SSRC)
    packet = header + struct.pack("!I", 42) + b"\xbe\xde\x00\x01\x10\xff\x00\x00"
    detector = TelephoneEventDetector()
    [digit] = feed(detector, [packet + payload])
    assert (digit.digit, digit.duration_ms) == ("8", 100)


def test_detector_settings_are_checked() -> None:
    """Zero clock rate, timeout or history are refused."""
    for kwargs in ({"clock_rate": 0}, {"end_timeout_s": 0}, {"history": 0}):
        with pytest.raises(LocalMediaError):
            TelephoneEventDetector(**kwargs)  # type: ignore[arg-type]


def test_reported_history_is_bounded() -> None:
    """Old keys are forgotten beyond ``history``; recent ones still dedupe."""
    detector = TelephoneEventDetector(history=4)
    for index in range(6):
        feed(detector, press("0", ts=index * 4000, seq=index * 10))
    assert len(detector._reported) <= 4
    # A late repeat of the newest press is still a duplicate.
    assert feed(detector, press("0", ts=5 * 4000, seq=50)[-1:]) == []
