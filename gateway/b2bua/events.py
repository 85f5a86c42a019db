"""Neutral call events: what any leg (SIP now, H.323 next) reports to the call.

Each leg translates its protocol to and from these, so the call logic never
reads a SIP status or a Q.931 message. Causes are Q.850 values; a SIP leg
maps them with the RFC 3398 table in ``gateway.h323.q850``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.sdp.model import SessionDescription


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEvent:
    """Base class of the events a leg reports to its call."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Setup(CallEvent):
    """A leg asks for a call to ``dialled``; ``offer`` is None for a late offer."""

    dialled: str
    offer: SessionDescription | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Alerting(CallEvent):
    """The far end is ringing (SIP 180, Q.931 ALERTING), maybe with early media."""

    early_media: SessionDescription | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Progress(CallEvent):
    """Call progress, possibly with early media (SIP 183, Q.931 PROGRESS)."""

    early_media: SessionDescription | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer(CallEvent):
    """The far end answered (SIP 2xx, Q.931 CONNECT) with its media."""

    sdp: SessionDescription | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer(CallEvent):
    """A mid-call offer (re-INVITE/UPDATE, H.245 channel changes)."""

    sdp: SessionDescription | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Dtmf(CallEvent):
    """Digits the far end keyed (H.245 userInputIndication, SIP INFO, RFC 4733)."""

    digits: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PictureUpdate(CallEvent):
    """The far end asks for a full picture of the video it receives
    (H.245 videoFastUpdatePicture, SIP INFO picture_fast_update)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Release(CallEvent):
    """The leg ended or failed: Q.850 ``cause``; ``status`` when SIP said one."""

    cause: int
    reason: str
    status: int | None = None
