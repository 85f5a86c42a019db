"""Media relay errors (style guide: Remote*/Local* split under GatewayError).

``RemoteMediaError`` means a peer sent bytes we cannot use (malformed RTP or
RTCP). Per-packet failures inside the relay are counted, never raised past
it; the parsers raise so that their callers decide. ``LocalMediaError`` means
we misused the API (a bug). ``PortRangeExhaustedError`` means every port pair
of the configured range is in use: the call that asked is refused.
"""

from __future__ import annotations

from gateway.errors import GatewayError

__all__ = [
    "LocalMediaError",
    "MediaError",
    "PortRangeExhaustedError",
    "RemoteMediaError",
]


class MediaError(GatewayError):
    """Base of media relay errors."""


class RemoteMediaError(MediaError):
    """A peer's RTP or RTCP packet is malformed."""


class LocalMediaError(MediaError):
    """Our own code misused the media API (a bug, never the peer's fault)."""


class PortRangeExhaustedError(MediaError):
    """No free RTP/RTCP port pair is left in the configured range."""
