"""A real PJSIP endpoint (pjsua2) registers to the gateway over mutual TLS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.interop.harness import DOMAIN, GatewayProcess

pytestmark = pytest.mark.interop
PEER = Path(__file__).parent / "peers" / "pjsua_site.py"


def start_site(
    gateway: GatewayProcess,
    site: str,
    steps: str,
    *,
    aor_user: str | None = None,
    key_type: str = "rsa2048",
) -> subprocess.Popen[str]:
    issued = gateway.issue_site(site, key_type=key_type)
    command = [
        sys.executable,
        str(PEER),
        "--site",
        site,
        "--domain",
        DOMAIN,
        "--gateway",
        f"127.0.0.1:{gateway.port}",
        "--cert",
        str(issued.cert_path),
        "--key",
        str(issued.key_path),
        "--ca",
        str(gateway.ca_dir / "ca.crt"),
        "--log",
        str(gateway.dir / f"pjsua-{site}.log"),
        "--steps",
        steps,
    ]
    if aor_user:
        command += ["--aor-user", aor_user]
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)


def next_event(process: subprocess.Popen[str]) -> dict[str, Any]:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("{"):
            event: dict[str, Any] = json.loads(line)
            return event
    raise AssertionError(f"peer exited ({process.wait()}) without an event")


def test_pjsua_registers_reregisters_and_unregisters(gateway: GatewayProcess) -> None:
    """200 to REGISTER, binding listed with the peer's User-Agent, refresh, removal."""
    peer = start_site(gateway, "xa-pjsua", "register,wait:2,reregister,unregister")
    try:
        first = next_event(peer)
        assert first["event"] == "reg" and first["code"] == 200, first
        assert first["active"] is True
        rows = gateway.registrations()
        assert [r["site"] for r in rows] == ["xa-pjsua"]
        assert rows[0]["user_agent"] == "pjsua2-site-test"
        assert rows[0]["transport"] == "TLS"
        second = next_event(peer)
        assert second["code"] == 200 and second["active"] is True
        third = next_event(peer)
        assert third["code"] == 200 and third["active"] is False
        assert next_event(peer)["event"] == "done"
        assert peer.wait(20) == 0
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.wait()
    assert gateway.registrations() == []
    opened = gateway.events("sip.connection.opened")
    assert opened and opened[-1]["tls_version"] == "TLSv1.2"
    assert "GCM" in opened[-1]["tls_cipher"] or "CHACHA20" in opened[-1]["tls_cipher"]


def test_pjsua_with_another_sites_identity_gets_403(gateway: GatewayProcess) -> None:
    """pjsua2 presenting site A's certificate while registering as B: 403."""
    gateway.issue_site("xa-victim")
    peer = start_site(gateway, "xa-intruder", "register", aor_user="xa-victim")
    try:
        event = next_event(peer)
        assert event["event"] == "reg" and event["code"] == 403, event
        peer.wait(20)
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.wait()
    assert gateway.registrations() == []
    refused = gateway.wait_event("sip.register.refused", site="xa-intruder")
    assert "xa-victim" in refused["reason"]
