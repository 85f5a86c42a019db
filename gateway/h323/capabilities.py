"""H.245 capabilities <-> neutral media descriptions, as data tables.

The H.323 leg advertises what the SIP side can receive in a
TerminalCapabilitySet (H.245 section 8.4) and learns from the peer's TCS what
it can receive; logical channels carry one DataType each (H.245 section 8.5).
This module maps both to ``StreamDescription``/``MediaFormat`` (gateway.sdp.media)
so the B2BUA bridges SDP and H.245 through one type. H.245 values are in the
plain form of ``gateway.h323.codec``: SEQUENCE as dict, CHOICE as
``(name, value)``, OBJECT IDENTIFIER as a tuple of ints.

Mappings (each a table below):

* G.711 u/A-law, G.722 and G.729 (H.245 AudioCapability alternatives, frames
  per packet) <-> PCMU, PCMA, G722 and G729 (RFC 3551 section 4.5);
* G.722.1 and G.722.1 Annex C (genericAudioCapability, G.722.1 Annex A and
  H.245 Appendix VIII: maxBitRate in 100 bit/s) <-> G7221/16000 and
  G7221/32000 with ``bitrate`` (RFC 5577);
* H.261 and H.263 (picture sizes as MPIs, maxBitRate in 100 bit/s) <-> H261,
  H263 (RFC 2190/4587) and H263-1998 (RFC 4629), told apart by the RTP payload
  format (H.225.0 section 8.3.2: RFC 2429 packetization);
* H.264 (genericVideoCapability, ITU-T H.241 section 8.3) <-> H264 (RFC 6184
  section 8.1); packetization-mode is the mediaPacketization OID of H.241
  section 8.3.3;
* H.239 presentation video (extendedVideoCapability with the H.239 extended
  video OID) is recognised and reported as a declined slides stream.

Values the tables do not cover are skipped: decoding never raises.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.h323.errors import LocalH323Error
from gateway.sdp.codecs import H264Level, H264Params, H264Profile
from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.media import MediaFormat, MediaKind, MediaRole, StreamDescription
from gateway.sdp.model import Direction

__all__ = [
    "G7221C_OID",
    "G7221_OID",
    "H239_CONTROL_OID",
    "H239_EXTENDED_VIDEO_OID",
    "H264_NON_INTERLEAVED_OID",
    "H264_OID",
    "H264_SINGLE_NAL_OID",
    "CapabilityEntry",
    "CapabilitySetPlan",
    "data_type_for",
    "format_from_data_type",
    "h245_capabilities_from_streams",
    "h264_capability_from_params",
    "h264_params_from_capability",
    "media_packetization_for",
    "role_of_data_type",
    "streams_from_h245",
]

H264_OID = (0, 0, 8, 241, 0, 0, 1)
"""H.241 section 8.3.1: the H.264 capability identifier."""
H264_SINGLE_NAL_OID = (0, 0, 8, 241, 0, 0, 0, 0)
"""H.241 section 8.3.3: RTP payload format, single NAL unit mode (mode 0)."""
H264_NON_INTERLEAVED_OID = (0, 0, 8, 241, 0, 0, 0, 1)
"""H.241 section 8.3.3: RTP payload format, non-interleaved mode (mode 1)."""
G7221_OID = (0, 0, 7, 7221, 1, 0)
"""G.722.1 Annex A: the G.722.1 (16 kHz) capability identifier."""
G7221C_OID = (0, 0, 7, 7221, 1, 1, 0)
"""G.722.1 Annex C (32 kHz) capability identifier."""
H239_CONTROL_OID = (0, 0, 8, 239, 1, 1)
"""H.239 section 7.1: h239ControlCapability."""
H239_EXTENDED_VIDEO_OID = (0, 0, 8, 239, 1, 2)
"""H.239 section 7.1: h239ExtendedVideoCapability (the presentation role)."""
RFC2429_PACKETIZATION = 2429
"""H.225.0 section 8.3.2: rfc-number naming the H.263+ (H263-1998) payload."""

# Receive video bit rate advertised when the SDP gives none, in kbit/s.
DEFAULT_VIDEO_BITRATE_KBPS = 1920
# H.245 maxBitRate ranges in 100 bit/s (H261VideoCapability,
# H263VideoCapability, GenericCapability).
_H261_MAX_BITRATE = 19200
_H263_MAX_BITRATE = 192400
_GENERIC_MAX_BITRATE = 2**32 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class CapabilityEntry:
    """One CapabilityTableEntry: its number and its ``Capability`` value."""

    number: int
    capability: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class CapabilitySetPlan:
    """A TerminalCapabilitySet's content built from neutral streams.

    ``entries`` is the capability table; ``simultaneous`` holds one
    AlternativeCapabilitySet (entry numbers) per stream, all usable at once
    (H.245 section 8.4.1.3); ``packetizations`` are the RTPPayloadType values
    the H2250Capability must list (H.264 modes, H.263+); ``declined`` are
    the streams nothing in H.245 expresses here (slides, application, or no
    known codec).
    """

    entries: tuple[CapabilityEntry, ...] = ()
    simultaneous: tuple[tuple[int, ...], ...] = ()
    packetizations: tuple[Any, ...] = ()
    declined: tuple[StreamDescription, ...] = ()

    def capability_table(self) -> list[dict[str, Any]]:
        """The TCS ``capabilityTable`` value."""
        return [
            {"capabilityTableEntryNumber": e.number, "capability": e.capability}
            for e in self.entries
        ]

    def capability_descriptors(self, number: int = 1) -> list[dict[str, Any]]:
        """The TCS ``capabilityDescriptors``: one descriptor, or none if empty."""
        if not self.simultaneous:
            return []
        sets = [list(s) for s in self.simultaneous]
        return [
            {"capabilityDescriptorNumber": number, "simultaneousCapabilities": sets}
        ]

    def multiplex_capability(self) -> tuple[str, dict[str, Any]]:
        """An H2250Capability (H.245 Annex A) naming our RTP payload formats.

        Point-to-point only: no multicast, no MC. ``rtpPayloadType`` lists
        ``packetizations`` (H.241 section 8.3.3, H.225.0 section 8.3.2).
        """
        multipoint = {
            "multicastCapability": False,
            "multiUniCastConference": False,
            "mediaDistributionCapability": [dict.fromkeys(_DISTRIBUTION, False)],
        }
        packetization: dict[str, Any] = {"h261aVideoPacketization": False}
        if self.packetizations:
            packetization["rtpPayloadType"] = list(self.packetizations)
        return (
            "h2250Capability",
            {
                "maximumAudioDelayJitter": 60,
                "receiveMultipointCapability": multipoint,
                "transmitMultipointCapability": multipoint,
                "receiveAndTransmitMultipointCapability": multipoint,
                "mcCapability": {
                    "centralizedConferenceMC": False,
                    "decentralizedConferenceMC": False,
                },
                "rtcpVideoControlCapability": False,
                "mediaPacketizationCapability": packetization,
            },
        )

    def terminal_capability_set(
        self, *, sequence_number: int, protocol_identifier: tuple[int, ...]
    ) -> dict[str, Any]:
        """The whole TerminalCapabilitySet body (H.245 section 8.4.1)."""
        body: dict[str, Any] = {
            "sequenceNumber": sequence_number,
            "protocolIdentifier": protocol_identifier,
            "multiplexCapability": self.multiplex_capability(),
        }
        if self.entries:
            body["capabilityTable"] = self.capability_table()
            body["capabilityDescriptors"] = self.capability_descriptors()
        return body


_DISTRIBUTION = (
    "centralizedControl",
    "distributedControl",
    "centralizedAudio",
    "distributedAudio",
    "centralizedVideo",
    "distributedVideo",
)

# -- audio tables --------------------------------------------------------------

# A format's configuration key: the fmtp parameter that makes two formats of
# one codec different capabilities, and its default (RFC 3551 section 4.5.6:
# G.729 annexb defaults to yes; RFC 5577 section 6: G.722.1 bitrate).
_CONFIG_PARAM: dict[str, tuple[str, str | None]] = {
    "g729": ("annexb", "yes"),
    "g7221": ("bitrate", None),
}

# (SDP name, clock rate, configuration) -> H.245 AudioCapability alternatives
# with frames per packet (H.245 section 6.2.6: G.711/G.722 frames are 1 ms,
# G.729 frames 10 ms; we ask for 20 ms packets, as RFC 3551 suggests). The
# first alternative is the one an OpenLogicalChannel uses. A G.729 receiver
# decodes Annex A streams, and one that accepts Annex B SID frames accepts
# streams without them.
_AUDIO_TO_H245: dict[tuple[str, int, str | None], tuple[tuple[str, int], ...]] = {
    ("pcmu", 8000, None): (("g711Ulaw64k", 20),),
    ("pcma", 8000, None): (("g711Alaw64k", 20),),
    ("g722", 8000, None): (("g722-64k", 20),),
    ("g729", 8000, "annexb=no"): (("g729AnnexA", 2), ("g729", 2)),
    ("g729", 8000, "annexb=yes"): (
        ("g729AnnexAwAnnexB", 2),
        ("g729wAnnexB", 2),
        ("g729AnnexA", 2),
        ("g729", 2),
    ),
}

# H.245 AudioCapability alternative -> (SDP name, clock rate, fmtp).
_H245_TO_AUDIO: dict[str, tuple[str, int, str | None]] = {
    "g711Ulaw64k": ("PCMU", 8000, None),
    "g711Alaw64k": ("PCMA", 8000, None),
    "g722-64k": ("G722", 8000, None),
    "g729": ("G729", 8000, "annexb=no"),
    "g729AnnexA": ("G729", 8000, "annexb=no"),
    "g729wAnnexB": ("G729", 8000, None),
    "g729AnnexAwAnnexB": ("G729", 8000, None),
}

# (SDP name, clock rate, configuration) -> (generic capability OID, maxBitRate
# in 100 bit/s). G.722.1 Annex A/C: the rate is the capability's maxBitRate.
_GENERIC_AUDIO: dict[tuple[str, int, str | None], tuple[tuple[int, ...], int]] = {
    ("g7221", 16000, "bitrate=24000"): (G7221_OID, 240),
    ("g7221", 16000, "bitrate=32000"): (G7221_OID, 320),
    ("g7221", 32000, "bitrate=24000"): (G7221C_OID, 240),
    ("g7221", 32000, "bitrate=32000"): (G7221C_OID, 320),
    ("g7221", 32000, "bitrate=48000"): (G7221C_OID, 480),
}
_GENERIC_AUDIO_BACK: dict[tuple[Any, Any], tuple[str, int, str | None]] = {
    value: key for key, value in _GENERIC_AUDIO.items()
}
_SDP_NAMES = {"g7221": "G7221"}


def _config_key(fmt: MediaFormat) -> str | None:
    rule = _CONFIG_PARAM.get(fmt.name.lower())
    if rule is None:
        return None
    key, default = rule
    value = fmt.param(key) or default
    return None if value is None else f"{key}={value.lower()}"


def _format_key(fmt: MediaFormat) -> tuple[str, int, str | None]:
    return (fmt.name.lower(), fmt.clock_rate, _config_key(fmt))


def _audio_capabilities(fmt: MediaFormat, bitrate_kbps: int | None) -> list[Any]:
    key = _format_key(fmt)
    generic = _GENERIC_AUDIO.get(key)
    if generic is not None:
        oid, rate = generic
        value = {"capabilityIdentifier": ("standard", oid), "maxBitRate": rate}
        return [("genericAudioCapability", value)]
    return [(name, frames) for name, frames in _AUDIO_TO_H245.get(key, ())]


def _audio_format(capability: Any) -> MediaFormat | None:
    name, value = capability
    if name == "genericAudioCapability":
        identifier = _standard_oid(value)
        key = _GENERIC_AUDIO_BACK.get((identifier, value.get("maxBitRate")))
        if key is None:
            return None
        codec, clock, fmtp = key
        return MediaFormat(name=_SDP_NAMES[codec], clock_rate=clock, fmtp=fmtp)
    row = _H245_TO_AUDIO.get(name)
    if row is None:
        return None
    sdp_name, clock, fmtp = row
    return MediaFormat(name=sdp_name, clock_rate=clock, fmtp=fmtp)


def _standard_oid(generic: Any) -> tuple[int, ...] | None:
    if not isinstance(generic, Mapping):
        return None
    identifier = generic.get("capabilityIdentifier")
    if not isinstance(identifier, tuple) or identifier[0] != "standard":
        return None
    oid = identifier[1]
    return tuple(oid) if isinstance(oid, tuple | list) else None


# -- H.264 (H.241) -------------------------------------------------------------

# H.241 section 8.3.2.1: the profile parameter is a bit mask (booleanArray).
# Per bit: the profile it names and the profile_idc/profile-iop we write in
# SDP for it (Constrained Baseline for Baseline, as softphones expect; an
# H.241 Baseline decoder decodes it, H.264 A.2.1.1).
_H241_PROFILE_BITS: tuple[tuple[int, tuple[H264Profile, ...], int, int], ...] = (
    (64, (H264Profile.BASELINE, H264Profile.CONSTRAINED_BASELINE), 0x42, 0xE0),
    (32, (H264Profile.MAIN,), 0x4D, 0x40),
    (16, (H264Profile.EXTENDED,), 0x58, 0x00),
    (8, (H264Profile.HIGH, H264Profile.CONSTRAINED_HIGH), 0x64, 0x00),
    (4, (H264Profile.HIGH_10,), 0x6E, 0x00),
    (2, (H264Profile.HIGH_422,), 0x7A, 0x00),
    (1, (H264Profile.HIGH_444,), 0xF4, 0x00),
)
_PROFILE_BIT = {p: bit for bit, profiles, _, _ in _H241_PROFILE_BITS for p in profiles}

# H.241 Table 8-4: the level parameter's values, in H264Level order (1, 1b,
# 1.1, ... 5.2); from 1.1 on they step by 7.
_H241_LEVEL: dict[H264Level, int] = dict(
    zip(H264Level, (15, 19, *range(22, 121, 7)), strict=True)
)
_PROFILE_PARAMETER = 41
_LEVEL_PARAMETER = 42


@dataclass(frozen=True, slots=True, kw_only=True)
class _H241Custom:
    """One H.241 section 8.3.2 custom parameter and its SDP counterpart."""

    identifier: int
    field: str  # H264Params attribute (RFC 6184 fmtp parameter)
    unit: int  # H.241 unit, in the SDP parameter's unit
    level_limit: Callable[[H264Level], int] | None


# CustomMaxMBPS (3) in 500 MB/s, CustomMaxFS (4) in 256 MBs,
# CustomMaxBRandCPB (6) in 25000 bit/s against max-br's 1000 bit/s, and
# MaxStaticMBPS (7) in 500 MB/s. A custom value only says something above the
# level's own limit (H.241 section 8.3.2.3, RFC 6184 section 8.1), so smaller
# ones are dropped both ways. CustomMaxDPB (5) is not mapped: RFC 6184 and
# H.241 count the buffer in units that do not convert exactly.
_H241_CUSTOM: tuple[_H241Custom, ...] = (
    _H241Custom(
        identifier=3, field="max_mbps", unit=500, level_limit=lambda v: v.max_mbps
    ),
    _H241Custom(identifier=4, field="max_fs", unit=256, level_limit=lambda v: v.max_fs),
    _H241Custom(
        identifier=6, field="max_br", unit=25, level_limit=lambda v: v.max_br_kbps
    ),
    _H241Custom(identifier=7, field="max_smbps", unit=500, level_limit=None),
)


def _parameter(identifier: int, kind: str, value: int) -> dict[str, Any]:
    return {
        "parameterIdentifier": ("standard", identifier),
        "parameterValue": (kind, value),
    }


def h264_capability_from_params(params: H264Params, bitrate_kbps: int) -> Any:
    """The H.264 GenericCapability (H.241 section 8.3) for RFC 6184 ``params``.

    ``bitrate_kbps`` becomes maxBitRate (in 100 bit/s). Custom limits are
    rounded down to H.241 units, so we never claim more than the SDP said.
    Returns None for a profile or level H.241 cannot name.
    """
    profile, level = params.profile, params.level
    if profile is None or level is None or profile not in _PROFILE_BIT:
        return None
    collapsing = [
        _parameter(_PROFILE_PARAMETER, "booleanArray", _PROFILE_BIT[profile]),
        _parameter(_LEVEL_PARAMETER, "unsignedMin", _H241_LEVEL[level]),
    ]
    for custom in _H241_CUSTOM:
        sdp_value = getattr(params, custom.field)
        if sdp_value is None:
            continue
        units = min(sdp_value // custom.unit, 0xFFFF)
        limit = custom.level_limit(level) if custom.level_limit else 0
        if units * custom.unit > limit:
            collapsing.append(_parameter(custom.identifier, "unsignedMin", units))
    return {
        "capabilityIdentifier": ("standard", H264_OID),
        "maxBitRate": min(max(bitrate_kbps * 10, 1), _GENERIC_MAX_BITRATE),
        "collapsing": collapsing,
    }


def _level_from_h241(value: int) -> H264Level | None:
    # A value between two table rows is read as the lower level, so that we
    # never promise the SIP side more than the peer decodes.
    best: H264Level | None = None
    for level, h241 in _H241_LEVEL.items():
        if h241 <= value and (best is None or h241 > _H241_LEVEL[best]):
            best = level
    return best


def _collapsing_values(generic: Mapping[str, Any]) -> dict[int, int]:
    values: dict[int, int] = {}
    for item in generic.get("collapsing") or ():
        identifier = (
            item.get("parameterIdentifier") if isinstance(item, Mapping) else None
        )
        value = item.get("parameterValue") if identifier else None
        if (
            isinstance(identifier, tuple)
            and identifier[0] == "standard"
            and isinstance(value, tuple)
            and isinstance(value[1], int)
            and not isinstance(value[1], bool)
        ):
            values.setdefault(identifier[1], value[1])
    return values


def h264_params_from_capability(generic: Any) -> list[H264Params]:
    """RFC 6184 parameters for an H.264 GenericCapability (H.241 section 8.3).

    One entry per profile bit set, in H.241 bit order, all at packetization
    mode 0 (the mode comes from the RTP payload format, not the capability).
    Returns [] for another capability, a missing or unknown level, or no
    known profile bit. Never raises.
    """
    if _standard_oid(generic) != H264_OID:
        return []
    values = _collapsing_values(generic)
    level = _level_from_h241(values.get(_LEVEL_PARAMETER, 0))
    if level is None:
        return []
    limits: dict[str, int] = {}
    for custom in _H241_CUSTOM:
        units = values.get(custom.identifier)
        if units is None:
            continue
        limit = custom.level_limit(level) if custom.level_limit else 0
        if units * custom.unit > limit:
            limits[custom.field] = units * custom.unit
    mask = values.get(_PROFILE_PARAMETER, 0)
    result = []
    for bit, _, idc, iop in _H241_PROFILE_BITS:
        if mask & bit:
            base = H264Params(
                profile_idc=idc,
                profile_iop=iop,
                max_mbps=limits.get("max_mbps"),
                max_fs=limits.get("max_fs"),
                max_br=limits.get("max_br"),
                max_smbps=limits.get("max_smbps"),
            )
            result.append(base.with_level(level))
    return result


def _h264_capabilities(fmt: MediaFormat, bitrate_kbps: int | None) -> list[Any]:
    try:
        params = fmt.h264
    except RemoteSdpError:
        return []
    assert params is not None  # only called for H264 formats
    level = params.level
    if bitrate_kbps is None and level is not None:
        bitrate_kbps = level.max_br_kbps
    value = h264_capability_from_params(
        params, bitrate_kbps or DEFAULT_VIDEO_BITRATE_KBPS
    )
    return [] if value is None else [("genericVideoCapability", value)]


# -- H.261 / H.263 -------------------------------------------------------------

# SDP picture size parameter (RFC 4587 section 4, RFC 4629 section 8.1.1;
# the value is the MPI, frame rate 29.97/MPI) -> H.245 field, per codec.
_PICTURE_SIZES: dict[str, tuple[tuple[str, str], ...]] = {
    "h261VideoCapability": (("QCIF", "qcifMPI"), ("CIF", "cifMPI")),
    "h263VideoCapability": (
        ("SQCIF", "sqcifMPI"),
        ("QCIF", "qcifMPI"),
        ("CIF", "cifMPI"),
        ("CIF4", "cif4MPI"),
        ("CIF16", "cif16MPI"),
    ),
}
_MPI_RANGE = {"h261VideoCapability": range(1, 5), "h263VideoCapability": range(1, 33)}
_MAX_BITRATE = {
    "h261VideoCapability": _H261_MAX_BITRATE,
    "h263VideoCapability": _H263_MAX_BITRATE,
}
# The mandatory BOOLEANs of each capability, all False: we ask for no options.
_VIDEO_FLAGS = {
    "h261VideoCapability": (
        "temporalSpatialTradeOffCapability",
        "stillImageTransmission",
    ),
    "h263VideoCapability": (
        "unrestrictedVector",
        "arithmeticCoding",
        "advancedPrediction",
        "pbFrames",
        "temporalSpatialTradeOffCapability",
    ),
}
# SDP encoding name -> (H.245 VideoCapability alternative, RTP payload format).
_PICTURE_CODECS: dict[str, tuple[str, Any]] = {
    "h261": ("h261VideoCapability", None),
    "h263": ("h263VideoCapability", None),
    "h263-1998": ("h263VideoCapability", ("rfc-number", RFC2429_PACKETIZATION)),
}


def _picture_capabilities(fmt: MediaFormat, bitrate_kbps: int | None) -> list[Any]:
    alternative, _ = _PICTURE_CODECS[fmt.name.lower()]
    mpis = _MPI_RANGE[alternative]
    value: dict[str, Any] = {}
    for sdp_key, field in _PICTURE_SIZES[alternative]:
        mpi = fmt.param(sdp_key)
        if mpi is not None and mpi.isascii() and mpi.isdigit() and int(mpi) in mpis:
            value[field] = int(mpi)
    if not value:
        # RFC 4629 section 8.1.1 / RFC 4587 section 4: no size means QCIF=1.
        value["qcifMPI"] = 1
    rate = (bitrate_kbps or DEFAULT_VIDEO_BITRATE_KBPS) * 10
    value["maxBitRate"] = min(max(rate, 1), _MAX_BITRATE[alternative])
    value.update(dict.fromkeys(_VIDEO_FLAGS[alternative], False))
    return [(alternative, value)]


def _picture_formats(
    alternative: str, value: Any, names: Sequence[str]
) -> list[MediaFormat]:
    if not isinstance(value, Mapping):
        return []
    sizes = [
        f"{sdp_key}={value[field]}"
        for sdp_key, field in _PICTURE_SIZES[alternative]
        if isinstance(value.get(field), int)
    ]
    fmtp = ";".join(sizes) or None
    return [
        MediaFormat(name=name.upper(), clock_rate=90000, fmtp=fmtp)
        for name in names
        if _PICTURE_CODECS[name][0] == alternative
    ]


# -- streams -> TCS ------------------------------------------------------------

_Builder = Callable[[MediaFormat, int | None], list[Any]]
# SDP encoding name -> (kind it belongs to, builder of H.245 capabilities).
_BUILDERS: dict[str, tuple[MediaKind, _Builder]] = {
    "pcmu": (MediaKind.AUDIO, _audio_capabilities),
    "pcma": (MediaKind.AUDIO, _audio_capabilities),
    "g722": (MediaKind.AUDIO, _audio_capabilities),
    "g729": (MediaKind.AUDIO, _audio_capabilities),
    "g7221": (MediaKind.AUDIO, _audio_capabilities),
    "h264": (MediaKind.VIDEO, _h264_capabilities),
    "h261": (MediaKind.VIDEO, _picture_capabilities),
    "h263": (MediaKind.VIDEO, _picture_capabilities),
    "h263-1998": (MediaKind.VIDEO, _picture_capabilities),
}
_RECEIVE = {
    MediaKind.AUDIO: "receiveAudioCapability",
    MediaKind.VIDEO: "receiveVideoCapability",
}
_DATA_TYPE = {MediaKind.AUDIO: "audioData", MediaKind.VIDEO: "videoData"}


def _capabilities_of(fmt: MediaFormat, stream: StreamDescription) -> list[Any]:
    row = _BUILDERS.get(fmt.name.lower())
    if row is None or row[0] is not stream.kind:
        return []
    return row[1](fmt, stream.bitrate_kbps)


def media_packetization_for(fmt: MediaFormat) -> Any:
    """The RTPPayloadType value naming ``fmt``'s RTP payload format, or None.

    H.264 gives the H.241 section 8.3.3 OID of its packetization-mode (single
    NAL unit or non-interleaved); H263-1998 gives RFC 2429. Other codecs use
    their default payload format and need none. ``payloadType`` is set when
    ``fmt`` has a payload type. An OpenLogicalChannel carries the result as
    ``("rtpPayloadType", value)`` in mediaPacketization.
    """
    descriptor: Any = None
    if fmt.is_h264:
        mode = fmt.param("packetization-mode")
        oid = H264_NON_INTERLEAVED_OID if mode == "1" else H264_SINGLE_NAL_OID
        descriptor = ("oid", oid)
    else:
        row = _PICTURE_CODECS.get(fmt.name.lower())
        descriptor = row[1] if row else None
    if descriptor is None:
        return None
    value: dict[str, Any] = {"payloadDescriptor": descriptor}
    if fmt.payload_type is not None:
        value["payloadType"] = fmt.payload_type
    return value


def h245_capabilities_from_streams(
    streams: Sequence[StreamDescription],
) -> CapabilitySetPlan:
    """Plan a TerminalCapabilitySet saying what ``streams`` can receive.

    Every format the tables express becomes capability entries (numbered from
    1, identical values once per stream); each stream's entries form one
    AlternativeCapabilitySet of a single descriptor (H.245 section 8.4.1.3).
    Slides streams (H.239 is declined for now), application streams and
    streams with no expressible codec land in ``declined``; auxiliary
    formats (DTMF, CN, FEC) are not capabilities and are left out. Never
    raises.
    """
    entries: list[CapabilityEntry] = []
    sets: list[tuple[int, ...]] = []
    packetizations: list[Any] = []
    declined: list[StreamDescription] = []
    for stream in streams:
        values: list[Any] = []
        if stream.role is MediaRole.MAIN and stream.kind in _RECEIVE:
            for fmt in stream.formats:
                for value in _capabilities_of(fmt, stream):
                    capability = (_RECEIVE[stream.kind], value)
                    if capability not in values:
                        values.append(capability)
                    _add_packetization(packetizations, fmt)
        if not values:
            declined.append(stream)
            continue
        first = len(entries) + 1
        entries.extend(
            CapabilityEntry(number=first + i, capability=c)
            for i, c in enumerate(values)
        )
        sets.append(tuple(range(first, first + len(values))))
    return CapabilitySetPlan(
        entries=tuple(entries),
        simultaneous=tuple(sets),
        packetizations=tuple(packetizations),
        declined=tuple(declined),
    )


def _add_packetization(packetizations: list[Any], fmt: MediaFormat) -> None:
    value = media_packetization_for(dataclasses.replace(fmt, payload_type=None))
    if value is not None and value not in packetizations:
        packetizations.append(value)


# -- TCS -> streams ------------------------------------------------------------


def _packetization_set(multiplex_capability: Any) -> frozenset[Any]:
    """The payloadDescriptors a peer's H2250Capability lists. Never raises."""
    try:
        _, value = multiplex_capability
        items = value["mediaPacketizationCapability"].get("rtpPayloadType") or ()
        return frozenset(_descriptor(item) for item in items)
    except (TypeError, ValueError, KeyError, AttributeError):
        return frozenset()


def _descriptor(rtp_payload_type: Any) -> Any:
    kind, value = rtp_payload_type["payloadDescriptor"]
    return (kind, tuple(value) if isinstance(value, list) else value)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Variants:
    """Which RTP payload formats to read a video capability as."""

    h264_modes: tuple[int, ...]
    picture_names: tuple[str, ...]

    @classmethod
    def of_peer(cls, descriptors: frozenset[Any]) -> _Variants:
        # A TCS: every payload format the peer's H2250Capability lists, the
        # richer one first (mode 1 receivers take mode 0 packets too).
        is_mode_1 = ("oid", H264_NON_INTERLEAVED_OID) in descriptors
        is_rfc2429 = ("rfc-number", RFC2429_PACKETIZATION) in descriptors
        return cls(
            h264_modes=(1, 0) if is_mode_1 else (0,),
            picture_names=("h261", "h263", *(("h263-1998",) if is_rfc2429 else ())),
        )

    @classmethod
    def of_channel(cls, descriptor: Any) -> _Variants:
        # An OpenLogicalChannel: exactly the payload format it names.
        is_mode_1 = descriptor == ("oid", H264_NON_INTERLEAVED_OID)
        is_rfc2429 = descriptor == ("rfc-number", RFC2429_PACKETIZATION)
        return cls(
            h264_modes=(1,) if is_mode_1 else (0,),
            picture_names=("h261", "h263-1998" if is_rfc2429 else "h263"),
        )


def _video_formats(value: Any, variants: _Variants) -> tuple[list[MediaFormat], Any]:
    """Formats and maxBitRate (100 bit/s) of one VideoCapability."""
    name, body = value
    if not isinstance(body, Mapping):
        return [], None
    if name in _PICTURE_SIZES:
        formats = _picture_formats(name, body, variants.picture_names)
    elif name == "genericVideoCapability":
        formats = [
            MediaFormat.from_h264(dataclasses.replace(p, packetization_mode=mode))
            for p in h264_params_from_capability(body)
            for mode in variants.h264_modes
        ]
    else:
        return [], None
    return formats, body.get("maxBitRate") if formats else None


def _is_h239_video(value: Any) -> bool:
    if not isinstance(value, Mapping):
        return False
    extensions = value.get("videoCapabilityExtension") or ()
    return any(_standard_oid(g) == H239_EXTENDED_VIDEO_OID for g in extensions)


def _kbps(rate: Any) -> int | None:
    if not isinstance(rate, int) or isinstance(rate, bool) or rate <= 0:
        return None
    return max(rate // 10, 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Decoded:
    """What one capability says the peer receives."""

    kind: MediaKind
    role: MediaRole
    formats: tuple[MediaFormat, ...]
    bitrate_kbps: int | None


def _decode_video(value: Any, variants: _Variants) -> _Decoded | None:
    name, body = value
    if name != "extendedVideoCapability":
        formats, rate = _video_formats(value, variants)
        if not formats:
            return None
        return _Decoded(
            kind=MediaKind.VIDEO,
            role=MediaRole.MAIN,
            formats=tuple(formats),
            bitrate_kbps=_kbps(rate),
        )
    if not _is_h239_video(body):
        return None
    # H.239 presentation: kept with whatever codecs it lists, so that the
    # stream can be declined by name rather than dropped.
    formats, rates = [], []
    for inner in body.get("videoCapability") or ():
        more, rate = _video_formats(inner, variants)
        formats.extend(more)
        rates.append(_kbps(rate) or 0)
    return _Decoded(
        kind=MediaKind.VIDEO,
        role=MediaRole.SLIDES,
        formats=tuple(formats),
        bitrate_kbps=max(rates, default=0) or None,
    )


def _decode_capability(capability: Any, variants: _Variants) -> _Decoded | None:
    """A receive capability as formats, or None for anything we do not map."""
    kind = _RECEIVED_KIND.get(capability[0])
    if kind is None:
        return None
    if kind is MediaKind.VIDEO:
        return _decode_video(capability[1], variants)
    fmt = _audio_format(capability[1])
    if fmt is None:
        return None
    return _Decoded(kind=kind, role=MediaRole.MAIN, formats=(fmt,), bitrate_kbps=None)


def _safe_decode(capability: Any, variants: _Variants) -> _Decoded | None:
    # Capabilities come from the peer in pycrate's plain form; anything
    # shaped otherwise than H.245 Annex A allows is skipped, never raised.
    try:
        return _decode_capability(capability, variants)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError):
        return None


# Capability alternatives saying what the peer receives (H.245 section
# 8.4.1.2); transmit-only ones say nothing about that.
_RECEIVED_KIND = {
    "receiveAudioCapability": MediaKind.AUDIO,
    "receiveAndTransmitAudioCapability": MediaKind.AUDIO,
    "receiveVideoCapability": MediaKind.VIDEO,
    "receiveAndTransmitVideoCapability": MediaKind.VIDEO,
}


def _table(capability_table: Iterable[Any], variants: _Variants) -> dict[int, _Decoded]:
    table: dict[int, _Decoded] = {}
    for entry in capability_table or ():
        if not isinstance(entry, Mapping):
            continue
        number = entry.get("capabilityTableEntryNumber")
        decoded = _safe_decode(entry.get("capability"), variants)
        if isinstance(number, int) and decoded is not None:
            table.setdefault(number, decoded)
    return table


def _is_entry(number: Any, table: Mapping[int, _Decoded]) -> bool:
    return isinstance(number, int) and number in table


def _alternative_sets(
    descriptors: Iterable[Any], table: Mapping[int, _Decoded]
) -> list[list[list[int]]]:
    """Each descriptor's AlternativeCapabilitySets as lists of entry numbers."""
    result = []
    for descriptor in descriptors or ():
        if not isinstance(descriptor, Mapping):
            continue
        sets = descriptor.get("simultaneousCapabilities") or ()
        numbered = [s for s in sets if isinstance(s, list | tuple)]
        result.append([[n for n in s if _is_entry(n, table)] for s in numbered])
    if not result:
        # Tolerance: a TCS without descriptors (H.245 section 8.4.1.3 makes it
        # unusable) still says what the peer decodes; read it as one set.
        result.append([list(table)])
    return result


@dataclass(slots=True)
class _StreamBuilder:
    kind: MediaKind
    role: MediaRole
    formats: list[MediaFormat]
    bitrate_kbps: int | None = None

    def add(self, decoded: _Decoded) -> None:
        for fmt in decoded.formats:
            if fmt not in self.formats:
                self.formats.append(fmt)
        if decoded.bitrate_kbps is not None:
            self.bitrate_kbps = max(self.bitrate_kbps or 0, decoded.bitrate_kbps)

    def build(self) -> StreamDescription:
        # A slides stream is reported inactive: H.239 is declined for now.
        is_declined = self.role is MediaRole.SLIDES
        return StreamDescription(
            kind=self.kind,
            role=self.role,
            formats=tuple(self.formats),
            direction=Direction.INACTIVE if is_declined else Direction.SENDRECV,
            bitrate_kbps=self.bitrate_kbps,
        )


def streams_from_h245(
    capability_table: Iterable[Any] | None,
    descriptors: Iterable[Any] | None,
    *,
    multiplex_capability: Any = None,
) -> list[StreamDescription]:
    """What an H.323 peer can receive, from its TerminalCapabilitySet.

    ``capability_table`` and ``descriptors`` are the TCS ``capabilityTable``
    and ``capabilityDescriptors`` values; ``multiplex_capability`` its
    ``multiplexCapability``, whose H2250Capability lists the RTP payload
    formats (H.264 packetization modes, H.263+) the peer takes. Every
    AlternativeCapabilitySet of a descriptor becomes a stream (H.245 section
    8.4.1.3), per kind and role; the n-th audio set of every descriptor
    merges into the n-th audio stream, and so on. Formats keep table order
    without duplicates; H.264 in mode 1 comes before mode 0 when both are
    possible. An H.239 presentation capability gives a SLIDES stream with
    direction INACTIVE: recognised and declined. Receive-only and receive
    and transmit capabilities count; unknown or malformed ones are skipped.
    Never raises.
    """
    variants = _Variants.of_peer(_packetization_set(multiplex_capability))
    table = _table(capability_table or (), variants)
    builders: dict[tuple[MediaKind, MediaRole, int], _StreamBuilder] = {}
    for alternative_sets in _alternative_sets(descriptors or (), table):
        seen: dict[tuple[MediaKind, MediaRole], int] = {}
        for numbers in alternative_sets:
            keys: list[tuple[MediaKind, MediaRole, int]] = []
            for number in numbers:
                decoded = table[number]
                pair = (decoded.kind, decoded.role)
                key = (*pair, seen.get(pair, 0))
                if key not in keys:
                    keys.append(key)
                builder = builders.setdefault(
                    key,
                    _StreamBuilder(kind=decoded.kind, role=decoded.role, formats=[]),
                )
                builder.add(decoded)
            for kind, role, _ in keys:
                seen[(kind, role)] = seen.get((kind, role), 0) + 1
    return [builder.build() for builder in builders.values()]


# -- logical channels ----------------------------------------------------------


def data_type_for(fmt: MediaFormat, *, bitrate_kbps: int | None = None) -> Any:
    """The H.245 DataType for an OpenLogicalChannel sending ``fmt``.

    ``("audioData", ...)`` or ``("videoData", ...)`` with the first
    capability of ``fmt``'s table row (H.245 section 8.5); ``bitrate_kbps``
    is the video maxBitRate (the level's limit or a default when None). Pair
    it with ``media_packetization_for(fmt)`` for H.264 and H263-1998.
    Raises ``LocalH323Error`` for a format H.245 cannot express here (ask
    only for formats the peer's capabilities matched).
    """
    row = _BUILDERS.get(fmt.name.lower())
    values = row[1](fmt, bitrate_kbps) if row is not None else []
    if row is None or not values:
        raise LocalH323Error(
            f"no H.245 capability expresses {fmt.name}/{fmt.clock_rate}"
        )
    return (_DATA_TYPE[row[0]], values[0])


def role_of_data_type(data_type: Any) -> MediaRole | None:
    """MAIN for audio/video data, SLIDES for H.239 presentation video, else None.

    An OpenLogicalChannel for SLIDES is to be rejected for now. Never raises.
    """
    try:
        name, value = data_type
        if name == "audioData":
            return MediaRole.MAIN
        if name != "videoData":
            return None
        inner_name, inner = value
        if inner_name == "extendedVideoCapability":
            return MediaRole.SLIDES if _is_h239_video(inner) else None
        return MediaRole.MAIN
    except (TypeError, ValueError):
        return None


def format_from_data_type(
    data_type: Any, media_packetization: Any = None
) -> MediaFormat | None:
    """The format an OpenLogicalChannel's DataType carries, or None.

    ``media_packetization`` is the channel's H2250LogicalChannelParameters
    ``mediaPacketization`` (``("rtpPayloadType", {...})``), which picks the
    H.264 packetization-mode (H.241 section 8.3.3) and H263 vs H263-1998.
    None for nullData, H.239 presentation (declined), unknown or malformed
    values. Never raises.
    """
    try:
        descriptor = None
        if media_packetization is not None:
            descriptor = _descriptor(media_packetization[1])
        name, value = data_type
        if name == "audioData":
            return _audio_format(value)
        if name != "videoData" or value[0] == "extendedVideoCapability":
            return None
        formats, _ = _video_formats(value, _Variants.of_channel(descriptor))
    except (TypeError, ValueError, KeyError, AttributeError, IndexError):
        return None
    return formats[0] if formats else None
