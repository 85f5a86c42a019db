"""H.245 control protocol as a sans-IO state machine (ITU-T H.245, H.323 8.2-8.5).

:class:`H245Session` runs the signalling entities an H.323 gateway needs:
master-slave determination (MSDSE, H.245 8.2 and C.2), capability exchange
(CESE, 8.3 and C.3), unidirectional logical channels (LCSE, 8.4 and C.4) both
ways, round-trip delay (RTDSE), end of session (H.323 8.5), user input,
fast update and flow control.  Feed it PDUs with :meth:`receive_message`, give
it commands, then collect :meth:`pop_events` and :meth:`pop_outgoing` (encoded
PDUs the caller tunnels in H.225.0 h245Control or sends with TPKT).  Timers
are deadlines: the caller calls :meth:`handle_timeout` at
:meth:`next_deadline`.

Transitions live in tables ``{(state, input): (action, next_state)}``; an
action may return another state where the SDL branches (e.g. an indeterminate
determination).  A received PDU with no row is reported as
:class:`ProtocolError` and leaves the state unchanged: the H.245 SDLs answer
unexpected PDUs with an error indication to the user, not by ending the
session, so TERMINATED is reached only by endSessionCommand.  A command with
no row is a bug in the caller and raises :class:`LocalH323Error`.
"""

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any

from gateway.h323 import h245_messages as build
from gateway.h323.codec import (
    H245Category,
    H245Message,
    TransportAddress,
    decode_h245,
    encode_h245,
)
from gateway.h323.errors import LocalH323Error, RemoteH323Error
from gateway.h323.h245_messages import (
    TERMINAL_TYPE_GATEWAY,
    TERMINAL_TYPE_MCU,
    TERMINAL_TYPE_TERMINAL,
    CapabilitiesAcknowledged,
    CapabilitiesReceived,
    CapabilitiesRejected,
    CapabilityEntry,
    ChannelClosed,
    ChannelOpened,
    ChannelOpenRequested,
    ChannelRejected,
    FastUpdateRequested,
    FlowControl,
    H245Config,
    H245Event,
    H2250Parameters,
    MasterSlaveDetermined,
    MessageIgnored,
    Paused,
    PeerUnresponsive,
    ProtocolError,
    RoundTripMeasured,
    SessionEnded,
    UserInput,
    UserInputKind,
)

__all__ = [
    "TERMINAL_TYPE_GATEWAY",
    "TERMINAL_TYPE_MCU",
    "TERMINAL_TYPE_TERMINAL",
    "CapabilitiesAcknowledged",
    "CapabilitiesReceived",
    "CapabilitiesRejected",
    "ChannelClosed",
    "ChannelOpenRequested",
    "ChannelOpened",
    "ChannelRejected",
    "ChannelState",
    "FastUpdateRequested",
    "FlowControl",
    "H245Config",
    "H245Event",
    "H245Session",
    "MasterSlaveDetermined",
    "MessageIgnored",
    "MsdState",
    "Paused",
    "PeerUnresponsive",
    "ProtocolError",
    "RoundTripMeasured",
    "SessionEnded",
    "SessionState",
    "UserInput",
]

_MODULO = 1 << 24
"""statusDeterminationNumber arithmetic is modulo 2^24 (H.245 C.2.1.1)."""
_REQ, _RSP = H245Category.REQUEST, H245Category.RESPONSE
_CMD, _IND = H245Category.COMMAND, H245Category.INDICATION


# -- states and inputs ------------------------------------------------------------


class MsdState(Enum):
    """MSDSE states (H.245 C.2)."""

    IDLE = auto()
    OUTGOING_AWAITING_RESPONSE = auto()
    INCOMING_AWAITING_RESPONSE = auto()


class CeseState(Enum):
    """Outgoing CESE states (H.245 C.3)."""

    IDLE = auto()
    AWAITING_RESPONSE = auto()


class ChannelState(Enum):
    """LCSE states, outgoing and incoming (H.245 C.4)."""

    RELEASED = auto()
    AWAITING_ESTABLISHMENT = auto()
    ESTABLISHED = auto()
    AWAITING_RELEASE = auto()


class SessionState(Enum):
    """Session life cycle around endSessionCommand (H.323 8.5)."""

    OPEN = auto()
    ENDING = auto()
    TERMINATED = auto()


class In(Enum):
    """Inputs to the transition tables: commands, PDUs and timer expiries."""

    START = auto()
    MSD = auto()
    MSD_ACK = auto()
    MSD_REJECT = auto()
    MSD_RELEASE = auto()
    T106 = auto()
    SEND_TCS = auto()
    TCS_ACK = auto()
    TCS_REJECT = auto()
    T101 = auto()
    OPEN = auto()
    CLOSE = auto()
    OLC = auto()
    OLC_ACK = auto()
    OLC_REJECT = auto()
    CLC = auto()
    CLC_ACK = auto()
    ACCEPT = auto()
    REJECT = auto()
    T103 = auto()
    T105 = auto()
    END = auto()
    PEER_END = auto()


_Action = Callable[..., Any]
_M, _C, _L, _S = MsdState, CeseState, ChannelState, SessionState
_OUT, _IN = _M.OUTGOING_AWAITING_RESPONSE, _M.INCOMING_AWAITING_RESPONSE
_AE, _EST, _AR = _L.AWAITING_ESTABLISHMENT, _L.ESTABLISHED, _L.AWAITING_RELEASE

# Each row names a method of H245Session and the state it leads to.
MSD_TABLE: Mapping[tuple[MsdState, In], tuple[str, MsdState]] = {
    (_M.IDLE, In.START): ("_msd_send", _OUT),  # C.2.2
    (_M.IDLE, In.MSD): ("_msd_answer", _IN),  # C.2.2, reject if indeterminate
    (_OUT, In.MSD): ("_msd_answer", _IN),  # C.2.3, retry if indeterminate
    (_OUT, In.MSD_ACK): ("_msd_acked_outgoing", _M.IDLE),  # C.2.3
    (_OUT, In.MSD_REJECT): ("_msd_retry", _OUT),  # C.2.3, N100 bounds
    (_OUT, In.MSD_RELEASE): ("_msd_fail", _M.IDLE),  # C.2.3 error B
    (_OUT, In.T106): ("_msd_timeout", _M.IDLE),  # C.2.3 error A
    (_IN, In.MSD_ACK): ("_msd_acked_incoming", _M.IDLE),  # C.2.4
    (_IN, In.MSD): ("_msd_fail", _M.IDLE),  # C.2.4 error C
    (_IN, In.MSD_REJECT): ("_msd_fail", _M.IDLE),  # C.2.4 error D
    (_IN, In.MSD_RELEASE): ("_msd_fail", _M.IDLE),  # C.2.4 error B
    (_IN, In.T106): ("_msd_fail", _M.IDLE),  # C.2.4 error A
}
"""Master-slave determination signalling entity (H.245 8.2, SDL C.2)."""

CESE_TABLE: Mapping[tuple[CeseState, In], tuple[str, CeseState]] = {
    (_C.IDLE, In.SEND_TCS): ("_tcs_send", _C.AWAITING_RESPONSE),  # C.3.2
    (_C.AWAITING_RESPONSE, In.SEND_TCS): ("_tcs_send", _C.AWAITING_RESPONSE),
    (_C.AWAITING_RESPONSE, In.TCS_ACK): ("_tcs_acked", _C.IDLE),  # C.3.2
    (_C.AWAITING_RESPONSE, In.TCS_REJECT): ("_tcs_rejected", _C.IDLE),  # C.3.2
    (_C.AWAITING_RESPONSE, In.T101): ("_tcs_timeout", _C.IDLE),  # C.3.2
    # A late answer after T101 is stale; one to a set never sent is an error.
    (_C.IDLE, In.TCS_ACK): ("_tcs_unasked", _C.IDLE),
    (_C.IDLE, In.TCS_REJECT): ("_tcs_unasked", _C.IDLE),
}
"""Outgoing capability exchange signalling entity (H.245 8.3, SDL C.3)."""

OUT_CHANNEL_TABLE: Mapping[tuple[ChannelState, In], tuple[str, ChannelState]] = {
    (_L.RELEASED, In.OPEN): ("_olc_send", _AE),  # C.4.2
    (_AE, In.OLC_ACK): ("_olc_acked", _EST),  # C.4.2
    (_AE, In.OLC_REJECT): ("_olc_rejected", _L.RELEASED),  # C.4.2
    (_AE, In.T103): ("_olc_timeout", _L.RELEASED),  # C.4.2 error D
    (_AE, In.CLOSE): ("_clc_send", _AR),  # C.4.2
    (_EST, In.CLOSE): ("_clc_send", _AR),  # C.4.2
    (_EST, In.OLC_ACK): ("_stale", _EST),  # duplicate Ack
    (_EST, In.OLC_REJECT): ("_out_released", _L.RELEASED),  # C.4.2 error B
    (_AR, In.CLC_ACK): ("_out_released", _L.RELEASED),  # C.4.2
    (_AR, In.T103): ("_out_released", _L.RELEASED),  # C.4.2 error D
    (_AR, In.OLC_ACK): ("_stale", _AR),  # crossed with our close
    (_AR, In.OLC_REJECT): ("_stale", _AR),
}
"""Outgoing LCSE, one per channel we open (H.245 8.4, SDL C.4)."""

IN_CHANNEL_TABLE: Mapping[tuple[ChannelState, In], tuple[str, ChannelState]] = {
    (_L.RELEASED, In.OLC): ("_olc_received", _AE),  # C.4.3
    (_AE, In.OLC): ("_olc_received", _AE),  # C.4.3 new request supersedes
    (_EST, In.OLC): ("_olc_reopened", _AE),  # C.4.3 release then establish
    (_AE, In.ACCEPT): ("_olc_accept", _EST),  # C.4.3
    (_AE, In.REJECT): ("_olc_reject", _L.RELEASED),  # C.4.3
    (_L.RELEASED, In.CLC): ("_clc_ack", _L.RELEASED),  # C.4.3 Ack anyway
    (_AE, In.CLC): ("_in_released", _L.RELEASED),  # C.4.3
    (_EST, In.CLC): ("_in_released", _L.RELEASED),  # C.4.3
}
"""Incoming LCSE, one per channel the peer opens (H.245 8.4, SDL C.4)."""

SESSION_TABLE: Mapping[tuple[SessionState, In], tuple[str, SessionState]] = {
    (_S.OPEN, In.END): ("_end_send", _S.ENDING),  # H.323 8.5 step c
    (_S.OPEN, In.PEER_END): ("_end_answer", _S.TERMINATED),  # H.323 8.5
    (_S.ENDING, In.PEER_END): ("_end_done", _S.TERMINATED),  # H.323 8.5 step d
    (_S.ENDING, In.END): ("_noop", _S.ENDING),  # idempotent
    (_S.TERMINATED, In.END): ("_noop", _S.TERMINATED),
    (_S.TERMINATED, In.PEER_END): ("_noop", _S.TERMINATED),  # duplicate
}
"""Session life cycle (H.323 8.5 call clearing, H.245 endSessionCommand)."""


@dataclass(slots=True, kw_only=True)
class _Ctx:
    """What an action sees: the input, the clock and its arguments."""

    input: In
    now: float
    message: H245Message | None = None
    number: int = 0
    extra: Any = None


class H245Session:
    """One H.245 control channel between us and an H.323 peer (sans-IO).

    ``random_below(n)`` returns an integer in ``[0, n)``; it draws the
    statusDeterminationNumber (H.245 8.2) and defaults to ``secrets``.
    The session accepts PDUs before :meth:`start` since a peer may open the
    exchange first (H.323 8.2).
    """

    def __init__(
        self,
        config: H245Config | None = None,
        *,
        random_below: Callable[[int], int] = secrets.randbelow,
    ) -> None:
        self._config = config or H245Config()
        self._random_below = random_below
        self._events: list[H245Event] = []
        self._outgoing: list[bytes] = []
        self._timers: dict[tuple[In, int], float] = {}
        self._is_started = False
        self.session_state = SessionState.OPEN
        self.msd_state = MsdState.IDLE
        self.is_master: bool | None = None
        self._msd_number = self._random_below(_MODULO)
        self._msd_retries = 0
        self._msd_pending: bool | None = None
        self.cese_state = CeseState.IDLE
        self._tcs_sequence = 0
        self._is_tcs_sent = False
        self._table: tuple[CapabilityEntry, ...] = ()
        self._descriptors: tuple[Mapping[str, Any], ...] = ()
        self._out: dict[int, ChannelState] = {}
        self._in: dict[int, ChannelState] = {}
        self._in_sessions: dict[int, int | None] = {}
        self._rtd_sequence = 0
        self._rtd_sent: tuple[int, float] | None = None
        self._handlers: dict[tuple[H245Category, str], Callable[..., None]] = {
            (_REQ, "masterSlaveDetermination"): self._msd_input(In.MSD),
            (_RSP, "masterSlaveDeterminationAck"): self._msd_input(In.MSD_ACK),
            (_RSP, "masterSlaveDeterminationReject"): self._msd_input(In.MSD_REJECT),
            (_IND, "masterSlaveDeterminationRelease"): self._msd_input(In.MSD_RELEASE),
            (_REQ, "terminalCapabilitySet"): self._on_tcs,
            (_RSP, "terminalCapabilitySetAck"): self._cese_input(In.TCS_ACK),
            (_RSP, "terminalCapabilitySetReject"): self._cese_input(In.TCS_REJECT),
            (_IND, "terminalCapabilitySetRelease"): self._on_ignorable,
            (_REQ, "openLogicalChannel"): self._on_olc,
            (_RSP, "openLogicalChannelAck"): self._out_input(In.OLC_ACK),
            (_RSP, "openLogicalChannelReject"): self._out_input(In.OLC_REJECT),
            (_RSP, "closeLogicalChannelAck"): self._out_input(In.CLC_ACK),
            (_REQ, "closeLogicalChannel"): self._on_clc,
            (_REQ, "roundTripDelayRequest"): self._on_rtd_request,
            (_RSP, "roundTripDelayResponse"): self._on_rtd_response,
            (_CMD, "endSessionCommand"): self._on_end_session,
            (_CMD, "miscellaneousCommand"): self._on_indication(build.read_fast_update),
            (_CMD, "flowControlCommand"): self._on_indication(build.read_flow_control),
            (_CMD, "sendTerminalCapabilitySet"): self._on_send_tcs,
            (_IND, "userInput"): self._on_indication(build.read_user_input),
        }

    # -- caller interface ---------------------------------------------------------

    def pop_events(self) -> list[H245Event]:
        """Events since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def pop_outgoing(self) -> list[bytes]:
        """Encoded PDUs to send, in order (one TPKT or h245Control item each)."""
        outgoing, self._outgoing = self._outgoing, []
        return outgoing

    def next_deadline(self) -> float | None:
        """The earliest running timer's deadline, or None."""
        return min(self._timers.values(), default=None)

    def handle_timeout(self, now: float) -> None:
        """Fire every timer due at ``now`` (T101, T103, T105, T106)."""
        due = sorted(
            ((deadline, key) for key, deadline in self._timers.items()),
            key=lambda item: item[0],
        )
        for deadline, key in due:
            if deadline > now or self._timers.get(key) != deadline:
                continue
            del self._timers[key]
            timer, number = key
            ctx = _Ctx(input=timer, now=now, number=number)
            if timer is In.T106:
                self.msd_state = self._step(MSD_TABLE, self.msd_state, ctx)
            elif timer is In.T101:
                self.cese_state = self._step(CESE_TABLE, self.cese_state, ctx)
            elif timer is In.T103:
                self._out_step(ctx)
            else:
                self._rtd_sent = None
                self._events.append(PeerUnresponsive())

    def receive_message(self, message: H245Message | bytes, now: float) -> None:
        """Handle one PDU from the peer (bytes are decoded first).

        Undecodable or oversized PDUs give :class:`ProtocolError` (and a
        functionNotSupported syntaxError reply); unsupported requests and
        commands are answered with functionNotUnderstood.  Never raises for
        anything the peer sends.
        """
        raw: bytes | None = None
        if isinstance(message, bytes):
            raw = message
            decoded = self._decode(raw)
            if decoded is None:
                return
            message = decoded
        if self.session_state is not SessionState.OPEN and not (
            message.category is _CMD and message.name == "endSessionCommand"
        ):
            self._ignore(message.name, "session is ending (H.323 8.5)")
            return
        handler = self._handlers.get((message.category, message.name))
        if handler is None:
            self._unsupported(message, raw)
            return
        try:
            handler(message, now)
        except RemoteH323Error as exc:
            self._events.append(ProtocolError(reason=str(exc)))

    # -- commands -------------------------------------------------------------------

    def start(
        self,
        now: float,
        *,
        capability_table: Sequence[CapabilityEntry],
        capability_descriptors: Sequence[Mapping[str, Any]],
    ) -> None:
        """Send our TerminalCapabilitySet then MasterSlaveDetermination (H.323 8.2).

        The determination is skipped if the peer already started one.
        ``capability_table`` pairs entry numbers with ready-made H.245
        Capability values.  Raises LocalH323Error if called twice or after
        the session ended.
        """
        self._check_open()
        if self._is_started:
            raise LocalH323Error("H.245 session already started")
        self._is_started = True
        self.send_capabilities(
            now,
            capability_table=capability_table,
            capability_descriptors=capability_descriptors,
        )
        if self.msd_state is MsdState.IDLE and self.is_master is None:
            # A determination the peer already began or finished stands (C.2).
            self._msd_retries = 0
            ctx = _Ctx(input=In.START, now=now)
            self.msd_state = self._step(MSD_TABLE, self.msd_state, ctx)

    def send_capabilities(
        self,
        now: float,
        *,
        capability_table: Sequence[CapabilityEntry],
        capability_descriptors: Sequence[Mapping[str, Any]],
    ) -> None:
        """Send a (new) TerminalCapabilitySet; an empty table pauses the peer.

        H.245 8.3 lets a new set supersede one still unacknowledged.
        """
        self._check_open()
        self._table = tuple(capability_table)
        self._descriptors = tuple(capability_descriptors)
        ctx = _Ctx(input=In.SEND_TCS, now=now)
        self.cese_state = self._step(CESE_TABLE, self.cese_state, ctx, is_command=True)

    def open_channel(
        self,
        number: int,
        *,
        data_type: Any,
        parameters: H2250Parameters,
        now: float,
    ) -> None:
        """Open our forward logical channel ``number`` (H.245 8.4.1).

        Raises LocalH323Error if the channel is in use or the values are bad.
        """
        self._check_open()
        message = build.open_logical_channel(
            number=number, data_type=data_type, parameters=parameters
        )
        self._out_step(_Ctx(input=In.OPEN, now=now, number=number, extra=message))

    def close_channel(self, number: int, *, now: float) -> None:
        """Close our forward channel ``number`` (H.245 8.4.2)."""
        self._check_open()
        self._out_step(_Ctx(input=In.CLOSE, now=now, number=number))

    def accept_channel(
        self,
        number: int,
        *,
        media: TransportAddress | None,
        media_control: TransportAddress | None,
        now: float,
    ) -> None:
        """Acknowledge the peer's channel: it sends RTP to ``media`` (8.4.1)."""
        self._check_open()
        extra = (media, media_control)
        self._in_step(_Ctx(input=In.ACCEPT, now=now, number=number, extra=extra))

    def reject_channel(
        self, number: int, *, cause: str = "dataTypeNotSupported", now: float
    ) -> None:
        """Reject the peer's channel with an OpenLogicalChannelReject cause."""
        self._check_open()
        self._in_step(_Ctx(input=In.REJECT, now=now, number=number, extra=cause))

    def send_user_input(
        self,
        digits: str,
        *,
        kind: UserInputKind = UserInputKind.ALPHANUMERIC,
        duration_ms: int | None = None,
        now: float,
    ) -> None:
        """Send digits as one alphanumeric or one signal indication per key."""
        self._check_open()
        if kind is UserInputKind.ALPHANUMERIC:
            messages = [build.user_input(digits=digits, kind=kind)]
        else:
            if not digits:
                raise LocalH323Error("no digits to send")
            messages = [
                build.user_input(digits=d, kind=kind, duration_ms=duration_ms)
                for d in digits
            ]
        for message in messages:
            self._send(message)

    def send_fast_update(self, number: int, *, now: float) -> None:
        """Ask the peer for an intra picture on its channel ``number`` (15.10)."""
        self._check_open()
        self._send(build.video_fast_update_picture(number=number))

    def send_flow_control(
        self, number: int | None, *, max_bitrate_bps: int | None, now: float
    ) -> None:
        """Limit the peer's bitrate on a channel or the whole multiplex (15.4)."""
        self._check_open()
        message = build.flow_control_command(
            number=number, max_bitrate_bps=max_bitrate_bps
        )
        self._send(message)

    def round_trip(self, now: float) -> None:
        """Send roundTripDelayRequest; T105 expiry gives PeerUnresponsive."""
        self._check_open()
        self._rtd_sequence = (self._rtd_sequence + 1) % 256
        self._send(build.round_trip_delay_request(sequence_number=self._rtd_sequence))
        self._rtd_sent = (self._rtd_sequence, now)
        self._set_timer(In.T105, 0, self._config.t105_s, now)

    def end_session(self, now: float) -> None:
        """Send endSessionCommand (H.323 8.5); idempotent.

        SessionEnded follows when the peer's endSessionCommand arrives.
        """
        ctx = _Ctx(input=In.END, now=now)
        self.session_state = self._step(
            SESSION_TABLE, self.session_state, ctx, is_command=True
        )

    # -- plumbing ---------------------------------------------------------------

    def _check_open(self) -> None:
        if self.session_state is not SessionState.OPEN:
            raise LocalH323Error("H.245 session has ended")

    def _send(self, message: H245Message) -> None:
        self._outgoing.append(encode_h245(message))

    def _ignore(self, name: str, reason: str) -> None:
        self._events.append(MessageIgnored(name=name, reason=reason))

    def _step(
        self,
        table: Mapping[Any, Any],
        state: Any,
        ctx: _Ctx,
        *,
        is_command: bool = False,
    ) -> Any:
        """Run the row for (state, input); see the module docstring for misses."""
        row = table.get((state, ctx.input))
        if row is None:
            what = f"{ctx.input.name} in state {state.name}"
            if is_command:
                raise LocalH323Error(f"H.245 command not allowed: {what}")
            self._events.append(ProtocolError(reason=f"unexpected {what}"))
            return state
        action, next_state = row
        override = getattr(self, action)(ctx)
        return next_state if override is None else override

    def _decode(self, data: bytes) -> H245Message | None:
        if len(data) > self._config.max_pdu_size_bytes:
            self._events.append(ProtocolError(reason=f"PDU of {len(data)} bytes"))
            return None
        try:
            return decode_h245(data)
        except RemoteH323Error as exc:
            self._events.append(ProtocolError(reason=str(exc)))
            if self.session_state is SessionState.OPEN:
                # The bytes are not returned: a peer (or Wireshark) decoding
                # returnedFunction would only fail on them again.
                self._send(
                    build.function_not_supported(cause="syntaxError", returned=None)
                )
            return None

    def _unsupported(self, message: H245Message, raw: bytes | None) -> None:
        """Answer requests and commands we do not implement (H.245 Annex A)."""
        if message.category in (_RSP, _IND):
            self._ignore(message.name, "not supported")
            return
        try:
            reply = encode_h245(build.function_not_understood(message))
        except LocalH323Error:
            # Unknown extensions cannot be re-encoded: return them as received.
            reply = encode_h245(
                build.function_not_supported(cause="unknownFunction", returned=raw)
            )
        self._outgoing.append(reply)
        self._ignore(message.name, "not supported, answered")

    def _set_timer(self, timer: In, number: int, delay_s: float, now: float) -> None:
        self._timers[(timer, number)] = now + delay_s

    def _cancel(self, timer: In, number: int = 0) -> None:
        self._timers.pop((timer, number), None)

    # -- master-slave determination (H.245 8.2, C.2) --------------------------------

    def _msd_input(self, key: In) -> Callable[[H245Message, float], None]:
        def handle(message: H245Message, now: float) -> None:
            ctx = _Ctx(input=key, now=now, message=message)
            self.msd_state = self._step(MSD_TABLE, self.msd_state, ctx)

        return handle

    def _msd_send(self, ctx: _Ctx) -> None:
        message = build.master_slave_determination(
            terminal_type=self._config.terminal_type, number=self._msd_number
        )
        self._send(message)
        self._set_timer(In.T106, 0, self._config.t106_s, ctx.now)

    def _determine(self, body: Mapping[str, Any]) -> bool | None:
        """True if we are master, None if indeterminate (H.245 C.2.1.1)."""
        peer_type = int(body["terminalType"])
        if peer_type != self._config.terminal_type:
            return self._config.terminal_type > peer_type
        difference = (
            int(body["statusDeterminationNumber"]) - self._msd_number
        ) % _MODULO
        if difference in (0, _MODULO // 2):
            return None
        return difference < _MODULO // 2

    def _msd_answer(self, ctx: _Ctx) -> MsdState | None:
        assert ctx.message is not None
        is_master = self._determine(ctx.message.body)
        if is_master is None:
            if self.msd_state is MsdState.IDLE:
                self._send(build.master_slave_determination_reject())
                return MsdState.IDLE
            return self._msd_retry(ctx)
        self._msd_pending = is_master
        self._send(
            build.master_slave_determination_ack(is_receiver_master=not is_master)
        )
        self._set_timer(In.T106, 0, self._config.t106_s, ctx.now)
        return None

    def _msd_retry(self, ctx: _Ctx) -> MsdState | None:
        """Indeterminate: draw a new number and retry, up to N100 times."""
        self._msd_retries += 1
        if self._msd_retries >= self._config.n100:
            self._cancel(In.T106)
            self._events.append(
                ProtocolError(reason="master-slave determination indeterminate (F)")
            )
            return MsdState.IDLE
        self._msd_number = self._random_below(_MODULO)
        self._msd_send(ctx)
        return MsdState.OUTGOING_AWAITING_RESPONSE

    def _msd_acked_outgoing(self, ctx: _Ctx) -> None:
        assert ctx.message is not None
        self._cancel(In.T106)
        is_master = ctx.message.body["decision"][0] == "master"
        self._send(
            build.master_slave_determination_ack(is_receiver_master=not is_master)
        )
        self._determined(is_master)

    def _msd_acked_incoming(self, ctx: _Ctx) -> MsdState | None:
        assert ctx.message is not None
        self._cancel(In.T106)
        is_master = ctx.message.body["decision"][0] == "master"
        if is_master != self._msd_pending:
            self._events.append(ProtocolError(reason="inconsistent MSD decision (E)"))
            return None
        self._determined(is_master)
        return None

    def _determined(self, is_master: bool) -> None:
        self.is_master = is_master
        self._msd_pending = None
        self._events.append(MasterSlaveDetermined(is_master=is_master))

    def _msd_timeout(self, ctx: _Ctx) -> None:
        self._send(build.master_slave_determination_release())
        self._msd_fail(ctx)

    def _msd_fail(self, ctx: _Ctx) -> None:
        self._cancel(In.T106)
        self._msd_pending = None
        reason = (
            f"master-slave determination: {ctx.input.name} in {self.msd_state.name}"
        )
        self._events.append(ProtocolError(reason=reason))

    # -- capability exchange (H.245 8.3, C.3) -----------------------------------------

    def _cese_input(self, key: In) -> Callable[[H245Message, float], None]:
        def handle(message: H245Message, now: float) -> None:
            ctx = _Ctx(input=key, now=now, message=message)
            self.cese_state = self._step(CESE_TABLE, self.cese_state, ctx)

        return handle

    def _tcs_send(self, ctx: _Ctx) -> None:
        self._tcs_sequence = (self._tcs_sequence + 1) % 256
        self._is_tcs_sent = True
        message = build.terminal_capability_set(
            sequence_number=self._tcs_sequence,
            capability_table=self._table,
            capability_descriptors=self._descriptors,
        )
        self._send(message)
        self._set_timer(In.T101, 0, self._config.t101_s, ctx.now)

    def _tcs_answered(self, ctx: _Ctx) -> bool:
        """True if the answer is for our current set; stale ones are dropped."""
        assert ctx.message is not None
        if ctx.message.sequence_number != self._tcs_sequence:
            self._ignore(ctx.message.name, "sequence number of an older set")
            return False
        self._cancel(In.T101)
        return True

    def _tcs_acked(self, ctx: _Ctx) -> CeseState | None:
        if not self._tcs_answered(ctx):
            return CeseState.AWAITING_RESPONSE
        self._events.append(
            CapabilitiesAcknowledged(sequence_number=self._tcs_sequence)
        )
        return None

    def _tcs_rejected(self, ctx: _Ctx) -> CeseState | None:
        if not self._tcs_answered(ctx):
            return CeseState.AWAITING_RESPONSE
        assert ctx.message is not None
        cause = str(ctx.message.body["cause"][0])
        event = CapabilitiesRejected(sequence_number=self._tcs_sequence, cause=cause)
        self._events.append(event)
        return None

    def _tcs_timeout(self, ctx: _Ctx) -> None:
        self._send(build.terminal_capability_set_release())
        event = CapabilitiesRejected(
            sequence_number=self._tcs_sequence, cause="timeout"
        )
        self._events.append(event)

    def _tcs_unasked(self, ctx: _Ctx) -> None:
        if self._is_tcs_sent:
            self._stale(ctx)
            return
        assert ctx.message is not None
        reason = f"{ctx.message.name} without a terminalCapabilitySet (C.3)"
        self._events.append(ProtocolError(reason=reason))

    def _stale(self, ctx: _Ctx) -> None:
        name = ctx.message.name if ctx.message else ctx.input.name
        self._ignore(name, "answer to a finished procedure")

    def _on_tcs(self, message: H245Message, now: float) -> None:
        """Incoming CESE (C.3.3): acknowledge at once, or reject bad references."""
        sequence = int(message.body["sequenceNumber"])
        try:
            event = build.read_capability_set(message.body)
        except RemoteH323Error as exc:
            cause = exc.h245_reject or "unspecified"
            reject = build.terminal_capability_set_reject
            self._send(reject(sequence_number=sequence, cause=cause))
            raise
        self._send(build.terminal_capability_set_ack(sequence_number=sequence))
        if event is not None:
            self._events.append(event)
            return
        # H.323 8.4.6: the empty set; a new determination will follow.
        self.msd_state, self.is_master = MsdState.IDLE, None
        self._msd_pending = None
        self._cancel(In.T106)
        self._events.append(Paused())

    def _on_send_tcs(self, message: H245Message, now: float) -> None:
        """sendTerminalCapabilitySet (H.245 15.2): send our set again."""
        if not self._is_started:
            self._ignore(message.name, "our set is not known yet")
            return
        ctx = _Ctx(input=In.SEND_TCS, now=now)
        self.cese_state = self._step(CESE_TABLE, self.cese_state, ctx)

    # -- outgoing logical channels (H.245 8.4, C.4) -----------------------------------

    def _out_input(self, key: In) -> Callable[[H245Message, float], None]:
        def handle(message: H245Message, now: float) -> None:
            number = int(message.body["forwardLogicalChannelNumber"])
            self._out_step(_Ctx(input=key, now=now, message=message, number=number))

        return handle

    def _out_step(self, ctx: _Ctx) -> None:
        state = self._out.get(ctx.number, ChannelState.RELEASED)
        is_command = ctx.input in (In.OPEN, In.CLOSE)
        new_state = self._step(OUT_CHANNEL_TABLE, state, ctx, is_command=is_command)
        if new_state is ChannelState.RELEASED:
            self._out.pop(ctx.number, None)
            self._cancel(In.T103, ctx.number)
        else:
            self._out[ctx.number] = new_state

    def _olc_send(self, ctx: _Ctx) -> None:
        self._send(ctx.extra)
        self._set_timer(In.T103, ctx.number, self._config.t103_s, ctx.now)

    def _olc_acked(self, ctx: _Ctx) -> None:
        assert ctx.message is not None
        self._cancel(In.T103, ctx.number)
        addresses = build.read_ack_addresses(ctx.message.body)
        event = ChannelOpened(
            number=ctx.number,
            media=addresses.media,
            media_control=addresses.media_control,
        )
        self._events.append(event)

    def _olc_rejected(self, ctx: _Ctx) -> None:
        assert ctx.message is not None
        cause = str(ctx.message.body["cause"][0])
        self._events.append(ChannelRejected(number=ctx.number, cause=cause))

    def _olc_timeout(self, ctx: _Ctx) -> None:
        self._send(build.close_logical_channel(number=ctx.number, is_user=False))
        self._events.append(ChannelRejected(number=ctx.number, cause="timeout"))

    def _clc_send(self, ctx: _Ctx) -> None:
        self._send(build.close_logical_channel(number=ctx.number))
        self._set_timer(In.T103, ctx.number, self._config.t103_s, ctx.now)

    def _out_released(self, ctx: _Ctx) -> None:
        if ctx.input is not In.CLC_ACK:
            reason = f"channel {ctx.number} released on {ctx.input.name}"
            self._events.append(ProtocolError(reason=reason))
        self._events.append(ChannelClosed(number=ctx.number, is_outgoing=True))

    # -- incoming logical channels (H.245 8.4, C.4) -----------------------------------

    def _in_step(self, ctx: _Ctx) -> None:
        state = self._in.get(ctx.number, ChannelState.RELEASED)
        is_command = ctx.input in (In.ACCEPT, In.REJECT)
        new_state = self._step(IN_CHANNEL_TABLE, state, ctx, is_command=is_command)
        if new_state is ChannelState.RELEASED:
            self._in.pop(ctx.number, None)
            self._in_sessions.pop(ctx.number, None)
        else:
            self._in[ctx.number] = new_state

    def _on_olc(self, message: H245Message, now: float) -> None:
        number = int(message.body["forwardLogicalChannelNumber"])
        try:
            parsed = build.read_open_logical_channel(message.body)
        except RemoteH323Error:
            reject = build.open_logical_channel_reject(
                number=number, cause="unspecified"
            )
            self._send(reject)
            raise
        self._in_step(
            _Ctx(input=In.OLC, now=now, message=message, number=number, extra=parsed)
        )

    def _olc_received(self, ctx: _Ctx) -> ChannelState | None:
        assert ctx.message is not None
        number, data_type, addresses, payload_type = ctx.extra
        cause = None
        if "reverseLogicalChannelParameters" in ctx.message.body:
            cause = "unsuitableReverseParameters"  # we open no bidirectional channels
        elif (
            number not in self._in
            and len(self._in) >= self._config.max_incoming_channels
        ):
            cause = "insufficientBandwidth"
        if cause is not None:
            self._send(build.open_logical_channel_reject(number=number, cause=cause))
            return ChannelState.RELEASED
        self._in_sessions[number] = addresses.session_id
        self._events.append(
            ChannelOpenRequested(
                number=number,
                data_type=data_type,
                session_id=addresses.session_id,
                media=addresses.media,
                media_control=addresses.media_control,
                dynamic_payload_type=payload_type,
            )
        )
        return None

    def _olc_reopened(self, ctx: _Ctx) -> ChannelState | None:
        self._events.append(ChannelClosed(number=ctx.number, is_outgoing=False))
        return self._olc_received(ctx)

    def _olc_accept(self, ctx: _Ctx) -> None:
        media, media_control = ctx.extra
        message = build.open_logical_channel_ack(
            number=ctx.number,
            session_id=self._in_sessions.get(ctx.number),
            media=media,
            media_control=media_control,
        )
        self._send(message)

    def _olc_reject(self, ctx: _Ctx) -> None:
        self._send(
            build.open_logical_channel_reject(number=ctx.number, cause=ctx.extra)
        )

    def _on_clc(self, message: H245Message, now: float) -> None:
        number = int(message.body["forwardLogicalChannelNumber"])
        self._in_step(_Ctx(input=In.CLC, now=now, message=message, number=number))

    def _clc_ack(self, ctx: _Ctx) -> None:
        self._send(build.close_logical_channel_ack(number=ctx.number))

    def _in_released(self, ctx: _Ctx) -> None:
        self._clc_ack(ctx)
        self._events.append(ChannelClosed(number=ctx.number, is_outgoing=False))

    # -- round trip, end of session and indications -----------------------------

    def _on_rtd_request(self, message: H245Message, now: float) -> None:
        sequence = int(message.body["sequenceNumber"])
        self._send(build.round_trip_delay_response(sequence_number=sequence))

    def _on_rtd_response(self, message: H245Message, now: float) -> None:
        sent = self._rtd_sent
        if sent is None or message.sequence_number != sent[0]:
            self._ignore(message.name, "no request with this sequence number")
            return
        self._rtd_sent = None
        self._cancel(In.T105)
        self._events.append(RoundTripMeasured(delay_s=now - sent[1]))

    def _on_end_session(self, message: H245Message, now: float) -> None:
        ctx = _Ctx(input=In.PEER_END, now=now, message=message)
        self.session_state = self._step(SESSION_TABLE, self.session_state, ctx)

    def _end_send(self, ctx: _Ctx) -> None:
        # H.323 8.5: after endSessionCommand no other H.245 message is sent.
        self._timers.clear()
        self._rtd_sent = None
        self._send(build.end_session_command())

    def _end_answer(self, ctx: _Ctx) -> None:
        self._end_send(ctx)
        self._events.append(SessionEnded(is_peer_initiated=True))

    def _end_done(self, ctx: _Ctx) -> None:
        self._events.append(SessionEnded(is_peer_initiated=False))

    def _noop(self, ctx: _Ctx) -> None:
        if ctx.message is not None:
            self._ignore(ctx.message.name, "session already ended")

    def _on_ignorable(self, message: H245Message, now: float) -> None:
        self._ignore(message.name, "nothing to release")

    def _on_indication(
        self, reader: Callable[[Any], H245Event | None]
    ) -> Callable[[H245Message, float], None]:
        def handle(message: H245Message, now: float) -> None:
            event = reader(message.body)
            if event is None:
                self._ignore(message.name, "alternative not supported")
            else:
                self._events.append(event)

        return handle
