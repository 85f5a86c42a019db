"""The SIP service: registrar, OPTIONS, flows to sites, revocation.

Sits between the transports (sip_io) and the sans-IO registrar; persists
binding changes in the store and logs each decision with a stable event name.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from gateway.app.sip_io import Connection
from gateway.sip.ids import IdSource
from gateway.sip.message import (
    Headers,
    SipMessage,
    SipRequest,
    SipResponse,
    make_response,
)
from gateway.sip.registrar import FlowInfo, Registrar
from gateway.store.base import Store

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE"
_HANDLED_ELSEWHERE = frozenset({"INVITE", "ACK", "CANCEL", "BYE", "INFO", "UPDATE"})


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
    ) -> None:
        self.registrar = registrar
        self._store = store
        self._log = log
        self._user_agent = user_agent
        self._ids = ids or IdSource()
        self._wall_clock = wall_clock
        self.connections: dict[str, Connection] = {}

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
        for future in connection.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("flow closed"))
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
        if isinstance(message, SipResponse):
            self._on_response(message, connection)
            return
        handler = {
            "REGISTER": self._on_register,
            "OPTIONS": self._on_options,
        }.get(message.method)
        if handler is not None:
            handler(message, connection)
        elif message.method == "ACK":
            return  # ACK to a final we sent statelessly: nothing to do.
        elif message.method in _HANDLED_ELSEWHERE:
            self._reply(message, connection, 480, extra=[("Retry-After", "60")])
        else:
            self._reply(message, connection, 405, extra=[("Allow", ALLOW)])

    # -- requests ------------------------------------------------------------
    def _on_register(self, request: SipRequest, connection: Connection) -> None:
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
        self._finish(outcome.response)
        connection.send(outcome.response)
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

    def _on_options(self, request: SipRequest, connection: Connection) -> None:
        self._reply(
            request,
            connection,
            200,
            extra=[
                ("Allow", ALLOW),
                ("Accept", "application/sdp"),
                ("Supported", "outbound, timer"),
            ],
        )

    def _reply(
        self,
        request: SipRequest,
        connection: Connection,
        status: int,
        *,
        extra: Iterable[tuple[str, str]] = (),
    ) -> None:
        response = make_response(request, status, extra_headers=list(extra))
        self._finish(response)
        connection.send(response)

    def _finish(self, response: SipResponse) -> None:
        """Add the To tag a UAS must add (RFC 3261 §8.2.6.2) and Server."""
        if response.status > 100 and response.to_addr.tag is None:
            to_value = response.headers.get("to") or ""
            response.headers.set("To", f"{to_value};tag={self._ids.new_tag()}")
            response.invalidate()
        response.headers.add("Server", self._user_agent)

    # -- requests we send ----------------------------------------------------
    def _on_response(self, response: SipResponse, connection: Connection) -> None:
        via = response.top_via
        branch = via.branch if via is not None else None
        future = connection.pending.pop(branch or "", None)
        if future is not None and not future.done() and response.status >= 200:
            future.set_result(response)
        elif future is not None and response.status < 200 and not future.done():
            connection.pending[branch or ""] = future  # Wait for the final.

    async def send_options(
        self, connection: Connection, target: str, *, timeout_s: float = 5.0
    ) -> SipResponse:
        """Send OPTIONS over ``connection`` and wait for the final response."""
        branch = self._ids.new_branch()
        host = "vcgw.invalid"
        request = SipRequest(
            method="OPTIONS",
            uri=target,
            headers=Headers(
                [
                    ("Via", f"SIP/2.0/{connection.transport} {host};branch={branch}"),
                    ("Max-Forwards", "70"),
                    (
                        "From",
                        f"<sip:gateway@{self.registrar.policy.domain}>;tag="
                        f"{self._ids.new_tag()}",
                    ),
                    ("To", f"<{target}>"),
                    ("Call-ID", self._ids.new_call_id(host)),
                    ("CSeq", "1 OPTIONS"),
                    ("User-Agent", self._user_agent),
                ]
            ),
        )
        future: asyncio.Future[SipMessage] = asyncio.get_running_loop().create_future()
        connection.pending[branch] = future
        connection.send(request)
        try:
            result = await asyncio.wait_for(future, timeout_s)
        finally:
            connection.pending.pop(branch, None)
        assert isinstance(result, SipResponse)
        return result

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
