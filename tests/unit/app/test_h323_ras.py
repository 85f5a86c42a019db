"""GatekeeperLink over a fake transport and a fake clock (H.225.0 section 7.9).

A scripted gatekeeper decodes what the link sends and answers with our
codec; timers are driven by advancing the clock and firing the link's timer
by hand, so nothing sleeps or touches a socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from gateway.app.h323_ras import (
    ARJ_REASON_TO_Q850,
    AdmissionError,
    GatekeeperLink,
    admission_error,
)
from gateway.b2bua.trunks import HostPort, Trunk
from gateway.h323 import codec
from gateway.h323.codec import AliasKind, RasKind, RasMessage, TransportAddress

GK = ("10.0.0.9", 1719)
MCU = TransportAddress(host="10.0.0.20", port=1720)
CALL_ID = bytes(range(16))
PROTOCOL = (0, 0, 8, 2250, 0, 4)


class FakeTransport:
    """Records datagrams; says it is bound to 127.0.0.1:40000."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, tuple[str, int]]] = []
        self.closed = False

    def get_extra_info(self, name: str) -> Any:
        assert name == "sockname"
        return ("127.0.0.1", 40000)

    def sendto(self, data: bytes, address: tuple[str, int]) -> None:
        self.sent.append((data, address))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


class RecordingLog:
    """A structlog-style logger that keeps (level, event, fields)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Any:
        def log(event: str, **fields: Any) -> None:
            self.lines.append((level, event, fields))

        return log

    def events(self, name: str) -> list[dict[str, Any]]:
        return [fields for _, event, fields in self.lines if event == name]


class Harness:
    """A started link, its fake transport, clock and log."""

    def __init__(self, **trunk_values: Any) -> None:
        self.now = 100.0
        self.log = RecordingLog()
        self.transport = FakeTransport()
        values: dict[str, Any] = {
            "name": "mcu-gk",
            "protocol": "h323",
            "transport": "tcp",
            "gatekeeper": HostPort(*GK),
            "h323_id": "vcgw-hn",
            "prefixes": ("84",),
            "ras_retry_s": 5.0,
            **trunk_values,
        }
        self.link = GatekeeperLink(
            Trunk(**values), bind_host="127.0.0.1", log=self.log, clock=self.clock
        )
        self.seen = 0

    def clock(self) -> float:
        return self.now

    def start(self) -> None:
        self.link.start_on(self.transport)  # type: ignore[arg-type]

    def sent(self) -> list[RasMessage]:
        """Messages sent since the last call, all to the gatekeeper."""
        new = self.transport.sent[self.seen :]
        self.seen = len(self.transport.sent)
        assert all(address == GK for _, address in new)
        return [codec.decode_ras(data) for data, _ in new]

    def reply(self, name: str, seq: int, source: str = GK[0], **body: Any) -> None:
        data = codec.encode_ras_value((name, {"requestSeqNum": seq, **body}))
        self.link.receive_datagram(data, (source, GK[1]))

    def register(self, ttl: int = 60) -> None:
        """GRQ/GCF then RRQ/RCF."""
        self.start()
        (grq,) = self.sent()
        self.reply(
            "gatekeeperConfirm",
            grq.request_seq_num,
            protocolIdentifier=PROTOCOL,
            gatekeeperIdentifier="GK",
            rasAddress=TransportAddress(host=GK[0], port=GK[1]).to_asn(),
        )
        (rrq,) = self.sent()
        self.reply("registrationConfirm", rrq.request_seq_num, **self.rcf(ttl))

    def rcf(self, ttl: int) -> dict[str, Any]:
        return {
            "protocolIdentifier": PROTOCOL,
            "callSignalAddress": [MCU.to_asn()],
            "endpointIdentifier": "EP1",
            "gatekeeperIdentifier": "GK",
            "timeToLive": ttl,
        }

    def fire_timer_at(self, now: float) -> None:
        self.now = now
        self.link._on_timer()


def run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coroutine)


def test_registers_as_a_gateway_with_alias_and_prefixes() -> None:
    """GRQ then RRQ carry the H323-ID and prefixes; RCF registers us."""

    async def scenario() -> None:
        h = Harness()
        h.start()
        (grq,) = h.sent()
        assert grq.kind is RasKind.GRQ
        assert [(a.kind, a.value) for a in grq.aliases] == [
            (AliasKind.H323_ID, "vcgw-hn")
        ]
        assert grq.endpoint is not None and grq.endpoint.supported_prefixes == ("84",)
        assert grq.ras_addresses == (TransportAddress(host="127.0.0.1", port=40000),)
        h.reply(
            "gatekeeperConfirm",
            grq.request_seq_num,
            protocolIdentifier=PROTOCOL,
            gatekeeperIdentifier="GK",
            rasAddress=TransportAddress(host=GK[0], port=GK[1]).to_asn(),
        )
        (rrq,) = h.sent()
        assert rrq.kind is RasKind.RRQ and rrq.time_to_live_s == 300
        assert rrq.call_signal_addresses == (
            TransportAddress(host="127.0.0.1", port=1720),
        )
        assert not h.link.is_registered
        h.reply("registrationConfirm", rrq.request_seq_num, **h.rcf(60))
        assert h.link.is_registered
        (registered,) = h.log.events("h323.ras.registered")
        assert registered == {
            "trunk": "mcu-gk",
            "endpoint_id": "EP1",
            "gatekeeper_id": "GK",
            "ttl_s": 60,
        }

    run(scenario())


def test_keep_alive_before_ttl_and_retry_after_rrj() -> None:
    """A lightweight RRQ 45 s into a 60 s TTL; after RRJ, a full RRQ in 5 s."""

    async def scenario() -> None:
        h = Harness()
        h.register(ttl=60)
        h.fire_timer_at(144.0)
        assert h.sent() == []
        h.fire_timer_at(145.0)
        (keep_alive,) = h.sent()
        assert keep_alive.is_keep_alive and keep_alive.endpoint_identifier == "EP1"
        h.reply(
            "registrationReject",
            keep_alive.request_seq_num,
            protocolIdentifier=PROTOCOL,
            rejectReason=("fullRegistrationRequired", 0),
        )
        assert not h.link.is_registered
        (lost,) = h.log.events("h323.ras.registration_lost")
        assert lost["reason"] == "fullRegistrationRequired"
        assert lost["retry_in_s"] == 5.0
        h.fire_timer_at(150.0)
        (grq,) = h.sent()  # Lost: discovery again, then registration.
        assert grq.kind is RasKind.GRQ
        assert h.log.events("h323.ras.retry") == [
            {"trunk": "mcu-gk", "state": "discovering"}
        ]

    run(scenario())


def test_admission_gives_the_acf_address_and_drq_follows() -> None:
    """ARQ carries the dialled digits; ACF's address is returned; DRQ after."""

    async def scenario() -> None:
        h = Harness()
        h.register()
        admit = asyncio.create_task(
            h.link.admit(call_identifier=CALL_ID, dialled="66123", calling="xa-a")
        )
        await asyncio.sleep(0)
        (arq,) = h.sent()
        assert arq.kind is RasKind.ARQ and arq.call_identifier == CALL_ID
        assert [(a.kind, a.value) for a in arq.destination_aliases] == [
            (AliasKind.DIALLED_DIGITS, "66123")
        ]
        assert arq.bandwidth == 7680 and arq.endpoint_identifier == "EP1"
        h.reply(
            "admissionConfirm",
            arq.request_seq_num,
            bandWidth=7680,
            callModel=("direct", 0),
            destCallSignalAddress=MCU.to_asn(),
        )
        assert await admit == MCU
        h.link.disengage(CALL_ID)
        (drq,) = h.sent()
        assert drq.kind is RasKind.DRQ and drq.call_identifier == CALL_ID
        assert drq.conference_id == arq.conference_id
        assert drq.call_reference == arq.call_reference
        h.reply("disengageConfirm", drq.request_seq_num)
        (disengaged,) = h.log.events("h323.ras.disengaged")
        assert disengaged["confirmed"] is True
        h.link.disengage(CALL_ID)  # Once only.
        assert h.sent() == []

    run(scenario())


def test_arj_raises_with_cause_and_status() -> None:
    """ARJ requestDenied: AdmissionError with cause 21 (SIP 403)."""

    async def scenario() -> None:
        h = Harness()
        h.register()
        admit = asyncio.create_task(
            h.link.admit(call_identifier=CALL_ID, dialled="66123")
        )
        await asyncio.sleep(0)
        (arq,) = h.sent()
        h.reply(
            "admissionReject", arq.request_seq_num, rejectReason=("requestDenied", 0)
        )
        with pytest.raises(AdmissionError) as caught:
            await admit
        assert (caught.value.reason, caught.value.cause) == ("requestDenied", 21)
        assert caught.value.sip_status == 403
        h.link.disengage(CALL_ID)  # Not admitted: no DRQ.
        assert h.sent() == []
        assert h.link.is_registered

    run(scenario())


def test_not_registered_refuses_at_once() -> None:
    """Before RCF no ARQ goes out: notRegistered, cause 38."""

    async def scenario() -> None:
        h = Harness()
        h.start()
        h.sent()
        with pytest.raises(AdmissionError) as caught:
            await h.link.admit(call_identifier=CALL_ID, dialled="66123")
        assert caught.value.reason == "notRegistered" and caught.value.cause == 38
        assert h.sent() == []

    run(scenario())


def test_gatekeeper_drq_clears_the_call() -> None:
    """The gatekeeper's DRQ is confirmed and reaches on_disengage; no DRQ of ours."""

    async def scenario() -> None:
        h = Harness()
        h.register()
        reasons: list[str | None] = []
        admit = asyncio.create_task(
            h.link.admit(
                call_identifier=CALL_ID, dialled="66123", on_disengage=reasons.append
            )
        )
        await asyncio.sleep(0)
        (arq,) = h.sent()
        h.reply(
            "admissionConfirm",
            arq.request_seq_num,
            bandWidth=7680,
            callModel=("direct", 0),
            destCallSignalAddress=MCU.to_asn(),
        )
        await admit
        drq = RasMessage(
            kind=RasKind.DRQ,
            request_seq_num=77,
            endpoint_identifier="EP1",
            call_identifier=CALL_ID,
            conference_id=arq.conference_id,
            call_reference=arq.call_reference,
            reason="forcedDrop",
        )
        h.link.receive_datagram(codec.encode_ras(drq), GK)
        (dcf,) = h.sent()
        assert dcf.kind is RasKind.DCF and dcf.request_seq_num == 77
        assert reasons == ["forcedDrop"]
        h.link.disengage(CALL_ID)
        assert h.sent() == []

    run(scenario())


def test_datagrams_from_elsewhere_are_ignored() -> None:
    """An RCF from another host does not register us."""

    async def scenario() -> None:
        h = Harness()
        h.start()
        (grq,) = h.sent()
        h.reply(
            "gatekeeperConfirm",
            grq.request_seq_num,
            protocolIdentifier=PROTOCOL,
            gatekeeperIdentifier="GK",
            rasAddress=TransportAddress(host=GK[0], port=GK[1]).to_asn(),
        )
        (rrq,) = h.sent()
        h.reply(
            "registrationConfirm", rrq.request_seq_num, source="10.6.6.6", **h.rcf(60)
        )
        assert not h.link.is_registered
        (foreign,) = h.log.events("h323.ras.foreign_datagram")
        assert foreign["source"] == "10.6.6.6:1719"

    run(scenario())


def test_stop_disengages_then_unregisters() -> None:
    """stop(): DRQ for an open call, URQ, then the socket closes after UCF."""

    async def scenario() -> None:
        h = Harness()
        h.register()
        admit = asyncio.create_task(
            h.link.admit(call_identifier=CALL_ID, dialled="66123")
        )
        await asyncio.sleep(0)
        (arq,) = h.sent()
        h.reply(
            "admissionConfirm",
            arq.request_seq_num,
            bandWidth=7680,
            callModel=("direct", 0),
            destCallSignalAddress=MCU.to_asn(),
        )
        await admit
        stop = asyncio.create_task(h.link.stop())
        await asyncio.sleep(0)
        drq, urq = h.sent()
        assert (drq.kind, urq.kind) == (RasKind.DRQ, RasKind.URQ)
        assert urq.endpoint_identifier == "EP1"
        assert not h.transport.closed
        h.reply("unregistrationConfirm", urq.request_seq_num)
        await stop
        assert h.transport.closed
        (unregistered,) = h.log.events("h323.ras.unregistered")
        assert unregistered["confirmed"] is True
        with pytest.raises(AdmissionError):
            await h.link.admit(call_identifier=bytes(16), dialled="1")

    run(scenario())


def test_stop_without_ucf_gives_up_after_timeout() -> None:
    """No UCF: stop() still returns and closes the socket."""

    async def scenario() -> None:
        h = Harness()
        h.register()
        await h.link.stop(timeout_s=0)
        (urq,) = h.sent()
        assert urq.kind is RasKind.URQ and h.transport.closed

    run(scenario())


@pytest.mark.parametrize(
    ("reason", "cause", "status"),
    [
        ("requestDenied", 21, 403),
        ("securityDenial", 21, 403),
        ("calledPartyNotRegistered", 20, 480),
        ("resourceUnavailable", 47, 503),
        ("exceedsCallCapacity", 34, 503),
        ("incompleteAddress", 28, 484),
        ("unallocatedNumber", 1, 404),
        ("noRouteToDestination", 3, 404),
        ("timeout", 102, 504),
        ("notRegistered", 38, 503),
        ("routeCallToSCN", 41, 503),  # Not in the table: temporary failure.
        (None, 41, 503),
    ],
)
def test_arj_reason_table(reason: str | None, cause: int, status: int) -> None:
    """Each ARJ reason maps to a Q.850 cause, and that to a SIP status."""
    error = admission_error(reason)
    assert (error.cause, error.sip_status) == (cause, status)
    if reason is not None and reason in ARJ_REASON_TO_Q850:
        assert ARJ_REASON_TO_Q850[reason] == cause


def test_a_trunk_without_gatekeeper_is_refused() -> None:
    """GatekeeperLink needs a trunk that names a gatekeeper."""
    trunk = Trunk(name="t", protocol="h323", addresses=(HostPort("10.0.0.1", 1720),))
    with pytest.raises(ValueError):
        GatekeeperLink(trunk, bind_host="127.0.0.1", log=RecordingLog())
