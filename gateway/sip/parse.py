"""Parse SIP messages from bytes (RFC 3261 §7, §18.3, §20, §25).

``parse_message`` turns one datagram, or one message cut from a stream by
``gateway.sip.framing.StreamFramer``, into a ``SipRequest`` or ``SipResponse``.
Everything the transaction layer relies on (start line, Via, From, To,
Call-ID, CSeq, Content-Length, Max-Forwards, Contact) is checked here, so a
message that parses can be routed without further ``RemoteSipError``.

Limits (``SipLimits``) are checked on byte counts before the header list or
any typed value is built.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import ConfigError
from gateway.sip.errors import RemoteSipError
from gateway.sip.grammar import (
    is_token,
    parse_content_length,
    parse_int_header,
    parse_max_forwards,
)
from gateway.sip.message import Headers, SipRequest, SipResponse, canonical_name
from gateway.sip.uri import AbsoluteUri, SipUri, parse_uri

__all__ = ["DEFAULT_LIMITS", "SipLimits", "parse_message"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SipLimits:
    """Resource limits for one SIP message (all counts are upper bounds).

    ``max_message_bytes`` bounds headers plus body (exceeding it gives 513,
    a Content-Length beyond it 413); ``max_headers`` bounds header lines
    (continuation lines not counted); ``max_via`` bounds Via elements;
    ``max_header_value_bytes`` bounds one unfolded header line.
    """

    max_message_bytes: int = 65535
    max_headers: int = 200
    max_via: int = 40
    max_header_value_bytes: int = 8192

    def __post_init__(self) -> None:
        for name in (
            "max_message_bytes",
            "max_headers",
            "max_via",
            "max_header_value_bytes",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"SipLimits.{name} must be a positive int: {value!r}")
        if self.max_message_bytes < 256:
            raise ConfigError("SipLimits.max_message_bytes must be at least 256")


DEFAULT_LIMITS = SipLimits()

_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)
# RFC 3261 §25.1 Call-ID = word ["@" word].
_WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
_CALL_ID_RE = re.compile(f"{_WORD}(@{_WORD})?")
# RFC 3261 §25.1 rfc1123-date; only GMT is allowed (RFC 4475 §3.1.2.12).
_DATE_RE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)
_FOLD_RE = re.compile(r"\r\n[ \t]+")
# Headers that may appear once only (§20; RFC 4475 §3.3.x "multi01").
_SINGLE_HEADERS = frozenset(
    {"to", "from", "call-id", "cseq", "content-length", "max-forwards"}
)
_MANDATORY = ("via", "to", "from", "call-id", "cseq")


def parse_message(
    data: bytes, limits: SipLimits = DEFAULT_LIMITS, *, stream: bool = False
) -> SipRequest | SipResponse:
    """Parse one SIP message (RFC 3261 §7).

    ``stream=True`` means ``data`` was framed from TCP/TLS: Content-Length is
    then mandatory and must match the body exactly (§18.3). For a datagram,
    a body longer than Content-Length is truncated and a missing
    Content-Length means "the rest of the datagram".

    Raises RemoteSipError carrying the reply status: 400 for malformed input,
    413 for a Content-Length above the size limit, 513 for an oversized
    message, 416 for an unsupported Request-URI scheme, 505 for a SIP version
    other than 2.0.
    """
    if len(data) > limits.max_message_bytes:
        raise RemoteSipError(f"message of {len(data)} bytes exceeds the limit", 513)
    # RFC 3261 §7.5: CRLFs before the start line are ignored.
    start = 0
    while data.startswith(b"\r\n", start):
        start += 2
    end = data.find(b"\r\n\r\n", start)
    if end < 0:
        raise RemoteSipError("no empty line after the headers")
    try:
        head = data[start:end].decode("utf-8")
    except UnicodeDecodeError:
        raise RemoteSipError("header section is not valid UTF-8") from None
    first, _, header_text = head.partition("\r\n")
    headers = _parse_headers(header_text, limits)
    body = _extract_body(data[end + 4 :], headers, limits, stream)
    message = _parse_start_line(first, headers, body)
    _check_headers(message, limits)
    return message


def _parse_start_line(
    line: str, headers: Headers, body: bytes
) -> SipRequest | SipResponse:
    if line[:4].upper() == "SIP/":
        return _parse_status_line(line, headers, body)
    return _parse_request_line(line, headers, body)


def _check_version(version: str) -> str:
    if not _VERSION_RE.fullmatch(version):
        raise RemoteSipError(f"bad SIP version {version[:20]!r}")
    if version.upper() != "SIP/2.0":
        raise RemoteSipError(f"unsupported version {version[:20]!r}", 505)
    return "SIP/2.0"


def _parse_request_line(line: str, headers: Headers, body: bytes) -> SipRequest:
    # §7.1: exactly one SP between the elements, none elsewhere (RFC 4475
    # §3.1.2.8-10: lwsruri, lwsstart, trws are rejected).
    parts = line.split(" ")
    if len(parts) != 3 or not all(parts):
        raise RemoteSipError(f"malformed Request-Line {line[:120]!r}")
    method, uri_text, version = parts
    if not is_token(method):
        raise RemoteSipError(f"method is not a token: {method[:40]!r}")
    version = _check_version(version)
    uri = parse_uri(uri_text)
    if isinstance(uri, AbsoluteUri):
        raise RemoteSipError(f"unsupported URI scheme {uri.scheme!r}", 416)
    if isinstance(uri, SipUri) and uri.headers:
        # §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475
        # §3.1.2.11 escruri).
        raise RemoteSipError("Request-URI carries URI headers")
    return SipRequest(
        headers=headers, body=body, version=version, method=method, uri=uri_text
    )


def _parse_status_line(line: str, headers: Headers, body: bytes) -> SipResponse:
    version, _, rest = line.partition(" ")
    version = _check_version(version)
    code, _, reason = rest.partition(" ")
    # RFC 4475 §3.1.1.13 requires the SP before an empty reason; we also take a
    # status line ending right after the code (lenient, see corpus README).
    if len(code) != 3 or not code.isascii() or not code.isdigit():
        raise RemoteSipError(f"bad status code {code[:20]!r}")
    status = int(code)
    if not 100 <= status <= 699:
        raise RemoteSipError(f"status code {status} out of range")
    if any(ord(c) < 0x20 and c != "\t" for c in reason) or "\x7f" in reason:
        raise RemoteSipError("control character in reason phrase")
    return SipResponse(
        headers=headers, body=body, version=version, status=status, reason=reason
    )


def _parse_headers(text: str, limits: SipLimits) -> Headers:
    if not text:
        return Headers()
    if text[0] in " \t":
        raise RemoteSipError("continuation line right after the start line")
    # Counting line starts first keeps a flood of tiny headers from being
    # split into a huge list.
    count = 1 + text.count("\r\n") - len(_FOLD_RE.findall(text))
    if count > limits.max_headers:
        raise RemoteSipError(f"{count} header lines exceed the limit")
    fields: list[tuple[str, str]] = []
    for line in _FOLD_RE.sub(" ", text).split("\r\n"):
        if len(line) > limits.max_header_value_bytes:
            raise RemoteSipError("header line exceeds the size limit")
        if "\r" in line or "\n" in line:
            raise RemoteSipError("bare CR or LF in a header line")
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not is_token(name):
            raise RemoteSipError(f"malformed header line {line[:80]!r}")
        fields.append((name, value.strip(" \t")))
    return Headers(fields)


def _content_length(headers: Headers) -> int | None:
    values = headers.get_all("content-length")
    if not values:
        return None
    if len(values) > 1:
        raise RemoteSipError("more than one Content-Length")
    return parse_content_length(values[0])


def _extract_body(
    rest: bytes, headers: Headers, limits: SipLimits, stream: bool
) -> bytes:
    length = _content_length(headers)
    if length is None:
        if stream:
            raise RemoteSipError("Content-Length is mandatory on a stream (§20.14)")
        return rest
    if length > limits.max_message_bytes:
        raise RemoteSipError(f"Content-Length {length} exceeds the limit", 413)
    if len(rest) < length:
        raise RemoteSipError(f"body is {len(rest)} bytes, Content-Length {length}")
    if stream and len(rest) > length:
        raise RemoteSipError("bytes after the body of a framed message")
    # §18.3: extra bytes after Content-Length in a datagram are discarded.
    return rest[:length]


def _check_single(message: SipRequest | SipResponse) -> None:
    counts = Counter(canonical_name(name) for name, _ in message.headers)
    for name in _SINGLE_HEADERS:
        if counts[name] > 1:
            raise RemoteSipError(f"more than one {name} header")
    for name in _MANDATORY:
        if not counts[name]:
            raise RemoteSipError(f"missing mandatory {name} header")


def _check_call_id(value: str) -> None:
    if not _CALL_ID_RE.fullmatch(value):
        raise RemoteSipError(f"bad Call-ID {value[:80]!r}")


def _check_date(value: str) -> None:
    if not _DATE_RE.fullmatch(value):
        raise RemoteSipError(f"bad Date {value[:80]!r}")


def _check_expires(value: str) -> None:
    parse_int_header(value, "Expires")


def _check_max_forwards(value: str) -> None:
    parse_max_forwards(value)


# Header -> validator for simple single values (dispatch table, style guide).
_VALUE_CHECKS: dict[str, Callable[[str], None]] = {
    "call-id": _check_call_id,
    "date": _check_date,
    "expires": _check_expires,
    "max-forwards": _check_max_forwards,
}


def _check_headers(message: SipRequest | SipResponse, limits: SipLimits) -> None:
    _check_single(message)
    via_count = len(message.headers.values("via"))
    if via_count > limits.max_via:
        raise RemoteSipError(f"{via_count} Via elements exceed the limit")
    for name, check in _VALUE_CHECKS.items():
        for value in message.headers.get_all(name):
            check(value)
    # Building the typed views validates them and fills the message's cache.
    if not message.vias:
        raise RemoteSipError("empty Via header")
    for contact in message.contacts:
        if contact.param("expires") is not None:
            parse_int_header(contact.param("expires") or "", "Contact expires")
    _ = (message.from_addr, message.to_addr)
    cseq = message.cseq
    if isinstance(message, SipRequest):
        if "max-forwards" not in message.headers:
            raise RemoteSipError("missing mandatory max-forwards header")
        # §8.2.1-ish consistency check, RFC 4475 §3.1.2.17 mismatch01.
        if cseq.method != message.method:
            raise RemoteSipError(
                f"CSeq method {cseq.method!r} differs from {message.method!r}"
            )
