"""`vcgw cdr`: one line per call with each leg's security, JSON, and --since."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.app.cli import main, parse_since
from gateway.store.base import CallRecord, LegRecord
from gateway.store.sqlite import SqliteStore

# 2025-03-01 08:00:00 in Vietnam (UTC+7) is 01:00:00 UTC.
T0 = 1740790800.0

CONFIG = """
[sip]
domain = "vcgw.test"
[tls]
listen = ["127.0.0.1:5061"]
certificate = "certs/server/server-chain.pem"
private_key = "certs/server/server.key"
ca_certificate = "certs/ca.crt"
[store]
path = "cdr.sqlite3"
"""

ANSWERED = CallRecord(
    call_id="c1",
    caller="sip:xa-a@vcgw.test",
    callee="sip:8801@vcgw.test",
    caller_site="xa-a",
    caller_cert_serial="1A2B",
    route="mcu-rooms",
    trunk="mcu",
    started_at=T0,
    answered_at=T0 + 5,
    ended_at=T0 + 5 + 3725,
    end_reason="caller hung up",
    legs=(
        LegRecord(
            leg="caller",
            transport="TLS",
            tls_version="TLSv1.3",
            tls_cipher="TLS_AES_256_GCM_SHA384",
            media="SRTP AEAD_AES_256_GCM",
            packets_in=10,
            packets_out=9,
        ),
        LegRecord(leg="callee", transport="udp", media="RTP (trunk policy off)"),
    ),
)
UNANSWERED = CallRecord(
    call_id="c2",
    caller="sip:xa-b@vcgw.test",
    callee="sip:0243826111@vcgw.test",
    started_at=T0 + 86400,
    ended_at=T0 + 86430,
    end_reason="callee busy (486)",
)


@pytest.fixture
def vietnam_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "ICT-7")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def config(tmp_path: Path, vietnam_time: None) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG, encoding="utf-8")
    store = SqliteStore(tmp_path / "cdr.sqlite3")
    store.add_call_record(ANSWERED)
    store.add_call_record(UNANSWERED)
    store.close()
    return path


def test_text_lists_one_line_per_call_with_leg_security(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each call is one line: local start, caller -> callee, duration, reason, legs."""
    assert main(["cdr", "--config", str(config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "2025-03-01 08:00:00  sip:xa-a@vcgw.test -> sip:8801@vcgw.test  1:02:05  "
        "caller hung up  [caller TLSv1.3/SRTP AEAD_AES_256_GCM, "
        "callee UDP/RTP (trunk policy off)]",
        "2025-03-02 08:00:00  sip:xa-b@vcgw.test -> sip:0243826111@vcgw.test  "
        "unanswered  callee busy (486)  [no legs]",
    ]


def test_since_filters_by_start(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--since takes a date (local midnight) or a full ISO 8601 time."""
    assert main(["cdr", "--config", str(config), "--since", "2025-03-02"]) == 0
    out = capsys.readouterr().out
    assert "xa-b" in out and "xa-a" not in out
    since = "2025-03-01T01:00:01+00:00"
    assert main(["cdr", "--config", str(config), "--since", since]) == 0
    assert capsys.readouterr().out.count("\n") == 1
    assert main(["cdr", "--config", str(config), "--since", "2025-03-03"]) == 0
    assert capsys.readouterr().out == "No call records.\n"


def test_json_has_every_field(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints all record and leg fields plus start and duration."""
    assert main(["cdr", "--config", str(config), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["call_id"] for r in rows] == ["c1", "c2"]
    first = rows[0]
    assert first["caller_cert_serial"] == "1A2B"
    assert first["route"] == "mcu-rooms" and first["trunk"] == "mcu"
    assert first["start"] == "2025-03-01 08:00:00"
    assert first["duration_s"] == 3725.0
    assert first["legs"][0]["tls_cipher"] == "TLS_AES_256_GCM_SHA384"
    assert first["legs"][0]["packets_in"] == 10
    assert first["legs"][1]["media"] == "RTP (trunk policy off)"
    assert rows[1]["answered_at"] is None and rows[1]["legs"] == []


def test_bad_since_is_one_error_line(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unparsable --since fails with exit 1 and one line naming the option."""
    assert main(["cdr", "--config", str(config), "--since", "yesterday"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --since 'yesterday': use ISO 8601")
    assert err.count("\n") == 1


def test_parse_since_forms(vietnam_time: None) -> None:
    """Dates are local midnight; explicit offsets and Z are honoured."""
    assert parse_since("2025-03-01") == T0 - 8 * 3600
    assert parse_since("2025-03-01T08:00:00") == T0
    assert parse_since("2025-03-01T01:00:00Z") == T0
    assert parse_since("2025-03-01T08:00:00+07:00") == T0
