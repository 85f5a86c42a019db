"""The call model: two independent legs and the call's state (sans-IO data).

A call is an incoming leg (the caller) and, unless the gateway answers itself
(the echo test number), an outgoing leg. Each leg has its own dialog, its own
SDP exchange with the gateway and its own SRTP keys. States follow the life
of the incoming INVITE; each transition is checked against one table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from gateway.b2bua.leg_media import LegPolicy
from gateway.b2bua.media_plan import LegStream
from gateway.b2bua.trunks import FailoverPlan

if TYPE_CHECKING:
    from gateway.b2bua.reoffer import LegSession
from gateway.errors import GatewayError
from gateway.sdp.model import SessionDescription
from gateway.sip.dialog import Dialog
from gateway.sip.ids import TransactionKey
from gateway.sip.message import SipRequest


class CallState(Enum):
    """Where a call is (RFC 3261 §13 from the caller's side)."""

    ROUTING = "routing"  # INVITE received, target and media being set up.
    PROCEEDING = "proceeding"  # INVITE sent to the callee.
    EARLY = "early"  # Callee sent a provisional with a To tag.
    ANSWERED = "answered"  # 200 sent to the caller, waiting for its ACK.
    CONFIRMED = "confirmed"  # Media flowing both ways.
    ENDED = "ended"


class CallTransitionError(GatewayError):
    """A transition the table does not allow (a bug, or a late message)."""


# (from, to) pairs that are allowed; everything may go to ENDED.
_ALLOWED: frozenset[tuple[CallState, CallState]] = frozenset(
    {
        (CallState.ROUTING, CallState.PROCEEDING),  # §16 forward
        (CallState.ROUTING, CallState.ANSWERED),  # test number answers itself
        (CallState.PROCEEDING, CallState.EARLY),  # §13.2.2.1 1xx with tag
        (CallState.PROCEEDING, CallState.ANSWERED),  # §13.2.2.4 2xx
        (CallState.EARLY, CallState.ANSWERED),
        (CallState.ANSWERED, CallState.CONFIRMED),  # §13.3.1.4 ACK
    }
)


# States before the answer (RFC 3261 §9: a CANCEL still applies).
_EARLY = frozenset((CallState.ROUTING, CallState.PROCEEDING, CallState.EARLY))


@dataclass(eq=False)
class CallLeg:
    """One leg: its dialog, its SDP exchange and its negotiated streams."""

    name: str  # "caller" or "callee"
    protocol: str = "sip"
    h323: Any = None  # The H.323 leg object (H323CallOut or H323CallIn).
    policy: LegPolicy | None = None  # Media rules of this leg.
    connection: Any = None  # The flow that carries this leg's signalling.
    peer: str = ""
    site: str | None = None
    trunk: str | None = None
    number: str = ""  # What the trunk is asked for (after strip/prepend).
    cert_serial: str = ""
    transport: str = ""
    tls_version: str = ""
    tls_cipher: str = ""
    dialog: Dialog | None = None
    offer: SessionDescription | None = None
    answer: SessionDescription | None = None
    streams: tuple[LegStream, ...] = ()
    invite_transaction: TransactionKey | None = None
    got_response: bool = False  # Any response to the current INVITE attempt.
    invite: SipRequest | None = None  # The INVITE on this leg.
    local_tag: str | None = None  # Our To tag (caller) before the dialog exists.
    endpoints: list[Any] = field(default_factory=list)  # Relay ports, per m-line.
    session: LegSession | None = None  # The last completed offer/answer.
    session_timer: Any = None  # RFC 4028 timer of this leg (SessionTimer).
    pending_timer: Any = None  # Negotiated for the 2xx we are about to send.
    timer_request: Any = None  # What our INVITE asked for (UacTimerRequest).
    timer_headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(eq=False)
class Call:
    """A call through the gateway."""

    call_ref: str
    caller: CallLeg
    callee: CallLeg | None
    dialled: str
    route: str
    invite: SipRequest | None  # None for a call that came in over H.323.
    started_at: float  # wall clock, for the call record
    state: CallState = CallState.ROUTING
    answered_at: float | None = None
    ended_at: float | None = None
    end_reason: str = ""
    is_echo: bool = False
    is_late_offer: bool = False  # The caller's INVITE had no SDP.
    # Late offer toward a callee that needs an offer (H.323): the gateway
    # offered the callee its own codecs, then the caller what was agreed.
    is_offer_made_for_callee: bool = False
    relay_streams: dict[int, Any] = field(default_factory=dict)  # m-line -> stream
    reoffer_pending: bool = False  # A mid-call offer/answer is under way.
    failover: FailoverPlan | None = None  # Trunk addresses still to try.
    early_answer: SessionDescription | None = None  # Callee's early-media SDP.

    def move_to(self, state: CallState) -> None:
        """Change state per the table; ENDED is always allowed."""
        if state is CallState.ENDED or (self.state, state) in _ALLOWED:
            self.state = state
            return
        raise CallTransitionError(f"call {self.call_ref}: {self.state} -> {state}")

    @property
    def is_ended(self) -> bool:
        return self.state is CallState.ENDED

    @property
    def is_early(self) -> bool:
        """Not answered yet: the caller may still give up (CANCEL, Release)."""
        return self.state in _EARLY
