"""Certificate profiles: every extension the style guide and RFC 5280 ask for."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.errors import PkiError
from gateway.pki.ca import CertificateAuthority
from gateway.pki.profiles import (
    BACKDATE,
    CA_PROFILE,
    PROFILES,
    SERIAL_BITS,
    SITE_PROFILE,
    CertRequest,
    KeyType,
    RevokedEntry,
    build_certificate,
    build_crl,
    generate_key,
    parse_key_type,
    random_serial,
)

from .conftest import DOMAIN, ORG


def _load(path: object) -> x509.Certificate:
    assert hasattr(path, "read_bytes")
    return x509.load_pem_x509_certificate(path.read_bytes())


def _ext(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> x509.Extension:  # type: ignore[type-arg]
    return cert.extensions.get_extension_for_class(kind)


def test_profiles_are_named_and_immutable() -> None:
    """Exactly the three named profiles exist and cannot be changed."""
    assert set(PROFILES) == {"ca", "site", "sip_tls_server"}
    with pytest.raises(AttributeError):
        CA_PROFILE.is_ca = False  # type: ignore[misc]


def test_ca_certificate_extensions(rsa_ca: CertificateAuthority) -> None:
    """The root is a CA with pathlen 0, signs certs and CRLs, and has SKI=AKI."""
    cert = rsa_ca.ca_certificate
    basic = _ext(cert, x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = _ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature and not usage.value.key_encipherment
    ski = _ext(cert, x509.SubjectKeyIdentifier).value.digest
    assert _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ski
    assert cert.subject == cert.issuer
    assert (
        cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == ORG
    )
    assert cert.public_key().key_size == 3072  # type: ignore[union-attr]


def test_rsa_site_certificate(rsa_ca: CertificateAuthority, now: dt.datetime) -> None:
    """An RSA site cert: CN and SAN URI name the site; RSA gets keyEncipherment."""
    issued = rsa_ca.issue_site("hanoi-ubnd", now=now)
    cert = _load(issued.cert_path)
    assert cert.public_key().key_size == 2048  # type: ignore[union-attr]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        "hanoi-ubnd"
    )
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"sip:hanoi-ubnd@{DOMAIN}"
    ]
    basic = _ext(cert, x509.BasicConstraints)
    assert basic.critical and not basic.value.ca
    usage = _ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.key_encipherment
    assert not usage.value.key_cert_sign
    eku = _ext(cert, x509.ExtendedKeyUsage).value
    assert set(eku) == {
        ExtendedKeyUsageOID.CLIENT_AUTH,
        ExtendedKeyUsageOID.SERVER_AUTH,
    }
    ca_ski = _ext(rsa_ca.ca_certificate, x509.SubjectKeyIdentifier).value.digest
    assert _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == ca_ski
    assert _ext(cert, x509.SubjectKeyIdentifier).value.digest != ca_ski
    assert cert.not_valid_before_utc == (now - BACKDATE).replace(microsecond=0)
    assert cert.not_valid_after_utc == (now + dt.timedelta(days=825)).replace(
        microsecond=0
    )


def test_ec_site_certificate_has_no_key_encipherment(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """An EC key cannot encipher, so its keyUsage is digitalSignature only."""
    cert = _load(ca.issue_site("danang", key_type="ec-p256", now=now).cert_path)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    usage = _ext(cert, x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_encipherment
    assert not usage.key_agreement


def test_server_certificate_names_host_and_domain(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """RFC 5922: DNS host, DNS domain, URI sip:DOMAIN and the listen IPs."""
    issued = ca.issue_server(
        "GW1.vc.example.gov.vn",
        ips=["127.0.0.1", "::1"],
        key_type="ec-p256",
        now=now,
    )
    cert = _load(issued.cert_path)
    san = _ext(cert, x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["gw1.vc.example.gov.vn", DOMAIN]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [f"sip:{DOMAIN}"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    eku = _ext(cert, x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    assert issued.p12_path is None and issued.p12_password_path is None


def test_server_rejects_bad_ip(ca: CertificateAuthority, now: dt.datetime) -> None:
    """A malformed --ip is named in the error."""
    with pytest.raises(PkiError, match=r"--ip '10\.0\.0\.300' is not an IPv4"):
        ca.issue_server("gw", ips=["10.0.0.300"], key_type="ec-p256", now=now)


def test_serials_are_random_positive_and_short() -> None:
    """Serials fit 159 bits and zero is never used (RFC 5280 §4.1.2.2)."""
    draws: Iterator[int] = iter([0, 5])
    assert random_serial(lambda bits: next(draws)) == 5
    for _ in range(50):
        serial = random_serial()
        assert 0 < serial < 2**SERIAL_BITS


def test_parse_key_type_messages() -> None:
    """Unknown or disallowed key types say what is allowed."""
    assert parse_key_type("ec-p256", SITE_PROFILE.key_types) is KeyType.EC_P256
    with pytest.raises(PkiError, match="unknown key type 'dsa'"):
        parse_key_type("dsa", SITE_PROFILE.key_types)
    with pytest.raises(PkiError, match="use one of ec-p256, rsa3072"):
        parse_key_type("rsa2048", CA_PROFILE.key_types)


def test_profile_refuses_wrong_key_type(now: dt.datetime) -> None:
    """The ca profile refuses an RSA-2048 key even when called directly."""
    key = generate_key(KeyType.EC_P256)
    request = CertRequest(
        subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]),
        public_key=key.public_key(),
        key_type=KeyType.RSA2048,
        sans=(),
        serial=1,
        not_before=now,
        not_after=now + dt.timedelta(days=1),
    )
    with pytest.raises(PkiError, match="not allowed for ca"):
        build_certificate(CA_PROFILE, request, issuer=None, issuer_key=key)


def test_crl_extensions_and_reasons(ca: CertificateAuthority, now: dt.datetime) -> None:
    """The CRL has a number, an AKI, nextUpdate, and reason codes except
    'unspecified' (RFC 5280 §5.3.1)."""
    ca_key = ca._ca_key()
    crl = build_crl(
        ca_cert=ca.ca_certificate,
        ca_key=ca_key,
        revoked=[
            RevokedEntry(serial=10, revoked_at=now, reason="key-compromise"),
            RevokedEntry(serial=11, revoked_at=now, reason="unspecified"),
        ],
        crl_number=42,
        this_update=now,
        next_update=now + dt.timedelta(days=7),
    )
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 42
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = _ext(ca.ca_certificate, x509.SubjectKeyIdentifier).value.digest
    assert aki.key_identifier == ski
    assert crl.next_update_utc == now + dt.timedelta(days=7)
    compromised = crl.get_revoked_certificate_by_serial_number(10)
    assert compromised is not None
    reason = compromised.extensions.get_extension_for_class(x509.CRLReason)
    assert reason.value.reason is x509.ReasonFlags.key_compromise
    plain = crl.get_revoked_certificate_by_serial_number(11)
    assert plain is not None and len(plain.extensions) == 0
    assert crl.is_signature_valid(ca.ca_certificate.public_key())  # type: ignore[arg-type]
