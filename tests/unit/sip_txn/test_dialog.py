"""Dialogs (RFC 3261 §12): creation, in-dialog requests, CSeq and targets."""

from __future__ import annotations

import pytest

from gateway.sip.dialog import Dialog, DialogSet, DialogState
from gateway.sip.errors import LocalSipError, RemoteSipError
from gateway.sip.message import SipRequest, SipResponse
from gateway.sip.uri import SipUri

from . import UAC_HOST, counting_ids, make_reply, make_request, reparse

IDS = counting_ids()
RECORD_ROUTES = [("Record-Route", "<sip:p1.example;lr>, <sip:p2.example;lr>")]
BOB_CONTACT = ("Contact", "<sip:bob@192.0.2.20:5070>")


def state_of(dialog: Dialog) -> DialogState:
    """The state, read through a call so mypy does not narrow it."""
    return dialog.state


def invite(**kwargs: str) -> SipRequest:
    return make_request("INVITE", extra=RECORD_ROUTES, cseq=7, **kwargs)


def ok_for(request: SipRequest, status: int = 200) -> SipResponse:
    return make_reply(request, status, extra=[BOB_CONTACT])


def test_uac_dialog_from_2xx() -> None:
    """§12.1.2: route set is Record-Route reversed, target the Contact, local
    seq the INVITE's CSeq, remote seq empty, state confirmed."""
    request = invite()
    dialog = Dialog.from_uac(request, ok_for(request))
    assert dialog.id.local_tag == "ftag1" and dialog.id.remote_tag == "ttag1"
    assert dialog.id.call_id == request.call_id
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:p2.example;lr",
        "sip:p1.example;lr",
    ]
    assert str(dialog.remote_target) == "sip:bob@192.0.2.20:5070"
    assert (dialog.local_seq, dialog.remote_seq) == (7, None)
    assert dialog.state is DialogState.CONFIRMED
    assert str(dialog.local_uri) == "sip:alice@uac.example.com"
    assert str(dialog.remote_uri) == "sip:bob@uas.example.com"
    assert not dialog.is_secure


def test_uas_dialog_from_request() -> None:
    """§12.1.1: route set in Record-Route order, target the request Contact,
    remote seq the request's CSeq, local seq empty."""
    request = invite()
    dialog = Dialog.from_uas(request, ok_for(request))
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:p1.example;lr",
        "sip:p2.example;lr",
    ]
    assert str(dialog.remote_target) == "sip:alice@192.0.2.10:5060"
    assert (dialog.local_seq, dialog.remote_seq) == (None, 7)
    assert dialog.id.local_tag == "ttag1" and dialog.id.remote_tag == "ftag1"
    bye = dialog.create_request("BYE", ids=IDS, via_sent_by="uas.example.com")
    assert 0 < bye.cseq.seq < 2**31  # A random start for an empty local seq.


def test_in_dialog_request_uses_loose_routing() -> None:
    """§12.2.1.1: Request-URI is the remote target, Route is the route set,
    CSeq goes up by one, From/To carry the tags, Via has a fresh branch."""
    request = invite()
    dialog = Dialog.from_uac(request, ok_for(request))
    bye = reparse(dialog.create_request("BYE", ids=IDS, via_sent_by=UAC_HOST))
    assert isinstance(bye, SipRequest)
    assert bye.uri == "sip:bob@192.0.2.20:5070"
    assert bye.headers.values("route") == ["<sip:p2.example;lr>", "<sip:p1.example;lr>"]
    assert (bye.cseq.seq, bye.cseq.method) == (8, "BYE")
    assert bye.from_addr.tag == "ftag1" and bye.to_addr.tag == "ttag1"
    assert bye.top_via is not None and bye.top_via.branch is not None
    assert bye.top_via.branch.startswith("z9hG4bK")
    assert "contact" not in bye.headers
    assert dialog.state is DialogState.TERMINATED
    with pytest.raises(LocalSipError):
        dialog.create_request("INFO", ids=IDS, via_sent_by=UAC_HOST)


def test_ack_reuses_invite_cseq_and_reinvite_carries_contact() -> None:
    """§13.2.2.4: the 2xx ACK has the INVITE's CSeq number; a re-INVITE bumps
    the number, carries our Contact and a body with its Content-Type."""
    request = invite()
    dialog = Dialog.from_uac(request, ok_for(request))
    ack = dialog.create_request("ACK", ids=IDS, via_sent_by=UAC_HOST)
    assert (ack.cseq.seq, ack.cseq.method) == (7, "ACK")
    reinvite = dialog.create_request(
        "INVITE",
        ids=IDS,
        via_sent_by=UAC_HOST,
        body=b"v=0\r\n",
        content_type="application/sdp",
        extra_headers=[("Subject", "hold")],
    )
    assert reinvite.cseq.seq == 8
    assert reinvite.headers.get("contact") == "<sip:alice@192.0.2.10:5060>"
    assert reinvite.headers.get("content-type") == "application/sdp"
    assert dialog.create_request("ACK", ids=IDS, via_sent_by=UAC_HOST).cseq.seq == 8
    with pytest.raises(LocalSipError):
        dialog.create_request("CANCEL", ids=IDS, via_sent_by=UAC_HOST)


def test_ack_without_invite_is_a_local_error() -> None:
    """A dialog created by SUBSCRIBE has no INVITE to acknowledge."""
    request = make_request("SUBSCRIBE")
    dialog = Dialog.from_uac(request, ok_for(request))
    with pytest.raises(LocalSipError):
        dialog.create_request("ACK", ids=IDS, via_sent_by=UAC_HOST)


def test_strict_route_moves_first_route_to_request_uri() -> None:
    """§12.2.1.1: with a strict (no lr) first route, the Request-URI is that
    route and the remote target is appended to Route."""
    request = make_request("INVITE", extra=[("Record-Route", "<sip:strict.example>")])
    dialog = Dialog.from_uac(request, ok_for(request))
    bye = dialog.create_request("BYE", ids=IDS, via_sent_by=UAC_HOST)
    assert bye.uri == "sip:strict.example"
    assert bye.headers.values("route") == ["<sip:bob@192.0.2.20:5070>"]


def test_receive_request_cseq_ordering_and_target_refresh() -> None:
    """§12.2.2: a lower CSeq is rejected with 500; a re-INVITE with Contact
    updates the remote target; ACK/CANCEL skip the check; BYE terminates."""
    request = invite()
    dialog = Dialog.from_uas(request, ok_for(request))
    old = make_request("INFO", cseq=6, to_tag="ttag1")
    with pytest.raises(RemoteSipError) as info:
        dialog.receive_request(old)
    assert info.value.status == 500
    refresh = make_request("INVITE", cseq=8, to_tag="ttag1")
    refresh.headers.remove("contact")
    refresh.headers.add("Contact", "<sip:a@198.51.100.1>")
    dialog.receive_request(refresh)
    assert str(dialog.remote_target) == "sip:a@198.51.100.1"
    assert dialog.remote_seq == 8
    dialog.receive_request(make_request("ACK", cseq=7, to_tag="ttag1"))
    assert dialog.remote_seq == 8
    dialog.receive_request(make_request("BYE", cseq=9, to_tag="ttag1"))
    assert dialog.state is DialogState.TERMINATED


def test_receive_request_from_another_dialog_is_481() -> None:
    """A request whose tags or Call-ID differ does not belong: 481."""
    request = invite()
    dialog = Dialog.from_uas(request, ok_for(request))
    with pytest.raises(RemoteSipError) as info:
        dialog.receive_request(make_request("BYE", cseq=9, to_tag="other"))
    assert info.value.status == 481


def test_early_dialog_confirmed_by_2xx_recomputes_route_set() -> None:
    """§13.2.2.4: the 2xx confirms the early dialog and its Record-Route
    replaces the route set computed from the 18x."""
    request = invite()
    ringing = make_reply(request, 180, extra=[BOB_CONTACT])
    dialog = Dialog.from_uac(request, ringing)
    assert dialog.state is DialogState.EARLY
    ok = make_reply(
        make_request("INVITE", cseq=7, extra=[("Record-Route", "<sip:only;lr>")]),
        200,
        extra=[("Contact", "<sip:bob@203.0.113.5>")],
    )
    dialog.receive_response(ok)
    assert state_of(dialog) is DialogState.CONFIRMED
    assert [str(r.uri) for r in dialog.route_set] == ["sip:only;lr"]
    assert str(dialog.remote_target) == "sip:bob@203.0.113.5"


def test_failure_ends_early_dialog_and_481_ends_any() -> None:
    """§13.2.2.3 and §12.2.1.2: a non-2xx final ends the early dialog; 481 or
    408 to an in-dialog request ends a confirmed one."""
    request = invite()
    early = Dialog.from_uac(request, make_reply(request, 183, extra=[BOB_CONTACT]))
    early.receive_response(make_reply(request, 486))
    assert early.state is DialogState.TERMINATED
    confirmed = Dialog.from_uac(request, ok_for(request))
    confirmed.receive_response(make_reply(make_request("INFO"), 500))
    assert confirmed.state is DialogState.CONFIRMED
    confirmed.receive_response(make_reply(make_request("INFO"), 481))
    assert state_of(confirmed) is DialogState.TERMINATED


def test_creation_errors() -> None:
    """No To tag or no 2xx Contact is the peer's fault; wrong status is ours."""
    request = invite()
    with pytest.raises(LocalSipError):
        Dialog.from_uac(request, make_reply(request, 100))
    with pytest.raises(RemoteSipError):
        Dialog.from_uac(request, make_reply(request, 200, to_tag=None))
    with pytest.raises(RemoteSipError):
        Dialog.from_uac(request, make_reply(request, 200))
    no_contact_18x = Dialog.from_uac(request, make_reply(request, 180))
    assert str(no_contact_18x.remote_target) == request.uri
    with pytest.raises(LocalSipError):
        Dialog.from_uac(make_request(from_tag=None), ok_for(request))
    with pytest.raises(LocalSipError):
        Dialog.from_uas(request, make_reply(request, 200, to_tag=None))
    with pytest.raises(LocalSipError):
        Dialog.from_uas(request, make_reply(request, 486))
    bare = make_request("INVITE")
    bare.headers.remove("contact")
    with pytest.raises(RemoteSipError):
        Dialog.from_uas(bare, ok_for(bare))


def test_secure_flag_needs_sips_and_tls() -> None:
    """§12.1.1: secure when the request came over TLS with a SIPS URI."""
    request = make_request("INVITE", uri="sips:bob@uas.example.com")
    assert Dialog.from_uas(request, ok_for(request), is_tls=True).is_secure
    assert not Dialog.from_uas(request, ok_for(request), is_tls=False).is_secure
    plain = make_request("INVITE")
    assert not Dialog.from_uac(plain, ok_for(plain), is_tls=True).is_secure


def test_dialog_set_finds_both_directions() -> None:
    """The UAC finds its dialog by response, the UAS by the peer's request."""
    request = invite()
    ok = ok_for(request)
    uac, uas = DialogSet(), DialogSet()
    uac.add(Dialog.from_uac(request, ok))
    uas.add(Dialog.from_uas(request, ok))
    with pytest.raises(LocalSipError):
        uac.add(Dialog.from_uac(request, ok))
    assert uac.find_for_response(ok) is not None
    uac_dialog = uac.find_for_response(ok)
    assert uac_dialog is not None
    bye = reparse(uac_dialog.create_request("BYE", ids=IDS, via_sent_by=UAC_HOST))
    assert isinstance(bye, SipRequest)
    uas_dialog = uas.find_for_request(bye)
    assert uas_dialog is not None
    uas_dialog.receive_request(bye)
    assert uas_dialog.state is DialogState.TERMINATED
    assert uas.get(uas_dialog.id) is uas_dialog
    assert list(uas) == [uas_dialog] and len(uas) == 1
    assert uas.remove(uas_dialog.id) is uas_dialog
    assert uas.remove(uas_dialog.id) is None
    assert isinstance(uas_dialog.remote_target, SipUri)
