"""An H.323 peer that breaks the protocol cannot hang a call or the gateway.

One gateway serves the whole module.  It has one H.323 trunk per fault, each
to its own tests/interop/peers/h323_bad_peer.py process, which answers the
gateway's Setup with a malformed reply (truncated TPKT, zero or overlong IE
lengths, PER that does not decode, messages out of order, broken H.245) and
records what the gateway sends back.  One pjsua2 SRTP site calls each trunk
in turn, each time followed by a call to the echo test number 9999.  tshark
captures the call signalling to every peer.  The tests then check, fault by
fault (issue #5): the site's call fails with the SIP status that the
gateway's own Q.850 mapping gives, the peer got Release Complete with a
fitting cause (the right H.245 rejects for bad-h245), the gateway log names
the problem, the echo call right after works, the gateway process lives on
and the Release Complete it wrote dissects cleanly.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gateway.b2bua.events import Release
from gateway.b2bua.sip_leg import status_for
from tests.interop.capture import Capture
from tests.interop.harness import (
    REPO,
    GatewayProcess,
    free_port,
    read_response,
    register_request,
    require_tools,
    site_tls_context,
    status_of,
)
from tests.interop.pjsua_peer import Site
from tests.interop.sipp_trunk import free_media_port

pytestmark = pytest.mark.interop

ECHO_NUMBER = "9999"
FAULTS = (
    "truncated-tpkt",
    "zero-ie",
    "overlong-ie",
    "bad-per",
    "out-of-order",
    "bad-h245",
)
# The Q.850 cause of the gateway's Release Complete (Q.931 section 5.8):
# 95 invalid message, 96 mandatory IE missing (a zero-length User-User IE is
# an absent one, Q.931 4.5.1), 100 invalid IE contents, 101 message not
# compatible with the call state.  bad-h245 has no Q.931 fault: the call ends
# when the gateway gives up waiting for usable media.
EXPECTED_CAUSE = {
    "truncated-tpkt": 95,
    "zero-ie": 96,
    "overlong-ie": 100,
    "bad-per": 100,
    "out-of-order": 101,
}
# What the gateway log must say: the sans-IO machines' diagnostic reasons.
PROBLEM_TEXT = {
    "truncated-tpkt": "inside a TPKT",
    "zero-ie": "without User-User IE",
    "overlong-ie": "runs past the message",
    "bad-per": "undecodable H323-UserInformation",
    "out-of-order": "Call Proceeding received in CALL_DELIVERED",
    "bad-h245": "undecodable H.245 message",
}
# As a caller (--call) to the gateway's listener: a malformed Setup, or a
# Setup then a Connect from the caller; bad-h245 needs a routable callee to
# keep the call up long enough and is left to the outgoing direction.
IN_FAULTS = FAULTS[:5]
IN_EXPECTED_CAUSE = EXPECTED_CAUSE
IN_PROBLEM_TEXT = {**PROBLEM_TEXT, "out-of-order": "Connect received in CALL_PRESENT"}
UNROUTED_NUMBER = "770000"
PEER_WAIT_S = 20.0
PEER_LIFETIME_S = 120.0
SITE_TIMEOUT_S = 90.0


def dialled(fault: str) -> str:
    """The number routed to the trunk of ``fault`` (prefixes 6610-6615)."""
    return f"661{FAULTS.index(fault)}00"


class BadPeer:
    """tests/interop/peers/h323_bad_peer.py answering one call with ``fault``."""

    def __init__(self, directory: Path, fault: str) -> None:
        self.fault = fault
        self.port = free_port()
        self.stderr_path = directory / f"bad-peer-{fault}.stderr"
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        with self.stderr_path.open("w", encoding="utf-8") as stderr:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.interop.peers.h323_bad_peer",
                    f"--port={self.port}",
                    f"--fault={fault}",
                    f"--wait={PEER_WAIT_S}",
                    f"--lifetime={PEER_LIFETIME_S}",
                ],
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def wait_event(self, name: str, timeout_s: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            for event in self.seen:
                if event["event"] == name:
                    return event
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{self.fault} peer never printed {name}: {self.seen}"
            try:
                self.seen.append(self.events.get(timeout=remaining))
            except queue.Empty:
                continue

    def finish(self, timeout_s: float) -> int:
        """Its exit code: it exits by itself once the call is over."""
        try:
            code = self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            code = self.process.wait(timeout=5)
        time.sleep(0.1)  # Let the reader thread queue the last lines.
        while not self.events.empty():
            self.seen.append(self.events.get_nowait())
        return code

    def received(self) -> list[dict[str, Any]]:
        return [e for e in self.seen if e["event"] == "received"]


@dataclass(slots=True)
class Outcome:
    """What happened on one fault's call and the echo call after it."""

    failed_call: list[dict[str, Any]] = field(default_factory=list)
    echo_call: list[dict[str, Any]] = field(default_factory=list)
    echo_stats: dict[str, Any] | None = None


@dataclass(slots=True)
class Run:
    """The module's gateway, peers, capture and what the site saw."""

    gateway: GatewayProcess
    peers: dict[str, BadPeer]
    capture: Capture
    outcomes: dict[str, Outcome]
    site_events: list[dict[str, Any]]
    peer_codes: dict[str, int]
    callers: dict[str, list[dict[str, Any]]]
    caller_codes: dict[str, int]
    listener_port: int
    is_gateway_alive: bool


def call_in(port: int, fault: str, directory: Path) -> tuple[list[dict[str, Any]], int]:
    """The bad peer as a caller to the gateway's H.323 listener: its events."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.interop.peers.h323_bad_peer",
            f"--call=127.0.0.1:{port}",
            f"--fault={fault}",
            f"--called={UNROUTED_NUMBER}",
            "--wait=10",
            "--lifetime=20",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    (directory / f"bad-peer-caller-{fault}.stderr").write_text(result.stderr)
    events = [json.loads(line) for line in result.stdout.splitlines() if line]
    return events, result.returncode


def add_trunks(text: str, peers: dict[str, BadPeer], listener_port: int) -> str:
    """One route and one H.323 trunk per fault, and an H.323 listener."""
    routes = "".join(
        f'[[routes]]\nname = "bad-{fault}"\nmatch_prefix = "661{index}"\n'
        f'target = "trunk:bad-{fault}"\n\n'
        for index, fault in enumerate(FAULTS)
    )
    trunks = "".join(
        f'\n[[trunks]]\nname = "bad-{fault}"\nprotocol = "h323"\n'
        f'addresses = ["127.0.0.1:{peer.port}"]\ntransport = "tcp"\n'
        for fault, peer in peers.items()
    )
    marker = "[[routes]]\n# Site to site"
    assert marker in text
    listener = f'\n[plain]\nh323 = ["127.0.0.1:{listener_port}"]\n'
    return text.replace(marker, routes + marker) + listener + trunks


def split_calls(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The site's events cut into calls: each starts at its "calling" state."""
    calls: list[list[dict[str, Any]]] = []
    for event in events:
        if event["event"] == "call" and event["state"] == "calling":
            calls.append([])
        if calls and event["event"] in ("call", "stats"):
            calls[-1].append(event)
    return calls


def outcomes_of(events: list[dict[str, Any]]) -> dict[str, Outcome]:
    calls = split_calls(events)
    outcomes: dict[str, Outcome] = {}
    for index, fault in enumerate(FAULTS):
        failed = calls[2 * index] if 2 * index < len(calls) else []
        echo = calls[2 * index + 1] if 2 * index + 1 < len(calls) else []
        stats = [e for e in echo if e["event"] == "stats" and "rx_packets" in e]
        outcomes[fault] = Outcome(
            failed_call=failed,
            echo_call=[e for e in echo if e["event"] == "call"],
            echo_stats=stats[0] if stats else None,
        )
    return outcomes


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Run]:
    """Start everything, place every call, collect what each side saw."""
    require_tools(["tshark"])
    failures_before = request.session.testsfailed
    directory = tmp_path_factory.mktemp("h323-malformed")
    peers = {fault: BadPeer(directory, fault) for fault in FAULTS}
    gateway = GatewayProcess(directory / "gw")
    listener_port = free_port()
    text = add_trunks(gateway.config_path.read_text("utf-8"), peers, listener_port)
    gateway.config_path.write_text(text, encoding="utf-8")
    ports = [p.port for p in peers.values()] + [listener_port]
    capture = Capture(
        directory / "malformed.pcap", " or ".join(f"tcp port {p}" for p in ports)
    )
    try:
        for peer in peers.values():
            peer.wait_event("listening")
        gateway.start()
        steps = ["register"]
        for fault in FAULTS:
            steps += [f"call:{dialled(fault)}", f"call:{ECHO_NUMBER}", "wait:1"]
            steps += ["stats", "hangup"]
        site = Site(gateway, "xm-site", ",".join(steps), media_port=free_media_port())
        try:
            site.wait_for("done", timeout_s=SITE_TIMEOUT_S)
        except AssertionError:
            pass  # The tests below say what went missing.
        finally:
            site.finish()
        codes = {fault: peer.finish(PEER_WAIT_S + 5) for fault, peer in peers.items()}
        callers = {
            fault: call_in(listener_port, fault, directory) for fault in IN_FAULTS
        }
        is_alive = gateway.process is not None and gateway.process.poll() is None
    finally:
        capture.stop()
        for peer in peers.values():
            if peer.process.poll() is None:
                os.kill(peer.process.pid, signal.SIGKILL)
                peer.process.wait(timeout=5)
    yield Run(
        gateway=gateway,
        peers=peers,
        capture=capture,
        outcomes=outcomes_of(site.events),
        site_events=site.events,
        peer_codes=codes,
        callers={fault: events for fault, (events, _) in callers.items()},
        caller_codes={fault: code for fault, (_, code) in callers.items()},
        listener_port=listener_port,
        is_gateway_alive=is_alive,
    )
    code = gateway.stop()
    if request.session.testsfailed > failures_before:
        target = gateway.keep_logs("test_h323_malformed")
        for path in [*directory.glob("bad-peer-*"), *gateway.dir.glob("pjsua-*")]:
            (target / path.name).write_bytes(path.read_bytes())
        (target / "malformed.pcap").write_bytes(capture.path.read_bytes())
    assert code == 0, "the gateway did not stop cleanly"


def release_complete(run: Run, fault: str) -> dict[str, Any]:
    """The one Release Complete the peer of ``fault`` received."""
    peer = run.peers[fault]
    releases = [e for e in peer.received() if e["message"] == "RELEASE_COMPLETE"]
    assert len(releases) == 1, f"{fault}: peer saw {peer.seen}"
    return releases[0]


@pytest.mark.parametrize("fault", FAULTS)
def test_peer_gets_release_complete_with_a_fitting_cause(run: Run, fault: str) -> None:
    """Release Complete on the peer's call reference, cause per Q.931 5.8."""
    peer = run.peers[fault]
    setup = peer.wait_event("setup", timeout_s=0.1)
    assert setup["called"] == dialled(fault)
    release = release_complete(run, fault)
    assert release["call_reference"] == setup["call_reference"]
    assert release["is_from_destination"] is False  # From the caller's side.
    assert release["body"] == "releaseComplete"
    if fault in EXPECTED_CAUSE:
        assert release["cause"] == EXPECTED_CAUSE[fault]
        # A Release Complete is all the peer gets: no Status, no Facility.
        assert [e["message"] for e in peer.received()] == ["RELEASE_COMPLETE"]
    else:
        assert 1 <= release["cause"] <= 127
    assert peer.wait_event("closed", timeout_s=0.1)  # The gateway hung up.
    assert run.peer_codes[fault] == 0  # Everything it received decoded.


def test_bad_h245_gets_function_not_supported_and_tcs_reject(run: Run) -> None:
    """Undecodable H.245: functionNotSupported (syntaxError); a TCS naming an
    undefined entry: TerminalCapabilitySetReject (undefinedTableEntryUsed)."""
    pdus = [pdu for e in run.peers["bad-h245"].received() for pdu in e["h245"]]
    by_name = {pdu["name"]: pdu["body"] for pdu in pdus}
    assert by_name.get("functionNotSupported") == {"cause": ["syntaxError", 0]}
    assert by_name.get("terminalCapabilitySetReject") == {
        "cause": ["undefinedTableEntryUsed", 0],
        "sequenceNumber": 1,
    }


@pytest.mark.parametrize("fault", FAULTS)
def test_site_call_fails_with_the_mapped_sip_status(run: Run, fault: str) -> None:
    """The INVITE gets a final failure, the one status_for gives the cause.

    (RFC 3398 section 7.2.4.1 as gateway.h323.q850 implements it: 500 for
    the protocol-error causes, 408 for the gateway's own timer expiry.)
    """
    states = run.outcomes[fault].failed_call
    assert states and states[-1]["state"] == "disconnected", states
    assert not any(e["state"] == "confirmed" for e in states)
    cause = release_complete(run, fault)["cause"]
    expected = status_for(Release(cause=cause, reason=""))
    assert states[-1]["status"] == expected, (fault, cause, states)


def problem_lines(
    run: Run, prefixes: tuple[str, ...], text: str, direction: str
) -> list[Any]:
    """Log entries of the ``direction`` leg ("in" or "out") whose event has
    one of ``prefixes`` and that mention ``text``."""
    return [
        entry
        for entry in run.gateway.events()
        if str(entry.get("event", "")).startswith(prefixes)
        and entry.get("direction") == direction
        and any(text in str(value) for value in entry.values())
    ]


@pytest.mark.parametrize("fault", FAULTS)
def test_gateway_log_names_the_problem(run: Run, fault: str) -> None:
    """A warning of the outgoing leg (h323.call.*, h323.h245.*) carries the
    protocol error's reason (the listener's lines do not count)."""
    text = PROBLEM_TEXT[fault]
    lines = problem_lines(run, ("h323.call.", "h323.h245."), text, "out")
    assert lines, f"no h323.call.*/h323.h245.* log line mentions {text!r}"
    assert all(entry.get("level") in ("warning", "error") for entry in lines), lines


@pytest.mark.parametrize("fault", FAULTS)
def test_gateway_still_serves_the_echo_call_after(run: Run, fault: str) -> None:
    """The call to 9999 right after the fault is answered and echoes media."""
    outcome = run.outcomes[fault]
    states = [e["state"] for e in outcome.echo_call]
    assert "confirmed" in states, outcome.echo_call
    assert outcome.echo_stats is not None and outcome.echo_stats["rx_packets"] > 10


def test_gateway_process_lives_on(run: Run) -> None:
    """After every fault the process still runs and answers a new REGISTER."""
    assert run.is_gateway_alive
    assert run.gateway.process is not None and run.gateway.process.poll() is None
    context = site_tls_context(run.gateway, run.gateway.issue_site("xm-check"))
    with (
        socket.create_connection(("127.0.0.1", run.gateway.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(register_request("xm-check"))
        assert status_of(read_response(tls)) == 200
    # No bug of ours escaped to a task boundary on either direction.
    assert not run.gateway.events("h323.call.failed")
    assert not run.gateway.events("h323.in.failed")


@pytest.mark.parametrize("fault", IN_FAULTS)
def test_incoming_malformed_call_gets_release_complete(run: Run, fault: str) -> None:
    """A caller's malformed Setup (or Connect after Setup) on the listener:
    Release Complete on its call reference with the Q.931 5.8 cause."""
    events = run.callers[fault]
    received = [e for e in events if e["event"] == "received"]
    releases = [e for e in received if e["message"] == "RELEASE_COMPLETE"]
    assert len(releases) == 1, events
    (release,) = releases
    assert release["cause"] == IN_EXPECTED_CAUSE[fault], events
    assert release["is_from_destination"] is True  # The gateway is the callee.
    sent = [e for e in events if e["event"] == "sent"]
    assert sent and run.caller_codes[fault] == 0, events
    assert any(e["event"] == "closed" for e in events), events


@pytest.mark.parametrize("fault", IN_FAULTS)
def test_incoming_gateway_log_names_the_problem(run: Run, fault: str) -> None:
    """The listener's leg (direction "in") logs the protocol error's reason too."""
    text = IN_PROBLEM_TEXT[fault]
    lines = problem_lines(run, ("h323.call.", "h323.h245.", "h323.in."), text, "in")
    assert lines, f"no log line of the incoming leg mentions {text!r}"
    assert all(entry.get("level") in ("warning", "error") for entry in lines), lines


def test_gateway_release_complete_dissects_cleanly(run: Run) -> None:
    """Every frame the gateway sent to a peer is clean H.225.0 in tshark,
    and each Release Complete carries the cause the peer decoded."""
    ports = {str(peer.port): fault for fault, peer in run.peers.items()}
    port_filter = " || ".join(f"tcp.dstport == {port}" for port in ports)
    rows = run.capture.rows(
        f"({port_filter}) && q931",
        "frame.number",
        "tcp.dstport",
        "frame.protocols",
        "q931.message_type",
        "q931.cause_value",
        "_ws.malformed",
        "_ws.expert.severity",
        "_ws.expert.message",
    )
    causes: dict[str, list[int]] = {fault: [] for fault in FAULTS}
    for row in rows:
        layers = row["frame.protocols"].split(":")
        assert "q931" in layers and "h225" in layers, row
        assert not row["_ws.malformed"], row
        levels = [int(s, 0) for s in row["_ws.expert.severity"].split("|") if s]
        # Expert severities: 0x00600000 is warning, 0x00800000 error.
        assert all(level < 0x00600000 for level in levels), row
        if "0x5a" in row["q931.message_type"].split("|"):
            causes[ports[row["tcp.dstport"]]].append(int(row["q931.cause_value"], 0))
    for fault in FAULTS:
        assert causes[fault] == [release_complete(run, fault)["cause"]], (fault, rows)
    incoming = run.capture.rows(
        f"tcp.srcport == {run.listener_port} && q931",
        "q931.message_type",
        "q931.cause_value",
        "frame.protocols",
        "_ws.malformed",
        "_ws.expert.severity",
    )
    in_causes = []
    for row in incoming:
        assert "h225" in row["frame.protocols"].split(":"), row
        assert not row["_ws.malformed"], row
        levels = [int(s, 0) for s in row["_ws.expert.severity"].split("|") if s]
        assert all(level < 0x00600000 for level in levels), row
        if "0x5a" in row["q931.message_type"].split("|"):
            in_causes.append(int(row["q931.cause_value"], 0))
    expected = [
        e["cause"]
        for fault in IN_FAULTS
        for e in run.callers[fault]
        if e["event"] == "received" and e["message"] == "RELEASE_COMPLETE"
    ]
    assert sorted(in_causes) == sorted(expected), incoming
