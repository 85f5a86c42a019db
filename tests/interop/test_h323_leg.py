"""The gateway's outgoing H.323 leg against a real H.323 endpoint process.

``tests/interop/peers/h323_peer.py`` plays an MCU on loopback, built on our
sans-IO machines over real sockets; :class:`H323CallOut` calls it with Fast
Start or tunnelled H.245.  The test's UDP socket stands in for the media
relay: the offer points at it, and the peer's RTP echo must come back to it.
tshark captures the call signalling and must dissect it cleanly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app.h323_leg import H323CallOut
from gateway.b2bua.events import Alerting, Answer, CallEvent, Progress, Release
from gateway.sdp.model import SessionDescription
from gateway.sdp.parse import parse_sdp
from gateway.sdp.serialize import serialize_sdp
from tests.interop.capture import Capture
from tests.interop.harness import REPO, free_port

pytestmark = pytest.mark.interop

LOOPBACK = "127.0.0.1"
OLC_ACK = "h245.openLogicalChannelAck_element"
LOG = logging.getLogger("h323_leg_test")


class PeerProcess:
    """The h323_peer process: its JSON events are read by a thread."""

    def __init__(self, directory: Path, *, mode: str, hold_s: float = 30.0) -> None:
        self.port = free_port()
        self.rtp_port = free_port(socket.SOCK_DGRAM)
        self.log_path = directory / f"h323-peer-{mode}.log"
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        command = [
            sys.executable,
            "-m",
            "tests.interop.peers.h323_peer",
            f"--port={self.port}",
            f"--rtp-port={self.rtp_port}",
            f"--hold={hold_s}",
            f"--mode={mode}",
            "--lifetime=30",
            f"--log={self.log_path}",
        ]
        self.stderr_path = directory / f"h323-peer-{mode}.stderr"
        with self.stderr_path.open("w", encoding="utf-8") as stderr:
            self.process = subprocess.Popen(
                command, cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True
            )
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_event("listening")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def wait_event(self, name: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """The next event called ``name``; earlier ones are kept in ``seen``."""
        for event in self.seen:
            if event["event"] == name:
                self.seen.remove(event)
                return event
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"peer never printed {name}; saw {self.seen}"
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if event["event"] == name:
                return event
            self.seen.append(event)

    def stop(self) -> int:
        """SIGTERM the peer by PID if it still runs; its exit code."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout=5)


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[list[PeerProcess]]:
    """Started peers, stopped by PID after the test; their exit must be 0."""
    started: list[PeerProcess] = []
    yield started
    for peer in started:
        code = peer.stop()
        assert code == 0, peer.stderr_path.read_text(encoding="utf-8")


def offer_for(rtp_port: int, audio: str = "8 0 101") -> SessionDescription:
    """The relay's plain RTP offer: G.711 and DTMF audio plus H.263 video."""
    text = (
        "v=0\r\n"
        "o=vcgw 1 1 IN IP4 127.0.0.1\r\n"
        "s=-\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "t=0 0\r\n"
        f"m=audio {rtp_port} RTP/AVP {audio}\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=sendrecv\r\n"
        f"m=video {rtp_port + 2} RTP/AVP 34\r\n"
        "a=rtpmap:34 H263/90000\r\n"
        "a=sendrecv\r\n"
    )
    return parse_sdp(text.encode())


class Leg:
    """An H323CallOut with its events in a queue, and the relay's socket."""

    def __init__(
        self, peer: PeerProcess, *, fast_start: bool, audio: str = "8 0 101"
    ) -> None:
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((LOOPBACK, 0))
        self.rtp.setblocking(False)
        self.events: asyncio.Queue[CallEvent] = asyncio.Queue()
        self.call = H323CallOut(
            address=(LOOPBACK, peer.port),
            dialled="1001",
            calling_number="8400",
            offer=offer_for(self.rtp.getsockname()[1], audio),
            on_event=self.events.put_nowait,
            log=_StructLog(),
            fast_start=fast_start,
        )

    async def next_event(self, timeout_s: float = 10.0) -> CallEvent:
        return await asyncio.wait_for(self.events.get(), timeout_s)

    async def echo(self, address: tuple[str, int], count: int) -> int:
        """Send ``count`` RTP packets to ``address``; how many came back."""
        loop = asyncio.get_running_loop()
        received = 0
        for sequence in range(count):
            packet = rtp_packet(sequence)
            await loop.sock_sendto(self.rtp, packet, address)
            try:
                data = await asyncio.wait_for(loop.sock_recv(self.rtp, 2048), 2.0)
            except TimeoutError:
                continue
            received += data == packet
        return received


class _StructLog:
    """Keyword-style logger adapter over stdlib logging (shown on failure)."""

    def _log(self, level: int, event: str, **fields: Any) -> None:
        LOG.log(level, "%s %s", event, fields)

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, **fields)


def rtp_packet(sequence: int) -> bytes:
    """A PCMU RTP packet (RFC 3550 section 5.1) with 160 bytes of payload."""
    header = bytes((0x80, 0)) + sequence.to_bytes(2, "big")
    return (
        header
        + (sequence * 160).to_bytes(4, "big")
        + b"\x12\x34\x56\x78"
        + bytes([0xFF] * 160)
    )


async def answered_call(peer: PeerProcess, *, fast_start: bool) -> tuple[Leg, Answer]:
    """Place the call; expect Alerting then Answer."""
    leg = Leg(peer, fast_start=fast_start)
    await leg.call.start()
    alerting = await leg.next_event()
    assert isinstance(alerting, Alerting)
    return leg, await next_answer(leg)


async def next_answer(leg: Leg) -> Answer:
    """The Answer, after early media when the peer accepted Fast Start in its
    Alerting (H.323 8.1.7.1): that Progress carries the same media."""
    event = await leg.next_event()
    if isinstance(event, Progress):
        assert event.early_media is not None
        early = event.early_media
        event = await leg.next_event()
        assert isinstance(event, Answer) and event.sdp is not None
        assert event.sdp.media == early.media
    assert isinstance(event, Answer) and event.sdp is not None
    return event


def audio_address(sdp: SessionDescription) -> tuple[str, int]:
    """Where the answer says to send audio, checking its m-lines.

    The answer must also survive our own SDP serializer and parser, as the
    call service relays it.
    """
    assert parse_sdp(serialize_sdp(sdp)) == sdp
    assert [m.kind for m in sdp.media] == ["audio", "video"]
    audio, video = sdp.media
    assert audio.proto == "RTP/AVP" and audio.formats == ("0",)
    assert audio.rtpmaps[0].encoding_name == "PCMU"
    assert video.port == 0  # The MCU peer takes audio only.
    connection = sdp.connection_for(0)
    assert connection is not None
    return connection.address, audio.port


@pytest.mark.parametrize("mode", ["faststart", "slowstart"])
def test_call_answers_echoes_and_releases(
    mode: str,
    peers: list[PeerProcess],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Alerting, Answer at the peer's RTP port, RTP echo, then our release.

    Fast start and tunnelled H.245 both give an Answer whose m=audio is the
    peer's G.711 u-law port; RTP sent there comes back to the relay address
    of the offer; user input reaches the peer; release() gives the peer a
    Release Complete with cause 16.  tshark dissects Setup, Alerting, Connect
    and Release Complete with no malformed frame.
    """
    peer = PeerProcess(tmp_path, mode=mode)
    peers.append(peer)
    capture = Capture(tmp_path / f"h323-{mode}.pcapng", f"tcp port {peer.port}")
    request.addfinalizer(capture.stop)

    async def scenario() -> None:
        leg, answer = await answered_call(peer, fast_start=True)
        assert answer.sdp is not None
        assert audio_address(answer.sdp) == (LOOPBACK, peer.rtp_port)
        assert await leg.echo(audio_address(answer.sdp), 20) >= 18
        leg.call.send_user_input("42#")
        assert peer.wait_event("user_input")["digits"] == "42#"
        leg.call.release(16)
        await asyncio.wait_for(leg.call.wait_closed(), 5)
        assert leg.events.empty()  # Our own release reports nothing.
        leg.rtp.close()

    setup_seen = time.monotonic()
    asyncio.run(scenario())
    setup = peer.wait_event("setup")
    assert setup["called"] == "1001" and setup["calling"] == "8400"
    assert setup["fast_start"] is (mode == "faststart")
    released = peer.wait_event("released")
    assert released["cause"] == 16 and released["is_local"] is False
    assert released["packets"] >= 18
    assert peer.process.wait(timeout=10) == 0
    assert time.monotonic() - setup_seen < 20
    capture.stop()
    check_capture(capture)
    # Tunnelled H.245 ran in both modes; only slow start opened channels in it.
    for element in ("terminalCapabilitySet_element", "userInput"):
        assert capture.lines("frame.number", display_filter=f"h245.{element}")
    acks = capture.lines("frame.number", display_filter=OLC_ACK)
    assert len(acks) == (0 if mode == "faststart" else 2)


def check_capture(capture: Capture) -> None:
    """No malformed frame; Setup, Alerting, Connect, Release Complete decoded."""
    malformed = capture.lines(
        "frame.number", display_filter="_ws.malformed || _ws.expert.severity >= error"
    )
    assert malformed == []
    types = capture.lines("q931.message_type", display_filter="q931")
    decoded = {int(value, 16) for line in types for value in line.split(",")}
    assert {0x05, 0x01, 0x07, 0x5A} <= decoded
    bodies = capture.lines("h225.h323_message_body", display_filter="h225")
    names = {value for line in bodies for value in line.split(",")}
    # h323-message-body CHOICE indexes: setup 0, alerting 3, connect 2,
    # releaseComplete 5 (H.225.0 Annex H).
    assert {"0", "2", "3", "5"} <= names


def test_slow_start_when_the_gateway_does_not_propose(
    peers: list[PeerProcess], tmp_path: Path
) -> None:
    """With fast_start=False the peer negotiates by tunnelled H.245 and echoes."""
    peer = PeerProcess(tmp_path, mode="faststart")
    peers.append(peer)

    async def scenario() -> None:
        leg, answer = await answered_call(peer, fast_start=False)
        assert answer.sdp is not None
        address = audio_address(answer.sdp)
        assert address == (LOOPBACK, peer.rtp_port)
        assert await leg.echo(address, 10) >= 9
        leg.call.release(16)
        await asyncio.wait_for(leg.call.wait_closed(), 5)
        leg.rtp.close()

    asyncio.run(scenario())
    assert peer.wait_event("setup")["fast_start"] is False
    assert peer.wait_event("channel_accepted")["number"] >= 1
    assert peer.wait_event("released")["cause"] == 16


def test_peer_hangs_up_after_hold(peers: list[PeerProcess], tmp_path: Path) -> None:
    """The peer's Release Complete (cause 16) becomes Release(cause=16)."""
    peer = PeerProcess(tmp_path, mode="faststart", hold_s=1.0)
    peers.append(peer)

    async def scenario() -> None:
        leg, _ = await answered_call(peer, fast_start=True)
        release = await leg.next_event(timeout_s=5.0)
        assert isinstance(release, Release) and release.cause == 16
        await asyncio.wait_for(leg.call.wait_closed(), 5)
        assert leg.call.is_released
        leg.rtp.close()

    asyncio.run(scenario())
    assert peer.wait_event("released")["is_local"] is True


def test_busy_peer_gives_release_17(peers: list[PeerProcess], tmp_path: Path) -> None:
    """A peer that refuses the Setup with cause 17 gives Release(cause=17)."""
    peer = PeerProcess(tmp_path, mode="busy")
    peers.append(peer)

    async def scenario() -> None:
        leg = Leg(peer, fast_start=True)
        await leg.call.start()
        release = await leg.next_event()
        assert isinstance(release, Release) and release.cause == 17
        await asyncio.wait_for(leg.call.wait_closed(), 5)
        assert leg.events.empty()
        leg.rtp.close()

    asyncio.run(scenario())
    assert peer.wait_event("setup")["called"] == "1001"
    assert peer.wait_event("released")["cause"] == 17


def test_lost_connection_gives_release_41(
    peers: list[PeerProcess], tmp_path: Path
) -> None:
    """The peer process dying mid-call gives Release(cause=41) (H.323 8.5)."""
    peer = PeerProcess(tmp_path, mode="faststart")
    peers.append(peer)

    async def scenario() -> None:
        leg, _ = await answered_call(peer, fast_start=True)
        os.kill(peer.process.pid, signal.SIGKILL)
        release = await leg.next_event()
        assert isinstance(release, Release) and release.cause == 41
        leg.rtp.close()

    asyncio.run(scenario())
    assert peer.process.wait(timeout=10) == -signal.SIGKILL
    peers.remove(peer)


def test_no_common_codec_gives_release_88(
    peers: list[PeerProcess], tmp_path: Path
) -> None:
    """An offer of PCMA only against a PCMU-only MCU clears with cause 88.

    The capability exchange over tunnelled H.245 shows no codec in common,
    so the leg sends Release Complete (incompatible destination) and reports
    Release(cause=88) after Alerting, never an Answer.
    """
    peer = PeerProcess(tmp_path, mode="slowstart")
    peers.append(peer)

    async def scenario() -> None:
        leg = Leg(peer, fast_start=False, audio="8 101")
        await leg.call.start()
        assert isinstance(await leg.next_event(), Alerting)
        release = await leg.next_event()
        assert isinstance(release, Release) and release.cause == 88
        assert leg.call.request_fast_update() is False
        await asyncio.wait_for(leg.call.wait_closed(), 5)
        leg.rtp.close()

    asyncio.run(scenario())
    released = peer.wait_event("released")
    assert released["cause"] == 88 and released["is_local"] is False


def test_peer_sigterm_mid_call_gives_release_16(
    peers: list[PeerProcess], tmp_path: Path
) -> None:
    """SIGTERM makes the peer clear the call: Release(cause=16), clean exit."""
    peer = PeerProcess(tmp_path, mode="slowstart")
    peers.append(peer)

    async def scenario() -> None:
        leg, _ = await answered_call(peer, fast_start=True)
        os.kill(peer.process.pid, signal.SIGTERM)
        release = await leg.next_event()
        assert isinstance(release, Release) and release.cause == 16
        await asyncio.wait_for(leg.call.wait_closed(), 5)
        leg.rtp.close()

    asyncio.run(scenario())
    assert peer.wait_event("released")["is_local"] is True
    assert peer.process.wait(timeout=10) == 0
