"""Compound RTCP parse/build round trips and wire layouts."""

from __future__ import annotations

import pytest

from gateway.media.errors import RemoteMediaError
from gateway.media.rtcp import (
    FirEntry,
    FullIntraRequest,
    GenericNack,
    Goodbye,
    PictureLossIndication,
    ReceiverReport,
    ReportBlock,
    RtcpPacket,
    SdesChunk,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    build_fir,
    build_pli,
    build_rr,
    parse_compound,
    serialize,
    serialize_compound,
)

BLOCK = ReportBlock(
    ssrc=0x11223344,
    fraction_lost=25,
    cumulative_lost=-3,
    highest_sequence=70000,
    jitter=123,
    last_sr=0xAABBCCDD,
    delay_since_last_sr=65536,
)
PACKETS: list[RtcpPacket] = [
    SenderReport(
        ssrc=1,
        ntp_timestamp=0x0102030405060708,
        rtp_timestamp=9,
        packet_count=10,
        octet_count=11,
        reports=(BLOCK,),
    ),
    ReceiverReport(ssrc=2, reports=(BLOCK, BLOCK)),
    ReceiverReport(ssrc=2),
    SourceDescription(
        chunks=(
            SdesChunk(ssrc=3, items=((1, b"site@vn"), (2, b"Hue"))),
            SdesChunk(ssrc=4, items=((1, b"abc"),)),
        )
    ),
    Goodbye(ssrcs=(5, 6), reason=b"hangup"),
    Goodbye(ssrcs=(5,)),
    GenericNack(sender_ssrc=7, media_ssrc=8, lost=(10, 11, 26, 100)),
    PictureLossIndication(sender_ssrc=9, media_ssrc=10),
    FullIntraRequest(
        sender_ssrc=11,
        entries=(FirEntry(ssrc=12, sequence=3), FirEntry(ssrc=13, sequence=255)),
    ),
    UnknownRtcp(packet_type=204, count=0, body=b"name1234"),
    UnknownRtcp(packet_type=206, count=15, body=b"\x00" * 8),
]


@pytest.mark.parametrize("packet", PACKETS, ids=lambda p: type(p).__name__)
def test_every_packet_type_round_trips(packet: RtcpPacket) -> None:
    """parse(serialize(p)) == p for every packet type we model."""
    assert parse_compound(serialize(packet)) == (packet,)


def test_compound_round_trips_byte_exact() -> None:
    """A compound of all packets parses in order and serializes to the same bytes."""
    data = serialize_compound(PACKETS)
    parsed = parse_compound(data)
    assert list(parsed) == PACKETS
    assert serialize_compound(parsed) == data


def test_pli_and_fir_wire_layout() -> None:
    """PLI: FMT 1, PT 206, length 2 (RFC 4585 §6.3.1); FIR: FMT 4, one FCI entry
    of SSRC, seq nr, 3 reserved octets (RFC 5104 §4.3.1.1)."""
    assert build_pli(0x01020304, 0x05060708) == bytes.fromhex(
        "81ce00020102030405060708"
    )
    fir = build_fir(0x01020304, [FirEntry(ssrc=0x0A0B0C0D, sequence=7)])
    assert fir == bytes.fromhex("84ce000401020304000000000a0b0c0d07000000")


def test_rr_layout_and_nack_bitmask() -> None:
    """RR header counts blocks (RFC 3550 §6.4.2); NACK BLP bit i is PID+i+1."""
    rr = build_rr(0x99, [BLOCK])
    assert rr[:4] == bytes.fromhex("81c90007") and len(rr) == 32
    assert rr[12:16] == bytes.fromhex("19fffffd")  # 25 lost, -3 cumulative.
    nack = serialize(GenericNack(sender_ssrc=1, media_ssrc=2, lost=(100, 101, 116)))
    assert nack[12:] == bytes.fromhex("00648001")


def test_padding_on_last_packet_is_stripped() -> None:
    """A P bit on the last packet removes the counted padding (RFC 3550 §6.4.1)."""
    bye = bytearray(serialize(Goodbye(ssrcs=(5,))) + b"\x00\x00\x00\x04")
    bye[0] |= 0x20
    bye[3] += 1
    assert parse_compound(bytes(bye)) == (Goodbye(ssrcs=(5,)),)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x81\xc9",
        bytes.fromhex("41c90001") + bytes(4),  # version 1
        bytes.fromhex("81c90007") + bytes(4),  # length past the end
        bytes.fromhex("81c90001") + bytes(4),  # one block announced, none there
        bytes.fromhex("a1cb0001") + bytes(4),  # padding count 0
        bytes.fromhex("81cb0001") + bytes(3) + b"\x01" + b"\x08",  # BYE reason cut
        bytes.fromhex("84ce0003") + bytes(12),  # FIR entry cut
        bytes.fromhex("81cd0001") + bytes(4),  # NACK without media SSRC
        bytes.fromhex("81ca0001") + bytes.fromhex("00000003"),  # SDES unterminated
        bytes.fromhex("81ca0002") + bytes.fromhex("000000030109aaaa"),
    ],
)
def test_malformed_rtcp_raises_remote_error(data: bytes) -> None:
    """Truncated or inconsistent RTCP is a RemoteMediaError, nothing else."""
    with pytest.raises(RemoteMediaError):
        parse_compound(data)
