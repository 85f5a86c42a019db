"""SIPp (no TLS of its own) registers and pings through stunnel's TLS leg."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.interop.harness import DOMAIN, GatewayProcess, free_port, require_tools

pytestmark = pytest.mark.interop
SCENARIO = Path(__file__).parent / "sipp" / "register_options.xml"


@pytest.fixture(autouse=True)
def tools() -> None:
    require_tools(["sipp", "stunnel4"])


def start_stunnel(
    gateway: GatewayProcess, site: str, workdir: Path
) -> tuple[subprocess.Popen[bytes], int]:
    """stunnel in client mode: plain TCP on a local port, TLS with the site cert."""
    issued = gateway.issue_site(site, key_type="rsa2048")
    port = free_port()
    config = workdir / f"stunnel-{site}.conf"
    config.write_text(
        "foreground = yes\npid =\ndebug = 5\n"
        f"[{site}]\nclient = yes\naccept = 127.0.0.1:{port}\n"
        f"connect = 127.0.0.1:{gateway.port}\n"
        f"cert = {issued.cert_path}\nkey = {issued.key_path}\n"
        f"CAfile = {gateway.ca_dir / 'ca.crt'}\n"
        "verifyChain = yes\ncheckHost = localhost\n"
        "sslVersionMin = TLSv1.2\n",
        encoding="utf-8",
    )
    log = open(workdir / f"stunnel-{site}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(["stunnel4", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if (
            b"Configuration successful"
            in (workdir / f"stunnel-{site}.log").read_bytes()
        ):
            return process, port
        time.sleep(0.05)
    process.kill()
    raise AssertionError("stunnel did not start")


def run_sipp(port: int, site: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "sipp",
            f"127.0.0.1:{port}",
            "-sf",
            str(SCENARIO),
            "-t",
            "t1",
            "-m",
            "1",
            "-key",
            "site",
            site,
            "-key",
            "domain",
            DOMAIN,
            "-timeout",
            "20",
            "-timeout_error",
            "-trace_err",
        ],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_sipp_register_options_unregister_over_stunnel(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    """The scenario passes: 200 with expires=300, 200 to OPTIONS, 200 to removal."""
    stunnel, port = start_stunnel(gateway, "xa-sipp", tmp_path)
    try:
        result = run_sipp(port, "xa-sipp", tmp_path)
    finally:
        os.kill(stunnel.pid, signal.SIGTERM)
        stunnel.wait(10)
    errors = "".join(p.read_text() for p in tmp_path.glob("*_errors.log"))
    assert result.returncode == 0, f"{result.stdout[-2000:]}\n{errors}"
    accepted = gateway.wait_event("sip.register.accepted", site="xa-sipp")
    assert accepted["contacts"] == 1
    assert gateway.registrations() == []


def test_sipp_with_wrong_site_certificate_fails(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    """SIPp registering as xa-other through xa-sipp's certificate fails (403)."""
    stunnel, port = start_stunnel(gateway, "xa-sipp", tmp_path)
    try:
        result = run_sipp(port, "xa-other", tmp_path)
    finally:
        os.kill(stunnel.pid, signal.SIGTERM)
        stunnel.wait(10)
    assert result.returncode != 0
    errors = "".join(p.read_text() for p in tmp_path.glob("*_errors.log"))
    assert "403" in errors
    gateway.wait_event("sip.register.refused", site="xa-sipp")
