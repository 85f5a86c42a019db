"""Events of the SIP transaction layer (RFC 3261 §17), for the transaction user.

Protocol code does not log: diagnostics are events too (``MessageDropped``).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.sip.ids import TransactionKey
from gateway.sip.message import SipMessage, SipRequest, SipResponse

__all__ = [
    "AckReceived",
    "CancelReceived",
    "MessageDropped",
    "RequestReceived",
    "ResponseReceived",
    "SipEvent",
    "TransactionTerminated",
    "TransactionTimedOut",
    "TransportFailed",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class SipEvent:
    """Base class of every SIP transaction-layer event."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestReceived(SipEvent):
    """A new request created server transaction ``transaction_id``."""

    request: SipRequest
    transaction_id: TransactionKey
    source: object = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponseReceived(SipEvent):
    """A response for client transaction ``transaction_id`` reached the TU."""

    response: SipResponse
    transaction_id: TransactionKey


@dataclass(frozen=True, slots=True, kw_only=True)
class AckReceived(SipEvent):
    """An ACK for a 2xx reached the TU (§13.3.1.4, RFC 6026 §7.1).

    ``transaction_id`` is the accepted INVITE transaction it matched, or None
    for the usual case of an ACK with its own branch (§17.2.3).
    """

    request: SipRequest
    transaction_id: TransactionKey | None
    source: object = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelReceived(SipEvent):
    """A CANCEL matched INVITE transaction ``invite_transaction_id`` (§9.2).

    The layer already answered the CANCEL with 200; the TU should answer the
    INVITE with 487 if it has not sent a final response yet.
    """

    request: SipRequest
    transaction_id: TransactionKey
    invite_transaction_id: TransactionKey


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionTimedOut(SipEvent):
    """Timer B, F or H fired: no (final) answer or no ACK arrived in time."""

    transaction_id: TransactionKey


@dataclass(frozen=True, slots=True, kw_only=True)
class TransportFailed(SipEvent):
    """The transport could not deliver a message of the transaction (§17.1.4)."""

    transaction_id: TransactionKey


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionTerminated(SipEvent):
    """The transaction reached the Terminated state and was discarded."""

    transaction_id: TransactionKey


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageDropped(SipEvent):
    """A message or input was ignored; ``reason`` says why (diagnostics only)."""

    reason: str
    message: SipMessage | None = None
    transaction_id: TransactionKey | None = None
