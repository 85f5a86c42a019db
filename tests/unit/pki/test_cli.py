"""`vcgw ca` command line: results, one-line errors, no partial files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.app.pki_cli import main

from .conftest import DOMAIN


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["ca", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _assert_error(err: str, fragment: str) -> None:
    """One line on stderr, starting with 'error: ', naming the problem."""
    assert err.startswith("error: ")
    assert err.count("\n") == 1
    assert fragment in err
    assert "Traceback" not in err


@pytest.fixture
def ca_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A CA made through the CLI."""
    directory = tmp_path / "certs"
    code, out, _ = _run(
        capsys,
        "--ca-dir",
        str(directory),
        "init",
        "--org",
        "So TTTT",
        "--domain",
        DOMAIN,
        "--key-type",
        "ec-p256",
    )
    assert code == 0
    assert f"Created CA for {DOMAIN}" in out
    return directory


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_issue_list_revoke_roundtrip(
    ca_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """issue prints the files; list --json shows the status; revoke updates it.
    --ca-dir is accepted after the subcommand as well."""
    code, out, _ = _run(
        capsys, "issue", "hanoi", "--key-type", "ec-p256", "--ca-dir", str(ca_dir)
    )
    assert code == 0
    assert f"certificate: {ca_dir}/sites/hanoi/hanoi.crt" in out
    assert f"password in {ca_dir}/sites/hanoi/hanoi.p12.pass" in out
    code, out, _ = _run(capsys, "--ca-dir", str(ca_dir), "list", "--json")
    [entry] = json.loads(out)
    assert (entry["name"], entry["kind"], entry["status"]) == ("hanoi", "site", "valid")
    assert len(entry["sha256"].split(":")) == 32
    code, out, _ = _run(
        capsys, "--ca-dir", str(ca_dir), "revoke", "hanoi", "--reason", "key-compromise"
    )
    assert code == 0 and "Revoked site hanoi" in out
    code, out, _ = _run(capsys, "--ca-dir", str(ca_dir), "list")
    assert code == 0
    assert "hanoi" in out and "revoked" in out and entry["serial"] in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["issue", "ha noi"], "site name 'ha noi' has a space at position 3"),
        (["issue", "x", "--days", "0"], "--days 0 is not a positive number"),
        (["issue", "x", "--days", "99999"], "would outlive the CA"),
        (
            ["issue", "x", "--p12-password-file", "/nonexistent/pw"],
            "/nonexistent/pw does not exist",
        ),
        (["server", "bad_host"], "host name 'bad_host' is not a valid DNS name"),
        (["server", "gw", "--ip", "1.2.3"], "--ip '1.2.3' is not an IPv4"),
        (["revoke"], "give a SITE or --serial HEX"),
        (["revoke", "ghost"], "no certificate for site 'ghost'"),
        (["revoke", "--serial", "xyz"], "serial 'xyz' is not hexadecimal"),
        (["renew", "ghost"], "site 'ghost' has no active certificate to renew"),
        (["crl", "--next-update-days", "0"], "must be 1 or more"),
    ],
)
def test_bad_input_is_one_clear_line_and_writes_nothing(
    ca_dir: Path, capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    """Every bad input exits 1 with 'error: ...' and leaves the folder as it was."""
    before = {p: p.read_bytes() for p in ca_dir.rglob("*") if p.is_file()}
    code, out, err = _run(capsys, "--ca-dir", str(ca_dir), *argv)
    assert code == 1 and out == ""
    _assert_error(err, fragment)
    after = {p: p.read_bytes() for p in ca_dir.rglob("*") if p.is_file()}
    assert after == before


def test_empty_p12_password_file(
    ca_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty password file is refused and nothing is issued."""
    empty = tmp_path / "empty.pw"
    empty.write_text("\n")
    code, _, err = _run(
        capsys,
        "--ca-dir",
        str(ca_dir),
        "issue",
        "s1",
        "--p12-password-file",
        str(empty),
    )
    assert code == 1
    _assert_error(err, f"PKCS#12 password file {empty} is empty")
    assert _files(ca_dir / "sites") == set()


def test_duplicate_site_is_refused(
    ca_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issuing an active site again points the admin to renew."""
    assert (
        _run(capsys, "--ca-dir", str(ca_dir), "issue", "s1", "--key-type", "ec-p256")[0]
        == 0
    )
    before = _files(ca_dir)
    code, _, err = _run(capsys, "--ca-dir", str(ca_dir), "issue", "s1")
    assert code == 1
    _assert_error(err, "site 's1' already has a certificate")
    assert "vcgw ca renew s1" in err
    assert _files(ca_dir) == before


def test_init_twice_is_refused(
    ca_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second init fails with exit 1 and leaves the first CA alone."""
    before = (ca_dir / "ca.crt").read_bytes()
    code, _, err = _run(
        capsys, "--ca-dir", str(ca_dir), "init", "--org", "o", "--domain", "d.vn"
    )
    assert code == 1
    _assert_error(err, "already holds a CA")
    assert (ca_dir / "ca.crt").read_bytes() == before


def test_missing_ca_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Commands on a folder without a CA say to run init; nothing is created."""
    missing = tmp_path / "nothing"
    code, _, err = _run(capsys, "--ca-dir", str(missing), "list")
    assert code == 1
    _assert_error(err, "does not exist: run 'vcgw ca init'")
    assert not missing.exists()


def test_wrong_ca_pass_file(
    ca_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong --ca-pass-file names both files; no site folder appears."""
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("nope\n")
    code, _, err = _run(
        capsys, "--ca-dir", str(ca_dir), "--ca-pass-file", str(wrong), "issue", "s1"
    )
    assert code == 1
    _assert_error(err, f"with the passphrase in {wrong}")
    assert _files(ca_dir / "sites") == set()


def test_server_renew_and_crl(ca_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """server, renew and crl succeed and say what they wrote."""
    code, out, _ = _run(
        capsys,
        "--ca-dir",
        str(ca_dir),
        "server",
        "gw.example.vn",
        "--ip",
        "127.0.0.1",
        "--key-type",
        "ec-p256",
    )
    assert code == 0 and f"{ca_dir}/server/server.crt" in out
    assert (
        _run(capsys, "--ca-dir", str(ca_dir), "issue", "s1", "--key-type", "ec-p256")[0]
        == 0
    )
    code, out, _ = _run(capsys, "--ca-dir", str(ca_dir), "renew", "s1")
    assert code == 0 and "Renewed site s1" in out
    code, out, _ = _run(capsys, "--ca-dir", str(ca_dir), "crl")
    assert code == 0 and f"Wrote {ca_dir}/crl.pem" in out
    code, out, _ = _run(capsys, "--ca-dir", str(ca_dir), "list", "--json")
    statuses = sorted((e["kind"], e["status"]) for e in json.loads(out))
    assert statuses == [("server", "valid"), ("site", "superseded"), ("site", "valid")]
