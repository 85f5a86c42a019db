"""Relay core and RFC 4733: digit detection per leg, dropping, injection."""

from __future__ import annotations

import secrets
import struct

import pytest

from gateway.media.errors import LocalMediaError
from gateway.media.relay import Address, MediaLeg, RelayStream
from gateway.media.rtp import RtpRewriter, SequenceShift, parse_header, payload_offset
from gateway.media.telephone_event import generate_digit, parse_event
from gateway.srtp.session import SrtpLeg
from gateway.srtp.suites import AES_CM_128_HMAC_SHA1_80

SUITE = AES_CM_128_HMAC_SHA1_80
SITE_A: Address = ("192.0.2.10", 4000)
SITE_B: Address = ("192.0.2.20", 5000)
SSRC_A = 0xA0A0A0A0
RTCP_SSRC = 0x5EED5EED


def key() -> bytes:
    return secrets.token_bytes(SUITE.key_salt_bytes)


def audio(seq: int, ssrc: int = SSRC_A, pt: int = 0) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, seq * 160, ssrc) + b"\xd5" * 160


def press(digit: str, *, seq: int, ts: int, pt: int = 101) -> list[bytes]:
    return [
        p.packet
        for p in generate_digit(
            digit=digit,
            duration_ms=120,
            payload_type=pt,
            ssrc=SSRC_A,
            sequence=seq,
            timestamp=ts,
        )
    ]


class Side:
    """One endpoint: its SRTP keys and what the gateway sent it."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self.own, self.gateway = key(), key()
        self.site = SrtpLeg(
            suite=SUITE, local_key_salt=self.own, remote_key_salt=self.gateway
        )
        self.received: list[bytes] = []

    def leg(
        self, label: str, te_pt: int | None, send_pt: int | None = None
    ) -> MediaLeg:
        leg = MediaLeg(
            crypto=SrtpLeg(
                suite=SUITE, local_key_salt=self.gateway, remote_key_salt=self.own
            ),
            remote_rtp=self.address,
            remote_rtcp=None,
            rtcp_mux=False,
            label=label,
            clock_rate=8000,
            telephone_event_pt=te_pt,
            telephone_event_send_pt=send_pt,
        )
        leg.attach(
            sendto_rtp=lambda d, _: self.received.append(self.site.unprotect_rtp(d)),
            sendto_rtcp=lambda d, _: None,
        )
        return leg


class Call:
    """A stream between sides a and b, with the digits it reported."""

    def __init__(self, a_pt: int | None, b_pt: int | None) -> None:
        self.a, self.b = Side(SITE_A), Side(SITE_B)
        self.digits: list[tuple[str, str, int]] = []
        self.deadlines: list[float | None] = []
        self.stream = RelayStream(
            a=self.a.leg("site", a_pt),
            b=self.b.leg("mcu", b_pt),
            now=0.0,
            rtcp_ssrc=RTCP_SSRC,
            on_digit=lambda *found: self.digits.append(found),
        )
        self.stream.on_event_deadline = self.deadlines.append

    def from_a(self, packets: list[bytes], now: float = 1.0) -> None:
        for packet in packets:
            self.stream.rtp_from_a(self.a.site.protect_rtp(packet), SITE_A, now)


def test_digits_detected_and_relayed_when_both_legs_have_telephone_event() -> None:
    """One on_digit per press; event packets reach b with b's payload type."""
    call = Call(a_pt=101, b_pt=100)
    packets = press("4", seq=11, ts=1600) + press("#", seq=16, ts=8000)
    call.from_a([audio(10), *packets, audio(21)])
    assert call.digits == [("site", "4", 120), ("site", "#", 120)]
    got = call.b.received
    assert len(got) == len(packets) + 2
    assert [parse_header(p).payload_type for p in got[1:-1]] == [100] * 10
    assert [parse_header(p).sequence for p in got] == list(range(10, 22))
    # Apart from the payload type, bytes are as the site sent them.
    assert [p[:1] + p[2:] for p in got[1:-1]] == [p[:1] + p[2:] for p in packets]
    assert call.stream.a.counters.events_dropped == 0
    assert call.deadlines[-1] is None


def test_event_packets_dropped_toward_a_leg_without_telephone_event() -> None:
    """H.323 legs negotiate no telephone-event: dropped, sequence gapless."""
    call = Call(a_pt=101, b_pt=None)
    packets = press("9", seq=11, ts=1600)
    call.from_a([audio(10), *packets, audio(16), audio(17)])
    assert call.digits == [("site", "9", 120)]
    headers = [parse_header(p) for p in call.b.received]
    assert [h.payload_type for h in headers] == [0, 0, 0]
    assert [h.sequence for h in headers] == [10, 11, 12]
    assert [h.timestamp for h in headers] == [1600, 16 * 160, 17 * 160]
    assert [p[12:] for p in call.b.received] == [b"\xd5" * 160] * 3
    assert call.stream.a.counters.events_dropped == len(packets)


def test_legs_without_telephone_event_relay_everything_as_before() -> None:
    """No type configured: a PT 101 packet is just media, no digits."""
    call = Call(a_pt=None, b_pt=None)
    packets = press("1", seq=1, ts=0)
    call.from_a(packets)
    assert call.digits == [] and call.b.received == packets
    assert call.deadlines == []


def test_lost_end_packets_reported_at_the_deadline() -> None:
    """No end packet: the app is told the deadline and the timeout reports."""
    call = Call(a_pt=101, b_pt=None)
    call.from_a(press("7", seq=1, ts=0)[:2], now=5.0)
    assert call.digits == [] and call.deadlines[-1] == pytest.approx(5.5)
    assert call.stream.event_deadline() == pytest.approx(5.5)
    call.stream.handle_event_timeout(5.4)
    assert call.digits == []
    call.stream.handle_event_timeout(5.5)
    assert call.digits == [("site", "7", 100)]
    assert call.deadlines[-1] is None and call.stream.event_deadline() is None


def test_injected_digit_continues_the_relayed_stream() -> None:
    """Same SSRC, next sequence numbers, timestamp now; later media moves up."""
    call = Call(a_pt=None, b_pt=101)
    call.from_a([audio(seq) for seq in range(100, 103)], now=10.0)
    planned = call.stream.digit_packets("b", "5", duration_ms=120, now=10.05)
    assert [p.offset_s for p in planned] == pytest.approx([0.05, 0.1, 0.12, 0.17, 0.22])
    for item in planned:
        call.stream.send_event_packet("b", item.packet)
    call.from_a([audio(103), audio(104)], now=10.3)
    headers = [parse_header(p) for p in call.b.received]
    assert [h.sequence for h in headers] == list(range(100, 110))
    assert {h.ssrc for h in headers} == {SSRC_A}
    events = headers[3:8]
    assert [h.payload_type for h in events] == [101] * 5
    assert [h.marker for h in events] == [True] + [False] * 4
    # 102 * 160 was the timestamp at t=10.0; 50 ms later is 400 more.
    assert {h.timestamp for h in events} == {102 * 160 + 400}
    payloads = [parse_event(p[payload_offset(p) :]) for p in call.b.received[3:8]]
    assert [(e.event, e.is_end, e.duration) for e in payloads] == [
        (5, False, 400),
        (5, False, 800),
        (5, True, 960),
        (5, True, 960),
        (5, True, 960),
    ]
    assert call.stream.b.counters.events_injected == 5
    # The rewriter the path got moves sequence numbers only.
    assert isinstance(call.stream.a_to_b, SequenceShift)


def test_injection_before_any_media_uses_our_own_stream() -> None:
    """Nothing relayed toward b yet: our SSRC and numbering, still consecutive."""
    call = Call(a_pt=None, b_pt=101)
    for now in (1.0, 2.0):
        for item in call.stream.digit_packets("b", "0", duration_ms=40, now=now):
            call.stream.send_event_packet("b", item.packet)
    headers = [parse_header(p) for p in call.b.received]
    assert {h.ssrc for h in headers} == {RTCP_SSRC}
    first = RTCP_SSRC & 0x7FFF
    assert [h.sequence for h in headers] == list(range(first, first + 6))
    assert headers[3].timestamp - headers[0].timestamp == 8000
    assert call.stream.a_to_b is None  # No relayed stream to renumber.


def test_injection_toward_a_leg_without_telephone_event_is_refused() -> None:
    """An H.323 leg has no telephone-event type: a bug to inject there."""
    call = Call(a_pt=101, b_pt=None)
    with pytest.raises(LocalMediaError):
        call.stream.digit_packets("b", "1", duration_ms=100, now=0.0)
    with pytest.raises(LocalMediaError):
        call.stream.digit_packets("c", "1", duration_ms=100, now=0.0)
    with pytest.raises(LocalMediaError):
        call.stream.digit_packets("a", "x", duration_ms=100, now=0.0)
    with pytest.raises(LocalMediaError):
        call.stream.send_event_packet("a", b"\x80\x65")


def test_injection_toward_a_keeps_b_numbering_and_rewriter_offsets() -> None:
    """Toward a, after a rewriter changed b's timeline: offsets are honoured."""
    call = Call(a_pt=101, b_pt=None)
    call.stream.b_to_a = RtpRewriter(seq_offset=1000, ts_offset=50)
    stream = call.stream
    for seq in (1, 2):
        stream.rtp_from_b(call.b.site.protect_rtp(audio(seq, ssrc=7)), SITE_B, 3.0)
    for item in stream.digit_packets("a", "B", duration_ms=40, now=3.0):
        stream.send_event_packet("a", item.packet)
    stream.rtp_from_b(call.b.site.protect_rtp(audio(3, ssrc=7)), SITE_B, 3.1)
    headers = [parse_header(p) for p in call.a.received]
    assert [h.sequence for h in headers] == list(range(1001, 1007))
    assert {h.ssrc for h in headers} == {7}
    assert {h.timestamp for h in headers[2:5]} == {2 * 160 + 50}


def test_re_invite_changes_telephone_event_types() -> None:
    """replace_leg reads the new leg's type: b gains telephone-event."""
    call = Call(a_pt=101, b_pt=None)
    call.from_a(press("2", seq=1, ts=0))
    assert call.b.received == []
    new_b = call.b.leg("mcu", 96)
    call.stream.replace_leg("b", new_b, 2.0)
    call.from_a(press("3", seq=10, ts=4000))
    assert [parse_header(p).payload_type for p in call.b.received] == [96] * 5
    assert [d[1] for d in call.digits] == ["2", "3"]


def test_echo_detects_and_returns_digits() -> None:
    """An echo leg with telephone-event hears its digits back, and reports them."""
    side = Side(SITE_A)
    found: list[tuple[str, str, int]] = []
    stream = RelayStream(
        a=side.leg("echo", 101),
        b=None,
        now=0.0,
        a_to_b=RtpRewriter(ssrc=0xEC40),
        on_digit=lambda *d: found.append(d),
    )
    for packet in press("8", seq=1, ts=0):
        stream.rtp_from_a(side.site.protect_rtp(packet), SITE_A, 1.0)
    assert found == [("echo", "8", 120)] and len(side.received) == 5
    for item in stream.digit_packets("a", "1", duration_ms=40, now=1.1):
        stream.send_event_packet("a", item.packet)
    assert {parse_header(p).ssrc for p in side.received} == {0xEC40}
    assert [parse_header(p).sequence for p in side.received] == list(range(1, 9))


def test_sequence_shift_matches_the_general_rewriter() -> None:
    """The fast rewriter gives the bytes RtpRewriter gives, in every case."""
    packet = audio(65535)
    fast, slow = SequenceShift(seq_offset=3), RtpRewriter(seq_offset=3)
    assert fast.rewrite(packet) == slow.rewrite(packet)
    assert (fast.last_sequence, fast.last_timestamp) == (2, 65535 * 160)
    fast.ssrc = slow.ssrc = 0x42
    fast.ts_offset = slow.ts_offset = 7
    assert fast.rewrite(packet) == slow.rewrite(packet)
    assert fast.rewrite(b"\x80") == b"\x80"


def test_telephone_event_types_are_checked() -> None:
    """Payload types must fit 7 bits; the send type defaults to the receive one."""
    for pts in ((128, None), (101, -1)):
        with pytest.raises(LocalMediaError):
            MediaLeg(
                crypto=None,
                remote_rtp=None,
                remote_rtcp=None,
                rtcp_mux=False,
                telephone_event_pt=pts[0],
                telephone_event_send_pt=pts[1],
            )
    leg = MediaLeg(
        crypto=None,
        remote_rtp=None,
        remote_rtcp=None,
        rtcp_mux=False,
        telephone_event_pt=101,
    )
    assert leg.telephone_event_send_pt == 101


def test_leg_may_expect_another_type_than_it_sends() -> None:
    """RFC 3264 §6.1: b sends 100 but expects 98; relay and inject with 98."""
    call = Call(a_pt=101, b_pt=None)
    call.stream.replace_leg("b", call.b.leg("mcu", 100, send_pt=98), 1.0)
    call.from_a(press("6", seq=1, ts=0))
    for item in call.stream.digit_packets("b", "6", duration_ms=40, now=1.0):
        call.stream.send_event_packet("b", item.packet)
    assert {parse_header(p).payload_type for p in call.b.received} == {98}
    sent_by_b = [
        p[:1] + bytes([p[1] & 0x80 | 100]) + p[2:] for p in press("3", seq=1, ts=0)
    ]
    for packet in sent_by_b:
        call.stream.rtp_from_b(call.b.site.protect_rtp(packet), SITE_B, 2.0)
    assert [d[:2] for d in call.digits] == [("site", "6"), ("mcu", "3")]
    assert {parse_header(p).payload_type for p in call.a.received} == {101}
