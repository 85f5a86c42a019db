"""RasClient against a small gatekeeper machine under a fake clock (H.225.0 7.9)."""

from dataclasses import dataclass, field
from typing import Any

import pytest

from gateway.h323 import codec
from gateway.h323.codec import (
    AliasAddress,
    AliasKind,
    EndpointInfo,
    RasKind,
    RasMessage,
    TransportAddress,
)
from gateway.h323.errors import LocalH323Error
from gateway.h323.ras import (
    DISCOVERY_ADDRESS,
    AdmissionConfirmed,
    AdmissionRejected,
    Disengaged,
    DisengageRequested,
    GatekeeperConfirmed,
    GatekeeperRejected,
    MessageDropped,
    RasClient,
    RasConfig,
    RasEvent,
    RasState,
    Registered,
    RegistrationLost,
    RegistrationRejected,
    RequestTimedOut,
    Unregistered,
)

GK_ADDRESS = TransportAddress(host="127.0.0.9", port=1719)
PEER = TransportAddress(host="127.0.0.2", port=1720)
CALL_ID = bytes(range(16))
CONF_ID = bytes(range(16, 32))
ALIAS = AliasAddress(kind=AliasKind.H323_ID, value="vcgw")


def config(**overrides: Any) -> RasConfig:
    """A gateway RAS config with prefix 84."""
    values: dict[str, Any] = {
        "aliases": (ALIAS,),
        "call_signal_address": TransportAddress(host="127.0.0.1", port=1720),
        "ras_address": TransportAddress(host="127.0.0.1", port=1719),
        "endpoint": EndpointInfo(supported_prefixes=("84",)),
        "time_to_live_s": 60,
    }
    values.update(overrides)
    return RasConfig(**values)


@dataclass
class Gatekeeper:
    """A test gatekeeper: answers each request kind with a scripted reply.

    ``reject`` holds request kinds to reject once each; ``silent`` counts how
    many requests to ignore (loss on the wire).
    """

    reject: list[RasKind] = field(default_factory=list)
    silent: int = 0
    received: list[RasMessage] = field(default_factory=list)
    ttl: int = 60

    def receive(self, data: bytes) -> list[bytes]:
        """Handle one datagram from the client, return the replies."""
        message = codec.decode_ras(data)
        self.received.append(message)
        if message.kind in (RasKind.UCF, RasKind.DCF, RasKind.IRR):
            return []
        if self.silent:
            self.silent -= 1
            return []
        seq = message.request_seq_num
        if message.kind in self.reject:
            self.reject.remove(message.kind)
            name, reason = REJECTS[message.kind]
            return [codec.encode_ras_value((name, {"requestSeqNum": seq, **reason}))]
        return [codec.encode_ras_value(self.confirm(message))]

    def confirm(self, message: RasMessage) -> tuple[str, dict[str, Any]]:
        """The confirm for ``message``."""
        seq = message.request_seq_num
        protocol = {"protocolIdentifier": (0, 0, 8, 2250, 0, 4)}
        if message.kind is RasKind.GRQ:
            return (
                "gatekeeperConfirm",
                {
                    "requestSeqNum": seq,
                    **protocol,
                    "gatekeeperIdentifier": "GK",
                    "rasAddress": GK_ADDRESS.to_asn(),
                },
            )
        if message.kind is RasKind.RRQ:
            return (
                "registrationConfirm",
                {
                    "requestSeqNum": seq,
                    **protocol,
                    "callSignalAddress": [PEER.to_asn()],
                    "endpointIdentifier": "EP1",
                    "gatekeeperIdentifier": "GK",
                    "timeToLive": self.ttl,
                },
            )
        if message.kind is RasKind.ARQ:
            return (
                "admissionConfirm",
                {
                    "requestSeqNum": seq,
                    "bandWidth": message.bandwidth,
                    "callModel": ("direct", 0),
                    "destCallSignalAddress": PEER.to_asn(),
                },
            )
        name = {RasKind.DRQ: "disengageConfirm", RasKind.URQ: "unregistrationConfirm"}
        return (name[message.kind], {"requestSeqNum": seq})


REJECTS: dict[RasKind, tuple[str, dict[str, Any]]] = {
    RasKind.GRQ: (
        "gatekeeperReject",
        {
            "protocolIdentifier": (0, 0, 8, 2250, 0, 4),
            "rejectReason": ("resourceUnavailable", 0),
        },
    ),
    RasKind.RRQ: (
        "registrationReject",
        {
            "protocolIdentifier": (0, 0, 8, 2250, 0, 4),
            "rejectReason": ("securityDenial", 0),
        },
    ),
    RasKind.ARQ: ("admissionReject", {"rejectReason": ("calledPartyNotRegistered", 0)}),
    RasKind.DRQ: ("disengageReject", {"rejectReason": ("notRegistered", 0)}),
    RasKind.URQ: (
        "unregistrationReject",
        {"rejectReason": ("notCurrentlyRegistered", 0)},
    ),
}


def pump(client: RasClient, gatekeeper: Gatekeeper, now: float = 0.0) -> None:
    """Deliver datagrams both ways at ``now`` until the wire is quiet."""
    while out := client.pop_outgoing():
        for data in out:
            for reply in gatekeeper.receive(data):
                client.receive_datagram(reply, now)


def run_until(client: RasClient, gatekeeper: Gatekeeper, end: float) -> None:
    """Advance the fake clock through every deadline up to ``end``."""
    pump(client, gatekeeper)
    while (deadline := client.next_deadline()) is not None and deadline <= end:
        client.handle_timeout(deadline)
        pump(client, gatekeeper, deadline)


def registered() -> tuple[RasClient, Gatekeeper]:
    """A client registered through discovery."""
    client, gatekeeper = RasClient(config()), Gatekeeper()
    client.start(0.0)
    pump(client, gatekeeper)
    client.pop_events()
    return client, gatekeeper


def kinds(events: list[RasEvent]) -> list[object]:
    """The event types, in order."""
    return [type(e) for e in events]


def test_discovery_then_registration() -> None:
    """GRQ/GCF moves to the gatekeeper's address, then RRQ/RCF registers."""
    client, gatekeeper = RasClient(config()), Gatekeeper()
    assert client.gatekeeper_address == DISCOVERY_ADDRESS
    client.start(0.0)
    pump(client, gatekeeper)
    events = client.pop_events()
    assert kinds(events) == [GatekeeperConfirmed, Registered]
    assert client.gatekeeper_address == GK_ADDRESS
    assert client.state is RasState.REGISTERED
    assert events[1] == Registered(
        endpoint_identifier="EP1",
        gatekeeper_identifier="GK",
        time_to_live_s=60,
        is_keep_alive=False,
    )
    grq, rrq = gatekeeper.received
    assert (grq.kind, rrq.kind) == (RasKind.GRQ, RasKind.RRQ)
    assert rrq.gatekeeper_identifier == "GK" and not rrq.is_keep_alive
    assert rrq.endpoint is not None and rrq.endpoint.supported_prefixes == ("84",)
    assert rrq.request_seq_num == grq.request_seq_num + 1


def test_skip_discovery_registers_directly() -> None:
    """With a known gatekeeper and skip_discovery the first request is RRQ."""
    client = RasClient(config(gatekeeper_address=GK_ADDRESS, skip_discovery=True))
    gatekeeper = Gatekeeper()
    client.start(0.0)
    pump(client, gatekeeper)
    assert [m.kind for m in gatekeeper.received] == [RasKind.RRQ]
    assert client.gatekeeper_address == GK_ADDRESS and client.is_registered


def test_keep_alive_before_expiry() -> None:
    """A lightweight RRQ with keepAlive and endpointIdentifier precedes expiry."""
    client, gatekeeper = registered()
    deadline = client.next_deadline()
    assert deadline is not None and deadline < 60
    run_until(client, gatekeeper, deadline)
    keep_alive = gatekeeper.received[-1]
    assert keep_alive.kind is RasKind.RRQ and keep_alive.is_keep_alive
    assert keep_alive.endpoint_identifier == "EP1"
    assert keep_alive.gatekeeper_identifier == "GK"
    events = client.pop_events()
    assert kinds(events) == [Registered]
    assert isinstance(events[0], Registered) and events[0].is_keep_alive
    assert client.state is RasState.REGISTERED


def test_admission_and_disengage() -> None:
    """ARQ/ACF gives the destination address; DRQ/DCF ends the call."""
    client, gatekeeper = registered()
    client.admission(
        0.0,
        call_identifier=CALL_ID,
        conference_id=CONF_ID,
        call_reference=0x1234,
        bandwidth=1280,
        destination_aliases=(AliasAddress(kind=AliasKind.DIALLED_DIGITS, value="1"),),
    )
    pump(client, gatekeeper)
    assert client.pop_events() == [
        AdmissionConfirmed(
            call_identifier=CALL_ID, dest_call_signal_address=PEER, bandwidth=1280
        )
    ]
    arq = gatekeeper.received[-1]
    assert (arq.endpoint_identifier, arq.call_reference) == ("EP1", 0x1234)
    assert arq.source_aliases == (ALIAS,)
    client.disengage(
        0.0, call_identifier=CALL_ID, conference_id=CONF_ID, call_reference=0x1234
    )
    pump(client, gatekeeper)
    assert client.pop_events() == [
        Disengaged(call_identifier=CALL_ID, is_confirmed=True)
    ]
    assert gatekeeper.received[-1].kind is RasKind.DRQ


def test_admission_and_disengage_rejected() -> None:
    """ARJ reports its reason; DRJ reports an unconfirmed disengage."""
    client, gatekeeper = registered()
    gatekeeper.reject += [RasKind.ARQ, RasKind.DRQ]
    ids: dict[str, Any] = {
        "call_identifier": CALL_ID,
        "conference_id": CONF_ID,
        "call_reference": 1,
    }
    client.admission(0.0, bandwidth=640, **ids)
    client.disengage(0.0, **ids)
    pump(client, gatekeeper)
    assert client.pop_events() == [
        AdmissionRejected(call_identifier=CALL_ID, reason="calledPartyNotRegistered"),
        Disengaged(call_identifier=CALL_ID, is_confirmed=False),
    ]


def test_admission_when_not_registered_is_rejected_at_once() -> None:
    """Without a registration ARQ is not sent and the call is rejected."""
    client = RasClient(config())
    ids: dict[str, Any] = {
        "call_identifier": CALL_ID,
        "conference_id": CONF_ID,
        "call_reference": 1,
    }
    client.admission(0.0, bandwidth=640, **ids)
    client.disengage(0.0, **ids)
    assert client.pop_outgoing() == []
    assert client.pop_events() == [
        AdmissionRejected(call_identifier=CALL_ID, reason="notRegistered"),
        Disengaged(call_identifier=CALL_ID, is_confirmed=False),
    ]


def test_unregister_at_shutdown() -> None:
    """URQ carries the endpointIdentifier; UCF gives Unregistered."""
    client, gatekeeper = registered()
    client.unregister(0.0)
    pump(client, gatekeeper)
    urq = gatekeeper.received[-1]
    assert urq.kind is RasKind.URQ and urq.endpoint_identifier == "EP1"
    assert client.pop_events() == [
        Unregistered(reason=None, is_gatekeeper_initiated=False, is_confirmed=True)
    ]
    assert client.state is RasState.UNREGISTERED and client.next_deadline() is None


def test_unregister_rejected_or_unanswered_still_ends() -> None:
    """URJ or a silent gatekeeper still ends the registration, unconfirmed."""
    client, gatekeeper = registered()
    gatekeeper.reject.append(RasKind.URQ)
    client.unregister(0.0)
    pump(client, gatekeeper)
    assert client.pop_events() == [
        Unregistered(
            reason="notCurrentlyRegistered",
            is_gatekeeper_initiated=False,
            is_confirmed=False,
        )
    ]
    client, gatekeeper = registered()
    gatekeeper.silent = 10
    client.unregister(0.0)
    run_until(client, gatekeeper, 100.0)
    assert kinds(client.pop_events()) == [RequestTimedOut, Unregistered]
    assert client.state is RasState.UNREGISTERED


def test_unregister_before_registration_cancels() -> None:
    """Unregistering while discovering drops the GRQ and sends nothing."""
    client = RasClient(config())
    client.start(0.0)
    client.pop_outgoing()
    client.unregister(0.0)
    assert client.pop_outgoing() == [] and client.next_deadline() is None
    assert kinds(client.pop_events()) == [Unregistered]
    with pytest.raises(LocalH323Error):
        client.unregister(0.0)


def test_reregistration_after_rrj() -> None:
    """RRJ waits the backoff, then a full RRQ registers."""
    client, gatekeeper = RasClient(config()), Gatekeeper(reject=[RasKind.RRQ])
    client.start(0.0)
    pump(client, gatekeeper)
    events = client.pop_events()
    assert kinds(events) == [GatekeeperConfirmed, RegistrationRejected]
    assert events[1] == RegistrationRejected(reason="securityDenial", retry_in_s=30.0)
    assert client.state is RasState.WAITING and client.next_deadline() == 30.0
    run_until(client, gatekeeper, 30.0)
    assert kinds(client.pop_events()) == [Registered]
    received = [m.kind for m in gatekeeper.received]
    assert received == [RasKind.GRQ, RasKind.RRQ, RasKind.RRQ]
    assert not gatekeeper.received[-1].is_keep_alive


def test_grj_backs_off_exponentially() -> None:
    """Each GRJ doubles the wait before the next GRQ."""
    client = RasClient(config())
    gatekeeper = Gatekeeper(reject=[RasKind.GRQ, RasKind.GRQ])
    client.start(0.0)
    run_until(client, gatekeeper, 1000.0)
    events = client.pop_events()
    assert events[:2] == [
        GatekeeperRejected(reason="resourceUnavailable", retry_in_s=30.0),
        GatekeeperRejected(reason="resourceUnavailable", retry_in_s=60.0),
    ]
    assert kinds(events[2:4]) == [GatekeeperConfirmed, Registered]


def test_retransmission_under_loss() -> None:
    """Lost requests are resent with the same requestSeqNum every 3 s."""
    client, gatekeeper = RasClient(config()), Gatekeeper(silent=2)
    client.start(0.0)
    pump(client, gatekeeper)
    assert client.next_deadline() == 3.0
    run_until(client, gatekeeper, 6.0)
    grqs = [m for m in gatekeeper.received if m.kind is RasKind.GRQ]
    assert len(grqs) == 3 and {m.request_seq_num for m in grqs} == {1}
    assert client.is_registered


def test_request_times_out_after_three_retries() -> None:
    """After 1 + 3 sends and no reply, the request times out and backs off."""
    client, gatekeeper = RasClient(config()), Gatekeeper(silent=4)
    client.start(0.0)
    run_until(client, gatekeeper, 12.0)
    assert len(gatekeeper.received) == 4
    events = client.pop_events()
    assert events == [
        RequestTimedOut(kind=RasKind.GRQ, request_seq_num=1),
        GatekeeperRejected(reason=None, retry_in_s=30.0),
    ]
    assert client.state is RasState.WAITING


def test_keep_alive_lost_reregisters() -> None:
    """An unanswered keep-alive loses the registration, then rediscovers."""
    client, gatekeeper = registered()
    gatekeeper.silent = 4
    keep_alive_at = client.next_deadline()
    assert keep_alive_at is not None
    run_until(client, gatekeeper, keep_alive_at + 12.0)
    events = client.pop_events()
    assert kinds(events) == [RequestTimedOut, RegistrationLost]
    assert not client.is_registered
    run_until(client, gatekeeper, keep_alive_at + 12.0 + 30.0)
    assert kinds(client.pop_events()) == [GatekeeperConfirmed, Registered]


def test_arq_timeout_rejects_admission() -> None:
    """An ARQ nobody answers ends in AdmissionRejected(timeout)."""
    client, gatekeeper = registered()
    gatekeeper.silent = 4
    client.admission(
        0.0,
        call_identifier=CALL_ID,
        conference_id=CONF_ID,
        call_reference=1,
        bandwidth=640,
    )
    run_until(client, gatekeeper, 12.0)
    assert client.pop_events()[-1] == AdmissionRejected(
        call_identifier=CALL_ID, reason="timeout"
    )


def gatekeeper_request(value: tuple[str, dict[str, Any]]) -> bytes:
    """A gatekeeper-initiated request."""
    return codec.encode_ras_value(value)


def test_gatekeeper_initiated_urq_drq_irq() -> None:
    """URQ -> UCF and re-registration, DRQ -> DCF + event, IRQ -> IRR."""
    client, gatekeeper = registered()
    drq = RasMessage(
        kind=RasKind.DRQ,
        request_seq_num=77,
        endpoint_identifier="EP1",
        conference_id=CONF_ID,
        call_identifier=CALL_ID,
        call_reference=5,
        reason="forcedDrop",
    )
    client.receive_datagram(codec.encode_ras(drq), 0.0)
    client.receive_datagram(
        gatekeeper_request(
            ("infoRequest", {"requestSeqNum": 78, "callReferenceValue": 0})
        ),
        0.0,
    )
    dcf, irr = (codec.decode_ras(d) for d in client.pop_outgoing())
    assert (dcf.kind, dcf.request_seq_num) == (RasKind.DCF, 77)
    assert (irr.kind, irr.request_seq_num, irr.endpoint_identifier) == (
        RasKind.IRR,
        78,
        "EP1",
    )
    assert client.pop_events() == [
        DisengageRequested(call_identifier=CALL_ID, reason="forcedDrop")
    ]
    urq = RasMessage(
        kind=RasKind.URQ,
        request_seq_num=79,
        call_signal_addresses=(PEER,),
        endpoint_identifier="EP1",
        reason="maintenance",
    )
    client.receive_datagram(codec.encode_ras(urq), 0.0)
    (ucf,) = (codec.decode_ras(d) for d in client.pop_outgoing())
    assert (ucf.kind, ucf.request_seq_num) == (RasKind.UCF, 79)
    assert client.pop_events() == [
        Unregistered(
            reason="maintenance", is_gatekeeper_initiated=True, is_confirmed=True
        )
    ]
    run_until(client, gatekeeper, 30.0)
    assert client.is_registered


def test_unmatched_and_garbage_are_dropped() -> None:
    """Replies with an unknown requestSeqNum and undecodable data are dropped."""
    client, _ = registered()
    stray = codec.encode_ras_value(
        (
            "admissionConfirm",
            {
                "requestSeqNum": 999,
                "bandWidth": 1,
                "callModel": ("direct", 0),
                "destCallSignalAddress": PEER.to_asn(),
            },
        )
    )
    client.receive_datagram(stray, 0.0)
    client.receive_datagram(b"\xff\x00", 0.0)
    assert kinds(client.pop_events()) == [MessageDropped, MessageDropped]
    assert client.is_registered


def test_request_in_progress_extends_the_wait() -> None:
    """RIP postpones retransmission by its delay (H.225.0 section 7.9.1)."""
    client = RasClient(config())
    client.start(0.0)
    (grq,) = client.pop_outgoing()
    seq = codec.decode_ras(grq).request_seq_num
    rip = codec.encode_ras_value(
        ("requestInProgress", {"requestSeqNum": seq, "delay": 20000})
    )
    client.receive_datagram(rip, 1.0)
    assert client.next_deadline() == 21.0


def test_config_validation() -> None:
    """A config without aliases or with skip_discovery and no address is refused."""
    with pytest.raises(LocalH323Error):
        config(aliases=())
    with pytest.raises(LocalH323Error):
        config(skip_discovery=True)
