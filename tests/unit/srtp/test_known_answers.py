"""Known-answer tests: our libsrtp wrapper against RFC 3711 and RFC 7714.

libsrtp takes master keys while the RFC 7714 examples start from session keys,
so a small oracle built on ``cryptography`` (test code only) is first pinned
to every RFC vector, then used to check whole packets from our wrapper. See
tests/corpus/srtp/README.md for provenance.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.srtp.session import Direction, SrtpContext
from gateway.srtp.suites import SrtpSuite, suite_by_name

CORPUS = json.loads(
    (Path(__file__).parents[2] / "corpus" / "srtp" / "vectors.json").read_text()
)

# RFC 3711 §4.3.1 and §4.3.2 labels: SRTP 0..2, SRTCP 3..5.
_ENC, _AUTH, _SALT = 0, 1, 2
_RTCP_LABELS = 3


def _hex(text: str) -> bytes:
    return bytes.fromhex(text)


# ---------------------------------------------------------------- the oracle


def _aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def _kdf(master_key: bytes, master_salt: bytes, label: int, size: int) -> bytes:
    """RFC 3711 §4.3.1 with KDR 0; 96-bit GCM salts times 2^16 (erratum 4938)."""
    x = bytearray(master_salt.ljust(14, b"\0"))
    x[7] ^= label
    return _aes_ctr(master_key, bytes(x) + b"\0\0", bytes(size))


def _cm_iv(salt: bytes, ssrc: int, index: int) -> bytes:
    """RFC 3711 §4.1.1: IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16)."""
    value = int.from_bytes(salt + b"\0\0", "big") ^ (ssrc << 64) ^ (index << 16)
    return value.to_bytes(16, "big")


def _xor(left: bytes, right: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(left, right, strict=True))


def _gcm_srtp(key: bytes, salt: bytes, packet: bytes, roc: int) -> bytes:
    """RFC 7714 §8.1 IV and §8.2 AAD, for a packet without CSRCs or extension."""
    (seq,) = struct.unpack("!H", packet[2:4])
    iv = _xor(b"\0\0" + packet[8:12] + struct.pack("!IH", roc, seq), salt)
    return packet[:12] + AESGCM(key).encrypt(iv, packet[12:], packet[:12])


def _gcm_srtcp(key: bytes, salt: bytes, packet: bytes, index: int) -> bytes:
    """RFC 7714 §9.1 IV and §9.2 AAD, encrypted (E flag set)."""
    iv = _xor(b"\0\0" + packet[4:8] + struct.pack("!HI", 0, index), salt)
    trailer = struct.pack("!I", 0x80000000 | index)
    sealed = AESGCM(key).encrypt(iv, packet[8:], packet[:8] + trailer)
    return packet[:8] + sealed + trailer


def _cm_srtp(master: bytes, salt: bytes, packet: bytes, tag_bytes: int) -> bytes:
    """RFC 3711 §3.3 and §4.1.1-4.2 for ROC 0 and no CSRCs."""
    key = _kdf(master, salt, _ENC, 16)
    session_salt = _kdf(master, salt, _SALT, 14)
    auth_key = _kdf(master, salt, _AUTH, 20)
    (seq,) = struct.unpack("!H", packet[2:4])
    (ssrc,) = struct.unpack("!I", packet[8:12])
    body = packet[:12] + _aes_ctr(key, _cm_iv(session_salt, ssrc, seq), packet[12:])
    tag = hmac.new(auth_key, body + b"\0\0\0\0", hashlib.sha1).digest()
    return body + tag[:tag_bytes]


def _cm_srtcp(master: bytes, salt: bytes, packet: bytes, index: int) -> bytes:
    """RFC 3711 §3.4: encrypted SRTCP with an 80-bit tag."""
    key = _kdf(master, salt, _RTCP_LABELS + _ENC, 16)
    session_salt = _kdf(master, salt, _RTCP_LABELS + _SALT, 14)
    auth_key = _kdf(master, salt, _RTCP_LABELS + _AUTH, 20)
    (ssrc,) = struct.unpack("!I", packet[4:8])
    encrypted = _aes_ctr(key, _cm_iv(session_salt, ssrc, index), packet[8:])
    body = packet[:8] + encrypted + struct.pack("!I", 0x80000000 | index)
    return body + hmac.new(auth_key, body, hashlib.sha1).digest()[:10]


def _oracle_packets(suite: SrtpSuite, vector: dict[str, Any]) -> tuple[bytes, bytes]:
    master, salt = _hex(vector["master_key"]), _hex(vector["master_salt"])
    rtp, rtcp = _hex(vector["rtp"]), _hex(vector["rtcp"])
    index = vector["srtcp_index"]
    if suite.name.startswith("AEAD"):
        size = suite.master_key_bytes
        rtp_key, rtp_salt = (
            _kdf(master, salt, _ENC, size),
            _kdf(master, salt, _SALT, 12),
        )
        rtcp_key = _kdf(master, salt, _RTCP_LABELS + _ENC, size)
        rtcp_salt = _kdf(master, salt, _RTCP_LABELS + _SALT, 12)
        return (
            _gcm_srtp(rtp_key, rtp_salt, rtp, 0),
            _gcm_srtcp(rtcp_key, rtcp_salt, rtcp, index),
        )
    return (
        _cm_srtp(master, salt, rtp, suite.rtp_tag_bytes),
        _cm_srtcp(master, salt, rtcp, index),
    )


# ------------------------------------------------- the oracle against the RFCs


def test_oracle_reproduces_rfc3711_b2_keystream() -> None:
    """The oracle's AES-CM IV and keystream equal RFC 3711 Appendix B.2."""
    vector = CORPUS["rfc3711_b2_aes_cm_keystream"]
    iv = _cm_iv(_hex(vector["session_salt"]), vector["ssrc"], vector["packet_index"])
    keystream = _aes_ctr(_hex(vector["session_key"]), iv, bytes(16 * 0xFF02))
    for block, expected in vector["blocks"].items():
        start = 16 * int(block)
        assert keystream[start : start + 16] == _hex(expected)


def test_oracle_reproduces_rfc3711_b3_key_derivation() -> None:
    """The oracle's key derivation equals RFC 3711 Appendix B.3."""
    vector = CORPUS["rfc3711_b3_key_derivation"]
    master, salt = _hex(vector["master_key"]), _hex(vector["master_salt"])
    assert _kdf(master, salt, _ENC, 16) == _hex(vector["cipher_key"])
    assert _kdf(master, salt, _SALT, 14) == _hex(vector["cipher_salt"])
    assert _kdf(master, salt, _AUTH, 20) == _hex(vector["auth_key"])


@pytest.mark.parametrize(
    "vector", CORPUS["rfc7714_aead"], ids=lambda vector: vector["suite"]
)
def test_oracle_reproduces_rfc7714_packets(vector: dict[str, Any]) -> None:
    """The oracle's AES-GCM SRTP and SRTCP equal the RFC 7714 examples."""
    key, salt = _hex(vector["session_key"]), _hex(vector["session_salt"])
    srtp = _gcm_srtp(key, salt, _hex(vector["rtp"]), vector["roc"])
    srtcp = _gcm_srtcp(key, salt, _hex(vector["rtcp"]), vector["srtcp_index"])
    assert srtp == _hex(vector["srtp"])
    assert srtcp == _hex(vector["srtcp"])


# ------------------------------------------ our wrapper against the oracle


WHOLE_PACKETS = CORPUS["whole_packet"]


def _suite(vector: dict[str, Any]) -> SrtpSuite:
    suite = suite_by_name(vector["suite"])
    assert suite is not None
    return suite


def _key_salt(vector: dict[str, Any]) -> bytes:
    return _hex(vector["master_key"]) + _hex(vector["master_salt"])


@pytest.mark.parametrize("vector", WHOLE_PACKETS, ids=lambda vector: vector["suite"])
def test_corpus_literals_match_oracle(vector: dict[str, Any]) -> None:
    """The stored whole packets are what the RFC-pinned oracle computes."""
    srtp, srtcp = _oracle_packets(_suite(vector), vector)
    assert srtp == _hex(vector["srtp"])
    assert srtcp == _hex(vector["srtcp"])


@pytest.mark.parametrize("vector", WHOLE_PACKETS, ids=lambda vector: vector["suite"])
def test_protect_produces_known_packets(vector: dict[str, Any]) -> None:
    """Our outbound context produces exactly the known SRTP and SRTCP bytes."""
    context = SrtpContext(
        suite=_suite(vector), key_salt=_key_salt(vector), direction=Direction.OUTBOUND
    )
    assert context.protect_rtp(_hex(vector["rtp"])) == _hex(vector["srtp"])
    assert context.protect_rtcp(_hex(vector["rtcp"])) == _hex(vector["srtcp"])


@pytest.mark.parametrize("vector", WHOLE_PACKETS, ids=lambda vector: vector["suite"])
def test_unprotect_recovers_known_packets(vector: dict[str, Any]) -> None:
    """Our inbound context decrypts the known packets back to the plaintext."""
    context = SrtpContext(
        suite=_suite(vector), key_salt=_key_salt(vector), direction=Direction.INBOUND
    )
    assert context.unprotect_rtp(_hex(vector["srtp"])) == _hex(vector["rtp"])
    assert context.unprotect_rtcp(_hex(vector["srtcp"])) == _hex(vector["rtcp"])


def test_every_supported_suite_has_a_known_answer() -> None:
    """The whole-packet vectors cover every suite libsrtp runs for us."""
    from gateway.srtp.suites import SUITES

    covered = {vector["suite"] for vector in WHOLE_PACKETS}
    assert covered == {name for name, suite in SUITES.items() if suite.is_supported}
