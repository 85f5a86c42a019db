"""Calls through the gateway between real pjsua2 sites, SRTP on every site leg."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.interop.capture import live_capture
from tests.interop.harness import GatewayProcess, require_tools
from tests.interop.pjsua_peer import (
    CALLEE_MEDIA_PORT,
    CALLER_MEDIA_PORT,
    Site,
    call_records,
    start_pair,
)

pytestmark = pytest.mark.interop


def udp_payloads(path: Path) -> list[tuple[int, int, bytes]]:
    fields = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-T",
            "fields",
            "-e",
            "udp.srcport",
            "-e",
            "udp.dstport",
            "-e",
            "udp.payload",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    packets = []
    for line in fields.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[2]:
            packets.append((int(parts[0]), int(parts[1]), bytes.fromhex(parts[2])))
    return packets


def test_site_to_site_call_is_srtp_rekeyed_and_recorded(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    """Two SRTP sites talk through the gateway; each leg has its own keys."""
    require_tools(["tshark"])
    capture_path = tmp_path / "call.pcapng"
    with live_capture(capture_path, "udp"):
        caller, callee = start_pair(
            gateway,
            caller=("xa-caller", "register,call:xa-callee,wait:3,stats,hangup"),
            callee=("xa-callee", "register,await_call,wait:2.5,stats,await_end:20"),
        )
        try:
            caller.wait_for("call", state="confirmed")
            caller_stats = caller.wait_for("stats")
            callee_stats = callee.wait_for("stats")
            caller.wait_for("call", state="disconnected")
            callee.wait_for("call", state="disconnected")  # BYE reached the callee.
        finally:
            codes = (caller.finish(), callee.finish())
    assert codes == (0, 0)
    # Audio flowed both ways, counted at both ends.
    for stats in (caller_stats, callee_stats):
        assert stats["tx_packets"] > 100 and stats["rx_packets"] > 100, stats
        assert stats["remote_rtp"].startswith("127.0.0.1:")  # The relay, not the peer.
    # No endpoint's key reached the other endpoint.
    assert caller.crypto_keys() and callee.crypto_keys()
    assert not caller.crypto_keys() & callee.crypto_keys()
    # The record proves how the call was secured.
    (record,) = call_records(gateway)
    assert record["caller_site"] == "xa-caller" and record["callee"] == "xa-callee"
    assert (
        record["route"] == "site-by-name" and record["end_reason"] == "BYE from caller"
    )
    assert record["answered_at"] is not None
    for leg in record["legs"]:
        assert leg["transport"] == "TLS" and leg["tls_version"].startswith("TLSv1.")
        assert leg["media"].startswith("SRTP "), leg
        assert leg["packets_in"] > 100 and leg["packets_out"] > 100
        assert leg["auth_failures"] == 0
    # On the wire: site legs carry SRTP only, and the two legs' bytes differ.
    packets = udp_payloads(capture_path)
    caller_leg = [
        p for s, d, p in packets if CALLER_MEDIA_PORT in (s, d) and p[0] >> 6 == 2
    ]
    callee_leg = [
        p for s, d, p in packets if CALLEE_MEDIA_PORT in (s, d) and p[0] >> 6 == 2
    ]
    # RTCP (RFC 5761 payload types 72-79 with the marker bit) rides the odd ports.
    rtp = [p for p in caller_leg + callee_leg if not 72 <= p[1] & 0x7F <= 79]
    assert len(rtp) > 400
    # PCMU 20 ms is 160 bytes; SRTP adds a 10-byte tag (HMAC-SHA1-80) or 16 (GCM).
    assert all(len(p) - 12 in (170, 176) for p in rtp), {len(p) for p in rtp}
    caller_payloads = {p[12:] for p in caller_leg}
    callee_payloads = {p[12:] for p in callee_leg}
    assert not caller_payloads & callee_payloads


def test_test_number_echoes_media(gateway: GatewayProcess) -> None:
    """Dialling 9999 gets an SRTP answer from the gateway and our audio back."""
    site = Site(
        gateway,
        "xa-echo",
        "register,call:9999,wait:3,stats,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        site.wait_for("call", state="confirmed")
        stats = site.wait_for("stats")
        site.wait_for("call", state="disconnected")
    finally:
        assert site.finish() == 0
    assert stats["rx_packets"] > 100, stats
    (record,) = call_records(gateway)
    assert record["route"] == "test-number"
    (leg,) = record["legs"]
    assert leg["media"].startswith("SRTP ") and leg["packets_in"] > 100


def test_plain_rtp_offer_from_a_site_gets_488(gateway: GatewayProcess) -> None:
    """A site offering RTP/AVP is refused with 488 and a Warning saying why."""
    callee = Site(gateway, "xa-b488", "register,wait:6", media_port=CALLEE_MEDIA_PORT)
    callee.wait_for("reg", code=200)
    site = Site(
        gateway,
        "xa-rtp",
        "register,call:xa-b488",
        media_port=CALLER_MEDIA_PORT,
        srtp="disabled",
    )
    try:
        ended = site.wait_for("call", state="disconnected")
    finally:
        site.finish()
        callee.finish()
    assert ended["status"] == 488
    refused = gateway.wait_event("call.refused", site="xa-rtp")
    assert "must use SRTP" in refused["reason"]
    assert "xa-b488" not in [e.get("callee") for e in gateway.events("call.answered")]


@pytest.mark.parametrize(("dialled", "status"), [("+84999", 404), ("xa-nobody", 480)])
def test_unknown_number_and_unregistered_site(
    gateway: GatewayProcess, dialled: str, status: int
) -> None:
    """No route: 404. A site name that is not registered: 480."""
    site = Site(
        gateway, "xa-dialler", f"register,call:{dialled}", media_port=CALLER_MEDIA_PORT
    )
    try:
        ended = site.wait_for("call", state="disconnected")
    finally:
        site.finish()
    assert ended["status"] == status


def test_hold_and_resume_between_sites(gateway: GatewayProcess) -> None:
    """A site's hold re-INVITE reaches the other site as a hold, with SRTP kept."""
    caller, callee = start_pair(
        gateway,
        caller=("xa-holder", "register,call:xa-held,wait:1,hold,unhold,wait:2,hangup"),
        callee=("xa-held", "register,await_call,wait:6,stats,await_end:20"),
    )
    try:
        caller.wait_for("call", state="confirmed")
        caller.wait_for("call", state="disconnected")
        stats = callee.wait_for("stats")
        callee.wait_for("call", state="disconnected")
    finally:
        caller.finish()
        callee.finish()
    # pjsua2 media status: 1 active, 2 local hold, 3 remote hold.
    held_side = [e["status"][0] for e in callee.events if e["event"] == "media"]
    holding_side = [e["status"][0] for e in caller.events if e["event"] == "media"]
    assert 3 in held_side and held_side[-1] == 1, held_side
    assert 2 in holding_side and holding_side[-1] == 1, holding_side
    assert stats["rx_packets"] > 50
    assert len(gateway.events("call.reoffer")) >= 2
    assert not caller.crypto_keys() & callee.crypto_keys()


def test_info_picture_fast_update_passes_to_the_other_site(
    gateway: GatewayProcess,
) -> None:
    """SIP INFO (RFC 5168 picture_fast_update) crosses the B2BUA, answer relayed."""
    caller, callee = start_pair(
        gateway,
        caller=("xa-info-a", "register,call:xa-info-b,info,hangup"),
        callee=("xa-info-b", "register,await_call,await_end:20"),
    )
    try:
        caller.wait_for("call", state="disconnected")
        callee.wait_for("call", state="disconnected")
    finally:
        caller.finish()
        callee.finish()
    callee_log = callee.log_path.read_text(errors="replace")
    caller_log = caller.log_path.read_text(errors="replace")
    assert "INFO sip:" in callee_log and "<picture_fast_update/>" in callee_log
    # The callee's own answer (pjsua2 without video says 400) is relayed back.
    sent = re.search(r"Response msg (\d+)/INFO/cseq=\d+ \(tdta", callee_log)
    got = re.search(r"Incoming Response msg (\d+)/INFO", caller_log)
    assert sent and got, "INFO was not answered end to end"
    assert got.group(1) == sent.group(1)


def test_late_offer_call_between_sites(gateway: GatewayProcess) -> None:
    """An INVITE without SDP: the callee offers, the caller answers in its ACK."""
    caller, callee = start_pair(
        gateway,
        caller=("xa-late-a", "register,call_late:xa-late-b,wait:3,stats,hangup"),
        callee=("xa-late-b", "register,await_call,wait:2.5,stats,await_end:20"),
    )
    try:
        caller.wait_for("call", state="confirmed")
        caller_stats = caller.wait_for("stats")
        callee_stats = callee.wait_for("stats")
        caller.wait_for("call", state="disconnected")
    finally:
        caller.finish()
        callee.finish()
    for stats in (caller_stats, callee_stats):
        assert stats["tx_packets"] > 100 and stats["rx_packets"] > 100, stats
    assert not caller.crypto_keys() & callee.crypto_keys()
    (record,) = call_records(gateway)
    assert all(leg["media"].startswith("SRTP ") for leg in record["legs"])
