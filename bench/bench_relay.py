"""Relay packets/s against a bare asyncio+uvloop+pylibsrtp forwarding loop.

Run: ``.venv/bin/pytest -q bench -p no:cacheprovider -s``. Both forwarders
run in this process under uvloop, one after the other, fed by the same load
generator process (bench/_loadgen.py) on loopback: SRTP in, re-keyed SRTP
out, 50 streams, 172- and 1200-byte packets. The table gives the median of
the trials; the target is relay >= 0.85x the bare loop with < 0.1% loss.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pylibsrtp
import structlog
import uvloop

from gateway.app.media_io import MediaRelay
from gateway.media.relay import MediaLeg
from gateway.srtp.session import SrtpLeg
from gateway.srtp.suites import AES_CM_128_HMAC_SHA1_80

STREAMS = 50
SIZES = (172, 1200)
PACKETS_PER_STREAM = 2000
WINDOW = 64
TRIALS = 3
PORT_MIN, PORT_MAX = 22000, 22999
SUITE = AES_CM_128_HMAC_SHA1_80
_PROFILE = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80


@dataclass
class Result:
    rate_pps: float
    loss: float


class LoadGen:
    """The generator process and its line protocol."""

    def __init__(self) -> None:
        script = Path(__file__).with_name("_loadgen.py")
        self.proc = subprocess.Popen(
            [sys.executable, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self._read()
        self.send_addr = tuple(hello["send"])
        self.sink_addr = tuple(hello["sink"])

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        return json.loads(self.proc.stdout.readline())

    def trial(
        self, streams: list[tuple[int, bytes, bytes]], sources: list[int], size: int
    ) -> dict[str, Any]:
        assert self.proc.stdin is not None
        order = {
            "streams": [
                [port, k_in.hex(), k_out.hex()] for port, k_in, k_out in streams
            ],
            "sources": sources,
            "size": size,
            "packets_per_stream": PACKETS_PER_STREAM,
            "window": WINDOW,
        }
        self.proc.stdin.write(json.dumps(order) + "\n")
        self.proc.stdin.flush()
        return cast(dict[str, Any], self._read())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write('"quit"\n')
        self.proc.stdin.flush()
        self.proc.wait(timeout=10)


def _key() -> bytes:
    return secrets.token_bytes(SUITE.key_salt_bytes)


async def _trial(gen: LoadGen, size: int, setup: Any) -> Result:
    streams, sources, teardown = await setup(gen)
    loop = asyncio.get_running_loop()
    outcome = await loop.run_in_executor(None, gen.trial, streams, sources, size)
    teardown()
    total = STREAMS * PACKETS_PER_STREAM
    assert outcome["sent"] == total
    assert outcome["verified"] == min(50, outcome["received"]), outcome
    return Result(
        rate_pps=outcome["received"] / outcome["elapsed_s"],
        loss=(total - outcome["received"]) / total,
    )


async def _relay_setup(gen: LoadGen) -> Any:
    relay = MediaRelay(
        bind_host="127.0.0.1",
        port_min=PORT_MIN,
        port_max=PORT_MAX,
        log=structlog.get_logger("bench"),
    )
    streams, sources = [], []
    for _ in range(STREAMS):
        key_in, key_out = _key(), _key()
        a, b = await relay.allocate(), await relay.allocate()
        a_leg = MediaLeg(
            crypto=SrtpLeg(suite=SUITE, local_key_salt=_key(), remote_key_salt=key_in),
            remote_rtp=gen.send_addr,  # type: ignore[arg-type]
            remote_rtcp=None,
            rtcp_mux=False,
        )
        b_leg = MediaLeg(
            crypto=SrtpLeg(suite=SUITE, local_key_salt=key_out, remote_key_salt=_key()),
            remote_rtp=gen.sink_addr,  # type: ignore[arg-type]
            remote_rtcp=None,
            rtcp_mux=False,
        )
        relay.bridge(a, a_leg, b, b_leg)
        streams.append((a.rtp_port, key_in, key_out))
        sources.append(b.rtp_port)
    return streams, sources, relay.close


class _Bare(asyncio.DatagramProtocol):
    """The reference: unprotect, protect, sendto, nothing else."""

    def __init__(self, inbound: pylibsrtp.Session, outbound: pylibsrtp.Session) -> None:
        self.unprotect = inbound.unprotect
        self.protect = outbound.protect
        self.sendto: Any = None
        self.dest: Any = None

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.sendto(self.protect(self.unprotect(data)), self.dest)


def _session(key: bytes, outbound: bool) -> pylibsrtp.Session:
    kind = (
        pylibsrtp.Policy.SSRC_ANY_OUTBOUND
        if outbound
        else pylibsrtp.Policy.SSRC_ANY_INBOUND
    )
    return pylibsrtp.Session(
        pylibsrtp.Policy(key=key, ssrc_type=kind, srtp_profile=_PROFILE)
    )


async def _bare_setup(gen: LoadGen) -> Any:
    loop = asyncio.get_running_loop()
    transports: list[Any] = []
    streams, sources = [], []
    for index in range(STREAMS):
        key_in, key_out = _key(), _key()
        port = PORT_MIN + 500 + 2 * index
        proto = _Bare(_session(key_in, False), _session(key_out, True))
        t_in, _ = await loop.create_datagram_endpoint(
            lambda p=proto: p, local_addr=("127.0.0.1", port)
        )
        t_out, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", port + 1)
        )
        proto.sendto = t_out.sendto
        proto.dest = gen.sink_addr
        transports += [t_in, t_out]
        streams.append((port, key_in, key_out))
        sources.append(port + 1)

    def teardown() -> None:
        for transport in transports:
            transport.close()

    return streams, sources, teardown


async def _measure() -> list[tuple[int, Result, Result]]:
    gen = LoadGen()
    rows = []
    try:
        for size in SIZES:
            relay_runs, bare_runs = [], []
            for _ in range(TRIALS):  # Interleaved, so drift hits both alike.
                bare_runs.append(await _trial(gen, size, _bare_setup))
                relay_runs.append(await _trial(gen, size, _relay_setup))
            rows.append((size, _median(relay_runs), _median(bare_runs)))
    finally:
        gen.close()
    return rows


def _median(runs: list[Result]) -> Result:
    ordered = sorted(runs, key=lambda r: r.rate_pps)
    middle = ordered[len(ordered) // 2]
    return Result(rate_pps=middle.rate_pps, loss=max(r.loss for r in runs))


def test_relay_throughput_against_bare_loop() -> None:
    """Relay SRTP->SRTP packets/s is printed next to the bare loop's, same run."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        rows = runner.run(_measure())
    print()
    print(
        f"{'mode':<10}{'bytes':>6}{'streams':>8}{'relay pps':>12}"
        f"{'bare pps':>12}{'ratio':>7}{'loss %':>8}"
    )
    for size, relay, bare in rows:
        ratio = relay.rate_pps / bare.rate_pps
        print(
            f"{'srtp>srtp':<10}{size:>6}{STREAMS:>8}{relay.rate_pps:>12.0f}"
            f"{bare.rate_pps:>12.0f}{ratio:>7.2f}{100 * relay.loss:>8.3f}"
        )
    print(
        f"median of {TRIALS} trials, {PACKETS_PER_STREAM * STREAMS} packets each; "
        f"loss column is the relay's worst trial"
    )
    for _, relay, bare in rows:
        assert relay.loss < 0.001 and bare.loss < 0.001
