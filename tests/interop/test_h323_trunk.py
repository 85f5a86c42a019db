"""A pjsua2 site (SRTP) calls an H.323 MCU through the gateway, and hangs up."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.conftest import GatewayFactory
from tests.interop.harness import GatewayProcess
from tests.interop.peer_process import H323Peer
from tests.interop.pjsua_peer import CALLER_MEDIA_PORT, Site, call_records

pytestmark = pytest.mark.interop


def mcu_gateway(
    make_gateway: GatewayFactory, peer_port: int, trunk_keys: str = ""
) -> GatewayProcess:
    """A gateway whose route 66... reaches trunk mcu323, H.323 at ``peer_port``."""

    def add_trunk(text: str) -> str:
        route = (
            '[[routes]]\nname = "mcu-h323"\nmatch_prefix = "66"\n'
            'target = "trunk:mcu323"\n\n'
        )
        marker = "[[routes]]\n# Site to site"
        return text.replace(marker, route + marker) + (
            f'\n[[trunks]]\nname = "mcu323"\nprotocol = "h323"\n'
            f'addresses = ["127.0.0.1:{peer_port}"]\ntransport = "tcp"\n' + trunk_keys
        )

    return make_gateway(edit=add_trunk)


@pytest.mark.parametrize("mode", ["faststart", "slowstart", "configured-slow"])
def test_site_calls_h323_mcu(
    make_gateway: GatewayFactory, tmp_path: Path, mode: str
) -> None:
    """SRTP site leg, RTP H.323 leg; DTMF reaches H.245; BYE -> Release Complete.

    "configured-slow": the trunk says fast_start = false and h245_tunnelling =
    false, so the Setup has no Fast Start and offers our H.245 listener.
    """
    configured = mode == "configured-slow"
    extra = ("--h245", "separate") if configured else ()
    peer = H323Peer(tmp_path, *extra, mode="faststart" if configured else mode)
    trunk_keys = "fast_start = false\nh245_tunnelling = false\n" if configured else ""

    gateway = mcu_gateway(make_gateway, peer.port, trunk_keys)
    site = Site(
        gateway,
        "xa-h323",
        "register,call:66123,wait:2,dtmf:5,wait:1,stats,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        confirmed = site.wait_for("call", state="confirmed")
        stats = site.wait_for("stats")
        site.wait_for("call", state="disconnected")
        setup = peer.wait_for("setup")
        user_input = peer.wait_for("user_input")
        released = peer.wait_for("released")
    finally:
        site.finish()
        code = peer.stop()
    assert confirmed["status"] == 200
    assert setup["called"] == "66123"
    assert setup["fast_start"] is (mode == "faststart")
    if configured:  # H.245 ran on the connection to our listener.
        assert any(e["event"] == "h245_connected" for e in peer.events)
    assert stats["rx_packets"] > 100, stats  # The MCU echoes what it receives.
    assert user_input["digits"] == "5"  # SIP INFO DTMF -> userInputIndication.
    assert released["cause"] == 16 and released["is_local"] is False
    assert code == 0
    (record,) = call_records(gateway)
    caller, callee = record["legs"]
    assert caller["protocol"] == "sip" and caller["media"].startswith("SRTP ")
    assert callee["protocol"] == "h323"
    assert callee["media"] == "RTP (trunk policy off)"
    assert callee["packets_in"] > 100 and callee["packets_out"] > 100
    assert record["trunk"] == "mcu323" and record["route"] == "mcu-h323"


def test_site_gets_early_media_from_an_h323_mcu(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """Fast Start accepted in Alerting, Connect 3 s later: 180, then 183 with
    SDP (early media flows, SRTP), then 200 with the same answer."""
    peer = H323Peer(tmp_path, "--connect-after", "3", mode="faststart")

    gateway = mcu_gateway(make_gateway, peer.port)
    site = Site(
        gateway,
        "xa-early",
        "register,dial:66123,wait:2,stats,wait:3,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        early = site.wait_for("call", state="early")
        early_stats = site.wait_for("stats")
        confirmed = site.wait_for("call", state="confirmed")
        site.wait_for("call", state="disconnected")
    finally:
        site.finish()
        peer.stop()
    assert early["status"] in (180, 183)
    # Before Connect, the MCU already echoed what the site sent: early media.
    assert early_stats["rx_packets"] > 30, early_stats
    assert confirmed["status"] == 200
    statuses = [e["status"] for e in site.events if e["event"] == "call"]
    assert 183 in statuses, statuses
    assert gateway.events("call.early_media")
    (record,) = call_records(gateway)
    assert record["legs"][0]["media"].startswith("SRTP ")


def test_rfc4733_dtmf_and_user_input_cross_the_gateway(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """Site RFC 4733 -> H.245 userInputIndication; MCU userInputIndication ->
    RFC 4733 packets in the site's SRTP audio (the site took telephone-event)."""
    peer = H323Peer(tmp_path, "--dtmf", "9", mode="faststart")

    gateway = mcu_gateway(make_gateway, peer.port)
    site = Site(
        gateway,
        "xa-4733",
        "register,call:66123,wait:2,dtmf4733:3,wait:1,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        received = site.wait_for("dtmf_received")
        site.wait_for("call", state="disconnected")
        user_input = peer.wait_for("user_input")
    finally:
        site.finish()
        peer.stop()
    assert received["digit"] == "9" and received["method"] == 0  # 0: RFC 2833/4733
    assert user_input["digits"] == "3"
    sent = gateway.events("call.dtmf")
    assert {"to": "callee", "digit": "3"}.items() <= sent[-1].items() or any(
        e.get("digit") == "3" and e["to"] == "callee" for e in sent
    ), sent
    assert any(e["to"] == "caller" and e["rfc4733"] is True for e in sent), sent


@pytest.mark.parametrize("mode", ["faststart", "slowstart"])
def test_late_offer_site_calls_h323_mcu(
    make_gateway: GatewayFactory, tmp_path: Path, mode: str
) -> None:
    """INVITE without SDP toward H.323: the gateway offers the MCU its own
    codecs, then offers the site (SRTP) what the MCU agreed, in the 200."""
    peer = H323Peer(tmp_path, mode=mode)
    gateway = mcu_gateway(make_gateway, peer.port)
    site = Site(
        gateway,
        "xa-late323",
        "register,call_late:66123,wait:3,stats,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        confirmed = site.wait_for("call", state="confirmed")
        stats = site.wait_for("stats")
        site.wait_for("call", state="disconnected")
        setup = peer.wait_for("setup")
        released = peer.wait_for("released")
    finally:
        site.finish()
        peer.stop()
    assert confirmed["status"] == 200
    assert setup["fast_start"] is (mode == "faststart")
    assert stats["codec"] == "PCMU" and stats["rx_packets"] > 100, stats
    assert released["cause"] == 16
    (record,) = call_records(gateway)
    caller, callee = record["legs"]
    assert caller["media"].startswith("SRTP ") and callee["protocol"] == "h323"
