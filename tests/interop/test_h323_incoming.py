"""The national H.323 trunk calls a registered SRTP site through the gateway."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.capture import fields, frames_sent, live_capture, problems
from tests.interop.conftest import GatewayFactory
from tests.interop.harness import GatewayProcess, free_port
from tests.interop.peer_process import H323Caller
from tests.interop.pjsua_peer import CALLEE_MEDIA_PORT, Site, call_records

pytestmark = pytest.mark.interop


def registered_site(gateway: GatewayProcess, steps: str) -> Site:
    """Site xa-in (the calls' destination), once it is registered."""
    site = Site(gateway, "xa-in", steps, media_port=CALLEE_MEDIA_PORT)
    site.wait_for("reg", code=200)
    return site


def national_gateway(
    make_gateway: GatewayFactory, h323_port: int, trunk_keys: str = ""
) -> GatewayProcess:
    """A gateway listening for H.323 and trusting 127.0.0.1 as the national trunk."""

    def edit(text: str) -> str:
        route = (
            '[[routes]]\nname = "national-in"\nmatch_prefix = "88"\n'
            'target = "site:xa-in"\nallowed_sources = ["trunk:national"]\n\n'
        )
        marker = "[[routes]]\n# Site to site"
        return text.replace(marker, route + marker) + (
            f'\n[plain]\nh323 = ["127.0.0.1:{h323_port}"]\n'
            f'\n[[trunks]]\nname = "national"\nprotocol = "h323"\n'
            f'addresses = ["127.0.0.1:{free_port()}"]\ntransport = "tcp"\n' + trunk_keys
        )

    return make_gateway(edit=edit)


@pytest.mark.parametrize("start", ["fast", "slow"])
def test_h323_call_reaches_a_site(
    make_gateway: GatewayFactory, tmp_path: Path, start: str
) -> None:
    """An H.323 call -> INVITE (SRTP) to the site; audio both ways; DTMF.

    Fast start: the Setup's fastStart becomes the INVITE's offer.  Slow start:
    the INVITE has no SDP, the site offers in its 200 and H.245 opens the
    channels (late offer <-> slow start).  The H.323 caller's
    userInputIndication reaches the site as RFC 4733 events (the gateway
    offers the site telephone-event) and the site's RFC 4733 digits reach the
    caller as userInputIndication; the caller's Release Complete becomes BYE.
    """
    h323_port = free_port()
    gateway = national_gateway(make_gateway, h323_port)
    site = registered_site(
        gateway, "register,await_call,wait:2,dtmf4733:4,stats,await_end:20"
    )
    slow = ["--slow"] if start == "slow" else []
    pcap = tmp_path / "h323-in.pcap"
    with live_capture(pcap, f"tcp port {h323_port}"):
        caller = H323Caller(h323_port, "8801", "--hold", "5", "--dtmf", "7", *slow)
        released = caller.wait_for("released")
    try:
        dtmf = site.wait_for("dtmf_received")  # At 1 s, before the stats at 2 s.
        stats = site.wait_for("stats")
        site.wait_for("call", state="disconnected")
    finally:
        code = caller.finish()
        site.finish()
    sent = gateway_messages(pcap, h323_port)
    types = [t for row in sent for t in row["q931.message_type"].split("|") if t]
    # Call Proceeding, Connect, then Facility messages tunnelling H.245.
    assert types[:2] == ["0x02", "0x07"] and set(types[2:]) <= {"0x62"}, types
    connect = next(r for r in sent if r["q931.message_type"].startswith("0x07"))
    if start == "fast":
        assert connect["h225.FastStart_item"].count("|") == 1  # Two accepted OLCs.
    h245 = {v for row in sent for v in row["h245.pdu_type"].split("|") if v}
    assert h245, sent  # Tunnelled H.245 from the gateway (TCS, MSD...).
    kinds = [e["event"] for e in caller.events]
    assert "dtmf_sent" in kinds, kinds
    if start == "fast":
        (fast_start,) = [e for e in caller.events if e["event"] == "fast_start"]
        assert fast_start["olcs"] == 2 and fast_start["target"][0] == "127.0.0.1"
    else:
        assert "fast_start" not in kinds
        assert "channel_opened" in kinds and "channel_accepted" in kinds, kinds
    assert released["is_local"] is True  # The caller hung up...
    assert code == 0
    assert released["received"] > 100 and released["sent"] > 100  # ...after audio.
    assert stats["rx_packets"] > 50 and stats["tx_packets"] > 50, stats
    # userInputIndication -> RFC 4733 in the site's SRTP audio (PJSUA method 0),
    # and the site's RFC 4733 -> userInputIndication.
    assert dtmf["digit"] == "7" and dtmf["method"] == 0, dtmf
    (user_input,) = [e for e in caller.events if e["event"] == "user_input"]
    assert user_input["digits"] == "4"
    (record,) = call_records(gateway)
    caller_leg, callee_leg = record["legs"]
    assert caller_leg["protocol"] == "h323"
    assert caller_leg["media"] == "RTP (trunk policy off)"
    assert callee_leg["protocol"] == "sip" and callee_leg["media"].startswith("SRTP ")
    assert record["caller_trunk"] == "national" and record["route"] == "national-in"
    assert (
        record["caller"]
        == "h323:024123@127.0.0.1:" + record["caller"].rsplit(":", 1)[-1]
    )


def gateway_messages(pcap: Path, port: int) -> list[dict[str, str]]:
    """Q.931/H.225.0 frames the gateway sent from ``port``, checked by tshark."""
    # tshark finds TPKT/Q.931 on any port by its heuristics: no decode-as.
    decode: list[str] = []
    sent_filter = f"tcp.srcport == {port} && q931"
    assert problems(pcap, decode_as=decode, display_filter=sent_filter) == []
    return fields(
        pcap,
        [
            "q931.message_type",
            "q931.cause_value",
            "h225.FastStart_item",
            "h225.h245Tunnelling",
            "h245.pdu_type",
        ],
        decode_as=decode,
        display_filter=sent_filter,
    )


def test_h323_call_to_unknown_number_is_released(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """No route, or a site that is not registered: Release Complete with a cause."""
    h323_port = free_port()
    gateway = national_gateway(make_gateway, h323_port)
    pcap = tmp_path / "h323-refused.pcap"
    with live_capture(pcap, f"tcp port {h323_port}"):
        caller = H323Caller(h323_port, "8899")  # Routed to xa-in: offline.
        released = caller.wait_for("released")
    code = caller.finish()
    sent = gateway_messages(pcap, h323_port)
    types = [t for row in sent for t in row["q931.message_type"].split("|")]
    assert types == ["0x02", "0x5a"]  # Call Proceeding, Release Complete.
    assert sent[-1]["q931.cause_value"] == "18"
    assert code == 0 and released["is_local"] is False
    assert released["cause"] == 18  # SIP 480 -> Q.850 18 (RFC 3398 section 8.2.6.1).
    refused = gateway.events("call.refused")
    assert refused and refused[-1]["protocol"] == "h323"


def test_site_holds_and_resumes_a_slow_start_h323_call(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """re-INVITE sendonly/sendrecv from the site: the gateway answers for the
    H.323 leg, closes its channel toward the caller (CLC) and re-opens it."""
    h323_port = free_port()
    gateway = national_gateway(make_gateway, h323_port)
    site = registered_site(
        gateway, "register,await_call,wait:1,hold,unhold,wait:2,stats,await_end:20"
    )
    pcap = tmp_path / "hold.pcap"
    with live_capture(pcap, f"tcp port {h323_port}"):
        caller = H323Caller(h323_port, "8801", "--slow", "--hold", "9")
        released = caller.wait_for("released")
    try:
        stats = site.wait_for("stats")
        site.wait_for("call", state="disconnected")
    finally:
        code = caller.finish()
        site.finish()
    assert code == 0 and released["is_local"] is True
    accepted = [e for e in caller.events if e["event"] == "channel_accepted"]
    closed = [e for e in caller.events if e["event"] == "channel_closed"]
    assert len(closed) == 1 and closed[0]["is_outgoing"] is False, caller.events
    assert len(accepted) == 2 and accepted[1]["number"] != accepted[0]["number"]
    # Media came back after the resume: more received after the re-open.
    assert released["received"] > accepted[1]["received"] + 50, caller.events
    holding = [e["status"][0] for e in site.events if e["event"] == "media"]
    assert 2 in holding and holding[-1] == 1, holding  # Local hold, then active.
    assert stats["rx_packets"] > 50
    assert len(gateway.events("call.reoffer")) == 2
    # tshark: the gateway's CLC, and its OLCs before and after, are clean H.245.
    assert frames_sent(pcap, h323_port, "h245.closeLogicalChannel_element") == 1
    assert frames_sent(pcap, h323_port, "h245.openLogicalChannel_element") == 2


def test_h323_caller_hangs_up_while_the_site_rings(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """180 from the site -> Alerting; the caller's Release Complete -> CANCEL."""
    h323_port = free_port()
    gateway = national_gateway(make_gateway, h323_port)
    site = registered_site(gateway, "register,ring_only,await_ringing,await_end:20")
    pcap = tmp_path / "h323-ring.pcap"
    with live_capture(pcap, f"tcp port {h323_port}"):
        caller = H323Caller(h323_port, "8801", "--give-up", "2")
        released = caller.wait_for("released")
    try:
        ended = site.wait_for("call", state="disconnected")
    finally:
        code = caller.finish()
        site.finish()
    assert code == 0 and released["is_local"] is True
    assert "alerting" in [e["event"] for e in caller.events]
    assert ended["status"] == 487, ended  # The site's INVITE was cancelled.
    sent = gateway_messages(pcap, h323_port)
    types = [t for row in sent for t in row["q931.message_type"].split("|") if t]
    assert types == ["0x02", "0x01"], types  # Call Proceeding, Alerting.
    (record,) = call_records(gateway)
    assert record["answered_at"] is None
    assert record["end_reason"].startswith("caller released")


@pytest.mark.parametrize(
    ("start", "h245"),
    [("slow", "offer"), ("slow", "expect"), ("fast", "expect")],
)
def test_h323_call_with_separate_h245(
    make_gateway: GatewayFactory, tmp_path: Path, start: str, h245: str
) -> None:
    """H.245 on its own TCP connection (H.323 8.2.3): to the caller's
    h245Address from its Setup ("offer"), or to the gateway's from Connect
    ("expect"); channels, media and user input run over it."""
    h323_port = free_port()
    gateway = national_gateway(make_gateway, h323_port)
    site = registered_site(
        gateway, "register,await_call,wait:2,dtmf4733:4,stats,await_end:20"
    )
    slow = ["--slow"] if start == "slow" else []
    pcap = tmp_path / "h245.pcap"
    with live_capture(pcap, "tcp"):
        caller = H323Caller(
            h323_port, "8801", "--hold", "5", "--dtmf", "7", "--h245", h245, *slow
        )
        released = caller.wait_for("released")
    try:
        dtmf = site.wait_for("dtmf_received")
        stats = site.wait_for("stats")
        site.wait_for("call", state="disconnected")
    finally:
        code = caller.finish()
        site.finish()
    kinds = [e["event"] for e in caller.events]
    assert code == 0 and "h245_connected" in kinds, kinds
    assert released["received"] > 100 and stats["rx_packets"] > 50, released
    assert dtmf["digit"] == "7"
    assert [e["digits"] for e in caller.events if e["event"] == "user_input"] == ["4"]
    if h245 == "expect":
        (address,) = [e for e in caller.events if e["event"] == "h245_address"]
        assert address["port"] != h323_port
    sent = gateway_messages(pcap, h323_port)
    assert all(r["h245.pdu_type"] == "" for r in sent), sent  # Nothing tunnelled.
    assert {r["h225.h245Tunnelling"] for r in sent} == {"0"}, sent
    # The H.245 the gateway sent on the separate connection, as tshark sees it.
    h245_rows = fields(
        pcap,
        ["tcp.srcport", "h245.pdu_type", "_ws.malformed"],
        display_filter="h245 && !q931",
    )
    assert h245_rows and all(not r["_ws.malformed"] for r in h245_rows), h245_rows
    assert problems(pcap, display_filter="h245 && !q931") == []


def test_call_ends_when_the_h323_peer_stops_answering_h245(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """H.245 round-trip keep-alive (h245_keepalive_s): a caller whose H.245
    went deaf mid-call is cleared with cause 41 and the site gets BYE."""
    h323_port = free_port()
    gateway = national_gateway(make_gateway, h323_port, "h245_keepalive_s = 1\n")
    site = registered_site(gateway, "register,await_call,await_end:20")
    pcap = tmp_path / "keepalive.pcap"
    with live_capture(pcap, f"tcp port {h323_port}"):
        caller = H323Caller(h323_port, "8801", "--mute-h245-after", "2", "--hold", "30")
        released = caller.wait_for("released")
    try:
        site.wait_for("call", state="disconnected")
    finally:
        caller.finish()
        site.finish()
    assert released["is_local"] is False and released["cause"] == 41, released
    assert "h245_ignored" in [e["event"] for e in caller.events]
    (unresponsive,) = gateway.events("h323.h245.peer_unresponsive")
    assert unresponsive["direction"] == "in"
    (record,) = call_records(gateway)
    assert "stopped answering H.245" in record["end_reason"]
    assert frames_sent(pcap, h323_port, "h245.roundTripDelayRequest_element") >= 2


def test_site_early_media_reaches_the_h323_caller_before_connect(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """183 with SDP from the site -> Progress with the accepted Fast Start
    channels (H.323 8.1.7.1): media flows before Connect; 200 -> Connect."""
    h323_port = free_port()
    gateway = national_gateway(make_gateway, h323_port)
    site = registered_site(
        gateway, "register,early_only,await_ringing,wait:2,answer,wait:2,await_end:20"
    )
    pcap = tmp_path / "early.pcap"
    with live_capture(pcap, f"tcp port {h323_port}"):
        caller = H323Caller(h323_port, "8801", "--hold", "3")
        released = caller.wait_for("released")
    try:
        site.wait_for("call", state="disconnected")
    finally:
        caller.finish()
        site.finish()
    kinds = [e["event"] for e in caller.events]
    # Fast Start came back before Connect, in Progress.
    assert kinds.index("fast_start") < kinds.index("connected"), kinds
    assert "progress" in kinds, kinds
    assert released["received"] > 150, released  # ~2 s early + 3 s connected.
    sent = gateway_messages(pcap, h323_port)
    types = [t for row in sent for t in row["q931.message_type"].split("|") if t]
    assert types[:3] == ["0x02", "0x03", "0x07"], types  # Proceeding, Progress, Connect
    progress = next(r for r in sent if r["q931.message_type"].startswith("0x03"))
    assert progress["h225.FastStart_item"].count("|") == 1  # Two accepted OLCs.
    assert gateway.events("call.early_media")


def test_trunk_max_calls_counts_incoming_h323_calls(
    make_gateway: GatewayFactory,
) -> None:
    """max_calls = 1: a second H.323 call while the first is up is refused."""
    h323_port = free_port()
    gateway = national_gateway(make_gateway, h323_port, "max_calls = 1\n")
    site = registered_site(gateway, "register,await_call,await_end:20")
    first = H323Caller(h323_port, "8801", "--hold", "4")
    try:
        first.wait_for("connected")
        second = H323Caller(h323_port, "8801")
        refused = second.wait_for("released")
        second.finish()
        first.wait_for("released")
        site.wait_for("call", state="disconnected")
    finally:
        first.finish()
        site.finish()
    assert refused["is_local"] is False and refused["cause"] == 41, refused  # 503
    (refusal,) = gateway.events("call.refused")
    assert refusal["status"] == 503 and "full" in refusal["reason"]


def test_site_changes_codec_on_a_slow_start_h323_call(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """re-INVITE with PCMA only: the gateway re-opens its channel toward the
    H.323 caller in PCMA and sends a new TerminalCapabilitySet, so the caller
    re-opens its own in PCMA; audio flows in the new codec."""
    h323_port = free_port()
    gateway = national_gateway(make_gateway, h323_port)
    site = registered_site(
        gateway, "register,await_call,wait:1,codec:PCMA,wait:2,stats,await_end:20"
    )
    pcap = tmp_path / "codec.pcap"
    with live_capture(pcap, f"tcp port {h323_port}"):
        caller = H323Caller(
            h323_port, "8801", "--slow", "--codecs", "PCMU,PCMA", "--hold", "7"
        )
        released = caller.wait_for("released")
    try:
        stats = site.wait_for("stats")
        site.wait_for("call", state="disconnected")
    finally:
        caller.finish()
        site.finish()
    accepted = [e for e in caller.events if e["event"] == "channel_accepted"]
    assert [e["codec"] for e in accepted] == ["PCMU", "PCMA"], caller.events
    opening = [e["codec"] for e in caller.events if e["event"] == "own_channel_opening"]
    assert opening == ["PCMU", "PCMA"], caller.events
    assert stats["codec"] == "PCMA" and stats["rx_packets"] > 50, stats
    assert released["received"] > accepted[1]["received"] + 50, caller.events
    (change,) = gateway.events("call.h323_codec_change")
    assert change["codecs"] == {"0": "PCMA"}
    assert frames_sent(pcap, h323_port, "h245.closeLogicalChannel_element") == 1
    assert frames_sent(pcap, h323_port, "h245.terminalCapabilitySet_element") == 2
