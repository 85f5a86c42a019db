"""Registrar (RFC 3261 §10.3) that binds a registration to the TLS client identity.

Sans-IO: the caller passes the REGISTER, who sent it (the site named by the
verified client certificate, or None on a plain listener), the flow it came
on and the wall-clock time; it gets the response and the site's new binding
list to persist. Wall-clock time is used here, not monotonic time, because
bindings outlive a restart of the process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from email.utils import formatdate

from gateway.sip.errors import RemoteSipError
from gateway.sip.grammar import NameAddr, parse_int_header
from gateway.sip.message import SipRequest, SipResponse, make_response
from gateway.sip.uri import SipUri, parse_uri
from gateway.store.base import Binding


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrarPolicy:
    """Binding lifetimes and the names this registrar answers for."""

    domain: str
    local_hosts: frozenset[str] = frozenset()
    min_expires_s: int = 60
    max_expires_s: int = 3600
    default_expires_s: int = 600
    max_contacts_per_site: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.min_expires_s <= self.default_expires_s <= self.max_expires_s:
            raise ValueError("need 1 <= min_expires_s <= default <= max_expires_s")


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerIdentity:
    """The site a verified client certificate names."""

    site: str
    domain: str
    cert_serial: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowInfo:
    """The connection a request arrived on (RFC 5626 flow)."""

    flow_id: str
    transport: str
    peer: str
    is_secure: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterOutcome:
    """The response to send and, when bindings changed, the site's full list."""

    response: SipResponse
    site: str | None = None
    bindings: tuple[Binding, ...] | None = None
    refusal: str | None = None


class Registrar:
    """In-memory binding table for all sites; the caller persists changes."""

    def __init__(
        self, policy: RegistrarPolicy, bindings: Iterable[Binding] = ()
    ) -> None:
        self.policy = policy
        self._by_site: dict[str, list[Binding]] = {}
        for binding in bindings:
            self._by_site.setdefault(binding.site, []).append(binding)

    def bindings(self, site: str, *, now: float) -> list[Binding]:
        """Live bindings of ``site``."""
        return [b for b in self._by_site.get(site, []) if b.expires_at > now]

    def all_bindings(self, *, now: float) -> list[Binding]:
        """Live bindings of every site, sorted by site."""
        return [
            b for site in sorted(self._by_site) for b in self.bindings(site, now=now)
        ]

    def sites(self) -> list[str]:
        return sorted(self._by_site)

    def remove_site(self, site: str) -> bool:
        """Drop every binding of ``site`` (revocation). True if it had any."""
        return bool(self._by_site.pop(site, None))

    def restore(self, site: str, bindings: Iterable[Binding]) -> None:
        """Set ``site``'s bindings (after a partial removal)."""
        self._by_site[site] = list(bindings)

    def remove_flow(self, site: str, flow_id: str) -> bool:
        """Drop ``site``'s bindings that were made over ``flow_id``."""
        current = self._by_site.get(site, [])
        kept = [b for b in current if b.flow != flow_id]
        self._by_site[site] = kept
        return len(kept) != len(current)

    def expire(self, *, now: float) -> list[str]:
        """Forget expired bindings; return the sites whose list changed."""
        changed = []
        for site, current in list(self._by_site.items()):
            live = [b for b in current if b.expires_at > now]
            if len(live) != len(current):
                changed.append(site)
                if live:
                    self._by_site[site] = live
                else:
                    del self._by_site[site]
        return changed

    def handle_register(
        self,
        request: SipRequest,
        *,
        identity: PeerIdentity | None,
        flow: FlowInfo,
        now: float,
    ) -> RegisterOutcome:
        """Answer one REGISTER (RFC 3261 §10.3 steps 1-8).

        Malformed requests get their 4xx from the RemoteSipError; a request
        whose identity does not match the AOR gets 403 with the reason in
        ``refusal`` (for the log line).
        """
        try:
            return self._register(request, identity, flow, now)
        except RemoteSipError as exc:
            return RegisterOutcome(
                response=make_response(request, exc.status, exc.reason),
                refusal=str(exc),
            )

    def _register(
        self,
        request: SipRequest,
        identity: PeerIdentity | None,
        flow: FlowInfo,
        now: float,
    ) -> RegisterOutcome:
        self._check_request_uri(request)
        aor_uri = _aor_uri(request.to_addr)
        site = self._authorise(aor_uri, identity, flow)
        assert identity is not None  # _authorise raised otherwise.
        if request.headers.get("require") is not None:
            unsupported = ", ".join(request.headers.values("require"))
            response = make_response(request, 420)
            response.headers.add("Unsupported", unsupported)
            return RegisterOutcome(response=response, refusal=f"Require: {unsupported}")
        current = self.bindings(site, now=now)
        if request.headers.values("contact"):
            updated = self._apply_contacts(
                request, site, aor_uri, identity, flow, current, now
            )
            if updated is None:
                return self._too_brief(request)
            self._by_site[site] = list(updated)
            current = list(updated)
            changed: tuple[Binding, ...] | None = updated
        else:
            changed = None  # A query (§10.2.3): list, change nothing.
        return RegisterOutcome(
            response=self._ok(request, current, now), site=site, bindings=changed
        )

    def _check_request_uri(self, request: SipRequest) -> None:
        uri = parse_uri(request.uri)
        if not isinstance(uri, SipUri):
            raise RemoteSipError("Request-URI must be a sip or sips URI", 416)
        host = uri.host.strip("[]").lower()
        names = {self.policy.domain.lower(), *self.policy.local_hosts}
        if host not in names:
            raise RemoteSipError(f"this registrar does not serve domain {host}", 404)

    def _authorise(
        self, aor_uri: SipUri, identity: PeerIdentity | None, flow: FlowInfo
    ) -> str:
        """The certificate is the identity: AOR user@domain must be the site's."""
        if identity is None or not flow.is_secure:
            raise RemoteSipError(
                "registration needs TLS with a site certificate", 403, "Forbidden"
            )
        if aor_uri.host.lower() != self.policy.domain.lower():
            raise RemoteSipError(
                f"AOR domain {aor_uri.host} is not {self.policy.domain}", 403
            )
        if identity.domain and identity.domain.lower() != self.policy.domain.lower():
            raise RemoteSipError(
                f"certificate of {identity.site} is for domain {identity.domain}", 403
            )
        if aor_uri.user != identity.site:
            raise RemoteSipError(
                f"certificate names site {identity.site!r} but the AOR is "
                f"{aor_uri.user!r}",
                403,
            )
        return identity.site

    def _apply_contacts(
        self,
        request: SipRequest,
        site: str,
        aor_uri: SipUri,
        identity: PeerIdentity,
        flow: FlowInfo,
        current: list[Binding],
        now: float,
    ) -> tuple[Binding, ...] | None:
        header_expires = _header_expires(request)
        if request.is_contact_star:
            if header_expires != 0 or len(request.headers.values("contact")) != 1:
                raise RemoteSipError("Contact: * needs Expires: 0 and no other contact")
            return self._remove_all(request, current)
        result = {b.contact: b for b in current}
        for contact in request.contacts:
            expires = _contact_expires(contact, header_expires, self.policy)
            if 0 < expires < self.policy.min_expires_s:
                return None
            key = str(contact.uri)
            old = result.get(key)
            if old is not None and _is_replay(request, old):
                raise RemoteSipError("CSeq is not higher than the last REGISTER", 500)
            if expires == 0:
                result.pop(key, None)
                continue
            binding = _new_binding(request, site, aor_uri, identity, flow, contact, now)
            result[key] = replace(binding, expires_at=now + expires)
            _drop_same_instance(result, result[key])
        if len(result) > self.policy.max_contacts_per_site:
            raise RemoteSipError(
                f"site {site} may register at most "
                f"{self.policy.max_contacts_per_site} contacts",
                403,
            )
        return tuple(result.values())

    def _remove_all(
        self, request: SipRequest, current: list[Binding]
    ) -> tuple[Binding, ...]:
        for binding in current:
            if _is_replay(request, binding):
                raise RemoteSipError("CSeq is not higher than the last REGISTER", 500)
        return ()

    def _too_brief(self, request: SipRequest) -> RegisterOutcome:
        response = make_response(request, 423)
        response.headers.add("Min-Expires", str(self.policy.min_expires_s))
        return RegisterOutcome(
            response=response,
            refusal=f"expiry below min_expires_s={self.policy.min_expires_s}",
        )

    def _ok(
        self, request: SipRequest, bindings: list[Binding], now: float
    ) -> SipResponse:
        response = make_response(request, 200)
        for binding in bindings:
            remaining = max(0, int(binding.expires_at - now + 0.5))
            response.headers.add("Contact", f"<{binding.contact}>;expires={remaining}")
        response.headers.add("Date", formatdate(now, usegmt=True))
        return response


def _is_replay(request: SipRequest, binding: Binding) -> bool:
    """Same Call-ID with a CSeq not above the stored one (§10.3 step 7)."""
    return binding.call_id == request.call_id and request.cseq.seq <= binding.cseq


def _aor_uri(to_addr: NameAddr) -> SipUri:
    uri = to_addr.uri
    if not isinstance(uri, SipUri) or not uri.user:
        raise RemoteSipError("To must be a sip: or sips: URI with a user part", 400)
    return uri


def _header_expires(request: SipRequest) -> int | None:
    raw = request.headers.get("expires")
    return None if raw is None else parse_int_header(raw, "Expires")


def _contact_expires(
    contact: NameAddr, header: int | None, policy: RegistrarPolicy
) -> int:
    raw = contact.param("expires")
    if raw is not None:
        requested = parse_int_header(raw, "Contact expires")
    elif header is not None:
        requested = header
    else:
        requested = policy.default_expires_s
    return min(requested, policy.max_expires_s)


def _new_binding(
    request: SipRequest,
    site: str,
    aor_uri: SipUri,
    identity: PeerIdentity,
    flow: FlowInfo,
    contact: NameAddr,
    now: float,
) -> Binding:
    q_text = contact.param("q")
    reg_id = contact.param("reg-id")
    try:
        q = float(q_text) if q_text is not None else None
        reg = int(reg_id) if reg_id is not None else None
    except ValueError as exc:
        raise RemoteSipError("Contact q or reg-id is not a number") from exc
    return Binding(
        site=site,
        aor=f"sip:{site}@{aor_uri.host.lower()}",
        contact=str(contact.uri),
        expires_at=now,
        call_id=request.call_id,
        cseq=request.cseq.seq,
        registered_at=now,
        flow=flow.flow_id,
        cert_serial=identity.cert_serial,
        q=q,
        instance_id=contact.param("+sip.instance"),
        reg_id=reg,
        user_agent=request.headers.get("user-agent") or "",
        transport=flow.transport,
        peer=flow.peer,
    )


def _drop_same_instance(result: dict[str, Binding], new: Binding) -> None:
    """RFC 5626 §6: a new flow for the same instance and reg-id replaces the old."""
    if new.instance_id is None or new.reg_id is None:
        return
    for key, other in list(result.items()):
        if (
            other is not new
            and other.instance_id == new.instance_id
            and other.reg_id == new.reg_id
        ):
            del result[key]
