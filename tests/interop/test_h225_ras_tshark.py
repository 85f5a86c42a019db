"""tshark dissects every message our H225Call and RasClient machines send.

Two calls (fast start with tunnelled H.245, then slow start with Status
Inquiry, startH245 and release by the callee) and a RAS life cycle
(GRQ, RRQ, keep-alive, ARQ, DRQ, answers to gatekeeper URQ/DRQ/IRQ, URQ) are
driven through the machines; every PDU they emit goes into one pcap.
"""

from pathlib import Path

import pytest

from gateway.h323 import codec, q931
from gateway.h323.call import H225Call
from gateway.h323.codec import (
    AliasAddress,
    AliasKind,
    EndpointInfo,
    H225Kind,
    H225Message,
    RasKind,
    RasMessage,
    TransportAddress,
)
from gateway.h323.q931 import MessageType
from gateway.h323.ras import RasClient, RasConfig
from gateway.h323.tpkt import TpktFramer, encode_tpkt
from tests.interop.test_h323_tshark import (
    Q931_PORT,
    RAS_PORT,
    Frame,
    olc_audio,
    tshark,
    tshark_fields,
    write_pcap,
)

pytestmark = pytest.mark.interop

H245 = TransportAddress(host="127.0.0.1", port=17730)
PEER = TransportAddress(host="127.0.0.2", port=Q931_PORT)
ALIAS = AliasAddress(kind=AliasKind.H323_ID, value="vcgw")


def call_frames() -> list[Frame]:
    """Every Q.931 message two pumped calls send, caller and callee."""
    frames: list[Frame] = []

    def flush(a: H225Call, b: H225Call) -> None:
        for source, sink, port in ((a, b, 50000), (b, a, Q931_PORT)):
            for data in source.pop_outgoing():
                other = Q931_PORT if port == 50000 else 50000
                frames.append(
                    Frame(
                        protocol="tcp",
                        source_port=port,
                        destination_port=other,
                        payload=data,
                    )
                )
                sink.receive_data(data, 0.0)

    olc = codec.encode_open_logical_channel(olc_audio(number=1, with_media=True))
    a, b = H225Call(is_outgoing=True), H225Call(is_outgoing=False)
    a.setup(
        0.0,
        destination_aliases=(
            AliasAddress(kind=AliasKind.DIALLED_DIGITS, value="1001"),
        ),
        called_number="1001",
        calling_number="8400",
        source_aliases=(ALIAS,),
        display="vcgw",
        fast_start=[olc],
    )
    flush(a, b)
    b.call_proceeding(0.0)
    b.alerting(0.0, fast_start_accepted=[olc])
    b.progress(0.0)
    b.connect(0.0)
    flush(a, b)
    tcs = codec.encode_h245(
        codec.H245Message(
            category=codec.H245Category.RESPONSE,
            name="terminalCapabilitySetAck",
            body={"sequenceNumber": 1},
        )
    )
    a.send_h245([tcs], 0.0)
    b.send_h245([tcs], 0.0)
    flush(a, b)
    a.release(0.0, cause=16)
    flush(a, b)
    # Slow start: separate H.245, Status Inquiry answered, callee releases.
    a, b = H225Call(is_outgoing=True), H225Call(is_outgoing=False)
    a.setup(0.0, called_number="2002", h245_tunnelling=False)
    flush(a, b)
    b.alerting(0.0)
    b.start_h245(H245, 0.0)
    flush(a, b)
    assert b.call_reference is not None and b.call_identifier is not None
    inquiry = q931.Q931Message(
        message_type=MessageType.STATUS_INQUIRY,
        call_reference=b.call_reference,
        is_from_destination=False,
        ies=(
            q931.user_user_ie(
                codec.encode_h225(
                    H225Message(
                        kind=H225Kind.STATUS_INQUIRY,
                        call_identifier=b.call_identifier,
                    )
                )
            ),
        ),
    )
    b.receive_data(encode_tpkt(q931.encode(inquiry)), 0.0)
    b.connect(0.0, h245_address=H245)
    b.release(0.0, cause=31)
    flush(a, b)
    return frames


def ras_frames() -> list[Frame]:
    """Every RAS datagram a client sends through its life cycle."""
    frames: list[Frame] = []
    client = RasClient(
        RasConfig(
            aliases=(ALIAS,),
            call_signal_address=TransportAddress(host="127.0.0.1", port=Q931_PORT),
            ras_address=TransportAddress(host="127.0.0.1", port=RAS_PORT),
            endpoint=EndpointInfo(supported_prefixes=("84",)),
        )
    )

    def send() -> list[RasMessage]:
        sent = []
        for data in client.pop_outgoing():
            frames.append(
                Frame(
                    protocol="udp",
                    source_port=RAS_PORT,
                    destination_port=RAS_PORT,
                    payload=data,
                )
            )
            sent.append(codec.decode_ras(data))
        return sent

    def reply(name: str, seq: int, **body: object) -> None:
        client.receive_datagram(
            codec.encode_ras_value((name, {"requestSeqNum": seq, **body})), 0.0
        )

    protocol = (0, 0, 8, 2250, 0, 4)
    client.start(0.0)
    (grq,) = send()
    reply(
        "gatekeeperConfirm",
        grq.request_seq_num,
        protocolIdentifier=protocol,
        gatekeeperIdentifier="GK",
        rasAddress=TransportAddress(host="127.0.0.9", port=RAS_PORT).to_asn(),
    )
    rcf = {
        "protocolIdentifier": protocol,
        "callSignalAddress": [PEER.to_asn()],
        "endpointIdentifier": "EP1",
        "timeToLive": 60,
    }
    (rrq,) = send()
    reply("registrationConfirm", rrq.request_seq_num, **rcf)
    deadline = client.next_deadline()
    assert deadline is not None
    client.handle_timeout(deadline)
    (keep_alive,) = send()
    reply("registrationConfirm", keep_alive.request_seq_num, **rcf)
    ids = {
        "call_identifier": bytes(range(16)),
        "conference_id": bytes(range(16, 32)),
        "call_reference": 0x1234,
    }
    client.admission(0.0, bandwidth=1280, **ids)  # type: ignore[arg-type]
    client.disengage(0.0, **ids)  # type: ignore[arg-type]
    send()
    client.receive_datagram(
        codec.encode_ras_value(
            ("infoRequest", {"requestSeqNum": 90, "callReferenceValue": 0})
        ),
        0.0,
    )
    drq = RasMessage(
        kind=RasKind.DRQ,
        request_seq_num=91,
        endpoint_identifier="EP1",
        reason="forcedDrop",
        **ids,  # type: ignore[arg-type]
    )
    client.receive_datagram(codec.encode_ras(drq), 0.0)
    client.unregister(0.0)
    send()
    return frames


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Frame]]:
    """All PDUs our machines sent, in one pcap."""
    frames = call_frames() + ras_frames()
    path = tmp_path_factory.mktemp("h225") / "vcgw-machines.pcap"
    write_pcap(path, frames)
    return path, frames


def test_no_malformed_or_expert_warning(capture: tuple[Path, list[Frame]]) -> None:
    """No frame the machines send is malformed or has an expert warning/error."""
    path, frames = capture
    names = [
        "frame.number",
        "_ws.malformed",
        "_ws.expert.severity",
        "_ws.expert.message",
    ]
    rows = tshark_fields(path, names)
    assert len(rows) == len(frames)
    bad = []
    for row in rows:
        levels = [int(s, 0) for s in row["_ws.expert.severity"].split("|") if s]
        if row["_ws.malformed"] or any(level >= 0x00600000 for level in levels):
            bad.append((row["frame.number"], row["_ws.expert.message"]))
    assert bad == []
    assert "[Malformed Packet" not in tshark(path, "-V")


def test_call_signalling_fields(capture: tuple[Path, list[Frame]]) -> None:
    """Message types, call references, causes and H.225.0 fields are as meant."""
    path, frames = capture
    names = [
        "q931.message_type",
        "q931.call_ref_flag",
        "q931.cause_value",
        "q931.called_party_number.digits",
        "q931.calling_party_number.digits",
        "h225.h323_message_body",
        "h225.h245Tunnelling",
        "h225.FastStart_item",
        "h225.h245IpPort",
        "h225.reason",
        "h245.pdu_type",
    ]
    rows = [r for r in tshark_fields(path, names) if r["q931.message_type"]]
    types = [int(r["q931.message_type"], 16) for r in rows]
    expected = [
        MessageType.SETUP,
        MessageType.CALL_PROCEEDING,
        MessageType.ALERTING,
        MessageType.PROGRESS,
        MessageType.CONNECT,
        MessageType.FACILITY,
        MessageType.FACILITY,
        MessageType.RELEASE_COMPLETE,
        MessageType.SETUP,
        MessageType.ALERTING,
        MessageType.FACILITY,
        MessageType.STATUS,
        MessageType.CONNECT,
        MessageType.RELEASE_COMPLETE,
    ]
    assert types == [int(t) for t in expected]
    setup = rows[0]
    assert setup["q931.called_party_number.digits"] == "1001"
    assert setup["q931.calling_party_number.digits"] == "8400"
    assert setup["h225.FastStart_item"] != "" and setup["h225.h245Tunnelling"] == "1"
    assert rows[2]["h225.FastStart_item"] != ""  # accepted OLC in Alerting
    # The callee's messages carry the call reference flag (Q.931 section 4.3).
    flags = [r["q931.call_ref_flag"] for r in rows]
    assert flags[:8] == ["0", "1", "1", "1", "1", "0", "1", "0"]
    assert rows[5]["h245.pdu_type"] == "1" and rows[6]["h245.pdu_type"] == "1"
    assert rows[7]["q931.cause_value"] == "16"
    assert rows[8]["h225.h245Tunnelling"] == "0"
    assert rows[10]["h225.reason"] == "5"  # startH245
    assert rows[10]["h225.h245IpPort"] == "17730"
    assert rows[11]["q931.cause_value"] == "30"
    assert rows[13]["q931.cause_value"] == "31"
    assert len([f for f in frames if f.protocol == "tcp"]) == len(rows)


def test_ras_fields(capture: tuple[Path, list[Frame]]) -> None:
    """RAS kinds, sequence numbers, keepAlive and identifiers are as meant."""
    path, _ = capture
    names = [
        "h225.RasMessage",
        "h225.requestSeqNum",
        "h225.keepAlive",
        "h225.endpointIdentifier",
        "h225.dialledDigits",
    ]
    rows = [r for r in tshark_fields(path, names) if r["h225.RasMessage"]]
    kinds = [(int(r["h225.RasMessage"]), int(r["h225.requestSeqNum"])) for r in rows]
    # GRQ, RRQ, lightweight RRQ, ARQ, DRQ, IRR, DCF, URQ (H.225.0 section 7.8).
    assert kinds == [
        (0, 1),
        (3, 2),
        (3, 3),
        (9, 4),
        (15, 5),
        (22, 90),
        (16, 91),
        (6, 6),
    ]
    assert rows[0]["h225.dialledDigits"] == "84"  # supportedPrefixes in GRQ
    assert rows[1]["h225.keepAlive"] == "0" and rows[2]["h225.keepAlive"] == "1"
    assert rows[2]["h225.endpointIdentifier"] == "EP1"
    assert rows[7]["h225.endpointIdentifier"] == "EP1"


def test_framer_accepts_every_call_pdu(capture: tuple[Path, list[Frame]]) -> None:
    """Each TCP frame is exactly one TPKT (no partial or merged messages)."""
    _, frames = capture
    for frame in frames:
        if frame.protocol == "tcp":
            assert len(TpktFramer().receive_data(frame.payload)) == 1
