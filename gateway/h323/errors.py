"""H.323 errors: the peer's protocol faults and our own API misuse.

``RemoteH323Error`` carries the reply the owning layer sends: a Q.850 cause for
Q.931/H.225.0 (in Release Complete or Status) and/or an H.245 reject reason name
(for example ``"unspecified"`` in a ``TerminalCapabilitySetReject``).
"""

from gateway.errors import H323Error

__all__ = ["LocalH323Error", "RemoteH323Error"]

# Q.850 causes used by the decoders below (ITU-T Q.850 Table 1).
CAUSE_INVALID_CALL_REFERENCE = 81
CAUSE_INVALID_MESSAGE = 95
CAUSE_MANDATORY_IE_MISSING = 96
CAUSE_MESSAGE_TYPE_NONEXISTENT = 97
CAUSE_INVALID_IE_CONTENTS = 100
CAUSE_PROTOCOL_ERROR = 111


class RemoteH323Error(H323Error):
    """The peer sent something that breaks H.323; the reply to send is attached.

    ``q931_cause`` is a Q.850 cause value (1..127) for Release Complete/Status,
    or None when Q.931 sends nothing back (a message to ignore, Q.931 sections
    5.8.1-5.8.3.1, or an error that is not on Q.931 at all); ``h245_reject``
    is the name of an H.245 reject cause, or None when the error is not on an
    H.245 request.
    """

    def __init__(
        self,
        message: str,
        *,
        q931_cause: int | None = CAUSE_PROTOCOL_ERROR,
        h245_reject: str | None = None,
    ) -> None:
        super().__init__(message)
        self.q931_cause = q931_cause
        self.h245_reject = h245_reject


class LocalH323Error(H323Error):
    """We misused the H.323 API (a bug on our side), e.g. an unencodable value."""
