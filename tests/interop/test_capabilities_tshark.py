"""tshark dissects the capability sets and channels built from room-system SDP.

Streams from the Polycom HDX and Cisco TelePresence offers in the SDP corpus
go through ``gateway.h323.capabilities`` into TerminalCapabilitySets and
OpenLogicalChannels, which ``gateway.h323.codec`` encodes. The PDUs are
written into a pcap (the writer of test_h323_tshark) and dissected by tshark:
no frame may be malformed or carry an expert warning, and the capability
fields tshark decodes must be the ones the SDP asked for.
"""

from pathlib import Path
from typing import Any

import pytest

from gateway.h323 import codec
from gateway.h323.capabilities import (
    data_type_for,
    h245_capabilities_from_streams,
    media_packetization_for,
)
from gateway.h323.codec import H245Category, H245Message
from gateway.h323.tpkt import encode_tpkt
from gateway.sdp.media import MediaFormat, StreamDescription, stream_from_sdp
from gateway.sdp.parse import parse_sdp
from tests.interop.test_h323_tshark import (
    H245_PORT,
    RTCP,
    Frame,
    tshark,
    tshark_fields,
    write_pcap,
)

pytestmark = pytest.mark.interop

SDP_DIR = Path(__file__).parents[1] / "corpus" / "sdp" / "valid"
OFFERS = ("polycom_hdx_offer", "cisco_tc_offer")


def offer_streams(name: str) -> list[StreamDescription]:
    """The RTP streams of one corpus SDP offer."""
    sdp = parse_sdp((SDP_DIR / f"{name}.sdp").read_bytes())
    return [s for i in range(len(sdp.media)) if (s := stream_from_sdp(sdp, i))]


def h245_frame(category: H245Category, name: str, body: Any) -> Frame:
    """One H.245 PDU in a TPKT on the H.245 connection."""
    pdu = codec.encode_h245(H245Message(category=category, name=name, body=body))
    return Frame(
        protocol="tcp",
        source_port=50001,
        destination_port=H245_PORT,
        payload=encode_tpkt(pdu),
    )


def tcs_frame(name: str, sequence_number: int) -> Frame:
    """The TerminalCapabilitySet planned from one offer."""
    plan = h245_capabilities_from_streams(offer_streams(name))
    body = plan.terminal_capability_set(
        sequence_number=sequence_number,
        protocol_identifier=codec.h245_protocol_identifier(),
    )
    return h245_frame(H245Category.REQUEST, "terminalCapabilitySet", body)


def olc_frame(number: int, session_id: int, fmt: MediaFormat) -> Frame:
    """An OpenLogicalChannel sending ``fmt`` (H.245 section 8.5)."""
    parameters: dict[str, Any] = {
        "sessionID": session_id,
        "mediaControlChannel": RTCP.to_h245(),
    }
    packetization = media_packetization_for(fmt)
    if packetization is not None:
        parameters["mediaPacketization"] = ("rtpPayloadType", packetization)
    if fmt.payload_type is not None and fmt.payload_type >= 96:
        parameters["dynamicRTPPayloadType"] = fmt.payload_type
    body = {
        "forwardLogicalChannelNumber": number,
        "forwardLogicalChannelParameters": {
            "dataType": data_type_for(fmt),
            "multiplexParameters": ("h2250LogicalChannelParameters", parameters),
        },
    }
    return h245_frame(H245Category.REQUEST, "openLogicalChannel", body)


def cisco_format(payload_type: int) -> MediaFormat:
    """The Cisco offer's format with ``payload_type``."""
    for stream in offer_streams("cisco_tc_offer"):
        for fmt in stream.formats:
            if fmt.payload_type == payload_type:
                return fmt
    raise AssertionError(f"no payload type {payload_type} in the Cisco offer")


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Frame]]:
    """Both TCSs, then OLCs for G.722.1 (PT 103) and H.264 mode 1 (PT 97)."""
    frames = [
        tcs_frame(OFFERS[0], 1),
        tcs_frame(OFFERS[1], 2),
        olc_frame(1, 1, cisco_format(103)),
        olc_frame(2, 2, cisco_format(97)),
    ]
    path = tmp_path_factory.mktemp("caps") / "vcgw-capabilities.pcap"
    write_pcap(path, frames)
    return path, frames


def test_no_malformed_or_expert_warning(capture: tuple[Path, list[Frame]]) -> None:
    """Every frame is H.245, none malformed, none with an expert warning or error."""
    path, frames = capture
    names = [
        "frame.protocols",
        "_ws.malformed",
        "_ws.expert.severity",
        "_ws.expert.message",
    ]
    rows = tshark_fields(path, names)
    assert len(rows) == len(frames)
    for row in rows:
        levels = [int(s, 0) for s in row["_ws.expert.severity"].split("|") if s]
        assert "h245" in row["frame.protocols"].split(":")
        assert row["_ws.malformed"] == ""
        # Expert severities: 0x00600000 is warning, 0x00800000 error.
        assert all(level < 0x00600000 for level in levels), row["_ws.expert.message"]
    assert "[Malformed Packet" not in tshark(path, "-V")


FIELDS = [
    "h245.sequenceNumber",
    "h245.capabilityTableEntryNumber",
    "h245.standardOid",
    "h245.maxBitRate",
    "h245.g711Ulaw64k",
    "h245.g711Alaw64k",
    "h245.g722_64k",
    "h245.g729AnnexA",
    "h245.g729",
    "h245.standard",
    "h245.booleanArray",
    "h245.unsignedMin",
    "h245.sqcifMPI",
    "h245.qcifMPI",
    "h245.cifMPI",
    "h245.cif4MPI",
    "h245.oid",
    "h245.rfc_number",
    "h245.forwardLogicalChannelNumber",
    "h245.dynamicRTPPayloadType",
]


def values(row: dict[str, str], name: str) -> list[str]:
    """A field's values in one frame."""
    return [v for v in row[name].split("|") if v]


@pytest.fixture(scope="module")
def rows(capture: tuple[Path, list[Frame]]) -> list[dict[str, str]]:
    """The capability fields of each frame."""
    return tshark_fields(capture[0], FIELDS)


def test_polycom_tcs_fields(rows: list[dict[str, str]]) -> None:
    """Polycom HDX: G.722.1C 48k, G.722.1 32k, G.722, G.711, G.729, H.264 3.1,
    H.263 and H.261 receive capabilities, as tshark reads them."""
    polycom = rows[0]
    assert values(polycom, "h245.sequenceNumber") == ["1"]
    assert values(polycom, "h245.capabilityTableEntryNumber")[:10] == [
        str(n) for n in range(1, 11)
    ]
    assert values(polycom, "h245.standardOid") == [
        "0.0.7.7221.1.1.0",
        "0.0.7.7221.1.0",
        "0.0.8.241.0.0.1",
    ]
    # mediaPacketizationCapability: H.264 single NAL unit mode only.
    assert values(polycom, "h245.oid") == ["0.0.8.241.0.0.0.0"]
    assert values(polycom, "h245.rfc_number") == []
    bitrates = values(polycom, "h245.maxBitRate")
    assert bitrates[:3] == ["480", "320", "19200"]  # 100 bit/s units
    assert values(polycom, "h245.g722_64k") == ["20"]
    assert values(polycom, "h245.g711Ulaw64k") == ["20"]
    assert values(polycom, "h245.g711Alaw64k") == ["20"]
    assert values(polycom, "h245.g729AnnexA") == ["2"]
    assert values(polycom, "h245.g729") == ["2"]
    # H.241: profile (41) Baseline = 64, level (42) 3.1 = 71.
    assert values(polycom, "h245.standard")[:2] == ["41", "42"]
    assert values(polycom, "h245.booleanArray") == ["64"]
    assert values(polycom, "h245.unsignedMin") == ["71"]
    # H.263 CIF4=1;CIF=1;QCIF=1;SQCIF=1, H.261 CIF=1;QCIF=1.
    assert values(polycom, "h245.sqcifMPI") == ["1"]
    assert values(polycom, "h245.cif4MPI") == ["1"]
    assert values(polycom, "h245.qcifMPI") == ["1", "1"]
    assert values(polycom, "h245.cifMPI") == ["1", "1"]


def test_cisco_tcs_fields(rows: list[dict[str, str]]) -> None:
    """Cisco TC: H.264 level 2.2 with CustomMaxMBPS/FS/StaticMBPS in H.241
    units, both packetization modes and RFC 2429 for H263-1998."""
    cisco = rows[1]
    assert values(cisco, "h245.sequenceNumber") == ["2"]
    assert values(cisco, "h245.booleanArray") == ["64"]
    # Level 2.2 = 57; max-mbps 245000 -> 490 x 500; max-fs 8160 -> 31 x 256;
    # max-smbps 245000 -> 490 x 500.
    assert values(cisco, "h245.standard") == ["41", "42", "3", "4", "7"]
    assert values(cisco, "h245.unsignedMin") == ["57", "490", "31", "490"]
    assert values(cisco, "h245.maxBitRate")[:2] == ["320", "240"]  # G.722.1
    assert "20480" in values(cisco, "h245.maxBitRate")  # b=TIAS 2048000
    assert values(cisco, "h245.oid") == ["0.0.8.241.0.0.0.1", "0.0.8.241.0.0.0.0"]
    assert values(cisco, "h245.rfc_number") == ["2429"]


def test_olc_fields(rows: list[dict[str, str]]) -> None:
    """OLCs carry G.722.1 32 kbit/s and H.264 with the mode 1 payload OID."""
    g7221, h264 = rows[2], rows[3]
    assert values(g7221, "h245.forwardLogicalChannelNumber") == ["1"]
    assert values(g7221, "h245.standardOid") == ["0.0.7.7221.1.0"]
    assert values(g7221, "h245.maxBitRate") == ["320"]
    assert values(g7221, "h245.dynamicRTPPayloadType") == ["103"]
    assert values(h264, "h245.forwardLogicalChannelNumber") == ["2"]
    assert values(h264, "h245.standardOid") == ["0.0.8.241.0.0.1"]
    assert values(h264, "h245.oid") == ["0.0.8.241.0.0.0.1"]
    # No b= given to data_type_for: level 2.2's MaxBR, 4000 kbit/s.
    assert values(h264, "h245.maxBitRate") == ["40000"]
    assert values(h264, "h245.dynamicRTPPayloadType") == ["97"]
    assert values(h264, "h245.unsignedMin")[0] == "57"
