"""SIP responses to neutral call events and back (RFC 3398 cause table)."""

from __future__ import annotations

import pytest

from gateway.b2bua.events import Alerting, Answer, Progress, Release
from gateway.b2bua.sip_leg import event_from_response, status_for
from gateway.sip.message import Headers, SipResponse

SDP = (
    b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
    b"m=audio 5000 RTP/AVP 0\r\n"
)


def response(status: int, body: bytes = b"") -> SipResponse:
    return SipResponse(headers=Headers(), status=status, reason="x", body=body)


def test_provisionals_answers_and_timeouts() -> None:
    """100 is nothing, 180 Alerting, 183 Progress, 2xx Answer, None Release 102."""
    assert event_from_response(response(100)) is None
    assert isinstance(event_from_response(response(180)), Alerting)
    progress = event_from_response(response(183, SDP))
    assert isinstance(progress, Progress) and progress.early_media is not None
    answer = event_from_response(response(200, SDP))
    assert isinstance(answer, Answer) and answer.sdp is not None
    timeout = event_from_response(None)
    assert isinstance(timeout, Release) and timeout.cause == 102
    assert status_for(timeout) == 408


def test_unusable_answer_is_a_release_with_488() -> None:
    """A 2xx whose SDP does not parse ends the attempt (cause 88, 488)."""
    event = event_from_response(response(200, b"garbage"))
    assert isinstance(event, Release) and event.cause == 88 and event.status == 488


@pytest.mark.parametrize(
    ("status", "cause"), [(404, 1), (486, 17), (480, 18), (503, 41), (603, 21)]
)
def test_failures_carry_q850_causes(status: int, cause: int) -> None:
    """Failure statuses map to Q.850 causes (RFC 3398 §7.2.4.1) and keep the status."""
    event = event_from_response(response(status))
    assert isinstance(event, Release)
    assert event.cause == cause and status_for(event) == status


def test_release_without_status_maps_cause_back() -> None:
    """A Release from a non-SIP leg gets its SIP status from the cause table."""
    assert status_for(Release(cause=17, reason="busy")) == 486
    assert status_for(Release(cause=1, reason="unallocated")) == 404
