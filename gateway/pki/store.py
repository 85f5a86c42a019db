"""The CA's durable state: the inventory and the folder layout.

The inventory is one SQLite file holding every certificate ever issued.

The inventory is the record of truth. Each command changes it in one
transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``), so a crash leaves either
the old or the new state. Files on disk follow the inventory: the CA stages
them before the commit and installs them after it (see ``ca.py``).

A partial unique index allows only one ``active`` certificate per site name
(case-insensitive, so ``HaNoi`` and ``hanoi`` cannot both be active).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from cryptography import x509

from gateway.errors import PkiError
from gateway.pki import fsutil
from gateway.pki.identity import format_serial

__all__ = [
    "RETIRED_PREFIX",
    "STAGING_PREFIX",
    "CaLayout",
    "CertState",
    "Inventory",
    "StoredCert",
    "base_name",
    "has_leftovers",
    "install_staged",
    "publish_crl",
    "recover",
    "recover_init",
]

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE certs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    serial_hex TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('site', 'server')),
    key_type TEXT NOT NULL,
    not_before TEXT NOT NULL,
    not_after TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'revoked', 'superseded')),
    revoked_at TEXT,
    reason TEXT
);
CREATE UNIQUE INDEX one_active_per_name
    ON certs (kind, name COLLATE NOCASE) WHERE state = 'active';
"""


class CertState(Enum):
    """Stored lifecycle state. "expired" is derived from the time, not stored."""

    ACTIVE = "active"
    REVOKED = "revoked"
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCert:
    """One inventory row."""

    serial_hex: str
    name: str
    kind: str
    key_type: str
    not_before: dt.datetime
    not_after: dt.datetime
    sha256: str
    state: CertState
    revoked_at: dt.datetime | None
    reason: str | None


def _to_text(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _from_text(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


def _row_to_cert(row: sqlite3.Row) -> StoredCert:
    not_before = _from_text(row["not_before"])
    not_after = _from_text(row["not_after"])
    assert not_before is not None and not_after is not None  # NOT NULL columns.
    return StoredCert(
        serial_hex=row["serial_hex"],
        name=row["name"],
        kind=row["kind"],
        key_type=row["key_type"],
        not_before=not_before,
        not_after=not_after,
        sha256=row["sha256"],
        state=CertState(row["state"]),
        revoked_at=_from_text(row["revoked_at"]),
        reason=row["reason"],
    )


class Inventory:
    """Access to ``inventory.sqlite3``. Methods that write need a transaction."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self._path = path
        self._db = connection

    @classmethod
    def create(cls, path: Path, *, org: str, domain: str) -> Inventory:
        """Create a new inventory file at ``path`` with the CA metadata."""
        if path.exists():
            raise PkiError(f"{path} already exists")
        inventory = cls(path, cls._connect(path))
        with inventory.transaction():
            # executescript() would commit early; run statements one by one.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    inventory._query(statement)
            for key, value in (
                ("schema_version", SCHEMA_VERSION),
                ("org", org),
                ("domain", domain),
                ("crl_number", "0"),
            ):
                inventory.set_meta(key, value)
        return inventory

    @classmethod
    def open(cls, path: Path) -> Inventory:
        """Open an existing inventory; PkiError if missing or not ours."""
        if not path.is_file():
            raise PkiError(f"inventory {path} is missing")
        inventory = cls(path, cls._connect(path))
        try:
            version = inventory.get_meta("schema_version")
        except PkiError:
            inventory.close()
            raise
        if version != SCHEMA_VERSION:
            inventory.close()
            raise PkiError(f"inventory {path} has schema {version}, expected 1")
        return inventory

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(path, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            raise PkiError(f"cannot open inventory {path}: {exc}") from exc
        return db

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction: committed on success, rolled back on error."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise PkiError(f"inventory {self._path} is busy or broken: {exc}") from exc
        try:
            yield
            self.commit()
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def commit(self) -> None:
        """Commit the open transaction (a separate method so tests can fail it)."""
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise PkiError(f"cannot save inventory {self._path}: {exc}") from exc

    def _query(self, sql: str, params: tuple[object, ...] = ()) -> list[sqlite3.Row]:
        try:
            return list(self._db.execute(sql, params))
        except sqlite3.Error as exc:
            raise PkiError(f"inventory {self._path} is unreadable: {exc}") from exc

    def get_meta(self, key: str) -> str:
        """A metadata value (org, domain, crl_number, schema_version)."""
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        if not rows:
            raise PkiError(f"inventory {self._path} has no {key!r} entry")
        return str(rows[0]["value"])

    def set_meta(self, key: str, value: str) -> None:
        """Set a metadata value (inside a transaction)."""
        self._query(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value)
        )

    def add(self, cert: StoredCert) -> None:
        """Record a newly issued certificate (inside a transaction)."""
        try:
            self._db.execute(
                "INSERT INTO certs (serial_hex, name, kind, key_type, not_before,"
                " not_after, sha256, state, revoked_at, reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    cert.serial_hex,
                    cert.name,
                    cert.kind,
                    cert.key_type,
                    _to_text(cert.not_before),
                    _to_text(cert.not_after),
                    cert.sha256,
                    cert.state.value,
                    None if cert.revoked_at is None else _to_text(cert.revoked_at),
                    cert.reason,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise PkiError(
                f"{cert.kind} {cert.name!r} already has an active certificate"
            ) from exc
        except sqlite3.Error as exc:
            raise PkiError(f"cannot record in inventory {self._path}: {exc}") from exc

    def end(
        self, serial_hex: str, *, state: CertState, at: dt.datetime, reason: str
    ) -> None:
        """Mark an active certificate revoked or superseded (in a transaction)."""
        self._query(
            "UPDATE certs SET state = ?, revoked_at = ?, reason = ?"
            " WHERE serial_hex = ? AND state = 'active'",
            (state.value, _to_text(at), reason, serial_hex),
        )

    def get(self, serial_hex: str) -> StoredCert | None:
        """The certificate with this serial, if recorded."""
        rows = self._query("SELECT * FROM certs WHERE serial_hex = ?", (serial_hex,))
        return _row_to_cert(rows[0]) if rows else None

    def active(self, name: str | None, kind: str) -> StoredCert | None:
        """The active certificate of that kind and name (case-insensitive).

        ``name=None`` matches any name: there is one gateway server
        certificate, whatever host name it carries.
        """
        rows = self._query(
            "SELECT * FROM certs WHERE kind = ? AND state = 'active'"
            " AND (? IS NULL OR name = ? COLLATE NOCASE) ORDER BY id DESC",
            (kind, name, name),
        )
        return _row_to_cert(rows[0]) if rows else None

    def latest(self, name: str, kind: str) -> StoredCert | None:
        """The most recently issued certificate of that name, whatever its state."""
        rows = self._query(
            "SELECT * FROM certs WHERE kind = ? AND name = ? ORDER BY id DESC LIMIT 1",
            (kind, name),
        )
        return _row_to_cert(rows[0]) if rows else None

    def all(self) -> list[StoredCert]:
        """Every certificate, oldest first."""
        return [_row_to_cert(r) for r in self._query("SELECT * FROM certs ORDER BY id")]

    def ended(self) -> list[StoredCert]:
        """Every revoked or superseded certificate: the CRL entries."""
        rows = self._query("SELECT * FROM certs WHERE state != 'active' ORDER BY id")
        return [_row_to_cert(r) for r in rows]


# The CA folder on disk ------------------------------------------------------

STAGING_PREFIX = ".staging-"
RETIRED_PREFIX = ".retired-"


@dataclass(frozen=True, slots=True)
class CaLayout:
    """Paths inside a CA folder (see ``ca.py`` for the whole layout)."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        """The CA certificate (PEM)."""
        return self.root / "ca.crt"

    @property
    def crl(self) -> Path:
        """The current CRL (PEM)."""
        return self.root / "crl.pem"

    @property
    def private(self) -> Path:
        """Folder of the CA key and passphrase."""
        return self.root / "private"

    @property
    def ca_key(self) -> Path:
        """The encrypted CA key."""
        return self.private / "ca.key"

    @property
    def ca_pass(self) -> Path:
        """The default CA passphrase file."""
        return self.private / "ca.pass"

    @property
    def inventory(self) -> Path:
        """The SQLite inventory."""
        return self.root / "inventory.sqlite3"

    @property
    def sites(self) -> Path:
        """Folder of the site folders."""
        return self.root / "sites"

    @property
    def server(self) -> Path:
        """Folder of the gateway's own certificate."""
        return self.root / "server"

    @property
    def lock(self) -> Path:
        """Lock file that makes commands take turns."""
        return self.root / ".lock"

    @property
    def crl_pending(self) -> Path:
        """A CRL written before its inventory commit."""
        return self.root / ".crl-pending.pem"

    @property
    def init_staging(self) -> Path:
        """Where the CA is built before it is moved into place."""
        return self.root / ".init-staging"

    def material_dir(self, kind: str, name: str) -> Path:
        """Final folder of a site's or the server's files."""
        return self.server if kind == "server" else self.sites / name


def base_name(kind: str, name: str) -> str:
    """File name stem: the site name, or ``server``."""
    return "server" if kind == "server" else name


def install_staged(staging: Path, target: Path, base: str) -> None:
    """Move a committed staging folder to ``target``, archiving old material.

    Old files go to ``target/old/SERIAL/`` (and older history with them).
    Each step is one rename and the steps can be re-run from any point, so
    crash recovery simply calls this again.
    """
    serial_hex = staging.name.removeprefix(STAGING_PREFIX)
    retired = staging.parent / f"{RETIRED_PREFIX}{serial_hex}"
    if target.exists():
        # While the staging folder exists, the target holds old material.
        fsutil.rename(target, retired)
    if retired.exists():
        history = staging / "old"
        if (retired / "old").exists():
            fsutil.rename(retired / "old", history)
        fsutil.make_dir(history)
        old_serial = _serial_of_file(retired / f"{base}.crt")
        fsutil.rename(retired, _free_path(history / old_serial))
    fsutil.rename(staging, target)


def publish_crl(layout: CaLayout, inventory: Inventory) -> None:
    """Move a committed pending CRL into place; drop an uncommitted one.

    The pending CRL carries the number the transaction set, so comparing it
    with the stored number tells whether that transaction was committed.
    """
    pending = layout.crl_pending
    if not pending.exists():
        return
    committed = int(inventory.get_meta("crl_number"))
    if _crl_number_of(pending) == committed:
        fsutil.rename(pending, layout.crl)
    else:
        fsutil.remove_tree(pending)


def has_leftovers(layout: CaLayout) -> bool:
    """True when a crash left work for :func:`recover`."""
    if layout.crl_pending.exists() or layout.init_staging.exists():
        return True
    return any(
        entry.name.startswith((STAGING_PREFIX, RETIRED_PREFIX))
        or (entry.name.startswith(".") and fsutil.TEMP_MARKER in entry.name)
        for parent in (layout.root, layout.sites)
        if parent.is_dir()
        for entry in parent.iterdir()
    )


def recover(layout: CaLayout, inventory: Inventory) -> None:
    """Finish committed work and delete uncommitted work left by a crash.

    Call with the CA lock held. A staging folder whose serial is recorded is
    installed; one that is not recorded is deleted, as are temporary files.
    """
    if layout.init_staging.exists():
        fsutil.remove_tree(layout.init_staging)  # The inventory exists: CA done.
    for parent in (layout.root, layout.sites):
        if not parent.is_dir():
            continue
        for entry in sorted(parent.iterdir()):
            if entry.name.startswith(".") and fsutil.TEMP_MARKER in entry.name:
                fsutil.remove_tree(entry)
            elif entry.name.startswith(STAGING_PREFIX):
                record = inventory.get(entry.name.removeprefix(STAGING_PREFIX))
                if record is None:
                    fsutil.remove_tree(entry)
                else:
                    target = layout.material_dir(record.kind, record.name)
                    install_staged(entry, target, base_name(record.kind, record.name))
    publish_crl(layout, inventory)


def recover_init(layout: CaLayout) -> None:
    """Undo a CA creation that crashed before its inventory was moved in."""
    if not layout.init_staging.exists():
        return
    if not layout.inventory.exists():
        # Creation refuses to start when any of these exist, so they can only
        # come from the interrupted run.
        for path in (layout.private, layout.sites, layout.ca_cert, layout.crl):
            fsutil.remove_tree(path)
    fsutil.remove_tree(layout.init_staging)


def _crl_number_of(path: Path) -> int | None:
    try:
        crl = x509.load_pem_x509_crl(path.read_bytes())
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except (OSError, ValueError, x509.ExtensionNotFound):
        return None


def _serial_of_file(path: Path) -> str:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return "unknown"
    return format_serial(cert.serial_number)


def _free_path(path: Path) -> Path:
    candidate, number = path, 2
    while candidate.exists():
        candidate = path.with_name(f"{path.name}-{number}")
        number += 1
    return candidate
