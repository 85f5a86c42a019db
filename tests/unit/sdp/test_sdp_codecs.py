"""Tests of gateway.sdp.codecs: static types, fmtp, H.264 (RFC 6184)."""

from __future__ import annotations

import pytest

from gateway.sdp.codecs import (
    STATIC_PAYLOAD_TYPES,
    H264Level,
    H264Params,
    H264Profile,
    codecs_match,
    config_params_match,
    fmtp_param,
    h264_answer,
    is_number,
    parse_fmtp_params,
    parse_h264_params,
    replace_fmtp_param,
)
from gateway.sdp.errors import RemoteSdpError


def test_static_payload_types() -> None:
    """RFC 3551 static numbers used by room systems map to their codecs."""
    assert STATIC_PAYLOAD_TYPES[0].name == "PCMU"
    assert STATIC_PAYLOAD_TYPES[8].name == "PCMA"
    assert (STATIC_PAYLOAD_TYPES[9].name, STATIC_PAYLOAD_TYPES[9].clock_rate) == (
        "G722",
        8000,
    )
    assert STATIC_PAYLOAD_TYPES[34].kind == "video"
    assert STATIC_PAYLOAD_TYPES[10].channels == 2
    assert 96 not in STATIC_PAYLOAD_TYPES and 2 not in STATIC_PAYLOAD_TYPES


def test_is_number_rejects_unicode_digits() -> None:
    """Only ASCII digits count (int() refuses superscripts)."""
    assert is_number("0123")
    assert not is_number("²") and not is_number("") and not is_number("١")


def test_fmtp_params_tolerate_spaces_and_case() -> None:
    """Spaces around ; and =, upper-case keys and bare tokens all parse."""
    assert parse_fmtp_params(" PROFILE-LEVEL-ID = 42E01F ;packetization-mode=1;") == (
        ("profile-level-id", "42E01F"),
        ("packetization-mode", "1"),
    )
    assert parse_fmtp_params("0-15") == (("", "0-15"),)
    assert fmtp_param("a=1; B=2", "b") == "2"
    assert fmtp_param("a=1", "b") is None
    assert fmtp_param(None, "a") is None


def test_replace_fmtp_param_in_place() -> None:
    """Only the named value changes; other bytes and spacing stay."""
    original = "profile-level-id=42E01F; max-mbps=40500"
    assert replace_fmtp_param(original, "profile-level-id", "42e016") == (
        "profile-level-id=42e016; max-mbps=40500"
    )
    assert replace_fmtp_param("a=1; Profile-Level-Id = x", "profile-level-id", "y") == (
        "a=1; profile-level-id=y"
    )
    assert replace_fmtp_param("a=1", "b", "2") == "a=1;b=2"
    assert replace_fmtp_param(None, "b", "2") == "b=2"


def test_codecs_match_rules() -> None:
    """Names compare case-insensitively; opus ignores channels; clocks exact."""
    assert codecs_match("pcmu", 8000, 1, "PCMU", 8000, 1)
    assert not codecs_match("PCMU", 8000, 1, "PCMU", 16000, 1)
    assert not codecs_match("L16", 44100, 1, "L16", 44100, 2)
    assert codecs_match("opus", 48000, 1, "OPUS", 48000, 2)


def test_g7221_bitrate_is_configuration() -> None:
    """G.722.1 at different bitrates are different formats (RFC 5577)."""
    assert config_params_match("G7221", "bitrate=24000", "bitrate = 24000")
    assert not config_params_match("G7221", "bitrate=24000", "bitrate=32000")
    assert config_params_match("PCMU", "x=1", "x=2")


@pytest.mark.parametrize(
    ("plid", "profile"),
    [
        ("42e01f", H264Profile.CONSTRAINED_BASELINE),
        ("42c01f", H264Profile.CONSTRAINED_BASELINE),
        ("4d801f", H264Profile.CONSTRAINED_BASELINE),
        ("58c01f", H264Profile.CONSTRAINED_BASELINE),
        ("42801f", H264Profile.BASELINE),
        ("42001f", H264Profile.BASELINE),
        ("58801f", H264Profile.BASELINE),
        ("4d001f", H264Profile.MAIN),
        ("4d401f", H264Profile.MAIN),
        ("58001f", H264Profile.EXTENDED),
        ("640028", H264Profile.HIGH),
        ("640c28", H264Profile.CONSTRAINED_HIGH),
        ("6e0028", H264Profile.HIGH_10),
        ("7a0028", H264Profile.HIGH_422),
        ("f40028", H264Profile.HIGH_444),
        ("6e1028", H264Profile.HIGH_10_INTRA),
        ("7a1028", H264Profile.HIGH_422_INTRA),
        ("f41028", H264Profile.HIGH_444_INTRA),
        ("2c1028", H264Profile.CAVLC_444_INTRA),
        ("421f1f", None),
        ("ff0028", None),
    ],
)
def test_profile_table(plid: str, profile: H264Profile | None) -> None:
    """profile-level-id maps to the profile of RFC 6184 Table 5."""
    assert parse_h264_params(f"profile-level-id={plid}").profile is profile


@pytest.mark.parametrize(
    ("plid", "level"),
    [
        ("42e00a", H264Level.L1),
        ("42f00b", H264Level.L1B),
        ("42e00b", H264Level.L1_1),
        ("4d100b", H264Level.L1B),
        ("640009", H264Level.L1B),
        ("64100b", H264Level.L1_1),
        ("42e01f", H264Level.L3_1),
        ("640028", H264Level.L4),
        ("640034", H264Level.L5_2),
        ("640063", None),
    ],
)
def test_levels_including_1b(plid: str, level: H264Level | None) -> None:
    """Levels decode, with 1b as 11+constraint_set3 or as level_idc 9."""
    assert parse_h264_params(f"profile-level-id={plid}").level is level


def test_level_order_puts_1b_between_1_and_1_1() -> None:
    """Ranks order 1 < 1b < 1.1 and the table limits grow with the level."""
    assert H264Level.L1.rank < H264Level.L1B.rank < H264Level.L1_1.rank
    assert H264Level.L3_1.max_fs == 3600 and H264Level.L3_1.max_mbps == 108000
    assert H264Level.L1B.max_br_kbps == 128 and H264Level.L1B.label == "1b"


def test_parse_all_parameters() -> None:
    """Every RFC 6184 §8.1 limit parameter and the flags are read."""
    params = parse_h264_params(
        "profile-level-id=428016; packetization-mode=1; max-mbps=245000;"
        "max-fs=8160;max-cpb=200;max-dpb=16200;max-br=2000;max-smbps=245000;"
        "level-asymmetry-allowed=1;sprop-parameter-sets=Z0IAH5WoFAFuQA==,aM48gA==;"
        "max-rcmd-nalu-size=3456000"
    )
    assert (params.profile_idc, params.profile_iop, params.level_idc) == (
        0x42,
        0x80,
        0x16,
    )
    assert params.packetization_mode == 1
    assert params.max_mbps == 245000 and params.max_fs == 8160
    assert params.max_cpb == 200 and params.max_dpb == 16200
    assert params.max_br == 2000 and params.max_smbps == 245000
    assert params.level_asymmetry_allowed
    assert params.sprop_parameter_sets == "Z0IAH5WoFAFuQA==,aM48gA=="
    assert params.level is H264Level.L2_2
    assert params.effective_max_mbps == 245000
    assert params.effective_max_fs == 8160


def test_defaults_when_absent() -> None:
    """No fmtp means Baseline level 1, packetization-mode 0 (RFC 6184 §8.1)."""
    params = parse_h264_params(None)
    assert params.profile is H264Profile.BASELINE
    assert params.level is H264Level.L1
    assert params.packetization_mode == 0
    assert params.effective_max_mbps == 1485


def test_effective_limits_for_unknown_level() -> None:
    """Without a known level the explicit max-* values are all we have."""
    params = H264Params(level_idc=99, max_fs=100)
    assert params.effective_max_fs == 100
    assert params.effective_max_mbps is None


@pytest.mark.parametrize(
    "fmtp",
    [
        "profile-level-id=42e0",
        "profile-level-id=zze01f",
        "packetization-mode=3",
        "max-mbps=fast",
        "max-fs=99999999999",
    ],
)
def test_invalid_h264_parameters(fmtp: str) -> None:
    """Malformed H.264 values raise RemoteSdpError."""
    with pytest.raises(RemoteSdpError, match=r"H\.264"):
        parse_h264_params(fmtp)


def test_with_level_encodes_1b_per_profile() -> None:
    """1b uses constraint_set3 for baseline-family, level_idc 9 otherwise."""
    baseline = parse_h264_params("profile-level-id=42e01f")
    assert baseline.with_level(H264Level.L1B).profile_level_id == "42f00b"
    high = parse_h264_params("profile-level-id=640028")
    assert high.with_level(H264Level.L1B).profile_level_id == "640009"
    one_b = parse_h264_params("profile-level-id=42f00b")
    assert one_b.with_level(H264Level.L1_1).profile_level_id == "42e00b"
    assert one_b.with_level(H264Level.L3).level is H264Level.L3


def test_to_fmtp_round_trip() -> None:
    """to_fmtp writes parameters that parse back to equal params."""
    params = H264Params(
        profile_idc=0x64,
        profile_iop=0,
        level_idc=0x28,
        packetization_mode=1,
        max_mbps=244800,
        max_fs=8160,
        max_br=5000,
        max_cpb=1,
        max_dpb=2,
        max_smbps=3,
        level_asymmetry_allowed=True,
        sprop_parameter_sets="Z2Q=",
    )
    assert parse_h264_params(params.to_fmtp()) == params
    assert H264Params().to_fmtp() == "profile-level-id=42e01f;packetization-mode=0"


def h264(fmtp: str) -> H264Params:
    return parse_h264_params(fmtp)


def test_answer_takes_lower_level() -> None:
    """RFC 6184 §8.2.2: the answer's level is min(offer, local)."""
    offer = h264("profile-level-id=42e028;packetization-mode=1")
    local = h264("profile-level-id=42e01f;packetization-mode=1")
    answer = h264_answer(offer, local)
    assert answer is not None and answer.level is H264Level.L3_1
    assert h264_answer(local, offer) == local.with_level(H264Level.L3_1)


def test_answer_keeps_offered_profile_bytes() -> None:
    """Baseline and constrained baseline interoperate; offered bytes stay."""
    offer = h264("profile-level-id=42801f")
    local = h264("profile-level-id=42e028")
    answer = h264_answer(offer, local)
    assert answer is not None and answer.profile_level_id == "42801f"


def test_answer_with_level_asymmetry() -> None:
    """With level-asymmetry-allowed on both sides each keeps its own level."""
    offer = h264("profile-level-id=42e01f;level-asymmetry-allowed=1")
    local = h264("profile-level-id=42e032;level-asymmetry-allowed=1")
    answer = h264_answer(offer, local)
    assert answer is not None and answer.level is H264Level.L5
    assert answer.level_asymmetry_allowed
    one_sided = h264_answer(offer, h264("profile-level-id=42e032"))
    assert one_sided is not None and one_sided.level is H264Level.L3_1


def test_answer_refuses_mismatches() -> None:
    """Different packetization-mode or profile (or unknown level) means None."""
    mode0 = h264("profile-level-id=42e01f")
    mode1 = h264("profile-level-id=42e01f;packetization-mode=1")
    assert h264_answer(mode0, mode1) is None
    assert h264_answer(h264("profile-level-id=640028"), mode0) is None
    assert (
        h264_answer(h264("profile-level-id=640063"), h264("profile-level-id=640028"))
        is None
    )


def test_unknown_profiles_match_only_exactly() -> None:
    """Profiles outside Table 5 match only the same profile_idc and iop."""
    odd = h264("profile-level-id=ff001f")
    assert h264_answer(odd, h264("profile-level-id=ff0028")) is not None
    assert h264_answer(odd, h264("profile-level-id=ff101f")) is None


def test_answer_takes_local_receive_limits() -> None:
    """max-* in the answer describe the answerer, not the offerer."""
    offer = h264("profile-level-id=42e01f;max-mbps=245000;sprop-parameter-sets=Zw==")
    local = h264("profile-level-id=42e01f;max-fs=3600")
    answer = h264_answer(offer, local)
    assert answer is not None
    assert (answer.max_mbps, answer.max_fs) == (None, 3600)
    assert answer.sprop_parameter_sets is None
