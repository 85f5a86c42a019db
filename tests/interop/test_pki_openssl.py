"""The CA against real OpenSSL and real TLS on loopback.

Certificates, the CRL and PKCS#12 bundles are checked by the openssl binary
(the tool admins and most room-system vendors use), and a site certificate is
used for a mutual TLS handshake by Python's ssl module (OpenSSL underneath).
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from gateway.pki.ca import CertificateAuthority, IssuedCertificate
from gateway.pki.identity import SiteIdentity, site_identity_from_der

pytestmark = pytest.mark.interop

OPENSSL = "/usr/bin/openssl"
DOMAIN = "vc.example.gov.vn"


@dataclass(frozen=True)
class Pki:
    ca: CertificateAuthority
    server: IssuedCertificate


def _now() -> dt.datetime:
    # Real TLS stacks check validity against the real clock.
    return dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """One RSA-3072 CA (the production default) and an RSA-2048 server cert."""
    ca = CertificateAuthority.create(
        tmp_path_factory.mktemp("pki") / "certs",
        org="So TTTT Tinh",
        domain=DOMAIN,
        key_type="rsa3072",
        now=_now(),
    )
    server = ca.issue_server("localhost", ips=["127.0.0.1"], now=_now())
    return Pki(ca=ca, server=server)


def openssl(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the openssl binary; its output is kept for failure messages."""
    return subprocess.run(
        [OPENSSL, *args], capture_output=True, text=True, timeout=60, check=False
    )


def _log(result: subprocess.CompletedProcess[str]) -> str:
    return f"{result.args}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_openssl_is_the_system_binary() -> None:
    """The interop tests need the real openssl at /usr/bin/openssl."""
    assert shutil.which(OPENSSL) is not None, "install openssl"
    assert openssl("version").stdout.startswith("OpenSSL 3")


@pytest.mark.parametrize("key_type", ["rsa2048", "rsa3072", "ec-p256"])
def test_openssl_verifies_site_certificate(pki: Pki, key_type: str) -> None:
    """openssl verify -x509_strict accepts each site key type as TLS client
    and server, with the CRL checked."""
    site = pki.ca.issue_site(f"verify-{key_type}", key_type=key_type, now=_now())
    for purpose in ("sslclient", "sslserver"):
        result = openssl(
            "verify",
            "-x509_strict",
            "-purpose",
            purpose,
            "-crl_check",
            "-CRLfile",
            str(pki.ca.crl_path),
            "-CAfile",
            str(pki.ca.ca_cert_path),
            str(site.cert_path),
        )
        assert result.returncode == 0, _log(result)
        assert result.stdout.strip() == f"{site.cert_path}: OK", _log(result)


def test_openssl_verifies_server_certificate(pki: Pki) -> None:
    """The gateway certificate passes -purpose sslserver and the host, domain
    and IP checks a site may apply (RFC 5922)."""
    for check in (
        ("-verify_hostname", "localhost"),
        ("-verify_hostname", DOMAIN),
        ("-verify_ip", "127.0.0.1"),
    ):
        result = openssl(
            "verify",
            "-x509_strict",
            "-purpose",
            "sslserver",
            *check,
            "-CAfile",
            str(pki.ca.ca_cert_path),
            str(pki.server.cert_path),
        )
        assert result.returncode == 0, _log(result)
    wrong = openssl(
        "verify",
        "-verify_hostname",
        "other.example",
        "-CAfile",
        str(pki.ca.ca_cert_path),
        str(pki.server.cert_path),
    )
    assert wrong.returncode != 0, _log(wrong)


def test_revoked_serial_is_listed_by_openssl_crl(pki: Pki) -> None:
    """After revoke, openssl crl -text lists the serial with its reason, the
    CRL signature verifies, and openssl verify -crl_check refuses the cert."""
    site = pki.ca.issue_site("to-revoke", key_type="ec-p256", now=_now())
    pki.ca.revoke(site="to-revoke", reason="key-compromise", now=_now())
    text = openssl("crl", "-in", str(pki.ca.crl_path), "-noout", "-text")
    assert text.returncode == 0, _log(text)
    assert f"Serial Number: {site.serial_hex.upper()}" in text.stdout, _log(text)
    assert "Key Compromise" in text.stdout
    assert "X509v3 CRL Number" in text.stdout
    assert "X509v3 Authority Key Identifier" in text.stdout
    signed = openssl(
        "crl",
        "-in",
        str(pki.ca.crl_path),
        "-noout",
        "-CAfile",
        str(pki.ca.ca_cert_path),
    )
    assert signed.returncode == 0 and "verify OK" in signed.stderr, _log(signed)
    refused = openssl(
        "verify",
        "-crl_check",
        "-CRLfile",
        str(pki.ca.crl_path),
        "-CAfile",
        str(pki.ca.ca_cert_path),
        str(site.cert_path),
    )
    assert refused.returncode != 0, _log(refused)
    assert "certificate revoked" in refused.stdout + refused.stderr, _log(refused)


def _same_public_key(cert_pem: str, key_pem: str) -> bool:
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    key = serialization.load_pem_private_key(key_pem.encode(), None)
    return bool(cert.public_key() == key.public_key())


@pytest.mark.parametrize("is_legacy", [False, True])
def test_openssl_pkcs12_opens_bundle(pki: Pki, tmp_path: Path, is_legacy: bool) -> None:
    """openssl pkcs12 opens the bundle with its password file (no -legacy
    flag needed, even for the 3DES bundle), and refuses a wrong password."""
    site = pki.ca.issue_site(
        f"p12-{'legacy' if is_legacy else 'modern'}", p12_legacy=is_legacy, now=_now()
    )
    assert site.p12_path is not None and site.p12_password_path is not None
    passin = f"file:{site.p12_password_path}"
    info = openssl(
        "pkcs12", "-in", str(site.p12_path), "-info", "-nokeys", "-passin", passin
    )
    assert info.returncode == 0, _log(info)
    expected = "pbeWithSHA1And3-KeyTripleDES-CBC" if is_legacy else "AES-256-CBC"
    assert expected in info.stderr + info.stdout, _log(info)
    certs = x509.load_pem_x509_certificates(info.stdout.encode())
    assert certs[0].serial_number == int(site.serial_hex, 16)
    assert pki.ca.ca_certificate in certs
    keys = openssl(
        "pkcs12", "-in", str(site.p12_path), "-nocerts", "-nodes", "-passin", passin
    )
    assert keys.returncode == 0, _log(keys)
    key_pem = keys.stdout[keys.stdout.index("-----BEGIN PRIVATE KEY-----") :]
    assert _same_public_key(site.cert_path.read_text(), key_pem)
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("not-the-password\n")
    refused = openssl(
        "pkcs12",
        "-in",
        str(site.p12_path),
        "-info",
        "-nokeys",
        "-passin",
        f"file:{wrong}",
    )
    assert refused.returncode != 0, _log(refused)


@dataclass
class Handshake:
    server_error: BaseException | None = None
    peer_der: bytes | None = None
    version: str | None = None
    client_result: bytes | BaseException | None = None


def _server_context(
    pki: Pki, version: ssl.TLSVersion, *, with_crl: bool
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = version
    context.maximum_version = version
    context.load_cert_chain(str(pki.server.chain_path), str(pki.server.key_path))
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cafile=str(pki.ca.ca_cert_path))
    if with_crl:
        context.load_verify_locations(cafile=str(pki.ca.crl_path))
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return context


def _client_context(pki: Pki, site: IssuedCertificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cafile=str(pki.ca.ca_cert_path))
    context.load_cert_chain(str(site.chain_path), str(site.key_path))
    return context


def _handshake(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext, server_hostname: str
) -> Handshake:
    """One mutual TLS connection over 127.0.0.1; the server replies b"ok"."""
    outcome = Handshake()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(10)
        port = listener.getsockname()[1]

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                conn.settimeout(10)
                with server_context.wrap_socket(conn, server_side=True) as tls:
                    outcome.peer_der = tls.getpeercert(binary_form=True)
                    outcome.version = tls.version()
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError) as exc:
                outcome.server_error = exc

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
                client_context.wrap_socket(raw, server_hostname=server_hostname) as tls,
            ):
                outcome.client_result = tls.recv(2)
        except (ssl.SSLError, OSError) as exc:
            outcome.client_result = exc
        thread.join(15)
        assert not thread.is_alive()
    return outcome


@pytest.mark.parametrize(
    "version",
    [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3],
    ids=["tls1.2", "tls1.3"],
)
def test_mutual_tls_then_revocation(pki: Pki, version: ssl.TLSVersion) -> None:
    """A site certificate completes mutual TLS with the gateway certificate
    (dialled by host, domain or IP); once revoked and the CRL is loaded with
    VERIFY_CRL_CHECK_LEAF, the server refuses it."""
    name = f"mtls-{version.name}"
    site = pki.ca.issue_site(name, now=_now())
    client = _client_context(pki, site)
    for dialled in ("localhost", DOMAIN, "127.0.0.1"):
        outcome = _handshake(
            _server_context(pki, version, with_crl=True), client, dialled
        )
        assert outcome.server_error is None, outcome
        assert outcome.client_result == b"ok", outcome
        assert (
            outcome.version
            == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[version.name]
        )
        assert outcome.peer_der is not None
        assert site_identity_from_der(outcome.peer_der) == SiteIdentity(
            site=name, domain=DOMAIN, serial_hex=site.serial_hex
        )

    pki.ca.revoke(site=name, reason="key-compromise", now=_now())
    refused = _handshake(
        _server_context(pki, version, with_crl=True), client, "localhost"
    )
    assert isinstance(refused.server_error, ssl.SSLCertVerificationError), refused
    assert "certificate revoked" in str(refused.server_error)
    assert refused.client_result != b"ok", refused
    # Without the CRL the same certificate is still accepted: the CRL did it.
    unchecked = _handshake(
        _server_context(pki, version, with_crl=False), client, "localhost"
    )
    assert unchecked.client_result == b"ok", unchecked


def test_cli_end_to_end(tmp_path: Path) -> None:
    """`vcgw ca` as a process: init, issue, and openssl verifies the result."""
    ca_dir = tmp_path / "certs"

    def vcgw_ca(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "gateway.app.pki_cli",
                "ca",
                "--ca-dir",
                str(ca_dir),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    init = vcgw_ca(
        "init", "--org", "So TTTT", "--domain", DOMAIN, "--key-type", "ec-p256"
    )
    assert init.returncode == 0, init.stderr
    issue = vcgw_ca("issue", "lao-cai")
    assert issue.returncode == 0, issue.stderr
    again = vcgw_ca("issue", "lao-cai")
    assert again.returncode == 1
    assert again.stderr.startswith("error: site 'lao-cai' already has a certificate")
    cert = ca_dir / "sites" / "lao-cai" / "lao-cai.crt"
    result = openssl(
        "verify", "-purpose", "sslclient", "-CAfile", str(ca_dir / "ca.crt"), str(cert)
    )
    assert result.returncode == 0, _log(result)
