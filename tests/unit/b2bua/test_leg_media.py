"""Per-leg media policy: sites SRTP only, trunks required/optional/off."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.b2bua.leg_media import (
    LegPolicy,
    MediaSecurity,
    check_offer,
    make_answer,
    make_offer,
)
from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.offer_answer import CodecPolicy
from gateway.sdp.parse import parse_sdp
from gateway.srtp.suites import SrtpPolicy

CORPUS = Path(__file__).parents[2] / "corpus" / "sdp" / "valid"


def policy(security: MediaSecurity, *, is_tls: bool = True) -> LegPolicy:
    return LegPolicy(
        security=security,
        relay_address="127.0.0.1",
        is_signalling_secure=is_tls,
        who="trunk mcu",
        srtp=SrtpPolicy(),
        codecs=CodecPolicy(),
    )


def plain_offer() -> bytes:
    return (CORPUS / "pjsip_offer.sdp").read_bytes()


def srtp_offer() -> bytes:
    text = (CORPUS / "pjsip_srtp_offer.sdp").read_bytes()
    return text.replace(b"a=sendonly", b"a=sendrecv")


def test_required_refuses_plain_offer_others_accept() -> None:
    """Only a `required` leg refuses RTP/AVP (488)."""
    offer = parse_sdp(plain_offer())
    with pytest.raises(RemoteSdpError) as caught:
        check_offer(offer, policy(MediaSecurity.REQUIRED))
    assert caught.value.status == 488
    check_offer(offer, policy(MediaSecurity.OPTIONAL))
    check_offer(offer, policy(MediaSecurity.OFF))


@pytest.mark.parametrize(
    ("security", "plain", "proto", "has_crypto"),
    [
        (MediaSecurity.REQUIRED, False, "RTP/SAVP", True),
        (MediaSecurity.OPTIONAL, False, "RTP/SAVP", True),
        (MediaSecurity.OPTIONAL, True, "RTP/AVP", False),
        (MediaSecurity.OFF, False, "RTP/AVP", False),
    ],
)
def test_offer_follows_policy(
    security: MediaSecurity, plain: bool, proto: str, has_crypto: bool
) -> None:
    """Our offer to a leg uses SRTP with fresh keys unless the policy is off."""
    source = parse_sdp(srtp_offer())
    offer = make_offer(source, [30000], policy(security), plain=plain)
    (media,) = offer.media
    assert media.port == 30000 and media.proto == proto
    assert bool(media.crypto) is has_crypto
    source_keys = {c.key_params for c in source.media[0].crypto}
    assert not source_keys & {c.key_params for c in media.crypto}


def test_answer_to_plain_trunk_offer_is_plain_rtp() -> None:
    """A trunk with policy off offering RTP/AVP is answered in RTP/AVP on our port."""
    offer = parse_sdp(plain_offer())
    ports = [30002 + 2 * i for i in range(len(offer.media))]
    answer = make_answer(offer, ports, policy(MediaSecurity.OFF))
    media = answer.media[0]
    assert media.port == 30002 and media.proto == "RTP/AVP" and not media.crypto


def test_answer_to_srtp_offer_carries_one_fresh_key() -> None:
    """An SRTP offer is answered with exactly one a=crypto of ours."""
    offer = parse_sdp(srtp_offer())
    answer = make_answer(offer, [30004], policy(MediaSecurity.REQUIRED))
    (media,) = answer.media
    assert media.port == 30004 and media.proto == "RTP/SAVP"
    (ours,) = media.crypto
    assert ours.key_params not in {c.key_params for c in offer.media[0].crypto}


def test_no_keys_ever_go_over_plain_signalling() -> None:
    """Over UDP/TCP SIP our offer is plain RTP and SRTP streams are refused."""
    insecure = policy(MediaSecurity.OPTIONAL, is_tls=False)
    offer = make_offer(parse_sdp(srtp_offer()), [30000], insecure)
    assert offer.media[0].proto == "RTP/AVP" and not offer.media[0].crypto
    with pytest.raises(RemoteSdpError) as caught:
        make_answer(parse_sdp(srtp_offer()), [30002], insecure)
    assert caught.value.status == 488
