"""Neutral media description shared by SDP and (later) H.245.

A ``StreamDescription`` says what one stream carries: kind, role (main or
slides, RFC 4796 / H.239), the formats in preference order, direction and bit
rate. It knows nothing about ports, payload-type numbering conventions of a
given peer, or keys. SDP maps to it with ``stream_from_sdp`` and back with
``media_from_stream``; the H.323 leg will do the same with H.245 capabilities,
so the B2BUA can bridge the two through one type.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.sdp.codecs import (
    STATIC_PAYLOAD_TYPES,
    H264Params,
    codecs_match,
    config_params_match,
    fmtp_param,
    h264_answer,
    parse_h264_params,
    replace_fmtp_param,
)
from gateway.sdp.errors import LocalSdpError, RemoteSdpError
from gateway.sdp.model import (
    Attribute,
    Bandwidth,
    Direction,
    MediaDescription,
    SessionDescription,
)

__all__ = [
    "AUXILIARY_FORMATS",
    "MediaFormat",
    "MediaKind",
    "MediaRole",
    "StreamDescription",
    "answer_format",
    "assign_payload_types",
    "formats_from_media",
    "media_from_stream",
    "stream_from_sdp",
]


class MediaKind(enum.Enum):
    """What a stream carries (the m= ``<media>`` values the gateway relays)."""

    AUDIO = "audio"
    VIDEO = "video"
    APPLICATION = "application"


class MediaRole(enum.Enum):
    """Main stream or presentation (RFC 4796 a=content:slides, H.239 role)."""

    MAIN = "main"
    SLIDES = "slides"


# Formats that ride along with a codec but are not one: DTMF (RFC 4733),
# comfort noise (RFC 3389), redundancy/FEC/retransmission (RFC 2198, 5109,
# 4588, 8627). A stream with only these has nothing to carry.
AUXILIARY_FORMATS = frozenset(
    {"telephone-event", "cn", "red", "ulpfec", "rtx", "flexfec"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaFormat:
    """One codec configuration.

    ``fmtp`` is the raw a=fmtp parameter text, passed through unchanged;
    ``payload_type`` is the number used on the side the format came from
    (None for formats that come from H.245 or configuration).
    """

    name: str
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None
    rtcp_feedback: tuple[str, ...] = ()
    payload_type: int | None = None

    @property
    def is_auxiliary(self) -> bool:
        """True for DTMF, comfort noise, FEC and the like."""
        return self.name.lower() in AUXILIARY_FORMATS

    @property
    def is_h264(self) -> bool:
        """True for H.264 (RFC 6184)."""
        return self.name.lower() == "h264"

    @property
    def h264(self) -> H264Params | None:
        """Parsed H.264 parameters, None for other codecs.

        Raises ``RemoteSdpError`` if the fmtp holds invalid H.264 values.
        """
        return parse_h264_params(self.fmtp) if self.is_h264 else None

    def param(self, key: str) -> str | None:
        """An fmtp parameter by case-insensitive key, or None."""
        return fmtp_param(self.fmtp, key)

    def same_codec(self, other: MediaFormat) -> bool:
        """True if both are the same codec and configuration.

        Name, clock and channels per RFC 3264 §6.1, configuration parameters
        per codec (G.722.1 bitrate; H.264 profile and packetization-mode,
        RFC 6184 §8.2.2, levels aside). Never raises: an H.264 format with
        invalid parameters matches nothing.
        """
        if not codecs_match(
            self.name,
            self.clock_rate,
            self.channels,
            other.name,
            other.clock_rate,
            other.channels,
        ):
            return False
        if self.is_h264:
            return answer_format(self, other) is not None
        return config_params_match(self.name, self.fmtp, other.fmtp)

    @classmethod
    def from_h264(
        cls,
        params: H264Params,
        *,
        payload_type: int | None = None,
        rtcp_feedback: tuple[str, ...] = (),
    ) -> MediaFormat:
        """An H.264/90000 format carrying ``params`` as its fmtp."""
        return cls(
            name="H264",
            clock_rate=90000,
            fmtp=params.to_fmtp(),
            rtcp_feedback=rtcp_feedback,
            payload_type=payload_type,
        )


def answer_format(offered: MediaFormat, local: MediaFormat) -> MediaFormat | None:
    """The format to answer for ``offered`` given a ``local`` capability.

    Returns None when they are not the same codec. The result keeps the
    offered payload type and name spelling. Its fmtp is ``local``'s when it
    has one (so a relay can answer with what the far leg accepts), else the
    offered one. For H.264 the profile stays the offered one and the level
    is negotiated per RFC 6184 §8.2.2, written into profile-level-id in
    place. Never raises.
    """
    if not codecs_match(
        offered.name,
        offered.clock_rate,
        offered.channels,
        local.name,
        local.clock_rate,
        local.channels,
    ):
        return None
    if not offered.is_h264:
        if not config_params_match(offered.name, offered.fmtp, local.fmtp):
            return None
        return dataclasses.replace(offered, fmtp=local.fmtp or offered.fmtp)
    try:
        offered_params = parse_h264_params(offered.fmtp)
        local_params = parse_h264_params(local.fmtp)
    except RemoteSdpError:
        return None
    agreed = h264_answer(offered_params, local_params)
    if agreed is None:
        return None
    base = local.fmtp or offered.fmtp
    fmtp = replace_fmtp_param(base, "profile-level-id", agreed.profile_level_id)
    return dataclasses.replace(offered, fmtp=fmtp)


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamDescription:
    """What one stream carries, independent of SDP or H.245.

    ``direction`` is from the describing side's point of view;
    ``bitrate_kbps`` is the receive bit rate it asks for (b=AS/TIAS, H.245
    maxBitRate), None when unsaid.
    """

    kind: MediaKind
    role: MediaRole = MediaRole.MAIN
    formats: tuple[MediaFormat, ...] = ()
    direction: Direction = Direction.SENDRECV
    bitrate_kbps: int | None = None
    label: str | None = None

    @property
    def has_codec(self) -> bool:
        """True if at least one format is a real codec, not only auxiliary."""
        return any(not f.is_auxiliary for f in self.formats)


def formats_from_media(media: MediaDescription) -> tuple[MediaFormat, ...]:
    """The RTP formats of a media section, in m= order (RFC 8866 §6.6).

    Static payload types without a=rtpmap come from RFC 3551; dynamic ones
    without a=rtpmap, and unknown static ones, are skipped since nobody can
    say what they carry. a=rtpmap without channels means one channel.
    """
    maps = media.rtpmaps
    formats: list[MediaFormat] = []
    for pt in dict.fromkeys(media.payload_types):
        rtpmap = maps.get(pt)
        if rtpmap is not None:
            name, clock = rtpmap.encoding_name, rtpmap.clock_rate
            channels = rtpmap.channels or 1
        elif pt in STATIC_PAYLOAD_TYPES:
            static = STATIC_PAYLOAD_TYPES[pt]
            name, clock, channels = static.name, static.clock_rate, static.channels
        else:
            continue
        formats.append(
            MediaFormat(
                name=name,
                clock_rate=clock,
                channels=channels,
                fmtp=media.fmtp(pt),
                rtcp_feedback=media.rtcp_feedback(pt),
                payload_type=pt,
            )
        )
    return tuple(formats)


def stream_from_sdp(sdp: SessionDescription, index: int) -> StreamDescription | None:
    """The neutral description of RTP media section ``index``.

    Returns None for non-RTP sections (BFCP, T.38, ...) and for media kinds
    other than audio, video and application. The direction is the effective
    one, legacy c=0.0.0.0 hold included (RFC 3264 §8.4); the role is slides
    when a=content lists ``slides`` (RFC 4796 §5). Never raises.
    """
    media = sdp.media[index]
    if not media.is_rtp:
        return None
    try:
        kind = MediaKind(media.kind.lower())
    except ValueError:
        return None
    role = MediaRole.SLIDES if "slides" in media.content else MediaRole.MAIN
    return StreamDescription(
        kind=kind,
        role=role,
        formats=formats_from_media(media),
        direction=sdp.direction_of(index),
        bitrate_kbps=sdp.bandwidth_kbps(index),
        label=media.label,
    )


_DYNAMIC_PAYLOAD_TYPES = range(96, 128)


def assign_payload_types(formats: Sequence[MediaFormat]) -> tuple[MediaFormat, ...]:
    """Give every format without a payload type one (RFC 3551 §6).

    Codecs with a static number (PCMU 0, PCMA 8, G722 9, H263 34...) get it;
    the rest take free dynamic numbers from 96 up. Raises ``LocalSdpError``
    if more than 32 dynamic numbers would be needed.
    """
    used = {f.payload_type for f in formats if f.payload_type is not None}
    free = (pt for pt in _DYNAMIC_PAYLOAD_TYPES if pt not in used)
    result: list[MediaFormat] = []
    for fmt in formats:
        pt = fmt.payload_type
        if pt is None:
            pt = _static_number(fmt, used)
        if pt is None:
            pt = next(free, None)
            if pt is None:
                raise LocalSdpError("more than 32 dynamic payload types needed")
        used.add(pt)
        result.append(dataclasses.replace(fmt, payload_type=pt))
    return tuple(result)


def _static_number(fmt: MediaFormat, used: set[int]) -> int | None:
    for pt, static in STATIC_PAYLOAD_TYPES.items():
        if pt not in used and codecs_match(
            fmt.name,
            fmt.clock_rate,
            fmt.channels,
            static.name,
            static.clock_rate,
            static.channels,
        ):
            return pt
    return None


def _format_attributes(
    fmt: MediaFormat, pt: int, kind: MediaKind, shared_feedback: Sequence[str]
) -> list[Attribute]:
    encoding = f"{fmt.name}/{fmt.clock_rate}"
    if kind is MediaKind.AUDIO and fmt.channels != 1:
        encoding += f"/{fmt.channels}"
    attributes = [Attribute(name="rtpmap", value=f"{pt} {encoding}")]
    if fmt.fmtp:
        attributes.append(Attribute(name="fmtp", value=f"{pt} {fmt.fmtp}"))
    attributes.extend(
        Attribute(name="rtcp-fb", value=f"{pt} {feedback}")
        for feedback in fmt.rtcp_feedback
        if feedback not in shared_feedback
    )
    return attributes


def _shared_feedback(formats: Sequence[MediaFormat]) -> list[str]:
    # Feedback every format has goes out once as "a=rtcp-fb:*" (RFC 4585
    # §4.2), as most endpoints write it, instead of once per payload type.
    first, *rest = formats
    return [
        value
        for value in dict.fromkeys(first.rtcp_feedback)
        if all(value in other.rtcp_feedback for other in rest)
    ]


def media_from_stream(
    stream: StreamDescription,
    *,
    port: int,
    proto: str,
    extra_attributes: Sequence[Attribute] = (),
) -> MediaDescription:
    """An SDP media section for ``stream`` (RFC 8866 §5.14, RFC 3264 §5.1).

    Payload types are assigned where missing; every format gets a=rtpmap
    (static ones too, which old endpoints expect), its fmtp and rtcp-fb;
    feedback common to all formats is written once as ``a=rtcp-fb:*``.
    Then come a=content:slides for the slides role (RFC 4796), a=label,
    ``extra_attributes`` (crypto, rtcp-mux...) and the direction. The bit
    rate becomes b=AS. Raises ``LocalSdpError`` if the stream has no format.
    """
    if not stream.formats:
        raise LocalSdpError("a media section needs at least one format")
    formats = assign_payload_types(stream.formats)
    attributes: list[Attribute] = []
    shared = _shared_feedback(formats)
    for fmt in formats:
        assert fmt.payload_type is not None  # assign_payload_types set it
        attributes.extend(
            _format_attributes(fmt, fmt.payload_type, stream.kind, shared)
        )
    attributes.extend(Attribute(name="rtcp-fb", value=f"* {v}") for v in shared)
    if stream.role is MediaRole.SLIDES:
        attributes.append(Attribute(name="content", value="slides"))
    if stream.label is not None:
        attributes.append(Attribute(name="label", value=stream.label))
    attributes.extend(extra_attributes)
    attributes.append(Attribute(name=stream.direction.value))
    bandwidths: tuple[Bandwidth, ...] = ()
    if stream.bitrate_kbps is not None:
        bandwidths = (Bandwidth(bw_type="AS", value=stream.bitrate_kbps),)
    return MediaDescription(
        kind=stream.kind.value,
        port=port,
        proto=proto,
        formats=tuple(str(f.payload_type) for f in formats),
        bandwidths=bandwidths,
        attributes=tuple(attributes),
    )
