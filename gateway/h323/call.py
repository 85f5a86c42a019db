"""H.225.0 call signalling: one Q.931 call over TCP (H.225.0 section 7, H.323 8.1).

:class:`H225Call` is a sans-IO machine for one call, outgoing (``setup``) or
incoming (``receive_data`` with a Setup).  It is fed TCP bytes with
``receive_data(data, now)`` (or whole Q.931 payloads with ``receive_q931``),
driven by commands and ``handle_timeout(now)``, and reports through
``pop_events()`` and ``pop_outgoing()`` (TPKT-framed Q.931).  Every
transition is a row of ``_TABLE``; a command with no row raises
LocalH323Error and leaves the call alone (a bug of ours must not drop a live
call), a received message with no row is answered per Q.931 section 5.8.

Fast Start (H.323 section 8.1.7), H.245 tunnelling (section 8.2.1) and a
separate H.245 address (sections 8.1.8, 8.2.3) are reported as events; the
H.245 PDUs themselves belong to the H.245 layer.  Malformed input never
raises: it clears the call with the cause carried by RemoteH323Error.
"""

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from gateway.h323 import codec, q931
from gateway.h323.call_messages import (
    NO_CALL_IDENTIFIER,
    AlertingReceived,
    CallProceedingReceived,
    CallState,
    ConnectReceived,
    FacilityReceived,
    FastStartAccepted,
    FastStartRefused,
    H225CallCommand,
    H225CallConfig,
    H225CallEvent,
    MessageDropped,
    PeerH245Address,
    ProgressReceived,
    ProtocolErrorDetected,
    Released,
    SendAlerting,
    SendCallProceeding,
    SendConnect,
    SendH245,
    SendProgress,
    SendRelease,
    SendSetup,
    SendStartH245,
    SetupReceived,
    StatusReceived,
    TunnelledH245,
    call_state_of,
    dialled_digits,
    first_digits,
    frame,
    progress_description,
    progress_ie,
    setup_ies,
    status_ies,
)
from gateway.h323.codec import AliasAddress, H225Kind, H225Message, TransportAddress
from gateway.h323.errors import (
    CAUSE_INVALID_CALL_REFERENCE,
    CAUSE_INVALID_IE_CONTENTS,
    CAUSE_INVALID_MESSAGE,
    CAUSE_MANDATORY_IE_MISSING,
    CAUSE_MESSAGE_TYPE_NONEXISTENT,
    LocalH323Error,
    RemoteH323Error,
)
from gateway.h323.q850 import (
    CAUSE_RECOVERY_ON_TIMER_EXPIRY,
    CAUSE_TEMPORARY_FAILURE,
    cause_to_release_reason,
    release_reason_to_cause,
)
from gateway.h323.q931 import MessageType
from gateway.h323.tpkt import TpktFramer

__all__ = ["CallInput", "H225Call"]

CAUSE_NO_ANSWER = 19
CAUSE_RESPONSE_TO_STATUS_INQUIRY = 30
CAUSE_NOT_COMPATIBLE_WITH_STATE = 101


class CallInput(Enum):
    """Inputs of the call machine: received messages, commands, timers."""

    SETUP = "Setup received"
    CALL_PROCEEDING = "Call Proceeding received"
    ALERTING = "Alerting received"
    PROGRESS = "Progress received"
    CONNECT = "Connect received"
    FACILITY = "Facility received"
    RELEASE_COMPLETE = "Release Complete received"
    STATUS = "Status received"
    STATUS_INQUIRY = "Status Inquiry received"
    INFORMATION = "Information or Notify received"
    SETUP_ACKNOWLEDGE = "Setup Acknowledge received"
    SEND_SETUP = "send Setup"
    SEND_CALL_PROCEEDING = "send Call Proceeding"
    SEND_ALERTING = "send Alerting"
    SEND_PROGRESS = "send Progress"
    SEND_CONNECT = "send Connect"
    SEND_RELEASE = "send Release Complete"
    SEND_H245 = "tunnel H.245"
    SEND_START_H245 = "send Facility startH245"
    T303 = "T303"
    T310 = "T310"
    T301 = "T301"


_INPUT_BY_TYPE: Mapping[MessageType, CallInput] = {
    MessageType.SETUP: CallInput.SETUP,
    MessageType.CALL_PROCEEDING: CallInput.CALL_PROCEEDING,
    MessageType.ALERTING: CallInput.ALERTING,
    MessageType.PROGRESS: CallInput.PROGRESS,
    MessageType.CONNECT: CallInput.CONNECT,
    MessageType.FACILITY: CallInput.FACILITY,
    MessageType.RELEASE_COMPLETE: CallInput.RELEASE_COMPLETE,
    MessageType.STATUS: CallInput.STATUS,
    MessageType.STATUS_INQUIRY: CallInput.STATUS_INQUIRY,
    MessageType.INFORMATION: CallInput.INFORMATION,
    MessageType.NOTIFY: CallInput.INFORMATION,
    # Overlap sending is not used here: Setup Acknowledge has no row, so
    # Q.931 section 5.8.4 answers it.
    MessageType.SETUP_ACKNOWLEDGE: CallInput.SETUP_ACKNOWLEDGE,
}

_INPUT_BY_COMMAND: Mapping[type[H225CallCommand], CallInput] = {
    SendSetup: CallInput.SEND_SETUP,
    SendCallProceeding: CallInput.SEND_CALL_PROCEEDING,
    SendAlerting: CallInput.SEND_ALERTING,
    SendProgress: CallInput.SEND_PROGRESS,
    SendConnect: CallInput.SEND_CONNECT,
    SendRelease: CallInput.SEND_RELEASE,
    SendH245: CallInput.SEND_H245,
    SendStartH245: CallInput.SEND_START_H245,
}

_TIMERS_BY_STATE: Mapping[CallState, frozenset[CallInput]] = {
    CallState.CALL_INITIATED: frozenset({CallInput.T303}),
    CallState.OUTGOING_CALL_PROCEEDING: frozenset({CallInput.T310}),
    CallState.CALL_DELIVERED: frozenset({CallInput.T301}),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class _Received:
    """A decoded message: the Q.931 envelope and its H.225.0 body."""

    message: q931.Q931Message
    body: H225Message


_Payload = _Received | H225CallCommand | None


class H225Call:
    """One H.225.0 call on a call-signalling connection (H.323 section 8.1).

    Build with ``H225Call(is_outgoing=True)`` and call :meth:`setup`, or with
    ``is_outgoing=False`` and feed the peer's bytes.  ``random_bytes`` supplies
    the call reference, callIdentifier and conferenceID (default
    ``secrets.token_bytes``).
    """

    def __init__(
        self,
        *,
        is_outgoing: bool,
        config: H225CallConfig | None = None,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self.config = config or H225CallConfig()
        self.is_outgoing = is_outgoing
        self._random_bytes = random_bytes
        self._state = CallState.NULL
        self._framer: TpktFramer | None = TpktFramer(
            max_pdu_size_bytes=self.config.max_pdu_size_bytes
        )
        self._events: list[H225CallEvent] = []
        self._outgoing: list[bytes] = []
        self._deadlines: dict[CallInput, float] = {}
        self.call_reference: int | None = None
        self.call_identifier: bytes | None = None
        self.conference_id: bytes | None = None
        self._fast_start_proposed = False
        self._fast_start_answer: tuple[bytes, ...] | None = None
        self._is_local_tunnelling = True
        self._is_peer_tunnelling: bool | None = None
        self._pending_h245: list[bytes] = []
        self._peer_h245_address: TransportAddress | None = None

    # -- public API ------------------------------------------------------------

    @property
    def state(self) -> CallState:
        """The Q.931 call state."""
        return self._state

    @property
    def is_released(self) -> bool:
        """True once the call is cleared."""
        return self._state is CallState.RELEASED

    @property
    def is_h245_tunnelling(self) -> bool:
        """True while both sides tunnel H.245 (H.323 section 8.2.1)."""
        return self._is_local_tunnelling and self._is_peer_tunnelling is not False

    def pop_events(self) -> list[H225CallEvent]:
        """Events since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def pop_outgoing(self) -> list[bytes]:
        """TPKT-framed Q.931 messages to write to the TCP connection, in order."""
        out, self._outgoing = self._outgoing, []
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timeout` must next run, or None."""
        return min(self._deadlines.values(), default=None)

    def handle_timeout(self, now: float) -> None:
        """Fire every timer due at ``now`` (Q.931 Table 9-1)."""
        for timer, deadline in sorted(self._deadlines.items(), key=lambda i: i[1]):
            if deadline <= now and self._deadlines.get(timer) == deadline:
                del self._deadlines[timer]
                self._dispatch(timer, None, now)

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes read from the call-signalling TCP connection.

        A broken TPKT header clears the call (cause 95); bytes after that
        are dropped because the stream cannot be resynchronised.
        """
        if self._framer is None:
            self._events.append(MessageDropped(reason="stream is broken"))
            return
        try:
            payloads = self._framer.receive_data(data)
        except RemoteH323Error as exc:
            self._framer = None
            if self._state is CallState.RELEASED:
                self._events.append(MessageDropped(reason=str(exc)))
            else:
                cause = exc.q931_cause or CAUSE_INVALID_MESSAGE
                self._fail(cause, str(exc), None, now)
            return
        for payload in payloads:
            self.receive_q931(payload, now)

    def receive_eof(self, now: float) -> None:
        """The TCP connection closed: clear the call (H.323 section 8.5).

        A partial TPKT left in the buffer is a protocol error: while the call
        is up, Release Complete (cause 95) tells the peer why before we close
        our half of the connection.
        """
        framer, self._framer = self._framer, None
        if self._state is CallState.RELEASED:
            return
        if framer is not None and framer.buffered_size_bytes:
            # A Setup cut short still names its call reference: answer on it.
            partial = framer.partial_payload
            if self._has_call() or q931.peek_header(partial) is not None:
                reason = "connection closed inside a TPKT"
                self._fail(CAUSE_INVALID_MESSAGE, reason, partial, now)
                return
            self._events.append(
                ProtocolErrorDetected(
                    cause=CAUSE_INVALID_MESSAGE,
                    reason="connection closed inside a TPKT header",
                    is_call_cleared=True,
                )
            )
        self._enter_released(CAUSE_TEMPORARY_FAILURE, None, is_local=False)

    def receive_q931(self, payload: bytes, now: float) -> None:
        """Handle one Q.931 message (a TPKT payload), never raising.

        Q.931 section 5.8 in order of precedence: messages with a foreign
        protocol discriminator, too short or with a malformed call reference
        are ignored (5.8.1-5.8.3.1); an unknown message type is answered with
        Status 97 (5.8.4); a Setup for a call in progress is ignored
        (5.8.3.2 f); other undecodable messages clear the call with the
        error's cause, except Release Complete, which is never answered
        (5.8.6.1).
        """
        if self._state is CallState.RELEASED:
            self._events.append(MessageDropped(reason="call already released"))
            return
        try:
            message = q931.decode(payload)
        except RemoteH323Error as exc:
            self._on_undecodable(exc, payload, now)
            return
        if not self._is_our_call(message):
            return
        if message.message_type is MessageType.SETUP and (
            self._has_call() or message.is_from_destination
        ):
            # Q.931 section 5.8.3.2 e) and f): a Setup with the flag of the
            # destination, or for a call in progress, is ignored.
            self._events.append(MessageDropped(reason="Setup for a call in progress"))
            return
        try:
            received = _Received(message=message, body=_decode_body(message))
        except RemoteH323Error as exc:
            self._on_bad_body(message, exc, now)
            return
        try:
            self._dispatch(_INPUT_BY_TYPE[message.message_type], received, now)
        except RemoteH323Error as exc:
            cause = exc.q931_cause or CAUSE_INVALID_MESSAGE
            self._fail(cause, str(exc), None, now, message)

    def handle_command(self, command: H225CallCommand, now: float) -> None:
        """Apply a command.

        Raises LocalH323Error when the call state does not allow it or the
        values cannot be encoded.
        """
        inp = _INPUT_BY_COMMAND[type(command)]
        if (self._state, inp) not in _TABLE:
            raise LocalH323Error(f"cannot {inp.value} in {self._state.name}")
        self._dispatch(inp, command, now)

    def setup(
        self,
        now: float,
        *,
        destination_aliases: tuple[AliasAddress, ...] = (),
        called_number: str | None = None,
        calling_number: str | None = None,
        source_aliases: tuple[AliasAddress, ...] = (),
        display: str | None = None,
        fast_start: list[bytes] | tuple[bytes, ...] = (),
        h245_tunnelling: bool = True,
        h245_address: TransportAddress | None = None,
        dest_call_signal_address: TransportAddress | None = None,
        conference_id: bytes | None = None,
        call_identifier: bytes | None = None,
        call_reference: int | None = None,
    ) -> None:
        """Send Setup (Q.931 section 5.1.1, H.225.0 section 8.1) and start T303.

        ``call_identifier``, ``conference_id`` and ``call_reference`` are
        drawn at random unless given (those of an admitted ARQ).
        """
        self.handle_command(
            SendSetup(
                destination_aliases=destination_aliases,
                called_number=called_number,
                calling_number=calling_number,
                source_aliases=source_aliases,
                display=display,
                fast_start=tuple(fast_start),
                is_h245_tunnelling=h245_tunnelling,
                h245_address=h245_address,
                dest_call_signal_address=dest_call_signal_address,
                conference_id=conference_id,
                call_identifier=call_identifier,
                call_reference=call_reference,
            ),
            now,
        )

    def call_proceeding(
        self,
        now: float,
        *,
        fast_start_accepted: list[bytes] | tuple[bytes, ...] | None = None,
        h245_address: TransportAddress | None = None,
    ) -> None:
        """Send Call Proceeding (Q.931 section 5.2.5.2)."""
        accepted = None if fast_start_accepted is None else tuple(fast_start_accepted)
        self.handle_command(
            SendCallProceeding(fast_start_accepted=accepted, h245_address=h245_address),
            now,
        )

    def alerting(
        self,
        now: float,
        *,
        fast_start_accepted: list[bytes] | tuple[bytes, ...] | None = None,
        h245_address: TransportAddress | None = None,
    ) -> None:
        """Send Alerting (Q.931 section 5.2.5.3)."""
        accepted = None if fast_start_accepted is None else tuple(fast_start_accepted)
        self.handle_command(
            SendAlerting(fast_start_accepted=accepted, h245_address=h245_address), now
        )

    def progress(
        self,
        now: float,
        *,
        fast_start_accepted: list[bytes] | tuple[bytes, ...] | None = None,
        h245_address: TransportAddress | None = None,
        progress_description: int = 8,
    ) -> None:
        """Send Progress (Q.931 section 5.1.6, H.225.0 section 7.3.4)."""
        accepted = None if fast_start_accepted is None else tuple(fast_start_accepted)
        self.handle_command(
            SendProgress(
                fast_start_accepted=accepted,
                h245_address=h245_address,
                progress_description=progress_description,
            ),
            now,
        )

    def connect(
        self,
        now: float,
        *,
        fast_start_accepted: list[bytes] | tuple[bytes, ...] | None = None,
        h245_address: TransportAddress | None = None,
    ) -> None:
        """Answer with Connect (Q.931 section 5.2.8)."""
        accepted = None if fast_start_accepted is None else tuple(fast_start_accepted)
        self.handle_command(
            SendConnect(fast_start_accepted=accepted, h245_address=h245_address), now
        )

    def release(self, now: float, cause: int = 16) -> None:
        """Clear the call with Release Complete (H.225.0 section 8.5).

        Does nothing once the call is released.
        """
        if self._state is CallState.RELEASED:
            return
        self.handle_command(SendRelease(cause=cause), now)

    def send_h245(self, pdus: list[bytes] | tuple[bytes, ...], now: float) -> None:
        """Tunnel H.245 PDUs (H.323 section 8.2.1).

        Sent at once in a Facility, or in our next message when we have sent
        nothing the peer can match yet.  Raises LocalH323Error when
        tunnelling is off or the call is not up.
        """
        if not self.is_h245_tunnelling:
            raise LocalH323Error("H.245 tunnelling is not in use on this call")
        self.handle_command(SendH245(pdus=tuple(pdus)), now)

    def start_h245(self, address: TransportAddress, now: float) -> None:
        """Offer our H.245 listener in Facility startH245 (H.323 section 8.2.3)."""
        self.handle_command(SendStartH245(address=address), now)

    # -- dispatch ----------------------------------------------------------------

    def _dispatch(self, inp: CallInput, payload: _Payload, now: float) -> None:
        row = _TABLE.get((self._state, inp))
        if row is None:
            self._out_of_order(inp, payload, now)
            return
        action, next_state = row
        action(self, payload, now)
        if self._state is CallState.RELEASED:
            return
        self._state = next_state
        allowed = _TIMERS_BY_STATE.get(next_state, frozenset())
        for timer in list(self._deadlines):
            if timer not in allowed:
                del self._deadlines[timer]

    def _out_of_order(self, inp: CallInput, payload: _Payload, now: float) -> None:
        if not isinstance(payload, _Received):
            return  # A timer whose state has gone: nothing to do.
        reason = f"{inp.value} in {self._state.name}"
        if inp is CallInput.RELEASE_COMPLETE:
            # Q.931 section 5.8.3.2 c): Release Complete for no call is ignored.
            self._events.append(MessageDropped(reason=reason))
        elif not self._has_call():
            # Q.931 section 5.8.3.2 b): no call for this call reference.
            self._fail(CAUSE_INVALID_CALL_REFERENCE, reason, None, now, payload.message)
        elif self.config.clear_on_out_of_order:
            # H.225.0 runs on TCP: a message out of sequence is not a loss
            # Status could repair but a peer whose state went elsewhere.
            self._fail(CAUSE_NOT_COMPATIBLE_WITH_STATE, reason, None, now)
        else:
            # Q.931 section 5.8.4: answer with Status, cause 101.
            self._answer_status(CAUSE_NOT_COMPATIBLE_WITH_STATE, reason)

    def _has_call(self) -> bool:
        return self._state not in (CallState.NULL, CallState.RELEASED)

    def _is_our_call(self, message: q931.Q931Message) -> bool:
        """Check the call reference and flag (Q.931 sections 4.3, 5.8.3.2)."""
        if self.call_reference is None:
            return True
        if (
            message.call_reference == self.call_reference
            and message.is_from_destination == self.is_outgoing
        ):
            return True
        if message.message_type in (MessageType.RELEASE_COMPLETE, MessageType.SETUP):
            self._events.append(MessageDropped(reason="foreign call reference"))
            return False
        # Q.931 section 5.8.3.2 a): clear that other call reference only.
        self._outgoing.append(
            frame(
                MessageType.RELEASE_COMPLETE,
                call_reference=message.call_reference,
                is_from_destination=not message.is_from_destination,
                body=H225Message(
                    kind=H225Kind.RELEASE_COMPLETE,
                    call_identifier=self.call_identifier or NO_CALL_IDENTIFIER,
                    release_reason="undefinedReason",
                ),
                ies=(q931.Cause(value=CAUSE_INVALID_CALL_REFERENCE).to_ie(),),
            )
        )
        self._events.append(
            ProtocolErrorDetected(
                cause=CAUSE_INVALID_CALL_REFERENCE,
                reason=f"call reference {message.call_reference:#06x} is not ours",
                is_call_cleared=False,
            )
        )
        return False

    def _on_undecodable(self, exc: RemoteH323Error, payload: bytes, now: float) -> None:
        """A payload ``q931.decode`` refused (Q.931 section 5.8)."""
        cause = exc.q931_cause
        if cause is None:
            self._events.append(MessageDropped(reason=str(exc)))
            return
        header = q931.peek_header(payload)
        if (
            self.call_reference is not None
            and header is not None
            and (header.call_reference, header.is_from_destination)
            != (self.call_reference, self.is_outgoing)
        ):
            reason = f"{exc} (another call reference)"
            self._events.append(MessageDropped(reason=reason))
            return
        if header is not None and header.message_type == MessageType.RELEASE_COMPLETE:
            self._on_broken_release(cause, str(exc), None)
        elif cause == CAUSE_MESSAGE_TYPE_NONEXISTENT and self._has_call():
            self._answer_status(cause, str(exc))
        else:
            self._fail(cause, str(exc), payload, now)

    def _on_bad_body(
        self, message: q931.Q931Message, exc: RemoteH323Error, now: float
    ) -> None:
        """A message whose H.225.0 body is missing, undecodable or mismatched.

        Q.931 section 5.8.6 would answer most of these with Status and act on
        nothing, but the body is what H.225.0 acts on: without it the call
        could only wait for a timer, so it is cleared.
        """
        cause = exc.q931_cause or CAUSE_INVALID_MESSAGE
        if message.message_type is MessageType.RELEASE_COMPLETE:
            self._on_broken_release(cause, str(exc), message)
            return
        self._fail(cause, str(exc), None, now, message)

    def _on_broken_release(
        self, cause: int, reason: str, message: q931.Q931Message | None
    ) -> None:
        """Q.931 section 5.8.6.1: a broken Release Complete still clears.

        It is never answered (5.8.3.2 c); the peer's Cause IE wins when it
        is readable.
        """
        if not self._has_call():
            self._events.append(MessageDropped(reason=reason))
            return
        self._events.append(
            ProtocolErrorDetected(cause=cause, reason=reason, is_call_cleared=True)
        )
        try:
            peer_cause = None if message is None else message.cause
        except RemoteH323Error:
            peer_cause = None
        value = cause if peer_cause is None else peer_cause.value
        self._enter_released(value, None, is_local=False)

    # -- sending -----------------------------------------------------------------

    def _body(self, kind: H225Kind, **fields: Any) -> H225Message:
        control = tuple(self._pending_h245) if self.is_h245_tunnelling else ()
        self._pending_h245.clear()
        return H225Message(
            kind=kind,
            call_identifier=self.call_identifier or NO_CALL_IDENTIFIER,
            h245_tunnelling=self.is_h245_tunnelling,
            h245_control=control,
            **fields,
        )

    def _send(self, message_type: MessageType, body: H225Message, **extra: Any) -> None:
        assert self.call_reference is not None
        self._outgoing.append(
            frame(
                message_type,
                call_reference=self.call_reference,
                is_from_destination=not self.is_outgoing,
                body=body,
                **extra,
            )
        )

    def _send_setup(self, payload: _Payload, now: float) -> None:
        assert isinstance(payload, SendSetup)
        # Q.931 section 4.3: 15-bit call reference chosen by the originator.
        reference = payload.call_reference
        if reference is None:
            reference = int.from_bytes(self._random_bytes(2), "big") & 0x7FFF
        self.call_reference = reference or 1
        self.call_identifier = payload.call_identifier or self._random_bytes(16)
        self.conference_id = payload.conference_id or self._random_bytes(16)
        self._is_local_tunnelling = payload.is_h245_tunnelling
        self._fast_start_proposed = bool(payload.fast_start)
        body = self._body(
            H225Kind.SETUP,
            conference_id=self.conference_id,
            source_address=payload.source_aliases,
            destination_address=payload.destination_aliases,
            source_call_signal_address=self.config.local_address,
            dest_call_signal_address=payload.dest_call_signal_address,
            h245_address=payload.h245_address,
            fast_start=payload.fast_start or None,
            endpoint=self.config.endpoint,
        )
        self._send(
            MessageType.SETUP,
            body,
            ies=setup_ies(payload),
            display=payload.display or self.config.display,
        )
        self._deadlines[CallInput.T303] = now + self.config.t303_s

    def _send_response(self, payload: _Payload, now: float) -> None:
        assert isinstance(
            payload, SendCallProceeding | SendAlerting | SendProgress | SendConnect
        )
        kind, message_type = _RESPONSES[type(payload)]
        if payload.fast_start_accepted is not None:
            self._fast_start_answer = payload.fast_start_accepted
        fields: dict[str, Any] = {
            "fast_start": self._fast_start_answer or None,
            "h245_address": payload.h245_address,
            "endpoint": self.config.endpoint,
        }
        extra: dict[str, Any] = {"display": self.config.display}
        if isinstance(payload, SendConnect):
            fields["conference_id"] = self.conference_id
            extra["ies"] = (q931.BearerCapability().to_ie(),)
        elif isinstance(payload, SendProgress):
            extra["ies"] = (progress_ie(payload.progress_description),)
        self._send(message_type, self._body(kind, **fields), **extra)

    def _send_release(self, payload: _Payload, now: float) -> None:
        assert isinstance(payload, SendRelease)
        self._release_with(payload.cause, is_sent=True)

    def _release_unsent(self, payload: _Payload, now: float) -> None:
        assert isinstance(payload, SendRelease)
        self._release_with(payload.cause, is_sent=False)

    def _release_with(self, cause: int, *, is_sent: bool) -> None:
        if is_sent:
            body = self._body(
                H225Kind.RELEASE_COMPLETE,
                release_reason=cause_to_release_reason(cause),
            )
            self._send(
                MessageType.RELEASE_COMPLETE,
                body,
                ies=(q931.Cause(value=cause).to_ie(),),
                display=self.config.display,
            )
        self._enter_released(cause, None, is_local=True)

    def _enter_released(
        self, cause: int, reason: str | None, *, is_local: bool
    ) -> None:
        self._state = CallState.RELEASED
        self._deadlines.clear()
        self._pending_h245.clear()
        self._events.append(Released(cause=cause, reason=reason, is_local=is_local))

    def _queue_h245(self, payload: _Payload, now: float) -> None:
        assert isinstance(payload, SendH245)
        self._pending_h245.extend(payload.pdus)

    def _send_h245_facility(self, payload: _Payload, now: float) -> None:
        assert isinstance(payload, SendH245)
        self._pending_h245.extend(payload.pdus)
        body = self._body(H225Kind.FACILITY, facility_reason="transportedInformation")
        self._send(MessageType.FACILITY, body)

    def _send_start_h245(self, payload: _Payload, now: float) -> None:
        assert isinstance(payload, SendStartH245)
        body = self._body(
            H225Kind.FACILITY,
            facility_reason="startH245",
            h245_address=payload.address,
            conference_id=self.conference_id,
        )
        self._send(MessageType.FACILITY, body)

    def _answer_status(self, cause: int, reason: str | None = None) -> None:
        if reason is not None:
            self._events.append(
                ProtocolErrorDetected(cause=cause, reason=reason, is_call_cleared=False)
            )
        body = self._body(H225Kind.STATUS)
        self._send(MessageType.STATUS, body, ies=status_ies(cause, self._state))

    def _fail(
        self,
        cause: int,
        reason: str,
        payload: bytes | None,
        now: float,
        message: q931.Q931Message | None = None,
    ) -> None:
        """Clear the call after a protocol error (Q.931 section 5.8)."""
        self._events.append(
            ProtocolErrorDetected(cause=cause, reason=reason, is_call_cleared=True)
        )
        if self.call_reference is None:
            reference, is_from_destination = _raw_reference(payload, message)
            self.call_reference = reference
            self.is_outgoing = not is_from_destination
        self._release_with(cause, is_sent=True)

    # -- receiving ---------------------------------------------------------------

    def _note_common(self, received: _Received) -> None:
        """Record tunnelling, tunnelled H.245 and the H.245 address of any message."""
        body = received.body
        if body.kind is not H225Kind.EMPTY and self._is_peer_tunnelling is not False:
            self._is_peer_tunnelling = body.h245_tunnelling
        if body.h245_control:
            self._events.append(TunnelledH245(pdus=body.h245_control))
        address = body.h245_address
        if address is not None and address != self._peer_h245_address:
            self._peer_h245_address = address
            self._events.append(PeerH245Address(address=address))

    def _note_fast_start(self, body: H225Message) -> None:
        if (
            self._fast_start_proposed
            and self._fast_start_answer is None
            and body.fast_start
        ):
            self._fast_start_answer = body.fast_start
            self._events.append(FastStartAccepted(olcs=body.fast_start))

    def _on_setup(self, payload: _Payload, now: float) -> None:
        assert isinstance(payload, _Received)
        message, body = payload.message, payload.body
        # Parse every IE before reporting anything: a malformed one clears.
        digits = dialled_digits(message, body.destination_address)
        calling = message.calling_party_number
        calling_number = (
            calling.digits if calling else first_digits(body.source_address)
        )
        if body.call_identifier is None:
            raise RemoteH323Error(
                "Setup without callIdentifier", q931_cause=CAUSE_MANDATORY_IE_MISSING
            )
        self.call_reference = message.call_reference
        self.call_identifier = body.call_identifier
        self.conference_id = body.conference_id
        self._is_local_tunnelling = body.h245_tunnelling
        self._events.append(
            SetupReceived(
                call_reference=message.call_reference,
                call_identifier=body.call_identifier,
                conference_id=body.conference_id,
                source_aliases=body.source_address,
                destination_aliases=body.destination_address,
                dialled_digits=digits,
                calling_number=calling_number,
                display=message.display,
                fast_start=body.fast_start,
                is_h245_tunnelling=body.h245_tunnelling,
                h245_address=body.h245_address,
                source_call_signal_address=body.source_call_signal_address,
                endpoint=body.endpoint,
            )
        )
        self._note_common(payload)

    def _on_answer(self, payload: _Payload, now: float) -> None:
        """Call Proceeding, Alerting, Progress or Connect for our Setup."""
        assert isinstance(payload, _Received)
        message, body = payload.message, payload.body
        self._events.append(_ANSWER_EVENTS[message.message_type](payload))
        self._note_fast_start(body)
        if message.message_type is MessageType.CONNECT and (
            self._fast_start_proposed and self._fast_start_answer is None
        ):
            self._events.append(FastStartRefused())
        self._note_common(payload)
        timer = _TIMER_STARTED_BY.get(message.message_type)
        if message.message_type is MessageType.PROGRESS:
            # Q.931 Table 9-1: Progress stops T310 but not T301.
            self._deadlines.pop(CallInput.T310, None)
            self._deadlines.pop(CallInput.T303, None)
        if timer is not None:
            self._deadlines[timer] = now + getattr(self.config, _TIMER_FIELDS[timer])

    def _on_facility(self, payload: _Payload, now: float) -> None:
        assert isinstance(payload, _Received)
        body = payload.body
        self._note_fast_start(body)
        self._note_common(payload)
        reason = body.facility_reason
        if body.kind is H225Kind.FACILITY and reason not in (
            "transportedInformation",
            "startH245",
            "undefinedReason",
        ):
            self._events.append(
                FacilityReceived(reason=reason, alternative_address=_alternative(body))
            )

    def _on_release_complete(self, payload: _Payload, now: float) -> None:
        assert isinstance(payload, _Received)
        message, body = payload.message, payload.body
        self._note_common(payload)
        try:
            cause_ie = message.cause
        except RemoteH323Error:
            cause_ie = None  # The call is gone anyway; fall back to the reason.
        reason = body.release_reason
        if cause_ie is not None:
            cause = cause_ie.value
        else:
            cause = release_reason_to_cause(reason or "undefinedReason")
        self._enter_released(cause, reason, is_local=False)

    def _on_status(self, payload: _Payload, now: float) -> None:
        assert isinstance(payload, _Received)
        message = payload.message
        try:
            cause = message.cause
        except RemoteH323Error:
            cause = None
        state = call_state_of(message)
        self._events.append(
            StatusReceived(
                cause=None if cause is None else cause.value, call_state=state
            )
        )
        self._note_common(payload)
        if state == 0:
            # Q.931 section 5.8.11: the peer has no call: clear ours locally.
            value = cause.value if cause else CAUSE_NOT_COMPATIBLE_WITH_STATE
            self._enter_released(value, None, is_local=False)

    def _on_status_inquiry(self, payload: _Payload, now: float) -> None:
        assert isinstance(payload, _Received)
        self._note_common(payload)
        self._answer_status(CAUSE_RESPONSE_TO_STATUS_INQUIRY)

    def _on_information(self, payload: _Payload, now: float) -> None:
        assert isinstance(payload, _Received)
        self._note_common(payload)

    def _on_timer(self, payload: _Payload, now: float, cause: int) -> None:
        self._release_with(cause, is_sent=True)

    def _on_t303(self, payload: _Payload, now: float) -> None:
        # Q.931 section 5.1.1 (no retransmission over TCP): cause 102.
        self._on_timer(payload, now, CAUSE_RECOVERY_ON_TIMER_EXPIRY)

    def _on_t310(self, payload: _Payload, now: float) -> None:
        # Q.931 section 5.1.6: T310 expiry clears with cause 102.
        self._on_timer(payload, now, CAUSE_RECOVERY_ON_TIMER_EXPIRY)

    def _on_t301(self, payload: _Payload, now: float) -> None:
        # Q.931 section 5.1.7: T301 expiry clears with cause 19, no answer.
        self._on_timer(payload, now, CAUSE_NO_ANSWER)


def _decode_body(message: q931.Q931Message) -> H225Message:
    """The H.225.0 body of ``message``; it must match the Q.931 type."""
    user_user = message.user_user
    if user_user is None:
        raise RemoteH323Error(
            f"{message.message_type.name} without User-User IE",
            q931_cause=CAUSE_MANDATORY_IE_MISSING,
        )
    body = codec.decode_h225(user_user)
    if codec.Q931_TYPE_BY_KIND[body.kind] is not message.message_type:
        raise RemoteH323Error(
            f"{body.kind.value} body in {message.message_type.name}",
            q931_cause=CAUSE_INVALID_IE_CONTENTS,
        )
    return body


def _raw_reference(
    payload: bytes | None, message: q931.Q931Message | None
) -> tuple[int, bool]:
    """Call reference and flag of our reply when no call exists yet.

    We answer as the other side, so our flag is the opposite of theirs.
    """
    if message is not None:
        return message.call_reference, not message.is_from_destination
    header = None if payload is None else q931.peek_header(payload)
    if header is None:
        return 0, True
    return header.call_reference, not header.is_from_destination


def _alternative(body: H225Message) -> TransportAddress | None:
    try:
        value = body.raw["h323-uu-pdu"]["h323-message-body"][1]["alternativeAddress"]
        return TransportAddress.from_asn(value)
    except (KeyError, TypeError, IndexError, ValueError):
        return None


_RESPONSES: Mapping[type[H225CallCommand], tuple[H225Kind, MessageType]] = {
    SendCallProceeding: (H225Kind.CALL_PROCEEDING, MessageType.CALL_PROCEEDING),
    SendAlerting: (H225Kind.ALERTING, MessageType.ALERTING),
    SendProgress: (H225Kind.PROGRESS, MessageType.PROGRESS),
    SendConnect: (H225Kind.CONNECT, MessageType.CONNECT),
}

_ANSWER_EVENTS: Mapping[MessageType, Callable[[_Received], H225CallEvent]] = {
    MessageType.CALL_PROCEEDING: lambda r: CallProceedingReceived(),
    MessageType.ALERTING: lambda r: AlertingReceived(),
    MessageType.PROGRESS: lambda r: ProgressReceived(
        progress_description=progress_description(r.message)
    ),
    MessageType.CONNECT: lambda r: ConnectReceived(endpoint=r.body.endpoint),
}

_TIMER_STARTED_BY: Mapping[MessageType, CallInput] = {
    MessageType.CALL_PROCEEDING: CallInput.T310,
    MessageType.ALERTING: CallInput.T301,
}
_TIMER_FIELDS: Mapping[CallInput, str] = {
    CallInput.T310: "t310_s",
    CallInput.T301: "t301_s",
}

_S = CallState
_I = CallInput
_C = H225Call
_Action = Callable[[H225Call, _Payload, float], None]
_LIVE = (
    _S.CALL_INITIATED,
    _S.OUTGOING_CALL_PROCEEDING,
    _S.CALL_DELIVERED,
    _S.CALL_PRESENT,
    _S.CALL_RECEIVED,
    _S.INCOMING_CALL_PROCEEDING,
    _S.ACTIVE,
)
_OUTGOING_ANSWERED = (_S.OUTGOING_CALL_PROCEEDING, _S.CALL_DELIVERED, _S.ACTIVE)
_INCOMING_ANSWERED = (_S.CALL_RECEIVED, _S.INCOMING_CALL_PROCEEDING, _S.ACTIVE)

_TABLE: Mapping[tuple[CallState, CallInput], tuple[_Action, CallState]] = {
    # Q.931 section 5.1.1, H.225.0 section 8.1: Setup starts T303.
    (_S.NULL, _I.SEND_SETUP): (_C._send_setup, _S.CALL_INITIATED),
    # Q.931 section 5.2.1: an incoming Setup presents the call.
    (_S.NULL, _I.SETUP): (_C._on_setup, _S.CALL_PRESENT),
    # Q.931 section 5.1.5.2: Call Proceeding stops T303, starts T310.
    (_S.CALL_INITIATED, _I.CALL_PROCEEDING): (
        _C._on_answer,
        _S.OUTGOING_CALL_PROCEEDING,
    ),
    # Q.931 section 5.1.7: Alerting starts T301.
    (_S.CALL_INITIATED, _I.ALERTING): (_C._on_answer, _S.CALL_DELIVERED),
    (_S.OUTGOING_CALL_PROCEEDING, _I.ALERTING): (_C._on_answer, _S.CALL_DELIVERED),
    # Q.931 section 5.1.6 and Table 9-1: Progress stops T303/T310; H.225.0
    # section 7.3.4 lets a gateway send it before Call Proceeding.
    (_S.CALL_INITIATED, _I.PROGRESS): (_C._on_answer, _S.OUTGOING_CALL_PROCEEDING),
    (_S.OUTGOING_CALL_PROCEEDING, _I.PROGRESS): (
        _C._on_answer,
        _S.OUTGOING_CALL_PROCEEDING,
    ),
    (_S.CALL_DELIVERED, _I.PROGRESS): (_C._on_answer, _S.CALL_DELIVERED),
    # Q.931 section 5.1.8: Connect makes the call active (no Connect Ack in
    # H.225.0 section 7.3).
    **{(s, _I.CONNECT): (_C._on_answer, _S.ACTIVE) for s in _LIVE[:3]},
    # Q.931 section 5.2.5.2: we answer Setup with Call Proceeding.
    (_S.CALL_PRESENT, _I.SEND_CALL_PROCEEDING): (
        _C._send_response,
        _S.INCOMING_CALL_PROCEEDING,
    ),
    # Q.931 section 5.2.5.3: Alerting.
    (_S.CALL_PRESENT, _I.SEND_ALERTING): (_C._send_response, _S.CALL_RECEIVED),
    (_S.INCOMING_CALL_PROCEEDING, _I.SEND_ALERTING): (
        _C._send_response,
        _S.CALL_RECEIVED,
    ),
    # H.225.0 section 7.3.4: Progress keeps the state.
    **{(s, _I.SEND_PROGRESS): (_C._send_response, s) for s in _LIVE[3:6]},
    # Q.931 section 5.2.8: Connect (no Connect Ack in H.225.0).
    **{(s, _I.SEND_CONNECT): (_C._send_response, _S.ACTIVE) for s in _LIVE[3:6]},
    # H.225.0 section 8.5: either side clears with Release Complete.
    **{(s, _I.SEND_RELEASE): (_C._send_release, _S.RELEASED) for s in _LIVE},
    (_S.NULL, _I.SEND_RELEASE): (_C._release_unsent, _S.RELEASED),
    **{(s, _I.RELEASE_COMPLETE): (_C._on_release_complete, _S.RELEASED) for s in _LIVE},
    # Q.931 section 5.8.10: Status Inquiry is answered with Status, cause 30.
    **{(s, _I.STATUS_INQUIRY): (_C._on_status_inquiry, s) for s in _LIVE},
    # Q.931 section 5.8.11: Status is reported; call state 0 clears.
    **{(s, _I.STATUS): (_C._on_status, s) for s in _LIVE},
    # Q.931 sections 3.1.6 and 3.1.9: Information and Notify change nothing.
    **{(s, _I.INFORMATION): (_C._on_information, s) for s in _LIVE},
    # H.225.0 section 7.4.2 and H.323 section 8.2.1: Facility carries
    # tunnelled H.245, startH245 or redirection at any time after Setup.
    **{(s, _I.FACILITY): (_C._on_facility, s) for s in _LIVE},
    # H.323 section 8.2.1: H.245 rides in Setup or in our first answer until
    # the peer can match a Facility to the call, then in Facility.
    (_S.NULL, _I.SEND_H245): (_C._queue_h245, _S.NULL),
    (_S.CALL_PRESENT, _I.SEND_H245): (_C._queue_h245, _S.CALL_PRESENT),
    **{(s, _I.SEND_H245): (_C._send_h245_facility, s) for s in _OUTGOING_ANSWERED},
    (_S.CALL_INITIATED, _I.SEND_H245): (_C._send_h245_facility, _S.CALL_INITIATED),
    **{(s, _I.SEND_H245): (_C._send_h245_facility, s) for s in _INCOMING_ANSWERED},
    # H.323 section 8.2.3: Facility startH245 offers a separate H.245 channel.
    **{(s, _I.SEND_START_H245): (_C._send_start_h245, s) for s in _LIVE},
    # Q.931 Table 9-1 timers.
    (_S.CALL_INITIATED, _I.T303): (_C._on_t303, _S.RELEASED),
    (_S.OUTGOING_CALL_PROCEEDING, _I.T310): (_C._on_t310, _S.RELEASED),
    (_S.CALL_DELIVERED, _I.T301): (_C._on_t301, _S.RELEASED),
}
