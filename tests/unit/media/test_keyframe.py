"""Keyframe broker: dialect translation and rate limiting under a fake clock."""

from __future__ import annotations

import pytest

from gateway.media.errors import LocalMediaError
from gateway.media.keyframe import (
    PICTURE_FAST_UPDATE_BODY,
    KeyframeBroker,
    KeyframeConfig,
    KeyframeDialect,
    SendFir,
    SendH245FastUpdate,
    SendPli,
    SendSipInfo,
    is_picture_fast_update,
)


def broker(far: KeyframeDialect, interval_s: float = 1.0) -> KeyframeBroker:
    b = KeyframeBroker(KeyframeConfig(min_interval_s=interval_s))
    b.add_leg("near", dialect=KeyframeDialect.RTCP_PLI, media_ssrc=1)
    b.add_leg("far", dialect=far, media_ssrc=2)
    return b


@pytest.mark.parametrize(
    ("dialect", "command"),
    [
        (KeyframeDialect.RTCP_PLI, SendPli(leg="far", media_ssrc=2)),
        (KeyframeDialect.RTCP_FIR, SendFir(leg="far", media_ssrc=2, sequence=1)),
        (KeyframeDialect.SIP_INFO, SendSipInfo(leg="far")),
        (KeyframeDialect.H245, SendH245FastUpdate(leg="far")),
    ],
)
def test_request_goes_out_in_the_far_sides_dialect(
    dialect: KeyframeDialect, command: object
) -> None:
    """A request from one leg becomes one command in the other leg's dialect."""
    b = broker(dialect)
    b.receive_request(from_leg="near", now=0.0)
    assert b.pop_outgoing() == [command]
    assert b.pop_outgoing() == []


def test_burst_is_coalesced_into_one_deferred_request() -> None:
    """Requests inside the interval fold into one sent when it ends."""
    b = broker(KeyframeDialect.RTCP_FIR)
    b.receive_request(from_leg="near", now=10.0)
    for now in (10.1, 10.2, 10.5):
        b.receive_request(from_leg="near", now=now)
    assert len(b.pop_outgoing()) == 1
    assert b.next_deadline() == 11.0
    b.handle_timeout(10.9)
    assert b.pop_outgoing() == []
    b.handle_timeout(11.0)
    assert b.pop_outgoing() == [SendFir(leg="far", media_ssrc=2, sequence=2)]
    assert b.next_deadline() is None
    assert (b.requests_in, b.sent, b.coalesced) == (4, 2, 3)


def test_request_after_the_interval_goes_at_once() -> None:
    """Once the interval has passed, a request is not delayed."""
    b = broker(KeyframeDialect.RTCP_PLI)
    b.receive_request(from_leg="near", now=0.0)
    b.receive_request(from_leg="near", now=1.5)
    assert len(b.pop_outgoing()) == 2


def test_fir_sequence_wraps_at_256() -> None:
    """FIR command sequence numbers increment modulo 256 (RFC 5104 §4.3.1.2)."""
    b = broker(KeyframeDialect.RTCP_FIR, interval_s=0)
    for step in range(257):
        b.request_keyframe(to_leg="far", now=float(step))
    commands = b.pop_outgoing()
    assert [c.sequence for c in commands[-2:]] == [0, 1]  # type: ignore[attr-defined]


def test_leg_management_errors_and_updates() -> None:
    """Unknown or duplicate legs are bugs; update changes the dialect."""
    b = broker(KeyframeDialect.RTCP_PLI)
    with pytest.raises(LocalMediaError):
        b.add_leg("far", dialect=KeyframeDialect.H245)
    with pytest.raises(LocalMediaError):
        b.receive_request(from_leg="ghost", now=0.0)
    b.update_leg("far", dialect=KeyframeDialect.H245, media_ssrc=None)
    b.receive_request(from_leg="near", now=0.0)
    assert b.pop_outgoing() == [SendH245FastUpdate(leg="far")]
    b.remove_leg("far")
    b.receive_request(from_leg="near", now=5.0)
    assert b.pop_outgoing() == []
    with pytest.raises(LocalMediaError):
        KeyframeConfig(min_interval_s=-1)


def test_sip_info_body_recognition() -> None:
    """RFC 5168 bodies are recognised, namespaced too; DOCTYPEs and junk are not."""
    assert is_picture_fast_update(PICTURE_FAST_UPDATE_BODY)
    assert is_picture_fast_update(
        b'<m:media_control xmlns:m="urn:x"><m:vc_primitive><m:to_encoder>'
        b"<m:picture_fast_update/></m:to_encoder></m:vc_primitive></m:media_control>"
    )
    assert not is_picture_fast_update(b"<media_control/>")
    assert not is_picture_fast_update(b"<media_control><picture_fast_update>")
    assert not is_picture_fast_update(
        b'<!DOCTYPE x [<!ENTITY a "b">]><media_control><picture_fast_update/>'
        b"</media_control>"
    )
    assert not is_picture_fast_update(b"<a>" + b" " * 5000 + b"</a>")
