"""Slow-start media over two real H245Sessions: ChannelNegotiation on our side."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.b2bua.h323_media import ChannelNegotiation
from gateway.h323 import codec
from gateway.h323.capabilities import (
    format_from_data_type,
    h245_capabilities_from_streams,
)
from gateway.h323.codec import TransportAddress
from gateway.h323.h245 import (
    CapabilitiesReceived,
    ChannelClosed,
    ChannelOpened,
    ChannelOpenRequested,
    ChannelRejected,
    H245Session,
    MasterSlaveDetermined,
)
from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.media import MediaFormat, MediaKind, StreamDescription
from gateway.sdp.parse import parse_sdp

OFFER = parse_sdp(
    b"v=0\r\no=- 1 1 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\n"
    b"t=0 0\r\nm=audio 40000 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
)
PCMA = MediaFormat(name="PCMA", clock_rate=8000, payload_type=8)
PEER_RTP = TransportAddress(host="192.0.2.10", port=5004)
PEER_RTCP = TransportAddress(host="192.0.2.10", port=5005)


class Pair:
    """Our session with a ChannelNegotiation, and a peer that takes PCMA only."""

    def __init__(self, peer_formats: tuple[MediaFormat, ...] = (PCMA,)) -> None:
        self.ours = H245Session()
        self.peer = H245Session()
        self.media = ChannelNegotiation(self.ours, OFFER)
        self.peer_events: list[Any] = []
        self.peer_names = {f.name for f in peer_formats}
        self.sent: list[str] = []
        ours = self.media.capabilities_for_h245()
        peer = h245_capabilities_from_streams(
            [StreamDescription(kind=MediaKind.AUDIO, formats=peer_formats)]
        )
        for session, plan in ((self.ours, ours), (self.peer, peer)):
            session.start(
                0.0,
                capability_table=[(e.number, e.capability) for e in plan.entries],
                capability_descriptors=plan.capability_descriptors(),
            )
        self.pump()

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for pdu in self.ours.pop_outgoing():
                moved = True
                self.sent.append(codec.decode_h245(pdu).name)
                self.peer.receive_message(pdu, 0.0)
            for pdu in self.peer.pop_outgoing():
                moved = True
                self.ours.receive_message(pdu, 0.0)
            for event in self.ours.pop_events():
                self.on_ours(event)
            for event in self.peer.pop_events():
                self.peer_events.append(event)
                if isinstance(event, ChannelOpenRequested):
                    fmt = format_from_data_type(event.data_type)
                    if fmt is not None and fmt.name in self.peer_names:
                        self.peer.accept_channel(
                            event.number,
                            media=PEER_RTP,
                            media_control=PEER_RTCP,
                            now=0.0,
                        )
                    else:
                        self.peer.reject_channel(event.number, now=0.0)

    def on_ours(self, event: Any) -> None:
        media = self.media
        if isinstance(event, CapabilitiesReceived):
            media.on_capabilities(event.table, event.descriptors, 0.0)
        elif isinstance(event, MasterSlaveDetermined):
            media.on_master_slave_determined(0.0)
        elif isinstance(event, ChannelOpened):
            media.on_our_channel(event.number, event.media, event.media_control)
        elif isinstance(event, ChannelRejected):
            media.on_our_channel(event.number, None, None)


def test_opens_one_channel_in_a_codec_the_peer_receives() -> None:
    pair = Pair()
    assert pair.media.is_settled and pair.media.has_media
    assert not pair.media.has_no_common_codec
    (stream,) = pair.media.streams
    assert stream.agreed is not None and stream.agreed.name == "PCMA"
    answer = pair.media.answer("198.51.100.1")
    (audio,) = answer.media
    assert audio.port == 5004 and audio.formats == ("8",)
    connection = answer.connection_for(0)
    assert connection is not None and connection.address == "192.0.2.10"


def test_no_common_codec_is_known_after_the_peers_capabilities() -> None:
    g729 = MediaFormat(name="G729", clock_rate=8000, payload_type=18)
    pair = Pair(peer_formats=(g729,))
    assert pair.media.has_no_common_codec
    assert "openLogicalChannel" not in pair.sent


def test_hold_closes_and_resume_reopens_with_a_new_number() -> None:
    pair = Pair()
    (stream,) = pair.media.streams
    first = stream.out_channel
    pair.media.close_ours(0.0)
    pair.pump()
    closed = [e for e in pair.peer_events if isinstance(e, ChannelClosed)]
    assert [e.number for e in closed] == [first]
    pair.media.reopen_ours(0.0)
    pair.pump()
    assert stream.out_channel is not None and stream.out_channel != first
    assert stream.agreed is not None and stream.agreed.name == "PCMA"
    assert pair.sent.count("openLogicalChannel") == 2


def test_fast_started_calls_open_and_close_nothing() -> None:
    ours = H245Session()
    media = ChannelNegotiation(ours, OFFER)
    media.is_fast_started = True
    media.on_master_slave_determined(0.0)
    media.close_ours(0.0)
    media.reopen_ours(0.0)
    assert ours.pop_outgoing() == []


def test_codec_change_reopens_our_channel_and_sends_a_new_capability_set() -> None:
    """A re-offer without our PCMA: PCMU is the new codec (the peer takes it)."""
    pcmu = MediaFormat(name="PCMU", clock_rate=8000, payload_type=0)
    pair = Pair(peer_formats=(PCMA, pcmu))
    (stream,) = pair.media.streams
    assert stream.agreed is not None and stream.agreed.name == "PCMU"
    reoffer = parse_sdp(
        b"v=0\r\no=- 1 2 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\n"
        b"t=0 0\r\nm=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
    )
    pair.sent.clear()
    switched = pair.media.switch_codecs(reoffer, 0.0)
    pair.pump()
    assert {i: f.name for i, f in switched.items()} == {0: "PCMA"}
    assert stream.agreed is not None and stream.agreed.name == "PCMA"
    assert pair.sent[:3] == [
        "closeLogicalChannel",
        "openLogicalChannel",
        "terminalCapabilitySet",
    ]


def test_codec_change_to_a_codec_the_peer_lacks_is_488() -> None:
    pair = Pair()
    g722_only = parse_sdp(
        b"v=0\r\no=- 1 2 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\n"
        b"t=0 0\r\nm=audio 40000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n"
    )
    with pytest.raises(RemoteSdpError) as caught:
        pair.media.switch_codecs(g722_only, 0.0)
    assert caught.value.status == 488
