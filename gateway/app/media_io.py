"""asyncio side of the media relay: UDP sockets per port pair, the hot path.

:class:`MediaRelay` binds an RTP/RTCP socket pair (one socket with rtcp-mux)
per stream on the configured host and range, and plugs each socket's
datagrams into the sans-IO :class:`~gateway.media.relay.RelayStream` it
serves. The per-packet path is ``datagram_received`` -> stream -> leg ->
``transport.sendto``: no logging, no queue, one clock read, and only the
allocations libsrtp's wrapper makes. Everything else (allocation, bridging,
re-INVITE updates, release, failure-sample logging, keyframe commands) runs
off that path from the B2BUA's coroutines on the running loop.

DTMF (RFC 4733 telephone-event), the API for the B2BUA:

* Give each :class:`~gateway.media.relay.MediaLeg` the telephone-event
  payload type its SDP negotiated (``telephone_event_pt=101``, the type
  the endpoint sends; ``telephone_event_send_pt`` too if the type it
  expects from us differs; None, the default, for H.323 legs and legs
  without telephone-event), and pass
  ``on_digit=callback`` to :meth:`MediaRelay.bridge` (or ``echo``). The
  relay calls ``callback(label, digit, duration_ms)`` once per key press
  that arrives as telephone-event packets on a leg with a type (``label``
  is that leg's label; ``digit`` one of ``0-9 * # A-D !``). A press whose
  end packets were lost is reported when the next starts or 0.5 s after its
  last packet (a loop timer this module keeps). Telephone-event packets are
  relayed to the other leg only if it has a type too; else they are
  dropped and the sequence numbers closed up. ``update_leg`` with a new
  MediaLeg carries a renegotiated type.
* ``stream.send_digits(toward, digits)`` on the :class:`RelayedStream` that
  ``bridge`` returns plays digits to leg ``toward`` (``"a"`` or ``"b"``)
  as telephone-event packets inside the stream the relay sends that leg:
  same SSRC, continuing sequence numbers and timeline, SRTP-protected like
  the relayed media, one update every ``interval_ms`` (50 ms, or 20 ms).
  Digits queue per leg and are paced on the loop; the returned task ends
  when the last end packet is sent. It raises :class:`LocalMediaError` at
  once if that leg has no telephone-event type or a digit is invalid.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import socket
import time
from collections.abc import Callable
from typing import Any, cast

from gateway.media.errors import LocalMediaError, PortRangeExhaustedError
from gateway.media.keyframe import (
    KeyframeBroker,
    KeyframeCommand,
    SendFir,
    SendPli,
)
from gateway.media.ports import PortAllocator
from gateway.media.relay import (
    Address,
    DigitCallback,
    LegReport,
    MediaLeg,
    RelayStream,
)
from gateway.media.rtp import RtpRewriter
from gateway.media.telephone_event import event_of_digit

__all__ = ["MediaEndpoint", "MediaRelay", "RelayedStream"]

_Handler = Callable[[bytes, Address, float], None]
_BIND_ATTEMPTS = 16
_SOCKET_BUFFER_BYTES = 1 << 20


def _drop(data: bytes, source: Address, now: float) -> None:
    """Handler of a socket not (or no longer) wired to a stream."""


class _MediaProtocol(asyncio.DatagramProtocol):
    """One UDP socket's datagrams, split RTP/RTCP per RFC 5761 §4."""

    __slots__ = ("clock", "on_rtcp", "on_rtp", "transport")

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.on_rtp: _Handler = _drop
        self.on_rtcp: _Handler = _drop
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Selector and uvloop UDP transports do not all subclass
        # DatagramTransport, but all have its sendto/close.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        try:
            second = data[1]
        except IndexError:
            return  # Not RTP or RTCP; too short to count against a leg.
        if 191 < second < 224:
            self.on_rtcp(data, addr, self.clock())
        else:
            self.on_rtp(data, addr, self.clock())

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that went away: the media timeout
        # handles it; nothing to do per packet.
        pass


class _RtcpProtocol(_MediaProtocol):
    """A separate RTCP socket (no rtcp-mux): everything on it is RTCP."""

    __slots__ = ()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.on_rtcp(data, addr, self.clock())


class MediaEndpoint:
    """A bound port pair: ``rtp_port`` and ``rtcp_port`` on ``host``.

    With rtcp-mux (RFC 5761) ``rtcp_port == rtp_port`` and one socket serves.
    """

    __slots__ = (
        "_rtcp",
        "_rtp",
        "host",
        "is_released",
        "rtcp_mux",
        "rtcp_port",
        "rtp_port",
    )

    def __init__(
        self,
        *,
        host: str,
        rtp_port: int,
        rtcp_mux: bool,
        rtp: _MediaProtocol,
        rtcp: _MediaProtocol | None,
    ) -> None:
        self.host = host
        self.rtp_port = rtp_port
        self.rtcp_port = rtp_port if rtcp_mux else rtp_port + 1
        self.rtcp_mux = rtcp_mux
        self._rtp = rtp
        self._rtcp = rtcp
        self.is_released = False

    def _wire(self, leg: MediaLeg, on_rtp: _Handler, on_rtcp: _Handler) -> None:
        rtp_transport = self._rtp.transport
        rtcp_proto = self._rtcp or self._rtp
        rtcp_transport = rtcp_proto.transport
        if self.is_released or rtp_transport is None or rtcp_transport is None:
            raise LocalMediaError("media endpoint is released")
        leg.attach(sendto_rtp=rtp_transport.sendto, sendto_rtcp=rtcp_transport.sendto)
        self._rtp.on_rtp = on_rtp
        self._rtp.on_rtcp = on_rtcp
        rtcp_proto.on_rtcp = on_rtcp

    def _close(self) -> None:
        self.is_released = True
        for proto in (self._rtp, self._rtcp):
            if proto is not None:
                proto.on_rtp = proto.on_rtcp = _drop
                if proto.transport is not None:
                    proto.transport.close()


def _same(protocol: _MediaProtocol) -> _MediaProtocol:
    return protocol


def _random_ssrc() -> int:
    return secrets.randbits(32)


class RelayedStream(RelayStream):
    """A :class:`RelayStream` on the running loop: DTMF timers and pacing.

    ``bridge`` and ``echo`` return these. On top of the sans-IO stream it
    arms the detectors' end timeouts and plays injected digits in time.
    """

    __slots__ = ("_clock", "_digit_locks", "_event_timer", "_log", "_tasks")

    def __init__(
        self,
        *,
        clock: Callable[[], float],
        log: Any,
        a: MediaLeg,
        b: MediaLeg | None,
        a_to_b: RtpRewriter | None = None,
        b_to_a: RtpRewriter | None = None,
        broker: KeyframeBroker | None = None,
        rtcp_ssrc: int = 0,
        on_digit: DigitCallback | None = None,
    ) -> None:
        super().__init__(
            a=a,
            b=b,
            now=clock(),
            a_to_b=a_to_b,
            b_to_a=b_to_a,
            broker=broker,
            rtcp_ssrc=rtcp_ssrc,
            on_digit=_guarded(on_digit, log),
        )
        self._clock = clock
        self._log = log
        self._event_timer: asyncio.TimerHandle | None = None
        self._digit_locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.on_event_deadline = self._arm_event_timer

    def send_digits(
        self,
        toward: str,
        digits: str,
        *,
        duration_ms: int = 160,
        interval_ms: int = 50,
        gap_ms: int = 100,
    ) -> asyncio.Task[None]:
        """Play ``digits`` to leg ``toward`` as RFC 4733 packets; see the module doc.

        Each digit lasts ``duration_ms`` with updates every ``interval_ms``,
        then ``gap_ms`` of pause. Raises :class:`LocalMediaError` at once if
        the leg has no telephone-event type or a digit is invalid.
        """
        if not digits or gap_ms < 0:
            raise LocalMediaError("no digits to send, or a negative gap")
        for digit in digits:
            event_of_digit(digit)
        # A dry run checks the leg, duration and interval now, not in the task.
        self.digit_packets(
            toward,
            digits[0],
            duration_ms=duration_ms,
            now=self._clock(),
            interval_ms=interval_ms,
        )
        lock = self._digit_locks.setdefault(toward, asyncio.Lock())
        task = asyncio.get_running_loop().create_task(
            self._play(lock, toward, digits, duration_ms, interval_ms, gap_ms)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _play(
        self,
        lock: asyncio.Lock,
        toward: str,
        digits: str,
        duration_ms: int,
        interval_ms: int,
        gap_ms: int,
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with lock:
                for digit in digits:
                    planned = self.digit_packets(
                        toward,
                        digit,
                        duration_ms=duration_ms,
                        now=self._clock(),
                        interval_ms=interval_ms,
                    )
                    start = loop.time()
                    for item in planned:
                        delay = start + item.offset_s - loop.time()
                        if delay > 0:
                            await asyncio.sleep(delay)
                        self.send_event_packet(toward, item.packet)
                    await asyncio.sleep(gap_ms / 1000)
        except Exception:  # Task boundary: log, and the call goes on.
            self._log.warning("media.dtmf.send_failed", leg=toward, exc_info=True)

    def _arm_event_timer(self, deadline: float | None) -> None:
        timer = self._event_timer
        if timer is not None:
            timer.cancel()
            self._event_timer = None
        if deadline is not None:
            delay = max(0.0, deadline - self._clock())
            loop = asyncio.get_running_loop()
            self._event_timer = loop.call_later(delay, self._event_timeout)

    def _event_timeout(self) -> None:
        self._event_timer = None
        self.handle_event_timeout(self._clock())

    def _stop(self) -> None:
        """Cancel timers and digits in flight (the stream is released)."""
        self.on_event_deadline = _no_timer
        if self._event_timer is not None:
            self._event_timer.cancel()
            self._event_timer = None
        for task in list(self._tasks):
            task.cancel()


def _no_timer(deadline: float | None) -> None:
    """Timer hook of a released stream: arms nothing."""


def _guarded(on_digit: DigitCallback | None, log: Any) -> DigitCallback | None:
    """Wrap the B2BUA's digit callback: a bug there must not stop the media."""
    if on_digit is None:
        return None

    def call(label: str, digit: str, duration_ms: int) -> None:
        try:
            on_digit(label, digit, duration_ms)
        except Exception:  # App boundary on the packet path: log, go on.
            log.warning("media.dtmf.callback_failed", leg=label, exc_info=True)

    return call


class MediaRelay:
    """Binds port pairs and relays media between legs on the running loop.

    ``log`` is a structlog-style logger (``.info``/``.warning`` with fields).
    ``on_keyframe_command`` receives the keyframe commands the relay cannot
    carry itself (SIP INFO, H.245); RTCP PLI/FIR it sends. ``clock`` is the
    monotonic clock that stamps packets (tests may inject one).
    """

    def __init__(
        self,
        *,
        bind_host: str,
        port_min: int,
        port_max: int,
        log: Any,
        clock: Callable[[], float] = time.monotonic,
        ssrc_source: Callable[[], int] = _random_ssrc,
        on_keyframe_command: Callable[[RelayStream, KeyframeCommand], None]
        | None = None,
    ) -> None:
        self.bind_host = bind_host
        self._ports = PortAllocator(port_min=port_min, port_max=port_max)
        self._log = log
        self._clock = clock
        self._ssrc_source = ssrc_source
        self._on_keyframe_command = on_keyframe_command
        self._endpoints: dict[int, MediaEndpoint] = {}
        self._streams: dict[int, RelayStream] = {}
        self._wired: dict[int, tuple[MediaEndpoint, MediaEndpoint]] = {}
        self._broker_timers: dict[int, asyncio.TimerHandle] = {}

    # --- port pairs -------------------------------------------------------

    async def allocate(self, *, rtcp_mux: bool = False) -> MediaEndpoint:
        """Bind a port pair from the range and return it.

        Ports another process holds are skipped and returned to the back of
        the pool. Raises :class:`PortRangeExhaustedError` if none can be bound.
        """
        skipped: list[int] = []
        try:
            for _ in range(_BIND_ATTEMPTS):
                port = self._ports.allocate()
                endpoint = await self._bind(port, rtcp_mux)
                if endpoint is not None:
                    self._endpoints[port] = endpoint
                    return endpoint
                skipped.append(port)
        except PortRangeExhaustedError:
            self._log.warning("media.ports.exhausted", available=self._ports.available)
            raise
        finally:
            for port in skipped:
                self._ports.release(port)
        raise PortRangeExhaustedError("no bindable media port pair in the range")

    async def _bind(self, port: int, rtcp_mux: bool) -> MediaEndpoint | None:
        loop = asyncio.get_running_loop()
        rtp = _MediaProtocol(self._clock)
        rtcp = None if rtcp_mux else _RtcpProtocol(self._clock)
        opened: list[asyncio.DatagramTransport] = []
        wanted = [(rtp, port)] if rtcp is None else [(rtp, port), (rtcp, port + 1)]
        try:
            for proto, number in wanted:
                transport, _ = await loop.create_datagram_endpoint(
                    functools.partial(_same, proto),
                    local_addr=(self.bind_host, number),
                )
                opened.append(transport)
                self._tune(transport)
        except OSError as exc:
            for transport in opened:
                transport.close()
            self._log.warning("media.ports.bind_failed", port=port, error=str(exc))
            return None
        return MediaEndpoint(
            host=self.bind_host, rtp_port=port, rtcp_mux=rtcp_mux, rtp=rtp, rtcp=rtcp
        )

    @staticmethod
    def _tune(transport: asyncio.BaseTransport) -> None:
        # Larger buffers absorb bursts (a video keyframe is tens of packets).
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):  # The kernel caps it; fine.
                    sock.setsockopt(socket.SOL_SOCKET, option, _SOCKET_BUFFER_BYTES)

    def release(self, endpoint: MediaEndpoint) -> None:
        """Close the endpoint's sockets and return its ports to the pool."""
        if endpoint.is_released:
            return
        endpoint._close()
        self._endpoints.pop(endpoint.rtp_port, None)
        self._ports.release(endpoint.rtp_port)
        for key, endpoints in list(self._wired.items()):
            if endpoint in endpoints:
                self._forget(key)

    def close(self) -> None:
        """Release every endpoint (shutdown)."""
        for endpoint in list(self._endpoints.values()):
            self.release(endpoint)

    # --- streams ----------------------------------------------------------

    def bridge(
        self,
        a: MediaEndpoint,
        a_leg: MediaLeg,
        b: MediaEndpoint,
        b_leg: MediaLeg,
        *,
        a_to_b: RtpRewriter | None = None,
        b_to_a: RtpRewriter | None = None,
        broker: KeyframeBroker | None = None,
        on_digit: DigitCallback | None = None,
    ) -> RelayedStream:
        """Relay between ``a`` (carrying ``a_leg``) and ``b`` both ways.

        ``on_digit(label, digit, duration_ms)`` hears the key presses that
        arrive as telephone-event packets on a leg with a
        ``telephone_event_pt`` (see the module doc).
        """
        stream = RelayedStream(
            clock=self._clock,
            log=self._log,
            on_digit=on_digit,
            a=a_leg,
            b=b_leg,
            a_to_b=a_to_b,
            b_to_a=b_to_a,
            broker=broker,
            rtcp_ssrc=self._ssrc_source(),
        )
        a._wire(a_leg, stream.rtp_from_a, self._rtcp_handler(stream, "a"))
        b._wire(b_leg, stream.rtp_from_b, self._rtcp_handler(stream, "b"))
        self._track(stream, a, b)
        return stream

    def echo(
        self,
        endpoint: MediaEndpoint,
        leg: MediaLeg,
        *,
        rewriter: RtpRewriter | None = None,
        on_digit: DigitCallback | None = None,
    ) -> RelayedStream:
        """Send ``leg``'s media back to it, re-protected with our outbound key.

        The echo gets its own SSRC unless ``rewriter`` says otherwise.
        """
        stream = RelayedStream(
            clock=self._clock,
            log=self._log,
            on_digit=on_digit,
            a=leg,
            b=None,
            a_to_b=rewriter or RtpRewriter(ssrc=self._ssrc_source()),
            rtcp_ssrc=self._ssrc_source(),
        )
        endpoint._wire(leg, stream.rtp_from_a, self._rtcp_handler(stream, "a"))
        self._track(stream, endpoint, endpoint)
        return stream

    def update_leg(
        self, stream: RelayStream, side: str, leg: MediaLeg, *, on_hold: bool = False
    ) -> None:
        """Apply a re-INVITE to ``side``: new address, keys or hold state.

        ``on_hold`` suspends the media timeout of the stream (RFC 3264 §8.4).
        """
        stream.replace_leg(side, leg, self._clock())
        stream.is_on_hold = on_hold

    def reports(self, stream: RelayStream) -> dict[str, LegReport]:
        """Per-leg counters and statistics for the CDR (``"a"``, ``"b"``)."""
        if stream.is_echo:
            return {"a": stream.a.report()}
        return {"a": stream.a.report(), "b": stream.b.report()}

    def log_failure_samples(self) -> int:
        """Log and clear the sampled SRTP failures of every stream; return count."""
        logged = 0
        for stream in self._streams.values():
            for leg in {id(stream.a): stream.a, id(stream.b): stream.b}.values():
                samples = leg.counters.failure_samples
                while samples:
                    sample = samples.popleft()
                    self._log.info(
                        "media.srtp.failure",
                        leg=sample.leg,
                        kind=sample.kind,
                        peer=f"{sample.source[0]}:{sample.source[1]}",
                        auth_failures=leg.counters.auth_failures,
                        replay_failures=leg.counters.replay_failures,
                    )
                    logged += 1
        return logged

    # --- keyframes --------------------------------------------------------

    def request_keyframe(self, stream: RelayStream, *, from_side: str) -> None:
        """A SIP INFO / H.245 keyframe request arrived on ``from_side``."""
        if stream.broker is None:
            raise LocalMediaError("stream has no keyframe broker")
        stream.broker.receive_request(from_leg=from_side, now=self._clock())
        self._run_broker(stream)

    def _rtcp_handler(self, stream: RelayStream, side: str) -> _Handler:
        relay = stream.rtcp_from_a if side == "a" else stream.rtcp_from_b

        def on_rtcp(data: bytes, source: Address, now: float) -> None:
            relay(data, source, now)
            if stream.broker is not None:
                self._run_broker(stream)

        return on_rtcp

    def _run_broker(self, stream: RelayStream) -> None:
        broker = stream.broker
        if broker is None:
            return
        for command in broker.pop_outgoing():
            if isinstance(command, SendPli):
                stream.send_pli(command.leg, command.media_ssrc)
            elif isinstance(command, SendFir):
                stream.send_fir(command.leg, command.media_ssrc, command.sequence)
            elif self._on_keyframe_command is not None:
                self._on_keyframe_command(stream, command)
        key = id(stream)
        timer = self._broker_timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        deadline = broker.next_deadline()
        if deadline is not None and key in self._streams:
            delay = max(0.0, deadline - self._clock())
            loop = asyncio.get_running_loop()
            self._broker_timers[key] = loop.call_later(delay, self._fire, stream)

    def _fire(self, stream: RelayStream) -> None:
        self._broker_timers.pop(id(stream), None)
        if stream.broker is not None:
            stream.broker.handle_timeout(self._clock())
            self._run_broker(stream)

    def _track(self, stream: RelayStream, a: MediaEndpoint, b: MediaEndpoint) -> None:
        self._streams[id(stream)] = stream
        self._wired[id(stream)] = (a, b)

    def _forget(self, key: int) -> None:
        stream = self._streams.pop(key, None)
        if isinstance(stream, RelayedStream):
            stream._stop()
        self._wired.pop(key, None)
        timer = self._broker_timers.pop(key, None)
        if timer is not None:
            timer.cancel()
