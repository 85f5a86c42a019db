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


class Store(Protocol):
    """What the gateway keeps across restarts."""

    def load_bindings(self) -> list[Binding]:
        """Every stored binding, expired ones included (the caller filters)."""
        ...

    def replace_site_bindings(self, site: str, bindings: Sequence[Binding]) -> None:
        """Atomically make ``bindings`` the only bindings of ``site``."""
        ...

    def close(self) -> None:
        """Flush and release the store."""
        ...
