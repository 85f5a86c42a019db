"""Release cause tables: Q.850 <-> SIP status and H.225.0 reason <-> Q.850.

Data only, with table tests.  Sources:

* Q.850 cause -> SIP status: RFC 3398 section 7.2.4.1 (ISUP cause to SIP);
  RFC 4497 section 8 gives the same mapping for QSIG.
* SIP status -> Q.850 cause: RFC 3398 section 8.2.6.1.
* ReleaseCompleteReason -> Q.850 cause: H.225.0 Table 5 (section 7.2.2.8).

Where the RFC gives no mapping the default is by class (documented below);
that choice is ours, not the RFC's.
"""

from collections.abc import Mapping

__all__ = [
    "CAUSE_NORMAL_CLEARING",
    "CAUSE_NORMAL_UNSPECIFIED",
    "cause_to_release_reason",
    "cause_to_sip_status",
    "release_reason_to_cause",
    "sip_status_to_cause",
]

CAUSE_NORMAL_CLEARING = 16
CAUSE_NORMAL_UNSPECIFIED = 31
CAUSE_NETWORK_OUT_OF_ORDER = 38
CAUSE_TEMPORARY_FAILURE = 41
CAUSE_INCOMPATIBLE_DESTINATION = 88
CAUSE_RECOVERY_ON_TIMER_EXPIRY = 102
CAUSE_INTERWORKING = 127

# RFC 3398 section 7.2.4.1.  Cause 16 (normal clearing) has no response: the
# call is answered or cleared with BYE/CANCEL, so it is absent on purpose.
Q850_TO_SIP: Mapping[int, int] = {
    1: 404,
    2: 404,
    3: 404,
    17: 486,
    18: 408,
    19: 480,
    20: 480,
    21: 403,
    22: 410,
    23: 410,
    26: 404,
    27: 502,
    28: 484,
    29: 501,
    31: 480,
    34: 503,
    38: 503,
    41: 503,
    42: 503,
    47: 503,
    55: 403,
    57: 403,
    58: 503,
    65: 488,
    70: 488,
    79: 501,
    87: 403,
    88: 503,
    102: 504,
    111: 500,
    127: 500,
}

# RFC 3398 section 8.2.6.1.  487 (request terminated) and 488/606 ("by
# Warning header") have no RFC mapping; we use 16 for 487, since the caller
# cancelled, and 65 for 488/606, the inverse of the ISUP direction.
SIP_TO_Q850: Mapping[int, int] = {
    400: 41,
    401: 21,
    402: 21,
    403: 21,
    404: 1,
    405: 63,
    406: 79,
    407: 21,
    408: 102,
    410: 22,
    413: 127,
    414: 127,
    415: 79,
    416: 127,
    420: 127,
    421: 127,
    423: 127,
    480: 18,
    481: 41,
    482: 25,
    483: 25,
    484: 28,
    485: 1,
    486: 17,
    487: 16,
    488: 65,
    500: 41,
    501: 79,
    502: 38,
    503: 41,
    504: 102,
    505: 127,
    513: 127,
    600: 17,
    603: 21,
    604: 1,
    606: 65,
}

# H.225.0 Table 5: the Q.850 cause equivalent to each ReleaseCompleteReason.
RELEASE_REASON_TO_Q850: Mapping[str, int] = {
    "noBandwidth": 34,
    "gatekeeperResources": 47,
    "unreachableDestination": 3,
    "destinationRejection": 16,
    "invalidRevision": 88,
    "noPermission": 111,
    "unreachableGatekeeper": 38,
    "gatewayResources": 42,
    "badFormatAddress": 28,
    "adaptiveBusy": 41,
    "inConf": 17,
    "undefinedReason": 31,
    "facilityCallDeflection": 16,
    "securityDenied": 31,
    "calledPartyNotRegistered": 20,
    "callerNotRegistered": 31,
    "newConnectionNeeded": 47,
    "nonStandardReason": 127,
    "replaceWithConferenceInvite": 31,
    "genericDataReason": 31,
    "neededFeatureNotSupported": 31,
    "tunnelledSignallingRejected": 127,
    "invalidCID": 16,
    "securityError": 31,
    "hopCountExceeded": 25,
}

# The reverse of Table 5 where one reason stands for the cause; causes that
# several reasons share (16, 31, 127) or none names fall back to
# undefinedReason, and the Cause IE carries the detail.
Q850_TO_RELEASE_REASON: Mapping[int, str] = {
    1: "unreachableDestination",
    2: "unreachableDestination",
    3: "unreachableDestination",
    17: "inConf",
    20: "calledPartyNotRegistered",
    21: "destinationRejection",
    25: "hopCountExceeded",
    28: "badFormatAddress",
    34: "noBandwidth",
    38: "unreachableGatekeeper",
    41: "adaptiveBusy",
    42: "gatewayResources",
    47: "gatekeeperResources",
    88: "invalidRevision",
    111: "noPermission",
}


def cause_to_sip_status(cause: int) -> int:
    """The SIP final status for Q.850 ``cause`` (RFC 3398 section 7.2.4.1).

    Unlisted causes map by Q.850 class: normal events (0-31) to 480,
    resource unavailable (32-47) and service not available (48-63) to 503,
    service not implemented (64-79) to 501, and the rest to 500.
    """
    status = Q850_TO_SIP.get(cause)
    if status is not None:
        return status
    if cause <= 31:
        return 480
    if cause <= 63:
        return 503
    if cause <= 79:
        return 501
    return 500


def sip_status_to_cause(status: int) -> int:
    """The Q.850 cause for a SIP final status (RFC 3398 section 8.2.6.1).

    Unlisted statuses map by class: 5xx to 41 (temporary failure), others to
    31 (normal, unspecified).
    """
    cause = SIP_TO_Q850.get(status)
    if cause is not None:
        return cause
    return 41 if 500 <= status <= 599 else CAUSE_NORMAL_UNSPECIFIED


def release_reason_to_cause(reason: str) -> int:
    """The Q.850 cause for a ReleaseCompleteReason name (H.225.0 Table 5).

    Unknown names (later H.225.0 versions) map to 31, normal unspecified.
    """
    return RELEASE_REASON_TO_Q850.get(reason, CAUSE_NORMAL_UNSPECIFIED)


def cause_to_release_reason(cause: int) -> str:
    """The ReleaseCompleteReason to send with Q.850 ``cause``."""
    return Q850_TO_RELEASE_REASON.get(cause, "undefinedReason")
