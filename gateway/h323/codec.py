"""H.225.0, RAS and H.245 ASN.1 codec (aligned PER) over pycrate.

This is the only module that touches pycrate.  It converts pycrate values to
small typed views and pycrate exceptions to ours:

* :class:`H225Message` is an H323-UserInformation (H.225.0 section 7.6) as
  carried in the Q.931 User-User IE: message kind, callIdentifier,
  conferenceID, source/destination aliases and call-signal addresses,
  h245Address, fastStart (each item an OpenLogicalChannel in PER),
  h245Tunnelling, h245Control (tunnelled H.245 PDUs), endpoint vendor info,
  ReleaseCompleteReason and FacilityReason.
* :class:`RasMessage` is a RasMessage (H.225.0 section 7.8) with the fields an
  endpoint needs for GRQ/RRQ/URQ/ARQ/DRQ and their replies.
* :class:`H245Message` is a MultimediaSystemControlMessage (H.245 Annex A)
  kept as pycrate's plain value (dicts, tuples for CHOICEs, bytes).
* fastStart items are OpenLogicalChannel values in the same plain form.

Every view keeps the whole decoded value in ``raw`` for fields not lifted.
Decoding raises :class:`RemoteH323Error`; encoding a value pycrate rejects
raises :class:`LocalH323Error`.  pycrate is imported on first use because its
H.225.0 and H.245 modules take about 0.2 s to load.  Empty SEQUENCE OFs are
never encoded, and a fix for pycrate 0.8.1's padding of SEQUENCE extension
additions is installed on first use (see ``_install_extension_padding_fix``).
"""

import contextlib
import copy
import functools
import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from enum import Enum
from types import SimpleNamespace
from typing import Any

from gateway.h323.errors import (
    CAUSE_INVALID_IE_CONTENTS,
    CAUSE_MANDATORY_IE_MISSING,
    LocalH323Error,
    RemoteH323Error,
)
from gateway.h323.q931 import MessageType

__all__ = [
    "Q931_TYPE_BY_KIND",
    "AliasAddress",
    "AliasKind",
    "EndpointInfo",
    "H225Kind",
    "H225Message",
    "H245Category",
    "H245Message",
    "RasKind",
    "RasMessage",
    "TransportAddress",
    "decode_h225",
    "decode_h245",
    "decode_open_logical_channel",
    "decode_ras",
    "encode_h225",
    "encode_h225_value",
    "encode_h245",
    "encode_open_logical_channel",
    "encode_ras",
    "encode_ras_value",
]

H225_VERSION = 4
"""protocolIdentifier version we claim by default (0.0.8.2250.0.4)."""
H245_VERSION = 7
USER_USER_PROTOCOL_DISCRIMINATOR = 0x05
"""X.208/X.209 coded user information (H.225.0 section 7.2.2.11)."""

# Exceptions decoding malformed input raises: pycrate's own tree (added on
# import), the Python errors its decoders let escape on truncated or
# inconsistent data (pycrate 0.8.1 even hits a NameError and failed asserts),
# and ours when a decoded value has an unknown alternative or empty OID.
_PYCRATE_ERRORS: tuple[type[BaseException], ...] = (
    AssertionError,
    NameError,
    ValueError,
    IndexError,
    KeyError,
    TypeError,
    OverflowError,
    AttributeError,
    RecursionError,
)


@functools.cache
def _asn() -> SimpleNamespace:
    from pycrate_asn1dir import H225, H245
    from pycrate_core.utils import PycrateErr

    global _PYCRATE_ERRORS
    _PYCRATE_ERRORS = (PycrateErr, *_PYCRATE_ERRORS)
    _install_extension_padding_fix()
    h225, h245 = H225.H323_MESSAGES, H245.MULTIMEDIA_SYSTEM_CONTROL
    return SimpleNamespace(
        user_information=h225.H323_UserInformation,
        ras=h225.RasMessage,
        h245=h245.MultimediaSystemControlMessage,
        olc=h245.OpenLogicalChannel,
    )


def _install_extension_padding_fix() -> None:
    """Make pycrate 0.8.1 pad SEQUENCE extension additions correctly (APER).

    pycrate encodes the extension additions before it writes the extension
    bitmap, so the alignment padding of the first open type is computed
    without the bitmap bits.  Whenever the bitmap does not start on an octet
    boundary the output gains or loses padding and Wireshark reports it as
    malformed (e.g. VoiceCaps.supportedPrefixes, X.691 section 19.7-19.9).
    The replacement encodes the root with pycrate, then writes the bitmap and
    the open types itself in X.691 order.
    """
    from pycrate_asn1rt.asnobj_construct import _CONSTRUCT
    from pycrate_asn1rt.codecs import ASN1CodecPER
    from pycrate_core.utils import TYPE_UINT

    original = _CONSTRUCT._to_per
    if getattr(original, "_vcgw_fixed", False):
        return

    def to_per(self: Any) -> list[Any]:
        value = self._val
        extension = self._ext or []
        present = [name for name in extension if name in value]
        # Extension groups, more than 64 additions and unknown additions kept
        # from a decoded value do not occur in what we send: pycrate's path.
        if (
            not present
            or not ASN1CodecPER.ALIGNED
            or self._ext_group
            or len(extension) > 64
            or any(name.startswith("_ext_") for name in value)
        ):
            return list(original(self))
        self._val = {k: v for k, v in value.items() if k not in extension}
        try:
            out = list(original(self))
        finally:
            self._val = value
        out[0] = (TYPE_UINT, 1, 1)  # the extension bit: additions follow
        count = len(extension)
        bitmap = sum(1 << (count - 1 - extension.index(name)) for name in present)
        out += [(TYPE_UINT, count - 1, 7), (TYPE_UINT, bitmap, count)]
        ASN1CodecPER._off[-1] += 7 + count
        if ASN1CodecPER._off[-1] % 8:
            out += ASN1CodecPER.encode_pad()
        for name in present:
            component = self._cont[name]
            parent, component._parent = component._parent, self
            component._val = value[name]
            out += ASN1CodecPER.encode_unconst_open(component)
            component._parent = parent
        return out

    to_per._vcgw_fixed = True  # type: ignore[attr-defined]
    _CONSTRUCT._to_per = to_per


def _decode_per(pdu: Any, data: bytes) -> Any:
    pdu.from_aper(data)
    return pdu.get_val()


@contextlib.contextmanager
def _remote_errors(what: str) -> Iterator[None]:
    """Turn any decoding failure inside the block into RemoteH323Error."""
    try:
        yield
    except _PYCRATE_ERRORS as exc:
        raise RemoteH323Error(
            f"undecodable {what}: {exc!r}",
            q931_cause=CAUSE_INVALID_IE_CONTENTS,
            h245_reject="unspecified",
        ) from exc


def _encode_per(pdu: Any, value: Any, what: str) -> bytes:
    try:
        # pycrate's canonical PER deletes DEFAULT-valued components from the
        # value it encodes; a copy keeps the caller's (frozen) values intact.
        pdu.set_val(copy.deepcopy(value))
        encoded: bytes = pdu.to_aper()
    except _PYCRATE_ERRORS as exc:
        raise LocalH323Error(f"cannot encode {what}: {exc}") from exc
    return encoded


# -- shared views -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportAddress:
    """An IPv4 or IPv6 transport address (H.225.0 TransportAddress)."""

    host: str
    port: int

    @classmethod
    def from_asn(cls, value: Any) -> "TransportAddress | None":
        """Convert an H.225.0 TransportAddress value; None for non-IP choices."""
        kind, body = value
        if kind not in ("ipAddress", "ip6Address"):
            return None
        return cls(host=str(ipaddress.ip_address(body["ip"])), port=body["port"])

    def to_asn(self) -> tuple[str, dict[str, Any]]:
        """The H.225.0 TransportAddress CHOICE value."""
        ip = ipaddress.ip_address(self.host)
        kind = "ipAddress" if ip.version == 4 else "ip6Address"
        return (kind, {"ip": ip.packed, "port": self.port})

    def to_h245(self) -> tuple[str, tuple[str, dict[str, Any]]]:
        """The H.245 TransportAddress (unicastAddress) CHOICE value."""
        ip = ipaddress.ip_address(self.host)
        kind = "iPAddress" if ip.version == 4 else "iP6Address"
        return (
            "unicastAddress",
            (kind, {"network": ip.packed, "tsapIdentifier": self.port}),
        )


class AliasKind(Enum):
    """AliasAddress alternatives we expose as text (H.225.0 section 7.6)."""

    DIALLED_DIGITS = "dialledDigits"
    H323_ID = "h323-ID"
    URL_ID = "url-ID"
    EMAIL_ID = "email-ID"


@dataclass(frozen=True, slots=True, kw_only=True)
class AliasAddress:
    """A textual alias: E.164 digits, an H.323-ID, a URL or an e-mail."""

    kind: AliasKind
    value: str

    def to_asn(self) -> tuple[str, str]:
        """The AliasAddress CHOICE value."""
        return (self.kind.value, self.value)


def _aliases(value: Any) -> tuple[AliasAddress, ...]:
    # Non-textual aliases (transportID, partyNumber...) stay only in ``raw``.
    kinds = {kind.value: kind for kind in AliasKind}
    return tuple(
        AliasAddress(kind=kinds[kind], value=text)
        for kind, text in value or ()
        if kind in kinds
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointInfo:
    """The parts of an EndpointType we set and read (H.225.0 section 7.6).

    A gateway lists its ``supported_prefixes`` as voice prefixes; with none
    it sends an empty GatewayInfo (an empty prefix list is legal ASN.1 but
    older peers and Wireshark mis-handle it).
    """

    product_id: bytes = b"vcgw"
    version_id: bytes = b"0.1"
    t35_country_code: int = 0xB5
    t35_extension: int = 0
    manufacturer_code: int = 0
    is_gateway: bool = True
    supported_prefixes: tuple[str, ...] = ()

    @classmethod
    def from_asn(cls, value: Mapping[str, Any]) -> "EndpointInfo":
        """Convert an EndpointType value."""
        vendor = value.get("vendor", {})
        code = vendor.get("vendor", {})
        gateway = value.get("gateway")
        prefixes: list[str] = []
        for kind, caps in (gateway or {}).get("protocol", ()):
            if kind in ("voice", "h323"):
                for prefix in caps.get("supportedPrefixes", ()):
                    prefixes += [a.value for a in _aliases([prefix["prefix"]])]
        return cls(
            product_id=vendor.get("productId", b""),
            version_id=vendor.get("versionId", b""),
            t35_country_code=code.get("t35CountryCode", 0),
            t35_extension=code.get("t35Extension", 0),
            manufacturer_code=code.get("manufacturerCode", 0),
            is_gateway=gateway is not None,
            supported_prefixes=tuple(prefixes),
        )

    def to_asn(self) -> dict[str, Any]:
        """The EndpointType value."""
        value: dict[str, Any] = {
            "vendor": {
                "vendor": {
                    "t35CountryCode": self.t35_country_code,
                    "t35Extension": self.t35_extension,
                    "manufacturerCode": self.manufacturer_code,
                },
                "productId": self.product_id,
                "versionId": self.version_id,
            },
            "mc": False,
            "undefinedNode": False,
        }
        if not self.is_gateway:
            value["terminal"] = {}
        elif self.supported_prefixes:
            prefixes = [
                {"prefix": ("dialledDigits", p)} for p in self.supported_prefixes
            ]
            value["gateway"] = {
                "protocol": [("voice", {"supportedPrefixes": prefixes})]
            }
        else:
            value["gateway"] = {}
        return value


def _guid(value: Any) -> bytes | None:
    return None if value is None else bytes(value["guid"])


def _address(value: Any) -> TransportAddress | None:
    return None if value is None else TransportAddress.from_asn(value)


def _choice_name(value: Any) -> str | None:
    return None if value is None else str(value[0])


def _check_fields(message: Any, kind: Enum, allowed: frozenset[str]) -> None:
    """Raise LocalH323Error if a field not carried by ``kind`` is set."""
    ignored = {"kind", "raw", "protocol_version", "request_seq_num"}
    for item in fields(message):
        if item.name in ignored or item.name in allowed:
            continue
        if getattr(message, item.name) != item.default:
            raise LocalH323Error(f"{kind.value} does not carry {item.name}")


def _protocol_id(version: int | None) -> tuple[int, ...]:
    return (0, 0, 8, 2250, 0, H225_VERSION if version is None else version)


def _version(body: Mapping[str, Any]) -> int | None:
    """The last arc of protocolIdentifier (0.0.8.2250.0.<version>), if present."""
    oid = body.get("protocolIdentifier")
    return None if oid is None else int(oid[-1])


# -- H.225.0 call signalling ----------------------------------------------------


class H225Kind(Enum):
    """h323-message-body alternatives (H.225.0 section 7.6)."""

    SETUP = "setup"
    CALL_PROCEEDING = "callProceeding"
    CONNECT = "connect"
    ALERTING = "alerting"
    INFORMATION = "information"
    RELEASE_COMPLETE = "releaseComplete"
    FACILITY = "facility"
    PROGRESS = "progress"
    EMPTY = "empty"
    STATUS = "status"
    STATUS_INQUIRY = "statusInquiry"
    SETUP_ACKNOWLEDGE = "setupAcknowledge"
    NOTIFY = "notify"


Q931_TYPE_BY_KIND: Mapping[H225Kind, MessageType] = {
    H225Kind.SETUP: MessageType.SETUP,
    H225Kind.CALL_PROCEEDING: MessageType.CALL_PROCEEDING,
    H225Kind.CONNECT: MessageType.CONNECT,
    H225Kind.ALERTING: MessageType.ALERTING,
    H225Kind.INFORMATION: MessageType.INFORMATION,
    H225Kind.RELEASE_COMPLETE: MessageType.RELEASE_COMPLETE,
    H225Kind.FACILITY: MessageType.FACILITY,
    H225Kind.PROGRESS: MessageType.PROGRESS,
    # H.225.0 section 7.4.2: an empty body travels in Facility (tunnelled H.245).
    H225Kind.EMPTY: MessageType.FACILITY,
    H225Kind.STATUS: MessageType.STATUS,
    H225Kind.STATUS_INQUIRY: MessageType.STATUS_INQUIRY,
    H225Kind.SETUP_ACKNOWLEDGE: MessageType.SETUP_ACKNOWLEDGE,
    H225Kind.NOTIFY: MessageType.NOTIFY,
}
"""The Q.931 message type that carries each H.225.0 body (H.225.0 Table 4)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class H225Message:
    """An H323-UserInformation seen through the fields a call needs.

    ``fast_start`` is None when absent; each item is one OpenLogicalChannel
    in PER (decode with :func:`decode_open_logical_channel`).  ``endpoint`` is
    sourceInfo in Setup and destinationInfo elsewhere.  ``release_reason`` and
    ``facility_reason`` are the CHOICE alternative names of the reason.
    ``protocol_version`` is None on decoding a body without protocolIdentifier
    (``empty``).  ``raw`` holds the full decoded value and is ignored when
    encoding.
    """

    kind: H225Kind
    protocol_version: int | None = H225_VERSION
    call_identifier: bytes | None = None
    conference_id: bytes | None = None
    source_address: tuple[AliasAddress, ...] = ()
    destination_address: tuple[AliasAddress, ...] = ()
    source_call_signal_address: TransportAddress | None = None
    dest_call_signal_address: TransportAddress | None = None
    h245_address: TransportAddress | None = None
    fast_start: tuple[bytes, ...] | None = None
    endpoint: EndpointInfo | None = None
    release_reason: str | None = None
    facility_reason: str | None = None
    h245_tunnelling: bool = False
    h245_control: tuple[bytes, ...] = ()
    raw: Any = None


_CALL = frozenset({"call_identifier", "h245_tunnelling", "h245_control"})
_RESPONSE = _CALL | {"endpoint", "h245_address", "fast_start"}
_H225_FIELDS: Mapping[H225Kind, frozenset[str]] = {
    H225Kind.SETUP: _RESPONSE
    | {
        "conference_id",
        "source_address",
        "destination_address",
        "source_call_signal_address",
        "dest_call_signal_address",
    },
    H225Kind.CALL_PROCEEDING: _RESPONSE,
    H225Kind.ALERTING: _RESPONSE,
    H225Kind.PROGRESS: _RESPONSE,
    H225Kind.CONNECT: _RESPONSE | {"conference_id"},
    H225Kind.FACILITY: _CALL
    | {"conference_id", "facility_reason", "h245_address", "fast_start"},
    H225Kind.RELEASE_COMPLETE: _CALL | {"release_reason"},
    H225Kind.STATUS: _CALL,
    H225Kind.STATUS_INQUIRY: _CALL,
    H225Kind.INFORMATION: _CALL,
    H225Kind.EMPTY: frozenset({"h245_tunnelling", "h245_control"}),
}
"""Which view fields each body carries when we encode it (H.225.0 section 7.6)."""

# Mandatory extension additions of each body that carry no information for us.
_H225_FLAGS: Mapping[H225Kind, tuple[str, ...]] = {
    H225Kind.SETUP: (
        "mediaWaitForConnect",
        "canOverlapSend",
        "multipleCalls",
        "maintainConnection",
    ),
    **{
        kind: ("multipleCalls", "maintainConnection")
        for kind in (
            H225Kind.CALL_PROCEEDING,
            H225Kind.ALERTING,
            H225Kind.PROGRESS,
            H225Kind.CONNECT,
            H225Kind.FACILITY,
        )
    },
}


def decode_h225(user_user: bytes) -> H225Message:
    """Decode the contents of a Q.931 User-User IE (H.225.0 section 7.2.2.11).

    Raises RemoteH323Error: cause 96 when the contents are empty, 100 when the
    protocol discriminator is not 5 or the PER does not decode.
    """
    if not user_user:
        raise RemoteH323Error(
            "empty User-User IE", q931_cause=CAUSE_MANDATORY_IE_MISSING
        )
    if user_user[0] != USER_USER_PROTOCOL_DISCRIMINATOR:
        raise RemoteH323Error(
            f"User-User protocol discriminator {user_user[0]:#04x} is not 5",
            q931_cause=CAUSE_INVALID_IE_CONTENTS,
        )
    pdu_type = _asn().user_information
    with _remote_errors("H323-UserInformation"):
        return _h225_view(_decode_per(pdu_type, user_user[1:]))


def _h225_view(value: Any) -> H225Message:
    pdu = value["h323-uu-pdu"]
    name, body = pdu["h323-message-body"]
    kind = H225Kind(name)
    body = body if isinstance(body, dict) else {}
    reason = _choice_name(body.get("reason"))
    fast_start = body.get("fastStart")
    return H225Message(
        kind=kind,
        protocol_version=_version(body),
        call_identifier=_guid(body.get("callIdentifier")),
        conference_id=body.get("conferenceID"),
        source_address=_aliases(body.get("sourceAddress")),
        destination_address=_aliases(body.get("destinationAddress")),
        source_call_signal_address=_address(body.get("sourceCallSignalAddress")),
        dest_call_signal_address=_address(body.get("destCallSignalAddress")),
        h245_address=_address(body.get("h245Address")),
        fast_start=None if fast_start is None else tuple(fast_start),
        endpoint=_endpoint(body.get("sourceInfo", body.get("destinationInfo"))),
        release_reason=reason if kind is H225Kind.RELEASE_COMPLETE else None,
        facility_reason=reason if kind is H225Kind.FACILITY else None,
        h245_tunnelling=bool(pdu.get("h245Tunnelling", False)),
        h245_control=tuple(pdu.get("h245Control", ())),
        raw=value,
    )


def _endpoint(value: Any) -> EndpointInfo | None:
    return None if value is None else EndpointInfo.from_asn(value)


def encode_h225(message: H225Message) -> bytes:
    """Encode ``message`` as User-User IE contents (discriminator 5 + PER).

    Empty lists are left out rather than encoded as empty SEQUENCE OFs.
    Raises LocalH323Error if the kind cannot be sent, a field it does not carry
    is set, or a mandatory field (callIdentifier, conferenceID) is missing.
    """
    allowed = _H225_FIELDS.get(message.kind)
    if allowed is None:
        raise LocalH323Error(f"cannot send {message.kind.value}")
    _check_fields(message, message.kind, allowed)
    if message.kind is H225Kind.EMPTY:
        body: Any = 0
    else:
        body = _h225_body(message)
    pdu: dict[str, Any] = {
        "h323-message-body": (message.kind.value, body),
        "h245Tunnelling": message.h245_tunnelling,
    }
    if message.h245_control:
        pdu["h245Control"] = list(message.h245_control)
    return encode_h225_value({"h323-uu-pdu": pdu})


def encode_h225_value(value: Mapping[str, Any]) -> bytes:
    """Encode a raw H323-UserInformation value (e.g. a decoded ``raw``).

    Returns User-User IE contents; raises LocalH323Error if pycrate rejects it.
    """
    encoded = _encode_per(_asn().user_information, dict(value), "H323-UserInformation")
    return bytes((USER_USER_PROTOCOL_DISCRIMINATOR,)) + encoded


def _h225_body(message: H225Message) -> dict[str, Any]:
    kind = message.kind
    if message.call_identifier is None:
        raise LocalH323Error(f"{kind.value} needs a call_identifier")
    body: dict[str, Any] = {
        "protocolIdentifier": _protocol_id(message.protocol_version),
        "callIdentifier": {"guid": message.call_identifier},
    }
    body.update(dict.fromkeys(_H225_FLAGS.get(kind, ()), False))
    if "endpoint" in _H225_FIELDS[kind]:
        info = (message.endpoint or EndpointInfo()).to_asn()
        body["sourceInfo" if kind is H225Kind.SETUP else "destinationInfo"] = info
    if kind in (H225Kind.SETUP, H225Kind.CONNECT) and message.conference_id is None:
        raise LocalH323Error(f"{kind.value} needs a conference_id")
    if kind is H225Kind.SETUP:
        body.update(
            activeMC=False,
            conferenceGoal=("create", 0),
            callType=("pointToPoint", 0),
        )
    if kind is H225Kind.FACILITY:
        body["reason"] = (message.facility_reason or "undefinedReason", 0)
    if kind is H225Kind.RELEASE_COMPLETE and message.release_reason is not None:
        body["reason"] = (message.release_reason, 0)
    _put_optional(body, message)
    return body


def _put_optional(body: dict[str, Any], message: H225Message) -> None:
    if message.conference_id is not None:
        body["conferenceID"] = message.conference_id
    if message.source_address:
        body["sourceAddress"] = [alias.to_asn() for alias in message.source_address]
    if message.destination_address:
        destination = [alias.to_asn() for alias in message.destination_address]
        body["destinationAddress"] = destination
    addresses = {
        "sourceCallSignalAddress": message.source_call_signal_address,
        "destCallSignalAddress": message.dest_call_signal_address,
        "h245Address": message.h245_address,
    }
    for name, address in addresses.items():
        if address is not None:
            body[name] = address.to_asn()
    if message.fast_start:
        body["fastStart"] = list(message.fast_start)


# -- RAS --------------------------------------------------------------------------


class RasKind(Enum):
    """RasMessage alternatives (H.225.0 section 7.8) an endpoint handles."""

    GRQ = "gatekeeperRequest"
    GCF = "gatekeeperConfirm"
    GRJ = "gatekeeperReject"
    RRQ = "registrationRequest"
    RCF = "registrationConfirm"
    RRJ = "registrationReject"
    URQ = "unregistrationRequest"
    UCF = "unregistrationConfirm"
    URJ = "unregistrationReject"
    ARQ = "admissionRequest"
    ACF = "admissionConfirm"
    ARJ = "admissionReject"
    BRQ = "bandwidthRequest"
    BCF = "bandwidthConfirm"
    BRJ = "bandwidthReject"
    DRQ = "disengageRequest"
    DCF = "disengageConfirm"
    DRJ = "disengageReject"
    LRQ = "locationRequest"
    LCF = "locationConfirm"
    LRJ = "locationReject"
    IRQ = "infoRequest"
    IRR = "infoRequestResponse"
    NON_STANDARD = "nonStandardMessage"
    XRS = "unknownMessageResponse"
    RIP = "requestInProgress"
    RAI = "resourcesAvailableIndicate"
    RAC = "resourcesAvailableConfirm"
    IACK = "infoRequestAck"
    INAK = "infoRequestNak"
    SCI = "serviceControlIndication"
    SCR = "serviceControlResponse"
    ACF_SEQUENCE = "admissionConfirmSequence"


@dataclass(frozen=True, slots=True, kw_only=True)
class RasMessage:
    """A RAS message seen through the fields an endpoint needs.

    ``ras_addresses``/``call_signal_addresses`` are lists in RRQ/RCF/URQ and a
    single address in GRQ/GCF.  ``aliases`` is endpointAlias (GRQ, URQ) or
    terminalAlias (RRQ, RCF).  ``destination_aliases``/``source_aliases`` are
    ARQ's destinationInfo/srcInfo.  ``bandwidth`` is in units of 100 bit/s.
    ``reason`` is the alternative name of rejectReason, disengageReason or
    the URQ reason.  ``protocol_version`` is None on decoding a message without
    protocolIdentifier (URQ, ARQ, DRQ...).  ``raw`` holds the full value and
    is ignored on encoding.
    """

    kind: RasKind
    request_seq_num: int
    protocol_version: int | None = H225_VERSION
    gatekeeper_identifier: str | None = None
    endpoint_identifier: str | None = None
    ras_addresses: tuple[TransportAddress, ...] = ()
    call_signal_addresses: tuple[TransportAddress, ...] = ()
    aliases: tuple[AliasAddress, ...] = ()
    endpoint: EndpointInfo | None = None
    time_to_live_s: int | None = None
    is_keep_alive: bool = False
    call_identifier: bytes | None = None
    conference_id: bytes | None = None
    call_reference: int | None = None
    is_answer_call: bool = False
    destination_aliases: tuple[AliasAddress, ...] = ()
    source_aliases: tuple[AliasAddress, ...] = ()
    dest_call_signal_address: TransportAddress | None = None
    bandwidth: int | None = None
    reason: str | None = None
    raw: Any = None


def decode_ras(data: bytes) -> RasMessage:
    """Decode one RAS datagram (H.225.0 section 7.8).

    Raises RemoteH323Error if it does not decode or lacks requestSeqNum.
    """
    pdu_type = _asn().ras
    with _remote_errors("RasMessage"):
        name, body = _decode_per(pdu_type, data)
        if not isinstance(body, dict) or "requestSeqNum" not in body:
            raise ValueError(f"RAS {name} without requestSeqNum")
        return _ras_view(name, body)


def _ras_view(name: str, body: dict[str, Any]) -> RasMessage:
    def addresses(key: str) -> tuple[TransportAddress, ...]:
        value = body.get(key)
        items = [value] if isinstance(value, tuple) else value or []
        return tuple(a for a in map(TransportAddress.from_asn, items) if a)

    reason = body.get("rejectReason", body.get("disengageReason", body.get("reason")))
    endpoint = body.get("endpointType", body.get("terminalType"))
    return RasMessage(
        kind=RasKind(name),
        request_seq_num=body["requestSeqNum"],
        protocol_version=_version(body),
        gatekeeper_identifier=body.get("gatekeeperIdentifier"),
        endpoint_identifier=body.get("endpointIdentifier"),
        ras_addresses=addresses("rasAddress"),
        call_signal_addresses=addresses("callSignalAddress"),
        aliases=_aliases(body.get("endpointAlias", body.get("terminalAlias"))),
        endpoint=_endpoint(endpoint),
        time_to_live_s=body.get("timeToLive"),
        is_keep_alive=bool(body.get("keepAlive", False)),
        call_identifier=_guid(body.get("callIdentifier")),
        conference_id=body.get("conferenceID"),
        call_reference=body.get("callReferenceValue"),
        is_answer_call=bool(body.get("answerCall", body.get("answeredCall", False))),
        destination_aliases=_aliases(body.get("destinationInfo")),
        source_aliases=_aliases(body.get("srcInfo")),
        dest_call_signal_address=_address(body.get("destCallSignalAddress")),
        bandwidth=body.get("bandWidth"),
        reason=_choice_name(reason) if isinstance(reason, tuple) else None,
        raw=(name, body),
    )


_RAS_FIELDS: Mapping[RasKind, frozenset[str]] = {
    kind: frozenset(names.split())
    for kind, names in (
        (RasKind.GRQ, "ras_addresses endpoint aliases gatekeeper_identifier"),
        (
            RasKind.RRQ,
            "ras_addresses call_signal_addresses endpoint aliases time_to_live_s"
            " is_keep_alive gatekeeper_identifier endpoint_identifier",
        ),
        (
            RasKind.URQ,
            "call_signal_addresses aliases reason gatekeeper_identifier"
            " endpoint_identifier",
        ),
        (
            RasKind.ARQ,
            "destination_aliases source_aliases dest_call_signal_address bandwidth"
            " call_reference conference_id call_identifier is_answer_call"
            " gatekeeper_identifier endpoint_identifier",
        ),
        (
            RasKind.DRQ,
            "conference_id call_reference call_identifier reason is_answer_call"
            " gatekeeper_identifier endpoint_identifier",
        ),
        (RasKind.UCF, ""),
        (RasKind.DCF, ""),
    )
}
"""Which view fields each RAS message we send carries (H.225.0 section 7.8)."""


def encode_ras(message: RasMessage) -> bytes:
    """Encode a GRQ, RRQ (full or lightweight), URQ, ARQ, DRQ, UCF or DCF.

    A lightweight RRQ (``is_keep_alive``, H.225.0 section 7.9.2) must carry
    the endpoint and gatekeeper identifiers and time to live.  Raises
    LocalH323Error for other kinds, fields the kind does not carry, or
    missing mandatory fields.
    """
    allowed = _RAS_FIELDS.get(message.kind)
    if allowed is None:
        raise LocalH323Error(f"cannot send RAS {message.kind.value}")
    _check_fields(message, message.kind, allowed)
    body = _RAS_BUILDERS.get(message.kind, _ras_confirm)(message)
    body["requestSeqNum"] = message.request_seq_num
    for name, key in (
        ("gatekeeper_identifier", "gatekeeperIdentifier"),
        ("endpoint_identifier", "endpointIdentifier"),
    ):
        if name in allowed and getattr(message, name) is not None:
            body[key] = getattr(message, name)
    return encode_ras_value((message.kind.value, body))


def encode_ras_value(value: tuple[str, Mapping[str, Any]]) -> bytes:
    """Encode a raw RasMessage ``(alternative, body)`` value (e.g. ``raw``).

    Raises LocalH323Error if pycrate rejects it.
    """
    return _encode_per(_asn().ras, (value[0], dict(value[1])), "RasMessage")


def _ras_confirm(message: RasMessage) -> dict[str, Any]:
    return {}


def _ras_grq(message: RasMessage) -> dict[str, Any]:
    if len(message.ras_addresses) != 1:
        raise LocalH323Error("GRQ needs exactly one ras address")
    body: dict[str, Any] = {
        "protocolIdentifier": _protocol_id(message.protocol_version),
        "rasAddress": message.ras_addresses[0].to_asn(),
        "endpointType": (message.endpoint or EndpointInfo()).to_asn(),
    }
    if message.aliases:
        body["endpointAlias"] = [alias.to_asn() for alias in message.aliases]
    return body


def _ras_rrq(message: RasMessage) -> dict[str, Any]:
    endpoint = (message.endpoint or EndpointInfo()).to_asn()
    body: dict[str, Any] = {
        "protocolIdentifier": _protocol_id(message.protocol_version),
        "discoveryComplete": False,
        "callSignalAddress": [a.to_asn() for a in message.call_signal_addresses],
        "rasAddress": [a.to_asn() for a in message.ras_addresses],
        "terminalType": endpoint,
        "endpointVendor": endpoint["vendor"],
        "keepAlive": message.is_keep_alive,
        "willSupplyUUIEs": False,
        "maintainConnection": False,
    }
    if message.is_keep_alive and None in (
        message.endpoint_identifier,
        message.gatekeeper_identifier,
        message.time_to_live_s,
    ):
        raise LocalH323Error("a lightweight RRQ needs endpoint/gatekeeper ids and TTL")
    if message.aliases:
        body["terminalAlias"] = [alias.to_asn() for alias in message.aliases]
    if message.time_to_live_s is not None:
        body["timeToLive"] = message.time_to_live_s
    return body


def _ras_urq(message: RasMessage) -> dict[str, Any]:
    body: dict[str, Any] = {
        "callSignalAddress": [a.to_asn() for a in message.call_signal_addresses]
    }
    if message.aliases:
        body["endpointAlias"] = [alias.to_asn() for alias in message.aliases]
    if message.reason is not None:
        body["reason"] = (message.reason, 0)
    return body


def _call_ids(message: RasMessage) -> dict[str, Any]:
    missing = [
        name
        for name in (
            "endpoint_identifier",
            "conference_id",
            "call_identifier",
            "call_reference",
        )
        if getattr(message, name) is None
    ]
    if missing:
        raise LocalH323Error(f"{message.kind.value} needs {', '.join(missing)}")
    return {
        "endpointIdentifier": message.endpoint_identifier,
        "conferenceID": message.conference_id,
        "callReferenceValue": message.call_reference,
        "callIdentifier": {"guid": message.call_identifier},
    }


def _ras_arq(message: RasMessage) -> dict[str, Any]:
    if message.bandwidth is None or not message.source_aliases:
        raise LocalH323Error("ARQ needs bandwidth and source aliases")
    body: dict[str, Any] = _call_ids(message)
    body |= {
        "callType": ("pointToPoint", 0),
        "srcInfo": [alias.to_asn() for alias in message.source_aliases],
        "bandWidth": message.bandwidth,
        "activeMC": False,
        "answerCall": message.is_answer_call,
        "canMapAlias": False,
        "willSupplyUUIEs": False,
        "canMapSrcAlias": False,
    }
    if message.destination_aliases:
        body["destinationInfo"] = [a.to_asn() for a in message.destination_aliases]
    if message.dest_call_signal_address is not None:
        body["destCallSignalAddress"] = message.dest_call_signal_address.to_asn()
    return body


def _ras_drq(message: RasMessage) -> dict[str, Any]:
    return _call_ids(message) | {
        "disengageReason": (message.reason or "normalDrop", 0),
        "answeredCall": message.is_answer_call,
    }


_RAS_BUILDERS = {
    RasKind.GRQ: _ras_grq,
    RasKind.RRQ: _ras_rrq,
    RasKind.URQ: _ras_urq,
    RasKind.ARQ: _ras_arq,
    RasKind.DRQ: _ras_drq,
}


# -- H.245 --------------------------------------------------------------------------


class H245Category(Enum):
    """MultimediaSystemControlMessage alternatives (H.245 Annex A)."""

    REQUEST = "request"
    RESPONSE = "response"
    COMMAND = "command"
    INDICATION = "indication"


@dataclass(frozen=True, slots=True, kw_only=True)
class H245Message:
    """An H.245 message: category, alternative name and pycrate-style body.

    ``body`` uses pycrate's plain value form: SEQUENCE as dict, CHOICE as
    ``(name, value)``, NULL as 0, OCTET STRING as bytes.  For example
    ``H245Message(category=H245Category.RESPONSE,
    name="terminalCapabilitySetAck", body={"sequenceNumber": 1})``.
    """

    category: H245Category
    name: str
    body: Any

    @property
    def sequence_number(self) -> int | None:
        """The sequenceNumber of TCS, TCS Ack/Reject and round-trip delay PDUs."""
        if isinstance(self.body, dict):
            number = self.body.get("sequenceNumber")
            return number if isinstance(number, int) else None
        return None


def decode_h245(data: bytes) -> H245Message:
    """Decode one MultimediaSystemControlMessage (one TPKT or h245Control item).

    Raises RemoteH323Error (h245_reject "unspecified") if it does not decode.
    """
    pdu_type = _asn().h245
    with _remote_errors("H.245 message"):
        category, (name, body) = _decode_per(pdu_type, data)
        return H245Message(category=H245Category(category), name=name, body=body)


def encode_h245(message: H245Message) -> bytes:
    """Encode an H.245 message; raises LocalH323Error if pycrate rejects it."""
    value = (message.category.value, (message.name, message.body))
    return _encode_per(_asn().h245, value, f"H.245 {message.name}")


def decode_open_logical_channel(data: bytes) -> dict[str, Any]:
    """Decode one fastStart item, an OpenLogicalChannel (H.225.0 section 8.1.7).

    Raises RemoteH323Error (cause 100) if it does not decode.
    """
    pdu_type = _asn().olc
    with _remote_errors("fastStart OpenLogicalChannel"):
        value: dict[str, Any] = _decode_per(pdu_type, data)
    return value


def encode_open_logical_channel(value: Mapping[str, Any]) -> bytes:
    """Encode an OpenLogicalChannel value for a fastStart list."""
    return _encode_per(_asn().olc, dict(value), "OpenLogicalChannel")


def h245_protocol_identifier(version: int = H245_VERSION) -> tuple[int, ...]:
    """The H.245 protocolIdentifier OID for TerminalCapabilitySet."""
    return (0, 0, 8, 245, 0, version)
