"""RTP header helpers, RTP/RTCP demultiplexing and the RTP header rewriter.

Packets inside the relay are plain RTP (RFC 3550 §5.1) as ``bytes``; these
helpers read header fields in place without building objects, because they
run per packet. :class:`RtpRewriter` is the one stage that changes an RTP
header on its way out: SSRC, payload type, and sequence/timestamp offsets.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.media.errors import LocalMediaError, RemoteMediaError

__all__ = [
    "RTP_HEADER_BYTES",
    "RtpHeader",
    "RtpRewriter",
    "SequenceShift",
    "is_rtcp",
    "parse_header",
    "payload_offset",
]

RTP_HEADER_BYTES = 12
"""Fixed part of an RTP header (RFC 3550 §5.1)."""
_RTP_VERSION = 2
_SEQ_MOD = 1 << 16
_TS_MOD = 1 << 32
_SEQ_TS_SSRC = struct.Struct("!HII")
_SEQ = struct.Struct("!H")
_SEQ_TS = struct.Struct("!HI")


def is_rtcp(packet: bytes) -> bool:
    """Tell RTCP from RTP on a multiplexed port (RFC 5761 §4).

    RTCP packet types 192..223 occupy the second octet where RTP has its
    marker bit and payload type; RFC 5761 forbids RTP payload types 64..95
    on a multiplexed session for exactly this reason.
    """
    return len(packet) > 1 and 191 < packet[1] < 224


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpHeader:
    """The fixed RTP header fields (RFC 3550 §5.1), for off-path inspection."""

    marker: bool
    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    csrcs: tuple[int, ...]
    has_extension: bool
    has_padding: bool


def payload_offset(packet: bytes) -> int:
    """Return where the payload of RTP ``packet`` starts (RFC 3550 §5.1, §5.3.1).

    Raises :class:`RemoteMediaError` if the packet is not version 2 or its
    CSRC list or header extension runs past the end.
    """
    if len(packet) < RTP_HEADER_BYTES or packet[0] >> 6 != _RTP_VERSION:
        raise RemoteMediaError("not an RTP version 2 packet")
    offset = RTP_HEADER_BYTES + 4 * (packet[0] & 0x0F)
    if packet[0] & 0x10:
        if len(packet) < offset + 4:
            raise RemoteMediaError("RTP header extension truncated")
        words = int.from_bytes(packet[offset + 2 : offset + 4], "big")
        offset += 4 + 4 * words
    if len(packet) < offset:
        raise RemoteMediaError("RTP header truncated")
    return offset


def parse_header(packet: bytes) -> RtpHeader:
    """Parse the RTP header of ``packet`` (RFC 3550 §5.1).

    Raises :class:`RemoteMediaError` like :func:`payload_offset`.
    """
    payload_offset(packet)
    count = packet[0] & 0x0F
    sequence, timestamp, ssrc = _SEQ_TS_SSRC.unpack_from(packet, 2)
    csrcs = struct.unpack_from(f"!{count}I", packet, RTP_HEADER_BYTES)
    return RtpHeader(
        marker=bool(packet[1] & 0x80),
        payload_type=packet[1] & 0x7F,
        sequence=sequence,
        timestamp=timestamp,
        ssrc=ssrc,
        csrcs=csrcs,
        has_extension=bool(packet[0] & 0x10),
        has_padding=bool(packet[0] & 0x20),
    )


class RtpRewriter:
    """Rewrites the RTP header of one outgoing stream (RFC 3550 §5.1).

    ``ssrc`` replaces the sender's SSRC (None keeps it); ``payload_types``
    maps the incoming payload type to the one the far side negotiated;
    ``seq_offset`` and ``ts_offset`` are added modulo 2^16 and 2^32, so that
    a stream spliced from several sources keeps one continuous sequence and
    timeline as RFC 3550 §5.1 requires of a single SSRC.

    :meth:`rewrite` returns new bytes; the caller's packet is not changed.
    Raises :class:`LocalMediaError` for out-of-range settings.
    """

    __slots__ = (
        "_payload_types",
        "last_sequence",
        "last_timestamp",
        "seq_offset",
        "ssrc",
        "ts_offset",
    )

    def __init__(
        self,
        *,
        ssrc: int | None = None,
        payload_types: Mapping[int, int] | None = None,
        seq_offset: int = 0,
        ts_offset: int = 0,
    ) -> None:
        if ssrc is not None and not 0 <= ssrc < _TS_MOD:
            raise LocalMediaError("SSRC must fit 32 bits")
        types = dict(payload_types or {})
        if any(not 0 <= v < 128 for item in types.items() for v in item):
            raise LocalMediaError("payload types must fit 7 bits")
        self.ssrc = ssrc
        self._payload_types: Mapping[int, int] = MappingProxyType(types)
        self.seq_offset = seq_offset % _SEQ_MOD
        self.ts_offset = ts_offset % _TS_MOD
        self.last_sequence: int | None = None
        self.last_timestamp: int | None = None

    def rewrite(self, packet: bytes) -> bytes:
        """Return ``packet`` with the configured header changes applied.

        Expects at least a fixed RTP header; a shorter packet is returned
        unchanged (libsrtp refuses it on the way out and the relay counts it).
        """
        if len(packet) < RTP_HEADER_BYTES:
            return packet
        buf = bytearray(packet)
        new_type = self._payload_types.get(buf[1] & 0x7F)
        if new_type is not None:
            buf[1] = (buf[1] & 0x80) | new_type
        sequence, timestamp, ssrc = _SEQ_TS_SSRC.unpack_from(buf, 2)
        sequence = (sequence + self.seq_offset) % _SEQ_MOD
        timestamp = (timestamp + self.ts_offset) % _TS_MOD
        _SEQ_TS_SSRC.pack_into(
            buf, 2, sequence, timestamp, ssrc if self.ssrc is None else self.ssrc
        )
        self.last_sequence = sequence
        self.last_timestamp = timestamp
        return bytes(buf)

    def splice(self, *, next_sequence: int, next_timestamp: int, ts_step: int) -> None:
        """Continue the output after a source change (RFC 3550 §5.1).

        Sets the offsets so that the next incoming packet, carrying
        ``next_sequence`` and ``next_timestamp``, leaves with the sequence
        number after the last one sent and a timestamp ``ts_step`` later.
        Before any packet was sent it leaves the offsets unchanged.
        """
        if self.last_sequence is None or self.last_timestamp is None:
            return
        self.seq_offset = (self.last_sequence + 1 - next_sequence) % _SEQ_MOD
        self.ts_offset = (self.last_timestamp + ts_step - next_timestamp) % _TS_MOD


class SequenceShift(RtpRewriter):
    """An :class:`RtpRewriter` with a fast case for sequence offsets alone.

    The relay gives a stream one when it must renumber packets (DTMF
    dropped or injected, see relay.py). Same results as the general
    rewrite, which it falls back to once an SSRC or timestamp offset is
    set; about half its cost per packet (bench/bench_relay_path.py).
    """

    __slots__ = ()

    def rewrite(self, packet: bytes) -> bytes:
        """Return ``packet`` with the configured header changes applied."""
        if self.ssrc is not None or self.ts_offset or len(packet) < RTP_HEADER_BYTES:
            return RtpRewriter.rewrite(self, packet)
        sequence, timestamp = _SEQ_TS.unpack_from(packet, 2)
        sequence = (sequence + self.seq_offset) % _SEQ_MOD
        self.last_sequence = sequence
        self.last_timestamp = timestamp
        return packet[:2] + _SEQ.pack(sequence) + packet[4:]
