"""Keyframe requests across H.323 and SIP: videoFastUpdatePicture <-> INFO.

The national H.323 trunk (peers/h323_caller.py, G.711 and H.263 with Fast
Start) calls a SIP video endpoint behind a plain SIP trunk (SIPp,
sipp/trunk_uas_video_fur.xml), which asks for keyframes with SIP INFO
picture_fast_update (RFC 5168) as many room systems do.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.interop.capture import frames_sent, live_capture
from tests.interop.conftest import GatewayFactory
from tests.interop.harness import free_port
from tests.interop.peer_process import H323Caller
from tests.interop.sipp_trunk import SippTrunk, free_media_port

pytestmark = pytest.mark.interop

SIPP = Path(__file__).parent / "sipp"


def test_video_fast_update_both_ways(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """H.245 videoFastUpdatePicture -> SIP INFO; SIP INFO -> H.245."""
    h323_port = free_port()
    udp_port = free_port(socket.SOCK_DGRAM)
    video = SippTrunk(
        SIPP / "trunk_uas_video_fur.xml",
        tmp_path,
        transport="udp",
        media_port=free_media_port(),
        calls=1,
        timeout_s=30,
        name="video",
    )

    def edit(text: str) -> str:
        route = (
            '[[routes]]\nname = "to-video"\nmatch_prefix = "88"\n'
            'target = "trunk:video"\nallowed_sources = ["trunk:national"]\n\n'
        )
        marker = "[[routes]]\n# Site to site"
        return text.replace(marker, route + marker) + (
            f'\n[plain]\nudp = ["127.0.0.1:{udp_port}"]\n'
            f'h323 = ["127.0.0.1:{h323_port}"]\n'
            f'\n[[trunks]]\nname = "national"\nprotocol = "h323"\n'
            f'addresses = ["127.0.0.1:{free_port()}"]\ntransport = "tcp"\n'
            f'\n[[trunks]]\nname = "video"\naddresses = ["{video.address}"]\n'
            'transport = "udp"\nsrtp = "off"\noptions_interval_s = 0\n'
        )

    gateway = make_gateway(edit=edit)
    video.start()
    pcap = tmp_path / "vfu.pcap"
    with live_capture(pcap, f"tcp port {h323_port}"):
        caller = H323Caller(
            h323_port,
            "8801",
            "--video",
            "--request-update-after",
            "1",
            "--hold",
            "4",
        )
        released = caller.wait_for("released")
    try:
        result = video.wait(30)
    finally:
        caller.finish()
        video.stop()
    assert result.is_ok, result.describe()
    kinds = [e["event"] for e in caller.events]
    assert "fast_update_sent" in kinds, kinds
    # The gateway's INFO (from our request) reached the SIP endpoint...
    (info_in,) = result.received("INFO")
    assert "picture_fast_update" in info_in.body
    # ...and the endpoint's INFO came back to us as videoFastUpdatePicture
    # on the H.263 channel we send (our transmit proposal, number 4).
    (update,) = [e for e in caller.events if e["event"] == "fast_update_received"]
    assert update["number"] == 4
    assert released["is_local"] is True
    requests = gateway.events("h323.h245.fast_update_requested")
    assert len(requests) == 1 and requests[0]["direction"] == "in"
    # tshark: the gateway's videoFastUpdatePicture is clean H.245.
    assert frames_sent(pcap, h323_port, "h245.videoFastUpdatePicture_element") == 1
