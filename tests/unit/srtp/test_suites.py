"""The suite table and SrtpPolicy validation."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.errors import ConfigError
from gateway.srtp.suites import (
    AEAD_AES_128_GCM,
    AEAD_AES_256_GCM,
    AES_CM_128_HMAC_SHA1_32,
    AES_CM_128_HMAC_SHA1_80,
    DEFAULT_ALLOWED_SUITES,
    SUITES,
    SrtpPolicy,
    suite_by_name,
)

# (name, master key bytes, master salt bytes, SRTP tag, SRTCP tag, DTLS profile)
# from RFC 4568 §6.2, RFC 6188 §7.1, RFC 7714 §12 and §14, RFC 5764 §4.1.2.
TABLE = [
    ("AEAD_AES_256_GCM", 32, 12, 16, 16, 0x0008),
    ("AEAD_AES_128_GCM", 16, 12, 16, 16, 0x0007),
    ("AES_CM_128_HMAC_SHA1_80", 16, 14, 10, 10, 0x0001),
    ("AES_CM_128_HMAC_SHA1_32", 16, 14, 4, 10, 0x0002),
    ("F8_128_HMAC_SHA1_80", 16, 14, 10, 10, None),
    ("AES_192_CM_HMAC_SHA1_80", 24, 14, 10, 10, None),
    ("AES_192_CM_HMAC_SHA1_32", 24, 14, 4, 10, None),
    ("AES_256_CM_HMAC_SHA1_80", 32, 14, 10, 10, None),
    ("AES_256_CM_HMAC_SHA1_32", 32, 14, 4, 10, None),
]


@pytest.mark.parametrize("row", TABLE, ids=lambda row: row[0])
def test_suite_table(row: tuple[str, int, int, int, int, int | None]) -> None:
    """Each suite has the lengths and profile its RFC defines."""
    name, key, salt, rtp_tag, rtcp_tag, profile = row
    suite = SUITES[name]
    assert (suite.name, suite.master_key_bytes, suite.master_salt_bytes) == (
        name,
        key,
        salt,
    )
    assert (suite.rtp_tag_bytes, suite.rtcp_tag_bytes) == (rtp_tag, rtcp_tag)
    assert suite.protection_profile == profile
    assert suite.is_supported is (profile is not None)
    assert suite.key_salt_bytes == key + salt
    assert (suite.max_srtp_packets, suite.max_srtcp_packets) == (2**48, 2**31)


def test_table_has_exactly_these_suites() -> None:
    """No suite is missing from, or added to, the table tests."""
    assert set(SUITES) == {row[0] for row in TABLE}


def test_lookup_is_case_insensitive() -> None:
    """Suite names are ABNF literals, so lookup ignores case."""
    assert suite_by_name("aead_aes_128_gcm") is AEAD_AES_128_GCM
    assert suite_by_name("NO_SUCH_SUITE") is None


def test_default_policy() -> None:
    """By default the two GCM suites and AES_CM_80 are allowed, best first."""
    policy = SrtpPolicy()
    assert policy.allowed_suites == DEFAULT_ALLOWED_SUITES
    assert policy.suites == (
        AEAD_AES_256_GCM,
        AEAD_AES_128_GCM,
        AES_CM_128_HMAC_SHA1_80,
    )
    assert not policy.allow_32
    assert policy.replay_window_packets == 1024


def test_policy_order_comes_from_the_table() -> None:
    """The preference order ignores the order suites are listed in."""
    policy = SrtpPolicy(
        allowed_suites=(
            "AES_CM_128_HMAC_SHA1_80",
            "AEAD_AES_256_GCM",
            "AEAD_AES_256_GCM",
        ),
        allow_32=True,
    )
    assert policy.suites == (
        AEAD_AES_256_GCM,
        AES_CM_128_HMAC_SHA1_80,
        AES_CM_128_HMAC_SHA1_32,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"allowed_suites": ()},
        {"allowed_suites": ("AES_256_CM_HMAC_SHA1_80",)},
        {"allowed_suites": ("NO_SUCH_SUITE",)},
        {"allowed_suites": ("AES_CM_128_HMAC_SHA1_32",)},
        {"replay_window_packets": 63},
        {"replay_window_packets": 0x8000},
    ],
)
def test_invalid_policies_are_config_errors(kwargs: dict[str, object]) -> None:
    """Empty, unsupported, un-enabled _32 and bad windows raise ConfigError."""
    with pytest.raises(ConfigError):
        SrtpPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_frozen_and_replace_revalidates() -> None:
    """SrtpPolicy is immutable; dataclasses.replace validates again."""
    policy = SrtpPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.allow_32 = True  # type: ignore[misc]
    assert AES_CM_128_HMAC_SHA1_32 in dataclasses.replace(policy, allow_32=True).suites
    with pytest.raises(ConfigError):
        dataclasses.replace(policy, replay_window_packets=1)


def test_clamp_window() -> None:
    """Windows are clamped to what libsrtp accepts."""
    policy = SrtpPolicy()
    assert [policy.clamp_window(n) for n in (0, 64, 500, 10**6)] == [
        64,
        64,
        500,
        0x7FFF,
    ]
