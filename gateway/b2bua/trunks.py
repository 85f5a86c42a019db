"""Trunks: configured peers (an MCU, the national network) and their health.

Sans-IO. ``Trunk`` is the validated configuration of one trunk. ``TrunkHealth``
probes each address with OPTIONS (RFC 3261 §11) and takes dead addresses out
of rotation; ``FailoverPlan`` decides which address an INVITE tries next
(RFC 3263 §4.3 style failover: next address on a timeout or a 5xx, never on
a 4xx or 6xx, which are answers about the call rather than the server).
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "GATEKEEPER_PORT",
    "NAME_PATTERN",
    "AddressState",
    "FailoverPlan",
    "HostPort",
    "SendOptions",
    "Trunk",
    "TrunkAddress",
    "TrunkAddressDown",
    "TrunkAddressUp",
    "TrunkCommand",
    "TrunkEvent",
    "TrunkHealth",
]

#: Names of trunks, routes and sites used in config references and logs.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

PROTOCOLS = ("sip", "h323")
TRANSPORTS = ("udp", "tcp", "tls")
SRTP_POLICIES = ("required", "optional", "off")
#: The RAS port of a gatekeeper when the config gives none (H.225.0 7.9.1).
GATEKEEPER_PORT = 1719
# H.225.0 AliasAddress: dialledDigits is IA5String (SIZE (1..128)) FROM
# ("0123456789#*,"); h323-ID and GatekeeperIdentifier are BMPStrings of at
# most 256 and 128 characters.
_DIALLED_DIGITS = re.compile(r"[0-9#*,]{1,128}")
_H323_ID_MAX = 256
_GATEKEEPER_ID_MAX = 128


@dataclass(frozen=True, slots=True)
class HostPort:
    """A host and port: a listener or a trunk address. IPv6 as ``[::1]:5060``."""

    host: str
    port: int

    def __str__(self) -> str:
        return (
            f"[{self.host}]:{self.port}"
            if ":" in self.host
            else f"{self.host}:{self.port}"
        )


# A trunk address is a plain host and port.
TrunkAddress = HostPort


@dataclass(frozen=True, slots=True, kw_only=True)
class Trunk:
    """``[[trunks]]``: a named peer reached at an ordered list of addresses.

    ``srtp`` is the media policy towards this trunk: ``required`` (SRTP or the
    call fails), ``optional`` (SRTP when the peer offers or accepts it) or
    ``off`` (plain RTP, e.g. an MCU inside the province's closed WAN).
    ``options_interval_s = 0`` turns health checks off. ``max_calls = 0``
    means no limit. Validation errors start with the key they concern, so the
    config loader can prefix ``trunks[INDEX].``.

    An H.323 trunk may name a ``gatekeeper`` (its RAS address, H.225.0
    section 7.9): the gateway then registers with it as a gateway with the
    alias ``h323_id`` and the dialled-digit ``prefixes``, asking for
    ``ras_ttl_s`` seconds of registration, retries a refused or lost
    registration after ``ras_retry_s`` (doubling up to 10 minutes), and asks
    admission (ARQ) before each call. The gatekeeper names the callee's
    address in its ACF, so ``addresses`` may then be empty.
    """

    name: str
    addresses: tuple[TrunkAddress, ...] = ()
    protocol: str = "sip"
    transport: str = "udp"
    # "auto": "required" over TLS, "off" over UDP/TCP (keys never leave TLS).
    srtp: str = "auto"
    options_interval_s: float = 30.0
    dead_after_failures: int = 3
    failover_timeout_s: float = 4.0
    max_calls: int = 0
    # TLS trunks: the CA that signs the trunk's certificate (default: the
    # province CA) and the name its certificate must carry (default: host).
    ca_certificate: Path | None = None
    server_name: str = ""
    # H.323 trunks: gatekeeper registration (RAS), off when gatekeeper is None.
    gatekeeper: HostPort | None = None
    gatekeeper_id: str = ""
    h323_id: str = "vcgw"
    prefixes: tuple[str, ...] = ()
    ras_ttl_s: int = 300
    ras_retry_s: float = 30.0
    # H.323 trunks: Fast Start in our Setup (H.323 8.1.7), and H.245 in the
    # call signalling (tunnelling, 8.2.1) or on its own connection (8.2.3).
    fast_start: bool = True
    h245_tunnelling: bool = True
    # H.323 trunks: H.245 roundTripDelayRequest every this many seconds; a
    # peer that stops answering ends the call (0: no keep-alive).
    h245_keepalive_s: float = 20.0

    def __post_init__(self) -> None:
        _require(
            NAME_PATTERN.fullmatch(self.name) is not None,
            f"name = {self.name!r}: use 1-64 letters, digits, '.', '_' or '-'",
        )
        _require(
            len(self.addresses) > 0 or self.gatekeeper is not None,
            "addresses: give at least one HOST:PORT (or, on an H.323 trunk, "
            "a gatekeeper that gives the address of each call)",
        )
        _require(
            len(set(self.addresses)) == len(self.addresses),
            "addresses: an address is listed twice",
        )
        _one_of("protocol", self.protocol, PROTOCOLS)
        _one_of("transport", self.transport, TRANSPORTS)
        if self.srtp == "auto":
            auto = "required" if self.transport == "tls" else "off"
            object.__setattr__(self, "srtp", auto)
        _one_of("srtp", self.srtp, SRTP_POLICIES)
        _require(
            self.protocol != "h323" or self.srtp == "off",
            "srtp: an H.323 trunk carries plain RTP for now (no H.235): use 'off'",
        )
        _require(
            self.srtp == "off" or self.transport == "tls",
            f"srtp = {self.srtp!r} needs transport = 'tls': SRTP keys (SDES) "
            "are only ever sent over TLS",
        )
        _require(
            self.options_interval_s == 0 or 1 <= self.options_interval_s <= 3600,
            "options_interval_s: must be 0 (off) or 1-3600",
        )
        _require(
            1 <= self.dead_after_failures <= 100, "dead_after_failures: must be 1-100"
        )
        _require(
            0.5 <= self.failover_timeout_s <= 32,
            "failover_timeout_s: must be 0.5-32 (32 is SIP Timer B)",
        )
        _require(0 <= self.max_calls <= 100_000, "max_calls: must be 0 (no limit)+")
        self._check_ras()

    def _check_ras(self) -> None:
        """Gatekeeper keys: only on H.323 trunks, values RAS can carry."""
        if self.gatekeeper is None:
            _require(
                not self.prefixes,
                "prefixes: only a trunk with a gatekeeper registers prefixes",
            )
            _require(
                not self.gatekeeper_id,
                "gatekeeper_id: only a trunk with a gatekeeper uses it",
            )
        else:
            _require(
                self.protocol == "h323",
                "gatekeeper: only an H.323 trunk (protocol = 'h323') registers "
                "with a gatekeeper",
            )
            try:
                ipaddress.ip_address(self.gatekeeper.host)
            except ValueError:
                raise ValueError(
                    f"gatekeeper = '{self.gatekeeper}': the host must be an IP address"
                ) from None
        _require(
            0 < len(self.h323_id) <= _H323_ID_MAX,
            f"h323_id = {self.h323_id!r}: must be 1-{_H323_ID_MAX} characters",
        )
        _require(
            len(self.gatekeeper_id) <= _GATEKEEPER_ID_MAX,
            f"gatekeeper_id: at most {_GATEKEEPER_ID_MAX} characters",
        )
        for prefix in self.prefixes:
            _require(
                _DIALLED_DIGITS.fullmatch(prefix) is not None,
                f"prefixes: {prefix!r} is not dialled digits (0-9, *, #, ',')",
            )
        _require(
            len(set(self.prefixes)) == len(self.prefixes),
            "prefixes: a prefix is listed twice",
        )
        _require(
            self.protocol == "h323" or (self.fast_start and self.h245_tunnelling),
            "fast_start, h245_tunnelling: only for H.323 trunks (protocol = 'h323')",
        )
        _require(
            self.h245_keepalive_s == 0 or 1 <= self.h245_keepalive_s <= 3600,
            "h245_keepalive_s: must be 0 (off) or 1-3600",
        )
        _require(1 <= self.ras_ttl_s <= 86400, "ras_ttl_s: must be 1-86400")
        _require(1 <= self.ras_retry_s <= 600, "ras_retry_s: must be 1-600")


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _one_of(key: str, value: str, allowed: Sequence[str]) -> None:
    _require(
        value in allowed,
        f"{key} = {value!r}: must be one of {', '.join(repr(a) for a in allowed)}",
    )


# --- health checks ---------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TrunkCommand:
    """Base class of what the trunk health machine asks ``app/`` to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SendOptions(TrunkCommand):
    """Send an OPTIONS probe to ``address`` of ``trunk``; report the result."""

    trunk: str
    address: TrunkAddress


@dataclass(frozen=True, slots=True, kw_only=True)
class TrunkEvent:
    """Base class of trunk health events (for logs and metrics)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TrunkAddressDown(TrunkEvent):
    """``address`` failed ``failures`` probes in a row and left the rotation."""

    trunk: str
    address: TrunkAddress
    failures: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TrunkAddressUp(TrunkEvent):
    """A dead ``address`` answered a probe and is back in rotation."""

    trunk: str
    address: TrunkAddress


class AddressState(enum.Enum):
    """Whether an address is in rotation."""

    ALIVE = "alive"
    DEAD = "dead"


@dataclass(slots=True)
class _Probe:
    state: AddressState = AddressState.ALIVE
    failures: int = 0
    due_at: float = 0.0
    is_pending: bool = False


class TrunkHealth:
    """OPTIONS health checks of one trunk's addresses (RFC 3261 §11).

    Every address is probed each ``options_interval_s``, the first time at
    construction. Any final response to OPTIONS counts as alive (a 4xx still
    proves a SIP server is there, RFC 3261 §11.2); a timeout or a transport
    error counts as a failure. An address is dead after
    ``dead_after_failures`` failures in a row and alive again after one
    success. A probe still unanswered when the next is due counts as failed.
    With ``options_interval_s = 0`` no probes are sent and every address
    stays alive.
    """

    def __init__(self, trunk: Trunk, *, now: float) -> None:
        self.trunk = trunk
        self._probes = {a: _Probe(due_at=now) for a in trunk.addresses}
        self._events: list[TrunkEvent] = []

    def state(self, address: TrunkAddress) -> AddressState:
        """The rotation state of ``address``; KeyError if not this trunk's."""
        return self._probes[address].state

    def candidates(self, now: float) -> list[TrunkAddress]:
        """Addresses to try, in configured order, dead ones left out.

        When every address is dead all of them are returned: the probes may
        be wrong (an OPTIONS filter) and a call attempt costs little. A
        gatekeeper trunk without addresses gives its gatekeeper as the one
        attempt: the call goes wherever the gatekeeper's ACF says.
        ``now`` is taken for the uniform state-machine shape; the rotation
        changes only through results and timeouts.
        """
        del now
        alive = [a for a, p in self._probes.items() if p.state is AddressState.ALIVE]
        if not self._probes and self.trunk.gatekeeper is not None:
            return [self.trunk.gatekeeper]
        return alive or list(self._probes)

    def receive_options_result(
        self, address: TrunkAddress, is_ok: bool, now: float
    ) -> None:
        """Record a probe result: ``is_ok`` for any final response.

        Raises KeyError for an address that is not this trunk's (a bug).
        """
        del now
        probe = self._probes[address]
        probe.is_pending = False
        if is_ok:
            probe.failures = 0
            if probe.state is AddressState.DEAD:
                probe.state = AddressState.ALIVE
                self._events.append(
                    TrunkAddressUp(trunk=self.trunk.name, address=address)
                )
            return
        self._count_failure(address, probe)

    def _count_failure(self, address: TrunkAddress, probe: _Probe) -> None:
        probe.failures += 1
        limit = self.trunk.dead_after_failures
        if probe.state is AddressState.ALIVE and probe.failures >= limit:
            probe.state = AddressState.DEAD
            self._events.append(
                TrunkAddressDown(
                    trunk=self.trunk.name, address=address, failures=probe.failures
                )
            )

    def next_deadline(self) -> float | None:
        """When ``handle_timeout`` must next run; None if checks are off."""
        if self.trunk.options_interval_s == 0:
            return None
        return min((p.due_at for p in self._probes.values()), default=None)

    def handle_timeout(self, now: float) -> list[SendOptions]:
        """Probes that are due at ``now``; each is rescheduled one interval on."""
        interval = self.trunk.options_interval_s
        if interval == 0:
            return []
        commands: list[SendOptions] = []
        for address, probe in self._probes.items():
            if probe.due_at > now:
                continue
            if probe.is_pending:
                self._count_failure(address, probe)
            probe.is_pending = True
            # Schedule from the due time, not from now, so a late timer does
            # not make the probes drift; skip whole intervals missed.
            missed = int((now - probe.due_at) // interval)
            probe.due_at += interval * (missed + 1)
            commands.append(SendOptions(trunk=self.trunk.name, address=address))
        return commands

    def pop_events(self) -> list[TrunkEvent]:
        """Address up/down events since the last call."""
        events, self._events = self._events, []
        return events


# --- failover ---------------------------------------------------------------


class FailoverPlan:
    """The order in which one call tries a trunk's addresses.

    ``first()`` gives the first address; after each failed attempt
    ``next_after(status)`` gives the next one, or None when the B2BUA must
    stop and answer the caller (``exhausted_status()`` says with what).
    ``status`` None means no response before ``failover_timeout_s`` or a
    transport error.
    """

    def __init__(self, candidates: Sequence[TrunkAddress]) -> None:
        if not candidates:
            raise ValueError("a failover plan needs at least one address")
        self._candidates = tuple(candidates)
        self._index = 0
        self._statuses: list[int | None] = []

    @property
    def current(self) -> TrunkAddress:
        """The address being tried now."""
        return self._candidates[self._index]

    def first(self) -> TrunkAddress:
        """The first address to try."""
        return self._candidates[0]

    def next_after(self, status: int | None) -> TrunkAddress | None:
        """The next address after an attempt ended with ``status``.

        A timeout (None) or a 5xx moves on; a 3xx, 4xx or 6xx ends the plan,
        because another server of the same trunk would give the same answer
        (RFC 3261 §16.7 step 6 treats 6xx as final for all branches). Raises
        ValueError for 1xx/2xx, which are not failures.
        """
        if status is not None and not 300 <= status <= 699:
            raise ValueError(f"status {status} is not a failed attempt")
        self._statuses.append(status)
        if status is not None and not 500 <= status <= 599:
            return None
        if self._index + 1 >= len(self._candidates):
            return None
        self._index += 1
        return self._candidates[self._index]

    @property
    def attempts(self) -> tuple[int | None, ...]:
        """Statuses of the failed attempts so far, None for a timeout."""
        return tuple(self._statuses)

    def exhausted_status(self) -> int:
        """The status to answer the caller with once the plan has ended.

        RFC 3261 §16.7 step 6: 408 when no server answered at all; otherwise
        the last failure, with 503 changed to 500 because a 503 from us would
        tell the caller that the gateway itself is unavailable.
        """
        answered = [s for s in self._statuses if s is not None]
        if not answered:
            return 408
        last = answered[-1]
        return 500 if last == 503 else last
