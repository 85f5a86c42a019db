"""SDP <-> H.245 logical channels for one H.323 call leg (sans-IO).

An H.323 leg carries the SDP the B2BUA would send it (RTP/AVP with the
relay's ports) as H.245 logical channels: Fast Start proposals (H.323 section
8.1.7) or OpenLogicalChannel requests (H.245 section 8.4).  :class:`H323Stream`
keeps, per offered m-line, what the peer agreed; :func:`answer_sdp` turns that
back into the SDP answer the B2BUA expects.
"""

from __future__ import annotations

import dataclasses
import secrets
from dataclasses import dataclass
from typing import Any

from gateway.h323 import codec
from gateway.h323.capabilities import data_type_for
from gateway.h323.codec import TransportAddress
from gateway.h323.errors import LocalH323Error
from gateway.h323.h245_messages import H2250Parameters
from gateway.sdp.media import (
    MediaFormat,
    MediaKind,
    StreamDescription,
    media_from_stream,
    stream_from_sdp,
)
from gateway.sdp.model import (
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
)

# H.323 section 8.1.7 / H.245 section 7.2: session 1 is audio, 2 is video.
SESSION_IDS = {MediaKind.AUDIO: 1, MediaKind.VIDEO: 2}


@dataclass(slots=True)
class H323Stream:
    """One offered RTP stream and what the H.323 peer agreed for it."""

    index: int
    kind: MediaKind
    session_id: int
    formats: tuple[MediaFormat, ...]
    relay_rtp: TransportAddress
    relay_rtcp: TransportAddress
    agreed: MediaFormat | None = None
    peer_rtp: TransportAddress | None = None
    peer_rtcp: TransportAddress | None = None
    out_channel: int | None = None
    in_channel: int | None = None
    is_resolved: bool = False


def answer_sdp(
    offer: SessionDescription, streams: list[H323Stream], fallback_host: str
) -> SessionDescription:
    """The answer SDP: RTP/AVP m-lines in the offer's order at the peer's addresses."""
    hosts = [s.peer_rtp.host for s in streams if s.peer_rtp is not None]
    host = hosts[0] if hosts else fallback_host
    media = []
    by_index = {s.index: s for s in streams}
    for index, offered in enumerate(offer.media):
        stream = by_index.get(index)
        media.append(_answer_media(offered, stream, host))
    return SessionDescription(
        origin=Origin(
            username="-",
            session_id=str(secrets.randbelow(2**62)),
            session_version=1,
            addr_type=_addr_type(host),
            address=host,
        ),
        session_name="vcgw h323",
        connection=Connection(addr_type=_addr_type(host), address=host),
        media=tuple(media),
    )


def streams_of_offer(offer: SessionDescription) -> list[H323Stream]:
    """The offer's audio/video streams with codecs H.245 can express."""
    streams: list[H323Stream] = []
    for index, media in enumerate(offer.media):
        described = stream_from_sdp(offer, index)
        connection = offer.connection_for(index)
        if described is None or connection is None or media.port == 0:
            continue
        session_id = SESSION_IDS.get(described.kind)
        formats = tuple(f for f in described.formats if _is_expressible(f))
        if session_id is None or not formats:
            continue
        rtcp = media.rtcp
        rtcp_port = rtcp.port if rtcp is not None else media.port + 1
        streams.append(
            H323Stream(
                index=index,
                kind=described.kind,
                session_id=session_id,
                formats=formats,
                relay_rtp=TransportAddress(host=connection.address, port=media.port),
                relay_rtcp=TransportAddress(host=connection.address, port=rtcp_port),
            )
        )
    return streams


def _is_expressible(fmt: MediaFormat) -> bool:
    if fmt.is_auxiliary:
        return False
    try:
        data_type_for(fmt)
    except LocalH323Error:
        return False
    return True


def receive_proposal(number: int, stream: H323Stream, data_type: Any) -> bytes:
    """A channel from the callee to us: reverse parameters with our RTP port."""
    parameters = H2250Parameters(
        session_id=stream.session_id,
        media=stream.relay_rtp,
        media_control=stream.relay_rtcp,
    )
    return codec.encode_open_logical_channel(
        {
            "forwardLogicalChannelNumber": number,
            "forwardLogicalChannelParameters": {
                "dataType": ("nullData", 0),
                "multiplexParameters": ("none", 0),
            },
            "reverseLogicalChannelParameters": {
                "dataType": data_type,
                "multiplexParameters": (
                    "h2250LogicalChannelParameters",
                    parameters.to_asn(),
                ),
            },
        }
    )


def transmit_proposal(number: int, stream: H323Stream, data_type: Any) -> bytes:
    """A channel from us to the callee; it fills in its mediaChannel."""
    parameters = H2250Parameters(
        session_id=stream.session_id, media_control=stream.relay_rtcp
    )
    return codec.encode_open_logical_channel(
        {
            "forwardLogicalChannelNumber": number,
            "forwardLogicalChannelParameters": {
                "dataType": data_type,
                "multiplexParameters": (
                    "h2250LogicalChannelParameters",
                    parameters.to_asn(),
                ),
            },
        }
    )


def same_codec(a: MediaFormat, b: MediaFormat) -> bool:
    return a.name.lower() == b.name.lower() and a.clock_rate == b.clock_rate


def first_common(
    stream: H323Stream, peer: list[StreamDescription]
) -> MediaFormat | None:
    """Our first format (offer order) that a peer stream of the kind receives."""
    theirs = [f for s in peer if s.kind is stream.kind for f in s.formats]
    for fmt in stream.formats:
        if any(same_codec(fmt, other) for other in theirs):
            return fmt
    return None


def _addr_type(host: str) -> str:
    return "IP6" if ":" in host else "IP4"


def _answer_media(
    offered: MediaDescription, stream: H323Stream | None, host: str
) -> MediaDescription:
    """The answer's m-line: the agreed codec at the peer, or port 0."""
    if stream is None or stream.agreed is None or stream.peer_rtp is None:
        return MediaDescription(
            kind=offered.kind,
            port=0,
            proto="RTP/AVP",
            formats=offered.formats,
        )
    extra: tuple[Attribute, ...] = ()
    rtcp = stream.peer_rtcp
    if rtcp is not None and rtcp.port != stream.peer_rtp.port + 1:
        extra = (Attribute(name="rtcp", value=f"{rtcp.port}"),)
    media = media_from_stream(
        StreamDescription(kind=stream.kind, formats=(stream.agreed,)),
        port=stream.peer_rtp.port,
        proto="RTP/AVP",
        extra_attributes=extra,
    )
    if stream.peer_rtp.host != host:
        peer_host = stream.peer_rtp.host
        connection = Connection(addr_type=_addr_type(peer_host), address=peer_host)
        media = dataclasses.replace(media, connections=(connection,))
    return media
