"""SrtpContext and SrtpLeg: round trips, failures and their kinds."""

from __future__ import annotations

import base64
import struct

import pylibsrtp
import pytest

from gateway.srtp import session as session_module
from gateway.srtp.errors import LocalSrtpError, RemoteSrtpError, SrtpFailure
from gateway.srtp.keys import generate_key, make_offer, parse_crypto
from gateway.srtp.session import (
    MAX_PROTECT_RTCP_BYTES,
    MAX_PROTECT_RTP_BYTES,
    Direction,
    SrtpContext,
    SrtpLeg,
)
from gateway.srtp.suites import (
    AEAD_AES_128_GCM,
    AEAD_AES_256_GCM,
    AES_CM_128_HMAC_SHA1_80,
    SUITES,
    SrtpPolicy,
    SrtpSuite,
)

RUNNABLE = [suite for suite in SUITES.values() if suite.is_supported]
SSRC = 0x1234ABCD


def rtp(seq: int, payload: bytes = b"\x55" * 160, ssrc: int = SSRC) -> bytes:
    """An RTP packet (RFC 3550 §5.1), version 2, payload type 0."""
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc) + payload


def rtcp_rr(ssrc: int = SSRC) -> bytes:
    """An empty RTCP receiver report (RFC 3550 §6.4.2)."""
    return struct.pack("!BBHI", 0x80, 201, 1, ssrc)


def key_for(suite: SrtpSuite, fill: int) -> bytes:
    return bytes([fill]) * suite.key_salt_bytes


def pair(
    suite: SrtpSuite, fill: int = 7, window: int = 1024
) -> tuple[SrtpContext, SrtpContext]:
    key = key_for(suite, fill)
    sender = SrtpContext(suite=suite, key_salt=key, direction=Direction.OUTBOUND)
    receiver = SrtpContext(
        suite=suite,
        key_salt=key,
        direction=Direction.INBOUND,
        replay_window_packets=window,
    )
    return sender, receiver


def kind_of(call: object, packet: bytes) -> SrtpFailure:
    assert callable(call)
    with pytest.raises(RemoteSrtpError) as info:
        call(packet)
    return info.value.kind


@pytest.mark.parametrize("suite", RUNNABLE, ids=lambda suite: suite.name)
def test_rtp_round_trip(suite: SrtpSuite) -> None:
    """Every runnable suite protects RTP with its tag and recovers it exactly."""
    sender, receiver = pair(suite)
    for seq in (65530, 65535, 0, 1):  # crosses a ROC rollover
        packet = rtp(seq)
        protected = sender.protect_rtp(packet)
        assert len(protected) == len(packet) + suite.rtp_tag_bytes
        assert protected[12:172] != packet[12:]
        assert receiver.unprotect_rtp(protected) == packet


@pytest.mark.parametrize("suite", RUNNABLE, ids=lambda suite: suite.name)
def test_rtcp_round_trip(suite: SrtpSuite) -> None:
    """Every runnable suite protects RTCP with index and tag, and recovers it."""
    sender, receiver = pair(suite)
    for _ in range(3):
        packet = rtcp_rr()
        protected = sender.protect_rtcp(packet)
        assert len(protected) == len(packet) + 4 + suite.rtcp_tag_bytes
        assert receiver.unprotect_rtcp(protected) == packet


@pytest.mark.parametrize("suite", RUNNABLE, ids=lambda suite: suite.name)
@pytest.mark.parametrize("offset", [1, 12, -1])
def test_tampering_is_an_auth_failure(suite: SrtpSuite, offset: int) -> None:
    """A flipped bit in header, payload or tag fails with kind auth."""
    sender, receiver = pair(suite)
    protected = bytearray(sender.protect_rtp(rtp(10)))
    protected[offset] ^= 0x01
    assert kind_of(receiver.unprotect_rtp, bytes(protected)) == SrtpFailure.AUTH
    assert receiver.unprotect_rtp(sender.protect_rtp(rtp(11))) == rtp(11)


@pytest.mark.parametrize("suite", RUNNABLE, ids=lambda suite: suite.name)
def test_rtcp_tampering_is_an_auth_failure(suite: SrtpSuite) -> None:
    """A flipped bit in an SRTCP packet fails with kind auth."""
    sender, receiver = pair(suite)
    protected = bytearray(sender.protect_rtcp(rtcp_rr()))
    protected[5] ^= 0x80
    assert kind_of(receiver.unprotect_rtcp, bytes(protected)) == "auth"


def test_wrong_key_is_an_auth_failure() -> None:
    """A packet protected under another key fails with kind auth."""
    sender, _ = pair(AEAD_AES_128_GCM, fill=1)
    _, receiver = pair(AEAD_AES_128_GCM, fill=2)
    assert kind_of(receiver.unprotect_rtp, sender.protect_rtp(rtp(1))) == "auth"


@pytest.mark.parametrize("suite", RUNNABLE, ids=lambda suite: suite.name)
def test_replay_is_refused(suite: SrtpSuite) -> None:
    """A packet received twice fails the second time with kind replay."""
    sender, receiver = pair(suite)
    protected = sender.protect_rtp(rtp(100))
    receiver.unprotect_rtp(protected)
    assert kind_of(receiver.unprotect_rtp, protected) == SrtpFailure.REPLAY
    protected_rtcp = sender.protect_rtcp(rtcp_rr())
    receiver.unprotect_rtcp(protected_rtcp)
    assert kind_of(receiver.unprotect_rtcp, protected_rtcp) == SrtpFailure.REPLAY


def test_replay_window_accepts_reordering_and_refuses_older() -> None:
    """Late packets inside the window pass once; behind it they are replays."""
    sender, receiver = pair(AES_CM_128_HMAC_SHA1_80, window=64)
    packets = {seq: sender.protect_rtp(rtp(seq)) for seq in range(1, 200)}
    assert receiver.unprotect_rtp(packets[150]) == rtp(150)
    assert receiver.unprotect_rtp(packets[100]) == rtp(100)  # 50 behind: in window
    assert kind_of(receiver.unprotect_rtp, packets[80]) == "replay"  # 70 behind


def test_larger_window_accepts_what_a_smaller_one_refuses() -> None:
    """The replay window size is applied to the inbound context."""
    sender, receiver = pair(AES_CM_128_HMAC_SHA1_80, window=1024)
    packets = [sender.protect_rtp(rtp(seq)) for seq in range(1, 600)]
    receiver.unprotect_rtp(packets[-1])
    assert receiver.unprotect_rtp(packets[0]) == rtp(1)


def test_sender_refuses_to_protect_an_index_twice() -> None:
    """Re-protecting a sent index (keystream or GCM nonce reuse) is a replay."""
    sender, _ = pair(AEAD_AES_128_GCM)
    sender.protect_rtp(rtp(5, b"first"))
    assert kind_of(sender.protect_rtp, rtp(5, b"other")) == "replay"


@pytest.mark.parametrize(
    "junk", [b"", b"\x80", b"\x80" * 11, b"\x00" * 40, rtp(1)[:12]]
)
def test_junk_is_a_bad_packet_or_auth_failure(junk: bytes) -> None:
    """Bytes that are not SRTP never pass and fail with a packet kind."""
    _, receiver = pair(AES_CM_128_HMAC_SHA1_80)
    assert kind_of(receiver.unprotect_rtp, junk) in {"bad_packet", "auth"}


def test_protect_refuses_runt_packets() -> None:
    """RTP shorter than its fixed header cannot be protected: bad_packet."""
    sender, _ = pair(AES_CM_128_HMAC_SHA1_80)
    assert kind_of(sender.protect_rtp, b"\x80" * 11) == "bad_packet"
    assert kind_of(sender.protect_rtcp, b"\x80" * 4) == "bad_packet"


def test_protect_length_limits() -> None:
    """Packets up to the documented limit are protected; longer: bad_packet."""
    sender, receiver = pair(AEAD_AES_128_GCM)
    longest = rtp(1, b"\x01" * (MAX_PROTECT_RTP_BYTES - 12))
    assert receiver.unprotect_rtp(sender.protect_rtp(longest)) == longest
    too_long = rtp(2, b"\x01" * (MAX_PROTECT_RTP_BYTES - 11))
    assert kind_of(sender.protect_rtp, too_long) == "bad_packet"
    rtcp_too_long = rtcp_rr() + b"\0" * (MAX_PROTECT_RTCP_BYTES - 7)
    assert kind_of(sender.protect_rtcp, rtcp_too_long) == "bad_packet"
    assert kind_of(receiver.unprotect_rtp, b"\x80" * 1501) == "bad_packet"


def test_wrong_direction_is_a_local_error() -> None:
    """Inbound contexts cannot protect and outbound ones cannot unprotect."""
    sender, receiver = pair(AES_CM_128_HMAC_SHA1_80)
    with pytest.raises(LocalSrtpError):
        receiver.protect_rtp(rtp(1))
    with pytest.raises(LocalSrtpError):
        receiver.protect_rtcp(rtcp_rr())
    with pytest.raises(LocalSrtpError):
        sender.unprotect_rtp(rtp(1))
    with pytest.raises(LocalSrtpError):
        sender.unprotect_rtcp(rtcp_rr())


def test_non_bytes_packet_is_a_local_error() -> None:
    """Passing a bytearray is our bug, reported as LocalSrtpError."""
    sender, _ = pair(AES_CM_128_HMAC_SHA1_80)
    with pytest.raises(LocalSrtpError):
        sender.protect_rtp(bytearray(rtp(1)))  # type: ignore[arg-type]


@pytest.mark.parametrize("suite", RUNNABLE, ids=lambda suite: suite.name)
def test_key_length_must_match_suite(suite: SrtpSuite) -> None:
    """A key||salt one byte short or long is refused with LocalSrtpError."""
    for size in (suite.key_salt_bytes - 1, suite.key_salt_bytes + 1):
        with pytest.raises(LocalSrtpError):
            SrtpContext(suite=suite, key_salt=b"k" * size, direction=Direction.INBOUND)


def test_unsupported_suite_and_bad_window_are_local_errors() -> None:
    """libsrtp-less suites and windows outside 64..32767 are refused."""
    with pytest.raises(LocalSrtpError):
        SrtpContext(
            suite=SUITES["AES_256_CM_HMAC_SHA1_80"],
            key_salt=b"k" * 46,
            direction=Direction.OUTBOUND,
        )
    for window in (63, 0x8000):
        with pytest.raises(LocalSrtpError):
            pair(AES_CM_128_HMAC_SHA1_80, window=window)


def test_context_exposes_suite_and_direction() -> None:
    """A context reports its suite and direction."""
    sender, receiver = pair(AEAD_AES_128_GCM)
    assert (sender.suite, sender.direction) == (AEAD_AES_128_GCM, Direction.OUTBOUND)
    assert receiver.direction is Direction.INBOUND


def test_fresh_keys_give_different_ciphertexts() -> None:
    """Two contexts keyed by generate_key encrypt the same packet differently."""
    first = generate_key(AEAD_AES_128_GCM).key_salt
    second = generate_key(AEAD_AES_128_GCM).key_salt
    assert first != second
    packets = [
        SrtpContext(
            suite=AEAD_AES_128_GCM, key_salt=key, direction=Direction.OUTBOUND
        ).protect_rtp(rtp(1))
        for key in (first, second)
    ]
    assert packets[0] != packets[1]


def test_leg_pump_between_two_parties() -> None:
    """Two legs built from one SDES exchange talk both ways, RTP and RTCP."""
    policy = SrtpPolicy()
    offer = make_offer(policy)[0]
    answer = generate_key(AEAD_AES_256_GCM, tag=offer.tag)
    gateway = SrtpLeg.from_sdes(local=offer, remote=answer, policy=policy)
    endpoint = SrtpLeg.from_sdes(local=answer, remote=offer, policy=policy)
    assert gateway.suite is AEAD_AES_256_GCM
    assert endpoint.unprotect_rtp(gateway.protect_rtp(rtp(9))) == rtp(9)
    assert gateway.unprotect_rtp(endpoint.protect_rtp(rtp(3))) == rtp(3)
    assert gateway.unprotect_rtcp(endpoint.protect_rtcp(rtcp_rr())) == rtcp_rr()
    assert endpoint.unprotect_rtcp(gateway.protect_rtcp(rtcp_rr())) == rtcp_rr()
    # Our own outbound packet looped back is refused: the two keys differ.
    assert kind_of(gateway.unprotect_rtp, gateway.protect_rtp(rtp(10))) == "auth"


def test_leg_widens_inbound_window_from_wsh() -> None:
    """The peer's WSH hint widens our inbound replay window (RFC 4568 §6.3.6)."""
    policy = SrtpPolicy(replay_window_packets=64)
    ours = generate_key(AES_CM_128_HMAC_SHA1_80)
    theirs_key = key_for(AES_CM_128_HMAC_SHA1_80, 3)
    theirs = parse_crypto(
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{_b64(theirs_key)} WSH=512"
    )
    leg = SrtpLeg.from_sdes(local=ours, remote=theirs, policy=policy)
    sender, _ = pair(AES_CM_128_HMAC_SHA1_80, fill=3)
    packets = [sender.protect_rtp(rtp(seq)) for seq in range(1, 400)]
    leg.unprotect_rtp(packets[-1])
    assert leg.unprotect_rtp(packets[0]) == rtp(1)  # 398 behind, inside 512


def test_leg_refuses_echoed_key() -> None:
    """An endpoint that sends our own key back is refused (kind sdes)."""
    ours = generate_key(AEAD_AES_128_GCM)
    with pytest.raises(RemoteSrtpError) as info:
        SrtpLeg.from_sdes(local=ours, remote=ours, policy=SrtpPolicy())
    assert info.value.kind == "sdes"


def test_leg_refuses_mismatched_or_disallowed_suites() -> None:
    """Lines naming different suites, or a suite the policy refuses, fail."""
    gcm = generate_key(AEAD_AES_128_GCM)
    cm = generate_key(AES_CM_128_HMAC_SHA1_80)
    with pytest.raises(RemoteSrtpError):
        SrtpLeg.from_sdes(local=gcm, remote=cm, policy=SrtpPolicy())
    only_cm = SrtpPolicy(allowed_suites=("AES_CM_128_HMAC_SHA1_80",))
    with pytest.raises(RemoteSrtpError):
        SrtpLeg.from_sdes(
            local=gcm, remote=generate_key(AEAD_AES_128_GCM), policy=only_cm
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("authentication failure", SrtpFailure.AUTH),
        ("replay check failed (bad index)", SrtpFailure.REPLAY),
        ("replay check failed (index too old)", SrtpFailure.REPLAY),
        ("unsupported parameter", SrtpFailure.BAD_PACKET),
        ("cipher failure", SrtpFailure.BAD_PACKET),
        ("unable to perform desired validation", SrtpFailure.BAD_PACKET),
        ("couldn't allocate memory", None),
        ("can't use key any more", None),
    ],
)
def test_libsrtp_status_mapping(status: str, expected: SrtpFailure | None) -> None:
    """libsrtp statuses map to packet kinds, or to LocalSrtpError for our faults."""
    error = session_module._convert(pylibsrtp.Error(status))
    if expected is None:
        assert isinstance(error, LocalSrtpError)
    else:
        assert isinstance(error, RemoteSrtpError)
        assert error.kind is expected
