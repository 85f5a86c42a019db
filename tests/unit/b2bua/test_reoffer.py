"""Mid-call offer/answer across the B2BUA (RFC 3264 §8): hold, re-key, refresh."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from gateway.b2bua.call import CallLeg
from gateway.b2bua.media_plan import answer_keys, offer_keys, to_sdp_crypto
from gateway.b2bua.reoffer import (
    LegSession,
    PendingReoffer,
    ReofferResult,
    SessionRefresh,
    added_stream_count,
    complete_late_offer,
    complete_reoffer,
    late_offer,
    plan_reoffer,
)
from gateway.sdp.errors import LocalSdpError, RemoteSdpError
from gateway.sdp.model import (
    Connection,
    CryptoAttribute,
    Direction,
    Origin,
    SessionDescription,
)
from gateway.sdp.offer_answer import (
    CodecPolicy,
    LocalMedia,
    LocalSession,
    build_answer,
    build_offer_from,
    negotiate,
)
from gateway.sdp.parse import parse_sdp
from gateway.srtp.keys import RandomSource
from gateway.srtp.keys import parse_crypto as parse_srtp_crypto
from gateway.srtp.suites import SrtpPolicy

CORPUS = Path(__file__).parents[2] / "corpus" / "sdp" / "valid"
CODECS = CodecPolicy()
SRTP = SrtpPolicy()
RELAY = "203.0.113.1"
CALLEE = "198.51.100.7"
RELAY_SESSION = LocalSession(
    origin=Origin(username="vcgw", session_id="42", session_version=1, address=RELAY),
    address=RELAY,
    rtcp_mux=False,
)


def counter_random() -> RandomSource:
    """Deterministic, never-repeating key bytes for reproducible tests."""
    state = {"n": 0}

    def source(size: int) -> bytes:
        state["n"] += 1
        seed = state["n"].to_bytes(8, "big")
        out = b""
        while len(out) < size:
            out += hashlib.sha256(seed + len(out).to_bytes(4, "big")).digest()
        return out[:size]

    return source


RANDOM = counter_random()


def corpus(name: str) -> SessionDescription:
    return parse_sdp((CORPUS / name).read_bytes())


def pjsip_offer() -> SessionDescription:
    """The pjsip SRTP offer, made sendrecv as a normal call starts."""
    sdp = corpus("pjsip_srtp_offer.sdp")
    return sdp.with_media(0, sdp.media[0].with_direction(Direction.SENDRECV))


def callee_session(version: int = 1) -> LocalSession:
    origin = Origin(
        username="room", session_id="777", session_version=version, address=CALLEE
    )
    return LocalSession(origin=origin, address=CALLEE, rtcp_mux=False)


def peer_answer(
    offer: SessionDescription,
    *,
    ports: Sequence[int],
    keep: LegSession | None = None,
    version: int = 1,
    directions: Sequence[Direction] | None = None,
) -> SessionDescription:
    """The callee's answer: fresh keys, or its current keys when ``keep``."""
    fresh = answer_keys(offer, SRTP, random_source=RANDOM)
    media: list[LocalMedia] = []
    for index, port in enumerate(ports):
        crypto = tuple(to_sdp_crypto(k) for k in fresh[index])
        kept = keep is not None and index < len(keep.streams)
        if keep is not None and kept and crypto and keep.streams[index].keys:
            ours, theirs = keep.streams[index].keys or (None, None)
            assert ours is not None and theirs is not None
            tag = offer.media[index].crypto[0].tag
            crypto = (to_sdp_crypto(dataclasses.replace(theirs, tag=tag)),)
        media.append(LocalMedia(port=port if crypto else 0, crypto=crypto))
    return build_answer(
        offer,
        policy=CODECS,
        local=callee_session(version),
        media=media,
        directions=directions,
    )


def set_up_call(offer_in: SessionDescription) -> tuple[LegSession, LegSession]:
    """Caller and callee legs after the initial INVITE, as the call service does."""
    count = len(offer_in.media)
    caller_ports = [30000 + 2 * i for i in range(count)]
    callee_ports = [31000 + 2 * i for i in range(count)]
    keys = offer_keys(count, SRTP, random_source=RANDOM)
    offer_out = build_offer_from(
        offer_in,
        policy=CODECS,
        local=RELAY_SESSION,
        media=[
            LocalMedia(port=p, crypto=tuple(map(to_sdp_crypto, k)))
            for p, k in zip(callee_ports, keys, strict=True)
        ],
    )
    answer_in = peer_answer(offer_out, ports=[40000 + 2 * i for i in range(count)])
    agreed = negotiate(offer_out, answer_in)
    ours = answer_keys(offer_in, SRTP, random_source=RANDOM)
    answer_out = build_answer(
        offer_in,
        policy=CODECS,
        local=RELAY_SESSION,
        media=[
            LocalMedia(port=p if k else 0, crypto=tuple(map(to_sdp_crypto, k)))
            for p, k in zip(caller_ports, ours, strict=True)
        ],
        formats=[
            [f.format for f in s.formats] if s.is_accepted else None for s in agreed
        ],
    )
    caller = LegSession.from_exchange(
        offer_in, answer_out, we_offered=False, ports=caller_ports
    )
    callee = LegSession.from_exchange(
        offer_out, answer_in, we_offered=True, ports=callee_ports
    )
    return caller, callee


def bump(sdp: SessionDescription) -> SessionDescription:
    return dataclasses.replace(sdp, origin=sdp.origin.next_version())


def with_direction(
    sdp: SessionDescription, direction: Direction, index: int = 0
) -> SessionDescription:
    return bump(sdp.with_media(index, sdp.media[index].with_direction(direction)))


def legacy_hold(sdp: SessionDescription, index: int = 0) -> SessionDescription:
    media = dataclasses.replace(
        sdp.media[index], connections=(Connection(address="0.0.0.0"),)
    )
    return bump(sdp.with_media(index, media))


def plan(
    x: LegSession,
    y: LegSession,
    offer: SessionDescription,
    added_ports: Sequence[tuple[int, int]] = (),
) -> PendingReoffer:
    result = plan_reoffer(
        x,
        y,
        offer,
        local=RELAY_SESSION,
        codecs=CODECS,
        srtp=SRTP,
        added_ports=added_ports,
        random_source=RANDOM,
    )
    assert isinstance(result, PendingReoffer)
    return result


def round_trip(
    x: LegSession, y: LegSession, offer: SessionDescription, *, keep: bool = True
) -> tuple[PendingReoffer, ReofferResult]:
    """X offers, Y answers (keeping its key when ``keep``), X gets the answer."""
    pending = plan(x, y, offer)
    y_ports = [40000 + 2 * i for i in range(len(pending.offer.media))]
    y_answer = peer_answer(
        pending.offer, ports=y_ports, keep=y if keep else None, version=2
    )
    return pending, complete_reoffer(pending, y_answer)


def key_params(sdp: SessionDescription) -> set[str]:
    return {c.key_params for m in sdp.media for c in m.crypto}


def crypto(sdp: SessionDescription, index: int = 0) -> tuple[CryptoAttribute, ...]:
    return sdp.media[index].crypto


# -- hold and directions ------------------------------------------------------


def test_caller_hold_reaches_callee_with_same_ports_keys_and_next_version() -> None:
    """X holds (sendonly): Y gets sendonly on our same ports and key, o= +1."""
    caller, callee = set_up_call(pjsip_offer())
    pending, result = round_trip(
        caller, callee, with_direction(caller.remote, Direction.SENDONLY)
    )
    offer_y = pending.offer
    assert offer_y.direction_of(0) is Direction.SENDONLY
    assert offer_y.media[0].port == callee.ports[0] == callee.local.media[0].port
    assert offer_y.origin == callee.local.origin.next_version()
    assert offer_y.origin.session_id == "42"
    # Our current key toward Y is offered first, with its tag.
    assert crypto(offer_y)[0] == crypto(callee.local)[callee_tag_index(callee)]
    answer_x = result.answer
    assert answer_x.direction_of(0) is Direction.RECVONLY
    assert answer_x.media[0].port == caller.ports[0]
    assert answer_x.origin == caller.local.origin.next_version()
    assert crypto(answer_x) == crypto(caller.local)  # X kept its key: so do we.
    (update,) = result.updates
    assert (update.x_to_y, update.y_to_x, update.is_on_hold) == (True, False, True)
    assert not update.has_changes  # Same addresses and keys: relay untouched.
    assert update.is_bridged and update.was_bridged


def callee_tag_index(callee: LegSession) -> int:
    keys = callee.streams[0].keys
    assert keys is not None
    tags = [c.tag for c in crypto(callee.local)]
    return tags.index(keys[0].tag)


@pytest.mark.parametrize(
    ("hold", "toward_y", "y_answers", "toward_x", "flows"),
    [
        ("sendrecv", "sendrecv", "sendrecv", "sendrecv", (True, True)),
        ("sendonly", "sendonly", "recvonly", "recvonly", (True, False)),
        ("recvonly", "recvonly", "sendonly", "sendonly", (False, True)),
        ("inactive", "inactive", "inactive", "inactive", (False, False)),
        ("c=0.0.0.0", "sendonly", "recvonly", "recvonly", (True, False)),
    ],
)
def test_direction_table(
    hold: str,
    toward_y: str,
    y_answers: str,
    toward_x: str,
    flows: tuple[bool, bool],
) -> None:
    """RFC 3264 §8.4 across the relay: X's direction is mirrored to Y."""
    caller, callee = set_up_call(pjsip_offer())
    if hold == "c=0.0.0.0":
        offer = legacy_hold(caller.remote)
    else:
        offer = with_direction(caller.remote, Direction(hold))
    # A changed s= makes even the sendrecv row a real change, not a refresh.
    offer = dataclasses.replace(offer, session_name="re-offer")
    pending, result = round_trip(caller, callee, offer)
    assert pending.offer.direction_of(0) is Direction(toward_y)
    assert result.y.remote.direction_of(0) is Direction(y_answers)
    assert result.answer.direction_of(0) is Direction(toward_x)
    (update,) = result.updates
    assert (update.x_to_y, update.y_to_x) == flows
    assert update.is_on_hold is (flows != (True, True))
    # The relay's own address is offered even for a legacy hold.
    assert pending.offer.connection_for(0) == Connection(address=RELAY)


def test_resume_after_hold() -> None:
    """Taking the call off hold restores both flows, versions keep climbing."""
    caller, callee = set_up_call(pjsip_offer())
    _, held = round_trip(
        caller, callee, with_direction(caller.remote, Direction.SENDONLY)
    )
    _, resumed = round_trip(
        held.x, held.y, with_direction(held.x.remote, Direction.SENDRECV)
    )
    assert resumed.answer.direction_of(0) is Direction.SENDRECV
    assert resumed.answer.origin.session_version == 3
    assert resumed.y.local.origin.session_version == 3
    assert not resumed.updates[0].is_on_hold


def test_callee_holds_the_caller() -> None:
    """X may be the callee: our offer goes to the caller with our caller-leg key."""
    caller, callee = set_up_call(pjsip_offer())
    offer = with_direction(callee.remote, Direction.SENDONLY)
    pending, result = round_trip(callee, caller, offer)
    assert pending.offer.origin == caller.local.origin.next_version()
    assert pending.offer.media[0].port == caller.ports[0]
    caller_keys = caller.streams[0].keys
    assert caller_keys is not None
    assert crypto(pending.offer)[0] == to_sdp_crypto(caller_keys[0])
    assert pending.offer.direction_of(0) is Direction.SENDONLY
    assert result.answer.direction_of(0) is Direction.RECVONLY
    assert result.x.we_offered is False and result.y.we_offered is True
    assert result.answer.origin == callee.local.origin.next_version()
    (update,) = result.updates
    assert (update.x_to_y, update.y_to_x) == (True, False)
    assert not update.x_keys_changed and not update.y_keys_changed


# -- keys -----------------------------------------------------------------------


def test_x_rekey_rekeys_leg_x_only() -> None:
    """X offers new keys: X's leg gets a fresh key of ours, Y's keys stay."""
    caller, callee = set_up_call(pjsip_offer())
    fresh = answer_keys(caller.remote, SRTP, random_source=RANDOM)  # new key bytes
    rekeyed_lines = [
        dataclasses.replace(c, key_params=to_sdp_crypto(fresh[0][0]).key_params)
        if c.suite == fresh[0][0].suite
        else c
        for c in crypto(caller.remote)
    ]
    offer = bump(
        caller.remote.with_media(0, caller.remote.media[0].with_crypto(rekeyed_lines))
    )
    pending, result = round_trip(caller, callee, offer)
    assert crypto(result.answer) != crypto(caller.local)
    assert crypto(result.answer)[0].tag == crypto(caller.local)[0].tag
    (update,) = result.updates
    assert update.x_keys_changed and not update.y_keys_changed
    assert not update.x_remote_changed and not update.y_remote_changed
    callee_keys = callee.streams[0].keys
    assert callee_keys is not None
    assert crypto(pending.offer)[0] == to_sdp_crypto(callee_keys[0])


def test_y_new_key_is_reported() -> None:
    """Y answering with a new key of its own re-keys leg Y only."""
    caller, callee = set_up_call(pjsip_offer())
    offer = bump(dataclasses.replace(caller.remote, session_name="re-offer"))
    _, result = round_trip(caller, callee, offer, keep=False)
    (update,) = result.updates
    assert update.y_keys_changed and not update.x_keys_changed
    assert update.has_changes


def test_offer_to_y_lists_current_key_then_other_suites() -> None:
    """Our current line comes first; other suites follow with fresh keys, new tags."""
    caller, callee = set_up_call(pjsip_offer())
    pending = plan(caller, callee, with_direction(caller.remote, Direction.SENDONLY))
    lines = crypto(pending.offer)
    assert len(lines) == len(SRTP.suites)
    assert len({c.tag for c in lines}) == len(lines)
    assert len({c.suite for c in lines}) == len(lines)
    assert len({c.key_params for c in lines}) == len(lines)
    old_others = {c.key_params for c in crypto(callee.local)[1:]}
    assert not old_others & {c.key_params for c in lines[1:]}


def test_no_key_crosses_legs() -> None:
    """RFC 4568 §8.1: X's keys never reach Y and Y's never reach X."""
    caller, callee = set_up_call(pjsip_offer())
    offer = with_direction(caller.remote, Direction.SENDONLY)
    pending, result = round_trip(caller, callee, offer, keep=False)
    assert not key_params(offer) & key_params(pending.offer)
    assert not key_params(result.y.remote) & key_params(result.answer)


# -- address changes and streams ------------------------------------------------


def test_x_moves_to_a_new_address() -> None:
    """A new c=/port from X changes only X's side of the relay."""
    caller, callee = set_up_call(pjsip_offer())
    moved = dataclasses.replace(
        caller.remote.media[0],
        port=5000,
        connections=(Connection(address="192.0.2.99"),),
        attributes=tuple(
            a for a in caller.remote.media[0].attributes if a.name != "rtcp"
        ),
    )
    _, result = round_trip(caller, callee, bump(caller.remote.with_media(0, moved)))
    (update,) = result.updates
    assert update.x.remote_rtp == ("192.0.2.99", 5000)
    assert update.x.remote_rtcp == ("192.0.2.99", 5001)
    assert update.x_remote_changed and not update.y_remote_changed
    assert not update.x_keys_changed


def test_added_stream_needs_ports_and_is_bridged() -> None:
    """RFC 3264 §8.1: an m-line added at the end is offered to Y on new ports."""
    caller, callee = set_up_call(pjsip_offer())
    video = corpus("cisco_tc_offer.sdp").media[1]
    offer = bump(
        dataclasses.replace(caller.remote, media=(*caller.remote.media, video))
    )
    assert added_stream_count(caller, offer) == 1
    with pytest.raises(LocalSdpError):
        plan(caller, callee, offer)
    pending = plan(caller, callee, offer, added_ports=[(30100, 31100)])
    assert [m.port for m in pending.offer.media] == [31000, 31100]
    assert pending.offer.media[1].kind == "video"
    y_answer = peer_answer(pending.offer, ports=[40000, 40100], keep=callee, version=2)
    result = complete_reoffer(pending, y_answer)
    assert [m.port for m in result.answer.media] == [30000, 30100]
    assert result.x.ports == (30000, 30100) and result.y.ports == (31000, 31100)
    old, new = result.updates
    assert not old.is_new and not old.has_changes
    assert new.is_new and new.is_bridged and not new.was_bridged
    assert new.x_keys_changed and new.y_keys_changed
    assert new.y.remote_rtp == (CALLEE, 40100)


def test_removing_an_m_line_is_488() -> None:
    """RFC 3264 §8: m-lines are never removed."""
    caller, callee = set_up_call(corpus("cisco_tc_offer.sdp"))
    shorter = bump(dataclasses.replace(caller.remote, media=caller.remote.media[:3]))
    with pytest.raises(RemoteSdpError) as caught:
        plan(caller, callee, shorter)
    assert caught.value.status == 488


def test_changing_an_active_stream_kind_is_488() -> None:
    """An active audio m-line cannot become video (§8.1)."""
    caller, _ = set_up_call(pjsip_offer())
    media = dataclasses.replace(caller.remote.media[0], kind="video")
    with pytest.raises(RemoteSdpError) as caught:
        added_stream_count(caller, bump(caller.remote.with_media(0, media)))
    assert caught.value.status == 488


def test_disabled_slot_may_be_reused_for_another_kind() -> None:
    """§8.1: a rejected m-line's slot may carry a new kind."""
    caller, callee = set_up_call(corpus("cisco_tc_offer.sdp"))
    h224 = 4  # m=application H224: our policy rejected it.
    assert not caller.streams[h224].is_accepted
    video = corpus("cisco_tc_offer.sdp").media[1]
    offer = bump(caller.remote.with_media(h224, video))
    assert added_stream_count(caller, offer) == 0
    pending, result = round_trip(caller, callee, offer)
    assert pending.offer.media[h224].kind == "video"
    assert pending.offer.media[h224].port == callee.ports[h224]
    update = result.updates[h224]
    assert update.is_bridged and not update.was_bridged
    assert update.kind == "video"


def test_multistream_hold_keeps_every_stream_in_place() -> None:
    """Holding a Cisco TC call: each stream keeps index, port and key."""
    caller, callee = set_up_call(corpus("cisco_tc_offer.sdp"))
    offer = caller.remote
    for index in range(len(offer.media)):
        if offer.media[index].is_rtp:
            offer = offer.with_media(
                index, offer.media[index].with_direction(Direction.SENDONLY)
            )
    pending, result = round_trip(caller, callee, bump(offer))
    assert [m.kind for m in pending.offer.media] == [m.kind for m in callee.local.media]
    assert [m.port for m in pending.offer.media] == [m.port for m in callee.local.media]
    for update in result.updates:
        assert not update.has_changes
        if update.is_bridged:
            assert update.is_on_hold and update.x_to_y and not update.y_to_x
    bridged = [u.index for u in result.updates if u.is_bridged]
    assert bridged == [0, 1, 2]


def test_stream_rejected_by_y_is_rejected_toward_x() -> None:
    """If Y rejects a stream, X's answer rejects it too (no dead-end media)."""
    caller, callee = set_up_call(corpus("cisco_tc_offer.sdp"))
    offer = bump(caller.remote)
    offer = offer.with_media(0, offer.media[0].with_direction(Direction.SENDRECV))
    offer = dataclasses.replace(offer, session_name="changed")  # a real change
    pending = plan(caller, callee, offer)
    y_answer = peer_answer(pending.offer, ports=[40000, 40002, 0, 40006, 40008])
    result = complete_reoffer(pending, y_answer)
    assert result.answer.media[2].port == 0
    update = result.updates[2]
    assert update.was_bridged and not update.is_bridged and update.has_changes


def test_bad_answer_from_y_raises() -> None:
    """Y's answer with the wrong m-line count is a RemoteSdpError."""
    caller, callee = set_up_call(corpus("cisco_tc_offer.sdp"))
    pending = plan(caller, callee, with_direction(caller.remote, Direction.SENDONLY))
    short = dataclasses.replace(callee.remote, media=callee.remote.media[:1])
    with pytest.raises(RemoteSdpError):
        complete_reoffer(pending, short)


def test_mismatched_legs_are_a_local_error() -> None:
    """Legs with different m-line counts are a bug of the caller."""
    caller, _ = set_up_call(pjsip_offer())
    _, other = set_up_call(corpus("cisco_tc_offer.sdp"))
    with pytest.raises(LocalSdpError):
        plan(caller, other, with_direction(caller.remote, Direction.SENDONLY))


# -- refreshes and late offers ------------------------------------------------


def test_unchanged_offer_is_a_refresh() -> None:
    """Same o= version, same body (§8): our previous answer, no trip to Y."""
    caller, callee = set_up_call(pjsip_offer())
    result = plan_reoffer(
        caller, callee, caller.remote, local=RELAY_SESSION, codecs=CODECS, srtp=SRTP
    )
    assert isinstance(result, SessionRefresh)
    assert result.answer == caller.local
    assert result.x == caller


def test_bumped_version_with_same_body_is_a_refresh() -> None:
    """A session-timer re-INVITE that only bumps o= is answered locally."""
    caller, callee = set_up_call(pjsip_offer())
    offer = bump(caller.remote)
    result = plan_reoffer(
        caller, callee, offer, local=RELAY_SESSION, codecs=CODECS, srtp=SRTP
    )
    assert isinstance(result, SessionRefresh)
    assert result.answer == caller.local  # Our SDP did not change: same version.
    assert result.x.remote == offer


def test_same_version_with_changed_body_is_a_change() -> None:
    """A body change without a version bump breaks §8; it is still honoured."""
    caller, callee = set_up_call(pjsip_offer())
    media = caller.remote.media[0].with_direction(Direction.SENDONLY)
    offer = caller.remote.with_media(0, media)
    pending = plan(caller, callee, offer)
    assert pending.offer.direction_of(0) is Direction.SENDONLY


def test_refresh_from_the_leg_we_offered_to() -> None:
    """The callee re-sends its answer as an offer: we answer with our same key."""
    caller, callee = set_up_call(pjsip_offer())
    result = plan_reoffer(
        callee, caller, callee.remote, local=RELAY_SESSION, codecs=CODECS, srtp=SRTP
    )
    assert isinstance(result, SessionRefresh)
    answer = result.answer
    keys = callee.streams[0].keys
    assert keys is not None
    assert crypto(answer) == (to_sdp_crypto(keys[0]),)
    assert answer.media[0].port == callee.ports[0]
    # Our SDP changed shape (one crypto line): the version moves on.
    assert answer.origin == callee.local.origin.next_version()
    assert result.x.we_offered is False
    assert result.x.streams[0].keys == callee.streams[0].keys
    assert result.x.streams[0].remote_rtp == callee.streams[0].remote_rtp


def test_late_offer_repeats_our_current_sdp() -> None:
    """A re-INVITE without SDP gets our current SDP again, same version."""
    caller, callee = set_up_call(pjsip_offer())
    assert late_offer(caller) is caller.local
    assert late_offer(callee) is callee.local


def test_late_offer_answer_updates_leg_x_only() -> None:
    """X's answer in the ACK (here: a hold) changes X's leg; Y stays."""
    caller, callee = set_up_call(pjsip_offer())
    offer = late_offer(caller)
    answer = peer_answer(
        offer, ports=[6000], keep=caller, directions=[Direction.SENDONLY]
    )
    result = complete_late_offer(caller, callee, answer)
    assert result.x.we_offered and result.x.local is caller.local
    (update,) = result.updates
    assert update.x.remote_rtp == (CALLEE, 6000)
    assert update.x_remote_changed and not update.y_remote_changed
    assert not update.x_keys_changed  # X kept its key under our tag.
    assert (update.x_to_y, update.y_to_x) == (True, False)


# -- LegSession ---------------------------------------------------------------------


def test_leg_session_from_call_leg() -> None:
    """A CallLeg maps to a LegSession; offer/answer round-trip."""
    caller, _ = set_up_call(pjsip_offer())
    leg = CallLeg(
        name="caller",
        offer=caller.offer,
        answer=caller.answer,
        streams=caller.streams,
    )
    assert LegSession.from_leg(leg, we_offered=False, ports=caller.ports) == caller
    assert caller.offer is caller.remote and caller.answer is caller.local
    with pytest.raises(LocalSdpError):
        LegSession.from_leg(CallLeg(name="callee"), we_offered=True, ports=())
    with pytest.raises(LocalSdpError):
        LegSession.from_exchange(
            caller.offer, caller.answer, we_offered=False, ports=(1, 2)
        )


def test_srtp_crypto_in_corpus_offer_is_parseable() -> None:
    """Sanity: the corpus keys parse with our SRTP parser (test inputs are real)."""
    for line in crypto(pjsip_offer()):
        assert parse_srtp_crypto(str(line)).suite == line.suite


def weakened(sdp: SessionDescription, index: int) -> SessionDescription:
    """Stream ``index`` offered only with a=crypto that turns encryption off."""
    lines = [
        dataclasses.replace(c, session_params=("UNENCRYPTED_SRTP",))
        for c in crypto(sdp, index)
    ]
    return sdp.with_media(index, sdp.media[index].with_crypto(lines))


def test_stream_we_cannot_key_is_not_offered_to_y() -> None:
    """An X stream with no acceptable a=crypto gets port 0 toward Y and X."""
    caller, callee = set_up_call(corpus("cisco_tc_offer.sdp"))
    offer = bump(weakened(caller.remote, 1))
    pending, result = round_trip(caller, callee, offer)
    assert pending.offer.media[1].port == 0
    assert pending.offer.media[0].port == callee.ports[0]
    assert result.answer.media[1].port == 0
    update = result.updates[1]
    assert update.was_bridged and not update.is_bridged


def test_offer_with_no_usable_stream_is_488_before_y_is_touched() -> None:
    """Nothing to key in X's offer: 488 at once, no offer to Y."""
    caller, callee = set_up_call(pjsip_offer())
    with pytest.raises(RemoteSdpError) as caught:
        plan(caller, callee, bump(weakened(caller.remote, 0)))
    assert caught.value.status == 488
    # RTP/AVP: site legs are SRTP only, so the stream cannot be keyed.
    avp = dataclasses.replace(caller.remote.media[0], proto="RTP/AVP")
    plain = bump(caller.remote.with_media(0, avp))
    with pytest.raises(RemoteSdpError):
        plan(caller, callee, plain)


def test_unchanged_answer_keeps_its_version() -> None:
    """§8: if our answer to X comes out identical, its o= version stays."""
    caller, callee = set_up_call(pjsip_offer())
    offer = bump(dataclasses.replace(caller.remote, session_name="renamed"))
    pending, result = round_trip(caller, callee, offer)
    assert result.answer == caller.local
    assert pending.offer.origin.session_version == 2  # Y always sees a new one.
