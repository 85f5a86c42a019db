"""The persistence interface. SQLite serves it now; PostgreSQL can serve it later.

Times stored here are wall-clock epoch seconds, because a binding must keep its
expiry across a restart (monotonic clocks restart with the process).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class Binding:
    """One registered contact of a site (RFC 3261 §10.3, RFC 5626 flow)."""

    site: str
    aor: str
    contact: str
    expires_at: float
    call_id: str
    cseq: int
    registered_at: float
    flow: str = ""
    cert_serial: str = ""
    q: float | None = None
    instance_id: str | None = None
    reg_id: int | None = None
    user_agent: str = ""
    transport: str = "TLS"
    peer: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LegRecord:
    """One leg of a finished call, as kept in its call record.

    ``leg`` is ``caller`` or ``callee``. ``transport`` is ``TLS``, ``TCP`` or
    ``UDP``; ``tls_version`` and ``tls_cipher`` are empty without TLS.
    ``media`` names the media protection, e.g. ``SRTP AEAD_AES_256_GCM`` or
    ``RTP (trunk policy off)``. Counters are for the whole call; loss and
    jitter are None when no RTCP report gave them.
    """

    leg: str
    protocol: str = "sip"
    peer: str = ""
    transport: str = ""
    tls_version: str = ""
    tls_cipher: str = ""
    media: str = ""
    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    auth_failures: int = 0
    loss_fraction: float | None = None
    jitter_ms: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """A finished call (CDR). Times are wall-clock epoch seconds.

    ``caller_site`` and ``caller_cert_serial`` identify a calling site by its
    certificate; ``caller_trunk`` is set instead when the call came from a
    trunk. ``trunk`` is the trunk the call went out on, if any.
    ``answered_at`` is None for a call that was never answered.
    """

    call_id: str
    caller: str
    callee: str
    started_at: float
    ended_at: float
    end_reason: str
    caller_site: str = ""
    caller_cert_serial: str = ""
    caller_trunk: str = ""
    route: str = ""
    trunk: str = ""
    answered_at: float | None = None
    legs: tuple[LegRecord, ...] = ()

    @property
    def talk_time_s(self) -> float:
        """Seconds from answer to end; 0 for an unanswered call."""
        if self.answered_at is None:
            return 0.0
        return max(0.0, self.ended_at - self.answered_at)


class Store(Protocol):
    """What the gateway keeps across restarts."""

    def load_bindings(self) -> list[Binding]:
        """Every stored binding, expired ones included (the caller filters)."""
        ...

    def replace_site_bindings(self, site: str, bindings: Sequence[Binding]) -> None:
        """Atomically make ``bindings`` the only bindings of ``site``."""
        ...

    def add_call_record(self, record: CallRecord) -> None:
        """Store a finished call and its legs in one transaction."""
        ...

    def list_call_records(
        self, *, since: float | None = None, limit: int = 1000
    ) -> list[CallRecord]:
        """The newest ``limit`` calls started at or after ``since``, oldest first."""
        ...

    def close(self) -> None:
        """Flush and release the store."""
        ...
