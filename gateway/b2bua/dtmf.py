"""DTMF carried in SIP INFO (application/dtmf-relay, application/dtmf).

Room systems and softphones send ``Signal=5`` / ``Duration=160`` lines in an
INFO (the Cisco "dtmf-relay" form, also what pjsip sends); the H.323 side
wants the digit in an H.245 userInputIndication. Sans-IO parsing only.
"""

from __future__ import annotations

_DIGITS = frozenset("0123456789*#ABCDabcd")
_MAX_BODY_BYTES = 1024


def dtmf_from_info(content_type: str | None, body: bytes) -> str | None:
    """The digit(s) an INFO carries, or None if it is not a DTMF INFO."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if len(body) > _MAX_BODY_BYTES:
        return None
    text = body.decode("ascii", "replace")
    if kind == "application/dtmf":
        digits = text.strip()
        return digits.upper() if digits and set(digits) <= _DIGITS else None
    if kind != "application/dtmf-relay":
        return None
    for line in text.splitlines():
        name, _, value = line.partition("=")
        if name.strip().lower() == "signal":
            digit = value.strip()
            return digit.upper() if len(digit) == 1 and digit in _DIGITS else None
    return None
