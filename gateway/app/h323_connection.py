"""What both H.323 legs share: one call-signalling connection and its H.245.

:class:`H323Connection` runs a sans-IO :class:`H225Call` and
:class:`H245Session` on asyncio: the read loop, the timers, and the path of
H.245, which is tunnelled in H.225.0 while both sides tunnel (H.323 section
8.2.1) or carried on a separate TCP connection (section 8.2.3,
:class:`H245Link`) to an h245Address either side gives.  Closing that
connection or endSessionCommand ends the call, and clearing the call closes
it (sections 8.2.4 and 8.5).  The outgoing leg (:mod:`gateway.app.h323_leg`)
and the incoming leg (:mod:`gateway.app.h323_in`) add what differs: who
sends Setup, and how media is agreed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gateway.app.h245_link import H245Link
from gateway.b2bua.events import CallEvent, PictureUpdate, Release
from gateway.h323.call import H225Call
from gateway.h323.call_messages import (
    H225CallEvent,
    MessageDropped,
    PeerH245Address,
    ProtocolErrorDetected,
    Released,
    TunnelledH245,
)
from gateway.h323.capabilities import CapabilitySetPlan
from gateway.h323.codec import TransportAddress
from gateway.h323.errors import LocalH323Error
from gateway.h323.h245 import (
    FastUpdateRequested,
    FlowControl,
    H245Event,
    H245Session,
    PeerUnresponsive,
    ProtocolError,
    RoundTripMeasured,
    SessionEnded,
    SessionState,
)
from gateway.h323.q850 import (
    CAUSE_NORMAL_CLEARING,
    CAUSE_RECOVERY_ON_TIMER_EXPIRY,
    CAUSE_TEMPORARY_FAILURE,
)

__all__ = ["H323Connection"]

_READ_SIZE_BYTES = 65536
_MAX_H245_BACKLOG = 256
"""H.245 PDUs held while a separate connection is awaited (H.323 8.2.3)."""
_END_SESSION_WAIT_S = 2.0
"""How long our endSessionCommand waits for the peer's (H.323 8.5 step 5)."""


class H323Connection:
    """One H.225.0 call-signalling connection with its H.245 session.

    Subclasses handle the call's own events in :meth:`_on_call_event` and
    :meth:`_on_h245_event`, give the capabilities to announce in
    :meth:`_capabilities`, and say in :meth:`_needs_h245_for_media` whether
    a lost H.245 connection leaves the call without media.  What the leg
    reports goes to :attr:`on_event` (set it before the call can end).
    """

    def __init__(
        self,
        *,
        is_outgoing: bool,
        log: Any,
        media_timeout_s: float,
        h245_keepalive_s: float = 20.0,
    ) -> None:
        # Every line says which leg it is about: the listener's ("in") or ours.
        bind = getattr(log, "bind", None)
        self._log = bind(direction="out" if is_outgoing else "in") if bind else log
        self._media_timeout_s = media_timeout_s
        self.on_event: Callable[[CallEvent], None] | None = None
        self._call = H225Call(is_outgoing=is_outgoing)
        # roundTripDelayRequest every h245_keepalive_s (0: never) finds a
        # peer that vanished without clearing: one left unanswered until the
        # next is due (or T105) ends the call.
        self.h245_keepalive_s = h245_keepalive_s
        self._h245 = H245Session()
        self._next_keepalive: float | None = None
        self._is_round_trip_pending = False
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._link: H245Link | None = None
        self._link_task: asyncio.Task[None] | None = None
        self._link_close_timer: asyncio.TimerHandle | None = None
        self._h245_backlog: list[bytes] = []
        self._is_h245_started = False
        self._is_release_requested = False
        self._is_reported_released = False
        self._local_reason: str | None = None
        self._answer_deadline: float | None = None

    # -- public API ------------------------------------------------------------

    @property
    def is_released(self) -> bool:
        """True once the call is cleared, by either side."""
        return self._call.is_released

    @property
    def h245_link(self) -> H245Link | None:
        """The separate H.245 connection (or our listener), when there is one."""
        return self._link

    async def wait_closed(self) -> None:
        """Wait until the call is cleared and its connections closed."""
        if self._task is not None:
            await self._task
        if self._link_task is not None:
            await asyncio.gather(self._link_task, return_exceptions=True)
        if self._link is not None:
            await self._link.wait_closed()

    def release(self, cause: int = CAUSE_NORMAL_CLEARING) -> None:
        """Clear the call with Release Complete (H.225.0 section 8.5) and close.

        On a separate H.245 connection endSessionCommand goes first (H.323
        section 8.5 step 4).  Like ooh323c, Release Complete does not wait for
        the peer's endSessionCommand, but the H.245 connection stays open
        for it (step 5), at most 2 s.  Does nothing once the call is cleared.
        """
        if self._call.is_released:
            return
        self._is_release_requested = True
        now = time.monotonic()
        link = self._link
        if (
            link is not None
            and link.is_connected
            and self._h245.session_state is SessionState.OPEN
        ):
            self._h245.end_session(now)
        self._call.release(now, cause)
        self._pump(now)
        self._close()

    def send_user_input(self, digits: str) -> None:
        """Send DTMF as an H.245 alphanumeric userInputIndication (H.245 11.2).

        Raises LocalH323Error when the H.245 session cannot carry it.
        """
        now = time.monotonic()
        self._h245.send_user_input(digits, now=now)
        self._pump(now)

    # -- for subclasses --------------------------------------------------------

    def _on_call_event(self, event: H225CallEvent, now: float) -> None:
        raise NotImplementedError

    def _on_h245_event(self, event: H245Event, now: float) -> None:
        raise NotImplementedError

    def _capabilities(self) -> CapabilitySetPlan:
        raise NotImplementedError

    def _needs_h245_for_media(self) -> bool:
        raise NotImplementedError

    def _emit(self, event: CallEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def _command(self, action: Callable[[float], None]) -> None:
        """Run one command on the machines now, then send what it produced."""
        if self._call.is_released:
            return
        now = time.monotonic()
        try:
            action(now)
        except LocalH323Error as exc:
            self._log.warning("h323.not_sent", error=str(exc))
        self._pump(now)

    def _start_h245(self, now: float) -> None:
        """Our TerminalCapabilitySet and master-slave determination (H.323 8.2)."""
        if self._is_h245_started or self._call.is_released:
            return
        self._is_h245_started = True
        plan = self._capabilities()
        self._h245.start(
            now,
            capability_table=[(e.number, e.capability) for e in plan.entries],
            capability_descriptors=plan.capability_descriptors(),
        )
        if self.h245_keepalive_s > 0:
            self._next_keepalive = now + self.h245_keepalive_s

    def _start_reading(self) -> None:
        self._task = asyncio.create_task(self._run())

    # -- the connection task ---------------------------------------------------

    async def _run(self) -> None:
        assert self._reader is not None
        try:
            while not self._call.is_released:
                data = await self._reader.read(_READ_SIZE_BYTES)
                now = time.monotonic()
                if data:
                    self._call.receive_data(data, now)
                else:
                    self._call.receive_eof(now)
                self._pump(now)
        except OSError as exc:
            self._log.warning("h323.connection_lost", error=str(exc))
            self._call.receive_eof(time.monotonic())
            self._pump(time.monotonic())
        except Exception:
            # Task boundary: a bug of ours drops this call, never the process.
            self._drop()
        finally:
            self._close()

    def _guarded(self, action: Callable[..., None], *args: Any) -> None:
        """Run a timer or H.245 connection callback: the task boundary there."""
        try:
            action(*args)
        except Exception:
            self._drop()

    def _drop(self) -> None:
        self._log.error("h323.call.failed", exc_info=True)
        self._report_release(CAUSE_TEMPORARY_FAILURE, "gateway error")
        self._close()

    def _arm_timer(self) -> None:
        """Schedule :meth:`_on_timer` at the earliest deadline of the call."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._call.is_released:
            return
        deadlines = [
            d
            for d in (
                self._call.next_deadline(),
                self._h245.next_deadline(),
                self._answer_deadline,
                self._next_keepalive,
            )
            if d is not None
        ]
        if deadlines:
            delay_s = max(0.0, min(deadlines) - time.monotonic())
            self._timer = asyncio.get_running_loop().call_later(
                delay_s, self._guarded, self._on_timer_due
            )

    def _on_timer_due(self) -> None:
        self._timer = None
        self._on_timer(time.monotonic())

    def _on_timer(self, now: float) -> None:
        self._call.handle_timeout(now)
        self._h245.handle_timeout(now)
        if self._next_keepalive is not None and now >= self._next_keepalive:
            self._next_keepalive = now + self.h245_keepalive_s
            if self._is_round_trip_pending:
                self._peer_unresponsive(now)
            elif self._h245.session_state is SessionState.OPEN:
                try:
                    self._h245.round_trip(now)
                    self._is_round_trip_pending = True
                except LocalH323Error as exc:
                    self._log.debug("h323.h245.keepalive_not_sent", error=str(exc))
        if self._answer_deadline is not None and now >= self._answer_deadline:
            # H.245 never gave us media after Connect: clear like a timer.
            self._answer_deadline = None
            self._log.warning("h323.call.media_timeout")
            self._call.release(now, CAUSE_RECOVERY_ON_TIMER_EXPIRY)
        self._pump(now)

    def _close(self) -> None:
        """Close every connection of the call (H.323 8.5); idempotent."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._link_task is not None and not self._link_task.done():
            self._link_task.cancel()
        link = self._link
        if link is not None and not link.is_closed:
            if self._h245.session_state is not SessionState.ENDING:
                link.close()
            elif self._link_close_timer is None:
                # H.323 8.5 step 5: the peer's endSessionCommand closes it.
                self._link_close_timer = asyncio.get_running_loop().call_later(
                    _END_SESSION_WAIT_S, link.close
                )
        if self._writer is not None and not self._writer.is_closing():
            self._writer.close()

    def _pump(self, now: float) -> None:
        """Run both machines until quiet, then write what they produced."""
        while True:
            call_events = self._call.pop_events()
            h245_events = self._h245.pop_events()
            for event in call_events:
                self._dispatch_call_event(event, now)
            for h245_event in h245_events:
                self._dispatch_h245_event(h245_event, now)
            pdus = self._h245.pop_outgoing()
            if pdus:
                self._send_h245(pdus, now)
            if not (call_events or h245_events or pdus):
                break
        out = self._call.pop_outgoing()
        if out and self._writer is not None and not self._writer.is_closing():
            self._writer.write(b"".join(out))
        if self._call.is_released:
            self._close()
        else:
            self._arm_timer()

    def _dispatch_call_event(self, event: H225CallEvent, now: float) -> None:
        if isinstance(event, TunnelledH245):
            self._start_h245(now)
            for pdu in event.pdus:
                self._h245.receive_message(pdu, now)
        elif isinstance(event, PeerH245Address):
            self._on_peer_h245_address(event, now)
        elif isinstance(event, Released):
            self._on_released(event)
        elif isinstance(event, ProtocolErrorDetected):
            self._log.warning(
                "h323.call.protocol_error",
                cause=event.cause,
                reason=event.reason,
                is_call_cleared=event.is_call_cleared,
            )
        elif isinstance(event, MessageDropped):
            self._log.info("h323.call.message_dropped", reason=event.reason)
        self._on_call_event(event, now)

    def _dispatch_h245_event(self, event: H245Event, now: float) -> None:
        if isinstance(event, ProtocolError):
            self._log.warning("h323.h245.protocol_error", reason=event.reason)
        if isinstance(event, PeerUnresponsive):
            self._peer_unresponsive(now)
            return
        if isinstance(event, RoundTripMeasured):
            self._is_round_trip_pending = False
            self._log.debug("h323.h245.round_trip", delay_s=round(event.delay_s, 3))
            return
        if isinstance(event, FlowControl):
            # Logged only: the relay does not shape bit rates.
            self._log.info(
                "h323.h245.flow_control",
                channel=event.number,
                max_bitrate_bps=event.max_bitrate_bps,
            )
            return
        if isinstance(event, FastUpdateRequested):
            # H.245 15.10: the peer wants an intra picture of what we send.
            self._log.info("h323.h245.fast_update_requested", channel=event.number)
            self._emit(PictureUpdate())
            return
        if isinstance(event, SessionEnded):
            # H.323 section 8.5: the end of H.245 ends the call.
            if event.is_peer_initiated:
                self._local_reason = "H.245 endSessionCommand"
            self._call.release(now, CAUSE_NORMAL_CLEARING)
            return
        self._on_h245_event(event, now)

    def _peer_unresponsive(self, now: float) -> None:
        """H.245 RTDSE: the peer answers no roundTripDelayRequest (H.245 8.9)."""
        if self._call.is_released:
            return
        self._next_keepalive = None
        self._log.warning("h323.h245.peer_unresponsive")
        self._local_reason = "H.323 peer stopped answering H.245"
        self._call.release(now, CAUSE_TEMPORARY_FAILURE)

    def _send_h245(self, pdus: list[bytes], now: float) -> None:
        """Send on the separate connection, in the tunnel, or hold them.

        A separate connection wins once we have one (H.323 8.2.3); else the
        PDUs are tunnelled while both sides tunnel (8.2.1), and otherwise held
        until an H.245 connection is there.
        """
        link = self._link
        if link is not None:
            if not link.send(pdus):
                self._log.warning("h323.h245.not_sent", count=len(pdus))
        elif self._call.is_released:
            return
        elif self._call.is_h245_tunnelling:
            try:
                self._call.send_h245(pdus, now)
            except LocalH323Error as exc:
                self._log.warning("h323.h245.not_sent", error=str(exc))
        elif len(self._h245_backlog) + len(pdus) <= _MAX_H245_BACKLOG:
            self._h245_backlog.extend(pdus)
        else:
            self._log.warning("h323.h245.backlog_full", count=len(pdus))

    # -- releases ----------------------------------------------------------------

    def _on_released(self, event: Released) -> None:
        self._answer_deadline = None
        self._log.info(
            "h323.call.released",
            cause=event.cause,
            reason=event.reason,
            is_local=event.is_local,
        )
        if event.is_local and self._local_reason is not None:
            self._report_release(event.cause, self._local_reason)
            return
        reason = event.reason or ("local" if event.is_local else "remote")
        self._report_release(event.cause, f"H.323 {reason}")

    def _report_release(self, cause: int, reason: str) -> None:
        """Report Release once, unless :meth:`release` cleared the call."""
        if self._is_release_requested or self._is_reported_released:
            return
        self._is_reported_released = True
        self._emit(Release(cause=cause, reason=reason))

    # -- the separate H.245 connection (H.323 sections 8.2.3, 8.2.4) -----------

    async def _listen_h245(self) -> TransportAddress:
        """Open our listener on the call-signalling connection's local address."""
        assert self._writer is not None
        local = self._writer.get_extra_info("sockname")
        self._link = await H245Link.listen(
            str(local[0]),
            on_pdus=self._on_link_pdus,
            on_closed=self._on_link_closed,
            log=self._log,
        )
        return self._link.address

    def _on_peer_h245_address(self, event: PeerH245Address, now: float) -> None:
        """Connect to the peer's H.245 listener unless H.245 already has a path."""
        if self._call.is_h245_tunnelling:
            # The peer tunnels too: tunnelling stays (H.323 section 8.2.1).
            self._log.info("h323.h245.address_ignored", port=event.address.port)
            return
        link = self._link
        task = self._link_task
        if (task is not None and not task.done()) or (
            link is not None and link.has_connected
        ):
            return  # A later address (Facility startH245 again) changes nothing.
        if link is not None:
            # Our listener is unused: the peer's own address wins.
            self._h245_backlog[:0] = link.close()
            self._link = None
        self._link_task = asyncio.create_task(self._connect_h245(event.address))

    async def _connect_h245(self, address: TransportAddress) -> None:
        self._log.info("h323.h245.connecting", peer=f"{address.host}:{address.port}")
        try:
            link = await H245Link.connect(
                address,
                on_pdus=self._on_link_pdus,
                on_closed=self._on_link_closed,
                log=self._log,
            )
        except OSError as exc:
            self._guarded(self._on_link_failed, str(exc) or type(exc).__name__)
            return
        if self._call.is_released:
            link.close()
            return
        self._link = link
        if link.is_closed:
            # The peer closed it before we could even use it.
            self._guarded(self._link_closed)
            return
        backlog, self._h245_backlog = self._h245_backlog, []
        if backlog:
            link.send(backlog)

    def _on_link_failed(self, error: str) -> None:
        now = time.monotonic()
        self._log.warning("h323.h245.connect_failed", error=error)
        if self._needs_h245_for_media() and not self._call.is_released:
            self._local_reason = "H.245 connection failed"
            self._call.release(now, CAUSE_TEMPORARY_FAILURE)
            self._pump(now)

    def _on_link_pdus(self, pdus: list[bytes], now: float) -> None:
        self._guarded(self._receive_h245, pdus, now)

    def _receive_h245(self, pdus: list[bytes], now: float) -> None:
        for pdu in pdus:
            self._h245.receive_message(pdu, now)
        self._pump(now)

    def _on_link_closed(self) -> None:
        self._guarded(self._link_closed)

    def _link_closed(self) -> None:
        link = self._link
        if link is None or self._call.is_released:
            return
        now = time.monotonic()
        if not link.has_connected:
            # Nobody came to our listener: Fast Start goes on without H.245.
            self._log.info("h323.h245.not_connected", error=link.error)
            return
        # H.323 section 8.2.4: the H.245 connection closing ends the call.
        self._log.info("h323.h245.closed", error=link.error)
        self._local_reason = "H.245 connection closed"
        cause = CAUSE_NORMAL_CLEARING if link.error is None else CAUSE_TEMPORARY_FAILURE
        self._call.release(now, cause)
        self._pump(now)
