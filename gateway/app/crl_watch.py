"""Watch the CRL file: reload trust for new handshakes, report revoked serials.

The file is re-read when its size, mtime or inode changes. A CRL that does not
parse or is not signed by our CA is ignored (the old one stays in force) and
reported, so a bad copy never opens the door.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.errors import PkiError
from gateway.pki.identity import format_serial


@dataclass(frozen=True, slots=True)
class VerifiedCrl:
    """Revoked serials (hex, as `vcgw ca list` prints them) and the CRL's end."""

    revoked: frozenset[str]
    next_update: datetime | None


def read_verified_crl(crl_path: Path, ca_cert_path: Path) -> VerifiedCrl:
    """Read ``crl_path``; PkiError if it is unreadable or not signed by the CA."""
    try:
        crl = x509.load_pem_x509_crl(crl_path.read_bytes())
        ca = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise PkiError(
            f"cannot read CRL {crl_path} or CA {ca_cert_path}: {exc}"
        ) from exc
    public_key = ca.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise PkiError(f"CA {ca_cert_path}: unsupported key type")
    if not crl.is_signature_valid(public_key):
        raise PkiError(f"CRL {crl_path} is not signed by the CA {ca_cert_path}")
    return VerifiedCrl(
        revoked=frozenset(format_serial(entry.serial_number) for entry in crl),
        next_update=crl.next_update_utc,
    )


class CrlWatcher:
    """Polls one CRL file; ``poll()`` says whether it changed since last time."""

    def __init__(self, crl_path: Path) -> None:
        self._path = crl_path
        self._signature: tuple[int, int, int] | None = self._stat()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            info = os.stat(self._path)
        except OSError:
            return None
        return (info.st_ino, info.st_size, info.st_mtime_ns)

    def poll(self) -> bool:
        current = self._stat()
        if current == self._signature:
            return False
        self._signature = current
        return current is not None
