"""RFC 4733 DTMF through the media relay on real UDP sockets with real libsrtp.

A SIP site (SRTP, telephone-event 101) and an H.323-like leg (clear RTP, no
telephone-event) are bridged by a MediaRelay. Key presses the site sends as
telephone-event packets must reach ``on_digit`` exactly once each (lost end
packets included) and never reach the H.323 leg; digits injected toward the
site must arrive as valid RFC 4733 packets, SRTP-protected, continuing the
sequence numbers and timeline of the relayed audio. On a clear-RTP leg,
tshark must dissect the injected packets as RTP events.
"""

from __future__ import annotations

import asyncio
import struct
import subprocess
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import structlog
import structlog.testing

from gateway.app.media_io import MediaRelay
from gateway.media.errors import LocalMediaError
from gateway.media.relay import MediaLeg
from gateway.media.rtp import RtpHeader, parse_header, payload_offset
from gateway.media.telephone_event import (
    TelephoneEvent,
    TelephoneEventDetector,
    generate_digit,
    parse_event,
)
from gateway.srtp.session import SrtpLeg
from tests.interop.capture import live_capture
from tests.interop.harness import require_tools
from tests.interop.test_media_relay import HOST, SUITE, Peer, key, peer, run

pytestmark = pytest.mark.interop

TE_PT = 101
SITE_SSRC = 0x517E0001
H323_SSRC = 0x0323A0D1


def audio(seq: int, ssrc: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + b"\xff" * 160


class Endpoint:
    """A fake endpoint: RTP/RTCP sockets, optional SRTP keys, optional 4733."""

    def __init__(self, rtp: Peer, rtcp: Peer, *, secure: bool) -> None:
        self.rtp, self.rtcp = rtp, rtcp
        self.own_key, self.gateway_key = key(), key()
        self.crypto = None
        if secure:
            self.crypto = SrtpLeg(
                suite=SUITE,
                local_key_salt=self.own_key,
                remote_key_salt=self.gateway_key,
            )

    def leg(self, label: str, te_pt: int | None) -> MediaLeg:
        crypto = None
        if self.crypto is not None:
            crypto = SrtpLeg(
                suite=SUITE,
                local_key_salt=self.gateway_key,
                remote_key_salt=self.own_key,
            )
        return MediaLeg(
            crypto=crypto,
            remote_rtp=self.rtp.address,
            remote_rtcp=self.rtcp.address,
            rtcp_mux=False,
            label=label,
            clock_rate=8000,
            telephone_event_pt=te_pt,
        )

    def send(self, packet: bytes, to: tuple[str, int]) -> None:
        self.rtp.send(
            packet if self.crypto is None else self.crypto.protect_rtp(packet), to
        )

    def drain(self) -> list[bytes]:
        """Everything received so far, decrypted."""
        out = []
        while not self.rtp.inbox.empty():
            data, _ = self.rtp.inbox.get_nowait()
            out.append(data if self.crypto is None else self.crypto.unprotect_rtp(data))
        return out


async def endpoint(*, secure: bool) -> Endpoint:
    return Endpoint(await peer(), await peer(), secure=secure)


def new_relay() -> MediaRelay:
    # MediaRelay takes a range; ports another process holds are skipped.
    return MediaRelay(
        bind_host=HOST, port_min=26000, port_max=26999, log=structlog.get_logger("test")
    )


def run_with_relay(test: Callable[[MediaRelay], Coroutine[Any, Any, None]]) -> None:
    """Run ``test`` with a fresh relay, closed whatever happens."""

    async def main() -> None:
        relay = new_relay()
        try:
            await test(relay)
        finally:
            relay.close()

    run(main)


def press(digit: str, *, seq: int, ts: int, duration_ms: int = 120) -> list[bytes]:
    return [
        p.packet
        for p in generate_digit(
            digit=digit,
            duration_ms=duration_ms,
            payload_type=TE_PT,
            ssrc=SITE_SSRC,
            sequence=seq,
            timestamp=ts,
        )
    ]


def events(packets: list[bytes]) -> list[tuple[RtpHeader, TelephoneEvent]]:
    return [
        (parse_header(p), parse_event(p[payload_offset(p) :]))
        for p in packets
        if parse_header(p).payload_type == TE_PT
    ]


def test_site_key_presses_give_one_digit_each_and_stay_off_the_h323_leg() -> None:
    """Ends seen, ends lost before the next press, ends lost at the end: once each."""

    async def body(relay: MediaRelay) -> None:
        site, h323 = await endpoint(secure=True), await endpoint(secure=False)
        ea, eb = await relay.allocate(), await relay.allocate()
        digits: list[tuple[str, str, int, float]] = []
        relay.bridge(
            ea,
            site.leg("caller", TE_PT),
            eb,
            h323.leg("callee", None),
            on_digit=lambda *d: digits.append((*d, time.monotonic())),
        )
        to_relay = (HOST, ea.rtp_port)
        seq = 1
        sent_audio = 0

        async def send(packets: list[bytes]) -> None:
            nonlocal seq
            for packet in packets:
                site.send(packet, to_relay)
                seq += 1
                await asyncio.sleep(0.005)

        def talk(count: int) -> list[bytes]:
            nonlocal sent_audio
            sent_audio += count
            return [audio(seq + i, SITE_SSRC) for i in range(count)]

        await send(talk(5))
        await send(press("1", seq=seq, ts=seq * 160))  # Clean press.
        await send(talk(3))
        await send(press("#", seq=seq, ts=seq * 160)[:-3])  # Ends all lost...
        await send(press("9", seq=seq, ts=seq * 160))  # ...reported here.
        await send(talk(3))
        last = press("5", seq=seq, ts=seq * 160, duration_ms=200)[:-3]
        await send(last)  # Ends lost and no next press: the timer reports it.
        sent_at = time.monotonic()
        await send(talk(2))
        deadline = time.monotonic() + 3.0
        while len(digits) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.8)  # Anything more would be a double report.
        assert [d[:3] for d in digits] == [
            ("caller", "1", 120),
            ("caller", "#", 100),
            ("caller", "9", 120),
            ("caller", "5", 150),
        ]
        assert 0.4 < digits[3][3] - sent_at < 1.0  # The 0.5 s end timeout.
        got = h323.drain()
        headers = [parse_header(p) for p in got]
        assert len(got) == sent_audio and {h.payload_type for h in headers} == {0}
        first = headers[0].sequence
        assert [h.sequence for h in headers] == list(range(first, first + sent_audio))

    run_with_relay(body)


def test_injected_digits_reach_the_site_as_srtp_rfc_4733_in_the_relayed_stream() -> (
    None
):
    """Same SSRC as the relayed audio, no sequence gap, timestamps on its clock."""

    async def body(relay: MediaRelay) -> None:
        site, h323 = await endpoint(secure=True), await endpoint(secure=False)
        ea, eb = await relay.allocate(), await relay.allocate()
        stream = relay.bridge(
            ea, site.leg("caller", TE_PT), eb, h323.leg("callee", None)
        )
        sending = True

        async def talk() -> int:
            seq = 1
            while sending and seq < 400:  # Bounded: 8 s of audio at most.
                h323.send(audio(seq, H323_SSRC), (HOST, eb.rtp_port))
                seq += 1
                await asyncio.sleep(0.02)
            return seq - 1

        talker = asyncio.create_task(talk())
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await asyncio.wait_for(stream.send_digits("a", "5#", duration_ms=120), 5)
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.1)
        sending = False
        sent = await talker
        await asyncio.sleep(0.1)
        arrivals = []
        while not site.rtp.inbox.empty():
            data, _ = site.rtp.inbox.get_nowait()
            assert site.crypto is not None
            arrivals.append((time.monotonic(), site.crypto.unprotect_rtp(data)))
        got = [p for _, p in arrivals]
        headers = [parse_header(p) for p in got]
        # One stream: the H.323 SSRC, consecutive sequence numbers.
        assert {h.ssrc for h in headers} == {H323_SSRC}
        first = headers[0].sequence
        assert [h.sequence for h in headers] == list(range(first, first + len(got)))
        audio_headers = [h for h in headers if h.payload_type == 0]
        assert len(audio_headers) == sent
        assert [h.timestamp for h in audio_headers] == [
            n * 160 for n in range(1, sent + 1)
        ]
        presses = events(got)
        assert len(presses) == 10
        for digit, chunk in zip((5, 11), (presses[:5], presses[5:]), strict=True):
            assert [h.marker for h, _ in chunk] == [True] + [False] * 4
            assert {(e.event, e.volume) for _, e in chunk} == {(digit, 10)}
            assert [(e.is_end, e.duration) for _, e in chunk] == [
                (False, 400),
                (False, 800),
                (True, 960),
                (True, 960),
                (True, 960),
            ]
            # The press starts on the audio timeline, "now" when planned: the
            # first event packet goes out 50 ms (400 units) later, after the
            # audio packet relayed just before it.
            stamp = chunk[0][0].timestamp
            before = max(
                h.timestamp for h in audio_headers if h.sequence < chunk[0][0].sequence
            )
            assert before - 400 - 3 * 160 <= stamp <= before + 160
            assert len({h.timestamp for h, _ in chunk}) == 1
        # What the relay's own detector makes of what the site received.
        detector = TelephoneEventDetector()
        for packet in got:
            if parse_header(packet).payload_type == TE_PT:
                detector.receive_packet(packet, 0.0)
        assert [(d.digit, d.duration_ms) for d in detector.pop_events()] == [
            ("5", 120),
            ("#", 120),
        ]
        # Paced, not burst: two presses of 120 ms plus end repeats and gaps.
        assert 0.6 < elapsed < 2.0
        assert stream.a.counters.events_injected == 10

    run_with_relay(body)


RTPEVENT_FIELDS = [
    "rtp.seq",
    "rtp.marker",
    "rtp.p_type",
    "rtp.ssrc",
    "rtpevent.event_id",
    "rtpevent.end_of_event",
    "rtpevent.duration",
]


def rtpevent_rows(path: Path, port: int) -> list[list[str]]:
    """RTP (decoded as such on ``port``) with PT 101 as RTP events, per frame."""
    arguments = ["-d", f"udp.port=={port},rtp", "-d", f"rtp.pt=={TE_PT},rtpevent"]
    for name in RTPEVENT_FIELDS:
        arguments += ["-e", name]
    result = subprocess.run(
        ["tshark", "-r", str(path), *arguments[:4], "-T", "fields", *arguments[4:]],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [line.split("\t") for line in result.stdout.splitlines() if line]


def test_injected_digit_on_clear_rtp_is_an_rtp_event_for_tshark(tmp_path: Path) -> None:
    """tshark decodes the injected packets: event 7, E bits, durations, seq."""
    require_tools(["tshark"])
    path = tmp_path / "dtmf.pcapng"

    async def body(site: Endpoint, other: Endpoint, relay: MediaRelay) -> None:
        ea, eb = await relay.allocate(), await relay.allocate()
        stream = relay.bridge(
            ea, site.leg("caller", TE_PT), eb, other.leg("callee", TE_PT)
        )
        for seq in range(1, 4):
            other.send(audio(seq, H323_SSRC), (HOST, eb.rtp_port))
            await asyncio.sleep(0.02)
        await asyncio.wait_for(stream.send_digits("a", "7", duration_ms=120), 5)
        other.send(audio(4, H323_SSRC), (HOST, eb.rtp_port))
        await asyncio.sleep(0.1)
        relay.close()

    async def main() -> None:
        site, other = await endpoint(secure=False), await endpoint(secure=False)
        port = site.rtp.address[1]
        relay = new_relay()
        with live_capture(path, f"udp dst port {port}"):
            try:
                await body(site, other, relay)
            finally:
                relay.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(rtpevent_rows(path, port)) < 9:
                await asyncio.sleep(0.2)  # dumpcap writes in blocks.
        rows = rtpevent_rows(path, port)
        assert len(rows) == 9, rows
        assert [int(r[0]) for r in rows] == list(range(1, 10))
        assert {r[3] for r in rows} == {f"0x{H323_SSRC:08x}"}
        events_ = [r for r in rows if r[2] == str(TE_PT)]
        assert [(r[1], r[4], r[5], r[6]) for r in events_] == [
            ("1", "7", "0", "400"),
            ("0", "7", "0", "800"),
            ("0", "7", "1", "960"),
            ("0", "7", "1", "960"),
            ("0", "7", "1", "960"),
        ]

    run(main)


def test_bad_requests_refused_failing_callback_contained_release_cancels() -> None:
    """Refusals are immediate; a raising on_digit is logged; release stops digits."""

    async def body(relay: MediaRelay) -> None:
        site, h323 = await endpoint(secure=True), await endpoint(secure=False)
        ea, eb = await relay.allocate(), await relay.allocate()
        calls: list[str] = []

        def on_digit(label: str, digit: str, duration_ms: int) -> None:
            calls.append(digit)
            raise RuntimeError("bug in the B2BUA")

        stream = relay.bridge(
            ea,
            site.leg("caller", TE_PT),
            eb,
            h323.leg("callee", None),
            on_digit=on_digit,
        )
        for toward, digits, duration_ms in (
            ("b", "1", 100),  # The H.323 leg has no telephone-event type.
            ("a", "1x", 100),
            ("a", "", 100),
            ("a", "1", 9000),  # Longer than one 16-bit segment.
            ("c", "1", 100),
        ):
            with pytest.raises(LocalMediaError):
                stream.send_digits(toward, digits, duration_ms=duration_ms)
        to_relay = (HOST, ea.rtp_port)
        packets = [
            *press("1", seq=1, ts=0),
            *press("2", seq=6, ts=4000),
            audio(11, SITE_SSRC),
        ]
        with structlog.testing.capture_logs() as logs:
            for packet in packets:
                site.send(packet, to_relay)
            got = await h323.rtp.receive()
        failures = [e for e in logs if e["event"] == "media.dtmf.callback_failed"]
        assert len(failures) == 2 and failures[0]["leg"] == "caller"
        assert parse_header(got).sequence == 1  # Audio flows; events dropped.
        assert calls == ["1", "2"]
        task = stream.send_digits("a", "123", duration_ms=200)
        await asyncio.sleep(0.12)
        relay.release(ea)
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.3)
        received = site.drain()
        assert 1 <= len(events(received)) <= 3  # Only the first updates.

    run_with_relay(body)
