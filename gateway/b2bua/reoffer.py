"""Mid-call offer/answer across the B2BUA (RFC 3264 §8), pure functions.

A re-INVITE or UPDATE with SDP arrives on leg X. The gateway terminates media,
so it does not forward that body: it offers leg Y a new session built from
X's offer, and once Y answers, answers X from what Y agreed, then tells the
relay what changed. In two steps, since Y's answer takes a round trip:

1. ``plan_reoffer(x, y, offer, ...)`` returns either a ``SessionRefresh``
   (X's SDP did not change: answer X at once, nothing goes to Y) or a
   ``PendingReoffer`` whose ``offer`` goes to Y;
2. ``complete_reoffer(pending, y_answer)`` returns the ``answer`` for X,
   both legs' new ``LegSession`` and one ``StreamUpdate`` per m-line.

A re-INVITE without SDP (late offer) is answered with ``late_offer(x)`` in
the 2xx and the ACK's answer read with ``complete_late_offer``.

Rules, each from RFC 3264 §8 unless noted:

* m-lines: the offer keeps every existing m-line in place; it may add new
  ones at the end (§8.1), which need relay ports for both legs
  (``added_stream_count`` says how many to allocate). A removed m-line, or
  a kind change on an active one, is refused with 488. A disabled slot
  (port 0 on both legs) may be reused for another kind (§8.1).
* o=: each new SDP we send keeps our origin on that leg and increments its
  version (§8); an unchanged SDP keeps it.
* Ports: the relay keeps its ports, so every SDP we send reuses them.
* Directions (§8.4): the direction X asks for is mirrored toward Y, so Y sees
  the hold state X requested, and the answer to X reflects what Y agreed:

  ==========================  =================  ==================
  X offers                    we offer Y         Y answers / X gets
  ==========================  =================  ==================
  sendrecv                    sendrecv           sendrecv / sendrecv
  sendonly (X holds Y)        sendonly           recvonly / recvonly
  recvonly                    recvonly           sendonly / sendonly
  inactive                    inactive           inactive / inactive
  c=0.0.0.0 (RFC 2543 hold)   sendonly           recvonly / recvonly
  ==========================  =================  ==================

  With X's media relayed to Y, "we send to Y" means "X sends to us", so the
  attribute is the same word on both legs.
* SRTP keys (RFC 4568 §7.1.4): keys are per hop (§8.1 of RFC 4568), so each
  leg is decided alone. Toward Y we offer our current key first (same tag)
  plus fresh lines for the other suites, so a Y that keeps its key keeps
  its SRTP contexts. Toward X we keep our key if X offers its current key
  again; if X changed its key or suite, X's leg is re-keyed in both
  directions (a fresh key of ours too), which is what endpoints expect of
  a re-key. X re-keying never re-keys Y: nothing of X's keys reaches Y.
* Streams that Y rejects are rejected toward X (port 0), so no media flows
  into a relay stream with no far end.
* Refresh: an offer whose body equals X's previous SDP (same version, §8,
  or a bumped version with nothing else changed, as some endpoints send
  with session-timer refreshes) is answered with our previous SDP, no
  round trip to Y. An offer that keeps the version but changes the body
  breaks §8; it is handled as a change, the safe reading.

A failed re-INVITE toward Y (4xx-6xx, timeout) leaves both legs as they
were (RFC 3261 §14.1): reject X's request with the same status (491 for
glare) and keep the old ``LegSession`` objects.
"""

from __future__ import annotations

import dataclasses
import hmac
import itertools
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.b2bua.call import CallLeg
from gateway.b2bua.media_plan import (
    LegStream,
    from_sdp_crypto,
    leg_streams,
    to_sdp_crypto,
)
from gateway.sdp.errors import LocalSdpError, RemoteSdpError
from gateway.sdp.media import MediaFormat
from gateway.sdp.model import CryptoAttribute as SdpCrypto
from gateway.sdp.model import MediaDescription, SessionDescription
from gateway.sdp.offer_answer import (
    CodecPolicy,
    LocalMedia,
    LocalSession,
    NegotiatedStream,
    build_answer,
    build_offer_from,
    negotiate,
)
from gateway.srtp.errors import RemoteSrtpError
from gateway.srtp.keys import (
    CryptoAttribute,
    RandomSource,
    choose_answer,
    generate_key,
    make_offer,
)
from gateway.srtp.suites import SrtpPolicy, suite_by_name

__all__ = [
    "LateOfferResult",
    "LegSession",
    "PendingReoffer",
    "ReofferResult",
    "SessionRefresh",
    "StreamUpdate",
    "added_stream_count",
    "complete_late_offer",
    "complete_reoffer",
    "late_offer",
    "plan_reoffer",
]

_SRTP_PROTOS = ("RTP/SAVP", "RTP/SAVPF")


@dataclass(frozen=True, slots=True, kw_only=True)
class LegSession:
    """One leg's last completed offer/answer, seen from the gateway.

    ``local`` is the last SDP we sent on the leg, ``remote`` the peer's;
    ``we_offered`` says whose was the offer. ``ports`` are our relay RTP
    ports per m-line (also for rejected streams, which may come back).
    """

    local: SessionDescription
    remote: SessionDescription
    we_offered: bool
    ports: tuple[int, ...]
    streams: tuple[LegStream, ...]

    @property
    def offer(self) -> SessionDescription:
        """The offer of the last exchange (``CallLeg.offer``)."""
        return self.local if self.we_offered else self.remote

    @property
    def answer(self) -> SessionDescription:
        """The answer of the last exchange (``CallLeg.answer``)."""
        return self.remote if self.we_offered else self.local

    @classmethod
    def from_exchange(
        cls,
        offer: SessionDescription,
        answer: SessionDescription,
        *,
        we_offered: bool,
        ports: Sequence[int],
    ) -> LegSession:
        """Build it from an exchange; raises RemoteSdpError/RemoteSrtpError."""
        if len(ports) != len(offer.media):
            raise LocalSdpError(f"{len(ports)} ports for {len(offer.media)} m-lines")
        return cls(
            local=offer if we_offered else answer,
            remote=answer if we_offered else offer,
            we_offered=we_offered,
            ports=tuple(ports),
            streams=leg_streams(offer, answer, we_offered=we_offered),
        )

    @classmethod
    def from_leg(
        cls, leg: CallLeg, *, we_offered: bool, ports: Sequence[int]
    ) -> LegSession:
        """From a ``CallLeg`` whose offer and answer are set.

        Raises ``LocalSdpError`` if the leg has no completed exchange.
        """
        if leg.offer is None or leg.answer is None:
            raise LocalSdpError(f"leg {leg.name} has no completed offer/answer")
        return cls(
            local=leg.offer if we_offered else leg.answer,
            remote=leg.answer if we_offered else leg.offer,
            we_offered=we_offered,
            ports=tuple(ports),
            streams=leg.streams,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamUpdate:
    """What the relay must change for one m-line after an exchange.

    ``x``/``y`` are the legs' new streams. ``is_bridged`` says both legs
    accepted the stream, ``was_bridged`` whether they did before. The
    ``*_remote_changed`` flags cover the peer's RTP/RTCP address; the
    ``*_keys_changed`` flags say the leg's SRTP contexts must be rebuilt
    (when False, keep them: the same key with a reset rollover counter
    could repeat keystream). ``x_to_y``/``y_to_x`` say whether media flows
    that way end to end; ``is_on_hold`` is True when it does not flow both
    ways (hold, or a one-way stream): a media-inactivity timer must not
    count silence in a held direction.
    """

    index: int
    kind: str
    x: LegStream
    y: LegStream
    is_new: bool
    is_bridged: bool
    was_bridged: bool
    x_remote_changed: bool
    y_remote_changed: bool
    x_keys_changed: bool
    y_keys_changed: bool
    x_to_y: bool
    y_to_x: bool

    @property
    def is_on_hold(self) -> bool:
        """True when media does not flow both ways end to end."""
        return not (self.x_to_y and self.y_to_x)

    @property
    def has_changes(self) -> bool:
        """True if the relay must touch this stream at all."""
        return (
            self.is_new
            or self.is_bridged != self.was_bridged
            or self.x_remote_changed
            or self.y_remote_changed
            or self.x_keys_changed
            or self.y_keys_changed
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRefresh:
    """X's offer changed nothing: send ``answer`` to X, nothing to Y."""

    answer: SessionDescription
    x: LegSession


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingReoffer:
    """Send ``offer`` to Y (re-INVITE or UPDATE), then ``complete_reoffer``.

    The other fields carry the state for the second step unchanged.
    """

    offer: SessionDescription
    x_offer: SessionDescription
    x: LegSession
    y: LegSession
    x_ports: tuple[int, ...]
    y_ports: tuple[int, ...]
    x_crypto: tuple[tuple[SdpCrypto, ...], ...]  # Our answer lines toward X.
    local: LocalSession
    codecs: CodecPolicy
    srtp: SrtpPolicy


@dataclass(frozen=True, slots=True, kw_only=True)
class ReofferResult:
    """Send ``answer`` to X; store ``x``/``y``; apply ``updates``."""

    answer: SessionDescription
    x: LegSession
    y: LegSession
    updates: tuple[StreamUpdate, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class LateOfferResult:
    """After the ACK's answer to our late offer: store ``x``, apply ``updates``."""

    x: LegSession
    updates: tuple[StreamUpdate, ...]


def added_stream_count(x: LegSession, offer: SessionDescription) -> int:
    """How many m-lines X's new ``offer`` adds (RFC 3264 §8.1).

    Allocate that many relay ports per leg before ``plan_reoffer``. Raises
    ``RemoteSdpError`` (488) if the offer removes an m-line or changes the
    kind of a stream that is still active (§8.1 reuses only disabled slots).
    """
    old = x.remote.media
    if len(offer.media) < len(old):
        raise RemoteSdpError(
            f"offer has {len(offer.media)} m-lines, the session {len(old)}: "
            "m-lines may not be removed (RFC 3264 §8)",
            status=488,
        )
    for index, (before, after) in enumerate(zip(old, offer.media, strict=False)):
        active = index < len(x.streams) and x.streams[index].is_accepted
        if active and before.kind.lower() != after.kind.lower():
            raise RemoteSdpError(
                f"offer changes m-line {index} from {before.kind} to {after.kind}",
                status=488,
            )
    return len(offer.media) - len(old)


def _same_key(a: CryptoAttribute, b: CryptoAttribute) -> bool:
    same_suite = suite_by_name(a.suite) is suite_by_name(b.suite)
    return same_suite and hmac.compare_digest(a.key_salt, b.key_salt)


def _same_keys(
    a: tuple[CryptoAttribute, CryptoAttribute] | None,
    b: tuple[CryptoAttribute, CryptoAttribute] | None,
) -> bool:
    if a is None or b is None:
        return a is b
    return _same_key(a[0], b[0]) and _same_key(a[1], b[1])


def _stream(streams: Sequence[LegStream], index: int) -> LegStream | None:
    return streams[index] if index < len(streams) else None


def _is_refresh(x: LegSession, offer: SessionDescription) -> bool:
    return dataclasses.replace(offer, origin=x.remote.origin) == x.remote


def _versioned(
    built: SessionDescription, previous: SessionDescription
) -> SessionDescription:
    # §8: same body, same version; any change, version + 1.
    same = dataclasses.replace(built, origin=previous.origin)
    if same == previous:
        return previous
    return dataclasses.replace(built, origin=previous.origin.next_version())


def _with_origin(local: LocalSession, previous: SessionDescription) -> LocalSession:
    return dataclasses.replace(local, origin=previous.origin)


def _offer_crypto(
    previous: LegStream | None, srtp: SrtpPolicy, random_source: RandomSource
) -> tuple[SdpCrypto, ...]:
    if previous is not None and previous.is_accepted and previous.keys is None:
        return ()  # A plain-RTP leg (a trunk with policy off) stays plain.
    fresh = make_offer(srtp, random_source=random_source)
    if previous is None or previous.keys is None:
        return tuple(to_sdp_crypto(k) for k in fresh)
    ours = previous.keys[0]
    tags = (tag for tag in itertools.count(1) if tag != ours.tag)
    others = [
        dataclasses.replace(k, tag=next(tags))
        for k in fresh
        if suite_by_name(k.suite) is not suite_by_name(ours.suite)
    ]
    return tuple(to_sdp_crypto(k) for k in (ours, *others))


def _answer_crypto(
    media: MediaDescription,
    previous: LegStream | None,
    srtp: SrtpPolicy,
    random_source: RandomSource,
) -> tuple[SdpCrypto, ...]:
    if media.port == 0 or media.proto.upper() not in _SRTP_PROTOS:
        return ()
    try:
        offered = [from_sdp_crypto(c) for c in media.crypto]
        line, suite = choose_answer(offered, srtp)
    except RemoteSrtpError:
        return ()  # The stream is rejected, as in the initial answer.
    if previous is not None and previous.keys is not None:
        ours, theirs = previous.keys
        kept = next((c for c in offered if _same_key(c, theirs)), None)
        if kept is not None:
            # The peer kept its key: so do we, under the tag it uses now.
            return (to_sdp_crypto(dataclasses.replace(ours, tag=kept.tag)),)
    key = generate_key(suite, tag=line.tag, random_source=random_source)
    return (to_sdp_crypto(key),)


def plan_reoffer(
    x: LegSession,
    y: LegSession,
    offer: SessionDescription,
    *,
    local: LocalSession,
    codecs: CodecPolicy,
    srtp: SrtpPolicy,
    added_ports: Sequence[tuple[int, int]] = (),
    random_source: RandomSource = secrets.token_bytes,
) -> SessionRefresh | PendingReoffer:
    """First step of a mid-call offer from leg X (RFC 3264 §8).

    ``local`` gives the relay address and flags (its origin is replaced by
    each leg's own). ``added_ports[i]`` is the (X, Y) relay port pair for
    the i-th m-line the offer adds. Returns ``SessionRefresh`` when the
    offer changes nothing, else ``PendingReoffer`` with the offer for Y.

    Our keys toward X are chosen here, before Y is disturbed: an RTP
    stream of X's that we cannot key (plain RTP, or no acceptable a=crypto)
    is offered to Y with port 0, as it will be rejected toward X.

    Raises ``RemoteSdpError`` (488) for a removed m-line, a kind change
    (see ``added_stream_count``) or when no RTP stream of the offer is
    acceptable, ``LocalSdpError`` if ``added_ports`` does not match the
    added m-lines or the two legs' m-line counts differ.
    """
    added = added_stream_count(x, offer)
    if len(y.local.media) != len(x.remote.media):
        raise LocalSdpError("legs X and Y have different m-line counts")
    if _is_refresh(x, offer):
        return _refresh(x, offer, local=local, codecs=codecs)
    if len(added_ports) != added:
        raise LocalSdpError(f"{len(added_ports)} port pairs for {added} new m-lines")
    x_ports = x.ports + tuple(p for p, _ in added_ports)
    y_ports = y.ports + tuple(p for _, p in added_ports)
    x_crypto = tuple(
        _answer_crypto(media, _stream(x.streams, i), srtp, random_source)
        for i, media in enumerate(offer.media)
    )
    usable = [_is_usable(m, c) for m, c in zip(offer.media, x_crypto, strict=True)]
    if any(_is_active_rtp(m) for m in offer.media) and not any(
        u and _is_active_rtp(m) for u, m in zip(usable, offer.media, strict=True)
    ):
        raise RemoteSdpError("no offered stream is acceptable", status=488)
    media = [
        LocalMedia(
            port=port if usable[i] else 0,
            crypto=_offer_crypto(_stream(y.streams, i), srtp, random_source),
        )
        for i, port in enumerate(y_ports)
    ]
    built = build_offer_from(
        offer, policy=codecs, local=_with_origin(local, y.local), media=media
    )
    offer_y = dataclasses.replace(built, origin=y.local.origin.next_version())
    return PendingReoffer(
        offer=offer_y,
        x_offer=offer,
        x=x,
        y=y,
        x_ports=x_ports,
        y_ports=y_ports,
        x_crypto=x_crypto,
        local=local,
        codecs=codecs,
        srtp=srtp,
    )


def _is_active_rtp(media: MediaDescription) -> bool:
    return media.port != 0 and media.is_rtp


def _is_usable(media: MediaDescription, crypto: tuple[SdpCrypto, ...]) -> bool:
    # Site legs are SRTP only, so an RTP stream we have no key for is dead.
    return not _is_active_rtp(media) or bool(crypto)


def _templates(
    agreed: Sequence[NegotiatedStream],
) -> list[Sequence[MediaFormat] | None]:
    return [[f.format for f in s.formats] if s.is_accepted else None for s in agreed]


def complete_reoffer(
    pending: PendingReoffer, y_answer: SessionDescription
) -> ReofferResult:
    """Second step: Y answered ``pending.offer``; build the answer to X.

    The answer uses the codecs Y agreed (as ``build_answer`` templates), the
    direction Y agreed seen from X's side, our relay ports and our keys for
    X (kept if X kept its key, RFC 4568 §7.1.4). Streams Y rejected are
    rejected toward X.

    Raises ``RemoteSdpError`` if Y's answer does not fit our offer or no
    stream is left to answer X with (488), ``RemoteSrtpError`` if a chosen
    a=crypto line is malformed. Either way Y's session is broken: the
    caller rejects X's request and ends the call.
    """
    offer_y, offer_x, x = pending.offer, pending.x_offer, pending.x
    y_agreed = negotiate(offer_y, y_answer)
    y_streams = leg_streams(offer_y, y_answer, we_offered=True)
    media = [
        LocalMedia(
            port=port if y_agreed[i].is_accepted else 0,
            crypto=pending.x_crypto[i] if y_agreed[i].is_accepted else (),
        )
        for i, port in enumerate(pending.x_ports)
    ]
    built = build_answer(
        offer_x,
        policy=pending.codecs,
        local=_with_origin(pending.local, x.local),
        media=media,
        formats=_templates(y_agreed),
        # Toward X we send what Y sends us and take what Y takes from us.
        directions=[s.direction.reversed() for s in y_agreed],
    )
    answer_x = _versioned(built, x.local)
    new_x = LegSession.from_exchange(
        offer_x, answer_x, we_offered=False, ports=pending.x_ports
    )
    new_y = LegSession(
        local=offer_y,
        remote=y_answer,
        we_offered=True,
        ports=pending.y_ports,
        streams=y_streams,
    )
    updates = _updates(x, pending.y, new_x, new_y)
    return ReofferResult(answer=answer_x, x=new_x, y=new_y, updates=updates)


def _refresh(
    x: LegSession,
    offer: SessionDescription,
    *,
    local: LocalSession,
    codecs: CodecPolicy,
) -> SessionRefresh:
    if not x.we_offered:
        # Our previous answer still answers the same offer, byte for byte.
        session = dataclasses.replace(x, remote=offer)
        return SessionRefresh(answer=x.local, x=session)
    # X answered us last time and now offers that same body: answer it with
    # our current ports, keys (the tag X chose is ours), codecs and direction.
    agreed = negotiate(x.local, x.remote)
    media = [
        LocalMedia(
            port=x.ports[i] if stream.is_accepted else 0,
            crypto=() if stream.keys is None else (to_sdp_crypto(stream.keys[0]),),
        )
        for i, stream in enumerate(x.streams)
    ]
    built = build_answer(
        offer,
        policy=codecs,
        local=_with_origin(local, x.local),
        media=media,
        formats=_templates(agreed),
        directions=[x.local.direction_of(i) for i in range(len(x.local.media))],
    )
    answer = _versioned(built, x.local)
    session = LegSession.from_exchange(offer, answer, we_offered=False, ports=x.ports)
    return SessionRefresh(answer=answer, x=session)


def late_offer(x: LegSession) -> SessionDescription:
    """Our offer in the 2xx to a re-INVITE without SDP (RFC 3261 §14.2).

    The gateway offers leg X its current session again: our last SDP on
    the leg, unchanged and so with the same o= version (RFC 3264 §8). The
    other leg is not involved.
    """
    return x.local


def complete_late_offer(
    x: LegSession, y: LegSession, answer: SessionDescription
) -> LateOfferResult:
    """Read X's answer (in the ACK) to ``late_offer(x)``.

    Only leg X changes; Y's streams are reported unchanged so that the
    updates say what the relay must do end to end. Raises ``RemoteSdpError``
    or ``RemoteSrtpError`` if the answer does not fit the offer.
    """
    new_x = LegSession.from_exchange(x.local, answer, we_offered=True, ports=x.ports)
    return LateOfferResult(x=new_x, updates=_updates(x, y, new_x, y))


def _flows(leg: LegSession) -> list[tuple[bool, bool]]:
    """Per stream: (the peer sends to us, the peer receives from us)."""
    flows: list[tuple[bool, bool]] = []
    for stream in negotiate(leg.offer, leg.answer):
        if not stream.is_accepted:
            flows.append((False, False))
            continue
        # ``direction`` is the offerer's: sends = offerer -> answerer.
        offerer_sends, offerer_receives = (
            stream.direction.sends,
            stream.direction.receives,
        )
        if leg.we_offered:
            flows.append((offerer_receives, offerer_sends))
        else:
            flows.append((offerer_sends, offerer_receives))
    return flows


def _remote_changed(before: LegStream | None, after: LegStream) -> bool:
    if before is None:
        return after.is_accepted
    return (before.remote_rtp, before.remote_rtcp, before.rtcp_mux) != (
        after.remote_rtp,
        after.remote_rtcp,
        after.rtcp_mux,
    )


def _keys_changed(before: LegStream | None, after: LegStream) -> bool:
    if before is None:
        return after.keys is not None
    return not _same_keys(before.keys, after.keys)


def _updates(
    old_x: LegSession, old_y: LegSession, new_x: LegSession, new_y: LegSession
) -> tuple[StreamUpdate, ...]:
    x_flows, y_flows = _flows(new_x), _flows(new_y)
    updates: list[StreamUpdate] = []
    for index, (x, y) in enumerate(zip(new_x.streams, new_y.streams, strict=True)):
        before_x, before_y = (
            _stream(old_x.streams, index),
            _stream(old_y.streams, index),
        )
        was_bridged = (
            before_x is not None
            and before_y is not None
            and before_x.is_accepted
            and before_y.is_accepted
        )
        (x_sends, x_receives), (y_sends, y_receives) = x_flows[index], y_flows[index]
        updates.append(
            StreamUpdate(
                index=index,
                kind=x.kind,
                x=x,
                y=y,
                is_new=before_x is None,
                is_bridged=x.is_accepted and y.is_accepted,
                was_bridged=was_bridged,
                x_remote_changed=_remote_changed(before_x, x),
                y_remote_changed=_remote_changed(before_y, y),
                x_keys_changed=_keys_changed(before_x, x),
                y_keys_changed=_keys_changed(before_y, y),
                x_to_y=x_sends and y_receives,
                y_to_x=y_sends and x_receives,
            )
        )
    return tuple(updates)
