"""Small pure helpers of the B2BUA's SIP side: leg facts, request facts, statuses."""

from __future__ import annotations

import time

from gateway.app.sip_io import Connection
from gateway.b2bua.call import Call, CallLeg
from gateway.b2bua.leg_media import MediaSecurity
from gateway.sip.errors import RemoteSipError
from gateway.sip.message import SipRequest
from gateway.sip.uri import SipUri


def monotonic_now() -> float:
    return time.monotonic()


def ports(leg: CallLeg) -> list[int]:
    return [endpoint.rtp_port for endpoint in leg.endpoints]


def describe(leg: CallLeg, connection: Connection) -> None:
    leg.connection = connection
    leg.peer = connection.peer_text
    leg.transport = connection.transport
    leg.tls_version = connection.tls_version
    leg.tls_cipher = connection.tls_cipher
    leg.cert_serial = connection.identity.cert_serial if connection.identity else ""


def can_fall_back(leg: CallLeg) -> bool:
    """An ``optional`` trunk that refused our SRTP offer may get plain RTP."""
    policy = leg.policy
    offer = leg.offer
    return (
        policy is not None
        and policy.security is MediaSecurity.OPTIONAL
        and offer is not None
        and any(m.proto == "RTP/SAVP" for m in offer.media)
    )


def uses_trunk(call: Call, trunk: str) -> bool:
    return call.caller.trunk == trunk or (
        call.callee is not None and call.callee.trunk == trunk
    )


def sent_invite(leg: CallLeg) -> SipRequest:
    assert leg.invite is not None
    return leg.invite


def warning(reason: str) -> str:
    return f'399 vcgw "{reason.replace(chr(34), "")}"'


def dialled_user_host(request: SipRequest) -> tuple[str, str]:
    """The Request-URI's user part and host, which routes match on."""
    uri = request.request_uri
    if isinstance(uri, SipUri) and uri.user:
        return uri.user, uri.host
    raise RemoteSipError("Request-URI has no user part to route on", 404)


def max_forwards(request: SipRequest) -> int:
    raw = request.headers.get("max-forwards")
    return int(raw) if raw is not None and raw.strip().isdigit() else 70


def is_leg(leg: CallLeg, request: SipRequest) -> bool:
    dialog = leg.dialog
    if dialog is None:
        return False
    dialog_id = dialog.id
    return (
        dialog_id.call_id == request.call_id
        and dialog_id.remote_tag == request.from_addr.tag
        and dialog_id.local_tag == request.to_addr.tag
    )


def caller_status(status: int) -> int:
    """What the caller gets for the callee's failure (a B2BUA hides auth)."""
    if status in (401, 407):
        return 403
    return status if 300 <= status < 700 else 500
