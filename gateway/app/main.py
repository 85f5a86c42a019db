"""The gateway process: listeners, timers, CRL reload, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import signal
import ssl
import time
from datetime import UTC, datetime
from typing import Any

import uvloop

from gateway.app.call_service import CallService
from gateway.app.config import GatewayConfig
from gateway.app.crl_watch import CrlWatcher, read_verified_crl
from gateway.app.h323_ras import GatekeeperLink
from gateway.app.logging import configure_logging, get_logger
from gateway.app.media_io import MediaRelay
from gateway.app.sip_io import (
    Connection,
    SipDatagramProtocol,
    SipStreamProtocol,
    contact_address,
)
from gateway.app.sip_service import SipService
from gateway.app.tls import make_client_context, make_server_context
from gateway.app.trunk_io import TrunkTransports
from gateway.b2bua.routing import Router
from gateway.b2bua.session_timer import SessionTimerPolicy
from gateway.errors import GatewayError, PkiError
from gateway.sip.parse import SipLimits
from gateway.sip.registrar import Registrar, RegistrarPolicy
from gateway.srtp.suites import SrtpPolicy
from gateway.store.sqlite import SqliteStore

_EXPIRY_SWEEP_S = 5.0
_CRL_WARN_S = 2 * 86400.0
_CRL_FRESHNESS_CHECK_S = 3600.0


def _raise_fd_limit() -> None:
    """Hundreds of sites keep a TLS connection open each: lift the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Gateway:
    """Owns the sockets and timers; everything else is in the service objects."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.log = get_logger("vcgw")
        self.store = SqliteStore(config.store.path)
        policy = RegistrarPolicy(
            domain=config.sip.domain,
            local_hosts=frozenset(
                {"localhost", *(str(h.host).lower() for h in config.tls.listen)}
            ),
            min_expires_s=config.registrar.min_expires_s,
            max_expires_s=config.registrar.max_expires_s,
            default_expires_s=config.registrar.default_expires_s,
            max_contacts_per_site=config.registrar.max_contacts_per_site,
        )
        self.service = SipService(
            registrar=Registrar(policy, self.store.load_bindings()),
            store=self.store,
            log=self.log,
            user_agent=config.sip.user_agent,
        )
        self.limits = SipLimits()
        self.relay = MediaRelay(
            bind_host=config.media.bind_host,
            port_min=config.media.port_min,
            port_max=config.media.port_max,
            log=self.log,
            on_keyframe_command=self._on_keyframe_command,
        )
        self.trunks = TrunkTransports(
            sip=self.service,
            trunks=config.trunks,
            limits=self.limits,
            bind_host=config.media.bind_host,
            log=self.log,
            tls=config.tls,
        )
        # One RAS registration per H.323 trunk that names a gatekeeper; RRQ
        # announces our H.323 listener's port (1720 when there is none).
        h323_listen = config.plain.h323
        self.gatekeepers = {
            trunk.name: GatekeeperLink(
                trunk,
                bind_host=config.media.bind_host,
                log=self.log,
                call_signal_port=h323_listen[0].port if h323_listen else 1720,
            )
            for trunk in config.trunks
            if trunk.gatekeeper is not None
        }
        self.calls = CallService(
            sip=self.service,
            relay=self.relay,
            trunks=self.trunks,
            connect_to_site=self.connect_to_site,
            router=Router(
                config.routes, config.trunks, test_number=config.calls.test_number
            ),
            store=self.store,
            log=self.log,
            domain=config.sip.domain,
            max_calls_per_site=config.calls.max_calls_per_site,
            media_timeout_s=config.media.timeout_s,
            session_timers=SessionTimerPolicy(
                session_expires_s=config.calls.session_expires_s,
                min_se_s=config.calls.min_se_s,
            ),
            srtp_policy=SrtpPolicy(allow_32=config.media.allow_srtp_32),
            keyframe_min_interval_s=config.media.keyframe_min_interval_s,
            gatekeepers=self.gatekeepers,
        )
        self._tls_context = self._make_tls_context()
        self._client_context = self._make_client_context()
        self._servers: list[asyncio.AbstractServer] = []
        self._datagram_transports: list[asyncio.BaseTransport] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.revoked: frozenset[str] = self._read_crl()

    def _on_keyframe_command(self, stream: Any, command: Any) -> None:
        # The relay exists before the call service; route its callback late.
        self.calls.keyframes.on_command(stream, command)

    def _make_tls_context(self) -> ssl.SSLContext:
        tls = self.config.tls
        context = make_server_context(
            certificate=tls.certificate,
            private_key=tls.private_key,
            ca_certificate=tls.ca_certificate,
            crl=tls.crl,
            min_version=tls.min_version,
        )
        # The listening context stays the same object for the server's life;
        # each handshake is switched to the newest context (fresh CRL) here.
        context.sni_callback = self._pick_context
        return context

    def _make_client_context(self) -> ssl.SSLContext:
        tls = self.config.tls
        return make_client_context(
            certificate=tls.certificate,
            private_key=tls.private_key,
            ca_certificate=tls.ca_certificate,
            crl=tls.crl,
            min_version=tls.min_version,
        )

    def _pick_context(self, ssl_object: Any, _name: str | None, _ctx: Any) -> None:
        if ssl_object.context is not self._tls_context:
            ssl_object.context = self._tls_context

    def _read_crl(self) -> frozenset[str]:
        tls = self.config.tls
        if tls.crl is None:
            return frozenset()
        crl = read_verified_crl(tls.crl, tls.ca_certificate)
        self._check_crl_freshness(crl.next_update)
        return crl.revoked

    def _check_crl_freshness(self, next_update: datetime | None) -> None:
        """Warn before the CRL expires: after nextUpdate OpenSSL refuses every site."""
        if next_update is None:
            return
        left_s = (next_update - datetime.now(UTC)).total_seconds()
        if left_s <= 0:
            self.log.error(
                "tls.crl.expired",
                crl=str(self.config.tls.crl),
                next_update=next_update.isoformat(),
                action="run: vcgw ca crl",
            )
        elif left_s < _CRL_WARN_S:
            self.log.warning(
                "tls.crl.expiring",
                crl=str(self.config.tls.crl),
                next_update=next_update.isoformat(),
                action="run: vcgw ca crl",
            )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        tls = self.config.tls
        for address in tls.listen:
            server = await loop.create_server(
                lambda: SipStreamProtocol(self.service, self.limits, "TLS"),
                address.host,
                address.port,
                ssl=self._tls_context,
                ssl_handshake_timeout=tls.handshake_timeout_s,
                reuse_address=True,
                backlog=2048,
            )
            self._servers.append(server)
            self.log.info("sip.listen", transport="TLS", address=str(address))
        for address in self.config.plain.tcp:
            server = await loop.create_server(
                lambda: SipStreamProtocol(self.service, self.limits, "TCP"),
                address.host,
                address.port,
                reuse_address=True,
            )
            self._servers.append(server)
            self.log.info("sip.listen", transport="TCP", address=str(address))
        for address in self.config.plain.udp:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: SipDatagramProtocol(self.service, self.limits),
                local_addr=(address.host, address.port),
            )
            self._datagram_transports.append(transport)
            self.trunks.use_udp_listener(protocol)
            self.log.info("sip.listen", transport="UDP", address=str(address))
        for address in self.config.plain.h323:
            server = await asyncio.start_server(
                self.calls.serve_h323_connection,
                address.host,
                address.port,
                reuse_address=True,
            )
            self._servers.append(server)
            self.log.info("h323.listen", transport="TCP", address=str(address))
        self._tasks.append(asyncio.create_task(self._expiry_loop()))
        if tls.crl is not None:
            self._tasks.append(asyncio.create_task(self._crl_loop()))
        self._tasks.append(asyncio.create_task(self._media_loop()))
        if self.config.trunks:
            self._tasks.append(asyncio.create_task(self.trunks.run_health_checks()))
        if self.config.registrar.qualify_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._qualify_loop()))
        for link in self.gatekeepers.values():
            await link.start()

    async def _expiry_loop(self) -> None:
        while True:
            await asyncio.sleep(_EXPIRY_SWEEP_S)
            try:
                self.service.expire_bindings()
            except GatewayError:
                self.log.exception("sip.register.expiry_failed")

    async def _crl_loop(self) -> None:
        tls = self.config.tls
        assert tls.crl is not None
        watcher = CrlWatcher(tls.crl)
        last_freshness_check = time.monotonic()
        while True:
            await asyncio.sleep(tls.crl_check_interval_s)
            if not watcher.poll():
                if time.monotonic() - last_freshness_check > _CRL_FRESHNESS_CHECK_S:
                    last_freshness_check = time.monotonic()
                    with contextlib.suppress(GatewayError):
                        self._read_crl()
                continue
            try:
                self.reload_crl()
            except (GatewayError, ssl.SSLError) as exc:
                self.log.error("tls.crl.reload_failed", error=str(exc))

    async def _media_loop(self) -> None:
        """Media timeouts and sampled SRTP failures, once a second."""
        while True:
            await asyncio.sleep(1.0)
            self.calls.sweep_media(time.monotonic())
            self.relay.log_failure_samples()

    async def _qualify_loop(self) -> None:
        interval = self.config.registrar.qualify_interval_s
        while True:
            await asyncio.sleep(interval)
            sites = self.service.registrar.sites()
            await asyncio.gather(*(self.qualify(site) for site in sites))

    async def qualify(self, site: str) -> None:
        """OPTIONS to one site over its flow, or over a new TLS connection."""
        started = time.monotonic()
        try:
            connection = self.service.flow_for_site(site)
            if connection is None:
                connection = await self.connect_to_site(site)
            binding = self.service.registrar.bindings(site, now=time.time())
            target = (
                binding[0].contact
                if binding
                else f"sip:{site}@{self.config.sip.domain}"
            )
            response = await self.service.send_options(connection, target)
        except (TimeoutError, OSError, ConnectionError, GatewayError) as exc:
            self.log.warning(
                "sip.qualify.failed", site=site, error=str(exc) or type(exc).__name__
            )
            return
        self.log.info(
            "sip.qualify.ok",
            site=site,
            status=response.status,
            flow=connection.flow_id,
            rtt_ms=round((time.monotonic() - started) * 1000, 1),
        )

    async def connect_to_site(self, site: str) -> Connection:
        """Open a TLS connection to a registered contact of ``site``.

        The peer's certificate must chain to our CA (checked by the context)
        and name ``site`` (checked here), since sites are reached by address.
        """
        loop = asyncio.get_running_loop()
        for binding in self.service.registrar.bindings(site, now=time.time()):
            host, port = contact_address(binding.contact)
            try:
                _, protocol = await asyncio.wait_for(
                    loop.create_connection(
                        lambda: SipStreamProtocol(self.service, self.limits, "TLS"),
                        host,
                        port,
                        ssl=self._client_context,
                        server_hostname="",
                        ssl_handshake_timeout=self.config.tls.handshake_timeout_s,
                    ),
                    self.config.tls.handshake_timeout_s,
                )
            except (TimeoutError, OSError) as exc:
                self.log.warning(
                    "sip.flow.connect_failed",
                    site=site,
                    contact=binding.contact,
                    error=str(exc) or type(exc).__name__,
                )
                continue
            connection = protocol.connection
            assert connection is not None
            identity = connection.identity
            if identity is None or identity.site != site:
                connection.close()
                raise PkiError(
                    f"{binding.contact} presented a certificate for "
                    f"{identity.site if identity else 'no site'}, not {site}"
                )
            return connection
        raise ConnectionError(f"no reachable contact for site {site}")

    def reload_crl(self) -> None:
        """Trust the new CRL for new handshakes and drop revoked sites now."""
        revoked = self._read_crl()
        self._tls_context = self._make_tls_context()
        self._client_context = self._make_client_context()
        newly = revoked - self.revoked
        self.revoked = revoked
        closed = self.service.drop_revoked(revoked)
        self.log.info(
            "tls.crl.reloaded",
            revoked=len(revoked),
            newly_revoked=len(newly),
            connections_closed=closed,
        )

    async def serve_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._stopping.set)
        await self.start()
        self.log.info(
            "gateway.ready",
            domain=self.config.sip.domain,
            listen=[str(a) for a in self.config.tls.listen],
            registrations=len(self.service.registrar.all_bindings(now=time.time())),
        )
        await self._stopping.wait()
        await self.stop()

    async def stop(self) -> None:
        # URQ first, while calls can still send their DRQ (H.225.0 7.9.2).
        await asyncio.gather(*(link.stop() for link in self.gatekeepers.values()))
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for server in self._servers:
            server.close()
        for connection in list(self.service.connections.values()):
            connection.close()
        for transport in self._datagram_transports:
            transport.close()
        self.relay.close()
        for server in self._servers:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2.0)
        self.store.close()
        self.log.info("gateway.stopped")


def run_gateway(config: GatewayConfig) -> int:
    """Serve in the foreground until SIGINT/SIGTERM. Returns the exit code."""
    configure_logging(level=config.logging.level, fmt=config.logging.format)
    _raise_fd_limit()
    log = get_logger("vcgw")
    try:
        uvloop.run(_serve(config))
    except PkiError as exc:
        log.error("gateway.start_failed", error=str(exc))
        raise
    except OSError as exc:
        log.error("gateway.start_failed", error=str(exc))
        print(f"error: cannot listen: {exc.strerror or exc}")
        return 1
    return 0


async def _serve(config: GatewayConfig) -> None:
    gateway = Gateway(config)
    await gateway.serve_until_stopped()
