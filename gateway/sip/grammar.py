"""Typed SIP header values (RFC 3261 §20, §25.1).

Parsers take one header element as text (already unfolded and, for list
headers, already split at top-level commas by ``message.split_header_list``)
and return frozen dataclasses. Every parser raises
``RemoteSipError(400, <what was wrong>)`` on bad input.

Parameter conventions, shared by ``Via``, ``NameAddr`` and the URIs:
``params`` is a tuple of ``(name, value)`` pairs in received order, where
``value`` is None for a parameter without ``=``; a quoted value keeps its
quotes. ``param(name)`` looks a name up case-insensitively and returns None
when absent and "" when present without a value (``;rport``, ``;lr``).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, replace

from gateway.sip.errors import LocalSipError, RemoteSipError
from gateway.sip.uri import SipUri, Uri, parse_host, parse_port, parse_uri

__all__ = [
    "MAX_INT_HEADER",
    "CSeq",
    "NameAddr",
    "Via",
    "is_token",
    "parse_content_length",
    "parse_cseq",
    "parse_int_header",
    "parse_max_forwards",
    "parse_name_addr",
    "parse_via",
    "quote_string",
]

MAX_INT_HEADER = 2**31 - 1  # RFC 3261 §8.1.1.5, §20.14: 32-bit values.
TOKEN_CHARS = frozenset(string.ascii_letters + string.digits + "-.!%*_+`'~")
# gen-value = token / host / quoted-string: host adds IPv6 brackets and colons.
_GEN_VALUE_CHARS = TOKEN_CHARS | frozenset("[]:")
_WSP = " \t"

Param = tuple[str, str | None]


def is_token(text: str) -> bool:
    """True when ``text`` is a non-empty RFC 3261 token."""
    return bool(text) and all(char in TOKEN_CHARS for char in text)


def quote_string(text: str) -> str:
    """Quote ``text`` as a quoted-string, escaping backslash and DQUOTE."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _Scanner:
    """Cursor over one header value with the few lexical rules SIP needs."""

    __slots__ = ("pos", "text", "what")

    def __init__(self, text: str, what: str) -> None:
        self.text = text
        self.pos = 0
        self.what = what

    def error(self, problem: str) -> RemoteSipError:
        return RemoteSipError(f"bad {self.what}: {problem} in {self.text[:120]!r}")

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_ws(self) -> bool:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _WSP:
            self.pos += 1
        return self.pos > start

    def expect(self, char: str) -> None:
        self.skip_ws()
        if self.peek() != char:
            raise self.error(f"expected {char!r}")
        self.pos += 1
        self.skip_ws()

    def run(self, allowed: frozenset[str]) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in allowed:
            self.pos += 1
        return self.text[start : self.pos]

    def token(self, what: str) -> str:
        value = self.run(TOKEN_CHARS)
        if not value:
            raise self.error(f"expected {what}")
        return value

    def quoted(self) -> str:
        """Read a quoted-string at the cursor and return it raw, quotes included."""
        start = self.pos
        self.pos += 1  # opening DQUOTE
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\":
                if self.pos + 1 >= len(self.text) or self.text[self.pos + 1] in "\r\n":
                    break
                self.pos += 2
                continue
            self.pos += 1
            if char == '"':
                return self.text[start : self.pos]
            if char in "\r\n" or (ord(char) < 0x20 and char != "\t") or char == "\x7f":
                raise self.error("control character in quoted string")
        raise self.error("unterminated quoted string")

    def params(self) -> tuple[Param, ...]:
        """Read ``*( SEMI generic-param )`` up to the end of the text."""
        params: list[Param] = []
        while True:
            self.skip_ws()
            if self.at_end():
                return tuple(params)
            if self.peek() != ";":
                raise self.error(f"unexpected {self.peek()!r}")
            self.pos += 1
            self.skip_ws()
            name = self.token("parameter name")
            self.skip_ws()
            value: str | None = None
            if self.peek() == "=":
                self.pos += 1
                self.skip_ws()
                if self.peek() == '"':
                    value = self.quoted()
                else:
                    value = self.run(_GEN_VALUE_CHARS)
                    if not value:
                        raise self.error(f"empty value for parameter {name!r}")
            params.append((name, value))


def unquote(raw: str) -> str:
    """Strip the quotes of a quoted-string and resolve its backslash escapes."""
    inner = raw[1:-1]
    out: list[str] = []
    index = 0
    while index < len(inner):
        if inner[index] == "\\" and index + 1 < len(inner):
            index += 1
        out.append(inner[index])
        index += 1
    return "".join(out)


def _find_param(params: tuple[Param, ...], name: str) -> str | None:
    wanted = name.lower()
    for key, value in params:
        if key.lower() == wanted:
            return "" if value is None else value
    return None


def _set_param(
    params: tuple[Param, ...], name: str, value: str | None
) -> tuple[Param, ...]:
    if not is_token(name):
        raise LocalSipError(f"parameter name is not a token: {name!r}")
    wanted = name.lower()
    if any(key.lower() == wanted for key, _ in params):
        return tuple((k, value) if k.lower() == wanted else (k, v) for k, v in params)
    return (*params, (name, value))


def _format_params(params: tuple[Param, ...]) -> str:
    return "".join(
        f";{name}" if value is None else f";{name}={value}" for name, value in params
    )


@dataclass(frozen=True, slots=True)
class Via:
    """One Via element (RFC 3261 §20.42, §18.2.1; rport per RFC 3581).

    ``protocol`` is upper-cased ("SIP/2.0"), ``transport`` upper-cased ("UDP",
    "TCP", "TLS", "WS"...). ``host`` keeps IPv6 brackets.
    """

    protocol: str = "SIP/2.0"
    transport: str = "UDP"
    host: str = ""
    port: int | None = None
    params: tuple[Param, ...] = ()

    def __post_init__(self) -> None:
        if not self.host:
            raise LocalSipError("Via needs a host")

    def param(self, name: str) -> str | None:
        """Value of ``name``: None if absent, "" if present without a value."""
        return _find_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> Via:
        """Copy with ``name`` set to ``value`` (in place if present, else appended)."""
        return replace(self, params=_set_param(self.params, name, value))

    @property
    def branch(self) -> str | None:
        """The branch parameter, or None. RFC 3261 branches start ``z9hG4bK``."""
        return self.param("branch")

    @property
    def received(self) -> str | None:
        """The received parameter (§18.2.1), or None."""
        return self.param("received")

    @property
    def rport(self) -> str | None:
        """RFC 3581 rport: None if absent, "" if requested (no value), else the
        port the server filled in (as text)."""
        return self.param("rport")

    @property
    def maddr(self) -> str | None:
        return self.param("maddr")

    @property
    def sent_by(self) -> str:
        """``host[:port]`` as in the header."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.protocol}/{self.transport} {self.sent_by}" + _format_params(
            self.params
        )


def _read_host(scan: _Scanner) -> str:
    if scan.peek() == "[":
        end = scan.text.find("]", scan.pos)
        if end < 0:
            raise scan.error("unterminated IPv6 reference")
        host = scan.text[scan.pos : end + 1]
        scan.pos = end + 1
    else:
        host = scan.run(frozenset(string.ascii_letters + string.digits + "-."))
    if not host:
        raise scan.error("missing host")
    return parse_host(host)


def parse_via(text: str) -> Via:
    """Parse one via-parm: ``SIP / 2.0 / UDP host[:port] *(;param)`` (§20.42).

    Linear white space is allowed around the slashes and the colon (§25.1).
    Raises RemoteSipError(400).
    """
    scan = _Scanner(text, "Via")
    scan.skip_ws()
    name = scan.token("protocol name")
    scan.expect("/")
    version = scan.token("protocol version")
    scan.expect("/")
    transport = scan.token("transport")
    if not scan.skip_ws():
        raise scan.error("expected white space before sent-by")
    host = _read_host(scan)
    scan.skip_ws()
    port: int | None = None
    if scan.peek() == ":":
        scan.pos += 1
        scan.skip_ws()
        port = parse_port(scan.run(frozenset(string.digits)))
    params = scan.params()
    return Via(
        protocol=f"{name.upper()}/{version.upper()}",
        transport=transport.upper(),
        host=host,
        port=port,
        params=params,
    )


# Only so that ``NameAddr(uri=...)`` works by keyword; always pass a real URI.
_PLACEHOLDER_URI = SipUri(host="invalid")


@dataclass(frozen=True, slots=True)
class NameAddr:
    """From, To, Contact, Route, Record-Route... value (RFC 3261 §20.10, §20.20).

    ``display_name`` is unquoted (None when absent). ``params`` are the
    header parameters (tag, expires, q...), never the URI's own.
    """

    display_name: str | None = None
    uri: Uri = _PLACEHOLDER_URI
    params: tuple[Param, ...] = ()

    @property
    def tag(self) -> str | None:
        """The tag parameter (§19.3), or None."""
        return self.param("tag")

    def param(self, name: str) -> str | None:
        """Value of ``name``: None if absent, "" if present without a value."""
        return _find_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> NameAddr:
        """Copy with header parameter ``name`` set (in place if present)."""
        return replace(self, params=_set_param(self.params, name, value))

    def __str__(self) -> str:
        # The <...> form is always safe: in addr-spec form a URI holding ';',
        # ',' or '?' would be misread (§20.10).
        name = "" if self.display_name is None else quote_string(self.display_name)
        spacer = " " if name else ""
        return f"{name}{spacer}<{self.uri}>{_format_params(self.params)}"


_ADDR_SPEC_END = frozenset(";" + _WSP)


def parse_name_addr(text: str) -> NameAddr:
    """Parse ``[display-name] <URI> *(;param)`` or ``URI *(;param)`` (§20.10).

    In the addr-spec form (no angle brackets) the URI ends at the first ';',
    and what follows are header parameters. Raises RemoteSipError(400).
    """
    scan = _Scanner(text, "name-addr")
    scan.skip_ws()
    if scan.at_end():
        raise scan.error("empty value")
    display_name: str | None = None
    if scan.peek() == '"':
        display_name = unquote(scan.quoted())
        scan.skip_ws()
    elif scan.peek() != "<":
        start = scan.pos
        while scan.run(TOKEN_CHARS):
            scan.skip_ws()
        if scan.peek() != "<":
            return _parse_addr_spec(text, start)
        display_name = text[start : scan.pos].rstrip(_WSP) or None
    if scan.peek() != "<":
        raise scan.error("expected '<' after display name")
    end = text.find(">", scan.pos)
    if end < 0:
        raise scan.error("missing '>'")
    inner = text[scan.pos + 1 : end]
    if inner != inner.strip(_WSP):
        raise scan.error("white space inside <...> (RFC 4475 §3.1.2.14)")
    uri = parse_uri(inner)
    scan.pos = end + 1
    return NameAddr(display_name=display_name, uri=uri, params=scan.params())


def _parse_addr_spec(text: str, start: int) -> NameAddr:
    scan = _Scanner(text, "addr-spec")
    scan.pos = start
    uri_text = scan.run(frozenset(map(chr, range(0x21, 0x7F))) - _ADDR_SPEC_END)
    if not uri_text:
        raise scan.error("missing URI")
    if any(char in uri_text for char in '<>"'):
        raise scan.error("stray angle bracket or quote")
    if "?" in uri_text or "," in uri_text:
        # §20: a URI with ',', '?' or ';' must be enclosed in <> (RFC 4475
        # §3.1.2.13 regbadct).
        raise scan.error("URI with '?' or ',' must be enclosed in <>")
    return NameAddr(uri=parse_uri(uri_text), params=scan.params())


@dataclass(frozen=True, slots=True)
class CSeq:
    """CSeq value (RFC 3261 §20.16): sequence number and method."""

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_int_header(text: str, name: str, maximum: int = MAX_INT_HEADER) -> int:
    """Parse a decimal header value in 0..``maximum`` (Expires, Content-Length...).

    Raises RemoteSipError(400) naming the header when it is not all digits or
    exceeds ``maximum``. Leading zeros are allowed (RFC 4475 §3.1.1.1).
    """
    value = text.strip(_WSP)
    if not value or not value.isascii() or not value.isdigit():
        raise RemoteSipError(f"bad {name}: {text[:40]!r} is not a number")
    # Compare digit counts first so a huge value is never converted.
    digits = value.lstrip("0") or "0"
    if len(digits) > len(str(maximum)) or int(digits) > maximum:
        raise RemoteSipError(f"bad {name}: {digits[:40]} exceeds {maximum}")
    return int(digits)


def parse_content_length(text: str) -> int:
    """Content-Length (§20.14): 0..2**31-1. Raises RemoteSipError(400)."""
    return parse_int_header(text, "Content-Length")


def parse_max_forwards(text: str) -> int:
    """Max-Forwards (§20.22): 0..255 in practice. Raises RemoteSipError(400)."""
    return parse_int_header(text, "Max-Forwards", 255)


def parse_cseq(text: str) -> CSeq:
    """Parse ``1*DIGIT LWS Method`` (§20.16); the number is below 2**31.

    Raises RemoteSipError(400).
    """
    scan = _Scanner(text, "CSeq")
    scan.skip_ws()
    digits = scan.run(frozenset(string.digits))
    if not digits:
        raise scan.error("missing sequence number")
    seq = parse_int_header(digits, "CSeq")
    if not scan.skip_ws():
        raise scan.error("expected white space after the number")
    method = scan.token("method")
    scan.skip_ws()
    if not scan.at_end():
        raise scan.error("trailing characters")
    return CSeq(seq=seq, method=method)
