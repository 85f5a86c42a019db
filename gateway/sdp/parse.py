"""SDP parser (RFC 8866 §5 and §9 grammar; RFC 4566 is its predecessor).

``parse_sdp`` turns bytes into a ``SessionDescription`` or raises
``RemoteSdpError``; nothing else escapes, whatever the input. It accepts every
form the RFC allows plus harmless habits of old room systems (bare LF line
ends, blank lines, an empty ``s=``, extra spaces inside m=/o=/c= lines,
session-level lines out of order), and refuses what the RFC forbids (unknown
type letters, a missing v=/o=/s=/t=, a used stream without any c=, payload
types outside 0..127, malformed rtpmap/fmtp/rtcp/crypto attributes).

Limits come from a frozen ``SdpLimits`` and are checked on the raw bytes
before anything is allocated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.errors import ConfigError
from gateway.sdp.codecs import is_number
from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.model import (
    ATTRIBUTE_VALIDATORS,
    Attribute,
    Bandwidth,
    Connection,
    MediaDescription,
    Origin,
    SessionDescription,
    Timing,
)

__all__ = ["DEFAULT_LIMITS", "SdpLimits", "parse_sdp"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SdpLimits:
    """Resource limits for one SDP body, checked before parsing.

    Raises ``ConfigError`` from ``__post_init__`` if a limit is not positive.
    """

    max_size_bytes: int = 65_536
    max_media: int = 16
    max_attributes: int = 512
    max_formats: int = 64

    def __post_init__(self) -> None:
        for name in ("max_size_bytes", "max_media", "max_attributes", "max_formats"):
            if getattr(self, name) < 1:
                raise ConfigError(f"SdpLimits.{name} must be positive")


DEFAULT_LIMITS = SdpLimits()

# RFC 8866 §9: token-char (RFC 2045-like) for attribute names, media and proto.
_TOKEN = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+")
_PROTO = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~/]+")


def _check_limits(data: bytes, limits: SdpLimits) -> None:
    if len(data) > limits.max_size_bytes:
        raise RemoteSdpError(
            f"SDP body of {len(data)} bytes exceeds {limits.max_size_bytes}"
        )
    if b"\x00" in data:
        raise RemoteSdpError("SDP body contains a NUL byte")
    media = data.count(b"\nm=") + data.startswith(b"m=")
    if media > limits.max_media:
        raise RemoteSdpError(f"SDP has {media} m= lines, limit {limits.max_media}")
    attributes = data.count(b"\na=") + data.startswith(b"a=")
    if attributes > limits.max_attributes:
        raise RemoteSdpError(
            f"SDP has {attributes} a= lines, limit {limits.max_attributes}"
        )


def _int(text: str, what: str, maximum: int) -> int:
    if not is_number(text) or len(text) > 20 or int(text) > maximum:
        raise RemoteSdpError(f"{what} {text!r} is not an integer 0..{maximum}")
    return int(text)


def _connection(value: str) -> Connection:
    tokens = value.split()
    if len(tokens) != 3:
        raise RemoteSdpError(f"c={value!r} needs <nettype> <addrtype> <address>")
    return Connection(net_type=tokens[0], addr_type=tokens[1], address=tokens[2])


def _bandwidth(value: str) -> Bandwidth:
    bw_type, sep, number = value.partition(":")
    if not sep or not _TOKEN.fullmatch(bw_type):
        raise RemoteSdpError(f"b={value!r} needs <bwtype>:<bandwidth>")
    return Bandwidth(bw_type=bw_type, value=_int(number.strip(), "b= value", 2**32))


def _attribute(value: str) -> Attribute:
    name, sep, rest = value.partition(":")
    if not _TOKEN.fullmatch(name):
        raise RemoteSdpError(f"a={value!r} has an invalid attribute name")
    attribute = Attribute(name=name, value=rest if sep else None)
    validator = ATTRIBUTE_VALIDATORS.get(name.lower())
    if validator is not None:
        if attribute.value is None:
            raise RemoteSdpError(f"a={name} needs a value")
        validator(attribute.value)
    return attribute


@dataclass(slots=True)
class _Media:
    kind: str
    port: int
    port_count: int | None
    proto: str
    formats: tuple[str, ...]
    information: str | None = None
    connections: list[Connection] = field(default_factory=list)
    bandwidths: list[Bandwidth] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)

    def freeze(self) -> MediaDescription:
        return MediaDescription(
            kind=self.kind,
            port=self.port,
            port_count=self.port_count,
            proto=self.proto,
            formats=self.formats,
            information=self.information,
            connections=tuple(self.connections),
            bandwidths=tuple(self.bandwidths),
            key=self.key,
            attributes=tuple(self.attributes),
        )


def _media(value: str, limits: SdpLimits) -> _Media:
    tokens = value.split()
    if len(tokens) < 3:
        raise RemoteSdpError(f"m={value!r} needs <media> <port> <proto> <fmt>...")
    kind, port_text, proto = tokens[:3]
    formats = tuple(tokens[3:])
    if not _TOKEN.fullmatch(kind) or not _PROTO.fullmatch(proto):
        raise RemoteSdpError(f"m={value!r} has an invalid media or proto token")
    port_part, slash, count_part = port_text.partition("/")
    port = _int(port_part, "m= port", 65535)
    port_count = _int(count_part, "m= port count", 65535) if slash else None
    if len(formats) > limits.max_formats:
        raise RemoteSdpError(f"m= line has more than {limits.max_formats} formats")
    if not formats and port != 0:
        raise RemoteSdpError(f"m={value!r} lists no formats")
    if "RTP/" in proto.upper():
        for fmt in formats:
            if not is_number(fmt) or len(fmt) > 3 or int(fmt) > 127:
                raise RemoteSdpError(f"RTP format {fmt!r} is not a payload type")
    return _Media(kind, port, port_count, proto, formats)


class _Builder:
    """Collects lines into a description; one instance per parse."""

    def __init__(self, limits: SdpLimits) -> None:
        self.limits = limits
        self.seen: set[str] = set()
        self.origin: Origin | None = None
        self.session_name: str | None = None
        self.information: str | None = None
        self.uri: str | None = None
        self.emails: list[str] = []
        self.phones: list[str] = []
        self.connection: Connection | None = None
        self.bandwidths: list[Bandwidth] = []
        self.timings: list[Timing] = []
        self.time_zones: str | None = None
        self.key: str | None = None
        self.attributes: list[Attribute] = []
        self.media: list[_Media] = []

    def feed(self, letter: str, value: str) -> None:
        if not self.seen and letter != "v":
            raise RemoteSdpError("SDP must start with v=")
        if self.media:
            handler = _MEDIA_HANDLERS.get(letter)
            if handler is None:
                raise RemoteSdpError(f"{letter}= is not allowed in a media section")
            handler(self, self.media[-1], value)
            return
        session_handler = _SESSION_HANDLERS.get(letter)
        if session_handler is None:
            raise RemoteSdpError(f"unknown SDP line type {letter!r}")
        if letter in _ONCE and letter in self.seen:
            raise RemoteSdpError(f"{letter}= appears twice at session level")
        self.seen.add(letter)
        session_handler(self, value)

    # Session-level handlers (RFC 8866 §5.1-§5.13).
    def on_version(self, value: str) -> None:
        if value != "0":
            raise RemoteSdpError(f"v={value!r} is not 0")

    def on_origin(self, value: str) -> None:
        tokens = value.split()
        if len(tokens) != 6:
            raise RemoteSdpError(f"o={value!r} needs six fields")
        self.origin = Origin(
            username=tokens[0],
            session_id=tokens[1],
            session_version=_int(tokens[2], "o= session version", 10**20),
            net_type=tokens[3],
            addr_type=tokens[4],
            address=tokens[5],
        )

    def on_name(self, value: str) -> None:
        self.session_name = value

    def on_information(self, value: str) -> None:
        self.information = value

    def on_uri(self, value: str) -> None:
        self.uri = value

    def on_email(self, value: str) -> None:
        self.emails.append(value)

    def on_phone(self, value: str) -> None:
        self.phones.append(value)

    def on_connection(self, value: str) -> None:
        self.connection = _connection(value)

    def on_bandwidth(self, value: str) -> None:
        self.bandwidths.append(_bandwidth(value))

    def on_timing(self, value: str) -> None:
        tokens = value.split()
        if len(tokens) != 2:
            raise RemoteSdpError(f"t={value!r} needs <start> <stop>")
        start = _int(tokens[0], "t= start", 2**64)
        stop = _int(tokens[1], "t= stop", 2**64)
        self.timings.append(Timing(start=start, stop=stop))

    def on_repeat(self, value: str) -> None:
        if not self.timings:
            raise RemoteSdpError("r= must follow a t= line")
        last = self.timings[-1]
        self.timings[-1] = Timing(
            start=last.start, stop=last.stop, repeats=(*last.repeats, value)
        )

    def on_zone(self, value: str) -> None:
        self.time_zones = value

    def on_key(self, value: str) -> None:
        self.key = value

    def on_attribute(self, value: str) -> None:
        self.attributes.append(_attribute(value))

    def on_media(self, value: str) -> None:
        self.media.append(_media(value, self.limits))

    # Media-level handlers (RFC 8866 §5.14 and the lines it allows after m=).
    def media_information(self, media: _Media, value: str) -> None:
        if media.information is not None:
            raise RemoteSdpError("i= appears twice in a media section")
        media.information = value

    def media_connection(self, media: _Media, value: str) -> None:
        media.connections.append(_connection(value))

    def media_bandwidth(self, media: _Media, value: str) -> None:
        media.bandwidths.append(_bandwidth(value))

    def media_key(self, media: _Media, value: str) -> None:
        if media.key is not None:
            raise RemoteSdpError("k= appears twice in a media section")
        media.key = value

    def media_attribute(self, media: _Media, value: str) -> None:
        media.attributes.append(_attribute(value))

    def next_media(self, media: _Media, value: str) -> None:
        self.media.append(_media(value, self.limits))

    def finish(self) -> SessionDescription:
        missing = [letter for letter in "vost" if letter not in self.seen]
        if missing:
            raise RemoteSdpError(f"SDP lacks required line(s): {', '.join(missing)}")
        assert self.origin is not None and self.session_name is not None
        for index, media in enumerate(self.media, 1):
            if media.port != 0 and not media.connections and self.connection is None:
                raise RemoteSdpError(f"m= line {index} has no c= at any level")
        return SessionDescription(
            origin=self.origin,
            session_name=self.session_name,
            information=self.information,
            uri=self.uri,
            emails=tuple(self.emails),
            phones=tuple(self.phones),
            connection=self.connection,
            bandwidths=tuple(self.bandwidths),
            timings=tuple(self.timings),
            time_zones=self.time_zones,
            key=self.key,
            attributes=tuple(self.attributes),
            media=tuple(media.freeze() for media in self.media),
        )


_ONCE = frozenset("vosiucz" + "k")
_SESSION_HANDLERS: dict[str, Callable[[_Builder, str], None]] = {
    "v": _Builder.on_version,
    "o": _Builder.on_origin,
    "s": _Builder.on_name,
    "i": _Builder.on_information,
    "u": _Builder.on_uri,
    "e": _Builder.on_email,
    "p": _Builder.on_phone,
    "c": _Builder.on_connection,
    "b": _Builder.on_bandwidth,
    "t": _Builder.on_timing,
    "r": _Builder.on_repeat,
    "z": _Builder.on_zone,
    "k": _Builder.on_key,
    "a": _Builder.on_attribute,
    "m": _Builder.on_media,
}
_MEDIA_HANDLERS: dict[str, Callable[[_Builder, _Media, str], None]] = {
    "i": _Builder.media_information,
    "c": _Builder.media_connection,
    "b": _Builder.media_bandwidth,
    "k": _Builder.media_key,
    "a": _Builder.media_attribute,
    "m": _Builder.next_media,
}


def _lines(data: bytes) -> list[str]:
    # surrogateescape keeps non-UTF-8 bytes (latin-1 session names from old
    # room systems) so that serialization gives back the same bytes.
    text = data.decode("utf-8", "surrogateescape")
    lines = text.split("\n")
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def parse_sdp(data: bytes, limits: SdpLimits = DEFAULT_LIMITS) -> SessionDescription:
    """Parse an SDP body (RFC 8866 §5) into a ``SessionDescription``.

    Line ends may be CRLF or bare LF; blank lines are skipped. Raises
    ``RemoteSdpError`` (status 400, with the line number when known) for
    anything the RFC forbids or that exceeds ``limits``; raises nothing else.
    """
    _check_limits(data, limits)
    builder = _Builder(limits)
    for number, line in enumerate(_lines(data), 1):
        if not line:
            continue
        try:
            if len(line) < 2 or line[1] != "=" or not "a" <= line[0] <= "z":
                raise RemoteSdpError("line is not <type>=<value>")
            if "\r" in line:
                raise RemoteSdpError("line contains a bare CR")
            builder.feed(line[0], line[2:])
        except RemoteSdpError as exc:
            # Line handlers do not know their line number; add it here.
            raise RemoteSdpError(str(exc), line_number=number) from exc
    return builder.finish()
