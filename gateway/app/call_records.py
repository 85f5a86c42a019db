"""Build the record of a finished call: who, how it was secured, what flowed."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.b2bua.call import Call, CallLeg
from gateway.media.relay import LegReport
from gateway.store.base import CallRecord, LegRecord


def media_protection(leg: CallLeg) -> str:
    """``SRTP <suite>`` per accepted stream, or plain RTP with the reason."""
    suites = sorted({s.suite_name for s in leg.streams if s.is_accepted})
    if not suites:
        return "no media"
    if suites == ["RTP"]:
        return "RTP (trunk policy off)"
    return ", ".join(f"SRTP {name}" if name != "RTP" else "RTP" for name in suites)


def leg_record(leg: CallLeg, reports: Sequence[LegReport]) -> LegRecord:
    """One leg's record; ``reports`` are the relay's figures for its streams."""
    losses = [r.peer_fraction_lost for r in reports if r.peer_fraction_lost is not None]
    jitter = [r.received_jitter_s for r in reports]
    return LegRecord(
        leg=leg.name,
        protocol=leg.protocol,
        peer=leg.peer,
        transport=leg.transport,
        tls_version=leg.tls_version,
        tls_cipher=leg.tls_cipher,
        media=media_protection(leg),
        packets_in=sum(r.packets_in for r in reports),
        packets_out=sum(r.packets_out for r in reports),
        bytes_in=sum(r.bytes_in for r in reports),
        bytes_out=sum(r.bytes_out for r in reports),
        auth_failures=sum(r.auth_failures + r.replay_failures for r in reports),
        loss_fraction=max(losses) if losses else None,
        jitter_ms=round(max(jitter) * 1000, 2) if jitter else None,
    )


def call_record(
    call: Call, caller_reports: Sequence[LegReport], callee_reports: Sequence[LegReport]
) -> CallRecord:
    """The record of ``call`` once it has ended."""
    assert call.ended_at is not None
    legs = [leg_record(call.caller, caller_reports)]
    if call.callee is not None:
        legs.append(leg_record(call.callee, callee_reports))
    return CallRecord(
        call_id=call.call_ref,
        caller=(
            str(call.invite.from_addr.uri)
            if call.invite is not None
            else f"h323:{call.caller.number or 'anonymous'}@{call.caller.peer}"
        ),
        callee=call.dialled,
        started_at=call.started_at,
        ended_at=call.ended_at,
        end_reason=call.end_reason,
        caller_site=call.caller.site or "",
        caller_cert_serial=call.caller.cert_serial,
        caller_trunk=call.caller.trunk or "",
        route=call.route,
        trunk=(call.callee.trunk or "") if call.callee is not None else "",
        answered_at=call.answered_at,
        legs=tuple(legs),
    )
