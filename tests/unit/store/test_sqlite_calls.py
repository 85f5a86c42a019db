"""SQLite store: call records round-trip, filter and limit; schema 1 migrates to 2."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.errors import StoreError
from gateway.store.base import Binding, CallRecord, LegRecord
from gateway.store.sqlite import SqliteStore

CALLER_LEG = LegRecord(
    leg="caller",
    peer="10.1.0.7:50122",
    transport="TLS",
    tls_version="TLSv1.3",
    tls_cipher="TLS_AES_256_GCM_SHA384",
    media="SRTP AEAD_AES_256_GCM",
    packets_in=1500,
    packets_out=1490,
    bytes_in=1_500_000,
    bytes_out=1_490_000,
    auth_failures=2,
    loss_fraction=0.01,
    jitter_ms=4.5,
)
CALLEE_LEG = LegRecord(
    leg="callee", peer="10.20.0.5:5060", transport="UDP", media="RTP (trunk policy off)"
)


def record(call_id: str, started_at: float, **values: object) -> CallRecord:
    fields: dict[str, object] = {
        "call_id": call_id,
        "caller": "sip:xa-a@vcgw.test",
        "callee": "sip:8801@vcgw.test",
        "started_at": started_at,
        "ended_at": started_at + 60,
        "end_reason": "caller hung up",
        **values,
    }
    return CallRecord(**fields)  # type: ignore[arg-type]


def test_call_record_round_trips_with_legs(tmp_path: Path) -> None:
    """Every field of a call and its legs, in leg order, survives a reopen."""
    full = record(
        "c1",
        1000.0,
        caller_site="xa-a",
        caller_cert_serial="1A2B",
        route="mcu-rooms",
        trunk="mcu",
        answered_at=1005.5,
        legs=(CALLER_LEG, CALLEE_LEG),
    )
    store = SqliteStore(tmp_path / "db.sqlite3")
    store.add_call_record(full)
    store.add_call_record(record("c2", 2000.0, caller_trunk="national"))
    store.close()
    reopened = SqliteStore(tmp_path / "db.sqlite3")
    assert reopened.list_call_records() == [
        full,
        record("c2", 2000.0, caller_trunk="national"),
    ]
    assert reopened.list_call_records()[0].talk_time_s == 54.5
    assert reopened.list_call_records()[1].talk_time_s == 0.0
    reopened.close()


def test_since_and_limit_keep_the_newest_oldest_first(tmp_path: Path) -> None:
    """since filters by start; limit keeps the newest calls, listed oldest first."""
    store = SqliteStore(tmp_path / "db.sqlite3")
    for i in (3, 1, 4, 2, 5):
        store.add_call_record(record(f"c{i}", float(i * 100), legs=(CALLEE_LEG,)))
    ids = [r.call_id for r in store.list_call_records()]
    assert ids == ["c1", "c2", "c3", "c4", "c5"]
    assert [r.call_id for r in store.list_call_records(since=300.0)] == [
        "c3",
        "c4",
        "c5",
    ]
    limited = store.list_call_records(limit=2)
    assert [r.call_id for r in limited] == ["c4", "c5"]
    assert all(r.legs == (CALLEE_LEG,) for r in limited)
    assert store.list_call_records(since=501.0) == []
    with pytest.raises(ValueError):
        store.list_call_records(limit=0)
    store.close()


def test_a_failed_insert_leaves_nothing_behind(tmp_path: Path) -> None:
    """A call whose legs cannot be written is not stored at all (one transaction)."""
    store = SqliteStore(tmp_path / "db.sqlite3")
    bad_leg = LegRecord(leg="caller", peer=None)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="cannot add a call"):
        store.add_call_record(record("bad", 1.0, legs=(CALLER_LEG, bad_leg)))
    assert store.list_call_records() == []
    store.close()


V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE bindings (
    site TEXT NOT NULL, aor TEXT NOT NULL, contact TEXT NOT NULL,
    expires_at REAL NOT NULL, call_id TEXT NOT NULL, cseq INTEGER NOT NULL,
    registered_at REAL NOT NULL, flow TEXT NOT NULL, cert_serial TEXT NOT NULL,
    q REAL, instance_id TEXT, reg_id INTEGER, user_agent TEXT NOT NULL,
    transport TEXT NOT NULL, peer TEXT NOT NULL, PRIMARY KEY (site, contact)
);
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO bindings VALUES ('xa-a', 'sip:xa-a@vcgw.test',
    '<sip:xa-a@10.1.0.7:5061;transport=tls>', 5000.0, 'reg-1', 7, 4000.0,
    'flow-1', '1A2B', NULL, NULL, NULL, 'pjsua2', 'TLS', '10.1.0.7:50122');
"""


def test_version_1_file_migrates_and_keeps_bindings(tmp_path: Path) -> None:
    """A schema-1 file (registrations only) gains call tables; bindings survive."""
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    db.close()
    store = SqliteStore(path)
    assert store.schema_version == 2
    assert store.load_bindings() == [
        Binding(
            site="xa-a",
            aor="sip:xa-a@vcgw.test",
            contact="<sip:xa-a@10.1.0.7:5061;transport=tls>",
            expires_at=5000.0,
            call_id="reg-1",
            cseq=7,
            registered_at=4000.0,
            flow="flow-1",
            cert_serial="1A2B",
            user_agent="pjsua2",
            transport="TLS",
            peer="10.1.0.7:50122",
        )
    ]
    store.add_call_record(record("c1", 1.0, legs=(CALLER_LEG,)))
    store.close()
    again = SqliteStore(path)
    assert again.schema_version == 2
    assert [r.call_id for r in again.list_call_records()] == ["c1"]
    again.close()


def test_new_file_is_created_at_the_current_version(tmp_path: Path) -> None:
    """A fresh file reaches version 2 through the same migrations."""
    store = SqliteStore(tmp_path / "sub" / "new.sqlite3")
    assert store.schema_version == 2
    assert store.list_call_records() == []
    store.close()


def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    """A file written by a newer vcgw is refused and left as it was."""
    path = tmp_path / "future.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        V1_SCHEMA.replace("'schema_version', '1'", "'schema_version', '9'")
    )
    db.close()
    with pytest.raises(StoreError, match="schema version 9 is newer"):
        SqliteStore(path)
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta").fetchone() == ("9",)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert "calls" not in tables
    db.close()
