"""The gateway's outgoing H.323 leg on asyncio (H.323 sections 8.1-8.5).

:class:`H323CallOut` places one call to an H.323 endpoint over a TCP
call-signalling connection and reports its progress as the neutral
``gateway.b2bua.events`` the SIP legs use: Alerting and Progress (with early
media when the callee accepts Fast Start before Connect), Answer (with a
synthesized RTP/AVP SessionDescription) and Release (Q.850 cause).

Media is negotiated with Fast Start (H.323 section 8.1.7: the Setup carries
OpenLogicalChannel proposals built from the SDP offer) or, when the callee
refuses it or ``fast_start`` is False, with H.245 (slow start, section 8.2):
capability exchange, master-slave determination, then our channels toward
the peer and the peer's channels toward the relay.  The H.245 path
(tunnelled, or a separate connection to the callee's h245Address, or our
own listener offered with ``offer_h245_address``) is
:class:`~gateway.app.h323_connection.H323Connection`'s.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.app.h323_connection import H323Connection
from gateway.b2bua.events import Alerting, Answer, CallEvent, Dtmf, Progress
from gateway.b2bua.h323_media import (
    ChannelNegotiation,
    H323Stream,
    answer_sdp,
    receive_proposal,
    transmit_proposal,
)
from gateway.h323 import codec
from gateway.h323.call_messages import (
    AlertingReceived,
    CallState,
    ConnectReceived,
    FastStartAccepted,
    FastStartRefused,
    H225CallEvent,
    ProgressReceived,
)
from gateway.h323.capabilities import CapabilitySetPlan, data_type_for
from gateway.h323.codec import AliasAddress, AliasKind, TransportAddress
from gateway.h323.errors import CAUSE_INVALID_IE_CONTENTS, RemoteH323Error
from gateway.h323.h245 import (
    CapabilitiesReceived,
    ChannelOpened,
    ChannelOpenRequested,
    ChannelRejected,
    H245Event,
    MasterSlaveDetermined,
    UserInput,
)
from gateway.h323.h245_messages import read_h245_address
from gateway.h323.q850 import CAUSE_INCOMPATIBLE_DESTINATION
from gateway.sdp.media import MediaFormat, MediaKind
from gateway.sdp.model import SessionDescription

__all__ = ["CallIdentity", "H323CallOut"]

_ANSWERED = frozenset(
    (
        CallState.OUTGOING_CALL_PROCEEDING,
        CallState.CALL_DELIVERED,
        CallState.ACTIVE,
    )
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallIdentity:
    """The identifiers of one H.323 call: ARQ and Setup must carry the same
    (H.225.0 section 7.9.3), so they are drawn before either is sent."""

    call_identifier: bytes
    conference_id: bytes
    call_reference: int

    @classmethod
    def random(cls) -> CallIdentity:
        # Q.931 section 4.3: a 15-bit call reference, never 0.
        return cls(
            call_identifier=secrets.token_bytes(16),
            conference_id=secrets.token_bytes(16),
            call_reference=secrets.randbelow(0x7FFF) + 1,
        )


class H323CallOut(H323Connection):
    """One outgoing H.323 call: Setup to ``address``, events to ``on_event``.

    ``offer`` is the SDP the gateway would send this leg (RTP/AVP with the
    relay's ports); its audio and video streams become Fast Start proposals
    and our TerminalCapabilitySet.  ``log`` is a structlog-style logger.
    ``on_event`` receives Alerting, Progress, Answer, Dtmf and Release; a
    call cleared by :meth:`release` reports nothing more.
    ``offer_h245_address`` makes the Setup refuse H.245 tunnelling and carry
    the address of our own H.245 listener (H.323 section 8.2.3); the callee
    may connect to it or answer with its own h245Address.
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
        identity: CallIdentity | None = None,
        h245_keepalive_s: float = 20.0,
    ) -> None:
        super().__init__(
            is_outgoing=True,
            log=log,
            media_timeout_s=media_timeout_s,
            h245_keepalive_s=h245_keepalive_s,
        )
        self._identity = identity or CallIdentity.random()
        self.address = address
        self.dialled = dialled
        self.calling_number = calling_number
        self.offer = offer
        self.on_event = on_event
        self._use_fast_start = fast_start
        self._offer_h245_address = offer_h245_address
        self._media = ChannelNegotiation(self._h245, offer)
        self._streams = self._media.streams
        self._proposals: dict[int, tuple[H323Stream, MediaFormat]] = {}
        self._is_fast_started = False
        self._is_connected = False
        self._is_answered = False
        self._is_early_reported = False

    # -- public API ------------------------------------------------------------

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
            call_identifier=self._identity.call_identifier,
            conference_id=self._identity.conference_id,
            call_reference=self._identity.call_reference,
        )
        self._log.info(
            "h323.call.setup",
            peer=f"{host}:{port}",
            dialled=self.dialled,
            fast_start=bool(proposals),
            h245_address=None if h245_address is None else h245_address.port,
        )
        self._pump(now)
        self._start_reading()

    def request_fast_update(self) -> bool:
        """Ask the peer for an intra picture on its video channel (H.245 15.10).

        Returns False when the peer sends us no video channel.
        """
        channels = [
            s.in_channel
            for s in self._streams
            if s.kind is MediaKind.VIDEO and s.in_channel is not None
        ]
        if not channels:
            return False
        channel = channels[0]
        self._command(lambda now: self._h245.send_fast_update(channel, now=now))
        return True

    def switch_codecs(self, offer: SessionDescription) -> dict[int, MediaFormat]:
        """Re-open H.245 channels in codecs of a mid-call ``offer``; see
        :meth:`ChannelNegotiation.switch_codecs` (488 after Fast Start)."""
        now = time.monotonic()
        switched = self._media.switch_codecs(offer, now)
        self._pump(now)
        return switched

    def set_on_hold(self, is_held: bool) -> None:
        """The SIP side held or resumed: close or re-open our channels."""
        self._log.info("h323.call.hold" if is_held else "h323.call.resume")
        if not self._is_h245_started:
            return
        if is_held:
            self._command(self._media.close_ours)
        else:
            self._command(self._media.reopen_ours)

    # -- hooks of H323Connection --------------------------------------------------

    def _capabilities(self) -> CapabilitySetPlan:
        return self._media.capabilities_for_h245()

    def _needs_h245_for_media(self) -> bool:
        return not self._is_fast_started  # Slow start has no media without it.

    # -- H.225.0 events --------------------------------------------------------

    def _on_call_event(self, event: H225CallEvent, now: float) -> None:
        handler = _CALL_HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event, now)
        if not self._use_fast_start and self._call.state in _ANSWERED:
            # Slow start: open H.245 as soon as the callee answered anything.
            self._start_h245(now)

    def _on_alerting(self, event: AlertingReceived, now: float) -> None:
        self._emit(Alerting(early_media=self._early_media()))

    def _on_progress(self, event: ProgressReceived, now: float) -> None:
        self._emit(Progress(early_media=self._early_media()))

    def _early_media(self) -> SessionDescription | None:
        """The Fast Start answer once, when it came before Connect (8.1.7.1)."""
        if not self._is_fast_started or self._is_connected or self._is_early_reported:
            return None
        if all(s.peer_rtp is None for s in self._streams):
            return None
        self._is_early_reported = True
        self._log.info("h323.call.early_media")
        return answer_sdp(self.offer, self._streams, self.address[0])

    def _on_fast_start_refused(self, event: FastStartRefused, now: float) -> None:
        self._log.info("h323.call.fast_start_refused")

    def _on_connect(self, event: ConnectReceived, now: float) -> None:
        self._is_connected = True
        self._log.info("h323.call.connected", fast_start=self._is_fast_started)
        # H.245 runs in Fast Start calls too, for user input (H.323 8.2.4).
        self._start_h245(now)
        if not self._maybe_answer():
            self._answer_deadline = now + self._media_timeout_s

    # -- Fast Start (H.323 section 8.1.7) --------------------------------------

    def _fast_start_proposals(self) -> list[bytes]:
        """One receive and one transmit OpenLogicalChannel per offered format."""
        proposals: list[bytes] = []
        for stream in self._streams:
            for fmt in stream.formats:
                data_type = data_type_for(fmt)
                receive = self._media.take_channel_number()
                self._proposals[receive] = (stream, fmt)
                proposals.append(receive_proposal(receive, stream, data_type))
                transmit = self._media.take_channel_number()
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
        self._media.is_fast_started = True
        for stream in self._streams:
            stream.is_resolved = True
        if not self._is_connected:
            early = self._early_media()
            if early is not None:  # Media before Connect: early media.
                self._emit(Progress(early_media=early))
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

    # -- H.245 (slow start media, user input) -----------------------------------

    def _emit_dtmf(self, digits: str) -> None:
        self._emit(Dtmf(digits=digits))

    def _on_h245_event(self, event: H245Event, now: float) -> None:
        media = self._media
        if isinstance(event, CapabilitiesReceived):
            media.on_capabilities(event.table, event.descriptors, now)
        elif isinstance(event, MasterSlaveDetermined):
            media.on_master_slave_determined(now)
        elif isinstance(event, ChannelOpened):
            media.on_our_channel(event.number, event.media, event.media_control)
        elif isinstance(event, ChannelRejected):
            self._log.info("h323.h245.channel_rejected", cause=event.cause)
            media.on_our_channel(event.number, None, None)
        elif isinstance(event, ChannelOpenRequested):
            media.on_peer_channel(event.number, event.data_type, event.session_id, now)
        elif isinstance(event, UserInput):
            self._log.info("h323.h245.user_input", digits=event.digits)
            self._emit_dtmf(event.digits)
        else:
            self._log.debug("h323.h245.event", kind=type(event).__name__)
        if media.has_no_common_codec and not self._is_answered:
            self._log.warning("h323.h245.no_common_codec")
            self._call.release(now, CAUSE_INCOMPATIBLE_DESTINATION)
            return
        self._maybe_answer()

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
        self._emit(Answer(sdp=sdp))
        return True


_Handler = Callable[[H323CallOut, Any, float], None]
_CALL_HANDLERS: dict[type[H225CallEvent], _Handler] = {
    AlertingReceived: H323CallOut._on_alerting,
    ProgressReceived: H323CallOut._on_progress,
    FastStartAccepted: H323CallOut._on_fast_start,
    FastStartRefused: H323CallOut._on_fast_start_refused,
    ConnectReceived: H323CallOut._on_connect,
}
