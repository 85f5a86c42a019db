"""Session timers (RFC 4028) on each leg, so a dead peer's call is cleared.

Each leg negotiates its own interval with the gateway. When the gateway is
the refresher it re-INVITEs the leg with its current SDP (same o= version:
a pure refresh, RFC 3264 §8); when the peer should refresh and does not, the
call ends with both legs sent BYE.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gateway.b2bua.call import Call, CallLeg
from gateway.b2bua.session_timer import (
    NegotiatedTimer,
    SendRefresh,
    SessionExpired,
    SessionTimer,
    SessionTimerPolicy,
    TimerHeaders,
    UacTimerRequest,
    uac_negotiated,
    uas_negotiate,
)
from gateway.errors import GatewayError
from gateway.sdp.serialize import serialize_sdp
from gateway.sip.message import SipRequest, SipResponse

if TYPE_CHECKING:
    from gateway.app.call_service import CallService


class CallTimers:
    """Negotiates, runs and enforces every leg's session timer."""

    def __init__(self, service: CallService, policy: SessionTimerPolicy) -> None:
        self._svc = service
        self.policy = policy

    # -- negotiation -----------------------------------------------------------
    def answer_headers(
        self, request: SipRequest, leg: CallLeg
    ) -> tuple[int | None, list[tuple[str, str]]]:
        """For an INVITE/UPDATE from ``leg``: (422 or None, headers for our 2xx).

        The negotiated timer is kept on the leg until the 2xx goes out.
        """
        answer = uas_negotiate(TimerHeaders.from_headers(request.headers), self.policy)
        leg.pending_timer = answer.timer
        return answer.reject_status, list(answer.headers)

    def offer_headers(self, leg: CallLeg) -> list[tuple[str, str]]:
        """Headers for our INVITE to ``leg``; remembered to read its 2xx."""
        request = UacTimerRequest.initial(self.policy)
        leg.timer_request = request
        return list(request.headers())

    def answered_by(self, leg: CallLeg, response: SipResponse) -> None:
        """The callee's 2xx: start the timer it agreed to, if any."""
        request = leg.timer_request
        if request is None:
            return
        timer = uac_negotiated(
            request, TimerHeaders.from_headers(response.headers), self.policy
        )
        self._start(leg, timer)

    def answered(self, leg: CallLeg) -> None:
        """Our 2xx to ``leg`` went out: start (or refresh) its timer."""
        timer, leg.pending_timer = leg.pending_timer, None
        if leg.session_timer is not None and not leg.session_timer.is_terminated:
            leg.session_timer.refreshed(
                _now(),
                interval_s=timer.interval_s if timer else None,
                we_refresh=timer.we_refresh if timer else None,
            )
            return
        self._start(leg, timer)

    def _start(self, leg: CallLeg, timer: NegotiatedTimer | None) -> None:
        if timer is None:
            return
        leg.session_timer = SessionTimer()
        leg.session_timer.start_negotiated(_now(), timer)

    # -- running ---------------------------------------------------------------
    def sweep(self, call: Call, now: float) -> None:
        """Fire due timers of ``call``: refresh a leg, or end the call."""
        for leg in (call.caller, call.callee):
            timer = leg.session_timer if leg is not None else None
            if leg is None or timer is None or timer.is_terminated:
                continue
            deadline = timer.next_deadline()
            if deadline is None or deadline > now:
                continue
            timer.handle_timeout(now)
            for command in timer.pop_commands():
                if isinstance(command, SendRefresh):
                    self._refresh(call, leg, command)
                elif isinstance(command, SessionExpired):
                    self._svc.end_with_bye(call, f"session timer: {command.reason}")
                    return

    def _refresh(self, call: Call, leg: CallLeg, command: SendRefresh) -> None:
        svc = self._svc
        session = leg.session
        if session is None or call.reoffer_pending:
            return
        request = svc.in_dialog(leg, "INVITE", body=serialize_sdp(session.local))
        if request is None:
            return
        for name, value in command.request.headers():
            request.headers.add(name, value)

        def on_response(response: SipResponse | None) -> None:
            timer = leg.session_timer
            if response is not None and response.status < 200:
                return
            if response is not None and response.status < 300:
                svc.send_in_dialog(leg, "ACK")
            if timer is None or timer.is_terminated:
                return
            try:
                if response is not None and response.status < 300:
                    timer.refreshed(_now())
                else:
                    status = response.status if response is not None else None
                    timer.refresh_failed(_now(), status=status)
            except GatewayError:
                return  # The timer already expired meanwhile.

        svc.send_request_on(leg, request, on_response)


def _now() -> float:
    return time.monotonic()
