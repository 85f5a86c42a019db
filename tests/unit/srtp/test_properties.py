"""Property tests: parsers and unprotect never fail in unexpected ways."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.srtp.errors import RemoteSrtpError, SrtpFailure
from gateway.srtp.keys import (
    CryptoAttribute,
    KeyParams,
    Mki,
    parse_crypto,
    redact_crypto,
    serialize,
)
from gateway.srtp.session import Direction, SrtpContext
from gateway.srtp.suites import SUITES

RUNNABLE = [suite for suite in SUITES.values() if suite.is_supported]
CONTEXTS = {
    suite.name: (
        SrtpContext(
            suite=suite,
            key_salt=b"\x11" * suite.key_salt_bytes,
            direction=Direction.OUTBOUND,
        ),
        SrtpContext(
            suite=suite,
            key_salt=b"\x11" * suite.key_salt_bytes,
            direction=Direction.INBOUND,
        ),
    )
    for suite in RUNNABLE
}
PACKET_KINDS = {SrtpFailure.AUTH, SrtpFailure.REPLAY, SrtpFailure.BAD_PACKET}

crypto_like = st.one_of(
    st.text(max_size=200),
    st.builds(
        lambda tag, suite, key, extra: f"{tag} {suite} inline:{key}{extra}",
        st.integers(min_value=0, max_value=10**10),
        st.sampled_from([*SUITES, "X"]),
        st.text(alphabet="ABCDEFGHabcdefgh0123456789+/=", max_size=64),
        st.text(alphabet="|:^;0123456789 WSH=KDR-", max_size=20),
    ),
)


@given(crypto_like)
@settings(max_examples=500)
def test_parse_crypto_gives_attribute_or_sdes_error(value: str) -> None:
    """Any string parses to a CryptoAttribute or raises RemoteSrtpError(sdes)."""
    try:
        attr = parse_crypto(value)
    except RemoteSrtpError as exc:
        assert exc.kind is SrtpFailure.SDES
    else:
        assert isinstance(attr, CryptoAttribute)
        assert parse_crypto(serialize(attr)) == attr


key_params = st.builds(
    KeyParams,
    key_salt=st.binary(min_size=1, max_size=64),
    lifetime=st.one_of(
        st.none(),
        st.integers(1, 64).map(lambda n: f"2^{n}"),
        st.integers(1, 10**19).map(str),
    ),
    mki=st.none(),
)


@given(
    tag=st.integers(0, 999_999_999),
    suite=st.from_regex(r"[A-Z][A-Z0-9_]{0,30}", fullmatch=True),
    key=key_params,
    params=st.lists(st.from_regex(r"[\x21-\x7e]{1,20}", fullmatch=True), max_size=4),
    mki=st.one_of(
        st.none(),
        st.integers(1, 4).flatmap(
            lambda size: st.builds(
                Mki, value=st.integers(0, 256**size - 1), length_bytes=st.just(size)
            )
        ),
    ),
)
def test_generated_attributes_round_trip(
    tag: int, suite: str, key: KeyParams, params: list[str], mki: Mki | None
) -> None:
    """serialize then parse gives back the attribute, for unknown suites too."""
    if suite in SUITES:
        return  # Known suites constrain key length; covered by example tests.
    attr = CryptoAttribute(
        tag=tag,
        suite=suite,
        keys=(KeyParams(key_salt=key.key_salt, lifetime=key.lifetime, mki=mki),),
        session_params=tuple(params),
    )
    text = serialize(attr)
    assert parse_crypto(text) == attr
    assert serialize(parse_crypto(text)) == text
    assert "inline:<redacted>" in redact_crypto(text)


def _maybe_rtp(data: bytes, rtcp: bool) -> bytes:
    """Half the time give junk a valid-looking RTP/RTCP header."""
    if not data or data[0] & 1:
        return data
    header = struct.pack("!BBHI", 0x80, 200 if rtcp else 0, 7, 0x11223344)
    return header + data


@given(
    data=st.binary(max_size=1600),
    suite=st.sampled_from(sorted(CONTEXTS)),
    rtcp=st.booleans(),
)
@settings(max_examples=500)
def test_unprotect_arbitrary_bytes_raises_only_remote_errors(
    data: bytes, suite: str, rtcp: bool
) -> None:
    """Arbitrary bytes into unprotect give RemoteSrtpError, nothing else."""
    _, receiver = CONTEXTS[suite]
    packet = _maybe_rtp(data, rtcp)
    unprotect = receiver.unprotect_rtcp if rtcp else receiver.unprotect_rtp
    try:
        unprotect(packet)
    except RemoteSrtpError as exc:
        assert exc.kind in PACKET_KINDS
    else:
        raise AssertionError("unauthenticated bytes were accepted")


@given(
    data=st.binary(max_size=1600),
    suite=st.sampled_from(sorted(CONTEXTS)),
    rtcp=st.booleans(),
)
def test_protect_arbitrary_bytes_gives_bytes_or_remote_error(
    data: bytes, suite: str, rtcp: bool
) -> None:
    """Arbitrary bytes into protect give bytes or RemoteSrtpError, nothing else."""
    sender, _ = CONTEXTS[suite]
    protect = sender.protect_rtcp if rtcp else sender.protect_rtp
    try:
        assert isinstance(protect(_maybe_rtp(data, rtcp)), bytes)
    except RemoteSrtpError as exc:
        assert exc.kind in PACKET_KINDS
