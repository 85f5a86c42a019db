"""SRTP and SRTCP contexts: the one module that touches pylibsrtp (libsrtp).

An :class:`SrtpContext` holds one master key for one direction: outbound
contexts protect, inbound contexts unprotect and keep the replay window
(RFC 3711 §3.3.2). An :class:`SrtpLeg` pairs the key we generated for a call
leg (outbound) with the key its endpoint sent us (inbound).

The per-packet methods are thin on purpose (the relay's budget is a few
percent over a bare pylibsrtp loop): no logging, no checks that libsrtp
already makes, and wrong-direction calls go to a stub chosen at construction
instead of a branch per packet. libsrtp's failures become
:class:`RemoteSrtpError` with a ``kind`` the relay counts; they never carry
key material.

Limits inherited from pylibsrtp 1.0: packets are processed in a 1500-byte
buffer, so protect accepts at most :data:`MAX_PROTECT_RTP_BYTES` (RTP) and
:data:`MAX_PROTECT_RTCP_BYTES` (RTCP); longer packets fail with kind
``bad_packet``. libsrtp's SRTCP replay window is fixed at 128 packets. A
context is not thread-safe (one shared buffer), which suits one event loop.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from enum import Enum
from types import MappingProxyType
from typing import NoReturn

import pylibsrtp

from gateway.srtp.errors import (
    LocalSrtpError,
    RemoteSrtpError,
    SrtpError,
    SrtpFailure,
)
from gateway.srtp.keys import CryptoAttribute, window_size_hint
from gateway.srtp.suites import SrtpPolicy, SrtpSuite, suite_by_name

__all__ = [
    "MAX_PROTECT_RTCP_BYTES",
    "MAX_PROTECT_RTP_BYTES",
    "Direction",
    "SrtpContext",
    "SrtpLeg",
]

_BUFFER_BYTES = 1500  # pylibsrtp.Session's fixed work buffer.
MAX_PROTECT_RTP_BYTES = _BUFFER_BYTES - pylibsrtp.SRTP_MAX_TRAILER_LEN
"""Longest RTP packet protect_rtp accepts (pylibsrtp reserves trailer room)."""
MAX_PROTECT_RTCP_BYTES = _BUFFER_BYTES - pylibsrtp.SRTP_MAX_SRTCP_TRAILER_LEN
"""Longest RTCP packet protect_rtcp accepts."""

_Transform = Callable[[bytes], bytes]

# suites.py keys suites by IANA DTLS-SRTP profile number (RFC 5764 §4.1.2,
# RFC 7714 §14.2); these are pylibsrtp's names for the same profiles.
_PROFILES: Mapping[int, int] = MappingProxyType(
    {
        0x0001: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
        0x0002: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
        0x0007: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
        0x0008: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
    }
)

# pylibsrtp raises Error(message) with libsrtp's status text. Per packet,
# almost every status is caused by the bytes we were given (the peer's, or
# the other leg's packet being relayed): auth and replay are named, the rest
# is a bad packet. Only these statuses mean our process or our use is broken.
_KIND_BY_STATUS: Mapping[str, SrtpFailure] = MappingProxyType(
    {
        "authentication failure": SrtpFailure.AUTH,
        "replay check failed (bad index)": SrtpFailure.REPLAY,
        "replay check failed (index too old)": SrtpFailure.REPLAY,
        "packet index is too old to consider": SrtpFailure.REPLAY,
        "packet index advanced, reset needed": SrtpFailure.REPLAY,
    }
)
_LOCAL_STATUSES = frozenset(
    {
        "couldn't allocate memory",
        "couldn't deallocate properly",
        "couldn't initialize",
        "algorithm failed test routine",
        "unsupported operation",
        "can't use key any more",  # 2^48 SRTP / 2^31 SRTCP: we failed to rekey.
        "error in use of socket",
        "error in use POSIX signals",
        "error while using semaphores",
        "error while using pfkey",
    }
)

# Exceptions pylibsrtp raises per packet: libsrtp status, packet too long
# (ValueError) and not bytes (TypeError).
_PACKET_ERRORS = (pylibsrtp.Error, ValueError, TypeError)


def _convert(exc: Exception) -> SrtpError:
    """Map a pylibsrtp per-packet exception to ours (off the fast path)."""
    if isinstance(exc, pylibsrtp.Error):
        status = str(exc)
        if status in _LOCAL_STATUSES:
            return LocalSrtpError(f"libsrtp: {status}")
        kind = _KIND_BY_STATUS.get(status, SrtpFailure.BAD_PACKET)
        return RemoteSrtpError(f"libsrtp: {status}", kind)
    if isinstance(exc, ValueError):
        return RemoteSrtpError("packet too long for SRTP", SrtpFailure.BAD_PACKET)
    return LocalSrtpError("SRTP packets must be bytes")


class Direction(Enum):
    """Which way a context's packets travel, seen from the gateway."""

    INBOUND = "inbound"
    """Packets from the peer, protected with the peer's key: unprotect only."""
    OUTBOUND = "outbound"
    """Packets to the peer, protected with our key: protect only."""


def _wrong_direction_inbound(packet: bytes) -> NoReturn:
    raise LocalSrtpError("an inbound SRTP context cannot protect")


def _wrong_direction_outbound(packet: bytes) -> NoReturn:
    raise LocalSrtpError("an outbound SRTP context cannot unprotect")


def _new_session(
    suite: SrtpSuite, key_salt: bytes, direction: Direction, window: int
) -> pylibsrtp.Session:
    profile = _PROFILES.get(suite.protection_profile or 0)
    if profile is None:
        raise LocalSrtpError(f"libsrtp cannot run {suite.name}")
    if not isinstance(key_salt, bytes) or len(key_salt) != suite.key_salt_bytes:
        raise LocalSrtpError(f"{suite.name} needs {suite.key_salt_bytes} key bytes")
    if direction is Direction.INBOUND:
        ssrc_type = pylibsrtp.Policy.SSRC_ANY_INBOUND
    else:
        ssrc_type = pylibsrtp.Policy.SSRC_ANY_OUTBOUND
    try:
        policy = pylibsrtp.Policy(
            key=key_salt, ssrc_type=ssrc_type, srtp_profile=profile
        )
        policy.window_size = window
        # Never re-protect an index already sent: with a different payload
        # that reuses keystream, and with GCM it would leak the auth key.
        policy.allow_repeat_tx = False
        return pylibsrtp.Session(policy)
    except (pylibsrtp.Error, ValueError) as exc:
        raise LocalSrtpError(f"libsrtp refused the policy: {exc}") from None


class SrtpContext:
    """SRTP and SRTCP protection for one master key in one direction.

    Built from a supported suite, its master key||salt and a direction; one
    context serves every SSRC the key covers (libsrtp's ANY_INBOUND /
    ANY_OUTBOUND templates). ``replay_window_packets`` sizes the SRTP replay
    window of an inbound context (64..32767, RFC 3711 §3.3.2).

    Raises :class:`LocalSrtpError` on a bad suite, key length or window.
    """

    __slots__ = (
        "_protect",
        "_protect_rtcp",
        "_unprotect",
        "_unprotect_rtcp",
        "direction",
        "suite",
    )

    def __init__(
        self,
        *,
        suite: SrtpSuite,
        key_salt: bytes,
        direction: Direction,
        replay_window_packets: int = 1024,
    ) -> None:
        session = _new_session(suite, key_salt, direction, replay_window_packets)
        self.suite = suite
        self.direction = direction
        self._protect: _Transform = _wrong_direction_inbound
        self._protect_rtcp: _Transform = _wrong_direction_inbound
        self._unprotect: _Transform = _wrong_direction_outbound
        self._unprotect_rtcp: _Transform = _wrong_direction_outbound
        if direction is Direction.OUTBOUND:
            self._protect = session.protect
            self._protect_rtcp = session.protect_rtcp
        else:
            self._unprotect = session.unprotect
            self._unprotect_rtcp = session.unprotect_rtcp

    def protect_rtp(self, packet: bytes) -> bytes:
        """Return the SRTP packet for RTP ``packet`` (RFC 3711 §3.3, RFC 7714 §7).

        Raises :class:`RemoteSrtpError` (``bad_packet``: not RTP or longer
        than :data:`MAX_PROTECT_RTP_BYTES`; ``replay``: index already sent)
        and :class:`LocalSrtpError` on an inbound context.
        """
        try:
            return self._protect(packet)
        except _PACKET_ERRORS as exc:
            raise _convert(exc) from None

    def unprotect_rtp(self, packet: bytes) -> bytes:
        """Return the RTP packet inside SRTP ``packet``, checking tag and replay.

        Raises :class:`RemoteSrtpError` (``auth``, ``replay`` or
        ``bad_packet``) and :class:`LocalSrtpError` on an outbound context.
        """
        try:
            return self._unprotect(packet)
        except _PACKET_ERRORS as exc:
            raise _convert(exc) from None

    def protect_rtcp(self, packet: bytes) -> bytes:
        """Return the SRTCP packet for compound RTCP ``packet`` (RFC 3711 §3.4).

        Raises like :meth:`protect_rtp` (limit :data:`MAX_PROTECT_RTCP_BYTES`).
        """
        try:
            return self._protect_rtcp(packet)
        except _PACKET_ERRORS as exc:
            raise _convert(exc) from None

    def unprotect_rtcp(self, packet: bytes) -> bytes:
        """Return the RTCP inside SRTCP ``packet``, checking tag and replay.

        Raises like :meth:`unprotect_rtp`.
        """
        try:
            return self._unprotect_rtcp(packet)
        except _PACKET_ERRORS as exc:
            raise _convert(exc) from None


class SrtpLeg:
    """SRTP for one call leg: our outbound key and the endpoint's inbound key.

    ``local_key_salt`` is the key the gateway generated for this leg and sent
    in its ``a=crypto``; ``remote_key_salt`` is the one the endpoint sent.
    The per-packet methods are the contexts' own bound methods.

    Raises :class:`RemoteSrtpError` (kind ``sdes``) when the endpoint sent
    our own key back (one key both ways would void SRTP's key separation),
    and :class:`LocalSrtpError` like :class:`SrtpContext`.
    """

    __slots__ = (
        "inbound",
        "outbound",
        "protect_rtcp",
        "protect_rtp",
        "suite",
        "unprotect_rtcp",
        "unprotect_rtp",
    )

    def __init__(
        self,
        *,
        suite: SrtpSuite,
        local_key_salt: bytes,
        remote_key_salt: bytes,
        replay_window_packets: int = 1024,
    ) -> None:
        if hmac.compare_digest(local_key_salt, remote_key_salt):
            raise RemoteSrtpError("peer sent our own SRTP key", SrtpFailure.SDES)
        self.suite = suite
        self.outbound = SrtpContext(
            suite=suite, key_salt=local_key_salt, direction=Direction.OUTBOUND
        )
        self.inbound = SrtpContext(
            suite=suite,
            key_salt=remote_key_salt,
            direction=Direction.INBOUND,
            replay_window_packets=replay_window_packets,
        )
        self.protect_rtp: _Transform = self.outbound.protect_rtp
        self.protect_rtcp: _Transform = self.outbound.protect_rtcp
        self.unprotect_rtp: _Transform = self.inbound.unprotect_rtp
        self.unprotect_rtcp: _Transform = self.inbound.unprotect_rtcp

    @classmethod
    def from_sdes(
        cls, *, local: CryptoAttribute, remote: CryptoAttribute, policy: SrtpPolicy
    ) -> SrtpLeg:
        """Build a leg from our ``a=crypto`` line and the endpoint's.

        The endpoint's WSH hint (RFC 4568 §6.3.6) can only widen our inbound
        replay window, within libsrtp's limits.

        Raises :class:`RemoteSrtpError` (kind ``sdes``) when the lines name
        different suites or a suite ``policy`` does not accept.
        """
        suite = suite_by_name(local.suite)
        if suite is None or suite is not suite_by_name(remote.suite):
            raise RemoteSrtpError(
                "crypto lines name different suites", SrtpFailure.SDES
            )
        if suite not in policy.suites:
            raise RemoteSrtpError(f"{suite.name} is not allowed", SrtpFailure.SDES)
        window = max(policy.replay_window_packets, window_size_hint(remote) or 0)
        return cls(
            suite=suite,
            local_key_salt=local.key_salt,
            remote_key_salt=remote.key_salt,
            replay_window_packets=policy.clamp_window(window),
        )
