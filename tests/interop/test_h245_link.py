"""H245Link on real loopback sockets: TPKT-framed H.245 on its own TCP connection.

The other end is either a plain asyncio stream (so the bytes on the wire are
checked as they are) or another H245Link carrying two H245Sessions, which
must finish capability exchange and master-slave determination over it
(H.323 section 8.2.3).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gateway.app.h245_link import H245Link
from gateway.h323.capabilities import data_type_for, h245_capabilities_from_streams
from gateway.h323.codec import TransportAddress
from gateway.h323.errors import LocalH323Error
from gateway.h323.h245 import (
    CapabilitiesAcknowledged,
    H245Event,
    H245Session,
    MasterSlaveDetermined,
    SessionEnded,
)
from gateway.h323.h245_messages import H2250Parameters
from gateway.h323.tpkt import encode_tpkt
from gateway.sdp.media import MediaFormat, MediaKind, StreamDescription

pytestmark = pytest.mark.interop

HOST = "127.0.0.1"
TIMEOUT_S = 5.0


class Recorder:
    """The link's callbacks: received PDUs in a queue, closes counted."""

    def __init__(self) -> None:
        self.pdus: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = asyncio.Event()
        self.close_count = 0
        self.connected = 0

    def on_pdus(self, pdus: list[bytes], now: float) -> None:
        assert isinstance(now, float)
        for pdu in pdus:
            self.pdus.put_nowait(pdu)

    def on_closed(self) -> None:
        self.close_count += 1
        self.closed.set()

    def on_connected(self) -> None:
        self.connected += 1

    async def next_pdu(self) -> bytes:
        return await asyncio.wait_for(self.pdus.get(), TIMEOUT_S)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 20))


async def listen(recorder: Recorder, **options: Any) -> H245Link:
    link = await H245Link.listen(
        HOST, on_pdus=recorder.on_pdus, on_closed=recorder.on_closed, **options
    )
    link.on_connected = recorder.on_connected
    return link


async def dial(
    link: H245Link,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(link.address.host, link.address.port)


async def read_tpkts(reader: asyncio.StreamReader, count: int) -> list[bytes]:
    payloads = []
    for _ in range(count):
        header = await asyncio.wait_for(reader.readexactly(4), TIMEOUT_S)
        assert header[:2] == b"\x03\x00"
        size = int.from_bytes(header[2:], "big")
        payloads.append(await reader.readexactly(size - 4))
    return payloads


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    """True when the link's side ended the connection (EOF or reset)."""
    try:
        return await asyncio.wait_for(reader.read(100), TIMEOUT_S) == b""
    except ConnectionResetError:
        return True


def test_listener_frames_both_ways_and_takes_one_peer() -> None:
    """PDUs queued before the accept go out first; TPKTs arrive split or joined.

    The listener's address is 127.0.0.1 and an ephemeral port; after the
    first connection it stops listening, so a second dial is refused.
    """

    async def scenario() -> None:
        recorder = Recorder()
        link = await listen(recorder)
        assert link.address.host == HOST and link.address.port > 0
        assert not link.is_connected and not link.has_connected
        assert link.send([b"early-1", b"early-2"])
        reader, writer = await dial(link)
        assert await read_tpkts(reader, 2) == [b"early-1", b"early-2"]
        assert link.is_connected and recorder.connected == 1
        assert link.peer == writer.get_extra_info("sockname")
        with pytest.raises(OSError):
            await dial(link)
        # One TPKT byte by byte, then two in one segment with an empty
        # keep-alive TPKT between them.
        for byte in encode_tpkt(b"\x01\x02\x03"):
            writer.write(bytes([byte]))
            await writer.drain()
        writer.write(encode_tpkt(b"first") + encode_tpkt(b"") + encode_tpkt(b"second"))
        assert [await recorder.next_pdu() for _ in range(3)] == [
            b"\x01\x02\x03",
            b"first",
            b"second",
        ]
        assert link.send([b"late"])
        assert await read_tpkts(reader, 1) == [b"late"]
        assert link.close() == []
        assert await closed_by_peer(reader)
        await asyncio.wait_for(link.wait_closed(), TIMEOUT_S)
        assert link.is_closed and recorder.close_count == 0
        assert not link.send([b"after close"])
        writer.close()

    run(scenario)


def test_peer_close_reports_once() -> None:
    """The peer's FIN gives one on_closed, no error; sends then fail."""

    async def scenario() -> None:
        recorder = Recorder()
        link = await listen(recorder)
        _, writer = await dial(link)
        writer.close()
        await asyncio.wait_for(recorder.closed.wait(), TIMEOUT_S)
        await asyncio.wait_for(link.wait_closed(), TIMEOUT_S)
        assert link.error is None and link.has_connected and link.is_closed
        assert not link.send([b"x"])
        link.close()
        assert recorder.close_count == 1

    run(scenario)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\x04\x00\x00\x08abcd", "TPKT version 4"),
        (b"\x03\x00\x00\x02", "TPKT length 2"),
        (b"\x03\x00\xff\xff" + b"x" * 10, "TPKT length 65535"),
    ],
)
def test_bad_tpkt_closes_and_is_reported(data: bytes, error: str) -> None:
    """A broken TPKT header is reported, not raised, and closes the link.

    The PDU before it was delivered; nothing after it is.
    """

    async def scenario() -> None:
        recorder = Recorder()
        link = await listen(recorder, max_pdu_size_bytes=1024)
        reader, writer = await dial(link)
        writer.write(encode_tpkt(b"good"))
        assert await recorder.next_pdu() == b"good"
        writer.write(data + encode_tpkt(b"after"))
        await asyncio.wait_for(recorder.closed.wait(), TIMEOUT_S)
        assert link.error is not None and error in link.error
        assert link.error.startswith("bad TPKT")
        assert await closed_by_peer(reader)
        assert recorder.close_count == 1 and recorder.pdus.empty()
        writer.close()

    run(scenario)


def test_eof_inside_a_tpkt_is_an_error() -> None:
    """A connection closed halfway through a TPKT reports that as the error."""

    async def scenario() -> None:
        recorder = Recorder()
        link = await listen(recorder)
        _, writer = await dial(link)
        writer.write(encode_tpkt(b"whole-pdu")[:6])
        await writer.drain()
        writer.close()
        await asyncio.wait_for(recorder.closed.wait(), TIMEOUT_S)
        assert link.error == "connection closed inside a TPKT"
        assert recorder.pdus.empty()

    run(scenario)


def test_accept_timeout_closes_the_listener() -> None:
    """Nobody connects in time: on_closed with an error, the port is closed."""

    async def scenario() -> None:
        recorder = Recorder()
        link = await listen(recorder, accept_timeout_s=0.2)
        assert link.send([b"never sent"])
        await asyncio.wait_for(recorder.closed.wait(), TIMEOUT_S)
        assert link.error == "no H.245 connection in time"
        assert not link.has_connected and link.is_closed
        with pytest.raises(OSError):
            await dial(link)
        await asyncio.wait_for(link.wait_closed(), TIMEOUT_S)
        assert link.close() == [b"never sent"]  # Still handed back.
        assert recorder.close_count == 1

    run(scenario)


def test_close_before_connect_hands_back_queued_pdus() -> None:
    """close() on an unused listener returns what was queued; the queue is bounded."""

    async def scenario() -> None:
        recorder = Recorder()
        link = await listen(recorder)
        assert link.send([b"a"] * 200)
        assert not link.send([b"b"] * 100)  # Over max_queued_pdus (256).
        assert link.send([b"c"])
        assert link.close() == [b"a"] * 200 + [b"c"]
        assert link.close() == []
        await asyncio.wait_for(link.wait_closed(), TIMEOUT_S)
        with pytest.raises(OSError):
            await dial(link)
        assert not link.send([b"d"])  # A closed link sends nothing.
        assert recorder.close_count == 0

    run(scenario)


def test_oversized_pdu_is_a_local_error() -> None:
    """A PDU too large for one TPKT raises LocalH323Error; nothing is written."""

    async def scenario() -> None:
        recorder = Recorder()
        link = await listen(recorder)
        reader, writer = await dial(link)
        with pytest.raises(LocalH323Error):
            link.send([b"ok", bytes(70000)])
        assert link.send([b"next"])
        assert await read_tpkts(reader, 1) == [b"next"]
        link.close()
        writer.close()

    run(scenario)


def test_connect_to_a_closed_port_raises() -> None:
    """connect() raises OSError and reports nothing when nobody listens."""

    async def scenario() -> None:
        recorder = Recorder()
        link = await listen(recorder)
        address = link.address
        link.close()
        await link.wait_closed()
        with pytest.raises(OSError):
            await H245Link.connect(
                address, on_pdus=recorder.on_pdus, on_closed=recorder.on_closed
            )
        assert recorder.close_count == 0

    run(scenario)


class SessionEnd:
    """An H245Session driven by a link: the pump an H.323 leg would run."""

    def __init__(self) -> None:
        self.session = H245Session()
        self.events: list[H245Event] = []
        self.link: H245Link | None = None
        self.outgoing: list[bytes] = []
        self.changed = asyncio.Event()
        self.closed = asyncio.Event()

    def on_pdus(self, pdus: list[bytes], now: float) -> None:
        for pdu in pdus:
            self.session.receive_message(pdu, now)
        self.pump()

    def on_closed(self) -> None:
        self.closed.set()

    def pump(self) -> None:
        # PDUs may arrive while connect() is still returning the link.
        self.events += self.session.pop_events()
        self.outgoing += self.session.pop_outgoing()
        if self.outgoing and self.link is not None:
            assert self.link.send(self.outgoing)
            self.outgoing = []
        self.changed.set()

    def start(self, now: float) -> None:
        plan = h245_capabilities_from_streams(
            [
                StreamDescription(
                    kind=MediaKind.AUDIO,
                    formats=(
                        MediaFormat(name="PCMU", clock_rate=8000, payload_type=0),
                    ),
                )
            ]
        )
        self.session.start(
            now,
            capability_table=[(e.number, e.capability) for e in plan.entries],
            capability_descriptors=plan.capability_descriptors(),
        )
        self.pump()

    async def wait_for(self, kind: type[H245Event]) -> H245Event:
        deadline = asyncio.get_running_loop().time() + TIMEOUT_S
        while True:
            for event in self.events:
                if isinstance(event, kind):
                    return event
            self.changed.clear()
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, f"no {kind.__name__}: {self.events}"
            await asyncio.wait_for(self.changed.wait(), remaining)


def test_two_sessions_negotiate_over_a_link_pair() -> None:
    """Listen + connect carry TCS, MSD, an OLC and endSessionCommand both ways.

    The caller side starts before the callee connected, so its PDUs wait in
    the listener's queue; both sides then see their capabilities
    acknowledged and opposite master/slave results, and the end of the
    session closes both links without an error.
    """

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        caller, callee = SessionEnd(), SessionEnd()
        caller.link = await H245Link.listen(
            HOST, on_pdus=caller.on_pdus, on_closed=caller.on_closed
        )
        caller.start(loop.time())
        callee.link = await H245Link.connect(
            TransportAddress(host=HOST, port=caller.link.address.port),
            on_pdus=callee.on_pdus,
            on_closed=callee.on_closed,
        )
        callee.pump()
        callee.start(loop.time())
        for side in (caller, callee):
            await side.wait_for(CapabilitiesAcknowledged)
        results = []
        for side in (caller, callee):
            determined = await side.wait_for(MasterSlaveDetermined)
            assert isinstance(determined, MasterSlaveDetermined)
            results.append(determined.is_master)
        assert sorted(results) == [False, True]
        callee.session.open_channel(
            1,
            data_type=data_type_for(
                MediaFormat(name="PCMU", clock_rate=8000, payload_type=0)
            ),
            parameters=H2250Parameters(
                session_id=1, media_control=TransportAddress(host=HOST, port=40001)
            ),
            now=loop.time(),
        )
        callee.pump()
        caller.session.end_session(loop.time())
        caller.pump()
        ended = await callee.wait_for(SessionEnded)
        assert isinstance(ended, SessionEnded) and ended.is_peer_initiated
        await caller.wait_for(SessionEnded)
        callee.link.close()
        await asyncio.wait_for(caller.closed.wait(), TIMEOUT_S)
        assert caller.link.error is None
        await asyncio.wait_for(callee.link.wait_closed(), TIMEOUT_S)
        assert not callee.closed.is_set()  # Our own close reports nothing.

    run(scenario)
