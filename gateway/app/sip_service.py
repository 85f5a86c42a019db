"""The SIP service: registrar, OPTIONS, flows to sites, revocation.

Sits between the transports (sip_io) and the sans-IO registrar; persists
binding changes in the store and logs each decision with a stable event name.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from gateway.app.sip_io import Connection
from gateway.sip.events import (
    AckReceived,
    CancelReceived,
    MessageDropped,
    RequestReceived,
    ResponseReceived,
    SipEvent,
    TransactionTimedOut,
    TransportFailed,
)
from gateway.sip.ids import IdSource, TransactionKey
from gateway.sip.message import (
    Headers,
    SipMessage,
    SipRequest,
    SipResponse,
    make_response,
)
from gateway.sip.registrar import FlowInfo, RegisterOutcome, Registrar
from gateway.sip.transaction_layer import TransactionLayer
from gateway.store.base import Store


class CallHandler(Protocol):
    """What the SIP service hands calls to (the B2BUA)."""

    def on_request(
        self,
        transaction_id: TransactionKey,
        request: SipRequest,
        connection: Connection,
    ) -> None: ...

    def on_ack(self, request: SipRequest) -> None: ...

    def on_cancel(self, invite_transaction: TransactionKey) -> None: ...


ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE"
_HANDLED_ELSEWHERE = frozenset({"INVITE", "CANCEL", "BYE", "INFO", "UPDATE"})


class SipService:
    """Dispatches SIP messages from every transport."""

    def __init__(
        self,
        *,
        registrar: Registrar,
        store: Store,
        log: Any,
        user_agent: str,
        ids: IdSource | None = None,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registrar = registrar
        self._store = store
        self._log = log
        self._user_agent = user_agent
        self._ids = ids or IdSource()
        self._wall_clock = wall_clock
        self._clock = clock
        self.connections: dict[str, Connection] = {}
        self.layer = TransactionLayer(ids=self._ids)
        self._pending: dict[TransactionKey, asyncio.Future[SipResponse]] = {}
        # Per client transaction: called with each response, None on failure.
        self._callbacks: dict[TransactionKey, Callable[[SipResponse | None], None]] = {}
        self.call_handler: CallHandler | None = None
        self.handler_failures = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")
        self._event_handlers: dict[type[SipEvent], Callable[[Any], None]] = {
            RequestReceived: self._on_request,
            ResponseReceived: self._on_response,
            TransactionTimedOut: self._on_failure,
            TransportFailed: self._on_failure,
            MessageDropped: self._on_dropped,
            AckReceived: self._on_ack,
            CancelReceived: self._on_cancel,
        }
        self._request_handlers: dict[
            str, Callable[[TransactionKey, SipRequest, Connection], None]
        ] = {"REGISTER": self._on_register, "OPTIONS": self._on_options}

    # -- transport callbacks -------------------------------------------------
    def on_connection_made(self, connection: Connection) -> None:
        self.connections[connection.flow_id] = connection
        identity = connection.identity
        self._log.info(
            "sip.connection.opened",
            flow=connection.flow_id,
            peer=connection.peer_text,
            transport=connection.transport,
            site=identity.site if identity else None,
            cert_serial=identity.cert_serial if identity else None,
            tls_version=connection.tls_version or None,
            tls_cipher=connection.tls_cipher or None,
        )

    def on_connection_lost(self, connection: Connection, reason: str) -> None:
        self.connections.pop(connection.flow_id, None)
        self._log.info(
            "sip.connection.closed",
            flow=connection.flow_id,
            peer=connection.peer_text,
            site=connection.identity.site if connection.identity else None,
            reason=reason,
        )

    def on_bad_input(self, connection: Connection, reason: str) -> None:
        self._log.warning(
            "sip.message.rejected",
            flow=connection.flow_id,
            peer=connection.peer_text,
            reason=reason,
        )

    def on_message(self, message: SipMessage, connection: Connection) -> None:
        """Hand a parsed message to the transaction layer, then act on events."""
        self.layer.receive_message(
            message,
            source=connection,
            is_reliable=connection.transport != "UDP",
            now=self._clock(),
        )
        self._run_layer()

    # -- transaction layer plumbing ----------------------------------------
    def _run_layer(self) -> None:
        """Dispatch the layer's events, send its messages, re-arm its timer."""
        layer = self.layer
        while True:
            events = layer.pop_events()
            for message, destination in layer.pop_outgoing():
                if isinstance(destination, Connection):
                    destination.send(message)
            if not events:
                break
            for event in events:
                handler = self._event_handlers.get(type(event))
                if handler is not None:
                    self._guarded(handler, event)
        self._arm_timer()

    def _guarded(self, handler: Callable[[Any], None], event: SipEvent) -> None:
        """Task boundary: a bug handling one message must not cost the flow.

        The exception is logged with its traceback and counted; the
        connection and every other registration and call go on.
        """
        try:
            handler(event)
        except Exception:
            self.handler_failures += 1
            self._log.exception("sip.handler_failed", sip_event=type(event).__name__)

    def _arm_timer(self) -> None:
        deadline = self.layer.next_deadline()
        if deadline is None:
            return
        if self._timer is not None and self._timer_at <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        self._timer_at = deadline
        self._timer = loop.call_at(max(deadline, loop.time()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = float("inf")
        self.layer.handle_timeout(self._clock())
        self._run_layer()

    def _on_request(self, event: RequestReceived) -> None:
        request = event.request
        connection = event.source
        assert isinstance(connection, Connection)
        handler = self._request_handlers.get(request.method)
        if handler is not None:
            handler(event.transaction_id, request, connection)
        elif request.method in _HANDLED_ELSEWHERE and self.call_handler is not None:
            self.call_handler.on_request(event.transaction_id, request, connection)
        elif request.method in _HANDLED_ELSEWHERE:
            self._reply(event.transaction_id, request, 480, [("Retry-After", "60")])
        else:
            self._reply(event.transaction_id, request, 405, [("Allow", ALLOW)])

    def _on_response(self, event: ResponseReceived) -> None:
        callback = self._callbacks.get(event.transaction_id)
        if callback is not None:
            if event.response.status >= 200:
                del self._callbacks[event.transaction_id]
            callback(event.response)
            return
        future = self._pending.get(event.transaction_id)
        if future is not None and not future.done() and event.response.status >= 200:
            future.set_result(event.response)

    def _on_failure(self, event: TransactionTimedOut | TransportFailed) -> None:
        callback = self._callbacks.pop(event.transaction_id, None)
        if callback is not None:
            callback(None)
            return
        future = self._pending.get(event.transaction_id)
        if future is not None and not future.done():
            what = "timed out" if isinstance(event, TransactionTimedOut) else "failed"
            future.set_exception(ConnectionError(f"transaction {what}"))

    def _on_ack(self, event: AckReceived) -> None:
        if self.call_handler is not None:
            self.call_handler.on_ack(event.request)

    def _on_cancel(self, event: CancelReceived) -> None:
        if self.call_handler is not None:
            self.call_handler.on_cancel(event.invite_transaction_id)

    def respond(self, transaction_id: TransactionKey, response: SipResponse) -> None:
        """Send ``response`` on a server transaction and flush the layer."""
        self._respond(transaction_id, response)
        self._run_layer()

    def send_request(
        self,
        request: SipRequest,
        connection: Connection,
        *,
        on_response: Callable[[SipResponse | None], None],
    ) -> TransactionKey:
        """Start a client transaction; ``on_response`` gets every response.

        It is called with None when the transaction times out or the
        transport fails.
        """
        transaction_id = self.layer.send_request(
            request,
            destination=connection,
            is_reliable=connection.transport != "UDP",
            now=self._clock(),
        )
        self._callbacks[transaction_id] = on_response
        self._run_layer()
        return transaction_id

    def flush(self) -> None:
        """Send what the transaction layer queued (after a direct command)."""
        self._run_layer()

    def _on_dropped(self, event: MessageDropped) -> None:
        self._log.debug("sip.message.dropped", reason=event.reason)

    def _respond(self, transaction_id: TransactionKey, response: SipResponse) -> None:
        self._finish(response)
        self.layer.send_response(transaction_id, response, self._clock())

    # -- requests ------------------------------------------------------------
    def _on_register(
        self,
        transaction_id: TransactionKey,
        request: SipRequest,
        connection: Connection,
    ) -> None:
        flow = FlowInfo(
            flow_id=connection.flow_id,
            transport=connection.transport,
            peer=connection.peer_text,
            is_secure=connection.is_secure,
        )
        outcome = self.registrar.handle_register(
            request, identity=connection.identity, flow=flow, now=self._wall_clock()
        )
        if outcome.bindings is not None and outcome.site is not None:
            self._store.replace_site_bindings(outcome.site, outcome.bindings)
        if outcome.refusal is not None and outcome.response.status == 403:
            # Tell the endpoint's admin why, in the response itself (RFC 3261 §20.43).
            warning = outcome.refusal.replace('"', "'")
            outcome.response.headers.add("Warning", f'399 vcgw "{warning}"')
        self._respond(transaction_id, outcome.response)
        self._log_register(request, connection, outcome)

    def _log_register(
        self, request: SipRequest, connection: Connection, outcome: RegisterOutcome
    ) -> None:
        identity = connection.identity
        if outcome.refusal is not None:
            self._log.warning(
                "sip.register.refused",
                status=outcome.response.status,
                reason=outcome.refusal,
                aor=request.headers.get("to"),
                site=identity.site if identity else None,
                cert_serial=identity.cert_serial if identity else None,
                flow=connection.flow_id,
                peer=connection.peer_text,
                transport=connection.transport,
            )
        elif outcome.bindings is not None:
            self._log.info(
                "sip.register.accepted",
                site=outcome.site,
                contacts=len(outcome.bindings),
                flow=connection.flow_id,
                peer=connection.peer_text,
            )

    def _on_options(
        self, transaction_id: TransactionKey, request: SipRequest, _conn: Connection
    ) -> None:
        extra = [
            ("Allow", ALLOW),
            ("Accept", "application/sdp"),
            ("Supported", "outbound, timer"),
        ]
        self._reply(transaction_id, request, 200, extra)

    def _reply(
        self,
        transaction_id: TransactionKey,
        request: SipRequest,
        status: int,
        extra: Iterable[tuple[str, str]] = (),
    ) -> None:
        response = make_response(request, status, extra_headers=list(extra))
        self._respond(transaction_id, response)

    def _finish(self, response: SipResponse) -> None:
        """Add the To tag a UAS must add (RFC 3261 §8.2.6.2) and Server."""
        if response.status > 100 and response.to_addr.tag is None:
            to_value = response.headers.get("to") or ""
            response.headers.set("To", f"{to_value};tag={self._ids.new_tag()}")
            response.invalidate()
        response.headers.add("Server", self._user_agent)

    # -- requests we send ----------------------------------------------------
    async def send_options(
        self, connection: Connection, target: str, *, timeout_s: float = 5.0
    ) -> SipResponse:
        """Send OPTIONS over ``connection`` and wait for the final response."""
        host = connection.local_text
        domain = self.registrar.policy.domain
        request = SipRequest(
            method="OPTIONS",
            uri=target,
            headers=Headers(
                [
                    (
                        "Via",
                        f"SIP/2.0/{connection.transport} {host};"
                        f"branch={self._ids.new_branch()}",
                    ),
                    ("Max-Forwards", "70"),
                    ("From", f"<sip:gateway@{domain}>;tag={self._ids.new_tag()}"),
                    ("To", f"<{target}>"),
                    ("Call-ID", self._ids.new_call_id(domain)),
                    ("CSeq", "1 OPTIONS"),
                    ("User-Agent", self._user_agent),
                ]
            ),
        )
        future: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        transaction_id = self.layer.send_request(
            request,
            destination=connection,
            is_reliable=connection.transport != "UDP",
            now=self._clock(),
        )
        self._pending[transaction_id] = future
        self._run_layer()
        try:
            return await asyncio.wait_for(future, timeout_s)
        finally:
            self._pending.pop(transaction_id, None)

    # -- maintenance ---------------------------------------------------------
    def expire_bindings(self) -> None:
        """Drop expired bindings and persist the sites that changed."""
        now = self._wall_clock()
        for site in self.registrar.expire(now=now):
            self._store.replace_site_bindings(
                site, self.registrar.bindings(site, now=now)
            )
            self._log.info("sip.register.expired", site=site)

    def drop_revoked(self, revoked_serials: frozenset[str]) -> int:
        """Close flows and remove bindings of certificates now revoked.

        Returns how many connections were closed.
        """
        closed = 0
        for connection in list(self.connections.values()):
            identity = connection.identity
            if identity is None or identity.cert_serial not in revoked_serials:
                continue
            connection.close()
            closed += 1
            self._log.warning(
                "tls.connection.revoked",
                site=identity.site,
                cert_serial=identity.cert_serial,
                flow=connection.flow_id,
                peer=connection.peer_text,
            )
        now = self._wall_clock()
        for site in self.registrar.sites():
            bindings = self.registrar.bindings(site, now=now)
            if any(b.cert_serial in revoked_serials for b in bindings):
                kept = [b for b in bindings if b.cert_serial not in revoked_serials]
                self.registrar.remove_site(site)
                if kept:
                    self.registrar.restore(site, kept)
                self._store.replace_site_bindings(site, kept)
                self._log.warning("sip.register.revoked", site=site)
        return closed

    def flow_for_site(self, site: str) -> Connection | None:
        """The live connection to reach ``site`` (RFC 5626 flow reuse).

        The connection a binding was registered over comes first; else any
        live connection whose verified certificate names the site (one the
        gateway opened earlier when the registration flow was gone).
        """
        now = self._wall_clock()
        for binding in self.registrar.bindings(site, now=now):
            connection = self.connections.get(binding.flow)
            if connection is not None and not connection.is_closed:
                return connection
        for connection in self.connections.values():
            identity = connection.identity
            if (
                identity is not None
                and identity.site == site
                and not connection.is_closed
            ):
                return connection
        return None
