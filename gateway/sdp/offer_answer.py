"""RFC 3264 offer/answer for a media-terminating B2BUA.

The gateway relays media through its own ports, so it never forwards an SDP
body. For each leg it:

* answers the leg's offer itself (``build_answer``): same m-line count and
  order, its relay address and ports, its own SRTP keys, the codecs allowed
  by policy (or those the other leg agreed), rejected streams with port 0;
* builds a fresh offer toward the other leg from the first leg's offer
  (``build_offer_from``) or from neutral streams (``build_offer``, for the
  H.323 side), keeping m-line order so stream ``i`` maps to stream ``i``;
* reads the result of an exchange (``negotiate``): per stream, the agreed
  formats with both sides' payload type numbers, the direction, the
  addresses and the chosen a=crypto pair, for the relay to use.

All functions are pure. Peer mistakes raise ``RemoteSdpError``; caller
mistakes (wrong number of ports, SRTP profile without keys) raise
``LocalSdpError``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.sdp.errors import LocalSdpError, RemoteSdpError
from gateway.sdp.media import (
    MediaFormat,
    MediaKind,
    MediaRole,
    StreamDescription,
    answer_format,
    formats_from_media,
    media_from_stream,
    stream_from_sdp,
)
from gateway.sdp.model import (
    Attribute,
    Connection,
    CryptoAttribute,
    Direction,
    MediaDescription,
    Origin,
    SessionDescription,
    TransportProfile,
)

__all__ = [
    "AgreedFormat",
    "CodecPolicy",
    "LocalMedia",
    "LocalSession",
    "NegotiatedStream",
    "build_answer",
    "build_offer",
    "build_offer_from",
    "negotiate",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class CodecPolicy:
    """Which streams and codecs a leg may use.

    Codec names compare case-insensitively; the tuples also give the
    preference order used when offering from local capabilities.
    ``application`` lists RTP application payloads (``H224`` far-end camera
    control, say); it is empty by default so such streams are rejected.
    """

    audio: tuple[str, ...] = (
        "opus",
        "G722",
        "G7221",
        "PCMU",
        "PCMA",
        "telephone-event",
    )
    video: tuple[str, ...] = ("H264", "H263-1998", "H263")
    application: tuple[str, ...] = ()
    allow_slides: bool = True
    allow_bfcp: bool = True
    max_video_kbps: int | None = None

    def allows(self, kind: MediaKind, name: str) -> bool:
        """True if codec ``name`` may be used in a ``kind`` stream."""
        allowed = {
            MediaKind.AUDIO: self.audio,
            MediaKind.VIDEO: self.video,
            MediaKind.APPLICATION: self.application,
        }[kind]
        return name.lower() in {n.lower() for n in allowed}


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalMedia:
    """The relay's end of one stream: its port (0 rejects the stream) and,
    for SRTP, the a=crypto lines to send (all offered suites in an offer,
    the single chosen one in an answer, RFC 4568 §7)."""

    port: int
    crypto: tuple[CryptoAttribute, ...] = ()

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise LocalSdpError(f"port {self.port} out of range")


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalSession:
    """Session-wide facts about the relay side of one leg.

    ``profile`` is the RTP profile used in offers we build. ``require_srtp``
    rejects plain-RTP streams in answers. ``legacy_hold_address`` puts
    c=0.0.0.0 on streams we do not want to receive (RFC 3264 §8.4), for RFC
    2543-era room systems (early Polycom ViewStation and Tandberg MXP
    firmware) that do not honour a=sendonly.
    """

    origin: Origin
    address: str
    profile: TransportProfile = TransportProfile.RTP_SAVP
    session_name: str = "-"
    rtcp_mux: bool = True
    require_srtp: bool = True
    legacy_hold_address: bool = False

    def __post_init__(self) -> None:
        if not self.profile.is_rtp or self.profile.is_dtls:
            raise LocalSdpError(f"{self.profile.value} is not an SDES RTP profile")

    @property
    def addr_type(self) -> str:
        """``IP6`` for an IPv6 literal, else ``IP4`` (RFC 8866 §5.7)."""
        try:
            version = ipaddress.ip_address(self.address).version
        except ValueError:
            return "IP4"
        return "IP6" if version == 6 else "IP4"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgreedFormat:
    """A format both sides accepted, with each side's payload type number.

    The offerer sends with ``answer_payload_type`` and the answerer with
    ``offer_payload_type`` (RFC 3264 §6.1: each side's numbers say what it
    expects to receive). ``format`` is the answer's view of the codec.
    """

    format: MediaFormat
    offer_payload_type: int
    answer_payload_type: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NegotiatedStream:
    """The outcome of offer/answer for one m-line (RFC 3264 §6, §7).

    ``direction`` is seen from the offerer. Addresses and ports say where
    each side receives: ``offer_*`` is where the answerer sends. RTCP ports
    follow a=rtcp (RFC 3605), else rtcp-mux (RFC 5761), else port + 1.
    ``crypto`` is the (offered, answered) a=crypto pair with the same tag.
    """

    index: int
    kind: str
    role: MediaRole
    proto: str
    is_accepted: bool
    direction: Direction = Direction.INACTIVE
    formats: tuple[AgreedFormat, ...] = ()
    offer_address: str | None = None
    offer_port: int = 0
    offer_rtcp_port: int | None = None
    answer_address: str | None = None
    answer_port: int = 0
    answer_rtcp_port: int | None = None
    rtcp_mux: bool = False
    crypto: tuple[CryptoAttribute, CryptoAttribute] | None = None
    bitrate_kbps: int | None = None


# Attributes copied from a BFCP offer into our offer toward the other leg so
# that floor control can be relayed (RFC 8856 §5-§10, RFC 4574 a=label).
_BFCP_COPIED = ("floorctrl", "confid", "userid", "floorid", "bfcpver", "label")


def _role(media: MediaDescription) -> MediaRole:
    return MediaRole.SLIDES if "slides" in media.content else MediaRole.MAIN


def _rejected(media: MediaDescription) -> MediaDescription:
    """RFC 3264 §6: a rejected stream keeps kind, proto and formats, port 0."""
    formats = media.formats or (("0",) if media.is_rtp else ("*",))
    mid = media.attribute("mid")
    attributes = () if mid is None else (Attribute(name="mid", value=mid),)
    return MediaDescription(
        kind=media.kind,
        port=0,
        proto=media.proto,
        formats=formats,
        attributes=attributes,
    )


def _session(
    local: LocalSession, media: Sequence[MediaDescription]
) -> SessionDescription:
    return SessionDescription(
        origin=dataclasses.replace(
            local.origin, address=local.address, addr_type=local.addr_type
        ),
        session_name=local.session_name,
        connection=Connection(addr_type=local.addr_type, address=local.address),
        media=tuple(media),
    )


def _check_count(what: str, expected: int, media: Sequence[LocalMedia]) -> None:
    if len(media) != expected:
        raise LocalSdpError(f"{what}: {len(media)} LocalMedia for {expected} m-lines")


def _rtp_extras(
    media: MediaDescription | None,
    local_media: LocalMedia,
    *,
    rtcp_mux: bool,
) -> list[Attribute]:
    extras = [Attribute(name="crypto", value=str(c)) for c in local_media.crypto]
    if media is not None:
        extras.extend(
            Attribute(name="mid", value=v) for v in media.attribute_values("mid")[:1]
        )
        if "slides" not in media.content:
            # a=content:main is kept for endpoints that label both streams
            # (Cisco TC); slides comes from the neutral role.
            extras.extend(
                Attribute(name="content", value=v)
                for v in media.attribute_values("content")[:1]
            )
    if rtcp_mux:
        extras.append(Attribute(name="rtcp-mux"))
    return extras


def _hold_connection(
    local: LocalSession, direction: Direction
) -> tuple[Connection, ...]:
    if local.legacy_hold_address and not direction.receives:
        return (Connection(addr_type="IP4", address="0.0.0.0"),)
    return ()


def _clamp_bitrate(stream: StreamDescription, policy: CodecPolicy) -> int | None:
    limit = policy.max_video_kbps if stream.kind is MediaKind.VIDEO else None
    if limit is None:
        return stream.bitrate_kbps
    if stream.bitrate_kbps is None:
        return limit
    return min(limit, stream.bitrate_kbps)


def _filter_stream(
    stream: StreamDescription, policy: CodecPolicy
) -> StreamDescription | None:
    if stream.role is MediaRole.SLIDES and not policy.allow_slides:
        return None
    formats = tuple(
        f
        for f in stream.formats
        if policy.allows(stream.kind, f.name) and _is_usable(f)
    )
    filtered = dataclasses.replace(
        stream, formats=formats, bitrate_kbps=_clamp_bitrate(stream, policy)
    )
    return filtered if filtered.has_codec else None


def _offer_stream(
    stream: StreamDescription | None,
    local: LocalSession,
    local_media: LocalMedia,
    source: MediaDescription | None,
) -> MediaDescription | None:
    if stream is None or local_media.port == 0:
        return None
    if local.profile.is_srtp and not local_media.crypto:
        raise LocalSdpError(f"{local.profile.value} offer needs a=crypto lines")
    extras = _rtp_extras(source, local_media, rtcp_mux=local.rtcp_mux)
    media = media_from_stream(
        stream,
        port=local_media.port,
        proto=local.profile.value,
        extra_attributes=extras,
    )
    return dataclasses.replace(
        media, connections=_hold_connection(local, stream.direction)
    )


def _offer_bfcp(
    media: MediaDescription, policy: CodecPolicy, local_media: LocalMedia
) -> MediaDescription | None:
    profile = media.profile
    if not policy.allow_bfcp or local_media.port == 0 or media.port == 0:
        return None
    if profile not in (TransportProfile.TCP_BFCP, TransportProfile.UDP_BFCP):
        return None  # BFCP over TLS/DTLS would need our own certificate.
    attributes = [
        Attribute(name=name, value=value)
        for name in _BFCP_COPIED
        for value in media.attribute_values(name)
    ]
    if profile is TransportProfile.TCP_BFCP:
        # RFC 4145 §4: the offerer says actpass and lets the answerer choose.
        attributes.append(Attribute(name="setup", value="actpass"))
        attributes.append(Attribute(name="connection", value="new"))
    return MediaDescription(
        kind=media.kind,
        port=local_media.port,
        proto=media.proto,
        formats=media.formats,
        attributes=tuple(attributes),
    )


def build_offer_from(
    remote_offer: SessionDescription,
    *,
    policy: CodecPolicy,
    local: LocalSession,
    media: Sequence[LocalMedia],
) -> SessionDescription:
    """Our offer toward the other leg, mirroring ``remote_offer`` (RFC 3264 §5).

    One m-line per remote m-line, same order, so stream indexes line up.
    Codecs the policy forbids are dropped and the remote payload type
    numbers, fmtp and rtcp-fb kept, so the relay rarely renumbers. The
    direction is the remote's effective one (legacy c=0.0.0.0 hold becomes
    a=sendonly or a=inactive). Streams left without a codec, disallowed
    slides, BFCP over TLS, DTLS-only or unknown m-lines are offered with
    port 0 (RFC 3264 §5.1). ``media[i]`` gives our port and crypto lines.

    Raises ``LocalSdpError`` if ``media`` does not have one entry per m-line
    or an SRTP profile lacks crypto lines.
    """
    _check_count("build_offer_from", len(remote_offer.media), media)
    sections: list[MediaDescription] = []
    for index, source in enumerate(remote_offer.media):
        built: MediaDescription | None
        if source.profile is not None and source.profile.is_bfcp:
            built = _offer_bfcp(source, policy, media[index])
        else:
            stream = stream_from_sdp(remote_offer, index)
            if stream is not None and source.port != 0:
                stream = _filter_stream(stream, policy)
            else:
                stream = None
            built = _offer_stream(stream, local, media[index], source)
        sections.append(built or _rejected(source))
    return _session(local, sections)


def build_offer(
    streams: Sequence[StreamDescription | None],
    *,
    local: LocalSession,
    media: Sequence[LocalMedia],
) -> SessionDescription:
    """An offer from neutral streams (RFC 3264 §5), e.g. from H.245.

    ``None`` entries, streams without formats and zero ports become port-0
    m-lines (audio, kept so indexes line up). Payload types are assigned
    where missing. Raises ``LocalSdpError`` on a length mismatch or an SRTP
    profile without crypto lines.
    """
    _check_count("build_offer", len(streams), media)
    sections: list[MediaDescription] = []
    for stream, local_media in zip(streams, media, strict=True):
        usable = stream if stream is not None and stream.formats else None
        built = _offer_stream(usable, local, local_media, None)
        if built is None:
            kind = MediaKind.AUDIO if stream is None else stream.kind
            built = MediaDescription(
                kind=kind.value, port=0, proto=local.profile.value, formats=("0",)
            )
        sections.append(built)
    return _session(local, sections)


def _is_usable(fmt: MediaFormat) -> bool:
    try:
        fmt.h264  # noqa: B018 -- parsing is the check
    except RemoteSdpError:
        return False
    return True


def _choose_formats(
    stream: StreamDescription,
    policy: CodecPolicy,
    templates: Sequence[MediaFormat] | None,
) -> tuple[MediaFormat, ...]:
    # RFC 3264 §6.1 recommends keeping the offer's order, so we walk it.
    if templates is None:
        return tuple(
            f
            for f in stream.formats
            if policy.allows(stream.kind, f.name) and _is_usable(f)
        )
    chosen: list[MediaFormat] = []
    for offered in stream.formats:
        for template in templates:
            agreed = answer_format(offered, template)
            if agreed is not None:
                chosen.append(agreed)
                break
    return tuple(chosen)


def _has_keys(source: MediaDescription, local_media: LocalMedia) -> bool:
    if len(local_media.crypto) > 1:
        raise LocalSdpError("an SDES answer carries exactly one a=crypto line")
    if not local_media.crypto or not source.crypto:
        return False
    # RFC 4568 §5.1.2: the answer's tag and suite are one of the offer's.
    ours = local_media.crypto[0]
    if not any(c.tag == ours.tag and c.suite == ours.suite for c in source.crypto):
        raise LocalSdpError(f"answer a=crypto tag {ours.tag} was not offered")
    return True


def _answer_rtp(
    offer: SessionDescription,
    index: int,
    context: _AnswerContext,
) -> MediaDescription | None:
    source, local_media = offer.media[index], context.media[index]
    profile = source.profile
    if source.port == 0 or local_media.port == 0:
        return None
    if profile is None or not profile.is_rtp or profile.is_dtls:
        return None
    has_keys = _has_keys(source, local_media)
    if not has_keys and (profile.is_srtp or context.local.require_srtp):
        return None
    stream = stream_from_sdp(offer, index)
    if stream is None:
        return None
    if stream.role is MediaRole.SLIDES and not context.policy.allow_slides:
        return None
    formats = _choose_formats(stream, context.policy, context.templates(index))
    wanted = context.direction(index)
    offered = stream.direction
    answer = StreamDescription(
        kind=stream.kind,
        role=stream.role,
        formats=formats,
        direction=Direction.from_flags(
            sends=offered.receives and wanted.sends,
            receives=offered.sends and wanted.receives,
        ),
        bitrate_kbps=_clamp_bitrate(
            dataclasses.replace(stream, bitrate_kbps=None), context.policy
        ),
        label=stream.label,
    )
    if not answer.has_codec:
        return None
    keys = local_media if has_keys else LocalMedia(port=local_media.port)
    rtcp_mux = source.rtcp_mux and context.local.rtcp_mux
    extras = _rtp_extras(source, keys, rtcp_mux=rtcp_mux)
    media = media_from_stream(
        answer, port=local_media.port, proto=source.proto, extra_attributes=extras
    )
    hold = _hold_connection(context.local, answer.direction)
    return dataclasses.replace(media, connections=hold)


# RFC 4145 §4.1: the answerer's a=setup for each offered value.
_SETUP_ANSWER = {"actpass": "active", "active": "passive", "passive": "active"}


def _answer_bfcp(
    source: MediaDescription, policy: CodecPolicy, local_media: LocalMedia
) -> MediaDescription | None:
    profile = source.profile
    if not policy.allow_bfcp or source.port == 0 or local_media.port == 0:
        return None
    if profile not in (TransportProfile.TCP_BFCP, TransportProfile.UDP_BFCP):
        return None
    # RFC 8856 §6: without a=floorctrl the offerer is the floor control
    # server. The gateway is never a server, so it can only be the client.
    roles = set((source.attribute("floorctrl") or "s-only").lower().split())
    if not roles & {"s-only", "c-s"}:
        return None
    attributes = [Attribute(name="floorctrl", value="c-only")]
    if profile is TransportProfile.TCP_BFCP:
        # RFC 4145 §4: a missing a=setup means the offerer is active.
        setup = _SETUP_ANSWER.get((source.attribute("setup") or "active").lower())
        if setup is None:
            return None  # holdconn: no connection wanted now.
        attributes.append(Attribute(name="setup", value=setup))
        attributes.append(Attribute(name="connection", value="new"))
    attributes.extend(
        Attribute(name=name, value=value)
        for name in ("bfcpver", "mid")
        for value in source.attribute_values(name)[:1]
    )
    return MediaDescription(
        kind=source.kind,
        port=local_media.port,
        proto=source.proto,
        formats=source.formats,
        attributes=tuple(attributes),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _AnswerContext:
    policy: CodecPolicy
    local: LocalSession
    media: Sequence[LocalMedia]
    formats: Sequence[Sequence[MediaFormat] | None] | None
    directions: Sequence[Direction] | None

    def templates(self, index: int) -> Sequence[MediaFormat] | None:
        return None if self.formats is None else self.formats[index]

    def direction(self, index: int) -> Direction:
        if self.directions is None:
            return Direction.SENDRECV
        return self.directions[index]


def build_answer(
    offer: SessionDescription,
    *,
    policy: CodecPolicy,
    local: LocalSession,
    media: Sequence[LocalMedia],
    formats: Sequence[Sequence[MediaFormat] | None] | None = None,
    directions: Sequence[Direction] | None = None,
) -> SessionDescription:
    """Our answer to ``offer`` (RFC 3264 §6).

    Same m-line count and order; each accepted stream carries our port from
    ``media[i]``, the offered proto, the offered payload types of the codecs
    we take (in offer order) and, for SRTP, the one a=crypto line in
    ``media[i].crypto``. ``formats[i]``, when given, replaces the policy for
    stream ``i`` with capability templates (what the other leg agreed):
    H.264 levels are then negotiated per RFC 6184 §8.2.2. ``directions[i]``
    is what we want (default sendrecv) and is combined with the offer's
    effective direction, legacy c=0.0.0.0 hold included (RFC 3264 §6.1,
    §8.4). BFCP is answered as floor control client (RFC 8856). Everything
    else is rejected with port 0.

    Raises ``RemoteSdpError`` (488) if the offer had an RTP stream but none
    could be accepted, ``LocalSdpError`` if the per-stream sequences do not
    match the m-line count, or an answer a=crypto would be several lines
    or not name an offered tag and suite.
    """
    count = len(offer.media)
    _check_count("build_answer", count, media)
    for name, sequence in (("formats", formats), ("directions", directions)):
        if sequence is not None and len(sequence) != count:
            raise LocalSdpError(f"build_answer: {name} has {len(sequence)} entries")
    context = _AnswerContext(
        policy=policy,
        local=local,
        media=media,
        formats=formats,
        directions=directions,
    )
    sections: list[MediaDescription] = []
    for index, source in enumerate(offer.media):
        built: MediaDescription | None
        if source.profile is not None and source.profile.is_bfcp:
            built = _answer_bfcp(source, policy, media[index])
        else:
            built = _answer_rtp(offer, index, context)
        sections.append(built or _rejected(source))
    # BFCP alone is useless, so only RTP streams count as acceptable.
    offered_any = any(m.port != 0 and m.is_rtp for m in offer.media)
    if offered_any and all(m.port == 0 or not m.is_rtp for m in sections):
        raise RemoteSdpError("no offered stream is acceptable", status=488)
    return _session(local, sections)


def _check_proto(
    index: int, offered: MediaDescription, answered: MediaDescription
) -> None:
    if offered.is_rtp != answered.is_rtp:
        raise RemoteSdpError(f"answer m-line {index} changes the transport")
    offered_profile, answered_profile = offered.profile, answered.profile
    offered_srtp = offered_profile is not None and offered_profile.is_srtp
    answered_srtp = answered_profile is not None and answered_profile.is_srtp
    # RFC 3264 §6.1 wants the same proto. AVP for AVPF is tolerated (old
    # room systems ignore feedback); a change of security is not.
    if offered_srtp != answered_srtp:
        raise RemoteSdpError(f"answer m-line {index} changes RTP security")


def _agree(
    offered: MediaDescription, answered: MediaDescription
) -> tuple[AgreedFormat, ...]:
    offered_formats = formats_from_media(offered)
    offered_by_pt = {f.payload_type: f for f in offered_formats}
    answered_by_pt = {f.payload_type: f for f in formats_from_media(answered)}
    agreed: list[AgreedFormat] = []
    for pt in dict.fromkeys(answered.payload_types):
        answer_fmt = answered_by_pt.get(pt)
        if answer_fmt is None:
            # A dynamic number without a=rtpmap in the answer: old endpoints
            # rely on the offer's mapping for a number they reuse.
            if pt in offered_by_pt:
                agreed.append(
                    AgreedFormat(
                        format=offered_by_pt[pt],
                        offer_payload_type=pt,
                        answer_payload_type=pt,
                    )
                )
            continue
        candidates = sorted(offered_formats, key=lambda f: f.payload_type != pt)
        match = next((f for f in candidates if f.same_codec(answer_fmt)), None)
        if match is not None and match.payload_type is not None:
            agreed.append(
                AgreedFormat(
                    format=answer_fmt,
                    offer_payload_type=match.payload_type,
                    answer_payload_type=pt,
                )
            )
    return tuple(agreed)


def _crypto_pair(
    index: int, offered: MediaDescription, answered: MediaDescription
) -> tuple[CryptoAttribute, CryptoAttribute] | None:
    profile = offered.profile
    if not answered.crypto:
        if profile is not None and profile.is_srtp and not profile.is_dtls:
            raise RemoteSdpError(f"answer m-line {index} lacks a=crypto")
        return None
    chosen = answered.crypto[0]
    for candidate in offered.crypto:
        if candidate.tag == chosen.tag and candidate.suite == chosen.suite:
            return candidate, chosen
    raise RemoteSdpError(f"answer m-line {index} picks a=crypto tag {chosen.tag}")


def _rtcp_port(media: MediaDescription, rtcp_mux: bool) -> int:
    rtcp = media.rtcp
    if rtcp is not None:
        return rtcp.port
    return media.port if rtcp_mux else media.port + 1


def _negotiate_stream(
    offer: SessionDescription, answer: SessionDescription, index: int
) -> NegotiatedStream:
    offered, answered = offer.media[index], answer.media[index]
    if offered.kind.lower() != answered.kind.lower():
        raise RemoteSdpError(f"answer m-line {index} changes the media kind")
    stream = NegotiatedStream(
        index=index,
        kind=offered.kind,
        role=_role(offered),
        proto=answered.proto,
        is_accepted=False,
    )
    if offered.port == 0 or answered.port == 0:
        return stream
    _check_proto(index, offered, answered)
    formats: tuple[AgreedFormat, ...] = ()
    if offered.is_rtp:
        formats = _agree(offered, answered)
        if not formats:
            raise RemoteSdpError(f"answer m-line {index} has no offered format")
    offer_dir, answer_dir = offer.direction_of(index), answer.direction_of(index)
    rtcp_mux = offered.rtcp_mux and answered.rtcp_mux
    offer_conn, answer_conn = offer.connection_for(index), answer.connection_for(index)
    return dataclasses.replace(
        stream,
        is_accepted=True,
        # Clamped: an answer of sendrecv to a sendonly offer (seen from old
        # room systems answering a hold) still cannot make the offerer receive.
        direction=Direction.from_flags(
            sends=offer_dir.sends and answer_dir.receives,
            receives=offer_dir.receives and answer_dir.sends,
        ),
        formats=formats,
        offer_address=None if offer_conn is None else offer_conn.host,
        offer_port=offered.port,
        offer_rtcp_port=_rtcp_port(offered, rtcp_mux) if offered.is_rtp else None,
        answer_address=None if answer_conn is None else answer_conn.host,
        answer_port=answered.port,
        answer_rtcp_port=_rtcp_port(answered, rtcp_mux) if answered.is_rtp else None,
        rtcp_mux=rtcp_mux,
        crypto=_crypto_pair(index, offered, answered) if offered.is_rtp else None,
        bitrate_kbps=answer.bandwidth_kbps(index),
    )


def negotiate(
    offer: SessionDescription, answer: SessionDescription
) -> tuple[NegotiatedStream, ...]:
    """The agreed streams of an offer/answer exchange (RFC 3264 §6, §7).

    Formats are matched by codec, not payload number, since numbers may
    differ per side (RFC 3264 §6.1); unknown answered formats are ignored.
    Raises ``RemoteSdpError`` if the answer has a different m-line count,
    changes a stream's kind or RTP security, accepts a stream with no offered
    format, or omits or invents its a=crypto choice on an SRTP stream.
    """
    if len(offer.media) != len(answer.media):
        raise RemoteSdpError(
            f"answer has {len(answer.media)} m-lines, offer {len(offer.media)}"
        )
    return tuple(
        _negotiate_stream(offer, answer, index) for index in range(len(offer.media))
    )
