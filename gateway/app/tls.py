"""TLS contexts for the SIP listener (stdlib ssl).

Policy: TLS 1.2 and 1.3 only (pjsua2's bundled OpenSSL and many room systems
stop at 1.2), ECDHE key exchange with AEAD ciphers only (forward secrecy),
no compression, no renegotiation, and a client certificate that chains to the
province's CA and is not on its CRL.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from gateway.errors import ConfigError

# TLS 1.2 suites: ECDHE + AEAD only. TLS 1.3 suites are all AEAD with (EC)DHE.
TLS12_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)


def _harden(context: ssl.SSLContext, min_version: str) -> None:
    context.minimum_version = (
        ssl.TLSVersion.TLSv1_3 if min_version == "1.3" else ssl.TLSVersion.TLSv1_2
    )
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_SINGLE_ECDH_USE


def make_server_context(
    *,
    certificate: Path,
    private_key: Path,
    ca_certificate: Path,
    crl: Path | None,
    min_version: str = "1.2",
) -> ssl.SSLContext:
    """Server context that requires and verifies a site certificate.

    Raises ConfigError naming the file when a certificate, key or CRL cannot
    be loaded.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _harden(context, min_version)
    context.verify_mode = ssl.CERT_REQUIRED
    _load_chain(context, certificate, private_key)
    _load_trust(context, ca_certificate, crl)
    return context


def make_client_context(
    *,
    certificate: Path,
    private_key: Path,
    ca_certificate: Path,
    crl: Path | None,
    min_version: str = "1.2",
    check_hostname: bool = False,
) -> ssl.SSLContext:
    """Client context for connections the gateway opens (sites, TLS trunks).

    The peer's certificate is verified against ``ca_certificate`` (and the
    CRL). For sites the host name is not checked here: they are reached by
    IP address and the caller checks the certificate names the site. For
    trunks ``check_hostname`` makes OpenSSL match the configured name.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _harden(context, min_version)
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    _load_chain(context, certificate, private_key)
    _load_trust(context, ca_certificate, crl)
    return context


def _load_chain(context: ssl.SSLContext, certificate: Path, private_key: Path) -> None:
    try:
        context.load_cert_chain(str(certificate), str(private_key))
    except FileNotFoundError as exc:
        raise ConfigError(f"TLS: file not found: {exc.filename}") from exc
    except ssl.SSLError as exc:
        raise ConfigError(
            f"TLS: cannot load certificate {certificate} with key {private_key}: "
            f"{exc.reason or exc}"
        ) from exc


def _load_trust(
    context: ssl.SSLContext, ca_certificate: Path, crl: Path | None
) -> None:
    try:
        context.load_verify_locations(cafile=str(ca_certificate))
        if crl is not None:
            # A CRL file is loaded like a CA file; the flag makes OpenSSL use it
            # for the leaf (site) certificate.
            context.load_verify_locations(cafile=str(crl))
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    except FileNotFoundError as exc:
        raise ConfigError(f"TLS: file not found: {exc.filename}") from exc
    except ssl.SSLError as exc:
        raise ConfigError(
            f"TLS: cannot load CA {ca_certificate} or CRL {crl}: {exc.reason or exc}"
        ) from exc


def describe_session(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> dict[str, str]:
    """TLS version and cipher of a session, for logs and call records."""
    cipher = ssl_object.cipher()
    return {
        "tls_version": ssl_object.version() or "",
        "tls_cipher": cipher[0] if cipher else "",
    }
