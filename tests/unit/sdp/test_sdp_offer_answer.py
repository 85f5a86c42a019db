"""Tests of gateway.sdp.offer_answer (RFC 3264 for a media-terminating B2BUA)."""

from __future__ import annotations

import dataclasses

import pytest

from gateway.sdp.errors import LocalSdpError, RemoteSdpError
from gateway.sdp.media import MediaFormat, MediaKind, StreamDescription
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
    build_offer,
    build_offer_from,
    negotiate,
)
from gateway.sdp.parse import parse_sdp
from gateway.sdp.serialize import serialize_sdp

POLICY = CodecPolicy()
LOCAL = LocalSession(
    origin=Origin(session_id="77", session_version=1, address="unset"),
    address="203.0.113.5",
)
PLAIN = dataclasses.replace(LOCAL, profile=TransportProfile.RTP_AVP, require_srtp=False)
SUITE = "AES_CM_128_HMAC_SHA1_80"


def key(tag: int, suite: str = SUITE) -> CryptoAttribute:
    return CryptoAttribute(tag=tag, suite=suite, key_params="inline:" + "Q" * 40)


def sdp(*lines: str, address: str = "192.0.2.1") -> SessionDescription:
    head = f"v=0\r\no=- 1 1 IN IP4 {address}\r\ns=-\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
    return parse_sdp((head + "".join(f"{line}\r\n" for line in lines)).encode())


def ports(count: int, *, crypto: int = 0, base: int = 40000) -> list[LocalMedia]:
    keys = tuple(key(n + 1) for n in range(crypto))
    return [LocalMedia(port=base + 2 * n, crypto=keys) for n in range(count)]


AUDIO_VIDEO = (
    "m=audio 5004 RTP/AVP 18 0 8 101",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-15",
    "m=video 5006 RTP/AVP 109 34",
    "a=rtpmap:109 H264/90000",
    "a=fmtp:109 profile-level-id=42801f",
)


# --- build_answer ---------------------------------------------------------


def test_answer_keeps_order_and_filters_codecs() -> None:
    """Same m-lines in order; policy drops G729; offer order kept (§6.1)."""
    answer = build_answer(sdp(*AUDIO_VIDEO), policy=POLICY, local=PLAIN, media=ports(2))
    audio, video = answer.media
    assert (audio.kind, audio.port, audio.proto) == ("audio", 40000, "RTP/AVP")
    assert audio.formats == ("0", "8", "101")
    assert video.formats == ("109", "34")
    assert video.fmtp(109) == "profile-level-id=42801f"
    assert answer.connection is not None
    assert answer.connection.address == "203.0.113.5"
    assert answer.origin.address == "203.0.113.5"
    assert answer.origin.session_id == "77"


def test_rejected_stream_keeps_kind_proto_formats() -> None:
    """A rejected stream answers port 0 with the offered proto and formats."""
    offer = sdp("m=audio 5004 RTP/AVP 0", "m=image 6000 udptl t38", "a=mid:fax")
    answer = build_answer(offer, policy=POLICY, local=PLAIN, media=ports(2))
    fax = answer.media[1]
    assert (fax.kind, fax.port, fax.proto, fax.formats) == (
        "image",
        0,
        "udptl",
        ("t38",),
    )
    assert fax.mid == "fax"
    assert serialize_sdp(answer).count(b"m=") == 2


def test_local_port_zero_rejects() -> None:
    """A LocalMedia with port 0 rejects that stream (no relay port)."""
    media = [LocalMedia(port=40000), LocalMedia(port=0)]
    answer = build_answer(sdp(*AUDIO_VIDEO), policy=POLICY, local=PLAIN, media=media)
    assert [m.port for m in answer.media] == [40000, 0]


@pytest.mark.parametrize(
    ("offered", "wanted", "expected"),
    [
        ("sendrecv", Direction.SENDRECV, Direction.SENDRECV),
        ("sendonly", Direction.SENDRECV, Direction.RECVONLY),
        ("recvonly", Direction.SENDRECV, Direction.SENDONLY),
        ("inactive", Direction.SENDRECV, Direction.INACTIVE),
        ("sendrecv", Direction.SENDONLY, Direction.SENDONLY),
        ("sendrecv", Direction.INACTIVE, Direction.INACTIVE),
        ("sendonly", Direction.SENDONLY, Direction.INACTIVE),
        ("recvonly", Direction.RECVONLY, Direction.INACTIVE),
    ],
)
def test_answer_direction(offered: str, wanted: Direction, expected: Direction) -> None:
    """The answer's direction follows RFC 3264 §6.1 and our wish."""
    offer = sdp("m=audio 5004 RTP/AVP 0", f"a={offered}")
    answer = build_answer(
        offer, policy=POLICY, local=PLAIN, media=ports(1), directions=[wanted]
    )
    assert answer.media[0].direction is expected


def test_answer_to_legacy_hold_is_recvonly() -> None:
    """c=0.0.0.0 with sendrecv (RFC 2543 hold) is answered recvonly (§8.4)."""
    offer = sdp("m=audio 5004 RTP/AVP 0", "a=sendrecv", address="0.0.0.0")
    answer = build_answer(offer, policy=POLICY, local=PLAIN, media=ports(1))
    assert answer.media[0].direction is Direction.RECVONLY
    assert answer.media[0].connections == ()


def test_legacy_hold_address_flag_in_answer() -> None:
    """With legacy_hold_address, a stream we won't receive gets c=0.0.0.0."""
    local = dataclasses.replace(PLAIN, legacy_hold_address=True)
    offer = sdp("m=audio 5004 RTP/AVP 0", "a=recvonly")
    answer = build_answer(offer, policy=POLICY, local=local, media=ports(1))
    assert answer.media[0].direction is Direction.SENDONLY
    assert answer.media[0].connections[0].address == "0.0.0.0"
    assert answer.is_legacy_hold(0)


def test_srtp_offer_answered_with_one_crypto() -> None:
    """RTP/SAVP is answered with the single a=crypto line given (RFC 4568)."""
    offer = sdp(
        "m=audio 5004 RTP/SAVP 0",
        f"a=crypto:1 {SUITE} inline:AAAA",
        "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:BBBB",
    )
    answer = build_answer(offer, policy=POLICY, local=LOCAL, media=ports(1, crypto=1))
    assert answer.media[0].proto == "RTP/SAVP"
    assert answer.media[0].crypto == (key(1),)


def test_srtp_offer_without_local_keys_is_rejected() -> None:
    """No crypto for an SAVP stream means it cannot be accepted: 488."""
    offer = sdp("m=audio 5004 RTP/SAVP 0", f"a=crypto:1 {SUITE} inline:AAAA")
    with pytest.raises(RemoteSdpError) as info:
        build_answer(offer, policy=POLICY, local=LOCAL, media=ports(1))
    assert info.value.status == 488
    assert info.value.reason == "Not Acceptable Here"


def test_several_answer_crypto_lines_is_local_error() -> None:
    """An answer must carry one a=crypto; passing two is our bug."""
    offer = sdp("m=audio 5004 RTP/SAVP 0", f"a=crypto:1 {SUITE} inline:AAAA")
    with pytest.raises(LocalSdpError, match="exactly one"):
        build_answer(offer, policy=POLICY, local=LOCAL, media=ports(1, crypto=2))


def test_best_effort_srtp_on_avp() -> None:
    """RTP/AVP with a=crypto (old Polycom habit) keeps AVP and answers a key."""
    offer = sdp("m=audio 5004 RTP/AVP 0", f"a=crypto:1 {SUITE} inline:AAAA")
    answer = build_answer(offer, policy=POLICY, local=LOCAL, media=ports(1, crypto=1))
    assert answer.media[0].proto == "RTP/AVP"
    assert answer.media[0].crypto == (key(1),)


def test_plain_rtp_refused_when_srtp_required() -> None:
    """require_srtp rejects RTP/AVP without a=crypto."""
    with pytest.raises(RemoteSdpError, match="no offered stream"):
        build_answer(
            sdp("m=audio 5004 RTP/AVP 0"),
            policy=POLICY,
            local=LOCAL,
            media=ports(1, crypto=1),
        )


def test_plain_rtp_answer_drops_unoffered_keys() -> None:
    """Keys for a stream whose offer had no a=crypto are not sent."""
    answer = build_answer(
        sdp("m=audio 5004 RTP/AVP 0"),
        policy=POLICY,
        local=PLAIN,
        media=ports(1, crypto=1),
    )
    assert answer.media[0].crypto == ()


def test_dtls_profile_rejected() -> None:
    """UDP/TLS/RTP/SAVPF is recognised but rejected (the gateway uses SDES)."""
    offer = sdp("m=audio 9 UDP/TLS/RTP/SAVPF 0", "m=audio 5004 RTP/AVP 0")
    answer = build_answer(offer, policy=POLICY, local=PLAIN, media=ports(2, crypto=1))
    assert [m.port for m in answer.media] == [0, 40002]


def test_no_common_codec_is_488() -> None:
    """An offer whose only codecs the policy forbids gets RemoteSdpError 488."""
    with pytest.raises(RemoteSdpError) as info:
        build_answer(
            sdp("m=audio 5004 RTP/AVP 18"), policy=POLICY, local=PLAIN, media=ports(1)
        )
    assert info.value.status == 488


def test_only_auxiliary_formats_is_not_enough() -> None:
    """telephone-event alone does not make a stream acceptable."""
    offer = sdp("m=audio 5004 RTP/AVP 18 101", "a=rtpmap:101 telephone-event/8000")
    with pytest.raises(RemoteSdpError):
        build_answer(offer, policy=POLICY, local=PLAIN, media=ports(1))


def test_all_rejected_offer_gets_all_rejected_answer() -> None:
    """An offer with every port 0 is answered in kind, without error."""
    answer = build_answer(
        sdp("m=audio 0 RTP/AVP 0"), policy=POLICY, local=PLAIN, media=ports(1)
    )
    assert answer.media[0].port == 0


def test_invalid_h264_dropped_not_fatal() -> None:
    """An H.264 format with a broken profile-level-id is skipped, not fatal."""
    offer = sdp(
        "m=video 5006 RTP/AVP 96 34",
        "a=rtpmap:96 H264/90000",
        "a=fmtp:96 profile-level-id=nothex",
    )
    answer = build_answer(offer, policy=POLICY, local=PLAIN, media=ports(1))
    assert answer.media[0].formats == ("34",)


def test_slides_kept_or_rejected_by_policy() -> None:
    """a=content:slides streams follow allow_slides (RFC 4796)."""
    offer = sdp(
        "m=audio 5004 RTP/AVP 0",
        "m=video 5008 RTP/AVP 34",
        "a=content:slides",
        "a=label:3",
    )
    kept = build_answer(offer, policy=POLICY, local=PLAIN, media=ports(2))
    assert kept.media[1].content == ("slides",)
    assert kept.media[1].label == "3"
    no_slides = CodecPolicy(allow_slides=False)
    dropped = build_answer(offer, policy=no_slides, local=PLAIN, media=ports(2))
    assert dropped.media[1].port == 0


def test_application_rtp_needs_policy() -> None:
    """H.224 far-end camera control is rejected unless the policy names it."""
    offer = sdp(
        "m=audio 5004 RTP/AVP 0",
        "m=application 5010 RTP/AVP 100",
        "a=rtpmap:100 H224/4800",
    )
    answer = build_answer(offer, policy=POLICY, local=PLAIN, media=ports(2))
    assert answer.media[1].port == 0
    fecc = CodecPolicy(application=("H224",))
    answer = build_answer(offer, policy=fecc, local=PLAIN, media=ports(2))
    assert answer.media[1].port == 40002 and answer.media[1].formats == ("100",)


def test_rtcp_mux_and_mid_answered_only_if_offered() -> None:
    """a=rtcp-mux is answered when offered (RFC 5761); a=mid is echoed."""
    offer = sdp(
        "m=audio 5004 RTP/AVP 0", "a=rtcp-mux", "a=mid:a0", "m=audio 5006 RTP/AVP 0"
    )
    answer = build_answer(offer, policy=POLICY, local=PLAIN, media=ports(2))
    assert answer.media[0].rtcp_mux and answer.media[0].mid == "a0"
    assert not answer.media[1].rtcp_mux
    no_mux = dataclasses.replace(PLAIN, rtcp_mux=False)
    answer = build_answer(offer, policy=POLICY, local=no_mux, media=ports(2))
    assert not answer.media[0].rtcp_mux


def test_answer_with_templates_negotiates_h264_level() -> None:
    """Per-stream templates replace the policy; H.264 level is min (§8.2.2)."""
    offer = sdp(*AUDIO_VIDEO)
    templates = [
        [MediaFormat(name="PCMA", clock_rate=8000)],
        [MediaFormat(name="H264", clock_rate=90000, fmtp="profile-level-id=42e016")],
    ]
    answer = build_answer(
        offer, policy=POLICY, local=PLAIN, media=ports(2), formats=templates
    )
    assert answer.media[0].formats == ("8",)
    assert answer.media[1].formats == ("109",)
    assert answer.media[1].fmtp(109) == "profile-level-id=428016"


def test_empty_template_rejects_stream() -> None:
    """An empty template list for a stream rejects it."""
    answer = build_answer(
        sdp(*AUDIO_VIDEO),
        policy=POLICY,
        local=PLAIN,
        media=ports(2),
        formats=[None, []],
    )
    assert [m.port for m in answer.media] == [40000, 0]


def test_video_bitrate_limit_in_answer() -> None:
    """max_video_kbps becomes our b=AS on video streams only."""
    policy = CodecPolicy(max_video_kbps=768)
    answer = build_answer(sdp(*AUDIO_VIDEO), policy=policy, local=PLAIN, media=ports(2))
    assert answer.bandwidth_kbps(0) is None
    assert answer.bandwidth_kbps(1) == 768


@pytest.mark.parametrize("name", ["media", "formats", "directions"])
def test_answer_length_mismatch_is_local_error(name: str) -> None:
    """Per-stream sequences must match the offer's m-line count."""
    kwargs: dict[str, object] = {"media": ports(2)}
    kwargs[name] = (
        [None]
        if name == "formats"
        else ([Direction.SENDRECV] if name == "directions" else ports(1))
    )
    with pytest.raises(LocalSdpError):
        build_answer(sdp(*AUDIO_VIDEO), policy=POLICY, local=PLAIN, **kwargs)  # type: ignore[arg-type]


def test_local_config_validation() -> None:
    """DTLS/BFCP are not offer profiles; ports must be 0..65535."""
    with pytest.raises(LocalSdpError):
        dataclasses.replace(LOCAL, profile=TransportProfile.UDP_TLS_RTP_SAVPF)
    with pytest.raises(LocalSdpError):
        dataclasses.replace(LOCAL, profile=TransportProfile.TCP_BFCP)
    with pytest.raises(LocalSdpError):
        LocalMedia(port=70000)
    assert dataclasses.replace(LOCAL, address="2001:db8::5").addr_type == "IP6"
    assert dataclasses.replace(LOCAL, address="relay.example").addr_type == "IP4"


# --- BFCP -------------------------------------------------------------------

BFCP_OFFER = (
    "m=audio 5004 RTP/AVP 0",
    "m=application 5070 TCP/BFCP *",
    "a=floorctrl:c-s",
    "a=setup:actpass",
    "a=connection:new",
    "a=confid:1",
    "a=userid:2",
    "a=floorid:1 mstrm:3",
    "a=bfcpver:1",
)


def test_bfcp_answered_as_client() -> None:
    """We answer BFCP as floor-control client, a=setup per RFC 4145."""
    answer = build_answer(sdp(*BFCP_OFFER), policy=POLICY, local=PLAIN, media=ports(2))
    bfcp = answer.media[1]
    assert (bfcp.port, bfcp.proto, bfcp.formats) == (40002, "TCP/BFCP", ("*",))
    assert [str(a) for a in bfcp.attributes] == [
        "floorctrl:c-only",
        "setup:active",
        "connection:new",
        "bfcpver:1",
    ]


@pytest.mark.parametrize(
    ("setup", "expected"),
    [("a=setup:passive", "active"), ("a=setup:active", "passive"), ("", "passive")],
)
def test_bfcp_setup_roles(setup: str, expected: str) -> None:
    """passive->active, active->passive, missing (= active)->passive."""
    lines = [line for line in BFCP_OFFER if not line.startswith("a=setup")]
    if setup:
        lines.append(setup)
    answer = build_answer(sdp(*lines), policy=POLICY, local=PLAIN, media=ports(2))
    assert answer.media[1].attribute("setup") == expected


@pytest.mark.parametrize(
    "change",
    [
        ("a=floorctrl:c-s", "a=floorctrl:c-only"),
        ("a=setup:actpass", "a=setup:holdconn"),
        ("TCP/BFCP", "TCP/TLS/BFCP"),
        ("5070", "0"),
    ],
)
def test_bfcp_rejected_cases(change: tuple[str, str]) -> None:
    """A client-only offerer, holdconn, BFCP over TLS or port 0: rejected."""
    lines = [line.replace(*change) for line in BFCP_OFFER]
    answer = build_answer(sdp(*lines), policy=POLICY, local=PLAIN, media=ports(2))
    assert answer.media[1].port == 0
    assert answer.media[1].formats == ("*",)


def test_bfcp_disallowed_by_policy() -> None:
    """allow_bfcp=False rejects BFCP with port 0, keeping the audio."""
    answer = build_answer(
        sdp(*BFCP_OFFER),
        policy=CodecPolicy(allow_bfcp=False),
        local=PLAIN,
        media=ports(2),
    )
    assert [m.port for m in answer.media] == [40000, 0]


def test_udp_bfcp_without_setup() -> None:
    """UDP/BFCP (RFC 8856) has no TCP setup attributes."""
    lines = [line.replace("TCP/BFCP", "UDP/BFCP") for line in BFCP_OFFER]
    lines.remove("a=floorctrl:c-s")
    answer = build_answer(sdp(*lines), policy=POLICY, local=PLAIN, media=ports(2))
    assert [a.name for a in answer.media[1].attributes] == ["floorctrl", "bfcpver"]


def test_bfcp_alone_is_not_acceptable() -> None:
    """If only BFCP could be accepted the offer still gets 488."""
    lines = [line.replace("5004 RTP/AVP 0", "5004 RTP/AVP 18") for line in BFCP_OFFER]
    with pytest.raises(RemoteSdpError):
        build_answer(sdp(*lines), policy=POLICY, local=PLAIN, media=ports(2))


# --- build_offer_from / build_offer ----------------------------------------


def test_offer_from_keeps_payload_types_and_order() -> None:
    """The new offer mirrors the remote's m-lines and payload numbers."""
    offer = build_offer_from(
        sdp(*AUDIO_VIDEO), policy=POLICY, local=LOCAL, media=ports(2, crypto=2)
    )
    audio, video = offer.media
    assert audio.proto == "RTP/SAVP" and audio.formats == ("0", "8", "101")
    assert audio.fmtp(101) == "0-15"
    assert video.formats == ("109", "34")
    assert [c.tag for c in audio.crypto] == [1, 2]
    assert audio.rtcp_mux
    assert audio.direction is Direction.SENDRECV


def test_offer_from_srtp_needs_keys() -> None:
    """Offering an SRTP profile without crypto lines is a local error."""
    with pytest.raises(LocalSdpError, match="crypto"):
        build_offer_from(sdp(*AUDIO_VIDEO), policy=POLICY, local=LOCAL, media=ports(2))


def test_offer_from_legacy_hold_becomes_sendonly() -> None:
    """A remote c=0.0.0.0 hold is offered onward as a=sendonly."""
    remote = sdp("m=audio 5004 RTP/AVP 0", address="0.0.0.0")
    offer = build_offer_from(remote, policy=POLICY, local=PLAIN, media=ports(1))
    assert offer.media[0].direction is Direction.SENDONLY
    assert offer.connection is not None and not offer.is_legacy_hold(0)
    legacy = dataclasses.replace(PLAIN, legacy_hold_address=True)
    offer = build_offer_from(remote, policy=POLICY, local=legacy, media=ports(1))
    assert offer.is_legacy_hold(0)
    assert offer.direction_of(0) is Direction.SENDONLY


def test_offer_from_disables_what_policy_refuses() -> None:
    """No allowed codec, remote port 0, non-RTP or our port 0: port 0."""
    remote = sdp(
        "m=audio 5004 RTP/AVP 18",
        "m=video 0 RTP/AVP 34",
        "m=image 6000 udptl t38",
        "m=audio 5008 RTP/AVP 0",
    )
    media = [*ports(3), LocalMedia(port=0)]
    offer = build_offer_from(remote, policy=POLICY, local=PLAIN, media=media)
    assert [m.port for m in offer.media] == [0, 0, 0, 0]
    assert offer.media[0].formats == ("18",)


def test_offer_from_rejected_without_formats() -> None:
    """A remote rejected stream without formats still gets a valid fmt list."""
    remote = sdp(
        "m=audio 5004 RTP/AVP 0", "m=video 0 RTP/AVP", "m=application 0 TCP/BFCP"
    )
    offer = build_offer_from(remote, policy=POLICY, local=PLAIN, media=ports(3))
    assert offer.media[1].formats == ("0",)
    assert offer.media[2].formats == ("*",)
    assert parse_sdp(serialize_sdp(offer)) == offer


def test_offer_from_bfcp_relayed() -> None:
    """BFCP attributes are copied and a=setup:actpass offered (RFC 4145)."""
    offer = build_offer_from(
        sdp(*BFCP_OFFER), policy=POLICY, local=PLAIN, media=ports(2)
    )
    bfcp = offer.media[1]
    assert bfcp.port == 40002
    assert [str(a) for a in bfcp.attributes] == [
        "floorctrl:c-s",
        "confid:1",
        "userid:2",
        "floorid:1 mstrm:3",
        "bfcpver:1",
        "setup:actpass",
        "connection:new",
    ]
    no_bfcp = build_offer_from(
        sdp(*BFCP_OFFER),
        policy=CodecPolicy(allow_bfcp=False),
        local=PLAIN,
        media=ports(2),
    )
    assert no_bfcp.media[1].port == 0
    tls = [line.replace("TCP/BFCP", "TCP/TLS/BFCP") for line in BFCP_OFFER]
    offer = build_offer_from(sdp(*tls), policy=POLICY, local=PLAIN, media=ports(2))
    assert offer.media[1].port == 0


def test_offer_from_clamps_video_bitrate() -> None:
    """max_video_kbps caps the remote's b=AS; absent b= gets the cap."""
    remote = sdp("m=video 5006 RTP/AVP 34", "b=AS:4096", "m=video 5008 RTP/AVP 34")
    offer = build_offer_from(
        remote, policy=CodecPolicy(max_video_kbps=1024), local=PLAIN, media=ports(2)
    )
    assert [offer.bandwidth_kbps(i) for i in (0, 1)] == [1024, 1024]
    offer = build_offer_from(remote, policy=POLICY, local=PLAIN, media=ports(2))
    assert [offer.bandwidth_kbps(i) for i in (0, 1)] == [4096, None]


def test_offer_from_keeps_content_main() -> None:
    """a=content:main is copied for endpoints that label both video streams."""
    remote = sdp("m=video 5006 RTP/AVP 34", "a=content:main")
    offer = build_offer_from(remote, policy=POLICY, local=PLAIN, media=ports(1))
    assert offer.media[0].content == ("main",)


def test_offer_from_browser_dtls_becomes_sdes() -> None:
    """A DTLS/ICE offer maps to an SDES offer; c=0.0.0.0 with ICE is no hold."""
    remote = parse_sdp(
        b"v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
        b"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
        b"a=ice-ufrag:x\r\na=rtpmap:111 opus/48000/2\r\na=sendrecv\r\n"
    )
    offer = build_offer_from(
        remote, policy=POLICY, local=LOCAL, media=ports(1, crypto=1)
    )
    assert offer.media[0].proto == "RTP/SAVP"
    assert offer.media[0].direction is Direction.SENDRECV


def test_offer_from_length_mismatch() -> None:
    """One LocalMedia per m-line is required."""
    with pytest.raises(LocalSdpError):
        build_offer_from(sdp(*AUDIO_VIDEO), policy=POLICY, local=PLAIN, media=ports(1))


def test_offer_from_neutral_streams() -> None:
    """build_offer assigns payload types and disables None entries."""
    streams = [
        StreamDescription(
            kind=MediaKind.AUDIO,
            formats=(
                MediaFormat(name="PCMU", clock_rate=8000),
                MediaFormat(name="G7221", clock_rate=16000, fmtp="bitrate=24000"),
            ),
        ),
        None,
        StreamDescription(kind=MediaKind.VIDEO),
    ]
    offer = build_offer(streams, local=PLAIN, media=ports(3))
    assert offer.media[0].formats == ("0", "96")
    assert offer.media[0].fmtp(96) == "bitrate=24000"
    assert [(m.kind, m.port) for m in offer.media[1:]] == [("audio", 0), ("video", 0)]
    with pytest.raises(LocalSdpError):
        build_offer(streams, local=PLAIN, media=ports(2))


# --- negotiate --------------------------------------------------------------


def test_negotiate_matches_by_codec_not_number() -> None:
    """Dynamic PTs may differ per side (RFC 3264 §6.1); both are reported."""
    offer = sdp("m=audio 5004 RTP/AVP 96 0", "a=rtpmap:96 opus/48000/2")
    answer = sdp(
        "m=audio 6004 RTP/AVP 111 0",
        "a=rtpmap:111 OPUS/48000/2",
        address="198.51.100.2",
    )
    (stream,) = negotiate(offer, answer)
    assert stream.is_accepted
    assert [
        (f.format.name, f.offer_payload_type, f.answer_payload_type)
        for f in stream.formats
    ] == [("OPUS", 96, 111), ("PCMU", 0, 0)]
    assert (stream.offer_address, stream.offer_port) == ("192.0.2.1", 5004)
    assert (stream.answer_address, stream.answer_port) == ("198.51.100.2", 6004)
    assert (stream.offer_rtcp_port, stream.answer_rtcp_port) == (5005, 6005)
    assert stream.direction is Direction.SENDRECV


def test_negotiate_prefers_same_number() -> None:
    """With two identical offered codecs the one with the same PT is chosen."""
    offer = sdp(
        "m=audio 5004 RTP/AVP 96 97", "a=rtpmap:96 PCMU/8000", "a=rtpmap:97 PCMU/8000"
    )
    answer = sdp("m=audio 6004 RTP/AVP 97", "a=rtpmap:97 PCMU/8000")
    (stream,) = negotiate(offer, answer)
    assert stream.formats[0].offer_payload_type == 97


def test_negotiate_tolerates_answer_without_rtpmap() -> None:
    """A reused dynamic PT without rtpmap takes the offer's meaning."""
    offer = sdp("m=video 5006 RTP/AVP 109", "a=rtpmap:109 H264/90000")
    answer = sdp("m=video 6006 RTP/AVP 109 120")
    (stream,) = negotiate(offer, answer)
    assert [f.format.name for f in stream.formats] == ["H264"]


def test_negotiate_rtcp_ports() -> None:
    """a=rtcp wins; rtcp-mux on both sides means RTCP on the RTP port."""
    offer = sdp("m=audio 5004 RTP/AVP 0", "a=rtcp:7000", "a=rtcp-mux")
    answer = sdp("m=audio 6004 RTP/AVP 0", "a=rtcp-mux")
    (stream,) = negotiate(offer, answer)
    assert stream.rtcp_mux
    assert (stream.offer_rtcp_port, stream.answer_rtcp_port) == (7000, 6004)


@pytest.mark.parametrize(
    ("offered", "answered", "expected"),
    [
        ("sendrecv", "sendrecv", Direction.SENDRECV),
        ("sendonly", "recvonly", Direction.SENDONLY),
        ("sendonly", "sendrecv", Direction.SENDONLY),
        ("recvonly", "sendrecv", Direction.RECVONLY),
        ("sendrecv", "inactive", Direction.INACTIVE),
        ("inactive", "sendrecv", Direction.INACTIVE),
    ],
)
def test_negotiate_direction(offered: str, answered: str, expected: Direction) -> None:
    """Direction from the offerer's view, clamped when the answer overreaches."""
    offer = sdp("m=audio 5004 RTP/AVP 0", f"a={offered}")
    answer = sdp("m=audio 6004 RTP/AVP 0", f"a={answered}")
    assert negotiate(offer, answer)[0].direction is expected


def test_negotiate_legacy_hold_answer() -> None:
    """An answer with c=0.0.0.0 means the answerer will not receive."""
    offer = sdp("m=audio 5004 RTP/AVP 0")
    answer = sdp("m=audio 6004 RTP/AVP 0", address="0.0.0.0")
    assert negotiate(offer, answer)[0].direction is Direction.RECVONLY


def test_negotiate_rejected_and_bfcp() -> None:
    """Port 0 on either side is not accepted; BFCP has no formats."""
    offer = sdp(
        "m=audio 5004 RTP/AVP 0",
        "m=video 0 RTP/AVP 34",
        "m=application 5070 TCP/BFCP *",
    )
    answer = sdp(
        "m=audio 0 RTP/AVP 0", "m=video 0 RTP/AVP 34", "m=application 6070 TCP/BFCP *"
    )
    streams = negotiate(offer, answer)
    assert [s.is_accepted for s in streams] == [False, False, True]
    assert streams[2].formats == () and streams[2].offer_rtcp_port is None


def test_negotiate_crypto_pair() -> None:
    """The answered a=crypto is paired with the offered line of the same tag."""
    offer = sdp(
        "m=audio 5004 RTP/SAVP 0",
        f"a=crypto:1 {SUITE} inline:A",
        "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:B",
    )
    answer = sdp(
        "m=audio 6004 RTP/SAVP 0", "a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:C"
    )
    (stream,) = negotiate(offer, answer)
    assert stream.crypto is not None
    assert [c.key_params for c in stream.crypto] == ["inline:B", "inline:C"]


@pytest.mark.parametrize(
    ("offer_lines", "answer_lines", "fragment"),
    [
        (["m=audio 5004 RTP/AVP 0"], [], "m-lines"),
        (["m=audio 5004 RTP/AVP 0"], ["m=video 6004 RTP/AVP 0"], "media kind"),
        (
            ["m=audio 5004 RTP/SAVP 0", f"a=crypto:1 {SUITE} inline:A"],
            ["m=audio 6004 RTP/AVP 0"],
            "security",
        ),
        (["m=audio 5004 RTP/AVP 0"], ["m=audio 6004 TCP/BFCP *"], "transport"),
        (["m=audio 5004 RTP/AVP 0"], ["m=audio 6004 RTP/AVP 8"], "no offered format"),
        (
            ["m=audio 5004 RTP/SAVP 0", f"a=crypto:1 {SUITE} inline:A"],
            ["m=audio 6004 RTP/SAVP 0"],
            "lacks a=crypto",
        ),
        (
            ["m=audio 5004 RTP/SAVP 0", f"a=crypto:1 {SUITE} inline:A"],
            ["m=audio 6004 RTP/SAVP 0", f"a=crypto:3 {SUITE} inline:C"],
            "tag 3",
        ),
        (
            ["m=audio 5004 RTP/AVP 0"],
            ["m=audio 6004 RTP/AVP 0", f"a=crypto:1 {SUITE} inline:C"],
            "tag 1",
        ),
    ],
)
def test_negotiate_refuses_bad_answers(
    offer_lines: list[str], answer_lines: list[str], fragment: str
) -> None:
    """Answers breaking RFC 3264/4568 raise RemoteSdpError with a clear reason."""
    with pytest.raises(RemoteSdpError, match=fragment):
        negotiate(sdp(*offer_lines), sdp(*answer_lines))


def test_negotiate_tolerates_avp_for_avpf() -> None:
    """An old endpoint answering RTP/AVP to RTP/AVPF is accepted."""
    (stream,) = negotiate(sdp("m=audio 5004 RTP/AVPF 0"), sdp("m=audio 6 RTP/AVP 0"))
    assert stream.is_accepted and stream.proto == "RTP/AVP"


# --- two-party pump -----------------------------------------------------------


def test_b2bua_bridges_two_legs() -> None:
    """Leg A offers; we offer B, B answers, we answer A with B's codecs.

    B is a fake peer driven by build_answer with its own narrower policy;
    both exchanges are then checked with negotiate and must agree.
    """
    leg_a_offer = sdp(
        "m=audio 5004 RTP/AVP 96 9 0 101",
        "a=rtpmap:96 opus/48000/2",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "m=video 5006 RTP/AVP 109",
        "a=rtpmap:109 H264/90000",
        "a=fmtp:109 profile-level-id=42e028;packetization-mode=1",
        "m=application 5070 TCP/BFCP *",
        "a=floorctrl:c-s",
    )
    to_b = build_offer_from(leg_a_offer, policy=POLICY, local=PLAIN, media=ports(3))
    wire = parse_sdp(serialize_sdp(to_b))
    assert wire == to_b
    b_local = dataclasses.replace(PLAIN, address="198.51.100.9")
    b_policy = CodecPolicy(audio=("PCMU", "telephone-event"), allow_bfcp=False)
    b_templates = [
        None,
        [
            MediaFormat(
                name="H264",
                clock_rate=90000,
                fmtp="profile-level-id=42e01f;packetization-mode=1",
            )
        ],
        None,
    ]
    b_answer = build_answer(
        wire,
        policy=b_policy,
        local=b_local,
        media=ports(3, base=50000),
        formats=b_templates,
    )
    leg_b = negotiate(to_b, parse_sdp(serialize_sdp(b_answer)))
    agreed = [[f.format for f in s.formats] if s.is_accepted else [] for s in leg_b]
    a_answer = build_answer(
        leg_a_offer,
        policy=POLICY,
        local=PLAIN,
        media=ports(3, base=42000),
        formats=[formats or None for formats in agreed],
    )
    leg_a = negotiate(leg_a_offer, a_answer)
    names = [[f.format.name for f in s.formats] for s in leg_a]
    assert names == [["PCMU", "telephone-event"], ["H264"], []]
    assert names == [[f.format.name for f in s.formats] for s in leg_b]
    assert leg_a[1].formats[0].format.fmtp == (
        "profile-level-id=42e01f;packetization-mode=1"
    )
    assert [s.is_accepted for s in leg_a] == [True, True, True]
    assert [s.is_accepted for s in leg_b] == [True, True, False]


def test_answer_crypto_must_name_an_offered_suite() -> None:
    """An answer key whose tag/suite was not offered is our bug (RFC 4568)."""
    offer = sdp("m=audio 5004 RTP/SAVP 0", f"a=crypto:1 {SUITE} inline:AAAA")
    wrong = [LocalMedia(port=40000, crypto=(key(2),))]
    with pytest.raises(LocalSdpError, match="tag 2 was not offered"):
        build_answer(offer, policy=POLICY, local=LOCAL, media=wrong)


def test_offer_from_drops_slides_when_disallowed() -> None:
    """allow_slides=False offers a slides stream onward with port 0."""
    remote = sdp(
        "m=audio 5004 RTP/AVP 0", "m=video 5008 RTP/AVP 34", "a=content:slides"
    )
    offer = build_offer_from(
        remote, policy=CodecPolicy(allow_slides=False), local=PLAIN, media=ports(2)
    )
    assert [m.port for m in offer.media] == [40000, 0]


def test_unknown_rtp_media_kind_rejected() -> None:
    """RTP media kinds the gateway does not relay (m=text) get port 0."""
    offer = sdp(
        "m=audio 5004 RTP/AVP 0", "m=text 5010 RTP/AVP 98", "a=rtpmap:98 t140/1000"
    )
    answer = build_answer(offer, policy=POLICY, local=PLAIN, media=ports(2))
    assert [m.port for m in answer.media] == [40000, 0]
    assert answer.media[1].kind == "text"


def test_offer_from_drops_invalid_h264() -> None:
    """A remote H.264 format with a broken fmtp is not offered onward."""
    remote = sdp(
        "m=video 5006 RTP/AVP 96 34",
        "a=rtpmap:96 H264/90000",
        "a=fmtp:96 packetization-mode=5",
    )
    offer = build_offer_from(remote, policy=POLICY, local=PLAIN, media=ports(1))
    assert offer.media[0].formats == ("34",)
