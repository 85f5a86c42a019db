"""Registrar (RFC 3261 §10.3) bound to the TLS client identity, sans-IO."""

from __future__ import annotations

import pytest

from gateway.sip.message import SipRequest
from gateway.sip.parse import parse_message
from gateway.sip.registrar import FlowInfo, PeerIdentity, Registrar, RegistrarPolicy

NOW = 1_800_000_000.0
POLICY = RegistrarPolicy(
    domain="vcgw.test",
    local_hosts=frozenset({"127.0.0.1"}),
    min_expires_s=60,
    max_expires_s=3600,
    default_expires_s=600,
    max_contacts_per_site=3,
)
TLS_FLOW = FlowInfo(
    flow_id="tls-1", transport="TLS", peer="127.0.0.1:40000", is_secure=True
)
ALICE = PeerIdentity(site="xa-a", domain="vcgw.test", cert_serial="0a")


def register(
    *,
    aor: str = "sip:xa-a@vcgw.test",
    contacts: tuple[str, ...] = ("<sip:xa-a@127.0.0.1:40000;transport=tls>",),
    expires: int | None = 300,
    cseq: int = 1,
    call_id: str = "reg-1",
    ruri: str = "sip:vcgw.test",
    extra: tuple[str, ...] = (),
) -> SipRequest:
    lines = [
        f"REGISTER {ruri} SIP/2.0",
        "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bK1",
        "Max-Forwards: 70",
        f"From: <{aor}>;tag=f1",
        f"To: <{aor}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        *(f"Contact: {c}" for c in contacts),
        *([f"Expires: {expires}"] if expires is not None else []),
        *extra,
        "Content-Length: 0",
    ]
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, SipRequest)
    return message


def test_register_binds_contact_and_answers_with_expires() -> None:
    """A matching site registers; 200 lists the contact with its expiry."""
    registrar = Registrar(POLICY)
    outcome = registrar.handle_register(
        register(), identity=ALICE, flow=TLS_FLOW, now=NOW
    )
    assert outcome.response.status == 200
    assert outcome.refusal is None
    assert outcome.site == "xa-a"
    assert outcome.bindings is not None and len(outcome.bindings) == 1
    binding = outcome.bindings[0]
    assert binding.contact == "sip:xa-a@127.0.0.1:40000;transport=tls"
    assert binding.expires_at == NOW + 300
    assert binding.cert_serial == "0a" and binding.flow == "tls-1"
    contacts = outcome.response.headers.get_all("contact")
    assert contacts == ["<sip:xa-a@127.0.0.1:40000;transport=tls>;expires=300"]
    assert outcome.response.headers.get("date") is not None


def test_refresh_remove_and_star() -> None:
    """Refresh extends, Expires: 0 removes one, Contact: * removes all."""
    registrar = Registrar(POLICY)
    registrar.handle_register(register(), identity=ALICE, flow=TLS_FLOW, now=NOW)
    second = register(contacts=("<sip:xa-a@127.0.0.1:40001;transport=tls>",), cseq=2)
    registrar.handle_register(second, identity=ALICE, flow=TLS_FLOW, now=NOW)
    assert len(registrar.bindings("xa-a", now=NOW)) == 2
    refresh = register(cseq=3, expires=3600)
    registrar.handle_register(refresh, identity=ALICE, flow=TLS_FLOW, now=NOW + 100)
    by_contact = {b.contact: b for b in registrar.bindings("xa-a", now=NOW + 100)}
    assert by_contact["sip:xa-a@127.0.0.1:40000;transport=tls"].expires_at == NOW + 3700
    remove = register(cseq=4, expires=0)
    registrar.handle_register(remove, identity=ALICE, flow=TLS_FLOW, now=NOW + 101)
    assert [b.contact for b in registrar.bindings("xa-a", now=NOW + 101)] == [
        "sip:xa-a@127.0.0.1:40001;transport=tls"
    ]
    star = register(contacts=("*",), expires=0, cseq=5)
    outcome = registrar.handle_register(
        star, identity=ALICE, flow=TLS_FLOW, now=NOW + 102
    )
    assert outcome.response.status == 200
    assert outcome.bindings == ()
    assert registrar.bindings("xa-a", now=NOW + 102) == []


def test_star_needs_expires_zero() -> None:
    """Contact: * with a non-zero Expires is a 400 (§10.3 step 6)."""
    registrar = Registrar(POLICY)
    outcome = registrar.handle_register(
        register(contacts=("*",), expires=300), identity=ALICE, flow=TLS_FLOW, now=NOW
    )
    assert outcome.response.status == 400


def test_several_contacts_in_one_request_and_per_contact_expires() -> None:
    """Comma-separated contacts each get their own expires parameter."""
    registrar = Registrar(POLICY)
    request = register(
        contacts=(
            "<sip:a@127.0.0.1:1;transport=tls>;expires=120, "
            '"Room" <sip:b@127.0.0.1:2;transport=tls>',
        ),
        expires=None,
    )
    outcome = registrar.handle_register(request, identity=ALICE, flow=TLS_FLOW, now=NOW)
    assert outcome.response.status == 200
    expiries = sorted(b.expires_at - NOW for b in registrar.bindings("xa-a", now=NOW))
    assert expiries == [120, 600]  # 600 is default_expires_s.


def test_expiry_is_clamped_and_too_brief_gets_423() -> None:
    """Above max is shortened; below min gets 423 with Min-Expires."""
    registrar = Registrar(POLICY)
    long = registrar.handle_register(
        register(expires=99999), identity=ALICE, flow=TLS_FLOW, now=NOW
    )
    assert long.bindings is not None and long.bindings[0].expires_at == NOW + 3600
    short = registrar.handle_register(
        register(expires=10, cseq=2), identity=ALICE, flow=TLS_FLOW, now=NOW
    )
    assert short.response.status == 423
    assert short.response.headers.get("min-expires") == "60"


@pytest.mark.parametrize(
    ("aor", "identity", "flow"),
    [
        ("sip:xa-b@vcgw.test", ALICE, TLS_FLOW),  # A's certificate, B's AOR.
        ("sip:xa-a@other.test", ALICE, TLS_FLOW),  # Foreign domain.
        (
            "sip:xa-a@vcgw.test",
            PeerIdentity(site="xa-a", domain="other.test", cert_serial="1"),
            TLS_FLOW,
        ),
        ("sip:xa-a@vcgw.test", None, TLS_FLOW),  # No certificate identity.
        (
            "sip:xa-a@vcgw.test",
            ALICE,
            FlowInfo(flow_id="tcp-1", transport="TCP", peer="x", is_secure=False),
        ),
    ],
)
def test_identity_mismatch_is_forbidden(
    aor: str, identity: PeerIdentity | None, flow: FlowInfo
) -> None:
    """Anything but the certificate's own site over TLS gets 403 and a reason."""
    registrar = Registrar(POLICY)
    outcome = registrar.handle_register(
        register(aor=aor), identity=identity, flow=flow, now=NOW
    )
    assert outcome.response.status == 403
    assert outcome.refusal
    assert outcome.bindings is None
    assert registrar.all_bindings(now=NOW) == []


def test_other_domain_in_request_uri_is_404() -> None:
    """The registrar serves its domain and its own addresses only."""
    registrar = Registrar(POLICY)
    outcome = registrar.handle_register(
        register(ruri="sip:elsewhere.example"), identity=ALICE, flow=TLS_FLOW, now=NOW
    )
    assert outcome.response.status == 404
    ok = registrar.handle_register(
        register(ruri="sip:127.0.0.1:5061;transport=tls"),
        identity=ALICE,
        flow=TLS_FLOW,
        now=NOW,
    )
    assert ok.response.status == 200


def test_old_cseq_in_same_call_id_is_refused() -> None:
    """A REGISTER with a CSeq not above the stored one is out of order (500)."""
    registrar = Registrar(POLICY)
    registrar.handle_register(register(cseq=5), identity=ALICE, flow=TLS_FLOW, now=NOW)
    outcome = registrar.handle_register(
        register(cseq=5), identity=ALICE, flow=TLS_FLOW, now=NOW + 1
    )
    assert outcome.response.status == 500


def test_query_without_contact_lists_and_changes_nothing() -> None:
    """A REGISTER without Contact returns the current list (§10.2.3)."""
    registrar = Registrar(POLICY)
    registrar.handle_register(register(), identity=ALICE, flow=TLS_FLOW, now=NOW)
    outcome = registrar.handle_register(
        register(contacts=(), cseq=2), identity=ALICE, flow=TLS_FLOW, now=NOW + 10
    )
    assert outcome.response.status == 200
    assert outcome.bindings is None
    assert len(outcome.response.headers.get_all("contact")) == 1


def test_require_unknown_extension_gets_420() -> None:
    """Require with an extension we lack gets 420 and Unsupported."""
    registrar = Registrar(POLICY)
    outcome = registrar.handle_register(
        register(extra=("Require: gruu",)), identity=ALICE, flow=TLS_FLOW, now=NOW
    )
    assert outcome.response.status == 420
    assert outcome.response.headers.get("unsupported") == "gruu"


def test_contact_limit_per_site() -> None:
    """More contacts than max_contacts_per_site is refused with 403."""
    registrar = Registrar(POLICY)
    contacts = tuple(f"<sip:a@127.0.0.1:{p};transport=tls>" for p in range(1, 5))
    outcome = registrar.handle_register(
        register(contacts=contacts), identity=ALICE, flow=TLS_FLOW, now=NOW
    )
    assert outcome.response.status == 403
    assert registrar.all_bindings(now=NOW) == []


def test_outbound_instance_and_reg_id_replace_old_flow() -> None:
    """RFC 5626: the same +sip.instance and reg-id on a new flow replaces the old."""
    registrar = Registrar(POLICY)
    inst = ';+sip.instance="<urn:uuid:00000000-0000-0000-0000-000000000001>";reg-id=1'
    first = register(contacts=(f"<sip:a@127.0.0.1:1;transport=tls>{inst}",))
    registrar.handle_register(first, identity=ALICE, flow=TLS_FLOW, now=NOW)
    flow2 = FlowInfo(
        flow_id="tls-2", transport="TLS", peer="127.0.0.1:2", is_secure=True
    )
    second = register(contacts=(f"<sip:a@127.0.0.1:2;transport=tls>{inst}",), cseq=2)
    registrar.handle_register(second, identity=ALICE, flow=flow2, now=NOW + 1)
    bindings = registrar.bindings("xa-a", now=NOW + 1)
    assert [b.flow for b in bindings] == ["tls-2"]


def test_expire_and_revocation_helpers() -> None:
    """expire() forgets lapsed bindings; remove_site() drops all of a site."""
    registrar = Registrar(POLICY)
    registrar.handle_register(
        register(expires=60), identity=ALICE, flow=TLS_FLOW, now=NOW
    )
    assert registrar.expire(now=NOW + 30) == []
    assert registrar.expire(now=NOW + 61) == ["xa-a"]
    assert registrar.sites() == []
    registrar.handle_register(register(cseq=2), identity=ALICE, flow=TLS_FLOW, now=NOW)
    assert registrar.remove_site("xa-a") is True
    assert registrar.remove_site("xa-a") is False
