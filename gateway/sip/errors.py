"""SIP error classes (style guide: Remote*/Local* split).

``RemoteSipError`` means the peer sent something that breaks RFC 3261; it
carries the status code and reason phrase that the owning layer replies with
(or, for a response or a stream, the reason it drops the message or closes
the connection). ``LocalSipError`` means we misused the API: a bug.
"""

from __future__ import annotations

from gateway.errors import SipError
from gateway.sip.status import reason_phrase

__all__ = ["LocalSipError", "RemoteSipError", "SipError"]


class RemoteSipError(SipError):
    """The peer's message is malformed or unacceptable.

    ``status`` is the 4xx/5xx reply to send when the message was a request
    (400 by default); ``reason`` is its phrase, the standard one by default.
    """

    status: int
    reason: str

    def __init__(self, message: str, status: int = 400, reason: str | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason if reason is not None else reason_phrase(status)


class LocalSipError(SipError):
    """Our own code misused the SIP API (a bug, never the peer's fault)."""
