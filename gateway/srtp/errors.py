"""SRTP error classes (style guide: Remote*/Local* split).

``RemoteSrtpError`` means a peer sent something we refuse: a packet that
fails authentication, a replayed packet, bytes that are not SRTP at all, or
an SDES ``a=crypto`` line we cannot parse or accept. Its ``kind`` says which,
so the relay can count failures per kind without parsing messages. Packet
failures are counted and sampled by the relay, never raised past it.

``LocalSrtpError`` means we misused the API (a bug, never the peer's fault).
"""

from __future__ import annotations

from enum import StrEnum

from gateway.errors import SrtpError

__all__ = ["LocalSrtpError", "RemoteSrtpError", "SrtpError", "SrtpFailure"]


class SrtpFailure(StrEnum):
    """Why a peer's SRTP packet or SDES attribute was refused."""

    AUTH = "auth"
    """The authentication tag did not verify (RFC 3711 §3.3, RFC 7714 §7.2)."""

    REPLAY = "replay"
    """The packet index was already seen or is behind the window (RFC 3711 §3.3.2)."""

    BAD_PACKET = "bad_packet"
    """The bytes are not a packet we can process (too short, too long, bad header)."""

    SDES = "sdes"
    """An ``a=crypto`` attribute is malformed or unacceptable (RFC 4568)."""


class RemoteSrtpError(SrtpError):
    """A peer's SRTP/SRTCP packet or SDES attribute was refused.

    ``kind`` is an :class:`SrtpFailure`; being a ``StrEnum`` it also compares
    equal to its string value (``err.kind == "auth"``).
    """

    kind: SrtpFailure

    def __init__(self, message: str, kind: SrtpFailure) -> None:
        super().__init__(message)
        self.kind = kind


class LocalSrtpError(SrtpError):
    """Our own code misused the SRTP API (a bug, never the peer's fault)."""
