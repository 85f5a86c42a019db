"""TPKT framing (RFC 1006 section 6)."""

import pytest

from gateway.h323.errors import LocalH323Error, RemoteH323Error
from gateway.h323.tpkt import TpktFramer, encode_tpkt

PAYLOADS = [b"\x08\x02\x00\x01\x05", b"x" * 300, b"\x01"]
STREAM = b"".join(encode_tpkt(p) for p in PAYLOADS)


def test_encode_prefixes_version_and_total_length() -> None:
    """The header is 03 00 and a big-endian length that includes itself."""
    assert encode_tpkt(b"abc") == b"\x03\x00\x00\x07abc"


def test_encode_rejects_payload_beyond_65531_bytes() -> None:
    """A payload that does not fit a 16-bit TPKT length is our bug."""
    assert len(encode_tpkt(bytes(65531))) == 65535
    with pytest.raises(LocalH323Error):
        encode_tpkt(bytes(65532))


def test_whole_stream_gives_every_payload() -> None:
    """Several TPKTs in one read come out in order."""
    assert TpktFramer().receive_data(STREAM) == PAYLOADS


def test_byte_by_byte_gives_every_payload_once() -> None:
    """Feeding one byte at a time yields each payload when its last byte arrives."""
    framer = TpktFramer()
    out: list[bytes] = []
    for byte in STREAM:
        out += framer.receive_data(bytes((byte,)))
    assert out == PAYLOADS
    assert framer.buffered_size_bytes == 0


def test_trailing_partial_tpkt_is_kept_for_the_next_read() -> None:
    """Bytes after the last complete TPKT stay buffered until completed."""
    framer = TpktFramer()
    tail = encode_tpkt(b"next")
    assert framer.receive_data(STREAM + tail[:5]) == PAYLOADS
    assert framer.buffered_size_bytes == 5
    assert framer.receive_data(tail[5:]) == [b"next"]


def test_empty_payload_is_allowed() -> None:
    """Length 4 is a TPKT with nothing inside, which is not an error."""
    assert TpktFramer().receive_data(b"\x03\x00\x00\x04") == [b""]


@pytest.mark.parametrize(
    "header",
    [
        b"\x02\x00\x00\x08",
        b"\x03\x00\x00\x03",
        b"\x03\x00\x00\x00",
        b"\x03\x00\x40\x01",
    ],
    ids=["version-2", "length-3", "length-0", "over-limit"],
)
def test_bad_header_raises_remote_error(header: bytes) -> None:
    """A wrong version or a length outside 4..limit is the peer's fault (cause 95)."""
    with pytest.raises(RemoteH323Error) as info:
        TpktFramer(max_pdu_size_bytes=16384).receive_data(header)
    assert info.value.q931_cause == 95


def test_limit_is_checked_before_the_body_arrives() -> None:
    """An oversized length fails on the header alone, without buffering the body."""
    framer = TpktFramer(max_pdu_size_bytes=100)
    assert framer.receive_data(encode_tpkt(bytes(96))) == [bytes(96)]
    with pytest.raises(RemoteH323Error):
        framer.receive_data(b"\x03\x00\x00\x65")


@pytest.mark.parametrize("limit", [4, 65536])
def test_limit_must_fit_tpkt(limit: int) -> None:
    """The configured limit must leave room for a payload and fit 16 bits."""
    with pytest.raises(LocalH323Error):
        TpktFramer(max_pdu_size_bytes=limit)
