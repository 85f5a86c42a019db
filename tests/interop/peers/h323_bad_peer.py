"""A misbehaving H.323 endpoint, as a separate process, for robustness tests.

It breaks H.225.0 call signalling on purpose (issue #5) and records how the
other side copes.  Two modes, one TCP connection each, on 127.0.0.1:

* answer (``--port P``): accept one connection, read the Setup, answer it
  with the malformed reply chosen by ``--fault``;
* call (``--call HOST:PORT``): connect and send a malformed Setup, or a
  good Setup followed by a malformed message.

Faults (``--fault``), as the callee / as the caller:

* ``truncated-tpkt``: a Call Proceeding / the Setup cut 6 octets short of
  its TPKT length, then our half of the connection is closed;
* ``zero-ie``: an Alerting / a Setup with a zero-length Display and a
  zero-length User-User IE;
* ``overlong-ie``: an Alerting / a Setup whose Display IE length runs past
  the end of the message;
* ``bad-per``: an Alerting / a Setup whose User-User IE holds H.225.0 PER
  that does not decode;
* ``out-of-order``: a valid Alerting then a valid Call Proceeding / a valid
  Setup then a Connect from the caller;
* ``bad-h245``: a valid Connect refusing Fast Start / a valid Setup, then a
  Facility, tunnelling an undecodable H.245 PDU and a TerminalCapabilitySet
  whose descriptor names an undefined table entry.

Everything the other side sends afterwards is decoded with the gateway's
own codec and printed, one JSON object per line on stdout, until it closes
the connection or ``--wait`` seconds pass; then the peer exits 0 (1 if what
it received did not decode).  ``--lifetime`` bounds the whole run.

    python -m tests.interop.peers.h323_bad_peer --port 17200 --fault bad-per
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.h323 import codec, q931
from gateway.h323 import h245_messages as build
from gateway.h323.call import H225Call
from gateway.h323.codec import EndpointInfo, H225Kind, H225Message
from gateway.h323.errors import RemoteH323Error
from gateway.h323.q931 import IeId, MessageType
from gateway.h323.tpkt import TpktFramer, encode_tpkt

HOST = "127.0.0.1"
FAULTS = (
    "truncated-tpkt",
    "zero-ie",
    "overlong-ie",
    "bad-per",
    "out-of-order",
    "bad-h245",
)
READ_SIZE_BYTES = 65536
UNDECODABLE_H245 = b"\x1f\xff\xff\xff"
UNDECODABLE_PER = b"\x20\xff\xff\xff\xff\xff\xff"


def emit(**fields: Any) -> None:
    print(json.dumps(fields, sort_keys=True), flush=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """The call the malformed messages pretend to belong to."""

    call_reference: int
    is_from_destination: bool
    call_identifier: bytes
    conference_id: bytes


# -- building messages -------------------------------------------------------------


def header(call: Call, message_type: MessageType) -> bytes:
    """Protocol discriminator, 2-octet call reference with our flag, type."""
    flag = 0x8000 if call.is_from_destination else 0
    return (
        bytes((q931.PROTOCOL_DISCRIMINATOR, 2))
        + (call.call_reference | flag).to_bytes(2, "big")
        + bytes((message_type,))
    )


def user_user(contents: bytes) -> bytes:
    """A User-User IE (2-octet length, H.225.0 section 7.2.2.11)."""
    return bytes((IeId.USER_USER,)) + len(contents).to_bytes(2, "big") + contents


def body(call: Call, kind: H225Kind, **fields: Any) -> bytes:
    """User-User contents of a valid ``kind`` body for ``call``."""
    if "endpoint" not in fields and kind is not H225Kind.FACILITY:
        fields["endpoint"] = EndpointInfo(product_id=b"bad-peer", is_gateway=False)
    return codec.encode_h225(
        H225Message(kind=kind, call_identifier=call.call_identifier, **fields)
    )


def valid(call: Call, kind: H225Kind, **fields: Any) -> bytes:
    """A well-formed TPKT-framed message of ``kind``."""
    message_type = codec.Q931_TYPE_BY_KIND[kind]
    return encode_tpkt(
        header(call, message_type) + user_user(body(call, kind, **fields))
    )


def undecodable_per(call: Call) -> bytes:
    """User-User contents: discriminator 5, then PER that must not decode."""
    contents = bytes((codec.USER_USER_PROTOCOL_DISCRIMINATOR,)) + UNDECODABLE_PER
    try:
        codec.decode_h225(contents)
    except RemoteH323Error:
        return contents
    raise AssertionError("the bad PER decoded after all")


def bad_h245_pdus() -> tuple[bytes, ...]:
    """An undecodable PDU, and a TCS whose descriptor uses entry 9 of 1."""
    try:
        codec.decode_h245(UNDECODABLE_H245)
    except RemoteH323Error:
        pass
    else:
        raise AssertionError("the bad H.245 decoded after all")
    tcs = build.terminal_capability_set(
        sequence_number=1,
        capability_table=[(1, ("receiveAudioCapability", ("g711Ulaw64k", 20)))],
        capability_descriptors=[
            {"capabilityDescriptorNumber": 0, "simultaneousCapabilities": [[1, 9]]}
        ],
    )
    return UNDECODABLE_H245, codec.encode_h245(tcs)


def kind_of(call: Call, *, answer: H225Kind, setup: H225Kind) -> H225Kind:
    return answer if call.is_from_destination else setup


def first_kind(call: Call) -> H225Kind:
    return kind_of(call, answer=H225Kind.ALERTING, setup=H225Kind.SETUP)


def fields_of(call: Call, kind: H225Kind) -> dict[str, Any]:
    if kind in (H225Kind.SETUP, H225Kind.CONNECT):
        return {"conference_id": call.conference_id, "h245_tunnelling": True}
    return {"h245_tunnelling": True}


def truncated_tpkt(call: Call) -> list[bytes]:
    kind = kind_of(call, answer=H225Kind.CALL_PROCEEDING, setup=H225Kind.SETUP)
    return [valid(call, kind, **fields_of(call, kind))[:-6]]


def zero_ie(call: Call) -> list[bytes]:
    kind = first_kind(call)
    message_type = codec.Q931_TYPE_BY_KIND[kind]
    return [encode_tpkt(header(call, message_type) + b"\x28\x00" + user_user(b""))]


def overlong_ie(call: Call) -> list[bytes]:
    kind = first_kind(call)
    uu = user_user(body(call, kind, **fields_of(call, kind)))
    display = b"\x28\xff" + b"bad-peer"  # 255 octets claimed, far fewer follow
    assert len(uu) + 8 < 0xFF
    message_type = codec.Q931_TYPE_BY_KIND[kind]
    return [encode_tpkt(header(call, message_type) + display + uu)]


def bad_per(call: Call) -> list[bytes]:
    message_type = codec.Q931_TYPE_BY_KIND[first_kind(call)]
    return [encode_tpkt(header(call, message_type) + user_user(undecodable_per(call)))]


def out_of_order(call: Call) -> list[bytes]:
    if call.is_from_destination:
        return [
            valid(call, H225Kind.ALERTING, h245_tunnelling=True),
            valid(call, H225Kind.CALL_PROCEEDING, h245_tunnelling=True),
        ]
    # A caller answering its own Setup.
    return [valid(call, H225Kind.CONNECT, **fields_of(call, H225Kind.CONNECT))]


def bad_h245(call: Call) -> list[bytes]:
    pdus = bad_h245_pdus()
    if call.is_from_destination:
        fields = fields_of(call, H225Kind.CONNECT)
        return [valid(call, H225Kind.CONNECT, h245_control=pdus, **fields)]
    return [
        valid(
            call,
            H225Kind.FACILITY,
            h245_tunnelling=True,
            h245_control=pdus,
            facility_reason="transportedInformation",
        )
    ]


BUILDERS: dict[str, Callable[[Call], list[bytes]]] = {
    "truncated-tpkt": truncated_tpkt,
    "zero-ie": zero_ie,
    "overlong-ie": overlong_ie,
    "bad-per": bad_per,
    "out-of-order": out_of_order,
    "bad-h245": bad_h245,
}


# -- recording what comes back ---------------------------------------------------------


def describe(payload: bytes) -> dict[str, Any]:
    """One received Q.931 message as JSON fields (raises if it is broken)."""
    message = q931.decode(payload)
    fields: dict[str, Any] = {
        "message": message.message_type.name,
        "call_reference": message.call_reference,
        "is_from_destination": message.is_from_destination,
        "hex": payload.hex(),
    }
    cause = message.cause
    if cause is not None:
        fields["cause"] = cause.value
    if message.user_user is None:
        raise ValueError(f"{message.message_type.name} without User-User IE")
    h225 = codec.decode_h225(message.user_user)
    fields["body"] = h225.kind.value
    if h225.release_reason is not None:
        fields["release_reason"] = h225.release_reason
    pdus = [codec.decode_h245(pdu) for pdu in h225.h245_control]
    fields["h245"] = [{"name": pdu.name, "body": _jsonable(pdu.body)} for pdu in pdus]
    return fields


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class Connection:
    """A TCP connection with a TPKT framer and a deadline on every read."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self.framer = TpktFramer(max_pdu_size_bytes=0xFFFF)
        self.payloads: list[bytes] = []
        self.is_closed = False

    def next_payload(self, deadline: float) -> bytes | None:
        """The next TPKT payload, or None at EOF or past ``deadline``."""
        while not self.payloads:
            remaining = min(deadline, self.deadline) - time.monotonic()
            if self.is_closed or remaining <= 0:
                return None
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(READ_SIZE_BYTES)
            except TimeoutError:
                return None
            except OSError as exc:
                emit(event="connection_error", error=str(exc))
                self.is_closed = True
                return None
            if not data:
                self.is_closed = True
                emit(event="closed")
                return None
            self.payloads += self.framer.receive_data(data)
        return self.payloads.pop(0)

    def send(self, frames: list[bytes], *, half_close: bool) -> None:
        # One write: a peer racing ahead puts its messages in one segment,
        # so the other side reads them together (Setup and Connect, say).
        self.sock.sendall(b"".join(frames))
        if half_close:
            self.sock.shutdown(socket.SHUT_WR)


def record(connection: Connection, wait_s: float) -> int:
    """Print everything received until EOF or ``wait_s``; 1 if any is broken."""
    code = 0
    deadline = time.monotonic() + wait_s
    while (payload := connection.next_payload(deadline)) is not None:
        try:
            emit(event="received", **describe(payload))
        except (RemoteH323Error, ValueError) as exc:
            emit(event="undecodable", error=str(exc), hex=payload.hex())
            code = 1
    if not connection.is_closed:
        emit(event="timeout", wait_s=wait_s)
    return code


# -- the two modes --------------------------------------------------------------------


def answer(args: argparse.Namespace, deadline: float) -> int:
    with socket.create_server((HOST, args.port)) as server:
        emit(event="listening", port=args.port, fault=args.fault)
        server.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            sock, peer = server.accept()
        except TimeoutError:
            emit(event="no_call")
            return 0
    with sock:
        connection = Connection(sock, deadline)
        payload = connection.next_payload(deadline)
        if payload is None:
            emit(event="no_setup")
            return 1
        setup = q931.decode(payload)
        assert setup.user_user is not None
        h225 = codec.decode_h225(setup.user_user)
        called = setup.called_party_number
        emit(
            event="setup",
            peer=f"{peer[0]}:{peer[1]}",
            message=setup.message_type.name,
            call_reference=setup.call_reference,
            called=None if called is None else called.digits,
            fast_start=h225.fast_start is not None,
        )
        call = Call(
            call_reference=setup.call_reference,
            is_from_destination=True,
            call_identifier=h225.call_identifier or bytes(16),
            conference_id=h225.conference_id or bytes(16),
        )
        frames = BUILDERS[args.fault](call)
        connection.send(frames, half_close=args.fault == "truncated-tpkt")
        emit(event="sent", fault=args.fault, frames=[f.hex() for f in frames])
        return record(connection, args.wait)


def place_call(args: argparse.Namespace, deadline: float) -> int:
    host, _, port = args.call.rpartition(":")
    caller = H225Call(is_outgoing=True)
    caller.setup(time.monotonic(), called_number=args.called, calling_number="666")
    (good_setup,) = caller.pop_outgoing()
    assert caller.call_reference is not None and caller.call_identifier is not None
    call = Call(
        call_reference=caller.call_reference,
        is_from_destination=False,
        call_identifier=caller.call_identifier,
        conference_id=caller.conference_id or bytes(16),
    )
    frames = BUILDERS[args.fault](call)
    if args.fault in ("out-of-order", "bad-h245"):
        frames = [good_setup, *frames]
    with socket.create_connection((host, int(port)), timeout=args.wait) as sock:
        connection = Connection(sock, deadline)
        connection.send(frames, half_close=args.fault == "truncated-tpkt")
        emit(event="sent", fault=args.fault, frames=[f.hex() for f in frames])
        return record(connection, args.wait)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--port", type=int, help="answer one call on this port")
    mode.add_argument("--call", help="HOST:PORT to call")
    parser.add_argument("--fault", choices=FAULTS, required=True)
    parser.add_argument("--called", default="1001", help="number to call")
    parser.add_argument(
        "--wait", type=float, default=15.0, help="seconds to record replies"
    )
    parser.add_argument(
        "--lifetime", type=float, default=60.0, help="seconds before giving up"
    )
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.lifetime
    code = (
        answer(args, deadline) if args.port is not None else place_call(args, deadline)
    )
    emit(event="exit", code=code)
    return code


if __name__ == "__main__":
    sys.exit(main())
