"""TransactionLayer matching, creation, CANCEL routing and clean-up."""

from __future__ import annotations

import pytest

from gateway.sip.errors import LocalSipError
from gateway.sip.events import (
    AckReceived,
    CancelReceived,
    MessageDropped,
    RequestReceived,
    ResponseReceived,
    SipEvent,
    TransactionTerminated,
    TransportFailed,
)
from gateway.sip.message import SipMessage, SipRequest, SipResponse
from gateway.sip.timers import SipTimers
from gateway.sip.transaction import ClientInviteState, ServerInviteTransaction
from gateway.sip.transaction_layer import TransactionLayer

from . import counting_ids, make_reply, make_request

QUIET = SipTimers(is_auto_trying=False)


def layer() -> TransactionLayer:
    return TransactionLayer(timers=QUIET, ids=counting_ids())


def kinds(events: list[SipEvent]) -> list[type]:
    return [type(e) for e in events]


def labels(outgoing: list[tuple[SipMessage, object]]) -> list[tuple[str, object]]:
    return [
        (m.method if isinstance(m, SipRequest) else str(m.status), dest)
        for m, dest in outgoing
    ]


def feed(tl: TransactionLayer, message: SipMessage, now: float = 0.0) -> None:
    tl.receive_message(message, source="peer", is_reliable=False, now=now)


def test_new_request_creates_server_transaction_and_retransmission_matches() -> None:
    """§17.2.3: same branch, sent-by and method is a retransmission."""
    tl = layer()
    feed(tl, make_request("OPTIONS"))
    (event,) = tl.pop_events()
    assert isinstance(event, RequestReceived) and event.source == "peer"
    tl.send_response(event.transaction_id, make_reply(event.request, 200), 0.1)
    feed(tl, make_request("OPTIONS"), 0.5)
    assert tl.pop_events() == []
    assert labels(tl.pop_outgoing()) == [("200", "peer"), ("200", "peer")]
    assert len(tl) == 1


def test_same_branch_other_sent_by_or_method_is_a_new_transaction() -> None:
    """§17.2.3: sent-by and method are part of the server match."""
    tl = layer()
    feed(tl, make_request("OPTIONS"))
    feed(tl, make_request("OPTIONS", sent_by="other.example.com"))
    feed(tl, make_request("INFO", cseq_method="INFO"))
    assert kinds(tl.pop_events()) == [RequestReceived] * 3
    assert len(tl) == 3


def test_rfc2543_fallback_matches_retransmission_and_ack() -> None:
    """§17.2.3: without the magic cookie, requests match by URI, tags, Call-ID,
    CSeq and top Via; the ACK for a non-2xx finds its INVITE."""
    tl = layer()
    feed(tl, make_request("INVITE", branch="old1"))
    (event,) = tl.pop_events()
    assert isinstance(event, RequestReceived)
    tl.send_response(event.transaction_id, make_reply(event.request, 486), 0.1)
    feed(tl, make_request("INVITE", branch="old1"), 0.2)
    assert labels(tl.pop_outgoing()) == [("486", "peer"), ("486", "peer")]
    feed(tl, make_request("ACK", branch="old1", to_tag="ttag1"), 0.3)
    txn = tl.get(event.transaction_id)
    assert txn is not None and txn.state.name == "CONFIRMED"
    feed(tl, make_request("INVITE", branch="", cseq=2))
    assert kinds(tl.pop_events()) == [RequestReceived]


def test_ack_for_2xx_goes_to_tu_without_transaction() -> None:
    """§17.2.3: an ACK matching no transaction (2xx ACK) is passed to the TU."""
    tl = layer()
    feed(tl, make_request("ACK", branch="z9hG4bKack", to_tag="t"))
    (event,) = tl.pop_events()
    assert isinstance(event, AckReceived) and event.transaction_id is None
    assert len(tl) == 0


def test_response_matching_by_branch_and_cseq_method() -> None:
    """§17.1.3: a response matches on branch and CSeq method only."""
    tl = layer()
    invite = make_request("INVITE")
    key = tl.send_request(invite, destination="uas", is_reliable=False, now=0.0)
    assert labels(tl.pop_outgoing()) == [("INVITE", "uas")]
    cancel_reply = make_reply(make_request("CANCEL"), 200)
    feed(tl, cancel_reply)
    feed(tl, make_reply(make_request("INVITE", branch="z9hG4bKother"), 180))
    assert kinds(tl.pop_events()) == [MessageDropped, MessageDropped]
    feed(tl, make_reply(invite, 180))
    (event,) = tl.pop_events()
    assert isinstance(event, ResponseReceived) and event.transaction_id == key


def test_unusable_messages_are_dropped() -> None:
    """Messages without Via or branch are dropped with a diagnostic event."""
    tl = layer()
    no_via = make_request("OPTIONS")
    no_via.headers.remove("via")
    feed(tl, no_via)
    response = make_reply(make_request("OPTIONS"), 200)
    response.headers.remove("via")
    feed(tl, response)
    events = tl.pop_events()
    assert kinds(events) == [MessageDropped, MessageDropped]
    assert len(tl) == 0


def test_transaction_limit_drops_new_requests() -> None:
    """New requests beyond max_transactions are dropped before allocation."""
    tl = TransactionLayer(timers=QUIET, ids=counting_ids(), max_transactions=1)
    feed(tl, make_request("OPTIONS", branch="z9hG4bKa"))
    feed(tl, make_request("OPTIONS", branch="z9hG4bKb"))
    assert kinds(tl.pop_events()) == [RequestReceived, MessageDropped]
    assert len(tl) == 1


def test_cancel_is_answered_and_routed_to_its_invite() -> None:
    """§9.2: the layer answers a matching CANCEL with 200 (same To tag as the
    INVITE's responses) and tells the TU which INVITE it cancels."""
    tl = layer()
    feed(tl, make_request("INVITE"))
    (invite_event,) = tl.pop_events()
    assert isinstance(invite_event, RequestReceived)
    tl.send_response(
        invite_event.transaction_id, make_reply(invite_event.request, 180), 0
    )
    feed(tl, make_request("CANCEL"), 0.5)
    (event,) = tl.pop_events()
    assert isinstance(event, CancelReceived)
    assert event.invite_transaction_id == invite_event.transaction_id
    out = tl.pop_outgoing()
    assert labels(out) == [("180", "peer"), ("200", "peer")]
    ok = out[1][0]
    assert isinstance(ok, SipResponse) and ok.cseq.method == "CANCEL"
    assert ok.to_addr.tag == "ttag1"


def test_cancel_without_invite_gets_481() -> None:
    """§9.2: a CANCEL matching no transaction is answered 481."""
    tl = layer()
    feed(tl, make_request("CANCEL"))
    assert kinds(tl.pop_events()) == [MessageDropped]
    (reply,) = [m for m, _ in tl.pop_outgoing()]
    assert isinstance(reply, SipResponse) and reply.status == 481
    assert reply.to_addr.tag


def test_cancel_waits_for_provisional_response() -> None:
    """§9.1: no CANCEL before a provisional response; it leaves on the 1xx."""
    tl = layer()
    invite = make_request("INVITE")
    key = tl.send_request(invite, destination="uas", is_reliable=False, now=0.0)
    assert tl.send_cancel(key, 0.1)
    assert labels(tl.pop_outgoing()) == [("INVITE", "uas")]
    feed(tl, make_reply(invite, 180), 0.2)
    (cancel, dest) = tl.pop_outgoing()[0]
    assert isinstance(cancel, SipRequest) and cancel.method == "CANCEL"
    assert dest == "uas"
    txn = tl.get(key)
    assert txn is not None and txn.next_deadline() == pytest.approx(32.2)
    assert tl.send_cancel(key, 0.3)  # Already under way: not repeated.
    assert tl.pop_outgoing() == []
    assert len(tl) == 2


def test_cancel_after_final_or_for_unknown_is_refused() -> None:
    """§9.1: a CANCEL after a final response has no effect and is not sent."""
    tl = layer()
    invite = make_request("INVITE")
    key = tl.send_request(invite, destination="uas", is_reliable=False, now=0.0)
    assert tl.send_cancel(key, 0.1)  # Pending until a 1xx...
    feed(tl, make_reply(invite, 200), 0.2)  # ...which never comes.
    tl.pop_outgoing()
    assert not tl.send_cancel(key, 0.3)
    tl.handle_timeout(100.0)
    assert len(tl) == 0
    assert not tl.send_cancel(key, 101.0)


def test_send_request_errors() -> None:
    """ACK is never a transaction; a branch may be used once."""
    tl = layer()
    with pytest.raises(LocalSipError):
        tl.send_request(make_request("ACK"), destination=1, is_reliable=False, now=0)
    tl.send_request(make_request("OPTIONS"), destination=1, is_reliable=False, now=0)
    with pytest.raises(LocalSipError):
        tl.send_request(
            make_request("OPTIONS"), destination=1, is_reliable=False, now=0
        )
    client = tl.send_request(
        make_request("BYE", branch="z9hG4bKbye"),
        destination=1,
        is_reliable=False,
        now=0,
    )
    with pytest.raises(LocalSipError):
        tl.send_response(client, make_reply(make_request(), 200), 0)


def test_terminated_transactions_are_collected_and_timers_fire() -> None:
    """Timers fire through the layer; terminated transactions disappear."""
    tl = layer()
    key = tl.send_request(
        make_request("OPTIONS"), destination="d", is_reliable=False, now=0
    )
    assert tl.next_deadline() == 0.5
    tl.handle_timeout(0.5)
    assert labels(tl.pop_outgoing()) == [("OPTIONS", "d"), ("OPTIONS", "d")]
    tl.transport_error(key, 0.6)
    assert kinds(tl.pop_events()) == [TransportFailed, TransactionTerminated]
    assert len(tl) == 0 and tl.next_deadline() is None
    tl.transport_error(key, 0.7)  # Unknown ids are ignored.


def test_send_stateless_and_accepted_invite_server() -> None:
    """The TU's 2xx ACK goes out statelessly; a 2xx keeps the server INVITE
    transaction in Accepted until Timer L."""
    tl = layer()
    tl.send_stateless(make_request("ACK"), "d")
    assert labels(tl.pop_outgoing()) == [("ACK", "d")]
    feed(tl, make_request("INVITE"))
    (event,) = tl.pop_events()
    assert isinstance(event, RequestReceived)
    tl.send_response(event.transaction_id, make_reply(event.request, 200), 0.0)
    txn = tl.get(event.transaction_id)
    assert isinstance(txn, ServerInviteTransaction)
    assert txn.state.name == "ACCEPTED"
    with pytest.raises(LocalSipError):
        tl.send_response(event.transaction_id, make_reply(event.request, 500), 0.1)
    assert len(tl) == 0
    assert ClientInviteState.CALLING.value == "calling"
