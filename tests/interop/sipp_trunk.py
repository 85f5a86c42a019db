"""SIPp playing a SIP trunk (an MCU, the national switch) on loopback.

`SippTrunk` runs one SIPp process with a scenario from tests/interop/sipp/:
as a UAS (the trunk the gateway calls; no ``remote``) or as a UAC (the trunk
calling in; ``remote`` is the gateway's plain listener). It binds SIP on
127.0.0.1 only (``-bind_local``), echoes RTP on ``media_port`` and
``media_port + 2`` (``-rtp_echo``), and writes its message and error logs
into ``workdir``. `run_sipp_uac` runs a UAC scenario to the end.

SIPp quirks this module works around (SIPp 3.6.1, built without TLS):

- Without a terminal SIPp still draws its statistics screen on stdout every
  second; stdout goes to a file and stdin is /dev/null (``-nostdin``).
- Every SIPp opens a UDP control socket, 8888 by default, so parallel runs
  collide: each run gets its own free port (``-cp``) on 127.0.0.1 (``-ci``).
- In server mode ``-m N`` counts created calls, and an out-of-dialog OPTIONS
  is a call. With the gateway's OPTIONS probes on, either turn them off
  (``options_interval_s = 0``) or run with ``calls=None`` and `stop`.
- Exit codes: 0 all calls succeeded, 1 some failed, 255 (-1) fatal or
  ``-timeout`` reached (with ``-timeout_error``), 254 (-2) could not bind.
  SIGUSR1 waits for the calls in progress to end; SIGTERM and SIGINT quit at
  once with 0 even in mid-call, so `stop` marks such a result ``is_forced``.
- A failed ``check_it`` regexp does not stop the scenario: SIPp skips the
  rest of that message's actions, carries on, and fails the call at its end.
- An element skipped by ``condexec`` right after a send lets the next
  message arrive "while sending" and aborts the call; the scenarios use
  ``test``/``next`` jumps instead. Likewise a ``<nop next=...>`` after the
  last send delays the end of the call (over TCP the peer's close then
  fails it); the jump goes on the ``<send>`` itself.
- ``[len]`` pads Content-Length with spaces (``Content-Length:   136``),
  and a trace log has CRLF line ends (read here as LF).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SCENARIOS",
    "SippResult",
    "SippTrunk",
    "TracedMessage",
    "free_media_port",
    "run_sipp_uac",
    "split_messages",
]

#: The folder of the trunk_*.xml and selftest_*.xml scenarios.
SCENARIOS = Path(__file__).resolve().parent / "sipp"

_TRANSPORTS = {"udp": "u1", "tcp": "t1"}
_HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True, kw_only=True)
class TracedMessage:
    """One SIP message of a ``-trace_msg`` log, line ends normalised to LF."""

    is_sent: bool
    text: str

    @property
    def start_line(self) -> str:
        """``INVITE sip:...`` or ``SIP/2.0 200 OK``."""
        return self.text.split("\n", 1)[0]

    @property
    def body(self) -> str:
        """What follows the blank line after the headers (the SDP, if any)."""
        return self.text.partition("\n\n")[2]


_SEPARATOR = re.compile(r"^-{20,} .*\n", re.MULTILINE)
_HEADING = re.compile(r"\A(?:UDP|TCP|TLS|SCTP) message (sent|received) .*\n\n")


def split_messages(trace: str) -> list[TracedMessage]:
    """The SIP messages of a SIPp ``-trace_msg`` log, in order."""
    messages = []
    for block in _SEPARATOR.split(trace):
        heading = _HEADING.match(block)
        if heading is not None:
            text = block[heading.end() :].strip("\n") + "\n"
            messages.append(
                TracedMessage(is_sent=heading.group(1) == "sent", text=text)
            )
    return messages


@dataclass(frozen=True, slots=True, kw_only=True)
class SippResult:
    """How one SIPp run ended: exit code, error log and traced messages."""

    returncode: int
    errors: str
    messages: str
    is_forced: bool = False

    @property
    def is_ok(self) -> bool:
        """True when every call of the run succeeded (exit code 0).

        A run that `SippTrunk.stop` had to cut short (``is_forced``) is never
        ok: SIPp exits 0 on SIGTERM even in mid-call.
        """
        return self.returncode == 0 and not self.is_forced

    def sent(self, start: str) -> list[TracedMessage]:
        """Messages SIPp sent whose start line begins with ``start``."""
        return [
            m
            for m in split_messages(self.messages)
            if m.is_sent and m.start_line.startswith(start)
        ]

    def received(self, start: str) -> list[TracedMessage]:
        """Messages SIPp received whose start line begins with ``start``."""
        return [
            m
            for m in split_messages(self.messages)
            if not m.is_sent and m.start_line.startswith(start)
        ]

    def describe(self) -> str:
        """A short text for assertion messages: code, errors, last messages."""
        forced = " (forced)" if self.is_forced else ""
        return (
            f"sipp exit {self.returncode}{forced}\n"
            f"--- errors ---\n{self.errors[-3000:]}\n"
            f"--- messages (tail) ---\n{self.messages[-3000:]}"
        )


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((_HOST, 0))
        return int(probe.getsockname()[1])


def _is_udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((_HOST, port))
        except OSError:
            return False
        return True


def free_media_port() -> int:
    """An even UDP port whose +2 neighbour is free too (SIPp echoes on both)."""
    for _ in range(200):
        port = _free_port(socket.SOCK_DGRAM) & ~1
        if 1024 < port < 65533 and _is_udp_free(port) and _is_udp_free(port + 2):
            return port
    raise AssertionError("no free pair of UDP ports for SIPp media")


def _is_bound(port: int, kind: int) -> bool:
    """True when something (SIPp) already holds ``port`` on 127.0.0.1."""
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind((_HOST, port))
        except OSError:
            return True
        return False


class SippTrunk:
    """One SIPp process playing a trunk, started with `start`, ended by PID.

    ``scenario`` is a file name in `SCENARIOS` or a path. ``transport`` is
    "udp" or "tcp". ``port`` is the local SIP port (a free one by default).
    ``keys`` become ``-key NAME VALUE``; ``service`` is ``-s`` (the user part
    of a UAC's Request-URI); ``pause_ms`` is ``-d`` (the length of a
    ``<pause/>``). ``calls`` is ``-m`` (None: run until `stop`);
    ``timeout_s`` is SIPp's own ``-timeout``, after which it fails.
    """

    def __init__(
        self,
        scenario: str | Path,
        workdir: Path,
        *,
        transport: str = "udp",
        remote: str | None = None,
        port: int | None = None,
        media_port: int | None = None,
        keys: Mapping[str, str] | None = None,
        service: str | None = None,
        pause_ms: int | None = None,
        calls: int | None = 1,
        timeout_s: float = 30.0,
        name: str | None = None,
    ) -> None:
        if transport not in _TRANSPORTS:
            raise ValueError(f"transport {transport!r}: SIPp here has udp or tcp")
        self.scenario = Path(scenario)
        if not self.scenario.is_absolute():
            self.scenario = SCENARIOS / self.scenario
        self.workdir = workdir
        self.transport = transport
        self.remote = remote
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self._kind = kind
        self.port = port if port is not None else _free_port(kind)
        self.media_port = media_port if media_port is not None else free_media_port()
        self.timeout_s = timeout_s
        self.name = name or f"{self.scenario.stem}-{self.port}"
        self.message_path = workdir / f"{self.name}.messages.log"
        self.error_path = workdir / f"{self.name}.errors.log"
        self.log_path = workdir / f"{self.name}.logs.log"
        self.stdout_path = workdir / f"{self.name}.stdout.log"
        self.command = self._command(keys or {}, service, pause_ms, calls)
        self.process: subprocess.Popen[bytes] | None = None
        self._returncode: int | None = None
        self._is_forced = False

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, as written in a trunk's ``addresses``."""
        return f"{_HOST}:{self.port}"

    def _command(
        self,
        keys: Mapping[str, str],
        service: str | None,
        pause_ms: int | None,
        calls: int | None,
    ) -> list[str]:
        command = ["sipp"] if self.remote is None else ["sipp", self.remote]
        command += ["-sf", str(self.scenario), "-t", _TRANSPORTS[self.transport]]
        command += ["-i", _HOST, "-p", str(self.port), "-bind_local"]
        command += ["-mi", _HOST, "-mp", str(self.media_port), "-rtp_echo"]
        command += ["-ci", _HOST, "-cp", str(_free_port(socket.SOCK_DGRAM))]
        command += ["-nostdin", "-f", "5"]
        command += ["-trace_msg", "-message_file", str(self.message_path)]
        command += ["-trace_err", "-error_file", str(self.error_path)]
        command += ["-trace_logs", "-log_file", str(self.log_path)]
        command += ["-timeout", f"{self.timeout_s:g}s", "-timeout_error"]
        if calls is not None:
            command += ["-m", str(calls)]
        if service is not None:
            command += ["-s", service]
        if pause_ms is not None:
            command += ["-d", str(pause_ms)]
        for key, value in keys.items():
            command += ["-key", key, value]
        return command

    def start(self, *, ready_timeout_s: float = 10.0) -> None:
        """Start SIPp; for a UAS, wait until its SIP port is bound."""
        if self.process is not None:
            raise RuntimeError("already started")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.stdout_path, "wb") as stdout:
            self.process = subprocess.Popen(
                self.command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
            )
        if self.remote is not None:
            return
        deadline = time.monotonic() + ready_timeout_s
        while not _is_bound(self.port, self._kind):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"sipp did not start:\n{self._stdout_tail()}")
            time.sleep(0.02)

    def wait(self, timeout_s: float | None = None) -> SippResult:
        """Wait for SIPp to end by itself (``-m`` calls done or its timeout).

        Raises AssertionError, after stopping it, when it is still running
        after ``timeout_s`` (default: its own timeout plus 10 s).
        """
        process = self._started()
        limit = timeout_s if timeout_s is not None else self.timeout_s + 10
        try:
            self._returncode = process.wait(limit)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(
                f"sipp still running after {limit} s\n{self.result().describe()}"
            ) from None
        return self.result()

    def stop(self, *, grace_s: float = 2.0) -> SippResult:
        """End SIPp by PID and return its result.

        SIGUSR1 first (no new calls; quit when the calls in progress end);
        after ``grace_s`` SIGTERM, which quits at once and makes the result
        ``is_forced``; SIGKILL if even that is ignored.
        """
        process = self._started()
        if process.poll() is None:
            os.kill(process.pid, signal.SIGUSR1)
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                self._is_forced = True
                os.kill(process.pid, signal.SIGTERM)
                try:
                    process.wait(3)
                except subprocess.TimeoutExpired:
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(5)
        self._returncode = process.returncode
        return self.result()

    def result(self) -> SippResult:
        """Exit code (-1000 while running), error log and traced messages."""
        code = self._returncode
        if code is None and self.process is not None:
            code = self.process.poll()
        return SippResult(
            returncode=-1000 if code is None else code,
            errors=_read(self.error_path),
            messages=self.messages(),
            is_forced=self._is_forced,
        )

    def messages(self) -> str:
        """The SIP messages sent and received so far (``-trace_msg``)."""
        return _read(self.message_path)

    def logs(self) -> str:
        """Lines written by the scenario's ``<log>`` actions."""
        return _read(self.log_path)

    def wait_for_message(self, text: str, *, timeout_s: float = 10.0) -> str:
        """Poll the message log until it contains ``text``; return the log."""
        deadline = time.monotonic() + timeout_s
        while True:
            messages = self.messages()
            if text in messages:
                return messages
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{text!r} not in sipp messages\n{self.result().describe()}"
                )
            time.sleep(0.05)

    def _started(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError("not started")
        return self.process

    def _stdout_tail(self) -> str:
        return _read(self.stdout_path)[-2000:]

    def __enter__(self) -> SippTrunk:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def run_sipp_uac(
    scenario: str | Path,
    remote: str,
    workdir: Path,
    *,
    transport: str = "udp",
    service: str = "service",
    caller: str = "+842400000000",
    keys: Mapping[str, str] | None = None,
    hold_ms: int = 1000,
    port: int | None = None,
    calls: int = 1,
    timeout_s: float = 30.0,
) -> SippResult:
    """Run a UAC scenario (e.g. trunk_uac_call.xml) to ``remote`` to its end.

    ``service`` is the dialled user part, ``caller`` the ``caller`` key (the
    calling number of trunk_uac_call.xml); ``hold_ms`` the scenario's pause
    (how long the call stays up); ``port`` the local SIP port (fix it when
    the gateway must recognise the trunk by its address).
    """
    uac = SippTrunk(
        scenario,
        workdir,
        transport=transport,
        remote=remote,
        port=port,
        keys={"caller": caller, **(keys or {})},
        service=service,
        pause_ms=hold_ms,
        calls=calls,
        timeout_s=timeout_s,
    )
    uac.start()
    return uac.wait()
