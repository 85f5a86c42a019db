"""`make run` on a fresh folder makes a dev CA and serves TLS on 127.0.0.1:5061."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.interop.harness import REPO

pytestmark = pytest.mark.interop


def wait_port(port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def test_make_run_serves_tls_chained_to_dev_ca(tmp_path: Path) -> None:
    """First `make run` writes gateway.toml and certs/, then openssl verifies the chain.

    Runs the real Makefile in a scratch folder with the project's installed
    virtualenv, so the repository's own gateway.toml and certs/ are untouched.
    """
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 5061)) == 0:
            raise AssertionError(
                "127.0.0.1:5061 is taken: stop the other gateway first"
            )
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(REPO / name, tmp_path / name)
    venv = REPO / ".venv"
    log = open(tmp_path / "make-run.log", "wb")  # noqa: SIM115
    make = subprocess.Popen(
        # -o: never (re)install into the project's venv from this scratch folder.
        [
            "make",
            "--no-print-directory",
            "run",
            f"VENV={venv}",
            "-o",
            f"{venv}/.run-installed",
        ],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert wait_port(5061, 60), (tmp_path / "make-run.log").read_text()
        assert (tmp_path / "gateway.toml").is_file()
        assert (tmp_path / "certs" / "ca.crt").is_file()
        key_mode = (tmp_path / "certs" / "private" / "ca.key").stat().st_mode & 0o777
        assert key_mode == 0o600
        site = subprocess.run(
            [
                str(venv / "bin" / "vcgw"),
                "ca",
                "issue",
                "xa-make-run",
                "--key-type",
                "ec-p256",
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert site.returncode == 0, site.stderr
        site_dir = tmp_path / "certs" / "sites" / "xa-make-run"
        s_client = subprocess.run(
            [
                "openssl",
                "s_client",
                "-connect",
                "127.0.0.1:5061",
                "-CAfile",
                str(tmp_path / "certs" / "ca.crt"),
                "-verify_return_error",
                "-verify_hostname",
                "localhost",
                "-cert",
                str(site_dir / "xa-make-run.crt"),
                "-key",
                str(site_dir / "xa-make-run.key"),
                "-tls1_2",
            ],
            input="",
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert s_client.returncode == 0, s_client.stdout + s_client.stderr
        assert "Verify return code: 0 (ok)" in s_client.stdout
        assert "Protocol  : TLSv1.2" in s_client.stdout
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(20)
        log.close()
    output = (tmp_path / "make-run.log").read_text()
    assert '"event": "gateway.ready"' in output or "gateway.ready" in output
