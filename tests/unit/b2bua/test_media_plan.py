"""Per-leg media plans: SRTP only toward sites, fresh keys per leg, no key forwarded."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.b2bua.media_plan import (
    answer_keys,
    from_sdp_crypto,
    leg_streams,
    offer_keys,
    require_srtp,
    to_sdp_crypto,
)
from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.model import Origin, SessionDescription
from gateway.sdp.offer_answer import (
    CodecPolicy,
    LocalMedia,
    LocalSession,
    build_answer,
    build_offer_from,
)
from gateway.sdp.parse import parse_sdp
from gateway.srtp.keys import generate_key
from gateway.srtp.suites import SrtpPolicy, suite_by_name

CORPUS = Path(__file__).parents[2] / "corpus" / "sdp" / "valid"
POLICY = SrtpPolicy()
CODECS = CodecPolicy()


def session(address: str) -> LocalSession:
    origin = Origin(session_id="1", session_version=1, address=address)
    return LocalSession(origin=origin, address=address, rtcp_mux=False)


def srtp_offer() -> SessionDescription:
    text = (CORPUS / "pjsip_srtp_offer.sdp").read_bytes()
    return parse_sdp(text.replace(b"a=sendonly", b"a=sendrecv"))


def test_plain_rtp_offer_from_a_site_is_488() -> None:
    """RTP/AVP toward a site is refused with 488 and says which m-line."""
    offer = parse_sdp((CORPUS / "pjsip_offer.sdp").read_bytes())
    with pytest.raises(RemoteSdpError) as caught:
        require_srtp(offer, who="site xa-a")
    assert caught.value.status == 488
    assert "audio m-line 0 as RTP/AVP" in str(caught.value)


def test_srtp_offer_passes_the_site_check() -> None:
    """An offer with RTP/SAVP and a=crypto is accepted."""
    require_srtp(srtp_offer(), who="site xa-a")


def test_crypto_conversion_round_trips() -> None:
    """Our parsed a=crypto survives the SDP model and back."""
    suite = suite_by_name("AEAD_AES_256_GCM")
    assert suite is not None
    key = generate_key(suite, tag=3)
    assert from_sdp_crypto(to_sdp_crypto(key)) == key


def test_two_legs_get_different_keys_and_no_key_is_forwarded() -> None:
    """Caller leg and callee leg each use gateway keys; peers' keys stay per leg."""
    caller_offer = srtp_offer()
    caller_offered_keys = {c.key_params for c in caller_offer.media[0].crypto}
    # Toward the callee: a fresh offer from the caller's.
    our_offer_keys = offer_keys(1, POLICY)
    offer_out = build_offer_from(
        caller_offer,
        policy=CODECS,
        local=session("127.0.0.1"),
        media=[
            LocalMedia(port=30000, crypto=tuple(map(to_sdp_crypto, our_offer_keys[0])))
        ],
    )
    assert not caller_offered_keys & {c.key_params for c in offer_out.media[0].crypto}
    # The callee answers (played here by the same functions with its own keys).
    callee_keys = answer_keys(offer_out, POLICY)
    callee_answer = build_answer(
        offer_out,
        policy=CODECS,
        local=session("127.0.0.2"),
        media=[LocalMedia(port=4020, crypto=tuple(map(to_sdp_crypto, callee_keys[0])))],
    )
    callee_leg = leg_streams(offer_out, callee_answer, we_offered=True)
    # Our answer to the caller, with yet another key.
    our_answer_keys = answer_keys(caller_offer, POLICY)
    answer_out = build_answer(
        caller_offer,
        policy=CODECS,
        local=session("127.0.0.1"),
        media=[
            LocalMedia(port=30002, crypto=tuple(map(to_sdp_crypto, our_answer_keys[0])))
        ],
    )
    caller_leg = leg_streams(caller_offer, answer_out, we_offered=False)

    (a,), (b,) = caller_leg, callee_leg
    assert a.is_accepted and b.is_accepted
    assert a.keys is not None and b.keys is not None
    assert a.remote_rtp == ("192.0.2.11", 4010) and a.remote_rtcp == (
        "192.0.2.11",
        4011,
    )
    assert b.remote_rtp == ("127.0.0.2", 4020)
    ours_a, theirs_a = a.keys
    ours_b, theirs_b = b.keys
    # pylibsrtp has no AES_256_CM: the best common suite is AES_CM_128_HMAC_SHA1_80.
    assert ours_a.suite == theirs_a.suite == "AES_CM_128_HMAC_SHA1_80"
    assert ours_b.suite == theirs_b.suite == "AEAD_AES_256_GCM"
    assert (
        len({ours_a.key_salt, theirs_a.key_salt, ours_b.key_salt, theirs_b.key_salt})
        == 4
    )
    assert theirs_a.key_salt != ours_b.key_salt  # The caller's key never goes to B.
    assert [name for name, _, _ in a.payload_types] == [
        "PCMA",
        "PCMU",
        "telephone-event",
    ]


def test_stream_with_no_acceptable_crypto_is_rejected() -> None:
    """Only suites we refuse: the stream gets no key (it will get port 0)."""
    text = (CORPUS / "pjsip_srtp_offer.sdp").read_bytes()
    only_bad = b"\n".join(
        line
        for line in text.split(b"\n")
        if b"crypto:2" not in line and b"crypto:3" not in line
    )
    assert answer_keys(parse_sdp(only_bad), POLICY) == [()]
