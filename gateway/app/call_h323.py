"""The B2BUA's H.323 legs: calls to H.323 trunk addresses, and calls from them.

The legs themselves (:class:`gateway.app.h323_leg.H323CallOut` and
:class:`gateway.app.h323_in.H323CallIn`) speak H.225.0 and H.245; this
module creates them for calls, admits incoming Setups through the call
service's routing, and passes what the legs report on as neutral events.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.app.call_helpers import ports
from gateway.app.call_late_offer import caller_answer
from gateway.app.call_reoffer import start_sessions
from gateway.app.h323_in import H323CallIn
from gateway.app.h323_leg import CallIdentity, H323CallOut
from gateway.app.h323_ras import AdmissionError, GatekeeperLink
from gateway.b2bua.call import Call, CallLeg, CallState
from gateway.b2bua.events import (
    Answer,
    CallEvent,
    Dtmf,
    PictureUpdate,
    Release,
    Setup,
)
from gateway.b2bua.h323_media import late_offer_template
from gateway.b2bua.leg_media import check_offer, make_offer
from gateway.b2bua.routing import RoutingError, Source, TargetKind
from gateway.b2bua.trunks import Trunk, TrunkAddress
from gateway.h323.codec import TransportAddress
from gateway.h323.q850 import CAUSE_NORMAL_CLEARING, sip_status_to_cause
from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.model import SessionDescription
from gateway.sip.errors import RemoteSipError

if TYPE_CHECKING:
    from gateway.app.call_service import CallService


class H323Legs:
    """H.323 legs of the call service: callees it places, callers it admits."""

    def __init__(
        self, service: CallService, gatekeepers: Mapping[str, GatekeeperLink]
    ) -> None:
        self._service = service
        # Trunk name -> its gatekeeper registration: calls over these trunks
        # are admitted (ARQ) first, then disengaged (DRQ).
        self.gatekeepers = gatekeepers
        self._disengagers: set[asyncio.Task[None]] = set()

    async def call(self, call: Call, address: TrunkAddress) -> None:
        """Call an H.323 trunk address; its events come back as neutral ones."""
        callee, caller = call.callee, call.caller
        assert callee is not None and callee.policy is not None
        if caller.offer is None:
            # Late offer: offer the H.323 side our own codecs; the caller
            # gets what it agreed, in the 200 (delayed to early offer).
            template = late_offer_template(self._service.relay.bind_host)
            if not callee.endpoints:
                await self._service.allocate_for(call, callee, len(template.media))
            call.is_offer_made_for_callee = True
            callee.offer = make_offer(template, ports(callee), callee.policy)
        else:
            callee.offer = make_offer(caller.offer, ports(callee), callee.policy)
        trunk = self._service.trunk_named(str(callee.trunk))
        gatekeeper = self.gatekeepers.get(trunk.name)
        identity = CallIdentity.random()  # The same in ARQ, Setup and DRQ.
        call_identifier = identity.call_identifier
        if gatekeeper is not None:
            admitted = await self._admit(gatekeeper, call, address, identity)
            if admitted is None:
                return
            address = admitted
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
            identity=identity,
            fast_start=trunk.fast_start,
            offer_h245_address=not trunk.h245_tunnelling,
            h245_keepalive_s=trunk.h245_keepalive_s,
        )
        callee.h323 = leg
        if call.state is CallState.ROUTING:
            call.move_to(CallState.PROCEEDING)
        try:
            await leg.start()
        finally:
            if gatekeeper is not None:
                self._disengage_after(gatekeeper, leg, call_identifier)

    # -- gatekeeper admission (H.225.0 section 7.9.3) --------------------------

    async def _admit(
        self,
        gatekeeper: GatekeeperLink,
        call: Call,
        address: TrunkAddress,
        identity: CallIdentity,
    ) -> TrunkAddress | None:
        """ARQ before Setup: the ACF's address, or None when the call is over.

        An ARJ (or no answer) fails the callee with a status from its reason.
        """
        callee = call.callee
        assert callee is not None
        try:
            # A configured trunk address is a hint; the gatekeeper decides.
            ipaddress.ip_address(address.host)
            hint = (
                TransportAddress(host=address.host, port=address.port)
                if address in gatekeeper.trunk.addresses
                else None
            )
        except ValueError:
            hint = None
        try:
            admitted = await gatekeeper.admit(
                call_identifier=identity.call_identifier,
                conference_id=identity.conference_id,
                call_reference=identity.call_reference,
                dialled=callee.number,
                calling=call.caller.site or "",
                destination=hint,
                on_disengage=lambda reason: self._drop(call, reason),
            )
        except AdmissionError as exc:
            if not call.is_ended:
                callee.got_response = True
                release = Release(
                    cause=exc.cause, reason=str(exc), status=exc.sip_status
                )
                self._service.on_callee_event(call, release)
            return None
        if call.is_ended:  # Cancelled while the ARQ was out.
            gatekeeper.disengage(identity.call_identifier)
            return None
        return TrunkAddress(admitted.host, admitted.port)

    def _disengage_after(
        self, gatekeeper: GatekeeperLink, leg: H323CallOut, call_identifier: bytes
    ) -> None:
        """DRQ once the leg is cleared, whoever clears it (H.225.0 7.9.5)."""

        async def disengage() -> None:
            await leg.wait_closed()
            gatekeeper.disengage(call_identifier)

        task = asyncio.create_task(disengage())
        self._disengagers.add(task)
        task.add_done_callback(self._disengagers.discard)

    def _drop(self, call: Call, reason: str | None) -> None:
        """The gatekeeper ended the call (its DRQ): clear the leg and the call."""
        callee = call.callee
        leg = None if callee is None else callee.h323
        if not isinstance(leg, H323CallOut) or call.is_ended:
            return
        leg.release(CAUSE_NORMAL_CLEARING)
        gone = Release(
            cause=CAUSE_NORMAL_CLEARING,
            reason=f"the gatekeeper disengaged the call ({reason})",
        )
        self._on_event(call, leg, gone)

    def _on_event(self, call: Call, leg: H323CallOut, event: CallEvent) -> None:
        callee = call.callee
        if callee is None or callee.h323 is not leg or call.is_ended:
            return  # A late word from an attempt we gave up on.
        callee.got_response = True
        if isinstance(event, Release):
            callee.h323 = None  # The leg is gone; a failover makes a new one.
        self._service.on_callee_event(call, event)

    # -- incoming calls ----------------------------------------------------------

    async def serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One TCP connection on the H.323 listener: one incoming call."""
        leg = H323CallIn(reader, writer, on_setup=self._on_setup, log=self._service.log)
        try:
            await leg.run()
        finally:
            gatekeeper = self.gatekeepers.get(leg.admitted_by or "")
            if gatekeeper is not None:
                gatekeeper.disengage(leg.call_identifier)

    def _on_setup(self, leg: H323CallIn, setup: Setup) -> None:
        """Route a Setup from a trunk address; else its gatekeeper must admit it."""
        trunk = self._service.h323_trunk_of(leg.peer[0])
        if trunk is None and self.gatekeepers:
            task = asyncio.create_task(self._admit_incoming(leg, setup))
            self._disengagers.add(task)
            task.add_done_callback(self._disengagers.discard)
            return
        self._route(leg, setup, trunk)

    async def _admit_incoming(self, leg: H323CallIn, setup: Setup) -> None:
        """ARQ with answerCall (H.225.0 7.9.3): the gatekeeper vouches for a
        caller that is not a trunk address; the admitting trunk is the source."""
        refusal: AdmissionError | None = None
        for name, gatekeeper in self.gatekeepers.items():
            try:
                await gatekeeper.admit(
                    call_identifier=leg.call_identifier,
                    dialled=setup.dialled,
                    calling=leg.calling_number,
                    conference_id=leg.conference_id,
                    call_reference=leg.call_reference,
                    answer_call=True,
                    on_disengage=lambda _reason: leg.release(CAUSE_NORMAL_CLEARING),
                )
            except AdmissionError as exc:
                refusal = exc
                continue
            if leg.is_released:
                gatekeeper.disengage(leg.call_identifier)
                return
            leg.admitted_by = name
            self._route(leg, setup, gatekeeper.trunk)
            return
        status = refusal.sip_status if refusal is not None else 403
        self._refuse(leg, setup, status, f"no gatekeeper admitted the call: {refusal}")

    def _route(self, leg: H323CallIn, setup: Setup, trunk: Trunk | None) -> None:
        """Admit and route the Setup, or refuse it with Release Complete."""
        service = self._service
        try:
            call = self.admit(leg, setup, trunk)
        except (RemoteSipError, RemoteSdpError) as exc:
            self._refuse(leg, setup, exc.status, str(exc))
            return
        except RoutingError as exc:
            self._refuse(leg, setup, exc.sip_status, str(exc))
            return
        leg.on_event = lambda event: service.on_caller_event(call, event)
        if trunk is not None:
            leg.h245_keepalive_s = trunk.h245_keepalive_s
        service.start_call(call)

    def _refuse(self, leg: H323CallIn, setup: Setup, status: int, reason: str) -> None:
        cause = sip_status_to_cause(status)
        self._service.log.warning(
            "call.refused",
            protocol="h323",
            status=status,
            cause=cause,
            reason=reason,
            peer=f"{leg.peer[0]}:{leg.peer[1]}",
            dialled=setup.dialled,
        )
        leg.release(cause)

    def admit(self, leg: H323CallIn, setup: Setup, trunk: Trunk | None) -> Call:
        """An H.323 Setup from ``trunk`` (its address or its gatekeeper
        vouched for the caller), routed like an INVITE.

        Raises RemoteSipError or RoutingError (their status maps to a Q.850
        cause for Release Complete) to refuse.
        """
        service = self._service
        host = leg.peer[0]
        if trunk is None:
            raise RemoteSipError(f"{host} is not an H.323 trunk", 403)
        service.admission.check_trunk_capacity(trunk)
        caller = CallLeg(
            name="caller",
            protocol="h323",
            h323=leg,
            peer=f"{host}:{leg.peer[1]}",
            transport="TCP",
            trunk=trunk.name,
            number=leg.calling_number,
            policy=service.admission.trunk_policy(trunk),
            offer=setup.offer,
        )
        if caller.offer is not None:
            assert caller.policy is not None
            check_offer(caller.offer, caller.policy)
        decision = service.admission.route_from(setup.dialled, Source.trunk(trunk.name))
        return service.new_call(
            caller=caller,
            callee=service.admission.callee_for(decision),
            dialled=setup.dialled,
            route=decision.route.name,
            invite=None,
            started_at=time.time(),
            is_echo=decision.kind is TargetKind.TEST,
            is_late_offer=setup.offer is None,
        )

    def answer_caller(self, call: Call, answer: SessionDescription) -> None:
        """Connect an H.323 caller (no ACK comes: the call is confirmed)."""
        call.caller.h323.answer(answer)
        call.move_to(CallState.ANSWERED)
        call.move_to(CallState.CONFIRMED)
        call.answered_at = time.time()
        if not call.is_late_offer:
            start_sessions(call)
        self._service.log.info(
            "call.answered",
            call=call.call_ref,
            caller=call.caller.trunk,
            callee=call.dialled,
            caller_media=[s.suite_name for s in call.caller.streams if s.is_accepted],
        )

    def on_caller_event(self, call: Call, event: CallEvent) -> None:
        """What an H.323 caller leg reports after its Setup."""
        service = self._service
        if call.is_ended:
            return
        if isinstance(event, Release):
            call.caller.h323 = None
            if call.is_early:
                service.cancel_callee(call)
                service.end(call, f"caller released: {event.reason}")
            else:
                service.end_with_bye(call, f"caller released: {event.reason}")
        elif isinstance(event, Answer) and call.state is CallState.ANSWERED:
            assert event.sdp is not None  # The H.323 leg's channels, as SDP.
            caller_answer(service, call, event.sdp)
        elif isinstance(event, Dtmf) and call.callee is not None:
            service.info.send_dtmf(call, call.callee, event.digits)
        elif isinstance(event, PictureUpdate):
            service.keyframes.request(call, "caller")
