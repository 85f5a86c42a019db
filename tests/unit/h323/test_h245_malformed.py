"""Malformed and unexpected H.245 into H245Session (issue #5).

Undecodable PDUs get functionNotSupported (syntaxError), requests and
commands we do not implement get functionNotUnderstood, broken requests get
their own Reject, and valid responses with no procedure to answer are
reported as ProtocolError (the SDLs' ERROR.indication, H.245 Annex C) or
MessageIgnored when stale.  Nothing raises and the session goes on.
"""

from pathlib import Path
from typing import Any

import pytest

from gateway.h323 import codec
from gateway.h323 import h245_messages as build
from gateway.h323.codec import H245Category, H245Message, TransportAddress
from gateway.h323.h245 import (
    CapabilitiesAcknowledged,
    CeseState,
    H245Config,
    H245Event,
    H245Session,
    MessageIgnored,
    MsdState,
    ProtocolError,
    SessionState,
)
from gateway.h323.h245_messages import H2250Parameters

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "h323"
G711 = ("receiveAudioCapability", ("g711Ulaw64k", 20))
TABLE = [(1, G711)]
DESCRIPTORS = [{"capabilityDescriptorNumber": 0, "simultaneousCapabilities": [[1]]}]
AUDIO = ("audioData", ("g711Ulaw64k", 20))
RTCP = TransportAddress(host="192.0.2.10", port=40001)
TCS_PDU = bytes.fromhex((CORPUS / "slowstart-f015-0.h245.hex").read_text().strip())


def fresh() -> H245Session:
    return H245Session(H245Config(), random_below=lambda limit: 1000)


def started() -> H245Session:
    """A session that sent its TCS (sequence 1) and MSD; output drained."""
    session = fresh()
    session.start(0.0, capability_table=TABLE, capability_descriptors=DESCRIPTORS)
    session.pop_outgoing()
    session.pop_events()
    return session


def kinds(events: list[H245Event]) -> list[type[H245Event]]:
    return [type(e) for e in events]


def replies(session: H245Session) -> list[H245Message]:
    """What the session sent, decoded (it must always decode)."""
    return [codec.decode_h245(pdu) for pdu in session.pop_outgoing()]


def assert_still_works(session: H245Session) -> None:
    """The session still runs a procedure after the bad input."""
    session.round_trip(5.0)
    assert [m.name for m in replies(session)] == ["roundTripDelayRequest"]


# -- PDUs that do not decode ------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"\xff", b"\x1f\x00\x00", TCS_PDU[:12], TCS_PDU[:3], b"\x02\x00"],
    ids=["empty", "zero", "ff", "1f", "half-tcs", "tcs-head", "request-cut"],
)
@pytest.mark.parametrize("is_started", [False, True])
def test_undecodable_pdu_gets_function_not_supported(
    data: bytes, is_started: bool
) -> None:
    """PER that does not decode: ProtocolError and syntaxError, nothing else."""
    session = started() if is_started else fresh()
    session.receive_message(data, 1.0)
    events = session.pop_events()
    assert kinds(events) == [ProtocolError]
    assert "undecodable" in events[0].reason  # type: ignore[attr-defined]
    (reply,) = replies(session)
    assert reply.name == "functionNotSupported"
    assert reply.body == {"cause": ("syntaxError", 0)}
    assert session.session_state is SessionState.OPEN
    assert_still_works(session)


def test_undecodable_pdu_after_end_session_is_not_answered() -> None:
    """After endSessionCommand nothing more is sent (H.323 8.5)."""
    session = started()
    session.end_session(1.0)
    session.pop_outgoing()
    session.receive_message(b"\xff", 2.0)
    assert kinds(session.pop_events()) == [ProtocolError]
    assert session.pop_outgoing() == []


def test_pdu_above_the_size_limit_is_refused_undecoded() -> None:
    """max_pdu_size_bytes is checked before pycrate sees the bytes."""
    session = H245Session(H245Config(max_pdu_size_bytes=32))
    session.receive_message(TCS_PDU + bytes(16), 1.0)
    assert kinds(session.pop_events()) == [ProtocolError]
    assert session.pop_outgoing() == []


# -- valid responses with no procedure behind them ----------------------------------


def olc_ack(number: int) -> H245Message:
    return build.open_logical_channel_ack(
        number=number, session_id=1, media=RTCP, media_control=RTCP
    )


@pytest.mark.parametrize(
    "message",
    [
        olc_ack(7),
        build.open_logical_channel_reject(number=7, cause="unspecified"),
        build.close_logical_channel_ack(number=7),
    ],
    ids=["olc-ack", "olc-reject", "clc-ack"],
)
def test_channel_answer_for_a_channel_never_opened(message: H245Message) -> None:
    """OLC Ack/Reject or CLC Ack for channel 7 we never opened: error only."""
    session = started()
    session.receive_message(codec.encode_h245(message), 1.0)
    events = session.pop_events()
    assert kinds(events) == [ProtocolError]
    assert "RELEASED" in events[0].reason  # type: ignore[attr-defined]
    assert session.pop_outgoing() == []
    parameters = H2250Parameters(session_id=1, media_control=RTCP)
    session.open_channel(7, data_type=AUDIO, parameters=parameters, now=2.0)
    assert [m.name for m in replies(session)] == ["openLogicalChannel"]
    session.receive_message(olc_ack(7), 2.0)
    assert [type(e).__name__ for e in session.pop_events()] == ["ChannelOpened"]


@pytest.mark.parametrize(
    "message",
    [
        build.terminal_capability_set_ack(sequence_number=1),
        build.terminal_capability_set_reject(sequence_number=1),
    ],
    ids=["ack", "reject"],
)
def test_tcs_answer_without_any_tcs_is_an_error(message: H245Message) -> None:
    """TCS Ack/Reject before we sent any set: ProtocolError, no reply.

    (It used to be taken for a stale answer and only ignored.)
    """
    session = fresh()
    session.receive_message(codec.encode_h245(message), 1.0)
    events = session.pop_events()
    assert kinds(events) == [ProtocolError]
    assert "without a terminalCapabilitySet" in events[0].reason  # type: ignore[attr-defined]
    assert session.pop_outgoing() == []
    assert session.cese_state is CeseState.IDLE


def test_tcs_ack_after_the_answer_is_stale() -> None:
    """A second Ack of our answered set is ignored, not an error."""
    session = started()
    ack = codec.encode_h245(build.terminal_capability_set_ack(sequence_number=1))
    session.receive_message(ack, 1.0)
    assert session.pop_events() == [CapabilitiesAcknowledged(sequence_number=1)]
    session.receive_message(ack, 2.0)
    assert kinds(session.pop_events()) == [MessageIgnored]
    assert session.pop_outgoing() == []


def test_tcs_ack_with_another_sequence_number_keeps_waiting() -> None:
    """An Ack for a set we did not send now leaves T101 running."""
    session = started()
    ack = build.terminal_capability_set_ack(sequence_number=9)
    session.receive_message(codec.encode_h245(ack), 1.0)
    assert kinds(session.pop_events()) == [MessageIgnored]
    assert session.cese_state is CeseState.AWAITING_RESPONSE


@pytest.mark.parametrize(
    "message",
    [
        build.master_slave_determination_ack(is_receiver_master=True),
        build.master_slave_determination_reject(),
        build.master_slave_determination_release(),
    ],
    ids=["ack", "reject", "release"],
)
def test_msd_answer_in_idle_is_an_error(message: H245Message) -> None:
    """MSD Ack, Reject or Release with no determination running (C.2)."""
    session = fresh()
    session.receive_message(codec.encode_h245(message), 1.0)
    assert kinds(session.pop_events()) == [ProtocolError]
    assert session.pop_outgoing() == []
    assert session.msd_state is MsdState.IDLE and session.is_master is None


def test_round_trip_response_without_request_is_ignored() -> None:
    session = fresh()
    response = build.round_trip_delay_response(sequence_number=3)
    session.receive_message(codec.encode_h245(response), 1.0)
    assert kinds(session.pop_events()) == [MessageIgnored]
    assert session.pop_outgoing() == []


# -- requests and commands we do not implement, broken requests ----------------------

REQUEST_CHANNEL_CLOSE = H245Message(
    category=H245Category.REQUEST,
    name="requestChannelClose",
    body={"forwardLogicalChannelNumber": 1},
)
CONFERENCE_COMMAND = H245Message(
    category=H245Category.COMMAND,
    name="conferenceCommand",
    body=("broadcastMyLogicalChannel", 1),
)


@pytest.mark.parametrize(
    "message", [REQUEST_CHANNEL_CLOSE, CONFERENCE_COMMAND], ids=["request", "command"]
)
def test_unsupported_request_or_command_is_returned(message: H245Message) -> None:
    """functionNotUnderstood carries the message back (H.245 Annex A)."""
    session = started()
    session.receive_message(codec.encode_h245(message), 1.0)
    assert kinds(session.pop_events()) == [MessageIgnored]
    (reply,) = replies(session)
    assert reply.name == "functionNotUnderstood"
    assert reply.body == (message.category.value, (message.name, message.body))


@pytest.mark.parametrize(
    "message",
    [
        H245Message(
            category=H245Category.RESPONSE,
            name="requestChannelCloseAck",
            body={"forwardLogicalChannelNumber": 1},
        ),
        build.function_not_understood(REQUEST_CHANNEL_CLOSE),
    ],
    ids=["response", "indication"],
)
def test_unsupported_response_or_indication_is_not_answered(
    message: H245Message,
) -> None:
    """Responses and indications are never answered (no reply loops)."""
    session = started()
    session.receive_message(codec.encode_h245(message), 1.0)
    assert kinds(session.pop_events()) == [MessageIgnored]
    assert session.pop_outgoing() == []


def tcs_using(entries: list[int]) -> bytes:
    """A TerminalCapabilitySet whose descriptor uses ``entries``."""
    return codec.encode_h245(
        build.terminal_capability_set(
            sequence_number=4,
            capability_table=TABLE,
            capability_descriptors=[
                {"capabilityDescriptorNumber": 0, "simultaneousCapabilities": [entries]}
            ],
        )
    )


def test_tcs_with_undefined_entry_gets_its_reject() -> None:
    """H.245 8.3: a descriptor naming no table entry: undefinedTableEntryUsed."""
    session = started()
    session.receive_message(tcs_using([1, 9]), 1.0)
    assert kinds(session.pop_events()) == [ProtocolError]
    (reply,) = replies(session)
    assert reply.name == "terminalCapabilitySetReject"
    assert reply.body == {
        "sequenceNumber": 4,
        "cause": ("undefinedTableEntryUsed", 0),
    }
    session.receive_message(tcs_using([1]), 2.0)
    assert [m.name for m in replies(session)] == ["terminalCapabilitySetAck"]


def olc_with(multiplex: Any, *, reverse: bool = False) -> bytes:
    body: dict[str, Any] = {
        "forwardLogicalChannelNumber": 3,
        "forwardLogicalChannelParameters": {
            "dataType": AUDIO,
            "multiplexParameters": multiplex,
        },
    }
    if reverse:
        body["reverseLogicalChannelParameters"] = {"dataType": AUDIO}
    message = H245Message(
        category=H245Category.REQUEST, name="openLogicalChannel", body=body
    )
    return codec.encode_h245(message)


@pytest.mark.parametrize(
    ("pdu", "cause", "event"),
    [
        (olc_with(("none", 0)), "unspecified", ProtocolError),
        (
            olc_with(("h2250LogicalChannelParameters", {"sessionID": 1}), reverse=True),
            "unsuitableReverseParameters",
            None,
        ),
    ],
    ids=["not-h2250", "bidirectional"],
)
def test_olc_we_cannot_take_gets_its_reject(
    pdu: bytes, cause: str, event: type[H245Event] | None
) -> None:
    """OpenLogicalChannelReject with the cause that fits (H.245 8.4.1)."""
    session = started()
    session.receive_message(pdu, 1.0)
    events = session.pop_events()
    assert kinds(events) == ([] if event is None else [event])
    (reply,) = replies(session)
    assert reply.name == "openLogicalChannelReject"
    assert reply.body == {"forwardLogicalChannelNumber": 3, "cause": (cause, 0)}
    # Channel 3 is free: a proper request for it is a new one, not a reopen.
    session.receive_message(
        olc_with(("h2250LogicalChannelParameters", {"sessionID": 1})), 2.0
    )
    assert [type(e).__name__ for e in session.pop_events()] == ["ChannelOpenRequested"]


def test_requests_after_end_session_are_ignored() -> None:
    """After endSessionCommand everything but its repeat is dropped."""
    session = started()
    session.end_session(1.0)
    session.pop_outgoing()
    session.receive_message(tcs_using([1]), 2.0)
    session.receive_message(codec.encode_h245(REQUEST_CHANNEL_CLOSE), 2.0)
    assert kinds(session.pop_events()) == [MessageIgnored, MessageIgnored]
    assert session.pop_outgoing() == []
