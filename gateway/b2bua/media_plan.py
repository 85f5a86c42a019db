"""Media of one call leg: SDP offer/answer with the gateway's own SRTP keys.

The gateway terminates media on its relay, so each leg negotiates with the
gateway alone: it answers a leg's offer with its own address, ports and a
fresh key, and offers the other leg fresh keys of its own. No endpoint's key
ever reaches another endpoint (RFC 4568 §8.1: keys stay per hop).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from gateway.sdp.errors import RemoteSdpError
from gateway.sdp.model import CryptoAttribute as SdpCrypto
from gateway.sdp.model import SessionDescription
from gateway.sdp.offer_answer import NegotiatedStream, negotiate
from gateway.srtp.errors import RemoteSrtpError
from gateway.srtp.keys import (
    CryptoAttribute,
    RandomSource,
    choose_answer,
    generate_key,
    make_offer,
)
from gateway.srtp.keys import parse_crypto as parse_srtp_crypto
from gateway.srtp.keys import serialize as serialize_srtp_crypto
from gateway.srtp.suites import SrtpPolicy

_RTP_PROTOS = ("RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF")
_SRTP_PROTOS = ("RTP/SAVP", "RTP/SAVPF")


@dataclass(frozen=True, slots=True, kw_only=True)
class LegStream:
    """One negotiated stream of a leg, as the relay needs it."""

    index: int
    kind: str
    is_accepted: bool
    remote_rtp: tuple[str, int] | None = None
    remote_rtcp: tuple[str, int] | None = None
    rtcp_mux: bool = False
    clock_rate: int = 90000  # Of the first agreed codec: jitter is in its units.
    # (ours, the peer's) a=crypto lines; None on a clear-RTP leg.
    keys: tuple[CryptoAttribute, CryptoAttribute] | None = None
    # (codec name, PT the peer sends us, PT the peer expects from us): the
    # offerer sends with the answer's numbers, the answerer with the offer's
    # (RFC 3264 §6.1), so the two may differ on a leg the gateway offered.
    payload_types: tuple[tuple[str, int, int], ...] = ()

    @property
    def suite_name(self) -> str:
        return self.keys[0].suite if self.keys is not None else "RTP"


def to_sdp_crypto(attr: CryptoAttribute) -> SdpCrypto:
    """Our parsed a=crypto as the SDP model's raw attribute."""
    tag, suite, key_params, *session = serialize_srtp_crypto(attr).split(" ")
    return SdpCrypto(
        tag=int(tag), suite=suite, key_params=key_params, session_params=tuple(session)
    )


def from_sdp_crypto(attr: SdpCrypto) -> CryptoAttribute:
    """A raw a=crypto from SDP, parsed; RemoteSrtpError if malformed."""
    return parse_srtp_crypto(str(attr))


def require_srtp(offer: SessionDescription, *, who: str) -> None:
    """Refuse an offer with an active plain-RTP stream (site legs are SRTP only).

    Raises RemoteSdpError with status 488 and a message that says which
    m-line is not SRTP, for the Warning header.
    """
    for index, media in enumerate(offer.media):
        if media.port == 0 or media.proto not in _RTP_PROTOS:
            continue
        if media.proto not in _SRTP_PROTOS:
            raise RemoteSdpError(
                f"{who} offered {media.kind} m-line {index} as {media.proto}: "
                "site calls must use SRTP (RTP/SAVP with a=crypto)",
                status=488,
            )
        if not media.crypto:
            raise RemoteSdpError(
                f"{who} offered {media.kind} m-line {index} as SRTP with no a=crypto",
                status=488,
            )


def answer_keys(
    offer: SessionDescription,
    policy: SrtpPolicy,
    *,
    random_source: RandomSource = secrets.token_bytes,
) -> list[tuple[CryptoAttribute, ...]]:
    """Our a=crypto answer per m-line: one fresh key, or () to reject the stream.

    The best suite both sides support is chosen (RFC 4568 §7.1.2); a stream
    whose lines we cannot honour gets () and is rejected with port 0.
    """
    answers: list[tuple[CryptoAttribute, ...]] = []
    for media in offer.media:
        if media.port == 0 or media.proto not in _SRTP_PROTOS:
            answers.append(())
            continue
        try:
            offered = [from_sdp_crypto(c) for c in media.crypto]
            line, suite = choose_answer(offered, policy)
        except RemoteSrtpError:
            answers.append(())
            continue
        answers.append(
            (generate_key(suite, tag=line.tag, random_source=random_source),)
        )
    return answers


def offer_keys(
    count: int,
    policy: SrtpPolicy,
    *,
    random_source: RandomSource = secrets.token_bytes,
) -> list[tuple[CryptoAttribute, ...]]:
    """Fresh a=crypto lines for each of ``count`` m-lines of our offer."""
    return [make_offer(policy, random_source=random_source) for _ in range(count)]


def leg_streams(
    offer: SessionDescription,
    answer: SessionDescription,
    *,
    we_offered: bool,
) -> tuple[LegStream, ...]:
    """What the relay needs for each stream of a leg after offer/answer.

    ``we_offered`` says which side is the gateway: the peer's address and
    key come from the answer when we offered, from the offer otherwise.
    Raises RemoteSdpError if the answer does not fit the offer, and
    RemoteSrtpError if a chosen a=crypto line is malformed.
    """
    return tuple(_leg_stream(n, we_offered) for n in negotiate(offer, answer))


def _leg_stream(stream: NegotiatedStream, we_offered: bool) -> LegStream:
    if not stream.is_accepted:
        return LegStream(index=stream.index, kind=stream.kind, is_accepted=False)
    formats = stream.formats
    if we_offered:
        host, port = stream.answer_address, stream.answer_port
        rtcp = stream.answer_rtcp_port
        payloads = tuple(
            (f.format.name, f.offer_payload_type, f.answer_payload_type)
            for f in formats
        )
    else:
        host, port = stream.offer_address, stream.offer_port
        rtcp = stream.offer_rtcp_port
        payloads = tuple(
            (f.format.name, f.answer_payload_type, f.offer_payload_type)
            for f in formats
        )
    keys = None
    if stream.crypto is not None:
        offered, answered = (from_sdp_crypto(c) for c in stream.crypto)
        keys = (offered, answered) if we_offered else (answered, offered)
    remote = (host, port) if host else None
    rtcp_port = port if stream.rtcp_mux else (rtcp or port + 1)
    return LegStream(
        index=stream.index,
        kind=stream.kind,
        is_accepted=True,
        remote_rtp=remote,
        remote_rtcp=(host, rtcp_port) if host else None,
        rtcp_mux=stream.rtcp_mux,
        clock_rate=formats[0].format.clock_rate if formats else 90000,
        keys=keys,
        payload_types=payloads,
    )
