"""SRTP crypto suites as data, and the admin's suite policy.

The table below lists every suite name an SDES offer (RFC 4568 §6.2, RFC 6188
§7.1, RFC 7714 §14.1) is likely to carry, with its master key and salt lengths
and tag lengths. Suites that libsrtp (through pylibsrtp 1.0) cannot run have
no ``protection_profile``: offers listing them are answered with the best
suite both sides support (pylibsrtp 1.0 has no AES-192/256-CM profile and
libsrtp has no F8 mode). Keeping their lengths lets us still validate their
key material, so a malformed line is reported as malformed, not unknown.

``protection_profile`` is the IANA DTLS-SRTP protection profile number
(RFC 5764 §4.1.2, RFC 7714 §14.2), which libsrtp also uses for its profile
enum; ``gateway.srtp.session`` maps it to pylibsrtp's constants so that this
module stays free of pylibsrtp.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from gateway.errors import ConfigError

__all__ = [
    "AEAD_AES_128_GCM",
    "AEAD_AES_256_GCM",
    "AES_CM_128_HMAC_SHA1_32",
    "AES_CM_128_HMAC_SHA1_80",
    "DEFAULT_ALLOWED_SUITES",
    "SUITES",
    "SrtpPolicy",
    "SrtpSuite",
    "suite_by_name",
]

# RFC 3711 §9.2 and RFC 4568 §6.2.1: a master key may protect at most 2^48
# SRTP packets and 2^31 SRTCP packets; RFC 6188 and RFC 7714 keep the limits.
_MAX_SRTP_PACKETS = 2**48
_MAX_SRTCP_PACKETS = 2**31


@dataclass(frozen=True, slots=True, kw_only=True)
class SrtpSuite:
    """One SRTP crypto suite: its SDES name and transform parameters."""

    name: str
    """The SDES crypto-suite name, e.g. ``AES_CM_128_HMAC_SHA1_80``."""
    rfc: str
    """Where the suite is defined for SDES."""
    master_key_bytes: int
    master_salt_bytes: int
    rtp_tag_bytes: int
    """Authentication tag appended to SRTP packets."""
    rtcp_tag_bytes: int
    """Authentication tag appended to SRTCP packets (80 bits even for _32)."""
    protection_profile: int | None
    """IANA DTLS-SRTP profile number libsrtp runs it as; None: unsupported."""
    preference: int
    """Lower is better; only meaningful for suites we can run."""
    max_srtp_packets: int = _MAX_SRTP_PACKETS
    max_srtcp_packets: int = _MAX_SRTCP_PACKETS

    @property
    def key_salt_bytes(self) -> int:
        """Length of the SDES inline key||salt (RFC 4568 §6.1)."""
        return self.master_key_bytes + self.master_salt_bytes

    @property
    def is_supported(self) -> bool:
        """Whether libsrtp can run this suite."""
        return self.protection_profile is not None


AEAD_AES_256_GCM = SrtpSuite(
    name="AEAD_AES_256_GCM",
    rfc="RFC 7714 §14.1",
    master_key_bytes=32,
    master_salt_bytes=12,
    rtp_tag_bytes=16,
    rtcp_tag_bytes=16,
    protection_profile=0x0008,
    preference=0,
)
AEAD_AES_128_GCM = SrtpSuite(
    name="AEAD_AES_128_GCM",
    rfc="RFC 7714 §14.1",
    master_key_bytes=16,
    master_salt_bytes=12,
    rtp_tag_bytes=16,
    rtcp_tag_bytes=16,
    protection_profile=0x0007,
    preference=1,
)
AES_CM_128_HMAC_SHA1_80 = SrtpSuite(
    name="AES_CM_128_HMAC_SHA1_80",
    rfc="RFC 4568 §6.2.1",
    master_key_bytes=16,
    master_salt_bytes=14,
    rtp_tag_bytes=10,
    rtcp_tag_bytes=10,
    protection_profile=0x0001,
    preference=2,
)
AES_CM_128_HMAC_SHA1_32 = SrtpSuite(
    name="AES_CM_128_HMAC_SHA1_32",
    rfc="RFC 4568 §6.2.2",
    master_key_bytes=16,
    master_salt_bytes=14,
    rtp_tag_bytes=4,
    rtcp_tag_bytes=10,
    protection_profile=0x0002,
    preference=3,
)


def _unsupported(name: str, rfc: str, key_bytes: int, tag_bytes: int) -> SrtpSuite:
    return SrtpSuite(
        name=name,
        rfc=rfc,
        master_key_bytes=key_bytes,
        master_salt_bytes=14,
        rtp_tag_bytes=tag_bytes,
        rtcp_tag_bytes=10,
        protection_profile=None,
        preference=1000,
    )


SUITES: Mapping[str, SrtpSuite] = MappingProxyType(
    {
        suite.name: suite
        for suite in (
            AEAD_AES_256_GCM,
            AEAD_AES_128_GCM,
            AES_CM_128_HMAC_SHA1_80,
            AES_CM_128_HMAC_SHA1_32,
            _unsupported("F8_128_HMAC_SHA1_80", "RFC 4568 §6.2.3", 16, 10),
            _unsupported("AES_192_CM_HMAC_SHA1_80", "RFC 6188 §7.1", 24, 10),
            _unsupported("AES_192_CM_HMAC_SHA1_32", "RFC 6188 §7.1", 24, 4),
            _unsupported("AES_256_CM_HMAC_SHA1_80", "RFC 6188 §7.1", 32, 10),
            _unsupported("AES_256_CM_HMAC_SHA1_32", "RFC 6188 §7.1", 32, 4),
        )
    }
)
"""Every suite name we recognise, supported or not."""

DEFAULT_ALLOWED_SUITES: tuple[str, ...] = (
    AEAD_AES_256_GCM.name,
    AEAD_AES_128_GCM.name,
    AES_CM_128_HMAC_SHA1_80.name,
)

# RFC 3711 §3.3.2 requires a replay window of at least 64; libsrtp refuses
# windows of 2^15 packets or more.
_MIN_WINDOW_PACKETS = 64
_MAX_WINDOW_PACKETS = 0x7FFF


def suite_by_name(name: str) -> SrtpSuite | None:
    """Return the suite called ``name``, or None if we do not know it.

    ABNF literals are case-insensitive (RFC 5234 §2.3), so is this lookup.
    """
    return SUITES.get(name.upper())


@dataclass(frozen=True, slots=True, kw_only=True)
class SrtpPolicy:
    """Which suites the gateway negotiates, and its replay window.

    ``allowed_suites`` names the suites we accept; their order does not
    matter, preference comes from the suite table (AEAD_AES_256_GCM first).
    AES_CM_128_HMAC_SHA1_32 weakens authentication to 32 bits, so it is
    accepted only when ``allow_32`` is set, for old endpoints that offer
    nothing else. ``replay_window_packets`` is the SRTP receive window
    (RFC 3711 §3.3.2); video bursts reorder more than voice, hence a default
    larger than libsrtp's 128.

    Raises :class:`gateway.errors.ConfigError` when invalid.
    """

    allowed_suites: tuple[str, ...] = DEFAULT_ALLOWED_SUITES
    allow_32: bool = False
    replay_window_packets: int = 1024
    _ordered: tuple[SrtpSuite, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.allowed_suites:
            raise ConfigError("srtp: allowed_suites must not be empty")
        chosen: list[SrtpSuite] = []
        for name in self.allowed_suites:
            suite = SUITES.get(name)
            if suite is None or not suite.is_supported:
                raise ConfigError(f"srtp: suite {name!r} is not supported")
            if suite is AES_CM_128_HMAC_SHA1_32 and not self.allow_32:
                raise ConfigError(
                    "srtp: AES_CM_128_HMAC_SHA1_32 requires allow_32 = true"
                )
            if suite not in chosen:
                chosen.append(suite)
        if self.allow_32 and AES_CM_128_HMAC_SHA1_32 not in chosen:
            chosen.append(AES_CM_128_HMAC_SHA1_32)
        window = self.replay_window_packets
        if not _MIN_WINDOW_PACKETS <= window <= _MAX_WINDOW_PACKETS:
            raise ConfigError(
                f"srtp: replay_window_packets must be in "
                f"{_MIN_WINDOW_PACKETS}..{_MAX_WINDOW_PACKETS}, not {window}"
            )
        chosen.sort(key=lambda suite: suite.preference)
        object.__setattr__(self, "_ordered", tuple(chosen))

    @property
    def suites(self) -> tuple[SrtpSuite, ...]:
        """The acceptable suites, best first."""
        return self._ordered

    def clamp_window(self, packets: int) -> int:
        """Return ``packets`` limited to the window sizes libsrtp accepts."""
        return max(_MIN_WINDOW_PACKETS, min(_MAX_WINDOW_PACKETS, packets))
