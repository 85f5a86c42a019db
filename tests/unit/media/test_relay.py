"""Relay core: latching decisions, re-keying, echo, RTCP handling (no sockets)."""

from __future__ import annotations

import secrets
import struct

from gateway.media.keyframe import KeyframeBroker, KeyframeDialect
from gateway.media.relay import Address, MediaLeg, RelayStream
from gateway.media.rtcp import (
    FullIntraRequest,
    PictureLossIndication,
    ReceiverReport,
    ReportBlock,
    build_pli,
    build_rr,
    parse_compound,
    serialize,
)
from gateway.media.rtp import RtpRewriter, parse_header
from gateway.srtp.session import SrtpLeg
from gateway.srtp.suites import AES_CM_128_HMAC_SHA1_80

SUITE = AES_CM_128_HMAC_SHA1_80
SDP_A: Address = ("192.0.2.10", 4000)
SDP_B: Address = ("192.0.2.20", 5000)
NAT_A: Address = ("198.51.100.7", 61000)
SPOOF: Address = ("203.0.113.66", 4000)


def key() -> bytes:
    return secrets.token_bytes(SUITE.key_salt_bytes)


def rtp(seq: int, ssrc: int = 0x1234) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, ssrc) + b"payload"


class Wire:
    """Collects what a leg sends."""

    def __init__(self) -> None:
        self.rtp: list[tuple[bytes, Address]] = []
        self.rtcp: list[tuple[bytes, Address]] = []

    def attach(self, leg: MediaLeg) -> None:
        leg.attach(
            sendto_rtp=lambda d, a: self.rtp.append((d, a)),
            sendto_rtcp=lambda d, a: self.rtcp.append((d, a)),
        )


class Endpoint:
    """A site's SRTP keys, seen from the site and from the gateway."""

    def __init__(self) -> None:
        self.own, self.gateway = key(), key()
        self.site = SrtpLeg(
            suite=SUITE, local_key_salt=self.own, remote_key_salt=self.gateway
        )

    def gateway_leg(self, remote: Address | None, label: str) -> MediaLeg:
        crypto = SrtpLeg(
            suite=SUITE, local_key_salt=self.gateway, remote_key_salt=self.own
        )
        return MediaLeg(
            crypto=crypto,
            remote_rtp=remote,
            remote_rtcp=None,
            rtcp_mux=False,
            label=label,
        )


def pair() -> tuple[Endpoint, Endpoint, RelayStream, Wire, Wire]:
    a, b = Endpoint(), Endpoint()
    stream = RelayStream(
        a=a.gateway_leg(SDP_A, "a"), b=b.gateway_leg(SDP_B, "b"), now=0.0
    )
    wire_a, wire_b = Wire(), Wire()
    wire_a.attach(stream.a)
    wire_b.attach(stream.b)
    return a, b, stream, wire_a, wire_b


def test_media_is_rekeyed_and_sent_to_sdp_address_before_latching() -> None:
    """b has sent nothing: a's media goes to b's SDP address under b's key."""
    a, b, stream, _, wire_b = pair()
    sent = a.site.protect_rtp(rtp(1))
    stream.rtp_from_a(sent, NAT_A, 1.0)
    ((data, dest),) = wire_b.rtp
    assert dest == SDP_B and data != sent
    assert b.site.unprotect_rtp(data) == rtp(1)
    assert stream.a.counters.latched_rtp == NAT_A  # Authenticated: latched.
    assert stream.last_packet_at == 1.0 and stream.idle_for_s(4.0) == 3.0


def test_spoofed_packets_before_any_media_do_not_latch() -> None:
    """Garbage or a wrong-key packet from elsewhere is counted, never latched."""
    _a, _, stream, _wire_a, wire_b = pair()
    forged = SrtpLeg(suite=SUITE, local_key_salt=key(), remote_key_salt=key())
    stream.rtp_from_a(forged.protect_rtp(rtp(1)), SPOOF, 1.0)
    stream.rtp_from_a(rtp(2), SPOOF, 1.0)
    stream.rtp_from_a(b"\x80", SPOOF, 1.0)
    counters = stream.a.counters
    assert counters.latched_rtp is None and wire_b.rtp == []
    assert counters.auth_failures + counters.bad_packets == 3
    assert stream.a.rtp_dest == SDP_A and stream.idle_for_s(1.0) == 1.0
    assert len(counters.failure_samples) == 1  # Sampled: one per second.


def test_spoofing_during_a_call_neither_moves_latch_nor_replays() -> None:
    """After latching, a forged packet and a replayed genuine one change nothing."""
    a, b, stream, wire_a, wire_b = pair()
    genuine = a.site.protect_rtp(rtp(1))
    stream.rtp_from_a(genuine, NAT_A, 1.0)
    stream.rtp_from_a(genuine, SPOOF, 2.0)  # Replay from another address.
    forged = SrtpLeg(suite=SUITE, local_key_salt=key(), remote_key_salt=key())
    stream.rtp_from_a(forged.protect_rtp(rtp(2)), SPOOF, 2.5)
    counters = stream.a.counters
    assert (counters.replay_failures, counters.auth_failures) == (1, 1)
    assert counters.latched_rtp == NAT_A and len(wire_b.rtp) == 1
    assert stream.last_packet_at == 1.0
    # b's media now goes to a's latched address, not the SDP one.
    stream.rtp_from_b(b.site.protect_rtp(rtp(1, ssrc=9)), SDP_B, 3.0)
    assert wire_a.rtp[0][1] == NAT_A
    assert a.site.unprotect_rtp(wire_a.rtp[0][0]) == rtp(1, ssrc=9)


def test_authenticated_packet_from_new_address_relatches() -> None:
    """An SRTP leg follows a NAT rebinding proven by authentication."""
    a, _, stream, _, _ = pair()
    stream.rtp_from_a(a.site.protect_rtp(rtp(1)), NAT_A, 1.0)
    moved = ("198.51.100.7", 61002)
    stream.rtp_from_a(a.site.protect_rtp(rtp(2)), moved, 2.0)
    assert stream.a.counters.latched_rtp == moved and stream.a.rtp_dest == moved


def test_clear_leg_latches_once_on_the_sdp_host_only() -> None:
    """Clear RTP: other hosts are refused; the first SDP-host packet latches."""
    a = Endpoint()
    trunk = MediaLeg(crypto=None, remote_rtp=SDP_B, remote_rtcp=None, rtcp_mux=False)
    stream = RelayStream(a=a.gateway_leg(SDP_A, "a"), b=trunk, now=0.0)
    wire_a = Wire()
    wire_a.attach(stream.a)
    stream.rtp_from_b(rtp(1), SPOOF, 1.0)
    assert trunk.counters.foreign_packets == 1 and wire_a.rtp == []
    stream.rtp_from_b(rtp(2), ("192.0.2.20", 5002), 1.0)
    stream.rtp_from_b(rtp(3), ("192.0.2.20", 5004), 1.0)  # Same host, not latched.
    assert trunk.counters.latched_rtp == ("192.0.2.20", 5002)
    assert trunk.counters.foreign_packets == 2
    assert [a.site.unprotect_rtp(d) for d, _ in wire_a.rtp] == [rtp(2)]


def test_echo_returns_media_with_own_ssrc_and_consumes_rtcp() -> None:
    """Echo mode: back to the latched address under the gateway key; RTCP
    is read for statistics but not echoed."""
    a = Endpoint()
    leg = a.gateway_leg(SDP_A, "echo")
    stream = RelayStream(a=leg, b=None, now=0.0, a_to_b=RtpRewriter(ssrc=0xEC40))
    wire = Wire()
    wire.attach(leg)
    stream.rtp_from_a(a.site.protect_rtp(rtp(7)), NAT_A, 1.0)
    ((data, dest),) = wire.rtp
    assert dest == NAT_A and parse_header(a.site.unprotect_rtp(data)).ssrc == 0xEC40
    stream.rtcp_from_a(a.site.protect_rtcp(build_rr(0x1234)), NAT_A, 1.5)
    assert wire.rtcp == [] and leg.counters.rtcp_in == 1


def test_rtcp_relayed_rekeyed_and_report_blocks_read() -> None:
    """RTCP crosses re-keyed; its report block becomes the leg's peer report."""
    a, b, stream, _, wire_b = pair()
    block = ReportBlock(
        ssrc=1,
        fraction_lost=128,
        cumulative_lost=4,
        highest_sequence=9,
        jitter=4500,
        last_sr=0,
        delay_since_last_sr=0,
    )
    plain = serialize(ReceiverReport(ssrc=0x1234, reports=(block,)))
    stream.rtcp_from_a(a.site.protect_rtcp(plain), ("192.0.2.10", 4001), 2.0)
    ((data, dest),) = wire_b.rtcp
    assert dest == ("192.0.2.20", 5001) and b.site.unprotect_rtcp(data) == plain
    report = stream.a.report()
    assert report.peer_fraction_lost == 0.5 and report.peer_jitter_s == 0.05
    assert stream.a.counters.latched_rtcp == ("192.0.2.10", 4001)


def test_broker_takes_pli_out_and_sends_fir_on_the_far_leg() -> None:
    """With a broker, PLI is consumed (not relayed) and a FIR goes to b."""
    a, b, stream, _, wire_b = pair()
    broker = KeyframeBroker()
    broker.add_leg("a", dialect=KeyframeDialect.RTCP_PLI)
    broker.add_leg("b", dialect=KeyframeDialect.RTCP_FIR, media_ssrc=0x42)
    stream.broker = broker
    compound = build_rr(0x1234) + build_pli(0x1234, 0x9)
    stream.rtcp_from_a(a.site.protect_rtcp(compound), SDP_A, 1.0)
    (command,) = broker.pop_outgoing()
    assert command.__class__.__name__ == "SendFir"
    stream.send_fir("b", 0x42, 1)
    relayed = [parse_compound(b.site.unprotect_rtcp(d)) for d, _ in wire_b.rtcp]
    assert not any(isinstance(p, PictureLossIndication) for c in relayed for p in c)
    fir = [p for c in relayed for p in c if isinstance(p, FullIntraRequest)]
    assert fir[0].entries[0].ssrc == 0x42 and fir[0].entries[0].sequence == 1


def test_reinvite_keeps_counters_and_requires_new_proof_for_new_keys() -> None:
    """A re-keyed leg keeps the CDR counters but must authenticate to latch."""
    a, _, stream, _, wire_b = pair()
    stream.rtp_from_a(a.site.protect_rtp(rtp(1)), NAT_A, 1.0)
    fresh = Endpoint()
    stream.replace_leg("a", fresh.gateway_leg(SDP_A, "a"), 5.0)
    assert stream.a.counters.packets_in == 1 and stream.a.counters.latched_rtp is None
    assert stream.a.rtp_dest == SDP_A and stream.idle_for_s(5.0) == 0.0
    stream.rtp_from_a(a.site.protect_rtp(rtp(2)), SPOOF, 6.0)  # Old key now.
    assert stream.a.counters.auth_failures == 1
    stream.rtp_from_a(fresh.site.protect_rtp(rtp(3)), NAT_A, 7.0)
    assert stream.a.counters.packets_in == 2 and len(wire_b.rtp) == 2


def test_no_destination_and_receiver_report() -> None:
    """Without an address media is dropped and counted; our RR reports stats."""
    a = Endpoint()
    silent = MediaLeg(crypto=None, remote_rtp=None, remote_rtcp=None, rtcp_mux=True)
    stream = RelayStream(a=a.gateway_leg(SDP_A, "a"), b=silent, now=0.0, rtcp_ssrc=77)
    for seq in (1, 2, 3, 5):
        stream.rtp_from_a(a.site.protect_rtp(rtp(seq)), NAT_A, float(seq))
    assert silent.counters.dropped_no_destination == 4
    (rr,) = parse_compound(stream.receiver_report("a", 6.0))
    assert isinstance(rr, ReceiverReport) and rr.ssrc == 77
    assert rr.reports[0].cumulative_lost == 1 and rr.reports[0].highest_sequence == 5
