"""Server transactions (RFC 3261 §17.2, RFC 6026 §7.1) under a fake clock."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.sip.errors import LocalSipError
from gateway.sip.events import (
    AckReceived,
    MessageDropped,
    RequestReceived,
    SipEvent,
    TransactionTerminated,
    TransactionTimedOut,
)
from gateway.sip.message import SipMessage, SipResponse
from gateway.sip.timers import SipTimers
from gateway.sip.transaction import (
    ServerInviteState,
    ServerInviteTransaction,
    ServerNonInviteState,
    ServerNonInviteTransaction,
)

from . import make_reply, make_request

TIMERS = SipTimers()
QUIET = SipTimers(is_auto_trying=False)


def statuses(messages: list[SipMessage]) -> list[int]:
    return [m.status for m in messages if isinstance(m, SipResponse)]


def kinds(events: list[SipEvent]) -> list[type]:
    return [type(e) for e in events]


def server_invite(
    *, is_reliable: bool = False, timers: SipTimers = QUIET
) -> ServerInviteTransaction:
    txn = ServerInviteTransaction(
        make_request("INVITE"), is_reliable=is_reliable, timers=timers, now=0.0
    )
    assert kinds(txn.pop_events()) == [RequestReceived]
    return txn


def test_auto_100_trying_after_200_ms() -> None:
    """§17.2.1: without a TU answer within 200 ms the transaction sends 100."""
    txn = server_invite(timers=TIMERS)
    assert txn.next_deadline() == pytest.approx(0.2)
    txn.handle_timeout(0.2)
    (trying,) = txn.pop_outgoing()
    assert isinstance(trying, SipResponse) and trying.status == 100
    assert trying.to_addr.tag is None
    txn.receive_request(make_request("INVITE"), 0.5)
    assert statuses(txn.pop_outgoing()) == [100]  # Retransmission answered.


def test_auto_trying_is_skipped_when_tu_answers_first() -> None:
    """§17.2.1: a TU provisional within 200 ms cancels the automatic 100."""
    txn = server_invite(timers=TIMERS)
    txn.send_response(make_reply(txn.request, 180), 0.1)
    assert txn.next_deadline() is None
    assert statuses(txn.pop_outgoing()) == [180]


def test_auto_trying_flag_off() -> None:
    """With is_auto_trying=False no 100 is ever generated."""
    txn = server_invite(timers=QUIET)
    assert txn.next_deadline() is None
    txn.receive_request(make_request("INVITE"), 1.0)
    assert txn.pop_outgoing() == []  # Nothing to resend yet.


def test_invite_retransmission_resends_latest_provisional() -> None:
    """§17.2.1: in Proceeding a retransmitted INVITE gets the last 1xx again."""
    txn = server_invite()
    txn.send_response(make_reply(txn.request, 180), 0.1)
    txn.send_response(make_reply(txn.request, 183), 0.2)
    txn.pop_outgoing()
    txn.receive_request(make_request("INVITE"), 0.5)
    assert statuses(txn.pop_outgoing()) == [183]
    assert txn.pop_events() == []


def test_2xx_enters_accepted_and_passes_acks_until_timer_l() -> None:
    """RFC 6026 §7.1: Accepted absorbs INVITEs, passes ACKs, sends TU 2xx
    retransmissions and ends when Timer L (64*T1) fires."""
    txn = server_invite()
    ok = make_reply(txn.request, 200)
    txn.send_response(ok, 1.0)
    assert txn.state is ServerInviteState.ACCEPTED
    assert txn.next_deadline() == 33.0
    txn.receive_request(make_request("INVITE"), 1.5)
    assert txn.pop_outgoing() == [ok]  # Only the first send.
    txn.send_response(ok, 2.0)
    assert txn.pop_outgoing() == [ok]
    txn.receive_request(make_request("ACK"), 2.5)
    assert kinds(txn.pop_events()) == [AckReceived]
    txn.handle_timeout(33.0)
    assert txn.is_terminated
    assert kinds(txn.pop_events()) == [TransactionTerminated]


def test_failure_retransmits_with_timer_g_until_timer_h() -> None:
    """§17.2.1: G = T1 doubling to T2 resends the final; H = 64*T1 times out."""
    txn = server_invite()
    txn.send_response(make_reply(txn.request, 486), 0.0)
    txn.pop_outgoing()
    times = []
    while (deadline := txn.next_deadline()) is not None:
        txn.handle_timeout(deadline)
        times += [deadline] * len(txn.pop_outgoing())
    assert times[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]
    assert times[-1] == 31.5
    assert kinds(txn.pop_events()) == [TransactionTimedOut, TransactionTerminated]


def test_ack_confirms_and_timer_i_absorbs_retransmissions() -> None:
    """§17.2.1: ACK stops G and H; Confirmed absorbs ACKs for I = T4."""
    txn = server_invite()
    txn.send_response(make_reply(txn.request, 486), 0.0)
    txn.receive_request(make_request("INVITE"), 0.2)
    assert statuses(txn.pop_outgoing()) == [486, 486]
    txn.receive_request(make_request("ACK"), 0.3)
    assert txn.state is ServerInviteState.CONFIRMED
    assert txn.next_deadline() == pytest.approx(5.3)
    txn.receive_request(make_request("ACK"), 0.4)
    txn.receive_request(make_request("INVITE"), 0.4)
    assert txn.pop_outgoing() == [] and txn.pop_events() == []
    txn.handle_timeout(5.3)
    assert txn.is_terminated


def test_reliable_server_invite_no_g_and_zero_i() -> None:
    """§17.2.1: on reliable transports no G; the ACK terminates at once."""
    txn = server_invite(is_reliable=True)
    txn.send_response(make_reply(txn.request, 404), 0.0)
    assert txn.next_deadline() == 32.0  # Timer H only.
    txn.receive_request(make_request("ACK"), 0.1)
    assert txn.is_terminated


def test_ack_in_proceeding_is_ignored() -> None:
    """An ACK before any final response matches nothing useful: ignored."""
    txn = server_invite()
    txn.receive_request(make_request("ACK"), 0.1)
    assert txn.state is ServerInviteState.PROCEEDING
    assert txn.pop_events() == []


def test_second_final_response_is_a_local_error() -> None:
    """A TU sending 486 after 200 misuses the API: LocalSipError, TERMINATED."""
    txn = server_invite()
    txn.send_response(make_reply(txn.request, 200), 0.0)
    with pytest.raises(LocalSipError):
        txn.send_response(make_reply(txn.request, 486), 0.1)
    assert txn.is_terminated
    events = txn.pop_events()
    assert kinds(events) == [MessageDropped, TransactionTerminated]
    with pytest.raises(LocalSipError):
        txn.send_response(make_reply(txn.request, 99), 0.1)


def test_non_invite_server_absorbs_then_resends() -> None:
    """§17.2.2: Trying swallows retransmissions; later ones get the last reply."""
    txn = ServerNonInviteTransaction(
        make_request("OPTIONS"), is_reliable=False, timers=TIMERS, now=0.0
    )
    txn.receive_request(make_request("OPTIONS"), 0.1)
    assert txn.pop_outgoing() == []
    txn.send_response(make_reply(txn.request, 100), 0.2)
    txn.receive_request(make_request("OPTIONS"), 0.3)
    assert statuses(txn.pop_outgoing()) == [100, 100]
    assert txn.state is ServerNonInviteState.PROCEEDING
    txn.send_response(make_reply(txn.request, 200), 1.0)
    txn.receive_request(make_request("OPTIONS"), 2.0)
    assert statuses(txn.pop_outgoing()) == [200, 200]
    assert txn.next_deadline() == 33.0  # Timer J = 64*T1.
    txn.handle_timeout(33.0)
    assert txn.is_terminated


def test_non_invite_server_j_is_zero_on_reliable() -> None:
    """§17.2.2: Timer J is 0 on reliable transports."""
    txn = ServerNonInviteTransaction(
        make_request("BYE"), is_reliable=True, timers=TIMERS, now=0.0
    )
    txn.send_response(make_reply(txn.request, 200), 0.0)
    assert txn.is_terminated


def test_server_constructors_check_methods() -> None:
    """INVITE and non-INVITE server transactions take only their own methods."""
    with pytest.raises(LocalSipError):
        ServerInviteTransaction(
            make_request("BYE"), is_reliable=False, timers=TIMERS, now=0.0
        )
    with pytest.raises(LocalSipError):
        ServerNonInviteTransaction(
            make_request("INVITE"), is_reliable=False, timers=TIMERS, now=0.0
        )


def test_timers_are_frozen() -> None:
    """SipTimers is immutable config."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        TIMERS.t1_s = 1.0  # type: ignore[misc]
