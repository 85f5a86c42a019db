"""Call routing: which target a dialled number reaches, and who may dial it.

Sans-IO and protocol-neutral (SIP now, H.323 later). Routes are tried in
configured order; the first whose pattern matches and whose
``allowed_sources`` include the caller wins. A route without
``allowed_sources`` serves registered sites only, so calls from a trunk
transit to another trunk (or reach a site) only through a route that names
that trunk: the gateway is never an open relay.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.b2bua.trunks import NAME_PATTERN, Trunk
from gateway.errors import GatewayError

__all__ = [
    "TEST_ROUTE_NAME",
    "Route",
    "RouteDecision",
    "RouteForbidden",
    "RouteNotFound",
    "RouteUnavailable",
    "Router",
    "RoutingError",
    "Source",
    "SourceKind",
    "TargetKind",
    "check_routes",
]

TEST_ROUTE_NAME = "test-number"
_DIAL_CHARS = re.compile(r"[A-Za-z0-9+*#._-]*")


class RoutingError(GatewayError):
    """The call cannot be routed. Carries the reply for each protocol.

    ``sip_status`` is the SIP response; ``q850_cause`` the ISDN cause for
    H.323 legs (mapped per RFC 3398 §8.2.6.1). The message says why, for a
    log line; it is not sent to the caller.
    """

    sip_status: int = 500
    q850_cause: int = 41


class RouteNotFound(RoutingError):
    """No route matches the dialled number (404, cause 1 unallocated number)."""

    sip_status = 404
    q850_cause = 1


class RouteForbidden(RoutingError):
    """A route matches, but not for this caller (403, cause 21 call rejected)."""

    sip_status = 403
    q850_cause = 21


class RouteUnavailable(RoutingError):
    """The route's target cannot be called by this version (503, cause 63)."""

    sip_status = 503
    q850_cause = 63


class SourceKind(enum.Enum):
    """Where a call comes from."""

    SITE = "site"
    TRUNK = "trunk"


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """The caller: a registered site (by certificate) or a named trunk."""

    kind: SourceKind
    name: str

    @classmethod
    def site(cls, name: str) -> Source:
        """A call from the registered site ``name``."""
        return cls(kind=SourceKind.SITE, name=name)

    @classmethod
    def trunk(cls, name: str) -> Source:
        """A call arriving from the trunk ``name``."""
        return cls(kind=SourceKind.TRUNK, name=name)

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.name}"


class TargetKind(enum.Enum):
    """What a route leads to."""

    SITE = "site"
    TRUNK = "trunk"
    TEST = "test"


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    """``[[routes]]``: a dialled-number pattern, a target and who may use it.

    Exactly one of ``match_prefix`` (the user part starts with it) and
    ``match_regex`` (the whole user part matches, Python syntax) is given;
    ``match_host``, when set, must equal the Request-URI host too.
    ``target`` is ``site:NAME``, ``trunk:NAME``, ``test`` (the echo test) or
    ``sites`` (the registered site whose name is the number after
    ``strip_digits`` and ``prepend``). ``allowed_sources`` holds ``sites``
    (any site), ``site:NAME`` or ``trunk:NAME``; empty means ``("sites",)``.
    Validation errors start with the key, for the config loader's prefix.
    """

    name: str
    target: str
    match_prefix: str = ""
    match_regex: str = ""
    match_host: str = ""
    strip_digits: int = 0
    prepend: str = ""
    allowed_sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require(
            NAME_PATTERN.fullmatch(self.name) is not None,
            f"name = {self.name!r}: use 1-64 letters, digits, '.', '_' or '-'",
        )
        _require(
            bool(self.match_prefix) != bool(self.match_regex),
            "match_prefix: give exactly one of match_prefix and match_regex",
        )
        if self.match_regex:
            try:
                re.compile(self.match_regex)
            except re.error as exc:
                raise ValueError(
                    f"match_regex = {self.match_regex!r}: "
                    f"not a valid regular expression ({exc})"
                ) from exc
        _require(
            _DIAL_CHARS.fullmatch(self.match_prefix) is not None,
            f"match_prefix = {self.match_prefix!r}: use digits, letters, + * # . _ -",
        )
        _require(
            _DIAL_CHARS.fullmatch(self.prepend) is not None,
            f"prepend = {self.prepend!r}: use digits, letters, + * # . _ -",
        )
        _require(0 <= self.strip_digits <= 32, "strip_digits: must be 0-32")
        _parse_target(self.target)
        for source in self.allowed_sources:
            _parse_source_pattern(source)

    @property
    def sources(self) -> tuple[str, ...]:
        """The effective allowed sources (sites only when none are given)."""
        return self.allowed_sources or ("sites",)

    @property
    def target_kind(self) -> TargetKind:
        """What this route leads to."""
        return _parse_target(self.target)[0]

    @property
    def target_name(self) -> str | None:
        """The site or trunk named by the target; None for ``test``/``sites``."""
        return _parse_target(self.target)[1]


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _parse_target(target: str) -> tuple[TargetKind, str | None]:
    if target == "test":
        return TargetKind.TEST, None
    if target == "sites":
        return TargetKind.SITE, None
    kind, sep, name = target.partition(":")
    _require(
        sep == ":" and kind in ("site", "trunk"),
        f"target = {target!r}: must be 'site:NAME', 'trunk:NAME', 'sites' or 'test'",
    )
    _require(
        NAME_PATTERN.fullmatch(name) is not None,
        f"target = {target!r}: {name!r} is not a valid name",
    )
    return (TargetKind.SITE if kind == "site" else TargetKind.TRUNK), name


def _parse_source_pattern(pattern: str) -> tuple[SourceKind, str | None]:
    if pattern == "sites":
        return SourceKind.SITE, None
    kind, sep, name = pattern.partition(":")
    _require(
        sep == ":"
        and kind in ("site", "trunk")
        and NAME_PATTERN.fullmatch(name) is not None,
        f"allowed_sources: {pattern!r} must be 'sites', 'site:NAME' or 'trunk:NAME'",
    )
    return (SourceKind.SITE if kind == "site" else SourceKind.TRUNK), name


def check_routes(routes: Sequence[Route], trunks: Sequence[Trunk]) -> None:
    """Check names and references across routes and trunks.

    Raises ValueError whose message starts ``routes[I].KEY`` or
    ``trunks[I].KEY`` (0-based): duplicate names, and a target or source
    naming a trunk that is not configured.
    """
    seen_trunks: dict[str, int] = {}
    for index, trunk in enumerate(trunks):
        if trunk.name in seen_trunks:
            raise ValueError(
                f"trunks[{index}].name = {trunk.name!r}: "
                f"already used by trunks[{seen_trunks[trunk.name]}]"
            )
        seen_trunks[trunk.name] = index
    known = ", ".join(seen_trunks) or "none configured"
    seen_routes: dict[str, int] = {}
    for index, route in enumerate(routes):
        if route.name in seen_routes:
            raise ValueError(
                f"routes[{index}].name = {route.name!r}: "
                f"already used by routes[{seen_routes[route.name]}]"
            )
        seen_routes[route.name] = index
        if route.target_kind is TargetKind.TRUNK and (
            route.target_name not in seen_trunks
        ):
            raise ValueError(
                f"routes[{index}].target = {route.target!r}: "
                f"no trunk of that name (trunks: {known})"
            )
        for pattern in route.allowed_sources:
            kind, name = _parse_source_pattern(pattern)
            if kind is SourceKind.TRUNK and name not in seen_trunks:
                raise ValueError(
                    f"routes[{index}].allowed_sources: {pattern!r} names "
                    f"no configured trunk (trunks: {known})"
                )


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteDecision:
    """Where a call goes: the route, the number to send and the target.

    For ``TargetKind.SITE`` the B2BUA still checks that ``site`` is
    registered (404 if unknown, 480 if it has no live binding).
    """

    route: Route
    number: str
    kind: TargetKind
    site: str | None = None
    trunk: Trunk | None = None


@dataclass(frozen=True, slots=True)
class _Compiled:
    route: Route
    regex: re.Pattern[str] | None
    sources: frozenset[tuple[SourceKind, str | None]]

    def matches(self, user: str, host: str) -> bool:
        route = self.route
        if route.match_host and route.match_host.lower() != host.lower():
            return False
        if self.regex is not None:
            return self.regex.fullmatch(user) is not None
        return user.startswith(route.match_prefix)

    def allows(self, source: Source) -> bool:
        # (SITE, None) is "sites": any registered site. There is no
        # any-trunk wildcard, so transit is always named explicitly.
        return (source.kind, source.name) in self.sources or (
            source.kind is SourceKind.SITE and (SourceKind.SITE, None) in self.sources
        )


class Router:
    """Picks the route for a call. Immutable after construction.

    ``test_number`` (e.g. ``"9999"``, empty to disable) adds a first route
    to the echo test, for sites only. Raises ValueError when ``check_routes``
    finds a problem.
    """

    def __init__(
        self,
        routes: Sequence[Route],
        trunks: Sequence[Trunk],
        *,
        test_number: str = "",
    ) -> None:
        check_routes(routes, trunks)
        self._trunks = {t.name: t for t in trunks}
        ordered = list(routes)
        if test_number:
            ordered.insert(
                0,
                Route(
                    name=TEST_ROUTE_NAME,
                    target="test",
                    match_regex=re.escape(test_number),
                ),
            )
        self._routes = [_compile(r) for r in ordered]

    @property
    def routes(self) -> tuple[Route, ...]:
        """The routes in the order they are tried (test number first)."""
        return tuple(c.route for c in self._routes)

    def route(
        self, dialled_user: str, request_uri_host: str, source: Source
    ) -> RouteDecision:
        """Route a call to ``dialled_user@request_uri_host`` from ``source``.

        Raises RouteNotFound (404) when no route matches, RouteForbidden (403)
        when routes match but none allows ``source``, RouteUnavailable (503)
        when the target trunk speaks a protocol this version cannot call.
        """
        refused: list[str] = []
        for compiled in self._routes:
            if not compiled.matches(dialled_user, request_uri_host):
                continue
            if not compiled.allows(source):
                refused.append(compiled.route.name)
                continue
            decision = self._decide(compiled.route, dialled_user)
            if decision is not None:
                return decision
        if refused:
            raise RouteForbidden(
                f"{source} may not call {dialled_user!r}: route(s) "
                f"{', '.join(refused)} match but do not allow this source"
            )
        raise RouteNotFound(
            f"no route for {dialled_user!r}@{request_uri_host} from {source}"
        )

    def _decide(self, route: Route, dialled_user: str) -> RouteDecision | None:
        number = route.prepend + dialled_user[route.strip_digits :]
        kind, name = route.target_kind, route.target_name
        if kind is TargetKind.TEST:
            return RouteDecision(route=route, number=number, kind=kind)
        if kind is TargetKind.SITE:
            site = name if name is not None else number
            if NAME_PATTERN.fullmatch(site) is None:
                # The "sites" target turned the number into something that
                # cannot be a site name: this route does not apply.
                return None
            return RouteDecision(route=route, number=number, kind=kind, site=site)
        trunk = self._trunks[str(name)]
        if not number:
            return None
        return RouteDecision(route=route, number=number, kind=kind, trunk=trunk)


def _compile(route: Route) -> _Compiled:
    regex = re.compile(route.match_regex) if route.match_regex else None
    sources = frozenset(_parse_source_pattern(p) for p in route.sources)
    return _Compiled(route=route, regex=regex, sources=sources)
