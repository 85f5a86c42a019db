"""The per-site certificate authority of one gateway (one province).

Folder layout (the gateway reads these paths)::

    ca.crt  crl.pem  inventory.sqlite3
    private/ca.key  private/ca.pass
    sites/SITE/SITE.crt SITE.key SITE-chain.pem SITE.p12 [SITE.p12.pass]
    sites/SITE/old/SERIAL/...       earlier material of the same site
    server/server.crt server.key server-chain.pem   server/old/SERIAL/...

Keys. The CA key is encrypted (PKCS#8, best available scheme) with a random
passphrase in ``private/ca.pass`` or a file the admin names. Site and server
keys are NOT encrypted: room systems import plain PEM keys, and the gateway
must start unattended after a power cut. They are protected by mode 0600 and
0700 folders instead. PKCS#12 bundles are always password protected.

Crash safety. The inventory is the record of truth and each command changes it
in one transaction. New files are first written to a staging folder
(``.staging-SERIAL``) next to their final place; the inventory is committed;
then the folder is moved into place, earlier material going to ``old/SERIAL``.
A new CRL is written as ``.crl-pending.pem`` before the commit and renamed to
``crl.pem`` after it; its CRL number tells whether that commit happened. The
next command finishes committed work and deletes uncommitted work, so a crash
leaves either nothing or a complete, recorded result.

Renewal and re-issue of the server certificate revoke the old certificate
with reason ``superseded``, as EJBCA and Cisco Expressway do: a replaced key
may still sit on a decommissioned device, so it must stop working.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from gateway.errors import PkiError
from gateway.pki import fsutil
from gateway.pki.identity import (
    format_serial,
    normalize_serial,
    validate_dns_name,
    validate_site_name,
)
from gateway.pki.profiles import (
    BACKDATE,
    CA_PROFILE,
    REVOCATION_REASONS,
    SIP_TLS_SERVER_PROFILE,
    SITE_PROFILE,
    CertProfile,
    CertRequest,
    KeyType,
    PrivateKey,
    RevokedEntry,
    build_certificate,
    build_crl,
    build_pkcs12,
    generate_key,
    parse_key_type,
    private_key_pem,
    random_serial,
    server_names,
    sha256_fingerprint,
    site_names,
)
from gateway.pki.store import (
    STAGING_PREFIX,
    CaLayout,
    CertState,
    Inventory,
    StoredCert,
    base_name,
    has_leftovers,
    install_staged,
    publish_crl,
    recover,
    recover_init,
)

__all__ = [
    "CaLayout",
    "CertRecord",
    "CertificateAuthority",
    "IssuedCertificate",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCertificate:
    """Where a newly issued certificate and its key were written.

    ``p12_path`` is None for the server certificate; ``p12_password_path`` is
    None when the admin supplied the PKCS#12 password.
    """

    name: str
    serial_hex: str
    not_after: dt.datetime
    cert_path: Path
    key_path: Path
    chain_path: Path
    p12_path: Path | None
    p12_password_path: Path | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CertRecord:
    """One inventory entry as shown by ``vcgw ca list``.

    ``status`` is "valid", "expired", "revoked" or "superseded".
    """

    name: str
    kind: str
    serial_hex: str
    not_before: dt.datetime
    not_after: dt.datetime
    status: str
    sha256_fingerprint: str
    revoked_at: dt.datetime | None
    reason: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Plan:
    """What ``_issue`` must produce."""

    kind: str
    name: str
    profile: CertProfile
    subject: x509.Name
    sans: tuple[x509.GeneralName, ...]
    key_type: KeyType
    days: int
    p12_password: bytes | None = None
    is_p12_legacy: bool = False


def _require_aware(now: dt.datetime) -> None:
    if now.tzinfo is None:
        raise PkiError("internal: 'now' must be a timezone-aware datetime")


def _check_days(days: int) -> None:
    if days < 1:
        raise PkiError(f"--days {days} is not a positive number of days")


def _check_org(org: str) -> None:
    if not org.strip() or len(org) > 64 or not org.isprintable():
        raise PkiError(f"--org {org!r} must be 1 to 64 printable characters")


class CertificateAuthority:
    """A CA folder: issue, renew and revoke certificates, publish the CRL.

    Obtain one with :meth:`create` or :meth:`load`. Every method that changes
    the CA takes a lock, finishes work a crash left, and raises
    :class:`PkiError` with an admin-readable message on any failure.
    """

    def __init__(
        self,
        layout: CaLayout,
        inventory: Inventory,
        ca_cert: x509.Certificate,
        passphrase_file: Path,
    ) -> None:
        self._layout = layout
        self._inventory = inventory
        self._ca_cert = ca_cert
        self._passphrase_file = passphrase_file
        self._domain = inventory.get_meta("domain")
        self._org = inventory.get_meta("org")

    # Properties -----------------------------------------------------------

    @property
    def domain(self) -> str:
        """The province's SIP domain."""
        return self._domain

    @property
    def org(self) -> str:
        """The organisation named in certificates."""
        return self._org

    @property
    def ca_dir(self) -> Path:
        """The CA folder."""
        return self._layout.root

    @property
    def ca_cert_path(self) -> Path:
        """Path of ``ca.crt``."""
        return self._layout.ca_cert

    @property
    def crl_path(self) -> Path:
        """Path of ``crl.pem``."""
        return self._layout.crl

    @property
    def ca_certificate(self) -> x509.Certificate:
        """The CA certificate."""
        return self._ca_cert

    def close(self) -> None:
        """Close the inventory."""
        self._inventory.close()

    # Creation and loading -------------------------------------------------

    @classmethod
    def create(
        cls,
        ca_dir: Path,
        *,
        org: str,
        domain: str,
        key_type: str = "rsa3072",
        days: int = 3650,
        now: dt.datetime,
        passphrase_file: Path | None = None,
    ) -> CertificateAuthority:
        """Create a new CA in ``ca_dir`` with its first CRL.

        Raises PkiError when a CA (or part of one) already exists there, or
        for a bad org, domain, key type or validity.
        """
        _require_aware(now)
        _check_org(org)
        domain = validate_dns_name(domain, what="--domain")
        kind = parse_key_type(key_type, CA_PROFILE.key_types)
        _check_days(days)
        layout = CaLayout(ca_dir)
        fsutil.make_dir(ca_dir, mode=0o755)
        with fsutil.exclusive_lock(layout.lock):
            recover_init(layout)
            existing = [
                p.name
                for p in (layout.ca_cert, layout.crl, layout.private, layout.inventory)
                if p.exists()
            ] + [p.name for p in (layout.sites, layout.server) if p.exists()]
            if existing:
                raise PkiError(
                    f"{ca_dir} already holds a CA ({', '.join(existing)}): "
                    "refusing to overwrite it; use another --ca-dir"
                )
            if passphrase_file is not None:
                passphrase = fsutil.read_secret_file(
                    passphrase_file, what="CA passphrase"
                )
            else:
                passphrase = secrets.token_urlsafe(32).encode()
            staging = layout.init_staging
            try:
                _build_ca(
                    staging, org, domain, kind, days, now, passphrase, passphrase_file
                )
            except Exception:
                fsutil.remove_tree(staging)  # Nothing was moved into place yet.
                raise
            # The inventory is moved last: its presence marks a finished CA.
            for name in ("private", "sites", "ca.crt", "crl.pem", "inventory.sqlite3"):
                fsutil.rename(staging / name, ca_dir / name)
            fsutil.remove_tree(staging)
        return cls.load(ca_dir, passphrase_file=passphrase_file)

    @classmethod
    def load(
        cls, ca_dir: Path, *, passphrase_file: Path | None = None
    ) -> CertificateAuthority:
        """Open the CA in ``ca_dir``, finishing any work a crash interrupted.

        The CA key is decrypted only when a command needs it. Raises PkiError
        when the folder holds no complete CA.
        """
        layout = CaLayout(ca_dir)
        if not ca_dir.is_dir():
            raise PkiError(
                f"CA folder {ca_dir} does not exist: run 'vcgw ca init' "
                "or give the right --ca-dir"
            )
        if not layout.inventory.is_file():
            if layout.init_staging.exists():
                raise PkiError(
                    f"'vcgw ca init' in {ca_dir} was interrupted: run it again"
                )
            raise PkiError(
                f"no CA in {ca_dir} ({layout.inventory.name} is missing): "
                "run 'vcgw ca init' or give the right --ca-dir"
            )
        ca_cert = _load_ca_cert(layout.ca_cert)
        inventory = Inventory.open(layout.inventory)
        if passphrase_file is None:
            try:
                recorded = inventory.get_meta("passphrase_file")
            except PkiError:
                recorded = ""
            passphrase_file = Path(recorded) if recorded else layout.ca_pass
        ca = cls(layout, inventory, ca_cert, passphrase_file)
        if has_leftovers(layout):
            with fsutil.exclusive_lock(layout.lock):
                recover(layout, inventory)
        return ca

    # Issuing --------------------------------------------------------------

    def issue_site(
        self,
        site: str,
        *,
        days: int = 825,
        key_type: str = "rsa2048",
        p12_password: bytes | None = None,
        p12_legacy: bool = False,
        now: dt.datetime,
    ) -> IssuedCertificate:
        """Issue key, certificate, chain and PKCS#12 for a new site.

        Refused when the site already has an active certificate (use
        :meth:`renew`) or the name is not a valid site name. ``p12_password``
        None writes a random password to ``SITE.p12.pass``.
        """
        validate_site_name(site)
        _require_aware(now)
        _check_days(days)
        plan = self._site_plan(site, days, key_type, p12_password, p12_legacy)
        with self._mutation():
            current = self._inventory.active(site, "site")
            if current is not None:
                raise PkiError(
                    f"site {current.name!r} already has a certificate (serial "
                    f"{current.serial_hex}): use 'vcgw ca renew {current.name}' or "
                    "revoke it first"
                )
            return self._issue(plan, now=now, supersede=None)

    def issue_server(
        self,
        hostname: str,
        *,
        ips: Sequence[str] = (),
        days: int = 825,
        key_type: str = "rsa2048",
        now: dt.datetime,
    ) -> IssuedCertificate:
        """Issue the gateway's TLS certificate, replacing any earlier one.

        SANs: DNS hostname, DNS domain, URI ``sip:DOMAIN``, each IP (RFC 5922).
        The replaced certificate is revoked as superseded.
        """
        hostname = validate_dns_name(hostname, what="host name")
        _require_aware(now)
        _check_days(days)
        subject, sans = server_names(hostname, self._domain, self._org, ips)
        plan = _Plan(
            kind="server",
            name=hostname,
            profile=SIP_TLS_SERVER_PROFILE,
            subject=subject,
            sans=sans,
            key_type=parse_key_type(key_type, SIP_TLS_SERVER_PROFILE.key_types),
            days=days,
        )
        with self._mutation():
            current = self._inventory.active(None, "server")
            return self._issue(plan, now=now, supersede=current)

    def renew(
        self,
        site: str,
        *,
        days: int | None = None,
        p12_password: bytes | None = None,
        p12_legacy: bool = False,
        now: dt.datetime,
    ) -> IssuedCertificate:
        """Give an active (or expired) site a new key and certificate.

        The old certificate is revoked with reason superseded and its files
        move to ``sites/SITE/old/SERIAL/``. ``days`` None keeps the old
        lifetime; the key type stays the same.
        """
        validate_site_name(site)
        _require_aware(now)
        if days is not None:
            _check_days(days)
        with self._mutation():
            current = self._inventory.active(site, "site")
            if current is None:
                raise PkiError(
                    f"site {site!r} has no active certificate to renew: "
                    f"issue one with 'vcgw ca issue {site}'"
                )
            if days is None:
                lifetime = current.not_after - current.not_before - BACKDATE
                days = max(1, round(lifetime / dt.timedelta(days=1)))
            plan = self._site_plan(
                current.name, days, current.key_type, p12_password, p12_legacy
            )
            return self._issue(plan, now=now, supersede=current)

    def _site_plan(
        self,
        site: str,
        days: int,
        key_type: str,
        p12_password: bytes | None,
        p12_legacy: bool,
    ) -> _Plan:
        if p12_password is not None and not p12_password:
            raise PkiError("the PKCS#12 password is empty")
        subject, sans = site_names(site, self._domain, self._org)
        return _Plan(
            kind="site",
            name=site,
            profile=SITE_PROFILE,
            subject=subject,
            sans=sans,
            key_type=parse_key_type(key_type, SITE_PROFILE.key_types),
            days=days,
            p12_password=p12_password,
            is_p12_legacy=p12_legacy,
        )

    def _validity(self, days: int, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        ca_end = self._ca_cert.not_valid_after_utc
        if now >= ca_end:
            raise PkiError(f"the CA expired on {ca_end:%Y-%m-%d}: create a new CA")
        not_after = now + dt.timedelta(days=days)
        if not_after > ca_end:
            most = (ca_end - now).days
            raise PkiError(
                f"--days {days} would outlive the CA (valid until {ca_end:%Y-%m-%d}): "
                f"use --days {most} or less"
            )
        return now - BACKDATE, not_after

    def _issue(
        self, plan: _Plan, *, now: dt.datetime, supersede: StoredCert | None
    ) -> IssuedCertificate:
        """Stage files, commit the inventory, then install the files."""
        ca_key = self._ca_key()
        not_before, not_after = self._validity(plan.days, now)
        key = generate_key(plan.key_type)
        serial_hex = format_serial(random_serial())
        request = CertRequest(
            subject=plan.subject,
            public_key=key.public_key(),
            key_type=plan.key_type,
            sans=plan.sans,
            serial=int(serial_hex, 16),
            not_before=not_before,
            not_after=not_after,
        )
        cert = build_certificate(
            plan.profile, request, issuer=self._ca_cert, issuer_key=ca_key
        )
        target = self._layout.material_dir(plan.kind, plan.name)
        staging = target.parent / f"{STAGING_PREFIX}{serial_hex}"
        record = StoredCert(
            serial_hex=serial_hex,
            name=plan.name,
            kind=plan.kind,
            key_type=plan.key_type.value,
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            sha256=sha256_fingerprint(cert),
            state=CertState.ACTIVE,
            revoked_at=None,
            reason=None,
        )
        # Until the commit nothing is recorded, so on any error the staged
        # files are deleted at once (a hard crash leaves them to _recover).
        try:
            has_password_file = self._stage(staging, plan, key, cert)
            if supersede is None:
                with self._inventory.transaction():
                    self._inventory.add(record)
            else:
                with self._crl_transaction(ca_key, now=now):
                    self._inventory.end(
                        supersede.serial_hex,
                        state=CertState.SUPERSEDED,
                        at=now,
                        reason="superseded",
                    )
                    self._inventory.add(record)
        except Exception:
            fsutil.remove_tree(staging)
            fsutil.remove_tree(self._layout.crl_pending)
            raise
        install_staged(staging, target, base_name(plan.kind, plan.name))
        publish_crl(self._layout, self._inventory)
        base = base_name(plan.kind, plan.name)
        return IssuedCertificate(
            name=plan.name,
            serial_hex=serial_hex,
            not_after=record.not_after,
            cert_path=target / f"{base}.crt",
            key_path=target / f"{base}.key",
            chain_path=target / f"{base}-chain.pem",
            p12_path=target / f"{base}.p12" if plan.kind == "site" else None,
            p12_password_path=target / f"{base}.p12.pass"
            if has_password_file
            else None,
        )

    def _stage(
        self, staging: Path, plan: _Plan, key: PrivateKey, cert: x509.Certificate
    ) -> bool:
        """Write all files of ``plan`` into ``staging``; True if a p12.pass was."""
        base = base_name(plan.kind, plan.name)
        fsutil.make_dir(staging.parent, mode=0o755)
        fsutil.make_dir(staging)
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        ca_pem = self._ca_cert.public_bytes(serialization.Encoding.PEM)
        private = fsutil.PRIVATE_FILE_MODE
        fsutil.write_file_atomic(staging / f"{base}.crt", cert_pem)
        fsutil.write_file_atomic(
            staging / f"{base}.key", private_key_pem(key), mode=private
        )
        fsutil.write_file_atomic(staging / f"{base}-chain.pem", cert_pem + ca_pem)
        if plan.kind != "site":
            return False
        password = plan.p12_password
        has_password_file = password is None
        if password is None:
            # URL-safe characters: some room-system web UIs reject symbols.
            password = secrets.token_urlsafe(18).encode()
            fsutil.write_file_atomic(
                staging / f"{base}.p12.pass", password + b"\n", mode=private
            )
        bundle = build_pkcs12(
            name=plan.name,
            key=key,
            cert=cert,
            ca_cert=self._ca_cert,
            password=password,
            is_legacy=plan.is_p12_legacy,
        )
        fsutil.write_file_atomic(staging / f"{base}.p12", bundle, mode=private)
        return has_password_file

    # Revocation and CRL ---------------------------------------------------

    def revoke(
        self,
        *,
        site: str | None = None,
        serial_hex: str | None = None,
        reason: str = "unspecified",
        now: dt.datetime,
    ) -> CertRecord:
        """Revoke a site's active certificate, or any one by serial, and
        rewrite the CRL at once (RFC 5280 §5). Raises PkiError if there is
        nothing to revoke or the reason is unknown.
        """
        _require_aware(now)
        if (site is None) == (serial_hex is None):
            raise PkiError("give either a site name or --serial HEX (one of them)")
        if reason not in REVOCATION_REASONS:
            raise PkiError(
                f"unknown reason {reason!r}: use one of {', '.join(REVOCATION_REASONS)}"
            )
        with self._mutation():
            target = self._find_for_revoke(site, serial_hex)
            ca_key = self._ca_key()
            try:
                with self._crl_transaction(ca_key, now=now):
                    self._inventory.end(
                        target.serial_hex,
                        state=CertState.REVOKED,
                        at=now,
                        reason=reason,
                    )
            except Exception:
                fsutil.remove_tree(self._layout.crl_pending)
                raise
            publish_crl(self._layout, self._inventory)
            updated = self._inventory.get(target.serial_hex)
        assert updated is not None  # It was just updated under the lock.
        return _to_record(updated, now)

    def _find_for_revoke(self, site: str | None, serial_hex: str | None) -> StoredCert:
        if site is not None:
            validate_site_name(site)
            found = self._inventory.active(site, "site")
            if found is None:
                latest = self._inventory.latest(site, "site")
                if latest is not None:
                    raise PkiError(f"site {site!r} is already {latest.state.value}")
                raise PkiError(f"no certificate for site {site!r}: see 'vcgw ca list'")
            return found
        assert serial_hex is not None
        normalized = normalize_serial(serial_hex)
        found = self._inventory.get(normalized)
        if found is None:
            raise PkiError(
                f"no certificate with serial {serial_hex}: see 'vcgw ca list'"
            )
        if found.state is not CertState.ACTIVE:
            raise PkiError(f"certificate {normalized} is already {found.state.value}")
        return found

    def write_crl(self, *, now: dt.datetime, next_update_days: int = 7) -> Path:
        """Publish a fresh CRL (new number, thisUpdate now) and return its path."""
        _require_aware(now)
        if next_update_days < 1:
            raise PkiError(f"next update in {next_update_days} days must be 1 or more")
        with self._mutation():
            ca_key = self._ca_key()
            try:
                with self._crl_transaction(
                    ca_key, now=now, next_update_days=next_update_days
                ):
                    pass
            except Exception:
                fsutil.remove_tree(self._layout.crl_pending)
                raise
            publish_crl(self._layout, self._inventory)
        return self._layout.crl

    @contextlib.contextmanager
    def _crl_transaction(
        self, ca_key: PrivateKey, *, now: dt.datetime, next_update_days: int = 7
    ) -> Iterator[None]:
        """A transaction whose changes are followed by a new pending CRL.

        The CRL is built inside the transaction, so it sees the changes, and
        written before the commit; ``_publish_crl`` renames it afterwards.
        """
        with self._inventory.transaction():
            yield
            number = int(self._inventory.get_meta("crl_number")) + 1
            self._inventory.set_meta("crl_number", str(number))
            entries = [
                RevokedEntry(
                    serial=int(c.serial_hex, 16),
                    revoked_at=c.revoked_at or now,
                    reason=c.reason or "unspecified",
                )
                for c in self._inventory.ended()
            ]
            crl = build_crl(
                ca_cert=self._ca_cert,
                ca_key=ca_key,
                revoked=entries,
                crl_number=number,
                this_update=now,
                next_update=now + dt.timedelta(days=next_update_days),
            )
            fsutil.write_file_atomic(
                self._layout.crl_pending, crl.public_bytes(serialization.Encoding.PEM)
            )

    # Listing --------------------------------------------------------------

    def list(self, *, now: dt.datetime) -> list[CertRecord]:
        """Every certificate ever issued, oldest first, with its status at ``now``."""
        _require_aware(now)
        return [_to_record(c, now) for c in self._inventory.all()]

    # Locking, keys, recovery ----------------------------------------------

    @contextlib.contextmanager
    def _mutation(self) -> Iterator[None]:
        with fsutil.exclusive_lock(self._layout.lock):
            recover(self._layout, self._inventory)
            yield

    def _ca_key(self) -> PrivateKey:
        passphrase = fsutil.read_secret_file(
            self._passphrase_file, what="CA passphrase"
        )
        path = self._layout.ca_key
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise PkiError(
                f"cannot read CA key {fsutil.describe_os_error(path, exc)}"
            ) from exc
        try:
            key = serialization.load_pem_private_key(data, password=passphrase)
        except (ValueError, TypeError) as exc:
            raise PkiError(
                f"cannot decrypt {path} with the passphrase in "
                f"{self._passphrase_file}: wrong passphrase file or damaged key"
            ) from exc
        if not isinstance(key, PrivateKey):
            raise PkiError(f"{path} is not an RSA or EC key")
        if key.public_key() != self._ca_cert.public_key():
            raise PkiError(f"{path} does not belong to {self._layout.ca_cert}")
        return key


def _build_ca(
    staging: Path,
    org: str,
    domain: str,
    key_type: KeyType,
    days: int,
    now: dt.datetime,
    passphrase: bytes,
    passphrase_file: Path | None,
) -> None:
    """Write a complete CA (key, certificate, first CRL, inventory) in ``staging``."""
    fsutil.remove_tree(staging)
    fsutil.make_dir(staging / "private")
    fsutil.make_dir(staging / "sites", mode=0o755)
    key = generate_key(key_type)
    common_name = f"{org} SIP CA" if len(org) <= 57 else "SIP CA"
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    request = CertRequest(
        subject=subject,
        public_key=key.public_key(),
        key_type=key_type,
        sans=(),
        serial=random_serial(),
        not_before=now - BACKDATE,
        not_after=now + dt.timedelta(days=days),
    )
    cert = build_certificate(CA_PROFILE, request, issuer=None, issuer_key=key)
    crl = build_crl(
        ca_cert=cert,
        ca_key=key,
        revoked=(),
        crl_number=1,
        this_update=now,
        next_update=now + dt.timedelta(days=7),
    )
    private = fsutil.PRIVATE_FILE_MODE
    if passphrase_file is None:
        fsutil.write_file_atomic(
            staging / "private" / "ca.pass", passphrase + b"\n", mode=private
        )
    fsutil.write_file_atomic(
        staging / "private" / "ca.key", private_key_pem(key, passphrase), mode=private
    )
    fsutil.write_file_atomic(
        staging / "ca.crt", cert.public_bytes(serialization.Encoding.PEM)
    )
    fsutil.write_file_atomic(
        staging / "crl.pem", crl.public_bytes(serialization.Encoding.PEM)
    )
    inventory = Inventory.create(staging / "inventory.sqlite3", org=org, domain=domain)
    try:
        with inventory.transaction():
            inventory.set_meta("crl_number", "1")
            if passphrase_file is not None:
                inventory.set_meta("passphrase_file", str(passphrase_file.resolve()))
    finally:
        inventory.close()
    fsutil.fsync_dir(staging)


def _load_ca_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError as exc:
        raise PkiError(f"CA certificate {path} is missing") from exc
    except OSError as exc:
        raise PkiError(f"cannot read {fsutil.describe_os_error(path, exc)}") from exc
    except ValueError as exc:
        raise PkiError(f"CA certificate {path} is not a PEM certificate") from exc


def _to_record(cert: StoredCert, now: dt.datetime) -> CertRecord:
    if cert.state is CertState.ACTIVE:
        status = "expired" if cert.not_after <= now else "valid"
    else:
        status = cert.state.value
    return CertRecord(
        name=cert.name,
        kind=cert.kind,
        serial_hex=cert.serial_hex,
        not_before=cert.not_before,
        not_after=cert.not_after,
        status=status,
        sha256_fingerprint=cert.sha256,
        revoked_at=cert.revoked_at,
        reason=cert.reason,
    )
