"""Keyframe broker: one per call, sans-IO.

Receivers ask for a keyframe in several dialects: RTCP PLI (RFC 4585
§6.3.1), RTCP FIR (RFC 5104 §4.3.1), SIP INFO picture_fast_update
(RFC 5168) and, on H.323 legs, H.245 videoFastUpdatePicture (H.245 §7.9.1).
The broker takes each request with ``now``, coalesces requests that come
faster than the configured minimum interval per encoder (a burst of PLIs
from a lossy site must not make the far encoder send keyframe after
keyframe), and emits commands in the dialect of the leg that carries the
encoder. Shape: ``receive_request`` / ``request_keyframe``,
``pop_outgoing``, ``next_deadline``, ``handle_timeout``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import Enum

from gateway.media.errors import LocalMediaError

__all__ = [
    "PICTURE_FAST_UPDATE_BODY",
    "PICTURE_FAST_UPDATE_CONTENT_TYPE",
    "KeyframeBroker",
    "KeyframeCommand",
    "KeyframeConfig",
    "KeyframeDialect",
    "SendFir",
    "SendH245FastUpdate",
    "SendPli",
    "SendSipInfo",
    "is_picture_fast_update",
]

PICTURE_FAST_UPDATE_CONTENT_TYPE = "application/media_control+xml"
"""Content type of the RFC 5168 §3 INFO body."""
PICTURE_FAST_UPDATE_BODY = (
    b'<?xml version="1.0" encoding="utf-8" ?>\r\n'
    b"<media_control>\r\n"
    b"  <vc_primitive>\r\n"
    b"    <to_encoder>\r\n"
    b"      <picture_fast_update/>\r\n"
    b"    </to_encoder>\r\n"
    b"  </vc_primitive>\r\n"
    b"</media_control>\r\n"
)
"""The RFC 5168 §3 request body, as the RFC's example writes it."""
_MAX_INFO_BODY_BYTES = 4096


def is_picture_fast_update(body: bytes) -> bool:
    """Whether a SIP INFO body asks for a keyframe (RFC 5168 §3).

    Accepts namespaced or plain element names. Bodies over 4 KiB, with a
    DOCTYPE (entity expansion) or not well-formed are not requests.
    """
    if len(body) > _MAX_INFO_BODY_BYTES or b"<!" in body:
        return False
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return False
    return any(el.tag.rpartition("}")[2] == "picture_fast_update" for el in root.iter())


class KeyframeDialect(Enum):
    """How a leg's endpoint asks for, and is asked for, keyframes."""

    RTCP_PLI = "rtcp_pli"
    RTCP_FIR = "rtcp_fir"
    SIP_INFO = "sip_info"
    H245 = "h245"


class KeyframeCommand:
    """Base class of the broker's commands."""

    __slots__ = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SendPli(KeyframeCommand):
    """Send an RTCP PLI on ``leg`` for ``media_ssrc`` (RFC 4585 §6.3.1)."""

    leg: str
    media_ssrc: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendFir(KeyframeCommand):
    """Send an RTCP FIR on ``leg`` (RFC 5104 §4.3.1) with this sequence number."""

    leg: str
    media_ssrc: int | None
    sequence: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SendSipInfo(KeyframeCommand):
    """Send a SIP INFO picture_fast_update on ``leg`` (RFC 5168 §3)."""

    leg: str
    content_type: str = PICTURE_FAST_UPDATE_CONTENT_TYPE
    body: bytes = PICTURE_FAST_UPDATE_BODY


@dataclass(frozen=True, slots=True, kw_only=True)
class SendH245FastUpdate(KeyframeCommand):
    """Send H.245 miscellaneousCommand videoFastUpdatePicture on ``leg``."""

    leg: str


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyframeConfig:
    """Keyframe request policy; ``min_interval_s`` is per encoder."""

    min_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_interval_s <= 60:
            raise LocalMediaError("keyframe min_interval_s must be 0..60")


class _Target:
    __slots__ = ("dialect", "fir_sequence", "last_sent_at", "media_ssrc", "pending")

    def __init__(self, dialect: KeyframeDialect, media_ssrc: int | None) -> None:
        self.dialect = dialect
        self.media_ssrc = media_ssrc
        self.fir_sequence = 0
        self.last_sent_at: float | None = None
        self.pending = False


class KeyframeBroker:
    """Rate-limits keyframe requests and translates them between dialects.

    Each leg is registered with its dialect and, for RTCP dialects, the SSRC
    of the encoder it carries. A request received from one leg becomes a
    request to every other leg. Counters: ``requests_in``, ``sent`` and
    ``coalesced`` (per-target requests deferred into a pending one).
    """

    def __init__(self, config: KeyframeConfig | None = None) -> None:
        self._config = config or KeyframeConfig()
        self._targets: dict[str, _Target] = {}
        self._outgoing: list[KeyframeCommand] = []
        self.requests_in = 0
        self.sent = 0
        self.coalesced = 0

    def add_leg(
        self, leg: str, *, dialect: KeyframeDialect, media_ssrc: int | None = None
    ) -> None:
        """Register ``leg``; raises :class:`LocalMediaError` if already there."""
        if leg in self._targets:
            raise LocalMediaError(f"keyframe leg {leg!r} already registered")
        self._targets[leg] = _Target(dialect, media_ssrc)

    def update_leg(
        self, leg: str, *, dialect: KeyframeDialect, media_ssrc: int | None
    ) -> None:
        """Change a leg's dialect or encoder SSRC (re-INVITE, new source)."""
        target = self._target(leg)
        target.dialect = dialect
        target.media_ssrc = media_ssrc

    def remove_leg(self, leg: str) -> None:
        """Forget ``leg`` and any pending request to it."""
        self._targets.pop(leg, None)

    def receive_request(self, *, from_leg: str, now: float) -> None:
        """A receiver on ``from_leg`` asked for a keyframe (any dialect).

        Every other leg's encoder is asked, subject to the rate limit.
        """
        self._target(from_leg)
        self.requests_in += 1
        for leg in self._targets:
            if leg != from_leg:
                self.request_keyframe(to_leg=leg, now=now)

    def request_keyframe(self, *, to_leg: str, now: float) -> None:
        """Ask the encoder on ``to_leg`` for a keyframe, rate-limited."""
        target = self._target(to_leg)
        last = target.last_sent_at
        if target.pending or (
            last is not None and now - last < self._config.min_interval_s
        ):
            self.coalesced += 1
            target.pending = True
            return
        self._emit(to_leg, target, now)

    def next_deadline(self) -> float | None:
        """When a coalesced request falls due, or None."""
        deadlines = [
            t.last_sent_at + self._config.min_interval_s
            for t in self._targets.values()
            if t.pending and t.last_sent_at is not None
        ]
        return min(deadlines, default=None)

    def handle_timeout(self, now: float) -> None:
        """Send the coalesced requests whose interval has passed."""
        interval = self._config.min_interval_s
        for leg, target in self._targets.items():
            last = target.last_sent_at
            if target.pending and last is not None and now - last >= interval:
                self._emit(leg, target, now)

    def pop_outgoing(self) -> list[KeyframeCommand]:
        """Return and clear the commands produced so far."""
        commands, self._outgoing = self._outgoing, []
        return commands

    def _target(self, leg: str) -> _Target:
        target = self._targets.get(leg)
        if target is None:
            raise LocalMediaError(f"keyframe leg {leg!r} is not registered")
        return target

    def _emit(self, leg: str, target: _Target, now: float) -> None:
        target.pending = False
        target.last_sent_at = now
        self.sent += 1
        dialect = target.dialect
        command: KeyframeCommand
        if dialect is KeyframeDialect.RTCP_PLI:
            command = SendPli(leg=leg, media_ssrc=target.media_ssrc)
        elif dialect is KeyframeDialect.RTCP_FIR:
            # RFC 5104 §4.3.1.2: a new request increments the sequence number.
            target.fir_sequence = (target.fir_sequence + 1) % 256
            command = SendFir(
                leg=leg, media_ssrc=target.media_ssrc, sequence=target.fir_sequence
            )
        elif dialect is KeyframeDialect.SIP_INFO:
            command = SendSipInfo(leg=leg)
        else:
            command = SendH245FastUpdate(leg=leg)
        self._outgoing.append(command)
