"""CPU cost per packet of the relay's RTP hot path, without sockets.

Run: ``.venv/bin/pytest -q bench -p no:cacheprovider -s``. The socket
benchmark (bench_relay.py) shares two cores with its load generator and
other work, so its ratio moves by +-15% between runs; this one times only
``RelayStream.rtp_from_a`` (SRTP unprotect, latch check, stats, optional
telephone-event check, protect, a no-op sendto) in a tight loop and reports
the best of several interleaved trials in ns/packet, for:

* ``before-dtmf``: a copy of the hot path as it was before RFC 4733 support
  (the yardstick, measured in the same run);
* ``plain``: legs without a telephone-event payload type (the default);
* ``te-both``: both legs negotiated telephone-event, audio packets only
  (the cost of the payload-type compare);
* ``te-rewritten``: as ``te-both`` after a digit was injected toward leg b,
  so that path shifts sequence numbers through an RtpRewriter.
"""

from __future__ import annotations

import secrets
import struct
import time
from collections.abc import Callable
from typing import Any

import pylibsrtp

from gateway.media.relay import Address, MediaLeg, RelayStream
from gateway.media.rtp import RTP_HEADER_BYTES
from gateway.srtp.errors import RemoteSrtpError
from gateway.srtp.session import SrtpLeg
from gateway.srtp.suites import AES_CM_128_HMAC_SHA1_80

SUITE = AES_CM_128_HMAC_SHA1_80
PACKETS = 10000
TRIALS = 15
SIZE = 172
SITE: Address = ("127.0.0.1", 40000)
_PROFILE = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80


def _key() -> bytes:
    return secrets.token_bytes(SUITE.key_salt_bytes)


def _drop(data: bytes, address: Address) -> None:
    pass


def _stream(key_in: bytes, te_pt: int | None) -> RelayStream:
    legs = []
    for remote in (key_in, _key()):
        leg = MediaLeg(
            crypto=SrtpLeg(suite=SUITE, local_key_salt=_key(), remote_key_salt=remote),
            remote_rtp=SITE,
            remote_rtcp=None,
            rtcp_mux=False,
            clock_rate=8000,
            telephone_event_pt=te_pt,
        )
        leg.attach(sendto_rtp=_drop, sendto_rtcp=_drop)
        legs.append(leg)
    return RelayStream(a=legs[0], b=legs[1], now=0.0, rtcp_ssrc=0x5EED)


def _packets(key: bytes) -> list[bytes]:
    policy = pylibsrtp.Policy(
        key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=_PROFILE
    )
    session = pylibsrtp.Session(policy)
    payload = bytes(SIZE - 12 - 10)
    return [
        session.protect(
            struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 0x1234) + payload
        )
        for seq in range(1, PACKETS + 1)
    ]


class _PathBefore:
    """The hot path as it was before DTMF (copied from relay.py), as a yardstick.

    Timed in the same run as the current one, so that load from other work
    on the machine hits both alike.
    """

    __slots__ = ("dst", "rewriter", "src", "stream")

    def __init__(self, stream: RelayStream) -> None:
        self.stream = stream
        self.src = stream.a
        self.dst = stream.b
        self.rewriter = None

    def rtp(self, data: bytes, source: Address, now: float) -> None:
        src = self.src
        try:
            plain = src._unprotect_rtp(data)
        except RemoteSrtpError as exc:
            src.counters.count_failure(src.label, exc.kind, source, now)
            return
        counters = src.counters
        if (source != counters.latched_rtp or len(plain) < RTP_HEADER_BYTES) and (
            not src.accept_source(plain, source, now)
        ):
            return
        counters.packets_in += 1
        counters.bytes_in += len(data)
        src.stats.update(plain, now)
        self.stream.last_packet_at = now
        rewriter = self.rewriter
        if rewriter is not None:
            plain = rewriter.rewrite(plain)
        dst = self.dst
        dest = dst.rtp_dest
        counters = dst.counters
        if dest is None:
            counters.dropped_no_destination += 1
            return
        try:
            out = dst._protect_rtp(plain)
        except RemoteSrtpError:
            counters.protect_failures += 1
            return
        dst.sendto_rtp(out, dest)
        counters.packets_out += 1
        counters.bytes_out += len(out)


Handler = Callable[[bytes, Address, float], None]


def _current(stream: RelayStream) -> Handler:
    return stream.rtp_from_a


def _before(stream: RelayStream) -> Handler:
    return _PathBefore(stream).rtp


def _nothing(stream: RelayStream) -> None:
    pass


def _inject(stream: RelayStream) -> None:
    for planned in stream.digit_packets("b", "5", duration_ms=100, now=0.1):
        stream.send_event_packet("b", planned.packet)


CONFIGS: list[tuple[str, int | None, Callable[[RelayStream], None], Any]] = [
    ("before-dtmf", None, _nothing, _before),
    ("plain", None, _nothing, _current),
    ("te-both", 101, _nothing, _current),
    ("te-rewritten", 101, _inject, _current),
]


def _once(
    te_pt: int | None,
    prepare: Callable[[RelayStream], None],
    handler_of: Callable[[RelayStream], Handler],
) -> float:
    key_in = _key()
    stream = _stream(key_in, te_pt)
    packets = _packets(key_in)
    handler = handler_of(stream)
    handler(packets[0], SITE, 0.0)  # Latch outside the timed loop.
    prepare(stream)
    start = time.perf_counter()
    for packet in packets[1:]:
        handler(packet, SITE, 1.0)
    elapsed = time.perf_counter() - start
    assert stream.b.counters.packets_out >= PACKETS - 1
    return elapsed / (PACKETS - 1) * 1e9


def test_hot_path_ns_per_packet() -> None:
    """ns/packet of the RTP path, best of interleaved trials, per configuration."""
    best = {name: float("inf") for name, *_ in CONFIGS}
    for _ in range(TRIALS):  # Interleaved, so drift hits every config alike.
        for name, te_pt, prepare, handler_of in CONFIGS:
            best[name] = min(best[name], _once(te_pt, prepare, handler_of))
    print()
    print(f"{'config':<14}{'ns/packet':>10}{'vs before':>10}")
    for name, ns in best.items():
        print(f"{name:<14}{ns:>10.0f}{ns / best['before-dtmf']:>10.3f}")
    print(f"best of {TRIALS} trials, {PACKETS} SRTP packets of {SIZE} bytes each")
