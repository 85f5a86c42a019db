"""Late offer: an INVITE without SDP (RFC 3261 §13.2.1, RFC 3264 §4).

Old room systems and some trunks send INVITE with no body and expect the
offer in the 200. The B2BUA forwards the INVITE without SDP too; the callee
then offers in its 200, which the gateway answers in the ACK (with its own
keys), and offers the caller in its 200 (with other keys). The caller's
answer comes in its ACK, and only then is the media bridged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.b2bua.call import Call, CallState
from gateway.b2bua.leg_media import check_offer, make_answer, make_offer
from gateway.b2bua.media_plan import leg_streams
from gateway.errors import GatewayError
from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.model import SessionDescription
from gateway.sdp.parse import parse_sdp
from gateway.sdp.serialize import serialize_sdp
from gateway.sip.message import SipRequest, SipResponse
from gateway.srtp.errors import RemoteSrtpError

if TYPE_CHECKING:
    from gateway.app.call_service import CallService


async def callee_offered(svc: CallService, call: Call, response: SipResponse) -> None:
    """The callee's 2xx carries the offer: ACK it with our answer, offer the caller."""
    caller, callee = call.caller, call.callee
    assert callee is not None and callee.policy is not None
    assert caller.policy is not None
    try:
        offer = parse_sdp(response.body)
        check_offer(offer, callee.policy)
        await svc.allocate_for(call, callee, len(offer.media))
        await svc.allocate_for(call, caller, len(offer.media))
        if call.is_ended:
            svc.send_in_dialog(callee, "ACK")
            svc.send_in_dialog(callee, "BYE")
            return
        callee.offer = offer
        callee.answer = make_answer(offer, svc.ports(callee), callee.policy)
        callee.streams = leg_streams(offer, callee.answer, we_offered=False)
        caller.offer = make_offer(offer, svc.ports(caller), caller.policy)
    except (RemoteSdpError, RemoteSrtpError, GatewayError) as exc:
        svc.send_in_dialog(callee, "ACK")
        svc.send_in_dialog(callee, "BYE")
        svc.fail(call, 488, f"callee's offer is not usable: {exc}")
        return
    svc.send_in_dialog(callee, "ACK", body=serialize_sdp(callee.answer))
    svc.answer_caller(call, caller.invite_transaction, caller.offer)


def caller_answered(svc: CallService, call: Call, ack: SipRequest) -> None:
    """The caller's ACK carries its answer to our offer: bridge the media."""
    if not ack.body:
        svc.end_with_bye(call, "caller's answer is not usable: ACK without SDP")
        return
    try:
        answer = parse_sdp(ack.body)
    except RemoteSdpError as exc:
        svc.end_with_bye(call, f"caller's answer is not usable: {exc}")
        return
    caller_answer(svc, call, answer)


def caller_answer(svc: CallService, call: Call, answer: SessionDescription) -> None:
    """The caller's answer to our offer (SIP ACK, H.323 channels): bridge."""
    caller = call.caller
    assert caller.offer is not None and caller.policy is not None
    try:
        caller.answer = answer
        check_offer(caller.answer, caller.policy)
        caller.streams = leg_streams(caller.offer, caller.answer, we_offered=True)
        svc.bridge(call)
    except (RemoteSdpError, RemoteSrtpError) as exc:
        svc.end_with_bye(call, f"caller's answer is not usable: {exc}")
        return
    call.move_to(CallState.CONFIRMED)
    svc.start_leg_sessions(call, caller_offered=False)
