"""A caller's Fast Start proposals as an SDP offer, and our answer as accepted OLCs."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.b2bua.h323_media import (
    accept_fast_start,
    answer_for_h323_peer,
    late_offer_template,
    offer_from_fast_start,
    read_fast_start,
)
from gateway.h323 import codec
from gateway.h323.capabilities import data_type_for
from gateway.h323.codec import TransportAddress
from gateway.h323.h245_messages import H2250Parameters, read_h245_address
from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.media import MediaFormat, stream_from_sdp
from gateway.sdp.model import Direction
from gateway.sdp.parse import parse_sdp

PCMU = MediaFormat(name="PCMU", clock_rate=8000, payload_type=0)
PCMA = MediaFormat(name="PCMA", clock_rate=8000, payload_type=8)
CALLER_RTP = TransportAddress(host="192.0.2.10", port=5004)
CALLER_RTCP = TransportAddress(host="192.0.2.10", port=5005)


def receive(number: int, fmt: MediaFormat, session: int = 1) -> bytes:
    parameters = H2250Parameters(
        session_id=session, media=CALLER_RTP, media_control=CALLER_RTCP
    )
    return codec.encode_open_logical_channel(
        {
            "forwardLogicalChannelNumber": number,
            "forwardLogicalChannelParameters": {
                "dataType": ("nullData", 0),
                "multiplexParameters": ("none", 0),
            },
            "reverseLogicalChannelParameters": {
                "dataType": data_type_for(fmt),
                "multiplexParameters": (
                    "h2250LogicalChannelParameters",
                    parameters.to_asn(),
                ),
            },
        }
    )


def transmit(number: int, fmt: MediaFormat, session: int = 1) -> bytes:
    parameters = H2250Parameters(session_id=session, media_control=CALLER_RTCP)
    return codec.encode_open_logical_channel(
        {
            "forwardLogicalChannelNumber": number,
            "forwardLogicalChannelParameters": {
                "dataType": data_type_for(fmt),
                "multiplexParameters": (
                    "h2250LogicalChannelParameters",
                    parameters.to_asn(),
                ),
            },
        }
    )


PROPOSALS = (receive(1, PCMU), transmit(2, PCMU), receive(3, PCMA), transmit(4, PCMA))


def test_offer_lists_what_the_caller_receives_at_its_address() -> None:
    offer = offer_from_fast_start(read_fast_start(PROPOSALS), "198.51.100.1")
    assert offer is not None
    (audio,) = offer.media
    assert audio.kind == "audio" and audio.proto == "RTP/AVP"
    assert audio.port == 5004 and audio.formats == ("0", "8")
    connection = offer.connection_for(0)
    assert connection is not None and connection.address == "192.0.2.10"


def test_no_receive_proposal_means_no_offer() -> None:
    assert offer_from_fast_start(read_fast_start((transmit(2, PCMU),)), "h") is None
    assert offer_from_fast_start(read_fast_start(()), "h") is None


def accepted_olcs(answer_text: str) -> list[dict[str, Any]]:
    chosen = accept_fast_start(
        read_fast_start(PROPOSALS), parse_sdp(answer_text.encode())
    )
    return [codec.decode_open_logical_channel(olc) for _, olc in chosen]


ANSWER = (
    "v=0\r\no=- 1 1 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\n"
    "t=0 0\r\nm=audio 40000 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
)


def test_answer_accepts_both_directions_of_its_codec_only() -> None:
    olcs = accepted_olcs(ANSWER)
    assert [o["forwardLogicalChannelNumber"] for o in olcs] == [3, 4]
    reverse = olcs[0]["reverseLogicalChannelParameters"]["multiplexParameters"][1]
    forward = olcs[1]["forwardLogicalChannelParameters"]["multiplexParameters"][1]
    # We receive on the relay's port; both carry our RTCP port (H.323 8.1.7.1).
    assert read_h245_address(forward["mediaChannel"]) == TransportAddress(
        host="203.0.113.5", port=40000
    )
    for parameters in (reverse, forward):
        assert read_h245_address(parameters["mediaControlChannel"]) == (
            TransportAddress(host="203.0.113.5", port=40001)
        )
    # The caller's own RTP address stays in its receive proposal.
    assert read_h245_address(reverse["mediaChannel"]) == CALLER_RTP


def test_rejected_stream_accepts_nothing() -> None:
    assert accepted_olcs(ANSWER.replace("m=audio 40000", "m=audio 0")) == []


LAST_REMOTE = (
    "v=0\r\no=- 7 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\nm=audio 5004 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)


def reoffer(direction: str, formats: str = "0 8") -> str:
    return (
        "v=0\r\no=- 9 2 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\n"
        f"t=0 0\r\nm=audio 40000 RTP/AVP {formats}\r\na={direction}\r\n"
    )


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        ("sendonly", Direction.RECVONLY),
        ("inactive", Direction.INACTIVE),
        ("recvonly", Direction.SENDONLY),
        ("sendrecv", Direction.SENDRECV),
    ],
)
def test_answer_for_h323_peer_mirrors_the_direction(
    offered: str, answered: Direction
) -> None:
    answer = answer_for_h323_peer(
        parse_sdp(reoffer(offered).encode()), parse_sdp(LAST_REMOTE.encode())
    )
    assert answer.direction_of(0) is answered
    (audio,) = answer.media
    assert audio.port == 5004 and audio.formats == ("0",)
    assert answer.origin.session_version == 2  # RFC 3264 §8: a new version.


def test_answer_for_h323_peer_refuses_a_codec_change() -> None:
    with pytest.raises(RemoteSdpError) as caught:
        answer_for_h323_peer(
            parse_sdp(reoffer("sendrecv", "8").encode()),
            parse_sdp(LAST_REMOTE.encode()),
        )
    assert caught.value.status == 488 and "PCMU" in str(caught.value)


def test_late_offer_template_offers_codecs_h245_can_carry() -> None:
    """Every format of the template has an H.245 form (else no proposal)."""
    template = late_offer_template("203.0.113.5")
    assert [m.kind for m in template.media] == ["audio", "video"]
    for index in range(len(template.media)):
        stream = stream_from_sdp(template, index)
        assert stream is not None
        names = [f.name for f in stream.formats]
        assert names == (["G722", "PCMU", "PCMA"] if index == 0 else ["H264", "H263"])
        for fmt in stream.formats:
            assert data_type_for(fmt) is not None
