"""SIP message building for the B2BUA's legs: INVITEs, in-dialog requests, replies.

Every leg is signalled over its own flow (``CallLeg.connection``); Via and
Contact name our end of that flow, so UDP trunks answer to the right socket
and TLS sites keep using the connection they registered on.
"""

from __future__ import annotations

from gateway.app.sip_io import Connection
from gateway.b2bua.call import Call, CallLeg
from gateway.sdp.model import SessionDescription
from gateway.sdp.serialize import serialize_sdp
from gateway.sip.ids import IdSource
from gateway.sip.message import Headers, SipRequest
from gateway.sip.registrar import Registrar

SDP = "application/sdp"
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"


def contact_for(connection: Connection) -> str:
    """Our Contact on ``connection``: where the peer sends in-dialog requests."""
    transport = connection.transport.lower()
    return f"<sip:gateway@{connection.local_text};transport={transport}>"


def via_for(connection: Connection, ids: IdSource) -> str:
    return (
        f"SIP/2.0/{connection.transport} {connection.local_text};"
        f"branch={ids.new_branch()};rport"
    )


def callee_target(leg: CallLeg, registrar: Registrar, domain: str, now: float) -> str:
    """Request-URI toward the callee: a site's registered contact, or the trunk."""
    if leg.site is not None:
        bindings = registrar.bindings(leg.site, now=now)
        return bindings[0].contact if bindings else f"sip:{leg.site}@{domain}"
    connection = leg.connection
    assert isinstance(connection, Connection)
    transport = connection.transport.lower()
    return f"sip:{leg.number}@{connection.peer_text};transport={transport}"


def caller_uri(call: Call, domain: str) -> str:
    """Who the callee sees calling: the site's AOR, or the trunk caller's number."""
    if call.caller.site is not None:
        return f"sip:{call.caller.site}@{domain}"
    if call.invite is None:  # An H.323 caller: its Calling Party Number.
        user = call.caller.number or "anonymous"
        return f"sip:{user}@{domain}"
    uri = call.invite.from_addr.uri
    user = getattr(uri, "user", None) or "anonymous"
    return f"sip:{user}@{domain}"


def outgoing_invite(
    call: Call,
    leg: CallLeg,
    offer: SessionDescription | None,
    *,
    target: str,
    ids: IdSource,
    domain: str,
    max_forwards: int,
) -> SipRequest:
    """A new INVITE for the callee leg, with its own Call-ID and tags."""
    connection = leg.connection
    assert isinstance(connection, Connection)
    to_uri = target.split(";", 1)[0]
    headers = Headers(
        [
            ("Via", via_for(connection, ids)),
            ("Max-Forwards", str(max_forwards)),
            ("From", f"<{caller_uri(call, domain)}>;tag={ids.new_tag()}"),
            ("To", f"<{to_uri}>"),
            ("Call-ID", ids.new_call_id(domain)),
            ("CSeq", "1 INVITE"),
            ("Contact", contact_for(connection)),
            ("Allow", ALLOW),
        ]
    )
    if offer is None:  # Late offer: the callee offers in its 200.
        return SipRequest(method="INVITE", uri=target, headers=headers)
    headers.add("Content-Type", SDP)
    return SipRequest(
        method="INVITE", uri=target, headers=headers, body=serialize_sdp(offer)
    )


def in_dialog_request(leg: CallLeg, method: str, ids: IdSource) -> SipRequest | None:
    """BYE, ACK, INFO... in ``leg``'s dialog, or None if it has none."""
    connection = leg.connection
    if leg.dialog is None or not isinstance(connection, Connection):
        return None
    return leg.dialog.create_request(
        method,
        ids=ids,
        via_sent_by=connection.local_text,
        via_transport=connection.transport,
    )
