"""Session timers (RFC 4028): header grammar, UAS/UAC negotiation, per-leg timer."""

from __future__ import annotations

import pytest

from gateway.b2bua.session_timer import (
    NegotiatedTimer,
    Refresher,
    SendRefresh,
    SessionExpired,
    SessionExpires,
    SessionTimer,
    SessionTimerPolicy,
    TimerHeaders,
    TimerState,
    UacTimerRequest,
    format_min_se,
    format_session_expires,
    parse_min_se,
    parse_session_expires,
    supports_timer,
    uac_negotiated,
    uas_negotiate,
)
from gateway.errors import ConfigError
from gateway.sip.errors import LocalSipError, RemoteSipError
from gateway.sip.message import Headers

POLICY = SessionTimerPolicy()


def state_of(timer: SessionTimer) -> TimerState:
    """The state, read through a call so mypy does not narrow it for good."""
    return timer.state


# -- grammar ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1800", SessionExpires(delta_s=1800)),
        ("1800;refresher=uac", SessionExpires(delta_s=1800, refresher=Refresher.UAC)),
        (
            " 600 ; refresher = UAS ",
            SessionExpires(delta_s=600, refresher=Refresher.UAS),
        ),
        (
            "600;foo=bar;refresher=uas",
            SessionExpires(delta_s=600, refresher=Refresher.UAS),
        ),
        ("600;refresher=proxy", SessionExpires(delta_s=600)),
        ("600;x-flag", SessionExpires(delta_s=600)),
    ],
)
def test_session_expires_parses(raw: str, expected: SessionExpires) -> None:
    """§4: delta-seconds, case-insensitive refresher, generic params ignored."""
    assert parse_session_expires(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "abc", "-5", "1.5", "12345678901", "4294967296", "١٢"]
)
def test_session_expires_rejects_bad_delta(raw: str) -> None:
    """A delta that is not 1..10 ASCII digits within 2**32-1 is a 400."""
    with pytest.raises(RemoteSipError) as caught:
        parse_session_expires(raw + ";refresher=uac")
    assert caught.value.status == 400


def test_session_expires_round_trips() -> None:
    """Formatting writes the refresher only when there is one."""
    for value in (
        SessionExpires(delta_s=90),
        SessionExpires(delta_s=1800, refresher=Refresher.UAC),
        SessionExpires(delta_s=4294967295, refresher=Refresher.UAS),
    ):
        assert parse_session_expires(format_session_expires(value)) == value
    assert format_session_expires(SessionExpires(delta_s=90)) == "90"
    assert format_session_expires(
        SessionExpires(delta_s=120, refresher=Refresher.UAS)
    ) == ("120;refresher=uas")


def test_min_se_parses_and_formats() -> None:
    """§5: delta-seconds with generic params; malformed is a 400."""
    assert parse_min_se("90") == 90
    assert parse_min_se(" 300;lr") == 300
    assert parse_min_se(format_min_se(1200)) == 1200
    with pytest.raises(RemoteSipError):
        parse_min_se("ninety")


def test_timer_option_tag_is_found_in_lists() -> None:
    """The 'timer' tag is matched per list element, case-insensitively."""
    assert supports_timer(["100rel, Timer"])
    assert supports_timer(["replaces", "timer"])
    assert not supports_timer(["timers, 100rel"])
    assert not supports_timer([])


def test_timer_headers_read_compact_forms() -> None:
    """Session-Expires 'x' and Supported 'k' compact forms are read (RFC 4028 §4)."""
    headers = Headers(
        [
            ("x", "600;refresher=uac"),
            ("Min-SE", "120"),
            ("k", "replaces"),
            ("Require", "timer"),
        ]
    )
    read = TimerHeaders.from_headers(headers)
    assert read.parsed_session_expires() == SessionExpires(
        delta_s=600, refresher=Refresher.UAC
    )
    assert read.parsed_min_se() == 120
    assert read.has_timer
    empty = TimerHeaders.from_headers(Headers())
    assert empty.parsed_session_expires() is None
    assert empty.parsed_min_se() is None
    assert not empty.has_timer


# -- policy -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("session_expires_s", "min_se_s"),
    [(1800, 89), (89, 90), (100, 120), (2**32, 90)],
)
def test_policy_rejects_bad_values(session_expires_s: int, min_se_s: int) -> None:
    """Min-SE is at least 90 s (§5) and the interval at least Min-SE."""
    with pytest.raises(ConfigError):
        SessionTimerPolicy(session_expires_s=session_expires_s, min_se_s=min_se_s)


def test_policy_defaults() -> None:
    """Defaults are the RFC 4028 §4 recommendation and the §5 floor."""
    assert (POLICY.session_expires_s, POLICY.min_se_s) == (1800, 90)


# -- UAS (§9) -----------------------------------------------------------------


def request(
    session_expires: str | None = None,
    min_se: str | None = None,
    supported: str | None = "timer",
) -> TimerHeaders:
    tags = () if supported is None else (supported,)
    return TimerHeaders(
        session_expires=session_expires, min_se=min_se, option_tags=tags
    )


def test_uas_refuses_too_short_interval_with_422() -> None:
    """§9/§6: Session-Expires below our Min-SE gets 422 with our Min-SE."""
    policy = SessionTimerPolicy(min_se_s=300)
    answer = uas_negotiate(request("200"), policy)
    assert answer.reject_status == 422
    assert answer.headers == (("Min-SE", "300"),)
    assert answer.timer is None


def test_uas_raises_short_interval_of_a_uac_without_timer_support() -> None:
    """A UAC without 'timer' cannot read a 422: we raise to our Min-SE, refresh."""
    policy = SessionTimerPolicy(min_se_s=300)
    answer = uas_negotiate(request("200", supported=None), policy)
    assert answer.reject_status is None
    assert answer.headers == (("Session-Expires", "300;refresher=uas"),)
    assert answer.timer == NegotiatedTimer(
        interval_s=300, we_refresh=True, min_se_s=300
    )


@pytest.mark.parametrize(
    ("session_expires", "supported", "header", "we_refresh"),
    [
        # The UAC's choice is kept (§9).
        ("600;refresher=uac", "timer", "600;refresher=uac", False),
        ("600;refresher=uas", "timer", "600;refresher=uas", True),
        # A capable UAC that did not choose refreshes itself.
        ("600", "timer", "600;refresher=uac", False),
        # Without timer support the UAS must refresh (§9).
        ("600", None, "600;refresher=uas", True),
        ("600;refresher=uac", None, "600;refresher=uas", True),
        # Too long an interval is lowered to ours (§9: the UAS may reduce it).
        ("7200", "timer", "1800;refresher=uac", False),
    ],
)
def test_uas_refresher_choice(
    session_expires: str, supported: str | None, header: str, we_refresh: bool
) -> None:
    """§9: who refreshes, and the Session-Expires the 2xx carries."""
    answer = uas_negotiate(request(session_expires, supported=supported), POLICY)
    assert answer.reject_status is None
    assert answer.headers[0] == ("Session-Expires", header)
    has_require = ("Require", "timer") in answer.headers
    assert has_require is (supported is not None)
    assert answer.timer is not None
    assert answer.timer.we_refresh is we_refresh
    assert answer.timer.interval_s == int(header.split(";")[0])


def test_uas_asks_for_a_timer_when_the_request_has_none() -> None:
    """§9: a capable UAC without Session-Expires gets ours, at least its Min-SE."""
    answer = uas_negotiate(request(min_se="2400"), POLICY)
    assert answer.headers == (
        ("Session-Expires", "2400;refresher=uac"),
        ("Require", "timer"),
    )
    plain = uas_negotiate(request(), POLICY)
    assert plain.headers[0] == ("Session-Expires", "1800;refresher=uac")


def test_uas_keeps_request_min_se_when_lowering() -> None:
    """§9: lowering stops at the request's Min-SE."""
    answer = uas_negotiate(request("7200", min_se="3600"), POLICY)
    assert answer.timer is not None
    assert answer.timer.interval_s == 3600
    assert answer.timer.min_se_s == 3600


def test_uas_timer_for_unsupported_peer_is_optional() -> None:
    """With refresh_unsupported_peers off, a UAC without 'timer' gets no timer."""
    policy = SessionTimerPolicy(refresh_unsupported_peers=False)
    answer = uas_negotiate(request(supported=None), policy)
    assert answer == type(answer)()
    answer = uas_negotiate(request("600", supported=None), policy)
    assert answer.timer is None and answer.headers == ()
    assert uas_negotiate(request(supported=None), POLICY).timer == NegotiatedTimer(
        interval_s=1800, we_refresh=True
    )


def test_uas_malformed_header_is_400() -> None:
    """A malformed Session-Expires or Min-SE is the peer's fault (400)."""
    for headers in (request("soon"), request("600", min_se="x")):
        with pytest.raises(RemoteSipError) as caught:
            uas_negotiate(headers, POLICY)
        assert caught.value.status == 400


# -- UAC (§7) -----------------------------------------------------------------


def test_uac_initial_request_headers() -> None:
    """§7.1: Supported: timer, our Session-Expires without refresher, Min-SE."""
    sent = UacTimerRequest.initial(SessionTimerPolicy(session_expires_s=900))
    assert sent.headers() == (
        ("Supported", "timer"),
        ("Session-Expires", "900"),
        ("Min-SE", "90"),
    )


def test_uac_retries_after_422_once() -> None:
    """§7.3: retry with the 422's Min-SE and an interval at least as big; once."""
    sent = UacTimerRequest.initial(SessionTimerPolicy(session_expires_s=300))
    retry = sent.after_422(TimerHeaders(min_se="600"))
    assert retry is not None
    assert retry.headers() == (
        ("Supported", "timer"),
        ("Session-Expires", "600"),
        ("Min-SE", "600"),
    )
    assert retry.after_422(TimerHeaders(min_se="1200")) is None
    # A bigger interval than the demand is kept.
    big = UacTimerRequest.initial(POLICY).after_422(TimerHeaders(min_se="600"))
    assert big is not None and big.interval_s == 1800


def test_uac_gives_up_on_useless_422() -> None:
    """A 422 without Min-SE, or one that does not raise it, is not retried."""
    sent = UacTimerRequest.initial(SessionTimerPolicy(min_se_s=300))
    assert sent.after_422(TimerHeaders()) is None
    assert sent.after_422(TimerHeaders(min_se="300")) is None
    with pytest.raises(RemoteSipError):
        sent.after_422(TimerHeaders(min_se="many"))


@pytest.mark.parametrize(
    ("session_expires", "interval_s", "we_refresh"),
    [
        ("1200;refresher=uac", 1200, True),
        ("1200;refresher=uas", 1200, False),
        # §9 says the UAS must choose; if it did not, we refresh (the safe side).
        ("1200", 1200, True),
        # Below the §4 floor: the floor is enforced.
        ("30;refresher=uas", 90, False),
    ],
)
def test_uac_reads_the_2xx(
    session_expires: str, interval_s: int, we_refresh: bool
) -> None:
    """§7.2: the 2xx's Session-Expires gives the interval and the refresher."""
    sent = UacTimerRequest.initial(POLICY)
    timer = uac_negotiated(sent, TimerHeaders(session_expires=session_expires), POLICY)
    assert timer is not None
    assert (timer.interval_s, timer.we_refresh) == (interval_s, we_refresh)


def test_uac_2xx_without_session_expires() -> None:
    """§7.2: no Session-Expires means no peer timer; we refresh only if configured."""
    sent = UacTimerRequest.initial(SessionTimerPolicy(session_expires_s=600))
    local = uac_negotiated(sent, TimerHeaders(), POLICY)
    assert local == NegotiatedTimer(interval_s=600, we_refresh=True, min_se_s=90)
    off = SessionTimerPolicy(refresh_unsupported_peers=False)
    assert uac_negotiated(sent, TimerHeaders(), off) is None


def test_uac_and_uas_agree_end_to_end() -> None:
    """Our UAC request read by our UAS: both sides agree on one refresher."""
    policy = SessionTimerPolicy(session_expires_s=600)
    sent = UacTimerRequest.initial(policy)
    uas = uas_negotiate(
        TimerHeaders.from_headers(Headers(list(sent.headers()))), policy
    )
    assert uas.timer is not None
    uac = uac_negotiated(
        sent, TimerHeaders.from_headers(Headers(list(uas.headers))), policy
    )
    assert uac is not None
    assert uac.interval_s == uas.timer.interval_s == 600
    assert uac.we_refresh is not uas.timer.we_refresh


def test_refresh_request_names_us_refresher() -> None:
    """§7.4: our refresh says refresher=uac and carries the Min-SE in force."""
    timer = NegotiatedTimer(interval_s=600, we_refresh=True, min_se_s=300)
    assert UacTimerRequest.refresh(timer).headers() == (
        ("Supported", "timer"),
        ("Session-Expires", "600;refresher=uac"),
        ("Min-SE", "300"),
    )


# -- the state machine (§10) --------------------------------------------------


def test_refresher_sends_refresh_at_half_interval() -> None:
    """§10: as refresher we send a refresh once half the interval has elapsed."""
    timer = SessionTimer()
    assert timer.next_deadline() is None
    timer.start(100.0, 1800, True)
    assert state_of(timer) is TimerState.REFRESH_DUE
    assert timer.next_deadline() == 1000.0
    timer.handle_timeout(999.9)
    assert timer.pop_commands() == []
    timer.handle_timeout(1000.0)
    (command,) = timer.pop_commands()
    assert isinstance(command, SendRefresh)
    assert command.request.headers()[1] == ("Session-Expires", "1800;refresher=uac")
    assert state_of(timer) is TimerState.REFRESHING
    assert timer.next_deadline() == 1900.0  # Expiry, if no answer comes.


def test_refresh_answered_restarts_interval() -> None:
    """A 2xx to our refresh restarts the interval from now (§10)."""
    timer = SessionTimer()
    timer.start(0.0, 600, True)
    timer.handle_timeout(300.0)
    timer.pop_commands()
    timer.refreshed(301.0)
    assert state_of(timer) is TimerState.REFRESH_DUE
    assert timer.next_deadline() == 601.0
    assert timer.pop_commands() == []


def test_unanswered_refresh_expires_session() -> None:
    """No answer to our refresh before expiry: the session is dead."""
    timer = SessionTimer()
    timer.start(0.0, 600, True)
    timer.handle_timeout(300.0)
    timer.pop_commands()
    timer.handle_timeout(600.0)
    assert timer.pop_commands() == [
        SessionExpired(reason="refresh not answered in time")
    ]
    assert timer.is_terminated and timer.next_deadline() is None


@pytest.mark.parametrize("status", [408, 481, None])
def test_fatal_refresh_failure_expires_at_once(status: int | None) -> None:
    """§10: 408, 481 or a transaction timeout on the refresh ends the session."""
    timer = SessionTimer()
    timer.start(0.0, 600, True)
    timer.handle_timeout(300.0)
    timer.pop_commands()
    timer.refresh_failed(310.0, status=status)
    assert timer.pop_commands() == [SessionExpired(reason="refresh failed")]
    assert timer.is_terminated


def test_other_refresh_failure_retries_before_expiry() -> None:
    """A 491 or 5xx keeps the session; we retry halfway to expiry."""
    timer = SessionTimer()
    timer.start(0.0, 600, True)
    timer.handle_timeout(300.0)
    timer.pop_commands()
    timer.refresh_failed(400.0, status=491)
    assert state_of(timer) is TimerState.REFRESH_DUE
    assert timer.next_deadline() == 500.0
    timer.handle_timeout(500.0)
    assert isinstance(timer.pop_commands()[0], SendRefresh)
    assert timer.next_deadline() == 600.0
    timer.handle_timeout(600.0)
    assert timer.pop_commands() == [
        SessionExpired(reason="refresh not answered in time")
    ]


@pytest.mark.parametrize(
    ("interval_s", "deadline"),
    [(1800, 1768.0), (90, 60.0), (96, 64.0), (97, 65.0), (3600, 3568.0)],
)
def test_watcher_expires_before_interval(interval_s: int, deadline: float) -> None:
    """§10: the non-refresher gives up at interval - min(32, interval/3)."""
    timer = SessionTimer()
    timer.start(0.0, interval_s, False)
    assert state_of(timer) is TimerState.WATCHING
    assert timer.next_deadline() == pytest.approx(deadline)
    timer.handle_timeout(deadline - 0.001)
    assert timer.pop_commands() == []
    timer.handle_timeout(deadline)
    assert timer.pop_commands() == [SessionExpired(reason="peer did not refresh")]


def test_peer_refresh_postpones_expiry() -> None:
    """A refresh from the peer restarts the watch (§10)."""
    timer = SessionTimer()
    timer.start(0.0, 90, False)
    timer.refreshed(50.0)
    assert timer.next_deadline() == 110.0
    timer.handle_timeout(100.0)
    assert timer.pop_commands() == []


def test_refresh_may_move_the_refresher_role() -> None:
    """§7.4: a refresh renegotiates; the role and interval can change."""
    timer = SessionTimer()
    timer.start(0.0, 1800, False)
    timer.refreshed(10.0, interval_s=600, we_refresh=True)
    assert state_of(timer) is TimerState.REFRESH_DUE
    assert timer.next_deadline() == 310.0
    assert timer.negotiated == NegotiatedTimer(interval_s=600, we_refresh=True)
    timer.handle_timeout(310.0)
    timer.pop_commands()
    timer.refreshed(311.0, we_refresh=False)
    assert state_of(timer) is TimerState.WATCHING
    assert timer.next_deadline() == 311.0 + 600 - 32


def test_start_negotiated_uses_negotiation_result() -> None:
    """The UAS decision starts the timer with its interval and role."""
    answer = uas_negotiate(request("600;refresher=uas"), POLICY)
    assert answer.timer is not None
    timer = SessionTimer()
    timer.start_negotiated(0.0, answer.timer)
    assert state_of(timer) is TimerState.REFRESH_DUE
    assert timer.next_deadline() == 300.0


def test_stop_silences_the_timer() -> None:
    """After stop no deadline remains and timeouts do nothing."""
    for we_refresh in (True, False):
        timer = SessionTimer()
        timer.start(0.0, 600, we_refresh)
        timer.stop(1.0)
        assert timer.is_terminated and timer.next_deadline() is None
        timer.handle_timeout(10_000.0)
        assert timer.pop_commands() == []
        timer.stop(2.0)  # Idempotent.
    idle = SessionTimer()
    idle.stop(0.0)
    assert idle.is_terminated


def test_misuse_raises_and_terminates() -> None:
    """Inputs with no table row are caller bugs: LocalSipError, TERMINATED."""
    fresh = SessionTimer()
    with pytest.raises(LocalSipError):
        fresh.refreshed(0.0)
    assert fresh.is_terminated
    watching = SessionTimer()
    watching.start(0.0, 600, False)
    with pytest.raises(LocalSipError):
        watching.refresh_failed(1.0, status=408)
    assert watching.is_terminated
    expired = SessionTimer()
    expired.start(0.0, 90, False)
    expired.handle_timeout(1000.0)
    with pytest.raises(LocalSipError):
        expired.start(1001.0, 90, False)
    with pytest.raises(LocalSipError):
        SessionTimer().start(0.0, 0, True)


def test_timeout_before_start_does_nothing() -> None:
    """An idle timer has no deadline and ignores handle_timeout."""
    timer = SessionTimer()
    timer.handle_timeout(1e9)
    assert state_of(timer) is TimerState.IDLE
    assert timer.pop_commands() == []


def test_peer_refresh_while_we_are_refresher_postpones_ours() -> None:
    """A refresh from the peer before our half-time restarts our wait (§10)."""
    timer = SessionTimer()
    timer.start(0.0, 600, True)
    timer.refreshed(100.0)
    assert state_of(timer) is TimerState.REFRESH_DUE
    assert timer.next_deadline() == 400.0
    timer.handle_timeout(300.0)
    assert timer.pop_commands() == []
    timer.refreshed(200.0, we_refresh=False)
    assert state_of(timer) is TimerState.WATCHING
    assert timer.next_deadline() == 768.0
