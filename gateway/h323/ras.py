"""RAS client of a gateway endpoint (H.225.0 section 7.9, H.323 section 7.2).

:class:`RasClient` discovers a gatekeeper (GRQ), registers (RRQ) and keeps
the registration alive with lightweight RRQs before timeToLive runs out,
asks admission (ARQ) before each call and disengages (DRQ) after it, and
unregisters (URQ) on shutdown.  It answers gatekeeper-initiated URQ, DRQ and
IRQ.  RAS rides UDP, so each request is retransmitted with the same
requestSeqNum (H.225.0 section 7.9.1: every ``retry_interval_s``, up to
``max_retries`` times) and replies are matched by requestSeqNum.

Sans-IO: ``receive_datagram(data, now)``, commands, ``pop_events()``,
``pop_outgoing()`` (raw RAS PDUs for :attr:`RasClient.gatekeeper_address`),
``next_deadline()`` and ``handle_timeout(now)``.  The registration life cycle
is one transition table, ``_TABLE``.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from gateway.h323 import codec
from gateway.h323.codec import (
    AliasAddress,
    EndpointInfo,
    RasKind,
    RasMessage,
    TransportAddress,
)
from gateway.h323.errors import LocalH323Error, RemoteH323Error

__all__ = [
    "DISCOVERY_ADDRESS",
    "AdmissionConfirmed",
    "AdmissionRejected",
    "DisengageRequested",
    "Disengaged",
    "GatekeeperConfirmed",
    "GatekeeperRejected",
    "MessageDropped",
    "RasClient",
    "RasConfig",
    "RasEvent",
    "RasInput",
    "RasState",
    "Registered",
    "RegistrationLost",
    "RegistrationRejected",
    "RequestTimedOut",
    "Unregistered",
]

DISCOVERY_ADDRESS = TransportAddress(host="224.0.1.41", port=1718)
"""Gatekeeper discovery multicast address (H.225.0 section 7.9.1)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RasConfig:
    """Identity and timers of a RAS client.

    ``aliases`` must hold at least one alias (ARQ's srcInfo needs one);
    ``endpoint`` carries the gateway's supportedPrefixes.  With
    ``gatekeeper_address`` None the client discovers by multicast GRQ; with
    ``skip_discovery`` it registers straight at the given address.
    """

    aliases: tuple[AliasAddress, ...]
    call_signal_address: TransportAddress
    ras_address: TransportAddress
    endpoint: EndpointInfo = field(default_factory=EndpointInfo)
    gatekeeper_address: TransportAddress | None = None
    gatekeeper_identifier: str | None = None
    skip_discovery: bool = False
    time_to_live_s: int = 300
    retry_interval_s: float = 3.0
    max_retries: int = 3
    keep_alive_margin_s: float = 15.0
    backoff_initial_s: float = 30.0
    backoff_max_s: float = 600.0

    def __post_init__(self) -> None:
        if not self.aliases:
            raise LocalH323Error("a RAS endpoint needs at least one alias")
        if self.skip_discovery and self.gatekeeper_address is None:
            raise LocalH323Error("skip_discovery needs a gatekeeper_address")
        if self.retry_interval_s <= 0 or self.max_retries < 0:
            raise LocalH323Error("bad RAS retransmission settings")
        if self.time_to_live_s <= 0 or self.backoff_initial_s <= 0:
            raise LocalH323Error("time_to_live_s and backoff must be positive")


# -- events ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RasEvent:
    """Base of every event a :class:`RasClient` reports."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GatekeeperConfirmed(RasEvent):
    """GCF: a gatekeeper accepts us (H.225.0 section 7.9.1)."""

    gatekeeper_identifier: str | None
    ras_address: TransportAddress


@dataclass(frozen=True, slots=True, kw_only=True)
class GatekeeperRejected(RasEvent):
    """GRJ; discovery is retried after ``retry_in_s``."""

    reason: str | None
    retry_in_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Registered(RasEvent):
    """RCF to a full or lightweight RRQ (H.225.0 section 7.9.2)."""

    endpoint_identifier: str
    gatekeeper_identifier: str | None
    time_to_live_s: int | None
    is_keep_alive: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationRejected(RasEvent):
    """RRJ; a full registration follows after ``retry_in_s``."""

    reason: str | None
    retry_in_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationLost(RasEvent):
    """A keep-alive failed; we are not registered until the retry succeeds."""

    reason: str
    retry_in_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestTimedOut(RasEvent):
    """No reply after every retransmission of a request."""

    kind: RasKind
    request_seq_num: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AdmissionConfirmed(RasEvent):
    """ACF: the call may proceed (H.225.0 section 7.9.3)."""

    call_identifier: bytes
    dest_call_signal_address: TransportAddress | None
    bandwidth: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AdmissionRejected(RasEvent):
    """ARJ, no reply, or not registered (``reason`` "timeout"/"notRegistered")."""

    call_identifier: bytes
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Disengaged(RasEvent):
    """Our DRQ ended: ``is_confirmed`` False after DRJ, timeout or no GK."""

    call_identifier: bytes
    is_confirmed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DisengageRequested(RasEvent):
    """The gatekeeper sent DRQ (answered DCF): clear this call."""

    call_identifier: bytes | None
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unregistered(RasEvent):
    """Registration ended: our URQ (UCF, URJ or timeout) or the gatekeeper's."""

    reason: str | None
    is_gatekeeper_initiated: bool
    is_confirmed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDropped(RasEvent):
    """A datagram was ignored (undecodable, unmatched, unexpected)."""

    reason: str


# -- machine ---------------------------------------------------------------------


class RasState(Enum):
    """Registration states of the endpoint (H.323 section 7.2)."""

    IDLE = "idle"
    DISCOVERING = "discovering"
    REGISTERING = "registering"
    REGISTERED = "registered"
    KEEPING_ALIVE = "keeping alive"
    WAITING = "waiting to retry"
    UNREGISTERING = "unregistering"
    UNREGISTERED = "unregistered"


class RasInput(Enum):
    """Inputs of the registration table."""

    DISCOVER = "send GRQ"
    REGISTER = "send full RRQ"
    GCF = "GCF"
    GRJ = "GRJ"
    GRQ_TIMEOUT = "GRQ unanswered"
    RCF = "RCF"
    RRJ = "RRJ"
    RRQ_TIMEOUT = "RRQ unanswered"
    KEEP_ALIVE_DUE = "keep-alive due"
    UNREGISTER = "unregister"
    UCF = "UCF"
    URJ = "URJ"
    URQ_TIMEOUT = "URQ unanswered"
    GATEKEEPER_URQ = "URQ from gatekeeper"


@dataclass(slots=True, kw_only=True)
class _Pending:
    """A request awaiting its reply."""

    kind: RasKind
    pdu: bytes
    deadline: float
    retries_left: int
    call_identifier: bytes | None = None


_REPLIES: Mapping[RasKind, RasKind] = {
    RasKind.GCF: RasKind.GRQ,
    RasKind.GRJ: RasKind.GRQ,
    RasKind.RCF: RasKind.RRQ,
    RasKind.RRJ: RasKind.RRQ,
    RasKind.UCF: RasKind.URQ,
    RasKind.URJ: RasKind.URQ,
    RasKind.ACF: RasKind.ARQ,
    RasKind.ARJ: RasKind.ARQ,
    RasKind.DCF: RasKind.DRQ,
    RasKind.DRJ: RasKind.DRQ,
    RasKind.RIP: RasKind.RIP,
}
_TABLE_REPLIES: Mapping[RasKind, RasInput] = {
    RasKind.GCF: RasInput.GCF,
    RasKind.GRJ: RasInput.GRJ,
    RasKind.RCF: RasInput.RCF,
    RasKind.RRJ: RasInput.RRJ,
    RasKind.UCF: RasInput.UCF,
    RasKind.URJ: RasInput.URJ,
}
_TIMEOUT_INPUTS: Mapping[RasKind, RasInput] = {
    RasKind.GRQ: RasInput.GRQ_TIMEOUT,
    RasKind.RRQ: RasInput.RRQ_TIMEOUT,
    RasKind.URQ: RasInput.URQ_TIMEOUT,
}
_REGISTERED = (RasState.REGISTERED, RasState.KEEPING_ALIVE)


class RasClient:
    """A gateway's RAS client (H.225.0 section 7.9).

    Start with :meth:`start`; send every :meth:`pop_outgoing` datagram to
    :attr:`gatekeeper_address`.  ``first_seq_num`` seeds requestSeqNum.
    """

    def __init__(self, config: RasConfig, *, first_seq_num: int = 1) -> None:
        self.config = config
        self._state = RasState.IDLE
        self._seq = (first_seq_num - 1) % 0xFFFF
        self._pending: dict[int, _Pending] = {}
        self._events: list[RasEvent] = []
        self._outgoing: list[bytes] = []
        self._retry_at: float | None = None
        self._keep_alive_at: float | None = None
        self._backoff_s = config.backoff_initial_s
        self._is_discovered = False
        self.gatekeeper_address = config.gatekeeper_address or DISCOVERY_ADDRESS
        self.gatekeeper_identifier = config.gatekeeper_identifier
        self.endpoint_identifier: str | None = None
        self.time_to_live_s: int | None = None

    # -- public API ------------------------------------------------------------

    @property
    def state(self) -> RasState:
        """The registration state."""
        return self._state

    @property
    def is_registered(self) -> bool:
        """True while the gatekeeper holds our registration."""
        return self._state in _REGISTERED

    def pop_events(self) -> list[RasEvent]:
        """Events since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def pop_outgoing(self) -> list[bytes]:
        """RAS datagrams to send to :attr:`gatekeeper_address`, in order."""
        out, self._outgoing = self._outgoing, []
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` must next run, or None."""
        times = [p.deadline for p in self._pending.values()]
        times += [t for t in (self._retry_at, self._keep_alive_at) if t is not None]
        return min(times, default=None)

    def start(self, now: float) -> None:
        """Discover the gatekeeper or register (H.323 sections 7.2.1, 7.2.2).

        Raises LocalH323Error unless idle or unregistered.
        """
        if self._state not in (RasState.IDLE, RasState.UNREGISTERED):
            raise LocalH323Error(f"cannot start in {self._state.name}")
        self._dispatch(self._begin_input(), None, now)

    def unregister(self, now: float) -> None:
        """Send URQ (H.225.0 section 7.9.2); Unregistered follows."""
        self._dispatch(RasInput.UNREGISTER, None, now)

    def admission(
        self,
        now: float,
        *,
        call_identifier: bytes,
        conference_id: bytes,
        call_reference: int,
        bandwidth: int,
        destination_aliases: tuple[AliasAddress, ...] = (),
        dest_call_signal_address: TransportAddress | None = None,
        is_answer_call: bool = False,
    ) -> None:
        """Send ARQ for a call (H.225.0 section 7.9.3); ``bandwidth`` in 100 bit/s.

        Reports AdmissionConfirmed or AdmissionRejected (also when we are not
        registered or the gatekeeper never answers).
        """
        if not self.is_registered:
            self._events.append(
                AdmissionRejected(
                    call_identifier=call_identifier, reason="notRegistered"
                )
            )
            return
        message = RasMessage(
            kind=RasKind.ARQ,
            request_seq_num=0,
            endpoint_identifier=self.endpoint_identifier,
            gatekeeper_identifier=self.gatekeeper_identifier,
            call_identifier=call_identifier,
            conference_id=conference_id,
            call_reference=call_reference,
            bandwidth=bandwidth,
            source_aliases=self.config.aliases,
            destination_aliases=destination_aliases,
            dest_call_signal_address=dest_call_signal_address,
            is_answer_call=is_answer_call,
        )
        self._request(message, now, call_identifier=call_identifier)

    def disengage(
        self,
        now: float,
        *,
        call_identifier: bytes,
        conference_id: bytes,
        call_reference: int,
        is_answer_call: bool = False,
        reason: str = "normalDrop",
    ) -> None:
        """Send DRQ after a call (H.225.0 section 7.9.5); Disengaged follows."""
        if not self.is_registered:
            self._events.append(
                Disengaged(call_identifier=call_identifier, is_confirmed=False)
            )
            return
        message = RasMessage(
            kind=RasKind.DRQ,
            request_seq_num=0,
            endpoint_identifier=self.endpoint_identifier,
            gatekeeper_identifier=self.gatekeeper_identifier,
            call_identifier=call_identifier,
            conference_id=conference_id,
            call_reference=call_reference,
            is_answer_call=is_answer_call,
            reason=reason,
        )
        self._request(message, now, call_identifier=call_identifier)

    def receive_datagram(self, data: bytes, now: float) -> None:
        """Handle one RAS datagram from the gatekeeper, never raising."""
        try:
            message = codec.decode_ras(data)
        except RemoteH323Error as exc:
            self._events.append(MessageDropped(reason=str(exc)))
            return
        handler = _GATEKEEPER_REQUESTS.get(message.kind)
        if handler is not None:
            handler(self, message, now)
        elif message.kind in _REPLIES:
            self._on_reply(message, now)
        else:
            self._events.append(
                MessageDropped(reason=f"unhandled {message.kind.value}")
            )

    def handle_timeout(self, now: float) -> None:
        """Retransmit, time out requests, send keep-alives and retry."""
        for seq, pending in sorted(self._pending.items()):
            if pending.deadline > now or self._pending.get(seq) is not pending:
                continue
            if pending.retries_left > 0:
                pending.retries_left -= 1
                pending.deadline = now + self.config.retry_interval_s
                self._outgoing.append(pending.pdu)
                continue
            del self._pending[seq]
            self._timed_out(seq, pending, now)
        if self._keep_alive_at is not None and self._keep_alive_at <= now:
            self._keep_alive_at = None
            self._dispatch(RasInput.KEEP_ALIVE_DUE, None, now)
        if self._retry_at is not None and self._retry_at <= now:
            self._retry_at = None
            self._dispatch(self._begin_input(), None, now)

    # -- internals ---------------------------------------------------------------

    def _dispatch(self, inp: RasInput, message: RasMessage | None, now: float) -> None:
        row = _TABLE.get((self._state, inp))
        if row is None:
            if message is None and inp is not RasInput.KEEP_ALIVE_DUE:
                raise LocalH323Error(f"cannot {inp.value} in {self._state.name}")
            self._events.append(
                MessageDropped(reason=f"{inp.value} in {self._state.name}")
            )
            return
        action, next_state = row
        self._state = next_state
        action(self, message, now)

    def _begin_input(self) -> RasInput:
        if self._is_discovered or self.config.skip_discovery:
            return RasInput.REGISTER
        return RasInput.DISCOVER

    def _next_seq(self) -> int:
        self._seq = self._seq % 0xFFFF + 1  # requestSeqNum is 1..65535
        return self._seq

    def _request(
        self, message: RasMessage, now: float, call_identifier: bytes | None = None
    ) -> None:
        seq = self._next_seq()
        pdu = codec.encode_ras(replace(message, request_seq_num=seq))
        self._pending[seq] = _Pending(
            kind=message.kind,
            pdu=pdu,
            deadline=now + self.config.retry_interval_s,
            retries_left=self.config.max_retries,
            call_identifier=call_identifier,
        )
        self._outgoing.append(pdu)

    def _cancel(self, *kinds: RasKind) -> None:
        for seq in [s for s, p in self._pending.items() if p.kind in kinds]:
            del self._pending[seq]

    def _on_reply(self, message: RasMessage, now: float) -> None:
        pending = self._pending.get(message.request_seq_num)
        expected = _REPLIES[message.kind]
        if pending is None or expected not in (pending.kind, RasKind.RIP):
            self._events.append(
                MessageDropped(
                    reason=f"unmatched {message.kind.value} #{message.request_seq_num}"
                )
            )
            return
        if message.kind is RasKind.RIP:
            # H.225.0 section 7.9.1: RIP restarts the wait with its delay.
            delay_ms = (message.raw[1] or {}).get("delay", 0) if message.raw else 0
            pending.deadline = now + max(delay_ms / 1000, self.config.retry_interval_s)
            return
        del self._pending[message.request_seq_num]
        inp = _TABLE_REPLIES.get(message.kind)
        if inp is not None:
            self._dispatch(inp, message, now)
        elif message.kind in (RasKind.ACF, RasKind.ARJ):
            self._on_admission(message, pending)
        else:
            assert pending.call_identifier is not None
            self._events.append(
                Disengaged(
                    call_identifier=pending.call_identifier,
                    is_confirmed=message.kind is RasKind.DCF,
                )
            )

    def _on_admission(self, message: RasMessage, pending: _Pending) -> None:
        assert pending.call_identifier is not None
        if message.kind is RasKind.ACF:
            self._events.append(
                AdmissionConfirmed(
                    call_identifier=pending.call_identifier,
                    dest_call_signal_address=message.dest_call_signal_address,
                    bandwidth=message.bandwidth,
                )
            )
        else:
            self._events.append(
                AdmissionRejected(
                    call_identifier=pending.call_identifier, reason=message.reason
                )
            )

    def _timed_out(self, seq: int, pending: _Pending, now: float) -> None:
        self._events.append(RequestTimedOut(kind=pending.kind, request_seq_num=seq))
        inp = _TIMEOUT_INPUTS.get(pending.kind)
        if inp is not None:
            self._dispatch(inp, None, now)
        elif pending.kind is RasKind.ARQ:
            assert pending.call_identifier is not None
            self._events.append(
                AdmissionRejected(
                    call_identifier=pending.call_identifier, reason="timeout"
                )
            )
        else:
            assert pending.call_identifier is not None
            self._events.append(
                Disengaged(call_identifier=pending.call_identifier, is_confirmed=False)
            )

    def _back_off(self, now: float) -> float:
        delay = self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self.config.backoff_max_s)
        self._retry_at = now + delay
        return delay

    # -- table actions ---------------------------------------------------------------

    def _send_grq(self, message: RasMessage | None, now: float) -> None:
        self.gatekeeper_address = self.config.gatekeeper_address or DISCOVERY_ADDRESS
        grq = RasMessage(
            kind=RasKind.GRQ,
            request_seq_num=0,
            ras_addresses=(self.config.ras_address,),
            endpoint=self.config.endpoint,
            aliases=self.config.aliases,
            gatekeeper_identifier=self.config.gatekeeper_identifier,
        )
        self._request(grq, now)

    def _send_rrq(self, message: RasMessage | None, now: float) -> None:
        rrq = RasMessage(
            kind=RasKind.RRQ,
            request_seq_num=0,
            ras_addresses=(self.config.ras_address,),
            call_signal_addresses=(self.config.call_signal_address,),
            endpoint=self.config.endpoint,
            aliases=self.config.aliases,
            gatekeeper_identifier=self.gatekeeper_identifier,
            time_to_live_s=self.config.time_to_live_s,
        )
        self._request(rrq, now)

    def _on_gcf(self, message: RasMessage | None, now: float) -> None:
        assert message is not None
        self._is_discovered = True
        if message.ras_addresses:
            self.gatekeeper_address = message.ras_addresses[0]
        self.gatekeeper_identifier = message.gatekeeper_identifier
        self._events.append(
            GatekeeperConfirmed(
                gatekeeper_identifier=message.gatekeeper_identifier,
                ras_address=self.gatekeeper_address,
            )
        )
        self._send_rrq(None, now)

    def _on_grj(self, message: RasMessage | None, now: float) -> None:
        reason = None if message is None else message.reason
        delay = self._back_off(now)
        self._events.append(GatekeeperRejected(reason=reason, retry_in_s=delay))

    def _on_rcf(self, message: RasMessage | None, now: float) -> None:
        assert message is not None
        is_keep_alive = self.endpoint_identifier is not None and (
            message.endpoint_identifier in (None, self.endpoint_identifier)
        )
        if message.endpoint_identifier is not None:
            self.endpoint_identifier = message.endpoint_identifier
        if message.gatekeeper_identifier is not None:
            self.gatekeeper_identifier = message.gatekeeper_identifier
        ttl = message.time_to_live_s
        self.time_to_live_s = ttl
        self._backoff_s = self.config.backoff_initial_s
        if ttl is not None:
            # H.225.0 section 7.9.2: refresh before timeToLive runs out.
            lead_s = max(ttl - self.config.keep_alive_margin_s, ttl / 2)
            self._keep_alive_at = now + lead_s
        assert self.endpoint_identifier is not None
        self._events.append(
            Registered(
                endpoint_identifier=self.endpoint_identifier,
                gatekeeper_identifier=self.gatekeeper_identifier,
                time_to_live_s=ttl,
                is_keep_alive=is_keep_alive,
            )
        )

    def _on_rrj(self, message: RasMessage | None, now: float) -> None:
        reason = None if message is None else message.reason
        if reason == "discoveryRequired":
            self._is_discovered = False
        self.endpoint_identifier = None
        delay = self._back_off(now)
        self._events.append(RegistrationRejected(reason=reason, retry_in_s=delay))

    def _on_keep_alive_lost(self, message: RasMessage | None, now: float) -> None:
        reason = "timeout" if message is None else message.reason or "rejected"
        self.endpoint_identifier = None
        self._is_discovered = False
        self._keep_alive_at = None
        delay = self._back_off(now)
        self._events.append(RegistrationLost(reason=reason, retry_in_s=delay))

    def _send_keep_alive(self, message: RasMessage | None, now: float) -> None:
        rrq = RasMessage(
            kind=RasKind.RRQ,
            request_seq_num=0,
            ras_addresses=(self.config.ras_address,),
            call_signal_addresses=(self.config.call_signal_address,),
            endpoint=self.config.endpoint,
            is_keep_alive=True,
            endpoint_identifier=self.endpoint_identifier,
            gatekeeper_identifier=self.gatekeeper_identifier or "",
            time_to_live_s=self.time_to_live_s or self.config.time_to_live_s,
        )
        self._request(rrq, now)

    def _send_urq(self, message: RasMessage | None, now: float) -> None:
        self._keep_alive_at = None
        self._cancel(RasKind.RRQ)
        urq = RasMessage(
            kind=RasKind.URQ,
            request_seq_num=0,
            call_signal_addresses=(self.config.call_signal_address,),
            aliases=self.config.aliases,
            endpoint_identifier=self.endpoint_identifier,
            gatekeeper_identifier=self.gatekeeper_identifier,
        )
        self._request(urq, now)

    def _stop(self, message: RasMessage | None, now: float) -> None:
        self._cancel(RasKind.GRQ, RasKind.RRQ)
        self._retry_at = self._keep_alive_at = None
        self._events.append(
            Unregistered(reason=None, is_gatekeeper_initiated=False, is_confirmed=True)
        )

    def _on_unregistered(self, message: RasMessage | None, now: float) -> None:
        self.endpoint_identifier = None
        self._is_discovered = False
        self._events.append(
            Unregistered(
                reason=None if message is None else message.reason,
                is_gatekeeper_initiated=False,
                is_confirmed=message is not None and message.kind is RasKind.UCF,
            )
        )

    def _on_gatekeeper_urq(self, message: RasMessage | None, now: float) -> None:
        assert message is not None
        # H.323 section 7.2.2: the endpoint registers again after a while.
        self._cancel(RasKind.RRQ)
        self._keep_alive_at = None
        self.endpoint_identifier = None
        self._is_discovered = False
        self._back_off(now)
        self._events.append(
            Unregistered(
                reason=message.reason, is_gatekeeper_initiated=True, is_confirmed=True
            )
        )

    # -- gatekeeper-initiated requests ---------------------------------------------

    def _confirm(self, kind: RasKind, message: RasMessage) -> None:
        reply = RasMessage(kind=kind, request_seq_num=message.request_seq_num)
        self._outgoing.append(codec.encode_ras(reply))

    def _answer_urq(self, message: RasMessage, now: float) -> None:
        # H.225.0 section 7.9.2: UCF to the gatekeeper's URQ, in any state.
        self._confirm(RasKind.UCF, message)
        if self.is_registered:
            self._dispatch(RasInput.GATEKEEPER_URQ, message, now)

    def _answer_drq(self, message: RasMessage, now: float) -> None:
        # H.225.0 section 7.9.5: DCF, then the call must be cleared.
        self._confirm(RasKind.DCF, message)
        self._events.append(
            DisengageRequested(
                call_identifier=message.call_identifier, reason=message.reason
            )
        )

    def _answer_irq(self, message: RasMessage, now: float) -> None:
        # H.225.0 section 7.9.6: IRR with our addresses (no per-call info).
        self._outgoing.append(
            codec.encode_ras_value(("infoRequestResponse", self._irr(message)))
        )

    def _irr(self, message: RasMessage) -> dict[str, Any]:
        body: dict[str, Any] = {
            "requestSeqNum": message.request_seq_num,
            "endpointType": self.config.endpoint.to_asn(),
            "endpointIdentifier": self.endpoint_identifier or "",
            "rasAddress": self.config.ras_address.to_asn(),
            "callSignalAddress": [self.config.call_signal_address.to_asn()],
            "endpointAlias": [alias.to_asn() for alias in self.config.aliases],
            "needResponse": False,
            "unsolicited": False,
        }
        return body


_GATEKEEPER_REQUESTS: Mapping[
    RasKind, Callable[[RasClient, RasMessage, float], None]
] = {
    RasKind.URQ: RasClient._answer_urq,
    RasKind.DRQ: RasClient._answer_drq,
    RasKind.IRQ: RasClient._answer_irq,
}

_S = RasState
_I = RasInput
_R = RasClient
_Action = Callable[[RasClient, RasMessage | None, float], None]

_TABLE: Mapping[tuple[RasState, RasInput], tuple[_Action, RasState]] = {
    # H.323 section 7.2.1: gatekeeper discovery by GRQ (unicast or multicast).
    **{
        (s, _I.DISCOVER): (_R._send_grq, _S.DISCOVERING)
        for s in (_S.IDLE, _S.WAITING, _S.UNREGISTERED)
    },
    # H.323 section 7.2.2: registration by RRQ.
    **{
        (s, _I.REGISTER): (_R._send_rrq, _S.REGISTERING)
        for s in (_S.IDLE, _S.WAITING, _S.UNREGISTERED)
    },
    # H.225.0 section 7.9.1: GCF names the gatekeeper; register with it.
    (_S.DISCOVERING, _I.GCF): (_R._on_gcf, _S.REGISTERING),
    # H.225.0 section 7.9.1: GRJ or silence: retry discovery after a backoff.
    (_S.DISCOVERING, _I.GRJ): (_R._on_grj, _S.WAITING),
    (_S.DISCOVERING, _I.GRQ_TIMEOUT): (_R._on_grj, _S.WAITING),
    # H.225.0 section 7.9.2: RCF gives endpointIdentifier and timeToLive.
    (_S.REGISTERING, _I.RCF): (_R._on_rcf, _S.REGISTERED),
    # H.225.0 section 7.9.2: RRJ or silence: full registration after a delay.
    (_S.REGISTERING, _I.RRJ): (_R._on_rrj, _S.WAITING),
    (_S.REGISTERING, _I.RRQ_TIMEOUT): (_R._on_rrj, _S.WAITING),
    # H.225.0 section 7.9.2: lightweight RRQ (keepAlive) before timeToLive ends.
    (_S.REGISTERED, _I.KEEP_ALIVE_DUE): (_R._send_keep_alive, _S.KEEPING_ALIVE),
    (_S.KEEPING_ALIVE, _I.RCF): (_R._on_rcf, _S.REGISTERED),
    (_S.KEEPING_ALIVE, _I.RRJ): (_R._on_keep_alive_lost, _S.WAITING),
    (_S.KEEPING_ALIVE, _I.RRQ_TIMEOUT): (_R._on_keep_alive_lost, _S.WAITING),
    # H.225.0 section 7.9.2: URQ on shutdown; UCF, URJ or silence ends it.
    **{(s, _I.UNREGISTER): (_R._send_urq, _S.UNREGISTERING) for s in _REGISTERED},
    **{
        (s, _I.UNREGISTER): (_R._stop, _S.UNREGISTERED)
        for s in (_S.IDLE, _S.DISCOVERING, _S.REGISTERING, _S.WAITING)
    },
    (_S.UNREGISTERING, _I.UCF): (_R._on_unregistered, _S.UNREGISTERED),
    (_S.UNREGISTERING, _I.URJ): (_R._on_unregistered, _S.UNREGISTERED),
    (_S.UNREGISTERING, _I.URQ_TIMEOUT): (_R._on_unregistered, _S.UNREGISTERED),
    # H.323 section 7.2.2: the gatekeeper unregistered us: register again.
    **{
        (s, _I.GATEKEEPER_URQ): (_R._on_gatekeeper_urq, _S.WAITING) for s in _REGISTERED
    },
}
