"""Load generator for bench_relay (runs in its own process, on its own core).

Protocol on stdin/stdout, one JSON object per line:
  -> {"send": [host, port], "sink": [host, port]}        (our two sockets)
  <- {"streams": [[port, key_in_hex, key_out_hex], ...],
      "size": int, "packets_per_stream": int, "window": int}
  -> {"sent": n, "received": n, "elapsed_s": s, "verified": n}
  ... more trials, or "quit".

The sender pre-protects every packet with each stream's endpoint key, then
keeps at most ``window`` packets in flight (sent minus received at the sink),
so the relay under test runs flat out without the generator overflowing its
socket buffers. Received packets are only counted; the first few per run are
decrypted with the gateway's outbound key to prove the relay re-keyed them.
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import time

import pylibsrtp

_PROFILE = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
_VERIFY = 50


def _session(key: bytes, outbound: bool) -> pylibsrtp.Session:
    ssrc_type = (
        pylibsrtp.Policy.SSRC_ANY_OUTBOUND
        if outbound
        else pylibsrtp.Policy.SSRC_ANY_INBOUND
    )
    return pylibsrtp.Session(
        pylibsrtp.Policy(key=key, ssrc_type=ssrc_type, srtp_profile=_PROFILE)
    )


def _packets(
    streams: list[tuple[str, int, bytes]], size: int, count: int
) -> list[tuple[bytes, tuple[str, int]]]:
    protectors = [_session(key, True) for _, _, key in streams]
    payload = bytes(size - 12 - 10)  # SRTP adds a 10-byte tag to reach size.
    out = []
    for seq in range(1, count + 1):
        for index, (host, port, _) in enumerate(streams):
            rtp = struct.pack("!BBHII", 0x80, 96, seq, seq * 3000, 0x1000 + index)
            out.append((protectors[index].protect(rtp + payload), (host, port)))
    return out


def _run(
    send: socket.socket,
    sink: socket.socket,
    packets: list[tuple[bytes, tuple[str, int]]],
    window: int,
) -> tuple[int, int, float, list[tuple[bytes, tuple[str, int]]]]:
    total = len(packets)
    sent = received = 0
    kept: list[tuple[bytes, tuple[str, int]]] = []
    sendto = send.sendto
    recvfrom = sink.recvfrom
    start = time.perf_counter()
    last = start
    sink.settimeout(0.5)
    while received < total:
        while sent < total and sent - received < window:
            data, dest = packets[sent]
            sendto(data, dest)
            sent += 1
        try:
            data, addr = recvfrom(2048)
        except TimeoutError:
            break  # Lost packets: nothing more will come.
        received += 1
        last = time.perf_counter()
        if len(kept) < _VERIFY:
            kept.append((data, addr))
    return sent, received, last - start, kept


def main() -> None:
    send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for sock in (send, sink):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
        sock.bind(("127.0.0.1", 0))
    print(
        json.dumps({"send": send.getsockname(), "sink": sink.getsockname()}), flush=True
    )
    for line in sys.stdin:
        order = json.loads(line)
        if order == "quit":
            return
        streams = [
            ("127.0.0.1", port, bytes.fromhex(key_in))
            for port, key_in, _ in order["streams"]
        ]
        checkers = {
            index: _session(bytes.fromhex(key_out), False)
            for index, (_, _, key_out) in enumerate(order["streams"])
        }
        packets = _packets(streams, order["size"], order["packets_per_stream"])
        sent, received, elapsed, kept = _run(send, sink, packets, order["window"])
        verified = 0
        sources = order["sources"]
        for data, addr in kept:
            index = sources.index(addr[1])
            plain = checkers[index].unprotect(data)
            verified += struct.unpack_from("!I", plain, 8)[0] == 0x1000 + index
        result = {"sent": sent, "received": received, "elapsed_s": elapsed}
        print(json.dumps(result | {"verified": verified}), flush=True)


if __name__ == "__main__":
    main()
