"""RTP/RTCP port-pair allocator over a configured range (sans-IO).

RFC 3550 §11: RTP on an even port, RTCP on the next odd one. Released pairs
go to the back of the free queue, so a port is reused as late as possible:
stray packets of an ended call are less likely to reach the next one.
"""

from __future__ import annotations

from collections import deque

from gateway.media.errors import LocalMediaError, PortRangeExhaustedError

__all__ = ["PortAllocator"]


class PortAllocator:
    """Hands out even RTP ports in ``[port_min, port_max]``; RTCP is RTP+1.

    Raises :class:`LocalMediaError` if the range holds no whole pair or lies
    outside 1024..65535.
    """

    __slots__ = ("_free", "_in_use", "port_max", "port_min")

    def __init__(self, *, port_min: int, port_max: int) -> None:
        first = port_min + (port_min % 2)
        if not 1024 <= port_min <= port_max <= 65535 or first + 1 > port_max:
            raise LocalMediaError("media port range must hold an even/odd pair")
        self.port_min = port_min
        self.port_max = port_max
        self._free: deque[int] = deque(range(first, port_max, 2))
        self._in_use: set[int] = set()

    @property
    def capacity(self) -> int:
        """Number of pairs in the range."""
        return len(self._free) + len(self._in_use)

    @property
    def available(self) -> int:
        """Number of pairs free now."""
        return len(self._free)

    def allocate(self) -> int:
        """Return a free even RTP port (its RTCP port is the next one).

        Raises :class:`PortRangeExhaustedError` when every pair is in use.
        """
        if not self._free:
            raise PortRangeExhaustedError("no free media port pair in the range")
        port = self._free.popleft()
        self._in_use.add(port)
        return port

    def release(self, rtp_port: int) -> None:
        """Return a pair to the pool; releasing a free port is a bug.

        Raises :class:`LocalMediaError` if ``rtp_port`` is not allocated.
        """
        if rtp_port not in self._in_use:
            raise LocalMediaError(f"media port {rtp_port} is not allocated")
        self._in_use.remove(rtp_port)
        self._free.append(rtp_port)
