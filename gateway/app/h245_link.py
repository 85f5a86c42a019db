"""A separate H.245 control connection on asyncio (H.323 sections 8.2.3 and 8.2.4).

When H.245 is not tunnelled in H.225.0, it runs on its own TCP connection,
one H.245 PDU per TPKT (RFC 1006, H.323 section 8.2.3).  One side listens at
the address it gives in ``h245Address`` (Setup, Call Proceeding, Alerting,
Progress, Connect) or Facility ``startH245``; the other connects to it.
:class:`H245Link` is either end, for both call directions: it frames the PDUs
the sans-IO :class:`~gateway.h323.h245.H245Session` produces and hands the
received ones to a callback.  Closing the connection ends the call (H.323
8.2.4); that decision belongs to the owner, which :attr:`H245Link.on_closed`
tells.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, cast

from gateway.h323.codec import TransportAddress
from gateway.h323.errors import RemoteH323Error
from gateway.h323.tpkt import TpktFramer, encode_tpkt

__all__ = ["H245Link"]

PduHandler = Callable[[list[bytes], float], None]
"""``on_pdus(pdus, now)``: whole H.245 PDUs (TPKT payloads) in received order."""
ClosedHandler = Callable[[], None]
"""``on_closed()``: the connection is gone, or never came (see H245Link)."""


class H245Link:
    """One TCP connection carrying TPKT-framed H.245 PDUs (H.323 section 8.2.3).

    Make one with :meth:`listen` or :meth:`connect`, never directly.
    ``on_pdus(pdus, now)`` gets received PDUs (``now`` is monotonic
    seconds); ``on_closed()`` is called once when the peer closes, the
    connection fails, a broken TPKT arrives (then :attr:`error` says why and
    the connection is closed), or a listener saw no connection in time.  It
    is not called after :meth:`close`.  The optional ``on_connected()`` tells
    when a listener's peer connected.  All three are attributes, so the owner
    may set them after the link exists.  An exception raised by a callback is
    the owner's bug: asyncio logs it and closes the connection.
    """

    def __init__(
        self,
        *,
        address: TransportAddress,
        on_pdus: PduHandler,
        on_closed: ClosedHandler,
        log: Any = None,
        max_pdu_size_bytes: int = 16384,
        max_queued_pdus: int = 256,
    ) -> None:
        self.address = address
        self.on_pdus = on_pdus
        self.on_closed = on_closed
        self.on_connected: Callable[[], None] | None = None
        self.error: str | None = None
        self.local: tuple[str, int] | None = None
        self.peer: tuple[str, int] | None = None
        self._log = log
        self._framer = TpktFramer(max_pdu_size_bytes=max_pdu_size_bytes)
        self._max_queued = max_queued_pdus
        self._queued: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._server: asyncio.Server | None = None
        self._accept_timer: asyncio.TimerHandle | None = None
        self._is_closed = False
        self._has_connected = False
        self._closed = asyncio.Event()

    # -- making a link -----------------------------------------------------------

    @classmethod
    async def listen(
        cls,
        host: str,
        *,
        on_pdus: PduHandler,
        on_closed: ClosedHandler,
        port: int = 0,
        accept_timeout_s: float = 30.0,
        log: Any = None,
        max_pdu_size_bytes: int = 16384,
    ) -> H245Link:
        """Listen on ``host`` (an ephemeral port unless ``port``) for one peer.

        :attr:`address` is where we listen: the value for h245Address or
        startH245.  The first connection is kept and the listener closed;
        without one within ``accept_timeout_s`` the link closes and reports
        ``on_closed``.  PDUs sent before the peer connects are queued.
        Raises OSError when the port cannot be bound.
        """
        loop = asyncio.get_running_loop()
        link = cls(
            address=TransportAddress(host=host, port=port),
            on_pdus=on_pdus,
            on_closed=on_closed,
            log=log,
            max_pdu_size_bytes=max_pdu_size_bytes,
        )
        server = await loop.create_server(lambda: _Protocol(link), host, port)
        bound = server.sockets[0].getsockname()
        link.address = TransportAddress(host=str(bound[0]), port=int(bound[1]))
        link._server = server
        link._accept_timer = loop.call_later(accept_timeout_s, link._accept_timed_out)
        return link

    @classmethod
    async def connect(
        cls,
        address: TransportAddress,
        *,
        on_pdus: PduHandler,
        on_closed: ClosedHandler,
        connect_timeout_s: float = 5.0,
        log: Any = None,
        max_pdu_size_bytes: int = 16384,
    ) -> H245Link:
        """Connect to the peer's h245Address; :attr:`address` is that address.

        Raises OSError (TimeoutError after ``connect_timeout_s``) when the
        connection cannot be made; nothing is reported then.
        """
        loop = asyncio.get_running_loop()
        link = cls(
            address=address,
            on_pdus=on_pdus,
            on_closed=on_closed,
            log=log,
            max_pdu_size_bytes=max_pdu_size_bytes,
        )
        await asyncio.wait_for(
            loop.create_connection(lambda: _Protocol(link), address.host, address.port),
            connect_timeout_s,
        )
        return link

    # -- using it ------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        """True while the connection is up and not closing."""
        return self._transport is not None and not self._is_closed

    @property
    def has_connected(self) -> bool:
        """True once a connection was made (it may have closed since)."""
        return self._has_connected

    @property
    def is_closed(self) -> bool:
        """True once closed by either side (or never connected in time)."""
        return self._is_closed

    def send(self, pdus: list[bytes]) -> bool:
        """Write each encoded H.245 PDU in its own TPKT (RFC 1006 section 6).

        Before a listener's peer connects the PDUs are queued (at most
        ``max_queued_pdus``).  Returns False, sending nothing, once the link
        is closed or the queue is full.  Raises LocalH323Error for a PDU too
        large for one TPKT.
        """
        if self._is_closed:
            return False
        framed = [encode_tpkt(pdu) for pdu in pdus]
        if self._transport is None:
            if len(self._queued) + len(framed) > self._max_queued:
                return False
            self._queued.extend(framed)
            return True
        self._transport.write(b"".join(framed))
        return True

    def close(self) -> list[bytes]:
        """Close the connection (written PDUs are flushed first) or the listener.

        Idempotent; ``on_closed`` is not called.  Returns the PDUs queued
        for a peer that never connected, so the owner can send them another
        way.
        """
        unsent = [framed[4:] for framed in self._queued]
        self._queued.clear()
        if not self._is_closed:
            self._is_closed = True
            self._stop_listening()
            if self._transport is not None:
                self._transport.close()
            else:
                self._closed.set()
        return unsent

    async def wait_closed(self) -> None:
        """Wait until the connection (if one was made) is fully closed."""
        await self._closed.wait()

    # -- the protocol's side -------------------------------------------------------

    def _connection_made(self, transport: asyncio.Transport) -> bool:
        """Keep the first connection; refuse any other (one peer per link)."""
        if self._transport is not None or self._is_closed:
            transport.close()
            return False
        self._transport = transport
        self._has_connected = True
        self._stop_listening()
        peer = transport.get_extra_info("peername") or ("?", 0)
        local = transport.get_extra_info("sockname") or ("?", 0)
        self.peer = (str(peer[0]), int(peer[1]))
        self.local = (str(local[0]), int(local[1]))
        self._info("h245.link.connected", local=self.local, peer=self.peer)
        if self._queued:
            transport.write(b"".join(self._queued))
            self._queued.clear()
        if self.on_connected is not None:
            self.on_connected()
        return True

    def _data_received(self, data: bytes) -> None:
        if self._is_closed:
            return
        try:
            payloads = self._framer.receive_data(data)
        except RemoteH323Error as exc:
            # The stream cannot be resynchronised after a broken TPKT header.
            self._fail(f"bad TPKT: {exc}")
            return
        # An empty TPKT carries no PDU; some stacks send them as keep-alives.
        pdus = [payload for payload in payloads if payload]
        if pdus:
            self.on_pdus(pdus, time.monotonic())

    def _eof_received(self) -> None:
        if self._framer.buffered_size_bytes and self.error is None:
            self.error = "connection closed inside a TPKT"

    def _connection_lost(self, exc: Exception | None) -> None:
        self._closed.set()
        if self._is_closed:
            return
        self._is_closed = True
        if exc is not None and self.error is None:
            self.error = str(exc) or type(exc).__name__
        self._info("h245.link.closed", error=self.error, peer=self.peer)
        self.on_closed()

    def _fail(self, reason: str) -> None:
        """Close after a protocol error and tell the owner."""
        self.error = reason
        if self._log is not None:
            self._log.warning("h245.link.failed", error=reason, peer=self.peer)
        if self._transport is not None:
            # connection_lost follows and calls on_closed.
            self._transport.abort()
        else:
            self._connection_lost(None)

    def _accept_timed_out(self) -> None:
        self._accept_timer = None
        if self._transport is None and not self._is_closed:
            self._stop_listening()
            self._fail("no H.245 connection in time")

    def _stop_listening(self) -> None:
        if self._accept_timer is not None:
            self._accept_timer.cancel()
            self._accept_timer = None
        if self._server is not None:
            self._server.close()
            self._server = None

    def _info(self, event: str, **fields: Any) -> None:
        if self._log is not None:
            self._log.info(event, **fields)


class _Protocol(asyncio.Protocol):
    """Feeds one TCP connection's bytes to its :class:`H245Link`."""

    def __init__(self, link: H245Link) -> None:
        self._link = link
        self._is_ours = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; duck-type.
        self._is_ours = self._link._connection_made(cast(asyncio.Transport, transport))

    def data_received(self, data: bytes) -> None:
        if self._is_ours:
            self._link._data_received(data)

    def eof_received(self) -> bool | None:
        if self._is_ours:
            self._link._eof_received()
        return None  # Close our side too: H.245 needs both directions.

    def connection_lost(self, exc: Exception | None) -> None:
        if self._is_ours:
            self._link._connection_lost(exc)
