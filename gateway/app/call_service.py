"""Calls between sites, and the echo test number, over the SIP service.

The B2BUA keeps two independent dialogs per call and terminates media on the
relay: the caller's offer is answered with the gateway's own address and
keys, and the callee gets a fresh offer with other keys. Site legs are SRTP
only; an offer without SRTP gets 488 with a Warning that says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.app.call_records import call_record
from gateway.app.media_io import MediaEndpoint, MediaRelay
from gateway.app.sip_io import Connection
from gateway.app.sip_service import SipService
from gateway.b2bua.call import Call, CallLeg, CallState
from gateway.b2bua.media_plan import (
    LegStream,
    answer_keys,
    leg_streams,
    offer_keys,
    require_srtp,
    to_sdp_crypto,
)
from gateway.b2bua.routing import Router, RoutingError, Source, TargetKind
from gateway.errors import GatewayError
from gateway.media.relay import MediaLeg
from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.model import Origin, SessionDescription
from gateway.sdp.offer_answer import (
    CodecPolicy,
    LocalMedia,
    LocalSession,
    build_answer,
    build_offer_from,
    negotiate,
)
from gateway.sdp.parse import parse_sdp
from gateway.sdp.serialize import serialize_sdp
from gateway.sip.dialog import Dialog
from gateway.sip.errors import RemoteSipError
from gateway.sip.ids import IdSource, TransactionKey
from gateway.sip.message import Headers, SipRequest, SipResponse, make_response
from gateway.sip.uri import SipUri
from gateway.srtp.errors import RemoteSrtpError
from gateway.srtp.session import SrtpLeg
from gateway.srtp.suites import SrtpPolicy
from gateway.store.base import Store

SiteConnector = Callable[[str], Awaitable[Connection]]
_SDP = "application/sdp"


class CallService:
    """Accepts INVITEs from sites and bridges them (SIP side of the B2BUA)."""

    def __init__(
        self,
        *,
        sip: SipService,
        relay: MediaRelay,
        connect_to_site: SiteConnector,
        router: Router,
        store: Store,
        log: Any,
        domain: str,
        contact_host: str,
        max_calls_per_site: int = 4,
        media_timeout_s: float = 30.0,
        srtp_policy: SrtpPolicy | None = None,
        codec_policy: CodecPolicy | None = None,
        ids: IdSource | None = None,
    ) -> None:
        self._sip = sip
        self._relay = relay
        self._connect_to_site = connect_to_site
        self._log = log
        self._domain = domain
        self._contact_host = contact_host
        self._router = router
        self._store = store
        self._media_timeout_s = media_timeout_s
        self._max_calls_per_site = max_calls_per_site
        self._srtp_policy = srtp_policy or SrtpPolicy()
        self._codec_policy = codec_policy or CodecPolicy()
        self._ids = ids or IdSource()
        self.calls: dict[str, Call] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        sip.call_handler = self

    # -- entry points from the SIP service ----------------------------------
    def on_request(
        self,
        transaction_id: TransactionKey,
        request: SipRequest,
        connection: Connection,
    ) -> None:
        """A request that belongs to calls: INVITE, BYE, INFO, UPDATE."""
        if request.to_addr.tag is not None:
            self._in_dialog(transaction_id, request, connection)
        elif request.method == "INVITE":
            self._new_invite(transaction_id, request, connection)
        else:
            self._reply(transaction_id, request, 481)

    def on_ack(self, request: SipRequest) -> None:
        call = self._find_call(request)
        if call is not None and call.state is CallState.ANSWERED:
            call.move_to(CallState.CONFIRMED)
            if call.caller.dialog is not None:
                call.caller.dialog.receive_request(request)

    def on_cancel(self, invite_transaction: TransactionKey) -> None:
        for call in list(self.calls.values()):
            if call.caller.invite_transaction != invite_transaction:
                continue
            if call.state in (CallState.ROUTING, CallState.PROCEEDING, CallState.EARLY):
                self._respond(invite_transaction, make_response(call.invite, 487))
                callee = call.callee
                if callee is not None and callee.invite_transaction is not None:
                    self._sip.layer.send_cancel(callee.invite_transaction, self._now())
                    self._sip.flush()
                self._end(call, "cancelled by caller")

    # -- new calls -----------------------------------------------------------
    def _new_invite(
        self,
        transaction_id: TransactionKey,
        request: SipRequest,
        connection: Connection,
    ) -> None:
        try:
            call = self._admit(request, connection, transaction_id)
        except (RemoteSipError, RemoteSdpError) as exc:
            self._refuse(transaction_id, request, exc.status, str(exc), connection)
            return
        except RoutingError as exc:
            self._refuse(transaction_id, request, exc.sip_status, str(exc), connection)
            return
        self._respond(transaction_id, make_response(request, 100))
        self.calls[call.call_ref] = call
        task = asyncio.create_task(self._setup(call, transaction_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _admit(
        self,
        request: SipRequest,
        connection: Connection,
        transaction_id: TransactionKey,
    ) -> Call:
        """Check who calls and what; raise RemoteSipError/RemoteSdpError to refuse."""
        identity = connection.identity
        if identity is None or not connection.is_secure:
            raise RemoteSipError(
                "calls from sites need TLS with a site certificate", 403
            )
        if _max_forwards(request) <= 0:
            raise RemoteSipError("Max-Forwards reached 0", 483)
        active = [c for c in self.calls.values() if c.caller.site == identity.site]
        if len(active) >= self._max_calls_per_site:
            raise RemoteSipError(
                f"site {identity.site} has {len(active)} calls (limit)", 486
            )
        if (request.headers.get("content-type") or "").split(";")[0].strip() != _SDP:
            raise RemoteSipError(
                "INVITE without SDP (late offer) is not supported", 488
            )
        offer = parse_sdp(request.body)
        require_srtp(offer, who=f"site {identity.site}")
        dialled, host = _dialled(request)
        decision = self._router.route(dialled, host, Source.site(identity.site))
        if decision.kind is TargetKind.TRUNK:
            raise RemoteSipError("calls to trunks are not enabled yet", 503)
        caller = CallLeg(
            name="caller",
            peer=connection.peer_text,
            site=identity.site,
            cert_serial=identity.cert_serial,
            transport=connection.transport,
            tls_version=connection.tls_version,
            tls_cipher=connection.tls_cipher,
            offer=offer,
            invite_transaction=transaction_id,
        )
        is_echo = decision.kind is TargetKind.TEST
        site = decision.site
        if not is_echo and not (
            site and self._sip.registrar.bindings(site, now=time.time())
        ):
            raise RemoteSipError(f"site {site!r} is not registered", 480)
        return Call(
            call_ref=self._ids.new_call_id(),
            caller=caller,
            callee=None if is_echo else CallLeg(name="callee", site=site),
            dialled=dialled,
            route=decision.route.name,
            invite=request,
            started_at=time.time(),
            is_echo=is_echo,
        )

    async def _setup(self, call: Call, transaction_id: TransactionKey) -> None:
        try:
            if call.is_echo:
                await self._answer_echo(call, transaction_id)
            else:
                await self._forward(call)
        except (RemoteSdpError, RemoteSrtpError, RemoteSipError) as exc:
            status = getattr(exc, "status", 488)
            self._fail(call, status, str(exc))
        except (GatewayError, OSError, ConnectionError) as exc:
            self._log.warning("call.setup_failed", call=call.call_ref, error=str(exc))
            self._fail(call, 503, f"setup failed: {exc}")

    # -- the echo test number -----------------------------------------------
    async def _answer_echo(self, call: Call, transaction_id: TransactionKey) -> None:
        offer = call.caller.offer
        assert offer is not None
        endpoints = [await self._relay.allocate(rtcp_mux=False) for _ in offer.media]
        call.caller.endpoints = endpoints
        keys = answer_keys(offer, self._srtp_policy)
        answer = build_answer(
            offer,
            policy=self._codec_policy,
            local=self._local_session(),
            media=_local_media(endpoints, keys),
        )
        call.caller.answer = answer
        call.caller.streams = leg_streams(offer, answer, we_offered=False)
        for stream, endpoint in zip(call.caller.streams, endpoints, strict=True):
            if stream.is_accepted:
                relayed = self._relay.echo(endpoint, self._media_leg(stream, "caller"))
                call.relay_streams.append(relayed)
        self._answer_caller(call, transaction_id, answer)

    # -- forwarding to a site ------------------------------------------------
    async def _forward(self, call: Call) -> None:
        callee = call.callee
        assert callee is not None and callee.site is not None
        offer_in = call.caller.offer
        assert offer_in is not None
        connection = self._sip.flow_for_site(callee.site)
        if connection is None:
            connection = await self._connect_to_site(callee.site)
        callee.peer = connection.peer_text
        callee.transport = connection.transport
        callee.tls_version = connection.tls_version
        callee.tls_cipher = connection.tls_cipher
        callee.cert_serial = (
            connection.identity.cert_serial if connection.identity else ""
        )
        count = len(offer_in.media)
        caller_side = [await self._relay.allocate(rtcp_mux=False) for _ in range(count)]
        callee_side = [await self._relay.allocate(rtcp_mux=False) for _ in range(count)]
        call.caller.endpoints = caller_side
        callee.endpoints = callee_side
        offer_out = build_offer_from(
            offer_in,
            policy=self._codec_policy,
            local=self._local_session(),
            media=_local_media(callee_side, offer_keys(count, self._srtp_policy)),
        )
        callee.offer = offer_out
        if call.is_ended:
            return  # Cancelled while we were allocating.
        invite = self._outgoing_invite(call, connection, offer_out)
        callee.invite = invite
        callee.invite_transaction = self._sip.send_request(
            invite, connection, on_response=lambda r: self._on_callee_response(call, r)
        )
        call.move_to(CallState.PROCEEDING)

    def _outgoing_invite(
        self, call: Call, connection: Connection, offer: SessionDescription
    ) -> SipRequest:
        callee = call.callee
        assert callee is not None and callee.site is not None
        bindings = self._sip.registrar.bindings(callee.site, now=time.time())
        target = (
            bindings[0].contact if bindings else f"sip:{callee.site}@{self._domain}"
        )
        caller_site = call.caller.site or "unknown"
        headers = Headers(
            [
                (
                    "Via",
                    f"SIP/2.0/{connection.transport} {self._contact_host};"
                    f"branch={self._ids.new_branch()}",
                ),
                ("Max-Forwards", str(_max_forwards(call.invite) - 1)),
                (
                    "From",
                    f"<sip:{caller_site}@{self._domain}>;tag={self._ids.new_tag()}",
                ),
                ("To", f"<sip:{callee.site}@{self._domain}>"),
                ("Call-ID", self._ids.new_call_id(self._domain)),
                ("CSeq", "1 INVITE"),
                ("Contact", self._contact()),
                ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"),
                ("Content-Type", _SDP),
            ]
        )
        return SipRequest(
            method="INVITE", uri=target, headers=headers, body=serialize_sdp(offer)
        )

    def _on_callee_response(self, call: Call, response: SipResponse | None) -> None:
        if call.is_ended:
            if response is not None and 200 <= response.status < 300:
                self._ack_and_bye(call, response)
            return
        if response is None:
            self._fail(call, 408, "callee did not answer the INVITE")
        elif response.status < 200:
            self._callee_provisional(call, response)
        elif response.status < 300:
            self._callee_answered(call, response)
        else:
            self._fail(call, response.status, f"callee answered {response.status}")

    def _callee_provisional(self, call: Call, response: SipResponse) -> None:
        if response.status == 100:
            return
        if response.to_addr.tag is not None and call.state is CallState.PROCEEDING:
            call.move_to(CallState.EARLY)
        status = 180 if response.status == 180 else 183
        provisional = make_response(call.invite, status, to_tag=self._caller_tag(call))
        provisional.headers.add("Contact", self._contact())
        assert call.caller.invite_transaction is not None
        self._respond(call.caller.invite_transaction, provisional)

    def _callee_answered(self, call: Call, response: SipResponse) -> None:
        callee = call.callee
        assert callee is not None and callee.offer is not None
        callee.dialog = Dialog.from_uac(_sent_invite(callee), response, is_tls=True)
        self._send_ack(call)
        try:
            answer_in = parse_sdp(response.body)
            callee.answer = answer_in
            callee.streams = leg_streams(callee.offer, answer_in, we_offered=True)
            agreed = negotiate(callee.offer, answer_in)
            offer_in = call.caller.offer
            assert offer_in is not None
            endpoints = call.caller.endpoints
            answer_out = build_answer(
                offer_in,
                policy=self._codec_policy,
                local=self._local_session(),
                media=_local_media(endpoints, answer_keys(offer_in, self._srtp_policy)),
                formats=[
                    [f.format for f in s.formats] if s.is_accepted else None
                    for s in agreed
                ],
            )
            call.caller.answer = answer_out
            call.caller.streams = leg_streams(offer_in, answer_out, we_offered=False)
            self._bridge(call)
        except (RemoteSdpError, RemoteSrtpError) as exc:
            self._fail(call, 488, f"callee's answer is not usable: {exc}")
            self._send_bye(call, "callee")
            return
        assert call.caller.invite_transaction is not None
        self._answer_caller(call, call.caller.invite_transaction, answer_out)

    def _bridge(self, call: Call) -> None:
        callee = call.callee
        assert callee is not None
        caller_eps = call.caller.endpoints
        callee_eps = callee.endpoints
        for a, b, a_ep, b_ep in zip(
            call.caller.streams, callee.streams, caller_eps, callee_eps, strict=True
        ):
            if not (a.is_accepted and b.is_accepted):
                continue
            relayed = self._relay.bridge(
                a_ep, self._media_leg(a, "caller"), b_ep, self._media_leg(b, "callee")
            )
            call.relay_streams.append(relayed)

    def _media_leg(self, stream: LegStream, label: str) -> MediaLeg:
        crypto = None
        if stream.keys is not None:
            crypto = SrtpLeg.from_sdes(
                local=stream.keys[0], remote=stream.keys[1], policy=self._srtp_policy
            )
        return MediaLeg(
            crypto=crypto,
            remote_rtp=stream.remote_rtp,
            remote_rtcp=stream.remote_rtcp,
            rtcp_mux=stream.rtcp_mux,
            label=label,
            clock_rate=stream.clock_rate,
        )

    # -- answering and ending ------------------------------------------------
    def _answer_caller(
        self, call: Call, transaction_id: TransactionKey, answer: SessionDescription
    ) -> None:
        ok = make_response(call.invite, 200, to_tag=self._caller_tag(call))
        ok.headers.add("Contact", self._contact())
        ok.headers.add("Content-Type", _SDP)
        ok.body = serialize_sdp(answer)
        call.caller.dialog = Dialog.from_uas(call.invite, ok, is_tls=True)
        call.move_to(CallState.ANSWERED)
        call.answered_at = time.time()
        self._respond(transaction_id, ok)
        self._log.info(
            "call.answered",
            call=call.call_ref,
            caller=call.caller.site,
            callee=call.dialled,
            caller_srtp=[s.suite_name for s in call.caller.streams if s.is_accepted],
            callee_srtp=[
                s.suite_name
                for s in (call.callee.streams if call.callee else ())
                if s.is_accepted
            ],
        )

    def _in_dialog(
        self,
        transaction_id: TransactionKey,
        request: SipRequest,
        connection: Connection,
    ) -> None:
        call = self._find_call(request)
        if call is None:
            self._reply(transaction_id, request, 481)
            return
        side = "caller" if _is_leg(call.caller, request) else "callee"
        if request.method == "BYE":
            self._reply(transaction_id, request, 200)
            other = "callee" if side == "caller" else "caller"
            self._send_bye(call, other)
            self._end(call, f"BYE from {side}")
        elif request.method == "INFO":
            self._reply(transaction_id, request, 200)
        else:
            # Re-INVITE and UPDATE (hold, codec change) come with the next step.
            self._reply(transaction_id, request, 488)

    def _send_bye(self, call: Call, side: str) -> None:
        leg = call.caller if side == "caller" else call.callee
        if leg is None or leg.dialog is None or leg.site is None:
            return
        connection = self._sip.flow_for_site(leg.site)
        if connection is None:
            return
        bye = leg.dialog.create_request(
            "BYE", ids=self._ids, via_sent_by=self._contact_host, via_transport="TLS"
        )
        self._sip.send_request(bye, connection, on_response=lambda _r: None)

    def _send_ack(self, call: Call) -> None:
        callee = call.callee
        assert callee is not None and callee.dialog is not None and callee.site
        connection = self._sip.flow_for_site(callee.site)
        if connection is None:
            return
        ack = callee.dialog.create_request(
            "ACK", ids=self._ids, via_sent_by=self._contact_host, via_transport="TLS"
        )
        connection.send(ack)

    def _ack_and_bye(self, call: Call, response: SipResponse) -> None:
        """A 2xx after we gave up (CANCEL raced the answer): ACK then BYE."""
        callee = call.callee
        if callee is None or callee.dialog is not None:
            return
        callee.dialog = Dialog.from_uac(_sent_invite(callee), response, is_tls=True)
        self._send_ack(call)
        self._send_bye(call, "callee")

    def _fail(self, call: Call, status: int, reason: str) -> None:
        if call.is_ended:
            return
        if call.state in (CallState.ROUTING, CallState.PROCEEDING, CallState.EARLY):
            response = make_response(call.invite, _caller_status(status))
            response.headers.add("Warning", f'399 vcgw "{reason.replace(chr(34), "")}"')
            assert call.caller.invite_transaction is not None
            with contextlib.suppress(GatewayError):
                self._respond(call.caller.invite_transaction, response)
        self._end(call, reason)

    def _end(self, call: Call, reason: str) -> None:
        if call.is_ended:
            return
        call.move_to(CallState.ENDED)
        call.ended_at = time.time()
        call.end_reason = reason
        self.calls.pop(call.call_ref, None)
        self._record(call)
        for leg in (call.caller, call.callee):
            for endpoint in leg.endpoints if leg is not None else ():
                self._relay.release(endpoint)
        self._log.info(
            "call.ended",
            call=call.call_ref,
            caller=call.caller.site,
            callee=call.dialled,
            reason=reason,
            duration_s=round(call.ended_at - (call.answered_at or call.ended_at), 1),
        )

    def _record(self, call: Call) -> None:
        """Write the call record (before the relay forgets the counters)."""
        caller_reports, callee_reports = [], []
        for stream in call.relay_streams:
            reports = self._relay.reports(stream)
            caller_reports.append(reports["a"])
            if "b" in reports:
                callee_reports.append(reports["b"])
        try:
            self._store.add_call_record(
                call_record(call, caller_reports, callee_reports)
            )
        except GatewayError as exc:
            self._log.error("call.record_failed", call=call.call_ref, error=str(exc))

    def sweep_media(self, now: float) -> None:
        """End answered calls whose media stopped for ``media_timeout_s``."""
        for call in list(self.calls.values()):
            if call.state is not CallState.CONFIRMED or not call.relay_streams:
                continue
            idle_s = min(stream.idle_for_s(now) for stream in call.relay_streams)
            if idle_s < self._media_timeout_s:
                continue
            self._send_bye(call, "caller")
            self._send_bye(call, "callee")
            self._end(call, f"media timeout: no packet for {int(idle_s)} s")

    # -- helpers -------------------------------------------------------------
    def _find_call(self, request: SipRequest) -> Call | None:
        for call in self.calls.values():
            if _is_leg(call.caller, request) or (
                call.callee is not None and _is_leg(call.callee, request)
            ):
                return call
        return None

    def _caller_tag(self, call: Call) -> str:
        if call.caller.local_tag is None:
            call.caller.local_tag = self._ids.new_tag()
        return call.caller.local_tag

    def _local_session(self) -> LocalSession:
        origin = Origin(
            username="vcgw",
            session_id=str(int(time.time() * 1000)),
            session_version=1,
            address=self._relay.bind_host,
        )
        return LocalSession(
            origin=origin, address=self._relay.bind_host, rtcp_mux=False
        )

    def _contact(self) -> str:
        return f"<sip:gateway@{self._contact_host};transport=tls>"

    def _refuse(
        self,
        transaction_id: TransactionKey,
        request: SipRequest,
        status: int,
        reason: str,
        connection: Connection,
    ) -> None:
        response = make_response(request, status)
        response.headers.add("Warning", f'399 vcgw "{reason.replace(chr(34), "")}"')
        self._respond(transaction_id, response)
        identity = connection.identity
        self._log.warning(
            "call.refused",
            status=status,
            reason=reason,
            site=identity.site if identity else None,
            peer=connection.peer_text,
            dialled=request.uri,
        )

    def _reply(
        self, transaction_id: TransactionKey, request: SipRequest, status: int
    ) -> None:
        self._respond(transaction_id, make_response(request, status))

    def _respond(self, transaction_id: TransactionKey, response: SipResponse) -> None:
        self._sip.respond(transaction_id, response)

    @staticmethod
    def _now() -> float:
        return time.monotonic()


def _sent_invite(leg: CallLeg) -> SipRequest:
    assert leg.invite is not None
    return leg.invite


def _local_media(
    endpoints: list[MediaEndpoint], keys: list[tuple[Any, ...]]
) -> list[LocalMedia]:
    return [
        LocalMedia(
            port=endpoint.rtp_port if key else 0,
            crypto=tuple(to_sdp_crypto(k) for k in key),
        )
        for endpoint, key in zip(endpoints, keys, strict=True)
    ]


def _dialled(request: SipRequest) -> tuple[str, str]:
    """The Request-URI's user part and host, which routes match on."""
    uri = request.request_uri
    if isinstance(uri, SipUri) and uri.user:
        return uri.user, uri.host
    raise RemoteSipError("Request-URI has no user part to route on", 404)


def _max_forwards(request: SipRequest) -> int:
    raw = request.headers.get("max-forwards")
    return int(raw) if raw is not None and raw.strip().isdigit() else 70


def _is_leg(leg: CallLeg, request: SipRequest) -> bool:
    dialog = leg.dialog
    if dialog is None:
        return False
    dialog_id = dialog.id
    return (
        dialog_id.call_id == request.call_id
        and dialog_id.remote_tag == request.from_addr.tag
        and dialog_id.local_tag == request.to_addr.tag
    )


def _caller_status(status: int) -> int:
    """What the caller gets for the callee's failure (a B2BUA hides auth)."""
    if status in (401, 407):
        return 403
    return status if 300 <= status < 700 else 500
