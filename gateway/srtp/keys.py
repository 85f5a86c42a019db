"""SDES keying: the SDP ``a=crypto`` attribute (RFC 4568) and its negotiation.

Grammar (RFC 4568 §9.2), for the attribute value after ``a=crypto:``::

    tag 1*WSP crypto-suite 1*WSP key-params *(1*WSP session-param)
    key-params = key-param *(";" key-param)
    key-param  = "inline:" base64(key||salt) ["|" lifetime] ["|" MKI ":" length]

Policy decided here (RFC 4568 §6 leaves much to the answerer):

* Lines whose suite we do not know or cannot run are skipped, as are lines
  that ask for something libsrtp cannot honour or that would weaken security;
  the answer takes the best suite in *our* preference order that some
  acceptable line offers (§7.1.2: choose one, or reject the stream).
* UNENCRYPTED_SRTP, UNENCRYPTED_SRTCP and UNAUTHENTICATED_SRTP (§6.3.2-4)
  turn off protection: never accepted, neither offered nor answered.
* KDR (§6.3.1) is an exponent: every value asks for periodic re-derivation,
  which libsrtp 2 does not implement, so lines carrying KDR are skipped.
* MKI (§6.1) and several master keys in one line need MKI support, which
  pylibsrtp 1.0 does not expose: such lines are skipped. They still parse.
* A lifetime (§6.1) bounds how long the *sender* of the line may use its key;
  rekeying is the sender's duty, so any lifetime within the suite's maximum
  (2^48 SRTP packets) is accepted and larger ones skip the line.
* WSH (§6.3.6) is a replay-window hint for the stream the peer sends: we
  honour it, within libsrtp's limits, on our inbound context.
* FEC_ORDER (§6.3.5) is moot without FEC and is accepted; FEC_KEY (§6.3.6)
  would need a key for a FEC stream we do not run, so it skips the line.
* Unknown session parameters skip the line unless prefixed with "-" (§6.3.7).

Keys are never logged: ``KeyParams`` hides its key from ``repr`` and
:func:`redact_crypto` scrubs ``inline:`` key material from text meant for
logs. The gateway always generates fresh keys per leg with
:func:`generate_key`; a key received from one endpoint is never forwarded.
"""

from __future__ import annotations

import binascii
import hmac
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gateway.srtp.errors import LocalSrtpError, RemoteSrtpError, SrtpFailure
from gateway.srtp.suites import SrtpPolicy, SrtpSuite, suite_by_name

__all__ = [
    "MAX_CRYPTO_CHARS",
    "CryptoAttribute",
    "KeyParams",
    "Mki",
    "RandomSource",
    "accept_answer",
    "choose_answer",
    "generate_key",
    "make_offer",
    "parse_crypto",
    "redact_crypto",
    "serialize",
    "window_size_hint",
]

RandomSource = Callable[[int], bytes]
"""Returns that many cryptographically random bytes (``secrets.token_bytes``)."""

MAX_CRYPTO_CHARS = 1024
"""Longest attribute value we parse; checked before any work."""

_MAX_KEY_PARAMS = 16
_MAX_MKI_BYTES = 128  # RFC 4568 §9.2: mki-length is 1..128.
_MAX_LIFETIME_EXPONENT = 64

_WSP = re.compile(r"[ \t]+")
_VCHARS = re.compile(r"[\x21-\x7e]+")
_TAG = re.compile(r"[0-9]{1,9}")
_SUITE_NAME = re.compile(r"[A-Za-z0-9_]+")
_POWER_LIFETIME = re.compile(r"2\^([0-9]{1,2})")
_DECIMAL_LIFETIME = re.compile(r"[1-9][0-9]{0,19}")
_MKI = re.compile(r"([0-9]{1,39}):([0-9]{1,3})")
_WSH = re.compile(r"[0-9]{1,9}")
_INLINE = re.compile(r"(inline:)[^\s;]+", re.IGNORECASE)

_WEAKENING_PARAMS = frozenset(
    {"UNENCRYPTED_SRTP", "UNENCRYPTED_SRTCP", "UNAUTHENTICATED_SRTP"}
)
_FEC_ORDERS = frozenset({"FEC_SRTP", "SRTP_FEC"})
_MIN_WSH = 64  # RFC 4568 §6.3.6: the hint is at least 64.


def _sdes_error(message: str) -> RemoteSrtpError:
    return RemoteSrtpError(message, SrtpFailure.SDES)


@dataclass(frozen=True, slots=True, kw_only=True)
class Mki:
    """A master key identifier (RFC 4568 §6.1): its value and its length."""

    value: int
    length_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyParams:
    """One ``inline:`` key parameter. The key never appears in ``repr``."""

    key_salt: bytes = field(repr=False)
    """The master key followed by the master salt."""
    lifetime: str | None = None
    """Raw lifetime, ``2^n`` or decimal, as received; None when absent."""
    mki: Mki | None = None

    @property
    def lifetime_packets(self) -> int | None:
        """The lifetime as a packet count, or None when absent."""
        if self.lifetime is None:
            return None
        if self.lifetime.startswith("2^"):
            return 1 << int(self.lifetime[2:])
        return int(self.lifetime)


@dataclass(frozen=True, slots=True, kw_only=True)
class CryptoAttribute:
    """One parsed ``a=crypto`` attribute (RFC 4568 §4).

    ``suite`` and ``session_params`` are kept raw as received; the suite is
    looked up with :func:`gateway.srtp.suites.suite_by_name`.
    """

    tag: int
    suite: str
    keys: tuple[KeyParams, ...]
    session_params: tuple[str, ...] = ()

    @property
    def key_salt(self) -> bytes:
        """The first (usually only) master key||salt."""
        return self.keys[0].key_salt


def parse_crypto(value: str) -> CryptoAttribute:
    """Parse the value of an ``a=crypto`` attribute (RFC 4568 §9.2).

    Key material of known suites must have the suite's length (§6.2). Lines
    with several keys must give each an MKI of one length (§6.1).

    Raises :class:`RemoteSrtpError` (kind ``sdes``) when malformed.
    """
    if len(value) > MAX_CRYPTO_CHARS:
        raise _sdes_error(f"crypto attribute longer than {MAX_CRYPTO_CHARS} chars")
    fields = _WSP.split(value.strip(" \t"))
    if len(fields) < 3:
        raise _sdes_error("crypto attribute needs a tag, a suite and key params")
    for item in fields:
        if _VCHARS.fullmatch(item) is None:
            raise _sdes_error("crypto attribute has non-printable characters")
    tag_text, suite_name, key_text, *session_params = fields
    if _TAG.fullmatch(tag_text) is None:
        raise _sdes_error("crypto tag must be 1 to 9 digits")
    if _SUITE_NAME.fullmatch(suite_name) is None:
        raise _sdes_error("crypto suite name has invalid characters")
    keys = _parse_key_params(key_text)
    suite = suite_by_name(suite_name)
    if suite is not None:
        for key in keys:
            if len(key.key_salt) != suite.key_salt_bytes:
                raise _sdes_error(
                    f"{suite.name} needs {suite.key_salt_bytes} bytes of key "
                    f"and salt, got {len(key.key_salt)}"
                )
    return CryptoAttribute(
        tag=int(tag_text),
        suite=suite_name,
        keys=keys,
        session_params=tuple(session_params),
    )


def _parse_key_params(text: str) -> tuple[KeyParams, ...]:
    items = text.split(";")
    if len(items) > _MAX_KEY_PARAMS:
        raise _sdes_error(f"more than {_MAX_KEY_PARAMS} key params")
    keys = tuple(_parse_key_param(item) for item in items)
    if len(keys) > 1:
        mkis = [key.mki for key in keys]
        lengths = {mki.length_bytes for mki in mkis if mki is not None}
        if None in mkis or len(lengths) != 1:
            raise _sdes_error("several keys in one line need MKIs of one length")
        if len({mki.value for mki in mkis if mki is not None}) != len(mkis):
            raise _sdes_error("several keys in one line need distinct MKIs")
    return keys


def _parse_key_param(text: str) -> KeyParams:
    method, colon, info = text.partition(":")
    if not colon or method.lower() != "inline":
        raise _sdes_error("only the inline key method is supported")
    parts = info.split("|")
    if len(parts) > 3:
        raise _sdes_error("key param has too many '|' fields")
    key_salt = _decode_key(parts[0])
    lifetime: str | None = None
    mki: Mki | None = None
    rest = parts[1:]
    if rest and ":" not in rest[0]:
        lifetime = _check_lifetime(rest.pop(0))
    if rest:
        mki = _parse_mki(rest.pop(0))
    if rest:
        raise _sdes_error("key param fields must be key|lifetime|MKI:length")
    return KeyParams(key_salt=key_salt, lifetime=lifetime, mki=mki)


def _decode_key(text: str) -> bytes:
    try:
        # strict_mode rejects non-alphabet characters and bad padding.
        key_salt = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise _sdes_error("inline key is not valid base64") from None
    if not key_salt:
        raise _sdes_error("inline key is empty")
    return key_salt


def _check_lifetime(text: str) -> str:
    power = _POWER_LIFETIME.fullmatch(text)
    if power is not None:
        exponent = int(power.group(1))
        if 0 < exponent <= _MAX_LIFETIME_EXPONENT:
            return text
    elif _DECIMAL_LIFETIME.fullmatch(text) is not None:
        return text
    raise _sdes_error("key lifetime must be 2^n or a positive decimal")


def _parse_mki(text: str) -> Mki:
    match = _MKI.fullmatch(text)
    if match is None:
        raise _sdes_error("MKI must be value:length in decimal")
    value, length = int(match.group(1)), int(match.group(2))
    if not 1 <= length <= _MAX_MKI_BYTES:
        raise _sdes_error(f"MKI length must be 1..{_MAX_MKI_BYTES} bytes")
    if value >= 256**length:
        raise _sdes_error("MKI value does not fit its length")
    return Mki(value=value, length_bytes=length)


def serialize(attr: CryptoAttribute) -> str:
    """Return the ``a=crypto`` attribute value for ``attr`` (RFC 4568 §9.2).

    The result contains key material: send it only over TLS, log it only
    through :func:`redact_crypto`.
    """
    key_params = ";".join(_serialize_key(key) for key in attr.keys)
    return " ".join((str(attr.tag), attr.suite, key_params, *attr.session_params))


def _serialize_key(key: KeyParams) -> str:
    text = "inline:" + binascii.b2a_base64(key.key_salt, newline=False).decode()
    if key.lifetime is not None:
        text += "|" + key.lifetime
    if key.mki is not None:
        text += f"|{key.mki.value}:{key.mki.length_bytes}"
    return text


def redact_crypto(text: str) -> str:
    """Replace every ``inline:`` key (with lifetime and MKI) by a placeholder.

    For logs: works on whole SDP bodies, single attributes or any text.
    """
    return _INLINE.sub(lambda match: match.group(1) + "<redacted>", text)


def generate_key(
    suite: SrtpSuite,
    *,
    tag: int = 1,
    random_source: RandomSource = secrets.token_bytes,
) -> CryptoAttribute:
    """Return a new ``a=crypto`` line for ``suite`` with a fresh random key.

    Raises :class:`LocalSrtpError` if libsrtp cannot run ``suite`` or the
    random source returns the wrong number of bytes.
    """
    if not suite.is_supported:
        raise LocalSrtpError(f"cannot generate keys for unsupported {suite.name}")
    key_salt = random_source(suite.key_salt_bytes)
    if len(key_salt) != suite.key_salt_bytes:
        raise LocalSrtpError("random source returned the wrong number of bytes")
    return CryptoAttribute(
        tag=tag, suite=suite.name, keys=(KeyParams(key_salt=key_salt),)
    )


def window_size_hint(attr: CryptoAttribute) -> int | None:
    """Return the WSH session parameter of ``attr`` (RFC 4568 §6.3.6), if valid."""
    for param in attr.session_params:
        name, _, value = param.partition("=")
        if name == "WSH" and _WSH.fullmatch(value) and int(value) >= _MIN_WSH:
            return int(value)
    return None


def _session_param_refusal(param: str) -> str | None:
    """Return why ``param`` makes its line unacceptable, or None if it is fine."""
    name, _, value = param.partition("=")
    if name in _WEAKENING_PARAMS:
        return f"{name} would weaken protection"
    if name == "KDR":
        return "key derivation rate (KDR) is not supported"
    if name == "FEC_KEY":
        return "FEC_KEY is not supported"
    if name == "FEC_ORDER":
        return None if value in _FEC_ORDERS else "invalid FEC_ORDER"
    if name == "WSH":
        valid = _WSH.fullmatch(value) is not None and int(value) >= _MIN_WSH
        return None if valid else "invalid WSH"
    if name.startswith("-"):
        return None  # RFC 4568 §6.3.7: optional extensions may be ignored.
    return f"unknown mandatory session parameter {name}"


def _refusal(attr: CryptoAttribute, suite: SrtpSuite) -> str | None:
    """Return why we cannot use ``attr`` with ``suite``, or None if we can."""
    if len(attr.keys) != 1:
        return "several master keys per line are not supported"
    key = attr.keys[0]
    if key.mki is not None:
        return "MKI is not supported"
    lifetime = key.lifetime_packets
    if lifetime is not None and lifetime > suite.max_srtp_packets:
        return "key lifetime exceeds the suite maximum"
    for param in attr.session_params:
        reason = _session_param_refusal(param)
        if reason is not None:
            return reason
    return None


def _check_unique_tags(attrs: Sequence[CryptoAttribute]) -> None:
    if len({attr.tag for attr in attrs}) != len(attrs):
        raise _sdes_error("crypto tags must be unique within a media description")


def _usable_suite(attr: CryptoAttribute, policy: SrtpPolicy) -> SrtpSuite | None:
    suite = suite_by_name(attr.suite)
    if suite is None or suite not in policy.suites or _refusal(attr, suite):
        return None
    return suite


def choose_answer(
    offered: Sequence[CryptoAttribute], policy: SrtpPolicy
) -> tuple[CryptoAttribute, SrtpSuite]:
    """Pick the offered line to answer (RFC 4568 §7.1.2).

    Returns the line of the best suite, in our preference order, that some
    acceptable line offers (the offerer's first such line), and that suite.
    Answer it with ``generate_key(suite, tag=line.tag)``.

    Raises :class:`RemoteSrtpError` (kind ``sdes``) when tags repeat or no
    line is acceptable; the media stream must then be rejected.
    """
    _check_unique_tags(offered)
    usable = [(attr, _usable_suite(attr, policy)) for attr in offered]
    for suite in policy.suites:
        for attr, attr_suite in usable:
            if attr_suite is suite:
                return attr, suite
    raise _sdes_error("no acceptable crypto attribute in the offer")


def make_offer(
    policy: SrtpPolicy, *, random_source: RandomSource = secrets.token_bytes
) -> tuple[CryptoAttribute, ...]:
    """Return our offer: one line per acceptable suite, best first (§7.1.1).

    Every line has its own fresh key, so that no key is shared across suites.
    """
    return tuple(
        generate_key(suite, tag=tag, random_source=random_source)
        for tag, suite in enumerate(policy.suites, start=1)
    )


def accept_answer(
    our_offer: Sequence[CryptoAttribute],
    answer: CryptoAttribute,
    policy: SrtpPolicy,
) -> tuple[CryptoAttribute, SrtpSuite]:
    """Check the peer's answer to ``our_offer`` (RFC 4568 §7.1.3).

    Returns our offered line the answer accepted, and its suite.

    Raises :class:`RemoteSrtpError` (kind ``sdes``) when the answer names a
    tag we did not offer, changes the suite, is unacceptable, or reuses our key.
    """
    ours = next((attr for attr in our_offer if attr.tag == answer.tag), None)
    if ours is None:
        raise _sdes_error(f"answer tag {answer.tag} was not offered")
    if suite_by_name(answer.suite) is not suite_by_name(ours.suite):
        raise _sdes_error("answer changed the crypto suite of its tag")
    suite = suite_by_name(ours.suite)
    if suite is None or suite not in policy.suites:
        raise _sdes_error("answer chose a suite we no longer accept")
    reason = _refusal(answer, suite)
    if reason is not None:
        raise _sdes_error(f"unacceptable answer: {reason}")
    if hmac.compare_digest(answer.key_salt, ours.key_salt):
        raise _sdes_error("answer reused our key")
    return ours, suite
