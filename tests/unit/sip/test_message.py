"""Tests for gateway.sip.message (RFC 3261 §7, §8.2.6)."""

from __future__ import annotations

import pytest

from gateway.sip.errors import RemoteSipError
from gateway.sip.message import Headers, SipRequest, make_response, split_header_list
from gateway.sip.parse import parse_message
from gateway.sip.uri import SipUri

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n"
    b"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK1\r\n"
    b"Record-Route: <sip:proxy.example.com;lr>\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b'Contact: <sip:alice@pc33.example.com>, "x,y" <sip:b@c>;q=0.5\r\n'
    b"Content-Length: 0\r\n\r\n"
)


def invite() -> SipRequest:
    msg = parse_message(INVITE)
    assert isinstance(msg, SipRequest)
    return msg


def test_make_response_copies_headers_and_adds_tag() -> None:
    """§8.2.6: Via, From, To (+tag), Call-ID, CSeq copied; RR for 2xx only."""
    response = make_response(invite(), 200, to_tag="as83kd9")
    assert [v.branch for v in response.vias] == ["z9hG4bK776asdhds", "z9hG4bK1"]
    assert response.to_addr.tag == "as83kd9"
    assert response.from_addr.tag == "1928301774"
    assert response.cseq == invite().cseq
    assert response.headers.get("record-route") == "<sip:proxy.example.com;lr>"
    assert "record-route" not in make_response(invite(), 486).headers
    assert response.reason == "OK"


def test_make_response_keeps_existing_tag() -> None:
    """An existing To tag (any spelling) is kept, not duplicated."""
    request = invite()
    request.headers.set("To", "<sip:bob@biloxi.example.com> ; TAG = old")
    request.invalidate()
    response = make_response(request, 200, to_tag="new")
    assert response.to_addr.tag == "old"
    assert response.headers.get("to") == "<sip:bob@biloxi.example.com> ; TAG = old"


def test_make_response_tag_inside_uri_is_not_a_header_tag() -> None:
    """A ';tag=' inside the <URI> does not count as the header's tag."""
    request = invite()
    request.headers.set("To", "<sip:bob@biloxi.example.com;tag=uri>")
    response = make_response(request, 180, to_tag="hdr")
    assert response.to_addr.tag == "hdr"


def test_contacts_split_respecting_quotes() -> None:
    """Contact values split at top-level commas only."""
    contacts = invite().contacts
    assert [c.display_name for c in contacts] == [None, "x,y"]
    assert contacts[1].param("q") == "0.5"


def test_request_uri_property() -> None:
    """request_uri parses the current uri text each time."""
    request = invite()
    assert request.request_uri == SipUri(user="bob", host="biloxi.example.com")
    request.uri = "sip:carol@example.com"
    assert isinstance(request.request_uri, SipUri)
    assert request.request_uri.user == "carol"
    request.uri = "not a uri"
    with pytest.raises(RemoteSipError):
        _ = request.request_uri


def test_headers_helpers() -> None:
    """Headers get/set/prepend/remove are case- and compact-form-insensitive."""
    headers = Headers([("v", "SIP/2.0/UDP a, SIP/2.0/UDP b"), ("To", "<sip:x@y>")])
    headers.prepend("Via", "SIP/2.0/UDP top")
    assert headers.values("VIA") == [
        "SIP/2.0/UDP top",
        "SIP/2.0/UDP a",
        "SIP/2.0/UDP b",
    ]
    headers.remove_first_value("via")
    headers.remove_first_value("via")
    assert headers.values("via") == ["SIP/2.0/UDP b"]
    headers.set("t", "<sip:z@y>")
    assert headers.get_all("to") == ["<sip:z@y>"]
    headers.remove("via")
    assert "via" not in headers
    assert split_header_list('a, "b,c" <sip:d,e>, ,f') == ["a", '"b,c" <sip:d,e>', "f"]


def test_headers_basics() -> None:
    """Headers compare by content, copy independently and append on set."""
    headers = Headers([("A", "1")])
    clone = headers.copy()
    clone.set("B", "2")
    clone.prepend("C", "3")
    assert headers == Headers([("A", "1")])
    assert clone != headers
    assert list(clone) == [("C", "3"), ("A", "1"), ("B", "2")]
    assert repr(headers) == "Headers([('A', '1')])"
    assert 1 not in headers


def test_make_response_fallback_and_extras() -> None:
    """An unparseable To falls back to text search; extra headers are appended."""
    request = invite()
    request.headers.set("To", "garbage;tag=zz")
    response = make_response(
        request, 603, to_tag="new", extra_headers=[("Retry-After", "60")], body=b"x"
    )
    assert response.headers.get("to") == "garbage;tag=zz"
    assert response.headers.get("retry-after") == "60"
    assert not response.is_request and request.is_request
    request.headers.set("To", "garbage")
    assert make_response(request, 400, to_tag="t").headers.get("to") == "garbage;tag=t"
