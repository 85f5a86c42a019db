"""The gateway's outgoing H.323 leg on asyncio (H.323 sections 8.1-8.5).

:class:`H323CallOut` places one call to an H.323 endpoint over a TCP
call-signalling connection and reports its progress as the neutral
``gateway.b2bua.events`` the SIP legs use: Alerting, Progress, Answer (with
a synthesized RTP/AVP SessionDescription) and Release (Q.850 cause).

Media is negotiated with Fast Start (H.323 section 8.1.7: the Setup carries
OpenLogicalChannel proposals built from the SDP offer) or, when the callee
refuses it or ``fast_start`` is False, with H.245: capability exchange,
master-slave determination, then our channels toward the peer and the peer's
channels toward the relay.  H.245 is tunnelled in H.225.0 (section 8.2.1)
while the callee tunnels too.  A callee that refuses tunnelling gets H.245 on
a separate TCP connection (section 8.2.3, :class:`H245Link`) to the
h245Address it gives in Call Proceeding, Alerting, Progress, Connect or
Facility startH245; with ``offer_h245_address`` the Setup itself refuses
tunnelling and offers our own listener.  Closing that connection or
endSessionCommand ends the call, and clearing the call closes it (sections
8.2.4 and 8.5).  The protocol work is done by the sans-IO :class:`H225Call`
and :class:`H245Session`; this module owns the sockets, the clock and the SDP.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gateway.app.h245_link import H245Link
from gateway.b2bua.events import Alerting, Answer, CallEvent, Progress, Release
from gateway.b2bua.h323_media import (
    H323Stream,
    answer_sdp,
    first_common,
    receive_proposal,
    same_codec,
    streams_of_offer,
    transmit_proposal,
)
from gateway.h323 import codec
from gateway.h323.call import H225Call
from gateway.h323.call_messages import (
    AlertingReceived,
    CallState,
    ConnectReceived,
    FastStartAccepted,
    FastStartRefused,
    H225CallEvent,
    PeerH245Address,
    ProgressReceived,
    Released,
    TunnelledH245,
)
from gateway.h323.capabilities import (
    data_type_for,
    format_from_data_type,
    h245_capabilities_from_streams,
    streams_from_h245,
)
from gateway.h323.codec import AliasAddress, AliasKind, TransportAddress
from gateway.h323.errors import LocalH323Error, RemoteH323Error
from gateway.h323.h245 import (
    CapabilitiesReceived,
    ChannelOpened,
    ChannelOpenRequested,
    ChannelRejected,
    H245Event,
    H245Session,
    MasterSlaveDetermined,
    SessionEnded,
    SessionState,
    UserInput,
)
from gateway.h323.h245_messages import H2250Parameters, read_h245_address
from gateway.h323.q850 import CAUSE_NORMAL_CLEARING
from gateway.sdp.media import (
    MediaFormat,
    MediaKind,
    StreamDescription,
    stream_from_sdp,
)
from gateway.sdp.model import (
    SessionDescription,
)

__all__ = ["H323CallOut"]

CAUSE_INVALID_IE_CONTENTS = 100
CAUSE_INCOMPATIBLE_DESTINATION = 88
CAUSE_RECOVERY_ON_TIMER_EXPIRY = 102
CAUSE_TEMPORARY_FAILURE = 41
_READ_SIZE_BYTES = 65536
_MAX_H245_BACKLOG = 256
"""H.245 PDUs held while a separate connection is awaited (H.323 8.2.3)."""
_END_SESSION_WAIT_S = 2.0
"""How long our endSessionCommand waits for the peer's (H.323 8.5 step 5)."""
_ANSWERED = frozenset(
    (
        CallState.OUTGOING_CALL_PROCEEDING,
        CallState.CALL_DELIVERED,
        CallState.ACTIVE,
    )
)


class H323CallOut:
    """One outgoing H.323 call: Setup to ``address``, events to ``on_event``.

    ``offer`` is the SDP the gateway would send this leg (RTP/AVP with the
    relay's ports); its audio and video streams become Fast Start proposals
    and our TerminalCapabilitySet.  ``log`` is a structlog-style logger.
    ``on_event`` receives Alerting, Progress, Answer and Release; a call
    cleared by :meth:`release` reports nothing more.  ``offer_h245_address``
    makes the Setup refuse H.245 tunnelling and carry the address of our own
    H.245 listener (H.323 section 8.2.3); the callee may connect to it or
    answer with its own h245Address.
    """

    def __init__(
        self,
        *,
        address: tuple[str, int],
        dialled: str,
        calling_number: str,
        offer: SessionDescription,
        on_event: Callable[[CallEvent], None],
        log: Any,
        fast_start: bool = True,
        media_timeout_s: float = 10.0,
        offer_h245_address: bool = False,
    ) -> None:
        self.address = address
        self.dialled = dialled
        self.calling_number = calling_number
        self.offer = offer
        self._on_event = on_event
        self._log = log
        self._use_fast_start = fast_start
        self._media_timeout_s = media_timeout_s
        self._offer_h245_address = offer_h245_address
        self._call = H225Call(is_outgoing=True)
        self._h245 = H245Session()
        self._streams = streams_of_offer(offer)
        self._proposals: dict[int, tuple[H323Stream, MediaFormat]] = {}
        self._next_channel = 1
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._link: H245Link | None = None
        self._link_task: asyncio.Task[None] | None = None
        self._link_close_timer: asyncio.TimerHandle | None = None
        self._h245_backlog: list[bytes] = []
        self._is_h245_started = False
        self._is_fast_started = False
        self._is_connected = False
        self._is_answered = False
        self._is_release_requested = False
        self._is_reported_released = False
        self._local_reason: str | None = None
        self._peer_capabilities: list[StreamDescription] | None = None
        self._is_msd_done = False
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

    async def start(self) -> None:
        """Connect and send Setup (H.225.0 section 8.1) with Fast Start proposals.

        Raises OSError when the TCP connection cannot be made (or, with
        ``offer_h245_address``, the H.245 listener cannot be bound); no event
        is reported then.
        """
        host, port = self.address
        self._reader, self._writer = await asyncio.open_connection(host, port)
        h245_address: TransportAddress | None = None
        if self._offer_h245_address:
            try:
                h245_address = await self._listen_h245()
            except OSError:
                self._writer.close()
                raise
        now = time.monotonic()
        proposals = self._fast_start_proposals() if self._use_fast_start else []
        self._call.setup(
            now,
            called_number=self.dialled,
            calling_number=self.calling_number,
            destination_aliases=(
                AliasAddress(kind=AliasKind.DIALLED_DIGITS, value=self.dialled),
            ),
            fast_start=proposals,
            h245_tunnelling=h245_address is None,
            h245_address=h245_address,
        )
        self._log.info(
            "h323.call.setup",
            peer=f"{host}:{port}",
            dialled=self.dialled,
            fast_start=bool(proposals),
            h245_address=None if h245_address is None else h245_address.port,
        )
        self._pump(now)
        self._task = asyncio.create_task(self._run())

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
        for it (step 5), at most 2 s, so that the
        peer's answer does not meet a closed socket.  Does nothing once the
        call is cleared.
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

    def request_fast_update(self) -> bool:
        """Ask the peer for an intra picture on its video channel (H.245 15.10).

        Returns False when the peer sends us no video channel.
        """
        for stream in self._streams:
            if stream.kind is MediaKind.VIDEO and stream.in_channel is not None:
                now = time.monotonic()
                self._h245.send_fast_update(stream.in_channel, now=now)
                self._pump(now)
                return True
        return False

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
            self._log.warning("h323.call.connection_lost", error=str(exc))
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
                self._on_call_event(event, now)
            for h245_event in h245_events:
                self._on_h245_event(h245_event, now)
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

    def _send_h245(self, pdus: list[bytes], now: float) -> None:
        """Send on the separate connection, in the tunnel, or hold them.

        A separate connection wins once we have one (H.323 8.2.3); else the
        PDUs are tunnelled while both sides tunnel (8.2.1), and otherwise held
        until the callee's h245Address is known.
        """
        link = self._link
        if link is not None:
            if not link.send(pdus):
                self._log.warning("h323.h245.not_sent", count=len(pdus))
        elif self._call.is_released:
            return
        elif self._call.is_h245_tunnelling:
            self._tunnel(pdus, now)
        elif len(self._h245_backlog) + len(pdus) <= _MAX_H245_BACKLOG:
            self._h245_backlog.extend(pdus)
        else:
            self._log.warning("h323.h245.backlog_full", count=len(pdus))

    def _tunnel(self, pdus: list[bytes], now: float) -> None:
        try:
            self._call.send_h245(pdus, now)
        except LocalH323Error as exc:
            self._log.warning("h323.h245.not_sent", error=str(exc), count=len(pdus))

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
        """Connect to the callee's H.245 listener unless H.245 already has a path."""
        if self._call.is_h245_tunnelling:
            # The callee tunnels too: tunnelling stays (H.323 section 8.2.1).
            self._log.info("h323.h245.address_ignored", port=event.address.port)
            return
        link = self._link
        task = self._link_task
        if (task is not None and not task.done()) or (
            link is not None and link.has_connected
        ):
            return  # A later address (Facility startH245 again) changes nothing.
        if link is not None:
            # Our listener is unused: the callee's own address wins.
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
            # The callee closed it before we could even use it.
            self._guarded(self._link_closed)
            return
        backlog, self._h245_backlog = self._h245_backlog, []
        if backlog:
            link.send(backlog)

    def _on_link_failed(self, error: str) -> None:
        now = time.monotonic()
        self._log.warning("h323.h245.connect_failed", error=error)
        if not self._is_fast_started and not self._call.is_released:
            # Slow start has no media without H.245.
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

    # -- H.225.0 events --------------------------------------------------------

    def _on_call_event(self, event: H225CallEvent, now: float) -> None:
        handler = _CALL_HANDLERS.get(type(event))
        if handler is None:
            self._log.debug("h323.call.event", kind=type(event).__name__)
        else:
            handler(self, event, now)
        if not self._use_fast_start and self._call.state in _ANSWERED:
            # Slow start: open H.245 as soon as the callee answered anything.
            self._start_h245(now)

    def _on_alerting(self, event: AlertingReceived, now: float) -> None:
        self._on_event(Alerting())

    def _on_progress(self, event: ProgressReceived, now: float) -> None:
        self._on_event(Progress())

    def _on_fast_start_refused(self, event: FastStartRefused, now: float) -> None:
        self._log.info("h323.call.fast_start_refused")

    def _on_tunnelled(self, event: TunnelledH245, now: float) -> None:
        self._start_h245(now)
        for pdu in event.pdus:
            self._h245.receive_message(pdu, now)

    def _on_connect(self, event: ConnectReceived, now: float) -> None:
        self._is_connected = True
        self._log.info("h323.call.connected", fast_start=self._is_fast_started)
        # H.245 runs in Fast Start calls too, for user input (H.323 8.2.4).
        self._start_h245(now)
        if not self._maybe_answer():
            self._answer_deadline = now + self._media_timeout_s

    def _on_released(self, event: Released, now: float) -> None:
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
        self._on_event(Release(cause=cause, reason=reason))

    # -- Fast Start (H.323 section 8.1.7) --------------------------------------

    def _fast_start_proposals(self) -> list[bytes]:
        """One receive and one transmit OpenLogicalChannel per offered format."""
        proposals: list[bytes] = []
        for stream in self._streams:
            for fmt in stream.formats:
                data_type = data_type_for(fmt)
                receive = self._channel_number()
                self._proposals[receive] = (stream, fmt)
                proposals.append(receive_proposal(receive, stream, data_type))
                transmit = self._channel_number()
                self._proposals[transmit] = (stream, fmt)
                proposals.append(transmit_proposal(transmit, stream, data_type))
        return proposals

    def _on_fast_start(self, event: FastStartAccepted, now: float) -> None:
        try:
            for olc in event.olcs:
                self._accept_fast_start_channel(codec.decode_open_logical_channel(olc))
        except (RemoteH323Error, KeyError, TypeError, ValueError) as exc:
            self._log.warning("h323.fast_start.bad_answer", error=str(exc))
            self._call.release(now, CAUSE_INVALID_IE_CONTENTS)
            return
        self._is_fast_started = True
        for stream in self._streams:
            stream.is_resolved = True
        self._maybe_answer()

    def _accept_fast_start_channel(self, olc: dict[str, Any]) -> None:
        """Record one accepted proposal: its codec and the peer's addresses."""
        number = olc["forwardLogicalChannelNumber"]
        proposal = self._proposals.get(number)
        if proposal is None:
            self._log.warning("h323.fast_start.unknown_channel", channel=number)
            return
        stream, fmt = proposal
        forward = olc["forwardLogicalChannelParameters"]
        if forward["dataType"][0] != "nullData":
            _, parameters = forward["multiplexParameters"]
            stream.agreed = fmt
            stream.out_channel = number
            stream.peer_rtp = read_h245_address(parameters.get("mediaChannel"))
            rtcp = read_h245_address(parameters.get("mediaControlChannel"))
            stream.peer_rtcp = rtcp or stream.peer_rtcp
        else:
            _, parameters = olc["reverseLogicalChannelParameters"][
                "multiplexParameters"
            ]
            stream.in_channel = number
            stream.agreed = stream.agreed or fmt
            rtcp = read_h245_address(parameters.get("mediaControlChannel"))
            stream.peer_rtcp = stream.peer_rtcp or rtcp

    def _channel_number(self) -> int:
        number = self._next_channel
        self._next_channel += 1
        return number

    # -- tunnelled H.245 (H.323 section 8.2.1) ---------------------------------

    def _start_h245(self, now: float) -> None:
        if self._is_h245_started or self._call.is_released:
            return
        self._is_h245_started = True
        plan = h245_capabilities_from_streams(
            [
                s
                for s in (stream_from_sdp(self.offer, x.index) for x in self._streams)
                if s is not None
            ]
        )
        self._h245.start(
            now,
            capability_table=[(e.number, e.capability) for e in plan.entries],
            capability_descriptors=plan.capability_descriptors(),
        )

    def _on_h245_event(self, event: H245Event, now: float) -> None:
        handler = _H245_HANDLERS.get(type(event))
        if handler is None:
            self._log.debug("h323.h245.event", kind=type(event).__name__)
        else:
            handler(self, event, now)

    def _on_capabilities(self, event: CapabilitiesReceived, now: float) -> None:
        self._peer_capabilities = streams_from_h245(
            [
                {"capabilityTableEntryNumber": number, "capability": value}
                for number, value in event.table
            ],
            event.descriptors,
        )
        self._open_channels(now)

    def _on_msd(self, event: MasterSlaveDetermined, now: float) -> None:
        self._is_msd_done = True
        self._open_channels(now)

    def _on_user_input(self, event: UserInput, now: float) -> None:
        # The neutral events carry no DTMF yet: the digits are only logged.
        self._log.info("h323.h245.user_input", digits=event.digits)

    def _on_session_ended(self, event: SessionEnded, now: float) -> None:
        # H.323 section 8.5: the end of H.245 ends the call.
        if event.is_peer_initiated:
            self._local_reason = "H.245 endSessionCommand"
        self._call.release(now, CAUSE_NORMAL_CLEARING)

    def _open_channels(self, now: float) -> None:
        """Open one channel per stream in a codec the peer receives (H.245 8.4)."""
        peer = self._peer_capabilities
        if self._is_fast_started or peer is None or not self._is_msd_done:
            return
        if any(s.out_channel is not None or s.is_resolved for s in self._streams):
            return
        for stream in self._streams:
            fmt = first_common(stream, peer)
            if fmt is None:
                stream.is_resolved = True
                continue
            number = self._channel_number()
            stream.out_channel, stream.agreed = number, fmt
            pt = fmt.payload_type
            parameters = H2250Parameters(
                session_id=stream.session_id,
                media_control=stream.relay_rtcp,
                dynamic_payload_type=pt if pt is not None and pt >= 96 else None,
            )
            self._h245.open_channel(
                number, data_type=data_type_for(fmt), parameters=parameters, now=now
            )
        if all(s.out_channel is None for s in self._streams):
            self._log.warning("h323.h245.no_common_codec")
            self._call.release(now, CAUSE_INCOMPATIBLE_DESTINATION)

    def _on_our_channel(
        self, event: ChannelOpened | ChannelRejected, now: float
    ) -> None:
        for stream in self._streams:
            if stream.out_channel != event.number:
                continue
            stream.is_resolved = True
            if isinstance(event, ChannelOpened):
                stream.peer_rtp = event.media
                stream.peer_rtcp = event.media_control or stream.peer_rtcp
            else:
                self._log.info("h323.h245.channel_rejected", cause=event.cause)
                stream.agreed = None
        self._maybe_answer()

    def _on_peer_channel(self, event: ChannelOpenRequested, now: float) -> None:
        """Accept the peer's channel toward the relay's ports for its stream."""
        fmt = format_from_data_type(event.data_type)
        for stream in self._streams:
            if (
                fmt is not None
                and stream.session_id == (event.session_id or stream.session_id)
                and any(same_codec(fmt, f) for f in stream.formats)
            ):
                stream.in_channel = event.number
                self._h245.accept_channel(
                    event.number,
                    media=stream.relay_rtp,
                    media_control=stream.relay_rtcp,
                    now=now,
                )
                return
        self._h245.reject_channel(event.number, now=now)

    # -- the Answer -------------------------------------------------------------

    def _maybe_answer(self) -> bool:
        """Report Answer once connected and every stream's media is settled."""
        if self._is_answered:
            return True
        if not self._is_connected or not all(s.is_resolved for s in self._streams):
            return False
        if all(s.peer_rtp is None for s in self._streams):
            return False
        self._is_answered = True
        self._answer_deadline = None
        sdp = answer_sdp(self.offer, self._streams, self.address[0])
        self._log.info("h323.call.answered", media=len(sdp.media))
        self._on_event(Answer(sdp=sdp))
        return True


_Handler = Callable[[H323CallOut, Any, float], None]
_CALL_HANDLERS: dict[type[H225CallEvent], _Handler] = {
    AlertingReceived: H323CallOut._on_alerting,
    ProgressReceived: H323CallOut._on_progress,
    FastStartAccepted: H323CallOut._on_fast_start,
    FastStartRefused: H323CallOut._on_fast_start_refused,
    ConnectReceived: H323CallOut._on_connect,
    TunnelledH245: H323CallOut._on_tunnelled,
    PeerH245Address: H323CallOut._on_peer_h245_address,
    Released: H323CallOut._on_released,
}
_H245_HANDLERS: dict[type[H245Event], _Handler] = {
    CapabilitiesReceived: H323CallOut._on_capabilities,
    MasterSlaveDetermined: H323CallOut._on_msd,
    ChannelOpenRequested: H323CallOut._on_peer_channel,
    ChannelOpened: H323CallOut._on_our_channel,
    ChannelRejected: H323CallOut._on_our_channel,
    UserInput: H323CallOut._on_user_input,
    SessionEnded: H323CallOut._on_session_ended,
}
