"""DTMF INFO bodies (dtmf-relay, dtmf) give the digit; anything else gives None."""

from __future__ import annotations

import pytest

from gateway.b2bua.dtmf import dtmf_from_info


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", "5"),
        ("Application/DTMF-Relay; x=y", b"Signal= #\nDuration=100", "#"),
        ("application/dtmf-relay", b"signal=a\r\n", "A"),
        ("application/dtmf", b"7", "7"),
        ("application/dtmf-relay", b"Signal=55\r\n", None),
        ("application/dtmf-relay", b"Duration=160\r\n", None),
        ("application/dtmf-relay", b"Signal=x\r\n", None),
        ("application/media_control+xml", b"<picture_fast_update/>", None),
        (None, b"Signal=5", None),
        ("application/dtmf-relay", b"Signal=5" + b" " * 2000, None),
    ],
)
def test_dtmf_from_info(
    content_type: str | None, body: bytes, expected: str | None
) -> None:
    """Only one well-formed digit is accepted; oversized bodies are ignored."""
    assert dtmf_from_info(content_type, body) == expected
