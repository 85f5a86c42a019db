"""tshark dissects every H.245 PDU the control state machine sends.

Two :class:`H245Session` instances run a whole call (capability exchange,
determination, channels both ways, user input, fast update, flow control,
round trip, close, end of session); every PDU they send, plus the few that
only errors and timers produce, is written into a pcap on the H.245 TCP port
and dissected by tshark.  No frame may be malformed or carry an expert
warning, and the message types and key fields must be the ones we meant.
"""

from pathlib import Path

import pytest

from gateway.h323 import codec
from gateway.h323 import h245_messages as build
from gateway.h323.codec import H245Category, H245Message, TransportAddress
from gateway.h323.h245 import H245Config, H245Session
from gateway.h323.h245_messages import H2250Parameters, UserInputKind
from gateway.h323.tpkt import encode_tpkt
from tests.interop.test_h323_tshark import (
    H245_PORT,
    H264_CAPABILITY,
    Frame,
    tshark,
    tshark_fields,
    write_pcap,
)

pytestmark = pytest.mark.interop

RTP = TransportAddress(host="127.0.0.1", port=40000)
RTCP = TransportAddress(host="127.0.0.1", port=40001)
PEER_RTP = TransportAddress(host="127.0.0.2", port=50000)
PEER_RTCP = TransportAddress(host="127.0.0.2", port=50001)
TABLE = [
    (1, ("receiveAudioCapability", ("g711Ulaw64k", 20))),
    (2, ("receiveAudioCapability", ("g722-64k", 20))),
    (3, ("receiveVideoCapability", H264_CAPABILITY)),
    (4, ("receiveUserInputCapability", ("dtmf", 0))),
]
DESCRIPTORS = [
    {"capabilityDescriptorNumber": 0, "simultaneousCapabilities": [[1, 2], [3], [4]]}
]
AUDIO = ("audioData", ("g711Ulaw64k", 20))
VIDEO = ("videoData", H264_CAPABILITY)


def run_call() -> list[bytes]:
    """Everything two sessions send in one scripted call, in order."""
    a = H245Session(H245Config(), random_below=lambda _: 12345)
    b = H245Session(H245Config(terminal_type=190), random_below=lambda _: 54321)
    sent: list[bytes] = []

    def pump() -> None:
        moved = True
        while moved:
            moved = False
            for sender, receiver in ((a, b), (b, a)):
                for pdu in sender.pop_outgoing():
                    moved = True
                    sent.append(pdu)
                    receiver.receive_message(pdu, 0.0)

    a.start(0.0, capability_table=TABLE, capability_descriptors=DESCRIPTORS)
    b.start(0.0, capability_table=TABLE, capability_descriptors=DESCRIPTORS)
    pump()
    audio = H2250Parameters(
        session_id=1, media_control=RTCP, is_silence_suppressed=False
    )
    video = H2250Parameters(session_id=2, media_control=RTCP, dynamic_payload_type=97)
    a.open_channel(1, data_type=AUDIO, parameters=audio, now=0.0)
    a.open_channel(2, data_type=VIDEO, parameters=video, now=0.0)
    pump()
    b.accept_channel(1, media=PEER_RTP, media_control=PEER_RTCP, now=0.0)
    b.reject_channel(2, cause="dataTypeNotSupported", now=0.0)
    a.send_user_input("123#", now=0.0)
    a.send_user_input("5", kind=UserInputKind.SIGNAL, duration_ms=100, now=0.0)
    b.send_fast_update(1, now=0.0)
    b.send_flow_control(1, max_bitrate_bps=64000, now=0.0)
    b.send_flow_control(None, max_bitrate_bps=None, now=0.0)
    a.round_trip(0.0)
    a.send_capabilities(0.0, capability_table=[], capability_descriptors=[])
    pump()
    a.close_channel(1, now=0.0)
    pump()
    a.end_session(0.0)
    pump()
    return sent


def timer_and_error_pdus() -> list[bytes]:
    """PDUs sent only on timer expiry or when answering a broken peer."""
    session = H245Session(H245Config(), random_below=lambda _: 7)
    session.start(0.0, capability_table=TABLE, capability_descriptors=DESCRIPTORS)
    session.open_channel(
        3, data_type=AUDIO, parameters=H2250Parameters(session_id=1), now=0.0
    )
    session.pop_outgoing()
    session.handle_timeout(1000.0)  # T101, T103 and T106
    # Identical numbers from an idle session: MasterSlaveDeterminationReject.
    idle = H245Session(H245Config(), random_below=lambda _: 7)
    idle.receive_message(
        build.master_slave_determination(terminal_type=60, number=7), 0
    )
    bad_set = build.terminal_capability_set(
        sequence_number=4,
        capability_table=TABLE[:1],
        capability_descriptors=[
            {"capabilityDescriptorNumber": 0, "simultaneousCapabilities": [[9]]}
        ],
    )
    idle.receive_message(codec.encode_h245(bad_set), 0)
    request_mode = H245Message(
        category=H245Category.REQUEST,
        name="requestMode",
        body={
            "sequenceNumber": 1,
            "requestedModes": [[{"type": ("audioMode", ("g711Ulaw64k", 0))}]],
        },
    )
    idle.receive_message(codec.encode_h245(request_mode), 0)
    idle.receive_message(b"\x1f\x00\x00", 0)
    return session.pop_outgoing() + idle.pop_outgoing()


EXPECTED = [
    # (pdu_type, alternative index) per H.245 Annex A, in sending order.
    ("terminalCapabilitySet", (0, 2)),
    ("masterSlaveDetermination", (0, 1)),
    ("terminalCapabilitySetAck", (1, 3)),
    ("masterSlaveDeterminationAck", (1, 1)),
    ("openLogicalChannel", (0, 3)),
    ("openLogicalChannelAck", (1, 5)),
    ("openLogicalChannelReject", (1, 6)),
    ("userInput", (3, 13)),
    ("miscellaneousCommand", (2, 6)),
    ("flowControlCommand", (2, 4)),
    ("roundTripDelayRequest", (0, 9)),
    ("roundTripDelayResponse", (1, 16)),
    ("closeLogicalChannel", (0, 4)),
    ("closeLogicalChannelAck", (1, 7)),
    ("endSessionCommand", (2, 5)),
    ("masterSlaveDeterminationRelease", (3, 2)),
    ("terminalCapabilitySetRelease", (3, 3)),
    ("masterSlaveDeterminationReject", (1, 2)),
    ("terminalCapabilitySetReject", (1, 4)),
    ("functionNotUnderstood", (3, 1)),
    ("functionNotSupported", (3, 18)),
]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    """Every PDU the state machine sent, one TPKT per frame, in one pcap."""
    pdus = run_call() + timer_and_error_pdus()
    frames = [
        Frame(
            protocol="tcp",
            source_port=50001,
            destination_port=H245_PORT,
            payload=encode_tpkt(pdu),
        )
        for pdu in pdus
    ]
    path = tmp_path_factory.mktemp("h245") / "vcgw-h245.pcap"
    write_pcap(path, frames)
    return path, pdus


def test_every_message_type_is_sent(capture: tuple[Path, list[bytes]]) -> None:
    """The scripted call and error paths send each message type we build."""
    _, pdus = capture
    sent = {codec.decode_h245(pdu).name for pdu in pdus}
    assert sent == {name for name, _ in EXPECTED}


def test_no_malformed_or_expert_warning(capture: tuple[Path, list[bytes]]) -> None:
    """tshark finds no malformed frame and no expert warning or error."""
    path, pdus = capture
    names = [
        "frame.number",
        "_ws.malformed",
        "_ws.expert.severity",
        "_ws.expert.message",
    ]
    rows = tshark_fields(path, names)
    assert len(rows) == len(pdus)
    bad = []
    for row in rows:
        levels = [int(s, 0) for s in row["_ws.expert.severity"].split("|") if s]
        if row["_ws.malformed"] or any(level >= 0x00600000 for level in levels):
            bad.append((row["frame.number"], row["_ws.expert.message"]))
    assert bad == []
    assert "[Malformed Packet" not in tshark(path, "-V")


def alternative(row: dict[str, str]) -> tuple[int, int]:
    """(pdu_type, alternative index) of one dissected H.245 frame.

    The outermost values come first: a returned function nested inside
    functionNotUnderstood adds later values to the same fields.
    """
    pdu_type = int(row["h245.pdu_type"].split("|")[0])
    field = ("h245.request", "h245.response", "h245.command", "h245.indication")
    return pdu_type, int(row[field[pdu_type]].split("|")[0])


def test_message_types_decode_as_sent(capture: tuple[Path, list[bytes]]) -> None:
    """tshark names each frame's message as we encoded it (H.245 Annex A)."""
    path, pdus = capture
    fields = ["h245.pdu_type", "h245.request", "h245.response", "h245.command"]
    rows = tshark_fields(path, [*fields, "h245.indication"])
    index_of = dict(EXPECTED)
    expected = [index_of[codec.decode_h245(pdu).name] for pdu in pdus]
    assert [alternative(row) for row in rows] == expected


def test_key_fields_decode_as_set(capture: tuple[Path, list[bytes]]) -> None:
    """Numbers, addresses, digits and causes read back as the values we set."""
    path, pdus = capture
    names = [
        "h245.statusDeterminationNumber",
        "h245.terminalType",
        "h245.sequenceNumber",
        "h245.forwardLogicalChannelNumber",
        "h245.tsapIdentifier",
        "h245.standardOid",
        "h245.dynamicRTPPayloadType",
        "h245.alphanumeric",
        "h245.signalType",
        "h245.duration",
        "h245.maximumBitRate",
        "h245.decision",
        "h245.cause",
        "h245.source",
    ]
    rows = tshark_fields(path, names)
    by_name: dict[str, list[dict[str, str]]] = {}
    for pdu, row in zip(pdus, rows, strict=True):
        by_name.setdefault(codec.decode_h245(pdu).name, []).append(row)
    msd = by_name["masterSlaveDetermination"]
    assert [(r["h245.terminalType"], r["h245.statusDeterminationNumber"]) for r in msd][
        :2
    ] == [("60", "12345"), ("190", "54321")]
    tcs = by_name["terminalCapabilitySet"]
    assert tcs[0]["h245.standardOid"] == "0.0.8.241.0.0.1"
    assert tcs[-1]["h245.sequenceNumber"] == "2"  # the empty set that pauses
    video = by_name["openLogicalChannel"][1]
    assert video["h245.forwardLogicalChannelNumber"] == "2"
    assert video["h245.dynamicRTPPayloadType"] == "97"
    ack = by_name["openLogicalChannelAck"][0]
    assert ack["h245.tsapIdentifier"] == "50000|50001"
    user_input = by_name["userInput"]
    assert user_input[0]["h245.alphanumeric"] == "123#"
    assert (user_input[1]["h245.signalType"], user_input[1]["h245.duration"]) == (
        "5",
        "100",
    )
    assert by_name["flowControlCommand"][0]["h245.maximumBitRate"] == "640"
    closes = by_name["closeLogicalChannel"]
    assert [r["h245.forwardLogicalChannelNumber"] for r in closes] == ["1", "3"]
    assert [r["h245.source"] for r in closes] == ["0", "1"]  # user, then lcse
    # Cause indices: dataTypeNotSupported, identicalNumbers, undefinedTableEntryUsed.
    assert by_name["openLogicalChannelReject"][0]["h245.cause"] == "2"
    assert by_name["masterSlaveDeterminationReject"][0]["h245.cause"] == "0"
    assert by_name["terminalCapabilitySetReject"][0]["h245.cause"] == "1"
    decisions = [r["h245.decision"] for r in by_name["masterSlaveDeterminationAck"]]
    assert sorted(decisions) == ["0", "1"]  # master for one side, slave for the other


def test_tshark_reads_our_pdu_bytes(capture: tuple[Path, list[bytes]]) -> None:
    """The H.245 bytes tshark saw are exactly the PDUs we encoded."""
    path, pdus = capture
    rows = tshark_fields(path, ["tcp.payload"])
    payloads = [bytes.fromhex(row["tcp.payload"].replace(":", "")) for row in rows]
    assert payloads == [encode_tpkt(pdu) for pdu in pdus]
