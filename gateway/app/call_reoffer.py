"""Mid-call offers (re-INVITE, UPDATE with SDP): hold, resume, codec changes.

The leg that re-offers (X) is answered only after the other leg (Y) has
answered our offer derived from it, so both sides agree on each stream before
the relay changes anything (RFC 3264 §8). One exchange at a time per call: a
second one meanwhile gets 491 Request Pending (RFC 3261 §14.2).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from gateway.app.call_signalling import SDP, contact_for
from gateway.b2bua.call import Call, CallLeg, CallState
from gateway.b2bua.h323_media import answer_for_h323_peer
from gateway.b2bua.leg_media import check_offer, make_answer
from gateway.b2bua.media_plan import leg_streams
from gateway.b2bua.reoffer import (
    LegSession,
    PendingReoffer,
    ReofferResult,
    SessionRefresh,
    StreamUpdate,
    added_stream_count,
    complete_reoffer,
    plan_reoffer,
)
from gateway.errors import GatewayError
from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.model import Direction, SessionDescription
from gateway.sdp.parse import parse_sdp
from gateway.sdp.serialize import serialize_sdp
from gateway.sip.errors import RemoteSipError
from gateway.sip.ids import TransactionKey
from gateway.sip.message import SipRequest, SipResponse, make_response
from gateway.srtp.errors import RemoteSrtpError

if TYPE_CHECKING:
    from gateway.app.call_service import CallService


def start_sessions(call: Call, *, caller_offered: bool = True) -> None:
    """Remember each leg's completed exchange once media is agreed.

    ``caller_offered`` is False for a late offer, where the callee offered
    and the gateway offered the caller.
    """
    caller, callee = call.caller, call.callee
    caller.session = LegSession.from_leg(
        caller,
        we_offered=not caller_offered,
        ports=[e.rtp_port for e in caller.endpoints],
    )
    if callee is not None:
        callee.session = LegSession.from_leg(
            callee,
            we_offered=caller_offered or call.is_offer_made_for_callee,
            ports=[e.rtp_port for e in callee.endpoints],
        )


class Reoffers:
    """Runs mid-call offer/answer exchanges for the CallService."""

    def __init__(self, service: CallService) -> None:
        self._svc = service

    def on_reinvite(
        self,
        call: Call,
        side: CallLeg,
        transaction_id: TransactionKey,
        request: SipRequest,
    ) -> None:
        svc = self._svc
        if call.state is not CallState.CONFIRMED or call.reoffer_pending:
            svc.reply(transaction_id, request, 491)
            return
        if side.dialog is not None:
            try:
                side.dialog.receive_request(request)
            except RemoteSipError as exc:
                svc.reply(transaction_id, request, exc.status)
                return
        if not request.body:
            # A re-INVITE without SDP: offer our current session again (RFC 3264 §8.5).
            assert side.session is not None
            self._answer_x(call, side, transaction_id, request, side.session.local)
            return
        try:
            offer = parse_sdp(request.body)
            if call.is_echo or call.callee is None:
                self._echo_reoffer(call, side, transaction_id, request, offer)
                return
            self._relay_reoffer(call, side, transaction_id, request, offer)
        except (RemoteSdpError, RemoteSrtpError, GatewayError) as exc:
            response = make_response(request, getattr(exc, "status", 488))
            svc.finish_response(response, str(exc))
            svc.respond(transaction_id, response)

    def _relay_reoffer(
        self,
        call: Call,
        x_leg: CallLeg,
        transaction_id: TransactionKey,
        request: SipRequest,
        offer: SessionDescription,
    ) -> None:
        svc = self._svc
        y_leg = call.callee if x_leg is call.caller else call.caller
        assert y_leg is not None and x_leg.session and y_leg.session
        assert x_leg.policy is not None
        check_offer(offer, x_leg.policy)  # A site's re-offer must stay SRTP.
        if added_stream_count(x_leg.session, offer):
            raise RemoteSdpError(
                "adding m-lines mid-call is not supported yet", status=488
            )
        plan = plan_reoffer(
            x_leg.session,
            y_leg.session,
            offer,
            local=svc.local_session(y_leg),
            codecs=svc.codec_policy,
            srtp=svc.srtp_policy,
        )
        if isinstance(plan, SessionRefresh):
            x_leg.session = plan.x
            self._answer_x(call, x_leg, transaction_id, request, plan.answer)
            return
        if y_leg.h323 is not None:
            self._answer_for_h323(call, x_leg, y_leg, transaction_id, request, plan)
            return
        call.reoffer_pending = True
        self._offer_y(call, x_leg, y_leg, transaction_id, request, plan)

    def _offer_y(
        self,
        call: Call,
        x_leg: CallLeg,
        y_leg: CallLeg,
        transaction_id: TransactionKey,
        request: SipRequest,
        plan: PendingReoffer,
    ) -> None:
        svc = self._svc

        def on_response(response: SipResponse | None) -> None:
            if response is not None and response.status < 200:
                return
            call.reoffer_pending = False
            if call.is_ended:
                return
            if response is None or response.status >= 300:
                status = response.status if response is not None else 408
                reject = make_response(request, status if status < 600 else 488)
                svc.respond(transaction_id, reject)
                return
            svc.send_in_dialog(y_leg, "ACK")
            try:
                result = complete_reoffer(plan, parse_sdp(response.body))
            except (RemoteSdpError, RemoteSrtpError) as exc:
                reject = make_response(request, 488)
                svc.finish_response(reject, f"other leg's answer: {exc}")
                svc.respond(transaction_id, reject)
                return
            self._apply(call, x_leg, y_leg, result)
            self._answer_x(call, x_leg, transaction_id, request, result.answer)

        reinvite = svc.in_dialog(y_leg, "INVITE", body=serialize_sdp(plan.offer))
        if reinvite is None:
            call.reoffer_pending = False
            svc.reply(transaction_id, request, 500)
            return
        svc.send_request_on(y_leg, reinvite, on_response)

    def _answer_for_h323(
        self,
        call: Call,
        x_leg: CallLeg,
        y_leg: CallLeg,
        transaction_id: TransactionKey,
        request: SipRequest,
        plan: PendingReoffer,
    ) -> None:
        """Y speaks H.323: we answer for it and hold or resume its channels.

        Raises RemoteSdpError (488) for a change H.323 channels cannot follow.
        """
        assert y_leg.session is not None
        try:
            y_answer = answer_for_h323_peer(plan.offer, y_leg.session.remote)
        except RemoteSdpError:
            # A codec change: new channels in a codec of the offer (or 488).
            switched = y_leg.h323.switch_codecs(plan.offer)
            y_answer = answer_for_h323_peer(plan.offer, y_leg.session.remote, switched)
            self._svc.log.info(
                "call.h323_codec_change",
                call=call.call_ref,
                codecs={i: f.name for i, f in switched.items()},
            )
        result = complete_reoffer(plan, y_answer)
        self._apply(call, x_leg, y_leg, result)
        self._answer_x(call, x_leg, transaction_id, request, result.answer)
        is_held = any(
            y_answer.direction_of(i) is not Direction.SENDRECV
            for i, media in enumerate(y_answer.media)
            if media.port != 0
        )
        y_leg.h323.set_on_hold(is_held)

    def _apply(
        self, call: Call, x_leg: CallLeg, y_leg: CallLeg, result: ReofferResult
    ) -> None:
        """Store both legs' new sessions and move the relay to them."""
        x_leg.session, y_leg.session = result.x, result.y
        for leg, session in ((x_leg, result.x), (y_leg, result.y)):
            leg.streams = session.streams
            leg.offer, leg.answer = session.offer, session.answer
        for update in result.updates:
            self._update_stream(call, x_leg, update)

    def _update_stream(self, call: Call, x_leg: CallLeg, update: StreamUpdate) -> None:
        svc = self._svc
        stream = call.relay_streams.get(update.index)
        if stream is None or not update.has_changes:
            if stream is not None:
                stream.is_on_hold = update.is_on_hold
            return
        x_side = "a" if x_leg is call.caller else "b"
        y_side = "b" if x_side == "a" else "a"
        hold = update.is_on_hold
        if update.x_remote_changed or update.x_keys_changed:
            svc.relay.update_leg(
                stream, x_side, svc.media_leg(update.x, x_side), on_hold=hold
            )
        if update.y_remote_changed or update.y_keys_changed:
            svc.relay.update_leg(
                stream, y_side, svc.media_leg(update.y, y_side), on_hold=hold
            )
        stream.is_on_hold = hold

    def _echo_reoffer(
        self,
        call: Call,
        leg: CallLeg,
        transaction_id: TransactionKey,
        request: SipRequest,
        offer: SessionDescription,
    ) -> None:
        """The echo test answers re-offers itself: same ports, fresh leg state."""
        svc = self._svc
        assert leg.policy is not None
        ports = [e.rtp_port for e in leg.endpoints]
        if len(offer.media) != len(ports):
            raise RemoteSdpError("the m-line count changed", status=488)
        answer = make_answer(offer, ports, leg.policy)
        previous = leg.session.local if leg.session is not None else None
        if previous is not None:
            answer = _next_version(answer, previous)
        leg.offer, leg.answer = offer, answer
        leg.streams = leg_streams(offer, answer, we_offered=False)
        leg.session = LegSession.from_leg(leg, we_offered=False, ports=ports)
        for index, stream in enumerate(leg.streams):
            relayed = call.relay_streams.get(index)
            if relayed is not None and stream.is_accepted:
                hold = offer.direction_of(index) is not Direction.SENDRECV
                svc.relay.update_leg(
                    relayed, "a", svc.media_leg(stream, "a"), on_hold=hold
                )
        self._answer_x(call, leg, transaction_id, request, answer)

    def _answer_x(
        self,
        call: Call,
        leg: CallLeg,
        transaction_id: TransactionKey,
        request: SipRequest,
        sdp: SessionDescription,
    ) -> None:
        svc = self._svc
        ok = make_response(request, 200)
        ok.headers.add("Contact", contact_for(leg.connection))
        _, timer_headers = svc.timers.answer_headers(request, leg)
        for name, value in timer_headers:
            ok.headers.add(name, value)
        ok.headers.add("Content-Type", SDP)
        ok.body = serialize_sdp(sdp)
        svc.respond(transaction_id, ok)
        svc.timers.answered(leg)  # A peer's re-INVITE refreshes its session.
        svc.log.info(
            "call.reoffer",
            call=call.call_ref,
            leg=leg.name,
            directions=[str(sdp.direction_of(i).value) for i in range(len(sdp.media))],
        )


def _next_version(
    answer: SessionDescription, previous: SessionDescription
) -> SessionDescription:
    """Keep our o= line and bump its version (RFC 3264 §8)."""
    return dataclasses.replace(answer, origin=previous.origin.next_version())
