"""H.245 on a separate TCP connection (H.323 sections 8.2.3, 8.2.4 and 8.5).

The H.323 MCU peer (``tests/interop/peers/h323_peer.py``) refuses H.245
tunnelling and gives an h245Address in Alerting or Connect, or in Facility
startH245 after Connect; or the gateway's outgoing leg offers its own
h245Address in Setup and the peer connects there.  Either way the call must
come up with RTP both ways, DTMF must arrive as userInputIndication on that
connection, and clearing the call must close it.  tshark captures both TCP
connections; it finds the H.245 connection from the h245Address (no Decode
As), and every H.225.0 and H.245 PDU must be dissected with no malformed
frame and no expert warning.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.app.h323_leg import H323CallOut
from gateway.b2bua.events import Alerting, Release
from gateway.h323.call_messages import Released, SetupReceived
from gateway.h323.codec import TransportAddress
from tests.interop.capture import Capture
from tests.interop.conftest import GatewayFactory
from tests.interop.harness import REPO, free_port
from tests.interop.peers.h323_peer import NonTunnellingCall
from tests.interop.pjsua_peer import CALLER_MEDIA_PORT, Site, call_records
from tests.interop.sipp_trunk import free_media_port
from tests.interop.test_h323_leg import (
    LOOPBACK,
    Leg,
    PeerProcess,
    _StructLog,
    audio_address,
    next_answer,
)
from tests.interop.test_h323_trunk import mcu_gateway

pytestmark = pytest.mark.interop

# What the gateway must send on the H.245 connection, by tshark's names.
COMMON_H245 = {
    "terminalCapabilitySet",
    "terminalCapabilitySetAck",
    "masterSlaveDetermination",
    "masterSlaveDeterminationAck",
    "userInput",
    "endSessionCommand",
}
SLOW_START_H245 = {"openLogicalChannel", "openLogicalChannelAck"}


class SeparatePeer(PeerProcess):
    """The MCU peer with ``--h245 separate|facility`` on a known H.245 port."""

    def __init__(
        self,
        directory: Path,
        *,
        mode: str,
        h245: str,
        options: tuple[str, ...] = (),
        hold_s: float = 30.0,
        rtp_port: int | None = None,
    ) -> None:
        self.port = free_port()
        self.h245_port = free_port()
        self.rtp_port = rtp_port or free_port(socket.SOCK_DGRAM)
        name = f"{mode}-{h245}"
        self.log_path = directory / f"h323-peer-{name}.log"
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
            f"--h245={h245}",
            f"--h245-port={self.h245_port}",
            "--lifetime=40",
            f"--log={self.log_path}",
            *options,
        ]
        self.stderr_path = directory / f"h323-peer-{name}.stderr"
        with self.stderr_path.open("w", encoding="utf-8") as stderr:
            self.process = subprocess.Popen(
                command, cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True
            )
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_event("listening")

    def events_until_exit(self) -> list[dict[str, Any]]:
        """Every event left, up to the peer's exit line."""
        found = []
        while True:
            event = self.wait_event_any()
            found.append(event)
            if event["event"] == "exit":
                return found

    def wait_event_any(self, timeout_s: float = 10.0) -> dict[str, Any]:
        if self.seen:
            return self.seen.pop(0)
        return self.events.get(timeout=timeout_s)


def check_capture(
    capture: Capture,
    *,
    h225_port: int,
    h245_port: int,
    is_gateway_listening: bool = False,
    is_slow_start: bool,
) -> None:
    """The H.245 connection as tshark sees it from the H.225.0 h245Address.

    ``h245_port`` is the listening end of the H.245 connection: the peer's,
    or the gateway's when ``is_gateway_listening``.  No H.225.0 or H.245
    frame may be malformed or carry an expert warning (nor any frame an
    error); nothing is tunnelled; the gateway's H.245 PDUs are the
    procedures meant; both TCP connections end with FIN both ways, no reset.
    Only frames of these two connections count: other tests run alongside.
    """
    ours = f"(tcp.port == {h225_port} || tcp.port == {h245_port})"
    bad = capture.values(
        "frame.number",
        "_ws.col.Info",
        display_filter=(
            f'{ours} && (((h225 || h245) && _ws.expert.severity >= "Warning")'
            ' || _ws.malformed || _ws.expert.severity >= "Error")'
        ),
    )
    assert bad == []
    control = capture.values(
        "frame.number", display_filter=f"{ours} && h225.h245Control"
    )
    assert control == []
    h225 = capture.values(
        "h225.h323_message_body",
        "h225.h245Tunnelling",
        "h225.h245IpPort",
        display_filter=f"{ours} && h225",
    )
    # h323-message-body 0 is Setup: it tunnels unless it offers our address;
    # after it nothing does (the callee refuses, H.323 section 8.2.1).
    tunnelling = [
        (body, flag)
        for bodies, flags, _ in h225
        for body, flag in zip(bodies.split(","), flags.split(","), strict=True)
    ]
    setup_flag = "0" if is_gateway_listening else "1"
    assert tunnelling[0] == ("0", setup_flag), tunnelling
    assert len(tunnelling) >= 4 and {f for _, f in tunnelling[1:]} == {"0"}
    assert str(h245_port) in {port for row in h225 for port in row[2].split(",")}
    direction = "srcport" if is_gateway_listening else "dstport"
    infos = capture.values(
        "_ws.col.Info", display_filter=f"h245 && tcp.{direction} == {h245_port}"
    )
    sent = {word for (info,) in infos for word in info.split() if word[0] != "("}
    expected = COMMON_H245 | (SLOW_START_H245 if is_slow_start else set())
    assert expected <= sent, sent
    if not is_slow_start:
        assert not SLOW_START_H245 & sent  # Fast Start opened the channels.
    fins = capture.values(
        "tcp.stream", "tcp.srcport", display_filter=f"tcp.flags.fin == 1 && {ours}"
    )
    assert len({(stream, source) for stream, source in fins}) == 4, fins
    resets = capture.values(
        "frame.number", display_filter=f"tcp.flags.reset == 1 && {ours}"
    )
    assert resets == []


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[list[SeparatePeer]]:
    """Started peers, stopped by PID after the test; their exit must be 0."""
    started: list[SeparatePeer] = []
    yield started
    for peer in started:
        code = peer.stop()
        assert code == 0, peer.stderr_path.read_text(encoding="utf-8")


class SeparateLeg(Leg):
    """The test_h323_leg Leg, optionally offering our own h245Address."""

    def __init__(
        self, peer: PeerProcess, *, fast_start: bool, offer_h245_address: bool
    ) -> None:
        super().__init__(peer, fast_start=fast_start)
        self.call = H323CallOut(
            address=(LOOPBACK, peer.port),
            dialled="1001",
            calling_number="8400",
            offer=self.call.offer,
            on_event=self.events.put_nowait,
            log=_StructLog(),
            fast_start=fast_start,
            offer_h245_address=offer_h245_address,
        )


async def answered(leg: SeparateLeg) -> tuple[str, int]:
    """Start the call; Alerting, then an Answer whose audio address is returned."""
    await leg.call.start()
    assert isinstance(await leg.next_event(), Alerting)
    answer = await next_answer(leg)
    assert answer.sdp is not None
    return audio_address(answer.sdp)


def run_call(
    peer: SeparatePeer, *, fast_start: bool, offer_h245_address: bool = False
) -> int | None:
    """Answer, RTP echo, DTMF, our release; the port of our H.245 listener."""
    listening: list[int] = []

    async def scenario() -> None:
        leg = SeparateLeg(
            peer, fast_start=fast_start, offer_h245_address=offer_h245_address
        )
        address = await answered(leg)
        assert address == (LOOPBACK, peer.rtp_port)
        assert await leg.echo(address, 20) >= 18
        link = leg.call.h245_link
        assert link is not None and link.is_connected
        if offer_h245_address:
            listening.append(link.address.port)
        leg.call.send_user_input("42#")
        assert peer.wait_event("user_input")["digits"] == "42#"
        leg.call.release(16)
        await asyncio.wait_for(leg.call.wait_closed(), 5)
        assert link.is_closed and link.error is None
        assert leg.events.empty()  # Our own release reports nothing.
        leg.rtp.close()

    asyncio.run(scenario())
    return listening[0] if listening else None


def check_peer_saw_our_release(peer: SeparatePeer) -> list[dict[str, Any]]:
    """endSessionCommand, Release Complete 16, the H.245 connection closed."""
    assert peer.wait_event("end_session")["by_caller"] is True
    released = peer.wait_event("released")
    assert released["cause"] == 16 and released["is_local"] is False
    assert released["packets"] >= 18
    rest = peer.events_until_exit()
    closed = [e for e in rest if e["event"] == "h245_closed"]
    assert len(closed) == 1 and closed[0]["error"] is None, closed
    assert peer.process.wait(timeout=10) == 0
    return rest


@pytest.mark.parametrize(
    ("mode", "h245", "options", "is_captured"),
    [
        ("slowstart", "separate", (), True),
        ("slowstart", "separate", ("--h245-early",), False),
        ("slowstart", "facility", (), True),
        ("faststart", "separate", (), False),
    ],
    ids=["slow-connect", "slow-alerting", "slow-facility", "fast-connect"],
)
def test_leg_runs_h245_on_the_callees_connection(
    mode: str,
    h245: str,
    options: tuple[str, ...],
    is_captured: bool,
    peers: list[SeparatePeer],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """The callee refuses tunnelling; its h245Address carries the whole H.245.

    Wherever the address comes (Connect, Alerting, Facility startH245), the
    leg connects to it, negotiates (slow start) or only exchanges
    capabilities (Fast Start), sends DTMF there and, on release, sends
    endSessionCommand and Release Complete and closes both connections.
    (tshark checks Fast Start with a separate connection in the two tests
    below; two captures here keep the file's run time down.)
    """
    peer = SeparatePeer(tmp_path, mode=mode, h245=h245, options=options)
    peers.append(peer)
    capture = None
    if is_captured:
        capture = Capture(
            tmp_path / "separate.pcapng",
            f"tcp port {peer.port} or tcp port {peer.h245_port}",
        )
        request.addfinalizer(capture.stop)
    run_call(peer, fast_start=True)
    setup = peer.wait_event("setup")
    assert setup["fast_start"] is (mode == "faststart")
    connected = peer.wait_event("h245_connected")
    assert connected["local"][1] == peer.h245_port
    check_peer_saw_our_release(peer)
    if capture is None:
        return
    capture.stop()
    check_capture(
        capture,
        h225_port=peer.port,
        h245_port=peer.h245_port,
        is_slow_start=mode == "slowstart",
    )
    if h245 == "facility":
        startH245 = f"tcp.port == {peer.port} && h225.startH245_element"
        assert capture.values("frame.number", display_filter=startH245)


@pytest.mark.parametrize("mode", ["slowstart", "faststart"])
def test_leg_offers_its_own_h245_address(
    mode: str,
    peers: list[SeparatePeer],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """offer_h245_address: Setup refuses tunnelling and names our listener.

    The peer connects to that address instead of offering its own; H.245
    then runs as above, with the gateway listening.
    """
    peer = SeparatePeer(tmp_path, mode=mode, h245="separate")
    peers.append(peer)
    # Our listener's port is ephemeral: capture loopback TCP, filter later.
    capture = Capture(tmp_path / "offer.pcapng", "tcp")
    request.addfinalizer(capture.stop)
    listening = run_call(peer, fast_start=mode == "faststart", offer_h245_address=True)
    assert listening is not None
    assert peer.wait_event("h245_connecting")["port"] == listening
    assert peer.wait_event("h245_connected")["peer"][1] == listening
    check_peer_saw_our_release(peer)
    capture.stop()
    check_capture(
        capture,
        h225_port=peer.port,
        h245_port=listening,
        is_gateway_listening=True,
        is_slow_start=mode == "slowstart",
    )


def test_peer_clearing_with_end_session_gives_release_16(
    peers: list[SeparatePeer], tmp_path: Path
) -> None:
    """The peer's endSessionCommand, Release Complete and close: Release(16)."""
    peer = SeparatePeer(tmp_path, mode="slowstart", h245="separate", hold_s=1.0)
    peers.append(peer)

    async def scenario() -> None:
        leg = SeparateLeg(peer, fast_start=False, offer_h245_address=False)
        await answered(leg)
        release = await leg.next_event(timeout_s=5.0)
        assert isinstance(release, Release) and release.cause == 16
        await asyncio.wait_for(leg.call.wait_closed(), 5)
        link = leg.call.h245_link
        assert link is not None and link.is_closed
        leg.rtp.close()

    asyncio.run(scenario())
    released = peer.wait_event("released")
    assert released["is_local"] is True and released["cause"] == 16


def test_h245_connection_closing_ends_the_call(
    peers: list[SeparatePeer], tmp_path: Path
) -> None:
    """H.323 8.2.4: the callee closing H.245 alone makes the leg clear the call.

    The leg reports Release(16, "H.245 connection closed") and sends Release
    Complete, which the peer receives before its own grace time ends.
    """
    peer = SeparatePeer(
        tmp_path, mode="faststart", h245="separate", options=("--h245-drop=0.5",)
    )
    peers.append(peer)

    async def scenario() -> None:
        leg = SeparateLeg(peer, fast_start=True, offer_h245_address=False)
        await answered(leg)
        release = await leg.next_event(timeout_s=5.0)
        assert isinstance(release, Release), release
        assert release.cause == 16 and release.reason == "H.245 connection closed"
        await asyncio.wait_for(leg.call.wait_closed(), 5)
        leg.rtp.close()

    asyncio.run(scenario())
    peer.wait_event("h245_dropped")
    released = peer.wait_event("released")
    assert released["is_local"] is False and released["cause"] == 16


def test_unreachable_h245_address_clears_a_slow_start_call(tmp_path: Path) -> None:
    """No listener at the callee's h245Address: Release(41) and Release Complete.

    A slow-start call has no media without H.245, so the leg clears it with
    cause 41 (temporary failure).  The callee is an in-process H.225.0 stub.
    """
    dead_port = free_port()  # Bound then closed: nothing listens there.
    seen: list[Any] = []

    async def callee(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        call = NonTunnellingCall(is_outgoing=False)
        while not call.is_released:
            data = await asyncio.wait_for(reader.read(65536), 5)
            now = time.monotonic()
            if not data:
                call.receive_eof(now)
                break
            call.receive_data(data, now)
            for event in call.pop_events():
                seen.append(event)
                if isinstance(event, SetupReceived):
                    address = TransportAddress(host=LOOPBACK, port=dead_port)
                    call.alerting(now)
                    call.connect(now, h245_address=address)
            writer.write(b"".join(call.pop_outgoing()))
        seen.extend(call.pop_events())
        writer.close()

    async def scenario() -> None:
        server = await asyncio.start_server(callee, LOOPBACK, 0)
        port = server.sockets[0].getsockname()[1]
        leg = SeparateLeg(
            SimpleNamespace(port=port), fast_start=False, offer_h245_address=False
        )
        await leg.call.start()
        assert isinstance(await leg.next_event(), Alerting)
        release = await leg.next_event()
        assert isinstance(release, Release), release
        assert release.cause == 41 and release.reason == "H.245 connection failed"
        await asyncio.wait_for(leg.call.wait_closed(), 5)
        server.close()
        leg.rtp.close()

    asyncio.run(scenario())
    (released,) = [e for e in seen if isinstance(e, Released)]
    assert released.cause == 41 and released.is_local is False


@pytest.mark.parametrize(
    ("mode", "h245"),
    [("slowstart", "separate"), ("faststart", "facility")],
)
def test_site_calls_h323_mcu_with_separate_h245(
    make_gateway: GatewayFactory,
    peers: list[SeparatePeer],
    tmp_path: Path,
    request: pytest.FixtureRequest,
    mode: str,
    h245: str,
) -> None:
    """A pjsua2 SRTP site calls through the gateway; H.245 on its own connection.

    RTP flows both ways (the MCU echoes), SIP INFO DTMF arrives as
    userInputIndication on the H.245 connection, and the site's BYE gives
    the MCU endSessionCommand and Release Complete; both TCP connections
    close, and tshark dissects every H.225.0 and H.245 PDU cleanly.
    """
    peer = SeparatePeer(tmp_path, mode=mode, h245=h245, rtp_port=free_media_port())
    peers.append(peer)
    capture = Capture(
        tmp_path / "gateway.pcapng",
        f"tcp port {peer.port} or tcp port {peer.h245_port}",
    )
    request.addfinalizer(capture.stop)

    gateway = mcu_gateway(make_gateway, peer.port)
    site = Site(
        gateway,
        "xa-h323",
        "register,call:66123,wait:2,dtmf:5,wait:1,stats,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        confirmed = site.wait_for("call", state="confirmed")
        stats = site.wait_for("stats")
        site.wait_for("call", state="disconnected")
        setup = peer.wait_event("setup")
        peer.wait_event("h245_connected")
        user_input = peer.wait_event("user_input")
        end_session = peer.wait_event("end_session")
        released = peer.wait_event("released")
        rest = peer.events_until_exit()
    finally:
        site.finish()
        code = peer.stop()
    assert code == 0
    assert confirmed["status"] == 200
    assert setup["called"] == "66123"
    assert setup["fast_start"] is (mode == "faststart")
    assert stats["rx_packets"] > 100, stats  # The MCU echoes what it receives.
    assert user_input["digits"] == "5"  # SIP INFO DTMF -> userInputIndication.
    assert end_session["by_caller"] is True
    assert released["cause"] == 16 and released["is_local"] is False
    closed = [e for e in rest if e["event"] == "h245_closed"]
    assert len(closed) == 1 and closed[0]["error"] is None, closed
    (record,) = call_records(gateway)
    _, callee = record["legs"]
    assert callee["protocol"] == "h323"
    assert callee["packets_in"] > 100 and callee["packets_out"] > 100
    capture.stop()
    check_capture(
        capture,
        h225_port=peer.port,
        h245_port=peer.h245_port,
        is_slow_start=mode == "slowstart",
    )
