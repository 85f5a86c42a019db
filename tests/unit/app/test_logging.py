"""Log lines are JSON with stable event names, and secrets never reach them."""

from __future__ import annotations

import io
import json

import structlog

from gateway.app.logging import configure_logging, get_logger, redact_text

PEM_KEY = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nAAAA\n"
    "-----END PRIVATE KEY-----\n"
)
SDP = (
    "m=audio 4000 RTP/SAVP 0\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
    "inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:32\r\n"
)


def capture(**fields: object) -> dict[str, object]:
    stream = io.StringIO()
    configure_logging(level="debug", fmt="json", stream=stream)
    get_logger("test").info("test.event", **fields)
    structlog.reset_defaults()
    return json.loads(stream.getvalue())  # type: ignore[no-any-return]


def test_json_line_has_event_level_and_fields() -> None:
    """A log call renders as one JSON object with the dotted event name."""
    line = capture(site="xa-1", count=3)
    assert line["event"] == "test.event"
    assert line["level"] == "info"
    assert line["site"] == "xa-1" and line["count"] == 3
    assert "timestamp" in line


def test_private_keys_are_removed() -> None:
    """PEM private keys in any field, nested or as bytes, are redacted."""
    line = capture(blob=PEM_KEY, nested={"k": PEM_KEY.encode()}, items=[PEM_KEY])
    text = json.dumps(line)
    assert "MIIEvQ" not in text
    assert "<redacted>" in line["blob"]  # type: ignore[operator]


def test_sdes_inline_keys_are_removed() -> None:
    """a=crypto inline keys in an SDP body are redacted, the rest is kept."""
    line = capture(sdp=SDP)
    assert "WVNfX19zZW1jdGwg" not in json.dumps(line)
    assert "AES_CM_128_HMAC_SHA1_80 inline:<redacted>" in str(line["sdp"])
    assert "m=audio 4000 RTP/SAVP 0" in str(line["sdp"])


def test_passwords_and_authorization_are_removed() -> None:
    """Secret-named fields and secrets inside text are redacted."""
    line = capture(
        password="hunter2",
        p12_password=b"s3cret",
        message="login with password=hunter2 ok",
        request="REGISTER sip:x SIP/2.0\r\nAuthorization: Digest username=a, "
        'response="abc"\r\nTo: <sip:a@b>\r\n',
    )
    text = json.dumps(line)
    assert "hunter2" not in text and "s3cret" not in text
    assert 'response="abc"' not in text
    assert "To: <sip:a@b>" in str(line["request"])


def test_redact_text_leaves_ordinary_text() -> None:
    """Text without secrets is unchanged."""
    text = "sip.register.accepted site=xa-1 contacts=1 inline-ish"
    assert redact_text(text) == text
