"""SIP transaction layer: matching, creation and timers (RFC 3261 §17.1.3, §17.2.3).

Owns every live transaction. Received messages are matched to their
transaction (responses by branch and CSeq method, requests by branch, sent-by
and method with ACK matching INVITE, and the RFC 2543 fallback); a new request
creates a server transaction; a CANCEL is answered and routed to its INVITE
(§9.2). Terminated transactions are dropped at once.

Destinations are opaque: the transport passes one with each received message
(a connection id, a peer address) and gets it back with every message to send
on that transaction.
"""

from __future__ import annotations

from dataclasses import replace

from gateway.sip.errors import LocalSipError, RemoteSipError
from gateway.sip.events import AckReceived, CancelReceived, MessageDropped, SipEvent
from gateway.sip.ids import IdSource, TransactionKey, client_key, server_key
from gateway.sip.message import SipMessage, SipRequest, SipResponse, make_response
from gateway.sip.timers import SipTimers
from gateway.sip.transaction import (
    ClientInviteState,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    make_cancel,
)

__all__ = ["AnyTransaction", "TransactionLayer"]

AnyTransaction = (
    ClientInviteTransaction
    | ClientNonInviteTransaction
    | ServerInviteTransaction
    | ServerNonInviteTransaction
)
_ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction


class TransactionLayer:
    """All SIP transactions of one endpoint, sans-IO.

    ``max_transactions`` bounds memory: new requests beyond it are dropped
    (reported as ``MessageDropped``) before anything is allocated.
    """

    def __init__(
        self,
        *,
        timers: SipTimers | None = None,
        ids: IdSource | None = None,
        max_transactions: int = 10_000,
    ) -> None:
        self.timers = timers if timers is not None else SipTimers()
        self.ids = ids if ids is not None else IdSource()
        self.max_transactions = max_transactions
        self._transactions: dict[TransactionKey, AnyTransaction] = {}
        self._destinations: dict[TransactionKey, object] = {}
        self._pending_cancels: set[TransactionKey] = set()
        self._events: list[SipEvent] = []
        self._outgoing: list[tuple[SipMessage, object]] = []

    def __len__(self) -> int:
        return len(self._transactions)

    def get(self, transaction_id: TransactionKey) -> AnyTransaction | None:
        """The live transaction with this id, or None."""
        return self._transactions.get(transaction_id)

    # ------------------------------------------------------------ outputs

    def pop_events(self) -> list[SipEvent]:
        """Events for the TU since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def pop_outgoing(self) -> list[tuple[SipMessage, object]]:
        """``(message, destination)`` pairs to send, oldest first."""
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def next_deadline(self) -> float | None:
        """Earliest timer over all transactions, or None."""
        deadlines = [t.next_deadline() for t in self._transactions.values()]
        return min((d for d in deadlines if d is not None), default=None)

    def handle_timeout(self, now: float) -> None:
        """Fire every timer due at ``now``, in deadline order."""
        due = [
            (deadline, txn)
            for txn in self._transactions.values()
            if (deadline := txn.next_deadline()) is not None and deadline <= now
        ]
        due.sort(key=lambda item: item[0])
        for _, txn in due:
            txn.handle_timeout(now)
            self._collect(txn, now)

    # ------------------------------------------------------------ inputs

    def receive_message(
        self, message: SipMessage, *, source: object, is_reliable: bool, now: float
    ) -> None:
        """Match a parsed message from the transport (§17.1.3, §17.2.3).

        ``source`` is the transport's opaque destination key for replies.
        Never raises for the peer's faults: unmatched or unusable messages
        are reported as ``MessageDropped``.
        """
        if isinstance(message, SipResponse):
            self._receive_response(message, now)
        else:
            self._receive_request(message, source, is_reliable, now)

    def _receive_response(self, response: SipResponse, now: float) -> None:
        try:
            key = client_key(response)
        except RemoteSipError as exc:
            self._drop(f"unusable response: {exc}", response)
            return
        txn = self._transactions.get(key)
        if not isinstance(txn, ClientInviteTransaction | ClientNonInviteTransaction):
            # §17.1.3: stray responses are discarded (RFC 6026 §8.4: even 2xx,
            # since the Accepted state absorbs their retransmissions).
            self._drop("no matching client transaction", response)
            return
        txn.receive_response(response, now)
        self._collect(txn, now)

    def _receive_request(
        self, request: SipRequest, source: object, is_reliable: bool, now: float
    ) -> None:
        try:
            key = server_key(request)
        except RemoteSipError as exc:
            # Without a usable Via there is nowhere to send a 400.
            self._drop(f"unusable request: {exc}", request)
            return
        txn = self._transactions.get(key)
        if isinstance(txn, ServerInviteTransaction | ServerNonInviteTransaction):
            txn.receive_request(request, now)
            self._collect(txn, now)
            return
        if request.method == "ACK":
            # §17.2.3: an ACK matching nothing (the ACK for a 2xx) goes to the TU.
            self._events.append(
                AckReceived(request=request, transaction_id=None, source=source)
            )
            return
        if len(self._transactions) >= self.max_transactions:
            self._drop("transaction limit reached", request)
            return
        server: _ServerTransaction
        if request.method == "INVITE":
            server = ServerInviteTransaction(
                request,
                is_reliable=is_reliable,
                timers=self.timers,
                now=now,
                source=source,
            )
        else:
            server = ServerNonInviteTransaction(
                request,
                is_reliable=is_reliable,
                timers=self.timers,
                now=now,
                source=source,
            )
        self._transactions[key] = server
        self._destinations[key] = source
        if request.method == "CANCEL":
            self._answer_cancel(server, now)
        self._collect(server, now)

    def _answer_cancel(self, cancel_txn: _ServerTransaction, now: float) -> None:
        """§9.2: answer the CANCEL itself and tell the TU which INVITE it hit."""
        cancel = cancel_txn.request
        cancel_txn.pop_events()  # Replaced by CancelReceived below.
        invite_key = replace(cancel_txn.key, method="INVITE")
        invite_txn = self._transactions.get(invite_key)
        if not isinstance(invite_txn, ServerInviteTransaction):
            response = make_response(cancel, 481, to_tag=self.ids.new_tag())
            cancel_txn.send_response(response, now)
            self._drop("CANCEL matched no transaction", cancel)
            return
        # The 200 carries the To tag the INVITE's responses carry, if any.
        last = invite_txn.last_response
        tag = last.to_addr.tag if last is not None else None
        response = make_response(cancel, 200, to_tag=tag or self.ids.new_tag())
        cancel_txn.send_response(response, now)
        self._events.append(
            CancelReceived(
                request=cancel,
                transaction_id=cancel_txn.key,
                invite_transaction_id=invite_key,
            )
        )

    # ------------------------------------------------------------ commands

    def send_request(
        self, request: SipRequest, *, destination: object, is_reliable: bool, now: float
    ) -> TransactionKey:
        """Start a client transaction for ``request`` and return its id.

        The request must carry its top Via with a fresh magic-cookie branch.
        Raises LocalSipError for ACK (use ``send_stateless``), a missing Via or
        a branch already in use.
        """
        if request.method == "ACK":
            raise LocalSipError("ACK is not a transaction; use send_stateless")
        txn: ClientInviteTransaction | ClientNonInviteTransaction
        if request.method == "INVITE":
            txn = ClientInviteTransaction(
                request, is_reliable=is_reliable, timers=self.timers
            )
        else:
            txn = ClientNonInviteTransaction(
                request, is_reliable=is_reliable, timers=self.timers
            )
        if txn.key in self._transactions:
            raise LocalSipError(f"branch already in use: {txn.key.branch}")
        self._transactions[txn.key] = txn
        self._destinations[txn.key] = destination
        txn.start(now)
        self._collect(txn, now)
        return txn.key

    def send_response(
        self, transaction_id: TransactionKey, response: SipResponse, now: float
    ) -> None:
        """Send the TU's response on server transaction ``transaction_id``.

        Raises LocalSipError when the transaction is gone or not a server one,
        or its state forbids the response (the transaction then terminates).
        """
        txn = self._transactions.get(transaction_id)
        if not isinstance(txn, ServerInviteTransaction | ServerNonInviteTransaction):
            raise LocalSipError(f"no server transaction {transaction_id}")
        try:
            txn.send_response(response, now)
        finally:
            self._collect(txn, now)

    def send_stateless(self, message: SipMessage, destination: object) -> None:
        """Queue a message outside any transaction (the ACK for a 2xx, §13.2.2.4)."""
        self._outgoing.append((message, destination))

    def send_cancel(self, invite_id: TransactionKey, now: float) -> bool:
        """Cancel the pending INVITE client transaction ``invite_id`` (§9.1).

        The CANCEL goes out at once in Proceeding, or as soon as a provisional
        response arrives in Calling; a CANCEL already under way is not
        repeated. Returns False (and sends nothing) when
        the INVITE already has a final response or is gone.
        """
        txn = self._transactions.get(invite_id)
        if not isinstance(txn, ClientInviteTransaction):
            return False
        if txn.state is ClientInviteState.CALLING:
            self._pending_cancels.add(invite_id)
            return True
        if txn.state is ClientInviteState.PROCEEDING:
            if replace(invite_id, method="CANCEL") not in self._transactions:
                self._start_cancel(txn, now)
            return True
        return False

    def transport_error(self, transaction_id: TransactionKey, now: float) -> None:
        """The transport failed to send a message of ``transaction_id``."""
        txn = self._transactions.get(transaction_id)
        if txn is not None:
            txn.transport_error(now)
            self._collect(txn, now)

    # ------------------------------------------------------------ internals

    def _start_cancel(self, invite_txn: ClientInviteTransaction, now: float) -> None:
        self._pending_cancels.discard(invite_txn.key)
        cancel = make_cancel(invite_txn.request)
        txn = ClientNonInviteTransaction(
            cancel, is_reliable=invite_txn.is_reliable, timers=self.timers
        )
        self._transactions[txn.key] = txn
        self._destinations[txn.key] = self._destinations[invite_txn.key]
        txn.start(now)
        invite_txn.note_cancel_sent(now)
        self._collect(txn, now)

    def _collect(self, txn: AnyTransaction, now: float) -> None:
        key = txn.key
        self._events.extend(txn.pop_events())
        destination = self._destinations.get(key)
        self._outgoing.extend((m, destination) for m in txn.pop_outgoing())
        if key in self._pending_cancels and isinstance(txn, ClientInviteTransaction):
            if txn.state is ClientInviteState.PROCEEDING:
                self._start_cancel(txn, now)
            elif txn.state is not ClientInviteState.CALLING:
                self._pending_cancels.discard(key)
        if txn.is_terminated:
            del self._transactions[key]
            del self._destinations[key]

    def _drop(self, reason: str, message: SipMessage) -> None:
        self._events.append(MessageDropped(reason=reason, message=message))
