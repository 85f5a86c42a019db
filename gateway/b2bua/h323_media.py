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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.h323 import codec
from gateway.h323.capabilities import (
    CapabilitySetPlan,
    data_type_for,
    format_from_data_type,
    h245_capabilities_from_streams,
    streams_from_h245,
)
from gateway.h323.codec import TransportAddress
from gateway.h323.errors import LocalH323Error
from gateway.h323.h245 import H245Session
from gateway.h323.h245_messages import (
    H2250Parameters,
    open_logical_channel,
    read_h245_address,
)
from gateway.sdp.codecs import STATIC_PAYLOAD_TYPES
from gateway.sdp.errors import RemoteSdpError
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
    return _session(host, media)


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
        rtp, rtcp = _addresses(connection.address, media)
        streams.append(
            H323Stream(
                index=index,
                kind=described.kind,
                session_id=session_id,
                formats=formats,
                relay_rtp=rtp,
                relay_rtcp=rtcp,
            )
        )
    return streams


def _addresses(
    host: str, media: MediaDescription
) -> tuple[TransportAddress, TransportAddress]:
    """An m-line's RTP and RTCP addresses (RTCP on RTP+1 unless a=rtcp says)."""
    rtcp_port = media.rtcp.port if media.rtcp is not None else media.port + 1
    return (
        TransportAddress(host=host, port=media.port),
        TransportAddress(host=host, port=rtcp_port),
    )


def h245_capabilities_of(
    sdp: SessionDescription, indices: Iterable[int] | None = None
) -> CapabilitySetPlan:
    """A TerminalCapabilitySet of ``sdp``'s m-lines (all, or ``indices``)."""
    chosen = range(len(sdp.media)) if indices is None else indices
    return h245_capabilities_from_streams(
        [s for s in (stream_from_sdp(sdp, i) for i in chosen) if s is not None]
    )


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
    olc = open_logical_channel(
        number=number, data_type=data_type, parameters=parameters
    )
    return codec.encode_open_logical_channel(olc.body)


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


# -- the incoming side: a caller's Fast Start proposals (H.323 8.1.7.1) ----------


@dataclass(slots=True)
class FastStartProposal:
    """One OpenLogicalChannel the caller proposed in its Setup, decoded."""

    olc: dict[str, Any]
    session_id: int
    fmt: MediaFormat
    is_caller_receive: bool  # A reverse channel: the caller receives this codec.
    media: TransportAddress | None  # The caller's RTP address (receive proposals).
    media_control: TransportAddress | None  # The caller's RTCP address.


def read_fast_start(proposals: tuple[bytes, ...]) -> list[FastStartProposal]:
    """Decode a Setup's fastStart; proposals we cannot express are skipped.

    Raises RemoteH323Error when a proposal does not decode at all.
    """
    read: list[FastStartProposal] = []
    for item in proposals:
        olc = codec.decode_open_logical_channel(item)
        forward = olc["forwardLogicalChannelParameters"]
        reverse = olc.get("reverseLogicalChannelParameters")
        is_receive = forward["dataType"][0] == "nullData" and reverse is not None
        side = reverse if is_receive else forward
        assert side is not None
        name, parameters = side["multiplexParameters"]
        if name != "h2250LogicalChannelParameters":
            continue
        fmt = format_from_data_type(
            side["dataType"], parameters.get("mediaPacketization")
        )
        if fmt is None or fmt.is_auxiliary:
            continue
        pt = parameters.get("dynamicRTPPayloadType")
        if fmt.payload_type is None and pt is not None:
            fmt = dataclasses.replace(fmt, payload_type=int(pt))
        read.append(
            FastStartProposal(
                olc=olc,
                session_id=int(parameters["sessionID"]),
                fmt=fmt,
                is_caller_receive=is_receive,
                media=read_h245_address(parameters.get("mediaChannel")),
                media_control=read_h245_address(parameters.get("mediaControlChannel")),
            )
        )
    return read


def offer_from_fast_start(
    proposals: list[FastStartProposal], fallback_host: str
) -> SessionDescription | None:
    """The caller's Fast Start as an SDP offer: one m-line per session, audio first.

    An m-line lists the codecs the caller can receive (its reverse proposals)
    at the RTP address it gave; None when no session has one.
    """
    media: list[MediaDescription] = []
    hosts: list[str] = []
    for kind, session_id in SESSION_IDS.items():
        receive = [
            p for p in proposals if p.session_id == session_id and p.is_caller_receive
        ]
        address = next((p.media for p in receive if p.media is not None), None)
        if address is None:
            continue
        formats = _numbered(_unique_formats([p.fmt for p in receive]))
        rtcp = next(
            (p.media_control for p in proposals if p.session_id == session_id),
            None,
        )
        extra: tuple[Attribute, ...] = ()
        if rtcp is not None and rtcp.port != address.port + 1:
            extra = (Attribute(name="rtcp", value=f"{rtcp.port}"),)
        line = media_from_stream(
            StreamDescription(kind=kind, formats=tuple(formats)),
            port=address.port,
            proto="RTP/AVP",
            extra_attributes=extra,
        )
        hosts.append(address.host)
        if address.host != hosts[0]:
            connection = Connection(
                addr_type=_addr_type(address.host), address=address.host
            )
            line = dataclasses.replace(line, connections=(connection,))
        media.append(line)
    if not media:
        return None
    return _session(hosts[0] if hosts else fallback_host, media)


def accept_fast_start(
    proposals: list[FastStartProposal], answer: SessionDescription
) -> list[tuple[FastStartProposal, bytes]]:
    """The proposals our SDP answer picks, completed with the relay's addresses.

    Per accepted m-line: the caller's receive and transmit proposals of the
    answer's first codec (H.323 8.1.7.1: the callee fills in mediaChannel of
    the channels it receives, and its mediaControlChannel in both).
    """
    accepted: list[tuple[FastStartProposal, bytes]] = []
    for index, line in enumerate(answer.media):
        described = stream_from_sdp(answer, index)
        connection = answer.connection_for(index)
        if described is None or connection is None or line.port == 0:
            continue
        session_id = SESSION_IDS.get(described.kind)
        chosen = described.formats[0]
        rtp, rtcp = _addresses(connection.address, line)
        for wants_receive in (True, False):
            proposal = next(
                (
                    p
                    for p in proposals
                    if p.session_id == session_id
                    and p.is_caller_receive is wants_receive
                    and same_codec(p.fmt, chosen)
                ),
                None,
            )
            if proposal is not None:
                accepted.append((proposal, _completed(proposal, rtp, rtcp)))
    return accepted


def _completed(
    proposal: FastStartProposal, rtp: TransportAddress, rtcp: TransportAddress
) -> bytes:
    olc = proposal.olc
    if proposal.is_caller_receive:
        _, parameters = olc["reverseLogicalChannelParameters"]["multiplexParameters"]
    else:
        _, parameters = olc["forwardLogicalChannelParameters"]["multiplexParameters"]
        parameters["mediaChannel"] = rtp.to_h245()
    parameters["mediaControlChannel"] = rtcp.to_h245()
    return codec.encode_open_logical_channel(olc)


def _unique_formats(formats: list[MediaFormat]) -> list[MediaFormat]:
    unique: list[MediaFormat] = []
    for fmt in formats:
        if not any(same_codec(fmt, other) and fmt == other for other in unique):
            unique.append(fmt)
    return unique


def _numbered(formats: list[MediaFormat]) -> list[MediaFormat]:
    """Static payload types where RFC 3551 §6 has one, else a free dynamic one."""
    numbered = [
        f if f.payload_type is not None else _with_static_type(f) for f in formats
    ]
    used = {f.payload_type for f in numbered if f.payload_type is not None}
    free = (pt for pt in range(96, 128) if pt not in used)
    return [
        f
        if f.payload_type is not None
        else dataclasses.replace(f, payload_type=next(free))
        for f in numbered
    ]


def _with_static_type(fmt: MediaFormat) -> MediaFormat:
    for pt, static in STATIC_PAYLOAD_TYPES.items():
        if static.name.lower() == fmt.name.lower() and (
            static.clock_rate == fmt.clock_rate
        ):
            return dataclasses.replace(fmt, payload_type=pt)
    return fmt


def _session(host: str, media: list[MediaDescription]) -> SessionDescription:
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


# -- slow start: media over H.245 logical channels (H.245 section 8.4) ---------


class ChannelNegotiation:
    """Opens and accepts one leg's logical channels for an SDP offer (sans-IO).

    ``offer`` is the SDP the B2BUA gives this leg (RTP/AVP, the relay's
    ports).  Once the peer's capabilities are known and master-slave
    determination is done, one channel per stream is opened in our first
    format the peer receives; the peer's channels are accepted toward the
    relay when their codec is one of the stream's.  :attr:`is_settled` turns
    True when every stream is opened or given up; :meth:`answer` is then the
    peer's media as an SDP answer.  Commands go to ``h245``.
    """

    def __init__(
        self, h245: H245Session, offer: SessionDescription, *, first_channel: int = 1
    ) -> None:
        self._h245 = h245
        self.offer = offer
        self.streams = streams_of_offer(offer)
        self._next_channel = first_channel
        self._peer: list[StreamDescription] | None = None
        self._is_msd_done = False
        self._is_opened = False
        # Fast Start set the channels up: H.245 opens none (H.323 8.1.7.1).
        self.is_fast_started = False
        #: The peer receives none of our formats (known after its TCS).
        self.has_no_common_codec = False

    @property
    def is_settled(self) -> bool:
        """Every stream's channel is open or given up."""
        return self._is_opened and all(s.is_resolved for s in self.streams)

    @property
    def has_media(self) -> bool:
        """At least one stream reaches the peer."""
        return any(s.peer_rtp is not None for s in self.streams)

    def capabilities_for_h245(self) -> CapabilitySetPlan:
        """Our TerminalCapabilitySet: the offer's streams."""
        return h245_capabilities_of(self.offer, [s.index for s in self.streams])

    def on_capabilities(self, table: Any, descriptors: Any, now: float) -> None:
        """The peer's TerminalCapabilitySet (H.245 8.3)."""
        self._peer = streams_from_h245(
            [
                {"capabilityTableEntryNumber": number, "capability": value}
                for number, value in table
            ],
            descriptors,
        )
        self._open(now)

    def on_master_slave_determined(self, now: float) -> None:
        self._is_msd_done = True
        self._open(now)

    def on_our_channel(
        self,
        number: int,
        media: TransportAddress | None,
        media_control: TransportAddress | None,
    ) -> None:
        """OpenLogicalChannelAck (``media`` set) or Reject (None) of our channel."""
        for stream in self.streams:
            if stream.out_channel != number:
                continue
            stream.is_resolved = True
            if media is not None:
                stream.peer_rtp = media
                stream.peer_rtcp = media_control or stream.peer_rtcp
            else:
                stream.agreed = None

    def on_peer_channel(
        self, number: int, data_type: Any, session_id: int | None, now: float
    ) -> None:
        """Accept the peer's channel toward the relay's ports for its stream."""
        fmt = format_from_data_type(data_type)
        for stream in self.streams:
            if (
                fmt is not None
                and stream.session_id == (session_id or stream.session_id)
                and any(same_codec(fmt, f) for f in stream.formats)
            ):
                stream.in_channel = number
                self._h245.accept_channel(
                    number,
                    media=stream.relay_rtp,
                    media_control=stream.relay_rtcp,
                    now=now,
                )
                return
        self._h245.reject_channel(number, now=now)

    def answer(self, fallback_host: str) -> SessionDescription:
        return answer_sdp(self.offer, self.streams, fallback_host)

    def switch_codecs(
        self, offer: SessionDescription, now: float
    ) -> dict[int, MediaFormat]:
        """A mid-call offer without our channels' codec: re-open them in its
        first format the peer receives, and announce the offer's formats in a
        new TerminalCapabilitySet so that the peer re-opens its own (H.245
        8.3, 8.4).  Returns the new format per m-line index; raises
        RemoteSdpError (488) when the peer receives none of them, or when
        Fast Start opened the channels (H.245 did not, it cannot change them).
        """
        if self.is_fast_started or self._peer is None:
            raise RemoteSdpError(
                "the H.323 leg's channels came from Fast Start: no codec change",
                status=488,
            )
        switched: dict[int, MediaFormat] = {}
        for stream in self.streams:
            offered = stream_from_sdp(offer, stream.index)
            if offered is None or stream.agreed is None:
                continue
            formats = tuple(f for f in offered.formats if _is_expressible(f))
            if any(same_codec(stream.agreed, f) for f in formats):
                continue
            candidate = dataclasses.replace(stream, formats=formats)
            new = first_common(candidate, self._peer)
            if new is None:
                raise RemoteSdpError(
                    "the H.323 peer receives none of the offered codecs", status=488
                )
            switched[stream.index] = new
        if not switched:
            return switched
        for stream in self.streams:
            if stream.index not in switched:
                continue
            offered = stream_from_sdp(offer, stream.index)
            assert offered is not None
            stream.formats = tuple(f for f in offered.formats if _is_expressible(f))
            if stream.out_channel is not None:
                self._h245.close_channel(stream.out_channel, now=now)
            self._open_one(stream, switched[stream.index], now)
        # The whole set again: what each stream receives now (the new codec,
        # or the one it keeps), so no other channel is dropped.
        plan = h245_capabilities_from_streams(
            [
                StreamDescription(kind=s.kind, formats=(s.agreed,))
                for s in self.streams
                if s.agreed is not None
            ]
        )
        self._h245.send_capabilities(
            now,
            capability_table=[(e.number, e.capability) for e in plan.entries],
            capability_descriptors=plan.capability_descriptors(),
        )
        return switched

    def take_channel_number(self) -> int:
        """A new forward logical channel number of ours."""
        number = self._next_channel
        self._next_channel += 1
        return number

    def close_ours(self, now: float) -> None:
        """Hold: close our channels toward the peer (H.245 8.4.2, CLC).

        Fast Start channels stay: the H.245 session did not open them.
        """
        if self.is_fast_started:
            return
        for stream in self.streams:
            if stream.out_channel is not None and stream.peer_rtp is not None:
                self._h245.close_channel(stream.out_channel, now=now)
                stream.out_channel = None

    def reopen_ours(self, now: float) -> None:
        """Resume: open our channels again in the agreed codecs (new numbers)."""
        if self.is_fast_started:
            return
        for stream in self.streams:
            if stream.out_channel is None and stream.agreed is not None:
                self._open_one(stream, stream.agreed, now)

    def _open(self, now: float) -> None:
        """One channel per stream in a codec the peer receives (H.245 8.4)."""
        if self._is_opened or self._peer is None or not self._is_msd_done:
            return
        if self.is_fast_started:
            return
        self._is_opened = True
        for stream in self.streams:
            fmt = first_common(stream, self._peer)
            if fmt is None:
                stream.is_resolved = True
                continue
            self._open_one(stream, fmt, now)
        self.has_no_common_codec = all(s.out_channel is None for s in self.streams)

    def _open_one(self, stream: H323Stream, fmt: MediaFormat, now: float) -> None:
        number = self.take_channel_number()
        stream.out_channel, stream.agreed = number, fmt
        pt = fmt.payload_type
        parameters = H2250Parameters(
            session_id=stream.session_id,
            media_control=stream.relay_rtcp,
            dynamic_payload_type=pt if pt is not None and pt >= 96 else None,
        )
        self._h245.open_channel(
            number, data_type=data_type_for(fmt), parameters=parameters, now=now
        )


# -- mid-call offers toward an H.323 leg (hold, resume) ------------------------


def answer_for_h323_peer(
    offer: SessionDescription,
    last_remote: SessionDescription,
    switched: Mapping[int, MediaFormat] | None = None,
) -> SessionDescription:
    """The answer an H.323 leg gives to a mid-call SDP offer, made by us.

    H.323 has no offer/answer: the peer's channels stay as they are, so the
    answer is its last SDP (addresses, agreed codec) with each stream's
    direction mirroring the offer's (RFC 3264 §6.1); H.245 then closes or
    re-opens the channels.  ``switched`` gives the new codec of streams
    whose channels are being re-opened in another codec
    (:meth:`ChannelNegotiation.switch_codecs`).  Raises RemoteSdpError (488)
    when the offer drops the codec of a stream that is not switched.
    """
    switched = switched or {}
    media: list[MediaDescription] = []
    for index, offered in enumerate(offer.media):
        if index >= len(last_remote.media) or offered.port == 0:
            media.append(dataclasses.replace(offered, port=0, attributes=()))
            continue
        remote = last_remote.media[index]
        direction = offer.direction_of(index).reversed()
        new = switched.get(index)
        if new is not None:
            line = media_from_stream(
                StreamDescription(kind=MediaKind(remote.kind), formats=(new,)),
                port=remote.port,
                proto="RTP/AVP",
            )
            line = dataclasses.replace(line, connections=remote.connections)
            media.append(line.with_direction(direction))
            continue
        if remote.port != 0 and not set(remote.formats) & set(offered.formats):
            agreed = stream_from_sdp(last_remote, index)
            name = agreed.formats[0].name if agreed and agreed.formats else "?"
            raise RemoteSdpError(
                f"the H.323 leg uses {name} and cannot change codec now",
                status=488,
            )
        media.append(remote.with_direction(direction))
    return dataclasses.replace(
        last_remote,
        origin=last_remote.origin.next_version(),
        media=tuple(media),
    )


# -- a late offer toward H.323 (Cisco calls it delayed to early offer) ------------

#: What the gateway offers an H.323 callee when the SIP caller sent no SDP:
#: codecs every H.323 MCU knows, most wanted first (H.241, H.263 CIF).
_LATE_OFFER_FORMATS: dict[MediaKind, tuple[MediaFormat, ...]] = {
    MediaKind.AUDIO: (
        MediaFormat(name="G722", clock_rate=8000, payload_type=9),
        MediaFormat(name="PCMU", clock_rate=8000, payload_type=0),
        MediaFormat(name="PCMA", clock_rate=8000, payload_type=8),
    ),
    MediaKind.VIDEO: (
        MediaFormat(
            name="H264",
            clock_rate=90000,
            payload_type=97,
            fmtp="profile-level-id=42801f;packetization-mode=1",
        ),
        MediaFormat(name="H263", clock_rate=90000, payload_type=34, fmtp="CIF=1"),
    ),
}


def late_offer_template(host: str) -> SessionDescription:
    """The SDP an H.323 callee is offered for a SIP caller's late offer.

    The SIP caller then gets an offer of what the H.323 side agreed (from
    its answer), so both legs end on the same codecs.  Ports are
    placeholders: the leg's own offer puts the relay's ports in.
    """
    media = [
        media_from_stream(
            StreamDescription(kind=kind, formats=formats), port=9, proto="RTP/AVP"
        )
        for kind, formats in _LATE_OFFER_FORMATS.items()
    ]
    return _session(host, media)


# -- DTMF across H.323 (H.245 user input <-> RFC 4733) ----------------------------

TELEPHONE_EVENT = "telephone-event"


def telephone_event_of(sdp: SessionDescription, index: int) -> MediaFormat | None:
    """The telephone-event format of m-line ``index`` (RFC 4733 §7.1.1), if any."""
    described = stream_from_sdp(sdp, index)
    if described is None:
        return None
    return next(
        (f for f in described.formats if f.name.lower() == TELEPHONE_EVENT), None
    )


def with_telephone_event(sdp: SessionDescription) -> SessionDescription:
    """``sdp`` whose audio m-lines also offer telephone-event/8000 (0-15).

    An H.323 peer keys digits as H.245 user input, which the gateway turns
    into RFC 4733 events toward the SIP side: offering telephone-event there
    lets the SIP endpoint send and receive its digits in the audio.
    """
    media: list[MediaDescription] = []
    for index, line in enumerate(sdp.media):
        if (
            line.kind != "audio"
            or line.port == 0
            or telephone_event_of(sdp, index) is not None
        ):
            media.append(line)
            continue
        used = {int(f) for f in line.formats if f.isdigit()}
        pt = next(p for p in (101, *range(96, 128)) if p not in used)
        media.append(
            dataclasses.replace(
                line,
                formats=(*line.formats, str(pt)),
                attributes=(
                    *line.attributes,
                    Attribute(name="rtpmap", value=f"{pt} {TELEPHONE_EVENT}/8000"),
                    Attribute(name="fmtp", value=f"{pt} 0-15"),
                ),
            )
        )
    return dataclasses.replace(sdp, media=tuple(media))
