"""Live loopback captures with tshark, and reading them back as fields.

Tests start tshark (dumpcap) on ``lo`` with a capture filter, run their
peers, stop it by PID, and read the frames with ``tshark -T fields``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

# Expert severities (epan/proto.h): 0x00600000 is a warning, 0x00800000 an error.
EXPERT_WARNING = 0x00600000


class Capture:
    """tshark on loopback with ``capture_filter``, started and stopped by PID."""

    def __init__(self, path: Path, capture_filter: str) -> None:
        self.path = path
        self.process = subprocess.Popen(
            ["tshark", "-i", "lo", "-f", capture_filter, "-w", str(path)],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if "Capturing on" in line:
                break
        else:
            raise AssertionError("tshark did not start capturing")
        # dumpcap says "Capturing on" a moment before its filter is live.
        time.sleep(1.0)

    def stop(self) -> None:
        """Stop tshark by PID (idempotent), letting it write its file."""
        if self.process.poll() is not None:
            return
        time.sleep(0.5)  # The kernel hands packets to dumpcap in blocks.
        os.kill(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def values(self, *names: str, display_filter: str) -> list[list[str]]:
        """Per frame matching ``display_filter``, the values of ``names``."""
        return [
            [row[name] for name in names]
            for row in fields(
                self.path, names, display_filter=display_filter, aggregator=","
            )
        ]

    def lines(self, *names: str, display_filter: str | None = None) -> list[str]:
        """One tab-separated line per frame (empty lines left out)."""
        rows = fields(
            self.path, names, display_filter=display_filter or "", aggregator=","
        )
        lines = ("\t".join(row[name] for name in names) for row in rows)
        return [line for line in lines if line.strip()]

    def rows(self, display_filter: str, *names: str) -> list[dict[str, str]]:
        """One dict per matching frame; repeated fields are '|'-joined."""
        return fields(self.path, names, display_filter=display_filter)


@contextlib.contextmanager
def live_capture(path: Path, capture_filter: str) -> Iterator[None]:
    """tshark on loopback with ``capture_filter`` for the block, then stopped."""
    capture = Capture(path, capture_filter)
    try:
        yield
    finally:
        capture.stop()


def fields(
    path: Path,
    names: Sequence[str],
    *,
    decode_as: Sequence[str] = (),
    display_filter: str = "",
    aggregator: str = "|",
) -> list[dict[str, str]]:
    """One dict per frame: each field's values, ``aggregator``-joined."""
    arguments = ["tshark", "-r", str(path)]
    for rule in decode_as:
        arguments += ["-d", rule]
    if display_filter:
        arguments += ["-Y", display_filter]
    arguments += [
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        f"aggregator={aggregator}",
    ]
    for name in names:
        arguments += ["-e", name]
    result = subprocess.run(
        arguments, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [
        dict(zip(names, line.split("\t"), strict=True))
        for line in result.stdout.splitlines()
    ]


def problems(
    path: Path, *, decode_as: Sequence[str] = (), display_filter: str = ""
) -> list[dict[str, str]]:
    """Frames tshark calls malformed or gives an expert warning or error."""
    rows = fields(
        path,
        ["frame.number", "_ws.malformed", "_ws.expert.severity", "_ws.expert.message"],
        decode_as=decode_as,
        display_filter=display_filter,
    )
    return [
        row
        for row in rows
        if row["_ws.malformed"]
        or any(
            int(level, 0) >= EXPERT_WARNING
            for level in row["_ws.expert.severity"].split("|")
            if level
        )
    ]


def frames_sent(path: Path, port: int, display_filter: str) -> int:
    """How many TCP frames from ``port`` match ``display_filter``; every
    frame from that port must be free of Malformed and expert warnings."""
    sent = f"tcp.srcport == {port}"
    assert problems(path, display_filter=sent) == []
    return len(
        fields(path, ["frame.number"], display_filter=f"{sent} && ({display_filter})")
    )
