"""Compound RTCP: parse and build (RFC 3550 §6, RFC 4585 §6, RFC 5104 §4.3).

The relay forwards RTCP unchanged; it parses it to read the peer's loss and
jitter (report blocks), to feed the keyframe broker (PLI, FIR) and to build
its own reports and requests where a leg needs them. Unknown packet types are
kept as :class:`UnknownRtcp` so that nothing is lost by parsing.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from gateway.media.errors import LocalMediaError, RemoteMediaError

__all__ = [
    "FirEntry",
    "FullIntraRequest",
    "GenericNack",
    "Goodbye",
    "PictureLossIndication",
    "ReceiverReport",
    "ReportBlock",
    "RtcpPacket",
    "SdesChunk",
    "SenderReport",
    "SourceDescription",
    "UnknownRtcp",
    "build_fir",
    "build_pli",
    "build_rr",
    "parse_compound",
    "serialize",
    "serialize_compound",
]

SR, RR, SDES, BYE, RTPFB, PSFB = 200, 201, 202, 203, 205, 206
_FMT_NACK = 1  # RFC 4585 §6.2.1
_FMT_PLI = 1  # RFC 4585 §6.3.1
_FMT_FIR = 4  # RFC 5104 §4.3.1
_HEADER = struct.Struct("!BBH")
_BLOCK = struct.Struct("!IIIIII")
_SENDER_INFO = struct.Struct("!IIIIII")
_TWO_SSRC = struct.Struct("!II")


class RtcpPacket:
    """Base class of parsed RTCP packets."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int
    """Fraction lost since the previous report, in 1/256 units."""
    cumulative_lost: int
    """Signed 24-bit count of packets lost since reception began."""
    highest_sequence: int
    """Extended highest sequence number received."""
    jitter: int
    """Interarrival jitter in RTP timestamp units."""
    last_sr: int
    delay_since_last_sr: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderReport(RtcpPacket):
    """SR (RFC 3550 §6.4.1)."""

    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReceiverReport(RtcpPacket):
    """RR (RFC 3550 §6.4.2)."""

    ssrc: int
    reports: tuple[ReportBlock, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SdesChunk:
    """One SDES chunk: an SSRC and its (item type, value) pairs."""

    ssrc: int
    items: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceDescription(RtcpPacket):
    """SDES (RFC 3550 §6.5)."""

    chunks: tuple[SdesChunk, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Goodbye(RtcpPacket):
    """BYE (RFC 3550 §6.6)."""

    ssrcs: tuple[int, ...]
    reason: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class GenericNack(RtcpPacket):
    """Generic NACK (RFC 4585 §6.2.1): the sequence numbers reported lost."""

    sender_ssrc: int
    media_ssrc: int
    lost: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class PictureLossIndication(RtcpPacket):
    """PLI (RFC 4585 §6.3.1)."""

    sender_ssrc: int
    media_ssrc: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FirEntry:
    """One FIR request: the encoder's SSRC and the command sequence number."""

    ssrc: int
    sequence: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FullIntraRequest(RtcpPacket):
    """FIR (RFC 5104 §4.3.1); the media SSRC field is unused and zero."""

    sender_ssrc: int
    entries: tuple[FirEntry, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownRtcp(RtcpPacket):
    """Any other packet, kept whole (APP, XR, other feedback formats)."""

    packet_type: int
    count: int
    body: bytes


# --- parsing ---------------------------------------------------------------


def _blocks(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    if len(body) < offset + count * _BLOCK.size:
        raise RemoteMediaError("RTCP report blocks truncated")
    blocks = []
    for index in range(count):
        ssrc, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(
            body, offset + index * _BLOCK.size
        )
        cumulative = lost & 0xFFFFFF
        if cumulative & 0x800000:
            cumulative -= 1 << 24
        blocks.append(
            ReportBlock(
                ssrc=ssrc,
                fraction_lost=lost >> 24,
                cumulative_lost=cumulative,
                highest_sequence=highest,
                jitter=jitter,
                last_sr=lsr,
                delay_since_last_sr=dlsr,
            )
        )
    return tuple(blocks)


def _parse_sr(count: int, body: bytes) -> RtcpPacket:
    if len(body) < _SENDER_INFO.size:
        raise RemoteMediaError("RTCP SR truncated")
    ssrc, ntp_high, ntp_low, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body)
    return SenderReport(
        ssrc=ssrc,
        ntp_timestamp=(ntp_high << 32) | ntp_low,
        rtp_timestamp=rtp_ts,
        packet_count=packets,
        octet_count=octets,
        reports=_blocks(body, _SENDER_INFO.size, count),
    )


def _parse_rr(count: int, body: bytes) -> RtcpPacket:
    if len(body) < 4:
        raise RemoteMediaError("RTCP RR truncated")
    ssrc = int.from_bytes(body[:4], "big")
    return ReceiverReport(ssrc=ssrc, reports=_blocks(body, 4, count))


def _parse_sdes(count: int, body: bytes) -> RtcpPacket:
    chunks, offset = [], 0
    for _ in range(count):
        if len(body) < offset + 4:
            raise RemoteMediaError("RTCP SDES chunk truncated")
        ssrc = int.from_bytes(body[offset : offset + 4], "big")
        offset += 4
        items = []
        while True:
            if offset >= len(body):
                raise RemoteMediaError("RTCP SDES items unterminated")
            item_type = body[offset]
            if item_type == 0:
                offset = (offset + 4) & ~3  # null item, then pad to a word
                break
            if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
                raise RemoteMediaError("RTCP SDES item truncated")
            length = body[offset + 1]
            items.append((item_type, bytes(body[offset + 2 : offset + 2 + length])))
            offset += 2 + length
        chunks.append(SdesChunk(ssrc=ssrc, items=tuple(items)))
    return SourceDescription(chunks=tuple(chunks))


def _parse_bye(count: int, body: bytes) -> RtcpPacket:
    end = 4 * count
    if len(body) < end:
        raise RemoteMediaError("RTCP BYE truncated")
    ssrcs = struct.unpack_from(f"!{count}I", body)
    reason = b""
    if len(body) > end:
        length = body[end]
        if len(body) < end + 1 + length:
            raise RemoteMediaError("RTCP BYE reason truncated")
        reason = bytes(body[end + 1 : end + 1 + length])
    return Goodbye(ssrcs=ssrcs, reason=reason)


def _parse_rtpfb(fmt: int, body: bytes) -> RtcpPacket:
    if fmt != _FMT_NACK:
        return UnknownRtcp(packet_type=RTPFB, count=fmt, body=bytes(body))
    if len(body) < 8 or len(body) % 4:
        raise RemoteMediaError("RTCP generic NACK truncated")
    sender, media = _TWO_SSRC.unpack_from(body)
    lost = []
    for offset in range(8, len(body), 4):
        pid, blp = struct.unpack_from("!HH", body, offset)
        lost.append(pid)
        lost.extend((pid + bit + 1) & 0xFFFF for bit in range(16) if blp >> bit & 1)
    return GenericNack(sender_ssrc=sender, media_ssrc=media, lost=tuple(lost))


def _parse_psfb(fmt: int, body: bytes) -> RtcpPacket:
    if fmt not in (_FMT_PLI, _FMT_FIR):
        return UnknownRtcp(packet_type=PSFB, count=fmt, body=bytes(body))
    if len(body) < 8:
        raise RemoteMediaError("RTCP payload-specific feedback truncated")
    sender, media = _TWO_SSRC.unpack_from(body)
    if fmt == _FMT_PLI:
        return PictureLossIndication(sender_ssrc=sender, media_ssrc=media)
    if (len(body) - 8) % 8:
        raise RemoteMediaError("RTCP FIR entry truncated")
    entries = tuple(
        FirEntry(ssrc=ssrc, sequence=word >> 24)
        for ssrc, word in _TWO_SSRC.iter_unpack(body[8:])
    )
    return FullIntraRequest(sender_ssrc=sender, entries=entries)


_PARSERS: Mapping[int, Callable[[int, bytes], RtcpPacket]] = MappingProxyType(
    {
        SR: _parse_sr,
        RR: _parse_rr,
        SDES: _parse_sdes,
        BYE: _parse_bye,
        RTPFB: _parse_rtpfb,
        PSFB: _parse_psfb,
    }
)


def parse_compound(data: bytes) -> tuple[RtcpPacket, ...]:
    """Parse a compound RTCP packet (RFC 3550 §6.1) into its packets.

    Reduced-size RTCP (RFC 5506, a lone PLI) is accepted too. Padding is
    allowed on the last packet only (RFC 3550 §6.4.1).

    Raises :class:`RemoteMediaError` on a wrong version, a length running
    past the datagram, bad padding or a truncated packet body.
    """
    packets: list[RtcpPacket] = []
    offset = 0
    if not data:
        raise RemoteMediaError("empty RTCP packet")
    while offset < len(data):
        if len(data) < offset + 4:
            raise RemoteMediaError("RTCP header truncated")
        first, packet_type, words = _HEADER.unpack_from(data, offset)
        end = offset + 4 * (words + 1)
        if first >> 6 != 2 or end > len(data):
            raise RemoteMediaError("not RTCP version 2, or length past the end")
        body_end = end
        if first & 0x20:
            padding = data[end - 1]
            if end != len(data) or padding == 0 or padding > end - offset - 4:
                raise RemoteMediaError("bad RTCP padding")
            body_end -= padding
        body = data[offset + 4 : body_end]
        count = first & 0x1F
        parser = _PARSERS.get(packet_type)
        if parser is None:
            packets.append(UnknownRtcp(packet_type=packet_type, count=count, body=body))
        else:
            packets.append(parser(count, body))
        offset = end
    return tuple(packets)


# --- building --------------------------------------------------------------


def _frame(packet_type: int, count: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise LocalMediaError("RTCP body must be whole words")
    return _HEADER.pack(0x80 | count, packet_type, len(body) // 4) + body


def _pack_blocks(blocks: tuple[ReportBlock, ...]) -> bytes:
    return b"".join(
        _BLOCK.pack(
            b.ssrc,
            (b.fraction_lost << 24) | (b.cumulative_lost & 0xFFFFFF),
            b.highest_sequence,
            b.jitter,
            b.last_sr,
            b.delay_since_last_sr,
        )
        for b in blocks
    )


def _ser_sr(p: SenderReport) -> bytes:
    info = _SENDER_INFO.pack(
        p.ssrc,
        p.ntp_timestamp >> 32,
        p.ntp_timestamp & 0xFFFFFFFF,
        p.rtp_timestamp,
        p.packet_count,
        p.octet_count,
    )
    return _frame(SR, len(p.reports), info + _pack_blocks(p.reports))


def _ser_rr(p: ReceiverReport) -> bytes:
    body = p.ssrc.to_bytes(4, "big") + _pack_blocks(p.reports)
    return _frame(RR, len(p.reports), body)


def _ser_sdes(p: SourceDescription) -> bytes:
    parts = []
    for chunk in p.chunks:
        data = chunk.ssrc.to_bytes(4, "big")
        data += b"".join(bytes((t, len(v))) + v for t, v in chunk.items) + b"\x00"
        parts.append(data + b"\x00" * (-len(data) % 4))
    return _frame(SDES, len(p.chunks), b"".join(parts))


def _ser_bye(p: Goodbye) -> bytes:
    body = struct.pack(f"!{len(p.ssrcs)}I", *p.ssrcs)
    if p.reason:
        reason = bytes((len(p.reason),)) + p.reason
        body += reason + b"\x00" * (-len(reason) % 4)
    return _frame(BYE, len(p.ssrcs), body)


def _ser_nack(p: GenericNack) -> bytes:
    fci, pending = b"", sorted(set(p.lost))
    while pending:
        pid = pending.pop(0)
        blp = 0
        for seq in [s for s in pending if 0 < s - pid <= 16]:
            blp |= 1 << (seq - pid - 1)
            pending.remove(seq)
        fci += struct.pack("!HH", pid, blp)
    return _frame(RTPFB, _FMT_NACK, _TWO_SSRC.pack(p.sender_ssrc, p.media_ssrc) + fci)


def _ser_pli(p: PictureLossIndication) -> bytes:
    return _frame(PSFB, _FMT_PLI, _TWO_SSRC.pack(p.sender_ssrc, p.media_ssrc))


def _ser_fir(p: FullIntraRequest) -> bytes:
    fci = b"".join(_TWO_SSRC.pack(e.ssrc, e.sequence << 24) for e in p.entries)
    return _frame(PSFB, _FMT_FIR, _TWO_SSRC.pack(p.sender_ssrc, 0) + fci)


def _ser_unknown(p: UnknownRtcp) -> bytes:
    return _frame(p.packet_type, p.count, p.body)


# Any: each serializer takes its own packet class, chosen by exact type.
_SERIALIZERS: Mapping[type, Callable[[Any], bytes]] = MappingProxyType(
    {
        SenderReport: _ser_sr,
        ReceiverReport: _ser_rr,
        SourceDescription: _ser_sdes,
        Goodbye: _ser_bye,
        GenericNack: _ser_nack,
        PictureLossIndication: _ser_pli,
        FullIntraRequest: _ser_fir,
        UnknownRtcp: _ser_unknown,
    }
)


def serialize(packet: RtcpPacket) -> bytes:
    """Return the wire form of one RTCP packet (no padding)."""
    return _SERIALIZERS[type(packet)](packet)


def serialize_compound(packets: Iterable[RtcpPacket]) -> bytes:
    """Return a compound RTCP packet (RFC 3550 §6.1): the packets back to back."""
    return b"".join(serialize(p) for p in packets)


def build_rr(ssrc: int, blocks: Iterable[ReportBlock] = ()) -> bytes:
    """Return an RR from ``ssrc`` with up to 31 report blocks (RFC 3550 §6.4.2)."""
    return serialize(ReceiverReport(ssrc=ssrc, reports=tuple(blocks)[:31]))


def build_pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    """Return a PLI asking ``media_ssrc`` for a keyframe (RFC 4585 §6.3.1)."""
    return serialize(
        PictureLossIndication(sender_ssrc=sender_ssrc, media_ssrc=media_ssrc)
    )


def build_fir(sender_ssrc: int, entries: Iterable[FirEntry]) -> bytes:
    """Return a FIR (RFC 5104 §4.3.1); each entry's sequence must be 0..255."""
    return serialize(FullIntraRequest(sender_ssrc=sender_ssrc, entries=tuple(entries)))
