"""Trunk config validation, OPTIONS health under a fake clock, and failover rules."""

from __future__ import annotations

import pytest

from gateway.b2bua.trunks import (
    AddressState,
    FailoverPlan,
    SendOptions,
    Trunk,
    TrunkAddress,
    TrunkAddressDown,
    TrunkAddressUp,
    TrunkHealth,
)

A = TrunkAddress("10.0.0.1", 5060)
B = TrunkAddress("10.0.0.2", 5060)
C = TrunkAddress("::1", 5060)


def trunk(**kwargs: object) -> Trunk:
    values: dict[str, object] = {
        "name": "mcu",
        "addresses": (A, B),
        "options_interval_s": 10.0,
        "dead_after_failures": 2,
        **kwargs,
    }
    return Trunk(**values)  # type: ignore[arg-type]


def test_address_prints_like_config() -> None:
    """IPv6 hosts are bracketed."""
    assert str(A) == "10.0.0.1:5060"
    assert str(C) == "[::1]:5060"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "bad name"}, "name = 'bad name'"),
        ({"addresses": ()}, "addresses: give at least one"),
        ({"addresses": (A, A)}, "addresses: an address is listed twice"),
        ({"protocol": "iax"}, "protocol = 'iax': must be one of 'sip', 'h323'"),
        ({"transport": "sctp"}, "transport = 'sctp'"),
        ({"srtp": "maybe"}, "srtp = 'maybe'"),
        ({"options_interval_s": 0.5}, "options_interval_s"),
        ({"dead_after_failures": 0}, "dead_after_failures"),
        ({"failover_timeout_s": 60.0}, "failover_timeout_s"),
        ({"max_calls": -1}, "max_calls"),
        ({"fast_start": False}, "fast_start, h245_tunnelling: only for H.323"),
        ({"h245_tunnelling": False}, "fast_start, h245_tunnelling: only for"),
    ],
)
def test_trunk_validation_names_the_key(
    kwargs: dict[str, object], message: str
) -> None:
    """Each invalid setting raises ValueError starting with its key."""
    with pytest.raises(ValueError) as caught:
        trunk(**kwargs)
    assert str(caught.value).startswith(message)


def test_h323_is_accepted_in_config() -> None:
    """protocol 'h323' is valid config, with Fast Start and tunnelling by default."""
    h323 = trunk(protocol="h323")
    assert h323.protocol == "h323" and h323.fast_start and h323.h245_tunnelling
    slow = trunk(protocol="h323", fast_start=False, h245_tunnelling=False)
    assert not slow.fast_start and not slow.h245_tunnelling


def test_first_probes_go_out_at_start_then_each_interval() -> None:
    """Every address is probed at construction time, then once per interval."""
    health = TrunkHealth(trunk(), now=100.0)
    assert health.next_deadline() == 100.0
    assert health.handle_timeout(100.0) == [
        SendOptions(trunk="mcu", address=A),
        SendOptions(trunk="mcu", address=B),
    ]
    assert health.next_deadline() == 110.0
    assert health.handle_timeout(105.0) == []
    health.receive_options_result(A, True, 100.1)
    health.receive_options_result(B, True, 100.1)
    assert len(health.handle_timeout(110.0)) == 2
    assert health.next_deadline() == 120.0


def test_late_timer_does_not_drift_or_burst() -> None:
    """A timer run late sends one probe per address and keeps the schedule."""
    health = TrunkHealth(trunk(), now=0.0)
    health.handle_timeout(0.0)
    health.receive_options_result(A, True, 0.1)
    health.receive_options_result(B, True, 0.1)
    assert len(health.handle_timeout(35.0)) == 2
    assert health.next_deadline() == 40.0


def test_dead_after_n_failures_and_alive_after_one_success() -> None:
    """N failures in a row take an address out; one success brings it back."""
    health = TrunkHealth(trunk(), now=0.0)
    health.handle_timeout(0.0)
    health.receive_options_result(A, False, 1.0)
    health.receive_options_result(B, True, 1.0)
    assert health.state(A) is AddressState.ALIVE
    assert health.pop_events() == []
    health.handle_timeout(10.0)
    health.receive_options_result(A, False, 11.0)
    health.receive_options_result(B, True, 11.0)
    assert health.state(A) is AddressState.DEAD
    assert health.pop_events() == [TrunkAddressDown(trunk="mcu", address=A, failures=2)]
    assert health.candidates(11.0) == [B]
    health.handle_timeout(20.0)
    health.receive_options_result(A, False, 21.0)
    health.receive_options_result(B, True, 21.0)
    assert health.pop_events() == []  # Already dead: no repeated event.
    health.receive_options_result(A, True, 22.0)
    assert health.state(A) is AddressState.ALIVE
    assert health.pop_events() == [TrunkAddressUp(trunk="mcu", address=A)]
    assert health.candidates(22.0) == [A, B]


def test_a_success_resets_the_failure_count() -> None:
    """Failures must be consecutive to kill an address."""
    health = TrunkHealth(trunk(), now=0.0)
    health.receive_options_result(A, False, 1.0)
    health.receive_options_result(A, True, 2.0)
    health.receive_options_result(A, False, 3.0)
    assert health.state(A) is AddressState.ALIVE


def test_unanswered_probe_counts_as_failure() -> None:
    """A probe still pending when the next is due counts as failed."""
    health = TrunkHealth(trunk(), now=0.0)
    health.handle_timeout(0.0)
    health.receive_options_result(B, True, 0.5)
    health.handle_timeout(10.0)  # A's first probe never answered: failure 1.
    health.receive_options_result(B, True, 10.5)
    health.handle_timeout(20.0)  # A's second probe never answered: failure 2.
    assert health.state(A) is AddressState.DEAD
    assert health.state(B) is AddressState.ALIVE
    assert health.candidates(20.0) == [B]


def test_all_dead_gives_all_candidates_in_order() -> None:
    """When every address is dead, all are tried anyway, in configured order."""
    health = TrunkHealth(trunk(dead_after_failures=1), now=0.0)
    health.receive_options_result(B, False, 1.0)
    health.receive_options_result(A, False, 1.0)
    assert health.state(A) is health.state(B) is AddressState.DEAD
    assert health.candidates(1.0) == [A, B]


def test_checks_off_sends_nothing() -> None:
    """options_interval_s = 0 means no deadline and no probes."""
    health = TrunkHealth(trunk(options_interval_s=0), now=0.0)
    assert health.next_deadline() is None
    assert health.handle_timeout(1000.0) == []
    assert health.candidates(1000.0) == [A, B]


def test_unknown_address_is_a_bug() -> None:
    """Reporting a result for another trunk's address raises KeyError."""
    health = TrunkHealth(trunk(), now=0.0)
    with pytest.raises(KeyError):
        health.receive_options_result(C, True, 0.0)


@pytest.mark.parametrize(
    ("statuses", "expected_next", "exhausted"),
    [
        ([None], [B], None),
        ([503], [B], None),
        ([500, None], [B, C], None),
        ([None, None, None], [B, C, None], 408),
        ([None, 502, 503], [B, C, None], 500),
        ([None, 504, 502], [B, C, None], 502),
        ([404], [None], 404),
        ([486], [None], 486),
        ([603], [None], 603),
        ([302], [None], 302),
        ([None, 480], [B, None], 480),
    ],
)
def test_failover_rules(
    statuses: list[int | None],
    expected_next: list[TrunkAddress | None],
    exhausted: int | None,
) -> None:
    """Timeouts and 5xx move to the next address; 3xx/4xx/6xx end the plan."""
    plan = FailoverPlan([A, B, C])
    assert plan.first() == A and plan.current == A
    got = [plan.next_after(s) for s in statuses]
    assert got == expected_next
    assert plan.attempts == tuple(statuses)
    if exhausted is not None:
        assert plan.exhausted_status() == exhausted


@pytest.mark.parametrize("status", [100, 180, 200, 700])
def test_failover_refuses_non_failures(status: int) -> None:
    """Provisional and success responses are not failures: ValueError."""
    with pytest.raises(ValueError):
        FailoverPlan([A]).next_after(status)


def test_failover_needs_an_address() -> None:
    """An empty candidate list is refused."""
    with pytest.raises(ValueError):
        FailoverPlan([])


def test_failover_with_health_skips_dead_address() -> None:
    """A plan built from health candidates never tries a dead address first."""
    health = TrunkHealth(trunk(dead_after_failures=1), now=0.0)
    health.receive_options_result(A, False, 1.0)
    plan = FailoverPlan(health.candidates(1.0))
    assert plan.first() == B
    assert plan.next_after(None) is None
    assert plan.exhausted_status() == 408


GK = TrunkAddress("10.0.0.9", 1719)


def gatekeeper_trunk(**kwargs: object) -> Trunk:
    values: dict[str, object] = {
        "name": "mcu-gk",
        "protocol": "h323",
        "transport": "tcp",
        "addresses": (),
        "gatekeeper": GK,
        **kwargs,
    }
    return Trunk(**values)  # type: ignore[arg-type]


def test_gatekeeper_trunk_defaults_and_no_addresses() -> None:
    """An H.323 trunk with a gatekeeper needs no address; RAS keys default."""
    gk = gatekeeper_trunk()
    assert gk.addresses == () and gk.gatekeeper == GK
    assert (gk.h323_id, gk.gatekeeper_id, gk.prefixes) == ("vcgw", "", ())
    assert (gk.ras_ttl_s, gk.ras_retry_s) == (300, 30.0)
    assert trunk().gatekeeper is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gatekeeper": None}, "addresses: give at least one HOST:PORT (or, on an"),
        ({"protocol": "sip"}, "gatekeeper: only an H.323 trunk (protocol = 'h323')"),
        (
            {"gatekeeper": TrunkAddress("gk.example", 1719)},
            "gatekeeper = 'gk.example:1719': the host must be an IP address",
        ),
        ({"h323_id": ""}, "h323_id = '': must be 1-256 characters"),
        ({"h323_id": "x" * 257}, "h323_id = "),
        ({"gatekeeper_id": "g" * 129}, "gatekeeper_id: at most 128 characters"),
        ({"prefixes": ("84", "8a")}, "prefixes: '8a' is not dialled digits"),
        ({"prefixes": ("",)}, "prefixes: '' is not dialled digits"),
        ({"prefixes": ("84", "84")}, "prefixes: a prefix is listed twice"),
        ({"ras_ttl_s": 0}, "ras_ttl_s: must be 1-86400"),
        ({"ras_retry_s": 0.5}, "ras_retry_s: must be 1-600"),
        ({"ras_retry_s": 601.0}, "ras_retry_s: must be 1-600"),
    ],
)
def test_gatekeeper_validation_names_the_key(
    kwargs: dict[str, object], message: str
) -> None:
    """Each invalid gatekeeper setting raises ValueError starting with its key."""
    with pytest.raises(ValueError) as caught:
        gatekeeper_trunk(**kwargs)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prefixes": ("84",)}, "prefixes: only a trunk with a gatekeeper"),
        ({"gatekeeper_id": "GK"}, "gatekeeper_id: only a trunk with a gatekeeper"),
    ],
)
def test_ras_keys_need_a_gatekeeper(kwargs: dict[str, object], message: str) -> None:
    """Prefixes and a gatekeeper id without a gatekeeper are refused."""
    with pytest.raises(ValueError) as caught:
        trunk(protocol="h323", **kwargs)
    assert str(caught.value).startswith(message)


def test_gatekeeper_trunk_without_addresses_has_one_candidate() -> None:
    """The gatekeeper stands for the one attempt; its ACF names the address."""
    health = TrunkHealth(gatekeeper_trunk(), now=0.0)
    assert health.candidates(0.0) == [GK]
    assert health.next_deadline() is None
    assert health.handle_timeout(100.0) == []
    assert FailoverPlan(health.candidates(0.0)).first() == GK


def test_gatekeeper_trunk_with_addresses_keeps_them() -> None:
    """Configured addresses stay the candidates (hints for the ARQ)."""
    health = TrunkHealth(gatekeeper_trunk(addresses=(A,)), now=0.0)
    assert health.candidates(0.0) == [A]
