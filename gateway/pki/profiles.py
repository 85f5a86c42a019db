"""Certificate profiles: the only way the CA builds certificates and CRLs.

Three named, immutable profiles exist:

``ca``
    The self-signed root. basicConstraints CA:TRUE, pathlen 0 (it signs only
    leaves); keyUsage keyCertSign and cRLSign.
``site``
    A room system or MCU of one site. CN=SITE and SAN URI ``sip:SITE@DOMAIN``;
    EKU clientAuth (it registers over mutual TLS) and serverAuth (the gateway
    connects to it for calls in some deployments).
``sip_tls_server``
    The gateway's own TLS certificate. Per RFC 5922 §7.1 a SIP peer checks the
    SAN URI ``sip:DOMAIN`` and the DNS names, so it names the host, the
    domain as DNS and URI, and listen IPs. EKU serverAuth and clientAuth,
    because the gateway also opens TLS connections to peers (RFC 5923).

Leaf keyUsage follows RFC 5280 §4.2.1.3 and TLS practice: digitalSignature,
plus keyEncipherment only for RSA keys (RSA key transport); an EC key cannot
encipher, and OpenSSL rejects an EC certificate that claims it.

Key types. Sites default to RSA-2048: many room systems sold in 2015-2020
(still common in provincial meeting rooms) cannot import or use ECDSA keys,
and RSA-2048 is still accepted by NIST SP 800-57 until 2030. RSA-3072 and
EC P-256 are offered for newer devices. The CA defaults to RSA-3072 so that
it outlives its leaves.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.errors import PkiError

__all__ = [
    "BACKDATE",
    "CA_PROFILE",
    "PROFILES",
    "REVOCATION_REASONS",
    "SERIAL_BITS",
    "SIP_TLS_SERVER_PROFILE",
    "SITE_PROFILE",
    "CertProfile",
    "CertRequest",
    "KeyType",
    "PrivateKey",
    "RevokedEntry",
    "build_certificate",
    "build_crl",
    "build_pkcs12",
    "generate_key",
    "key_type_of",
    "parse_key_type",
    "private_key_pem",
    "random_serial",
    "server_names",
    "sha256_fingerprint",
    "site_names",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

# RFC 5280 §4.1.2.2 allows 20 octets; 159 random bits keep the number positive
# and within that limit while giving far more than the 64 bits CAs must use.
SERIAL_BITS = 159

# Room systems often run with a clock a few minutes off; starting validity one
# hour in the past keeps a fresh certificate from being "not yet valid".
BACKDATE = dt.timedelta(hours=1)


class KeyType(Enum):
    """Key algorithms the CA generates."""

    RSA2048 = "rsa2048"
    RSA3072 = "rsa3072"
    EC_P256 = "ec-p256"

    @property
    def is_rsa(self) -> bool:
        """True for RSA keys (they may carry keyEncipherment)."""
        return self is not KeyType.EC_P256


def parse_key_type(text: str, allowed: frozenset[KeyType]) -> KeyType:
    """Parse a CLI key type such as ``rsa2048``; PkiError if not in ``allowed``."""
    names = ", ".join(sorted(k.value for k in allowed))
    try:
        key_type = KeyType(text)
    except ValueError:
        raise PkiError(f"unknown key type {text!r}: use one of {names}") from None
    if key_type not in allowed:
        raise PkiError(f"key type {text!r} is not allowed here: use one of {names}")
    return key_type


def generate_key(key_type: KeyType) -> PrivateKey:
    """A fresh private key of ``key_type``."""
    if key_type is KeyType.EC_P256:
        return ec.generate_private_key(ec.SECP256R1())
    size = 2048 if key_type is KeyType.RSA2048 else 3072
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def key_type_of(key: PrivateKey) -> KeyType:
    """The :class:`KeyType` of an existing key."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return KeyType.EC_P256
    return KeyType.RSA2048 if key.key_size <= 2048 else KeyType.RSA3072


def random_serial(randbits: Callable[[int], int] = secrets.randbits) -> int:
    """A random, positive, non-zero certificate serial number."""
    while True:
        serial = randbits(SERIAL_BITS)
        if serial > 0:
            return serial


@dataclass(frozen=True, slots=True, kw_only=True)
class CertProfile:
    """What a class of certificate may contain. Immutable; see module doc."""

    name: str
    is_ca: bool
    path_length: int | None
    extended_key_usages: tuple[x509.ObjectIdentifier, ...]
    key_types: frozenset[KeyType]

    def key_usage(self, key_type: KeyType) -> x509.KeyUsage:
        """keyUsage for a key of ``key_type`` under this profile."""
        return x509.KeyUsage(
            digital_signature=not self.is_ca,
            content_commitment=False,
            key_encipherment=not self.is_ca and key_type.is_rsa,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=self.is_ca,
            crl_sign=self.is_ca,
            encipher_only=False,
            decipher_only=False,
        )


_LEAF_KEY_TYPES = frozenset(KeyType)

CA_PROFILE = CertProfile(
    name="ca",
    is_ca=True,
    path_length=0,
    extended_key_usages=(),
    key_types=frozenset({KeyType.RSA3072, KeyType.EC_P256}),
)
SITE_PROFILE = CertProfile(
    name="site",
    is_ca=False,
    path_length=None,
    extended_key_usages=(
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.SERVER_AUTH,
    ),
    key_types=_LEAF_KEY_TYPES,
)
SIP_TLS_SERVER_PROFILE = CertProfile(
    name="sip_tls_server",
    is_ca=False,
    path_length=None,
    extended_key_usages=(
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ),
    key_types=_LEAF_KEY_TYPES,
)
PROFILES: dict[str, CertProfile] = {
    p.name: p for p in (CA_PROFILE, SITE_PROFILE, SIP_TLS_SERVER_PROFILE)
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CertRequest:
    """Everything that varies between two certificates of one profile."""

    subject: x509.Name
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
    key_type: KeyType
    sans: tuple[x509.GeneralName, ...]
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime


def build_certificate(
    profile: CertProfile,
    request: CertRequest,
    *,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey,
) -> x509.Certificate:
    """Sign a certificate for ``request`` under ``profile``.

    ``issuer`` is None for the self-signed root. Raises PkiError when the key
    type does not fit the profile.
    """
    if request.key_type not in profile.key_types:
        raise PkiError(
            f"key type {request.key_type.value} is not allowed for {profile.name}"
        )
    issuer_name = request.subject if issuer is None else issuer.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(request.subject)
        .issuer_name(issuer_name)
        .public_key(request.public_key)
        .serial_number(request.serial)
        .not_valid_before(request.not_before)
        .not_valid_after(request.not_after)
        .add_extension(
            x509.BasicConstraints(ca=profile.is_ca, path_length=profile.path_length),
            critical=True,
        )
        .add_extension(profile.key_usage(request.key_type), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(request.public_key),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if profile.extended_key_usages:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(profile.extended_key_usages)), critical=False
        )
    if request.sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(list(request.sans)), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def site_names(
    site: str, domain: str, org: str
) -> tuple[x509.Name, tuple[x509.GeneralName, ...]]:
    """Subject and SANs of a site certificate: CN=SITE, URI sip:SITE@DOMAIN."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, site),
        ]
    )
    return subject, (x509.UniformResourceIdentifier(f"sip:{site}@{domain}"),)


def server_names(
    hostname: str, domain: str, org: str, ips: Sequence[str]
) -> tuple[x509.Name, tuple[x509.GeneralName, ...]]:
    """Subject and SANs of the gateway's certificate (RFC 5922 §7.1).

    SANs: DNS hostname, DNS domain, URI ``sip:DOMAIN`` and each IP address.
    Raises PkiError for an IP address that does not parse.
    """
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if len(hostname) <= 64:  # X.520 upper bound of a CN.
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, hostname))
    sans: list[x509.GeneralName] = [x509.DNSName(hostname)]
    if domain != hostname:
        sans.append(x509.DNSName(domain))
    sans.append(x509.UniformResourceIdentifier(f"sip:{domain}"))
    for text in ips:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise PkiError(f"--ip {text!r} is not an IPv4 or IPv6 address") from None
        sans.append(x509.IPAddress(address))
    return x509.Name(attributes), tuple(sans)


# RFC 5280 §5.3.1 reason codes offered to admins. certificateHold is left out:
# a hold can be lifted, and the inventory treats revocation as final.
REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key-compromise": x509.ReasonFlags.key_compromise,
    "affiliation-changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation-of-operation": x509.ReasonFlags.cessation_of_operation,
    "privilege-withdrawn": x509.ReasonFlags.privilege_withdrawn,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RevokedEntry:
    """One CRL entry."""

    serial: int
    revoked_at: dt.datetime
    reason: str


def build_crl(
    *,
    ca_cert: x509.Certificate,
    ca_key: PrivateKey,
    revoked: Sequence[RevokedEntry],
    crl_number: int,
    this_update: dt.datetime,
    next_update: dt.datetime,
) -> x509.CertificateRevocationList:
    """Sign a CRL (RFC 5280 §5) with a CRL number and authority key identifier.

    The reasonCode entry extension is left out for ``unspecified``, as RFC
    5280 §5.3.1 recommends.
    """
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
    )
    for entry in revoked:
        item = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at)
        )
        flag = REVOCATION_REASONS[entry.reason]
        if flag is not x509.ReasonFlags.unspecified:
            item = item.add_extension(x509.CRLReason(flag), critical=False)
        builder = builder.add_revoked_certificate(item.build())
    return builder.sign(ca_key, hashes.SHA256())


def private_key_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with the best available scheme if ``passphrase``."""
    encryption: serialization.KeySerializationEncryption
    if passphrase is None:
        encryption = serialization.NoEncryption()
    else:
        encryption = serialization.BestAvailableEncryption(passphrase)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


# PBKDF2 rounds of the PKCS#12 bundle. A random password (the default) needs
# no stretching; an admin's own password gets some, while an old room system
# with a slow CPU still imports the bundle in seconds. 2048 is OpenSSL's
# default count and what legacy firmware expects.
_P12_ROUNDS = 50_000
_P12_LEGACY_ROUNDS = 2048


def build_pkcs12(
    *,
    name: str,
    key: PrivateKey,
    cert: x509.Certificate,
    ca_cert: x509.Certificate,
    password: bytes,
    is_legacy: bool,
) -> bytes:
    """A password-protected PKCS#12 bundle with key, certificate and CA.

    Default: PBES2 with PBKDF2-SHA256 and AES-256-CBC, HMAC-SHA256 MAC; this
    is what OpenSSL 3 writes and reads without its legacy provider.
    ``is_legacy``: PBE-SHA1-3DES for keys and certificates with an HMAC-SHA1
    MAC, for room systems whose firmware predates PBES2 (roughly before 2018).
    OpenSSL 3 still reads it, because 3DES is in its default provider.
    """
    algorithm = (
        pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC
        if is_legacy
        else pkcs12.PBES.PBESv2SHA256AndAES256CBC
    )
    mac_hash: hashes.HashAlgorithm = hashes.SHA1() if is_legacy else hashes.SHA256()
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(_P12_LEGACY_ROUNDS if is_legacy else _P12_ROUNDS)
        .key_cert_algorithm(algorithm)
        .hmac_hash(mac_hash)
        .build(password)
    )
    return pkcs12.serialize_key_and_certificates(
        name.encode(), key, cert, [ca_cert], encryption
    )


def sha256_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint as colon-separated upper-case hex, like openssl."""
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()
