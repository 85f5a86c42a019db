"""A test H.323 gatekeeper (RAS over UDP), as a separate process.

Built on the gateway's codec (``decode_ras``/``encode_ras_value``), it listens
on 127.0.0.1 ``--port`` and answers as a gatekeeper (H.225.0 section 7.9):

* GRQ -> GCF naming itself (gatekeeperIdentifier ``--gatekeeper-id``);
* RRQ -> RCF with endpointIdentifier and timeToLive ``--ttl`` (a full RRQ
  gets a new endpointIdentifier, a lightweight one keeps it); with
  ``--reject-first-rrq`` the first RRQ gets RRJ (resourceUnavailable);
* ARQ -> ACF with destCallSignalAddress ``--acf-address HOST:PORT``, or ARJ
  (requestDenied) with ``--reject-arq``;
* DRQ -> DCF, URQ -> UCF.

It prints one JSON line per message received and sent (``event`` is
"received" or "sent", ``kind`` GRQ, RCF..., ``t`` the monotonic time) on
stdout and in ``--log``, and exits on SIGTERM or after ``--lifetime``
seconds.

    python -m tests.interop.peers.h323_gatekeeper --port 41719 --ttl 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TextIO, cast

from gateway.h323 import codec
from gateway.h323.codec import RasKind, RasMessage, TransportAddress
from gateway.h323.errors import RemoteH323Error

HOST = "127.0.0.1"
PROTOCOL = (0, 0, 8, 2250, 0, 4)
RasReply = tuple[str, dict[str, Any]]


class Printer:
    """Writes one JSON object per line to stdout and the optional log."""

    def __init__(self, log: TextIO | None) -> None:
        self._log = log

    def __call__(self, **fields: Any) -> None:
        # "t" is CLOCK_MONOTONIC, the same clock as a test's time.monotonic().
        line = json.dumps({**fields, "t": round(time.monotonic(), 3)}, sort_keys=True)
        print(line, flush=True)
        if self._log is not None:
            self._log.write(f"{time.time():.3f} {line}\n")
            self._log.flush()


def address_text(address: TransportAddress | None) -> str | None:
    return None if address is None else f"{address.host}:{address.port}"


def describe(message: RasMessage) -> dict[str, Any]:
    """The fields of a RAS message a test looks at, as JSON values."""
    endpoint = message.endpoint
    return {
        "kind": message.kind.name,
        "seq": message.request_seq_num,
        "keep_alive": message.is_keep_alive,
        "aliases": [[a.kind.value, a.value] for a in message.aliases],
        "prefixes": list(endpoint.supported_prefixes) if endpoint else [],
        "is_gateway": endpoint.is_gateway if endpoint else None,
        "ttl": message.time_to_live_s,
        "endpoint_id": message.endpoint_identifier,
        "gatekeeper_id": message.gatekeeper_identifier,
        "ras_addresses": [address_text(a) for a in message.ras_addresses],
        "call_signal_addresses": [
            address_text(a) for a in message.call_signal_addresses
        ],
        "call_id": message.call_identifier.hex() if message.call_identifier else None,
        "conference_id": (
            message.conference_id.hex() if message.conference_id else None
        ),
        "call_reference": message.call_reference,
        "destination": [[a.kind.value, a.value] for a in message.destination_aliases],
        "source_aliases": [[a.kind.value, a.value] for a in message.source_aliases],
        "dest_address": address_text(message.dest_call_signal_address),
        "bandwidth": message.bandwidth,
        "answer_call": message.is_answer_call,
        "reason": message.reason,
    }


class Gatekeeper(asyncio.DatagramProtocol):
    """Answers each RAS request by the table in ``replies``."""

    def __init__(self, args: argparse.Namespace, emit: Printer) -> None:
        self.args = args
        self.emit = emit
        self.transport: asyncio.DatagramTransport | None = None
        self.own = TransportAddress(host=HOST, port=args.port)
        self.registrations = 0
        self.endpoint_id: str | None = None
        self.rrqs = 0
        self.replies: dict[RasKind, Callable[[RasMessage], RasReply | None]] = {
            RasKind.GRQ: self.on_grq,
            RasKind.RRQ: self.on_rrq,
            RasKind.URQ: self.on_urq,
            RasKind.ARQ: self.on_arq,
            RasKind.DRQ: self.on_drq,
        }

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        source = f"{addr[0]}:{addr[1]}"
        try:
            message = codec.decode_ras(data)
        except RemoteH323Error as exc:
            self.emit(event="undecodable", source=source, error=str(exc))
            return
        self.emit(event="received", source=source, **describe(message))
        handler = self.replies.get(message.kind)
        reply = None if handler is None else handler(message)
        if reply is None or self.transport is None:
            return
        name, body = reply
        self.transport.sendto(codec.encode_ras_value((name, body)), addr)
        kind = RasKind(name)
        self.emit(event="sent", kind=kind.name, seq=body["requestSeqNum"])

    def on_grq(self, message: RasMessage) -> RasReply:
        return (
            RasKind.GCF.value,
            {
                "requestSeqNum": message.request_seq_num,
                "protocolIdentifier": PROTOCOL,
                "gatekeeperIdentifier": self.args.gatekeeper_id,
                "rasAddress": self.own.to_asn(),
            },
        )

    def on_rrq(self, message: RasMessage) -> RasReply:
        self.rrqs += 1
        seq = message.request_seq_num
        if self.args.reject_first_rrq and self.rrqs == 1:
            return (
                RasKind.RRJ.value,
                {
                    "requestSeqNum": seq,
                    "protocolIdentifier": PROTOCOL,
                    "rejectReason": ("resourceUnavailable", 0),
                },
            )
        if not message.is_keep_alive or self.endpoint_id is None:
            self.registrations += 1
            self.endpoint_id = f"EP{self.registrations}"
        return (
            RasKind.RCF.value,
            {
                "requestSeqNum": seq,
                "protocolIdentifier": PROTOCOL,
                "callSignalAddress": [self.own.to_asn()],
                "gatekeeperIdentifier": self.args.gatekeeper_id,
                "endpointIdentifier": self.endpoint_id,
                "timeToLive": self.args.ttl,
                "willRespondToIRR": False,
                "maintainConnection": False,
            },
        )

    def on_urq(self, message: RasMessage) -> RasReply:
        self.endpoint_id = None
        return (RasKind.UCF.value, {"requestSeqNum": message.request_seq_num})

    def on_arq(self, message: RasMessage) -> RasReply:
        seq = message.request_seq_num
        if self.args.reject_arq:
            return (
                RasKind.ARJ.value,
                {"requestSeqNum": seq, "rejectReason": ("requestDenied", 0)},
            )
        host, _, port = self.args.acf_address.rpartition(":")
        destination = TransportAddress(host=host, port=int(port))
        return (
            RasKind.ACF.value,
            {
                "requestSeqNum": seq,
                "bandWidth": message.bandwidth or 640,
                "callModel": ("direct", 0),
                "destCallSignalAddress": destination.to_asn(),
                "willRespondToIRR": False,
                "uuiesRequested": {
                    name: False
                    for name in (
                        "setup",
                        "callProceeding",
                        "connect",
                        "alerting",
                        "information",
                        "releaseComplete",
                        "facility",
                        "progress",
                        "empty",
                    )
                },
            },
        )

    def on_drq(self, message: RasMessage) -> RasReply:
        return (RasKind.DCF.value, {"requestSeqNum": message.request_seq_num})


on_sigterm: list[Callable[[], object]] = []
"""What SIGTERM does; empty before the loop runs and once we are exiting."""


def handle_sigterm(signum: int, frame: FrameType | None) -> None:
    # A process-wide handler, as in h323_peer: a SIGTERM racing with our
    # own exit must not kill us with exit code -15.
    for callback in on_sigterm:
        callback()


async def main_async(args: argparse.Namespace, emit: Printer) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    on_sigterm.append(lambda: loop.call_soon_threadsafe(stop.set))
    transport, _ = await loop.create_datagram_endpoint(
        lambda: Gatekeeper(args, emit), local_addr=(HOST, args.port)
    )
    emit(event="listening", port=args.port)
    try:
        await asyncio.wait_for(stop.wait(), args.lifetime)
    except TimeoutError:
        emit(event="lifetime_over")
    transport.close()
    on_sigterm.clear()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    emit(event="exit")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttl", type=int, default=60)
    parser.add_argument("--gatekeeper-id", default="TESTGK")
    parser.add_argument("--acf-address", default=f"{HOST}:1720")
    parser.add_argument("--reject-first-rrq", action="store_true")
    parser.add_argument("--reject-arq", action="store_true")
    parser.add_argument("--lifetime", type=float, default=60.0)
    parser.add_argument("--log", default=None)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, handle_sigterm)
    log = open(args.log, "a", encoding="utf-8") if args.log else None  # noqa: SIM115
    try:
        return asyncio.run(main_async(args, Printer(log)))
    finally:
        if log is not None:
            log.close()


if __name__ == "__main__":
    sys.exit(main())
