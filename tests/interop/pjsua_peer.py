"""Driving pjsua2 site processes (tests/interop/peers/pjsua_site.py) from tests."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.interop.harness import DOMAIN, GatewayProcess, run_vcgw

PEER = Path(__file__).parent / "peers" / "pjsua_site.py"
# Fixed pjsua2 media ports, below the relay's range and the kernel's
# ephemeral ports, so tshark tests can tell the legs apart.
CALLER_MEDIA_PORT = 25000
CALLEE_MEDIA_PORT = 24000


class Site:
    """A pjsua2 site process with its certificate, driven by --steps."""

    def __init__(
        self,
        gateway: GatewayProcess,
        name: str,
        steps: str,
        *,
        media_port: int,
        srtp: str = "mandatory",
    ) -> None:
        issued = gateway.issue_site(name)
        self.log_path = gateway.dir / f"pjsua-{name}.log"
        command = [
            sys.executable,
            str(PEER),
            "--site",
            name,
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
            str(self.log_path),
            "--steps",
            steps,
            "--media-port",
            str(media_port),
            "--srtp",
            srtp,
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        self.events: list[dict[str, Any]] = []

    def wait_for(
        self, event: str, timeout_s: float = 30, **fields: Any
    ) -> dict[str, Any]:
        """Read events until one named ``event`` with ``fields`` arrives."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            if not line.startswith("{"):
                continue
            entry: dict[str, Any] = json.loads(line)
            self.events.append(entry)
            if entry["event"] == event and all(
                entry.get(k) == v for k, v in fields.items()
            ):
                return entry
        raise AssertionError(f"no {event} {fields}; got {self.events}")

    def finish(self) -> int:
        try:
            return self.process.wait(30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    def crypto_keys(self) -> set[str]:
        """Every SDES inline key that appears in this endpoint's SIP log."""
        text = self.log_path.read_text(errors="replace")
        return set(re.findall(r"a=crypto:\d+ \S+ inline:([A-Za-z0-9+/=]+)", text))


def call_records(gateway: GatewayProcess) -> list[dict[str, Any]]:
    result = run_vcgw("cdr", "--config", str(gateway.config_path), "--json")
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def start_pair(
    gateway: GatewayProcess,
    *,
    caller: tuple[str, str],
    callee: tuple[str, str],
) -> tuple[Site, Site]:
    """Start the callee site, wait until it is registered, then the caller.

    ``caller`` and ``callee`` are (site name, steps); the media ports are the
    fixed caller and callee ports.
    """
    called = Site(gateway, callee[0], callee[1], media_port=CALLEE_MEDIA_PORT)
    called.wait_for("reg", code=200)
    calling = Site(gateway, caller[0], caller[1], media_port=CALLER_MEDIA_PORT)
    return calling, called
