"""SIP session timers (RFC 4028): clear a call whose peer died silently.

A dialog can outlive its peer: a room system loses power, a NAT binding
expires, and no BYE ever comes, so the relay ports and the call record stay
busy. RFC 4028 makes a session expire unless one side (the *refresher*)
re-INVITEs or UPDATEs it every half interval. The gateway runs one timer per
leg, since each leg is its own dialog with its own negotiation.

This module is sans-IO, in three parts:

* header grammar: ``Session-Expires`` (§4), ``Min-SE`` (§5) and the
  ``timer`` option tag in ``Supported``/``Require`` (§3);
* negotiation: what a UAS answers to an INVITE/UPDATE (§9, ``uas_negotiate``)
  and what a UAC asks, how it reacts to 422 and reads the 2xx (§7,
  ``UacTimerRequest``, ``uac_negotiated``);
* ``SessionTimer``, a per-leg state machine that says when to send a refresh
  (``SendRefresh``, at half the interval, §10) or when the peer failed to
  refresh (``SessionExpired``, at interval - min(32, interval/3), §10).

``refresher=uac``/``uas`` always names the roles in the transaction that
carries the header (§7.4, §9), not who set up the dialog, so each function
here works on one request and its response and turns the token into "do we
refresh". Malformed headers from a peer raise ``RemoteSipError`` (400).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from gateway.errors import ConfigError
from gateway.sip.errors import LocalSipError, RemoteSipError
from gateway.sip.message import Headers, split_header_list

__all__ = [
    "ABSOLUTE_MIN_SE_S",
    "NegotiatedTimer",
    "Refresher",
    "SendRefresh",
    "SessionExpired",
    "SessionExpires",
    "SessionTimer",
    "SessionTimerPolicy",
    "TimerCommand",
    "TimerHeaders",
    "TimerState",
    "UacTimerRequest",
    "UasTimerAnswer",
    "format_min_se",
    "format_session_expires",
    "parse_min_se",
    "parse_session_expires",
    "supports_timer",
    "uac_negotiated",
    "uas_negotiate",
]

ABSOLUTE_MIN_SE_S = 90
"""RFC 4028 §4/§5: no Session-Expires or Min-SE may be below 90 seconds."""

# delta-seconds is 1*DIGIT (RFC 3261 §25.1); ten digits already exceed any
# sane interval, and the cap keeps int() cheap on hostile input.
_MAX_DELTA_DIGITS = 10
_MAX_DELTA_S = 2**32 - 1
# §10: the non-refresher gives up this long (at most) before expiry.
_EXPIRY_MARGIN_S = 32.0
_TIMER_TAG = "timer"


class Refresher(Enum):
    """Who refreshes, named by role in the carrying transaction (RFC 4028 §4)."""

    UAC = "uac"
    UAS = "uas"


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionExpires:
    """A Session-Expires value (RFC 4028 §4): interval and optional refresher."""

    delta_s: int
    refresher: Refresher | None = None


def _delta_seconds(text: str, what: str) -> int:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > _MAX_DELTA_DIGITS:
        raise RemoteSipError(f"{what}: {text!r} is not delta-seconds")
    value = int(text)
    if value > _MAX_DELTA_S:
        raise RemoteSipError(f"{what}: {value} exceeds 2**32-1")
    return value


def parse_session_expires(value: str) -> SessionExpires:
    """Parse ``delta-seconds *(;se-params)`` (RFC 4028 §4 grammar).

    ``refresher`` is read case-insensitively; an unknown refresher value or
    other generic parameters are ignored (§4 allows generic-param). Raises
    ``RemoteSipError`` (400) if the delta is missing or not digits.
    """
    head, *params = value.split(";")
    delta = _delta_seconds(head, "Session-Expires")
    refresher = None
    for param in params:
        name, _, raw = param.partition("=")
        if name.strip().lower() == "refresher":
            token = raw.strip().lower()
            refresher = Refresher(token) if token in ("uac", "uas") else None
    return SessionExpires(delta_s=delta, refresher=refresher)


def format_session_expires(value: SessionExpires) -> str:
    """The header value for ``value`` (RFC 4028 §4)."""
    if value.refresher is None:
        return str(value.delta_s)
    return f"{value.delta_s};refresher={value.refresher.value}"


def parse_min_se(value: str) -> int:
    """Parse ``delta-seconds *(;generic-param)`` (RFC 4028 §5) into seconds.

    Raises ``RemoteSipError`` (400) if malformed.
    """
    return _delta_seconds(value.split(";", 1)[0], "Min-SE")


def format_min_se(seconds: int) -> str:
    """The Min-SE header value (RFC 4028 §5)."""
    return str(seconds)


def supports_timer(option_tags: Iterable[str]) -> bool:
    """True if ``timer`` is among the option tags (RFC 4028 §3, §7.1).

    Pass the raw Supported and Require values; comma lists are split.
    """
    for raw in option_tags:
        if any(tag.strip().lower() == _TIMER_TAG for tag in split_header_list(raw)):
            return True
    return False


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionTimerPolicy:
    """Our session-timer configuration (one per gateway).

    ``session_expires_s`` is the interval we ask for and the most we accept
    (RFC 4028 §4 recommends 1800 s); ``min_se_s`` is the shortest we accept
    (at least 90 s, §5). ``refresh_unsupported_peers`` keeps a timer even
    when the peer does not support RFC 4028, with us as refresher (§7.2,
    §9): our refresh to a dead peer times out, which clears the call.
    Raises ``ConfigError`` if the values are out of range.
    """

    session_expires_s: int = 1800
    min_se_s: int = ABSOLUTE_MIN_SE_S
    refresh_unsupported_peers: bool = True

    def __post_init__(self) -> None:
        if not ABSOLUTE_MIN_SE_S <= self.min_se_s <= _MAX_DELTA_S:
            raise ConfigError(f"min_se_s must be {ABSOLUTE_MIN_SE_S}..2**32-1")
        if not self.min_se_s <= self.session_expires_s <= _MAX_DELTA_S:
            raise ConfigError("session_expires_s must be at least min_se_s")


@dataclass(frozen=True, slots=True, kw_only=True)
class TimerHeaders:
    """The timer-related header values of one message, raw."""

    session_expires: str | None = None
    min_se: str | None = None
    option_tags: tuple[str, ...] = ()  # Supported and Require values

    @classmethod
    def from_headers(cls, headers: Headers) -> TimerHeaders:
        """Read them from a parsed message (compact ``x`` and ``k`` included)."""
        return cls(
            session_expires=headers.get("Session-Expires"),
            min_se=headers.get("Min-SE"),
            option_tags=tuple(headers.get_all("Supported"))
            + tuple(headers.get_all("Require")),
        )

    @property
    def has_timer(self) -> bool:
        """True if the sender supports session timers (``timer`` tag)."""
        return supports_timer(self.option_tags)

    def parsed_session_expires(self) -> SessionExpires | None:
        """Session-Expires, parsed; None if absent. Raises RemoteSipError."""
        if self.session_expires is None:
            return None
        return parse_session_expires(self.session_expires)

    def parsed_min_se(self) -> int | None:
        """Min-SE in seconds; None if absent. Raises RemoteSipError."""
        return None if self.min_se is None else parse_min_se(self.min_se)


@dataclass(frozen=True, slots=True, kw_only=True)
class NegotiatedTimer:
    """The outcome for one leg: the interval and whether we refresh."""

    interval_s: int
    we_refresh: bool
    min_se_s: int = ABSOLUTE_MIN_SE_S  # To carry in our refreshes (§7.4).


@dataclass(frozen=True, slots=True, kw_only=True)
class UasTimerAnswer:
    """What a UAS replies about timers to an INVITE or UPDATE (RFC 4028 §9).

    ``reject_status`` is 422 when the request asked for too short an
    interval; ``headers`` then hold Min-SE for the 422 (§6). Otherwise they
    are to be added to the 2xx, and ``timer`` is what to ``start`` (None:
    no session timer on this leg).
    """

    reject_status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    timer: NegotiatedTimer | None = None


def _uas_interval(asked: int, request_min_se: int, policy: SessionTimerPolicy) -> int:
    # §9: the UAS may lower the interval but not below the request's Min-SE
    # (nor above what was asked, should a UAC send Min-SE > Session-Expires).
    interval = max(min(asked, policy.session_expires_s), min(request_min_se, asked))
    # Only reachable for a UAC without timer support (a capable one got 422).
    return max(interval, policy.min_se_s)


def uas_negotiate(request: TimerHeaders, policy: SessionTimerPolicy) -> UasTimerAnswer:
    """Decide the timer for a received INVITE/UPDATE (RFC 4028 §9).

    * Session-Expires below our Min-SE from a UAC that supports timers is
      refused with 422 carrying our Min-SE (§9, §6). A UAC without timer
      support would not understand a 422, so its interval is raised to our
      minimum instead (the rule §8.1 gives proxies).
    * The interval is the request's, lowered to our ``session_expires_s``
      but never below the request's Min-SE (§9). Without Session-Expires we
      ask for ours, at least the request's Min-SE (§9).
    * Refresher: the UAC's choice is kept (§9); a timer-capable UAC that did
      not choose gets ``uac``; a UAC without timer support cannot refresh,
      so we (the UAS) do (§9), if ``refresh_unsupported_peers``.
    * Require: timer goes with Session-Expires when the UAC supports timers,
      which §9 mandates for ``refresher=uac`` and recommends otherwise.

    Raises ``RemoteSipError`` (400) if a header is malformed.
    """
    asked = request.parsed_session_expires()
    request_min_se = request.parsed_min_se() or ABSOLUTE_MIN_SE_S
    capable = request.has_timer
    if asked is not None and asked.delta_s < policy.min_se_s and capable:
        return UasTimerAnswer(
            reject_status=422,
            headers=(("Min-SE", format_min_se(policy.min_se_s)),),
        )
    if not capable and not policy.refresh_unsupported_peers:
        return UasTimerAnswer()
    if asked is None:
        interval = max(policy.session_expires_s, request_min_se)
    else:
        interval = _uas_interval(asked.delta_s, request_min_se, policy)
    refresher = Refresher.UAS
    if capable:
        chosen = asked.refresher if asked is not None else None
        refresher = chosen or Refresher.UAC
    value = SessionExpires(delta_s=interval, refresher=refresher)
    headers = [("Session-Expires", format_session_expires(value))]
    if capable:
        headers.append(("Require", _TIMER_TAG))
    timer = NegotiatedTimer(
        interval_s=interval,
        we_refresh=refresher is Refresher.UAS,
        min_se_s=max(request_min_se, policy.min_se_s),
    )
    return UasTimerAnswer(headers=tuple(headers), timer=timer)


@dataclass(frozen=True, slots=True, kw_only=True)
class UacTimerRequest:
    """What we ask for as UAC in an INVITE/UPDATE (RFC 4028 §7.1, §7.4).

    ``refresher`` is None in an initial request (§7.1 recommends leaving
    the choice to the UAS) and ``UAC`` in our own refreshes (§7.4).
    """

    interval_s: int
    min_se_s: int = ABSOLUTE_MIN_SE_S
    refresher: Refresher | None = None
    retried_after_422: bool = False

    @classmethod
    def initial(cls, policy: SessionTimerPolicy) -> UacTimerRequest:
        """Our first INVITE on a leg: our interval and Min-SE (§7.1)."""
        return cls(interval_s=policy.session_expires_s, min_se_s=policy.min_se_s)

    @classmethod
    def refresh(cls, timer: NegotiatedTimer) -> UacTimerRequest:
        """A refresh we send as refresher: same interval, refresher=uac (§7.4)."""
        return cls(
            interval_s=timer.interval_s,
            min_se_s=timer.min_se_s,
            refresher=Refresher.UAC,
        )

    def headers(self) -> tuple[tuple[str, str], ...]:
        """Supported, Session-Expires and Min-SE for the request (§7.1)."""
        value = SessionExpires(delta_s=self.interval_s, refresher=self.refresher)
        return (
            ("Supported", _TIMER_TAG),
            ("Session-Expires", format_session_expires(value)),
            ("Min-SE", format_min_se(self.min_se_s)),
        )

    def after_422(self, response: TimerHeaders) -> UacTimerRequest | None:
        """The request to retry after a 422, or None to give up (§7.3).

        The retry carries the 422's Min-SE and an interval at least that
        large. We give up if the 422 lacks a usable Min-SE, does not raise
        it, or a retry already got a 422 (a loop otherwise).
        Raises ``RemoteSipError`` (400) if Min-SE is malformed.
        """
        demanded = response.parsed_min_se()
        if self.retried_after_422 or demanded is None or demanded <= self.min_se_s:
            return None
        return UacTimerRequest(
            interval_s=max(self.interval_s, demanded),
            min_se_s=demanded,
            refresher=self.refresher,
            retried_after_422=True,
        )


def uac_negotiated(
    sent: UacTimerRequest, response: TimerHeaders, policy: SessionTimerPolicy
) -> NegotiatedTimer | None:
    """Read the 2xx to our request: the timer to ``start``, or None (§7.2).

    With Session-Expires, its interval applies and ``refresher=uac`` means
    us; a 2xx that omits the refresher (a §9 violation) makes us refresh,
    the safe side. Without Session-Expires the peer has no timer (§7.2):
    we keep one as refresher with the interval we asked for only if
    ``refresh_unsupported_peers``. Raises ``RemoteSipError`` (400) if
    Session-Expires is malformed.
    """
    answered = response.parsed_session_expires()
    if answered is None:
        if not policy.refresh_unsupported_peers:
            return None
        return NegotiatedTimer(
            interval_s=sent.interval_s, we_refresh=True, min_se_s=sent.min_se_s
        )
    # An interval below the absolute minimum would refresh too often; §4
    # forbids it, so the floor is enforced rather than obeyed.
    interval = max(answered.delta_s, ABSOLUTE_MIN_SE_S)
    return NegotiatedTimer(
        interval_s=interval,
        we_refresh=answered.refresher is not Refresher.UAS,
        min_se_s=min(sent.min_se_s, interval),
    )


# ------------------------------------------------------------ state machine


class TimerCommand:
    """Base of the commands a ``SessionTimer`` gives the app."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRefresh(TimerCommand):
    """Send a session refresh (UPDATE, or re-INVITE) now (RFC 4028 §10).

    Put ``request.headers()`` on it; call ``refreshed`` on its 2xx and
    ``refresh_failed`` on a failure.
    """

    request: UacTimerRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionExpired(TimerCommand):
    """The session is dead: send BYE on this leg and end the call (§10)."""

    reason: str


class TimerState(Enum):
    """Where a leg's session timer is."""

    IDLE = "idle"  # No timer negotiated yet.
    REFRESH_DUE = "refresh_due"  # We refresh; waiting for half the interval.
    REFRESHING = "refreshing"  # Our refresh is out; waiting for its answer.
    WATCHING = "watching"  # The peer refreshes; waiting for its refresh.
    TERMINATED = "terminated"  # Expired or stopped.


class _Input(Enum):
    ARM_REFRESHER = "arm_refresher"
    ARM_WATCHER = "arm_watcher"
    TIMEOUT = "timeout"
    FAILED_FATAL = "failed_fatal"
    FAILED_RETRY = "failed_retry"
    STOP = "stop"


# RFC 4028 §10 and RFC 3261 §12.2.1.2: a refresh that times out or gets 408
# or 481 means the dialog is gone.
_FATAL_STATUSES = frozenset({408, 481})


class SessionTimer:
    """The session timer of one leg (RFC 4028 §10), sans-IO.

    ``start(now, interval_s, we_refresh)`` once the INVITE's 2xx settled
    the timer, ``refreshed(now, ...)`` after every successful refresh in
    either direction (a re-INVITE or UPDATE 2xx), ``refresh_failed`` when
    our refresh failed, ``stop`` when the call ends. ``next_deadline`` and
    ``handle_timeout(now)`` drive it; ``pop_commands`` returns
    ``SendRefresh`` or ``SessionExpired``. An input the table lacks (a bug
    of the caller, e.g. refreshing a terminated timer) moves it to
    TERMINATED and raises ``LocalSipError``.
    """

    def __init__(self) -> None:
        self._state = TimerState.IDLE
        self._timer: NegotiatedTimer | None = None
        self._pending: NegotiatedTimer | None = None
        self._deadline: float | None = None
        self._expires_at: float | None = None
        self._commands: list[TimerCommand] = []

    @property
    def state(self) -> TimerState:
        """The current state."""
        return self._state

    @property
    def is_terminated(self) -> bool:
        """True once expired or stopped; it then gives no more commands."""
        return self._state is TimerState.TERMINATED

    @property
    def negotiated(self) -> NegotiatedTimer | None:
        """The interval and refresher in force, None before ``start``."""
        return self._timer

    def start(
        self,
        now: float,
        interval_s: int,
        we_refresh: bool,
        *,
        min_se_s: int = ABSOLUTE_MIN_SE_S,
    ) -> None:
        """Arm the timer after the initial INVITE's 2xx (§7.2, §9)."""
        timer = NegotiatedTimer(
            interval_s=interval_s, we_refresh=we_refresh, min_se_s=min_se_s
        )
        self._arm_with(timer, now)

    def start_negotiated(self, now: float, timer: NegotiatedTimer) -> None:
        """``start`` from ``uas_negotiate``/``uac_negotiated``'s result."""
        self._arm_with(timer, now)

    def refreshed(
        self,
        now: float,
        *,
        interval_s: int | None = None,
        we_refresh: bool | None = None,
    ) -> None:
        """A refresh succeeded: restart the interval (§10).

        A refresh renegotiates (§7.4, §9), so a new interval or refresher
        may be given; omitted values stay as they were.
        """
        current = self._require_timer()
        timer = NegotiatedTimer(
            interval_s=current.interval_s if interval_s is None else interval_s,
            we_refresh=current.we_refresh if we_refresh is None else we_refresh,
            min_se_s=current.min_se_s,
        )
        self._arm_with(timer, now)

    def refresh_failed(self, now: float, *, status: int | None) -> None:
        """Our refresh got a final failure ``status`` (None: it timed out).

        408, 481 and a timeout end the session (§10); other failures (491,
        5xx) leave it alive until expiry, with one more try halfway there.
        """
        fatal = status is None or status in _FATAL_STATUSES
        self._dispatch(_Input.FAILED_FATAL if fatal else _Input.FAILED_RETRY, now)

    def stop(self, now: float) -> None:
        """The call ended: no more commands."""
        self._dispatch(_Input.STOP, now)

    def next_deadline(self) -> float | None:
        """When ``handle_timeout`` must next run, None if nothing is armed."""
        return self._deadline

    def handle_timeout(self, now: float) -> None:
        """Act if the deadline has passed; earlier calls do nothing."""
        if self._deadline is not None and now >= self._deadline:
            self._dispatch(_Input.TIMEOUT, now)

    def pop_commands(self) -> list[TimerCommand]:
        """Commands since the last call, oldest first."""
        commands, self._commands = self._commands, []
        return commands

    # -- transitions ---------------------------------------------------------

    def _require_timer(self) -> NegotiatedTimer:
        if self._timer is None:
            self._enter_terminated()
            raise LocalSipError("session timer: refreshed before start")
        return self._timer

    def _arm_with(self, timer: NegotiatedTimer, now: float) -> None:
        if timer.interval_s <= 0:
            raise LocalSipError("a session interval must be positive")
        self._pending = timer
        self._dispatch(
            _Input.ARM_REFRESHER if timer.we_refresh else _Input.ARM_WATCHER, now
        )

    def _dispatch(self, inp: _Input, now: float) -> None:
        entry = _TABLE.get((self._state, inp))
        if entry is None:
            state = self._state
            self._enter_terminated()
            raise LocalSipError(f"session timer: {inp.value} in state {state.name}")
        action, next_state = entry
        action(self, now)
        self._state = next_state
        if next_state is TimerState.TERMINATED:
            self._enter_terminated()

    def _enter_terminated(self) -> None:
        self._state = TimerState.TERMINATED
        self._deadline = None

    def _arm(self, now: float) -> None:
        assert self._pending is not None
        timer = self._timer = self._pending
        interval = float(timer.interval_s)
        self._expires_at = now + interval
        if timer.we_refresh:
            self._deadline = now + interval / 2  # §10: refresh at half.
        else:
            # §10: give up min(32 s, a third) before expiry.
            self._deadline = now + interval - min(_EXPIRY_MARGIN_S, interval / 3)

    def _send_refresh(self, now: float) -> None:
        assert self._timer is not None and self._expires_at is not None
        self._commands.append(SendRefresh(request=UacTimerRequest.refresh(self._timer)))
        # Without an answer, the session dies when it expires.
        self._deadline = self._expires_at

    def _retry(self, now: float) -> None:
        # Halfway to expiry, as the first refresh was (§10); the session
        # still expires on time if the retry fails too.
        assert self._expires_at is not None
        self._deadline = now + (self._expires_at - now) / 2

    def _expire_unanswered(self, now: float) -> None:
        self._commands.append(SessionExpired(reason="refresh not answered in time"))

    def _expire_unrefreshed(self, now: float) -> None:
        self._commands.append(SessionExpired(reason="peer did not refresh"))

    def _expire_failed(self, now: float) -> None:
        self._commands.append(SessionExpired(reason="refresh failed"))

    def _nothing(self, now: float) -> None:
        pass


_S = TimerState
_In = _Input
_Action = Callable[[SessionTimer, float], None]

_TABLE: Mapping[tuple[TimerState, _Input], tuple[_Action, TimerState]] = {
    # §7.2/§9: the 2xx of the INVITE settles interval and refresher.
    (_S.IDLE, _In.ARM_REFRESHER): (SessionTimer._arm, _S.REFRESH_DUE),
    (_S.IDLE, _In.ARM_WATCHER): (SessionTimer._arm, _S.WATCHING),
    # §10: any successful refresh, by either side, restarts the interval
    # and may move the refresher role (§7.4).
    (_S.REFRESH_DUE, _In.ARM_REFRESHER): (SessionTimer._arm, _S.REFRESH_DUE),
    (_S.REFRESH_DUE, _In.ARM_WATCHER): (SessionTimer._arm, _S.WATCHING),
    (_S.REFRESHING, _In.ARM_REFRESHER): (SessionTimer._arm, _S.REFRESH_DUE),
    (_S.REFRESHING, _In.ARM_WATCHER): (SessionTimer._arm, _S.WATCHING),
    (_S.WATCHING, _In.ARM_REFRESHER): (SessionTimer._arm, _S.REFRESH_DUE),
    (_S.WATCHING, _In.ARM_WATCHER): (SessionTimer._arm, _S.WATCHING),
    # §10: the refresher sends at half the interval.
    (_S.REFRESH_DUE, _In.TIMEOUT): (SessionTimer._send_refresh, _S.REFRESHING),
    # §10: the refresh was not answered before the session expired.
    (_S.REFRESHING, _In.TIMEOUT): (SessionTimer._expire_unanswered, _S.TERMINATED),
    # §10: 408, 481 or a timeout on the refresh ends the session.
    (_S.REFRESHING, _In.FAILED_FATAL): (SessionTimer._expire_failed, _S.TERMINATED),
    # Other failures (491, 5xx): the session lives until expiry; try again.
    (_S.REFRESHING, _In.FAILED_RETRY): (SessionTimer._retry, _S.REFRESH_DUE),
    # §10: no refresh from the peer by interval - min(32, interval/3).
    (_S.WATCHING, _In.TIMEOUT): (SessionTimer._expire_unrefreshed, _S.TERMINATED),
    # The call ended (BYE either way).
    (_S.IDLE, _In.STOP): (SessionTimer._nothing, _S.TERMINATED),
    (_S.REFRESH_DUE, _In.STOP): (SessionTimer._nothing, _S.TERMINATED),
    (_S.REFRESHING, _In.STOP): (SessionTimer._nothing, _S.TERMINATED),
    (_S.WATCHING, _In.STOP): (SessionTimer._nothing, _S.TERMINATED),
    (_S.TERMINATED, _In.STOP): (SessionTimer._nothing, _S.TERMINATED),
}
