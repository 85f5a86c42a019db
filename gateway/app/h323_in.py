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
while the caller tunnels (section 8.2.1); a caller that does not gets a
separate H.245 connection: to the h245Address of its Setup, or to ours,
offered in Connect (section 8.2.3).  H.245 also carries user input and
fast-update requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gateway.app.h323_connection import H323Connection
from gateway.b2bua.events import Answer, Dtmf, Setup
from gateway.b2bua.h323_media import (
    ChannelNegotiation,
    FastStartProposal,
    accept_fast_start,
    h245_capabilities_of,
    offer_from_fast_start,
    read_fast_start,
)
from gateway.h323.call_messages import (
    H225CallEvent,
    PeerH245Address,
    SetupReceived,
)
from gateway.h323.capabilities import CapabilitySetPlan, h245_capabilities_from_streams
from gateway.h323.codec import AliasKind, TransportAddress
from gateway.h323.errors import RemoteH323Error
from gateway.h323.h245 import (
    CapabilitiesReceived,
    ChannelOpened,
    ChannelOpenRequested,
    ChannelRejected,
    H245Event,
    MasterSlaveDetermined,
    UserInput,
)
from gateway.h323.q850 import CAUSE_INCOMPATIBLE_DESTINATION
from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.media import MediaFormat
from gateway.sdp.model import SessionDescription

__all__ = ["H323CallIn", "dialled_of"]

SETUP_TIMEOUT_S = 10.0  # How long an accepted connection may wait for Setup.
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


class H323CallIn(H323Connection):
    """One incoming H.323 call on an accepted TCP connection.

    ``on_setup`` receives the caller's Setup as a neutral event (the offer is
    None when the caller did not use Fast Start); after it, what the caller
    does later (Answer in slow start, Dtmf, Release) goes to
    :attr:`on_event`.
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
        super().__init__(is_outgoing=False, log=log, media_timeout_s=media_timeout_s)
        self._reader = reader
        self._writer = writer
        self._on_setup = on_setup
        peer = writer.get_extra_info("peername") or ("", 0)
        self.peer: tuple[str, int] = (str(peer[0]), int(peer[1]))
        self.calling_number = ""
        self.dialled = ""
        self.call_identifier = b""
        self.conference_id: bytes | None = None
        self.call_reference = 0
        self.admitted_by: str | None = None  # The trunk whose gatekeeper did.
        self.offer: SessionDescription | None = None
        self._proposals: list[FastStartProposal] = []
        self._is_fast_start_sent = False
        self._answered_sdp: SessionDescription | None = None
        self._negotiation: ChannelNegotiation | None = None
        self._peer_capabilities: CapabilitiesReceived | None = None
        self._is_msd_done = False
        self._is_answer_reported = False
        self._in_video_channel: int | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._setup_deadline: float | None = None

    async def run(self) -> None:
        """Serve the connection until the call is cleared."""
        # The answer deadline doubles as the wait for Setup (see _on_timer).
        self._setup_deadline = time.monotonic() + SETUP_TIMEOUT_S
        self._answer_deadline = self._setup_deadline
        self._arm_timer()
        await self._run()
        await self.wait_closed()

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
        self._answered_sdp = sdp
        self._connect(accepted)
        self._log.info("h323.in.connected", fast_start=True)

    def answer_with_offer(self, offer: SessionDescription) -> None:
        """Slow start: Connect, then open channels for ``offer`` over H.245.

        The caller's channels come back as an Answer event; no agreement
        within the media timeout clears the call (cause 102).
        """
        self._negotiation = ChannelNegotiation(self._h245, offer)
        self._answered_sdp = offer
        self._connect(None)
        self._log.info("h323.in.connected", fast_start=False)

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

    def switch_codecs(self, offer: SessionDescription) -> dict[int, MediaFormat]:
        """Re-open H.245 channels in codecs of a mid-call ``offer``; see
        :meth:`ChannelNegotiation.switch_codecs` (488 after Fast Start)."""
        negotiation = self._negotiation
        if negotiation is None:
            raise RemoteSdpError(
                "the H.323 leg's channels came from Fast Start: no codec change",
                status=488,
            )
        now = time.monotonic()
        switched = negotiation.switch_codecs(offer, now)
        self._pump(now)
        return switched

    def request_fast_update(self) -> bool:
        """Ask the caller for an intra picture (H.245 15.10); False without video."""
        channel = self._in_video_channel
        if channel is None and self._negotiation is not None:
            channel = next(
                (
                    s.in_channel
                    for s in self._negotiation.streams
                    if s.session_id == 2 and s.in_channel is not None
                ),
                None,
            )
        if channel is None:
            return False
        self._command(lambda now: self._h245.send_fast_update(channel, now=now))
        return True

    def _connect(self, accepted: list[bytes] | None) -> None:
        """Connect now, or once our H.245 listener is bound: the caller does
        not tunnel and gave no address of its own (H.323 8.2.3)."""
        needs_listener = not self._call.is_h245_tunnelling and (
            self._link is None and self._link_task is None
        )
        if needs_listener:
            self._connect_task = asyncio.create_task(self._connect_later(accepted))
        else:
            self._send_connect(accepted, None)

    async def _connect_later(self, accepted: list[bytes] | None) -> None:
        h245_address: TransportAddress | None = None
        try:
            h245_address = await self._listen_h245()
        except OSError as exc:
            self._log.warning("h323.h245.listen_failed", error=str(exc))
        self._guarded(self._send_connect, accepted, h245_address)

    def _send_connect(
        self, accepted: list[bytes] | None, h245_address: TransportAddress | None
    ) -> None:
        def connect(now: float) -> None:
            self._call.connect(
                now, fast_start_accepted=accepted, h245_address=h245_address
            )
            if self._negotiation is not None:
                self._answer_deadline = now + self._media_timeout_s
            self._start_h245(now)

        self._command(connect)

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

    # -- hooks of H323Connection --------------------------------------------------

    def _capabilities(self) -> CapabilitySetPlan:
        if self._negotiation is not None:
            return self._negotiation.capabilities_for_h245()
        sdp = self._answered_sdp
        if sdp is None:
            return h245_capabilities_from_streams([])
        return h245_capabilities_of(sdp)

    def _needs_h245_for_media(self) -> bool:
        return self._negotiation is not None

    def _on_call_event(self, event: H225CallEvent, now: float) -> None:
        if isinstance(event, SetupReceived):
            self._on_setup_received(event, now)

    def _on_timer(self, now: float) -> None:
        if self._setup_deadline is not None and now >= self._setup_deadline:
            # No Setup in time (junk, or a silent port scan): hang up.
            self._setup_deadline = None
            self._log.warning("h323.in.no_setup", peer=f"{self.peer[0]}:{self.peer[1]}")
            self._answer_deadline = None
            self._close()
            return
        super()._on_timer(now)

    def _on_setup_received(self, event: SetupReceived, now: float) -> None:
        self._setup_deadline = self._answer_deadline = None
        if self._call.is_released:
            return  # Cleared in the same read (a Connect after it, say).
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
            h245_port=None if event.h245_address is None else event.h245_address.port,
        )
        if event.h245_address is not None and not self._call.is_h245_tunnelling:
            # The caller listens for H.245 (H.323 8.2.3): connect to it.
            self._on_peer_h245_address(PeerH245Address(address=event.h245_address), now)
        # Q.931 5.2.5.2: say we are working on it before routing takes time.
        self._call.call_proceeding(now)
        self._on_setup(self, Setup(dialled=self.dialled, offer=self.offer))

    # -- H.245 -------------------------------------------------------------------

    def _on_h245_event(self, event: H245Event, now: float) -> None:
        negotiation = self._negotiation
        if isinstance(event, UserInput):
            self._log.info("h323.in.user_input", digits=event.digits)
            self._emit(Dtmf(digits=event.digits))
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
        else:
            self._log.debug("h323.h245.event", kind=type(event).__name__)
        if negotiation is not None:
            self._check_negotiation(negotiation, now)

    def _start_h245(self, now: float) -> None:
        """Start H.245, then replay what the caller said before we did."""
        was_started = self._is_h245_started
        super()._start_h245(now)
        negotiation = self._negotiation
        if was_started or negotiation is None or not self._is_h245_started:
            return
        peer = self._peer_capabilities
        if peer is not None:
            negotiation.on_capabilities(peer.table, peer.descriptors, now)
        if self._is_msd_done:
            negotiation.on_master_slave_determined(now)

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
        self._emit(Answer(sdp=sdp))
