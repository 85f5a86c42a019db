"""Two-party pumps: UAC and UAS transaction layers over a fake wire that loses,
duplicates and reorders messages, under a fake clock."""

from __future__ import annotations

from collections.abc import Callable

from pytest import approx

from gateway.sip.dialog import Dialog
from gateway.sip.events import (
    AckReceived,
    CancelReceived,
    RequestReceived,
    ResponseReceived,
    SipEvent,
    TransactionTimedOut,
)
from gateway.sip.message import SipMessage, SipRequest, SipResponse
from gateway.sip.timers import SipTimers

from . import UAC_HOST, Fate, Pump, make_reply, make_request

QUIET = SipTimers(is_auto_trying=False)


def lose(*indexes: int) -> Fate:
    """Lose the wire messages with these indexes; deliver the rest in 10 ms."""
    return lambda index, message: [] if index in indexes else [0.01]


def answer(*statuses: int) -> Callable[[Pump, SipEvent], None]:
    """A UAS TU that answers each new request with ``statuses`` at once."""

    def tu(pump: Pump, event: SipEvent) -> None:
        if isinstance(event, RequestReceived):
            for status in statuses:
                reply = make_reply(event.request, status)
                pump.uas.send_response(event.transaction_id, reply, pump.now)

    return tu


def responses(events: list[SipEvent]) -> list[int]:
    return [e.response.status for e in events if isinstance(e, ResponseReceived)]


def times(pump: Pump, sender: str, what: str) -> list[float]:
    return [at for at, _ in pump.sent_by(sender, what)]


def count(events: list[SipEvent], kind: type) -> int:
    return sum(isinstance(e, kind) for e in events)


def start_invite(pump: Pump) -> SipRequest:
    invite = make_request("INVITE")
    pump.uac.send_request(
        invite, destination="uas", is_reliable=pump.is_reliable, now=pump.now
    )
    return invite


def test_lossy_invite_rejection_recovers_by_retransmission() -> None:
    """INVITE, 486 and ACK each lost once: Timer A resends the INVITE, the
    server resends 486 on the retransmission and on Timer G, the client re-ACKs;
    each TU sees its message exactly once and both sides clean up."""
    pump = Pump(timers=QUIET, fate=lose(0, 2, 4), uas_tu=answer(486))
    start_invite(pump)
    pump.run()
    assert times(pump, "uac", "INVITE") == approx([0.0, 0.5])
    assert times(pump, "uas", "486") == approx([0.51, 1.01, 2.01])
    assert times(pump, "uac", "ACK") == approx([1.02, 2.02])
    assert count(pump.uas_events, RequestReceived) == 1
    assert responses(pump.uac_events) == [486]
    assert len(pump.uac) == len(pump.uas) == 0
    assert pump.now < 40.0


def test_duplicated_messages_reach_each_tu_once() -> None:
    """Every message duplicated: the TUs still see one request, one response."""
    pump = Pump(fate=lambda i, m: [0.01, 0.03], uas_tu=answer(200))
    pump.uac.send_request(
        make_request("OPTIONS"), destination="uas", is_reliable=False, now=0.0
    )
    pump.run()
    assert count(pump.uas_events, RequestReceived) == 1
    assert responses(pump.uac_events) == [200]
    assert len(pump.uac) == len(pump.uas) == 0


def test_reordered_provisional_after_2xx_is_absorbed() -> None:
    """A 180 overtaken by the 200 is absorbed in Accepted (RFC 6026 §8.4)."""

    def slow_ringing(index: int, message: SipMessage) -> list[float]:
        is_ringing = isinstance(message, SipResponse) and message.status == 180
        return [0.5] if is_ringing else [0.01]

    pump = Pump(timers=QUIET, fate=slow_ringing, uas_tu=answer(180, 200))
    start_invite(pump)
    pump.run()
    assert responses(pump.uac_events) == [200]


def test_2xx_ack_from_dialog_reaches_uas_tu() -> None:
    """The UAC TU ACKs the 2xx itself through its dialog (§13.2.2.4); the UAS
    TU gets it as AckReceived outside any transaction."""
    invite = make_request("INVITE")

    def uac_tu(pump: Pump, event: SipEvent) -> None:
        if isinstance(event, ResponseReceived) and event.response.status == 200:
            dialog = Dialog.from_uac(invite, event.response)
            ack = dialog.create_request("ACK", ids=pump.uac.ids, via_sent_by=UAC_HOST)
            pump.uac.send_stateless(ack, "uas")

    def uas_tu(pump: Pump, event: SipEvent) -> None:
        if isinstance(event, RequestReceived):
            ok = make_reply(event.request, 200, extra=[("Contact", "<sip:b@h>")])
            pump.uas.send_response(event.transaction_id, ok, pump.now)

    pump = Pump(timers=QUIET, uac_tu=uac_tu, uas_tu=uas_tu)
    pump.uac.send_request(invite, destination="uas", is_reliable=False, now=0.0)
    pump.run()
    acks = [e for e in pump.uas_events if isinstance(e, AckReceived)]
    assert len(acks) == 1 and acks[0].transaction_id is None
    assert acks[0].request.cseq.seq == invite.cseq.seq
    assert len(pump.uac) == len(pump.uas) == 0
    # Both INVITE transactions waited 64*T1 in Accepted.
    assert 32.0 <= pump.now < 33.0


def test_reliable_transport_sends_each_message_once() -> None:
    """Over TCP/TLS nothing is retransmitted and J/K are zero."""
    pump = Pump(is_reliable=True, uas_tu=answer(200))
    pump.uac.send_request(
        make_request("OPTIONS", transport="TCP"),
        destination="uas",
        is_reliable=True,
        now=0.0,
    )
    pump.step()
    pump.step()
    assert len(pump.uac) == len(pump.uas) == 0
    assert len(pump.sent) == 2
    assert pump.now == approx(0.02)


def test_cancel_flow_ends_with_487_and_ack() -> None:
    """§9: INVITE, 180, CANCEL (200 by the UAS layer), 487 from the TU, ACK."""

    def uac_tu(pump: Pump, event: SipEvent) -> None:
        if isinstance(event, ResponseReceived) and event.response.status == 180:
            assert pump.uac.send_cancel(event.transaction_id, pump.now)

    def uas_tu(pump: Pump, event: SipEvent) -> None:
        if isinstance(event, RequestReceived):
            ring = make_reply(event.request, 180)
            pump.uas.send_response(event.transaction_id, ring, pump.now)
        if isinstance(event, CancelReceived):
            txn = pump.uas.get(event.invite_transaction_id)
            assert txn is not None
            gone = make_reply(txn.request, 487)
            pump.uas.send_response(event.invite_transaction_id, gone, pump.now)

    pump = Pump(timers=QUIET, uac_tu=uac_tu, uas_tu=uas_tu)
    start_invite(pump)
    pump.run()
    assert responses(pump.uac_events) == [180, 200, 487]
    assert len(pump.sent_by("uac", "ACK")) == 1
    assert count(pump.uas_events, CancelReceived) == 1
    assert len(pump.uac) == len(pump.uas) == 0


def test_black_hole_times_out_invite_after_timer_b() -> None:
    """Nothing arrives: 7 INVITEs (A doubling), then Timer B at 64*T1."""
    pump = Pump(timers=QUIET, fate=lambda i, m: [])
    start_invite(pump)
    pump.run()
    assert len(pump.sent_by("uac", "INVITE")) == 7
    timeouts = [e for e in pump.uac_events if isinstance(e, TransactionTimedOut)]
    assert len(timeouts) == 1 and pump.now == 32.0


def test_lost_acks_time_out_server_with_timer_h() -> None:
    """Every ACK lost: the UAS gives up with Timer H at 64*T1 after its 486."""

    def no_ack(index: int, message: SipMessage) -> list[float]:
        is_ack = isinstance(message, SipRequest) and message.method == "ACK"
        return [] if is_ack else [0.01]

    timed_out_at: list[float] = []
    reject = answer(486)

    def uas_tu(pump: Pump, event: SipEvent) -> None:
        reject(pump, event)
        if isinstance(event, TransactionTimedOut):
            timed_out_at.append(pump.now)

    pump = Pump(timers=QUIET, fate=no_ack, uas_tu=uas_tu)
    start_invite(pump)
    pump.run()
    assert timed_out_at == approx([32.01])
    assert responses(pump.uac_events) == [486]


def test_auto_trying_stops_invite_retransmission() -> None:
    """§17.2.1: a silent TU triggers 100 Trying at 200 ms, which reaches the
    UAC before Timer A and stops INVITE retransmissions."""
    pump = Pump()
    start_invite(pump)
    pump.run(until=10.0)
    assert times(pump, "uas", "100") == approx([0.21])
    assert len(pump.sent_by("uac", "INVITE")) == 1
    assert responses(pump.uac_events) == [100]
