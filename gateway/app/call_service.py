"""The B2BUA: calls between sites, to and from trunks, and the echo test number.

Two independent dialogs per call; media always terminates on the relay. The
caller's offer is answered with the gateway's own address and keys, and the
callee gets a fresh offer with other keys, so no endpoint's key is ever
forwarded. Site legs are SRTP only; trunk legs follow the trunk's policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gateway.app.call_admission import Admission
from gateway.app.call_h323 import H323Legs
from gateway.app.call_helpers import (
    caller_status,
    can_fall_back,
    describe,
    is_leg,
    max_forwards,
    monotonic_now,
    ports,
    sent_invite,
    warning,
)
from gateway.app.call_info import InfoRelay
from gateway.app.call_keyframes import Keyframes
from gateway.app.call_late_offer import (
    callee_offered,
    caller_answered,
)
from gateway.app.call_records import call_record
from gateway.app.call_reoffer import Reoffers, start_sessions
from gateway.app.call_signalling import (
    SDP,
    callee_target,
    contact_for,
    in_dialog_request,
    outgoing_invite,
)
from gateway.app.call_timers import CallTimers
from gateway.app.h323_ras import GatekeeperLink
from gateway.app.media_io import MediaRelay
from gateway.app.sip_io import Connection
from gateway.app.sip_service import SipService
from gateway.app.trunk_io import TrunkTransports
from gateway.b2bua.call import Call, CallLeg, CallState
from gateway.b2bua.events import (
    Alerting,
    Answer,
    CallEvent,
    Dtmf,
    PictureUpdate,
    Progress,
    Release,
)
from gateway.b2bua.h323_media import telephone_event_of, with_telephone_event
from gateway.b2bua.leg_media import (
    make_answer,
    make_offer,
)
from gateway.b2bua.media_plan import LegStream, leg_streams
from gateway.b2bua.routing import (
    Router,
    RoutingError,
)
from gateway.b2bua.session_timer import SessionTimerPolicy
from gateway.b2bua.sip_leg import event_from_response, status_for
from gateway.b2bua.trunks import FailoverPlan, Trunk
from gateway.errors import GatewayError
from gateway.h323.q850 import (
    CAUSE_NORMAL_CLEARING,
    CAUSE_RECOVERY_ON_TIMER_EXPIRY,
    sip_status_to_cause,
)
from gateway.media.relay import MediaLeg
from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.model import SessionDescription, TransportProfile
from gateway.sdp.offer_answer import CodecPolicy, LocalSession, negotiate
from gateway.sdp.serialize import serialize_sdp
from gateway.sip.dialog import Dialog
from gateway.sip.errors import RemoteSipError
from gateway.sip.ids import IdSource, TransactionKey
from gateway.sip.message import SipRequest, SipResponse, make_response
from gateway.srtp.errors import RemoteSrtpError
from gateway.srtp.session import SrtpLeg
from gateway.srtp.suites import SrtpPolicy
from gateway.store.base import Store

SiteConnector = Callable[[str], Awaitable[Connection]]
# A trunk address that did not answer or could not be reached (Q.850 102).
_NO_ANSWER = Release(
    cause=CAUSE_RECOVERY_ON_TIMER_EXPIRY, reason="callee did not answer"
)


class CallService:
    """The SIP side of the B2BUA, driven by the SIP service's events."""

    def __init__(
        self,
        *,
        sip: SipService,
        relay: MediaRelay,
        trunks: TrunkTransports,
        connect_to_site: SiteConnector,
        router: Router,
        store: Store,
        log: Any,
        domain: str,
        max_calls_per_site: int = 4,
        media_timeout_s: float = 30.0,
        session_timers: SessionTimerPolicy | None = None,
        keyframe_min_interval_s: float = 1.0,
        srtp_policy: SrtpPolicy | None = None,
        codec_policy: CodecPolicy | None = None,
        ids: IdSource | None = None,
        gatekeepers: Mapping[str, GatekeeperLink] | None = None,
    ) -> None:
        self._sip = sip
        self._relay = relay
        self._trunks = trunks
        self._connect_to_site = connect_to_site
        self._store = store
        self._log = log
        self._domain = domain
        self._media_timeout_s = media_timeout_s
        self._srtp_policy = srtp_policy or SrtpPolicy()
        # BFCP is declined (port 0) until the relay carries it (TCP/UDP BFCP).
        self._codec_policy = codec_policy or CodecPolicy(allow_bfcp=False)
        self._ids = ids or IdSource()
        self.calls: dict[str, Call] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reoffers = Reoffers(self)
        self.timers = CallTimers(self, session_timers or SessionTimerPolicy())
        self.keyframes = Keyframes(self, keyframe_min_interval_s)
        self._h323 = H323Legs(self, gatekeepers or {})
        self.info = InfoRelay(self)
        self.admission = Admission(
            self,
            router=router,
            trunks=trunks,
            domain=domain,
            max_calls_per_site=max_calls_per_site,
        )
        self.serve_h323_connection = self._h323.serve_connection
        sip.call_handler = self

    # -- entry points from the SIP service ----------------------------------
    def on_request(
        self,
        transaction_id: TransactionKey,
        request: SipRequest,
        connection: Connection,
    ) -> None:
        """A request that belongs to calls: INVITE, BYE, INFO, UPDATE, CANCEL."""
        if request.to_addr.tag is not None:
            self._in_dialog(transaction_id, request)
        elif request.method == "INVITE":
            self._new_invite(transaction_id, request, connection)
        else:
            self._reply(transaction_id, request, 481)

    def on_ack(self, request: SipRequest) -> None:
        call = self._find_call(request)
        if call is None or call.state is not CallState.ANSWERED:
            return
        if call.caller.dialog is not None:
            call.caller.dialog.receive_request(request)
        if call.is_late_offer:
            caller_answered(self, call, request)
            return
        call.move_to(CallState.CONFIRMED)

    def on_cancel(self, invite_transaction: TransactionKey) -> None:
        for call in list(self.calls.values()):
            if call.caller.invite_transaction != invite_transaction:
                continue
            if call.is_early and call.invite is not None:
                self._respond(invite_transaction, make_response(call.invite, 487))
                self._cancel_callee(call)
                self._end(call, "cancelled by caller")

    # -- admission -----------------------------------------------------------
    def _new_invite(
        self,
        transaction_id: TransactionKey,
        request: SipRequest,
        connection: Connection,
    ) -> None:
        try:
            call = self.admission.admit_invite(request, connection, transaction_id)
        except (RemoteSipError, RemoteSdpError) as exc:
            self._refuse(transaction_id, request, exc.status, str(exc), connection)
            return
        except RoutingError as exc:
            self._refuse(transaction_id, request, exc.sip_status, str(exc), connection)
            return
        self._respond(transaction_id, make_response(request, 100))
        self.calls[call.call_ref] = call
        self._spawn(self._setup(call, transaction_id))

    def trunk_named(self, name: str) -> Trunk:
        """The configured trunk ``name`` (a callee leg's trunk)."""
        return self._trunks.trunks[name]

    def h323_trunk_of(self, host: str) -> Trunk | None:
        """The H.323 trunk whose addresses include ``host``."""
        return self._trunks.h323_trunk_of(host)

    def cancel_callee(self, call: Call) -> None:
        self._cancel_callee(call)

    def end(self, call: Call, reason: str) -> None:
        self._end(call, reason)

    def on_caller_event(self, call: Call, event: CallEvent) -> None:
        """What an H.323 caller leg reports after its Setup."""
        self._h323.on_caller_event(call, event)

    def new_call(self, **fields: Any) -> Call:
        """A Call with a new reference."""
        return Call(call_ref=self._ids.new_call_id(), **fields)

    def is_registered(self, site: str) -> bool:
        return bool(self._sip.registrar.bindings(site, now=time.time()))

    def is_own_call(self, call_id: str) -> bool:
        return self._is_own_call(call_id)

    def start_call(self, call: Call) -> None:
        """Run an admitted call's setup (the H.323 side's entry)."""
        self.calls[call.call_ref] = call
        self._spawn(self._setup(call, None))

    # -- setup ---------------------------------------------------------------
    async def _setup(self, call: Call, transaction_id: TransactionKey | None) -> None:
        try:
            if call.is_late_offer:
                if call.is_echo:
                    raise RemoteSipError("the echo test needs an offer in INVITE", 488)
                await self._forward(call)
                return
            offer = call.caller.offer
            assert offer is not None
            await self._allocate(call, call.caller, len(offer.media))
            if call.is_ended:
                return  # Cancelled meanwhile; finally releases the ports.
            if call.is_echo:
                self._answer_echo(call, transaction_id)
            else:
                await self._forward(call)
        except (RemoteSdpError, RemoteSrtpError, RemoteSipError) as exc:
            self._fail(call, getattr(exc, "status", 488), str(exc))
        except (GatewayError, OSError, ConnectionError, TimeoutError) as exc:
            self._log.warning("call.setup_failed", call=call.call_ref, error=str(exc))
            self._fail(call, 503, f"setup failed: {exc}")
        finally:
            if call.is_ended:
                self._release_media(call)  # Ports taken after a CANCEL.

    async def _allocate(self, call: Call, leg: CallLeg, count: int) -> None:
        """Relay ports for each m-line, recorded on the leg as soon as bound."""
        for _ in range(count):
            if call.is_ended:
                return
            leg.endpoints.append(await self._relay.allocate(rtcp_mux=False))

    def _answer_echo(self, call: Call, transaction_id: TransactionKey | None) -> None:
        leg = call.caller
        assert leg.offer is not None and leg.policy is not None
        answer = make_answer(leg.offer, ports(leg), leg.policy)
        leg.answer = answer
        leg.streams = leg_streams(leg.offer, answer, we_offered=False)
        for stream, endpoint in zip(leg.streams, leg.endpoints, strict=True):
            if stream.is_accepted:
                media_leg = self._media_leg(stream, "caller")
                call.relay_streams[stream.index] = self._relay.echo(endpoint, media_leg)
        self._answer_caller(call, transaction_id, answer)

    async def _forward(self, call: Call) -> None:
        callee = call.callee
        assert callee is not None
        if call.caller.offer is not None:
            await self._allocate(call, callee, len(call.caller.offer.media))
        if call.is_ended:
            return
        if callee.site is not None:
            connection = self._sip.flow_for_site(callee.site)
            if connection is None:
                connection = await self._connect_to_site(callee.site)
            await self._send_invite(call, connection)
        else:
            trunk = self._trunks.trunks[str(callee.trunk)]
            call.failover = FailoverPlan(
                self._trunks.health[trunk.name].candidates(monotonic_now())
            )
            await self._try_trunk_address(call, trunk)

    async def _try_trunk_address(self, call: Call, trunk: Trunk) -> None:
        """INVITE the plan's current address; a dead connection means: next."""
        assert call.failover is not None
        try:
            if trunk.protocol == "h323":
                await self._h323.call(call, call.failover.current)
            else:
                connection = await self._trunks.connection_for(
                    trunk, call.failover.current
                )
                await self._send_invite(call, connection)
        except (OSError, ConnectionError, TimeoutError, GatewayError) as exc:
            self._log.warning(
                "call.trunk_unreachable",
                call=call.call_ref,
                trunk=trunk.name,
                address=str(call.failover.current),
                error=str(exc) or type(exc).__name__,
            )
            self._callee_failed(call, _NO_ANSWER)
            return
        callee = call.callee
        attempt: object = None
        if callee is not None:
            attempt = (
                callee.h323 if callee.h323 is not None else callee.invite_transaction
            )
        loop = asyncio.get_running_loop()
        loop.call_later(
            trunk.failover_timeout_s, self._on_failover_timeout, call, attempt
        )

    async def _send_invite(
        self, call: Call, connection: Connection, *, plain: bool = False
    ) -> None:
        callee = call.callee
        assert callee is not None and callee.policy is not None
        describe(callee, connection)
        if call.caller.offer is not None:
            callee.offer = make_offer(
                call.caller.offer, ports(callee), callee.policy, plain=plain
            )
            if call.caller.h323 is not None:  # User input <-> RFC 4733.
                callee.offer = with_telephone_event(callee.offer)
        if call.is_ended:
            return  # Cancelled while we were connecting.
        target = callee_target(callee, self._sip.registrar, self._domain, time.time())
        invite = outgoing_invite(
            call,
            callee,
            callee.offer if not call.is_late_offer else None,
            target=target,
            ids=self._ids,
            domain=self._domain,
            max_forwards=(max_forwards(call.invite) if call.invite else 70) - 1,
        )
        for name, value in self.timers.offer_headers(callee):
            invite.headers.add(name, value)
        callee.invite = invite
        callee.got_response = False
        transaction_id: TransactionKey | None = None

        def on_response(response: SipResponse | None) -> None:
            if callee.invite_transaction == transaction_id:
                self._on_callee_response(call, response)

        transaction_id = self._sip.send_request(
            invite, connection, on_response=on_response
        )
        callee.invite_transaction = transaction_id
        if call.state is CallState.ROUTING:
            call.move_to(CallState.PROCEEDING)

    # -- callee responses ----------------------------------------------------
    def _on_callee_response(self, call: Call, response: SipResponse | None) -> None:
        callee = call.callee
        assert callee is not None
        callee.got_response = True
        if call.is_ended:
            if response is not None and 200 <= response.status < 300:
                self._ack_and_bye(call, response)
            return
        event = event_from_response(response)
        if isinstance(event, Answer) and response is not None:
            self._sip_leg_answered(call, response)  # Dialog, ACK, timer: SIP only.
            if call.is_late_offer:
                self._spawn(callee_offered(self, call, response))
                return
        if event is not None:
            self._on_callee_event(call, event)

    def _on_callee_event(self, call: Call, event: CallEvent) -> None:
        """What the callee leg reports, in neutral terms (any protocol)."""
        if isinstance(event, Alerting | Progress):
            self._callee_progress(call, event)
        elif isinstance(event, Answer):
            self._callee_answered(call, event)
        elif isinstance(event, Release):
            self._callee_failed(call, event)
        elif isinstance(event, Dtmf) and not call.is_ended:
            self.info.send_dtmf(call, call.caller, event.digits)
        elif isinstance(event, PictureUpdate) and not call.is_ended:
            self.keyframes.request(call, "callee")

    def on_callee_event(self, call: Call, event: CallEvent) -> None:
        """What a non-SIP callee leg (H.323) reports."""
        self._on_callee_event(call, event)

    def _callee_failed(self, call: Call, release: Release) -> None:
        """Fail over to the next trunk address, fall back to RTP, or give up."""
        callee = call.callee
        assert callee is not None
        status: int | None = release.status
        if status is None and release.cause != CAUSE_RECOVERY_ON_TIMER_EXPIRY:
            # An H.323 Release Complete: its cause as a status (17 busy is
            # final, 41 temporary failure fails over), RFC 3398 section 8.2.
            status = status_for(release)
        if callee.dialog is not None:
            self._send_in_dialog(callee, "BYE")  # An answer we could not use.
        # After early media the caller has heard this callee: no failover.
        plan = call.failover if call.early_answer is None else None
        if callee.trunk is not None and plan is not None:
            trunk = self._trunks.trunks[callee.trunk]
            if status == 488 and callee.policy and can_fall_back(callee):
                self._spawn(self._send_invite(call, callee.connection, plain=True))
                return
            if plan.next_after(status) is not None:
                self._log.info(
                    "call.failover",
                    call=call.call_ref,
                    trunk=trunk.name,
                    status=status,
                    next=str(plan.current),
                )
                self._spawn(self._try_trunk_address(call, trunk))
                return
            exhausted = plan.exhausted_status()
            self._fail(call, exhausted, f"callee: all addresses failed ({exhausted})")
            return
        self._fail(call, status_for(release), release.reason)

    def _on_failover_timeout(self, call: Call, attempt: object) -> None:
        callee = call.callee
        if call.is_ended or callee is None or callee.got_response:
            return
        if callee.h323 is not None and id(callee.h323) == id(attempt):
            callee.h323.release(CAUSE_RECOVERY_ON_TIMER_EXPIRY)
            callee.h323 = None  # Ignore whatever this attempt says later.
        elif (
            callee.invite_transaction is not None
            and callee.invite_transaction == attempt
        ):
            callee.invite_transaction = None
        else:
            return
        self._on_callee_event(call, _NO_ANSWER)

    def _callee_progress(self, call: Call, event: Alerting | Progress) -> None:
        """Ringing or progress to the caller, with early media when the callee
        sent an answer (SIP 18x with SDP, H.323 Fast Start in Alerting/Progress)."""
        if call.state is CallState.PROCEEDING:
            call.move_to(CallState.EARLY)
        early = self._early_media(call, event.early_media)
        is_ringing = isinstance(event, Alerting)
        if call.caller.h323 is not None:
            if is_ringing:
                call.caller.h323.alerting(early)
            else:
                call.caller.h323.progress(early)
            return
        status = 180 if is_ringing else 183
        assert call.invite is not None
        provisional = make_response(call.invite, status, to_tag=self._caller_tag(call))
        provisional.headers.add("Contact", contact_for(call.caller.connection))
        if early is not None:
            provisional.headers.add("Content-Type", SDP)
            provisional.body = serialize_sdp(early)
        assert call.caller.invite_transaction is not None
        self._respond(call.caller.invite_transaction, provisional)

    def _sip_leg_answered(self, call: Call, response: SipResponse) -> None:
        """The SIP side of a callee's 2xx: its dialog, ACK and session timer."""
        callee = call.callee
        assert callee is not None
        is_tls = callee.transport == "TLS"
        callee.dialog = Dialog.from_uac(sent_invite(callee), response, is_tls=is_tls)
        self.timers.answered_by(callee, response)
        if not call.is_late_offer:
            self._send_in_dialog(callee, "ACK")

    def _early_media(
        self, call: Call, sdp: SessionDescription | None
    ) -> SessionDescription | None:
        """Bridge the callee's early answer once; the caller's answer to send."""
        if sdp is None or call.is_late_offer or call.callee is None:
            return None
        if call.early_answer is not None:
            return call.caller.answer  # The same answer again (RFC 3261 §13.2.1).
        try:
            self._take_callee_answer(call, sdp)
        except (RemoteSdpError, RemoteSrtpError) as exc:
            self._log.warning(
                "call.early_media_unusable", call=call.call_ref, error=str(exc)
            )
            return None
        call.early_answer = sdp
        self._log.info("call.early_media", call=call.call_ref)
        return call.caller.answer

    def _callee_answered(self, call: Call, event: Answer) -> None:
        callee, caller = call.callee, call.caller
        assert callee is not None and caller.policy is not None
        if call.is_offer_made_for_callee:
            self._spawn(self._offer_caller(call, event))
            return
        try:
            if call.early_answer is not None:
                self._final_after_early(call, event.sdp)
            else:
                self._take_callee_answer(call, event.sdp)
        except (RemoteSdpError, RemoteSrtpError) as exc:
            self._fail(call, 488, f"callee's answer is not usable: {exc}")
            self._send_in_dialog(callee, "BYE")
            return
        assert caller.answer is not None
        self._answer_caller(call, caller.invite_transaction, caller.answer)

    async def _offer_caller(self, call: Call, event: Answer) -> None:
        """Late offer via an offer of ours: the callee's answer becomes our
        offer to the caller in the 200; its ACK answers (call_late_offer)."""
        callee, caller = call.callee, call.caller
        assert callee is not None and callee.offer is not None
        assert caller.policy is not None
        try:
            if event.sdp is None:
                raise RemoteSdpError("the answer has no SDP")
            callee.answer = event.sdp
            callee.streams = leg_streams(callee.offer, callee.answer, we_offered=True)
            await self._allocate(call, caller, len(event.sdp.media))
            if call.is_ended:
                return
            caller.offer = make_offer(event.sdp, ports(caller), caller.policy)
        except (RemoteSdpError, RemoteSrtpError) as exc:
            self._fail(call, 488, f"callee's answer is not usable: {exc}")
            self._send_in_dialog(callee, "BYE")
            return
        self._answer_caller(call, caller.invite_transaction, caller.offer)

    def _final_after_early(self, call: Call, sdp: SessionDescription | None) -> None:
        """The final answer after early media: a moved callee moves the relay."""
        callee = call.callee
        early = call.early_answer
        assert callee is not None and callee.offer is not None and early is not None
        if sdp is None or (sdp.media, sdp.connection) == (
            early.media,
            early.connection,
        ):
            return
        callee.answer = sdp
        callee.streams = leg_streams(callee.offer, sdp, we_offered=True)
        for stream in callee.streams:
            relayed = call.relay_streams.get(stream.index)
            if relayed is not None and stream.is_accepted:
                self._relay.update_leg(relayed, "b", self._media_leg(stream, "b"))

    def _take_callee_answer(self, call: Call, sdp: SessionDescription | None) -> None:
        """The callee's answer: our answer to the caller, and the relay bridged."""
        callee, caller = call.callee, call.caller
        assert callee is not None and caller.policy is not None
        assert callee.offer is not None and caller.offer is not None
        if sdp is None:
            raise RemoteSdpError("the answer has no SDP")
        callee.answer = sdp
        callee.streams = leg_streams(callee.offer, callee.answer, we_offered=True)
        agreed = negotiate(callee.offer, callee.answer)
        formats = [
            [f.format for f in s.formats] if s.is_accepted else None for s in agreed
        ]
        if callee.h323 is not None:
            # The gateway turns RFC 4733 into H.245 user input: keep the
            # caller's telephone-event although the H.323 side has none.
            for index, chosen in enumerate(formats):
                event = telephone_event_of(caller.offer, index)
                if chosen is not None and event is not None:
                    chosen.append(event)
        caller.answer = make_answer(
            caller.offer, ports(caller), caller.policy, formats=formats
        )
        caller.streams = leg_streams(caller.offer, caller.answer, we_offered=False)
        self._bridge(call)

    async def allocate_for(self, call: Call, leg: CallLeg, count: int) -> None:
        await self._allocate(call, leg, count)

    @staticmethod
    def ports(leg: CallLeg) -> list[int]:
        return ports(leg)

    def fail(self, call: Call, status: int, reason: str) -> None:
        self._fail(call, status, reason)

    def answer_caller(
        self, call: Call, transaction_id: TransactionKey | None, sdp: SessionDescription
    ) -> None:
        self._answer_caller(call, transaction_id, sdp)

    def bridge(self, call: Call) -> None:
        self._bridge(call)

    @staticmethod
    def start_leg_sessions(call: Call, *, caller_offered: bool) -> None:
        start_sessions(call, caller_offered=caller_offered)

    def _bridge(self, call: Call) -> None:
        callee = call.callee
        assert callee is not None
        for a, b, a_ep, b_ep in zip(
            call.caller.streams,
            callee.streams,
            call.caller.endpoints,
            callee.endpoints,
            strict=True,
        ):
            if a.is_accepted and b.is_accepted:
                relayed = self._relay.bridge(
                    a_ep,
                    self._media_leg(a, "caller"),
                    b_ep,
                    self._media_leg(b, "callee"),
                    broker=self.keyframes.broker_for(call, a.index),
                    on_digit=functools.partial(self.info.on_rtp_digit, call),
                )
                call.relay_streams[a.index] = relayed
                self.keyframes.track(call, a.index, relayed)

    def _media_leg(self, stream: LegStream, label: str) -> MediaLeg:
        events = [pts for pts in stream.payload_types if pts[0] == "telephone-event"]
        sends_pt, expects_pt = events[0][1:] if events else (None, None)
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
            telephone_event_pt=sends_pt,
            telephone_event_send_pt=expects_pt,
        )

    # -- answering and in-dialog requests ------------------------------------
    def _answer_caller(
        self,
        call: Call,
        transaction_id: TransactionKey | None,
        answer: SessionDescription,
    ) -> None:
        if call.caller.h323 is not None and call.is_late_offer:
            # Slow start: Connect, then H.245 opens channels for our offer.
            call.caller.h323.answer_with_offer(answer)
            call.move_to(CallState.ANSWERED)
            call.answered_at = time.time()
            return
        if call.caller.h323 is not None:
            self._h323.answer_caller(call, answer)
            return
        assert call.invite is not None and transaction_id is not None
        ok = make_response(call.invite, 200, to_tag=self._caller_tag(call))
        ok.headers.add("Contact", contact_for(call.caller.connection))
        for name, value in call.caller.timer_headers:
            ok.headers.add(name, value)
        ok.headers.add("Content-Type", SDP)
        ok.body = serialize_sdp(answer)
        is_tls = call.caller.transport == "TLS"
        call.caller.dialog = Dialog.from_uas(call.invite, ok, is_tls=is_tls)
        call.move_to(CallState.ANSWERED)
        call.answered_at = time.time()
        if not call.is_late_offer:
            start_sessions(call)
        self._respond(transaction_id, ok)
        self.timers.answered(call.caller)
        timer_h_s = self._sip.layer.timers.h_s
        asyncio.get_running_loop().call_later(timer_h_s, self._ack_timeout, call)
        callee_streams = call.callee.streams if call.callee else ()
        self._log.info(
            "call.answered",
            call=call.call_ref,
            caller=call.caller.site or call.caller.trunk,
            callee=call.dialled,
            caller_media=[s.suite_name for s in call.caller.streams if s.is_accepted],
            callee_media=[s.suite_name for s in callee_streams if s.is_accepted],
        )

    def _in_dialog(self, transaction_id: TransactionKey, request: SipRequest) -> None:
        call = self._find_call(request)
        if call is None:
            self._reply(transaction_id, request, 481)
            return
        side = "caller" if is_leg(call.caller, request) else "callee"
        if request.method == "BYE":
            self._reply(transaction_id, request, 200)
            other = call.callee if side == "caller" else call.caller
            if other is not None:
                self._send_in_dialog(other, "BYE")
            self._end(call, f"BYE from {side}")
        elif request.method == "UPDATE" and not request.body:
            self._refresh_only(call, side, transaction_id, request)
        elif request.method in ("INVITE", "UPDATE"):
            leg = call.caller if side == "caller" else call.callee
            assert leg is not None
            self._reoffers.on_reinvite(call, leg, transaction_id, request)
        elif request.method == "INFO":
            self.info.relay_info(call, side, transaction_id, request)
        else:
            self._reply(transaction_id, request, 501)

    def _refresh_only(
        self, call: Call, side: str, transaction_id: TransactionKey, request: SipRequest
    ) -> None:
        """UPDATE without SDP: a session refresh (RFC 4028 §7.4), no offer."""
        leg = call.caller if side == "caller" else call.callee
        assert leg is not None
        ok = make_response(request, 200)
        ok.headers.add("Contact", contact_for(leg.connection))
        _, timer_headers = self.timers.answer_headers(request, leg)
        for name, value in timer_headers:
            ok.headers.add(name, value)
        self._respond(transaction_id, ok)
        self.timers.answered(leg)

    def send_info(self, leg: CallLeg, content_type: str, body: bytes) -> None:
        """An INFO of ours on ``leg`` (the keyframe broker's request)."""
        self.info.send_info(leg, content_type, body)

    @property
    def ids(self) -> IdSource:
        return self._ids

    def refresh_flow(self, leg: CallLeg) -> None:
        self._refresh_flow(leg)

    def _refresh_flow(self, leg: CallLeg) -> None:
        """A site whose connection dropped may have registered on a new one."""
        if leg.site is not None and (
            leg.connection is None or leg.connection.is_closed
        ):
            leg.connection = self._sip.flow_for_site(leg.site)

    def _send_in_dialog(self, leg: CallLeg, method: str, *, body: bytes = b"") -> None:
        if leg.h323 is not None:  # An H.323 leg: BYE becomes Release Complete.
            if method == "BYE":
                leg.h323.release(CAUSE_NORMAL_CLEARING)
                leg.h323 = None
            return
        self._refresh_flow(leg)
        request = in_dialog_request(leg, method, self._ids)
        if request is None:
            return
        if body:
            request.headers.add("Content-Type", SDP)
            request.body = body
        if method == "ACK":
            leg.connection.send(request)
        else:
            self._sip.send_request(request, leg.connection, on_response=lambda _r: None)

    def _cancel_callee(self, call: Call) -> None:
        callee = call.callee
        if callee is not None and callee.h323 is not None:
            callee.h323.release(CAUSE_NORMAL_CLEARING)
            callee.h323 = None
            return
        if callee is not None and callee.invite_transaction is not None:
            self._sip.layer.send_cancel(callee.invite_transaction, monotonic_now())
            self._sip.flush()

    def _ack_and_bye(self, call: Call, response: SipResponse) -> None:
        """A 2xx after we gave up (CANCEL raced the answer): ACK then BYE."""
        callee = call.callee
        if callee is None or callee.dialog is not None:
            return
        callee.dialog = Dialog.from_uac(sent_invite(callee), response)
        self._send_in_dialog(callee, "ACK")
        self._send_in_dialog(callee, "BYE")

    # -- ending --------------------------------------------------------------
    def _fail(self, call: Call, status: int, reason: str) -> None:
        if call.is_ended:
            return
        if call.caller.h323 is not None:
            if call.is_early:
                call.caller.h323.release(sip_status_to_cause(caller_status(status)))
                call.caller.h323 = None
        elif call.is_early:
            assert call.invite is not None
            response = make_response(call.invite, caller_status(status))
            response.headers.add("Warning", warning(reason))
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
        for leg in (call.caller, call.callee):
            if leg is not None and leg.h323 is not None:
                leg.h323.release(CAUSE_NORMAL_CLEARING)
                leg.h323 = None
        self._record(call)
        self.keyframes.forget(call)
        self._release_media(call)
        self._log.info(
            "call.ended",
            call=call.call_ref,
            caller=call.caller.site or call.caller.trunk,
            callee=call.dialled,
            reason=reason,
            duration_s=round(call.ended_at - (call.answered_at or call.ended_at), 1),
        )

    def _release_media(self, call: Call) -> None:
        """Free the call's relay ports (idempotent: setup may still add some)."""
        for leg in (call.caller, call.callee):
            for endpoint in leg.endpoints if leg is not None else ():
                self._relay.release(endpoint)

    def _ack_timeout(self, call: Call) -> None:
        """RFC 3261 §13.3.1.4: no ACK within 64*T1 of our 200 ends the call."""
        if call.state is CallState.ANSWERED:
            self.end_with_bye(call, "no ACK for 200")

    def _record(self, call: Call) -> None:
        """Write the call record (before the relay forgets the counters)."""
        caller_reports, callee_reports = [], []
        for stream in call.relay_streams.values():
            reports = self._relay.reports(stream)
            caller_reports.append(reports["a"])
            if "b" in reports:
                callee_reports.append(reports["b"])
        try:
            record = call_record(call, caller_reports, callee_reports)
            self._store.add_call_record(record)
        except GatewayError as exc:
            self._log.error("call.record_failed", call=call.call_ref, error=str(exc))

    def sweep_media(self, now: float) -> None:
        """End answered calls whose media stopped for ``media_timeout_s``."""
        for call in list(self.calls.values()):
            if call.state is not CallState.CONFIRMED or not call.relay_streams:
                continue
            self.timers.sweep(call, now)
            if call.is_ended:
                continue
            idle_s = min(s.idle_for_s(now) for s in call.relay_streams.values())
            if idle_s >= self._media_timeout_s:
                self.end_with_bye(call, f"media timeout: no packet for {int(idle_s)} s")

    def end_with_bye(self, call: Call, reason: str) -> None:
        """End an answered call from the gateway's side: BYE to both legs."""
        for leg in (call.caller, call.callee):
            if leg is not None:
                self._send_in_dialog(leg, "BYE")
        self._end(call, reason)

    # -- what Reoffers uses --------------------------------------------------
    @property
    def relay(self) -> MediaRelay:
        return self._relay

    @property
    def log(self) -> Any:
        return self._log

    @property
    def codec_policy(self) -> CodecPolicy:
        return self._codec_policy

    @property
    def srtp_policy(self) -> SrtpPolicy:
        return self._srtp_policy

    def local_session(self, leg: CallLeg) -> LocalSession:
        """The leg's own RTP profile: a plain-RTP trunk leg stays RTP/AVP."""
        assert leg.policy is not None
        is_clear = bool(leg.streams) and all(
            s.keys is None for s in leg.streams if s.is_accepted
        )
        profile = TransportProfile.RTP_AVP if is_clear else TransportProfile.RTP_SAVP
        return leg.policy.session(profile=profile)

    def media_leg(self, stream: LegStream, label: str) -> MediaLeg:
        return self._media_leg(stream, label)

    def reply(
        self, transaction_id: TransactionKey, request: SipRequest, status: int
    ) -> None:
        self._reply(transaction_id, request, status)

    def respond(self, transaction_id: TransactionKey, response: SipResponse) -> None:
        self._respond(transaction_id, response)

    @staticmethod
    def finish_response(response: SipResponse, reason: str) -> None:
        response.headers.add("Warning", warning(reason))

    def send_in_dialog(self, leg: CallLeg, method: str, *, body: bytes = b"") -> None:
        self._send_in_dialog(leg, method, body=body)

    def in_dialog(self, leg: CallLeg, method: str, *, body: bytes) -> SipRequest | None:
        """An in-dialog request with an SDP body, on the leg's live flow."""
        self._refresh_flow(leg)
        request = in_dialog_request(leg, method, self._ids)
        if request is not None:
            request.headers.add("Contact", contact_for(leg.connection))
            request.headers.add("Content-Type", SDP)
            request.body = body
        return request

    def send_request_on(
        self,
        leg: CallLeg,
        request: SipRequest,
        on_response: Callable[[SipResponse | None], None],
    ) -> None:
        self._sip.send_request(request, leg.connection, on_response=on_response)

    # -- helpers -------------------------------------------------------------
    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """Log a setup step that crashed (a bug): that call fails, not the rest."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._log.error(
                "call.task_failed",
                exc_info=task.exception(),
                error=str(task.exception()),
            )

    def _is_own_call(self, call_id: str) -> bool:
        """A Call-ID the gateway gave one of its own outgoing legs."""
        return any(
            c.callee is not None
            and c.callee.invite is not None
            and c.callee.invite.call_id == call_id
            for c in self.calls.values()
        )

    def _find_call(self, request: SipRequest) -> Call | None:
        for call in self.calls.values():
            if is_leg(call.caller, request) or (
                call.callee is not None and is_leg(call.callee, request)
            ):
                return call
        return None

    def _caller_tag(self, call: Call) -> str:
        if call.caller.local_tag is None:
            call.caller.local_tag = self._ids.new_tag()
        return call.caller.local_tag

    def _refuse(
        self,
        transaction_id: TransactionKey,
        request: SipRequest,
        status: int,
        reason: str,
        connection: Connection,
    ) -> None:
        response = make_response(request, status)
        response.headers.add("Warning", warning(reason))
        if status == 422:  # RFC 4028 §6: say the smallest interval we take.
            response.headers.add("Min-SE", str(self.timers.policy.min_se_s))
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
