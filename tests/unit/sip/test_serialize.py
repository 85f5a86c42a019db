"""Tests for gateway.sip.serialize (RFC 3261 §7)."""

from __future__ import annotations

import pytest

from gateway.sip.errors import LocalSipError
from gateway.sip.message import Headers, SipRequest, SipResponse
from gateway.sip.parse import parse_message
from gateway.sip.serialize import serialize

CANONICAL = (
    b"REGISTER sip:registrar.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TLS 192.0.2.7:5061;branch=z9hG4bKabc;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:site7@example.com>\r\n"
    b'From: "Site 7" <sip:site7@example.com>;tag=a73kszlfl\r\n'
    b"Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.7\r\n"
    b"CSeq: 1 REGISTER\r\n"
    b"X-Unknown: keeps  odd   spacing ;;,,\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"abcd"
)


def test_round_trip_is_byte_exact() -> None:
    """serialize(parse(b)) == b for canonical bytes, unknown headers included."""
    assert serialize(parse_message(CANONICAL)) == CANONICAL


def test_content_length_rewritten_in_place() -> None:
    """A changed body updates Content-Length in place, keeping the compact name."""
    msg = parse_message(CANONICAL)
    msg.body = b"0123456789"
    out = serialize(msg)
    assert b"\r\nl: 10\r\n\r\n0123456789" in out
    assert out.count(b"l: ") == 1


def test_content_length_added_when_missing() -> None:
    """A message without Content-Length gets one appended (§20.14)."""
    msg = SipResponse(
        headers=Headers([("Via", "SIP/2.0/UDP h;branch=z9hG4bK1")]),
        status=200,
        reason="OK",
    )
    assert serialize(msg) == (
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        b"Content-Length: 0\r\n\r\n"
    )


def test_request_start_line_and_utf8() -> None:
    """Requests write Method SP URI SP version; text is UTF-8."""
    msg = SipRequest(
        headers=Headers([("Subject", "Hội nghị")]),
        method="OPTIONS",
        uri="sip:hanoi.example.vn",
        body=b"",
    )
    out = serialize(msg)
    assert out.startswith(b"OPTIONS sip:hanoi.example.vn SIP/2.0\r\n")
    assert "Subject: Hội nghị\r\n".encode() in out


@pytest.mark.parametrize(
    "headers",
    [
        [("X-Evil", "a\r\nVia: injected")],
        [("X\nEvil", "a")],
        [("Content-Length", "1"), ("l", "2")],
        [("X", "\udcff")],
    ],
)
def test_unsafe_headers_are_local_errors(headers: list[tuple[str, str]]) -> None:
    """CR/LF injection, duplicate Content-Length or bad text raise LocalSipError."""
    msg = SipRequest(headers=Headers(headers), method="BYE", uri="sip:h")
    with pytest.raises(LocalSipError):
        serialize(msg)


def test_reason_with_crlf_is_rejected() -> None:
    """A reason phrase with CRLF would split the start line: LocalSipError."""
    msg = SipResponse(headers=Headers(), status=200, reason="OK\r\nX: y")
    with pytest.raises(LocalSipError):
        serialize(msg)
