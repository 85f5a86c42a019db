"""A SIP leg's translation to and from neutral call events (RFC 3398 causes)."""

from __future__ import annotations

from gateway.b2bua.events import Alerting, Answer, CallEvent, Progress, Release
from gateway.h323.q850 import (
    CAUSE_INCOMPATIBLE_DESTINATION,
    CAUSE_RECOVERY_ON_TIMER_EXPIRY,
    cause_to_sip_status,
    sip_status_to_cause,
)
from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.model import SessionDescription
from gateway.sdp.parse import parse_sdp
from gateway.sip.message import SipResponse


def event_from_response(response: SipResponse | None) -> CallEvent | None:
    """The neutral event a response to our INVITE means; None for 100 Trying.

    ``None`` (the transaction timed out or the transport failed) is a
    Release with cause 102. A 2xx whose SDP does not parse is a Release
    with cause 88 and status 488.
    """
    if response is None:
        return Release(
            cause=CAUSE_RECOVERY_ON_TIMER_EXPIRY, reason="callee did not answer"
        )
    status = response.status
    if status == 100:
        return None
    if status == 180:
        return Alerting(early_media=_sdp(response))
    if status < 200:
        return Progress(early_media=_sdp(response))
    if status < 300:
        try:
            return Answer(sdp=_parse(response))
        except RemoteSdpError as exc:
            return Release(
                cause=CAUSE_INCOMPATIBLE_DESTINATION,
                status=488,
                reason=f"callee's answer is not usable: {exc}",
            )
    return Release(
        cause=sip_status_to_cause(status),
        status=status,
        reason=f"callee answered {status}",
    )


def status_for(release: Release) -> int:
    """The SIP status that tells a SIP caller about ``release``."""
    if release.status is not None:
        return release.status
    if release.cause == CAUSE_RECOVERY_ON_TIMER_EXPIRY:
        return 408
    return cause_to_sip_status(release.cause)


def _parse(response: SipResponse) -> SessionDescription | None:
    return parse_sdp(response.body) if response.body else None


def _sdp(response: SipResponse) -> SessionDescription | None:
    try:
        return _parse(response)
    except RemoteSdpError:
        return None  # A broken early-media body does not end the call.
