"""SipTimers validation and the IdSource identifiers."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import ConfigError
from gateway.sip.ids import MAGIC_COOKIE, IdSource, TransactionKey, server_key
from gateway.sip.timers import SipTimers

from . import counting_ids, make_request


def test_default_timers_follow_rfc3261_table_4() -> None:
    """T1=500 ms, T2=4 s, T4=5 s; B, F, H, J, L, M are 64*T1 and D is 32 s."""
    timers = SipTimers()
    assert (timers.t1_s, timers.t2_s, timers.t4_s) == (0.5, 4.0, 5.0)
    for value in (timers.b_s, timers.f_s, timers.h_s, timers.j_s):
        assert value == 32.0
    assert timers.l_s == timers.m_s == 32.0
    assert timers.timer_d_s == 32.0
    assert timers.is_auto_trying and timers.trying_delay_s == 0.2


def test_derived_timers_follow_t1_and_overrides() -> None:
    """Derived timers scale with T1 unless set explicitly."""
    timers = SipTimers(t1_s=0.1, timer_f_s=3.0)
    assert timers.b_s == pytest.approx(6.4)
    assert timers.f_s == 3.0


@pytest.mark.parametrize(
    "kwargs",
    [{"t1_s": 0.0}, {"t2_s": -1.0}, {"timer_b_s": 0.0}, {"t1_s": 5.0, "t2_s": 4.0}],
)
def test_invalid_timers_raise_config_error(kwargs: dict[str, Any]) -> None:
    """Non-positive values and T2 below T1 are configuration errors."""
    with pytest.raises(ConfigError):
        SipTimers(**kwargs)


def test_id_source_formats_and_uniqueness() -> None:
    """Branches carry the magic cookie; ids differ call to call; CSeq < 2**31."""
    ids = IdSource()
    branches = {ids.new_branch() for _ in range(50)}
    assert len(branches) == 50
    assert all(b.startswith(MAGIC_COOKIE) for b in branches)
    assert len({ids.new_tag() for _ in range(50)}) == 50
    assert ids.new_call_id("gw.example").endswith("@gw.example")
    assert "@" not in ids.new_call_id()
    assert all(0 < ids.new_cseq() < 2**31 for _ in range(50))
    assert all(0 <= ids.new_ssrc() < 2**32 for _ in range(50))


def test_id_source_uses_injected_bytes() -> None:
    """The byte source is injectable, which makes identifiers reproducible."""
    assert counting_ids(7).new_tag() == counting_ids(7).new_tag()
    fixed = IdSource(lambda n: b"\xff" * n)
    assert fixed.new_cseq() == (2**32 - 1) % (2**31 - 1) + 1
    assert fixed.new_ssrc() == 2**32 - 1


def test_server_key_rfc3261_and_ack() -> None:
    """§17.2.3: branch, sent-by (case-folded) and method; ACK keys as INVITE."""
    invite = make_request("INVITE", sent_by="UAC.Example.com:5060")
    ack = make_request("ACK", sent_by="uac.example.com:5060")
    assert server_key(invite) == server_key(ack)
    assert server_key(invite) == TransactionKey(
        branch="z9hG4bKtest1",
        method="INVITE",
        sent_by="uac.example.com:5060",
        is_server=True,
    )
    other_host = make_request("INVITE", sent_by="evil.example.com")
    assert server_key(other_host) != server_key(invite)
