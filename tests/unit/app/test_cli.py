"""`vcgw init`, `vcgw config check`, `vcgw registrations`: messages and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.app.cli import main


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("instance")
    assert main(["init", "--dir", str(directory), "--domain", "hntt.example.vn"]) == 0
    return directory


def test_init_makes_config_ca_and_server_certificate(instance: Path) -> None:
    """init writes gateway.toml, the CA, its CRL and the server certificate."""
    assert (instance / "gateway.toml").is_file()
    for name in ("ca.crt", "crl.pem", "server/server-chain.pem", "server/server.key"):
        assert (instance / "certs" / name).is_file(), name
    text = (instance / "gateway.toml").read_text()
    assert 'domain = "hntt.example.vn"' in text
    assert '"127.0.0.1:5061"' in text


def test_init_refuses_to_overwrite(
    instance: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second init in the same folder fails with one clear line, changing nothing."""
    before = (instance / "gateway.toml").read_bytes()
    assert main(["init", "--dir", str(instance)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "already exists" in err
    assert err.count("\n") == 1
    assert (instance / "gateway.toml").read_bytes() == before


def test_init_with_bad_listen_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--listen must be HOST:PORT; nothing is written when it is not."""
    assert main(["init", "--dir", str(tmp_path / "x"), "--listen", "nowhere"]) == 1
    assert "--listen 'nowhere'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_config_check_ok_and_errors(
    instance: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """config check says OK for a good file and names key and file otherwise."""
    assert main(["config", "check", str(instance / "gateway.toml")]) == 0
    assert "OK" in capsys.readouterr().out
    broken = tmp_path / "gateway.toml"
    broken.write_text(
        (instance / "gateway.toml")
        .read_text()
        .replace('listen = ["127.0.0.1:5061"]', 'listen = ["127.0.0.1:70000"]')
    )
    assert main(["config", "check", str(broken)]) == 1
    err = capsys.readouterr().err
    assert "tls.listen" in err and "70000" in err and str(broken) in err
    missing_files = tmp_path / "elsewhere.toml"
    missing_files.write_text((instance / "gateway.toml").read_text())
    assert main(["config", "check", str(missing_files)]) == 1
    assert "tls.certificate: file" in capsys.readouterr().err


def test_registrations_empty(
    instance: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With nobody registered, the list is empty (text and JSON)."""
    config = str(instance / "gateway.toml")
    assert main(["registrations", "--config", config]) == 0
    assert "No site is registered." in capsys.readouterr().out
    assert main(["registrations", "--config", config, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
