"""An H.323 endpoint that calls the gateway (the national trunk), for interop tests.

Built on the gateway's sans-IO machines (H225Call, H245Session) over real
asyncio sockets on 127.0.0.1.  It places one call to ``--gateway`` for
``--called`` with Fast Start proposals for G.711 u-law (H.323 section
8.1.7), or none with ``--slow`` (then H.245 opens one G.711 channel each
way).  H.245 is tunnelled, or with ``--h245 offer`` runs on a separate
connection to our listener named in the Setup, or with ``--h245 expect`` to
the h245Address the gateway gives (H.323 section 8.2.3).  Once the call is
up it sends 20 ms RTP packets to the address the gateway gave, counts what
comes back, sends ``--dtmf`` as userInputIndication after one second, and
clears with Release Complete ``--hold`` seconds after Connect (or when the
gateway clears).  One JSON line per event goes to stdout.

    python -m tests.interop.peers.h323_caller --gateway 127.0.0.1:1720 \\
        --called 8801 --rtp-port 40000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import sys
import time
from typing import Any, cast

from gateway.app.h245_link import H245Link
from gateway.h323 import codec
from gateway.h323.call import H225Call
from gateway.h323.call_messages import (
    AlertingReceived,
    CallProceedingReceived,
    ConnectReceived,
    FastStartAccepted,
    PeerH245Address,
    ProgressReceived,
    Released,
    TunnelledH245,
)
from gateway.h323.capabilities import (
    data_type_for,
    format_from_data_type,
    h245_capabilities_from_streams,
    streams_from_h245,
)
from gateway.h323.codec import AliasAddress, AliasKind, TransportAddress
from gateway.h323.h245 import (
    CapabilitiesReceived,
    ChannelClosed,
    ChannelOpened,
    ChannelOpenRequested,
    FastUpdateRequested,
    H245Session,
    UserInput,
)
from gateway.h323.h245_messages import H2250Parameters, read_h245_address
from gateway.sdp.media import MediaFormat, MediaKind, StreamDescription

HOST = "127.0.0.1"
PCMU = MediaFormat(name="PCMU", clock_rate=8000, payload_type=0)
PCMA = MediaFormat(name="PCMA", clock_rate=8000, payload_type=8)
AUDIO = {"PCMU": PCMU, "PCMA": PCMA}
H263 = MediaFormat(name="H263", clock_rate=90000, payload_type=34, fmtp="CIF=1")
VIDEO_RECEIVE_CHANNEL = 3  # Our video receive proposal (see proposals()).
PACKET_INTERVAL_S = 0.02


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


class Rtp(asyncio.DatagramProtocol):
    """Counts RTP packets received; sends ours to ``target``."""

    def __init__(self) -> None:
        self.received = 0
        self.sent = 0
        self.target: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self._seq = 0
        self.payload_type = 0  # Of the codec our channel carries.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1

    def send_one(self) -> None:
        if self.target is None or self.transport is None:
            return
        self._seq += 1
        header = struct.pack(
            "!BBHII",
            0x80,
            self.payload_type,
            self._seq & 0xFFFF,
            self._seq * 160,
            0x1234ABCD,
        )
        self.transport.sendto(header + b"\xff" * 160, self.target)
        self.sent += 1


class Caller:
    """The call: H.225.0 and tunnelled H.245 machines plus the RTP socket."""

    def __init__(self, args: argparse.Namespace, rtp: Rtp) -> None:
        self.args = args
        self.rtp = rtp
        self.call = H225Call(is_outgoing=True)
        self.h245 = H245Session()
        self.is_h245_started = False
        self.connected_at: float | None = None
        self.is_dtmf_sent = False
        self.is_update_sent = False
        self.codecs = tuple(AUDIO[name] for name in args.codecs.split(","))
        self.channel_number: int | None = None
        self.channel_codec: MediaFormat | None = None
        self.gives_up_at = (
            time.monotonic() + args.give_up if args.give_up is not None else None
        )
        self.writer: asyncio.StreamWriter | None = None
        self.link: H245Link | None = None
        self.link_task: asyncio.Future[None] | None = None
        self.backlog: list[bytes] = []
        self.rtp_address = TransportAddress(host=HOST, port=args.rtp_port)
        self.rtcp_address = TransportAddress(host=HOST, port=args.rtp_port + 1)

    async def listen_h245(self) -> TransportAddress:
        self.link = await H245Link.listen(
            HOST, on_pdus=self.on_link_pdus, on_closed=self.on_link_closed
        )
        self.link.on_connected = lambda: emit(event="h245_connected")
        return self.link.address

    async def connect_h245(self, address: TransportAddress) -> None:
        link = await H245Link.connect(
            address, on_pdus=self.on_link_pdus, on_closed=self.on_link_closed
        )
        self.link = link
        emit(event="h245_connected")
        if self.backlog:
            link.send(self.backlog)
            self.backlog = []

    def is_h245_muted(self, now: float) -> bool:
        """``--mute-h245-after``: a peer whose H.245 went deaf mid-call."""
        after = self.args.mute_h245_after
        at = self.connected_at
        return after is not None and at is not None and now >= at + after

    def on_link_pdus(self, pdus: list[bytes], now: float) -> None:
        self.start_h245(now)
        if self.is_h245_muted(now):
            emit(event="h245_ignored", count=len(pdus))
            return
        for pdu in pdus:
            self.h245.receive_message(pdu, now)
        assert self.writer is not None
        self.pump(self.writer, now)

    def on_link_closed(self) -> None:
        emit(event="h245_closed")

    def setup(self, now: float, h245_address: TransportAddress | None) -> None:
        proposals = [] if self.args.slow else self.proposals()
        self.call.setup(
            now,
            h245_tunnelling=self.args.h245 == "tunnel",
            h245_address=h245_address,
            called_number=self.args.called,
            calling_number=self.args.calling,
            destination_aliases=(
                AliasAddress(kind=AliasKind.DIALLED_DIGITS, value=self.args.called),
            ),
            source_aliases=(AliasAddress(kind=AliasKind.H323_ID, value="national"),),
            fast_start=proposals,
        )

    def proposals(self) -> list[bytes]:
        """Receive then transmit G.711 u-law (H.323 8.1.7.1), channels 1 and 2;
        with ``--video`` receive and transmit H.263 too, channels 3 and 4."""
        proposals = self.pair(1, 1, PCMU, self.rtp_address, self.rtcp_address)
        if self.args.video:
            video_rtp = TransportAddress(host=HOST, port=self.args.rtp_port + 2)
            video_rtcp = TransportAddress(host=HOST, port=self.args.rtp_port + 3)
            proposals += self.pair(3, 2, H263, video_rtp, video_rtcp)
        return proposals

    def pair(
        self,
        first: int,
        session: int,
        fmt: MediaFormat,
        rtp: TransportAddress,
        rtcp: TransportAddress,
    ) -> list[bytes]:
        data_type = data_type_for(fmt)
        receive = {
            "forwardLogicalChannelNumber": first,
            "forwardLogicalChannelParameters": {
                "dataType": ("nullData", 0),
                "multiplexParameters": ("none", 0),
            },
            "reverseLogicalChannelParameters": {
                "dataType": data_type,
                "multiplexParameters": (
                    "h2250LogicalChannelParameters",
                    H2250Parameters(
                        session_id=session, media=rtp, media_control=rtcp
                    ).to_asn(),
                ),
            },
        }
        transmit = {
            "forwardLogicalChannelNumber": first + 1,
            "forwardLogicalChannelParameters": {
                "dataType": data_type,
                "multiplexParameters": (
                    "h2250LogicalChannelParameters",
                    H2250Parameters(session_id=session, media_control=rtcp).to_asn(),
                ),
            },
        }
        return [
            codec.encode_open_logical_channel(receive),
            codec.encode_open_logical_channel(transmit),
        ]

    def pump(self, writer: asyncio.StreamWriter, now: float) -> None:
        while True:
            events = self.call.pop_events()
            h245_events = self.h245.pop_events()
            for event in events:
                self.on_call_event(event, now)
            for h245_event in h245_events:
                self.on_h245_event(h245_event, now)
            pdus = self.h245.pop_outgoing()
            if pdus and self.args.h245 != "tunnel":
                if self.link is not None and self.link.is_connected:
                    self.link.send(pdus)
                else:
                    self.backlog.extend(pdus)
            elif pdus and not self.call.is_released:
                self.call.send_h245(pdus, now)
            if not (events or h245_events or pdus):
                break
        out = self.call.pop_outgoing()
        if out and not writer.is_closing():
            writer.write(b"".join(out))

    def on_call_event(self, event: Any, now: float) -> None:
        if isinstance(event, CallProceedingReceived):
            emit(event="proceeding")
        elif isinstance(event, AlertingReceived):
            emit(event="alerting")
        elif isinstance(event, ProgressReceived):
            emit(event="progress")
        elif isinstance(event, FastStartAccepted):
            self.on_fast_start(event)
        elif isinstance(event, ConnectReceived):
            self.connected_at = now
            emit(event="connected", media=self.rtp.target is not None)
            self.start_h245(now)
        elif isinstance(event, PeerH245Address) and self.args.h245 == "expect":
            if self.link is None:
                emit(event="h245_address", port=event.address.port)
                self.link_task = asyncio.ensure_future(self.connect_h245(event.address))
        elif isinstance(event, TunnelledH245):
            self.start_h245(now)
            if self.is_h245_muted(now):
                emit(event="h245_ignored", count=len(event.pdus))
                return
            for pdu in event.pdus:
                self.h245.receive_message(pdu, now)
        elif isinstance(event, Released):
            emit(
                event="released",
                cause=event.cause,
                is_local=event.is_local,
                received=self.rtp.received,
                sent=self.rtp.sent,
            )

    def on_fast_start(self, event: FastStartAccepted) -> None:
        """The gateway filled in mediaChannel of our transmit proposal."""
        for item in event.olcs:
            olc = codec.decode_open_logical_channel(item)
            forward = olc["forwardLogicalChannelParameters"]
            if forward["dataType"][0] == "nullData":
                continue
            _, parameters = forward["multiplexParameters"]
            target = read_h245_address(parameters.get("mediaChannel"))
            if target is not None and parameters["sessionID"] == 1:  # Audio.
                self.rtp.target = (target.host, target.port)
        emit(event="fast_start", olcs=len(event.olcs), target=self.rtp.target)

    def start_h245(self, now: float) -> None:
        if self.is_h245_started or self.call.is_released:
            return
        self.is_h245_started = True
        plan = h245_capabilities_from_streams(
            [StreamDescription(kind=MediaKind.AUDIO, formats=self.codecs)]
        )
        self.h245.start(
            now,
            capability_table=[(e.number, e.capability) for e in plan.entries],
            capability_descriptors=plan.capability_descriptors(),
        )

    def on_h245_event(self, event: Any, now: float) -> None:
        if isinstance(event, CapabilitiesReceived) and self.args.slow:
            self.open_audio(event, now)
        elif isinstance(event, ChannelOpened) and event.media is not None:
            self.rtp.target = (event.media.host, event.media.port)
            emit(event="channel_opened", media=event.media.port)
        elif isinstance(event, ChannelOpenRequested):
            if self.is_ours(event.data_type):
                self.h245.accept_channel(
                    event.number,
                    media=self.rtp_address,
                    media_control=self.rtcp_address,
                    now=now,
                )
                fmt = format_from_data_type(event.data_type)
                emit(
                    event="channel_accepted",
                    number=event.number,
                    received=self.rtp.received,
                    codec=None if fmt is None else fmt.name,
                )
            else:
                self.h245.reject_channel(event.number, now=now)
        elif isinstance(event, ChannelClosed):
            emit(
                event="channel_closed",
                number=event.number,
                is_outgoing=event.is_outgoing,
                received=self.rtp.received,
            )
        elif isinstance(event, UserInput):
            emit(event="user_input", digits=event.digits)
        elif isinstance(event, FastUpdateRequested):
            emit(event="fast_update_received", number=event.number)

    def open_audio(self, event: CapabilitiesReceived, now: float) -> None:
        """Our audio channel in the first of our codecs the gateway receives;
        a new capability set without that codec re-opens it (H.245 8.3)."""
        theirs = [
            f.name.upper()
            for s in streams_from_h245(
                [
                    {"capabilityTableEntryNumber": n, "capability": c}
                    for n, c in event.table
                ],
                event.descriptors,
            )
            for f in s.formats
        ]
        fmt = next((f for f in self.codecs if f.name.upper() in theirs), None)
        if fmt is None or fmt is self.channel_codec:
            return
        if self.channel_number is not None:
            self.h245.close_channel(self.channel_number, now=now)
            emit(event="own_channel_closed", number=self.channel_number)
        self.channel_number = (
            11 if self.channel_number is None else self.channel_number + 1
        )
        self.channel_codec = fmt
        assert fmt.payload_type is not None
        self.rtp.payload_type = fmt.payload_type
        parameters = H2250Parameters(session_id=1, media_control=self.rtcp_address)
        self.h245.open_channel(
            self.channel_number,
            data_type=data_type_for(fmt),
            parameters=parameters,
            now=now,
        )
        emit(event="own_channel_opening", codec=fmt.name)

    def is_ours(self, data_type: Any) -> bool:
        fmt = format_from_data_type(data_type)
        return fmt is not None and fmt.name.upper() in {f.name for f in self.codecs}

    def next_deadline(self) -> float:
        deadlines = [
            self.call.next_deadline(),
            self.h245.next_deadline(),
            self.gives_up_at,
        ]
        if self.connected_at is not None:
            deadlines.append(self.connected_at + self.args.hold)
            if not self.is_dtmf_sent and self.args.dtmf:
                deadlines.append(self.connected_at + 1.0)
            update_after = self.args.request_update_after
            if not self.is_update_sent and update_after is not None:
                deadlines.append(self.connected_at + update_after)
        return min((d for d in deadlines if d is not None), default=now_plus(1.0))

    def on_timer(self, now: float) -> None:
        self.call.handle_timeout(now)
        self.h245.handle_timeout(now)
        if self.gives_up_at is not None and now >= self.gives_up_at:
            self.gives_up_at = None
            if self.connected_at is None:  # Nobody answered: hang up.
                self.call.release(now, 16)
                emit(event="gave_up")
        at = self.connected_at
        if (
            at is not None
            and not self.is_dtmf_sent
            and self.args.dtmf
            and now >= at + 1.0
        ):
            self.is_dtmf_sent = True
            self.h245.send_user_input(self.args.dtmf, now=now)
            emit(event="dtmf_sent", digits=self.args.dtmf)
        update_after = self.args.request_update_after
        if (
            at is not None
            and update_after is not None
            and not self.is_update_sent
            and now >= at + update_after
        ):
            self.is_update_sent = True
            self.h245.send_fast_update(VIDEO_RECEIVE_CHANNEL, now=now)
            emit(event="fast_update_sent")
        if at is not None and now >= at + self.args.hold:
            self.connected_at = None
            self.call.release(now, 16)


def now_plus(seconds: float) -> float:
    return time.monotonic() + seconds


async def send_rtp(rtp: Rtp) -> None:
    while True:
        await asyncio.sleep(PACKET_INTERVAL_S)
        rtp.send_one()


async def main_async(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    rtp = Rtp()
    udp, _ = await loop.create_datagram_endpoint(
        lambda: rtp, local_addr=(HOST, args.rtp_port)
    )
    host, port = args.gateway.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    caller = Caller(args, rtp)
    caller.writer = writer
    h245_address = await caller.listen_h245() if args.h245 == "offer" else None
    sender = asyncio.create_task(send_rtp(rtp))
    ends_at = time.monotonic() + args.lifetime
    now = time.monotonic()
    caller.setup(now, h245_address)
    caller.pump(writer, now)
    emit(event="setup_sent", called=args.called)
    try:
        while not caller.call.is_released and time.monotonic() < ends_at:
            timeout = max(0.0, min(caller.next_deadline(), ends_at) - time.monotonic())
            try:
                data = await asyncio.wait_for(reader.read(65536), timeout)
            except TimeoutError:
                now = time.monotonic()
                caller.on_timer(now)
                caller.pump(writer, now)
                continue
            now = time.monotonic()
            if data:
                caller.call.receive_data(data, now)
            else:
                caller.call.receive_eof(now)
            caller.pump(writer, now)
        await writer.drain()
    finally:
        sender.cancel()
        writer.close()
        if caller.link is not None:
            caller.link.close()
        udp.close()
    emit(event="exit", received=rtp.received, sent=rtp.sent)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", required=True, help="HOST:PORT of the gateway")
    parser.add_argument("--called", required=True)
    parser.add_argument("--calling", default="024123")
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--hold", type=float, default=5.0)
    parser.add_argument("--dtmf", default="")
    parser.add_argument("--slow", action="store_true", help="no Fast Start")
    parser.add_argument("--video", action="store_true", help="H.263 video too")
    parser.add_argument(
        "--codecs", default="PCMU", help="audio codecs we take, e.g. PCMU,PCMA"
    )
    parser.add_argument(
        "--mute-h245-after",
        type=float,
        default=None,
        help="ignore the gateway's H.245 this many seconds after Connect",
    )
    parser.add_argument(
        "--request-update-after",
        type=float,
        default=None,
        help="videoFastUpdatePicture this many seconds after Connect",
    )
    parser.add_argument(
        "--h245", choices=("tunnel", "offer", "expect"), default="tunnel"
    )
    parser.add_argument(
        "--give-up", type=float, default=None, help="release if not connected by then"
    )
    parser.add_argument("--lifetime", type=float, default=40.0)
    args = parser.parse_args(argv)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
