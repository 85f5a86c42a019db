"""Rule-based state machines for SIP transactions under a fake clock.

Single transactions get arbitrary responses, retransmissions, TU commands,
transport errors and clock jumps; two transaction layers talk over a wire
that loses, duplicates and reorders. Invariants: nothing is sent after
TERMINATED, no timer is ever due in the past, termination is reported once,
and once the TU has done its part every transaction terminates in bounded
time.
"""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from gateway.sip.errors import LocalSipError
from gateway.sip.events import (
    RequestReceived,
    ResponseReceived,
    TransactionTerminated,
)
from gateway.sip.ids import IdSource
from gateway.sip.message import Headers, SipMessage, SipRequest, make_response
from gateway.sip.parse import parse_message
from gateway.sip.serialize import serialize
from gateway.sip.timers import SipTimers
from gateway.sip.transaction import (
    _SERVER_INVITE_TABLE,
    _SERVER_NON_INVITE_TABLE,
    ClientInviteState,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteState,
    ServerInviteTransaction,
    ServerNonInviteState,
    ServerNonInviteTransaction,
    Transaction,
    TxnInput,
)
from gateway.sip.transaction_layer import TransactionLayer

TIMERS = SipTimers()
# Long enough for any transaction to finish once its TU acted (64*T1 + D).
QUIESCENCE_S = TIMERS.b_s + TIMERS.timer_d_s + TIMERS.t4_s + 1.0
STATUSES = st.sampled_from([100, 180, 183, 200, 202, 302, 404, 486, 500, 603])
DELAYS = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)


def request(method: str, branch: str = "z9hG4bKprop", cseq: int = 1) -> SipRequest:
    headers = Headers(
        [
            ("Via", f"SIP/2.0/UDP client.example:5060;branch={branch}"),
            ("Max-Forwards", "70"),
            ("From", "<sip:a@client.example>;tag=fa"),
            ("To", "<sip:b@server.example>"),
            ("Call-ID", f"{branch}@client.example"),
            ("CSeq", f"{cseq} {method}"),
        ]
    )
    return SipRequest(headers=headers, method=method, uri="sip:b@server.example")


def reply(req: SipRequest, status: int) -> Any:
    return make_response(req, status, to_tag=None if status == 100 else "tb")


class _SingleTransaction(RuleBasedStateMachine):
    """Shared clock, output log and invariants for one transaction."""

    txn: Transaction[Any]

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.was_terminated = False
        self.terminated_events = 0
        # Half the runs let the transport fail and the TU misbehave; those
        # inputs terminate at once, so the other half explore the timers.
        self.is_hostile = False

    def drain(self) -> None:
        outgoing = self.txn.pop_outgoing()
        assert not (self.was_terminated and outgoing), "sent after TERMINATED"
        for event in self.txn.pop_events():
            self.terminated_events += isinstance(event, TransactionTerminated)
        self.was_terminated = self.txn.is_terminated

    @rule(delay=DELAYS)
    def advance(self, delay: float) -> None:
        self.now += delay
        self.txn.handle_timeout(self.now)
        self.drain()

    @precondition(lambda self: self.is_hostile)
    @rule()
    def transport_error(self) -> None:
        self.txn.transport_error(self.now)
        self.drain()

    @invariant()
    def no_timer_in_the_past(self) -> None:
        deadline = self.txn.next_deadline()
        assert deadline is None or deadline > self.now
        if self.txn.is_terminated:
            assert deadline is None

    @invariant()
    def termination_reported_once(self) -> None:
        assert self.terminated_events == int(self.txn.is_terminated)

    def tu_finishes(self) -> None:
        """The TU's part of the protocol, done at teardown."""

    def teardown(self) -> None:
        if not hasattr(self, "txn"):
            return
        self.tu_finishes()
        self.drain()
        limit = self.now + QUIESCENCE_S
        while (deadline := self.txn.next_deadline()) is not None:
            assert deadline <= limit, "a timer outlives 64*T1 + Timer D"
            self.now = deadline
            self.txn.handle_timeout(deadline)
            self.drain()
        assert self.txn.is_terminated, f"stuck in {self.txn.state}"


class ClientTransactionMachine(_SingleTransaction):
    """INVITE or non-INVITE client transaction fed arbitrary responses."""

    txn: ClientInviteTransaction | ClientNonInviteTransaction

    @initialize(
        method=st.sampled_from(["INVITE", "OPTIONS"]),
        reliable=st.booleans(),
        hostile=st.booleans(),
    )
    def start(self, method: str, reliable: bool, hostile: bool) -> None:
        self.is_hostile = hostile
        cls = (
            ClientInviteTransaction
            if method == "INVITE"
            else ClientNonInviteTransaction
        )
        self.txn = cls(request(method), is_reliable=reliable, timers=TIMERS)
        self.txn.start(self.now)
        self.drain()

    @rule(status=STATUSES)
    def receive(self, status: int) -> None:
        self.txn.receive_response(reply(self.txn.request, status), self.now)
        self.drain()

    def tu_finishes(self) -> None:
        # §9.1: a TU tired of ringing sends CANCEL, which bounds Proceeding.
        if self.txn.state is ClientInviteState.PROCEEDING:
            assert isinstance(self.txn, ClientInviteTransaction)
            self.txn.note_cancel_sent(self.now)


class ServerTransactionMachine(_SingleTransaction):
    """INVITE or non-INVITE server transaction with retransmissions, ACKs and
    TU responses, allowed or not."""

    txn: ServerInviteTransaction | ServerNonInviteTransaction

    @initialize(
        method=st.sampled_from(["INVITE", "OPTIONS"]),
        reliable=st.booleans(),
        hostile=st.booleans(),
    )
    def start(self, method: str, reliable: bool, hostile: bool) -> None:
        self.is_hostile = hostile
        cls = (
            ServerInviteTransaction
            if method == "INVITE"
            else ServerNonInviteTransaction
        )
        self.txn = cls(request(method), is_reliable=reliable, timers=TIMERS, now=0.0)
        self.drain()

    @rule()
    def retransmission(self) -> None:
        self.txn.receive_request(request(self.txn.request.method), self.now)
        self.drain()

    @precondition(lambda self: self.txn.request.method == "INVITE")
    @rule()
    def ack(self) -> None:
        self.txn.receive_request(request("ACK"), self.now)
        self.drain()

    def _is_allowed(self, status: int) -> bool:
        table: Any = (
            _SERVER_INVITE_TABLE
            if isinstance(self.txn, ServerInviteTransaction)
            else _SERVER_NON_INVITE_TABLE
        )
        kind = TxnInput.SEND_PROVISIONAL
        if status >= 200:
            kind = TxnInput.SEND_SUCCESS if status < 300 else TxnInput.SEND_FAILURE
        return (self.txn.state, kind) in table

    @rule(status=STATUSES)
    def respond(self, status: int) -> None:
        if self._is_allowed(status):
            self.txn.send_response(reply(self.txn.request, status), self.now)
            self.drain()

    @precondition(lambda self: self.is_hostile)
    @rule(status=STATUSES)
    def misuse(self, status: int) -> None:
        if not self._is_allowed(status):
            try:
                self.txn.send_response(reply(self.txn.request, status), self.now)
            except LocalSipError:
                assert self.txn.is_terminated
            else:
                raise AssertionError("a forbidden response was accepted")
            self.drain()

    def tu_finishes(self) -> None:
        # The TU must answer every request (§8.2); then timers end the rest.
        pending = (
            ServerInviteState.PROCEEDING,
            ServerNonInviteState.TRYING,
            ServerNonInviteState.PROCEEDING,
        )
        if self.txn.state in pending:
            self.txn.send_response(reply(self.txn.request, 486), self.now)


class LossyWireMachine(RuleBasedStateMachine):
    """UAC and UAS transaction layers over a wire that loses, duplicates and
    reorders; the UAS TU answers when told to."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.ids = IdSource()
        self.uac = TransactionLayer(timers=TIMERS)
        self.uas = TransactionLayer(timers=TIMERS)
        self.wire: list[tuple[bool, bytes]] = []  # (to_uas, data)
        self.unanswered: list[tuple[Any, SipRequest]] = []
        self.finals: dict[Any, int] = {}
        self.methods: dict[Any, str] = {}

    def pump(self) -> None:
        for layer, to_uas in ((self.uac, True), (self.uas, False)):
            for message, _ in layer.pop_outgoing():
                self.wire.append((to_uas, serialize(message)))
        for event in self.uas.pop_events():
            if isinstance(event, RequestReceived) and event.request.method != "CANCEL":
                self.unanswered.append((event.transaction_id, event.request))
        for event in self.uac.pop_events():
            if isinstance(event, ResponseReceived) and event.response.status >= 200:
                key = event.transaction_id
                self.finals[key] = self.finals.get(key, 0) + 1
                # Only INVITE 2xx may reach the TU more than once (RFC 6026).
                if self.methods[key] != "INVITE" or event.response.status >= 300:
                    assert self.finals[key] == 1, "final response passed up twice"

    def deliver(self, to_uas: bool, data: bytes) -> None:
        message: SipMessage = parse_message(data)
        layer = self.uas if to_uas else self.uac
        layer.receive_message(message, source="peer", is_reliable=False, now=self.now)
        self.pump()

    @rule(method=st.sampled_from(["INVITE", "OPTIONS", "BYE"]))
    def send_request(self, method: str) -> None:
        req = request(method, branch=self.ids.new_branch())
        key = self.uac.send_request(
            req, destination="uas", is_reliable=False, now=self.now
        )
        self.methods[key] = method
        self.pump()

    @precondition(lambda self: self.unanswered)
    @rule(data=st.data(), status=STATUSES)
    def answer(self, data: st.DataObject, status: int) -> None:
        index = data.draw(st.integers(0, len(self.unanswered) - 1))
        key, req = self.unanswered[index]
        if self.uas.get(key) is None:
            self.unanswered.pop(index)
            return
        self.uas.send_response(key, reply(req, status), self.now)
        if status >= 200:
            self.unanswered.pop(index)
        self.pump()

    @precondition(lambda self: self.wire)
    @rule(data=st.data(), fate=st.sampled_from(["deliver", "lose", "duplicate"]))
    def wire_step(self, data: st.DataObject, fate: str) -> None:
        # Picking any in-flight message, not the oldest, reorders the wire.
        index = data.draw(st.integers(0, len(self.wire) - 1))
        to_uas, payload = self.wire[index]
        if fate != "duplicate":
            self.wire.pop(index)
        if fate != "lose":
            self.deliver(to_uas, payload)

    @rule(delay=DELAYS)
    def advance(self, delay: float) -> None:
        self.now += delay
        self.uac.handle_timeout(self.now)
        self.uas.handle_timeout(self.now)
        self.pump()

    @invariant()
    def deadlines_not_in_the_past(self) -> None:
        for layer in (self.uac, self.uas):
            deadline = layer.next_deadline()
            assert deadline is None or deadline > self.now

    def teardown(self) -> None:
        # The UAS TU answers everything; then the wire goes quiet (losing what
        # is in flight) and both layers must drain within 64*T1 + D + T4.
        for key, req in self.unanswered:
            if self.uas.get(key) is not None:
                self.uas.send_response(key, reply(req, 486), self.now)
        self.unanswered.clear()
        self.pump()
        self.wire.clear()
        # A proceeding INVITE needs the UAC TU to CANCEL it (§9.1).
        for key in list(self.methods):
            if self.uac.get(key) is not None and self.methods[key] == "INVITE":
                self.uac.send_cancel(key, self.now)
        self.pump()
        self.wire.clear()
        limit = self.now + QUIESCENCE_S
        while (deadline := self.next_deadline()) is not None:
            assert deadline <= limit
            self.now = deadline
            self.uac.handle_timeout(deadline)
            self.uas.handle_timeout(deadline)
            self.pump()
            self.wire.clear()
        assert len(self.uac) == 0 and len(self.uas) == 0

    def next_deadline(self) -> float | None:
        times = [
            d
            for d in (self.uac.next_deadline(), self.uas.next_deadline())
            if d is not None
        ]
        return min(times, default=None)


_SETTINGS = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestClientTransaction = ClientTransactionMachine.TestCase
TestClientTransaction.settings = _SETTINGS
TestServerTransaction = ServerTransactionMachine.TestCase
TestServerTransaction.settings = _SETTINGS
TestLossyWire = LossyWireMachine.TestCase
TestLossyWire.settings = _SETTINGS
