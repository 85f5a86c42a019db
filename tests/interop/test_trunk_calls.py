"""Calls between pjsua2 sites and SIP trunks played by SIPp, through the gateway."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.harness import GatewayProcess, free_port, require_tools
from tests.interop.pjsua_peer import CALLER_MEDIA_PORT, Site, call_records
from tests.interop.sipp_trunk import SippTrunk, free_media_port, run_sipp_uac

pytestmark = pytest.mark.interop
SIPP = Path(__file__).parent / "sipp"


class TrunkGateway:
    """A gateway with a plain UDP listener, an MCU trunk and a national trunk."""

    def __init__(
        self, directory: Path, *, mcu_ports: tuple[int, ...], mcu_options_s: int = 0
    ) -> None:
        self.udp_port = free_port(socket.SOCK_DGRAM)
        self.national_port = free_port(socket.SOCK_DGRAM)
        self.mcu_ports = mcu_ports
        self.gateway = GatewayProcess(directory)
        addresses = ", ".join(f'"127.0.0.1:{p}"' for p in mcu_ports)
        routes = (
            '[[routes]]\nname = "mcu-rooms"\nmatch_prefix = "88"\n'
            'target = "trunk:mcu"\n\n'
            '[[routes]]\nname = "national-in"\nmatch_regex = "xa-[a-z0-9-]+"\n'
            'target = "sites"\nallowed_sources = ["trunk:national"]\n\n'
        )
        text = self.gateway.config_path.read_text(encoding="utf-8")
        marker = "[[routes]]\n# Site to site"
        assert marker in text
        text = text.replace(marker, routes + marker)
        text += (
            f'\n[plain]\nudp = ["127.0.0.1:{self.udp_port}"]\n\n'
            f'[[trunks]]\nname = "mcu"\naddresses = [{addresses}]\ntransport = "udp"\n'
            f'srtp = "off"\noptions_interval_s = {mcu_options_s}\n'
            "failover_timeout_s = 2\ndead_after_failures = 1\n\n"
            f'[[trunks]]\nname = "national"\n'
            f'addresses = ["127.0.0.1:{self.national_port}"]\ntransport = "udp"\n'
            'srtp = "off"\noptions_interval_s = 0\n'
        )
        self.gateway.config_path.write_text(text, encoding="utf-8")


@pytest.fixture
def trunk_ports() -> tuple[int, int]:
    return free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)


@pytest.fixture
def setup(
    tmp_path: Path, trunk_ports: tuple[int, int], request: pytest.FixtureRequest
) -> Iterator[TrunkGateway]:
    require_tools(["sipp"])
    made = TrunkGateway(tmp_path / "gw", mcu_ports=trunk_ports)
    made.gateway.start()
    yield made
    code = made.gateway.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        made.gateway.keep_logs(request.node.name)
    assert code == 0


def mcu(setup: TrunkGateway, scenario: str, index: int, workdir: Path) -> SippTrunk:
    trunk = SippTrunk(
        SIPP / scenario,
        workdir,
        transport="udp",
        port=setup.mcu_ports[index],
        media_port=free_media_port(),
        calls=1,
        timeout_s=40,
        name=f"mcu{index}",
    )
    trunk.start()
    return trunk


def test_site_calls_mcu_with_failover_and_policy_off(
    setup: TrunkGateway, tmp_path: Path
) -> None:
    """First MCU address says 503, the second answers; the trunk leg is plain RTP."""
    dead = mcu(setup, "trunk_uas_503.xml", 0, tmp_path / "a")
    live = mcu(setup, "trunk_uas_answer.xml", 1, tmp_path / "b")
    site = Site(
        setup.gateway,
        "xa-mcu",
        "register,call:88123,wait:3,stats,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        site.wait_for("call", state="confirmed")
        stats = site.wait_for("stats")
        site.wait_for("call", state="disconnected")
    finally:
        site.finish()
        dead_result, live_result = dead.wait(20), live.wait(20)
    assert dead_result.is_ok, dead_result.describe()
    assert live_result.is_ok, live_result.describe()
    (offer,) = live_result.received("INVITE ")
    assert offer.start_line.startswith("INVITE sip:88123@127.0.0.1:")
    assert "RTP/AVP" in offer.body and "a=crypto" not in offer.body
    assert stats["rx_packets"] > 100, stats  # SIPp echoes the relayed RTP.
    (record,) = call_records(setup.gateway)
    assert record["route"] == "mcu-rooms"
    caller, callee = record["legs"]
    assert caller["media"].startswith("SRTP ")
    assert callee["media"] == "RTP (trunk policy off)" and callee["transport"] == "UDP"
    assert callee["packets_in"] > 100
    setup.gateway.wait_event("call.failover", status=503)


def test_cancel_before_answer_reaches_the_trunk(
    setup: TrunkGateway, tmp_path: Path
) -> None:
    """The site hangs up while the MCU rings: CANCEL to the trunk, 487 to the site."""
    ringing = mcu(setup, "trunk_uas_ring_then_cancel.xml", 0, tmp_path / "a")
    site = Site(
        setup.gateway,
        "xa-cancel",
        "register,dial:88777,wait:1,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        site.wait_for("call", state="early")
        ended = site.wait_for("call", state="disconnected")
    finally:
        site.finish()
        result = ringing.wait(20)
    assert result.is_ok, result.describe()
    assert ended["status"] == 487
    (record,) = call_records(setup.gateway)
    assert record["end_reason"] == "cancelled by caller"


def test_unknown_number_gets_404(setup: TrunkGateway) -> None:
    """A number no route matches: 404, nothing sent to any trunk."""
    site = Site(
        setup.gateway, "xa-404", "register,call:+84999", media_port=CALLER_MEDIA_PORT
    )
    try:
        ended = site.wait_for("call", state="disconnected")
    finally:
        site.finish()
    assert ended["status"] == 404


def test_national_trunk_calls_a_site(setup: TrunkGateway, tmp_path: Path) -> None:
    """An RTP call from the national trunk reaches the site over SRTP."""
    callee = Site(
        setup.gateway,
        "xa-called",
        "register,await_call,wait:2,stats,await_end:20",
        media_port=CALLER_MEDIA_PORT,
    )
    callee.wait_for("reg", code=200)
    result = run_sipp_uac(
        SIPP / "trunk_uac_call.xml",
        f"127.0.0.1:{setup.udp_port}",
        tmp_path / "national",
        transport="udp",
        service="xa-called",
        hold_ms=3000,
        port=setup.national_port,
    )
    try:
        stats = callee.wait_for("stats")
        callee.wait_for("call", state="disconnected")
    finally:
        callee.finish()
    assert result.is_ok, result.describe()
    assert stats["rx_packets"] > 50, stats
    (answer,) = [m for m in result.received("SIP/2.0 200") if "RTP/AVP" in m.body]
    assert "a=crypto" not in answer.body
    (record,) = call_records(setup.gateway)
    assert record["caller_trunk"] == "national" and record["route"] == "national-in"
    caller, callee_leg = record["legs"]
    assert caller["media"] == "RTP (trunk policy off)"
    assert callee_leg["media"].startswith("SRTP ")


def test_trunk_may_not_reach_what_its_routes_do_not_allow(
    setup: TrunkGateway, tmp_path: Path
) -> None:
    """The national trunk dialling the MCU prefix is refused: no open relay."""
    result = run_sipp_uac(
        SIPP / "trunk_uac_call.xml",
        f"127.0.0.1:{setup.udp_port}",
        tmp_path / "relay",
        transport="udp",
        service="88123",
        hold_ms=100,
        port=setup.national_port,
    )
    assert not result.is_ok
    assert "403" in result.errors or result.received("SIP/2.0 403")


def test_site_holds_and_resumes_a_trunk_call(
    setup: TrunkGateway, tmp_path: Path
) -> None:
    """Re-INVITE hold (a=sendonly) and resume reach the MCU as re-INVITEs."""
    held = mcu(setup, "trunk_uas_hold.xml", 0, tmp_path / "a")
    site = Site(
        setup.gateway,
        "xa-hold",
        "register,call:88555,wait:1,hold,unhold,wait:2,stats,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        site.wait_for("call", state="confirmed")
        stats = site.wait_for("stats")
        site.wait_for("call", state="disconnected")
    finally:
        site.finish()
        result = held.wait(20)
    assert result.is_ok, result.describe()
    reinvites = result.received("INVITE ")
    assert len(reinvites) == 3
    assert "a=sendonly" in reinvites[1].body and "a=sendrecv" in reinvites[2].body
    # pjsua2 media status: 1 active, 2 local hold; the last state is active again.
    media_states = [e["status"][0] for e in site.events if e["event"] == "media"]
    assert media_states == [1, 2, 1]
    assert stats["rx_packets"] > 50
    setup.gateway.wait_event("call.reoffer", leg="caller")


def test_session_timer_ends_a_call_the_trunk_stops_refreshing(
    setup: TrunkGateway, tmp_path: Path
) -> None:
    """RFC 4028: the trunk is refresher and goes silent; both legs get BYE.

    The media timeout is raised for this gateway so that only the session
    timer (90 s asked, ended at 90 - 30 = 60 s) can end the call.
    """
    config = setup.gateway.config_path
    assert setup.gateway.stop() == 0
    config.write_text(config.read_text() + "\n[media]\ntimeout_s = 600\n")
    setup.gateway.start()
    callee = Site(
        setup.gateway,
        "xa-timer",
        "register,await_call,await_end:90",
        media_port=CALLER_MEDIA_PORT,
    )
    callee.wait_for("reg", code=200)
    result = run_sipp_uac(
        SIPP / "trunk_uac_timer.xml",
        f"127.0.0.1:{setup.udp_port}",
        tmp_path / "timer",
        transport="udp",
        service="xa-timer",
        port=setup.national_port,
        timeout_s=85,
    )
    try:
        ended = callee.wait_for("call", state="disconnected", timeout_s=30)
    finally:
        callee.finish()
    assert result.is_ok, result.describe()  # The trunk received our BYE.
    assert ended["reason"]  # The site was sent BYE too.
    (record,) = call_records(setup.gateway)
    assert record["end_reason"].startswith("session timer"), record["end_reason"]
    talk_s = record["ended_at"] - record["answered_at"]
    assert 55 <= talk_s <= 70, talk_s


def test_silent_first_address_fails_over_on_timeout(
    setup: TrunkGateway, tmp_path: Path
) -> None:
    """An MCU address that never answers: after failover_timeout_s, the next."""
    silent = SippTrunk(
        SIPP / "trunk_uas_silent.xml",
        tmp_path / "a",
        transport="udp",
        port=setup.mcu_ports[0],
        pause_ms=20000,
        calls=None,
        timeout_s=40,
        name="silent",
    )
    silent.start()
    live = mcu(setup, "trunk_uas_answer.xml", 1, tmp_path / "b")
    site = Site(
        setup.gateway,
        "xa-timeout",
        "register,call:88124,wait:1,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        confirmed = site.wait_for("call", state="confirmed")
        site.wait_for("call", state="disconnected")
    finally:
        site.finish()
        live_result = live.wait(20)
        silent_result = silent.stop()
    assert confirmed["status"] == 200
    assert live_result.is_ok, live_result.describe()
    assert silent_result.received("INVITE ")  # It was tried first...
    failover = setup.gateway.wait_event("call.failover")
    assert failover["status"] is None  # ...and given up on a timeout.


@pytest.fixture
def health_setup(
    tmp_path: Path, trunk_ports: tuple[int, int], request: pytest.FixtureRequest
) -> Iterator[TrunkGateway]:
    require_tools(["sipp"])
    made = TrunkGateway(tmp_path / "gw", mcu_ports=trunk_ports, mcu_options_s=1)
    yield made
    code = made.gateway.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        made.gateway.keep_logs(request.node.name)
    assert code == 0


def test_options_health_check_takes_a_dead_address_out_of_rotation(
    health_setup: TrunkGateway, tmp_path: Path
) -> None:
    """OPTIONS probes mark the silent address dead; calls go straight to the next."""
    silent = SippTrunk(
        SIPP / "trunk_uas_silent.xml",
        tmp_path / "a",
        transport="udp",
        port=health_setup.mcu_ports[0],
        pause_ms=30000,
        calls=None,
        timeout_s=60,
        name="silent",
    )
    live = SippTrunk(
        SIPP / "trunk_uas_answer.xml",
        tmp_path / "b",
        transport="udp",
        port=health_setup.mcu_ports[1],
        media_port=free_media_port(),
        calls=None,
        timeout_s=60,
        name="live",
    )
    silent.start()
    live.start()
    health_setup.gateway.start()
    try:
        down = health_setup.gateway.wait_event("trunk.address.down", timeout_s=15)
        assert down["address"] == f"127.0.0.1:{health_setup.mcu_ports[0]}"
        site = Site(
            health_setup.gateway,
            "xa-health",
            "register,call:88125,hangup",
            media_port=CALLER_MEDIA_PORT,
        )
        try:
            confirmed = site.wait_for("call", state="confirmed")
        finally:
            site.finish()
        live.wait_for_message("INVITE sip:88125", timeout_s=10)
    finally:
        silent_result = silent.stop()
        live.stop()
    assert confirmed["status"] == 200
    assert silent_result.received("OPTIONS ")
    assert not silent_result.received("INVITE ")
    assert not health_setup.gateway.events("call.failover")
