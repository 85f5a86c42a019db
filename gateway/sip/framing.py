"""Cut SIP messages out of a TCP/TLS byte stream (RFC 3261 §18.3).

``StreamFramer`` finds each header block's empty line, reads Content-Length
(mandatory on streams, §20.14) and returns the message's bytes once the body
is complete, ready for ``parse_message(..., stream=True)``. Between messages
it reports RFC 5626 §4.4.1 keep-alives: CRLFCRLF is a ping, a lone CRLF a
pong.

A lone CRLF is ambiguous while it is the last thing received: it may be a
pong or the first half of a ping. A server-side framer (the default) waits
for the next bytes, so a ping split across reads is still one ping. A framer
on a connection where we send the pings (``sends_pings=True``) reports the
pong at once, because the flow's keep-alive timer is waiting for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.sip.errors import RemoteSipError
from gateway.sip.grammar import parse_content_length
from gateway.sip.message import canonical_name
from gateway.sip.parse import DEFAULT_LIMITS, SipLimits

__all__ = ["KeepAlive", "StreamFramer"]

# A start line is printable ASCII or UTF-8; anything else (a TLS record on a
# TCP port, binary junk) is garbage and closes the connection early.
_START_LINE_RE = re.compile(
    rb"(SIP/[0-9]+\.[0-9]+ [0-9]{3}( [^\x00-\x08\x0a-\x1f\x7f]*)?"
    rb"|[!-~]+ [!-~]+ SIP/[0-9]+\.[0-9]+)",
    re.IGNORECASE,
)
_BAD_PREFIX_RE = re.compile(rb"[^\t\x20-\x7e\x80-\xff]")


@dataclass(frozen=True, slots=True, kw_only=True)
class KeepAlive:
    """An RFC 5626 §4.4.1 keep-alive: ``is_ping`` for CRLFCRLF, else a CRLF pong."""

    is_ping: bool


class StreamFramer:
    """Incremental SIP message framer for one stream connection.

    Feed received bytes to ``receive_data``; it returns complete messages
    (bytes) and ``KeepAlive`` items in order. It raises RemoteSipError when
    the stream is garbage or a message exceeds ``limits``; the caller should
    then close the connection, as resynchronising is impossible (§18.3).
    """

    def __init__(
        self, limits: SipLimits = DEFAULT_LIMITS, *, sends_pings: bool = False
    ) -> None:
        self._limits = limits
        self._sends_pings = sends_pings
        self._buffer = bytearray()
        self._scan_from = 0  # where to resume looking for CRLFCRLF
        self._start_checked = False  # the current start line passed the check
        self._message_size: int | None = None  # total size once headers are seen

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for an incomplete message."""
        return len(self._buffer)

    def receive_data(self, data: bytes) -> list[bytes | KeepAlive]:
        """Add ``data`` and return every item it completes.

        Raises RemoteSipError(400) for a garbled start line or a missing or bad
        Content-Length, 513 for a message larger than the limit, 413 for a
        Content-Length larger than the limit.
        """
        self._buffer += data
        items: list[bytes | KeepAlive] = []
        while self._buffer:
            item = (
                self._next_message()
                if self._message_size is not None or self._in_message()
                else self._next_keepalive()
            )
            if item is None:
                break
            items.append(item)
        return items

    def _in_message(self) -> bool:
        return not self._buffer.startswith(b"\r")

    def _next_keepalive(self) -> KeepAlive | None:
        buffer = self._buffer
        if buffer.startswith(b"\r\n\r\n"):
            del buffer[:4]
            return KeepAlive(is_ping=True)
        tail = bytes(buffer) if len(buffer) <= 3 else b""
        if tail in (b"\r", b"\r\n\r") or (tail == b"\r\n" and not self._sends_pings):
            return None  # wait: the rest of a CRLF or of a CRLFCRLF ping
        if buffer.startswith(b"\r\n"):
            del buffer[:2]
            return KeepAlive(is_ping=False)
        raise RemoteSipError("stray CR between messages")

    def _next_message(self) -> bytes | None:
        if self._message_size is None:
            self._message_size = self._find_message_size()
            if self._message_size is None:
                return None
        if len(self._buffer) < self._message_size:
            return None
        message = bytes(self._buffer[: self._message_size])
        del self._buffer[: self._message_size]
        self._message_size = None
        self._scan_from = 0
        self._start_checked = False
        return message

    def _find_message_size(self) -> int | None:
        buffer = self._buffer
        self._check_start_line()
        end = buffer.find(b"\r\n\r\n", self._scan_from)
        if end < 0:
            if len(buffer) > self._limits.max_message_bytes:
                raise RemoteSipError("header section exceeds the size limit", 513)
            self._scan_from = max(0, len(buffer) - 3)
            return None
        length = self._content_length(bytes(buffer[:end]))
        if length > self._limits.max_message_bytes:
            raise RemoteSipError(f"Content-Length {length} exceeds the limit", 413)
        size = end + 4 + length
        if size > self._limits.max_message_bytes:
            raise RemoteSipError(f"message of {size} bytes exceeds the limit", 513)
        return size

    def _check_start_line(self) -> None:
        if self._start_checked:
            return
        line_end = self._buffer.find(b"\r\n")
        first = bytes(self._buffer if line_end < 0 else self._buffer[:line_end])
        if line_end < 0 and first.endswith(b"\r"):
            first = first[:-1]  # the CR of a CRLF still on its way
        if _BAD_PREFIX_RE.search(first):
            raise RemoteSipError("garbage on the stream (control byte in start line)")
        if line_end < 0:
            if len(first) > self._limits.max_header_value_bytes:
                raise RemoteSipError("start line exceeds the size limit")
            return
        if not _START_LINE_RE.fullmatch(first):
            raise RemoteSipError(f"garbage on the stream: {first[:60]!r}")
        self._start_checked = True

    @staticmethod
    def _content_length(head: bytes) -> int:
        # Latin-1 never fails; the full UTF-8 check happens in parse_message.
        text = re.sub(r"\r\n[ \t]+", " ", head.decode("latin-1"))
        values = [
            value
            for name, _, value in (line.partition(":") for line in text.split("\r\n"))
            if canonical_name(name.rstrip(" \t")) == "content-length"
        ]
        if not values:
            raise RemoteSipError("Content-Length is mandatory on a stream (§20.14)")
        if len(values) > 1:
            raise RemoteSipError("more than one Content-Length")
        return parse_content_length(values[0])
