"""SDP serializer (RFC 8866 §5): the inverse of ``parse_sdp``.

Lines come out in the order RFC 8866 §5 prescribes, each ended by CRLF, with
raw values as stored; so canonical input round-trips byte-exact and unknown
attributes pass through untouched.
"""

from __future__ import annotations

from gateway.sdp.errors import LocalSdpError
from gateway.sdp.model import (
    Attribute,
    Bandwidth,
    Connection,
    MediaDescription,
    SessionDescription,
)

__all__ = ["serialize_sdp"]


def _connection(connection: Connection) -> str:
    return f"c={connection.net_type} {connection.addr_type} {connection.address}"


def _bandwidth(bandwidth: Bandwidth) -> str:
    return f"b={bandwidth.bw_type}:{bandwidth.value}"


def _attribute(attribute: Attribute) -> str:
    return f"a={attribute}"


def _media_lines(media: MediaDescription) -> list[str]:
    port = str(media.port)
    if media.port_count is not None:
        port = f"{port}/{media.port_count}"
    lines = [" ".join(("m=" + media.kind, port, media.proto, *media.formats))]
    if media.information is not None:
        lines.append(f"i={media.information}")
    lines.extend(_connection(c) for c in media.connections)
    lines.extend(_bandwidth(b) for b in media.bandwidths)
    if media.key is not None:
        lines.append(f"k={media.key}")
    lines.extend(_attribute(a) for a in media.attributes)
    return lines


def _session_lines(sdp: SessionDescription) -> list[str]:
    origin = sdp.origin
    lines = [
        f"v={sdp.version}",
        f"o={origin.username} {origin.session_id} {origin.session_version} "
        f"{origin.net_type} {origin.addr_type} {origin.address}",
        f"s={sdp.session_name}",
    ]
    if sdp.information is not None:
        lines.append(f"i={sdp.information}")
    if sdp.uri is not None:
        lines.append(f"u={sdp.uri}")
    lines.extend(f"e={email}" for email in sdp.emails)
    lines.extend(f"p={phone}" for phone in sdp.phones)
    if sdp.connection is not None:
        lines.append(_connection(sdp.connection))
    lines.extend(_bandwidth(b) for b in sdp.bandwidths)
    for timing in sdp.timings:
        lines.append(f"t={timing.start} {timing.stop}")
        lines.extend(f"r={repeat}" for repeat in timing.repeats)
    if sdp.time_zones is not None:
        lines.append(f"z={sdp.time_zones}")
    if sdp.key is not None:
        lines.append(f"k={sdp.key}")
    lines.extend(_attribute(a) for a in sdp.attributes)
    return lines


def serialize_sdp(sdp: SessionDescription) -> bytes:
    """Serialize a description to bytes with CRLF line ends (RFC 8866 §5).

    Text that came from ``parse_sdp`` as non-UTF-8 bytes goes back out as
    the same bytes. Raises ``LocalSdpError`` if a value we were given
    contains CR, LF or NUL, which would forge extra lines, or a lone
    surrogate that did not come from undecodable input bytes.
    """
    lines = _session_lines(sdp)
    for media in sdp.media:
        lines.extend(_media_lines(media))
    for line in lines:
        if "\r" in line or "\n" in line or "\x00" in line:
            raise LocalSdpError(f"SDP value contains CR, LF or NUL: {line[:40]!r}")
    text = "\r\n".join(lines) + "\r\n"
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise LocalSdpError("SDP value contains an unencodable surrogate") from exc
