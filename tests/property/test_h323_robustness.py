"""Property tests: whatever an H.323 peer sends, the machines stay defined.

Arbitrary bytes and mutations of real PDUs (the ooh323c captures in
tests/corpus/h323 and messages our own machines write) go into
``H225Call.receive_data`` in arbitrary chunks, for both roles and several
call states, and into ``H245Session.receive_message``.  Nothing may raise;
every reply must be well-formed (a TPKT with a Q.931 message whose H.225.0
body decodes, or an H.245 PDU that decodes); the call ends in a state of
its enum, and an EOF afterwards always leaves it released.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.h323 import codec, q931
from gateway.h323 import h245_messages as build
from gateway.h323.call import H225Call
from gateway.h323.call_messages import CallState, H225CallEvent
from gateway.h323.h245 import H245Config, H245Event, H245Session, SessionState
from gateway.h323.tpkt import TpktFramer, encode_tpkt

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "h323"
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _hex_files(pattern: str) -> list[bytes]:
    return [
        bytes.fromhex(path.read_text().strip()) for path in sorted(CORPUS.glob(pattern))
    ]


def _our_q931() -> list[bytes]:
    """Q.931 payloads our machines write in a tunnelled call, both ways."""
    a = H225Call(is_outgoing=True)
    b = H225Call(is_outgoing=False)
    a.setup(0.0, called_number="1001", calling_number="8400", display="vcgw")
    wire = a.pop_outgoing()
    b.receive_data(wire[0], 0.0)
    b.call_proceeding(0.0)
    b.alerting(0.0)
    b.progress(0.0)
    b.connect(0.0)
    b.send_h245([codec.encode_h245(build.end_session_command())], 0.0)
    b.release(0.0, 17)
    wire += b.pop_outgoing()
    framer = TpktFramer()
    return [p for data in wire for p in framer.receive_data(data)]


Q931_SEEDS = _hex_files("*.q931.hex") + _our_q931()
H245_SEEDS = _hex_files("*.h245.hex") + [
    codec.encode_h245(message)
    for message in (
        build.master_slave_determination(terminal_type=190, number=77),
        build.master_slave_determination_ack(is_receiver_master=True),
        build.terminal_capability_set_ack(sequence_number=1),
        build.open_logical_channel_reject(number=1, cause="unspecified"),
        build.close_logical_channel(number=1),
        build.round_trip_delay_request(sequence_number=1),
        build.end_session_command(),
        build.flow_control_command(number=None, max_bitrate_bps=64000),
    )
]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed with a few octets flipped, cut, inserted or deleted."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        index = draw(st.integers(0, max(len(data) - 1, 0)))
        if operation == "flip" and data:
            data[index] ^= 1 << draw(st.integers(0, 7))
        elif operation == "set" and data:
            data[index] = draw(st.integers(0, 255))
        elif operation == "cut":
            del data[index:]
        elif operation == "insert":
            data[index:index] = draw(st.binary(min_size=1, max_size=4))
        elif data:
            del data[index]
    return bytes(data)


q931_payloads = st.one_of(
    st.binary(max_size=64),
    mutated(Q931_SEEDS),
    # A real message with the length of its User-User IE rewritten.
    st.builds(
        lambda seed, length: seed[:-2] + length.to_bytes(2, "big"),
        st.sampled_from(Q931_SEEDS),
        st.integers(0, 0xFFFF),
    ),
)


def retargeted(payload: bytes, reference: int | None) -> bytes:
    """``payload`` with the call reference the peer of our call would use."""
    if reference is None or len(payload) < 4 or payload[1] != 2:
        return payload
    return payload[:2] + reference.to_bytes(2, "big") + payload[4:]


@st.composite
def streams(draw: st.DrawFn, reference: int | None) -> bytes:
    """TCP bytes: raw, TPKTs of (mutated) messages, or TPKTs with odd headers.

    Most messages are rewritten to ``reference`` so that they reach the
    call's state machine instead of the foreign-reference check.
    """
    payloads = [
        retargeted(p, reference if draw(st.integers(0, 4)) else None)
        for p in draw(st.lists(q931_payloads, min_size=1, max_size=4))
    ]
    kind = draw(st.sampled_from(["raw", "tpkt", "header"]))
    if kind == "raw":
        return draw(st.binary(max_size=200))
    if kind == "tpkt":
        return b"".join(encode_tpkt(p) for p in payloads)
    version = draw(st.integers(0, 255))
    size = draw(st.integers(0, 0xFFFF))
    return bytes((version, 0)) + size.to_bytes(2, "big") + payloads[0]


def _fresh_incoming() -> H225Call:
    return H225Call(is_outgoing=False)


REFERENCE = 0x0102
"""The call reference our calls draw from ``_fixed_bytes``."""


def _fixed_bytes(size: int) -> bytes:
    return bytes(range(1, size + 1))


def _pair() -> tuple[H225Call, H225Call]:
    a = H225Call(is_outgoing=True, random_bytes=_fixed_bytes)
    b = H225Call(is_outgoing=False)
    a.setup(0.0, called_number="1001", fast_start=[b"\x00\x01"])
    b.receive_data(a.pop_outgoing()[0], 0.0)
    return a, b


def _calling() -> H225Call:
    return _pair()[0]


def _presented() -> H225Call:
    return _pair()[1]


def _active_caller() -> H225Call:
    a, b = _pair()
    b.alerting(0.0)
    b.connect(0.0)
    for data in b.pop_outgoing():
        a.receive_data(data, 0.0)
    assert a.state is CallState.ACTIVE
    return a


def _ringing_callee() -> H225Call:
    _, b = _pair()
    b.alerting(0.0)
    return b


CALLS: dict[str, Callable[[], H225Call]] = {
    "fresh incoming": _fresh_incoming,
    "calling": _calling,
    "presented": _presented,
    "active caller": _active_caller,
    "ringing callee": _ringing_callee,
}


def _check_output(call: H225Call) -> None:
    """Every reply is a TPKT holding Q.931 with a decodable H.225.0 body."""
    framer = TpktFramer()
    for data in call.pop_outgoing():
        (payload,) = framer.receive_data(data)
        message = q931.decode(payload)
        assert message.user_user is not None
        codec.decode_h225(message.user_user)
    for event in call.pop_events():
        assert isinstance(event, H225CallEvent)


def _peer_reference(call: H225Call) -> int | None:
    """The call reference field the peer of ``call`` writes (Q.931 4.3)."""
    if call.call_reference is None:
        return None
    return call.call_reference | (0x8000 if call.is_outgoing else 0)


@SETTINGS
@given(
    role=st.sampled_from(sorted(CALLS)),
    draw=st.data(),
    chunk_sizes=st.lists(st.integers(1, 64), max_size=8),
)
def test_any_bytes_leave_the_call_defined(
    role: str, draw: st.DataObject, chunk_sizes: list[int]
) -> None:
    """Arbitrary or mutated streams, in arbitrary chunks: no exception."""
    call = CALLS[role]()
    call.pop_events()
    call.pop_outgoing()
    data = draw.draw(streams(_peer_reference(call)))
    offset = 0
    for size in [*chunk_sizes, len(data)]:
        call.receive_data(data[offset : offset + size], 1.0)
        offset += size
        _check_output(call)
        assert isinstance(call.state, CallState)
    call.handle_timeout(10_000.0)
    _check_output(call)
    call.receive_eof(10_001.0)
    _check_output(call)
    assert call.is_released and call.state is CallState.RELEASED
    assert call.next_deadline() is None


@SETTINGS
@given(role=st.sampled_from(sorted(CALLS)), payloads=st.lists(q931_payloads))
def test_any_q931_payloads_leave_the_call_defined(
    role: str, payloads: list[bytes]
) -> None:
    """Whole payloads straight into receive_q931 (the TPKT already removed)."""
    call = CALLS[role]()
    for payload in payloads:
        call.receive_q931(retargeted(payload, _peer_reference(call)), 1.0)
        _check_output(call)
    if not call.is_released:
        call.release(2.0, 16)
    _check_output(call)
    assert call.is_released


h245_inputs = st.one_of(st.binary(max_size=64), mutated(H245_SEEDS))


def _h245(started: bool) -> H245Session:
    session = H245Session(H245Config(max_pdu_size_bytes=4096))
    if started:
        session.start(
            0.0,
            capability_table=[(1, ("receiveAudioCapability", ("g711Ulaw64k", 20)))],
            capability_descriptors=[
                {"capabilityDescriptorNumber": 0, "simultaneousCapabilities": [[1]]}
            ],
        )
    return session


@SETTINGS
@given(is_started=st.booleans(), pdus=st.lists(h245_inputs, min_size=1, max_size=6))
def test_any_h245_pdus_leave_the_session_defined(
    is_started: bool, pdus: list[bytes]
) -> None:
    """Arbitrary or mutated H.245 PDUs: no exception, every reply decodes."""
    session = _h245(is_started)
    for pdu in pdus:
        session.receive_message(pdu, 1.0)
        for reply in session.pop_outgoing():
            codec.decode_h245(reply)
        for event in session.pop_events():
            assert isinstance(event, H245Event)
        assert isinstance(session.session_state, SessionState)
    session.handle_timeout(10_000.0)
    for reply in session.pop_outgoing():
        codec.decode_h245(reply)
    if session.session_state is SessionState.OPEN:
        session.round_trip(10_001.0)  # Still usable after whatever came in.
        assert session.pop_outgoing()
