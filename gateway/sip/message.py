"""SIP message model (RFC 3261 §7).

Messages keep their headers in order with raw names and values, so that
``serialize(parse(b))`` reproduces unknown headers byte-exact. Typed views
(Via, From/To, CSeq, Contact) are parsed on first use by ``gateway.sip.grammar``
and cached; mutating headers clears the cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.sip.grammar import CSeq, NameAddr, Via
    from gateway.sip.uri import AbsoluteUri, SipUri, TelUri

# RFC 3261 §7.3.3 and the IANA registry: compact form -> full name (lower case).
COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}


def canonical_name(name: str) -> str:
    """Lower-case full header name, expanding compact forms (``v`` -> ``via``)."""
    lowered = name.strip().lower()
    return COMPACT_FORMS.get(lowered, lowered)


def split_header_list(value: str) -> list[str]:
    """Split a comma-separated header value (RFC 3261 §7.3.1).

    Commas inside double quotes (with backslash escapes) or inside ``<...>``
    do not separate elements. Empty elements are dropped.
    """
    parts: list[str] = []
    current: list[str] = []
    in_quotes = False
    in_angle = False
    escaped = False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
            continue
        if in_quotes:
            if char == "\\":
                escaped = True
            elif char == '"':
                in_quotes = False
            current.append(char)
            continue
        if char == '"':
            in_quotes = True
        elif char == "<":
            in_angle = True
        elif char == ">":
            in_angle = False
        elif char == "," and not in_angle:
            element = "".join(current).strip()
            if element:
                parts.append(element)
            current = []
            continue
        current.append(char)
    element = "".join(current).strip()
    if element:
        parts.append(element)
    return parts


class Headers:
    """Ordered SIP header fields with raw names and values.

    Look-ups are case-insensitive and compact-form aware. Each entry is one
    header line as received (after unfolding); ``values()`` splits comma lists.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: list[tuple[str, str]] | None = None) -> None:
        self._fields: list[tuple[str, str]] = list(fields or [])

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._fields == other._fields

    def __repr__(self) -> str:
        return f"Headers({self._fields!r})"

    def copy(self) -> Headers:
        return Headers(self._fields)

    def get(self, name: str) -> str | None:
        """First raw value of ``name``, or None."""
        wanted = canonical_name(name)
        for field_name, value in self._fields:
            if canonical_name(field_name) == wanted:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        """Raw value of every ``name`` line, in order (not comma-split)."""
        wanted = canonical_name(name)
        return [v for n, v in self._fields if canonical_name(n) == wanted]

    def values(self, name: str) -> list[str]:
        """Every element of a list header (Via, Contact, Route...), comma-split."""
        elements: list[str] = []
        for raw in self.get_all(name):
            elements.extend(split_header_list(raw))
        return elements

    def add(self, name: str, value: str) -> None:
        """Append a header line."""
        self._fields.append((name, value))

    def prepend(self, name: str, value: str) -> None:
        """Insert a header line before the first line of the same name, else first."""
        wanted = canonical_name(name)
        for index, (field_name, _) in enumerate(self._fields):
            if canonical_name(field_name) == wanted:
                self._fields.insert(index, (name, value))
                return
        self._fields.insert(0, (name, value))

    def set(self, name: str, value: str) -> None:
        """Replace every ``name`` line by one line, at the first one's position."""
        wanted = canonical_name(name)
        for index, (field_name, _) in enumerate(self._fields):
            if canonical_name(field_name) == wanted:
                self._fields[index] = (name, value)
                self._fields[index + 1 :] = [
                    (n, v)
                    for n, v in self._fields[index + 1 :]
                    if canonical_name(n) != wanted
                ]
                return
        self._fields.append((name, value))

    def remove(self, name: str) -> None:
        """Remove every ``name`` line."""
        wanted = canonical_name(name)
        self._fields = [(n, v) for n, v in self._fields if canonical_name(n) != wanted]

    def remove_first_value(self, name: str) -> None:
        """Remove the first element of a list header (the top Via, say)."""
        wanted = canonical_name(name)
        for index, (field_name, value) in enumerate(self._fields):
            if canonical_name(field_name) == wanted:
                rest = split_header_list(value)[1:]
                if rest:
                    self._fields[index] = (field_name, ", ".join(rest))
                else:
                    del self._fields[index]
                return


@dataclass(slots=True, eq=False)
class _MessageBase:
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"
    _cache: dict[str, object] = field(default_factory=dict, repr=False)

    def invalidate(self) -> None:
        """Forget cached typed views after editing ``headers`` directly."""
        self._cache.clear()

    def _typed(self, key: str, build: object) -> object:
        if key not in self._cache:
            self._cache[key] = build() if callable(build) else build
        return self._cache[key]

    @property
    def call_id(self) -> str:
        value = self.headers.get("call-id")
        return value.strip() if value is not None else ""

    @property
    def vias(self) -> list[Via]:
        from gateway.sip.grammar import parse_via

        return self._typed(  # type: ignore[return-value]
            "via", lambda: [parse_via(v) for v in self.headers.values("via")]
        )

    @property
    def top_via(self) -> Via | None:
        vias = self.vias
        return vias[0] if vias else None

    @property
    def cseq(self) -> CSeq:
        from gateway.sip.grammar import parse_cseq

        return self._typed(  # type: ignore[return-value]
            "cseq", lambda: parse_cseq(self.headers.get("cseq") or "")
        )

    @property
    def from_addr(self) -> NameAddr:
        from gateway.sip.grammar import parse_name_addr

        return self._typed(  # type: ignore[return-value]
            "from", lambda: parse_name_addr(self.headers.get("from") or "")
        )

    @property
    def to_addr(self) -> NameAddr:
        from gateway.sip.grammar import parse_name_addr

        return self._typed(  # type: ignore[return-value]
            "to", lambda: parse_name_addr(self.headers.get("to") or "")
        )

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact elements; a lone ``*`` is returned as an empty list (see is_star)."""
        from gateway.sip.grammar import parse_name_addr

        def build() -> list[NameAddr]:
            values = self.headers.values("contact")
            if values == ["*"]:
                return []
            return [parse_name_addr(v) for v in values]

        return self._typed("contact", build)  # type: ignore[return-value]

    @property
    def is_contact_star(self) -> bool:
        return self.headers.values("contact") == ["*"]


@dataclass(slots=True, eq=False)
class SipRequest(_MessageBase):
    """A SIP request. ``uri`` is the raw Request-URI text."""

    method: str = ""
    uri: str = ""

    @property
    def is_request(self) -> bool:
        return True

    @property
    def request_uri(self) -> SipUri | TelUri | AbsoluteUri:
        """The parsed Request-URI (parsed on each call, since ``uri`` is a
        plain field that callers may reassign). Raises RemoteSipError(400)."""
        from gateway.sip.uri import parse_uri

        return parse_uri(self.uri)


@dataclass(slots=True, eq=False)
class SipResponse(_MessageBase):
    """A SIP response."""

    status: int = 0
    reason: str = ""

    @property
    def is_request(self) -> bool:
        return False


SipMessage = SipRequest | SipResponse


def _has_tag(value: str) -> bool:
    """True when a To/From value carries a tag parameter (§19.3).

    Uses the grammar so that ``;TAG = x`` counts and a ``tag`` inside the URI
    does not; a value the grammar rejects falls back to a plain text search.
    """
    from gateway.sip.errors import RemoteSipError
    from gateway.sip.grammar import parse_name_addr

    try:
        return parse_name_addr(value).tag is not None
    except RemoteSipError:
        return ";tag=" in value.replace(" ", "").lower()


def make_response(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    extra_headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> SipResponse:
    """Build a response to ``request`` per RFC 3261 §8.2.6.

    Copies Via (all, in order), From, To, Call-ID and CSeq; adds ``tag`` to To
    when ``to_tag`` is given and To has none. Record-Route is copied for 18x/2xx
    to dialog-creating requests (§12.1.1).
    """
    from gateway.sip.status import reason_phrase

    headers = Headers()
    for name, value in request.headers:
        canon = canonical_name(name)
        if canon in ("via", "from", "call-id", "cseq"):
            headers.add(name, value)
        elif canon == "to":
            if to_tag is not None and not _has_tag(value):
                value = f"{value};tag={to_tag}"
            headers.add(name, value)
        elif canon == "record-route" and 100 < status < 300:
            headers.add(name, value)
    for name, value in extra_headers or []:
        headers.add(name, value)
    return SipResponse(
        headers=headers,
        body=body,
        status=status,
        reason=reason if reason is not None else reason_phrase(status),
    )
