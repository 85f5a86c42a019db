"""Admission: who calls, what, and where to, before the B2BUA sets a call up.

A SIP caller is a site (by its TLS certificate) or a configured trunk (by
address); an H.323 caller was identified by the H.323 side.  Limits (calls
per site, per trunk, Max-Forwards, loops) and routing decide the callee
leg; every refusal raises an error that carries the SIP status to answer.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from gateway.app.call_helpers import dialled_user_host, max_forwards, uses_trunk
from gateway.app.call_signalling import SDP
from gateway.app.sip_io import Connection
from gateway.app.trunk_io import TrunkTransports
from gateway.b2bua.call import Call, CallLeg
from gateway.b2bua.leg_media import LegPolicy, MediaSecurity, check_offer
from gateway.b2bua.routing import RouteDecision, Router, Source, TargetKind
from gateway.b2bua.trunks import Trunk
from gateway.sdp.parse import parse_sdp
from gateway.sip.errors import RemoteSipError
from gateway.sip.ids import TransactionKey
from gateway.sip.message import SipRequest

if TYPE_CHECKING:
    from gateway.app.call_service import CallService


class Admission:
    """Identifies callers, checks limits and routes, for the CallService."""

    def __init__(
        self,
        service: CallService,
        *,
        router: Router,
        trunks: TrunkTransports,
        domain: str,
        max_calls_per_site: int,
    ) -> None:
        self._svc = service
        self._router = router
        self._trunks = trunks
        self._domain = domain
        self._max_calls_per_site = max_calls_per_site

    def admit_invite(
        self,
        request: SipRequest,
        connection: Connection,
        transaction_id: TransactionKey,
    ) -> Call:
        """Who calls, what, and where to; raise RemoteSipError/SdpError to refuse."""
        svc = self._svc
        source, caller = self.identify(connection)
        if max_forwards(request) <= 0:
            raise RemoteSipError("Max-Forwards reached 0", 483)
        if svc.is_own_call(request.call_id):
            raise RemoteSipError("this call came back to the gateway (loop)", 482)
        self._check_limits(caller)
        content_type = (request.headers.get("content-type") or "").split(";")[0]
        is_late_offer = not request.body
        if not is_late_offer:
            if content_type.strip().lower() != SDP:
                raise RemoteSipError(f"body type {content_type!r} is not SDP", 415)
            caller.offer = parse_sdp(request.body)
            assert caller.policy is not None
            check_offer(caller.offer, caller.policy)
        caller.invite_transaction = transaction_id
        reject, caller.timer_headers = svc.timers.answer_headers(request, caller)
        if reject is not None:
            raise RemoteSipError("Session-Expires is below our Min-SE", reject)
        dialled, host = dialled_user_host(request)
        decision = self._router.route(dialled, host, source)
        return svc.new_call(
            caller=caller,
            callee=self.callee_for(decision),
            dialled=dialled,
            route=decision.route.name,
            invite=request,
            started_at=time.time(),
            is_echo=decision.kind is TargetKind.TEST,
            is_late_offer=is_late_offer,
        )

    def route_from(self, dialled: str, source: Source) -> RouteDecision:
        """Route ``dialled`` in our own domain from ``source`` (H.323 calls)."""
        return self._router.route(dialled, self._domain, source)

    def callee_for(self, decision: RouteDecision) -> CallLeg | None:
        """The callee leg a route decision names (None: the gateway answers)."""
        if decision.kind is TargetKind.SITE:
            site = decision.site
            if not (site and self._svc.is_registered(site)):
                raise RemoteSipError(f"site {site!r} is not registered", 480)
            return CallLeg(name="callee", site=site, policy=self.site_policy(site))
        if decision.kind is TargetKind.TRUNK:
            assert decision.trunk is not None
            return self._trunk_leg(decision.trunk, decision.number)
        return None

    def identify(self, connection: Connection) -> tuple[Source, CallLeg]:
        """A site by its certificate over TLS, or a configured trunk by address."""
        leg = CallLeg(
            name="caller",
            connection=connection,
            peer=connection.peer_text,
            transport=connection.transport,
            tls_version=connection.tls_version,
            tls_cipher=connection.tls_cipher,
        )
        identity = connection.identity
        if identity is not None and connection.is_secure:
            leg.site, leg.cert_serial = identity.site, identity.cert_serial
            leg.policy = self.site_policy(identity.site)
            return Source.site(identity.site), leg
        trunk = self._trunks.trunk_of(connection)
        if trunk is None:
            raise RemoteSipError(
                "calls need TLS with a site certificate, or a configured trunk", 403
            )
        self.check_trunk_capacity(trunk)
        leg.trunk = trunk.name
        leg.policy = self.trunk_policy(trunk)
        return Source.trunk(trunk.name), leg

    def _check_limits(self, caller: CallLeg) -> None:
        if caller.site is not None:
            calls = self._svc.calls.values()
            active = [c for c in calls if c.caller.site == caller.site]
            if len(active) >= self._max_calls_per_site:
                raise RemoteSipError(
                    f"site {caller.site} has {len(active)} calls (limit)", 486
                )

    def check_trunk_capacity(self, trunk: Trunk) -> None:
        """``max_calls`` counts the trunk's calls both ways; full gives 503."""
        if trunk.max_calls:
            calls = self._svc.calls.values()
            active = [c for c in calls if uses_trunk(c, trunk.name)]
            if len(active) >= trunk.max_calls:
                raise RemoteSipError(f"trunk {trunk.name} is full", 503)

    def _trunk_leg(self, trunk: Trunk, number: str) -> CallLeg:
        """The callee leg toward ``trunk`` (SIP or H.323), limits checked."""
        self.check_trunk_capacity(trunk)
        return CallLeg(
            name="callee",
            trunk=trunk.name,
            number=number,
            policy=self.trunk_policy(trunk),
            protocol=trunk.protocol,
        )

    def site_policy(self, site: str) -> LegPolicy:
        return self._policy(MediaSecurity.REQUIRED, f"site {site}", is_tls=True)

    def trunk_policy(self, trunk: Trunk) -> LegPolicy:
        security = MediaSecurity(trunk.srtp)
        return self._policy(
            security, f"trunk {trunk.name}", is_tls=trunk.transport == "tls"
        )

    def _policy(self, security: MediaSecurity, who: str, *, is_tls: bool) -> LegPolicy:
        svc = self._svc
        return LegPolicy(
            security=security,
            relay_address=svc.relay.bind_host,
            is_signalling_secure=is_tls,
            who=who,
            srtp=svc.srtp_policy,
            codecs=svc.codec_policy,
        )
