"""The media relay on real UDP sockets (loopback) with real libsrtp.

Two fake endpoints, each with its own SRTP keys, talk through a MediaRelay;
what one sends must arrive decrypted with the other leg's keys.
"""

from __future__ import annotations

import asyncio
import secrets
import struct
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

import pytest
import structlog

from gateway.app.media_io import MediaRelay
from gateway.media.keyframe import KeyframeBroker, KeyframeDialect
from gateway.media.relay import MediaLeg
from gateway.media.rtcp import (
    FullIntraRequest,
    PictureLossIndication,
    ReceiverReport,
    ReportBlock,
    build_pli,
    parse_compound,
    serialize,
)
from gateway.media.rtp import parse_header
from gateway.srtp.session import SrtpLeg
from gateway.srtp.suites import AES_CM_128_HMAC_SHA1_80

pytestmark = pytest.mark.interop

SUITE = AES_CM_128_HMAC_SHA1_80
HOST = "127.0.0.1"


def key() -> bytes:
    return secrets.token_bytes(SUITE.key_salt_bytes)


def rtp(seq: int, ssrc: int = 0x1234, payload: bytes = b"media", pt: int = 96) -> bytes:
    return struct.pack("!BBHII", 0x80, pt, seq, seq * 3000, ssrc) + payload


class Peer(asyncio.DatagramProtocol):
    """A fake endpoint: one UDP socket and an inbox."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Selector and uvloop UDP transports do not all subclass
        # DatagramTransport, but all have its sendto/close.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.inbox.put_nowait((data, addr))

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        return tuple(self.transport.get_extra_info("sockname")[:2])  # type: ignore[return-value]

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to)

    async def receive(self, timeout_s: float = 2.0) -> bytes:
        data, _ = await asyncio.wait_for(self.inbox.get(), timeout_s)
        return data

    async def nothing(self, wait_s: float = 0.2) -> bool:
        await asyncio.sleep(wait_s)
        return self.inbox.empty()


async def peer() -> Peer:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_datagram_endpoint(Peer, local_addr=(HOST, 0))
    return protocol


class Site:
    """An endpoint with RTP and RTCP sockets and its own SRTP keys."""

    def __init__(self, rtp_peer: Peer, rtcp_peer: Peer, secure: bool) -> None:
        self.rtp = rtp_peer
        self.rtcp = rtcp_peer
        self.own_key = key()
        self.gateway_key = key()  # What the gateway sends to this site.
        self.crypto: SrtpLeg | None = None
        if secure:
            self.crypto = SrtpLeg(
                suite=SUITE,
                local_key_salt=self.own_key,
                remote_key_salt=self.gateway_key,
            )

    def leg(self, label: str) -> MediaLeg:
        crypto = None
        if self.crypto is not None:
            crypto = SrtpLeg(
                suite=SUITE,
                local_key_salt=self.gateway_key,
                remote_key_salt=self.own_key,
            )
        return MediaLeg(
            crypto=crypto,
            remote_rtp=self.rtp.address,
            remote_rtcp=self.rtcp.address,
            rtcp_mux=False,
            label=label,
        )

    def protect(self, packet: bytes) -> bytes:
        return packet if self.crypto is None else self.crypto.protect_rtp(packet)

    def unprotect(self, packet: bytes) -> bytes:
        return packet if self.crypto is None else self.crypto.unprotect_rtp(packet)


async def site(*, secure: bool = True) -> Site:
    return Site(await peer(), await peer(), secure)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


def new_relay(**kwargs: Any) -> MediaRelay:
    return MediaRelay(
        bind_host=HOST,
        port_min=21000,
        port_max=21999,
        log=structlog.get_logger("test"),
        **kwargs,
    )


def test_srtp_to_srtp_is_rekeyed_both_ways_with_rtcp() -> None:
    """RTP and RTCP cross the relay both ways, re-keyed: the wire bytes differ."""

    async def body() -> None:
        relay = new_relay()
        a, b = await site(), await site()
        ea, eb = await relay.allocate(), await relay.allocate()
        stream = relay.bridge(ea, a.leg("a"), eb, b.leg("b"))
        to_a = (HOST, ea.rtp_port)
        to_b = (HOST, eb.rtp_port)
        for seq in range(1, 21):
            sent = a.protect(rtp(seq))
            a.rtp.send(sent, to_a)
            got = await b.rtp.receive()
            assert got != sent
            assert b.unprotect(got) == rtp(seq)
        for seq in range(1, 6):
            b.rtp.send(b.protect(rtp(seq, ssrc=0x9999)), to_b)
            assert a.unprotect(await a.rtp.receive()) == rtp(seq, ssrc=0x9999)
        block = ReportBlock(
            ssrc=0x9999,
            fraction_lost=12,
            cumulative_lost=3,
            highest_sequence=5,
            jitter=90,
            last_sr=0,
            delay_since_last_sr=0,
        )
        report = serialize(ReceiverReport(ssrc=0x1234, reports=(block,)))
        assert a.crypto is not None and b.crypto is not None
        a.rtcp.send(a.crypto.protect_rtcp(report), (HOST, ea.rtcp_port))
        relayed = b.crypto.unprotect_rtcp(await b.rtcp.receive())
        assert parse_compound(relayed) == parse_compound(report)
        reports = relay.reports(stream)
        assert reports["a"].packets_in == 20 and reports["b"].packets_out == 20
        assert reports["a"].rtcp_in == 1 and reports["b"].rtcp_in == 0
        assert reports["a"].peer_fraction_lost == 12 / 256
        assert reports["b"].packets_in == 5 and reports["a"].packets_out == 5
        assert reports["a"].latched_rtp == a.rtp.address
        relay.close()

    run(body)


def test_spoofed_packets_never_take_over() -> None:
    """Spoofed packets before and during the flow are counted, not latched on."""

    async def body() -> None:
        relay = new_relay()
        a, b = await site(), await site()
        attacker = await peer()
        ea, eb = await relay.allocate(), await relay.allocate()
        stream = relay.bridge(ea, a.leg("a"), eb, b.leg("b"))
        to_a, to_b = (HOST, ea.rtp_port), (HOST, eb.rtp_port)
        # Before any authenticated packet: garbage and a packet under a
        # wrong key, from another port.
        attacker.send(rtp(1) + b"\x00" * 10, to_b)
        forged = SrtpLeg(suite=SUITE, local_key_salt=key(), remote_key_salt=key())
        attacker.send(forged.protect_rtp(rtp(2)), to_b)
        await asyncio.sleep(0.1)
        # Media from a to b goes to b's SDP address, not to the attacker.
        a.rtp.send(a.protect(rtp(1)), to_a)
        assert b.unprotect(await b.rtp.receive()) == rtp(1)
        # b speaks; then during the flow the attacker replays b's packet.
        genuine = b.protect(rtp(1, ssrc=0x77))
        b.rtp.send(genuine, to_b)
        await a.rtp.receive()
        attacker.send(genuine, to_b)
        attacker.send(forged.protect_rtp(rtp(3)), to_b)
        await asyncio.sleep(0.1)
        a.rtp.send(a.protect(rtp(2)), to_a)
        assert b.unprotect(await b.rtp.receive()) == rtp(2)
        assert await attacker.nothing()
        counters = stream.b.counters
        assert counters.auth_failures == 3
        assert counters.replay_failures == 1
        assert counters.latched_rtp == b.rtp.address
        assert relay.log_failure_samples() >= 1
        relay.close()

    run(body)


def test_srtp_to_clear_rtp_trunk() -> None:
    """SRTP on one leg, clear RTP on the other, both ways."""

    async def body() -> None:
        relay = new_relay()
        a, trunk = await site(), await site(secure=False)
        ea, eb = await relay.allocate(), await relay.allocate()
        relay.bridge(ea, a.leg("a"), eb, trunk.leg("trunk"))
        a.rtp.send(a.protect(rtp(1)), (HOST, ea.rtp_port))
        assert await trunk.rtp.receive() == rtp(1)
        trunk.rtp.send(rtp(5, ssrc=0x55), (HOST, eb.rtp_port))
        assert a.unprotect(await a.rtp.receive()) == rtp(5, ssrc=0x55)
        relay.close()

    run(body)


def test_echo_mode_returns_media_under_the_gateway_key() -> None:
    """Echo: the site's media comes back re-protected, with the echo's own SSRC."""

    async def body() -> None:
        relay = new_relay(ssrc_source=lambda: 0xABCDEF01)
        a = await site()
        endpoint = await relay.allocate(rtcp_mux=True)
        leg = a.leg("echo")
        relay.echo(endpoint, leg)
        sent = a.protect(rtp(1, payload=b"hello"))
        a.rtp.send(sent, (HOST, endpoint.rtp_port))
        got = await a.rtp.receive()
        assert got != sent
        plain = a.unprotect(got)
        header = parse_header(plain)
        assert header.ssrc == 0xABCDEF01 and header.sequence == 1
        assert plain.endswith(b"hello")
        relay.close()

    run(body)


def test_idle_detection_and_keyframe_translation() -> None:
    """Idle time grows without media; a PLI becomes a rate-limited FIR."""

    async def body() -> None:
        relay = new_relay()
        a, b = await site(), await site()
        ea, eb = await relay.allocate(), await relay.allocate()
        broker = KeyframeBroker()
        broker.add_leg("a", dialect=KeyframeDialect.RTCP_PLI)
        broker.add_leg("b", dialect=KeyframeDialect.RTCP_FIR, media_ssrc=0x42)
        stream = relay.bridge(ea, a.leg("a"), eb, b.leg("b"), broker=broker)
        a.rtp.send(a.protect(rtp(1)), (HOST, ea.rtp_port))
        await b.rtp.receive()
        assert stream.idle_for_s(time.monotonic()) < 0.2
        await asyncio.sleep(0.3)
        assert stream.idle_for_s(time.monotonic()) >= 0.3
        assert a.crypto is not None and b.crypto is not None
        for _ in range(3):
            pli = build_rr(0x1234) + build_pli(0x1234, 0x9999)
            a.rtcp.send(a.crypto.protect_rtcp(pli), (HOST, ea.rtcp_port))
        received = []
        for _ in range(4):  # Three RRs relayed, one RR+FIR of ours.
            plain = b.crypto.unprotect_rtcp(await b.rtcp.receive())
            received.extend(parse_compound(plain))
        assert await b.rtcp.nothing(0.3)
        firs = [p for p in received if isinstance(p, FullIntraRequest)]
        assert len(firs) == 1 and firs[0].entries[0].ssrc == 0x42
        assert not any(isinstance(p, PictureLossIndication) for p in received)
        assert broker.sent == 1 and broker.coalesced == 2
        relay.close()

    run(body)


def build_rr(ssrc: int) -> bytes:
    return serialize(ReceiverReport(ssrc=ssrc))
