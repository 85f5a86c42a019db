"""SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966).

``parse_uri`` returns a ``SipUri`` for sip/sips, a ``TelUri`` for tel and an
``AbsoluteUri`` for any other well-formed scheme (RFC 3261 §25.1
``absoluteURI``). Escaped components (user, password, parameters, headers)
are stored unescaped and re-escaped by ``__str__``, so two spellings of the
same URI compare equal under ``uri_equal`` (§19.1.4).
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass, replace

from gateway.sip.errors import LocalSipError, RemoteSipError

__all__ = [
    "AbsoluteUri",
    "SipUri",
    "TelUri",
    "Uri",
    "parse_uri",
    "uri_equal",
]

# RFC 3261 §25.1 character classes.
_ALPHANUM = string.ascii_letters + string.digits
_UNRESERVED = frozenset(_ALPHANUM + "-_.!~*'()")
_USER_CHARS = _UNRESERVED | frozenset("&=+$,;?/")
_PASSWORD_CHARS = _UNRESERVED | frozenset("&=+$,")
_PARAM_CHARS = _UNRESERVED | frozenset("[]/:&+$")
_HEADER_CHARS = _UNRESERVED | frozenset("[]/?:+$")
_URIC_CHARS = _UNRESERVED | frozenset(";/?:@&=+$,%")
_HEX = frozenset(string.hexdigits)

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_HOSTNAME_RE = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.?"
)
_TEL_NUMBER_RE = re.compile(r"\+?[0-9A-Fa-f*#().\-pPwW]+")

# §19.1.4: these parameters must match when present in either URI.
_STRICT_PARAMS = ("user", "ttl", "method", "maddr", "transport")

Param = tuple[str, str | None]


def _unescape(text: str, allowed: frozenset[str], what: str) -> str:
    """Decode %HH escapes after checking every character against ``allowed``."""
    raw = bytearray()
    index = 0
    while index < len(text):
        char = text[index]
        if char == "%":
            pair = text[index + 1 : index + 3]
            if len(pair) != 2 or not set(pair) <= _HEX:
                raise RemoteSipError(f"bad %-escape in URI {what}: {text!r}")
            raw.append(int(pair, 16))
            index += 3
            continue
        if char not in allowed:
            raise RemoteSipError(f"invalid character {char!r} in URI {what}")
        raw.append(ord(char))
        index += 1
    # surrogateescape keeps non-UTF-8 escapes such as %FF lossless.
    return raw.decode("utf-8", "surrogateescape")


def _escape(text: str, allowed: frozenset[str]) -> str:
    out: list[str] = []
    for char in text:
        if char in allowed:
            out.append(char)
        else:
            out.extend(f"%{b:02X}" for b in char.encode("utf-8", "surrogateescape"))
    return "".join(out)


def parse_host(text: str) -> str:
    """Validate a host (hostname, IPv4 or bracketed IPv6) and return it as given.

    Raises RemoteSipError(400) when the host is empty or malformed.
    """
    if text.startswith("["):
        if not text.endswith("]"):
            raise RemoteSipError(f"unterminated IPv6 reference: {text!r}")
        try:
            ipaddress.IPv6Address(text[1:-1])
        except ValueError:
            raise RemoteSipError(f"bad IPv6 address: {text!r}") from None
        return text
    if not _HOSTNAME_RE.fullmatch(text):
        raise RemoteSipError(f"bad host: {text!r}")
    return text


def parse_port(text: str) -> int:
    """Parse a port number 0..65535; raises RemoteSipError(400)."""
    if not text.isascii() or not text.isdigit() or len(text) > 5:
        raise RemoteSipError(f"bad port: {text!r}")
    port = int(text)
    if port > 65535:
        raise RemoteSipError(f"port out of range: {port}")
    return port


def split_hostport(text: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (IPv6 in brackets); raises RemoteSipError(400)."""
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[: end + 1], text[end + 1 :]
        if end < 0:
            raise RemoteSipError(f"unterminated IPv6 reference: {text!r}")
    else:
        host, colon, port_text = text.partition(":")
        rest = colon + port_text
    port: int | None = None
    if rest:
        if not rest.startswith(":"):
            raise RemoteSipError(f"bad host:port: {text!r}")
        port = parse_port(rest[1:])
    return parse_host(host), port


def _find_param(params: tuple[Param, ...], name: str) -> str | None:
    wanted = name.lower()
    for key, value in params:
        if key.lower() == wanted:
            return "" if value is None else value
    return None


def _set_param(
    params: tuple[Param, ...], name: str, value: str | None
) -> tuple[Param, ...]:
    wanted = name.lower()
    if any(key.lower() == wanted for key, _ in params):
        return tuple((k, value) if k.lower() == wanted else (k, v) for k, v in params)
    return (*params, (name, value))


@dataclass(frozen=True, slots=True)
class SipUri:
    """A sip: or sips: URI (RFC 3261 §19.1.1).

    ``user``, ``password``, parameter and header names and values are stored
    unescaped. ``params`` holds ``(name, value)`` pairs in order, ``value`` is
    None for a valueless parameter such as ``lr``. ``host`` keeps IPv6 brackets.
    """

    scheme: str = "sip"
    user: str | None = None
    password: str | None = None
    host: str = ""
    port: int | None = None
    params: tuple[Param, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.scheme not in ("sip", "sips") or not self.host:
            raise LocalSipError(f"SipUri needs scheme sip/sips and a host: {self!r}")

    def param(self, name: str) -> str | None:
        """Value of parameter ``name`` (case-insensitive): None if absent, "" if
        present without a value."""
        return _find_param(self.params, name)

    def with_param(self, name: str, value: str | None = None) -> SipUri:
        """Copy with ``name`` set to ``value`` (replacing it in place if present)."""
        return replace(self, params=_set_param(self.params, name, value))

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lower-cased, or None."""
        value = self.param("transport")
        return value.lower() if value else None

    @property
    def is_secure(self) -> bool:
        return self.scheme == "sips"

    @property
    def aor(self) -> str:
        """Address of record ``scheme:user@host``: no password, port, params or
        headers; scheme and host lower-cased (they compare case-insensitively)."""
        user = "" if self.user is None else _escape(self.user, _USER_CHARS) + "@"
        return f"{self.scheme}:{user}{self.host.lower()}"

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(_escape(self.user, _USER_CHARS))
            if self.password is not None:
                parts += [":", _escape(self.password, _PASSWORD_CHARS)]
            parts.append("@")
        parts.append(self.host)
        if self.port is not None:
            parts.append(f":{self.port}")
        for name, value in self.params:
            parts += [";", _escape(name, _PARAM_CHARS)]
            if value is not None:
                parts += ["=", _escape(value, _PARAM_CHARS)]
        for index, (name, value) in enumerate(self.headers):
            parts += ["?" if index == 0 else "&", _escape(name, _HEADER_CHARS)]
            parts += ["=", _escape(value, _HEADER_CHARS)]
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class TelUri:
    """A tel: URI (RFC 3966). ``number`` and ``params`` are kept as written."""

    number: str
    params: tuple[Param, ...] = ()

    def param(self, name: str) -> str | None:
        """Value of parameter ``name``: None if absent, "" if valueless."""
        return _find_param(self.params, name)

    def __str__(self) -> str:
        params = "".join(
            f";{name}" if value is None else f";{name}={value}"
            for name, value in self.params
        )
        return f"tel:{self.number}{params}"


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """Any other URI scheme (RFC 3261 §25.1 absoluteURI), kept opaque."""

    scheme: str
    raw: str

    def __str__(self) -> str:
        return self.raw


Uri = SipUri | TelUri | AbsoluteUri


def _parse_params(text: str) -> tuple[Param, ...]:
    """Parse ``;name[=value]`` pairs after the host (``text`` has no leading ;)."""
    params: list[Param] = []
    for item in text.split(";"):
        name, equals, value = item.partition("=")
        if not name:
            raise RemoteSipError(f"empty URI parameter in {text!r}")
        if equals and not value:
            raise RemoteSipError(f"empty value for URI parameter {name!r}")
        params.append(
            (
                _unescape(name, _PARAM_CHARS, "parameter"),
                _unescape(value, _PARAM_CHARS, "parameter") if equals else None,
            )
        )
    return tuple(params)


def _parse_headers(text: str) -> tuple[tuple[str, str], ...]:
    headers: list[tuple[str, str]] = []
    for item in text.split("&"):
        name, equals, value = item.partition("=")
        if not name or not equals:
            raise RemoteSipError(f"bad URI header {item!r}")
        headers.append(
            (
                _unescape(name, _HEADER_CHARS, "header"),
                _unescape(value, _HEADER_CHARS, "header"),
            )
        )
    return tuple(headers)


def _parse_sip(scheme: str, rest: str) -> SipUri:
    # The user part may hold ';' and '?' (RFC 4475 §3.1.1.9) but never an
    # unescaped '@', and the host part cannot hold one either: split at the last.
    user: str | None = None
    password: str | None = None
    userinfo, at, hostpart = rest.rpartition("@")
    if at:
        user_text, colon, password_text = userinfo.partition(":")
        if not user_text:
            raise RemoteSipError("empty user part in SIP URI")
        user = _unescape(user_text, _USER_CHARS, "user")
        if colon:
            password = _unescape(password_text, _PASSWORD_CHARS, "password")
    hostpart, question, header_text = hostpart.partition("?")
    hostport, semicolon, param_text = hostpart.partition(";")
    host, port = split_hostport(hostport)
    return SipUri(
        scheme=scheme,
        user=user,
        password=password,
        host=host,
        port=port,
        params=_parse_params(param_text) if semicolon else (),
        headers=_parse_headers(header_text) if question else (),
    )


def _parse_tel(rest: str) -> TelUri:
    number, _, param_text = rest.partition(";")
    if not _TEL_NUMBER_RE.fullmatch(number):
        raise RemoteSipError(f"bad tel: number {number!r}")
    params: list[Param] = []
    if param_text:
        for item in param_text.split(";"):
            name, equals, value = item.partition("=")
            if not name or (equals and not value):
                raise RemoteSipError(f"bad tel: parameter {item!r}")
            _unescape(name + value, _PARAM_CHARS, "parameter")
            params.append((name, value if equals else None))
    return TelUri(number=number, params=tuple(params))


def parse_uri(text: str) -> Uri:
    """Parse a URI (RFC 3261 §19.1, §25.1; RFC 3966 for tel).

    Returns ``SipUri``, ``TelUri`` or, for other schemes, ``AbsoluteUri``.
    Raises RemoteSipError(400) for a malformed URI or one holding whitespace.
    Rejecting unknown schemes with 416 is the caller's choice (a Request-URI
    must be rejected so, a To header need not be, RFC 3261 §8.2.2.1).
    """
    match = _SCHEME_RE.match(text)
    if match is None:
        raise RemoteSipError(f"URI without a scheme: {text[:80]!r}")
    scheme = match.group(1).lower()
    rest = text[match.end() :]
    if scheme in ("sip", "sips"):
        return _parse_sip(scheme, rest)
    if scheme == "tel":
        return _parse_tel(rest)
    if not rest or any(char not in _URIC_CHARS for char in rest):
        raise RemoteSipError(f"malformed {scheme}: URI")
    return AbsoluteUri(scheme=scheme, raw=text)


def _params_equal(a: tuple[Param, ...], b: tuple[Param, ...]) -> bool:
    left = {name.lower(): (value or "").lower() for name, value in a}
    right = {name.lower(): (value or "").lower() for name, value in b}
    for name in _STRICT_PARAMS:
        if left.get(name) != right.get(name):
            return False
    return all(left[name] == right[name] for name in left.keys() & right.keys())


def _tel_digits(number: str) -> str:
    return "".join(c for c in number if c not in "-.()").lower()


def uri_equal(a: Uri, b: Uri) -> bool:
    """URI equivalence per RFC 3261 §19.1.4 (and RFC 3966 §4 for tel).

    User and password compare case-sensitively after unescaping; everything
    else case-insensitively. A port or transport present in one URI only makes
    them differ; other parameters only matter when present in both; URI
    headers must all match.
    """
    if isinstance(a, SipUri) and isinstance(b, SipUri):
        headers_a = sorted((n.lower(), v.lower()) for n, v in a.headers)
        headers_b = sorted((n.lower(), v.lower()) for n, v in b.headers)
        return (
            a.scheme == b.scheme
            and a.user == b.user
            and a.password == b.password
            and a.host.lower() == b.host.lower()
            and a.port == b.port
            and _params_equal(a.params, b.params)
            and headers_a == headers_b
        )
    if isinstance(a, TelUri) and isinstance(b, TelUri):
        left = {n.lower(): (v or "").lower() for n, v in a.params}
        right = {n.lower(): (v or "").lower() for n, v in b.params}
        return _tel_digits(a.number) == _tel_digits(b.number) and left == right
    if isinstance(a, AbsoluteUri) and isinstance(b, AbsoluteUri):
        return (
            a.scheme == b.scheme and a.raw.partition(":")[2] == b.raw.partition(":")[2]
        )
    return False
