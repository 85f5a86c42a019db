"""Client transactions (RFC 3261 §17.1, RFC 6026 §8.4) under a fake clock."""

from __future__ import annotations

import itertools

import pytest

from gateway.sip.errors import LocalSipError
from gateway.sip.events import (
    MessageDropped,
    ResponseReceived,
    SipEvent,
    TransactionTerminated,
    TransactionTimedOut,
    TransportFailed,
)
from gateway.sip.message import SipMessage, SipRequest
from gateway.sip.timers import SipTimers
from gateway.sip.transaction import (
    ClientInviteState,
    ClientInviteTransaction,
    ClientNonInviteState,
    ClientNonInviteTransaction,
    Transaction,
    make_ack_for_non2xx,
    make_cancel,
)

from . import make_reply, make_request

TIMERS = SipTimers()


def run_timers(
    txn: Transaction[ClientInviteState] | Transaction[ClientNonInviteState],
    until: float,
) -> list[tuple[float, SipMessage]]:
    """Fire timers at their exact deadlines up to ``until``; log what is sent."""
    sent: list[tuple[float, SipMessage]] = []
    while (deadline := txn.next_deadline()) is not None and deadline <= until:
        txn.handle_timeout(deadline)
        sent.extend((deadline, m) for m in txn.pop_outgoing())
    return sent


def kinds(events: list[SipEvent]) -> list[type]:
    return [type(e) for e in events]


def started_invite(*, is_reliable: bool = False) -> ClientInviteTransaction:
    txn = ClientInviteTransaction(
        make_request("INVITE"), is_reliable=is_reliable, timers=TIMERS
    )
    txn.start(0.0)
    return txn


def test_invite_timer_a_doubles_without_cap_until_timer_b() -> None:
    """§17.1.1.2: A = T1, 2T1, 4T1... (no T2 cap); B at 64*T1 times out."""
    txn = started_invite()
    assert [m.method for m in txn.pop_outgoing()] == ["INVITE"]  # type: ignore[union-attr]
    sent = run_timers(txn, 100.0)
    assert [at for at, _ in sent] == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert txn.is_terminated
    events = txn.pop_events()
    assert kinds(events) == [TransactionTimedOut, TransactionTerminated]


def test_invite_over_reliable_transport_never_retransmits() -> None:
    """§17.1.1.2: Timer A is not started on a reliable transport; B still is."""
    txn = started_invite(is_reliable=True)
    txn.pop_outgoing()
    assert txn.next_deadline() == 32.0
    assert run_timers(txn, 100.0) == []
    assert txn.is_terminated


def test_provisional_stops_retransmissions_and_timer_b() -> None:
    """§17.1.1.2: a 1xx moves to Proceeding, which has no timer."""
    txn = started_invite()
    txn.pop_outgoing()
    txn.receive_response(make_reply(txn.request, 180), 0.2)
    assert txn.state is ClientInviteState.PROCEEDING
    assert txn.next_deadline() is None
    assert kinds(txn.pop_events()) == [ResponseReceived]


def test_cancel_rearms_timer_b_in_proceeding() -> None:
    """§9.1: after a CANCEL the INVITE gives up 64*T1 later without a final."""
    txn = started_invite()
    txn.receive_response(make_reply(txn.request, 180), 1.0)
    txn.note_cancel_sent(2.0)
    assert txn.next_deadline() == 34.0
    txn.handle_timeout(34.0)
    assert txn.is_terminated


def test_2xx_goes_to_tu_and_waits_in_accepted_for_timer_m() -> None:
    """RFC 6026 §8.4: 2xx and its retransmissions reach the TU; M ends it."""
    txn = started_invite()
    txn.pop_outgoing()
    ok = make_reply(txn.request, 200)
    txn.receive_response(ok, 1.0)
    assert txn.state is ClientInviteState.ACCEPTED
    txn.receive_response(ok, 2.0)
    events = txn.pop_events()
    assert kinds(events) == [ResponseReceived, ResponseReceived]
    assert txn.pop_outgoing() == []  # The TU sends the 2xx ACK, not us.
    assert txn.next_deadline() == 33.0
    txn.handle_timeout(33.0)
    assert txn.is_terminated


def test_non2xx_is_acked_by_the_transaction() -> None:
    """§17.1.1.3: the ACK reuses the branch, Call-ID, From, CSeq number and
    Route, takes To (with tag) from the response; retransmissions re-ACK."""
    invite = make_request("INVITE", extra=[("Route", "<sip:p1.example;lr>")])
    txn = ClientInviteTransaction(invite, is_reliable=False, timers=TIMERS)
    txn.start(0.0)
    txn.pop_outgoing()
    busy = make_reply(invite, 486)
    txn.receive_response(busy, 0.3)
    (ack,) = txn.pop_outgoing()
    assert isinstance(ack, SipRequest) and ack.method == "ACK"
    assert ack.uri == invite.uri
    assert ack.headers.values("via") == [invite.headers.values("via")[0]]
    assert ack.cseq.seq == 1 and ack.cseq.method == "ACK"
    assert ack.to_addr.tag == "ttag1"
    assert ack.headers.get("from") == invite.headers.get("from")
    assert ack.headers.get_all("route") == ["<sip:p1.example;lr>"]
    assert txn.state is ClientInviteState.COMPLETED
    txn.receive_response(busy, 1.0)
    assert txn.pop_outgoing() == [ack]
    assert kinds(txn.pop_events()) == [ResponseReceived]  # Only the first.
    assert txn.next_deadline() == pytest.approx(32.3)
    txn.handle_timeout(32.3)
    assert txn.is_terminated


def test_timer_d_is_zero_on_reliable_transport() -> None:
    """§17.1.1.2: Timer D is 0 s on reliable transports: terminate at once."""
    txn = started_invite(is_reliable=True)
    txn.receive_response(make_reply(txn.request, 603), 0.3)
    assert txn.is_terminated
    assert [m.method for m in txn.pop_outgoing()] == ["INVITE", "ACK"]  # type: ignore[union-attr]


def test_completed_absorbs_late_provisional_and_2xx() -> None:
    """A 1xx or 2xx after a final response in Completed is swallowed."""
    txn = started_invite()
    txn.receive_response(make_reply(txn.request, 404), 0.1)
    txn.pop_events()
    txn.pop_outgoing()
    txn.receive_response(make_reply(txn.request, 180), 0.2)
    txn.receive_response(make_reply(txn.request, 200), 0.3)
    assert txn.pop_events() == [] and txn.pop_outgoing() == []
    assert txn.state is ClientInviteState.COMPLETED


def test_transport_error_is_reported_and_terminates() -> None:
    """§17.1.4: a transport failure is reported to the TU."""
    txn = started_invite()
    txn.transport_error(0.1)
    assert kinds(txn.pop_events()) == [TransportFailed, TransactionTerminated]
    assert txn.is_terminated and txn.next_deadline() is None


def test_bad_status_and_unstarted_are_dropped() -> None:
    """A status outside 100-699, or any response before start(), is dropped."""
    txn = ClientInviteTransaction(make_request(), is_reliable=False, timers=TIMERS)
    txn.receive_response(make_reply(txn.request, 180), 0.0)
    txn.start(0.0)
    with pytest.raises(LocalSipError):
        txn.start(0.0)
    txn.receive_response(make_reply(txn.request, 700), 0.1)
    assert kinds(txn.pop_events()) == [MessageDropped, MessageDropped]
    assert txn.state is ClientInviteState.CALLING


def test_constructors_reject_wrong_methods_and_branches() -> None:
    """Client transactions need the right method and a magic-cookie branch."""
    with pytest.raises(LocalSipError):
        ClientInviteTransaction(make_request("BYE"), is_reliable=False, timers=TIMERS)
    with pytest.raises(LocalSipError):
        ClientNonInviteTransaction(
            make_request("ACK"), is_reliable=False, timers=TIMERS
        )
    with pytest.raises(LocalSipError):
        ClientInviteTransaction(
            make_request(branch="old-2543"), is_reliable=False, timers=TIMERS
        )
    with pytest.raises(LocalSipError):
        ClientInviteTransaction(
            make_request(branch=""), is_reliable=False, timers=TIMERS
        )


def non_invite(*, is_reliable: bool = False) -> ClientNonInviteTransaction:
    txn = ClientNonInviteTransaction(
        make_request("OPTIONS"), is_reliable=is_reliable, timers=TIMERS
    )
    txn.start(0.0)
    txn.pop_outgoing()
    return txn


def test_non_invite_timer_e_doubles_to_t2_until_timer_f() -> None:
    """§17.1.2.2: E = T1 doubling up to T2 = 4 s; F = 64*T1 times out."""
    txn = non_invite()
    sent = run_timers(txn, 100.0)
    times = [at for at, _ in sent]
    assert times[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]
    assert all(b - a == 4.0 for a, b in itertools.pairwise(times[3:]))
    assert times[-1] == 31.5
    assert kinds(txn.pop_events()) == [TransactionTimedOut, TransactionTerminated]


def test_non_invite_proceeding_retransmits_every_t2() -> None:
    """§17.1.2.2: once a 1xx arrived, Timer E is reset to T2 each time."""
    txn = non_invite()
    txn.receive_response(make_reply(txn.request, 100), 0.2)
    assert txn.state is ClientNonInviteState.PROCEEDING
    sent = run_timers(txn, 12.0)
    assert [at for at, _ in sent] == [0.5, 4.5, 8.5]


def test_non_invite_final_then_timer_k() -> None:
    """§17.1.2.2: a final goes to the TU once; K = T4 absorbs retransmissions."""
    txn = non_invite()
    ok = make_reply(txn.request, 200)
    txn.receive_response(ok, 1.0)
    txn.receive_response(ok, 2.0)
    txn.receive_response(make_reply(txn.request, 180), 2.1)
    assert kinds(txn.pop_events()) == [ResponseReceived]
    assert txn.state is ClientNonInviteState.COMPLETED
    assert txn.next_deadline() == 6.0
    txn.handle_timeout(6.0)
    assert txn.is_terminated


def test_non_invite_reliable_no_timer_e_and_k_zero() -> None:
    """§17.1.2.2: on reliable transports no E, and K = 0 ends it at once."""
    txn = non_invite(is_reliable=True)
    assert txn.next_deadline() == 32.0
    txn.receive_response(make_reply(txn.request, 500), 0.1)
    assert txn.is_terminated


def test_make_cancel_copies_hop_fields() -> None:
    """§9.1: CANCEL keeps Request-URI, Call-ID, From, To, CSeq number, top Via."""
    invite = make_request(
        "INVITE",
        extra=[("Via", "SIP/2.0/UDP second.example"), ("Route", "<sip:p;lr>")],
    )
    cancel = make_cancel(invite)
    assert cancel.method == "CANCEL" and cancel.uri == invite.uri
    assert cancel.headers.values("via") == [invite.headers.values("via")[0]]
    assert cancel.cseq.seq == invite.cseq.seq and cancel.cseq.method == "CANCEL"
    assert cancel.headers.get("to") == invite.headers.get("to")
    assert cancel.call_id == invite.call_id
    assert cancel.headers.get_all("route") == ["<sip:p;lr>"]
    with pytest.raises(LocalSipError):
        make_cancel(make_request("ACK"))
    ack = make_ack_for_non2xx(invite, make_reply(invite, 486))
    assert ack.headers.get("to") != invite.headers.get("to")
