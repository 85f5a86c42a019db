"""An H.323 endpoint playing an MCU, as a separate process, for interop tests.

Built on the gateway's sans-IO machines (H225Call, H245Session) over real
asyncio sockets on 127.0.0.1.  It accepts one call on ``--port``:

* ``--mode faststart``: accepts the first G.711 u-law receive and transmit
  proposals of the Setup's fastStart (H.323 section 8.1.7), with its own RTP
  port ``--rtp-port``; a Setup without fastStart falls back to slow start;
* ``--mode slowstart``: ignores fastStart; H.245 (H.323 8.2): TCS and
  MSD, accepts the caller's G.711 channel, opens its own;
* ``--mode busy``: answers Setup with Release Complete, cause 17.

H.245 runs tunnelled (``--h245 tunnel``, the default) or, refusing
tunnelling in every message, on a separate TCP connection (H.323 8.2.3):

* ``--h245 separate``: h245Address of its listener (``--h245-port``, else
  ephemeral) in Connect, or in Alerting with ``--h245-early``;
* ``--h245 facility``: no h245Address in Connect but Facility startH245
  right after it.

With either, a Setup that refuses tunnelling and offers an h245Address makes
the peer connect there instead.  The end of H.245 (endSessionCommand or the
connection closing) clears the call after ``END_GRACE_S`` unless the
caller's Release Complete comes first; the peer's own clearing sends
endSessionCommand, Release Complete, then closes the H.245 connection.
``--h245-drop S`` closes the H.245 connection S seconds after it is up,
without clearing the call.

It sends Alerting then Connect, echoes every RTP packet it receives to the
caller's media address from the OLCs, and prints one JSON line per event on
stdout.  It clears the call with Release Complete on SIGTERM or ``--hold``
seconds after Connect, and exits once the call is over (or after
``--lifetime`` seconds in any case).

    python -m tests.interop.peers.h323_peer --port 1720 --rtp-port 40000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TextIO, cast

from gateway.app.h245_link import H245Link
from gateway.h323 import codec
from gateway.h323.call import H225Call
from gateway.h323.call_messages import Released, SetupReceived, TunnelledH245
from gateway.h323.capabilities import (
    data_type_for,
    format_from_data_type,
    h245_capabilities_from_streams,
)
from gateway.h323.codec import TransportAddress
from gateway.h323.h245 import (
    TERMINAL_TYPE_MCU,
    CapabilitiesReceived,
    ChannelOpened,
    ChannelOpenRequested,
    H245Config,
    H245Session,
    SessionEnded,
    SessionState,
    UserInput,
)
from gateway.h323.h245_messages import H2250Parameters, read_h245_address
from gateway.sdp.media import MediaFormat, MediaKind, StreamDescription

HOST = "127.0.0.1"
PCMU = MediaFormat(name="PCMU", clock_rate=8000, payload_type=0)
CAUSE_USER_BUSY = 17
RTP_REPORT_INTERVAL_S = 0.5
END_GRACE_S = 2.0
"""How long the end of H.245 waits for the caller's Release Complete."""


class Printer:
    """Writes one JSON object per line to stdout and the optional log."""

    def __init__(self, log: TextIO | None) -> None:
        self._log = log

    def __call__(self, **fields: Any) -> None:
        line = json.dumps(fields, sort_keys=True)
        print(line, flush=True)
        if self._log is not None:
            self._log.write(f"{time.time():.3f} {line}\n")
            self._log.flush()


class Echo(asyncio.DatagramProtocol):
    """RTP echo: sends every datagram back to the OLC media address."""

    def __init__(self) -> None:
        self.target: tuple[str, int] | None = None
        self.packets = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets += 1
        if self.target is not None and self.transport is not None:
            self.transport.sendto(data, self.target)


class NonTunnellingCall(H225Call):
    """A callee call that refuses H.245 tunnelling in every message it sends.

    H225Call answers with the caller's h245Tunnelling and has no command to
    refuse it (H.323 section 8.2.1); its messages read this property.
    """

    @property
    def is_h245_tunnelling(self) -> bool:
        return False


def is_pcmu(data_type: Any) -> bool:
    fmt = format_from_data_type(data_type)
    return fmt is not None and fmt.name.upper() == "PCMU"


class PeerCall:
    """One incoming call on one TCP connection."""

    def __init__(
        self,
        args: argparse.Namespace,
        writer: asyncio.StreamWriter,
        echo: Echo,
        emit: Printer,
    ) -> None:
        self.args = args
        self.writer = writer
        self.echo = echo
        self.emit = emit
        self.is_separate = args.h245 != "tunnel"
        call_class = NonTunnellingCall if self.is_separate else H225Call
        self.call = call_class(is_outgoing=False)
        self.h245 = H245Session(H245Config(terminal_type=TERMINAL_TYPE_MCU))
        self.link: H245Link | None = None
        self.link_task: asyncio.Future[None] | None = None
        self.backlog: list[bytes] = []
        self.end_at: float | None = None
        self.changed = asyncio.Event()
        self.is_h245_started = False
        self.is_fast_start = False
        self.connected_at: float | None = None
        self.connect_at: float | None = None
        self.dtmf_at: float | None = None
        self.pending_connect: tuple[Any, Any] | None = None
        self.rtp = TransportAddress(host=HOST, port=args.rtp_port)
        self.rtcp = TransportAddress(host=HOST, port=args.rtp_port + 1)

    def pump(self, now: float) -> None:
        while True:
            events = self.call.pop_events()
            h245_events = self.h245.pop_events()
            for event in events:
                self.on_call_event(event, now)
            for h245_event in h245_events:
                self.on_h245_event(h245_event, now)
            pdus = self.h245.pop_outgoing()
            if pdus and self.is_separate:
                self.send_separate(pdus)
            elif pdus and not self.call.is_released:
                self.call.send_h245(pdus, now)
            if not (events or h245_events or pdus):
                break
        out = self.call.pop_outgoing()
        if out and not self.writer.is_closing():
            self.writer.write(b"".join(out))

    def send_separate(self, pdus: list[bytes]) -> None:
        """H.245 on its own connection; held until we connected to the caller."""
        if self.link is None:
            self.backlog.extend(pdus)
        elif not self.link.send(pdus):
            self.emit(event="h245_not_sent", count=len(pdus))

    # -- the separate H.245 connection (H.323 8.2.3) ----------------------------

    async def listen_h245(self) -> None:
        self.link = await H245Link.listen(
            HOST,
            port=self.args.h245_port,
            on_pdus=self.on_link_pdus,
            on_closed=self.on_link_closed,
        )
        self.link.on_connected = self.on_link_connected

    async def connect_h245(self, address: TransportAddress) -> None:
        link = await H245Link.connect(
            address, on_pdus=self.on_link_pdus, on_closed=self.on_link_closed
        )
        self.link = link
        self.on_link_connected()
        if self.backlog:
            link.send(self.backlog)
            self.backlog = []

    def on_link_connected(self) -> None:
        link = self.link
        assert link is not None
        self.emit(event="h245_connected", local=link.local, peer=link.peer)
        if self.args.h245_drop is not None:
            asyncio.get_running_loop().call_later(
                self.args.h245_drop, self.drop_link, link
            )

    def drop_link(self, link: H245Link) -> None:
        if not link.is_closed:
            self.emit(event="h245_dropped")
            link.close()

    def on_link_pdus(self, pdus: list[bytes], now: float) -> None:
        self.start_h245(now)
        for pdu in pdus:
            self.h245.receive_message(pdu, now)
        self.pump(now)
        self.changed.set()

    def on_link_closed(self) -> None:
        error = None if self.link is None else self.link.error
        self.emit(event="h245_closed", by="caller", error=error)
        if not self.call.is_released:
            # H.323 8.2.4 ends the call; the caller's Release Complete may
            # be on its way, so wait a moment for it.
            self.end_at = time.monotonic() + END_GRACE_S
            self.changed.set()

    def clear(self, now: float) -> None:
        """Our own clearing: endSessionCommand, Release Complete (H.323 8.5)."""
        if (
            self.link is not None
            and self.link.is_connected
            and self.h245.session_state is SessionState.OPEN
        ):
            self.h245.end_session(now)
        self.call.release(now, 16)
        self.pump(now)

    def on_call_event(self, event: Any, now: float) -> None:
        if isinstance(event, SetupReceived):
            self.on_setup(event, now)
        elif isinstance(event, TunnelledH245) and not self.is_separate:
            self.start_h245(now)
            for pdu in event.pdus:
                self.h245.receive_message(pdu, now)
        elif isinstance(event, Released):
            self.emit(
                event="released",
                cause=event.cause,
                is_local=event.is_local,
                packets=self.echo.packets,
            )

    def on_setup(self, event: SetupReceived, now: float) -> None:
        accepted = None
        if self.args.mode == "faststart" and event.fast_start:
            accepted = self.fast_start_answer(event.fast_start)
        self.is_fast_start = accepted is not None
        self.emit(
            event="setup",
            called=event.dialled_digits,
            calling=event.calling_number,
            fast_start=self.is_fast_start,
            call_id=event.call_identifier.hex(),
            conference_id=(event.conference_id or b"").hex(),
            call_reference=event.call_reference,
        )
        if self.args.mode == "busy":
            self.call.release(now, CAUSE_USER_BUSY)
            return
        if not self.is_fast_start:
            self.start_h245(now)
        address = self.h245_address(event)
        mode, early = self.args.h245, self.args.h245_early
        self.call.alerting(
            now,
            fast_start_accepted=accepted,
            h245_address=address if mode == "separate" and early else None,
        )
        self.pending_connect = (accepted, address)
        if self.args.connect_after:
            # Early media: the accepted Fast Start channels run before Connect.
            self.connect_at = now + self.args.connect_after
            return
        self.connect(now)

    def connect(self, now: float) -> None:
        assert self.pending_connect is not None
        accepted, address = self.pending_connect
        mode, early = self.args.h245, self.args.h245_early
        self.call.connect(
            now,
            fast_start_accepted=None if self.args.connect_after else accepted,
            h245_address=address if mode == "separate" and not early else None,
        )
        if address is not None and mode == "facility":
            self.call.start_h245(address, now)
        self.connected_at = now
        if self.args.dtmf:
            self.dtmf_at = now + 1.0  # User input once H.245 is up.
        self.emit(event="connected", fast_start=self.is_fast_start)

    def h245_address(self, event: SetupReceived) -> TransportAddress | None:
        """Our listener's address, or None when we connect to the caller's."""
        if not self.is_separate or self.link is None:
            return None
        if event.h245_address is not None and not event.is_h245_tunnelling:
            self.link.close()
            self.link = None
            self.emit(event="h245_connecting", port=event.h245_address.port)
            self.link_task = asyncio.ensure_future(
                self.connect_h245(event.h245_address)
            )
            return None
        return self.link.address

    def fast_start_answer(self, proposals: tuple[bytes, ...]) -> list[bytes] | None:
        """The first G.711 u-law receive and transmit proposals, completed."""
        receive: dict[str, Any] | None = None
        transmit: dict[str, Any] | None = None
        for item in proposals:
            olc = codec.decode_open_logical_channel(item)
            forward = olc["forwardLogicalChannelParameters"]
            reverse = olc.get("reverseLogicalChannelParameters")
            if reverse is not None and receive is None and is_pcmu(reverse["dataType"]):
                receive = olc
            elif transmit is None and is_pcmu(forward["dataType"]):
                transmit = olc
        if receive is None or transmit is None:
            return None
        # We send to the caller's mediaChannel in its receive proposal.
        _, reverse_parameters = receive["reverseLogicalChannelParameters"][
            "multiplexParameters"
        ]
        target = read_h245_address(reverse_parameters.get("mediaChannel"))
        if target is not None:
            self.echo.target = (target.host, target.port)
        reverse_parameters["mediaControlChannel"] = self.rtcp.to_h245()
        # The caller sends to our mediaChannel in its transmit proposal.
        _, forward_parameters = transmit["forwardLogicalChannelParameters"][
            "multiplexParameters"
        ]
        forward_parameters["mediaChannel"] = self.rtp.to_h245()
        forward_parameters["mediaControlChannel"] = self.rtcp.to_h245()
        return [
            codec.encode_open_logical_channel(receive),
            codec.encode_open_logical_channel(transmit),
        ]

    def start_h245(self, now: float) -> None:
        if self.is_h245_started:
            return
        self.is_h245_started = True
        plan = h245_capabilities_from_streams(
            [StreamDescription(kind=MediaKind.AUDIO, formats=(PCMU,))]
        )
        self.h245.start(
            now,
            capability_table=[(e.number, e.capability) for e in plan.entries],
            capability_descriptors=plan.capability_descriptors(),
        )

    def on_h245_event(self, event: Any, now: float) -> None:
        if isinstance(event, CapabilitiesReceived) and not self.is_fast_start:
            parameters = H2250Parameters(session_id=1, media_control=self.rtcp)
            self.h245.open_channel(
                1, data_type=data_type_for(PCMU), parameters=parameters, now=now
            )
        elif isinstance(event, ChannelOpened) and event.media is not None:
            self.echo.target = (event.media.host, event.media.port)
            self.emit(event="channel_opened", media=event.media.port)
        elif isinstance(event, ChannelOpenRequested):
            if is_pcmu(event.data_type):
                self.h245.accept_channel(
                    event.number, media=self.rtp, media_control=self.rtcp, now=now
                )
                self.emit(event="channel_accepted", number=event.number)
            else:
                self.h245.reject_channel(event.number, now=now)
        elif isinstance(event, UserInput):
            self.emit(event="user_input", digits=event.digits)
        elif isinstance(event, SessionEnded):
            self.emit(event="end_session", by_caller=event.is_peer_initiated)
            if not self.call.is_released:
                self.end_at = now + END_GRACE_S

    def next_deadline(self) -> float | None:
        deadlines = [
            self.call.next_deadline(),
            self.h245.next_deadline(),
            self.end_at,
            self.connect_at,
            self.dtmf_at,
        ]
        if self.connected_at is not None:
            deadlines.append(self.connected_at + self.args.hold)
        return min((d for d in deadlines if d is not None), default=None)

    def on_timer(self, now: float) -> None:
        self.call.handle_timeout(now)
        self.h245.handle_timeout(now)
        if self.dtmf_at is not None and now >= self.dtmf_at:
            self.dtmf_at = None
            self.h245.send_user_input(self.args.dtmf, now=now)
            self.emit(event="dtmf_sent", digits=self.args.dtmf)
        if self.connect_at is not None and now >= self.connect_at:
            self.connect_at = None
            self.connect(now)
        if self.connected_at is not None and now >= self.connected_at + self.args.hold:
            self.connected_at = None
            self.clear(now)
        if self.end_at is not None and now >= self.end_at:
            self.end_at = None
            self.emit(event="h245_ended_call")
            self.call.release(now, 16)
        self.pump(now)


async def serve_call(
    args: argparse.Namespace,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    echo: Echo,
    emit: Printer,
    stop: asyncio.Event,
) -> None:
    peer = PeerCall(args, writer, echo, emit)
    if peer.is_separate:
        await peer.listen_h245()
    stop_task = asyncio.ensure_future(stop.wait())
    read_task = asyncio.ensure_future(reader.read(65536))
    try:
        while not peer.call.is_released:
            deadline = peer.next_deadline()
            timeout = (
                None if deadline is None else max(0.0, deadline - time.monotonic())
            )
            peer.changed.clear()
            changed_task = asyncio.ensure_future(peer.changed.wait())
            done, _ = await asyncio.wait(
                {read_task, stop_task, changed_task},
                timeout=timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            changed_task.cancel()
            now = time.monotonic()
            if read_task in done:
                data = read_task.result()
                if data:
                    peer.call.receive_data(data, now)
                else:
                    peer.call.receive_eof(now)
                peer.pump(now)
                read_task = asyncio.ensure_future(reader.read(65536))
            if stop_task in done:
                peer.clear(now)
            elif not done or (peer.end_at is not None and now >= peer.end_at):
                peer.on_timer(now)
        await writer.drain()
    finally:
        read_task.cancel()
        stop_task.cancel()
        writer.close()
        await close_h245(peer, emit)


async def close_h245(peer: PeerCall, emit: Printer) -> None:
    """Release Complete closes the H.245 connection too (H.323 8.5)."""
    if peer.link_task is not None:
        await asyncio.gather(peer.link_task, return_exceptions=True)
    link = peer.link
    if link is None:
        return
    was_open = not link.is_closed
    link.close()
    await asyncio.wait_for(link.wait_closed(), 5.0)
    if was_open:
        emit(event="h245_closed", by="peer", error=None)


async def report_rtp(echo: Echo, emit: Printer) -> None:
    reported = 0
    while True:
        await asyncio.sleep(RTP_REPORT_INTERVAL_S)
        if echo.packets != reported:
            reported = echo.packets
            emit(event="rtp", packets=reported)


on_sigterm: list[Callable[[], object]] = []
"""What SIGTERM does; empty before the loop runs and once we are exiting."""


def handle_sigterm(signum: int, frame: FrameType | None) -> None:
    # A process-wide handler rather than loop.add_signal_handler, whose
    # removal restores the default action for a moment: a SIGTERM racing
    # with our own exit must not kill us (exit code -15).
    for callback in on_sigterm:
        callback()


async def main_async(args: argparse.Namespace, emit: Printer) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    on_sigterm.append(lambda: loop.call_soon_threadsafe(stop.set))
    echo = Echo()
    udp, _ = await loop.create_datagram_endpoint(
        lambda: echo, local_addr=(HOST, args.rtp_port)
    )
    done = asyncio.Event()
    is_busy = False

    async def on_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal is_busy
        if is_busy:  # One call at a time: this peer is a test fixture.
            writer.close()
            return
        is_busy = True
        try:
            await serve_call(args, reader, writer, echo, emit, stop)
        finally:
            done.set()

    server = await asyncio.start_server(on_connection, HOST, args.port)
    reporter = asyncio.create_task(report_rtp(echo, emit))
    emit(event="listening", port=args.port, rtp_port=args.rtp_port)
    waiters = [asyncio.ensure_future(e.wait()) for e in (done, stop)]
    await asyncio.wait(waiters, timeout=args.lifetime, return_when="FIRST_COMPLETED")
    if stop.is_set() and not done.is_set() and is_busy:
        await asyncio.wait_for(done.wait(), 5.0)
    for waiter in waiters:
        waiter.cancel()
    reporter.cancel()
    server.close()
    udp.close()
    # Exiting anyway: a late SIGTERM must change nothing.  SIG_IGN, unlike a
    # Python handler, survives interpreter finalization.
    on_sigterm.clear()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    emit(event="exit", packets=echo.packets)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--hold", type=float, default=30.0)
    parser.add_argument("--lifetime", type=float, default=60.0)
    parser.add_argument(
        "--mode", choices=("faststart", "slowstart", "busy"), default="faststart"
    )
    parser.add_argument(
        "--h245", choices=("tunnel", "separate", "facility"), default="tunnel"
    )
    parser.add_argument("--h245-early", action="store_true")
    parser.add_argument(
        "--dtmf", default="", help="userInputIndication 1 s after Connect"
    )
    parser.add_argument(
        "--connect-after",
        type=float,
        default=0.0,
        help="send Connect this many seconds after Alerting (early media)",
    )
    parser.add_argument("--h245-port", type=int, default=0)
    parser.add_argument("--h245-drop", type=float, default=None)
    parser.add_argument("--log", default=None)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, handle_sigterm)
    log = open(args.log, "a", encoding="utf-8") if args.log else None  # noqa: SIM115
    try:
        return asyncio.run(main_async(args, Printer(log)))
    finally:
        if log is not None:
            log.close()


if __name__ == "__main__":
    sys.exit(main())
