"""Connections to SIP trunks (the MCU, the national switch) and their health checks.

UDP trunks share one socket: the plain UDP listener when one is configured
(so a trunk sees calls come from the address it sends to), else one bound on
demand. TCP trunks get one connection per address, reused while it is open.
OPTIONS probes feed each trunk's sans-IO TrunkHealth.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import Any

from gateway.app.config import TlsSection
from gateway.app.sip_io import Connection, SipDatagramProtocol, SipStreamProtocol
from gateway.app.sip_service import SipService
from gateway.app.tls import make_client_context
from gateway.b2bua.trunks import (
    SendOptions,
    Trunk,
    TrunkAddress,
    TrunkAddressDown,
    TrunkAddressUp,
    TrunkHealth,
)
from gateway.errors import GatewayError
from gateway.sip.parse import SipLimits


class TrunkTransports:
    """Finds or opens the connection for a trunk address; probes trunks."""

    def __init__(
        self,
        *,
        sip: SipService,
        trunks: tuple[Trunk, ...],
        limits: SipLimits,
        bind_host: str,
        log: Any,
        tls: TlsSection | None = None,
    ) -> None:
        self._sip = sip
        self._limits = limits
        self._bind_host = bind_host
        self._log = log
        self.trunks = {trunk.name: trunk for trunk in trunks}
        now = time.monotonic()
        self.health = {t.name: TrunkHealth(t, now=now) for t in trunks}
        self._udp: SipDatagramProtocol | None = None
        self._tcp: dict[tuple[str, int], Connection] = {}
        self._probes: set[asyncio.Task[None]] = set()
        self._tls = tls
        self._tls_contexts: dict[str, ssl.SSLContext] = {}

    def use_udp_listener(self, protocol: SipDatagramProtocol) -> None:
        """Send to UDP trunks from this listener's socket."""
        if self._udp is None:
            self._udp = protocol

    async def connection_for(self, trunk: Trunk, address: TrunkAddress) -> Connection:
        """A connection to ``address`` over the trunk's transport."""
        if trunk.transport == "udp":
            protocol = await self._udp_protocol()
            return protocol.flow_to((address.host, address.port))
        key = (address.host, address.port)
        existing = self._tcp.get(key)
        if existing is not None and not existing.is_closed:
            return existing
        loop = asyncio.get_running_loop()
        is_tls = trunk.transport == "tls"
        _, stream = await asyncio.wait_for(
            loop.create_connection(
                lambda: SipStreamProtocol(
                    self._sip, self._limits, "TLS" if is_tls else "TCP"
                ),
                address.host,
                address.port,
                ssl=self._tls_context(trunk) if is_tls else None,
                server_hostname=(trunk.server_name or address.host) if is_tls else None,
            ),
            trunk.failover_timeout_s,
        )
        connection = stream.connection
        assert connection is not None
        self._tcp[key] = connection
        return connection

    def _tls_context(self, trunk: Trunk) -> ssl.SSLContext:
        """Verify the trunk's certificate and name; present ours (clientAuth)."""
        context = self._tls_contexts.get(trunk.name)
        if context is None:
            tls = self._tls
            if tls is None:
                raise GatewayError(f"trunk {trunk.name}: no [tls] section for TLS")
            context = make_client_context(
                certificate=tls.certificate,
                private_key=tls.private_key,
                ca_certificate=trunk.ca_certificate or tls.ca_certificate,
                crl=None if trunk.ca_certificate else tls.crl,
                min_version=tls.min_version,
                check_hostname=True,
            )
            self._tls_contexts[trunk.name] = context
        return context

    async def _udp_protocol(self) -> SipDatagramProtocol:
        if self._udp is None:
            loop = asyncio.get_running_loop()
            _, protocol = await loop.create_datagram_endpoint(
                lambda: SipDatagramProtocol(self._sip, self._limits),
                local_addr=(self._bind_host, 0),
            )
            self._udp = protocol
        return self._udp

    def trunk_of(self, connection: Connection) -> Trunk | None:
        """The configured trunk a connection comes from.

        An exact address (host and port) wins; else the first trunk with that
        host, since a TCP peer's source port is ephemeral.
        """
        host, port = connection.peer
        same_transport = [
            t
            for t in self.trunks.values()
            if t.transport.upper() == connection.transport
        ]
        for trunk in same_transport:
            if any((a.host, a.port) == (host, port) for a in trunk.addresses):
                return trunk
        for trunk in same_transport:
            if any(a.host == host for a in trunk.addresses):
                return trunk
        return None

    def h323_trunk_of(self, host: str) -> Trunk | None:
        """The H.323 trunk whose addresses include ``host`` (a caller's IP)."""
        for trunk in self.trunks.values():
            if trunk.protocol == "h323" and any(
                a.host == host for a in trunk.addresses
            ):
                return trunk
        return None

    # -- health checks -------------------------------------------------------
    async def run_health_checks(self) -> None:
        """Probe trunk addresses with OPTIONS when their TrunkHealth asks."""
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            for health in self.health.values():
                if health.trunk.protocol != "sip":
                    continue  # OPTIONS is SIP; H.323 trunks are not probed.
                for command in health.handle_timeout(now):
                    task = asyncio.create_task(self._probe(command))
                    self._probes.add(task)
                    task.add_done_callback(self._probes.discard)
                self._log_events(health)

    async def _probe(self, command: SendOptions) -> None:
        trunk = self.trunks[command.trunk]
        address = command.address
        is_ok = False
        try:
            connection = await self.connection_for(trunk, address)
            target = f"sip:{address.host}:{address.port};transport={trunk.transport}"
            await self._sip.send_options(
                connection, target, timeout_s=trunk.failover_timeout_s
            )
            is_ok = True  # Any final response proves the address alive.
        except (OSError, ConnectionError, TimeoutError, GatewayError):
            is_ok = False
        health = self.health[trunk.name]
        health.receive_options_result(address, is_ok, time.monotonic())
        self._log_events(health)

    def _log_events(self, health: TrunkHealth) -> None:
        for event in health.pop_events():
            if isinstance(event, TrunkAddressDown):
                self._log.warning("trunk.address.down", **_fields(event))
            elif isinstance(event, TrunkAddressUp):
                self._log.info("trunk.address.up", **_fields(event))


def _fields(event: TrunkAddressDown | TrunkAddressUp) -> dict[str, str]:
    return {"trunk": event.trunk, "address": str(event.address)}
