"""H.225.0, RAS and H.245 codec over pycrate (aligned PER)."""

import subprocess
import sys
from dataclasses import replace
from typing import Any

import pytest

from gateway.h323 import codec
from gateway.h323.codec import (
    AliasAddress,
    AliasKind,
    EndpointInfo,
    H225Kind,
    H225Message,
    H245Category,
    H245Message,
    RasKind,
    RasMessage,
    TransportAddress,
)
from gateway.h323.errors import LocalH323Error, RemoteH323Error
from gateway.h323.q931 import MessageType

CALL_ID = bytes(range(16))
CONF_ID = bytes(range(16, 32))
ADDRESS = TransportAddress(host="192.0.2.1", port=1720)
V6_ADDRESS = TransportAddress(host="2001:db8::1", port=1721)
DIGITS = AliasAddress(kind=AliasKind.DIALLED_DIGITS, value="1001")
H323_ID = AliasAddress(kind=AliasKind.H323_ID, value="Phòng họp")
OLC = {
    "forwardLogicalChannelNumber": 1,
    "forwardLogicalChannelParameters": {
        "dataType": ("audioData", ("g711Alaw64k", 20)),
        "multiplexParameters": (
            "h2250LogicalChannelParameters",
            {
                "sessionID": 1,
                "mediaControlChannel": TransportAddress(
                    host="192.0.2.1", port=5001
                ).to_h245(),
            },
        ),
    },
}

SENDABLE_H225 = [
    H225Message(
        kind=H225Kind.SETUP,
        call_identifier=CALL_ID,
        conference_id=CONF_ID,
        source_address=(H323_ID,),
        destination_address=(DIGITS,),
        source_call_signal_address=ADDRESS,
        dest_call_signal_address=V6_ADDRESS,
        endpoint=EndpointInfo(supported_prefixes=("84", "1")),
        fast_start=(codec.encode_open_logical_channel(OLC),),
        h245_tunnelling=True,
    ),
    H225Message(
        kind=H225Kind.CALL_PROCEEDING, call_identifier=CALL_ID, endpoint=EndpointInfo()
    ),
    H225Message(
        kind=H225Kind.ALERTING,
        call_identifier=CALL_ID,
        h245_address=ADDRESS,
        endpoint=EndpointInfo(),
    ),
    H225Message(
        kind=H225Kind.PROGRESS, call_identifier=CALL_ID, endpoint=EndpointInfo()
    ),
    H225Message(
        kind=H225Kind.CONNECT,
        call_identifier=CALL_ID,
        conference_id=CONF_ID,
        h245_address=ADDRESS,
        endpoint=EndpointInfo(is_gateway=False),
    ),
    H225Message(
        kind=H225Kind.FACILITY,
        call_identifier=CALL_ID,
        facility_reason="startH245",
        h245_address=ADDRESS,
    ),
    H225Message(
        kind=H225Kind.RELEASE_COMPLETE, call_identifier=CALL_ID, release_reason="inConf"
    ),
    H225Message(kind=H225Kind.RELEASE_COMPLETE, call_identifier=CALL_ID),
    H225Message(kind=H225Kind.STATUS, call_identifier=CALL_ID),
    H225Message(kind=H225Kind.STATUS_INQUIRY, call_identifier=CALL_ID),
    H225Message(kind=H225Kind.INFORMATION, call_identifier=CALL_ID),
    H225Message(
        kind=H225Kind.EMPTY, h245_tunnelling=True, h245_control=(b"\x21\x80\x01",)
    ),
]


@pytest.mark.parametrize("message", SENDABLE_H225, ids=lambda m: m.kind.value)
def test_h225_round_trips_through_the_typed_view(message: H225Message) -> None:
    """decode(encode(m)) gives back every field we set."""
    data = codec.encode_h225(message)
    assert data[0] == 5
    decoded = codec.decode_h225(data)
    version = None if message.kind is H225Kind.EMPTY else 4
    assert decoded.protocol_version == version
    expected = replace(message, protocol_version=version)
    if message.kind is not H225Kind.SETUP and message.endpoint is None:
        # Responses always carry destinationInfo; we send a default one.
        needs_info = message.kind in (H225Kind.ALERTING, H225Kind.PROGRESS)
        assert (decoded.endpoint is not None) is needs_info
        expected = replace(expected, endpoint=decoded.endpoint)
    assert replace(decoded, raw=None) == expected


def test_setup_carries_mandatory_defaults() -> None:
    """Setup gets conferenceGoal create, pointToPoint and the mandatory flags."""
    body = codec.decode_h225(codec.encode_h225(SENDABLE_H225[0])).raw["h323-uu-pdu"]
    setup = body["h323-message-body"][1]
    assert setup["protocolIdentifier"] == (0, 0, 8, 2250, 0, 4)
    assert setup["conferenceGoal"] == ("create", 0)
    assert setup["callType"] == ("pointToPoint", 0)
    for flag in (
        "mediaWaitForConnect",
        "canOverlapSend",
        "multipleCalls",
        "maintainConnection",
    ):
        assert setup[flag] is False


def test_empty_lists_are_left_out() -> None:
    """An empty fastStart or h245Control is omitted, never sent as SEQUENCE OF 0."""
    message = H225Message(
        kind=H225Kind.CONNECT,
        call_identifier=CALL_ID,
        conference_id=CONF_ID,
        fast_start=(),
    )
    raw = codec.decode_h225(codec.encode_h225(message)).raw["h323-uu-pdu"]
    assert "h245Control" not in raw
    assert "fastStart" not in raw["h323-message-body"][1]
    info = codec.decode_h225(codec.encode_h225(message)).endpoint
    assert info is not None and info.is_gateway and info.supported_prefixes == ()


def test_voice_caps_extension_is_padded_per_x691() -> None:
    """pycrate's misplaced padding before extension additions is fixed.

    VoiceCaps {supportedPrefixes {}}: extension bit 1, nonStandardData absent
    0, bitmap length-1 = 1 in 7 bits, bitmap 01, 5 pad bits, then the open
    type: length 1, contents 00 (an empty SEQUENCE OF).  pycrate 0.8.1 alone
    writes an extra 00 before the open type (X.691 sections 19.7-19.9).
    """
    codec.encode_h245(
        H245Message(
            category=H245Category.RESPONSE,
            name="terminalCapabilitySetAck",
            body={"sequenceNumber": 1},
        )
    )
    from pycrate_asn1dir import H225

    voice_caps = H225.H323_MESSAGES.VoiceCaps
    voice_caps.set_val({"supportedPrefixes": []})
    assert voice_caps.to_aper() == bytes.fromhex("80a00100")


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (H225Message(kind=H225Kind.NOTIFY, call_identifier=CALL_ID), "cannot send"),
        (H225Message(kind=H225Kind.STATUS), "call_identifier"),
        (H225Message(kind=H225Kind.SETUP, call_identifier=CALL_ID), "conference_id"),
        (
            H225Message(
                kind=H225Kind.STATUS, call_identifier=CALL_ID, h245_address=ADDRESS
            ),
            "does not carry h245_address",
        ),
        (
            H225Message(
                kind=H225Kind.RELEASE_COMPLETE,
                call_identifier=CALL_ID,
                release_reason="noSuchReason",
            ),
            "cannot encode",
        ),
        (H225Message(kind=H225Kind.STATUS, call_identifier=b"short"), "cannot encode"),
    ],
)
def test_h225_misuse_raises_local_error(message: H225Message, text: str) -> None:
    """Unsendable kinds, missing mandatory or foreign fields are our bugs."""
    with pytest.raises(LocalH323Error, match=text):
        codec.encode_h225(message)


@pytest.mark.parametrize(
    ("data", "cause"),
    [(b"", 96), (b"\x04\x20", 100), (b"\x05", 100), (b"\x05\xff\xff\xff", 100)],
)
def test_bad_user_user_raises_remote_error(data: bytes, cause: int) -> None:
    """Empty, wrong discriminator or undecodable PER give the cause to send."""
    with pytest.raises(RemoteH323Error) as info:
        codec.decode_h225(data)
    assert info.value.q931_cause == cause


def test_q931_type_by_kind_covers_every_body() -> None:
    """Each H.225.0 body has the Q.931 message that carries it."""
    assert set(codec.Q931_TYPE_BY_KIND) == set(H225Kind)
    assert codec.Q931_TYPE_BY_KIND[H225Kind.EMPTY] is MessageType.FACILITY


ENDPOINT_ID: dict[str, Any] = {"endpoint_identifier": "EP1"}
CALL: dict[str, Any] = {
    **ENDPOINT_ID,
    "conference_id": CONF_ID,
    "call_identifier": CALL_ID,
    "call_reference": 77,
}
SENDABLE_RAS = [
    RasMessage(
        kind=RasKind.GRQ,
        request_seq_num=1,
        ras_addresses=(ADDRESS,),
        aliases=(H323_ID,),
        endpoint=EndpointInfo(product_id=b"x"),
    ),
    RasMessage(
        kind=RasKind.RRQ,
        request_seq_num=2,
        ras_addresses=(ADDRESS,),
        call_signal_addresses=(ADDRESS, V6_ADDRESS),
        aliases=(DIGITS, H323_ID),
        endpoint=EndpointInfo(),
        time_to_live_s=60,
        gatekeeper_identifier="GK",
    ),
    RasMessage(
        kind=RasKind.RRQ,
        request_seq_num=3,
        ras_addresses=(ADDRESS,),
        call_signal_addresses=(ADDRESS,),
        endpoint=EndpointInfo(),
        is_keep_alive=True,
        time_to_live_s=60,
        gatekeeper_identifier="GK",
        **ENDPOINT_ID,
    ),
    RasMessage(
        kind=RasKind.URQ,
        request_seq_num=4,
        call_signal_addresses=(ADDRESS,),
        reason="maintenance",
        **ENDPOINT_ID,
    ),
    RasMessage(
        kind=RasKind.ARQ,
        request_seq_num=5,
        bandwidth=640,
        source_aliases=(H323_ID,),
        destination_aliases=(DIGITS,),
        dest_call_signal_address=ADDRESS,
        is_answer_call=True,
        **CALL,
    ),
    RasMessage(
        kind=RasKind.DRQ,
        request_seq_num=6,
        reason="forcedDrop",
        is_answer_call=True,
        **CALL,
    ),
    RasMessage(kind=RasKind.UCF, request_seq_num=7),
    RasMessage(kind=RasKind.DCF, request_seq_num=8),
]


@pytest.mark.parametrize("message", SENDABLE_RAS, ids=lambda m: m.kind.name)
def test_ras_round_trips_through_the_typed_view(message: RasMessage) -> None:
    """decode(encode(m)) gives back every field we set."""
    decoded = codec.decode_ras(codec.encode_ras(message))
    version = 4 if message.kind in (RasKind.GRQ, RasKind.RRQ) else None
    assert decoded.protocol_version == version
    assert replace(decoded, raw=None) == replace(message, protocol_version=version)


def test_drq_defaults_to_normal_drop() -> None:
    """Without a reason, DRQ says normalDrop (H.225.0 section 7.10)."""
    decoded = codec.decode_ras(
        codec.encode_ras(RasMessage(kind=RasKind.DRQ, request_seq_num=1, **CALL))
    )
    assert decoded.reason == "normalDrop"


@pytest.mark.parametrize(
    ("message", "text"),
    [
        (RasMessage(kind=RasKind.GCF, request_seq_num=1), "cannot send"),
        (RasMessage(kind=RasKind.GRQ, request_seq_num=1), "one ras address"),
        (
            RasMessage(kind=RasKind.RRQ, request_seq_num=1, is_keep_alive=True),
            "lightweight",
        ),
        (RasMessage(kind=RasKind.ARQ, request_seq_num=1, **CALL), "bandwidth"),
        (RasMessage(kind=RasKind.DRQ, request_seq_num=1), "needs endpoint_identifier"),
        (
            RasMessage(kind=RasKind.UCF, request_seq_num=1, bandwidth=1),
            "does not carry",
        ),
        (RasMessage(kind=RasKind.UCF, request_seq_num=70000), "cannot encode"),
    ],
)
def test_ras_misuse_raises_local_error(message: RasMessage, text: str) -> None:
    """Unsendable kinds and missing mandatory fields are our bugs."""
    with pytest.raises(LocalH323Error, match=text):
        codec.encode_ras(message)


def test_gatekeeper_replies_decode_to_the_view() -> None:
    """GCF, RCF, ACF and ARJ from a gatekeeper expose the fields a call needs."""
    gcf = codec.decode_ras(
        codec.encode_ras_value(
            (
                "gatekeeperConfirm",
                {
                    "requestSeqNum": 1,
                    "protocolIdentifier": (0, 0, 8, 2250, 0, 6),
                    "gatekeeperIdentifier": "GK",
                    "rasAddress": ADDRESS.to_asn(),
                },
            )
        )
    )
    assert (gcf.kind, gcf.gatekeeper_identifier, gcf.protocol_version) == (
        RasKind.GCF,
        "GK",
        6,
    )
    assert gcf.ras_addresses == (ADDRESS,)
    rcf = codec.decode_ras(
        codec.encode_ras_value(
            (
                "registrationConfirm",
                {
                    "requestSeqNum": 2,
                    "protocolIdentifier": (0, 0, 8, 2250, 0, 4),
                    "callSignalAddress": [ADDRESS.to_asn()],
                    "endpointIdentifier": "EP9",
                    "timeToLive": 120,
                    "terminalAlias": [DIGITS.to_asn()],
                },
            )
        )
    )
    assert (rcf.endpoint_identifier, rcf.time_to_live_s, rcf.aliases) == (
        "EP9",
        120,
        (DIGITS,),
    )
    acf = codec.decode_ras(
        codec.encode_ras_value(
            (
                "admissionConfirm",
                {
                    "requestSeqNum": 3,
                    "bandWidth": 1280,
                    "callModel": ("direct", 0),
                    "destCallSignalAddress": V6_ADDRESS.to_asn(),
                },
            )
        )
    )
    assert (acf.bandwidth, acf.dest_call_signal_address) == (1280, V6_ADDRESS)
    arj = codec.decode_ras(
        codec.encode_ras_value(
            (
                "admissionReject",
                {
                    "requestSeqNum": 4,
                    "rejectReason": ("calledPartyNotRegistered", 0),
                },
            )
        )
    )
    assert (arj.kind, arj.reason) == (RasKind.ARJ, "calledPartyNotRegistered")


def test_undecodable_ras_raises_remote_error() -> None:
    """Garbage and truncated datagrams raise RemoteH323Error."""
    valid = codec.encode_ras(SENDABLE_RAS[0])
    for data in (b"", b"\xff" * 8, valid[: len(valid) // 2]):
        with pytest.raises(RemoteH323Error):
            codec.decode_ras(data)


def test_non_ip_transport_address_is_none() -> None:
    """Only IPv4/IPv6 addresses map to TransportAddress."""
    assert TransportAddress.from_asn(("netBios", b"x" * 16)) is None
    assert TransportAddress.from_asn(V6_ADDRESS.to_asn()) == V6_ADDRESS


def test_non_text_aliases_stay_in_raw_only() -> None:
    """A transportID alias is not lifted into the alias tuple."""
    message = codec.decode_ras(
        codec.encode_ras_value(
            (
                "gatekeeperRequest",
                {
                    "requestSeqNum": 1,
                    "protocolIdentifier": (0, 0, 8, 2250, 0, 4),
                    "rasAddress": ADDRESS.to_asn(),
                    "endpointType": EndpointInfo().to_asn(),
                    "endpointAlias": [
                        ("transportID", ADDRESS.to_asn()),
                        ("email-ID", "a@b.c"),
                    ],
                },
            )
        )
    )
    assert message.aliases == (AliasAddress(kind=AliasKind.EMAIL_ID, value="a@b.c"),)


H245_MESSAGES = [
    H245Message(
        category=H245Category.REQUEST,
        name="masterSlaveDetermination",
        body={"terminalType": 60, "statusDeterminationNumber": 5},
    ),
    H245Message(
        category=H245Category.RESPONSE,
        name="terminalCapabilitySetAck",
        body={"sequenceNumber": 9},
    ),
    H245Message(category=H245Category.REQUEST, name="openLogicalChannel", body=OLC),
    H245Message(
        category=H245Category.COMMAND, name="endSessionCommand", body=("disconnect", 0)
    ),
    H245Message(
        category=H245Category.INDICATION, name="userInput", body=("alphanumeric", "*")
    ),
]


@pytest.mark.parametrize("message", H245_MESSAGES, ids=lambda m: m.name)
def test_h245_round_trips(message: H245Message) -> None:
    """decode(encode(m)) == m for plain pycrate-style bodies."""
    assert codec.decode_h245(codec.encode_h245(message)) == message


def test_h245_sequence_number_is_lifted_when_present() -> None:
    """sequence_number reads TCS Ack's number and is None for MSD or CHOICE bodies."""
    assert [m.sequence_number for m in H245_MESSAGES] == [None, 9, None, None, None]


def test_h245_errors() -> None:
    """Garbage is a remote error with an H.245 reject; a bad body is our bug."""
    with pytest.raises(RemoteH323Error) as info:
        codec.decode_h245(b"\xff\xff")
    assert info.value.h245_reject == "unspecified"
    with pytest.raises(LocalH323Error):
        codec.encode_h245(
            H245Message(category=H245Category.REQUEST, name="nope", body={})
        )


def test_fast_start_olc_round_trips() -> None:
    """A fastStart item is an OpenLogicalChannel in PER."""
    data = codec.encode_open_logical_channel(OLC)
    assert codec.decode_open_logical_channel(data) == OLC
    with pytest.raises(RemoteH323Error):
        codec.decode_open_logical_channel(data[:3])


def test_pycrate_is_imported_lazily() -> None:
    """Importing the codec does not load pycrate's 2 MB of ASN.1 modules."""
    code = (
        "import sys, gateway.h323.codec; print('pycrate_asn1dir.H225' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
