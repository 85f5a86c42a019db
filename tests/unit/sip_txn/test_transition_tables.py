"""Every (state, input) pair of the four transaction machines.

A pair in the table moves to the state the table names; a missing pair is an
error: the machine reports ``MessageDropped`` and moves to TERMINATED.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

import pytest

from gateway.sip.events import MessageDropped, TransactionTerminated
from gateway.sip.message import SipMessage
from gateway.sip.timers import SipTimers
from gateway.sip.transaction import (
    _CLIENT_INVITE_TABLE,
    _CLIENT_NON_INVITE_TABLE,
    _SERVER_INVITE_TABLE,
    _SERVER_NON_INVITE_TABLE,
    ClientInviteState,
    ClientInviteTransaction,
    ClientNonInviteState,
    ClientNonInviteTransaction,
    ServerInviteState,
    ServerInviteTransaction,
    ServerNonInviteState,
    ServerNonInviteTransaction,
    Transaction,
    TxnInput,
)

from . import make_reply, make_request

TIMERS = SipTimers()
AnyTxn = Transaction[Any]


def client_invite(state: ClientInviteState) -> AnyTxn:
    txn = ClientInviteTransaction(
        make_request("INVITE"), is_reliable=False, timers=TIMERS
    )
    txn.start(0.0)
    status = {
        ClientInviteState.PROCEEDING: 180,
        ClientInviteState.ACCEPTED: 200,
        ClientInviteState.COMPLETED: 486,
    }.get(state)
    if status is not None:
        txn.receive_response(make_reply(txn.request, status), 0.1)
    if state is ClientInviteState.TERMINATED:
        txn.transport_error(0.1)
    return txn


def client_non_invite(state: ClientNonInviteState) -> AnyTxn:
    txn = ClientNonInviteTransaction(
        make_request("OPTIONS"), is_reliable=False, timers=TIMERS
    )
    txn.start(0.0)
    status = {
        ClientNonInviteState.PROCEEDING: 100,
        ClientNonInviteState.COMPLETED: 200,
    }.get(state)
    if status is not None:
        txn.receive_response(make_reply(txn.request, status), 0.1)
    if state is ClientNonInviteState.TERMINATED:
        txn.transport_error(0.1)
    return txn


def server_invite(state: ServerInviteState) -> AnyTxn:
    txn = ServerInviteTransaction(
        make_request("INVITE"), is_reliable=False, timers=TIMERS, now=0.0
    )
    if state is ServerInviteState.ACCEPTED:
        txn.send_response(make_reply(txn.request, 200), 0.1)
    if state in (ServerInviteState.COMPLETED, ServerInviteState.CONFIRMED):
        txn.send_response(make_reply(txn.request, 486), 0.1)
    if state is ServerInviteState.CONFIRMED:
        txn.receive_request(make_request("ACK"), 0.1)
    if state is ServerInviteState.TERMINATED:
        txn.transport_error(0.1)
    return txn


def server_non_invite(state: ServerNonInviteState) -> AnyTxn:
    txn = ServerNonInviteTransaction(
        make_request("OPTIONS"), is_reliable=False, timers=TIMERS, now=0.0
    )
    status = {
        ServerNonInviteState.PROCEEDING: 100,
        ServerNonInviteState.COMPLETED: 200,
    }.get(state)
    if status is not None:
        txn.send_response(make_reply(txn.request, status), 0.1)
    if state is ServerNonInviteState.TERMINATED:
        txn.transport_error(0.1)
    return txn


def message_for(inp: TxnInput, txn: AnyTxn) -> SipMessage | None:
    """A message of the right kind for inputs that carry one."""
    request = txn.request
    statuses = {
        TxnInput.PROVISIONAL_RECEIVED: 180,
        TxnInput.SUCCESS_RECEIVED: 200,
        TxnInput.FAILURE_RECEIVED: 486,
        TxnInput.SEND_PROVISIONAL: 180,
        TxnInput.SEND_SUCCESS: 200,
        TxnInput.SEND_FAILURE: 486,
    }
    if inp in statuses:
        return make_reply(request, statuses[inp])
    if inp is TxnInput.REQUEST_RECEIVED:
        return make_request(request.method)
    if inp is TxnInput.ACK_RECEIVED:
        return make_request("ACK")
    return None


MACHINES: list[tuple[str, type[Enum], Callable[[Any], AnyTxn], Mapping[Any, Any]]] = [
    ("client-invite", ClientInviteState, client_invite, _CLIENT_INVITE_TABLE),
    (
        "client-non-invite",
        ClientNonInviteState,
        client_non_invite,
        _CLIENT_NON_INVITE_TABLE,
    ),
    ("server-invite", ServerInviteState, server_invite, _SERVER_INVITE_TABLE),
    (
        "server-non-invite",
        ServerNonInviteState,
        server_non_invite,
        _SERVER_NON_INVITE_TABLE,
    ),
]

CASES = [
    pytest.param(build, state, inp, table, id=f"{name}-{state.name}-{inp.name}")
    for name, states, build, table in MACHINES
    for state in states
    for inp in TxnInput
]


@pytest.mark.parametrize(("build", "state", "inp", "table"), CASES)
def test_every_state_input_pair(
    build: Callable[[Any], AnyTxn], state: Enum, inp: TxnInput, table: Mapping[Any, Any]
) -> None:
    """A listed pair moves to its table state; a missing pair drops the input
    and terminates; TERMINATED never sends and never re-reports termination."""
    txn = build(state)
    assert txn.state is state
    txn.pop_events()
    txn.pop_outgoing()
    handled = txn._dispatch(inp, message_for(inp, txn), 1.0)
    events = txn.pop_events()
    if (state, inp) in table:
        assert handled
        assert txn.state is table[(state, inp)][1]
    else:
        assert not handled
        assert txn.is_terminated
        assert isinstance(events[0], MessageDropped)
        expected = [] if state.name == "TERMINATED" else [TransactionTerminated]
        assert [type(e) for e in events[1:]] == expected
        assert txn.pop_outgoing() == []
    if txn.is_terminated:
        assert txn.next_deadline() is None


@pytest.mark.parametrize(("name", "states", "build", "table"), MACHINES)
def test_tables_only_name_own_states_and_never_leave_terminated(
    name: str,
    states: type[Enum],
    build: Callable[[Any], AnyTxn],
    table: Mapping[Any, Any],
) -> None:
    """Rows use the machine's own states, and none starts in TERMINATED."""
    for (state, inp), (_action, next_state) in table.items():
        assert isinstance(state, states) and isinstance(next_state, states)
        assert isinstance(inp, TxnInput)
        assert state.name != "TERMINATED"
