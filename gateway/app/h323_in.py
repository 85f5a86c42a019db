"""The gateway's incoming H.323 leg on asyncio (H.323 sections 8.1-8.5).

:class:`H323CallIn` serves one call that an H.323 endpoint (the national
trunk, an MCU dialling out) places to the gateway over TCP.  The Setup is
reported as a neutral :class:`~gateway.b2bua.events.Setup` whose SDP offer
is built from the caller's Fast Start proposals (H.323 section 8.1.7.1);
the B2BUA then drives the leg with :meth:`alerting`, :meth:`progress`
(either may carry the answer, accepting Fast Start early for early media),
:meth:`answer` and :meth:`release`.  A Setup without Fast Start is a late
offer: the B2BUA answers it with :meth:`answer_with_offer`, which sends
Connect and opens the channels over H.245 (slow start, section 8.2), and the
leg reports the caller's channels back as an Answer.  H.245 is tunnelled
(section 8.2.1) and also carries user input and fast-update requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gateway.b2bua.events import Answer, CallEvent, Dtmf, Release, Setup
from gateway.b2bua.h323_media import (
    ChannelNegotiation,
    FastStartProposal,
    accept_fast_start,
    offer_from_fast_start,
    read_fast_start,
)
from gateway.h323.call import H225Call
from gateway.h323.call_messages import (
    H225CallEvent,
    ProtocolErrorDetected,
    Released,
    SetupReceived,
    TunnelledH245,
)
from gateway.h323.capabilities import h245_capabilities_from_streams
from gateway.h323.codec import AliasKind
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
    UserInput,
)
from gateway.h323.q850 import CAUSE_NORMAL_CLEARING
from gateway.sdp.media import stream_from_sdp
from gateway.sdp.model import SessionDescription

__all__ = ["H323CallIn", "dialled_of"]

CAUSE_TEMPORARY_FAILURE = 41
CAUSE_INCOMPATIBLE_DESTINATION = 88
CAUSE_RECOVERY_ON_TIMER_EXPIRY = 102
_READ_SIZE_BYTES = 65536
# H.225.0 section 7.6 order: what the caller dialled, most specific first.
_DIALLED_KINDS = (AliasKind.DIALLED_DIGITS, AliasKind.H323_ID, AliasKind.URL_ID)

SetupHandler = Callable[["H323CallIn", Setup], None]


def dialled_of(event: SetupReceived) -> str:
    """The destination: Called Party Number, else the first usable alias.

    A url-ID ``h323:1234@host`` or ``sip:1234@host`` gives its user part.
    """
    if event.dialled_digits:
        return event.dialled_digits
    for kind in _DIALLED_KINDS:
        for alias in event.destination_aliases:
            if alias.kind is kind and alias.value:
                value = alias.value
                if kind is AliasKind.URL_ID:
                    value = value.split(":", 1)[-1].split("@", 1)[0]
                return value
    return ""


class H323CallIn:
    """One incoming H.323 call on an accepted TCP connection.

    ``on_setup`` receives the caller's Setup as a neutral event (the offer is
    None when the caller did not use Fast Start); after it, what the caller
    does later (Release, Dtmf) goes to :attr:`on_event`.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_setup: SetupHandler,
        log: Any,
        media_timeout_s: float = 10.0,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_setup = on_setup
        self._log = log
        self._media_timeout_s = media_timeout_s
        self.on_event: Callable[[CallEvent], None] | None = None
        peer = writer.get_extra_info("peername") or ("", 0)
        self.peer: tuple[str, int] = (str(peer[0]), int(peer[1]))
        self.calling_number = ""
        self.dialled = ""
        self.call_identifier = b""
        self.conference_id: bytes | None = None
        self.call_reference = 0
        self.admitted_by: str | None = None  # The trunk whose gatekeeper did.
        self.offer: SessionDescription | None = None
        self._call = H225Call(is_outgoing=False)
        self._h245 = H245Session()
        self._proposals: list[FastStartProposal] = []
        self._is_h245_started = False
        self._is_fast_start_sent = False
        self._negotiation: ChannelNegotiation | None = None
        self._peer_capabilities: CapabilitiesReceived | None = None
        self._is_msd_done = False
        self._is_answer_reported = False
        self._answer_deadline: float | None = None
        self._in_video_channel: int | None = None
        self._is_release_requested = False
        self._is_reported_released = False

    @property
    def is_released(self) -> bool:
        """True once the call is cleared, by either side."""
        return self._call.is_released

    # -- what the B2BUA asks -----------------------------------------------------

    def alerting(self, early_answer: SessionDescription | None = None) -> None:
        """The callee rings: Alerting (Q.931 5.2.5.3), with early media if any."""
        accepted = self._accept(early_answer)
        self._command(
            lambda now: self._call.alerting(now, fast_start_accepted=accepted)
        )

    def progress(self, early_answer: SessionDescription | None = None) -> None:
        """Call progress: Progress (H.225.0 7.3.4), with early media if any."""
        accepted = self._accept(early_answer)
        self._command(
            lambda now: self._call.progress(now, fast_start_accepted=accepted)
        )

    def answer(self, sdp: SessionDescription) -> None:
        """Connect with the Fast Start channels our answer ``sdp`` picks.

        Channels already accepted for early media stand (H.323 8.1.7.1).
        """
        accepted = self._accept(sdp)
        if not self._is_fast_start_sent:
            self._log.warning("h323.in.no_common_codec")
            self.release(CAUSE_INCOMPATIBLE_DESTINATION)
            return

        def connect(now: float) -> None:
            self._call.connect(now, fast_start_accepted=accepted)
            self._start_h245(sdp, now)

        self._command(connect)
        self._log.info("h323.in.connected", fast_start=True)

    def answer_with_offer(self, offer: SessionDescription) -> None:
        """Slow start: Connect, then open channels for ``offer`` over H.245.

        The caller's channels come back as an Answer event; no agreement
        within the media timeout clears the call (cause 102).
        """
        negotiation = ChannelNegotiation(self._h245, offer)
        self._negotiation = negotiation

        def connect(now: float) -> None:
            self._call.connect(now)
            self._answer_deadline = now + self._media_timeout_s
            self._start_h245(offer, now)
            peer = self._peer_capabilities
            if peer is not None:
                negotiation.on_capabilities(peer.table, peer.descriptors, now)
            if self._is_msd_done:
                negotiation.on_master_slave_determined(now)

        self._command(connect)
        self._log.info("h323.in.connected", fast_start=False)

    def _accept(self, sdp: SessionDescription | None) -> list[bytes] | None:
        """Fast Start channels for our answer, once: later messages repeat none."""
        if sdp is None or self._is_fast_start_sent:
            return None
        chosen = accept_fast_start(self._proposals, sdp)
        if not chosen:
            return None
        self._is_fast_start_sent = True
        for proposal, _ in chosen:
            if proposal.session_id == 2 and not proposal.is_caller_receive:
                self._in_video_channel = proposal.olc["forwardLogicalChannelNumber"]
        return [olc for _, olc in chosen]

    def release(self, cause: int = CAUSE_NORMAL_CLEARING) -> None:
        """Clear with Release Complete (H.225.0 section 8.5) and close."""
        if self._call.is_released:
            return
        self._is_release_requested = True
        self._command(lambda now: self._call.release(now, cause))
        self._close()

    def set_on_hold(self, is_held: bool) -> None:
        """The SIP side held or resumed: close or re-open our channels.

        Fast Start channels stay open (the caller numbered them); the relay
        simply carries what the holding side still sends.
        """
        negotiation = self._negotiation
        self._log.info("h323.in.hold" if is_held else "h323.in.resume")
        if negotiation is None:
            return
        if is_held:
            self._command(negotiation.close_ours)
        else:
            self._command(negotiation.reopen_ours)

    def send_user_input(self, digits: str) -> None:
        """DTMF toward the caller as H.245 userInputIndication (H.245 11.2)."""
        self._command(lambda now: self._h245.send_user_input(digits, now=now))

    def request_fast_update(self) -> bool:
        """Ask the caller for an intra picture (H.245 15.10); False without video."""
        channel = self._in_video_channel
        if channel is None:
            return False
        self._command(lambda now: self._h245.send_fast_update(channel, now=now))
        return True

    def _command(self, action: Callable[[float], None]) -> None:
        if self._call.is_released:
            return
        now = time.monotonic()
        try:
            action(now)
        except LocalH323Error as exc:
            self._log.warning("h323.in.not_sent", error=str(exc))
        self._pump(now)

    # -- the connection task -------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until the call is cleared."""
        try:
            while not self._call.is_released:
                deadline = self._timeout_s()
                try:
                    data = await asyncio.wait_for(
                        self._reader.read(_READ_SIZE_BYTES), deadline
                    )
                except TimeoutError:
                    self._on_timer(time.monotonic())
                    continue
                now = time.monotonic()
                if data:
                    self._call.receive_data(data, now)
                else:
                    self._call.receive_eof(now)
                self._pump(now)
        except OSError as exc:
            self._log.warning("h323.in.connection_lost", error=str(exc))
            self._call.receive_eof(time.monotonic())
            self._pump(time.monotonic())
        except Exception:
            # Task boundary: a bug of ours drops this call, never the process.
            self._log.error("h323.in.failed", exc_info=True)
            self._report_release(CAUSE_TEMPORARY_FAILURE, "gateway error")
        finally:
            self._close()

    def _on_timer(self, now: float) -> None:
        self._call.handle_timeout(now)
        self._h245.handle_timeout(now)
        if self._answer_deadline is not None and now >= self._answer_deadline:
            # H.245 gave no media after Connect: clear like a timer (Q.850 102).
            self._answer_deadline = None
            self._log.warning("h323.in.media_timeout")
            self._call.release(now, CAUSE_RECOVERY_ON_TIMER_EXPIRY)
        self._pump(now)

    def _timeout_s(self) -> float | None:
        deadlines = [
            d
            for d in (
                self._call.next_deadline(),
                self._h245.next_deadline(),
                self._answer_deadline,
            )
            if d is not None
        ]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _close(self) -> None:
        if not self._writer.is_closing():
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
            if pdus and not self._call.is_released:
                try:
                    self._call.send_h245(pdus, now)
                except LocalH323Error as exc:
                    self._log.warning("h323.h245.not_sent", error=str(exc))
            if not (call_events or h245_events or pdus):
                break
        out = self._call.pop_outgoing()
        if out and not self._writer.is_closing():
            self._writer.write(b"".join(out))

    # -- H.225.0 events ------------------------------------------------------------

    def _on_call_event(self, event: H225CallEvent, now: float) -> None:
        if isinstance(event, SetupReceived):
            self._on_setup_received(event, now)
        elif isinstance(event, TunnelledH245):
            for pdu in event.pdus:
                self._h245.receive_message(pdu, now)
        elif isinstance(event, ProtocolErrorDetected):
            self._log.warning(
                "h323.in.protocol_error", cause=event.cause, reason=event.reason
            )
        elif isinstance(event, Released):
            self._log.info(
                "h323.in.released",
                cause=event.cause,
                reason=event.reason,
                is_local=event.is_local,
            )
            reason = event.reason or ("local" if event.is_local else "remote")
            self._report_release(event.cause, f"H.323 {reason}")
        else:
            self._log.debug("h323.in.event", kind=type(event).__name__)

    def _on_setup_received(self, event: SetupReceived, now: float) -> None:
        self.dialled = dialled_of(event)
        self.calling_number = event.calling_number or ""
        self.call_identifier = event.call_identifier
        self.conference_id = event.conference_id
        self.call_reference = event.call_reference
        try:
            self._proposals = read_fast_start(event.fast_start or ())
        except RemoteH323Error as exc:
            self._log.warning("h323.in.bad_fast_start", error=str(exc))
            self._proposals = []
        self.offer = offer_from_fast_start(self._proposals, self.peer[0])
        self._log.info(
            "h323.in.setup",
            peer=f"{self.peer[0]}:{self.peer[1]}",
            dialled=self.dialled,
            calling=self.calling_number,
            fast_start=self.offer is not None,
        )
        # Q.931 5.2.5.2: say we are working on it before routing takes time.
        self._call.call_proceeding(now)
        self._on_setup(self, Setup(dialled=self.dialled, offer=self.offer))

    def _report_release(self, cause: int, reason: str) -> None:
        if self._is_release_requested or self._is_reported_released:
            return
        self._is_reported_released = True
        if self.on_event is not None:
            self.on_event(Release(cause=cause, reason=reason))

    # -- H.245 (tunnelled, for user input and fast update) ---------------------------

    def _start_h245(self, sdp: SessionDescription, now: float) -> None:
        if self._is_h245_started:
            return
        self._is_h245_started = True
        streams = [
            s
            for s in (stream_from_sdp(sdp, i) for i in range(len(sdp.media)))
            if s is not None
        ]
        plan = h245_capabilities_from_streams(streams)
        self._h245.start(
            now,
            capability_table=[(e.number, e.capability) for e in plan.entries],
            capability_descriptors=plan.capability_descriptors(),
        )

    def _on_h245_event(self, event: H245Event, now: float) -> None:
        negotiation = self._negotiation
        if isinstance(event, UserInput):
            self._log.info("h323.in.user_input", digits=event.digits)
            if self.on_event is not None:
                self.on_event(Dtmf(digits=event.digits))
        elif isinstance(event, CapabilitiesReceived):
            self._peer_capabilities = event
            if negotiation is not None:
                negotiation.on_capabilities(event.table, event.descriptors, now)
        elif isinstance(event, MasterSlaveDetermined):
            self._is_msd_done = True
            if negotiation is not None:
                negotiation.on_master_slave_determined(now)
        elif isinstance(event, ChannelOpened) and negotiation is not None:
            negotiation.on_our_channel(event.number, event.media, event.media_control)
        elif isinstance(event, ChannelRejected) and negotiation is not None:
            self._log.info("h323.h245.channel_rejected", cause=event.cause)
            negotiation.on_our_channel(event.number, None, None)
        elif isinstance(event, ChannelOpenRequested):
            if negotiation is None:
                # Fast Start set up the media: later channels are not wanted.
                self._h245.reject_channel(event.number, now=now)
            else:
                negotiation.on_peer_channel(
                    event.number, event.data_type, event.session_id, now
                )
        elif isinstance(event, SessionEnded):
            self._call.release(now, CAUSE_NORMAL_CLEARING)
        else:
            self._log.debug("h323.h245.event", kind=type(event).__name__)
        if negotiation is not None:
            self._check_negotiation(negotiation, now)

    def _check_negotiation(self, negotiation: ChannelNegotiation, now: float) -> None:
        """Report the caller's channels as an Answer once settled (slow start)."""
        if self._is_answer_reported or self._call.is_released:
            return
        if negotiation.has_no_common_codec:
            self._log.warning("h323.h245.no_common_codec")
            self._call.release(now, CAUSE_INCOMPATIBLE_DESTINATION)
            return
        if not (negotiation.is_settled and negotiation.has_media):
            return
        self._is_answer_reported = True
        self._answer_deadline = None
        sdp = negotiation.answer(self.peer[0])
        self._log.info("h323.in.answered", media=len(sdp.media))
        if self.on_event is not None:
            self.on_event(Answer(sdp=sdp))
