"""Malformed and out-of-order input into H225Call, both roles (issue #5).

Q.931 section 5.8 in order of precedence (protocol discriminator, message
length, call reference, message type and sequence, IEs), TPKT framing
(RFC 1006) and the H.225.0 body.  Each test checks what goes back on the
wire, the diagnostic event, the state, and that nothing raises.
"""

from collections.abc import Callable

import pytest

from gateway.h323 import codec, q931
from gateway.h323.call import H225Call
from gateway.h323.call_messages import (
    AlertingReceived,
    CallState,
    H225CallConfig,
    H225CallEvent,
    MessageDropped,
    ProtocolErrorDetected,
    Released,
)
from gateway.h323.codec import H225Kind, H225Message
from gateway.h323.q931 import IeId, InformationElement, MessageType
from gateway.h323.tpkt import TpktFramer, encode_tpkt

CAUSE_INVALID_CALL_REFERENCE = 81
CAUSE_INVALID_MESSAGE = 95
CAUSE_MANDATORY_IE_MISSING = 96
CAUSE_MESSAGE_TYPE_NONEXISTENT = 97
CAUSE_INVALID_IE_CONTENTS = 100
CAUSE_NOT_COMPATIBLE_WITH_STATE = 101


def caller_and_callee(**config: object) -> tuple[H225Call, H225Call]:
    """A Setup delivered: the caller in Call Initiated, the callee in Present."""
    cfg = H225CallConfig(**config)  # type: ignore[arg-type]
    a = H225Call(is_outgoing=True, config=cfg)
    b = H225Call(is_outgoing=False, config=cfg)
    a.setup(0.0, called_number="1001", calling_number="8400")
    for data in a.pop_outgoing():
        b.receive_data(data, 0.0)
    a.pop_events()
    b.pop_events()
    assert a.state is CallState.CALL_INITIATED
    assert b.state is CallState.CALL_PRESENT
    return a, b


def outgoing(**config: object) -> H225Call:
    """Our call after sending Setup (the peer is the callee)."""
    return caller_and_callee(**config)[0]


def incoming(**config: object) -> H225Call:
    """Our call after receiving Setup (the peer is the caller)."""
    return caller_and_callee(**config)[1]


ROLES: dict[str, Callable[..., H225Call]] = {
    "outgoing": outgoing,
    "incoming": incoming,
}


def header(call: H225Call, message_type: int) -> bytes:
    """A Q.931 header as the peer of ``call`` writes it (Q.931 section 4.3)."""
    assert call.call_reference is not None
    flag = 0x8000 if call.is_outgoing else 0
    return (
        bytes((8, 2))
        + (call.call_reference | flag).to_bytes(2, "big")
        + bytes((message_type,))
    )


def user_user(body: H225Message) -> bytes:
    """A User-User IE carrying ``body``."""
    contents = codec.encode_h225(body)
    return bytes((IeId.USER_USER,)) + len(contents).to_bytes(2, "big") + contents


def body_of(kind: H225Kind, call: H225Call) -> H225Message:
    """A minimal valid body of ``kind`` for ``call``."""
    extra = {"conference_id": bytes(16)} if kind is H225Kind.CONNECT else {}
    return H225Message(kind=kind, call_identifier=call.call_identifier, **extra)


def setup_acknowledge(call: H225Call) -> bytes:
    """A User-User IE with a setupAcknowledge body, which we never send."""
    body = {
        "protocolIdentifier": (0, 0, 8, 2250, 0, codec.H225_VERSION),
        "callIdentifier": {"guid": call.call_identifier},
    }
    contents = codec.encode_h225_value(
        {"h323-uu-pdu": {"h323-message-body": ("setupAcknowledge", body)}}
    )
    return bytes((IeId.USER_USER,)) + len(contents).to_bytes(2, "big") + contents


def peer_message(call: H225Call, kind: H225Kind, ies: bytes = b"") -> bytes:
    """A well-formed TPKT-framed message of ``kind`` from the peer."""
    message_type = codec.Q931_TYPE_BY_KIND[kind]
    if kind is H225Kind.SETUP_ACKNOWLEDGE:
        uu = setup_acknowledge(call)
    else:
        uu = user_user(body_of(kind, call))
    return encode_tpkt(header(call, message_type) + ies + uu)


def sent(call: H225Call) -> list[q931.Q931Message]:
    """Every Q.931 message ``call`` wrote, each with a decodable H.225.0 body."""
    messages = []
    for data in call.pop_outgoing():
        (payload,) = TpktFramer().receive_data(data)
        message = q931.decode(payload)
        assert message.user_user is not None
        codec.decode_h225(message.user_user)
        messages.append(message)
    return messages


def kinds(events: list[H225CallEvent]) -> list[type[H225CallEvent]]:
    return [type(e) for e in events]


def expect_release_complete(call: H225Call, cause: int) -> q931.Q931Message:
    """The call was cleared by us with one Release Complete carrying ``cause``.

    Its call reference is the call's, with our side's flag (Q.931 4.3).
    """
    events = call.pop_events()
    assert kinds(events) == [ProtocolErrorDetected, Released], events
    error, released = events
    assert isinstance(error, ProtocolErrorDetected)
    assert error.cause == cause and error.is_call_cleared and error.reason
    assert released == Released(cause=cause, reason=None, is_local=True)
    (message,) = sent(call)
    assert message.message_type is MessageType.RELEASE_COMPLETE
    assert message.cause is not None and message.cause.value == cause
    assert message.call_reference == call.call_reference
    assert message.is_from_destination is not call.is_outgoing
    assert call.state is CallState.RELEASED
    return message


def expect_dropped(call: H225Call, state: CallState) -> None:
    """The message was ignored: a MessageDropped, nothing sent, state kept."""
    events = call.pop_events()
    assert kinds(events) == [MessageDropped], events
    assert call.pop_outgoing() == []
    assert call.state is state


def expect_status(call: H225Call, cause: int, state: CallState) -> None:
    """Answered by Status ``cause`` (Q.931 5.8.4), the call goes on."""
    events = call.pop_events()
    assert kinds(events) == [ProtocolErrorDetected], events
    assert isinstance(events[0], ProtocolErrorDetected)
    assert events[0].cause == cause and not events[0].is_call_cleared
    (message,) = sent(call)
    assert message.message_type is MessageType.STATUS
    assert message.cause is not None and message.cause.value == cause
    assert message.find(IeId.CALL_STATE) == bytes((state.call_state_ie,))
    assert call.state is state


# -- TPKT (RFC 1006 section 6) ---------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "data",
    [
        b"\x02\x00\x00\x08\x08\x02\x00\x01",  # version 2
        b"\x03\x00\x00\x03",  # length below the header
        b"\x03\x00\x00\x00",
        b"\x03\x00\x05\x00",  # 1280 octets, above the 1024 configured
    ],
    ids=["version", "length-3", "length-0", "above-max"],
)
def test_broken_tpkt_header_clears_with_95(role: str, data: bytes) -> None:
    """A TPKT header that cannot be framed: Release Complete 95, then deaf.

    The size limit is checked on the header, before any body arrives.
    """
    call = ROLES[role](max_pdu_size_bytes=1024)
    call.receive_data(data, 1.0)
    expect_release_complete(call, CAUSE_INVALID_MESSAGE)
    call.receive_data(peer_message(call, H225Kind.ALERTING), 1.0)
    assert kinds(call.pop_events()) == [MessageDropped]
    assert call.pop_outgoing() == []


@pytest.mark.parametrize("role", ROLES)
def test_truncated_tpkt_then_eof_sends_release_complete_95(role: str) -> None:
    """The peer half-closes inside a TPKT: we say why (95), then close."""
    call = ROLES[role]()
    whole = peer_message(call, H225Kind.ALERTING)
    call.receive_data(whole[:-5], 1.0)
    assert call.pop_events() == [] and call.pop_outgoing() == []
    call.receive_eof(1.0)
    expect_release_complete(call, CAUSE_INVALID_MESSAGE)
    call.receive_eof(1.0)
    assert call.pop_events() == []


@pytest.mark.parametrize("role", ROLES)
def test_clean_eof_releases_without_a_message(role: str) -> None:
    """A connection closed between TPKTs clears the call (41), nothing sent."""
    call = ROLES[role]()
    call.receive_eof(1.0)
    assert call.pop_events() == [Released(cause=41, reason=None, is_local=False)]
    assert call.pop_outgoing() == [] and call.is_released


def test_setup_cut_short_then_eof_is_refused_on_its_call_reference() -> None:
    """A caller half-closing inside its Setup's TPKT gets Release Complete 95."""
    caller = H225Call(is_outgoing=True)
    caller.setup(0.0, called_number="1001")
    (setup,) = caller.pop_outgoing()
    call = H225Call(is_outgoing=False)
    call.receive_data(setup[:-6], 0.0)
    call.receive_eof(0.0)
    message = expect_release_complete(call, CAUSE_INVALID_MESSAGE)
    assert message.call_reference == caller.call_reference


@pytest.mark.parametrize("data", [b"\x03\x00", b"\x03\x00\x00\x30\x08"])
def test_eof_inside_a_tpkt_without_a_call_reference(data: bytes) -> None:
    """Nothing names a call: the error is reported, no message is sent."""
    call = H225Call(is_outgoing=False)
    call.receive_data(data, 0.0)
    call.receive_eof(0.0)
    events = call.pop_events()
    assert kinds(events) == [ProtocolErrorDetected, Released]
    assert events[1] == Released(cause=41, reason=None, is_local=False)
    assert call.pop_outgoing() == []


def test_fresh_connection_with_a_broken_tpkt_clears() -> None:
    """Before any Setup a broken TPKT still ends the connection's call."""
    call = H225Call(is_outgoing=False)
    call.receive_data(b"\x03\x00\x00\x01", 0.0)
    events = call.pop_events()
    assert kinds(events) == [ProtocolErrorDetected, Released]
    (message,) = sent(call)
    assert message.message_type is MessageType.RELEASE_COMPLETE
    assert message.cause is not None and message.cause.value == CAUSE_INVALID_MESSAGE


# -- Q.931 sections 5.8.1-5.8.3.1: messages to ignore ------------------------------


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x08",
        b"\x08\x02\x00",  # shorter than the message type (5.8.2)
        b"\x09\x02\x00\x01\x01\x7e\x00\x01\x05",  # discriminator 9 (5.8.1)
        b"\x03\x02\x00\x01\x01",  # Q.2931-ish discriminator
        b"\x08\x01\x01\x01",  # 1-octet call reference (5.8.3.1)
        b"\x08\x00\x01",  # dummy call reference
        b"\x08\x03\x00\x00\x01\x01",  # 3-octet call reference
        b"\x08\x22\x00\x01\x01",  # bits 5-8 of the length octet set
    ],
    ids=[
        "empty",
        "one-octet",
        "short",
        "discriminator-9",
        "discriminator-3",
        "reference-1",
        "reference-0",
        "reference-3",
        "reference-flags",
    ],
)
def test_messages_q931_ignores_change_nothing(role: str, payload: bytes) -> None:
    """Foreign discriminator, too short, malformed call reference: dropped."""
    call = ROLES[role]()
    state = call.state
    call.receive_data(encode_tpkt(payload), 1.0)
    expect_dropped(call, state)
    call.receive_data(peer_message(call, H225Kind.STATUS_INQUIRY), 1.0)
    assert [m.message_type for m in sent(call)] == [MessageType.STATUS]


def test_ignored_first_message_leaves_a_fresh_call_waiting() -> None:
    """A fresh incoming connection ignores junk and still takes a Setup."""
    fresh = H225Call(is_outgoing=False)
    fresh.receive_data(encode_tpkt(b"\x09\x02\x00\x01\x05"), 0.0)
    expect_dropped(fresh, CallState.NULL)
    a2 = H225Call(is_outgoing=True)
    a2.setup(0.0, called_number="1")
    fresh.receive_data(a2.pop_outgoing()[0], 0.0)
    assert fresh.state is CallState.CALL_PRESENT


# -- IEs (Q.931 sections 4.5.1, 5.8.6, 5.8.7) ------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_zero_length_optional_ie_is_read_as_absent(role: str) -> None:
    """Q.931 4.5.1: a zero-length Display is absent, not an error."""
    call = ROLES[role]()
    kind = H225Kind.ALERTING if call.is_outgoing else H225Kind.FACILITY
    call.receive_data(peer_message(call, kind, ies=b"\x28\x00"), 1.0)
    events = call.pop_events()
    assert ProtocolErrorDetected not in kinds(events)
    assert MessageDropped not in kinds(events)
    assert call.pop_outgoing() == []
    assert not call.is_released


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("tail", "cause"),
    [
        (b"\x7e\x00\x00", CAUSE_MANDATORY_IE_MISSING),  # zero-length User-User
        (b"", CAUSE_MANDATORY_IE_MISSING),  # no User-User at all
        (b"\x28\x09abc", CAUSE_INVALID_IE_CONTENTS),  # overlong Display
        (b"\x7e\x01\x00\x05\x00", CAUSE_INVALID_IE_CONTENTS),  # overlong UU
        (b"\x28", CAUSE_INVALID_MESSAGE),  # IE cut before its length
        (b"\x7e\x00", CAUSE_INVALID_MESSAGE),  # User-User length cut
        (b"\x7e\x00\x03\x05\xff\xff", CAUSE_INVALID_IE_CONTENTS),  # bad PER
        (b"\x7e\x00\x03\x04\x20\x00", CAUSE_INVALID_IE_CONTENTS),  # not X.208
    ],
    ids=[
        "zero-uu",
        "no-uu",
        "overlong-display",
        "overlong-uu",
        "cut-ie",
        "cut-uu-length",
        "bad-per",
        "uu-discriminator-4",
    ],
)
def test_broken_ies_clear_with_their_cause(role: str, tail: bytes, cause: int) -> None:
    """Zero/overlong lengths, missing or undecodable User-User: Release Complete.

    Q.931 5.8.6 would answer Status and act on nothing, but an H.225.0
    message without its body cannot be acted on (see H225Call._on_bad_body).
    """
    call = ROLES[role]()
    call.receive_data(encode_tpkt(header(call, MessageType.ALERTING) + tail), 1.0)
    expect_release_complete(call, cause)


@pytest.mark.parametrize("role", ROLES)
def test_unknown_message_type_gets_status_97(role: str) -> None:
    """Q.931 5.8.4: message type 0x99 is answered by Status 97; call goes on."""
    call = ROLES[role]()
    state = call.state
    call.receive_data(encode_tpkt(header(call, 0x99) + b"\x28\x01x"), 1.0)
    expect_status(call, CAUSE_MESSAGE_TYPE_NONEXISTENT, state)


def test_unknown_message_type_on_a_fresh_connection_is_refused() -> None:
    """With no call yet, Release Complete 97 on the message's own reference."""
    call = H225Call(is_outgoing=False)
    call.receive_data(encode_tpkt(b"\x08\x02\x12\x34\x99"), 0.0)
    message = expect_release_complete(call, CAUSE_MESSAGE_TYPE_NONEXISTENT)
    assert message.call_reference == 0x1234 and message.is_from_destination


@pytest.mark.parametrize("role", ROLES)
def test_broken_message_for_another_call_reference_is_dropped(role: str) -> None:
    """An undecodable message on another call reference leaves ours alone."""
    call = ROLES[role]()
    assert call.call_reference is not None
    other = (call.call_reference + 1) & 0x7FFF
    data = bytes((8, 2)) + other.to_bytes(2, "big") + b"\x01\x28\x09abc"
    call.receive_data(encode_tpkt(data), 1.0)
    expect_dropped(call, call.state)


@pytest.mark.parametrize(
    "tail",
    [b"", b"\x7e\x00\x03\x05\xff\xff", b"\x7e\x00\x00", b"\x28\x09abc"],
    ids=["no-uu", "bad-per", "zero-uu", "overlong-ie"],
)
@pytest.mark.parametrize("role", ROLES)
def test_broken_release_complete_clears_without_a_reply(role: str, tail: bytes) -> None:
    """Q.931 5.8.6.1: a broken Release Complete still clears; never answered.

    (It used to be answered with a Release Complete of our own.)
    """
    call = ROLES[role]()
    cause_ie = b"\x08\x02\x80\x91"  # cause 17, user busy
    data = header(call, MessageType.RELEASE_COMPLETE) + cause_ie + tail
    call.receive_data(encode_tpkt(data), 1.0)
    events = call.pop_events()
    assert kinds(events) == [ProtocolErrorDetected, Released]
    released = events[1]
    assert isinstance(released, Released) and not released.is_local
    # The Cause IE is read when the message itself decodes.
    assert released.cause == (17 if tail != b"\x28\x09abc" else 100)
    assert call.pop_outgoing() == [] and call.is_released


def test_setup_with_bad_per_is_refused_on_its_call_reference() -> None:
    """A fresh connection's Setup that does not decode: Release Complete 100.

    The reply carries the Setup's call reference with the flag set (it used
    to carry reference 0, since no call existed yet).
    """
    call = H225Call(is_outgoing=False)
    call.receive_data(encode_tpkt(b"\x08\x02\x43\x21\x05\x7e\x00\x02\x05\xff"), 0.0)
    message = expect_release_complete(call, CAUSE_INVALID_IE_CONTENTS)
    assert message.call_reference == 0x4321 and message.is_from_destination


def test_setup_with_bad_called_number_is_refused_on_its_call_reference() -> None:
    """A Called Party Number that is not IA5 clears the new call with 100."""
    a = H225Call(is_outgoing=True)
    a.setup(0.0, called_number="1001")
    (payload,) = TpktFramer().receive_data(a.pop_outgoing()[0])
    setup = q931.decode(payload)
    broken = q931.Q931Message(
        message_type=setup.message_type,
        call_reference=setup.call_reference,
        ies=tuple(
            InformationElement(identifier=ie.identifier, contents=b"\x80\xff\xfe")
            if ie.identifier == IeId.CALLED_PARTY_NUMBER
            else ie
            for ie in setup.ies
        ),
    )
    call = H225Call(is_outgoing=False)
    call.receive_data(encode_tpkt(q931.encode(broken)), 0.0)
    message = expect_release_complete(call, CAUSE_INVALID_IE_CONTENTS)
    assert message.call_reference == setup.call_reference


# -- message sequence (Q.931 sections 5.8.3.2 and 5.8.4) ---------------------------


@pytest.mark.parametrize(
    ("answers", "late"),
    [
        ([H225Kind.CONNECT], H225Kind.ALERTING),  # Alerting after Connect
        ([H225Kind.ALERTING], H225Kind.CALL_PROCEEDING),
        ([H225Kind.CONNECT], H225Kind.CONNECT),  # Connect twice
        ([], H225Kind.SETUP_ACKNOWLEDGE),  # no overlap sending here
        ([H225Kind.CONNECT], H225Kind.PROGRESS),
    ],
    ids=[
        "alerting-after-connect",
        "proceeding-after-alerting",
        "connect-twice",
        "setup-ack",
        "progress-after-connect",
    ],
)
def test_outgoing_out_of_order_clears_with_101(
    answers: list[H225Kind], late: H225Kind
) -> None:
    """A callee's answer not allowed in our state: Release Complete 101."""
    call = outgoing()
    for kind in answers:
        call.receive_data(peer_message(call, kind), 1.0)
    call.pop_events()
    call.receive_data(peer_message(call, late), 1.0)
    expect_release_complete(call, CAUSE_NOT_COMPATIBLE_WITH_STATE)


@pytest.mark.parametrize(
    "kind", [H225Kind.ALERTING, H225Kind.CALL_PROCEEDING, H225Kind.CONNECT]
)
def test_incoming_answers_from_the_caller_clear_with_101(kind: H225Kind) -> None:
    """The caller sending answers to its own Setup: Release Complete 101."""
    call = incoming()
    call.receive_data(peer_message(call, kind), 1.0)
    expect_release_complete(call, CAUSE_NOT_COMPATIBLE_WITH_STATE)


@pytest.mark.parametrize("role", ROLES)
def test_out_of_order_gets_status_when_tolerated(role: str) -> None:
    """clear_on_out_of_order=False: Status 101 instead (Q.931 5.8.4)."""
    call = ROLES[role](clear_on_out_of_order=False)
    state = call.state
    kind = H225Kind.SETUP_ACKNOWLEDGE if call.is_outgoing else H225Kind.CONNECT
    call.receive_data(peer_message(call, kind), 1.0)
    expect_status(call, CAUSE_NOT_COMPATIBLE_WITH_STATE, state)


def test_connect_before_setup_is_refused_with_81() -> None:
    """A fresh connection whose first message is Connect: RC 81 on its CR."""
    caller = outgoing()
    fresh = H225Call(is_outgoing=False)
    fresh.receive_data(peer_message(caller, H225Kind.CONNECT), 0.0)
    message = expect_release_complete(fresh, CAUSE_INVALID_CALL_REFERENCE)
    assert message.call_reference == caller.call_reference
    assert message.is_from_destination is False  # Answering the callee's flag.


def test_setup_twice_is_ignored() -> None:
    """Q.931 5.8.3.2 f): a Setup for the call in progress is ignored."""
    _, b = caller_and_callee()
    a2 = H225Call(is_outgoing=True, random_bytes=lambda n: bytes(n))
    a2.setup(0.0, called_number="1")
    (payload,) = TpktFramer().receive_data(a2.pop_outgoing()[0])
    assert b.call_reference is not None
    same_reference = payload[:2] + b.call_reference.to_bytes(2, "big") + payload[4:]
    b.receive_data(encode_tpkt(same_reference), 1.0)
    expect_dropped(b, CallState.CALL_PRESENT)
    b.alerting(1.0)
    assert [m.message_type for m in sent(b)] == [MessageType.ALERTING]


@pytest.mark.parametrize("is_fresh", [True, False])
def test_setup_from_the_destination_side_is_ignored(is_fresh: bool) -> None:
    """Q.931 5.8.3.2 e): a Setup with the call reference flag set is ignored."""
    call = H225Call(is_outgoing=False) if is_fresh else outgoing()
    caller = H225Call(is_outgoing=True)
    caller.setup(0.0, called_number="1")
    (payload,) = TpktFramer().receive_data(caller.pop_outgoing()[0])
    reference = call.call_reference if call.call_reference is not None else 7
    flagged = payload[:2] + (reference | 0x8000).to_bytes(2, "big") + payload[4:]
    state = call.state
    call.receive_data(encode_tpkt(flagged), 1.0)
    expect_dropped(call, state)


def test_release_complete_before_setup_is_ignored() -> None:
    """Q.931 5.8.3.2 c): Release Complete for no call is not answered."""
    caller = outgoing()
    fresh = H225Call(is_outgoing=False)
    fresh.receive_data(peer_message(caller, H225Kind.RELEASE_COMPLETE), 0.0)
    expect_dropped(fresh, CallState.NULL)


@pytest.mark.parametrize("role", ROLES)
def test_messages_after_release_are_dropped(role: str) -> None:
    """Once cleared, anything the peer still sends is dropped silently."""
    call = ROLES[role]()
    call.release(1.0)
    call.pop_events()
    call.pop_outgoing()
    for kind in (H225Kind.ALERTING, H225Kind.RELEASE_COMPLETE, H225Kind.STATUS):
        call.receive_data(peer_message(call, kind), 2.0)
    call.receive_data(b"\x03\x00\x00\x01", 2.0)
    assert set(kinds(call.pop_events())) == {MessageDropped}
    assert call.pop_outgoing() == []


def test_answers_still_work_after_ignored_junk() -> None:
    """Ignored junk between good messages does not disturb the call."""
    call = outgoing()
    junk = encode_tpkt(b"\x09\x02\x00\x01\x01")
    call.receive_data(junk + peer_message(call, H225Kind.ALERTING) + junk, 1.0)
    assert kinds(call.pop_events()) == [
        MessageDropped,
        AlertingReceived,
        MessageDropped,
    ]
    assert call.state is CallState.CALL_DELIVERED
