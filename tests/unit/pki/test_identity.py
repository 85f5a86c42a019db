"""Site names and identities read back from certificates."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from gateway.errors import PkiError
from gateway.pki.ca import CertificateAuthority
from gateway.pki.identity import (
    SiteIdentity,
    normalize_serial,
    site_identity_from_der,
    validate_dns_name,
    validate_site_name,
)
from gateway.pki.profiles import (
    SITE_PROFILE,
    CertRequest,
    KeyType,
    build_certificate,
    generate_key,
)

from .conftest import DOMAIN


@pytest.mark.parametrize(
    "name",
    ["hanoi", "HaNoi-UBND_2", "a", "x" * 64, "site.room!~*'()", "1-2.3"],
)
def test_valid_site_names(name: str) -> None:
    """Letters, digits and the RFC 3261 marks - _ . ! ~ * ' ( ) are accepted."""
    validate_site_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "site name is empty"),
        ("ha noi", "'ha noi' has a space at position 3"),
        ("a/b", "has a slash '/' at position 2"),
        ("..", "starts with a dot"),
        (".hidden", "starts with a dot"),
        ("user@host", "has an at sign '@' at position 5"),
        ("a%20b", "has a percent sign '%' at position 2"),
        ("hà-nội", "has the character U+00E0 at position 2"),
        ("a;b", "has the character ';' at position 2"),
        ("a\tb", "has the character U+0009 at position 2"),
        ("x" * 65, "is 65 characters long: the limit is 64"),
    ],
)
def test_invalid_site_names_say_what_is_wrong(name: str, message: str) -> None:
    """Each refusal names the bad character and its position."""
    with pytest.raises(PkiError, match=re.escape(message)) as info:
        validate_site_name(name)
    if name and len(name) <= 64 and not name.startswith("."):
        assert "use only letters a-z A-Z, digits 0-9" in str(info.value)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _custom_cert(
    ca: CertificateAuthority,
    now: dt.datetime,
    sans: tuple[x509.GeneralName, ...],
    common_name: str | None = "cn-site",
) -> x509.Certificate:
    key = generate_key(KeyType.EC_P256)
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "org")]
    if common_name is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    request = CertRequest(
        subject=x509.Name(attributes),
        public_key=key.public_key(),
        key_type=KeyType.EC_P256,
        sans=sans,
        serial=0x0ABC,
        not_before=now,
        not_after=now + dt.timedelta(days=1),
    )
    return build_certificate(
        SITE_PROFILE, request, issuer=ca.ca_certificate, issuer_key=ca._ca_key()
    )


def test_identity_from_issued_site_certificate(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """An issued site cert yields its site, domain and serial."""
    issued = ca.issue_site("Lao-Cai", key_type="ec-p256", now=now)
    cert = x509.load_pem_x509_certificate(issued.cert_path.read_bytes())
    assert site_identity_from_der(_der(cert)) == SiteIdentity(
        site="Lao-Cai", domain=DOMAIN, serial_hex=issued.serial_hex
    )


def test_san_uri_wins_over_cn(ca: CertificateAuthority, now: dt.datetime) -> None:
    """The SAN URI is authoritative; the host is lower-cased, params dropped."""
    cert = _custom_cert(
        ca,
        now,
        (x509.UniformResourceIdentifier("sip:room1@VC.Example.VN;transport=tls"),),
    )
    identity = site_identity_from_der(_der(cert))
    assert identity == SiteIdentity(
        site="room1", domain="vc.example.vn", serial_hex="0abc"
    )


def test_cn_used_only_without_san_uri(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """No SAN URI at all: the CN is the site and the domain is empty."""
    cert = _custom_cert(ca, now, (x509.DNSName("room.example.vn"),))
    assert site_identity_from_der(_der(cert)) == SiteIdentity(
        site="cn-site", domain="", serial_hex="0abc"
    )


def test_server_certificate_is_not_a_site(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """sip:DOMAIN has no user part, and its CN must not be used instead."""
    issued = ca.issue_server("gw", key_type="ec-p256", now=now)
    der = _der(x509.load_pem_x509_certificate(issued.cert_path.read_bytes()))
    with pytest.raises(PkiError, match="no SAN URI of the form sip:SITE@DOMAIN"):
        site_identity_from_der(der)


def test_invalid_user_in_san_is_refused(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """A SAN URI whose user is not a valid site name does not identify a site."""
    cert = _custom_cert(ca, now, (x509.UniformResourceIdentifier("sip:a%2Fb@x.vn"),))
    with pytest.raises(PkiError, match="no SAN URI"):
        site_identity_from_der(_der(cert))


def test_two_sites_in_one_certificate_are_refused(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """A certificate naming two different sites is ambiguous and refused."""
    sans = (
        x509.UniformResourceIdentifier("sip:a@x.vn"),
        x509.UniformResourceIdentifier("sip:b@x.vn"),
    )
    with pytest.raises(
        PkiError, match=re.escape("names several sites: sip:a@x.vn, sip:b@x.vn")
    ):
        site_identity_from_der(_der(_custom_cert(ca, now, sans)))


def test_bad_cn_without_san_is_refused(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """Without SAN URIs, a CN that is not a valid name or is missing is refused."""
    with pytest.raises(PkiError, match="has a space"):
        site_identity_from_der(_der(_custom_cert(ca, now, (), common_name="a b")))
    with pytest.raises(PkiError, match="no SIP URI and no single CN"):
        site_identity_from_der(_der(_custom_cert(ca, now, (), common_name=None)))


def test_garbage_der_is_refused() -> None:
    """Bytes that are not a certificate give PkiError, not a crash."""
    with pytest.raises(PkiError, match="not valid DER"):
        site_identity_from_der(b"\x30\x03\x02\x01\x00")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0A:BC", "0abc"), ("0xabc", "0abc"), (" ABC ", "0abc"), ("0012", "12")],
)
def test_normalize_serial(text: str, expected: str) -> None:
    """Serials typed by admins match the inventory form in any notation."""
    assert normalize_serial(text) == expected


def test_dns_name_validation() -> None:
    """Host names are lower-cased; bad labels are named in the error."""
    assert validate_dns_name("GW.Example.VN", what="host name") == "gw.example.vn"
    with pytest.raises(PkiError, match="part 'bad_label' must be"):
        validate_dns_name("bad_label.vn", what="host name")
    with pytest.raises(PkiError, match="part '' must be"):
        validate_dns_name("trailing.dot.", what="--domain")
