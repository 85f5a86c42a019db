"""Port-pair allocator over the configured range."""

from __future__ import annotations

import pytest

from gateway.media.errors import LocalMediaError, PortRangeExhaustedError
from gateway.media.ports import PortAllocator


def test_allocates_even_rtp_ports_inside_the_range() -> None:
    """RTP ports are even and RTP+1 stays in range (RFC 3550 §11)."""
    ports = PortAllocator(port_min=20001, port_max=20010)
    got = [ports.allocate() for _ in range(ports.capacity)]
    assert got == [20002, 20004, 20006, 20008]
    assert all(p % 2 == 0 and p + 1 <= 20010 for p in got)


def test_exhaustion_raises_and_release_makes_room_last_in_queue() -> None:
    """A full range raises; a released pair is reused after the others."""
    ports = PortAllocator(port_min=30000, port_max=30005)
    first, second, third = ports.allocate(), ports.allocate(), ports.allocate()
    with pytest.raises(PortRangeExhaustedError):
        ports.allocate()
    ports.release(second)
    assert ports.allocate() == second
    ports.release(first)
    ports.release(third)
    assert [ports.allocate(), ports.allocate()] == [first, third]


def test_misuse_is_a_local_error() -> None:
    """Double release and a range without a pair are bugs."""
    ports = PortAllocator(port_min=30000, port_max=30001)
    port = ports.allocate()
    ports.release(port)
    with pytest.raises(LocalMediaError):
        ports.release(port)
    with pytest.raises(LocalMediaError):
        PortAllocator(port_min=30001, port_max=30002)
    with pytest.raises(LocalMediaError):
        PortAllocator(port_min=80, port_max=90)
