"""Site names and the site identity carried by a certificate.

A site is named by the user part of a SIP URI (RFC 3261 §25.1 ``user``). The
gateway also uses the name as a folder name under ``sites/``, so the accepted
alphabet is the unreserved subset of that rule that is safe on a file system:
ASCII letters, digits and ``- _ . ! ~ * ' ( )``, no leading dot, at most 64
characters. Escapes (``%xx``) and the other ``user-unreserved`` characters
(``& = + $ , ; ? /``) are refused: they would need quoting in paths and logs.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from gateway.errors import PkiError

__all__ = [
    "MAX_SITE_NAME_LENGTH",
    "SiteIdentity",
    "format_serial",
    "normalize_serial",
    "site_identity_from_der",
    "site_uri",
    "validate_dns_name",
    "validate_site_name",
]

MAX_SITE_NAME_LENGTH = 64
_MARKS = "-_.!~*'()"
_ALLOWED = frozenset(string.ascii_letters + string.digits + _MARKS)
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_CHARACTER_NAMES = {
    " ": "a space",
    "/": "a slash '/'",
    "\\": "a backslash '\\'",
    "@": "an at sign '@'",
    ":": "a colon ':'",
    "%": "a percent sign '%'",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteIdentity:
    """The site a certificate was issued to.

    ``domain`` is the lower-cased host part of the SIP URI, or ``""`` when the
    name came from a bare common name.
    """

    site: str
    domain: str
    serial_hex: str


def _describe_character(character: str) -> str:
    if character in _CHARACTER_NAMES:
        return _CHARACTER_NAMES[character]
    if character.isprintable() and character.isascii():
        return f"the character {character!r}"
    return f"the character U+{ord(character):04X}"


def validate_site_name(name: str) -> None:
    """Check that ``name`` is a usable site name.

    Raises :class:`PkiError` with a message that says which character is wrong
    and what is allowed.
    """
    if not name:
        raise PkiError("site name is empty: give a name such as 'hanoi-dept-health'")
    if len(name) > MAX_SITE_NAME_LENGTH:
        raise PkiError(
            f"site name {name[:20]!r}... is {len(name)} characters long: "
            f"the limit is {MAX_SITE_NAME_LENGTH}"
        )
    for position, character in enumerate(name, start=1):
        if character not in _ALLOWED:
            raise PkiError(
                f"site name {name!r} has {_describe_character(character)} at "
                f"position {position}: use only letters a-z A-Z, digits 0-9 and "
                f"{' '.join(_MARKS)}"
            )
    if name.startswith("."):
        raise PkiError(f"site name {name!r} starts with a dot: remove the dot")


def site_uri(site: str, domain: str) -> str:
    """The SIP URI that names ``site`` in ``domain`` (``sip:SITE@DOMAIN``)."""
    return f"sip:{site}@{domain}"


def _site_from_sip_uri(uri: str) -> tuple[str, str] | None:
    """Split ``sip:user@host[;params]`` into (user, lower-case host), else None."""
    scheme, separator, rest = uri.partition(":")
    if not separator or scheme.lower() not in ("sip", "sips"):
        return None
    user, at, host = rest.partition("@")
    if not at or "?" in host:
        return None
    host = host.split(";", 1)[0].lower()
    if not host:
        return None
    return user, host


def site_identity_from_der(der: bytes) -> SiteIdentity:
    """Read the site identity from a DER certificate.

    The SAN URI ``sip:SITE@DOMAIN`` is authoritative (RFC 5922 §7.1 style:
    SAN first). The subject CN is used only when the certificate has no SAN
    URI at all; it then yields ``domain=""``. Raises :class:`PkiError` when the
    certificate cannot be parsed, when it names no valid site, or when its SAN
    names two different sites.
    """
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise PkiError(f"peer certificate is not valid DER: {exc}") from exc
    serial_hex = format_serial(cert.serial_number)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        uris = san.value.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    if uris:
        return _identity_from_uris(uris, serial_hex)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise PkiError(f"certificate {serial_hex} has no SIP URI and no single CN")
    common_name = names[0].value
    if not isinstance(common_name, str):
        raise PkiError(f"certificate {serial_hex} has a CN that is not text")
    validate_site_name(common_name)
    return SiteIdentity(site=common_name, domain="", serial_hex=serial_hex)


def _identity_from_uris(uris: list[str], serial_hex: str) -> SiteIdentity:
    found: set[tuple[str, str]] = set()
    for uri in uris:
        parts = _site_from_sip_uri(uri)
        if parts is None:
            continue
        try:
            validate_site_name(parts[0])
        except PkiError:
            continue
        found.add(parts)
    if not found:
        raise PkiError(
            f"certificate {serial_hex} has no SAN URI of the form sip:SITE@DOMAIN "
            "with a valid site name"
        )
    if len(found) > 1:
        listed = ", ".join(sorted(site_uri(s, d) for s, d in found))
        raise PkiError(f"certificate {serial_hex} names several sites: {listed}")
    site, domain = found.pop()
    return SiteIdentity(site=site, domain=domain, serial_hex=serial_hex)


def format_serial(serial: int) -> str:
    """Serial number as lower-case hex with an even number of digits."""
    text = f"{serial:x}"
    return text if len(text) % 2 == 0 else "0" + text


def normalize_serial(text: str) -> str:
    """Normalize a serial typed by an admin (any case, colons, 0x) for lookup."""
    cleaned = text.strip().lower().replace(":", "")
    cleaned = cleaned.removeprefix("0x")
    try:
        value = int(cleaned, 16)
    except ValueError:
        raise PkiError(
            f"serial {text!r} is not hexadecimal (like 3a:f0:... or 3AF0...)"
        ) from None
    return format_serial(value)


def validate_dns_name(name: str, *, what: str) -> str:
    """Lower-case ``name`` after checking it is a DNS host name (RFC 1123)."""
    lowered = name.lower()
    if not lowered or len(lowered) > 253:
        raise PkiError(f"{what} {name!r} must be 1 to 253 characters long")
    for label in lowered.split("."):
        if not _DNS_LABEL.fullmatch(label):
            raise PkiError(
                f"{what} {name!r} is not a valid DNS name: part {label!r} must be "
                "1-63 letters, digits or '-', not starting or ending with '-'"
            )
    return lowered
