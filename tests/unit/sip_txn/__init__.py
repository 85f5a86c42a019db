"""Shared builders, a fake clock and a two-party pump for the transaction tests.

The pump joins a UAC and a UAS ``TransactionLayer`` through a fake wire that
serializes and re-parses every message and can lose, delay (and so reorder)
or duplicate each one, under a fake clock that jumps from event to event.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.sip.events import SipEvent
from gateway.sip.ids import IdSource
from gateway.sip.message import Headers, SipMessage, SipRequest, SipResponse
from gateway.sip.parse import parse_message
from gateway.sip.serialize import serialize
from gateway.sip.timers import SipTimers
from gateway.sip.transaction_layer import TransactionLayer

UAC_HOST = "uac.example.com:5060"
UAS_HOST = "uas.example.com:5060"


def counting_ids(start: int = 1) -> IdSource:
    """An IdSource whose random bytes are a counter: deterministic and unique."""
    counter = itertools.count(start)
    return IdSource(lambda n: next(counter).to_bytes(n, "big"))


def make_request(
    method: str = "INVITE",
    *,
    branch: str = "z9hG4bKtest1",
    sent_by: str = UAC_HOST,
    transport: str = "UDP",
    cseq: int = 1,
    cseq_method: str | None = None,
    uri: str = "sip:bob@uas.example.com",
    from_tag: str | None = "ftag1",
    to_tag: str | None = None,
    call_id: str = "call-1@uac.example.com",
    extra: list[tuple[str, str]] | None = None,
) -> SipRequest:
    """A request built directly from Headers, as a UAC would send it."""
    via = f"SIP/2.0/{transport} {sent_by}"
    if branch:
        via += f";branch={branch}"
    from_value = "Alice <sip:alice@uac.example.com>"
    if from_tag is not None:
        from_value += f";tag={from_tag}"
    to_value = "Bob <sip:bob@uas.example.com>"
    if to_tag is not None:
        to_value += f";tag={to_tag}"
    headers = Headers(
        [
            ("Via", via),
            ("Max-Forwards", "70"),
            ("From", from_value),
            ("To", to_value),
            ("Call-ID", call_id),
            ("CSeq", f"{cseq} {cseq_method or method}"),
            ("Contact", "<sip:alice@192.0.2.10:5060>"),
        ]
    )
    for name, value in extra or []:
        headers.add(name, value)
    return SipRequest(headers=headers, method=method, uri=uri)


def make_reply(
    request: SipRequest,
    status: int,
    *,
    to_tag: str | None = "ttag1",
    extra: list[tuple[str, str]] | None = None,
) -> SipResponse:
    """A response to ``request``; 100 never carries a To tag."""
    from gateway.sip.message import make_response

    tag = None if status == 100 else to_tag
    return make_response(request, status, to_tag=tag, extra_headers=extra)


def reparse(message: SipMessage) -> SipMessage:
    """The message as the peer sees it: serialized and parsed again."""
    return parse_message(serialize(message))


# A fate maps the n-th message on the wire to its delivery delays in
# seconds: [] loses it, two entries duplicate it, unequal delays reorder.
Fate = Callable[[int, SipMessage], list[float]]


def deliver_once(latency_s: float = 0.01) -> Fate:
    """Every message arrives once after ``latency_s``."""
    return lambda index, message: [latency_s]


@dataclass
class _InFlight:
    at: float
    order: int
    to_uas: bool
    data: bytes


@dataclass
class Pump:
    """UAC and UAS transaction layers over a fake wire, under a fake clock.

    ``uac_tu``/``uas_tu`` are called with (pump, event) for each event, and
    may issue commands on ``pump.uac``/``pump.uas``.
    """

    timers: SipTimers = field(default_factory=SipTimers)
    is_reliable: bool = False
    fate: Fate = field(default_factory=deliver_once)
    uac_tu: Callable[[Pump, SipEvent], None] | None = None
    uas_tu: Callable[[Pump, SipEvent], None] | None = None
    now: float = 0.0
    uac: TransactionLayer = field(init=False)
    uas: TransactionLayer = field(init=False)
    uac_events: list[SipEvent] = field(default_factory=list)
    uas_events: list[SipEvent] = field(default_factory=list)
    sent: list[tuple[float, str, SipMessage]] = field(default_factory=list)
    _wire: list[_InFlight] = field(default_factory=list)
    _counter: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.uac = TransactionLayer(timers=self.timers, ids=counting_ids(1000))
        self.uas = TransactionLayer(timers=self.timers, ids=counting_ids(5000))

    def settle(self) -> None:
        """Move queued messages onto the wire and hand events to the TUs."""
        while True:
            progressed = False
            for name, layer, to_uas in (
                ("uac", self.uac, True),
                ("uas", self.uas, False),
            ):
                for message, destination in layer.pop_outgoing():
                    progressed = True
                    assert destination == ("uas" if to_uas else "uac")
                    self.sent.append((self.now, name, message))
                    index = next(self._counter)
                    for delay in self.fate(index, message):
                        self._wire.append(
                            _InFlight(
                                self.now + delay, index, to_uas, serialize(message)
                            )
                        )
            for layer, events, tu in (
                (self.uac, self.uac_events, self.uac_tu),
                (self.uas, self.uas_events, self.uas_tu),
            ):
                for event in layer.pop_events():
                    progressed = True
                    events.append(event)
                    if tu is not None:
                        tu(self, event)
            if not progressed:
                return

    def next_time(self) -> float | None:
        """The time of the next delivery or timer, or None when idle."""
        times = [item.at for item in self._wire]
        for layer in (self.uac, self.uas):
            deadline = layer.next_deadline()
            if deadline is not None:
                times.append(deadline)
        return min(times, default=None)

    def step(self) -> bool:
        """Advance to the next delivery or timer and process it."""
        self.settle()
        when = self.next_time()
        if when is None:
            return False
        self.now = max(self.now, when)
        due = sorted(
            (i for i in self._wire if i.at <= self.now), key=lambda i: (i.at, i.order)
        )
        self._wire = [i for i in self._wire if i.at > self.now]
        for item in due:
            layer = self.uas if item.to_uas else self.uac
            source = "uac" if item.to_uas else "uas"
            layer.receive_message(
                parse_message(item.data),
                source=source,
                is_reliable=self.is_reliable,
                now=self.now,
            )
            self.settle()
        for layer in (self.uac, self.uas):
            layer.handle_timeout(self.now)
        self.settle()
        return True

    def run(self, until: float = 1000.0) -> None:
        """Step until idle or until the clock passes ``until``."""
        while True:
            self.settle()
            when = self.next_time()
            if when is None or when > until:
                return
            self.step()

    def sent_by(self, name: str, what: str) -> list[tuple[float, SipMessage]]:
        """(time, message) sent by ``name`` whose method or status is ``what``."""
        result = []
        for at, sender, message in self.sent:
            label = (
                message.method
                if isinstance(message, SipRequest)
                else str(message.status)
            )
            if sender == name and label == what:
                result.append((at, message))
        return result
