"""More calls through the real gateway: CANCEL, media timeout, limits, spoofing.

Each test runs `vcgw run` with its own configuration and drives real pjsua2
sites (tests/interop/peers/pjsua_site.py) or raw sockets on loopback.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import signal
import socket
import ssl
import struct
import time
from typing import Any

import pytest

from tests.interop.conftest import GatewayFactory
from tests.interop.harness import (
    DOMAIN,
    GatewayProcess,
    free_port,
    site_tls_context,
    status_of,
)
from tests.interop.pjsua_peer import (
    CALLEE_MEDIA_PORT,
    CALLER_MEDIA_PORT,
    Site,
    call_records,
)

pytestmark = pytest.mark.interop
MEDIA_TIMEOUT_S = 5  # The smallest [media] timeout_s the config accepts.
RELAY_PORT_COUNT = 16  # The smallest [media] range: 8 RTP/RTCP pairs.


def free_udp_range(count: int) -> int:
    """An even port where ``count`` UDP ports on 127.0.0.1 were free just now."""
    for _ in range(50):
        base = free_port(socket.SOCK_DGRAM) & ~1
        if base + count <= 65535 and unbindable_ports(base, count) == []:
            return base
    raise AssertionError(f"no {count} free UDP ports in a row on 127.0.0.1")


def unbindable_ports(base: int, count: int) -> list[int]:
    """Ports in ``base``..``base+count-1`` that some socket still holds."""
    held = []
    for port in range(base, base + count):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                held.append(port)
    return held


def wait_released(base: int, count: int, timeout_s: float = 3.0) -> list[int]:
    """Poll until the gateway has closed every relay port; return those held."""
    deadline = time.monotonic() + timeout_s
    held = unbindable_ports(base, count)
    while held and time.monotonic() < deadline:
        time.sleep(0.1)
        held = unbindable_ports(base, count)
    return held


def media_config(**values: object) -> str:
    lines = [f"{key} = {value!r}" for key, value in values.items()]
    return "\n[media]\n" + "\n".join(lines) + "\n"


def received_bye(site: Site) -> bool:
    """Whether the site's pjsua2 log shows a BYE it received (not one it sent)."""
    text = site.log_path.read_text(errors="replace")
    return re.search(r"^RX \d+ bytes Request msg BYE/", text, re.MULTILINE) is not None


def all_events(site: Site) -> list[dict[str, Any]]:
    """Every event the (finished) site printed, read or not by ``wait_for``."""
    assert site.process.stdout is not None and site.process.poll() is not None
    rest = site.process.stdout.read().splitlines()
    return site.events + [json.loads(x) for x in rest if x.startswith("{")]


def finish_all(*sites: Site) -> list[int]:
    return [site.finish() for site in sites]


def test_cancel_while_ringing_ends_both_legs_and_frees_ports(
    make_gateway: GatewayFactory,
) -> None:
    """A caller hanging up while the callee rings: 487, callee cancelled, CDR, ports.

    pjsua2 sends CANCEL for an unanswered call; the gateway answers the
    INVITE with 487, CANCELs the callee leg, records "cancelled by caller"
    and closes every relay port it opened for the call.
    """
    base = free_udp_range(RELAY_PORT_COUNT)
    gateway = make_gateway(
        extra_config=media_config(port_min=base, port_max=base + RELAY_PORT_COUNT - 1)
    )
    callee = Site(
        gateway,
        "xc-callee",
        "register,ring_only,await_ringing,await_end:20",
        media_port=CALLEE_MEDIA_PORT,
    )
    callee.wait_for("reg", code=200)
    caller = Site(
        gateway,
        "xc-caller",
        "register,dial:xc-callee,wait:1,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        ringing = caller.wait_for("call", state="early")
        callee.wait_for("call", state="early")
        caller_end = caller.wait_for("call", state="disconnected")
        callee_end = callee.wait_for("call", state="disconnected")
    finally:
        codes = finish_all(caller, callee)
    assert codes == [0, 0]
    assert ringing["status"] == 180  # The callee's ringing reached the caller.
    assert caller_end["status"] == 487, caller_end
    assert callee_end["status"] == 487, callee_end  # The callee was CANCELled.
    assert "confirmed" not in [e.get("state") for e in callee.events]
    (record,) = call_records(gateway)
    assert record["end_reason"] == "cancelled by caller", record
    assert record["answered_at"] is None
    assert wait_released(base, RELAY_PORT_COUNT) == []
    # The same small range still serves a call right after.
    again = Site(
        gateway,
        "xc-again",
        "register,call:9999,wait:2,stats,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        again.wait_for("call", state="confirmed")
        stats = again.wait_for("stats")
    finally:
        assert again.finish() == 0
    assert stats["rx_packets"] > 50, stats
    assert wait_released(base, RELAY_PORT_COUNT) == []


def test_media_timeout_ends_a_silent_call_with_bye(
    make_gateway: GatewayFactory,
) -> None:
    """A site that stops sending media is hung up after [media] timeout_s.

    The pjsua2 process is stopped (SIGSTOP by PID) during an echo call; the
    gateway must end the call within timeout + 2 s, send BYE (seen once the
    process runs again) and record "media timeout".
    """
    gateway = make_gateway(extra_config=media_config(timeout_s=MEDIA_TIMEOUT_S))
    site = Site(
        gateway,
        "xt-quiet",
        "register,call:9999,wait:2,stats,await_end:60",
        media_port=CALLER_MEDIA_PORT,
    )
    pid = site.process.pid
    is_stopped = False
    try:
        site.wait_for("call", state="confirmed")
        stats = site.wait_for("stats")
        os.kill(pid, signal.SIGSTOP)
        is_stopped = True
        silent_from = time.monotonic()
        ended = gateway.wait_event(
            "call.ended", timeout_s=MEDIA_TIMEOUT_S + 10, caller="xt-quiet"
        )
        silent_for_s = time.monotonic() - silent_from
        os.kill(pid, signal.SIGCONT)
        is_stopped = False
        disconnected = site.wait_for("call", state="disconnected", timeout_s=15)
    finally:
        if is_stopped:
            os.kill(pid, signal.SIGCONT)
        code = site.finish()
    assert code == 0
    assert stats["rx_packets"] > 50, stats  # Media did flow before.
    assert ended["reason"].startswith("media timeout"), ended
    # The sweep runs once a second; polling the log adds a little.
    assert MEDIA_TIMEOUT_S - 1 <= silent_for_s <= MEDIA_TIMEOUT_S + 2, silent_for_s
    # The site did not hang up itself: the call ended by the gateway's BYE.
    assert received_bye(site)
    assert disconnected["status"] in (200, 408, 503), disconnected
    (record,) = call_records(gateway)
    assert record["end_reason"].startswith("media timeout"), record
    assert record["answered_at"] is not None


def test_second_call_from_a_site_over_its_limit_gets_486(
    make_gateway: GatewayFactory,
) -> None:
    """[calls] max_calls_per_site = 1: a second simultaneous call gets 486.

    The first call keeps its audio, and once it ends the site may call again.
    """
    gateway = make_gateway(
        edit=lambda text: text.replace("[calls]\n", "[calls]\nmax_calls_per_site = 1\n")
    )
    site = Site(
        gateway,
        "xl-busy",
        "register,call:9999,wait:2,stats,call_another:9999,wait:2,stats,hangup,"
        "call:9999,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        site.wait_for("call", state="confirmed")
        before = site.wait_for("stats")
        second = site.wait_for("call_another")
        after = site.wait_for("stats")
        site.wait_for("done")
    finally:
        code = site.finish()
    assert code == 0
    assert second == {"event": "call_another", "state": "disconnected", "status": 486}
    # The first call was not disturbed: its audio kept coming back.
    assert after["rx_packets"] > before["rx_packets"] + 50, (before, after)
    refused = gateway.wait_event("call.refused", site="xl-busy")
    assert refused["status"] == 486
    records = call_records(gateway)
    assert len(records) == 2, records  # The refused call made no record.
    assert all(r["answered_at"] is not None for r in records)


def spoof_packets(count: int) -> list[bytes]:
    """Garbage, and RTP-looking packets with a made-up 80-bit tag."""
    packets = [secrets.token_bytes(secrets.choice(range(1, 300))) for _ in range(count)]
    ssrc = secrets.randbits(32)
    for seq in range(count):
        header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc)
        packets.append(header + secrets.token_bytes(160 + 10))
    return packets


def test_spoofed_media_is_counted_and_does_not_disturb_the_call(
    make_gateway: GatewayFactory,
) -> None:
    """Packets from another port to the site leg's relay port are refused.

    The call's audio keeps flowing, nothing is sent to the spoofer, and the
    caller leg's record counts the authentication failures.
    """
    gateway = make_gateway()
    site = Site(
        gateway,
        "xs-target",
        "register,call:9999,wait:2,stats,wait:4,stats,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    received: list[bytes] = []
    try:
        site.wait_for("call", state="confirmed")
        before = site.wait_for("stats")
        host, _, port_text = before["remote_rtp"].rpartition(":")
        relay_port = int(port_text)
        sent = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as spoofer:
            spoofer.bind(("127.0.0.1", 0))
            spoofer.setblocking(False)
            for packet in spoof_packets(100):
                spoofer.sendto(packet, (host, relay_port))
                sent += 1
                time.sleep(0.01)
            time.sleep(0.5)
            while True:
                try:
                    received.append(spoofer.recv(4096))
                except BlockingIOError:
                    break
        after = site.wait_for("stats")
        site.wait_for("call", state="disconnected")
    finally:
        code = site.finish()
    assert code == 0
    assert host == "127.0.0.1" and sent == 200
    assert received == []  # The relay did not latch onto the spoofer.
    assert after["rx_packets"] > before["rx_packets"] + 100, (before, after)
    (record,) = call_records(gateway)
    (leg,) = record["legs"]
    # Every RTP-looking packet fails authentication; garbage may count as bad.
    assert leg["auth_failures"] >= 100, leg
    assert leg["packets_in"] > 200, leg


def test_bye_from_the_callee_clears_the_caller(make_gateway: GatewayFactory) -> None:
    """The callee hangs up first: the caller gets a BYE and the CDR says so."""
    gateway = make_gateway()
    callee = Site(
        gateway,
        "xb-callee",
        "register,await_call,wait:2,stats,hangup",
        media_port=CALLEE_MEDIA_PORT,
    )
    callee.wait_for("reg", code=200)
    caller = Site(
        gateway,
        "xb-caller",
        "register,call:xb-callee,await_end:20",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        caller.wait_for("call", state="confirmed")
        stats = callee.wait_for("stats")
        callee.wait_for("call", state="disconnected")
        started = time.monotonic()
        caller.wait_for("call", state="disconnected", timeout_s=10)
        cleared_after_s = time.monotonic() - started
    finally:
        codes = finish_all(caller, callee)
    assert codes == [0, 0]
    assert stats["rx_packets"] > 50, stats
    assert cleared_after_s < 3, cleared_after_s
    assert received_bye(caller) and not received_bye(callee)
    (record,) = call_records(gateway)
    assert record["end_reason"] == "BYE from callee", record
    assert [leg["leg"] for leg in record["legs"]] == ["caller", "callee"]


def raw_invite(
    site: str, dialled: str, local: str, *, transport: str = "TCP"
) -> SipExchange:
    """An SRTP INVITE as a site would send it, with its CANCEL and ACK."""
    key = base64.b64encode(secrets.token_bytes(30)).decode()
    sdp = (
        "v=0\r\n"
        f"o={site} 1 1 IN IP4 127.0.0.1\r\n"
        "s=-\r\n"
        "c=IN IP4 127.0.0.1\r\n"
        "t=0 0\r\n"
        "m=audio 26000 RTP/SAVP 0\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}\r\n"
    ).encode()
    common = [
        f"Via: SIP/2.0/{transport} {local};branch=z9hG4bK{secrets.token_hex(8)}",
        "Max-Forwards: 70",
        f"From: <sip:{site}@{DOMAIN}>;tag={secrets.token_hex(4)}",
        f"To: <sip:{dialled}@{DOMAIN}>",
        f"Call-ID: {secrets.token_hex(8)}@{local}",
    ]
    request_line = f"sip:{dialled}@{DOMAIN} SIP/2.0"
    invite = [
        f"INVITE {request_line}",
        *common,
        "CSeq: 1 INVITE",
        f"Contact: <sip:{site}@{local};transport={transport.lower()}>",
        "Content-Type: application/sdp",
        f"Content-Length: {len(sdp)}",
    ]
    cancel = [f"CANCEL {request_line}", *common, "CSeq: 1 CANCEL", "Content-Length: 0"]
    return SipExchange(
        invite=_message(invite) + sdp,
        cancel=_message(cancel),
        ack_lines=[f"ACK {request_line}", *common[:-2], common[-1], "CSeq: 1 ACK"],
    )


class SipExchange:
    """One raw INVITE, its CANCEL, and the ACK for a final response."""

    def __init__(self, *, invite: bytes, cancel: bytes, ack_lines: list[str]) -> None:
        self.invite = invite
        self.cancel = cancel
        self._ack_lines = ack_lines

    def ack(self, response: str) -> bytes:
        """The ACK for ``response`` (its To header carries the tag)."""
        to = next(line for line in response.splitlines() if line.startswith("To:"))
        return _message([*self._ack_lines[:4], to, *self._ack_lines[4:]])


def _message(lines: list[str]) -> bytes:
    if not lines[-1].startswith("Content-Length"):
        lines = [*lines, "Content-Length: 0"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def final_response(sock: socket.socket) -> str:
    """Skip provisional responses; return the first final one."""
    buffered = b""
    sock.settimeout(10)
    while True:
        while b"\r\n\r\n" not in buffered:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed after {buffered!r}")
            buffered += chunk
        head, _, buffered = buffered.partition(b"\r\n\r\n")
        text = head.decode("utf-8", "replace")
        if status_of(text) >= 200:
            return text


@pytest.mark.parametrize("dialled", ["9999", "xp-callee"])
def test_invite_over_plain_tcp_is_refused_403(
    make_gateway: GatewayFactory, dialled: str
) -> None:
    """A registered site calling over the [plain] TCP listener gets 403.

    The site has a valid certificate (it registers over TLS first), but a
    plain connection proves no identity, so no call may start from it.
    """
    plain_port = free_port()
    gateway = make_gateway(
        extra_config=f'\n[plain]\ntcp = ["127.0.0.1:{plain_port}"]\n'
    )
    callee = Site(gateway, "xp-callee", "register,wait:4", media_port=CALLEE_MEDIA_PORT)
    caller = Site(gateway, "xp-caller", "register,wait:4", media_port=CALLER_MEDIA_PORT)
    try:
        callee.wait_for("reg", code=200)
        caller.wait_for("reg", code=200)
        with socket.create_connection(("127.0.0.1", plain_port), timeout=10) as sock:
            local = f"127.0.0.1:{sock.getsockname()[1]}"
            sock.sendall(raw_invite("xp-caller", dialled, local).invite)
            response = final_response(sock)
    finally:
        codes = finish_all(caller, callee)
    assert status_of(response) == 403, response
    warning = next(
        line for line in response.splitlines() if line.lower().startswith("warning:")
    )
    assert "TLS" in warning, warning
    assert "incoming" not in [e["event"] for e in all_events(callee)]
    assert codes[0] == 0
    refused = gateway.wait_event("call.refused", status=403)
    assert refused["site"] is None
    assert call_records(gateway) == []


class Responses:
    """Reads SIP responses (with bodies) off one stream socket, in order."""

    def __init__(self, sock: socket.socket | ssl.SSLSocket) -> None:
        self._sock = sock
        self._buffer = b""
        self.seen: list[str] = []

    def _fill(self, deadline: float) -> None:
        self._sock.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = self._sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed; seen {self.seen}")
        self._buffer += chunk

    def next(self, timeout_s: float = 10.0) -> str:
        """The next whole message (head and body) as text."""
        deadline = time.monotonic() + timeout_s
        while b"\r\n\r\n" not in self._buffer:
            self._fill(deadline)
        head, _, rest = self._buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.decode("utf-8", "replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() in ("content-length", "l"):
                length = int(value.strip())
        while len(rest) < length:
            self._fill(deadline)
            head, _, rest = self._buffer.partition(b"\r\n\r\n")
        self._buffer = rest[length:]
        text = (head + b"\r\n\r\n" + rest[:length]).decode("utf-8", "replace")
        self.seen.append(text.splitlines()[0])
        return text

    def final(self, method: str, timeout_s: float = 10.0) -> str:
        """The first final response to ``method``, skipping everything else."""
        deadline = time.monotonic() + timeout_s
        while True:
            text = self.next(max(0.05, deadline - time.monotonic()))
            cseq = next(
                (ln for ln in text.splitlines() if ln.lower().startswith("cseq:")), ""
            )
            if (
                text.startswith("SIP/2.0")
                and cseq.split()[-1:] == [method]
                and status_of(text) >= 200
            ):
                return text


def tls_to_gateway(gateway: GatewayProcess, site: str) -> ssl.SSLSocket:
    """A mutual-TLS connection to the gateway with ``site``'s certificate."""
    context = site_tls_context(gateway, gateway.issue_site(site))
    context.check_hostname = False
    raw = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    return context.wrap_socket(raw)


@pytest.mark.parametrize("dialled", ["9999", "xr-callee"])
def test_cancel_arriving_with_the_invite_frees_the_relay_ports(
    make_gateway: GatewayFactory, dialled: str
) -> None:
    """INVITE and CANCEL in one TLS write: 487, a record, and no port left bound.

    The CANCEL reaches the B2BUA while the call is still being set up (relay
    ports being allocated); whatever was allocated must be released.
    """
    base = free_udp_range(RELAY_PORT_COUNT)
    gateway = make_gateway(
        extra_config=media_config(port_min=base, port_max=base + RELAY_PORT_COUNT - 1)
    )
    callee = Site(
        gateway,
        "xr-callee",
        "register,ring_only,wait:4",
        media_port=CALLEE_MEDIA_PORT,
    )
    try:
        callee.wait_for("reg", code=200)
        with tls_to_gateway(gateway, "xr-caller") as sock:
            local = f"127.0.0.1:{sock.getsockname()[1]}"
            exchange = raw_invite("xr-caller", dialled, local, transport="TLS")
            sock.sendall(exchange.invite + exchange.cancel)
            responses = Responses(sock)
            cancelled = responses.final("CANCEL")
            final = responses.final("INVITE")
            sock.sendall(exchange.ack(final))
            gateway.wait_event("call.ended", caller="xr-caller")
            held = wait_released(base, RELAY_PORT_COUNT)
    finally:
        callee.finish()
    assert status_of(cancelled) == 200, responses.seen
    assert status_of(final) == 487, responses.seen
    (record,) = call_records(gateway)
    assert record["end_reason"] == "cancelled by caller", record
    assert held == [], f"relay ports still bound after the call: {held}"


def test_answer_never_acknowledged_ends_the_call(make_gateway: GatewayFactory) -> None:
    """A caller that never ACKs the 200 does not keep the call (and ports) forever.

    RFC 3261 §13.3.1.4: without an ACK within 64*T1 (32 s) the UAS ends the
    dialog with a BYE. With [media] timeout_s = 5 the call must be gone in
    well under a minute either way.
    """
    gateway = make_gateway(extra_config=media_config(timeout_s=MEDIA_TIMEOUT_S))
    with tls_to_gateway(gateway, "xn-noack") as sock:
        local = f"127.0.0.1:{sock.getsockname()[1]}"
        exchange = raw_invite("xn-noack", "9999", local, transport="TLS")
        sock.sendall(exchange.invite)
        responses = Responses(sock)
        answer = responses.final("INVITE")
        assert status_of(answer) == 200, responses.seen
        limit_s = 32 + MEDIA_TIMEOUT_S + 3
        ended = gateway.wait_event("call.ended", timeout_s=limit_s, caller="xn-noack")
        bye = responses.next(timeout_s=5)
    assert bye.startswith("BYE "), bye
    assert ended["reason"], ended
    (record,) = call_records(gateway)
    assert record["end_reason"] == ended["reason"]
