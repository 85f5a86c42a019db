"""Crash safety: a command cut short leaves nothing or a complete result.

A crash is simulated by raising ``Crash``, a BaseException, from inside the
file or database layer: like a power cut, it skips the ``except Exception``
clean-up, so what remains on disk is what a real crash could leave. The next
``CertificateAuthority.load`` must then repair the folder.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.errors import PkiError
from gateway.pki import fsutil
from gateway.pki.ca import CertificateAuthority
from gateway.pki.store import Inventory

from .conftest import DOMAIN, ORG


class Crash(BaseException):
    """Stands for a power cut at the patched call."""


def _crash_at(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, call_number: int
) -> None:
    """Make the ``call_number``-th call of ``owner.name`` crash instead of running."""
    original: Callable[..., Any] = getattr(owner, name)
    calls = {"n": 0}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == call_number:
            raise Crash
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


def assert_consistent(ca_dir: Path, now: dt.datetime) -> CertificateAuthority:
    """Load (and so repair) the CA, then check that files match the inventory."""
    ca = CertificateAuthority.load(ca_dir)
    hidden = [p.name for p in ca_dir.iterdir() if p.name.startswith(".")]
    assert hidden == [".lock"]
    assert [
        p.name for p in (ca_dir / "sites").iterdir() if p.name.startswith(".")
    ] == []
    records = ca.list(now=now)
    for record in records:
        folder = (
            ca_dir / "server"
            if record.kind == "server"
            else ca_dir / "sites" / record.name
        )
        base = "server" if record.kind == "server" else record.name
        current = folder / f"{base}.crt"
        if record.status == "valid":
            cert = x509.load_pem_x509_certificate(current.read_bytes())
            assert cert.serial_number == int(record.serial_hex, 16)
            key = serialization.load_pem_private_key(
                (folder / f"{base}.key").read_bytes(), None
            )
            assert key.public_key() == cert.public_key()
            if record.kind == "site":
                assert (folder / f"{base}.p12").exists()
        else:
            archived = folder / "old" / record.serial_hex / f"{base}.crt"
            on_disk = archived if archived.exists() else current
            cert = x509.load_pem_x509_certificate(on_disk.read_bytes())
            assert cert.serial_number == int(record.serial_hex, 16)
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert {r.serial_number for r in crl} == {
        int(r.serial_hex, 16) for r in records if r.status in ("revoked", "superseded")
    }
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number == int(ca._inventory.get_meta("crl_number"))
    return ca


def test_failed_commit_leaves_nothing(
    ca: CertificateAuthority, now: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit error removes the staged files at once; the next issue works."""

    def refuse(self: Inventory) -> None:
        raise PkiError("disk full")

    monkeypatch.setattr(Inventory, "commit", refuse)
    with pytest.raises(PkiError, match="disk full"):
        ca.issue_site("s1", key_type="ec-p256", now=now)
    assert list((ca.ca_dir / "sites").iterdir()) == []
    monkeypatch.undo()
    assert ca.list(now=now) == []
    assert ca.issue_site("s1", key_type="ec-p256", now=now).cert_path.exists()


def test_crash_before_commit_is_undone(
    ca: CertificateAuthority, now: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staged files of an uncommitted issue are deleted by the next load."""
    _crash_at(monkeypatch, Inventory, "commit", 1)
    with pytest.raises(Crash):
        ca.issue_site("s1", key_type="ec-p256", now=now)
    assert [p.name[:9] for p in (ca.ca_dir / "sites").iterdir()] == [".staging-"]
    monkeypatch.undo()
    again = assert_consistent(ca.ca_dir, now)
    assert again.list(now=now) == []
    again.issue_site("s1", key_type="ec-p256", now=now)


def test_crash_after_commit_is_finished(
    ca: CertificateAuthority, now: dt.datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A committed issue whose files were not yet moved is completed on load."""
    _crash_at(monkeypatch, fsutil, "rename", 1)
    with pytest.raises(Crash):
        ca.issue_site("s1", key_type="ec-p256", now=now)
    monkeypatch.undo()
    again = assert_consistent(ca.ca_dir, now)
    [record] = again.list(now=now)
    assert record.status == "valid"
    assert (ca.ca_dir / "sites" / "s1" / "s1.p12.pass").exists()


def _issue_then_renew(ca: CertificateAuthority, now: dt.datetime) -> None:
    ca.renew("s1", now=now)


def _revoke(ca: CertificateAuthority, now: dt.datetime) -> None:
    ca.revoke(site="s1", reason="key-compromise", now=now)


def _server_again(ca: CertificateAuthority, now: dt.datetime) -> None:
    ca.issue_server("gw2", key_type="ec-p256", now=now)


def _issue_new(ca: CertificateAuthority, now: dt.datetime) -> None:
    ca.issue_site("s2", key_type="ec-p256", now=now)


def _crl(ca: CertificateAuthority, now: dt.datetime) -> None:
    ca.write_crl(now=now)


@pytest.mark.parametrize(
    "command", [_issue_then_renew, _revoke, _server_again, _issue_new, _crl]
)
@pytest.mark.parametrize(
    ("owner", "name"), [(fsutil, "rename"), (os, "replace"), (Inventory, "commit")]
)
def test_crash_at_every_step_leaves_a_consistent_ca(
    ca_copy: Callable[[str], Path],
    now: dt.datetime,
    monkeypatch: pytest.MonkeyPatch,
    command: Callable[[CertificateAuthority, dt.datetime], None],
    owner: Any,
    name: str,
) -> None:
    """Crash at each rename, file replace or commit of a command in turn: the
    next load finds either the old state or the complete new one, and the
    command then succeeds."""
    for call_number in range(1, 40):
        ca_dir = ca_copy(f"ca-{call_number}")
        ca = CertificateAuthority.load(ca_dir)
        ca.issue_site("s1", key_type="ec-p256", now=now)
        ca.issue_server("gw1", key_type="ec-p256", now=now)
        before = ca.list(now=now)
        _crash_at(monkeypatch, owner, name, call_number)
        try:
            command(ca, now)
        except Crash:
            crashed = True
        else:
            crashed = False
        monkeypatch.undo()
        repaired = assert_consistent(ca_dir, now)
        after = repaired.list(now=now)
        if not crashed:
            break
        if after == before:
            command(repaired, now)  # Nothing happened: the command can be rerun.
            assert_consistent(ca_dir, now)
        else:
            assert len(after) >= len(before)
    else:
        pytest.fail("the command never completed")
    assert call_number > 1  # The command did reach the patched call.


@pytest.mark.parametrize(("owner", "name"), [(fsutil, "rename"), (os, "replace")])
def test_crash_during_init_is_undone(
    tmp_path: Path,
    now: dt.datetime,
    monkeypatch: pytest.MonkeyPatch,
    owner: Any,
    name: str,
) -> None:
    """An interrupted init is reported by load and cleanly redone by init."""
    for call_number in range(1, 20):
        ca_dir = tmp_path / f"certs-{call_number}"
        _crash_at(monkeypatch, owner, name, call_number)
        try:
            CertificateAuthority.create(
                ca_dir, org=ORG, domain=DOMAIN, key_type="ec-p256", now=now
            )
        except Crash:
            crashed = True
        else:
            crashed = False
        monkeypatch.undo()
        if not crashed:
            break
        if not (ca_dir / "inventory.sqlite3").exists():
            with pytest.raises(
                PkiError, match=r"was interrupted: run it again|no CA in"
            ):
                CertificateAuthority.load(ca_dir)
            CertificateAuthority.create(
                ca_dir, org=ORG, domain=DOMAIN, key_type="ec-p256", now=now
            )
        ca = assert_consistent(ca_dir, now)
        ca.issue_site("s1", key_type="ec-p256", now=now)
    else:
        pytest.fail("init never completed")
    assert call_number > 1
