"""H225Call outgoing against H225Call incoming over a fake wire (H.225.0 7, 8)."""

import itertools
from pathlib import Path

import pytest

from gateway.h323 import codec, q931
from gateway.h323.call import H225Call
from gateway.h323.call_messages import (
    AlertingReceived,
    CallProceedingReceived,
    CallState,
    ConnectReceived,
    FastStartAccepted,
    FastStartRefused,
    H225CallConfig,
    H225CallEvent,
    MessageDropped,
    PeerH245Address,
    ProgressReceived,
    ProtocolErrorDetected,
    Released,
    SetupReceived,
    StatusReceived,
    TunnelledH245,
)
from gateway.h323.codec import H225Kind, H225Message, TransportAddress
from gateway.h323.errors import LocalH323Error
from gateway.h323.q931 import MessageType
from gateway.h323.tpkt import TpktFramer, encode_tpkt

CORPUS = Path(__file__).parents[2] / "corpus" / "h323"
OLCS = [b"\x01\x02", b"\x03\x04"]
H245 = TransportAddress(host="127.0.0.1", port=17730)


_COUNTER = itertools.count(1)


def counter_bytes(size: int) -> bytes:
    """A deterministic random source: incrementing octets."""
    return bytes(next(_COUNTER) % 256 for _ in range(size))


def pair(**config: object) -> tuple[H225Call, H225Call]:
    """An outgoing and an incoming call sharing ``config``."""
    cfg = H225CallConfig(**config)  # type: ignore[arg-type]
    return (
        H225Call(is_outgoing=True, config=cfg, random_bytes=counter_bytes),
        H225Call(is_outgoing=False, config=cfg),
    )


def pump(a: H225Call, b: H225Call, now: float = 0.0) -> None:
    """Deliver bytes both ways until the wire is quiet."""
    while True:
        moved = False
        for x, y in ((a, b), (b, a)):
            for data in x.pop_outgoing():
                moved = True
                y.receive_data(data, now)
        if not moved:
            return


def kinds(events: list[H225CallEvent]) -> list[object]:
    """Event types in order."""
    return [type(e) for e in events]


def started(fast_start: list[bytes] | None = None) -> tuple[H225Call, H225Call]:
    """A Setup delivered to the callee, events drained."""
    a, b = pair()
    a.setup(
        0.0, called_number="1001", calling_number="8400", fast_start=fast_start or []
    )
    pump(a, b)
    b.pop_events()
    return a, b


def decoded(data: bytes) -> tuple[q931.Q931Message, H225Message]:
    """The Q.931 message and H.225.0 body of one TPKT."""
    (payload,) = TpktFramer().receive_data(data)
    message = q931.decode(payload)
    assert message.user_user is not None
    return message, codec.decode_h225(message.user_user)


def test_setup_reaches_the_callee() -> None:
    """Setup carries numbers, display, fastStart and tunnelling; state moves on."""
    a, b = pair(display="vcgw")
    a.setup(
        0.0,
        called_number="1001",
        calling_number="8400",
        fast_start=OLCS,
        h245_address=H245,
    )
    assert a.state is CallState.CALL_INITIATED and a.next_deadline() == 4.0
    pump(a, b)
    (event, address) = b.pop_events()
    assert isinstance(event, SetupReceived)
    assert (event.dialled_digits, event.calling_number, event.display) == (
        "1001",
        "8400",
        "vcgw",
    )
    assert event.fast_start == tuple(OLCS) and event.is_h245_tunnelling
    assert event.call_identifier == a.call_identifier
    assert event.conference_id == a.conference_id
    assert address == PeerH245Address(address=H245)
    assert b.state is CallState.CALL_PRESENT
    assert b.call_reference == a.call_reference


@pytest.mark.parametrize(
    "where", ["call_proceeding", "alerting", "progress", "connect"]
)
def test_fast_start_accepted_in_each_answer(where: str) -> None:
    """FastStartAccepted comes from whichever answer first carries fastStart."""
    a, b = started(OLCS)
    getattr(b, where)(0.0, fast_start_accepted=OLCS[:1])
    if where != "connect":
        b.connect(0.0)
    pump(a, b)
    events = a.pop_events()
    accepted = [e for e in events if isinstance(e, FastStartAccepted)]
    assert accepted == [FastStartAccepted(olcs=(OLCS[0],))]
    assert FastStartRefused not in kinds(events)
    assert a.state is CallState.ACTIVE and b.state is CallState.ACTIVE


def test_fast_start_is_repeated_after_acceptance() -> None:
    """The callee repeats the accepted OLCs in later answers, as ooh323c does."""
    _, b = started(OLCS)
    b.alerting(0.0, fast_start_accepted=OLCS)
    b.connect(0.0)
    _, alerting = decoded(b.pop_outgoing()[0])
    assert alerting.fast_start == tuple(OLCS)


def test_fast_start_refused() -> None:
    """No fastStart in any answer up to Connect gives FastStartRefused."""
    a, b = started(OLCS)
    b.call_proceeding(0.0)
    b.alerting(0.0)
    b.connect(0.0, h245_address=H245)
    pump(a, b)
    assert kinds(a.pop_events()) == [
        CallProceedingReceived,
        AlertingReceived,
        ConnectReceived,
        FastStartRefused,
        PeerH245Address,
    ]


def test_tunnelled_h245_both_ways() -> None:
    """H.245 rides the callee's first answer, then Facility, in both directions."""
    a, b = started()
    b.send_h245([b"tcs-b"], 0.0)
    assert b.pop_outgoing() == []  # held for the first answer
    b.alerting(0.0)
    a.send_h245([b"tcs-a", b"msd-a"], 0.0)
    pump(a, b)
    assert TunnelledH245(pdus=(b"tcs-b",)) in a.pop_events()
    assert b.pop_events() == [TunnelledH245(pdus=(b"tcs-a", b"msd-a"))]
    b.connect(0.0)
    pump(a, b)
    a.pop_events()
    b.send_h245([b"ack"], 0.0)
    (facility,) = b.pop_outgoing()
    message, body = decoded(facility)
    assert message.message_type is MessageType.FACILITY
    assert body.facility_reason == "transportedInformation"
    a.receive_data(facility, 0.0)
    assert a.pop_events() == [TunnelledH245(pdus=(b"ack",))]


def test_tunnelling_refused_by_the_callee() -> None:
    """A Setup without h245Tunnelling switches tunnelling off for the call."""
    a, b = pair()
    a.setup(0.0, called_number="1", h245_tunnelling=False)
    pump(a, b)
    assert not b.is_h245_tunnelling
    with pytest.raises(LocalH323Error):
        b.send_h245([b"x"], 0.0)


def test_separate_h245_address_via_facility() -> None:
    """Facility startH245 reports the peer's H.245 listener."""
    a, b = started()
    b.alerting(0.0)
    b.start_h245(H245, 0.0)
    pump(a, b)
    assert a.pop_events() == [AlertingReceived(), PeerH245Address(address=H245)]


@pytest.mark.parametrize("by_caller", [True, False])
def test_release_with_cause_both_ways(by_caller: bool) -> None:
    """Release Complete carries the cause and its H.225.0 reason to the peer."""
    a, b = started()
    b.connect(0.0)
    pump(a, b)
    a.pop_events()
    local, remote = (a, b) if by_caller else (b, a)
    local.release(0.0, cause=17)
    pump(a, b)
    assert local.pop_events() == [Released(cause=17, reason=None, is_local=True)]
    assert remote.pop_events() == [Released(cause=17, reason="inConf", is_local=False)]
    assert a.is_released and b.is_released
    local.release(0.0)  # idempotent
    assert local.pop_outgoing() == []


@pytest.mark.parametrize(
    ("answers", "elapsed", "cause"),
    [
        ([], 4.0, 102),  # T303
        (["call_proceeding"], 30.0, 102),  # T310
        (["call_proceeding", "alerting"], 180.0, 19),  # T301
    ],
)
def test_timers_clear_the_call(answers: list[str], elapsed: float, cause: int) -> None:
    """T303, T310 and T301 expire into Release Complete with Q.850 causes."""
    a, b = started()
    for answer in answers:
        getattr(b, answer)(0.0)
    pump(a, b)
    a.pop_events()
    assert a.next_deadline() == elapsed
    a.handle_timeout(elapsed - 0.1)
    assert a.pop_events() == []
    a.handle_timeout(elapsed)
    assert a.pop_events() == [Released(cause=cause, reason=None, is_local=True)]
    pump(a, b)
    assert b.pop_events() == [
        Released(cause=cause, reason=codec_reason(cause), is_local=False)
    ]
    assert a.next_deadline() is None


def codec_reason(cause: int) -> str:
    """The ReleaseCompleteReason we send for ``cause``."""
    from gateway.h323.q850 import cause_to_release_reason

    return cause_to_release_reason(cause)


def test_progress_stops_t310_but_connect_ends_timers() -> None:
    """Progress stops T310 (Q.931 Table 9-1); Connect leaves no timer."""
    a, b = started()
    b.call_proceeding(0.0)
    b.progress(0.0)
    pump(a, b)
    assert kinds(a.pop_events()) == [CallProceedingReceived, ProgressReceived]
    assert a.next_deadline() is None


def test_status_inquiry_is_answered() -> None:
    """Status Inquiry gets Status with cause 30 and the call state."""
    a, b = started()
    b.alerting(0.0)
    pump(a, b)
    body = H225Message(kind=H225Kind.STATUS_INQUIRY, call_identifier=a.call_identifier)
    assert a.call_reference is not None
    inquiry = q931.Q931Message(
        message_type=MessageType.STATUS_INQUIRY,
        call_reference=a.call_reference,
        is_from_destination=True,
        ies=(q931.user_user_ie(codec.encode_h225(body)),),
    )
    a.receive_data(encode_tpkt(q931.encode(inquiry)), 0.0)
    (status,) = a.pop_outgoing()
    b.receive_data(status, 0.0)
    assert b.pop_events() == [StatusReceived(cause=30, call_state=4)]


def wrap(message_type: MessageType, call: H225Call, body: bytes) -> bytes:
    """A TPKT Q.931 message to ``call`` with raw User-User contents."""
    assert call.call_reference is not None
    message = q931.Q931Message(
        message_type=message_type,
        call_reference=call.call_reference,
        is_from_destination=call.is_outgoing,
        ies=(q931.user_user_ie(body),),
    )
    return encode_tpkt(q931.encode(message))


def expect_cleared(call: H225Call, cause: int) -> None:
    """The call answered a protocol error with Release Complete ``cause``."""
    events = call.pop_events()
    expected: list[object] = [ProtocolErrorDetected, Released]
    assert kinds(events) == expected
    assert events[1] == Released(cause=cause, reason=None, is_local=True)
    (out,) = call.pop_outgoing()
    message, body = decoded(out)
    assert message.message_type is MessageType.RELEASE_COMPLETE
    assert message.cause is not None and message.cause.value == cause
    assert body.kind is H225Kind.RELEASE_COMPLETE


def test_bad_tpkt_clears_the_call() -> None:
    """A TPKT with a length below 4 clears with cause 95; later bytes drop."""
    a, _ = started()
    a.receive_data(b"\x03\x00\x00\x02", 0.0)
    expect_cleared(a, 95)
    a.receive_data(b"\x03\x00\x00\x05\x08", 0.0)
    assert kinds(a.pop_events()) == [MessageDropped]


def test_truncated_tpkt_at_eof() -> None:
    """A connection closed inside a TPKT is a protocol error, then Released."""
    a, _ = started()
    a.receive_data(b"\x03\x00\x00\x20\x08\x02", 0.0)
    a.receive_eof(0.0)
    expected: list[object] = [ProtocolErrorDetected, Released]
    assert kinds(a.pop_events()) == expected


@pytest.mark.parametrize(
    ("payload", "cause"),
    [
        # A zero-length User-User IE is an absent one (Q.931 4.5.1): cause 96.
        (b"\x08\x02\x80\x01\x01\x7e\x00\x00", 96),
        (b"\x08\x02\x80\x01\x01\x28\x09ab", 100),  # overlong IE
        (b"\x08\x02\x80\x01\x01\x7e\x00\x03\x05\xff\xff", 100),  # bad PER
        (b"\x08\x02\x80\x01\x01", 96),  # no User-User IE
    ],
)
def test_malformed_messages_clear_the_call(payload: bytes, cause: int) -> None:
    """Zero/overlong IEs, bad PER, missing UUIE: Release Complete.

    (A truncated header used to clear with 95 here; Q.931 5.8.2 ignores it,
    see test_call_malformed.py.)
    """
    a, _ = started()
    assert a.call_reference is not None
    header = bytes((8, 2)) + (a.call_reference | 0x8000).to_bytes(2, "big")
    a.receive_data(
        encode_tpkt(header + payload[4:] if len(payload) > 4 else payload), 0.0
    )
    expect_cleared(a, cause)


def test_body_type_mismatch_clears() -> None:
    """A Connect body inside an Alerting message clears with cause 100."""
    a, _ = started()
    body = H225Message(
        kind=H225Kind.CONNECT,
        call_identifier=a.call_identifier,
        conference_id=bytes(16),
    )
    a.receive_data(wrap(MessageType.ALERTING, a, codec.encode_h225(body)), 0.0)
    expect_cleared(a, 100)


def test_out_of_order_gets_status_101() -> None:
    """Tolerant: a message not allowed in the state gets Status 101 (5.8.4).

    (Clearing is the default since issue #5; Status needs the flag off.)
    """
    a, b = pair(clear_on_out_of_order=False)
    a.setup(0.0, called_number="1001")
    pump(a, b)
    b.pop_events()
    b.connect(0.0)
    pump(a, b)
    a.pop_events()
    body = H225Message(kind=H225Kind.ALERTING, call_identifier=a.call_identifier)
    a.receive_data(wrap(MessageType.ALERTING, a, codec.encode_h225(body)), 0.0)
    assert kinds(a.pop_events()) == [ProtocolErrorDetected]
    (status,) = a.pop_outgoing()
    message, _ = decoded(status)
    assert message.message_type is MessageType.STATUS
    assert message.cause is not None and message.cause.value == 101
    assert a.state is CallState.ACTIVE


def test_out_of_order_clears_by_default() -> None:
    """By default the same message clears with cause 101 (issue #5)."""
    a, b = pair()
    a.setup(0.0, called_number="1")
    pump(a, b)
    b.pop_events()
    body = H225Message(kind=H225Kind.ALERTING, call_identifier=b.call_identifier)
    b.receive_data(wrap(MessageType.ALERTING, b, codec.encode_h225(body)), 0.0)
    expect_cleared(b, 101)


def test_first_message_not_setup_is_refused() -> None:
    """A new connection whose first message is not Setup gets cause 81."""
    _, b = started()
    b.alerting(0.0)
    fresh = H225Call(is_outgoing=False)
    fresh.receive_data(b.pop_outgoing()[0], 0.0)
    expect_cleared(fresh, 81)


def test_foreign_call_reference_is_refused_alone() -> None:
    """Another call reference gets Release Complete 81; our call goes on."""
    a, _ = started()
    body = H225Message(kind=H225Kind.ALERTING, call_identifier=bytes(16))
    other = q931.Q931Message(
        message_type=MessageType.ALERTING,
        call_reference=0x7777,
        is_from_destination=True,
        ies=(q931.user_user_ie(codec.encode_h225(body)),),
    )
    a.receive_data(encode_tpkt(q931.encode(other)), 0.0)
    assert kinds(a.pop_events()) == [ProtocolErrorDetected]
    (out,) = a.pop_outgoing()
    message, _ = decoded(out)
    assert message.call_reference == 0x7777 and message.cause is not None
    assert a.state is CallState.CALL_INITIATED


def test_commands_in_wrong_state_raise() -> None:
    """Answering an outgoing call is a local error; the call is unchanged."""
    a, _ = started()
    with pytest.raises(LocalH323Error):
        a.connect(0.0)
    assert a.state is CallState.CALL_INITIATED


def corpus(prefix: str, frames: list[int]) -> list[bytes]:
    """Q.931 payloads of a capture, in capture order."""
    return [
        bytes.fromhex((CORPUS / f"{prefix}-f{n:03d}-0.q931.hex").read_text().strip())
        for n in frames
    ]


def test_ooh323c_fast_start_call_as_callee() -> None:
    """Our incoming machine accepts ooh323c's Setup, Facility and Release."""
    setup, *rest = corpus("faststart", [4, 12, 14, 16, 20])
    b = H225Call(is_outgoing=False)
    b.receive_q931(setup, 0.0)
    (event,) = b.pop_events()
    assert isinstance(event, SetupReceived) and event.fast_start is not None
    assert len(event.fast_start) == 2 and event.calling_number == "1001"
    b.call_proceeding(0.0)
    b.alerting(0.0, fast_start_accepted=event.fast_start[:1])
    b.connect(0.0)
    for payload in rest:
        b.receive_q931(payload, 0.0)
    events = b.pop_events()
    assert kinds(events) == [TunnelledH245] * 3 + [Released]
    assert events[-1] == Released(cause=16, reason="undefinedReason", is_local=False)


@pytest.mark.parametrize(
    ("prefix", "frames", "expected"),
    [
        (
            "faststart",
            [6, 8, 10, 13, 15, 17],
            [
                CallProceedingReceived,
                AlertingReceived,
                FastStartAccepted,
                ConnectReceived,
            ]
            + [TunnelledH245] * 3,
        ),
        (
            "slowstart",
            [6, 8, 10, 239],
            [
                CallProceedingReceived,
                AlertingReceived,
                ConnectReceived,
                PeerH245Address,
                Released,
            ],
        ),
    ],
)
def test_ooh323c_answers_as_caller(
    prefix: str, frames: list[int], expected: list[object]
) -> None:
    """ooh323c's answers, fed to our outgoing machine, are accepted in order."""
    payloads = corpus(prefix, frames)
    first = q931.decode(payloads[0])
    a = H225Call(is_outgoing=True, random_bytes=counter_bytes)
    a.setup(0.0, called_number="1001", fast_start=OLCS if prefix == "faststart" else [])
    a.pop_outgoing()
    # Adopt the capture's call reference, as if our Setup had chosen it.
    a.call_reference = first.call_reference
    for payload in payloads:
        a.receive_q931(payload, 0.0)
    assert kinds(a.pop_events()) == expected
    assert a.pop_outgoing() == []
