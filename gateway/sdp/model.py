"""SDP session description model (RFC 8866, formerly RFC 4566).

The model is immutable: frozen, slotted, keyword-only dataclasses holding
tuples. Lines keep their raw values, and attributes keep their order and raw
text, so that ``serialize_sdp(parse_sdp(b)) == b`` for canonical input and
unknown attributes pass through byte-exact. Typed views of the attributes the
gateway understands (rtpmap, fmtp, rtcp-fb, rtcp, crypto, content, direction)
are parsed on access; ``parse_sdp`` has already validated them, so accessors
raise only for descriptions built by hand with bad values.

Edits return new objects (``dataclasses.replace`` and the ``with_*``
helpers), which keeps a description that was sent from changing under us.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gateway.sdp.codecs import is_number
from gateway.sdp.errors import RemoteSdpError

__all__ = [
    "Attribute",
    "Bandwidth",
    "Connection",
    "CryptoAttribute",
    "Direction",
    "MediaDescription",
    "Origin",
    "RtcpAttribute",
    "RtcpFeedback",
    "RtpMap",
    "SessionDescription",
    "Timing",
    "TransportProfile",
]


class TransportProfile(enum.Enum):
    """The m= ``<proto>`` values the gateway recognises.

    RTP/AVP (RFC 3551), RTP/AVPF (RFC 4585), RTP/SAVP (RFC 3711), RTP/SAVPF
    (RFC 5124), the DTLS-SRTP profiles (RFC 5764; recognised, but the gateway
    keys SRTP with SDES, RFC 4568) and the BFCP transports (RFC 8856).
    """

    RTP_AVP = "RTP/AVP"
    RTP_AVPF = "RTP/AVPF"
    RTP_SAVP = "RTP/SAVP"
    RTP_SAVPF = "RTP/SAVPF"
    UDP_TLS_RTP_SAVP = "UDP/TLS/RTP/SAVP"
    UDP_TLS_RTP_SAVPF = "UDP/TLS/RTP/SAVPF"
    UDP_BFCP = "UDP/BFCP"
    TCP_BFCP = "TCP/BFCP"
    TCP_TLS_BFCP = "TCP/TLS/BFCP"
    UDP_TLS_BFCP = "UDP/TLS/BFCP"

    @classmethod
    def from_proto(cls, proto: str) -> TransportProfile | None:
        """The profile for an m= proto token (case-insensitive), or None."""
        return _PROFILES_BY_UPPER.get(proto.upper())

    @property
    def is_rtp(self) -> bool:
        """True for the RTP profiles (formats are payload type numbers)."""
        return "RTP/" in self.value

    @property
    def is_srtp(self) -> bool:
        """True for the secure RTP profiles (SDES or DTLS keyed)."""
        return self.value.endswith(("SAVP", "SAVPF"))

    @property
    def is_dtls(self) -> bool:
        """True for the DTLS-SRTP profiles, which the gateway does not key."""
        return self.value.startswith("UDP/TLS/RTP/")

    @property
    def has_feedback(self) -> bool:
        """True for the AVPF family (RFC 4585 early feedback)."""
        return self.value.endswith("F")

    @property
    def is_bfcp(self) -> bool:
        """True for the BFCP transports (RFC 8856 §4)."""
        return self.value.endswith("BFCP")


_PROFILES_BY_UPPER = {profile.value.upper(): profile for profile in TransportProfile}


class Direction(enum.Enum):
    """Media direction attribute (RFC 8866 §6.7, RFC 3264 §5.1)."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @classmethod
    def from_flags(cls, *, sends: bool, receives: bool) -> Direction:
        """The direction with the given send and receive flags."""
        return _DIRECTION_BY_FLAGS[(sends, receives)]

    @property
    def sends(self) -> bool:
        """True if the side that wrote this attribute sends media."""
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        """True if the side that wrote this attribute receives media."""
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    def reversed(self) -> Direction:
        """The same stream seen from the other side (sendonly <-> recvonly)."""
        return Direction.from_flags(sends=self.receives, receives=self.sends)


_DIRECTION_BY_FLAGS = {
    (True, True): Direction.SENDRECV,
    (True, False): Direction.SENDONLY,
    (False, True): Direction.RECVONLY,
    (False, False): Direction.INACTIVE,
}
_DIRECTION_NAMES = frozenset(direction.value for direction in Direction)


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """o= line (RFC 8866 §5.2). ``session_id`` stays text (it may be huge)."""

    username: str = "-"
    session_id: str
    session_version: int
    net_type: str = "IN"
    addr_type: str = "IP4"
    address: str

    def next_version(self) -> Origin:
        """Copy with the version incremented (RFC 3264 §8: every new offer)."""
        return dataclasses.replace(self, session_version=self.session_version + 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """c= line (RFC 8866 §5.7). ``address`` keeps any ``/ttl/count`` suffix."""

    net_type: str = "IN"
    addr_type: str = "IP4"
    address: str

    @property
    def host(self) -> str:
        """The address without a multicast ``/ttl`` or ``/count`` suffix."""
        return self.address.split("/", 1)[0]

    @property
    def is_hold(self) -> bool:
        """True for the RFC 2543 hold address (RFC 3264 §8.4): 0.0.0.0 or ::."""
        return self.host in ("0.0.0.0", "::")


@dataclass(frozen=True, slots=True, kw_only=True)
class Bandwidth:
    """b= line (RFC 8866 §5.8): AS and CT in kbit/s, TIAS (RFC 3890) in bit/s."""

    bw_type: str
    value: int

    @property
    def kbps(self) -> int | None:
        """The value in kbit/s for AS, CT and TIAS; None for unknown types."""
        upper = self.bw_type.upper()
        if upper in ("AS", "CT"):
            return self.value
        if upper == "TIAS":
            return self.value // 1000
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """t= line and its r= lines (RFC 8866 §5.9, §5.10); r= values kept raw."""

    start: int = 0
    stop: int = 0
    repeats: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Attribute:
    """a= line (RFC 8866 §5.13): ``a=name`` (value None) or ``a=name:value``."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RtpMap:
    """a=rtpmap value (RFC 8866 §6.6); ``channels`` is None when omitted."""

    payload_type: int
    encoding_name: str
    clock_rate: int
    channels: int | None = None

    def __str__(self) -> str:
        tail = "" if self.channels is None else f"/{self.channels}"
        return f"{self.payload_type} {self.encoding_name}/{self.clock_rate}{tail}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RtcpFeedback:
    """a=rtcp-fb value (RFC 4585 §4.2); ``payload_type`` None means ``*``."""

    payload_type: int | None
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RtcpAttribute:
    """a=rtcp value (RFC 3605): the RTCP port and optional address."""

    port: int
    connection: Connection | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CryptoAttribute:
    """a=crypto value (RFC 4568 §9.1), keys left uninterpreted.

    ``key_params`` is the raw key-params text (``inline:...``); interpreting
    it is ``gateway.srtp``'s job.
    """

    tag: int
    suite: str
    key_params: str
    session_params: tuple[str, ...] = ()

    def __str__(self) -> str:
        parts = [str(self.tag), self.suite, self.key_params, *self.session_params]
        return " ".join(parts)


def _parse_pt(text: str, what: str) -> int:
    if not is_number(text) or len(text) > 3 or int(text) > 127:
        raise RemoteSdpError(f"{what}: payload type {text!r} is not 0..127")
    return int(text)


def _parse_int(text: str, what: str, maximum: int) -> int:
    if not is_number(text) or len(text) > 10 or int(text) > maximum:
        raise RemoteSdpError(f"{what}: {text!r} is not an integer 0..{maximum}")
    return int(text)


def parse_rtpmap(value: str) -> RtpMap:
    """Parse ``<pt> <name>/<clock>[/<channels>]`` (RFC 8866 §6.6).

    Tolerates extra spaces. Raises ``RemoteSdpError`` if malformed.
    """
    pt_text, _, encoding = value.strip().partition(" ")
    parts = encoding.strip().split("/")
    if len(parts) not in (2, 3) or not parts[0]:
        raise RemoteSdpError(f"a=rtpmap:{value!r} is malformed")
    channels = None
    if len(parts) == 3:
        channels = _parse_int(parts[2].strip(), "a=rtpmap channels", 255)
    return RtpMap(
        payload_type=_parse_pt(pt_text, "a=rtpmap"),
        encoding_name=parts[0].strip(),
        clock_rate=_parse_int(parts[1].strip(), "a=rtpmap clock rate", 10**7),
        channels=channels,
    )


def parse_fmtp(value: str) -> tuple[str, str]:
    """Parse ``<fmt> <params>`` (RFC 8866 §6.15) into (format, raw params).

    The format is any token, since non-RTP media have non-numeric formats
    (RTP payload types are checked against the m= line, not here). Raises
    ``RemoteSdpError`` if the format is missing.
    """
    parts = value.strip().split(maxsplit=1)
    if not parts:
        raise RemoteSdpError("a=fmtp has no format")
    return parts[0], parts[1] if len(parts) == 2 else ""


def parse_rtcp_fb(value: str) -> RtcpFeedback:
    """Parse ``<pt>|* <type> [<param>]`` (RFC 4585 §4.2). Raises RemoteSdpError."""
    pt_text, _, rest = value.strip().partition(" ")
    if not rest.strip():
        raise RemoteSdpError(f"a=rtcp-fb:{value!r} has no feedback type")
    pt = None if pt_text == "*" else _parse_pt(pt_text, "a=rtcp-fb")
    return RtcpFeedback(payload_type=pt, value=rest.strip())


def parse_rtcp(value: str) -> RtcpAttribute:
    """Parse ``<port> [IN IP4 <addr>]`` (RFC 3605 §2.1). Raises RemoteSdpError."""
    tokens = value.split()
    if len(tokens) not in (1, 4):
        raise RemoteSdpError(f"a=rtcp:{value!r} is malformed")
    port = _parse_int(tokens[0], "a=rtcp port", 65535)
    connection = None
    if len(tokens) == 4:
        connection = Connection(
            net_type=tokens[1], addr_type=tokens[2], address=tokens[3]
        )
    return RtcpAttribute(port=port, connection=connection)


def parse_crypto(value: str) -> CryptoAttribute:
    """Parse ``<tag> <suite> <key-params> [<session-params>]`` (RFC 4568 §9.1).

    Raises ``RemoteSdpError`` if the tag is not 1..9 digits or a field is
    missing.
    """
    tokens = value.split()
    if len(tokens) < 3 or not is_number(tokens[0]) or len(tokens[0]) > 9:
        raise RemoteSdpError("a=crypto is malformed")
    return CryptoAttribute(
        tag=int(tokens[0]),
        suite=tokens[1],
        key_params=tokens[2],
        session_params=tuple(tokens[3:]),
    )


# Validators run by the parser for attributes we interpret later, so that a
# parsed description never makes an accessor raise.
ATTRIBUTE_VALIDATORS: dict[str, Callable[[str], object]] = {
    "rtpmap": parse_rtpmap,
    "fmtp": parse_fmtp,
    "rtcp-fb": parse_rtcp_fb,
    "rtcp": parse_rtcp,
    "crypto": parse_crypto,
}


def _values(attributes: Sequence[Attribute], name: str) -> list[str | None]:
    wanted = name.lower()
    return [a.value for a in attributes if a.name.lower() == wanted]


def _direction(attributes: Sequence[Attribute]) -> Direction | None:
    # RFC 8866 allows one direction attribute; a duplicate is ignored (first
    # wins) rather than failing the call.
    for attribute in attributes:
        lowered = attribute.name.lower()
        if lowered in _DIRECTION_NAMES:
            return Direction(lowered)
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaDescription:
    """One media section: m= line plus its i=, c=, b=, k= and a= lines."""

    kind: str
    port: int
    port_count: int | None = None
    proto: str
    formats: tuple[str, ...]
    information: str | None = None
    connections: tuple[Connection, ...] = ()
    bandwidths: tuple[Bandwidth, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()

    @property
    def profile(self) -> TransportProfile | None:
        """The recognised transport profile, or None for other protos."""
        return TransportProfile.from_proto(self.proto)

    @property
    def is_rtp(self) -> bool:
        """True when the proto is an RTP profile (formats are PT numbers)."""
        return "RTP/" in self.proto.upper()

    @property
    def payload_types(self) -> tuple[int, ...]:
        """Formats as payload type numbers (empty for non-RTP protos)."""
        if not self.is_rtp:
            return ()
        return tuple(int(fmt) for fmt in self.formats if is_number(fmt))

    def attribute(self, name: str) -> str | None:
        """Value of the first ``a=name`` (case-insensitive), None if absent
        or valueless; use ``has_attribute`` for flags."""
        values = _values(self.attributes, name)
        return values[0] if values else None

    def attribute_values(self, name: str) -> tuple[str, ...]:
        """Values of every ``a=name`` line with a value, in order."""
        return tuple(v for v in _values(self.attributes, name) if v is not None)

    def has_attribute(self, name: str) -> bool:
        """True if at least one ``a=name`` line is present."""
        return bool(_values(self.attributes, name))

    @property
    def direction(self) -> Direction | None:
        """This section's own direction attribute, or None (see Session)."""
        return _direction(self.attributes)

    @property
    def rtpmaps(self) -> dict[int, RtpMap]:
        """a=rtpmap by payload type (first one wins on duplicates)."""
        maps: dict[int, RtpMap] = {}
        for value in self.attribute_values("rtpmap"):
            rtpmap = parse_rtpmap(value)
            maps.setdefault(rtpmap.payload_type, rtpmap)
        return maps

    def fmtp(self, payload_type: int | str) -> str | None:
        """Raw a=fmtp parameters for a payload type (or non-RTP format)."""
        wanted = str(payload_type)
        for value in self.attribute_values("fmtp"):
            fmt, params = parse_fmtp(value)
            if fmt == wanted:
                return params
        return None

    def rtcp_feedback(self, payload_type: int) -> tuple[str, ...]:
        """a=rtcp-fb values that apply to ``payload_type`` (its own and ``*``)."""
        result: list[str] = []
        for value in self.attribute_values("rtcp-fb"):
            feedback = parse_rtcp_fb(value)
            if feedback.payload_type in (None, payload_type):
                result.append(feedback.value)
        return tuple(result)

    @property
    def rtcp(self) -> RtcpAttribute | None:
        """The a=rtcp port attribute (RFC 3605), or None."""
        value = self.attribute("rtcp")
        return None if value is None else parse_rtcp(value)

    @property
    def rtcp_mux(self) -> bool:
        """True if a=rtcp-mux is present (RFC 5761 §5.1.1)."""
        return self.has_attribute("rtcp-mux")

    @property
    def crypto(self) -> tuple[CryptoAttribute, ...]:
        """Every a=crypto line (RFC 4568), in order."""
        return tuple(parse_crypto(v) for v in self.attribute_values("crypto"))

    @property
    def content(self) -> tuple[str, ...]:
        """a=content values (RFC 4796), lower-cased: ``slides``, ``main``..."""
        values: list[str] = []
        for value in self.attribute_values("content"):
            values.extend(v.strip().lower() for v in value.split(",") if v.strip())
        return tuple(values)

    @property
    def label(self) -> str | None:
        """a=label (RFC 4574), or None."""
        return self.attribute("label")

    @property
    def mid(self) -> str | None:
        """a=mid (RFC 5888), or None."""
        return self.attribute("mid")

    def without_attributes(self, *names: str) -> MediaDescription:
        """Copy without any a= line whose name is in ``names``."""
        lowered = {name.lower() for name in names}
        kept = tuple(a for a in self.attributes if a.name.lower() not in lowered)
        return dataclasses.replace(self, attributes=kept)

    def with_attributes(
        self, name: str, values: Sequence[str | None]
    ) -> MediaDescription:
        """Copy whose ``a=name`` lines are exactly ``values``.

        The new lines take the place of the first old one, or go last.
        """
        lowered = name.lower()
        new = [Attribute(name=name, value=value) for value in values]
        result: list[Attribute] = []
        placed = False
        for attribute in self.attributes:
            if attribute.name.lower() == lowered:
                if not placed:
                    result.extend(new)
                    placed = True
                continue
            result.append(attribute)
        if not placed:
            result.extend(new)
        return dataclasses.replace(self, attributes=tuple(result))

    def with_crypto(self, crypto: Sequence[CryptoAttribute]) -> MediaDescription:
        """Copy whose a=crypto lines are ``crypto`` (RFC 4568 §5.1.1)."""
        return self.with_attributes("crypto", [str(c) for c in crypto])

    def with_direction(self, direction: Direction | None) -> MediaDescription:
        """Copy with one direction attribute (or none), placed last."""
        stripped = self.without_attributes(*_DIRECTION_NAMES)
        if direction is None:
            return stripped
        extra = (Attribute(name=direction.value),)
        return dataclasses.replace(stripped, attributes=stripped.attributes + extra)


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDescription:
    """A whole SDP body (RFC 8866 §5), lines in canonical order.

    ``session_name`` may be empty: old room systems send a bare ``s=``.
    """

    version: int = 0
    origin: Origin
    session_name: str = "-"
    information: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    connection: Connection | None = None
    bandwidths: tuple[Bandwidth, ...] = ()
    timings: tuple[Timing, ...] = (Timing(),)
    time_zones: str | None = None
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = ()

    @property
    def direction(self) -> Direction | None:
        """The session-level direction attribute, or None."""
        return _direction(self.attributes)

    def connection_for(self, index: int) -> Connection | None:
        """The c= line that applies to media ``index`` (RFC 8866 §5.7)."""
        media = self.media[index]
        if media.connections:
            return media.connections[0]
        return self.connection

    def is_legacy_hold(self, index: int) -> bool:
        """True if media ``index`` uses the RFC 2543 hold address 0.0.0.0.

        RFC 3264 §8.4 keeps this form legal for old endpoints. With ICE
        (a=ice-ufrag present) the same address only means "no candidate yet"
        (RFC 8839 §4.2.1.1), so it is not a hold.
        """
        connection = self.connection_for(index)
        if connection is None or not connection.is_hold:
            return False
        uses_ice = self.media[index].has_attribute("ice-ufrag") or any(
            a.name.lower() == "ice-ufrag" for a in self.attributes
        )
        return not uses_ice

    def direction_of(self, index: int) -> Direction:
        """Effective direction of media ``index`` from its writer's view.

        Media attribute, else session attribute, else sendrecv (RFC 8866
        §6.7). A legacy c=0.0.0.0 hold means the writer will not receive, so
        the receive flag is cleared (RFC 3264 §8.4).
        """
        direction = self.media[index].direction or self.direction
        direction = direction or Direction.SENDRECV
        if self.is_legacy_hold(index):
            return Direction.from_flags(sends=direction.sends, receives=False)
        return direction

    def bandwidth_kbps(self, index: int) -> int | None:
        """Bit rate for media ``index`` in kbit/s from its own b=AS, b=TIAS
        or b=CT (the lowest if several), None when it has none.

        Session-level b= lines are totals for all streams (RFC 8866 §5.8),
        so they are not a per-stream rate and are not used here.
        """
        bandwidths = self.media[index].bandwidths
        rates = [rate for b in bandwidths if (rate := b.kbps) is not None]
        return min(rates) if rates else None

    def with_media(self, index: int, media: MediaDescription) -> SessionDescription:
        """Copy with media section ``index`` replaced."""
        sections = list(self.media)
        sections[index] = media
        return dataclasses.replace(self, media=tuple(sections))
