"""One keyframe broker per video stream of a call, and its SIP INFO dialect.

Keyframe requests (RTCP PLI/FIR from the relay, SIP INFO picture_fast_update
from signalling) go through the broker, which rate-limits them and asks the
far encoder in the dialect its leg understands: RTCP where the leg agreed to
rtcp-fb (RFC 4585 / RFC 5104), else SIP INFO (RFC 5168), as many room
systems of the 2010s only do the latter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.b2bua.call import Call, CallLeg
from gateway.media.keyframe import (
    KeyframeBroker,
    KeyframeCommand,
    KeyframeConfig,
    KeyframeDialect,
    SendSipInfo,
    is_picture_fast_update,
)
from gateway.sdp.model import SessionDescription

if TYPE_CHECKING:
    from gateway.app.call_service import CallService


def leg_dialect(remote: SessionDescription | None, index: int) -> KeyframeDialect:
    """How the endpoint of a leg wants to be asked for keyframes."""
    if remote is None or index >= len(remote.media):
        return KeyframeDialect.SIP_INFO
    feedback = " ".join(
        a.value or "" for a in remote.media[index].attributes if a.name == "rtcp-fb"
    ).lower()
    if "ccm fir" in feedback:
        return KeyframeDialect.RTCP_FIR
    if "nack pli" in feedback:
        return KeyframeDialect.RTCP_PLI
    return KeyframeDialect.SIP_INFO


def remote_sdp(leg: CallLeg, *, we_offered: bool) -> SessionDescription | None:
    """The SDP the leg's endpoint sent: its offer, or its answer to ours."""
    return leg.answer if we_offered else leg.offer


class Keyframes:
    """Brokers per bridged video stream; SIP INFO in and out."""

    def __init__(self, service: CallService, min_interval_s: float) -> None:
        self._svc = service
        self._config = KeyframeConfig(min_interval_s=min_interval_s)
        self._streams: dict[int, tuple[Call, int]] = {}

    def broker_for(self, call: Call, index: int) -> KeyframeBroker | None:
        """A broker for m-line ``index`` if it is video; legs registered."""
        caller, callee = call.caller, call.callee
        if callee is None or caller.streams[index].kind != "video":
            return None
        broker = KeyframeBroker(self._config)
        late = call.is_late_offer
        caller_sdp = remote_sdp(caller, we_offered=late)
        callee_sdp = remote_sdp(
            callee, we_offered=not late or call.is_offer_made_for_callee
        )
        broker.add_leg("a", dialect=leg_dialect(caller_sdp, index))
        broker.add_leg("b", dialect=leg_dialect(callee_sdp, index))
        return broker

    def track(self, call: Call, index: int, stream: Any) -> None:
        self._streams[id(stream)] = (call, index)

    def forget(self, call: Call) -> None:
        for stream in call.relay_streams.values():
            self._streams.pop(id(stream), None)

    def on_command(self, stream: Any, command: KeyframeCommand) -> None:
        """The relay's callback: a broker wants a SIP INFO sent on a leg."""
        found = self._streams.get(id(stream))
        if found is None or not isinstance(command, SendSipInfo):
            return
        call, _ = found
        leg = call.caller if command.leg == "a" else call.callee
        if leg is not None and not call.is_ended:
            self._svc.send_info(leg, command.content_type, command.body)

    def take_info(self, call: Call, side: str, body: bytes) -> bool:
        """Handle an INFO picture_fast_update through the brokers; False if none."""
        if not is_picture_fast_update(body):
            return False
        return self.request(call, side)

    def request(self, call: Call, side: str) -> bool:
        """Leg ``side`` ("caller"/"callee") asks for a keyframe of what it
        receives: through the brokers (rate limit, the far leg's dialect)."""
        from_side = "a" if side == "caller" else "b"
        handled = False
        for stream in call.relay_streams.values():
            if getattr(stream, "broker", None) is not None:
                self._svc.relay.request_keyframe(stream, from_side=from_side)
                handled = True
        return handled
