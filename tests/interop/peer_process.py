"""Test peers run as child processes that print one JSON object per line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.interop.harness import REPO, free_port
from tests.interop.sipp_trunk import free_media_port


class JsonLinesProcess:
    """Starts ``command`` in the repository and reads its JSON lines in order.

    :meth:`wait_for` reads on until the named event; every event read is
    kept in :attr:`events` for later checks.
    """

    def __init__(self, command: Sequence[str], *, name: str) -> None:
        self.name = name
        self.process = subprocess.Popen(
            list(command), cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        self.events: list[dict[str, Any]] = []

    def wait_for(self, event: str, timeout_s: float = 30) -> dict[str, Any]:
        """Read events until one named ``event``; fail after ``timeout_s``."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            if line.startswith("{"):
                entry: dict[str, Any] = json.loads(line)
                self.events.append(entry)
                if entry["event"] == event:
                    return entry
        raise AssertionError(f"{self.name}: no {event}; got {self.events}")

    def stop(self) -> int:
        """SIGTERM by PID if still running; the exit code."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        return self.process.wait(20)

    def finish(self) -> int:
        """Wait for the peer to end by itself (killed after 30 s)."""
        try:
            return self.process.wait(30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


class H323Peer(JsonLinesProcess):
    """tests/interop/peers/h323_peer.py as a child process (an MCU)."""

    def __init__(self, workdir: Path, *extra: str, mode: str) -> None:
        self.port = free_port()
        super().__init__(
            [
                sys.executable,
                "-m",
                "tests.interop.peers.h323_peer",
                "--port",
                str(self.port),
                "--rtp-port",
                str(free_media_port()),
                "--hold",
                "30",
                "--lifetime",
                "60",
                "--mode",
                mode,
                "--log",
                str(workdir / "h323-peer.log"),
                *extra,
            ],
            name="H.323 peer",
        )
        self.wait_for("listening")


class H323Caller(JsonLinesProcess):
    """tests/interop/peers/h323_caller.py as a child process (the national trunk)."""

    def __init__(self, gateway_port: int, called: str, *extra: str) -> None:
        super().__init__(
            [
                sys.executable,
                "-m",
                "tests.interop.peers.h323_caller",
                "--gateway",
                f"127.0.0.1:{gateway_port}",
                "--called",
                called,
                "--rtp-port",
                str(free_media_port()),
                *extra,
            ],
            name="H.323 caller",
        )
