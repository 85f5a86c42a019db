"""SIP transaction timer values (RFC 3261 §17 and Table 4, RFC 6026 §8).

One frozen config object, passed to every transaction. Derived timers default
to the RFC formulas (64*T1 and friends) and may be overridden, e.g. to shorten
timeouts on a LAN; every value is validated on construction.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import ConfigError

__all__ = ["SipTimers"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SipTimers:
    """Timer configuration for SIP transactions.

    ``t1_s`` is the RTT estimate, ``t2_s`` the cap on non-INVITE request and
    INVITE response retransmit intervals, ``t4_s`` the time a message stays in
    the network (RFC 3261 Table 4). ``timer_b_s``, ``timer_f_s``,
    ``timer_h_s``, ``timer_j_s``, ``timer_l_s`` and ``timer_m_s`` default to
    64*T1; ``timer_d_s`` defaults to 32 s (§17.1.1.2). Timers D, I, J and K are
    zero on reliable transports; the transactions apply that rule.

    ``is_auto_trying`` makes an INVITE server transaction send 100 Trying when
    the TU has not answered within ``trying_delay_s`` (§17.2.1: 200 ms).

    Raises ConfigError when a value is not positive or T2 < T1.
    """

    t1_s: float = 0.5
    t2_s: float = 4.0
    t4_s: float = 5.0
    timer_b_s: float | None = None
    timer_d_s: float = 32.0
    timer_f_s: float | None = None
    timer_h_s: float | None = None
    timer_j_s: float | None = None
    timer_l_s: float | None = None
    timer_m_s: float | None = None
    is_auto_trying: bool = True
    trying_delay_s: float = 0.2

    def __post_init__(self) -> None:
        fixed = {
            "t1_s": self.t1_s,
            "t2_s": self.t2_s,
            "t4_s": self.t4_s,
            "timer_d_s": self.timer_d_s,
            "trying_delay_s": self.trying_delay_s,
        }
        optional = {
            "timer_b_s": self.timer_b_s,
            "timer_f_s": self.timer_f_s,
            "timer_h_s": self.timer_h_s,
            "timer_j_s": self.timer_j_s,
            "timer_l_s": self.timer_l_s,
            "timer_m_s": self.timer_m_s,
        }
        for name, value in {**fixed, **optional}.items():
            if value is not None and not value > 0:
                raise ConfigError(f"SipTimers.{name} must be positive, got {value!r}")
        if self.t2_s < self.t1_s:
            raise ConfigError("SipTimers.t2_s must not be below t1_s")

    @property
    def b_s(self) -> float:
        """INVITE transaction timeout (Timer B, §17.1.1.2)."""
        return self.timer_b_s if self.timer_b_s is not None else 64 * self.t1_s

    @property
    def f_s(self) -> float:
        """Non-INVITE transaction timeout (Timer F, §17.1.2.2)."""
        return self.timer_f_s if self.timer_f_s is not None else 64 * self.t1_s

    @property
    def h_s(self) -> float:
        """Wait time for ACK receipt (Timer H, §17.2.1)."""
        return self.timer_h_s if self.timer_h_s is not None else 64 * self.t1_s

    @property
    def j_s(self) -> float:
        """Wait time for non-INVITE request retransmits (Timer J, §17.2.2)."""
        return self.timer_j_s if self.timer_j_s is not None else 64 * self.t1_s

    @property
    def l_s(self) -> float:
        """Wait time for accepted INVITE request retransmits (RFC 6026 Timer L)."""
        return self.timer_l_s if self.timer_l_s is not None else 64 * self.t1_s

    @property
    def m_s(self) -> float:
        """Wait time for retransmission of 2xx to INVITE (RFC 6026 Timer M)."""
        return self.timer_m_s if self.timer_m_s is not None else 64 * self.t1_s
