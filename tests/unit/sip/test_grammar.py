"""Tests for gateway.sip.grammar (RFC 3261 §20, §25.1)."""

from __future__ import annotations

import pytest

from gateway.sip.errors import LocalSipError, RemoteSipError
from gateway.sip.grammar import (
    CSeq,
    NameAddr,
    Via,
    parse_content_length,
    parse_cseq,
    parse_int_header,
    parse_max_forwards,
    parse_name_addr,
    parse_via,
    quote_string,
)
from gateway.sip.uri import SipUri, TelUri


def test_via_simple() -> None:
    """A plain Via splits into protocol, transport, sent-by and params."""
    via = parse_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;received=10.0.0.1")
    assert via == Via(
        protocol="SIP/2.0",
        transport="UDP",
        host="192.0.2.1",
        port=5060,
        params=(("branch", "z9hG4bK776"), ("received", "10.0.0.1")),
    )
    assert via.branch == "z9hG4bK776"
    assert via.received == "10.0.0.1"
    assert via.rport is None
    assert via.sent_by == "192.0.2.1:5060"


def test_via_with_lws_everywhere() -> None:
    """LWS around slashes, colon, ';' and '=' is allowed (RFC 4475 wsinv)."""
    via = parse_via(
        " SIP  / 2.0  / tcp     spindle.example.com :  5061 ;  branch  = x "
    )
    assert via.transport == "TCP"
    assert via.host == "spindle.example.com"
    assert via.port == 5061
    assert via.branch == "x"
    assert str(via) == "SIP/2.0/TCP spindle.example.com:5061;branch=x"


def test_via_rport_forms() -> None:
    """rport is "" when requested and the number once filled (RFC 3581)."""
    assert parse_via("SIP/2.0/UDP h;rport").rport == ""
    assert parse_via("SIP/2.0/UDP h;rport=5070").rport == "5070"


def test_via_ipv6_and_unknown_transport() -> None:
    """IPv6 sent-by keeps brackets; unknown transports are kept (RFC 4475)."""
    via = parse_via("SIP/2.0/TLS-SCTP [2001:db8::9]:5061;received=2001:db8::1")
    assert via.transport == "TLS-SCTP"
    assert via.host == "[2001:db8::9]"
    assert via.received == "2001:db8::1"
    assert via.maddr is None


def test_via_with_param() -> None:
    """with_param replaces in place or appends, leaving the original alone."""
    via = parse_via("SIP/2.0/UDP h;rport;branch=z9hG4bKx")
    updated = via.with_param("rport", "5062").with_param("received", "1.2.3.4")
    assert str(updated) == "SIP/2.0/UDP h;rport=5062;branch=z9hG4bKx;received=1.2.3.4"
    assert via.rport == ""
    with pytest.raises(LocalSipError):
        via.with_param("bad name", "x")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SIP/2.0 UDP host",
        "SIP/2.0/UDP",
        "SIP/2.0/UDPhost",
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP host;;",
        "SIP/2.0/UDP 192.0.2.15;;,;,,",
        "SIP/2.0/UDP host;branch=",
        "SIP/2.0/UDP host branch=x",
        "SIP/2.0/UDP [::1",
        'SIP/2.0/UDP host;branch="unterminated',
    ],
)
def test_bad_via(text: str) -> None:
    """Malformed Via values raise RemoteSipError(400)."""
    with pytest.raises(RemoteSipError) as info:
        parse_via(text)
    assert info.value.status == 400


def test_name_addr_forms() -> None:
    """Quoted, token and absent display names and addr-spec form all parse."""
    quoted = parse_name_addr('"J Rosenberg \\\\\\"" <sip:jdrosen@example.com>;tag=98')
    assert quoted.display_name == 'J Rosenberg \\"'
    assert quoted.tag == "98"
    token = parse_name_addr("Bob  Smith <sips:bob@example.com;lr>;tag=1")
    assert token.display_name == "Bob  Smith"
    assert isinstance(token.uri, SipUri)
    assert token.uri.params == (("lr", None),)
    assert parse_name_addr("caller<sip:caller@example.com>").display_name == "caller"
    assert parse_name_addr("<sip:x@y>").display_name is None
    assert parse_name_addr('"" <sip:x@y>').display_name == ""


def test_addr_spec_params_belong_to_header() -> None:
    """Without <>, parameters after the URI are header params (§20.10)."""
    addr = parse_name_addr(" sip:vivekg@example.com ;   tag    = 1918181833n")
    assert isinstance(addr.uri, SipUri)
    assert addr.uri.params == ()
    assert addr.tag == "1918181833n"
    assert str(addr) == "<sip:vivekg@example.com>;tag=1918181833n"


def test_name_addr_header_params_and_quoted_values() -> None:
    """Valueless and quoted header params are kept, quotes included."""
    addr = parse_name_addr(
        '"Quoted string \\"\\"" <sip:a@b> ; newparam = newvalue ; second ; q = 0.33'
        ';x="a;b"'
    )
    assert addr.display_name == 'Quoted string ""'
    assert addr.params == (
        ("newparam", "newvalue"),
        ("second", None),
        ("q", "0.33"),
        ("x", '"a;b"'),
    )
    assert addr.param("SECOND") == ""


def test_name_addr_str_always_uses_angle_brackets() -> None:
    """__str__ quotes the display name and writes <uri>."""
    addr = NameAddr(
        display_name='A "b" \\ c', uri=SipUri(user="u", host="h"), params=()
    )
    assert str(addr.with_param("tag", "t1")) == '"A \\"b\\" \\\\ c" <sip:u@h>;tag=t1'
    assert parse_name_addr(str(addr)).display_name == 'A "b" \\ c'
    assert str(NameAddr(uri=TelUri(number="+1"))) == "<tel:+1>"


def test_name_addr_with_param_replaces_tag() -> None:
    """with_param on an existing tag replaces its value."""
    addr = parse_name_addr("<sip:a@b>;TAG=old")
    assert addr.with_param("tag", "new").tag == "new"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        '"Mr. J. User <sip:j.user@example.com>',
        "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",
        '"Watson, Thomas" < sip:t.watson@example.org >',
        "<sip:a@b",
        '"name" sip:a@b',
        "sip:a@b;tag=",
        "<sip:a@b>garbage",
        "sip:a@b>",
        "nope",
        '"ctl\x01" <sip:a@b>',
    ],
)
def test_bad_name_addr(text: str) -> None:
    """Malformed From/To/Contact values raise RemoteSipError(400) (RFC 4475)."""
    with pytest.raises(RemoteSipError) as info:
        parse_name_addr(text)
    assert info.value.status == 400


def test_escaped_control_characters_in_display_name() -> None:
    """quoted-pair may escape NUL, BEL and DEL (RFC 4475 intmeth)."""
    addr = parse_name_addr('"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:a@b>')
    assert addr.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"


def test_cseq() -> None:
    """CSeq parses with leading zeros and folded LWS (RFC 4475 wsinv)."""
    assert parse_cseq("0009 \t INVITE") == CSeq(seq=9, method="INVITE")
    assert str(CSeq(seq=2**31 - 1, method="BYE")) == "2147483647 BYE"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "INVITE",
        "1",
        "1INVITE",
        "-1 INVITE",
        "2147483648 INVITE",
        "1 INV ITE",
        "36893488147419103232 REGISTER",
        "1 <bad>",
    ],
)
def test_bad_cseq(text: str) -> None:
    """Malformed or overlarge CSeq raises RemoteSipError(400) (RFC 4475 scalar02)."""
    with pytest.raises(RemoteSipError) as info:
        parse_cseq(text)
    assert info.value.status == 400


def test_int_headers() -> None:
    """Integer headers accept 0..max and reject the rest, even huge values."""
    assert parse_content_length(" 0150 ") == 150
    assert parse_max_forwards("0068") == 68
    assert parse_int_header("2147483647", "Expires") == 2**31 - 1
    for bad in ["", "-1", "1.5", "2147483648", "1" * 5000, "١٢"]:
        with pytest.raises(RemoteSipError):
            parse_int_header(bad, "Expires")
    with pytest.raises(RemoteSipError):
        parse_max_forwards("300")


def test_quote_string() -> None:
    """quote_string escapes backslash and DQUOTE."""
    assert quote_string('a"b\\c') == '"a\\"b\\\\c"'


def test_addr_spec_with_uri_headers_rejected() -> None:
    """An addr-spec holding '?' must use <> (§20, RFC 4475 regbadct)."""
    with pytest.raises(RemoteSipError):
        parse_name_addr("sip:user@example.com?Route=%3Csip:sip.example.com%3E")
    addr = parse_name_addr("<sip:user@example.com?Route=%3Csip:sip.example.com%3E>")
    assert isinstance(addr.uri, SipUri)
    assert addr.uri.headers == (("Route", "<sip:sip.example.com>"),)


@pytest.mark.parametrize(
    ("parser", "text"),
    [
        (parse_name_addr, '"abc\\'),
        (parse_name_addr, ";tag=1"),
        (parse_via, "SIP/2.0/UDP  ;branch=x"),
    ],
)
def test_more_malformed_values(parser: object, text: str) -> None:
    """A trailing backslash, a missing URI or a missing host are 400s."""
    assert callable(parser)
    with pytest.raises(RemoteSipError):
        parser(text)


def test_via_needs_host() -> None:
    """Constructing a Via without a host is a local bug."""
    with pytest.raises(LocalSipError):
        Via(transport="UDP")
