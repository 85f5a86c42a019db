"""SQLite store (the embedded default). One transaction per change.

The schema carries a version in ``meta``. A new file is created at version 1
and migrated up like an old one, so every file takes the same path through
``_MIGRATIONS``; a file from a newer vcgw is refused rather than damaged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import astuple, fields
from pathlib import Path

from gateway.errors import StoreError
from gateway.store.base import Binding, CallRecord, LegRecord

_SCHEMA_VERSION = 2
_BINDING_COLUMNS = [f.name for f in fields(Binding)]
_CALL_COLUMNS = [f.name for f in fields(CallRecord) if f.name != "legs"]
_LEG_COLUMNS = [f.name for f in fields(LegRecord)]
# Version 1: registrations only.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bindings (
    site TEXT NOT NULL,
    aor TEXT NOT NULL,
    contact TEXT NOT NULL,
    expires_at REAL NOT NULL,
    call_id TEXT NOT NULL,
    cseq INTEGER NOT NULL,
    registered_at REAL NOT NULL,
    flow TEXT NOT NULL,
    cert_serial TEXT NOT NULL,
    q REAL,
    instance_id TEXT,
    reg_id INTEGER,
    user_agent TEXT NOT NULL,
    transport TEXT NOT NULL,
    peer TEXT NOT NULL,
    PRIMARY KEY (site, contact)
);
"""
# _MIGRATIONS[n] takes a file from version n to n + 1.
_MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL,
    caller TEXT NOT NULL,
    callee TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL NOT NULL,
    end_reason TEXT NOT NULL,
    caller_site TEXT NOT NULL,
    caller_cert_serial TEXT NOT NULL,
    caller_trunk TEXT NOT NULL,
    route TEXT NOT NULL,
    trunk TEXT NOT NULL,
    answered_at REAL
);
CREATE INDEX calls_started_at ON calls (started_at);
CREATE TABLE call_legs (
    call_row INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    leg TEXT NOT NULL,
    protocol TEXT NOT NULL,
    peer TEXT NOT NULL,
    transport TEXT NOT NULL,
    tls_version TEXT NOT NULL,
    tls_cipher TEXT NOT NULL,
    media TEXT NOT NULL,
    packets_in INTEGER NOT NULL,
    packets_out INTEGER NOT NULL,
    bytes_in INTEGER NOT NULL,
    bytes_out INTEGER NOT NULL,
    auth_failures INTEGER NOT NULL,
    loss_fraction REAL,
    jitter_ms REAL,
    PRIMARY KEY (call_row, position)
);
""",
}


class SqliteStore:
    """Registrations and call records in one SQLite file."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            with self._transaction():
                _run_script(self._db, _SCHEMA)
                self._db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', '1')"
                )
                self._migrate(path)
        except StoreError:
            self._db.close()
            raise
        except sqlite3.Error as exc:
            raise StoreError(f"store {path}: cannot open the database ({exc})") from exc
        self.path = path

    def _migrate(self, path: Path) -> None:
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        version = int(row[0])
        if version > _SCHEMA_VERSION:
            raise StoreError(
                f"store {path}: schema version {version} is newer than this "
                f"vcgw supports ({_SCHEMA_VERSION}); upgrade vcgw"
            )
        while version < _SCHEMA_VERSION:
            _run_script(self._db, _MIGRATIONS[version])
            version += 1
        self._db.execute(
            "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),)
        )

    @property
    def schema_version(self) -> int:
        """The schema version of the open file."""
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0])

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def load_bindings(self) -> list[Binding]:
        rows = self._db.execute(
            f"SELECT {', '.join(_BINDING_COLUMNS)} FROM bindings ORDER BY site, contact"
        ).fetchall()
        return [
            Binding(**dict(zip(_BINDING_COLUMNS, row, strict=True))) for row in rows
        ]

    def replace_site_bindings(self, site: str, bindings: Sequence[Binding]) -> None:
        placeholders = ", ".join("?" for _ in _BINDING_COLUMNS)
        with self._transaction():
            self._db.execute("DELETE FROM bindings WHERE site = ?", (site,))
            self._db.executemany(
                f"INSERT INTO bindings ({', '.join(_BINDING_COLUMNS)}) "
                f"VALUES ({placeholders})",
                [astuple(b) for b in bindings],
            )

    def add_call_record(self, record: CallRecord) -> None:
        values = [getattr(record, c) for c in _CALL_COLUMNS]
        leg_columns = ["call_row", "position", *_LEG_COLUMNS]
        try:
            with self._transaction():
                cursor = self._db.execute(
                    f"INSERT INTO calls ({', '.join(_CALL_COLUMNS)}) "
                    f"VALUES ({', '.join('?' for _ in _CALL_COLUMNS)})",
                    values,
                )
                self._db.executemany(
                    f"INSERT INTO call_legs ({', '.join(leg_columns)}) "
                    f"VALUES ({', '.join('?' for _ in leg_columns)})",
                    [
                        (cursor.lastrowid, position, *astuple(leg))
                        for position, leg in enumerate(record.legs)
                    ],
                )
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.path}: cannot add a call ({exc})") from exc

    def list_call_records(
        self, *, since: float | None = None, limit: int = 1000
    ) -> list[CallRecord]:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        # The newest `limit` calls, chosen once and used for calls and legs.
        chosen = (
            "SELECT id FROM calls WHERE started_at >= ? "
            "ORDER BY started_at DESC, id DESC LIMIT ?"
        )
        params = (float("-inf") if since is None else since, limit)
        rows = self._db.execute(
            f"SELECT id, {', '.join(_CALL_COLUMNS)} FROM calls "
            f"WHERE id IN ({chosen}) ORDER BY started_at, id",
            params,
        ).fetchall()
        legs: dict[int, list[LegRecord]] = {}
        for row in self._db.execute(
            f"SELECT call_row, {', '.join(_LEG_COLUMNS)} FROM call_legs "
            f"WHERE call_row IN ({chosen}) ORDER BY call_row, position",
            params,
        ):
            leg = LegRecord(**dict(zip(_LEG_COLUMNS, row[1:], strict=True)))
            legs.setdefault(row[0], []).append(leg)
        return [
            CallRecord(
                **dict(zip(_CALL_COLUMNS, row[1:], strict=True)),
                legs=tuple(legs.get(row[0], ())),
            )
            for row in rows
        ]

    def close(self) -> None:
        self._db.close()


def _run_script(db: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the open transaction; run one at a time.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")
