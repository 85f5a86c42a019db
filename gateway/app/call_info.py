"""INFO and digits between a call's legs, whatever protocol each leg speaks.

SIP INFO carries keyframe requests (RFC 5168 picture_fast_update) and DTMF
(application/dtmf-relay); H.323 carries them as H.245 videoFastUpdatePicture
and userInputIndication; RTP carries DTMF as RFC 4733 telephone-event.
:class:`InfoRelay` passes each to the other leg in the form that leg uses.
Keyframe requests go through the call's keyframe broker (rate limit, the
far side's dialect).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.app.call_signalling import in_dialog_request
from gateway.b2bua.call import Call, CallLeg
from gateway.b2bua.dtmf import dtmf_from_info
from gateway.media.errors import LocalMediaError
from gateway.media.keyframe import is_picture_fast_update
from gateway.sip.ids import TransactionKey
from gateway.sip.message import SipRequest, SipResponse

if TYPE_CHECKING:
    from gateway.app.call_service import CallService


class InfoRelay:
    """INFO, user input and RFC 4733 digits for the CallService."""

    def __init__(self, service: CallService) -> None:
        self._svc = service

    def relay_info(
        self, call: Call, side: str, transaction_id: TransactionKey, request: SipRequest
    ) -> None:
        """Pass INFO (picture_fast_update, DTMF relay) to the other leg.

        A keyframe request is answered 200 here; other INFO is forwarded and
        the far side's final status relayed back.
        """
        svc = self._svc
        if svc.keyframes.take_info(call, side, request.body):
            svc.reply(transaction_id, request, 200)
            return
        other = call.callee if side == "caller" else call.caller
        if other is None or call.is_echo:
            svc.reply(transaction_id, request, 200)
            return
        if other.h323 is not None:
            self._info_to_h323(other, transaction_id, request)
            return
        svc.refresh_flow(other)
        info = in_dialog_request(other, "INFO", svc.ids)
        if info is None:
            svc.reply(transaction_id, request, 481)
            return
        content_type = request.headers.get("content-type")
        if content_type is not None:
            info.headers.add("Content-Type", content_type)
        info.body = request.body

        def on_response(response: SipResponse | None) -> None:
            if response is not None and response.status < 200:
                return
            status = response.status if response is not None else 408
            svc.reply(transaction_id, request, status if status < 700 else 500)

        svc.send_request_on(other, info, on_response)

    def _info_to_h323(
        self, leg: CallLeg, transaction_id: TransactionKey, request: SipRequest
    ) -> None:
        """DTMF INFO -> H.245 userInputIndication; picture_fast_update ->
        videoFastUpdatePicture; other INFO has no H.323 form (415)."""
        svc = self._svc
        if is_picture_fast_update(request.body):
            leg.h323.request_fast_update()
            svc.reply(transaction_id, request, 200)
            return
        digits = dtmf_from_info(request.headers.get("content-type"), request.body)
        if digits is None:
            svc.reply(transaction_id, request, 415)
            return
        leg.h323.send_user_input(digits)
        svc.reply(transaction_id, request, 200)

    def send_info(self, leg: CallLeg, content_type: str, body: bytes) -> None:
        """An INFO of ours on ``leg`` (a keyframe request from the broker).

        On an H.323 leg a keyframe request is an H.245 videoFastUpdatePicture.
        """
        svc = self._svc
        if leg.h323 is not None:
            if is_picture_fast_update(body):
                leg.h323.request_fast_update()
            return
        svc.refresh_flow(leg)
        info = in_dialog_request(leg, "INFO", svc.ids)
        if info is None:
            return
        info.headers.add("Content-Type", content_type)
        info.body = body
        svc.send_request_on(leg, info, lambda _r: None)

    def send_dtmf(self, call: Call, leg: CallLeg, digits: str) -> None:
        """Digits toward ``leg``: H.245 user input on H.323; on SIP, RFC 4733
        packets in its audio when it took telephone-event, else INFO."""
        if leg.h323 is not None:
            leg.h323.send_user_input(digits)
            return
        toward = "a" if leg is call.caller else "b"
        log = self._svc.log
        for index, stream in call.relay_streams.items():
            if leg.streams[index].kind != "audio":
                continue
            try:
                stream.send_digits(toward, digits)
            except LocalMediaError:
                break  # No telephone-event on this leg: SIP INFO below.
            log.info("call.dtmf", call=call.call_ref, to=leg.name, rfc4733=True)
            return
        log.info("call.dtmf", call=call.call_ref, to=leg.name, rfc4733=False)
        for digit in digits:
            body = f"Signal={digit}\r\nDuration=160\r\n".encode()
            self.send_info(leg, "application/dtmf-relay", body)

    def on_rtp_digit(
        self, call: Call, label: str, digit: str, duration_ms: int
    ) -> None:
        """A key press in RFC 4733 packets: toward an H.323 leg, user input.

        Between two legs with telephone-event the relay forwards the packets.
        """
        other = call.callee if label == "caller" else call.caller
        if other is not None and other.h323 is not None and not call.is_ended:
            self._svc.log.info(
                "call.dtmf", call=call.call_ref, to=other.name, digit=digit
            )
            other.h323.send_user_input(digit)
