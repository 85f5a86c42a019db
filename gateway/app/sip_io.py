"""SIP transports on asyncio: TLS and TCP streams, UDP datagrams.

Each stream connection is a flow (RFC 5626): it carries the verified site
identity of its client certificate, answers CRLF keep-alive pings, and hands
complete parsed messages to the service. Framing errors close the connection;
a message that frames but does not parse gets its 4xx when it is a request.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gateway.errors import PkiError
from gateway.pki.identity import site_identity_from_der
from gateway.sip.errors import RemoteSipError
from gateway.sip.framing import KeepAlive, StreamFramer
from gateway.sip.message import SipMessage, SipRequest, make_response
from gateway.sip.parse import SipLimits, parse_message
from gateway.sip.registrar import PeerIdentity
from gateway.sip.serialize import serialize
from gateway.sip.uri import SipUri, parse_uri

_flow_numbers = itertools.count(1)


@dataclass(eq=False)
class Connection:
    """One flow: a TLS/TCP connection, or a UDP peer address on a listener."""

    flow_id: str
    transport: str
    peer: tuple[str, int]
    identity: PeerIdentity | None = None
    local: tuple[str, int] = ("0.0.0.0", 0)
    tls_version: str = ""
    tls_cipher: str = ""
    _write: Callable[[bytes], None] | None = None
    _close: Callable[[], None] | None = None
    is_closed: bool = False

    @property
    def is_secure(self) -> bool:
        return self.transport == "TLS"

    @property
    def peer_text(self) -> str:
        return _host_port(self.peer)

    @property
    def local_text(self) -> str:
        """Our end of the flow, as a Via sent-by or Contact host:port."""
        return _host_port(self.local)

    def send(self, message: SipMessage) -> None:
        """Serialise and write; silently ignored once the flow is closed."""
        if not self.is_closed and self._write is not None:
            self._write(serialize(message))

    def send_raw(self, data: bytes) -> None:
        if not self.is_closed and self._write is not None:
            self._write(data)

    def close(self) -> None:
        if not self.is_closed and self._close is not None:
            self._close()


def _host_port(address: tuple[str, int]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class MessageSink(Protocol):
    """What the transports deliver to (the SIP service)."""

    def on_connection_made(self, connection: Connection) -> None: ...

    def on_message(self, message: SipMessage, connection: Connection) -> None: ...

    def on_connection_lost(self, connection: Connection, reason: str) -> None: ...

    def on_bad_input(self, connection: Connection, reason: str) -> None: ...


def identity_from_ssl(ssl_object: ssl.SSLObject | None) -> PeerIdentity | None:
    """Site identity of the verified client certificate, or None."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        found = site_identity_from_der(der)
    except PkiError:
        return None
    return PeerIdentity(
        site=found.site, domain=found.domain, cert_serial=found.serial_hex
    )


def answer_unparsable(
    data: bytes, error: RemoteSipError, connection: Connection
) -> bool:
    """Send the error status for a request that framed but did not parse.

    We can only answer when the headers a response copies are readable; a
    lenient re-parse with no limits on semantics is not attempted, so this
    answers with a minimal response built from the raw header lines.
    """
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    lines = head.split("\r\n")
    if not lines or lines[0].startswith("SIP/"):
        return False  # Responses are never answered.
    wanted = ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")
    kept = [
        line for line in lines[1:] if line.split(":", 1)[0].strip().lower() in wanted
    ]
    if len(kept) < 5:
        return False
    response = (
        f"SIP/2.0 {error.status} {error.reason}\r\n"
        + "\r\n".join(kept)
        + "\r\nContent-Length: 0\r\n\r\n"
    )
    connection.send_raw(response.encode("utf-8"))
    return True


class SipStreamProtocol(asyncio.Protocol):
    """TLS or TCP SIP connection."""

    def __init__(
        self, sink: MessageSink, limits: SipLimits, transport_name: str
    ) -> None:
        self._sink = sink
        self._limits = limits
        self._framer = StreamFramer(limits)
        self._transport_name = transport_name
        self._transport: asyncio.Transport | None = None
        self.connection: Connection | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; duck-type.
        transport = typing.cast(asyncio.Transport, transport)
        self._transport = transport
        peer = transport.get_extra_info("peername") or ("?", 0)
        local = transport.get_extra_info("sockname") or ("0.0.0.0", 0)
        ssl_object = transport.get_extra_info("ssl_object")
        connection = Connection(
            flow_id=f"{self._transport_name.lower()}-{next(_flow_numbers)}",
            transport=self._transport_name,
            peer=(str(peer[0]), int(peer[1])),
            local=(str(local[0]), int(local[1])),
            identity=identity_from_ssl(ssl_object),
            _write=transport.write,
            _close=transport.close,
        )
        if ssl_object is not None:
            cipher = ssl_object.cipher()
            connection.tls_version = ssl_object.version() or ""
            connection.tls_cipher = cipher[0] if cipher else ""
        self.connection = connection
        self._sink.on_connection_made(connection)

    def data_received(self, data: bytes) -> None:
        connection = self.connection
        assert connection is not None
        try:
            items = self._framer.receive_data(data)
        except RemoteSipError as exc:
            self._sink.on_bad_input(connection, f"framing: {exc}")
            connection.close()
            return
        for item in items:
            if isinstance(item, KeepAlive):
                if item.is_ping:
                    connection.send_raw(b"\r\n")  # RFC 5626 §4.4.1 pong
                continue
            self._deliver(item, connection)

    def _deliver(self, data: bytes, connection: Connection) -> None:
        try:
            message = parse_message(data, self._limits, stream=True)
        except RemoteSipError as exc:
            self._sink.on_bad_input(connection, str(exc))
            if not answer_unparsable(data, exc, connection):
                connection.close()  # Unanswerable junk: framing is not trustworthy.
            return
        self._sink.on_message(message, connection)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.connection is not None:
            self.connection.is_closed = True
            reason = "closed by peer" if exc is None else f"error: {exc}"
            self._sink.on_connection_lost(self.connection, reason)


class SipDatagramProtocol(asyncio.DatagramProtocol):
    """UDP SIP listener: each source address is a pseudo-flow without identity."""

    def __init__(self, sink: MessageSink, limits: SipLimits) -> None:
        self._sink = sink
        self._limits = limits
        self._transport: asyncio.DatagramTransport | None = None
        self._flows: dict[tuple[str, int], Connection] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = typing.cast(asyncio.DatagramTransport, transport)

    def flow_to(self, addr: tuple[str, int]) -> Connection:
        """The pseudo-flow to a UDP peer address (made on first use)."""
        connection = self._flows.get(addr)
        if connection is None:
            transport = self._transport
            assert transport is not None
            local = transport.get_extra_info("sockname") or ("0.0.0.0", 0)
            connection = Connection(
                flow_id=f"udp-{addr[0]}:{addr[1]}",
                transport="UDP",
                peer=addr,
                local=(str(local[0]), int(local[1])),
                _write=lambda data: transport.sendto(data, addr),
            )
            if len(self._flows) > 10_000:
                self._flows.clear()  # Bounded memory under address scans.
            self._flows[addr] = connection
        return connection

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.strip(b"\r\n") == b"":
            return  # Keep-alive.
        connection = self.flow_to((str(addr[0]), int(addr[1])))
        try:
            message = parse_message(data, self._limits)
        except RemoteSipError as exc:
            self._sink.on_bad_input(connection, str(exc))
            answer_unparsable(data, exc, connection)
            return
        self._sink.on_message(message, connection)


def contact_address(contact: str) -> tuple[str, int]:
    """Host and port to connect to for a registered TLS contact URI."""
    uri = parse_uri(contact)
    if not isinstance(uri, SipUri):
        raise RemoteSipError(f"contact {contact} is not a sip/sips URI")
    default = (
        5061 if uri.scheme == "sips" or (uri.transport or "").lower() == "tls" else 5060
    )
    return uri.host.strip("[]"), uri.port or default


def request_summary(request: SipRequest) -> dict[str, str]:
    """Fields that identify a request in a log line."""
    return {"method": request.method, "call_id": request.call_id}


__all__ = [
    "Connection",
    "MessageSink",
    "SipDatagramProtocol",
    "SipStreamProtocol",
    "answer_unparsable",
    "identity_from_ssl",
    "make_response",
    "request_summary",
]
