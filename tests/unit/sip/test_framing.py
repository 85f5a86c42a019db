"""Tests for gateway.sip.framing (RFC 3261 §18.3, RFC 5626 §4.4.1)."""

from __future__ import annotations

import pytest

from gateway.sip.errors import RemoteSipError
from gateway.sip.framing import KeepAlive, StreamFramer
from gateway.sip.parse import SipLimits, parse_message


def message(body: bytes = b"", length_name: str = "Content-Length") -> bytes:
    head = (
        "OPTIONS sip:gw.example.vn SIP/2.0\r\n"
        "Via: SIP/2.0/TLS 192.0.2.9:5061;branch=z9hG4bK7\r\n"
        "Max-Forwards: 70\r\n"
        "To: <sip:gw.example.vn>\r\n"
        "From: <sip:site9@example.vn>;tag=9\r\n"
        "Call-ID: k1@192.0.2.9\r\n"
        "CSeq: 7 OPTIONS\r\n"
        f"{length_name}: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


PING = KeepAlive(is_ping=True)
PONG = KeepAlive(is_ping=False)
STREAM = (
    b"\r\n\r\n"
    + message(b"hello")
    + b"\r\n"
    + message(length_name="l")
    + message(b"\r\n\r\n")
    + b"\r\n\r\n"
)
EXPECTED: list[bytes | KeepAlive] = [
    PING,
    message(b"hello"),
    PONG,
    message(length_name="l"),
    message(b"\r\n\r\n"),
    PING,
]


def feed(framer: StreamFramer, data: bytes, step: int) -> list[bytes | KeepAlive]:
    items: list[bytes | KeepAlive] = []
    for index in range(0, len(data), step):
        items += framer.receive_data(data[index : index + step])
    return items


@pytest.mark.parametrize("step", [len(STREAM), 1, 2, 3, 7, 64])
def test_same_items_whatever_the_split(step: int) -> None:
    """Whole, byte by byte or in odd chunks, the framer yields the same items."""
    framer = StreamFramer()
    assert feed(framer, STREAM, step) == EXPECTED
    assert framer.buffered_bytes == 0


def test_framed_messages_parse_as_stream() -> None:
    """Each framed message parses with stream=True."""
    for item in StreamFramer().receive_data(STREAM):
        if isinstance(item, bytes):
            parse_message(item, stream=True)


def test_trailing_partial_message_is_held() -> None:
    """Bytes of an incomplete message stay buffered until the rest arrives."""
    framer = StreamFramer()
    whole = message(b"0123456789")
    assert framer.receive_data(whole + whole[:20]) == [whole]
    assert framer.buffered_bytes == 20
    assert framer.receive_data(whole[20:-1]) == []
    assert framer.receive_data(whole[-1:]) == [whole]


def test_body_waits_for_content_length() -> None:
    """A message is not returned until Content-Length body bytes are in."""
    framer = StreamFramer()
    whole = message(b"body!")
    assert framer.receive_data(whole[:-2]) == []
    assert framer.receive_data(whole[-2:]) == [whole]


def test_lone_crlf_waits_on_the_server_side() -> None:
    """Server side: a final CRLF may start a ping, so it is held."""
    framer = StreamFramer()
    assert framer.receive_data(b"\r\n") == []
    assert framer.receive_data(b"\r\n") == [PING]
    assert framer.receive_data(b"\r\n") == []
    assert framer.receive_data(message()) == [PONG, message()]


def test_pong_reported_at_once_on_the_client_side() -> None:
    """Client side (we send pings): a lone CRLF is a pong immediately."""
    framer = StreamFramer(sends_pings=True)
    assert framer.receive_data(b"\r\n") == [PONG]
    assert framer.receive_data(b"\r\n") == [PONG]
    assert framer.receive_data(b"\r\n\r\n") == [PING]


def test_missing_content_length_is_an_error() -> None:
    """Content-Length is mandatory on streams (§20.14)."""
    data = message().replace(b"Content-Length: 0\r\n", b"")
    with pytest.raises(RemoteSipError):
        StreamFramer().receive_data(data)


@pytest.mark.parametrize(
    "bad",
    [
        message().replace(b"Content-Length: 0", b"Content-Length: -1"),
        message().replace(b"Content-Length: 0", b"Content-Length: 0\r\nl: 0"),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"\r\nX\x00",
        b"\rX",
        b"INVITE sip:a@b SIP/2.0 extra\r\n",
    ],
)
def test_garbage_raises(bad: bytes) -> None:
    """Garbage, TLS on a TCP port or a bad Content-Length raise RemoteSipError."""
    with pytest.raises(RemoteSipError) as info:
        StreamFramer().receive_data(bad)
    assert info.value.status == 400


def test_size_limits() -> None:
    """Oversized headers give 513, an oversized Content-Length 413."""
    limits = SipLimits(max_message_bytes=300, max_header_value_bytes=100)
    with pytest.raises(RemoteSipError) as info:
        StreamFramer(limits).receive_data(message(b"x" * 100))
    assert info.value.status == 513
    with pytest.raises(RemoteSipError) as info:
        StreamFramer(limits).receive_data(
            message().replace(b"Content-Length: 0", b"Content-Length: 999")
        )
    assert info.value.status == 413
    framer = StreamFramer(limits)
    framer.receive_data(b"OPTIONS sip:a SIP/2.0\r\n" + b"X: y\r\n" * 40)
    with pytest.raises(RemoteSipError) as info:
        framer.receive_data(b"X: y\r\n" * 10)
    assert info.value.status == 513


def test_endless_start_line_rejected() -> None:
    """A start line longer than max_header_value_bytes without CRLF is refused."""
    framer = StreamFramer(SipLimits(max_header_value_bytes=50))
    with pytest.raises(RemoteSipError):
        framer.receive_data(b"A" * 51)
