"""Serialize SIP messages to bytes (RFC 3261 §7).

The start line, then every header line in order with its own name spelling
and raw value, then CRLF and the body. Content-Length always equals the body
length: an existing Content-Length line is rewritten in place (keeping ``l``
or ``Content-Length`` as spelled), otherwise one is appended. For a message
parsed from canonical bytes (``Name: value`` lines, correct Content-Length),
``serialize(parse_message(b)) == b``.
"""

from __future__ import annotations

from gateway.sip.errors import LocalSipError
from gateway.sip.message import SipRequest, SipResponse, canonical_name

__all__ = ["serialize"]

_FORBIDDEN = ("\r", "\n")


def _start_line(message: SipRequest | SipResponse) -> str:
    if isinstance(message, SipRequest):
        return f"{message.method} {message.uri} {message.version}"
    return f"{message.version} {message.status:03d} {message.reason}"


def _check(text: str, what: str) -> str:
    # A CR or LF inside a value would let its author inject header lines.
    if any(char in text for char in _FORBIDDEN):
        raise LocalSipError(f"CR or LF in {what}: {text[:80]!r}")
    return text


def serialize(message: SipRequest | SipResponse) -> bytes:
    """Encode ``message`` as UTF-8 bytes with a correct Content-Length.

    Raises LocalSipError if a start-line element, header name or value holds
    CR or LF (header injection), or if the message has several Content-Length
    lines.
    """
    lines = [_check(_start_line(message), "start line")]
    length = str(len(message.body))
    has_length = False
    for name, value in message.headers:
        if canonical_name(name) == "content-length":
            if has_length:
                raise LocalSipError("several Content-Length lines")
            has_length = True
            value = length
        lines.append(f"{_check(name, 'header name')}: {_check(value, 'header')}")
    if not has_length:
        lines.append(f"Content-Length: {length}")
    head = "\r\n".join(lines) + "\r\n\r\n"
    try:
        return head.encode("utf-8") + message.body
    except UnicodeEncodeError as exc:
        raise LocalSipError(f"header text is not encodable as UTF-8: {exc}") from None
