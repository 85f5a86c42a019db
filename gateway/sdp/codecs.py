"""Codec knowledge: static payload types, fmtp parameters, H.264 parameters.

Static payload types follow RFC 3551 §6 (Tables 4 and 5). H.264 parameters
follow RFC 6184 §8.1 (profile-level-id, packetization-mode, max-mbps, ...)
with the level limits of ITU-T H.264 Table A-1, and the offer/answer rules of
RFC 6184 §8.2.2. Everything here is pure and raises only ``RemoteSdpError``
for peer-supplied values that cannot be understood.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from dataclasses import dataclass

from gateway.sdp.errors import RemoteSdpError

__all__ = [
    "STATIC_PAYLOAD_TYPES",
    "H264Level",
    "H264Params",
    "H264Profile",
    "StaticPayload",
    "codecs_match",
    "config_params_match",
    "fmtp_param",
    "h264_answer",
    "is_number",
    "parse_fmtp_params",
    "parse_h264_params",
    "replace_fmtp_param",
]


def is_number(text: str) -> bool:
    """True for a non-empty run of ASCII digits (``str.isdigit`` alone would
    accept superscripts and other scripts' digits that ``int`` refuses)."""
    return text.isascii() and text.isdigit()


@dataclass(frozen=True, slots=True, kw_only=True)
class StaticPayload:
    """One row of RFC 3551 Tables 4/5: a payload type with a fixed meaning."""

    name: str
    clock_rate: int
    channels: int
    kind: str


def _static(name: str, rate: int, kind: str, channels: int = 1) -> StaticPayload:
    return StaticPayload(name=name, clock_rate=rate, channels=channels, kind=kind)


# RFC 3551 §6. G722 is 8000 on the wire by a historical error the RFC keeps.
STATIC_PAYLOAD_TYPES: dict[int, StaticPayload] = {
    0: _static("PCMU", 8000, "audio"),
    3: _static("GSM", 8000, "audio"),
    4: _static("G723", 8000, "audio"),
    5: _static("DVI4", 8000, "audio"),
    6: _static("DVI4", 16000, "audio"),
    7: _static("LPC", 8000, "audio"),
    8: _static("PCMA", 8000, "audio"),
    9: _static("G722", 8000, "audio"),
    10: _static("L16", 44100, "audio", 2),
    11: _static("L16", 44100, "audio"),
    12: _static("QCELP", 8000, "audio"),
    13: _static("CN", 8000, "audio"),
    14: _static("MPA", 90000, "audio"),
    15: _static("G728", 8000, "audio"),
    16: _static("DVI4", 11025, "audio"),
    17: _static("DVI4", 22050, "audio"),
    18: _static("G729", 8000, "audio"),
    25: _static("CelB", 90000, "video"),
    26: _static("JPEG", 90000, "video"),
    28: _static("nv", 90000, "video"),
    31: _static("H261", 90000, "video"),
    32: _static("MPV", 90000, "video"),
    33: _static("MP2T", 90000, "video"),
    34: _static("H263", 90000, "video"),
}

# Codecs whose channel count is fixed by their RTP payload format, so a
# missing or different "/channels" in a=rtpmap must not stop a match
# (RFC 7587 §7: opus is always "opus/48000/2").
_CHANNELS_IGNORED = frozenset({"opus"})

# Parameters that define a distinct configuration: two formats that differ in
# one of these are different codecs for offer/answer purposes.
# G.722.1: RFC 5577 §6 (bitrate is mandatory and must match).
_CONFIG_PARAMS: dict[str, tuple[str, ...]] = {"g7221": ("bitrate",)}


def parse_fmtp_params(fmtp: str) -> tuple[tuple[str, str], ...]:
    """Split an a=fmtp parameter string into ``(key, value)`` pairs.

    Accepts the forms real devices send: ``;`` separators with or without
    spaces, spaces around ``=``, keys in any case, and bare tokens such as
    ``0-15`` (telephone-event, RFC 4733 §7.1.1), which come back with an
    empty key. Keys are lower-cased; values are stripped but otherwise kept.
    Never raises.
    """
    pairs: list[tuple[str, str]] = []
    for item in fmtp.split(";"):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if sep:
            pairs.append((key.strip().lower(), value.strip()))
        else:
            pairs.append(("", item))
    return tuple(pairs)


def fmtp_param(fmtp: str | None, key: str) -> str | None:
    """Value of ``key`` (case-insensitive) in an fmtp string, or None."""
    if fmtp is None:
        return None
    wanted = key.lower()
    for name, value in parse_fmtp_params(fmtp):
        if name == wanted:
            return value
    return None


def replace_fmtp_param(fmtp: str | None, key: str, value: str) -> str:
    """Return ``fmtp`` with ``key`` set to ``value``, other bytes untouched.

    The first occurrence is rewritten in place (keeping the peer's spacing
    elsewhere); a missing key is appended with ``;``.
    """
    if not fmtp:
        return f"{key}={value}"
    pattern = re.compile(
        r"(^|;)(\s*)" + re.escape(key) + r"(\s*=\s*)[^;]*", re.IGNORECASE
    )
    match = pattern.search(fmtp)
    if match is None:
        return f"{fmtp};{key}={value}"
    start, end = match.span()
    replacement = f"{match.group(1)}{match.group(2)}{key}={value}"
    return fmtp[:start] + replacement + fmtp[end:]


def codecs_match(
    name_a: str,
    clock_a: int,
    channels_a: int,
    name_b: str,
    clock_b: int,
    channels_b: int,
) -> bool:
    """True when two encodings are the same codec (RFC 3264 §6.1).

    Names compare case-insensitively (RFC 4855 §3: MIME subtypes), clock
    rates exactly, channels exactly except for codecs with fixed channels.
    """
    name = name_a.lower()
    if name != name_b.lower() or clock_a != clock_b:
        return False
    return name in _CHANNELS_IGNORED or channels_a == channels_b


def config_params_match(name: str, fmtp_a: str | None, fmtp_b: str | None) -> bool:
    """True when the configuration-defining fmtp parameters of ``name`` agree.

    Only codecs listed in ``_CONFIG_PARAMS`` have such parameters (G.722.1
    ``bitrate``, RFC 5577 §6); H.264 is handled by ``h264_answer``.
    """
    for key in _CONFIG_PARAMS.get(name.lower(), ()):
        if fmtp_param(fmtp_a, key) != fmtp_param(fmtp_b, key):
            return False
    return True


class H264Profile(enum.Enum):
    """H.264 profiles as identified by profile-level-id (RFC 6184 Table 5)."""

    CONSTRAINED_BASELINE = "constrained-baseline"
    BASELINE = "baseline"
    MAIN = "main"
    EXTENDED = "extended"
    HIGH = "high"
    CONSTRAINED_HIGH = "constrained-high"
    HIGH_10 = "high-10"
    HIGH_422 = "high-4:2:2"
    HIGH_444 = "high-4:4:4"
    HIGH_10_INTRA = "high-10-intra"
    HIGH_422_INTRA = "high-4:2:2-intra"
    HIGH_444_INTRA = "high-4:4:4-intra"
    CAVLC_444_INTRA = "cavlc-4:4:4-intra"


# (profile_idc, mask over profile-iop, value after masking) -> profile.
# RFC 6184 Table 5; constrained high (RFC 6184 is older) from H.264 A.2.4.2:
# profile_idc 100 with constraint_set4 and constraint_set5 set.
_PROFILE_TABLE: tuple[tuple[int, int, int, H264Profile], ...] = (
    (0x42, 0x4F, 0x40, H264Profile.CONSTRAINED_BASELINE),
    (0x4D, 0x8F, 0x80, H264Profile.CONSTRAINED_BASELINE),
    (0x58, 0xCF, 0xC0, H264Profile.CONSTRAINED_BASELINE),
    (0x42, 0x4F, 0x00, H264Profile.BASELINE),
    (0x58, 0xCF, 0x80, H264Profile.BASELINE),
    (0x4D, 0xAF, 0x00, H264Profile.MAIN),
    (0x58, 0xCF, 0x00, H264Profile.EXTENDED),
    (0x64, 0xFF, 0x00, H264Profile.HIGH),
    (0x64, 0xFF, 0x0C, H264Profile.CONSTRAINED_HIGH),
    (0x6E, 0xFF, 0x00, H264Profile.HIGH_10),
    (0x7A, 0xFF, 0x00, H264Profile.HIGH_422),
    (0xF4, 0xFF, 0x00, H264Profile.HIGH_444),
    (0x6E, 0xFF, 0x10, H264Profile.HIGH_10_INTRA),
    (0x7A, 0xFF, 0x10, H264Profile.HIGH_422_INTRA),
    (0xF4, 0xFF, 0x10, H264Profile.HIGH_444_INTRA),
    (0x2C, 0xFF, 0x10, H264Profile.CAVLC_444_INTRA),
)

# Profiles whose level 1b is signalled as level_idc 11 plus constraint_set3
# (H.264 §7.4.2.1.1); other profiles use level_idc 9.
_SET3_LEVEL_1B_PROFILES = frozenset({0x42, 0x4D, 0x58})
_CONSTRAINT_SET3 = 0x10


class H264Level(enum.Enum):
    """H.264 levels with their ITU-T H.264 Table A-1 limits.

    Values are ``(name, rank, max_mbps, max_fs, max_br_kbps)``; ``rank``
    orders the levels, with 1b between 1 and 1.1. max_br is for the Baseline,
    Main and Extended profiles (the cpbBrVclFactor of 1000 bits).
    """

    L1 = ("1", 0, 1485, 99, 64)
    L1B = ("1b", 1, 1485, 99, 128)
    L1_1 = ("1.1", 2, 3000, 396, 192)
    L1_2 = ("1.2", 3, 6000, 396, 384)
    L1_3 = ("1.3", 4, 11880, 396, 768)
    L2 = ("2", 5, 11880, 396, 2000)
    L2_1 = ("2.1", 6, 19800, 792, 4000)
    L2_2 = ("2.2", 7, 20250, 1620, 4000)
    L3 = ("3", 8, 40500, 1620, 10000)
    L3_1 = ("3.1", 9, 108000, 3600, 14000)
    L3_2 = ("3.2", 10, 216000, 5120, 20000)
    L4 = ("4", 11, 245760, 8192, 20000)
    L4_1 = ("4.1", 12, 245760, 8192, 50000)
    L4_2 = ("4.2", 13, 522240, 8704, 50000)
    L5 = ("5", 14, 589824, 22080, 135000)
    L5_1 = ("5.1", 15, 983040, 36864, 240000)
    L5_2 = ("5.2", 16, 2073600, 36864, 240000)

    @property
    def label(self) -> str:
        """Human name, such as ``"3.1"`` or ``"1b"``."""
        return self.value[0]

    @property
    def rank(self) -> int:
        """Position in the level order (1b sorts between 1 and 1.1)."""
        return self.value[1]

    @property
    def max_mbps(self) -> int:
        """Maximum macroblocks per second (H.264 Table A-1 MaxMBPS)."""
        return self.value[2]

    @property
    def max_fs(self) -> int:
        """Maximum frame size in macroblocks (H.264 Table A-1 MaxFS)."""
        return self.value[3]

    @property
    def max_br_kbps(self) -> int:
        """Maximum video bit rate in kbit/s (H.264 Table A-1 MaxBR)."""
        return self.value[4]


# level_idc -> level, apart from 1b (which depends on the profile).
_LEVEL_BY_IDC: dict[int, H264Level] = {
    10: H264Level.L1,
    11: H264Level.L1_1,
    12: H264Level.L1_2,
    13: H264Level.L1_3,
    20: H264Level.L2,
    21: H264Level.L2_1,
    22: H264Level.L2_2,
    30: H264Level.L3,
    31: H264Level.L3_1,
    32: H264Level.L3_2,
    40: H264Level.L4,
    41: H264Level.L4_1,
    42: H264Level.L4_2,
    50: H264Level.L5,
    51: H264Level.L5_1,
    52: H264Level.L5_2,
}
_IDC_BY_LEVEL: dict[H264Level, int] = {v: k for k, v in _LEVEL_BY_IDC.items()}

# RFC 6184 §8.1: without profile-level-id, Baseline at level 1 is implied.
_DEFAULT_PROFILE_LEVEL_ID = "42000a"
_PROFILE_LEVEL_ID = re.compile(r"[0-9a-fA-F]{6}")


@dataclass(frozen=True, slots=True, kw_only=True)
class H264Params:
    """The H.264 fmtp parameters of RFC 6184 §8.1 that offer/answer uses.

    ``max_br`` is in units of 1000 bit/s (cpbBrVclFactor) as on the wire;
    ``max_mbps``, ``max_fs`` and ``max_smbps`` are in macroblocks.
    """

    profile_idc: int = 0x42
    profile_iop: int = 0xE0
    level_idc: int = 0x1F
    packetization_mode: int = 0
    max_mbps: int | None = None
    max_smbps: int | None = None
    max_fs: int | None = None
    max_cpb: int | None = None
    max_dpb: int | None = None
    max_br: int | None = None
    level_asymmetry_allowed: bool = False
    sprop_parameter_sets: str | None = None

    @property
    def profile_level_id(self) -> str:
        """The six hex digits of profile-level-id, lower case."""
        return f"{self.profile_idc:02x}{self.profile_iop:02x}{self.level_idc:02x}"

    @property
    def profile(self) -> H264Profile | None:
        """The profile per RFC 6184 Table 5, or None if not in the table."""
        for idc, mask, value, profile in _PROFILE_TABLE:
            if self.profile_idc == idc and self.profile_iop & mask == value:
                return profile
        return None

    @property
    def level(self) -> H264Level | None:
        """The level, with 1b recognised in both encodings; None if unknown."""
        if self.level_idc == 9:
            return H264Level.L1B
        if (
            self.level_idc == 11
            and self.profile_idc in _SET3_LEVEL_1B_PROFILES
            and self.profile_iop & _CONSTRAINT_SET3
        ):
            return H264Level.L1B
        return _LEVEL_BY_IDC.get(self.level_idc)

    @property
    def effective_max_mbps(self) -> int | None:
        """Macroblocks/s the receiver supports: max(level limit, max-mbps)."""
        level = self.level
        if level is None:
            return self.max_mbps
        return max(level.max_mbps, self.max_mbps or 0)

    @property
    def effective_max_fs(self) -> int | None:
        """Frame size in macroblocks the receiver supports (level or max-fs)."""
        level = self.level
        if level is None:
            return self.max_fs
        return max(level.max_fs, self.max_fs or 0)

    def with_level(self, level: H264Level) -> H264Params:
        """Copy at ``level``, encoding 1b as RFC 6184 §8.1 requires.

        For Baseline/Main/Extended, 1b is level_idc 11 with constraint_set3;
        constraint_set3 is cleared for the other levels of those profiles so
        that 1.1 is not misread as 1b.
        """
        iop = self.profile_iop
        if level is H264Level.L1B:
            if self.profile_idc in _SET3_LEVEL_1B_PROFILES:
                return dataclasses.replace(
                    self, level_idc=11, profile_iop=iop | _CONSTRAINT_SET3
                )
            return dataclasses.replace(self, level_idc=9)
        if self.profile_idc in _SET3_LEVEL_1B_PROFILES:
            iop &= ~_CONSTRAINT_SET3 & 0xFF
        return dataclasses.replace(
            self, level_idc=_IDC_BY_LEVEL[level], profile_iop=iop
        )

    def to_fmtp(self) -> str:
        """Serialize as an a=fmtp parameter string (RFC 6184 §8.1)."""
        parts = [
            f"profile-level-id={self.profile_level_id}",
            f"packetization-mode={self.packetization_mode}",
        ]
        if self.level_asymmetry_allowed:
            parts.append("level-asymmetry-allowed=1")
        for key, value in (
            ("max-mbps", self.max_mbps),
            ("max-smbps", self.max_smbps),
            ("max-fs", self.max_fs),
            ("max-cpb", self.max_cpb),
            ("max-dpb", self.max_dpb),
            ("max-br", self.max_br),
        ):
            if value is not None:
                parts.append(f"{key}={value}")
        if self.sprop_parameter_sets is not None:
            parts.append(f"sprop-parameter-sets={self.sprop_parameter_sets}")
        return ";".join(parts)


_INT_PARAMS: dict[str, str] = {
    "max-mbps": "max_mbps",
    "max-smbps": "max_smbps",
    "max-fs": "max_fs",
    "max-cpb": "max_cpb",
    "max-dpb": "max_dpb",
    "max-br": "max_br",
}


def _param_int(key: str, value: str, limit: int) -> int:
    if not is_number(value) or len(value) > 10 or int(value) > limit:
        raise RemoteSdpError(f"H.264 fmtp {key}={value!r} is not a valid integer")
    return int(value)


def parse_h264_params(fmtp: str | None) -> H264Params:
    """Parse H.264 fmtp parameters (RFC 6184 §8.1).

    Missing profile-level-id means Baseline level 1 and missing
    packetization-mode means 0, as the RFC says. Hex digits may be in any
    case. Unknown parameters are ignored here (they stay in the raw fmtp).

    Raises ``RemoteSdpError`` for a profile-level-id that is not six hex
    digits, a packetization-mode other than 0, 1 or 2, or a non-numeric limit.
    """
    plid = _DEFAULT_PROFILE_LEVEL_ID
    fields: dict[str, int | bool | str] = {}
    for key, value in parse_fmtp_params(fmtp or ""):
        if key == "profile-level-id":
            if not _PROFILE_LEVEL_ID.fullmatch(value):
                raise RemoteSdpError(f"H.264 profile-level-id {value!r} is invalid")
            plid = value
        elif key == "packetization-mode":
            if value not in ("0", "1", "2"):
                raise RemoteSdpError(f"H.264 packetization-mode {value!r} is invalid")
            fields["packetization_mode"] = int(value)
        elif key in _INT_PARAMS:
            fields[_INT_PARAMS[key]] = _param_int(key, value, 2**32 - 1)
        elif key == "level-asymmetry-allowed":
            fields["level_asymmetry_allowed"] = value == "1"
        elif key == "sprop-parameter-sets":
            fields["sprop_parameter_sets"] = value
    raw = bytes.fromhex(plid)
    return H264Params(
        profile_idc=raw[0],
        profile_iop=raw[1],
        level_idc=raw[2],
        **fields,  # type: ignore[arg-type]
    )


def _profiles_compatible(offered: H264Params, local: H264Params) -> bool:
    offered_profile, local_profile = offered.profile, local.profile
    if offered_profile is None or local_profile is None:
        # Unknown profiles only match byte for byte.
        return (offered.profile_idc, offered.profile_iop) == (
            local.profile_idc,
            local.profile_iop,
        )
    if offered_profile is local_profile:
        return True
    # A Constrained Baseline stream is also a Baseline stream (H.264 A.2.1.1),
    # and old room systems offer 42801f where softphones offer 42e01f.
    baseline = {H264Profile.CONSTRAINED_BASELINE, H264Profile.BASELINE}
    return {offered_profile, local_profile} <= baseline


def h264_answer(offered: H264Params, local: H264Params) -> H264Params | None:
    """Answer parameters for an offered H.264 format, or None if incompatible.

    RFC 6184 §8.2.2: the profile must be the same (Constrained Baseline and
    Baseline are treated as compatible), packetization-mode must be equal,
    and the answer's level is the lower of the two unless both sides allow
    level asymmetry, in which case each side states its own receive level.
    The answer keeps the offered profile bytes. Never raises.
    """
    if offered.packetization_mode != local.packetization_mode:
        return None
    if not _profiles_compatible(offered, local):
        return None
    offered_level, local_level = offered.level, local.level
    if offered_level is None or local_level is None:
        return None
    asymmetric = offered.level_asymmetry_allowed and local.level_asymmetry_allowed
    if asymmetric or local_level.rank <= offered_level.rank:
        level = local_level
    else:
        level = offered_level
    answer = dataclasses.replace(
        offered,
        level_asymmetry_allowed=asymmetric,
        max_mbps=local.max_mbps,
        max_smbps=local.max_smbps,
        max_fs=local.max_fs,
        max_cpb=local.max_cpb,
        max_dpb=local.max_dpb,
        max_br=local.max_br,
        sprop_parameter_sets=None,
    )
    return answer.with_level(level)
