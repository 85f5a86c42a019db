"""H.245 control protocol state machine: two-party pumps and ooh323c captures."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.h323 import codec, q931
from gateway.h323 import h245_messages as build
from gateway.h323.codec import H245Category, H245Message, TransportAddress
from gateway.h323.errors import LocalH323Error
from gateway.h323.h245 import (
    CapabilitiesAcknowledged,
    CapabilitiesReceived,
    CapabilitiesRejected,
    ChannelClosed,
    ChannelOpened,
    ChannelOpenRequested,
    ChannelRejected,
    FastUpdateRequested,
    FlowControl,
    H245Config,
    H245Event,
    H245Session,
    MasterSlaveDetermined,
    MessageIgnored,
    MsdState,
    Paused,
    PeerUnresponsive,
    ProtocolError,
    RoundTripMeasured,
    SessionEnded,
    SessionState,
    UserInput,
)
from gateway.h323.h245_messages import H2250Parameters, UserInputKind

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "h323"
G711 = ("receiveAudioCapability", ("g711Ulaw64k", 20))
TABLE = [(1, G711), (2, ("receiveUserInputCapability", ("dtmf", 0)))]
DESCRIPTORS = [
    {"capabilityDescriptorNumber": 0, "simultaneousCapabilities": [[1], [2]]}
]
AUDIO = ("audioData", ("g711Ulaw64k", 20))
RTP = TransportAddress(host="192.0.2.10", port=40000)
RTCP = TransportAddress(host="192.0.2.10", port=40001)
PEER_RTP = TransportAddress(host="198.51.100.7", port=50000)
PEER_RTCP = TransportAddress(host="198.51.100.7", port=50001)


def numbers(*values: int) -> Any:
    """A random source that returns ``values`` in turn, then the last forever."""
    queue = list(values)

    def below(limit: int) -> int:
        value = queue.pop(0) if len(queue) > 1 else queue[0]
        assert 0 <= value < limit
        return value

    return below


def session(*values: int, terminal_type: int = 60, **config: Any) -> H245Session:
    """A session with a scripted statusDeterminationNumber source."""
    return H245Session(
        H245Config(terminal_type=terminal_type, **config),
        random_below=numbers(*(values or (1000,))),
    )


def decoded(pdus: list[bytes]) -> list[H245Message]:
    """Decode what a session sent."""
    return [codec.decode_h245(pdu) for pdu in pdus]


def names(pdus: list[bytes]) -> list[str]:
    """The alternative names of what a session sent."""
    return [message.name for message in decoded(pdus)]


class Wire:
    """Two sessions over a fake, in-order wire with a record of each PDU."""

    def __init__(self, a: H245Session, b: H245Session) -> None:
        self.a, self.b = a, b
        self.now = 0.0
        self.log: list[tuple[str, str]] = []
        self.events: dict[str, list[H245Event]] = {"a": [], "b": []}

    def pump(self, *, drop: set[str] | None = None) -> None:
        """Carry PDUs both ways until both are quiet; names in ``drop`` are lost."""
        moved = True
        while moved:
            moved = False
            for label, sender, receiver in (
                ("a", self.a, self.b),
                ("b", self.b, self.a),
            ):
                for pdu in sender.pop_outgoing():
                    moved = True
                    name = codec.decode_h245(pdu).name
                    self.log.append((label, name))
                    if drop and name in drop:
                        continue
                    receiver.receive_message(pdu, self.now)
            self.events["a"] += self.a.pop_events()
            self.events["b"] += self.b.pop_events()

    def of(self, label: str, kind: type[H245Event]) -> list[Any]:
        """Events of one type collected for one side."""
        return [event for event in self.events[label] if isinstance(event, kind)]


def started(a: H245Session, b: H245Session) -> Wire:
    """Both sides start at once and the wire is pumped."""
    wire = Wire(a, b)
    a.start(0.0, capability_table=TABLE, capability_descriptors=DESCRIPTORS)
    b.start(0.0, capability_table=TABLE, capability_descriptors=DESCRIPTORS)
    wire.pump()
    return wire


# -- master-slave determination -----------------------------------------------------


def test_start_sends_tcs_then_msd() -> None:
    """start() sends our capability set, then MSD with type and random number."""
    a = session(4242)
    a.start(0.0, capability_table=TABLE, capability_descriptors=DESCRIPTORS)
    sent = decoded(a.pop_outgoing())
    assert [m.name for m in sent] == [
        "terminalCapabilitySet",
        "masterSlaveDetermination",
    ]
    assert sent[0].body["sequenceNumber"] == 1
    assert [e["capability"] for e in sent[0].body["capabilityTable"]] == [
        G711,
        TABLE[1][1],
    ]
    assert sent[1].body == {"terminalType": 60, "statusDeterminationNumber": 4242}
    assert a.next_deadline() == 30.0


def test_msd_higher_terminal_type_is_master() -> None:
    """An MCU (190) beats a gateway (60) whatever the numbers (H.245 8.2)."""
    wire = started(session(5), session(9_000_000, terminal_type=190))
    assert wire.of("a", MasterSlaveDetermined) == [
        MasterSlaveDetermined(is_master=False)
    ]
    assert wire.of("b", MasterSlaveDetermined) == [
        MasterSlaveDetermined(is_master=True)
    ]
    assert wire.a.next_deadline() is None and wire.b.next_deadline() is None


@pytest.mark.parametrize(
    ("ours", "theirs", "is_master"),
    [
        (100, 200, True),  # (200 - 100) mod 2^24 < 2^23
        (200, 100, False),
        (10, 10 + (1 << 23) + 1, False),  # difference above 2^23
        ((1 << 24) - 5, 3, True),  # wraps modulo 2^24
    ],
)
def test_msd_equal_types_compare_numbers(
    ours: int, theirs: int, is_master: bool
) -> None:
    """Equal types: the number difference modulo 2^24 decides (H.245 C.2)."""
    wire = started(session(ours), session(theirs))
    assert wire.of("a", MasterSlaveDetermined) == [
        MasterSlaveDetermined(is_master=is_master)
    ]
    assert wire.of("b", MasterSlaveDetermined) == [
        MasterSlaveDetermined(is_master=not is_master)
    ]
    assert wire.a.is_master is is_master and wire.b.is_master is (not is_master)


def test_msd_equal_numbers_retry_with_new_numbers() -> None:
    """Identical numbers are indeterminate; both draw again and then agree."""
    wire = started(session(77, 500), session(77, 90))
    assert wire.log.count(("a", "masterSlaveDetermination")) == 2
    assert wire.of("a", MasterSlaveDetermined) == [
        MasterSlaveDetermined(is_master=False)
    ]
    assert wire.of("b", MasterSlaveDetermined) == [
        MasterSlaveDetermined(is_master=True)
    ]
    assert not wire.of("a", ProtocolError) and not wire.of("b", ProtocolError)


def test_msd_idle_peer_rejects_identical_numbers() -> None:
    """A peer that has not started rejects identical numbers; we retry (C.2)."""
    a, b = session(31, 32), session(31)
    wire = Wire(a, b)
    a.start(0.0, capability_table=TABLE, capability_descriptors=DESCRIPTORS)
    wire.pump()
    assert ("b", "masterSlaveDeterminationReject") in wire.log
    assert wire.of("a", MasterSlaveDetermined) == [
        MasterSlaveDetermined(is_master=False)
    ]
    assert wire.of("b", MasterSlaveDetermined) == [
        MasterSlaveDetermined(is_master=True)
    ]


def test_msd_gives_up_after_n100_indeterminate_rounds() -> None:
    """Always-identical numbers end in a ProtocolError after N100 attempts."""
    wire = started(session(8, n100=3), session(8, n100=3))
    assert wire.log.count(("a", "masterSlaveDetermination")) == 3
    assert wire.of("a", MasterSlaveDetermined) == []
    assert any("indeterminate" in e.reason for e in wire.of("a", ProtocolError))
    assert wire.a.msd_state is MsdState.IDLE and wire.a.next_deadline() is None


def test_msd_t106_expiry_sends_release() -> None:
    """Without an answer T106 fires: MSDRelease and an error (C.2 error A)."""
    a = session(1, t101_s=50.0, t106_s=10.0)
    a.start(0.0, capability_table=TABLE, capability_descriptors=DESCRIPTORS)
    a.pop_outgoing()
    assert a.next_deadline() == 10.0
    a.handle_timeout(9.9)
    assert a.pop_outgoing() == []
    a.handle_timeout(10.0)
    assert names(a.pop_outgoing()) == ["masterSlaveDeterminationRelease"]
    assert [type(e) for e in a.pop_events()] == [ProtocolError]
    assert a.msd_state is MsdState.IDLE and a.next_deadline() == 50.0


def test_msd_inconsistent_ack_is_an_error() -> None:
    """An Ack whose decision contradicts ours is reported (C.2 error E)."""
    a = session(100)
    a.receive_message(build.master_slave_determination(terminal_type=60, number=200), 0)
    assert decoded(a.pop_outgoing())[0].body == {"decision": ("slave", 0)}
    a.receive_message(build.master_slave_determination_ack(is_receiver_master=False), 1)
    assert [type(e) for e in a.pop_events()] == [ProtocolError]
    assert a.is_master is None and a.msd_state is MsdState.IDLE


def test_unexpected_msd_ack_reports_error_and_keeps_state() -> None:
    """A response with no transition row gives ProtocolError, state unchanged."""
    a = session()
    a.receive_message(build.master_slave_determination_ack(is_receiver_master=True), 0)
    events = a.pop_events()
    assert len(events) == 1 and isinstance(events[0], ProtocolError)
    assert "MSD_ACK" in events[0].reason
    assert a.msd_state is MsdState.IDLE and a.pop_outgoing() == []


# -- capability exchange ------------------------------------------------------------


def test_tcs_both_ways_acknowledged() -> None:
    """Each side reports the peer's table and the Ack of its own set."""
    wire = started(session(1), session(2))
    received = wire.of("b", CapabilitiesReceived)
    assert len(received) == 1 and received[0].table == tuple(TABLE)
    assert received[0].descriptors[0]["simultaneousCapabilities"] == [[1], [2]]
    assert wire.of("a", CapabilitiesAcknowledged) == [
        CapabilitiesAcknowledged(sequence_number=1)
    ]
    assert wire.a.cese_state.name == "IDLE"


def test_new_tcs_supersedes_and_stale_ack_is_ignored() -> None:
    """A second set before the Ack gets a new number; the old Ack is dropped."""
    a = session()
    a.start(0.0, capability_table=TABLE, capability_descriptors=DESCRIPTORS)
    a.send_capabilities(1.0, capability_table=TABLE[:1], capability_descriptors=[])
    sent = decoded(a.pop_outgoing())
    assert [m.sequence_number for m in sent if m.name == "terminalCapabilitySet"] == [
        1,
        2,
    ]
    a.receive_message(build.terminal_capability_set_ack(sequence_number=1), 2.0)
    assert [type(e) for e in a.pop_events()] == [MessageIgnored]
    a.receive_message(build.terminal_capability_set_reject(sequence_number=2), 3.0)
    assert a.pop_events() == [
        CapabilitiesRejected(sequence_number=2, cause="unspecified")
    ]


def test_tcs_t101_expiry() -> None:
    """T101 expiry sends TerminalCapabilitySetRelease and reports a timeout."""
    a = session(t101_s=5.0, t106_s=60.0)
    a.start(0.0, capability_table=TABLE, capability_descriptors=DESCRIPTORS)
    a.pop_outgoing()
    a.handle_timeout(5.0)
    assert names(a.pop_outgoing()) == ["terminalCapabilitySetRelease"]
    assert a.pop_events() == [CapabilitiesRejected(sequence_number=1, cause="timeout")]


def test_tcs_with_undefined_entry_is_rejected() -> None:
    """A descriptor naming a missing entry gets undefinedTableEntryUsed."""
    a = session()
    bad = build.terminal_capability_set(
        sequence_number=9,
        capability_table=TABLE[:1],
        capability_descriptors=[
            {"capabilityDescriptorNumber": 0, "simultaneousCapabilities": [[1, 5]]}
        ],
    )
    a.receive_message(codec.encode_h245(bad), 0)
    reply = decoded(a.pop_outgoing())
    assert reply[0].name == "terminalCapabilitySetReject"
    assert reply[0].body["cause"] == ("undefinedTableEntryUsed", 0)
    assert [type(e) for e in a.pop_events()] == [ProtocolError]


def test_empty_tcs_pauses_and_resets_determination() -> None:
    """An empty set (H.323 8.4.6) is acked, reports Paused and forgets MSD."""
    wire = started(session(1), session(2))
    wire.b.send_capabilities(
        5.0, capability_table=[], capability_descriptors=DESCRIPTORS
    )
    sent = decoded(wire.b.pop_outgoing())
    assert "capabilityTable" not in sent[0].body
    assert "capabilityDescriptors" not in sent[0].body
    wire.a.receive_message(codec.encode_h245(sent[0]), 5.0)
    assert wire.a.pop_events() == [Paused()]
    assert wire.a.is_master is None
    assert decoded(wire.a.pop_outgoing())[0].body == {"sequenceNumber": 2}
    # After the pause a new determination runs from the third party's side.
    wire.a.receive_message(
        build.master_slave_determination(terminal_type=50, number=3), 6
    )
    assert names(wire.a.pop_outgoing()) == ["masterSlaveDeterminationAck"]


def test_send_terminal_capability_set_command_resends() -> None:
    """sendTerminalCapabilitySet makes us send our set again, numbered anew."""
    wire = started(session(1), session(2))
    command = H245Message(
        category=H245Category.COMMAND,
        name="sendTerminalCapabilitySet",
        body=("genericRequest", 0),
    )
    wire.a.receive_message(codec.encode_h245(command), 1.0)
    sent = decoded(wire.a.pop_outgoing())
    assert [(m.name, m.sequence_number) for m in sent] == [("terminalCapabilitySet", 2)]


# -- logical channels ---------------------------------------------------------------


def open_audio(wire: Wire, number: int = 1) -> None:
    """a opens a G.711 channel to b and b accepts it."""
    parameters = H2250Parameters(session_id=1, media_control=RTCP)
    wire.a.open_channel(number, data_type=AUDIO, parameters=parameters, now=wire.now)
    wire.pump()
    wire.b.accept_channel(number, media=PEER_RTP, media_control=PEER_RTCP, now=wire.now)
    wire.pump()


def test_olc_both_ways() -> None:
    """Each side opens a channel; the other sees the request and its Ack."""
    wire = started(session(1), session(2))
    open_audio(wire)
    request = wire.of("b", ChannelOpenRequested)
    assert request == [
        ChannelOpenRequested(
            number=1,
            data_type=AUDIO,
            session_id=1,
            media=None,
            media_control=RTCP,
            dynamic_payload_type=None,
        )
    ]
    assert wire.of("a", ChannelOpened) == [
        ChannelOpened(number=1, media=PEER_RTP, media_control=PEER_RTCP)
    ]
    # The same number in the other direction is a different channel.
    parameters = H2250Parameters(session_id=1, media_control=PEER_RTCP)
    wire.b.open_channel(1, data_type=AUDIO, parameters=parameters, now=1.0)
    wire.pump()
    wire.a.accept_channel(1, media=RTP, media_control=RTCP, now=1.0)
    wire.pump()
    assert wire.of("b", ChannelOpened) == [
        ChannelOpened(number=1, media=RTP, media_control=RTCP)
    ]
    assert wire.a.next_deadline() is None and wire.b.next_deadline() is None


def test_olc_reject_and_reuse_of_number() -> None:
    """A rejected channel is released and its number can be opened again."""
    wire = started(session(1), session(2))
    parameters = H2250Parameters(session_id=2, dynamic_payload_type=97)
    wire.a.open_channel(3, data_type=AUDIO, parameters=parameters, now=0)
    wire.pump()
    assert wire.of("b", ChannelOpenRequested)[0].dynamic_payload_type == 97
    wire.b.reject_channel(3, now=0)
    wire.pump()
    assert wire.of("a", ChannelRejected) == [
        ChannelRejected(number=3, cause="dataTypeNotSupported")
    ]
    wire.a.open_channel(3, data_type=AUDIO, parameters=parameters, now=0)
    assert names(wire.a.pop_outgoing()) == ["openLogicalChannel"]


def test_olc_t103_expiry_closes_with_lcse_source() -> None:
    """No answer within T103: CloseLogicalChannel (source lcse), ChannelRejected."""
    a = session(t103_s=4.0)
    parameters = H2250Parameters(session_id=1, media_control=RTCP)
    a.open_channel(7, data_type=AUDIO, parameters=parameters, now=1.0)
    a.pop_outgoing()
    assert a.next_deadline() == 5.0
    a.handle_timeout(5.0)
    sent = decoded(a.pop_outgoing())
    assert sent[0].name == "closeLogicalChannel"
    assert sent[0].body["source"] == ("lcse", 0)
    assert a.pop_events() == [ChannelRejected(number=7, cause="timeout")]


def test_clc_both_ways() -> None:
    """Closing our channel releases it on both sides after the Ack."""
    wire = started(session(1), session(2))
    open_audio(wire)
    wire.a.close_channel(1, now=2.0)
    wire.pump()
    assert wire.of("b", ChannelClosed) == [ChannelClosed(number=1, is_outgoing=False)]
    assert wire.of("a", ChannelClosed) == [ChannelClosed(number=1, is_outgoing=True)]
    assert ("b", "closeLogicalChannelAck") in wire.log
    assert wire.a.next_deadline() is None


def test_clc_t103_expiry_still_releases() -> None:
    """A close that is never acknowledged releases the channel at T103."""
    wire = started(session(1), session(2))
    open_audio(wire)
    wire.a.close_channel(1, now=10.0)
    wire.a.pop_outgoing()
    wire.a.handle_timeout(10.0 + 30.0)
    events = wire.a.pop_events()
    assert [type(e) for e in events] == [ProtocolError, ChannelClosed]


def test_peer_reopening_established_channel() -> None:
    """OLC on an established incoming channel releases it and asks again (C.4)."""
    wire = started(session(1), session(2))
    open_audio(wire)
    olc = build.open_logical_channel(
        number=1, data_type=AUDIO, parameters=H2250Parameters(session_id=1)
    )
    wire.b.receive_message(olc, 3.0)
    assert [type(e) for e in wire.b.pop_events()] == [
        ChannelClosed,
        ChannelOpenRequested,
    ]


def test_clc_for_unknown_channel_is_acked() -> None:
    """CloseLogicalChannel for a released channel is still acknowledged."""
    a = session()
    a.receive_message(build.close_logical_channel(number=44), 0)
    assert names(a.pop_outgoing()) == ["closeLogicalChannelAck"]
    assert a.pop_events() == []


def test_bidirectional_olc_and_too_many_channels_are_rejected() -> None:
    """Bidirectional channels and channels over the limit get rejected."""
    a = session(max_incoming_channels=1)
    olc = build.open_logical_channel(
        number=1, data_type=AUDIO, parameters=H2250Parameters(session_id=1)
    )
    bidirectional = H245Message(
        category=olc.category,
        name=olc.name,
        body={
            **olc.body,
            "reverseLogicalChannelParameters": {
                "dataType": AUDIO,
                "multiplexParameters": (
                    "h2250LogicalChannelParameters",
                    {"sessionID": 1},
                ),
            },
        },
    )
    a.receive_message(codec.encode_h245(bidirectional), 0)
    assert decoded(a.pop_outgoing())[0].body["cause"] == (
        "unsuitableReverseParameters",
        0,
    )
    a.receive_message(olc, 0)
    second = build.open_logical_channel(
        number=2, data_type=AUDIO, parameters=H2250Parameters(session_id=2)
    )
    a.receive_message(second, 0)
    sent = decoded(a.pop_outgoing())
    assert [m.name for m in sent] == ["openLogicalChannelReject"]
    assert sent[0].body["forwardLogicalChannelNumber"] == 2
    assert [e.number for e in a.pop_events()] == [1]  # type: ignore[attr-defined]


def test_olc_without_h2250_parameters_is_rejected() -> None:
    """An OLC for another multiplex is rejected and reported, no crash."""
    a = session()
    body = {
        "forwardLogicalChannelNumber": 5,
        "forwardLogicalChannelParameters": {
            "dataType": AUDIO,
            "multiplexParameters": ("none", 0),
        },
    }
    message = H245Message(
        category=H245Category.REQUEST, name="openLogicalChannel", body=body
    )
    a.receive_message(codec.encode_h245(message), 0)
    assert names(a.pop_outgoing()) == ["openLogicalChannelReject"]
    assert [type(e) for e in a.pop_events()] == [ProtocolError]


def test_channel_command_misuse_raises() -> None:
    """Opening a busy channel or answering an unknown one is a LocalH323Error."""
    a = session()
    parameters = H2250Parameters(session_id=1)
    a.open_channel(1, data_type=AUDIO, parameters=parameters, now=0)
    with pytest.raises(LocalH323Error):
        a.open_channel(1, data_type=AUDIO, parameters=parameters, now=0)
    with pytest.raises(LocalH323Error):
        a.accept_channel(9, media=RTP, media_control=RTCP, now=0)
    with pytest.raises(LocalH323Error):
        a.close_channel(2, now=0)
    with pytest.raises(LocalH323Error):
        a.open_channel(0, data_type=AUDIO, parameters=parameters, now=0)
    with pytest.raises(LocalH323Error):
        H2250Parameters(session_id=1, dynamic_payload_type=8)
    a.start(0, capability_table=TABLE, capability_descriptors=DESCRIPTORS)
    with pytest.raises(LocalH323Error):
        a.start(0, capability_table=TABLE, capability_descriptors=DESCRIPTORS)


# -- session end, user input, fast update, flow control, round trip -------------------


def test_end_session_both_ways() -> None:
    """Our endSessionCommand is answered by the peer's; both report the end."""
    wire = started(session(1), session(2))
    open_audio(wire)
    wire.a.end_session(5.0)
    wire.pump()
    assert wire.of("b", SessionEnded) == [SessionEnded(is_peer_initiated=True)]
    assert wire.of("a", SessionEnded) == [SessionEnded(is_peer_initiated=False)]
    assert wire.log[-2:] == [("a", "endSessionCommand"), ("b", "endSessionCommand")]
    assert wire.a.session_state is SessionState.TERMINATED
    wire.a.end_session(6.0)  # idempotent
    assert wire.a.pop_outgoing() == []
    with pytest.raises(LocalH323Error):
        wire.a.round_trip(6.0)
    wire.a.receive_message(build.round_trip_delay_request(sequence_number=1), 6.0)
    assert wire.a.pop_outgoing() == []
    assert [type(e) for e in wire.a.pop_events()] == [MessageIgnored]


def test_end_session_stops_timers() -> None:
    """After endSessionCommand no timer is left running (H.323 8.5)."""
    a = session()
    a.start(0, capability_table=TABLE, capability_descriptors=DESCRIPTORS)
    a.round_trip(0)
    a.end_session(1)
    assert a.next_deadline() is None
    assert names(a.pop_outgoing())[-1] == "endSessionCommand"


def test_user_input_both_kinds() -> None:
    """Alphanumeric text and DTMF signals arrive as UserInput events."""
    wire = started(session(1), session(2))
    wire.a.send_user_input("12#", now=1.0)
    wire.a.send_user_input("5*", kind=UserInputKind.SIGNAL, duration_ms=120, now=1.0)
    wire.pump()
    assert wire.of("b", UserInput) == [
        UserInput(digits="12#", kind=UserInputKind.ALPHANUMERIC),
        UserInput(digits="5", kind=UserInputKind.SIGNAL, duration_ms=120),
        UserInput(digits="*", kind=UserInputKind.SIGNAL, duration_ms=120),
    ]
    with pytest.raises(LocalH323Error):
        wire.a.send_user_input("X", kind=UserInputKind.SIGNAL, now=1.0)


def test_fast_update_and_flow_control() -> None:
    """videoFastUpdatePicture and flowControlCommand reach the peer as events."""
    wire = started(session(1), session(2))
    wire.a.send_fast_update(3, now=1.0)
    wire.a.send_flow_control(3, max_bitrate_bps=384_050, now=1.0)
    wire.a.send_flow_control(None, max_bitrate_bps=None, now=1.0)
    wire.pump()
    assert wire.of("b", FastUpdateRequested) == [FastUpdateRequested(number=3)]
    assert wire.of("b", FlowControl) == [
        FlowControl(number=3, max_bitrate_bps=384_000),
        FlowControl(number=None, max_bitrate_bps=None),
    ]


def test_other_miscellaneous_command_is_ignored() -> None:
    """A miscellaneousCommand we do not act on is reported as ignored."""
    a = session()
    freeze = H245Message(
        category=H245Category.COMMAND,
        name="miscellaneousCommand",
        body={"logicalChannelNumber": 1, "type": ("videoFreezePicture", 0)},
    )
    a.receive_message(codec.encode_h245(freeze), 0)
    assert [type(e) for e in a.pop_events()] == [MessageIgnored]
    assert a.pop_outgoing() == []


def test_round_trip_measured_under_fake_clock() -> None:
    """A request is answered by the peer; the delay is the fake-clock gap."""
    a, b = session(1), session(2)
    a.round_trip(10.0)
    request = a.pop_outgoing()
    b.receive_message(request[0], 10.1)
    response = b.pop_outgoing()
    assert names(response) == ["roundTripDelayResponse"]
    a.receive_message(response[0], 10.25)
    events = a.pop_events()
    assert len(events) == 1 and isinstance(events[0], RoundTripMeasured)
    assert events[0].delay_s == pytest.approx(0.25)
    assert a.next_deadline() is None
    a.receive_message(response[0], 11.0)  # duplicate answer
    assert [type(e) for e in a.pop_events()] == [MessageIgnored]


def test_round_trip_t105_expiry() -> None:
    """No response within T105 reports PeerUnresponsive."""
    a = session(t105_s=2.0)
    a.round_trip(1.0)
    a.pop_outgoing()
    a.handle_timeout(2.9)
    assert a.pop_events() == []
    a.handle_timeout(3.0)
    assert a.pop_events() == [PeerUnresponsive()]
    assert a.next_deadline() is None


# -- robustness -----------------------------------------------------------------


def test_unsupported_request_gets_function_not_understood() -> None:
    """A request we do not implement is returned in functionNotUnderstood."""
    a = session()
    request = H245Message(
        category=H245Category.REQUEST,
        name="requestMode",
        body={
            "sequenceNumber": 4,
            "requestedModes": [
                [
                    {
                        "type": (
                            "videoMode",
                            (
                                "h261VideoMode",
                                {
                                    "resolution": ("qcif", 0),
                                    "bitRate": 640,
                                    "stillImageTransmission": False,
                                },
                            ),
                        )
                    }
                ]
            ],
        },
    )
    a.receive_message(codec.encode_h245(request), 0)
    reply = decoded(a.pop_outgoing())
    assert reply[0].name == "functionNotUnderstood"
    assert reply[0].body[0] == "request" and reply[0].body[1][0] == "requestMode"
    assert [type(e) for e in a.pop_events()] == [MessageIgnored]


def test_garbage_gives_protocol_error_and_function_not_supported() -> None:
    """Undecodable bytes: ProtocolError, functionNotSupported, machine goes on."""
    a = session()
    a.receive_message(b"\x1f\x00\x00", 0)
    reply = decoded(a.pop_outgoing())
    assert reply[0].name == "functionNotSupported"
    assert reply[0].body == {"cause": ("syntaxError", 0)}
    assert [type(e) for e in a.pop_events()] == [ProtocolError]
    a.round_trip(1.0)
    assert names(a.pop_outgoing()) == ["roundTripDelayRequest"]


def test_oversized_pdu_is_dropped_before_decoding() -> None:
    """A PDU above max_pdu_size_bytes is refused without decoding."""
    a = session(max_pdu_size_bytes=64)
    a.receive_message(bytes(65), 0)
    assert [type(e) for e in a.pop_events()] == [ProtocolError]
    assert a.pop_outgoing() == []


def test_unsupported_indication_and_response_are_ignored() -> None:
    """Indications and responses we do not handle are dropped silently."""
    a = session()
    a.receive_message(build.terminal_capability_set_release(), 0)
    a.receive_message(
        build.function_not_supported(cause="unknownFunction", returned=None), 0
    )
    assert [type(e) for e in a.pop_events()] == [MessageIgnored, MessageIgnored]
    assert a.pop_outgoing() == []


def test_config_is_validated() -> None:
    """Bad timers or counters are rejected when the config is built."""
    with pytest.raises(LocalH323Error):
        H245Config(t101_s=0)
    with pytest.raises(LocalH323Error):
        H245Config(n100=0)
    with pytest.raises(LocalH323Error):
        H245Config(terminal_type=300)


# -- ooh323c captures -----------------------------------------------------------


def corpus_h245(name: str) -> bytes:
    """One separate-connection H.245 PDU from the corpus."""
    return bytes.fromhex((CORPUS / f"{name}.h245.hex").read_text().strip())


def tunnelled(name: str) -> Iterator[bytes]:
    """The H.245 PDUs tunnelled in one Q.931 message's h245Control."""
    message = q931.decode(bytes.fromhex((CORPUS / f"{name}.q931.hex").read_text()))
    (uu,) = [ie for ie in message.ies if ie.identifier == q931.IeId.USER_USER]
    yield from codec.decode_h225(uu.contents).h245_control


def corpus_body(pdu: bytes) -> Any:
    """The decoded body of a captured PDU."""
    return codec.decode_h245(pdu).body


OOH_TABLE = [(1, ("receiveAudioCapability", ("g711Ulaw64k", 240)))]
OOH_DESCRIPTORS = [{"capabilityDescriptorNumber": 1, "simultaneousCapabilities": [[1]]}]
LOCALHOST = "127.0.0.1"


def test_ooh323c_separate_h245_as_calling_side() -> None:
    """Playing port 17762 of the slow-start call, we send what ooh323c sent."""
    us = session(9378640, terminal_type=50)
    us.start(0, capability_table=OOH_TABLE, capability_descriptors=OOH_DESCRIPTORS)
    tcs, msd = decoded(us.pop_outgoing())
    captured = corpus_body(corpus_h245("slowstart-f019-0"))
    assert tcs.body["capabilityTable"] == captured["capabilityTable"]
    assert tcs.body["capabilityDescriptors"] == captured["capabilityDescriptors"]
    assert msd.body == corpus_body(corpus_h245("slowstart-f021-0"))

    def feed(name: str) -> tuple[list[Any], list[H245Event]]:
        us.receive_message(corpus_h245(name), 1.0)
        return [m.body for m in decoded(us.pop_outgoing())], us.pop_events()

    sent, events = feed("slowstart-f015-0")
    assert sent == [corpus_body(corpus_h245("slowstart-f023-0"))]
    assert isinstance(events[0], CapabilitiesReceived)
    assert feed("slowstart-f017-0")[0] == [corpus_body(corpus_h245("slowstart-f025-0"))]
    assert feed("slowstart-f027-0")[1] == [CapabilitiesAcknowledged(sequence_number=1)]
    parameters = H2250Parameters(
        session_id=1, media_control=TransportAddress(host=LOCALHOST, port=17951)
    )
    us.open_channel(
        1001,
        data_type=("audioData", ("g711Ulaw64k", 30)),
        parameters=parameters,
        now=1.0,
    )
    assert decoded(us.pop_outgoing())[0].body == corpus_body(
        corpus_h245("slowstart-f028-0")
    )
    assert feed("slowstart-f029-0")[1] == [MasterSlaveDetermined(is_master=True)]
    sent, events = feed("slowstart-f029-1")
    assert sent == [] and isinstance(events[0], ChannelOpenRequested)
    assert events[0].media_control == TransportAddress(host=LOCALHOST, port=17901)
    us.accept_channel(
        1001,
        media=TransportAddress(host=LOCALHOST, port=17952),
        media_control=TransportAddress(host=LOCALHOST, port=17953),
        now=1.0,
    )
    assert decoded(us.pop_outgoing())[0].body == corpus_body(
        corpus_h245("slowstart-f030-0")
    )
    assert feed("slowstart-f031-0")[1] == [
        ChannelOpened(
            number=1001,
            media=TransportAddress(host=LOCALHOST, port=17902),
            media_control=TransportAddress(host=LOCALHOST, port=17903),
        )
    ]
    sent, events = feed("slowstart-f237-0")
    assert sent == [corpus_body(corpus_h245("slowstart-f237-0"))]
    assert events == [SessionEnded(is_peer_initiated=True)]
    assert us.next_deadline() is None


def test_ooh323c_separate_h245_as_called_side() -> None:
    """Playing port 17730, our answers match ooh323c's, including the slave Ack."""
    us = session(15967861, terminal_type=50)
    us.start(0, capability_table=OOH_TABLE, capability_descriptors=OOH_DESCRIPTORS)
    assert decoded(us.pop_outgoing())[1].body == corpus_body(
        corpus_h245("slowstart-f017-0")
    )
    for name, expected in (
        ("slowstart-f019-0", ["slowstart-f027-0"]),
        ("slowstart-f021-0", ["slowstart-f029-0"]),
        ("slowstart-f023-0", []),
        ("slowstart-f025-0", []),
        ("slowstart-f028-0", []),
    ):
        us.receive_message(corpus_h245(name), 1.0)
        assert [m.body for m in decoded(us.pop_outgoing())] == [
            corpus_body(corpus_h245(e)) for e in expected
        ]
    assert us.is_master is False
    us.accept_channel(
        1001,
        media=TransportAddress(host=LOCALHOST, port=17902),
        media_control=TransportAddress(host=LOCALHOST, port=17903),
        now=1.0,
    )
    assert decoded(us.pop_outgoing())[0].body == corpus_body(
        corpus_h245("slowstart-f031-0")
    )
    us.end_session(2.0)
    assert decoded(us.pop_outgoing())[0].body == corpus_body(
        corpus_h245("slowstart-f237-0")
    )


def test_ooh323c_tunnelled_as_caller() -> None:
    """Fast-start call, caller side: the tunnelled Acks ooh323c expects."""
    us = session(6824054, terminal_type=50)
    us.start(0, capability_table=OOH_TABLE, capability_descriptors=OOH_DESCRIPTORS)
    tcs, msd = us.pop_outgoing()
    captured_tcs = corpus_body(next(tunnelled("faststart-f012-0")))
    assert corpus_body(tcs)["capabilityTable"] == captured_tcs["capabilityTable"]
    assert corpus_body(msd) == corpus_body(next(tunnelled("faststart-f014-0")))
    replies: list[Any] = []
    for frame in ("faststart-f013-0", "faststart-f015-0", "faststart-f017-0"):
        for pdu in tunnelled(frame):
            us.receive_message(pdu, 1.0)
            replies += [corpus_body(p) for p in us.pop_outgoing()]
    expected = [
        corpus_body(p)
        for frame in ("faststart-f016-0", "faststart-f018-0")
        for p in tunnelled(frame)
    ]
    assert replies == expected
    assert us.is_master is True and us.next_deadline() is None


def test_ooh323c_tunnelled_as_callee() -> None:
    """Fast-start call, callee side: the peer's MSD first, ours never sent."""
    us = session((6824054 + 1) % (1 << 24), terminal_type=50)
    replies: list[Any] = []
    for frame in ("faststart-f012-0", "faststart-f014-0"):
        for pdu in tunnelled(frame):
            us.receive_message(pdu, 1.0)
            replies += [corpus_body(p) for p in us.pop_outgoing()]
    us.start(1.0, capability_table=OOH_TABLE, capability_descriptors=OOH_DESCRIPTORS)
    replies += [corpus_body(p) for p in us.pop_outgoing()]
    for pdu in (*tunnelled("faststart-f016-0"), *tunnelled("faststart-f018-0")):
        us.receive_message(pdu, 2.0)
    expected = [
        corpus_body(p)
        for frame in ("faststart-f013-0", "faststart-f017-0", "faststart-f015-0")
        for p in tunnelled(frame)
    ]
    assert replies[:2] == expected[:2]
    assert replies[2]["capabilityTable"] == expected[2]["capabilityTable"]
    events = us.pop_events()
    assert MasterSlaveDetermined(is_master=False) in events
    assert CapabilitiesAcknowledged(sequence_number=1) in events
    assert us.msd_state is MsdState.IDLE and us.next_deadline() is None
