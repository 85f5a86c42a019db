"""The B2BUA's H.323 legs: placing a call to an H.323 trunk address.

The leg itself (:class:`gateway.app.h323_leg.H323CallOut`) speaks H.225.0
and H.245; this module creates it for a call, and turns what it reports into
the neutral events the call service handles for any callee.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.app.call_helpers import ports
from gateway.app.h323_leg import H323CallOut
from gateway.b2bua.call import Call, CallState
from gateway.b2bua.events import CallEvent, Release
from gateway.b2bua.leg_media import make_offer
from gateway.b2bua.trunks import TrunkAddress
from gateway.sip.errors import RemoteSipError

if TYPE_CHECKING:
    from gateway.app.call_service import CallService


class H323Callees:
    """Places H.323 callee legs for the call service and relays their events."""

    def __init__(self, service: CallService) -> None:
        self._service = service

    async def call(self, call: Call, address: TrunkAddress) -> None:
        """Call an H.323 trunk address; its events come back as neutral ones."""
        callee, caller = call.callee, call.caller
        assert callee is not None and callee.policy is not None
        if caller.offer is None:
            raise RemoteSipError("a late offer cannot be sent to an H.323 trunk", 488)
        callee.offer = make_offer(caller.offer, ports(callee), callee.policy)
        callee.peer = str(address)
        callee.transport = "TCP"
        callee.got_response = False
        leg = H323CallOut(
            address=(address.host, address.port),
            dialled=callee.number,
            calling_number=caller.site or "",
            offer=callee.offer,
            on_event=lambda event: self._on_event(call, leg, event),
            log=self._service.log,
        )
        callee.h323 = leg
        if call.state is CallState.ROUTING:
            call.move_to(CallState.PROCEEDING)
        await leg.start()

    def _on_event(self, call: Call, leg: H323CallOut, event: CallEvent) -> None:
        callee = call.callee
        if callee is None or callee.h323 is not leg or call.is_ended:
            return  # A late word from an attempt we gave up on.
        callee.got_response = True
        if isinstance(event, Release):
            callee.h323 = None  # The leg is gone; a failover makes a new one.
        self._service.on_callee_event(call, event)
