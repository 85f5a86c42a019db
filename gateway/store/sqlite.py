"""SQLite store (the embedded default). One transaction per change."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import astuple, fields
from pathlib import Path

from gateway.errors import StoreError
from gateway.store.base import Binding

_SCHEMA_VERSION = 1
_BINDING_COLUMNS = [f.name for f in fields(Binding)]
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


class SqliteStore:
    """Registrations (and later call records) in one SQLite file."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            with self._transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                    (str(_SCHEMA_VERSION),),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"store {path}: cannot open the database ({exc})") from exc
        self.path = path

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

    def close(self) -> None:
        self._db.close()


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
