"""A real gateway process on loopback for interop tests.

`GatewayProcess` makes an instance with `vcgw init`, starts `vcgw run` as a
child process, waits for its `gateway.ready` log line, and stops it by PID.
Its JSON log is kept under test-logs/ when a test fails (see conftest).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.pki.ca import CertificateAuthority, IssuedCertificate

REPO = Path(__file__).resolve().parents[2]
VCGW = [sys.executable, "-m", "gateway.app.cli"]
DOMAIN = "vcgw.test"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_vcgw(
    *args: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run the `vcgw` CLI as a user would, capturing its output."""
    result = subprocess.run(
        [*VCGW, *args], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"vcgw {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


class GatewayProcess:
    """One gateway instance folder and its running process."""

    def __init__(self, directory: Path, *, extra_config: str = "") -> None:
        self.dir = directory
        self.port = free_port()
        self.config_path = directory / "gateway.toml"
        self.ca_dir = directory / "certs"
        self.log_path = directory / "gateway.log"
        run_vcgw("init", "--dir", str(directory), "--listen", f"127.0.0.1:{self.port}")
        text = self.config_path.read_text(encoding="utf-8")
        # Fast CRL polling keeps revocation tests short; logs are JSON.
        text = text.replace("[tls]\n", "[tls]\ncrl_check_interval_s = 0.5\n")
        text = text.replace('format = "auto"', 'format = "json"')
        self.config_path.write_text(text + extra_config, encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        # Set by tests that configure plain (trunk) listeners.
        self.plain_tcp_port: int | None = None
        self.plain_udp_port: int | None = None

    @property
    def ca(self) -> CertificateAuthority:
        return CertificateAuthority.load(self.ca_dir)

    def issue_site(self, site: str, *, key_type: str = "ec-p256") -> IssuedCertificate:
        return self.ca.issue_site(site, key_type=key_type, now=datetime.now(UTC))

    def start(self, *, timeout_s: float = 20.0) -> None:
        already = len(self.events("gateway.ready"))  # Earlier runs share the log.
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [*VCGW, "run", "--config", str(self.config_path)],
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gateway exited early:\n{self.log_text()}")
            if len(self.events("gateway.ready")) > already:
                return
            time.sleep(0.05)
        raise AssertionError(f"gateway not ready in {timeout_s}s:\n{self.log_text()}")

    def stop(self) -> int | None:
        """SIGTERM our own child by PID; SIGKILL if it does not stop in 10 s."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        if self._log_file is not None:
            self._log_file.close()
        code = self.process.returncode
        self.process = None
        return code

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Parsed JSON log lines, optionally only those with event ``name``."""
        found: list[dict[str, Any]] = []
        if not self.log_path.exists():
            return found
        for line in self.log_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and (name is None or entry.get("event") == name):
                found.append(entry)
        return found

    def wait_event(
        self, name: str, *, timeout_s: float = 10.0, **fields: Any
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for entry in self.events(name):
                if all(entry.get(k) == v for k, v in fields.items()):
                    return entry
            time.sleep(0.05)
        raise AssertionError(
            f"no {name} {fields} within {timeout_s}s:\n{self.log_text()[-4000:]}"
        )

    def registrations(self) -> list[dict[str, Any]]:
        result = run_vcgw("registrations", "--config", str(self.config_path), "--json")
        rows: list[dict[str, Any]] = json.loads(result.stdout)
        return rows

    def ca_cli(
        self, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run_vcgw("ca", "--ca-dir", str(self.ca_dir), *args, check=check)

    def keep_logs(self, test_name: str) -> Path:
        target = REPO / "test-logs" / test_name
        target.mkdir(parents=True, exist_ok=True)
        if self.log_path.exists():
            shutil.copy(self.log_path, target / "gateway.log")
        return target


def site_tls_context(
    gateway: GatewayProcess, site: IssuedCertificate
) -> ssl.SSLContext:
    """A client context presenting ``site``'s certificate, trusting the CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(gateway.ca_dir / "ca.crt"))
    context.load_cert_chain(str(site.cert_path), str(site.key_path))
    return context


def register_request(
    site: str,
    *,
    aor_user: str | None = None,
    transport: str = "TLS",
    local: str = "127.0.0.1:5999",
    expires: int = 300,
    cseq: int = 1,
    call_id: str | None = None,
    contact: str | None = None,
) -> bytes:
    """A REGISTER as a room system would send it."""
    user = aor_user or site
    call = call_id or f"reg-{site}-{time.monotonic_ns()}"
    contact_value = contact or f"<sip:{user}@{local};transport={transport.lower()}>"
    lines = [
        f"REGISTER sip:{DOMAIN} SIP/2.0",
        f"Via: SIP/2.0/{transport} {local};branch=z9hG4bK{time.monotonic_ns()};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{DOMAIN}>;tag=t{cseq}",
        f"To: <sip:{user}@{DOMAIN}>",
        f"Call-ID: {call}",
        f"CSeq: {cseq} REGISTER",
        f"Contact: {contact_value}",
        f"Expires: {expires}",
        "User-Agent: vcgw-test",
        "Content-Length: 0",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket | ssl.SSLSocket, timeout_s: float = 10.0) -> str:
    """Read one SIP response (no body) from a stream socket."""
    sock.settimeout(timeout_s)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    return data.decode("utf-8", "replace")


def status_of(response: str) -> int:
    return int(response.split(" ", 2)[1])


def lines_with(text: str, prefix: str) -> Iterator[str]:
    return (
        line for line in text.splitlines() if line.lower().startswith(prefix.lower())
    )


def command_exists(name: str) -> bool:
    return shutil.which(name) is not None


def require_tools(names: Sequence[str]) -> None:
    """A missing tool is a failure, never a skip: `make test` installs them."""
    missing = [n for n in names if not command_exists(n)]
    if missing:
        raise AssertionError(
            f"missing tools {missing}: run `make test` (it installs them) or "
            f"apt-get install sip-tester tshark stunnel4"
        )
