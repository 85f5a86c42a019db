"""Failover between an H.323 trunk's addresses: refused, silent, busy."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import GatewayFactory
from tests.interop.harness import GatewayProcess, free_port
from tests.interop.peer_process import H323Peer
from tests.interop.pjsua_peer import CALLER_MEDIA_PORT, Site, call_records

pytestmark = pytest.mark.interop


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def trunk_gateway(make_gateway: GatewayFactory, *addresses: int) -> GatewayProcess:
    def edit(text: str) -> str:
        route = (
            '[[routes]]\nname = "mcu-h323"\nmatch_prefix = "66"\n'
            'target = "trunk:mcu323"\n\n'
        )
        marker = "[[routes]]\n# Site to site"
        listed = ", ".join(f'"127.0.0.1:{port}"' for port in addresses)
        return text.replace(marker, route + marker) + (
            f'\n[[trunks]]\nname = "mcu323"\nprotocol = "h323"\n'
            f'addresses = [{listed}]\ntransport = "tcp"\nfailover_timeout_s = 1.5\n'
            "options_interval_s = 0\n"
        )

    return make_gateway(edit=edit)


def call_through(gateway: GatewayProcess, steps: str) -> Site:
    return Site(gateway, "xa-fo", steps, media_port=CALLER_MEDIA_PORT)


@pytest.mark.parametrize("first", ["refused", "silent"])
def test_next_address_answers(
    make_gateway: GatewayFactory,
    tmp_path: Path,
    silent_listener: int,
    first: str,
) -> None:
    """A refused connection, or no answer in failover_timeout_s: next address."""
    peer = H323Peer(tmp_path, mode="faststart")
    dead = free_port() if first == "refused" else silent_listener
    gateway = trunk_gateway(make_gateway, dead, peer.port)
    site = call_through(gateway, "register,call:66123,wait:2,stats,hangup")
    try:
        confirmed = site.wait_for("call", state="confirmed")
        stats = site.wait_for("stats")
        site.wait_for("call", state="disconnected")
        peer.wait_for("released")
    finally:
        site.finish()
        peer.stop()
    assert confirmed["status"] == 200 and stats["rx_packets"] > 50
    if first == "refused":
        assert gateway.events("call.trunk_unreachable")
    else:
        (failover,) = gateway.events("call.failover")
        assert failover["next"] == f"127.0.0.1:{peer.port}"
    (record,) = call_records(gateway)
    assert record["legs"][1]["peer"] == f"127.0.0.1:{peer.port}"


def test_busy_is_final(make_gateway: GatewayFactory, tmp_path: Path) -> None:
    """Release Complete cause 17 (user busy) is an answer: 486, no failover."""
    busy = H323Peer(tmp_path, mode="busy")
    other = free_port()
    gateway = trunk_gateway(make_gateway, busy.port, other)
    site = call_through(gateway, "register,call:66123")
    try:
        ended = site.wait_for("call", state="disconnected")
    finally:
        site.finish()
        busy.stop()
    assert ended["status"] == 486, ended
    assert gateway.events("call.failover") == []
