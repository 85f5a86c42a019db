"""A bug in one handler is logged and counted; the flow and later requests go on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog

from gateway.app.sip_io import Connection
from gateway.app.sip_service import SipService
from gateway.sip.ids import TransactionKey
from gateway.sip.message import SipRequest
from gateway.sip.parse import parse_message
from gateway.sip.registrar import Registrar, RegistrarPolicy
from gateway.store.sqlite import SqliteStore


class BrokenCalls:
    """A call handler with a bug: every INVITE raises."""

    def on_request(
        self,
        transaction_id: TransactionKey,
        request: SipRequest,
        connection: Connection,
    ) -> None:
        raise RuntimeError("bug")

    def on_ack(self, request: SipRequest) -> None:
        raise RuntimeError("bug")

    def on_cancel(self, invite_transaction: TransactionKey) -> None:
        raise RuntimeError("bug")


def request(method: str, branch: str) -> SipRequest:
    text = (
        f"{method} sip:xa-b@vcgw.test SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK{branch}\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:xa-a@vcgw.test>;tag=a\r\n"
        "To: <sip:xa-b@vcgw.test>\r\nCall-ID: guard-1\r\n"
        f"CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, SipRequest)
    return message


def test_handler_bug_does_not_cost_the_connection(tmp_path: Path) -> None:
    """INVITE hits a broken handler; OPTIONS on the same flow is still answered."""
    sent: list[bytes] = []
    closed: list[bool] = []
    store = SqliteStore(tmp_path / "s.sqlite3")
    service = SipService(
        registrar=Registrar(RegistrarPolicy(domain="vcgw.test")),
        store=store,
        log=structlog.get_logger("test"),
        user_agent="vcgw-test",
    )
    service.call_handler = BrokenCalls()
    connection = Connection(
        flow_id="tls-1",
        transport="TLS",
        peer=("127.0.0.1", 5999),
        _write=sent.append,
        _close=lambda: closed.append(True),
    )

    async def run() -> None:
        service.on_message(request("INVITE", "1"), connection)
        service.on_message(request("OPTIONS", "2"), connection)

    asyncio.run(run())
    store.close()
    assert service.handler_failures == 1
    assert not closed
    assert any(b"SIP/2.0 200 OK" in data and b"OPTIONS" in data for data in sent)
