"""SDP error classes (style guide: Remote*/Local* split).

``RemoteSdpError`` means the peer's session description breaks RFC 8866 or
cannot be answered under RFC 3264; it carries the SIP status that the owning
layer (the SIP leg) replies with: 400 for a body that does not parse, 488 for
a well-formed offer that we cannot accept. ``LocalSdpError`` means our own
code misused the SDP API: a bug, never the peer's fault.

The SDP package does not import ``gateway.sip``; the two phrases it needs are
spelled here so that imports keep pointing down only.
"""

from __future__ import annotations

from gateway.errors import SdpError

__all__ = ["LocalSdpError", "RemoteSdpError", "SdpError"]

_PHRASES: dict[int, str] = {400: "Bad Request", 488: "Not Acceptable Here"}


class RemoteSdpError(SdpError):
    """The peer's SDP is malformed (400) or not acceptable (488).

    ``line_number`` is the 1-based line of the offending SDP line when known,
    ``status`` and ``reason`` are the SIP reply to send for a request.
    """

    status: int
    reason: str
    line_number: int | None

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        line_number: int | None = None,
    ) -> None:
        if line_number is not None:
            message = f"SDP line {line_number}: {message}"
        super().__init__(message)
        self.status = status
        self.reason = _PHRASES.get(status, "Bad Request")
        self.line_number = line_number


class LocalSdpError(SdpError):
    """Our own code misused the SDP API (a bug, never the peer's fault)."""
