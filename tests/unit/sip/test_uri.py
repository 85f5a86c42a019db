"""Tests for gateway.sip.uri (RFC 3261 §19.1, RFC 3966)."""

from __future__ import annotations

import pytest

from gateway.sip.errors import LocalSipError, RemoteSipError
from gateway.sip.uri import (
    AbsoluteUri,
    SipUri,
    TelUri,
    parse_host,
    parse_uri,
    uri_equal,
)


def sip(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    return uri


def test_full_sips_uri_components() -> None:
    """Every component of a sips URI is split out and typed."""
    uri = sip("sips:alice:secret@[2001:db8::1]:5061;transport=TCP;lr?subject=hi&x=")
    assert uri.scheme == "sips"
    assert uri.user == "alice"
    assert uri.password == "secret"
    assert uri.host == "[2001:db8::1]"
    assert uri.port == 5061
    assert uri.params == (("transport", "TCP"), ("lr", None))
    assert uri.headers == (("subject", "hi"), ("x", ""))
    assert uri.transport == "tcp"
    assert uri.param("LR") == ""
    assert uri.param("maddr") is None
    assert uri.is_secure


def test_scheme_is_case_insensitive() -> None:
    """SIP:, Sips: and TEL: are recognised and normalised to lower case."""
    assert sip("SIP:bob@example.com").scheme == "sip"
    assert isinstance(parse_uri("TEL:+123"), TelUri)


def test_escapes_are_decoded_and_reencoded() -> None:
    """%HH escapes are stored decoded and written back escaped (RFC 4475 esc01)."""
    uri = sip("sip:sips%3Auser%40example.com@example.net")
    assert uri.user == "sips:user@example.com"
    assert uri.host == "example.net"
    assert str(uri) == "sip:sips%3Auser%40example.com@example.net"
    assert sip("sip:%75se%72@example.com").user == "user"


def test_escaped_null_survives() -> None:
    """An escaped NUL is a valid user character (RFC 4475 escnull)."""
    uri = sip("sip:null-%00-null@example.com")
    assert uri.user == "null-\x00-null"
    assert str(uri) == "sip:null-%00-null@example.com"


def test_non_utf8_escape_round_trips() -> None:
    """An escape that is not UTF-8 (%FF) is kept losslessly."""
    assert str(sip("sip:a%FFb@example.com")) == "sip:a%FFb@example.com"


def test_semicolon_in_user_part() -> None:
    """';' and '?' belong to the user part when an '@' follows (RFC 4475 semiuri)."""
    uri = sip("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u@example.net"
    assert uri.params == ()
    assert str(uri) == "sip:user;par=u%40example.net@example.com"


def test_unusual_but_valid_characters() -> None:
    """The user and password character sets of RFC 4475 intmeth are accepted."""
    uri = sip(
        "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:"
        "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com"
    )
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"


def test_escaped_params() -> None:
    """Parameter names and values are unescaped (RFC 4475 esc01 Contact)."""
    uri = sip("sip:cal%6Cer@host5.example.net;%6C%72;n%61me=v%61lue%25%34%31")
    assert uri.user == "caller"
    assert uri.params == (("lr", None), ("name", "value%41"))


def test_with_param_replaces_in_place_or_appends() -> None:
    """with_param keeps order, replacing an existing name case-insensitively."""
    uri = sip("sip:a@b;Transport=udp;lr")
    assert str(uri.with_param("transport", "tls")) == "sip:a@b;Transport=tls;lr"
    assert str(uri.with_param("maddr", "10.0.0.1")).endswith(";lr;maddr=10.0.0.1")


def test_aor_drops_port_params_and_password() -> None:
    """aor is scheme:user@host with host lower-cased."""
    assert sip("sip:Bob:pw@Example.COM:5070;transport=tcp?x=y").aor == (
        "sip:Bob@example.com"
    )
    assert sip("sip:example.com").aor == "sip:example.com"


def test_tel_uri() -> None:
    """tel: numbers and parameters are kept as written (RFC 3966)."""
    uri = parse_uri("tel:+84-24-3825-1234;phone-context=example.vn;ext")
    assert isinstance(uri, TelUri)
    assert uri.number == "+84-24-3825-1234"
    assert uri.param("phone-context") == "example.vn"
    assert uri.param("ext") == ""
    assert str(uri) == "tel:+84-24-3825-1234;phone-context=example.vn;ext"


def test_other_scheme_is_absolute_uri() -> None:
    """Unknown schemes parse as opaque AbsoluteUri (RFC 3261 §25.1)."""
    uri = parse_uri("isbn:2983792873")
    assert uri == AbsoluteUri(scheme="isbn", raw="isbn:2983792873")
    assert str(uri) == "isbn:2983792873"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sip:",
        "<sip:user@example.com>",
        "sip:user@example.com; lr",
        "sip:user@exa mple.com",
        "sip:@example.com",
        "sip:user@",
        "sip:user@host:",
        "sip:user@host:70000",
        "sip:user@host:5x",
        "sip:user@[2001:db8::1",
        "sip:user@[not-v6]",
        "sip:us%4@host",
        "sip:us%zzer@host",
        "sip:user@host;=x",
        "sip:user@host;lr=",
        "sip:user@host;a;;b",
        "sip:user@host?noequals",
        'sip:us"er@host',
        "tel:",
        "tel:12a;=x",
        "mailto:",
        "mailto:a b",
        "1sip:host",
    ],
)
def test_malformed_uris_raise_400(text: str) -> None:
    """Malformed URIs raise RemoteSipError with status 400."""
    with pytest.raises(RemoteSipError) as info:
        parse_uri(text)
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (
            "sip:%61lice@atlanta.com;transport=TCP",
            "sip:alice@AtLanTa.CoM;Transport=tcp",
        ),
        ("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"),
        ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;newparam=5"),
        (
            "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
            "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
        ),
        (
            "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
            "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
        ),
        ("tel:+1-212-555-0101", "tel:+12125550101"),
        ("isbn:123", "ISBN:123"),
    ],
)
def test_equal_uris(left: str, right: str) -> None:
    """The RFC 3261 §19.1.4 examples of equivalent URIs compare equal."""
    assert uri_equal(parse_uri(left), parse_uri(right))
    assert uri_equal(parse_uri(right), parse_uri(left))


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
        ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
        ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
        ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
        ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
        ("sip:a@b", "sips:a@b"),
        ("sip:a:x@b", "sip:a:y@b"),
        ("sip:a@b;maddr=1.2.3.4", "sip:a@b"),
        ("sip:a@b", "tel:+1"),
        ("tel:+1;a=b", "tel:+1"),
        ("isbn:1", "urn:1"),
    ],
)
def test_unequal_uris(left: str, right: str) -> None:
    """The RFC 3261 §19.1.4 examples of different URIs compare unequal."""
    assert not uri_equal(parse_uri(left), parse_uri(right))
    assert not uri_equal(parse_uri(right), parse_uri(left))


@pytest.mark.parametrize(
    "text",
    [
        "sip:alice@atlanta.com",
        "sips:alice:pw@[2001:db8::1]:5061;transport=tcp;lr?subject=hi%20there&x=",
        "sip:a%20b@example.com;name=va%3Blue",
        "sip:example.com:0",
    ],
)
def test_str_round_trips_canonical_text(text: str) -> None:
    """str(parse_uri(t)) == t for URIs written in canonical escaping."""
    assert str(parse_uri(text)) == text


def test_sip_uri_needs_a_host() -> None:
    """Constructing a SipUri without a host is a local bug."""
    with pytest.raises(LocalSipError):
        SipUri(user="a")
    with pytest.raises(LocalSipError):
        SipUri(scheme="tel", host="x")


def test_host_and_hostport_edge_cases() -> None:
    """Unterminated IPv6 and junk after an IPv6 host are 400s."""
    with pytest.raises(RemoteSipError):
        parse_host("[::1")
    with pytest.raises(RemoteSipError):
        parse_uri("sip:[::1]x")
    assert parse_uri("sip:[::1]:5060") == SipUri(host="[::1]", port=5060)
