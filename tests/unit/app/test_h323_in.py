"""Which destination an incoming H.323 Setup asks for (H.225.0 section 7.3.1)."""

from __future__ import annotations

import pytest

from gateway.app.h323_in import dialled_of
from gateway.h323.call_messages import SetupReceived
from gateway.h323.codec import AliasAddress, AliasKind


def setup(dialled: str | None, *aliases: tuple[AliasKind, str]) -> SetupReceived:
    return SetupReceived(
        call_reference=1,
        call_identifier=b"\x00" * 16,
        conference_id=None,
        source_aliases=(),
        destination_aliases=tuple(
            AliasAddress(kind=kind, value=value) for kind, value in aliases
        ),
        dialled_digits=dialled,
        calling_number=None,
        display=None,
        fast_start=None,
        is_h245_tunnelling=True,
        h245_address=None,
        source_call_signal_address=None,
        endpoint=None,
    )


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (setup("8801", (AliasKind.H323_ID, "room")), "8801"),
        (
            setup(None, (AliasKind.H323_ID, "xa-in"), (AliasKind.DIALLED_DIGITS, "88")),
            "88",
        ),
        (
            setup(None, (AliasKind.EMAIL_ID, "a@b"), (AliasKind.H323_ID, "xa-in")),
            "xa-in",
        ),
        (setup(None, (AliasKind.URL_ID, "h323:8802@gw.example")), "8802"),
        (setup(None), ""),
    ],
)
def test_dialled_of(event: SetupReceived, expected: str) -> None:
    assert dialled_of(event) == expected
