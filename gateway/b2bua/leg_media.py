"""Offers and answers for one leg, following that leg's media policy.

A site leg is always SRTP. A trunk leg follows the trunk's policy:
``required`` (SRTP only), ``optional`` (offer SRTP; the caller may fall back
to plain RTP when the trunk refuses it with 488), ``off`` (plain RTP, e.g.
an MCU inside the province's closed WAN).
"""

from __future__ import annotations

import enum
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.b2bua.media_plan import (
    answer_keys,
    offer_keys,
    require_srtp,
    to_sdp_crypto,
)
from gateway.sdp.media import MediaFormat
from gateway.sdp.model import CryptoAttribute as SdpCrypto
from gateway.sdp.model import Origin, SessionDescription, TransportProfile
from gateway.sdp.offer_answer import (
    CodecPolicy,
    LocalMedia,
    LocalSession,
    build_answer,
    build_offer_from,
)
from gateway.srtp.keys import CryptoAttribute, RandomSource
from gateway.srtp.suites import SrtpPolicy


class MediaSecurity(enum.Enum):
    """How a leg's media must be protected."""

    REQUIRED = "required"
    OPTIONAL = "optional"
    OFF = "off"


@dataclass(frozen=True, slots=True, kw_only=True)
class LegPolicy:
    """One leg's media rules and the relay address it advertises."""

    security: MediaSecurity
    relay_address: str
    # SDES keys travel in SDP: only a TLS hop may carry them (RFC 4568 §8.3).
    is_signalling_secure: bool
    who: str  # For error messages: "site xa-a", "trunk mcu".
    srtp: SrtpPolicy
    codecs: CodecPolicy

    def session(self, *, profile: TransportProfile) -> LocalSession:
        origin = Origin(
            username="vcgw",
            session_id=str(time.time_ns() // 1000),
            session_version=1,
            address=self.relay_address,
        )
        return LocalSession(
            origin=origin,
            address=self.relay_address,
            profile=profile,
            rtcp_mux=False,
            require_srtp=self.security is MediaSecurity.REQUIRED,
        )


def check_offer(offer: SessionDescription, policy: LegPolicy) -> None:
    """Refuse (488) an offer that breaks the leg's policy."""
    if policy.security is MediaSecurity.REQUIRED:
        require_srtp(offer, who=policy.who)


def make_offer(
    source: SessionDescription,
    ports: Sequence[int],
    policy: LegPolicy,
    *,
    plain: bool = False,
    random_source: RandomSource = secrets.token_bytes,
) -> SessionDescription:
    """Our offer to a leg, mirroring ``source`` with our ports and fresh keys.

    ``plain`` forces RTP/AVP (the fallback of an ``optional`` leg).
    """
    use_srtp = (
        policy.security is not MediaSecurity.OFF
        and policy.is_signalling_secure
        and not plain
    )
    keys = (
        offer_keys(len(source.media), policy.srtp, random_source=random_source)
        if use_srtp
        else [() for _ in source.media]
    )
    profile = TransportProfile.RTP_SAVP if use_srtp else TransportProfile.RTP_AVP
    media = [
        LocalMedia(port=port, crypto=_sdp(key))
        for port, key in zip(ports, keys, strict=True)
    ]
    return build_offer_from(
        source, policy=policy.codecs, local=policy.session(profile=profile), media=media
    )


def make_answer(
    offer: SessionDescription,
    ports: Sequence[int],
    policy: LegPolicy,
    *,
    formats: Sequence[Sequence[MediaFormat] | None] | None = None,
    random_source: RandomSource = secrets.token_bytes,
) -> SessionDescription:
    """Our answer to a leg's offer: SRTP streams get one fresh key each.

    A stream whose SRTP lines we cannot honour is rejected (port 0); plain
    RTP streams are accepted only where the policy is not ``required``.
    Raises RemoteSdpError (488) when nothing is left.
    """
    keys = (
        answer_keys(offer, policy.srtp, random_source=random_source)
        if policy.is_signalling_secure
        else [() for _ in offer.media]  # No keys over plain SIP: SRTP streams off.
    )
    media = [
        LocalMedia(port=_answer_port(offer, i, port, key), crypto=_sdp(key))
        for i, (port, key) in enumerate(zip(ports, keys, strict=True))
    ]
    return build_answer(
        offer,
        policy=policy.codecs,
        local=policy.session(profile=TransportProfile.RTP_SAVP),
        media=media,
        formats=formats,
    )


def _answer_port(
    offer: SessionDescription, index: int, port: int, key: tuple[CryptoAttribute, ...]
) -> int:
    """Our port, or 0 for an SRTP stream we have no acceptable key for."""
    is_srtp = offer.media[index].proto in ("RTP/SAVP", "RTP/SAVPF")
    return 0 if is_srtp and not key else port


def _sdp(key: tuple[CryptoAttribute, ...]) -> tuple[SdpCrypto, ...]:
    return tuple(to_sdp_crypto(k) for k in key)
