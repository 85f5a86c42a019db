"""SDES a=crypto parsing, serialisation and negotiation (RFC 4568)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import pytest

from gateway.srtp.errors import LocalSrtpError, RemoteSrtpError, SrtpFailure
from gateway.srtp.keys import (
    MAX_CRYPTO_CHARS,
    CryptoAttribute,
    KeyParams,
    Mki,
    accept_answer,
    choose_answer,
    generate_key,
    make_offer,
    parse_crypto,
    redact_crypto,
    serialize,
    window_size_hint,
)
from gateway.srtp.suites import (
    AEAD_AES_128_GCM,
    AEAD_AES_256_GCM,
    AES_CM_128_HMAC_SHA1_32,
    AES_CM_128_HMAC_SHA1_80,
    SUITES,
    SrtpPolicy,
    SrtpSuite,
)

# RFC 4568 §4 example key (30 bytes: AES_CM_128 key||salt).
RFC_KEY = "WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"
KEY30 = base64.b64encode(bytes(range(30))).decode()
KEY28 = base64.b64encode(bytes(range(28))).decode()
KEY44 = base64.b64encode(bytes(range(44))).decode()
KEY46 = base64.b64encode(bytes(range(46))).decode()


def counting_source(size: int) -> bytes:
    """A deterministic stand-in for secrets.token_bytes."""
    return bytes((index * 7 + size) % 256 for index in range(size))


def sdes_error(value: str) -> RemoteSrtpError:
    with pytest.raises(RemoteSrtpError) as info:
        parse_crypto(value)
    assert info.value.kind is SrtpFailure.SDES
    return info.value


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize(
    "value",
    [
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}|2^20|1:4",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}|2^20",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}|1048576",
        f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}|1:4",
        f"2 AES_CM_128_HMAC_SHA1_32 inline:{RFC_KEY}",
        f"3 AEAD_AES_128_GCM inline:{KEY28}",
        f"4 AEAD_AES_256_GCM inline:{KEY44} WSH=128",
        f"5 AES_256_CM_HMAC_SHA1_80 inline:{KEY46}",
        f"6 F8_128_HMAC_SHA1_80 inline:{KEY30} UNENCRYPTED_SRTCP KDR=23",
        f"7 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}|2^20|1:4;"
        f"inline:{KEY30}|2^20|2:4 FEC_ORDER=FEC_SRTP -VENDOR_X=1",
        f"123456789 FUTURE_SUITE_X inline:{KEY30}",
    ],
)
def test_rfc4568_forms_round_trip(value: str) -> None:
    """Every RFC 4568 form parses and serialises back byte for byte."""
    assert serialize(parse_crypto(value)) == value


def test_parse_fields() -> None:
    """Tag, suite, key, lifetime, MKI and session params are all exposed."""
    attr = parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}|2^20|1:4 WSH=64")
    assert attr.tag == 1
    assert attr.suite == "AES_CM_128_HMAC_SHA1_80"
    assert attr.key_salt == base64.b64decode(RFC_KEY)
    assert attr.keys[0].lifetime == "2^20"
    assert attr.keys[0].lifetime_packets == 2**20
    assert attr.keys[0].mki == Mki(value=1, length_bytes=4)
    assert attr.session_params == ("WSH=64",)


def test_decimal_lifetime_and_missing_lifetime() -> None:
    """A decimal lifetime is a packet count; no lifetime gives None."""
    decimal = parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1000")
    assert decimal.keys[0].lifetime_packets == 1000
    assert (
        parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}")
        .keys[0]
        .lifetime_packets
        is None
    )


def test_tabs_and_runs_of_spaces_separate_fields() -> None:
    """1*WSP separates fields (RFC 4568 §9.2); surrounding blanks are ignored."""
    attr = parse_crypto(f" 9\tAEAD_AES_128_GCM   inline:{KEY28}  ")
    assert (attr.tag, attr.suite) == (9, "AEAD_AES_128_GCM")


def test_key_method_and_suite_are_case_insensitive() -> None:
    """ABNF literals are case-insensitive (RFC 5234 §2.3)."""
    attr = parse_crypto(f"1 aes_cm_128_hmac_sha1_80 INLINE:{KEY30}")
    line, suite = choose_answer([attr], SrtpPolicy())
    assert (line, suite) == (attr, AES_CM_128_HMAC_SHA1_80)


def test_key_is_not_in_repr() -> None:
    """The key never appears in repr, so it cannot leak into logs that way."""
    attr = parse_crypto(f"1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}")
    assert RFC_KEY not in repr(attr)
    assert repr(attr.key_salt) not in repr(attr)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "needs a tag"),
        ("1 AES_CM_128_HMAC_SHA1_80", "needs a tag"),
        (f"x AES_CM_128_HMAC_SHA1_80 inline:{KEY30}", "tag"),
        (f"1234567890 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}", "tag"),
        (f"1 AES-CM inline:{KEY30}", "suite"),
        (f"1 AES_CM_128_HMAC_SHA1_80 uri:{KEY30}", "inline"),
        (f"1 AES_CM_128_HMAC_SHA1_80 {KEY30}", "inline"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:!!!!", "base64"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:AAE", "base64"),
        ("1 AES_CM_128_HMAC_SHA1_80 inline:", "empty"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY28}", "30 bytes"),
        (f"1 AEAD_AES_256_GCM inline:{KEY30}", "44 bytes"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^0", "lifetime"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^99", "lifetime"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|0", "lifetime"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|abc", "lifetime"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1:0", "MKI length"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1:129", "MKI length"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|256:1", "fit"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|a:1", "MKI"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|2^20|1:4|x", "too many"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1:4|2^20", "key|lifetime|MKI"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30};inline:{KEY30}", "MKI"),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1:4;inline:{KEY30}|2:2",
            "one length",
        ),
        (
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}|1:4;inline:{KEY30}|1:4",
            "distinct",
        ),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30} caf\u00e9", "non-printable"),
        (f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY30}\r\n", "non-printable"),
        ("1 X " + ";".join([f"inline:{KEY30}|{i}:1" for i in range(17)]), "16"),
        ("1 X inline:" + "A" * MAX_CRYPTO_CHARS, "longer than"),
    ],
)
def test_malformed_lines_give_clear_errors(value: str, fragment: str) -> None:
    """Malformed lines raise RemoteSrtpError(kind sdes) saying what is wrong."""
    assert fragment in str(sdes_error(value))


def test_errors_never_echo_key_material() -> None:
    """Parse errors do not repeat the key they were given."""
    error = sdes_error(f"1 AES_CM_128_HMAC_SHA1_80 inline:{KEY28}|2^0")
    assert KEY28 not in str(error)


# -------------------------------------------------------------- generation


@pytest.mark.parametrize(
    "suite",
    [AEAD_AES_256_GCM, AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80],
    ids=lambda suite: suite.name,
)
def test_generate_key_uses_random_source(suite: SrtpSuite) -> None:
    """generate_key draws key||salt of the suite's length from the source."""
    attr = generate_key(suite, tag=5, random_source=counting_source)
    assert attr.key_salt == counting_source(suite.key_salt_bytes)
    assert (attr.tag, attr.suite, attr.session_params) == (5, suite.name, ())
    assert parse_crypto(serialize(attr)) == attr


def test_generate_key_defaults_to_fresh_secrets() -> None:
    """Without a source, two keys differ (secrets.token_bytes)."""
    keys = {generate_key(AEAD_AES_256_GCM).key_salt for _ in range(8)}
    assert len(keys) == 8


def test_generate_key_refuses_bad_source_and_unsupported_suite() -> None:
    """A short random source or a suite libsrtp cannot run is our bug."""
    with pytest.raises(LocalSrtpError):
        generate_key(AEAD_AES_128_GCM, random_source=lambda size: b"\0" * (size - 1))
    with pytest.raises(LocalSrtpError):
        generate_key(SUITES["AES_256_CM_HMAC_SHA1_80"])


def test_redact_crypto_hides_every_inline_key() -> None:
    """Keys, lifetimes and MKIs after inline: are replaced; the rest stays."""
    sdp = (
        "m=audio 4000 RTP/SAVP 0\r\n"
        f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{RFC_KEY}|2^20|1:4;"
        f"inline:{KEY30}|2:4 WSH=64\r\n"
        f"a=crypto:2 AEAD_AES_128_GCM INLINE:{KEY28}\r\n"
    )
    redacted = redact_crypto(sdp)
    for key in (RFC_KEY, KEY30, KEY28):
        assert key not in redacted
    assert redacted == (
        "m=audio 4000 RTP/SAVP 0\r\n"
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:<redacted>;inline:<redacted> "
        "WSH=64\r\n"
        "a=crypto:2 AEAD_AES_128_GCM INLINE:<redacted>\r\n"
    )
    assert redact_crypto("no keys here") == "no keys here"


# ------------------------------------------------------------ negotiation


def line(tag: int, suite: str, *params: str, key: str = "") -> CryptoAttribute:
    size = SUITES[suite].key_salt_bytes if suite in SUITES else 30
    key = key or base64.b64encode(bytes([tag]) * size).decode()
    return parse_crypto(" ".join((str(tag), suite, "inline:" + key, *params)))


def choose(offer: Sequence[CryptoAttribute], **policy: object) -> tuple[int, str]:
    attr, suite = choose_answer(offer, SrtpPolicy(**policy))  # type: ignore[arg-type]
    return attr.tag, suite.name


def test_choose_prefers_our_order_over_the_offerers() -> None:
    """The best suite in our order wins, wherever the offerer listed it."""
    offer = [
        line(1, "AES_CM_128_HMAC_SHA1_80"),
        line(2, "AEAD_AES_128_GCM"),
        line(3, "AEAD_AES_256_GCM"),
    ]
    assert choose(offer) == (3, "AEAD_AES_256_GCM")
    assert choose(offer[:2]) == (2, "AEAD_AES_128_GCM")


def test_choose_skips_suites_libsrtp_cannot_run() -> None:
    """AES_256_CM, AES_192_CM, F8 and unknown suites are skipped."""
    offer = [
        line(1, "AES_256_CM_HMAC_SHA1_80"),
        line(2, "AES_192_CM_HMAC_SHA1_80"),
        line(3, "F8_128_HMAC_SHA1_80"),
        line(4, "NEW_SUITE_2030"),
        line(5, "AES_CM_128_HMAC_SHA1_80"),
    ]
    assert choose(offer) == (5, "AES_CM_128_HMAC_SHA1_80")


def test_choose_takes_the_offerers_first_line_of_a_suite() -> None:
    """Among acceptable lines of one suite, the offerer's first wins."""
    offer = [line(4, "AEAD_AES_128_GCM"), line(2, "AEAD_AES_128_GCM")]
    assert choose(offer) == (4, "AEAD_AES_128_GCM")


def test_suite_32_only_when_allowed() -> None:
    """AES_CM_128_HMAC_SHA1_32 is chosen only with allow_32, and last."""
    only_32 = [line(1, "AES_CM_128_HMAC_SHA1_32")]
    with pytest.raises(RemoteSrtpError) as info:
        choose(only_32)
    assert info.value.kind == "sdes"
    assert choose(only_32, allow_32=True) == (1, "AES_CM_128_HMAC_SHA1_32")
    both = [line(1, "AES_CM_128_HMAC_SHA1_32"), line(2, "AES_CM_128_HMAC_SHA1_80")]
    assert choose(both, allow_32=True) == (2, "AES_CM_128_HMAC_SHA1_80")


def test_policy_restricts_suites() -> None:
    """A suite the admin removed is never chosen."""
    offer = [line(1, "AEAD_AES_256_GCM"), line(2, "AES_CM_128_HMAC_SHA1_80")]
    assert choose(offer, allowed_suites=("AES_CM_128_HMAC_SHA1_80",)) == (
        2,
        "AES_CM_128_HMAC_SHA1_80",
    )


@pytest.mark.parametrize(
    "refused",
    [
        line(1, "AEAD_AES_256_GCM", "UNENCRYPTED_SRTP"),
        line(1, "AEAD_AES_256_GCM", "UNENCRYPTED_SRTCP"),
        line(1, "AEAD_AES_256_GCM", "UNAUTHENTICATED_SRTP"),
        line(1, "AEAD_AES_256_GCM", "KDR=0"),
        line(1, "AEAD_AES_256_GCM", "KDR=24"),
        line(1, "AEAD_AES_256_GCM", f"FEC_KEY=inline:{KEY44}"),
        line(1, "AEAD_AES_256_GCM", "FEC_ORDER=SIDEWAYS"),
        line(1, "AEAD_AES_256_GCM", "WSH=32"),
        line(1, "AEAD_AES_256_GCM", "WSH=lots"),
        line(1, "AEAD_AES_256_GCM", "NEW_MANDATORY_PARAM"),
        parse_crypto(f"1 AEAD_AES_256_GCM inline:{KEY44}|1:4"),
        parse_crypto(f"1 AEAD_AES_256_GCM inline:{KEY44}|2^49"),
        parse_crypto(f"1 AEAD_AES_256_GCM inline:{KEY44}|1:1;inline:{KEY44}|2:1"),
    ],
    ids=lambda attr: " ".join(attr.session_params) or repr(attr.keys),
)
def test_lines_we_cannot_honour_are_skipped(refused: CryptoAttribute) -> None:
    """Weakening params, KDR, FEC keys, MKI, over-long lifetimes are skipped."""
    fallback = line(2, "AES_CM_128_HMAC_SHA1_80")
    assert choose([refused, fallback]) == (2, "AES_CM_128_HMAC_SHA1_80")
    with pytest.raises(RemoteSrtpError):
        choose([refused])


@pytest.mark.parametrize(
    "params",
    [
        ("WSH=64",),
        ("FEC_ORDER=FEC_SRTP",),
        ("FEC_ORDER=SRTP_FEC",),
        ("-FUTURE_OPTION=1", "WSH=100000"),
    ],
)
def test_harmless_params_and_lifetimes_are_accepted(params: tuple[str, ...]) -> None:
    """WSH, FEC_ORDER, '-'-prefixed params and in-range lifetimes are fine."""
    offer = [line(7, "AEAD_AES_128_GCM", *params)]
    assert choose(offer) == (7, "AEAD_AES_128_GCM")
    with_lifetime = parse_crypto(f"8 AEAD_AES_128_GCM inline:{KEY28}|2^48")
    assert choose([with_lifetime]) == (8, "AEAD_AES_128_GCM")


def test_duplicate_tags_and_empty_offers_are_refused() -> None:
    """Repeated tags make the answer ambiguous; nothing offered, nothing chosen."""
    with pytest.raises(RemoteSrtpError, match="unique"):
        choose([line(1, "AEAD_AES_128_GCM"), line(1, "AEAD_AES_256_GCM")])
    with pytest.raises(RemoteSrtpError, match="no acceptable"):
        choose([])


def test_window_size_hint() -> None:
    """WSH is read when valid (at least 64) and ignored otherwise."""
    assert window_size_hint(line(1, "AEAD_AES_128_GCM", "WSH=256")) == 256
    assert window_size_hint(line(1, "AEAD_AES_128_GCM", "WSH=8")) is None
    assert window_size_hint(line(1, "AEAD_AES_128_GCM", "KDR=1")) is None


def test_offer_has_one_fresh_key_per_suite() -> None:
    """Our offer lists acceptable suites best first, each with its own key."""
    offer = make_offer(SrtpPolicy(allow_32=True), random_source=counting_source)
    assert [attr.suite for attr in offer] == [
        "AEAD_AES_256_GCM",
        "AEAD_AES_128_GCM",
        "AES_CM_128_HMAC_SHA1_80",
        "AES_CM_128_HMAC_SHA1_32",
    ]
    assert [attr.tag for attr in offer] == [1, 2, 3, 4]
    fresh = make_offer(SrtpPolicy())
    assert len({attr.key_salt for attr in fresh}) == len(fresh)


def test_accept_answer() -> None:
    """A well-formed answer maps back to our offered line and its suite."""
    policy = SrtpPolicy()
    offer = make_offer(policy)
    answer = generate_key(AEAD_AES_128_GCM, tag=2)
    assert accept_answer(offer, answer, policy) == (offer[1], AEAD_AES_128_GCM)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda offer: generate_key(AEAD_AES_128_GCM, tag=9), "not offered"),
        (lambda offer: generate_key(AES_CM_128_HMAC_SHA1_80, tag=2), "changed"),
        (lambda offer: offer[1], "reused our key"),
        (
            lambda offer: parse_crypto(f"2 AEAD_AES_128_GCM inline:{KEY28} KDR=1"),
            "unacceptable",
        ),
    ],
)
def test_bad_answers_are_refused(mutate: object, fragment: str) -> None:
    """Unknown tags, changed suites, echoed keys and bad params are refused."""
    policy = SrtpPolicy()
    offer = make_offer(policy)
    assert callable(mutate)
    with pytest.raises(RemoteSrtpError, match=fragment):
        accept_answer(offer, mutate(offer), policy)


def test_accept_answer_refuses_suite_no_longer_allowed() -> None:
    """An answer for a suite the current policy refuses fails."""
    offer = make_offer(SrtpPolicy(allow_32=True))
    answer = generate_key(AES_CM_128_HMAC_SHA1_32, tag=4)
    with pytest.raises(RemoteSrtpError, match="no longer"):
        accept_answer(offer, answer, SrtpPolicy())


def test_keyparams_defaults() -> None:
    """A KeyParams without lifetime or MKI serialises to a bare inline key."""
    attr = CryptoAttribute(
        tag=1, suite="AEAD_AES_128_GCM", keys=(KeyParams(key_salt=bytes(28)),)
    )
    assert (
        serialize(attr)
        == f"1 AEAD_AES_128_GCM inline:{base64.b64encode(bytes(28)).decode()}"
    )
