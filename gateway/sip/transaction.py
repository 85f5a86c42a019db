"""SIP transactions (RFC 3261 §17, with the RFC 6026 fixes for INVITE 2xx).

Four sans-IO state machines: INVITE and non-INVITE, client and server. Each is
driven by received messages, TU commands and ``handle_timeout(now)``; it
reports to the transaction user through ``pop_events()`` and hands messages
to send through ``pop_outgoing()``. Every machine has one transition table
``{(state, input): (action, next_state)}``; an input with no row is an error
that moves the machine to TERMINATED (and raises LocalSipError when the TU
caused it).

Reliable transports follow §17: no retransmission timers (A, E, G) and zero
wait timers (D, I, J, K), so the machine terminates at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Generic, TypeVar

from gateway.sip.errors import LocalSipError, RemoteSipError
from gateway.sip.events import (
    AckReceived,
    MessageDropped,
    RequestReceived,
    ResponseReceived,
    SipEvent,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from gateway.sip.ids import MAGIC_COOKIE, TransactionKey, client_key, server_key
from gateway.sip.message import (
    Headers,
    SipMessage,
    SipRequest,
    SipResponse,
    canonical_name,
    make_response,
)
from gateway.sip.timers import SipTimers

__all__ = [
    "ClientInviteState",
    "ClientInviteTransaction",
    "ClientNonInviteState",
    "ClientNonInviteTransaction",
    "ServerInviteState",
    "ServerInviteTransaction",
    "ServerNonInviteState",
    "ServerNonInviteTransaction",
    "Transaction",
    "TxnInput",
    "client_key",
    "make_ack_for_non2xx",
    "make_cancel",
    "server_key",
]


class TxnInput(Enum):
    """Inputs of the transaction machines: messages, TU commands, timers."""

    PROVISIONAL_RECEIVED = "1xx received"
    SUCCESS_RECEIVED = "2xx received"
    FAILURE_RECEIVED = "300-699 received"
    REQUEST_RECEIVED = "request retransmission received"
    ACK_RECEIVED = "ACK received"
    SEND_PROVISIONAL = "TU sends 1xx"
    SEND_SUCCESS = "TU sends 2xx"
    SEND_FAILURE = "TU sends 300-699"
    TRANSPORT_ERROR = "transport error"
    TIMER_A = "Timer A"
    TIMER_B = "Timer B"
    TIMER_D = "Timer D"
    TIMER_E = "Timer E"
    TIMER_F = "Timer F"
    TIMER_G = "Timer G"
    TIMER_H = "Timer H"
    TIMER_I = "Timer I"
    TIMER_J = "Timer J"
    TIMER_K = "Timer K"
    TIMER_L = "Timer L"
    TIMER_M = "Timer M"
    TIMER_TRYING = "200 ms Trying timer"


class ClientInviteState(Enum):
    """States of the INVITE client transaction (§17.1.1.2, RFC 6026 §8.4)."""

    CALLING = "calling"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    TERMINATED = "terminated"


class ClientNonInviteState(Enum):
    """States of the non-INVITE client transaction (§17.1.2.2)."""

    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    TERMINATED = "terminated"


class ServerInviteState(Enum):
    """States of the INVITE server transaction (§17.2.1, RFC 6026 §7.1)."""

    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class ServerNonInviteState(Enum):
    """States of the non-INVITE server transaction (§17.2.2)."""

    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    TERMINATED = "terminated"


S = TypeVar("S", bound=Enum)
_Action = Callable[[SipMessage | None, float], None]


# ---------------------------------------------------------------- helpers


def _hop_request(invite: SipRequest, method: str, to_value: str) -> SipRequest:
    """A request that reuses the INVITE's hop state: top Via, Route, CSeq number."""
    vias = invite.headers.values("via")
    if not vias:
        raise LocalSipError("request has no Via")
    headers = Headers([("Via", vias[0])])
    for name, value in invite.headers:
        if canonical_name(name) == "route":
            headers.add(name, value)
    headers.add("Max-Forwards", "70")
    headers.add("From", invite.headers.get("from") or "")
    headers.add("To", to_value)
    headers.add("Call-ID", invite.call_id)
    headers.add("CSeq", f"{invite.cseq.seq} {method}")
    return SipRequest(headers=headers, method=method, uri=invite.uri)


def make_ack_for_non2xx(invite: SipRequest, response: SipResponse) -> SipRequest:
    """ACK for a 300-699 response, built by the client transaction (§17.1.1.3).

    Same Request-URI, Call-ID, From, CSeq number and top Via (so the same
    branch) as the INVITE, its Route headers, and the To of the response.
    """
    return _hop_request(invite, "ACK", response.headers.get("to") or "")


def make_cancel(request: SipRequest) -> SipRequest:
    """CANCEL for a pending request (§9.1).

    Same Request-URI, Call-ID, To, From, CSeq number, top Via and Route as the
    request; method CANCEL. Raises LocalSipError for ACK or CANCEL requests.
    """
    if request.method in ("ACK", "CANCEL"):
        raise LocalSipError(f"cannot cancel a {request.method} request")
    return _hop_request(request, "CANCEL", request.headers.get("to") or "")


def _response_input(status: int) -> TxnInput | None:
    if 100 <= status <= 199:
        return TxnInput.PROVISIONAL_RECEIVED
    if 200 <= status <= 299:
        return TxnInput.SUCCESS_RECEIVED
    if 300 <= status <= 699:
        return TxnInput.FAILURE_RECEIVED
    return None


def _send_input(status: int) -> TxnInput:
    if 100 <= status <= 199:
        return TxnInput.SEND_PROVISIONAL
    if 200 <= status <= 299:
        return TxnInput.SEND_SUCCESS
    if 300 <= status <= 699:
        return TxnInput.SEND_FAILURE
    raise LocalSipError(f"status {status} is not 100-699")


# ---------------------------------------------------------------- base


class Transaction(Generic[S]):
    """Machinery shared by the four transaction machines.

    Subclasses define ``_lookup`` over their table, ``_terminated`` (their
    TERMINATED member) and ``_timers_by_state`` (timers that may stay armed in
    each state; entering a state cancels the others).
    """

    _terminated: S
    _timers_by_state: Mapping[S, frozenset[TxnInput]]

    def __init__(
        self,
        request: SipRequest,
        *,
        key: TransactionKey,
        initial: S,
        is_reliable: bool,
        timers: SipTimers,
    ) -> None:
        self.request = request
        self.key = key
        self.is_reliable = is_reliable
        self.timers = timers
        self._state = initial
        self._events: list[SipEvent] = []
        self._outgoing: list[SipMessage] = []
        self._deadlines: dict[TxnInput, float] = {}
        self._immediate: list[TxnInput] = []
        self._interval_s = timers.t1_s

    @property
    def state(self) -> S:
        """The current state."""
        return self._state

    @property
    def is_terminated(self) -> bool:
        """True once the machine reached TERMINATED; it then sends nothing."""
        return self._state is self._terminated

    def pop_events(self) -> list[SipEvent]:
        """Events for the TU since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def pop_outgoing(self) -> list[SipMessage]:
        """Messages to send since the last call, oldest first."""
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def next_deadline(self) -> float | None:
        """Earliest armed timer, or None when no timer is armed."""
        return min(self._deadlines.values(), default=None)

    def handle_timeout(self, now: float) -> None:
        """Fire every timer due at ``now``, earliest first."""
        while self._deadlines:
            timer = min(self._deadlines, key=self._deadlines.__getitem__)
            if self._deadlines[timer] > now:
                return
            del self._deadlines[timer]
            self._dispatch(timer, None, now)

    def transport_error(self, now: float) -> None:
        """The transport failed to send one of our messages (§17.1.4, §17.2.4)."""
        self._dispatch(TxnInput.TRANSPORT_ERROR, None, now)

    def _lookup(self, inp: TxnInput) -> tuple[_Action, S] | None:
        raise NotImplementedError

    def _dispatch(self, inp: TxnInput, message: SipMessage | None, now: float) -> bool:
        entry = self._lookup(inp)
        if entry is None:
            self._events.append(
                MessageDropped(
                    reason=f"{inp.value} not allowed in state {self._state.name}",
                    message=message,
                    transaction_id=self.key,
                )
            )
            self._enter(self._terminated)
            return False
        action, next_state = entry
        action(message, now)
        self._enter(next_state)
        while self._immediate:
            self._dispatch(self._immediate.pop(0), None, now)
        return True

    def _enter(self, state: S) -> None:
        if state is self._state:
            return
        self._state = state
        if state is self._terminated:
            self._deadlines.clear()
            self._immediate.clear()
            self._events.append(TransactionTerminated(transaction_id=self.key))
            return
        allowed = self._timers_by_state[state]
        for timer in [t for t in self._deadlines if t not in allowed]:
            del self._deadlines[timer]

    def _arm(self, timer: TxnInput, duration_s: float, now: float) -> None:
        # A zero wait (D, I, J, K on reliable transports) fires right after
        # the current transition instead of waiting for handle_timeout.
        if duration_s <= 0:
            self._immediate.append(timer)
        else:
            self._deadlines[timer] = now + duration_s

    def _wait_s(self, unreliable_s: float) -> float:
        return 0.0 if self.is_reliable else unreliable_s

    def _send(self, message: SipMessage) -> None:
        self._outgoing.append(message)

    # Actions shared by several tables; each has the _Action signature.

    def _absorb(self, message: SipMessage | None, now: float) -> None:
        """Retransmission or stray input that the RFC says to swallow."""

    def _time_out(self, message: SipMessage | None, now: float) -> None:
        self._events.append(TransactionTimedOut(transaction_id=self.key))

    def _report_error(self, message: SipMessage | None, now: float) -> None:
        self._events.append(TransportFailed(transaction_id=self.key))

    def _pass_response(self, message: SipMessage | None, now: float) -> None:
        assert isinstance(message, SipResponse)
        self._events.append(ResponseReceived(response=message, transaction_id=self.key))


def _bind(
    txn: Transaction[S],
    table: Mapping[tuple[S, TxnInput], tuple[Callable[..., None], S]],
    inp: TxnInput,
) -> tuple[_Action, S] | None:
    entry = table.get((txn.state, inp))
    if entry is None:
        return None
    function, next_state = entry

    def action(message: SipMessage | None, now: float) -> None:
        function(txn, message, now)

    return action, next_state


_I = TxnInput

# ---------------------------------------------------------------- client


class _ClientTransaction(Transaction[S]):
    def __init__(
        self, request: SipRequest, *, initial: S, is_reliable: bool, timers: SipTimers
    ) -> None:
        try:
            key = client_key(request)
        except RemoteSipError as exc:
            raise LocalSipError(f"cannot start a transaction: {exc}") from exc
        if not key.branch.startswith(MAGIC_COOKIE):
            raise LocalSipError("client branches must start with the magic cookie")
        super().__init__(
            request, key=key, initial=initial, is_reliable=is_reliable, timers=timers
        )
        self._is_started = False

    def start(self, now: float) -> None:
        """Send the request and arm the timers. Raises LocalSipError if repeated."""
        if self._is_started:
            raise LocalSipError("transaction already started")
        self._is_started = True
        self._send(self.request)
        self._arm_start_timers(now)

    def _arm_start_timers(self, now: float) -> None:
        raise NotImplementedError

    def receive_response(self, response: SipResponse, now: float) -> None:
        """Feed a response that matched this transaction (§17.1.3)."""
        inp = _response_input(response.status)
        if inp is None or not self._is_started:
            self._events.append(
                MessageDropped(
                    reason="bad status or transaction not started",
                    message=response,
                    transaction_id=self.key,
                )
            )
            return
        self._dispatch(inp, response, now)

    def _retransmit(self, now: float, timer: TxnInput, interval_s: float) -> None:
        self._send(self.request)
        self._interval_s = interval_s
        self._arm(timer, interval_s, now)


class ClientInviteTransaction(_ClientTransaction[ClientInviteState]):
    """INVITE client transaction (§17.1.1, RFC 6026 §8.4).

    Sends the ACK for 300-699 itself; 2xx responses (and their
    retransmissions, in the Accepted state) go to the TU, which ACKs them
    (§13.2.2.4). Raises LocalSipError if the request is not an INVITE with a
    magic-cookie branch.
    """

    _terminated = ClientInviteState.TERMINATED
    _timers_by_state: Mapping[ClientInviteState, frozenset[TxnInput]] = {
        ClientInviteState.CALLING: frozenset({TxnInput.TIMER_A, TxnInput.TIMER_B}),
        ClientInviteState.PROCEEDING: frozenset({TxnInput.TIMER_B}),
        ClientInviteState.ACCEPTED: frozenset({TxnInput.TIMER_M}),
        ClientInviteState.COMPLETED: frozenset({TxnInput.TIMER_D}),
    }

    def __init__(
        self, request: SipRequest, *, is_reliable: bool, timers: SipTimers
    ) -> None:
        if request.method != "INVITE":
            raise LocalSipError(f"not an INVITE: {request.method}")
        super().__init__(
            request,
            initial=ClientInviteState.CALLING,
            is_reliable=is_reliable,
            timers=timers,
        )
        self.ack: SipRequest | None = None

    def _lookup(self, inp: TxnInput) -> tuple[_Action, ClientInviteState] | None:
        return _bind(self, _CLIENT_INVITE_TABLE, inp)

    def _arm_start_timers(self, now: float) -> None:
        if not self.is_reliable:
            self._arm(TxnInput.TIMER_A, self.timers.t1_s, now)
        self._arm(TxnInput.TIMER_B, self.timers.b_s, now)

    def note_cancel_sent(self, now: float) -> None:
        """Give up 64*T1 (Timer B) after a CANCEL if no final response came (§9.1).

        Only meaningful in Proceeding; ignored in any other state.
        """
        if self._state is ClientInviteState.PROCEEDING:
            self._arm(TxnInput.TIMER_B, self.timers.b_s, now)

    def _retransmit_a(self, message: SipMessage | None, now: float) -> None:
        # §17.1.1.2: Timer A doubles each time, with no T2 cap for INVITE.
        self._retransmit(now, TxnInput.TIMER_A, self._interval_s * 2)

    def _proceed(self, message: SipMessage | None, now: float) -> None:
        # Timer B guards Calling only; the TU bounds ringing with CANCEL (§9.1).
        self._deadlines.pop(TxnInput.TIMER_B, None)
        self._pass_response(message, now)

    def _accept(self, message: SipMessage | None, now: float) -> None:
        self._pass_response(message, now)
        self._arm(TxnInput.TIMER_M, self.timers.m_s, now)

    def _reject(self, message: SipMessage | None, now: float) -> None:
        assert isinstance(message, SipResponse)
        self._pass_response(message, now)
        self.ack = make_ack_for_non2xx(self.request, message)
        self._send(self.ack)
        self._arm(TxnInput.TIMER_D, self._wait_s(self.timers.timer_d_s), now)

    def _resend_ack(self, message: SipMessage | None, now: float) -> None:
        assert self.ack is not None
        self._send(self.ack)


_CI = ClientInviteState
_CIT = ClientInviteTransaction
_CLIENT_INVITE_TABLE: Mapping[
    tuple[ClientInviteState, TxnInput],
    tuple[Callable[[_CIT, SipMessage | None, float], None], ClientInviteState],
] = {
    # §17.1.1.2: Timer A retransmits the INVITE in Calling.
    (_CI.CALLING, _I.TIMER_A): (_CIT._retransmit_a, _CI.CALLING),
    # §17.1.1.2: Timer B fires: inform the TU of the timeout.
    (_CI.CALLING, _I.TIMER_B): (_CIT._time_out, _CI.TERMINATED),
    # §17.1.1.2: 1xx stops retransmission (and Timer B) and goes to the TU.
    (_CI.CALLING, _I.PROVISIONAL_RECEIVED): (_CIT._proceed, _CI.PROCEEDING),
    # RFC 6026 §8.4: 2xx goes to the TU and the machine waits in Accepted.
    (_CI.CALLING, _I.SUCCESS_RECEIVED): (_CIT._accept, _CI.ACCEPTED),
    # §17.1.1.2: 300-699 goes to the TU and is ACKed by the transaction.
    (_CI.CALLING, _I.FAILURE_RECEIVED): (_CIT._reject, _CI.COMPLETED),
    # §17.1.4: a transport error is reported to the TU.
    (_CI.CALLING, _I.TRANSPORT_ERROR): (_CIT._report_error, _CI.TERMINATED),
    # §17.1.1.2: further 1xx go to the TU.
    (_CI.PROCEEDING, _I.PROVISIONAL_RECEIVED): (_CIT._pass_response, _CI.PROCEEDING),
    # RFC 6026 §8.4.
    (_CI.PROCEEDING, _I.SUCCESS_RECEIVED): (_CIT._accept, _CI.ACCEPTED),
    # §17.1.1.2.
    (_CI.PROCEEDING, _I.FAILURE_RECEIVED): (_CIT._reject, _CI.COMPLETED),
    # §17.1.4.
    (_CI.PROCEEDING, _I.TRANSPORT_ERROR): (_CIT._report_error, _CI.TERMINATED),
    # §9.1: after a CANCEL, give up when no final response came in 64*T1.
    (_CI.PROCEEDING, _I.TIMER_B): (_CIT._time_out, _CI.TERMINATED),
    # RFC 6026 §8.4: 2xx retransmissions (and other forks' 2xx) go to the TU.
    (_CI.ACCEPTED, _I.SUCCESS_RECEIVED): (_CIT._pass_response, _CI.ACCEPTED),
    # RFC 6026 §8.4: nothing else is meaningful after a 2xx; absorb it.
    (_CI.ACCEPTED, _I.PROVISIONAL_RECEIVED): (_CIT._absorb, _CI.ACCEPTED),
    (_CI.ACCEPTED, _I.FAILURE_RECEIVED): (_CIT._absorb, _CI.ACCEPTED),
    # RFC 6026 §8.4: the ACK to a 2xx is the TU's, so its errors are too.
    (_CI.ACCEPTED, _I.TRANSPORT_ERROR): (_CIT._absorb, _CI.ACCEPTED),
    # RFC 6026 §8.4: Timer M ends the wait for 2xx retransmissions.
    (_CI.ACCEPTED, _I.TIMER_M): (_CIT._absorb, _CI.TERMINATED),
    # §17.1.1.2: a retransmitted final response is ACKed again, not passed up.
    (_CI.COMPLETED, _I.FAILURE_RECEIVED): (_CIT._resend_ack, _CI.COMPLETED),
    # §17.1.1.2: late 1xx/2xx after a final are absorbed.
    (_CI.COMPLETED, _I.PROVISIONAL_RECEIVED): (_CIT._absorb, _CI.COMPLETED),
    (_CI.COMPLETED, _I.SUCCESS_RECEIVED): (_CIT._absorb, _CI.COMPLETED),
    # §17.1.1.2 (Figure 5): transport error in Completed.
    (_CI.COMPLETED, _I.TRANSPORT_ERROR): (_CIT._report_error, _CI.TERMINATED),
    # §17.1.1.2: Timer D ends the wait for response retransmissions.
    (_CI.COMPLETED, _I.TIMER_D): (_CIT._absorb, _CI.TERMINATED),
}


class ClientNonInviteTransaction(_ClientTransaction[ClientNonInviteState]):
    """Non-INVITE client transaction (§17.1.2).

    Raises LocalSipError for INVITE or ACK requests (ACK is never a
    transaction) or without a magic-cookie branch.
    """

    _terminated = ClientNonInviteState.TERMINATED
    _timers_by_state: Mapping[ClientNonInviteState, frozenset[TxnInput]] = {
        ClientNonInviteState.TRYING: frozenset({TxnInput.TIMER_E, TxnInput.TIMER_F}),
        ClientNonInviteState.PROCEEDING: frozenset(
            {TxnInput.TIMER_E, TxnInput.TIMER_F}
        ),
        ClientNonInviteState.COMPLETED: frozenset({TxnInput.TIMER_K}),
    }

    def __init__(
        self, request: SipRequest, *, is_reliable: bool, timers: SipTimers
    ) -> None:
        if request.method in ("INVITE", "ACK"):
            raise LocalSipError(f"not a non-INVITE transaction: {request.method}")
        super().__init__(
            request,
            initial=ClientNonInviteState.TRYING,
            is_reliable=is_reliable,
            timers=timers,
        )

    def _lookup(self, inp: TxnInput) -> tuple[_Action, ClientNonInviteState] | None:
        return _bind(self, _CLIENT_NON_INVITE_TABLE, inp)

    def _arm_start_timers(self, now: float) -> None:
        if not self.is_reliable:
            self._arm(TxnInput.TIMER_E, self.timers.t1_s, now)
        self._arm(TxnInput.TIMER_F, self.timers.f_s, now)

    def _retransmit_trying(self, message: SipMessage | None, now: float) -> None:
        # §17.1.2.2: Timer E doubles up to T2 while Trying.
        interval_s = min(self._interval_s * 2, self.timers.t2_s)
        self._retransmit(now, TxnInput.TIMER_E, interval_s)

    def _retransmit_proceeding(self, message: SipMessage | None, now: float) -> None:
        # §17.1.2.2: in Proceeding Timer E is always reset to T2.
        self._retransmit(now, TxnInput.TIMER_E, self.timers.t2_s)

    def _complete(self, message: SipMessage | None, now: float) -> None:
        self._pass_response(message, now)
        self._arm(TxnInput.TIMER_K, self._wait_s(self.timers.t4_s), now)


_CN = ClientNonInviteState
_CNT = ClientNonInviteTransaction
_CLIENT_NON_INVITE_TABLE: Mapping[
    tuple[ClientNonInviteState, TxnInput],
    tuple[Callable[[_CNT, SipMessage | None, float], None], ClientNonInviteState],
] = {
    # §17.1.2.2: Timer E retransmits, doubling up to T2.
    (_CN.TRYING, _I.TIMER_E): (_CNT._retransmit_trying, _CN.TRYING),
    # §17.1.2.2: Timer F: inform the TU of the timeout.
    (_CN.TRYING, _I.TIMER_F): (_CNT._time_out, _CN.TERMINATED),
    # §17.1.2.2: 1xx goes to the TU.
    (_CN.TRYING, _I.PROVISIONAL_RECEIVED): (_CNT._pass_response, _CN.PROCEEDING),
    # §17.1.2.2: 200-699 go to the TU; wait Timer K for retransmissions.
    (_CN.TRYING, _I.SUCCESS_RECEIVED): (_CNT._complete, _CN.COMPLETED),
    (_CN.TRYING, _I.FAILURE_RECEIVED): (_CNT._complete, _CN.COMPLETED),
    # §17.1.4.
    (_CN.TRYING, _I.TRANSPORT_ERROR): (_CNT._report_error, _CN.TERMINATED),
    # §17.1.2.2: in Proceeding Timer E uses T2.
    (_CN.PROCEEDING, _I.TIMER_E): (_CNT._retransmit_proceeding, _CN.PROCEEDING),
    (_CN.PROCEEDING, _I.TIMER_F): (_CNT._time_out, _CN.TERMINATED),
    (_CN.PROCEEDING, _I.PROVISIONAL_RECEIVED): (_CNT._pass_response, _CN.PROCEEDING),
    (_CN.PROCEEDING, _I.SUCCESS_RECEIVED): (_CNT._complete, _CN.COMPLETED),
    (_CN.PROCEEDING, _I.FAILURE_RECEIVED): (_CNT._complete, _CN.COMPLETED),
    (_CN.PROCEEDING, _I.TRANSPORT_ERROR): (_CNT._report_error, _CN.TERMINATED),
    # §17.1.2.2: Completed buffers response retransmissions.
    (_CN.COMPLETED, _I.PROVISIONAL_RECEIVED): (_CNT._absorb, _CN.COMPLETED),
    (_CN.COMPLETED, _I.SUCCESS_RECEIVED): (_CNT._absorb, _CN.COMPLETED),
    (_CN.COMPLETED, _I.FAILURE_RECEIVED): (_CNT._absorb, _CN.COMPLETED),
    # §17.1.2.2: Timer K ends the wait.
    (_CN.COMPLETED, _I.TIMER_K): (_CNT._absorb, _CN.TERMINATED),
}


# ---------------------------------------------------------------- server


class _ServerTransaction(Transaction[S]):
    def __init__(
        self,
        request: SipRequest,
        *,
        initial: S,
        is_reliable: bool,
        timers: SipTimers,
        source: object,
    ) -> None:
        super().__init__(
            request,
            key=server_key(request),
            initial=initial,
            is_reliable=is_reliable,
            timers=timers,
        )
        self.last_response: SipResponse | None = None
        self._events.append(
            RequestReceived(request=request, transaction_id=self.key, source=source)
        )

    def receive_request(self, request: SipRequest, now: float) -> None:
        """Feed a request that matched this transaction (§17.2.3)."""
        is_ack = request.method == "ACK"
        inp = TxnInput.ACK_RECEIVED if is_ack else TxnInput.REQUEST_RECEIVED
        self._dispatch(inp, request, now)

    def send_response(self, response: SipResponse, now: float) -> None:
        """Send the TU's response through the transaction.

        Raises LocalSipError (and terminates the transaction) when the state
        does not allow it, e.g. a second final response.
        """
        inp = _send_input(response.status)
        state = self._state
        if not self._dispatch(inp, response, now):
            raise LocalSipError(f"cannot send {response.status} in state {state.name}")

    def _send_stored(self, message: SipMessage | None, now: float) -> None:
        assert isinstance(message, SipResponse)
        self.last_response = message
        self._send(message)

    def _resend_last(self, message: SipMessage | None, now: float) -> None:
        if self.last_response is not None:
            self._send(self.last_response)


class ServerInviteTransaction(_ServerTransaction[ServerInviteState]):
    """INVITE server transaction (§17.2.1, RFC 6026 §7.1).

    Absorbs INVITE retransmissions by resending the last response, sends 100
    Trying after ``timers.trying_delay_s`` when ``timers.is_auto_trying`` and
    the TU is silent, retransmits 300-699 until the ACK arrives, and after a
    2xx waits in Accepted (Timer L) passing matching ACKs to the TU. Raises
    RemoteSipError(400) if the request has no usable Via.
    """

    _terminated = ServerInviteState.TERMINATED
    _timers_by_state: Mapping[ServerInviteState, frozenset[TxnInput]] = {
        ServerInviteState.PROCEEDING: frozenset({TxnInput.TIMER_TRYING}),
        ServerInviteState.ACCEPTED: frozenset({TxnInput.TIMER_L}),
        ServerInviteState.COMPLETED: frozenset({TxnInput.TIMER_G, TxnInput.TIMER_H}),
        ServerInviteState.CONFIRMED: frozenset({TxnInput.TIMER_I}),
    }

    def __init__(
        self,
        request: SipRequest,
        *,
        is_reliable: bool,
        timers: SipTimers,
        now: float,
        source: object = None,
    ) -> None:
        if request.method != "INVITE":
            raise LocalSipError(f"not an INVITE: {request.method}")
        super().__init__(
            request,
            initial=ServerInviteState.PROCEEDING,
            is_reliable=is_reliable,
            timers=timers,
            source=source,
        )
        if timers.is_auto_trying:
            self._arm(TxnInput.TIMER_TRYING, timers.trying_delay_s, now)

    def _lookup(self, inp: TxnInput) -> tuple[_Action, ServerInviteState] | None:
        return _bind(self, _SERVER_INVITE_TABLE, inp)

    def _send_trying(self, message: SipMessage | None, now: float) -> None:
        self._send_stored(make_response(self.request, 100), now)

    def _send_provisional(self, message: SipMessage | None, now: float) -> None:
        self._deadlines.pop(TxnInput.TIMER_TRYING, None)
        self._send_stored(message, now)

    def _send_success(self, message: SipMessage | None, now: float) -> None:
        self._send_stored(message, now)
        self._arm(TxnInput.TIMER_L, self.timers.l_s, now)

    def _send_failure(self, message: SipMessage | None, now: float) -> None:
        self._send_stored(message, now)
        if not self.is_reliable:
            self._interval_s = self.timers.t1_s
            self._arm(TxnInput.TIMER_G, self._interval_s, now)
        self._arm(TxnInput.TIMER_H, self.timers.h_s, now)

    def _retransmit_g(self, message: SipMessage | None, now: float) -> None:
        # §17.2.1: Timer G doubles up to T2.
        self._resend_last(None, now)
        self._interval_s = min(self._interval_s * 2, self.timers.t2_s)
        self._arm(TxnInput.TIMER_G, self._interval_s, now)

    def _confirm(self, message: SipMessage | None, now: float) -> None:
        self._arm(TxnInput.TIMER_I, self._wait_s(self.timers.t4_s), now)

    def _pass_ack(self, message: SipMessage | None, now: float) -> None:
        assert isinstance(message, SipRequest)
        self._events.append(AckReceived(request=message, transaction_id=self.key))


_SI = ServerInviteState
_SIT = ServerInviteTransaction
_SERVER_INVITE_TABLE: Mapping[
    tuple[ServerInviteState, TxnInput],
    tuple[Callable[[_SIT, SipMessage | None, float], None], ServerInviteState],
] = {
    # §17.2.1: 100 Trying if the TU has not answered within 200 ms.
    (_SI.PROCEEDING, _I.TIMER_TRYING): (_SIT._send_trying, _SI.PROCEEDING),
    # §17.2.1: INVITE retransmission: resend the latest provisional response.
    (_SI.PROCEEDING, _I.REQUEST_RECEIVED): (_SIT._resend_last, _SI.PROCEEDING),
    # §17.2.1: provisional responses from the TU are sent.
    (_SI.PROCEEDING, _I.SEND_PROVISIONAL): (_SIT._send_provisional, _SI.PROCEEDING),
    # RFC 6026 §7.1: a 2xx moves to Accepted (Timer L).
    (_SI.PROCEEDING, _I.SEND_SUCCESS): (_SIT._send_success, _SI.ACCEPTED),
    # §17.2.1: 300-699 moves to Completed (Timers G and H).
    (_SI.PROCEEDING, _I.SEND_FAILURE): (_SIT._send_failure, _SI.COMPLETED),
    # §17.2.1: an ACK before any final response belongs to nothing; drop it.
    (_SI.PROCEEDING, _I.ACK_RECEIVED): (_SIT._absorb, _SI.PROCEEDING),
    # §17.2.4: transport error, inform the TU.
    (_SI.PROCEEDING, _I.TRANSPORT_ERROR): (_SIT._report_error, _SI.TERMINATED),
    # RFC 6026 §7.1: INVITE retransmissions are absorbed; the TU resends 2xx.
    (_SI.ACCEPTED, _I.REQUEST_RECEIVED): (_SIT._absorb, _SI.ACCEPTED),
    # RFC 6026 §7.1: matching ACKs go to the TU.
    (_SI.ACCEPTED, _I.ACK_RECEIVED): (_SIT._pass_ack, _SI.ACCEPTED),
    # RFC 6026 §7.1: 2xx retransmissions from the TU are sent.
    (_SI.ACCEPTED, _I.SEND_SUCCESS): (_SIT._send_stored, _SI.ACCEPTED),
    # RFC 6026 §7.1: a failed 2xx send is reported; the TU gives up the call.
    (_SI.ACCEPTED, _I.TRANSPORT_ERROR): (_SIT._report_error, _SI.TERMINATED),
    # RFC 6026 §7.1: Timer L ends the Accepted state.
    (_SI.ACCEPTED, _I.TIMER_L): (_SIT._absorb, _SI.TERMINATED),
    # §17.2.1: INVITE retransmission: resend the final response.
    (_SI.COMPLETED, _I.REQUEST_RECEIVED): (_SIT._resend_last, _SI.COMPLETED),
    # §17.2.1: Timer G retransmits the final response.
    (_SI.COMPLETED, _I.TIMER_G): (_SIT._retransmit_g, _SI.COMPLETED),
    # §17.2.1: Timer H: the ACK never came.
    (_SI.COMPLETED, _I.TIMER_H): (_SIT._time_out, _SI.TERMINATED),
    # §17.2.1: the ACK moves to Confirmed (Timer I).
    (_SI.COMPLETED, _I.ACK_RECEIVED): (_SIT._confirm, _SI.CONFIRMED),
    # §17.2.4.
    (_SI.COMPLETED, _I.TRANSPORT_ERROR): (_SIT._report_error, _SI.TERMINATED),
    # §17.2.1: Confirmed absorbs ACK (and INVITE) retransmissions.
    (_SI.CONFIRMED, _I.ACK_RECEIVED): (_SIT._absorb, _SI.CONFIRMED),
    (_SI.CONFIRMED, _I.REQUEST_RECEIVED): (_SIT._absorb, _SI.CONFIRMED),
    # §17.2.1: Timer I ends Confirmed.
    (_SI.CONFIRMED, _I.TIMER_I): (_SIT._absorb, _SI.TERMINATED),
}


class ServerNonInviteTransaction(_ServerTransaction[ServerNonInviteState]):
    """Non-INVITE server transaction (§17.2.2).

    Absorbs request retransmissions (resending the last response, if any)
    and keeps the final response for Timer J. Raises LocalSipError for INVITE
    or ACK, RemoteSipError(400) if the request has no usable Via.
    """

    _terminated = ServerNonInviteState.TERMINATED
    _timers_by_state: Mapping[ServerNonInviteState, frozenset[TxnInput]] = {
        ServerNonInviteState.TRYING: frozenset(),
        ServerNonInviteState.PROCEEDING: frozenset(),
        ServerNonInviteState.COMPLETED: frozenset({TxnInput.TIMER_J}),
    }

    def __init__(
        self,
        request: SipRequest,
        *,
        is_reliable: bool,
        timers: SipTimers,
        now: float,
        source: object = None,
    ) -> None:
        if request.method in ("INVITE", "ACK"):
            raise LocalSipError(f"not a non-INVITE transaction: {request.method}")
        super().__init__(
            request,
            initial=ServerNonInviteState.TRYING,
            is_reliable=is_reliable,
            timers=timers,
            source=source,
        )

    def _lookup(self, inp: TxnInput) -> tuple[_Action, ServerNonInviteState] | None:
        return _bind(self, _SERVER_NON_INVITE_TABLE, inp)

    def _send_final(self, message: SipMessage | None, now: float) -> None:
        self._send_stored(message, now)
        self._arm(TxnInput.TIMER_J, self._wait_s(self.timers.j_s), now)


_SN = ServerNonInviteState
_SNT = ServerNonInviteTransaction
_SERVER_NON_INVITE_TABLE: Mapping[
    tuple[ServerNonInviteState, TxnInput],
    tuple[Callable[[_SNT, SipMessage | None, float], None], ServerNonInviteState],
] = {
    # §17.2.2: retransmissions in Trying are discarded.
    (_SN.TRYING, _I.REQUEST_RECEIVED): (_SNT._absorb, _SN.TRYING),
    # §17.2.2: a provisional response moves to Proceeding.
    (_SN.TRYING, _I.SEND_PROVISIONAL): (_SNT._send_stored, _SN.PROCEEDING),
    # §17.2.2: a final response moves to Completed (Timer J).
    (_SN.TRYING, _I.SEND_SUCCESS): (_SNT._send_final, _SN.COMPLETED),
    (_SN.TRYING, _I.SEND_FAILURE): (_SNT._send_final, _SN.COMPLETED),
    # §17.2.4.
    (_SN.TRYING, _I.TRANSPORT_ERROR): (_SNT._report_error, _SN.TERMINATED),
    # §17.2.2: retransmission in Proceeding: resend the latest provisional.
    (_SN.PROCEEDING, _I.REQUEST_RECEIVED): (_SNT._resend_last, _SN.PROCEEDING),
    (_SN.PROCEEDING, _I.SEND_PROVISIONAL): (_SNT._send_stored, _SN.PROCEEDING),
    (_SN.PROCEEDING, _I.SEND_SUCCESS): (_SNT._send_final, _SN.COMPLETED),
    (_SN.PROCEEDING, _I.SEND_FAILURE): (_SNT._send_final, _SN.COMPLETED),
    (_SN.PROCEEDING, _I.TRANSPORT_ERROR): (_SNT._report_error, _SN.TERMINATED),
    # §17.2.2: retransmission in Completed: resend the final response.
    (_SN.COMPLETED, _I.REQUEST_RECEIVED): (_SNT._resend_last, _SN.COMPLETED),
    (_SN.COMPLETED, _I.TRANSPORT_ERROR): (_SNT._report_error, _SN.TERMINATED),
    # §17.2.2: Timer J ends Completed.
    (_SN.COMPLETED, _I.TIMER_J): (_SNT._absorb, _SN.TERMINATED),
}
