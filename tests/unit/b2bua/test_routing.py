"""Routing: order, prefix/regex, strip/prepend, sources, 404 vs 403, no open relay."""

from __future__ import annotations

import pytest

from gateway.b2bua.routing import (
    TEST_ROUTE_NAME,
    Route,
    RouteForbidden,
    RouteNotFound,
    Router,
    RouteUnavailable,
    Source,
    TargetKind,
    check_routes,
)
from gateway.b2bua.trunks import Trunk, TrunkAddress

MCU = Trunk(name="mcu", addresses=(TrunkAddress("10.0.0.5", 5060),), srtp="off")
NATIONAL = Trunk(
    name="national",
    addresses=(TrunkAddress("10.9.0.1", 5061), TrunkAddress("10.9.0.2", 5061)),
    transport="tls",
    srtp="required",
)
LEGACY = Trunk(
    name="legacy", protocol="h323", addresses=(TrunkAddress("10.0.0.7", 1720),)
)
TRUNKS = (MCU, NATIONAL, LEGACY)

ROUTES = (
    Route(
        name="mcu-rooms",
        match_prefix="88",
        target="trunk:mcu",
        allowed_sources=("sites", "trunk:national"),
    ),
    Route(
        name="xa-a-only",
        match_prefix="77",
        target="trunk:mcu",
        allowed_sources=("site:xa-a",),
    ),
    Route(
        name="national-out",
        match_regex=r"0[1-9]\d{7,9}",
        target="trunk:national",
        strip_digits=1,
        prepend="+84",
    ),
    Route(name="legacy", match_prefix="66", target="trunk:legacy"),
    Route(name="site-by-name", match_regex=r"[a-z][a-z0-9-]*", target="sites"),
    Route(name="hotline", match_prefix="115", target="site:so-y-te"),
    Route(
        name="mcu-host",
        match_regex=r".*",
        match_host="mcu.province.vn",
        target="trunk:mcu",
    ),
)


def router() -> Router:
    return Router(ROUTES, TRUNKS, test_number="9999")


@pytest.mark.parametrize(
    ("user", "host", "source", "route", "kind", "number", "target"),
    [
        (
            "8801",
            "gw",
            Source.site("xa-a"),
            "mcu-rooms",
            TargetKind.TRUNK,
            "8801",
            "mcu",
        ),
        (
            "8801",
            "gw",
            Source.trunk("national"),
            "mcu-rooms",
            TargetKind.TRUNK,
            "8801",
            "mcu",
        ),
        (
            "7712",
            "gw",
            Source.site("xa-a"),
            "xa-a-only",
            TargetKind.TRUNK,
            "7712",
            "mcu",
        ),
        (
            "0243826111",
            "gw",
            Source.site("xa-b"),
            "national-out",
            TargetKind.TRUNK,
            "+84243826111",
            "national",
        ),
        (
            "xa-b",
            "gw",
            Source.site("xa-a"),
            "site-by-name",
            TargetKind.SITE,
            "xa-b",
            "xa-b",
        ),
        (
            "115",
            "gw",
            Source.site("xa-a"),
            "hotline",
            TargetKind.SITE,
            "115",
            "so-y-te",
        ),
        (
            "9999",
            "gw",
            Source.site("xa-a"),
            TEST_ROUTE_NAME,
            TargetKind.TEST,
            "9999",
            None,
        ),
        (
            "room1",
            "MCU.province.vn",
            Source.site("xa-a"),
            "site-by-name",
            TargetKind.SITE,
            "room1",
            "room1",
        ),
        (
            "Room1",
            "MCU.province.vn",
            Source.site("xa-a"),
            "mcu-host",
            TargetKind.TRUNK,
            "Room1",
            "mcu",
        ),
    ],
)
def test_routes_pick_first_allowed_match(
    user: str,
    host: str,
    source: Source,
    route: str,
    kind: TargetKind,
    number: str,
    target: str | None,
) -> None:
    """The first matching route allowed for the source decides target and number."""
    decision = router().route(user, host, source)
    assert decision.route.name == route
    assert decision.kind is kind
    assert decision.number == number
    if kind is TargetKind.TRUNK:
        assert decision.trunk is not None and decision.trunk.name == target
        assert decision.site is None
    elif kind is TargetKind.SITE:
        assert decision.site == target and decision.trunk is None
    else:
        assert decision.site is None and decision.trunk is None


@pytest.mark.parametrize(
    ("user", "host", "source", "error", "reason"),
    [
        ("5555", "gw", Source.site("xa-a"), RouteNotFound, "no route for '5555'"),
        ("Room1", "gw", Source.site("xa-a"), RouteNotFound, "site:xa-a"),
        # Only xa-a may dial 77: a matching route that refuses the source is 403.
        ("7712", "gw", Source.site("xa-b"), RouteForbidden, "xa-a-only"),
        # No open relay: a trunk reaches only routes that name it.
        ("0243826111", "gw", Source.trunk("national"), RouteForbidden, "national-out"),
        ("xa-b", "gw", Source.trunk("national"), RouteForbidden, "site-by-name"),
        ("8801", "gw", Source.trunk("mcu"), RouteForbidden, "mcu-rooms"),
        ("9999", "gw", Source.trunk("national"), RouteForbidden, TEST_ROUTE_NAME),
    ],
)
def test_refusals_say_why(
    user: str, host: str, source: Source, error: type[Exception], reason: str
) -> None:
    """404 when nothing matches, 403 when matches refuse the source."""
    with pytest.raises(error) as caught:
        router().route(user, host, source)
    assert reason in str(caught.value)


def test_refusal_statuses_and_causes() -> None:
    """Each routing error carries its SIP status and Q.850 cause."""
    assert (RouteNotFound.sip_status, RouteNotFound.q850_cause) == (404, 1)
    assert (RouteForbidden.sip_status, RouteForbidden.q850_cause) == (403, 21)
    assert (RouteUnavailable.sip_status, RouteUnavailable.q850_cause) == (503, 63)


def test_a_later_route_can_allow_a_source_an_earlier_refuses() -> None:
    """A refusing match does not stop the search; a later allowed match wins."""
    routes = (
        Route(
            name="a", match_prefix="1", target="trunk:mcu", allowed_sources=("site:x",)
        ),
        Route(name="b", match_prefix="12", target="trunk:national"),
    )
    decision = Router(routes, TRUNKS).route("123", "gw", Source.site("y"))
    assert decision.route.name == "b"
    assert Router(routes, TRUNKS).route("123", "gw", Source.site("x")).route.name == "a"


def test_order_decides_between_overlapping_routes() -> None:
    """With two matching routes the one listed first is used."""
    first = Route(name="long", match_prefix="123", target="trunk:mcu")
    second = Route(name="short", match_prefix="1", target="trunk:national")
    assert (
        Router((first, second), TRUNKS).route("1234", "h", Source.site("s")).route.name
        == "long"
    )
    assert (
        Router((second, first), TRUNKS).route("1234", "h", Source.site("s")).route.name
        == "short"
    )


def test_regex_must_match_the_whole_user_part() -> None:
    """match_regex is anchored at both ends."""
    routes = (Route(name="r", match_regex=r"\d{4}", target="trunk:mcu"),)
    r = Router(routes, TRUNKS)
    assert r.route("1234", "h", Source.site("s")).route.name == "r"
    with pytest.raises(RouteNotFound):
        r.route("12345", "h", Source.site("s"))


def test_stripping_everything_makes_the_route_not_apply() -> None:
    """A number stripped to nothing is not sent to a trunk; the search goes on."""
    routes = (
        Route(name="strip", match_prefix="0", strip_digits=4, target="trunk:mcu"),
        Route(name="all", match_regex=r"\d+", target="trunk:national"),
    )
    r = Router(routes, TRUNKS)
    assert r.route("012", "h", Source.site("s")).route.name == "all"
    assert r.route("01234", "h", Source.site("s")).number == "4"


def test_sites_target_skips_numbers_that_cannot_be_site_names() -> None:
    """The 'sites' target never yields an invalid site name."""
    routes = (Route(name="any", match_regex=r".*", target="sites"),)
    with pytest.raises(RouteNotFound):
        Router(routes, TRUNKS).route("-bad", "h", Source.site("s"))


def test_no_test_number_when_disabled() -> None:
    """An empty test_number adds no route; a custom one is matched exactly."""
    assert all(r.name != TEST_ROUTE_NAME for r in Router(ROUTES, TRUNKS).routes)
    r = Router((), (), test_number="*43")
    assert r.route("*43", "h", Source.site("s")).kind is TargetKind.TEST
    with pytest.raises(RouteNotFound):
        r.route("*431", "h", Source.site("s"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"match_prefix": "1", "match_regex": "1"}, "match_prefix: give exactly one"),
        ({}, "match_prefix: give exactly one"),
        ({"match_regex": "(["}, "match_regex = '([': not a valid regular expression"),
        ({"match_prefix": "1", "target": "mcu"}, "target = 'mcu': must be"),
        ({"match_prefix": "1", "target": "trunk:"}, "target = 'trunk:': '' is not"),
        ({"match_prefix": "1", "allowed_sources": ("trunks",)}, "allowed_sources"),
        ({"match_prefix": "1", "allowed_sources": ("any:x",)}, "allowed_sources"),
        ({"match_prefix": "1 2"}, "match_prefix = '1 2'"),
        ({"match_prefix": "1", "prepend": "@"}, "prepend = '@'"),
        ({"match_prefix": "1", "strip_digits": -1}, "strip_digits"),
        ({"match_prefix": "1", "name": ""}, "name = ''"),
    ],
)
def test_route_validation_names_the_key(
    kwargs: dict[str, object], message: str
) -> None:
    """Invalid routes raise ValueError starting with the offending key."""
    values: dict[str, object] = {"name": "r", "target": "trunk:mcu", **kwargs}
    with pytest.raises(ValueError, match="^" + message.split(" ")[0]) as caught:
        Route(**values)  # type: ignore[arg-type]
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("routes", "trunks", "message"),
    [
        (
            (Route(name="r", match_prefix="1", target="trunk:nope"),),
            TRUNKS,
            "routes[0].target = 'trunk:nope': no trunk of that name",
        ),
        (
            (
                Route(name="r", match_prefix="1", target="test"),
                Route(
                    name="s",
                    match_prefix="2",
                    target="test",
                    allowed_sources=("trunk:gone",),
                ),
            ),
            TRUNKS,
            "routes[1].allowed_sources: 'trunk:gone' names no configured trunk",
        ),
        (
            (
                Route(name="r", match_prefix="1", target="test"),
                Route(name="r", match_prefix="2", target="test"),
            ),
            (),
            "routes[1].name = 'r': already used by routes[0]",
        ),
        ((), (MCU, MCU), "trunks[1].name = 'mcu': already used by trunks[0]"),
    ],
)
def test_cross_checks(
    routes: tuple[Route, ...], trunks: tuple[Trunk, ...], message: str
) -> None:
    """References to unknown trunks and duplicate names are refused with an index."""
    with pytest.raises(ValueError) as caught:
        check_routes(routes, trunks)
    assert message in str(caught.value)
    with pytest.raises(ValueError):
        Router(routes, trunks)


def test_source_strings() -> None:
    """Sources print as they are written in allowed_sources."""
    assert str(Source.site("xa-a")) == "site:xa-a"
    assert str(Source.trunk("national")) == "trunk:national"
    route = Route(name="r", match_prefix="1", target="test")
    assert route.sources == ("sites",)
    assert route.target_name is None


def test_h323_trunks_are_routed() -> None:
    """A route to an H.323 trunk gives a trunk decision like a SIP one."""
    decision = router().route("6601", "gw", Source.site("xa-a"))
    assert decision.kind is TargetKind.TRUNK
    assert decision.trunk is not None and decision.trunk.protocol == "h323"
