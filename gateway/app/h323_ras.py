"""Gatekeeper registration of an H.323 trunk on asyncio (H.323 section 7.2).

:class:`GatekeeperLink` runs the sans-IO :class:`gateway.h323.ras.RasClient`
over one UDP socket for one trunk that names a ``gatekeeper``: unicast
discovery (GRQ/GCF), registration as a gateway with the trunk's alias and
prefixes (RRQ/RCF), lightweight RRQs before timeToLive runs out, and a new
registration after a rejection or a lost keep-alive with the client's
bounded back-off.  Calls ask admission with :meth:`GatekeeperLink.admit`
(ARQ/ACF, H.225.0 section 7.9.3) and end with :meth:`GatekeeperLink.disengage`
(DRQ, section 7.9.5); :meth:`GatekeeperLink.stop` unregisters (URQ).
Gatekeeper-initiated URQ, DRQ and IRQ are answered by the client; a DRQ
clears the call through the callback given to ``admit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.b2bua.trunks import Trunk
from gateway.errors import H323Error
from gateway.h323.codec import AliasAddress, AliasKind, EndpointInfo, TransportAddress
from gateway.h323.q850 import (
    CAUSE_NETWORK_OUT_OF_ORDER,
    CAUSE_RECOVERY_ON_TIMER_EXPIRY,
    CAUSE_TEMPORARY_FAILURE,
    cause_to_sip_status,
)
from gateway.h323.ras import (
    AdmissionConfirmed,
    AdmissionRejected,
    Disengaged,
    DisengageRequested,
    GatekeeperConfirmed,
    GatekeeperRejected,
    MessageDropped,
    RasClient,
    RasConfig,
    RasEvent,
    RasState,
    Registered,
    RegistrationLost,
    RegistrationRejected,
    RequestTimedOut,
    Unregistered,
)

__all__ = [
    "ARJ_REASON_TO_Q850",
    "AdmissionError",
    "GatekeeperLink",
]

CALL_SIGNAL_PORT = 1720
"""The H.225.0 call-signalling port we announce in RRQ (H.323 section 7.2)."""
DEFAULT_BANDWIDTH = 7680
"""ARQ bandWidth in 100 bit/s: 384 kbit/s each way, a typical room call."""
_DIALLED_DIGITS = re.compile(r"[0-9#*,]{1,128}")

ARJ_REASON_TO_Q850: Mapping[str, int] = {
    # H.225.0 AdmissionRejectReason -> the Q.850 cause we release with.  No
    # standard maps them; these follow H.225.0 Table 5 where a
    # ReleaseCompleteReason of the same meaning exists.
    "calledPartyNotRegistered": 20,
    "invalidPermission": 21,
    "requestDenied": 21,
    "securityDenial": 21,
    "undefinedReason": 31,
    "callerNotRegistered": 38,
    "invalidEndpointIdentifier": 38,
    "resourceUnavailable": 47,
    "exceedsCallCapacity": 34,
    "incompleteAddress": 28,
    "aliasesInconsistent": 28,
    "noRouteToDestination": 3,
    "unallocatedNumber": 1,
    # Not ARJ reasons: what RasClient reports when no ARJ could come.
    "timeout": CAUSE_RECOVERY_ON_TIMER_EXPIRY,
    "notRegistered": CAUSE_NETWORK_OUT_OF_ORDER,
}
"""Q.850 cause for each ARJ reason; other reasons give cause 41."""


class AdmissionError(H323Error):
    """The gatekeeper did not admit a call: ARJ, no reply or not registered.

    ``reason`` is the AdmissionRejectReason name (or "timeout",
    "notRegistered", "noAddress"); ``cause`` the Q.850 cause to release the
    call with, and ``sip_status`` what a SIP caller is told.
    """

    def __init__(self, message: str, *, reason: str | None, cause: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.cause = cause

    @property
    def sip_status(self) -> int:
        """The SIP final status for ``cause`` (RFC 3398 section 7.2.4.1)."""
        return cause_to_sip_status(self.cause)


def admission_error(reason: str | None) -> AdmissionError:
    """The error for a refused admission with ``reason``."""
    cause = ARJ_REASON_TO_Q850.get(reason or "", CAUSE_TEMPORARY_FAILURE)
    return AdmissionError(
        f"gatekeeper refused admission ({reason or 'no reason'})",
        reason=reason,
        cause=cause,
    )


DisengageCallback = Callable[[str | None], None]
"""Called with the gatekeeper's disengageReason when it ends a call (DRQ)."""


@dataclass(slots=True, kw_only=True)
class _Admission:
    """A call we asked admission for, until it is disengaged."""

    conference_id: bytes
    call_reference: int
    is_answer_call: bool
    destination: TransportAddress | None
    future: asyncio.Future[TransportAddress | None]
    on_disengage: DisengageCallback | None


class _RasProtocol(asyncio.DatagramProtocol):
    """Hands datagrams and socket errors to the link."""

    def __init__(self, link: GatekeeperLink) -> None:
        self._link = link

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._link.receive_datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable while the gatekeeper is down: the client's
        # retransmissions and back-off deal with it.
        self._link.log.warning(
            "h323.ras.socket_error", trunk=self._link.trunk.name, error=str(exc)
        )


class GatekeeperLink:
    """One trunk's registration with its gatekeeper, over UDP.

    ``bind_host`` is the gateway's address on the H.323 side; the RAS socket
    takes an ephemeral port there.  ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        trunk: Trunk,
        *,
        bind_host: str,
        log: Any,
        call_signal_port: int = CALL_SIGNAL_PORT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if trunk.gatekeeper is None:
            raise ValueError(f"trunk {trunk.name} names no gatekeeper")
        self.trunk = trunk
        self.log = log
        self._bind_host = bind_host
        self._call_signal_port = call_signal_port
        self._clock = clock
        self._gatekeeper = TransportAddress(
            host=trunk.gatekeeper.host, port=trunk.gatekeeper.port
        )
        self._client: RasClient | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._admissions: dict[bytes, _Admission] = {}
        self._unregistered = asyncio.Event()
        self._is_stopping = False

    # -- public API ------------------------------------------------------------

    @property
    def is_registered(self) -> bool:
        """True while the gatekeeper holds our registration."""
        return self._client is not None and self._client.is_registered

    @property
    def ras_address(self) -> TransportAddress | None:
        """Our RAS address once started."""
        return None if self._client is None else self._client.config.ras_address

    async def start(self) -> None:
        """Bind the RAS socket and send GRQ (H.323 section 7.2.1).

        Registration goes on in the background; raises OSError when the
        socket cannot be bound.
        """
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _RasProtocol(self), local_addr=(self._bind_host, 0)
        )
        self.start_on(transport)

    def start_on(self, transport: asyncio.DatagramTransport) -> None:
        """Start over a bound transport that feeds :meth:`receive_datagram`.

        :meth:`start` binds one; tests pass a fake.
        """
        self._transport = transport
        host, port = transport.get_extra_info("sockname")[:2]
        trunk = self.trunk
        self._client = RasClient(
            RasConfig(
                aliases=(AliasAddress(kind=AliasKind.H323_ID, value=trunk.h323_id),),
                call_signal_address=TransportAddress(
                    host=host, port=self._call_signal_port
                ),
                ras_address=TransportAddress(host=host, port=port),
                endpoint=EndpointInfo(supported_prefixes=trunk.prefixes),
                gatekeeper_address=self._gatekeeper,
                gatekeeper_identifier=trunk.gatekeeper_id or None,
                time_to_live_s=trunk.ras_ttl_s,
                backoff_initial_s=trunk.ras_retry_s,
                backoff_max_s=max(600.0, trunk.ras_retry_s),
            ),
            # A fresh sequence per run, so replies meant for an earlier run
            # of the gateway do not match our requests (H.225.0 7.9.1).
            first_seq_num=secrets.randbelow(0xFFFF) + 1,
        )
        self.log.info(
            "h323.ras.start",
            trunk=trunk.name,
            gatekeeper=f"{self._gatekeeper.host}:{self._gatekeeper.port}",
            ras_address=f"{host}:{port}",
            h323_id=trunk.h323_id,
            prefixes=list(trunk.prefixes),
        )
        self._client.start(self._clock())
        self._pump()

    async def admit(
        self,
        *,
        call_identifier: bytes,
        dialled: str,
        calling: str = "",
        conference_id: bytes | None = None,
        call_reference: int | None = None,
        destination: TransportAddress | None = None,
        bandwidth: int = DEFAULT_BANDWIDTH,
        answer_call: bool = False,
        on_disengage: DisengageCallback | None = None,
    ) -> TransportAddress:
        """Ask admission for a call (ARQ, H.225.0 section 7.9.3).

        Returns the address to send Setup to (the ACF's
        destCallSignalAddress, else ``destination``).  Raises AdmissionError
        on ARJ, when the gatekeeper does not answer, or when we are not
        registered.  An admitted call must end with :meth:`disengage`.
        """
        client = self._client
        if client is None or self._is_stopping:
            raise admission_error("notRegistered")
        if call_identifier in self._admissions:
            raise ValueError("admission already asked for this call identifier")
        future: asyncio.Future[TransportAddress | None] = (
            asyncio.get_running_loop().create_future()
        )
        admission = _Admission(
            conference_id=conference_id or secrets.token_bytes(16),
            # Q.931 section 4.3: a 15-bit call reference, never 0.
            call_reference=call_reference or secrets.randbelow(0x7FFF) + 1,
            is_answer_call=answer_call,
            destination=destination,
            future=future,
            on_disengage=on_disengage,
        )
        self._admissions[call_identifier] = admission
        kind = AliasKind.DIALLED_DIGITS
        if _DIALLED_DIGITS.fullmatch(dialled) is None:
            kind = AliasKind.H323_ID  # A name, not digits: ask by H323-ID.
        self.log.info(
            "h323.ras.admission_requested",
            trunk=self.trunk.name,
            call_id=call_identifier.hex(),
            dialled=dialled,
            calling=calling,
        )
        client.admission(
            self._clock(),
            call_identifier=call_identifier,
            conference_id=admission.conference_id,
            call_reference=admission.call_reference,
            bandwidth=bandwidth,
            destination_aliases=(AliasAddress(kind=kind, value=dialled),),
            dest_call_signal_address=destination,
            is_answer_call=answer_call,
        )
        self._pump()
        try:
            address = await future
        except AdmissionError:
            self._admissions.pop(call_identifier, None)
            raise
        if address is None:
            self.disengage(call_identifier)
            raise AdmissionError(
                "the gatekeeper's ACF gives no IP address to call",
                reason="noAddress",
                cause=CAUSE_TEMPORARY_FAILURE,
            )
        return address

    def disengage(self, call_identifier: bytes, reason: str = "normalDrop") -> None:
        """Tell the gatekeeper an admitted call ended (DRQ, H.225.0 7.9.5).

        Does nothing for a call that is not admitted (any more).
        """
        admission = self._admissions.pop(call_identifier, None)
        if admission is None or self._client is None:
            return
        if not admission.future.done():
            # The call ended while its ARQ was out: admit() gives up.
            admission.future.set_exception(
                AdmissionError(
                    "the call ended before admission", reason="ended", cause=16
                )
            )
        self._client.disengage(
            self._clock(),
            call_identifier=call_identifier,
            conference_id=admission.conference_id,
            call_reference=admission.call_reference,
            is_answer_call=admission.is_answer_call,
            reason=reason,
        )
        self._pump()

    async def stop(self, *, timeout_s: float = 2.0) -> None:
        """Disengage open calls, unregister (URQ) and close the socket.

        Waits at most ``timeout_s`` for the UCF; never raises.
        """
        client = self._client
        if client is None or self._is_stopping:
            return
        self._is_stopping = True
        for call_identifier in list(self._admissions):
            self.disengage(call_identifier)
        if client.state not in (RasState.UNREGISTERING, RasState.UNREGISTERED):
            client.unregister(self._clock())
            self._pump()
        if client.state is RasState.UNREGISTERING:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._unregistered.wait(), timeout_s)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None:
            self._transport.close()
        self.log.info(
            "h323.ras.stopped", trunk=self.trunk.name, state=client.state.value
        )

    # -- socket and timer ------------------------------------------------------

    def receive_datagram(self, data: bytes, source: tuple[str, int]) -> None:
        """One datagram on the RAS socket; only the gatekeeper's are read."""
        client = self._client
        if client is None:
            return
        if not self._is_from_gatekeeper(source[0]):
            self.log.warning(
                "h323.ras.foreign_datagram",
                trunk=self.trunk.name,
                source=f"{source[0]}:{source[1]}",
            )
            return
        client.receive_datagram(data, self._clock())
        self._pump()

    def _is_from_gatekeeper(self, host: str) -> bool:
        assert self._client is not None
        try:
            source = ipaddress.ip_address(host)
        except ValueError:
            return False
        known = {self._gatekeeper.host, self._client.gatekeeper_address.host}
        return any(source == ipaddress.ip_address(h) for h in known)

    def _on_timer(self) -> None:
        self._timer = None
        client = self._client
        if client is None:
            return
        was_waiting = client.state is RasState.WAITING
        client.handle_timeout(self._clock())
        if was_waiting and client.state is not RasState.WAITING:
            self.log.info(
                "h323.ras.retry", trunk=self.trunk.name, state=client.state.value
            )
        self._pump()

    def _pump(self) -> None:
        """Send what the client produced, act on its events, re-arm the timer."""
        client = self._client
        assert client is not None
        while True:
            outgoing = client.pop_outgoing()
            events = client.pop_events()
            if not (outgoing or events):
                break
            address = client.gatekeeper_address
            for data in outgoing:
                if self._transport is not None and not self._transport.is_closing():
                    self._transport.sendto(data, (address.host, address.port))
            for event in events:
                _HANDLERS[type(event)](self, event)
        self._arm_timer(client.next_deadline())

    def _arm_timer(self, deadline: float | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if deadline is None or self._is_closed:
            return
        delay_s = max(0.0, deadline - self._clock())
        self._timer = asyncio.get_running_loop().call_later(delay_s, self._on_timer)

    @property
    def _is_closed(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    # -- client events ----------------------------------------------------------

    def _on_gatekeeper_confirmed(self, event: GatekeeperConfirmed) -> None:
        address = event.ras_address
        self.log.info(
            "h323.ras.gatekeeper_confirmed",
            trunk=self.trunk.name,
            gatekeeper_id=event.gatekeeper_identifier,
            gatekeeper=f"{address.host}:{address.port}",
        )

    def _on_gatekeeper_rejected(self, event: GatekeeperRejected) -> None:
        self.log.warning(
            "h323.ras.gatekeeper_rejected",
            trunk=self.trunk.name,
            reason=event.reason,
            retry_in_s=event.retry_in_s,
        )

    def _on_registered(self, event: Registered) -> None:
        name = "h323.ras.refreshed" if event.is_keep_alive else "h323.ras.registered"
        self.log.info(
            name,
            trunk=self.trunk.name,
            endpoint_id=event.endpoint_identifier,
            gatekeeper_id=event.gatekeeper_identifier,
            ttl_s=event.time_to_live_s,
        )

    def _on_registration_rejected(self, event: RegistrationRejected) -> None:
        self.log.warning(
            "h323.ras.registration_rejected",
            trunk=self.trunk.name,
            reason=event.reason,
            retry_in_s=event.retry_in_s,
        )

    def _on_registration_lost(self, event: RegistrationLost) -> None:
        self.log.warning(
            "h323.ras.registration_lost",
            trunk=self.trunk.name,
            reason=event.reason,
            retry_in_s=event.retry_in_s,
        )

    def _on_request_timed_out(self, event: RequestTimedOut) -> None:
        self.log.warning(
            "h323.ras.request_timeout",
            trunk=self.trunk.name,
            kind=event.kind.value,
            seq=event.request_seq_num,
        )

    def _on_admission_confirmed(self, event: AdmissionConfirmed) -> None:
        admission = self._admissions.get(event.call_identifier)
        if admission is None or admission.future.done():
            return
        address = event.dest_call_signal_address or admission.destination
        self.log.info(
            "h323.ras.admitted",
            trunk=self.trunk.name,
            call_id=event.call_identifier.hex(),
            address=None if address is None else f"{address.host}:{address.port}",
            bandwidth=event.bandwidth,
        )
        admission.future.set_result(address)

    def _on_admission_rejected(self, event: AdmissionRejected) -> None:
        error = admission_error(event.reason)
        self.log.warning(
            "h323.ras.admission_rejected",
            trunk=self.trunk.name,
            call_id=event.call_identifier.hex(),
            reason=event.reason,
            cause=error.cause,
        )
        admission = self._admissions.pop(event.call_identifier, None)
        if admission is not None and not admission.future.done():
            admission.future.set_exception(error)

    def _on_disengaged(self, event: Disengaged) -> None:
        self.log.info(
            "h323.ras.disengaged",
            trunk=self.trunk.name,
            call_id=event.call_identifier.hex(),
            confirmed=event.is_confirmed,
        )

    def _on_disengage_requested(self, event: DisengageRequested) -> None:
        call_id = event.call_identifier
        self.log.warning(
            "h323.ras.disengage_requested",
            trunk=self.trunk.name,
            call_id=None if call_id is None else call_id.hex(),
            reason=event.reason,
        )
        admission = None if call_id is None else self._admissions.pop(call_id, None)
        if admission is not None and admission.on_disengage is not None:
            # The DCF is sent; the call is over for the gatekeeper, so no
            # DRQ of ours follows (H.225.0 section 7.9.5).
            admission.on_disengage(event.reason)

    def _on_unregistered(self, event: Unregistered) -> None:
        fields = {
            "trunk": self.trunk.name,
            "reason": event.reason,
            "confirmed": event.is_confirmed,
        }
        if event.is_gatekeeper_initiated:
            self.log.warning("h323.ras.unregistered_by_gatekeeper", **fields)
            return
        self.log.info("h323.ras.unregistered", **fields)
        self._unregistered.set()

    def _on_message_dropped(self, event: MessageDropped) -> None:
        self.log.info("h323.ras.dropped", trunk=self.trunk.name, reason=event.reason)


_HANDLERS: Mapping[type[RasEvent], Callable[[GatekeeperLink, Any], None]] = {
    GatekeeperConfirmed: GatekeeperLink._on_gatekeeper_confirmed,
    GatekeeperRejected: GatekeeperLink._on_gatekeeper_rejected,
    Registered: GatekeeperLink._on_registered,
    RegistrationRejected: GatekeeperLink._on_registration_rejected,
    RegistrationLost: GatekeeperLink._on_registration_lost,
    RequestTimedOut: GatekeeperLink._on_request_timed_out,
    AdmissionConfirmed: GatekeeperLink._on_admission_confirmed,
    AdmissionRejected: GatekeeperLink._on_admission_rejected,
    Disengaged: GatekeeperLink._on_disengaged,
    DisengageRequested: GatekeeperLink._on_disengage_requested,
    Unregistered: GatekeeperLink._on_unregistered,
    MessageDropped: GatekeeperLink._on_message_dropped,
}
