"""tshark dissects every H.225.0, RAS and H.245 PDU our codec sends.

Each message type the gateway can send is built with ``gateway.h323``, written
into a pcap (Ethernet/IPv4/TCP or UDP with zero checksums) and dissected by
tshark.  No frame may be malformed or carry an expert warning or error, and
the fields tshark decodes must be the ones we set.
"""

import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.h323 import codec, q931
from gateway.h323.codec import (
    AliasAddress,
    AliasKind,
    EndpointInfo,
    H225Kind,
    H225Message,
    H245Category,
    H245Message,
    RasKind,
    RasMessage,
    TransportAddress,
)
from gateway.h323.q931 import IeId, InformationElement, MessageType
from gateway.h323.tpkt import encode_tpkt

pytestmark = pytest.mark.interop

Q931_PORT = 1720
H245_PORT = 17730
RAS_PORT = 1719
CALL_ID = bytes(range(16))
CONF_ID = bytes(range(16, 32))
LOCAL = TransportAddress(host="127.0.0.1", port=Q931_PORT)
MEDIA = TransportAddress(host="127.0.0.1", port=40000)
RTCP = TransportAddress(host="127.0.0.1", port=40001)
H245_ADDRESS = TransportAddress(host="127.0.0.1", port=H245_PORT)
ENDPOINT = EndpointInfo(
    product_id=b"vcgw", version_id=b"0.1", supported_prefixes=("84",)
)
# Port 1720 needs no Decode As: tshark's Q.931-over-TPKT heuristic finds it.
TSHARK_DECODE = [
    "-d",
    f"tcp.port=={H245_PORT},h245",
    "-d",
    f"udp.port=={RAS_PORT},h225",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """One PDU to write: transport, source port, destination port, payload."""

    protocol: str
    source_port: int
    destination_port: int
    payload: bytes


def write_pcap(path: Path, frames: Sequence[Frame]) -> None:
    """Write a libpcap file with one Ethernet/IPv4 packet per frame.

    TCP sequence numbers advance per direction so tshark sees one stream;
    checksums are zero, which tshark does not verify by default.
    """
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    sequence: dict[tuple[int, int], int] = {}
    for index, frame in enumerate(frames):
        ports = (frame.source_port, frame.destination_port)
        if frame.protocol == "udp":
            header = struct.pack("!HHHH", *ports, 8 + len(frame.payload), 0)
            protocol = 17
        else:
            seq = sequence.get(ports, 1)
            sequence[ports] = seq + len(frame.payload)
            header = struct.pack("!HHIIBBHHH", *ports, seq, 0, 0x50, 0x18, 65535, 0, 0)
            protocol = 6
        l4 = header + frame.payload
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(l4),
            index,
            0,
            64,
            protocol,
            0,
            bytes((127, 0, 0, 1)),
            bytes((127, 0, 0, 2)),
        )
        packet = bytes(12) + b"\x08\x00" + ip + l4
        out += struct.pack("<IIII", index, 0, len(packet), len(packet)) + packet
    path.write_bytes(bytes(out))


# -- message builders ------------------------------------------------------------


def q931_frame(
    message_type: MessageType, uu: bytes, *extra: InformationElement
) -> Frame:
    """A TPKT-framed Q.931 message carrying ``uu`` in its User-User IE."""
    message = q931.Q931Message(
        message_type=message_type,
        call_reference=0x1234,
        is_from_destination=message_type is not MessageType.SETUP,
        ies=(*extra, q931.user_user_ie(uu)),
    )
    return Frame(
        protocol="tcp",
        source_port=50000,
        destination_port=Q931_PORT,
        payload=encode_tpkt(q931.encode(message)),
    )


def h225(kind: H225Kind, **fields: Any) -> Frame:
    """Encode an H.225.0 body into the Q.931 message that carries it."""
    message = H225Message(kind=kind, **fields)
    extra: list[InformationElement] = []
    if kind is H225Kind.SETUP:
        calling = q931.PartyNumber(digits="8400", presentation=0, screening=0)
        extra = [
            q931.BearerCapability().to_ie(),
            q931.display_ie("vcgw"),
            calling.to_ie(is_calling=True),
            q931.PartyNumber(digits="1001").to_ie(is_calling=False),
        ]
    elif kind in (H225Kind.RELEASE_COMPLETE, H225Kind.STATUS):
        cause = q931.Cause(value=16 if kind is H225Kind.RELEASE_COMPLETE else 30)
        extra = [cause.to_ie()]
        if kind is H225Kind.STATUS:
            # Call state 10 (active), Q.931 section 4.5.7.
            extra.append(
                InformationElement(identifier=IeId.CALL_STATE, contents=b"\x0a")
            )
    elif kind is H225Kind.PROGRESS:
        # Progress indicator 8: in-band information available (Q.931 4.5.23).
        progress = InformationElement(
            identifier=IeId.PROGRESS_INDICATOR, contents=b"\x80\x88"
        )
        extra = [progress]
    return q931_frame(codec.Q931_TYPE_BY_KIND[kind], codec.encode_h225(message), *extra)


def ras(kind: RasKind, **fields: Any) -> Frame:
    """Encode a RAS message into a UDP datagram to the gatekeeper port."""
    payload = codec.encode_ras(RasMessage(kind=kind, **fields))
    return Frame(
        protocol="udp", source_port=1719, destination_port=RAS_PORT, payload=payload
    )


def h245(category: H245Category, name: str, body: Any) -> Frame:
    """Encode an H.245 message into a TPKT on the H.245 connection."""
    payload = codec.encode_h245(H245Message(category=category, name=name, body=body))
    return Frame(
        protocol="tcp",
        source_port=50001,
        destination_port=H245_PORT,
        payload=encode_tpkt(payload),
    )


def h2250_parameters(
    *, with_media: bool, payload_type: int | None = None
) -> dict[str, Any]:
    """H2250LogicalChannelParameters for session 1 (H.245 Annex A)."""
    value: dict[str, Any] = {
        "sessionID": 1 if payload_type is None else 2,
        "mediaControlChannel": RTCP.to_h245(),
    }
    if with_media:
        value["mediaChannel"] = MEDIA.to_h245()
    if payload_type is not None:
        value["dynamicRTPPayloadType"] = payload_type
    return value


H264_CAPABILITY = (
    "genericVideoCapability",
    {
        # H.241 section 8.3: H.264 capability identifier, profile and level.
        "capabilityIdentifier": ("standard", (0, 0, 8, 241, 0, 0, 1)),
        "maxBitRate": 19200,
        "collapsing": [
            {
                "parameterIdentifier": ("standard", 41),
                "parameterValue": ("booleanArray", 64),
            },
            {
                "parameterIdentifier": ("standard", 42),
                "parameterValue": ("unsignedMin", 29),
            },
        ],
    },
)


def olc_audio(*, number: int, with_media: bool) -> dict[str, Any]:
    """An OpenLogicalChannel for G.711 u-law, 20 frames per packet."""
    return {
        "forwardLogicalChannelNumber": number,
        "forwardLogicalChannelParameters": {
            "dataType": ("audioData", ("g711Ulaw64k", 20)),
            "multiplexParameters": (
                "h2250LogicalChannelParameters",
                h2250_parameters(with_media=with_media),
            ),
        },
    }


def olc_video() -> dict[str, Any]:
    """An OpenLogicalChannel for H.264 with a dynamic payload type."""
    return {
        "forwardLogicalChannelNumber": 3,
        "forwardLogicalChannelParameters": {
            "dataType": ("videoData", H264_CAPABILITY),
            "multiplexParameters": (
                "h2250LogicalChannelParameters",
                h2250_parameters(with_media=False, payload_type=97),
            ),
        },
    }


def terminal_capability_set() -> dict[str, Any]:
    """A TCS with G.711 u/A-law, G.722 and H.264 in one descriptor."""
    capabilities = [
        ("receiveAudioCapability", ("g711Ulaw64k", 20)),
        ("receiveAudioCapability", ("g711Alaw64k", 20)),
        ("receiveAudioCapability", ("g722-64k", 20)),
        ("receiveVideoCapability", H264_CAPABILITY),
        ("receiveUserInputCapability", ("basicString", 0)),
    ]
    return {
        "sequenceNumber": 1,
        "protocolIdentifier": codec.h245_protocol_identifier(),
        "capabilityTable": [
            {"capabilityTableEntryNumber": i + 1, "capability": c}
            for i, c in enumerate(capabilities)
        ],
        "capabilityDescriptors": [
            {
                "capabilityDescriptorNumber": 0,
                "simultaneousCapabilities": [[1, 2, 3], [4], [5]],
            }
        ],
    }


def h245_frames() -> list[Frame]:
    """Every H.245 message the gateway sends."""
    request, response = H245Category.REQUEST, H245Category.RESPONSE
    command, indication = H245Category.COMMAND, H245Category.INDICATION
    ack_parameters = {
        "sessionID": 1,
        "mediaChannel": MEDIA.to_h245(),
        "mediaControlChannel": RTCP.to_h245(),
    }
    return [
        h245(
            request,
            "masterSlaveDetermination",
            {
                "terminalType": 60,
                "statusDeterminationNumber": 12345,
            },
        ),
        h245(response, "masterSlaveDeterminationAck", {"decision": ("slave", 0)}),
        h245(request, "terminalCapabilitySet", terminal_capability_set()),
        h245(response, "terminalCapabilitySetAck", {"sequenceNumber": 1}),
        h245(
            response,
            "terminalCapabilitySetReject",
            {
                "sequenceNumber": 2,
                "cause": ("unspecified", 0),
            },
        ),
        h245(request, "openLogicalChannel", olc_audio(number=1, with_media=False)),
        h245(request, "openLogicalChannel", olc_video()),
        h245(
            response,
            "openLogicalChannelAck",
            {
                "forwardLogicalChannelNumber": 1,
                "forwardMultiplexAckParameters": (
                    "h2250LogicalChannelAckParameters",
                    ack_parameters,
                ),
            },
        ),
        h245(
            response,
            "openLogicalChannelReject",
            {
                "forwardLogicalChannelNumber": 3,
                "cause": ("dataTypeNotSupported", 0),
            },
        ),
        h245(
            request,
            "closeLogicalChannel",
            {
                "forwardLogicalChannelNumber": 1,
                "source": ("user", 0),
            },
        ),
        h245(response, "closeLogicalChannelAck", {"forwardLogicalChannelNumber": 1}),
        h245(command, "endSessionCommand", ("disconnect", 0)),
        h245(request, "roundTripDelayRequest", {"sequenceNumber": 7}),
        h245(response, "roundTripDelayResponse", {"sequenceNumber": 7}),
        h245(indication, "userInput", ("alphanumeric", "5")),
        h245(indication, "userInput", ("signal", {"signalType": "#", "duration": 100})),
        h245(
            command,
            "miscellaneousCommand",
            {
                "logicalChannelNumber": 3,
                "type": ("videoFastUpdatePicture", 0),
            },
        ),
    ]


def h225_frames() -> list[Frame]:
    """Every H.225.0 call-signalling message the gateway sends."""
    fast_start = (
        codec.encode_open_logical_channel(olc_audio(number=1, with_media=False)),
        codec.encode_open_logical_channel(olc_video()),
    )
    tunnelled = codec.encode_h245(
        H245Message(
            category=H245Category.REQUEST,
            name="terminalCapabilitySet",
            body=terminal_capability_set(),
        )
    )
    call = {"call_identifier": CALL_ID}
    setup = {
        **call,
        "conference_id": CONF_ID,
        "source_address": (AliasAddress(kind=AliasKind.H323_ID, value="vcgw"),),
        "destination_address": (
            AliasAddress(kind=AliasKind.DIALLED_DIGITS, value="1001"),
            AliasAddress(kind=AliasKind.URL_ID, value="h323:room@example.org"),
        ),
        "dest_call_signal_address": TransportAddress(host="127.0.0.2", port=Q931_PORT),
        "source_call_signal_address": LOCAL,
        "endpoint": ENDPOINT,
        "h245_tunnelling": True,
    }
    return [
        h225(H225Kind.SETUP, **setup),
        h225(H225Kind.SETUP, **setup, fast_start=fast_start),
        h225(H225Kind.CALL_PROCEEDING, **call, endpoint=ENDPOINT),
        h225(
            H225Kind.ALERTING, **call, fast_start=fast_start[:1], h245_tunnelling=True
        ),
        h225(H225Kind.PROGRESS, **call, endpoint=ENDPOINT),
        h225(
            H225Kind.CONNECT, **call, conference_id=CONF_ID, h245_address=H245_ADDRESS
        ),
        h225(
            H225Kind.FACILITY,
            **call,
            facility_reason="startH245",
            h245_address=H245_ADDRESS,
        ),
        h225(
            H225Kind.FACILITY,
            **call,
            facility_reason="transportedInformation",
            h245_tunnelling=True,
            h245_control=(tunnelled,),
        ),
        h225(H225Kind.EMPTY, h245_tunnelling=True, h245_control=(tunnelled,)),
        h225(H225Kind.RELEASE_COMPLETE, **call, release_reason="destinationRejection"),
        h225(H225Kind.STATUS_INQUIRY, **call),
        h225(H225Kind.STATUS, **call),
    ]


def ras_frames() -> list[Frame]:
    """Every RAS message the gateway sends."""
    gatekeeper = {"gatekeeper_identifier": "GK", "endpoint_identifier": "EP1"}
    call = {
        "endpoint_identifier": "EP1",
        "conference_id": CONF_ID,
        "call_identifier": CALL_ID,
        "call_reference": 0x1234,
    }
    alias = (AliasAddress(kind=AliasKind.H323_ID, value="vcgw"),)
    ras_address = TransportAddress(host="127.0.0.1", port=RAS_PORT)
    return [
        ras(
            RasKind.GRQ,
            request_seq_num=1,
            ras_addresses=(ras_address,),
            aliases=alias,
            endpoint=ENDPOINT,
        ),
        ras(
            RasKind.RRQ,
            request_seq_num=2,
            ras_addresses=(ras_address,),
            call_signal_addresses=(LOCAL,),
            aliases=alias,
            endpoint=ENDPOINT,
            gatekeeper_identifier="GK",
            time_to_live_s=300,
        ),
        ras(
            RasKind.RRQ,
            request_seq_num=3,
            ras_addresses=(ras_address,),
            call_signal_addresses=(LOCAL,),
            is_keep_alive=True,
            time_to_live_s=300,
            **gatekeeper,
        ),
        ras(
            RasKind.ARQ,
            request_seq_num=4,
            **call,
            bandwidth=1280,
            source_aliases=alias,
            destination_aliases=(
                AliasAddress(kind=AliasKind.DIALLED_DIGITS, value="1001"),
            ),
            dest_call_signal_address=TransportAddress(host="127.0.0.2", port=Q931_PORT),
        ),
        ras(RasKind.DRQ, request_seq_num=5, **call, reason="normalDrop"),
        ras(
            RasKind.URQ,
            request_seq_num=6,
            call_signal_addresses=(LOCAL,),
            aliases=alias,
            endpoint_identifier="EP1",
            reason="maintenance",
        ),
        ras(RasKind.UCF, request_seq_num=7),
        ras(RasKind.DCF, request_seq_num=8),
    ]


# -- tshark ----------------------------------------------------------------------------


def tshark(path: Path, *arguments: str) -> str:
    """Run tshark on ``path`` and return stdout; a failing tshark fails the test."""
    result = subprocess.run(
        ["tshark", "-r", str(path), *TSHARK_DECODE, *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def tshark_fields(path: Path, names: Sequence[str]) -> list[dict[str, str]]:
    """One dict per frame: each field's values, '|'-joined if repeated."""
    arguments = ["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
    for name in names:
        arguments += ["-e", name]
    lines = tshark(path, *arguments).splitlines()
    return [dict(zip(names, line.split("\t"), strict=True)) for line in lines]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Frame]]:
    """All our PDUs written into one pcap."""
    frames = h225_frames() + ras_frames() + h245_frames()
    path = tmp_path_factory.mktemp("h323") / "vcgw-h323.pcap"
    write_pcap(path, frames)
    return path, frames


def test_no_malformed_or_expert_warning(capture: tuple[Path, list[Frame]]) -> None:
    """No frame is malformed, and no frame has an expert warning or error."""
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
        # Expert severities: 0x00600000 is warning, 0x00800000 error.
        if row["_ws.malformed"] or any(level >= 0x00600000 for level in levels):
            bad.append((row["frame.number"], row["_ws.expert.message"]))
    assert bad == []
    assert "[Malformed Packet" not in tshark(path, "-V")


def test_every_frame_is_dissected_as_h323(capture: tuple[Path, list[Frame]]) -> None:
    """Each frame is recognised as H.225.0 CS, RAS or H.245, not raw TCP/UDP."""
    path, frames = capture
    rows = tshark_fields(path, ["frame.protocols"])
    for frame, row in zip(frames, rows, strict=True):
        layers = row["frame.protocols"].split(":")
        if frame.destination_port == Q931_PORT:
            assert "q931" in layers and "h225" in layers, layers
        elif frame.destination_port == H245_PORT:
            assert "h245" in layers, layers
        else:
            assert "h225" in layers, layers


GUID = "00010203-0405-0607-0809-0a0b0c0d0e0f"


def test_h225_fields_decode_as_set(capture: tuple[Path, list[Frame]]) -> None:
    """Message body, call identifier, aliases, addresses and flags are as built."""
    path, _ = capture
    names = [
        "q931.message_type",
        "q931.call_ref",
        "q931.cause_value",
        "q931.display_information",
        "q931.calling_party_number.digits",
        "q931.called_party_number.digits",
        "q931.uil1",
        "h225.h323_message_body",
        "h225.guid",
        "h225.conferenceID",
        "h225.dialledDigits",
        "h225.h323_ID",
        "h225.url_ID",
        "h225.h245Tunnelling",
        "h225.FastStart_item",
        "h225.h245Ip",
        "h225.h245IpPort",
        "h225.reason",
        "h245.pdu_type",
    ]
    rows = [row for row in tshark_fields(path, names) if row["q931.message_type"]]
    bodies = [int(row["h225.h323_message_body"]) for row in rows]
    # setup x2, callProceeding, alerting, progress, connect, facility x2, empty,
    # releaseComplete, statusInquiry, status (H.225.0 section 7.6 indices).
    assert bodies == [0, 0, 1, 3, 7, 2, 6, 6, 8, 5, 10, 9]
    for row, body in zip(rows, bodies, strict=True):
        assert row["q931.call_ref"] == "1234"
        if body != 8:  # the empty body has no callIdentifier
            assert GUID in row["h225.guid"].split("|")
    setup, fast_setup = rows[0], rows[1]
    assert setup["q931.display_information"] == "vcgw"
    assert setup["q931.calling_party_number.digits"] == "8400"
    assert setup["q931.called_party_number.digits"] == "1001"
    assert setup["q931.uil1"] == "0x05"  # H.221/H.242, H.225.0 section 7.2.2.1
    assert setup["h225.dialledDigits"] == "84|1001"  # gateway prefix, destination
    assert setup["h225.h323_ID"] == "vcgw"
    assert setup["h225.url_ID"] == "h323:room@example.org"
    assert setup["h225.conferenceID"] == "10111213-1415-1617-1819-1a1b1c1d1e1f"
    assert setup["h225.h245Tunnelling"] == "1"
    assert setup["h225.FastStart_item"] == ""
    assert len(fast_setup["h225.FastStart_item"].split("|")) == 2
    assert rows[3]["h225.FastStart_item"] != ""
    connect = rows[5]
    assert (connect["h225.h245Ip"], connect["h225.h245IpPort"]) == (
        "127.0.0.1",
        str(H245_PORT),
    )
    assert rows[6]["h225.reason"] == "5"  # startH245
    assert rows[7]["h225.reason"] == "10"  # transportedInformation
    assert rows[7]["h245.pdu_type"] == "0" and rows[8]["h245.pdu_type"] == "0"
    assert rows[9]["h225.reason"] == "3"  # destinationRejection
    assert rows[9]["q931.cause_value"] == "16"
    assert rows[11]["q931.cause_value"] == "30"


def test_ras_fields_decode_as_set(capture: tuple[Path, list[Frame]]) -> None:
    """RAS kind, sequence numbers, keepAlive, TTL and call ids are as built."""
    path, _ = capture
    names = [
        "h225.RasMessage",
        "h225.requestSeqNum",
        "h225.keepAlive",
        "h225.timeToLive",
        "h225.endpointIdentifier",
        "h225.gatekeeperIdentifier",
        "h225.bandWidth",
        "h225.callReferenceValue",
        "h225.guid",
        "h225.disengageReason",
    ]
    rows = [row for row in tshark_fields(path, names) if row["h225.RasMessage"]]
    # GRQ, RRQ, lightweight RRQ, ARQ, DRQ, URQ, UCF, DCF (H.225.0 section 7.8).
    kinds = [(int(r["h225.RasMessage"]), int(r["h225.requestSeqNum"])) for r in rows]
    assert kinds == [(0, 1), (3, 2), (3, 3), (9, 4), (15, 5), (6, 6), (7, 7), (16, 8)]
    full, light, arq, drq = rows[1], rows[2], rows[3], rows[4]
    assert (full["h225.keepAlive"], full["h225.timeToLive"]) == ("0", "300")
    assert (light["h225.keepAlive"], light["h225.endpointIdentifier"]) == ("1", "EP1")
    assert light["h225.gatekeeperIdentifier"] == "GK"
    assert (arq["h225.bandWidth"], arq["h225.callReferenceValue"]) == ("1280", "4660")
    assert GUID in arq["h225.guid"].split("|")
    assert drq["h225.disengageReason"] == "1"  # normalDrop


def test_h245_fields_decode_as_set(capture: tuple[Path, list[Frame]]) -> None:
    """H.245 message types and key parameters are the ones we encoded."""
    path, frames = capture
    names = [
        "tcp.dstport",
        "h245.pdu_type",
        "h245.request",
        "h245.response",
        "h245.command",
        "h245.indication",
        "h245.sequenceNumber",
        "h245.forwardLogicalChannelNumber",
        "h245.statusDeterminationNumber",
        "h245.g711Ulaw64k",
        "h245.g722_64k",
        "h245.standardOid",
        "h245.tsapIdentifier",
        "h245.alphanumeric",
        "h245.signalType",
    ]
    rows = [r for r in tshark_fields(path, names) if r["tcp.dstport"] == str(H245_PORT)]
    kinds = [
        (
            int(r["h245.pdu_type"]),
            int(
                r["h245.request"]
                or r["h245.response"]
                or r["h245.command"]
                or r["h245.indication"]
            ),
        )
        for r in rows
    ]
    # Indices of the alternatives in RequestMessage, ResponseMessage,
    # CommandMessage and IndicationMessage (H.245 Annex A).
    assert kinds == [
        (0, 1),  # masterSlaveDetermination
        (1, 1),  # masterSlaveDeterminationAck
        (0, 2),  # terminalCapabilitySet
        (1, 3),  # terminalCapabilitySetAck
        (1, 4),  # terminalCapabilitySetReject
        (0, 3),  # openLogicalChannel (audio)
        (0, 3),  # openLogicalChannel (video)
        (1, 5),  # openLogicalChannelAck
        (1, 6),  # openLogicalChannelReject
        (0, 4),  # closeLogicalChannel
        (1, 7),  # closeLogicalChannelAck
        (2, 5),  # endSessionCommand
        (0, 9),  # roundTripDelayRequest
        (1, 16),  # roundTripDelayResponse
        (3, 13),  # userInput alphanumeric
        (3, 13),  # userInput signal
        (2, 6),  # miscellaneousCommand
    ]
    assert rows[0]["h245.statusDeterminationNumber"] == "12345"
    tcs = rows[2]
    assert tcs["h245.g711Ulaw64k"] == "20" and tcs["h245.g722_64k"] == "20"
    assert tcs["h245.standardOid"] == "0.0.8.241.0.0.1"
    assert rows[5]["h245.forwardLogicalChannelNumber"] == "1"
    assert rows[6]["h245.standardOid"] == "0.0.8.241.0.0.1"
    assert rows[7]["h245.tsapIdentifier"] == "40000|40001"
    assert rows[14]["h245.alphanumeric"] == "5"
    assert rows[15]["h245.signalType"] == "#"
    assert len(rows) == len([f for f in frames if f.destination_port == H245_PORT])
