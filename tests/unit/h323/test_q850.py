"""Cause tables: Q.850 <-> SIP (RFC 3398) and ReleaseCompleteReason <-> Q.850."""

import pytest

from gateway.h323 import q850


@pytest.mark.parametrize(
    ("cause", "status"),
    [
        (1, 404),
        (2, 404),
        (3, 404),
        (17, 486),
        (18, 408),
        (19, 480),
        (20, 480),
        (21, 403),
        (22, 410),
        (23, 410),
        (26, 404),
        (27, 502),
        (28, 484),
        (29, 501),
        (31, 480),
        (34, 503),
        (38, 503),
        (41, 503),
        (42, 503),
        (47, 503),
        (55, 403),
        (57, 403),
        (58, 503),
        (65, 488),
        (70, 488),
        (79, 501),
        (87, 403),
        (88, 503),
        (102, 504),
        (111, 500),
        (127, 500),
    ],
)
def test_cause_to_sip_follows_rfc3398_section_7_2_4_1(cause: int, status: int) -> None:
    """Each row of the RFC 3398 ISUP-to-SIP table."""
    assert q850.cause_to_sip_status(cause) == status


@pytest.mark.parametrize(
    ("cause", "status"),
    [(6, 480), (16, 480), (44, 503), (63, 503), (66, 501), (95, 500)],
)
def test_unlisted_causes_map_by_class(cause: int, status: int) -> None:
    """Causes outside the table map by their Q.850 class."""
    assert cause not in q850.Q850_TO_SIP
    assert q850.cause_to_sip_status(cause) == status


@pytest.mark.parametrize(
    ("status", "cause"),
    [
        (400, 41),
        (401, 21),
        (402, 21),
        (403, 21),
        (404, 1),
        (405, 63),
        (406, 79),
        (407, 21),
        (408, 102),
        (410, 22),
        (413, 127),
        (414, 127),
        (415, 79),
        (416, 127),
        (420, 127),
        (421, 127),
        (423, 127),
        (480, 18),
        (481, 41),
        (482, 25),
        (483, 25),
        (484, 28),
        (485, 1),
        (486, 17),
        (500, 41),
        (501, 79),
        (502, 38),
        (503, 41),
        (504, 102),
        (505, 127),
        (513, 127),
        (600, 17),
        (603, 21),
        (604, 1),
    ],
)
def test_sip_to_cause_follows_rfc3398_section_8_2_6_1(status: int, cause: int) -> None:
    """Each row of the RFC 3398 SIP-to-ISUP table."""
    assert q850.sip_status_to_cause(status) == cause


@pytest.mark.parametrize(("status", "cause"), [(487, 16), (488, 65), (606, 65)])
def test_our_choices_where_rfc3398_has_none(status: int, cause: int) -> None:
    """487 is a cancelled call; 488/606 are media refusals (bearer not implemented)."""
    assert q850.sip_status_to_cause(status) == cause


@pytest.mark.parametrize(
    ("status", "cause"), [(409, 31), (499, 31), (599, 41), (699, 31)]
)
def test_unlisted_statuses_map_by_class(status: int, cause: int) -> None:
    """5xx becomes temporary failure; other classes normal, unspecified."""
    assert q850.sip_status_to_cause(status) == cause


def test_every_cause_and_status_maps_into_range() -> None:
    """Any cause gives a 4xx-6xx status; any final status gives a cause 1..127."""
    assert all(400 <= q850.cause_to_sip_status(c) <= 699 for c in range(128))
    assert all(1 <= q850.sip_status_to_cause(s) <= 127 for s in range(300, 700))


def test_release_reasons_cover_every_h225_alternative() -> None:
    """Table 5 has a row for each ReleaseCompleteReason in the ASN.1 module."""
    from pycrate_asn1dir import H225

    choice = H225.H323_MESSAGES.ReleaseCompleteReason
    assert set(q850.RELEASE_REASON_TO_Q850) == set(choice._root) | set(choice._ext)


@pytest.mark.parametrize(
    ("reason", "cause"),
    [
        ("noBandwidth", 34),
        ("gatekeeperResources", 47),
        ("unreachableDestination", 3),
        ("destinationRejection", 16),
        ("invalidRevision", 88),
        ("noPermission", 111),
        ("unreachableGatekeeper", 38),
        ("gatewayResources", 42),
        ("badFormatAddress", 28),
        ("adaptiveBusy", 41),
        ("inConf", 17),
        ("undefinedReason", 31),
        ("calledPartyNotRegistered", 20),
        ("hopCountExceeded", 25),
        ("someFutureReason", 31),
    ],
)
def test_release_reason_to_cause_follows_h225_table_5(reason: str, cause: int) -> None:
    """Reasons map per H.225.0 Table 5; unknown future reasons to 31."""
    assert q850.release_reason_to_cause(reason) == cause


def test_cause_to_release_reason_inverts_table_5() -> None:
    """The reverse map returns a reason whose cause is the same cause or its kin."""
    kin = {1: 3, 2: 3, 21: 16}  # routing failures share a reason; rejection is 16
    for cause, reason in q850.Q850_TO_RELEASE_REASON.items():
        assert q850.release_reason_to_cause(reason) == kin.get(cause, cause)
    assert q850.cause_to_release_reason(16) == "undefinedReason"
    assert q850.cause_to_release_reason(17) == "inConf"
