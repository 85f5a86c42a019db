"""The gateway registers an H.323 trunk with a gatekeeper (RAS, H.225.0 7.9).

A real gateway process and the test gatekeeper (peers/h323_gatekeeper.py)
on loopback: GRQ/RRQ at start with our alias and prefixes, lightweight RRQs
within timeToLive, URQ on SIGTERM, a new registration after RRJ, ARQ/ACF
before a pjsua2 site's call reaches the H.323 MCU peer at the ACF address
and DRQ after it, and ARJ failing the call.  tshark dissects what the
gateway sends to the gatekeeper.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.app.config import load_config
from tests.interop.capture import live_capture
from tests.interop.harness import REPO, GatewayProcess, free_port
from tests.interop.peer_process import H323Caller, H323Peer
from tests.interop.pjsua_peer import Site, call_records
from tests.interop.sipp_trunk import free_media_port

pytestmark = pytest.mark.interop

ALIAS = "vcgw-test"
PREFIXES = ["84", "8424"]
ASKED_TTL_S = 30
GK_TTL_S = 4
# H.225.0 RasMessage CHOICE indexes, as tshark shows h225.RasMessage.
GRQ, RRQ, URQ, ARQ, DRQ = 0, 3, 6, 9, 15


class Gatekeeper:
    """peers/h323_gatekeeper.py as a child process; its JSON lines as events."""

    def __init__(self, workdir: Path, *flags: str) -> None:
        self.port = free_port(socket.SOCK_DGRAM)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.interop.peers.h323_gatekeeper",
                "--port",
                str(self.port),
                "--ttl",
                str(GK_TTL_S),
                "--lifetime",
                "60",
                "--log",
                str(workdir / "gatekeeper.log"),
                *flags,
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for("listening")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for(
        self, event: str, *, after: int = -1, timeout_s: float = 15, **fields: Any
    ) -> dict[str, Any]:
        """The first ``event`` with ``fields`` whose index is above ``after``."""
        deadline = time.monotonic() + timeout_s
        while True:
            for entry in self.events[after + 1 :]:
                if entry["event"] == event and all(
                    entry.get(k) == v for k, v in fields.items()
                ):
                    return entry
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                break
            with contextlib.suppress(queue.Empty):
                line = self._lines.get(timeout=left_s)
                if line is None:
                    break
                if line.startswith("{"):
                    entry = json.loads(line)
                    entry["index"] = len(self.events)
                    self.events.append(entry)
        raise AssertionError(f"gatekeeper: no {event} {fields}; got {self.events}")

    def received(self, kind: str) -> list[dict[str, Any]]:
        return [
            e for e in self.events if e["event"] == "received" and e["kind"] == kind
        ]

    def stop(self) -> int:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
        return self.process.wait(20)


GatewayMaker = Callable[..., GatewayProcess]
GatekeeperMaker = Callable[..., Gatekeeper]


@pytest.fixture
def start_gatekeeper(tmp_path: Path) -> Iterator[GatekeeperMaker]:
    """Start test gatekeepers; each must exit 0 when stopped after the test.

    They stop after the gateways (fixture order), so the gateway's URQ at
    shutdown is answered.
    """
    started: list[Gatekeeper] = []

    def start(*flags: str) -> Gatekeeper:
        gatekeeper = Gatekeeper(tmp_path, *flags)
        started.append(gatekeeper)
        return gatekeeper

    yield start
    codes = [gatekeeper.stop() for gatekeeper in started]
    assert codes == [0] * len(started)


@pytest.fixture
def make_gk_gateway(
    start_gatekeeper: GatekeeperMaker, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[GatewayMaker]:
    """A gateway with trunk mcu-gk registered at ``gatekeeper`` (route 66...).

    Like conftest's make_gateway, but a test may stop the gateway itself
    (SIGTERM, to see the URQ); a gateway still running is stopped after.
    """
    started: list[GatewayProcess] = []

    def make(
        gatekeeper: Gatekeeper, *, addresses: str = "", extra_route: str = ""
    ) -> GatewayProcess:
        process = GatewayProcess(tmp_path / "gw")
        text = process.config_path.read_text(encoding="utf-8")
        route = extra_route + (
            '[[routes]]\nname = "mcu-gk"\nmatch_prefix = "66"\n'
            'target = "trunk:mcu-gk"\n\n'
        )
        marker = "[[routes]]\n# Site to site"
        trunk = (
            f'\n[[trunks]]\nname = "mcu-gk"\nprotocol = "h323"\ntransport = "tcp"\n'
            f'gatekeeper = "127.0.0.1:{gatekeeper.port}"\nh323_id = "{ALIAS}"\n'
            f"prefixes = {json.dumps(PREFIXES)}\nras_ttl_s = {ASKED_TTL_S}\n"
            f"ras_retry_s = 1\n{addresses}"
        )
        text = text.replace(marker, route + marker) + trunk
        process.config_path.write_text(text, encoding="utf-8")
        started.append(process)
        process.start()
        return process

    yield make
    for process in started:
        code = process.stop() if process.process is not None else 0
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            target = process.keep_logs(request.node.name)
            for log in [*process.dir.glob("pjsua-*.log"), *tmp_path.glob("*.log")]:
                (target / log.name).write_bytes(log.read_bytes())
        assert code == 0


def wait_captured(path: Path, port: int, display_filter: str) -> None:
    """Wait until dumpcap has written a frame matching ``display_filter``.

    The kernel hands packets to dumpcap in blocks, so the last ones would be
    lost if the capture stopped as soon as the peer saw them.
    """
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = subprocess.run(
            [
                *("tshark", "-r", str(path), "-d", f"udp.port=={port},h225"),
                *("-Y", display_filter, "-T", "fields", "-e", "frame.number"),
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if result.stdout.strip():
            return
        time.sleep(0.2)
    raise AssertionError(f"{display_filter} not captured in {path}")


def ras_fields(path: Path, port: int, names: list[str]) -> list[dict[str, str]]:
    """One dict per datagram sent to the gatekeeper (RAS decoded on its port)."""
    arguments = ["-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|"]
    for name in names:
        arguments += ["-e", name]
    result = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-d",
            f"udp.port=={port},h225",
            "-Y",
            f"udp.dstport=={port}",
            *arguments,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    return [dict(zip(names, line.split("\t"), strict=True)) for line in lines]


def assert_well_formed(path: Path, port: int) -> None:
    """No datagram to the gatekeeper is malformed or has an expert warning."""
    names = ["frame.number", "_ws.malformed", "_ws.expert.severity"]
    names += ["_ws.expert.message", "h225.RasMessage"]
    rows = ras_fields(path, port, names)
    assert rows and all(row["h225.RasMessage"] for row in rows), rows
    bad = []
    for row in rows:
        levels = [int(s, 0) for s in row["_ws.expert.severity"].split("|") if s]
        if row["_ws.malformed"] or any(level >= 0x00600000 for level in levels):
            bad.append((row["frame.number"], row["_ws.expert.message"]))
    assert bad == []


def test_registers_keeps_alive_and_unregisters_on_sigterm(
    start_gatekeeper: GatekeeperMaker, make_gk_gateway: GatewayMaker, tmp_path: Path
) -> None:
    """GRQ, RRQ with alias and prefixes, keep-alives within TTL, URQ at stop."""
    gatekeeper = start_gatekeeper()
    pcap = tmp_path / "ras.pcapng"
    with live_capture(pcap, f"udp port {gatekeeper.port}"):
        gateway = make_gk_gateway(gatekeeper)
        grq = gatekeeper.wait_for("received", kind="GRQ")
        rrq = gatekeeper.wait_for("received", kind="RRQ", keep_alive=False)
        rcf = gatekeeper.wait_for("sent", kind="RCF", after=rrq["index"])
        first = gatekeeper.wait_for("received", kind="RRQ", keep_alive=True)
        first_rcf = gatekeeper.wait_for("sent", kind="RCF", after=first["index"])
        second = gatekeeper.wait_for(
            "received", kind="RRQ", keep_alive=True, after=first["index"]
        )
        gatekeeper.wait_for("sent", kind="RCF", after=second["index"])
        deadline = time.monotonic() + 5
        while len(gateway.events("h323.ras.refreshed")) < 2:
            assert time.monotonic() < deadline, gateway.log_text()[-4000:]
            time.sleep(0.05)
        assert gateway.stop() == 0  # SIGTERM: the gateway unregisters.
        urq = gatekeeper.wait_for("received", kind="URQ", timeout_s=5)
        wait_captured(pcap, gatekeeper.port, f"h225.RasMessage == {URQ}")
    ras = rrq["ras_addresses"][0]
    assert grq["ras_addresses"] == [ras] and grq["source"] == ras
    assert grq["aliases"] == rrq["aliases"] == [["h323-ID", ALIAS]]
    assert grq["prefixes"] == rrq["prefixes"] == PREFIXES
    assert rrq["is_gateway"] is True and rrq["ttl"] == ASKED_TTL_S
    assert rrq["gatekeeper_id"] == "TESTGK"  # From the GCF.
    # Our H.323 listener's port, or 1720 (H.323 7.2) when there is none.
    listeners = load_config(gateway.config_path).plain.h323
    port = listeners[0].port if listeners else 1720
    assert rrq["call_signal_addresses"] == [f"127.0.0.1:{port}"]
    # H.225.0 7.9.2: each lightweight RRQ comes before the TTL runs out.
    assert first["t"] - rcf["t"] < GK_TTL_S and second["t"] - first_rcf["t"] < GK_TTL_S
    for keep_alive in (first, second):
        assert keep_alive["endpoint_id"] == "EP1" and keep_alive["ttl"] == GK_TTL_S
        assert keep_alive["source"] == ras
    assert urq["endpoint_id"] == "EP1" and urq["aliases"] == [["h323-ID", ALIAS]]
    assert gatekeeper.wait_for("sent", kind="UCF", after=urq["index"])
    (registered,) = gateway.events("h323.ras.registered")
    assert registered["trunk"] == "mcu-gk" and registered["ttl_s"] == GK_TTL_S
    (unregistered,) = gateway.events("h323.ras.unregistered")
    assert unregistered["confirmed"] is True
    # tshark: well formed, and the fields it decodes are the ones meant.
    assert_well_formed(pcap, gatekeeper.port)
    names = [
        "h225.RasMessage",
        "h225.requestSeqNum",
        "h225.keepAlive",
        "h225.timeToLive",
        "h225.h323_ID",
        "h225.dialledDigits",
        "h225.endpointIdentifier",
        "h225.gatekeeperIdentifier",
    ]
    rows = ras_fields(pcap, gatekeeper.port, names)
    kinds = [int(r["h225.RasMessage"]) for r in rows]
    assert kinds[:2] == [GRQ, RRQ] and kinds[-1] == URQ
    assert set(kinds[2:-1]) == {RRQ} and len(kinds) >= 5
    seqs = [int(r["h225.requestSeqNum"]) for r in rows]
    assert seqs == list(range(seqs[0], seqs[0] + len(rows)))
    full, *keep_alives, last = rows[1:]
    assert full["h225.keepAlive"] == "0" and full["h225.timeToLive"] == "30"
    assert full["h225.h323_ID"] == ALIAS and full["h225.dialledDigits"] == "84|8424"
    assert rows[0]["h225.dialledDigits"] == "84|8424"  # supportedPrefixes in GRQ
    for row in keep_alives:
        assert row["h225.keepAlive"] == "1" and row["h225.timeToLive"] == "4"
        assert row["h225.endpointIdentifier"] == "EP1"
        assert row["h225.gatekeeperIdentifier"] == "TESTGK"
    assert last["h225.endpointIdentifier"] == "EP1" and last["h225.h323_ID"] == ALIAS


def test_registers_again_after_rrj(
    start_gatekeeper: GatekeeperMaker, make_gk_gateway: GatewayMaker
) -> None:
    """RRJ to the first RRQ: a full RRQ again after ras_retry_s, then RCF."""
    gatekeeper = start_gatekeeper("--reject-first-rrq")
    gateway = make_gk_gateway(gatekeeper)
    first = gatekeeper.wait_for("received", kind="RRQ")
    rrj = gatekeeper.wait_for("sent", kind="RRJ", after=first["index"])
    again = gatekeeper.wait_for(
        "received", kind="RRQ", keep_alive=False, after=rrj["index"]
    )
    gatekeeper.wait_for("sent", kind="RCF", after=again["index"])
    registered = gateway.wait_event("h323.ras.registered", timeout_s=5)
    assert 0.9 <= again["t"] - rrj["t"] <= 3.0  # ras_retry_s = 1
    assert again["aliases"] == [["h323-ID", ALIAS]] and again["prefixes"] == PREFIXES
    (rejected,) = gateway.events("h323.ras.registration_rejected")
    assert rejected["reason"] == "resourceUnavailable"
    assert rejected["retry_in_s"] == 1.0
    assert gateway.events("h323.ras.retry")
    assert registered["endpoint_id"] == "EP1"
    assert gatekeeper.received("GRQ") and len(gatekeeper.received("GRQ")) == 1


def test_call_is_admitted_to_the_acf_address_then_disengaged(
    start_gatekeeper: GatekeeperMaker, make_gk_gateway: GatewayMaker, tmp_path: Path
) -> None:
    """ARQ before Setup, Setup to the ACF's address, DRQ once the call ends."""
    mcu = H323Peer(tmp_path, mode="faststart")
    gatekeeper = start_gatekeeper("--acf-address", f"127.0.0.1:{mcu.port}")
    pcap = tmp_path / "ras-call.pcapng"
    try:
        with live_capture(pcap, f"udp port {gatekeeper.port}"):
            gateway = make_gk_gateway(gatekeeper)  # No trunk address at all.
            gatekeeper.wait_for("sent", kind="RCF")
            site = Site(
                gateway,
                "xa-gk",
                "register,call:66123,wait:1,hangup",
                media_port=free_media_port(),
            )
            try:
                confirmed = site.wait_for("call", state="confirmed")
                site.wait_for("call", state="disconnected")
                setup = mcu.wait_for("setup")
                released = mcu.wait_for("released")
            finally:
                site.finish()
            drq = gatekeeper.wait_for("received", kind="DRQ", timeout_s=5)
            gatekeeper.wait_for("sent", kind="DCF", after=drq["index"])
            wait_captured(pcap, gatekeeper.port, f"h225.RasMessage == {DRQ}")
    finally:
        assert mcu.stop() == 0
    assert confirmed["status"] == 200
    assert setup["called"] == "66123" and released["cause"] == 16
    (arq,) = gatekeeper.received("ARQ")
    assert gatekeeper.wait_for("sent", kind="ACF", after=arq["index"])
    assert arq["endpoint_id"] == "EP1" and arq["destination"] == [
        ["dialledDigits", "66123"]
    ]
    assert arq["source_aliases"] == [["h323-ID", ALIAS]] and arq["bandwidth"] == 7680
    assert arq["answer_call"] is False and arq["dest_address"] is None
    assert (drq["call_id"], drq["conference_id"]) == (
        arq["call_id"],
        arq["conference_id"],
    )
    assert drq["call_reference"] == arq["call_reference"]
    # The Setup is the call the gatekeeper admitted (H.225.0 section 7.9.3).
    assert (setup["call_id"], setup["conference_id"], setup["call_reference"]) == (
        arq["call_id"],
        arq["conference_id"],
        arq["call_reference"],
    )
    assert drq["reason"] == "normalDrop" and drq["endpoint_id"] == "EP1"
    # The gateway called the address the ACF gave, after the ACF.
    names = [e["event"] for e in gateway.events()]
    assert names.index("h323.ras.admitted") < names.index("h323.call.setup")
    (admitted,) = gateway.events("h323.ras.admitted")
    assert admitted["address"] == f"127.0.0.1:{mcu.port}"
    (call_setup,) = gateway.events("h323.call.setup")
    assert call_setup["peer"] == f"127.0.0.1:{mcu.port}"
    (disengaged,) = gateway.events("h323.ras.disengaged")
    assert disengaged["confirmed"] is True and disengaged["call_id"] == arq["call_id"]
    assert_well_formed(pcap, gatekeeper.port)
    names = [
        "h225.RasMessage",
        "h225.dialledDigits",
        "h225.h323_ID",
        "h225.bandWidth",
        "h225.guid",
        "h225.conferenceID",
        "h225.disengageReason",
    ]
    rows = [
        r
        for r in ras_fields(pcap, gatekeeper.port, names)
        if int(r["h225.RasMessage"]) in (ARQ, DRQ)
    ]
    assert [int(r["h225.RasMessage"]) for r in rows] == [ARQ, DRQ]
    arq_row, drq_row = rows
    assert arq_row["h225.dialledDigits"] == "66123"
    assert arq_row["h225.h323_ID"] == ALIAS and arq_row["h225.bandWidth"] == "7680"
    guid = arq["call_id"]
    assert arq_row["h225.guid"].replace("-", "") == guid
    assert drq_row["h225.guid"].replace("-", "") == guid
    assert drq_row["h225.disengageReason"] == "1"  # normalDrop


def test_arj_fails_the_call_and_the_registration_stays(
    start_gatekeeper: GatekeeperMaker, make_gk_gateway: GatewayMaker
) -> None:
    """ARJ requestDenied: the site gets 403, no Setup, keep-alives go on."""
    gatekeeper = start_gatekeeper("--reject-arq")
    gateway = make_gk_gateway(gatekeeper)
    gatekeeper.wait_for("sent", kind="RCF")
    site = Site(gateway, "xa-gk", "register,call:66123", media_port=free_media_port())
    try:
        failed = site.wait_for("call", state="disconnected")
    finally:
        site.finish()
    arj = gatekeeper.wait_for("sent", kind="ARJ")
    keep_alive = gatekeeper.wait_for(
        "received", kind="RRQ", keep_alive=True, after=arj["index"]
    )
    gatekeeper.wait_for("sent", kind="RCF", after=keep_alive["index"])
    assert failed["status"] == 403, failed
    assert len(gatekeeper.received("ARQ")) == 1 and not gatekeeper.received("DRQ")
    (rejected,) = gateway.events("h323.ras.admission_rejected")
    assert rejected["reason"] == "requestDenied" and rejected["cause"] == 21
    assert gateway.events("h323.call.setup") == []
    assert len(gateway.events("h323.ras.registered")) == 1  # Never lost.


@pytest.mark.parametrize("flags", [(), ("--reject-arq",)], ids=["acf", "arj"])
def test_incoming_call_is_admitted_by_the_gatekeeper(
    start_gatekeeper: GatekeeperMaker,
    make_gk_gateway: GatewayMaker,
    flags: tuple[str, ...],
) -> None:
    """A caller that is no trunk address: ARQ answerCall; ACF routes it, ARJ not.

    After the admitted call the gateway sends DRQ for the same call.
    """
    gatekeeper = start_gatekeeper(*flags)
    h323_port = free_port()
    gateway = make_gk_gateway(
        gatekeeper,
        addresses=f'\n[plain]\nh323 = ["127.0.0.1:{h323_port}"]\n',
        extra_route=(
            '[[routes]]\nname = "gk-in"\nmatch_prefix = "88"\n'
            'target = "site:xa-gkin"\nallowed_sources = ["trunk:mcu-gk"]\n\n'
        ),
    )
    gatekeeper.wait_for("sent", kind="RCF")
    site = Site(
        gateway,
        "xa-gkin",
        "register,await_call,await_end:20",
        media_port=free_media_port(),
    )
    site.wait_for("reg", code=200)
    caller = H323Caller(h323_port, "8801", "--hold", "2")
    try:
        released = caller.wait_for("released")
    finally:
        code = caller.finish()
        site.process.kill()
        site.finish()
    arq = gatekeeper.wait_for("received", kind="ARQ")
    assert arq.get("answer_call") is True, arq
    assert code == 0
    if flags:
        assert released["is_local"] is False and released["cause"] == 21, released
        assert not any(e["event"] == "connected" for e in caller.events)
        return
    assert released["is_local"] is True and released["received"] > 20, released
    drq = gatekeeper.wait_for("received", kind="DRQ")
    assert drq.get("call_id") == arq.get("call_id"), (arq, drq)
    (record,) = call_records(gateway)
    assert record["caller_trunk"] == "mcu-gk" and record["route"] == "gk-in"
