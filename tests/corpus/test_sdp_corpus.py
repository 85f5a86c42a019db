"""Corpus tests for gateway.sdp: device-like bodies parse, round-trip, answer.

See tests/corpus/sdp/README.md for the provenance of each file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.model import (
    CryptoAttribute,
    Direction,
    Origin,
    SessionDescription,
    TransportProfile,
)
from gateway.sdp.offer_answer import (
    CodecPolicy,
    LocalMedia,
    LocalSession,
    build_answer,
    build_offer_from,
    negotiate,
)
from gateway.sdp.parse import parse_sdp
from gateway.sdp.serialize import serialize_sdp

CORPUS = Path(__file__).parent / "sdp"
VALID = sorted((CORPUS / "valid").glob("*.sdp"))
INVALID = sorted((CORPUS / "invalid").glob("*.sdp"))
OFFERS = [path for path in VALID if path.stem.endswith("offer")]

KEY = CryptoAttribute(
    tag=1, suite="AES_CM_128_HMAC_SHA1_80", key_params="inline:" + "Z" * 40
)
LOCAL = LocalSession(
    origin=Origin(session_id="9", session_version=1, address="unset"),
    address="203.0.113.5",
    require_srtp=False,
)


def load(name: str) -> bytes:
    return (CORPUS / "valid" / name).read_bytes()


def media_for(count: int) -> list[LocalMedia]:
    return [LocalMedia(port=40000 + 2 * n, crypto=(KEY,)) for n in range(count)]


def answer_media(offer: SessionDescription) -> list[LocalMedia]:
    """What gateway/srtp would hand over: per m-line, our key for the first
    offered suite (same tag), or a default key when nothing was offered."""
    result = []
    for n, section in enumerate(offer.media):
        offered = section.crypto
        chosen = KEY
        if offered:
            chosen = CryptoAttribute(
                tag=offered[0].tag, suite=offered[0].suite, key_params=KEY.key_params
            )
        result.append(LocalMedia(port=40000 + 2 * n, crypto=(chosen,)))
    return result


def test_corpus_is_not_empty() -> None:
    """The corpus holds the device files the README lists."""
    assert len(VALID) >= 13 and len(INVALID) >= 8 and len(OFFERS) >= 8


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_round_trip(path: Path) -> None:
    """Each valid body parses and serializes back to its CRLF form."""
    data = path.read_bytes()
    parsed = parse_sdp(data)
    canonical = data if b"\r\n" in data else data.replace(b"\n", b"\r\n")
    canonical = canonical.rstrip(b"\r\n") + b"\r\n"
    assert serialize_sdp(parsed) == canonical
    assert parse_sdp(serialize_sdp(parsed)) == parsed


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_whole_and_with_lf(path: Path) -> None:
    """CRLF and bare-LF versions of each body give the same description."""
    data = path.read_bytes()
    assert parse_sdp(data.replace(b"\r\n", b"\n")) == parse_sdp(data)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_raise_remote_error(path: Path) -> None:
    """Each invalid body raises RemoteSdpError with a line or reason."""
    with pytest.raises(RemoteSdpError) as info:
        parse_sdp(path.read_bytes())
    assert info.value.status == 400
    assert str(info.value)


@pytest.mark.parametrize("path", OFFERS, ids=lambda p: p.name)
def test_offers_answer_and_mirror(path: Path) -> None:
    """Every offer can be answered (or 488'd) and mirrored to the other leg."""
    offer = parse_sdp(path.read_bytes())
    media = media_for(len(offer.media))
    onward = build_offer_from(offer, policy=CodecPolicy(), local=LOCAL, media=media)
    assert len(onward.media) == len(offer.media)
    assert parse_sdp(serialize_sdp(onward)) == onward
    try:
        answer = build_answer(
            offer, policy=CodecPolicy(), local=LOCAL, media=answer_media(offer)
        )
    except RemoteSdpError as exc:
        assert exc.status == 488
        return
    assert [m.kind for m in answer.media] == [m.kind for m in offer.media]
    streams = negotiate(offer, parse_sdp(serialize_sdp(answer)))
    assert any(stream.is_accepted for stream in streams)


def test_polycom_hdx_streams() -> None:
    """Polycom: G.722.1C kept, G.729 dropped, slides and BFCP kept, FECC off."""
    offer = parse_sdp(load("polycom_hdx_offer.sdp"))
    answer = build_answer(offer, policy=CodecPolicy(), local=LOCAL, media=media_for(5))
    assert answer.media[0].formats == ("115", "102", "9", "0", "8", "101")
    assert (
        answer.media[1].fmtp(109)
        == "profile-level-id=42801f; max-mbps=108000; max-fs=3600"
    )
    assert answer.media[2].content == ("slides",)
    assert answer.media[3].attribute("floorctrl") == "c-only"
    assert answer.media[4].port == 0


def test_cisco_srtp_and_answer_pairing() -> None:
    """Cisco TC: SAVP answered with one key; its answer pairs by codec."""
    offer = parse_sdp(load("cisco_tc_offer.sdp"))
    answer = build_answer(
        offer,
        policy=CodecPolicy(),
        local=LocalSession(origin=LOCAL.origin, address="203.0.113.5"),
        media=media_for(5),
    )
    assert all(m.crypto == (KEY,) for m in answer.media[:3])
    assert answer.media[3].proto == "UDP/BFCP"
    assert answer.media[4].port == 0
    # The Cisco answer file answers an offer with the same m-line layout but
    # with its own payload numbers and picks tag 1 of each stream's keys.
    cisco_answer = parse_sdp(load("cisco_tc_answer_to_gateway.sdp"))
    onward = build_offer_from(
        offer,
        policy=CodecPolicy(),
        local=LocalSession(origin=LOCAL.origin, address="203.0.113.5"),
        media=media_for(5),
    )
    for index in (0, 1):
        section = onward.media[index].with_crypto(cisco_answer.media[index].crypto)
        onward = onward.with_media(index, section)
    streams = negotiate(onward, cisco_answer)
    audio, video = streams[0], streams[1]
    assert [
        (f.format.name, f.offer_payload_type, f.answer_payload_type)
        for f in audio.formats
    ] == [("G7221", 103, 108), ("telephone-event", 105, 109)]
    assert [(f.offer_payload_type, f.answer_payload_type) for f in video.formats] == [
        (97, 126)
    ]
    assert [s.is_accepted for s in streams] == [True, True, False, False, False]


def test_tandberg_legacy_hold() -> None:
    """Tandberg MXP c=0.0.0.0 hold is seen as sendonly and answered recvonly."""
    offer = parse_sdp(load("tandberg_mxp_legacy_hold.sdp"))
    assert offer.session_name == ""
    assert offer.direction_of(0) is Direction.SENDONLY
    answer = build_answer(offer, policy=CodecPolicy(), local=LOCAL, media=media_for(2))
    assert [m.direction for m in answer.media] == [Direction.RECVONLY] * 2


def test_lifesize_case_and_rtcp() -> None:
    """Lifesize upper-case fmtp keys and a=rtcp ports are understood."""
    offer = parse_sdp(load("lifesize_icon_offer.sdp"))
    answer = build_answer(offer, policy=CodecPolicy(), local=LOCAL, media=media_for(2))
    assert answer.media[1].formats == ("97", "96", "34")
    streams = negotiate(offer, answer)
    assert streams[0].offer_rtcp_port == 60001
    assert streams[1].formats[0].format.h264 is not None


def test_browser_dtls_rejected_cleanly() -> None:
    """A DTLS-only browser offer is refused with 488, never a crash."""
    offer = parse_sdp(load("browser_dtls_offer.sdp"))
    assert offer.media[0].profile is TransportProfile.UDP_TLS_RTP_SAVPF
    assert not offer.is_legacy_hold(0)
    with pytest.raises(RemoteSdpError) as info:
        build_answer(offer, policy=CodecPolicy(), local=LOCAL, media=media_for(2))
    assert info.value.status == 488
