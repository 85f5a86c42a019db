"""TPKT framing (RFC 1006 section 6) for H.225.0 call signalling and H.245 on TCP.

A TPKT is ``03 00 <length:2>`` followed by the payload, where ``length`` counts
the four header octets too.  Sans-IO: feed received bytes, get whole payloads.
"""

from gateway.h323.errors import CAUSE_INVALID_MESSAGE, LocalH323Error, RemoteH323Error

__all__ = ["HEADER_SIZE_BYTES", "MAX_TPKT_SIZE_BYTES", "TpktFramer", "encode_tpkt"]

TPKT_VERSION = 3
HEADER_SIZE_BYTES = 4
MAX_TPKT_SIZE_BYTES = 0xFFFF


def encode_tpkt(payload: bytes) -> bytes:
    """Wrap ``payload`` in a TPKT header (RFC 1006 section 6).

    Raises LocalH323Error if the payload does not fit in one TPKT.
    """
    size = len(payload) + HEADER_SIZE_BYTES
    if size > MAX_TPKT_SIZE_BYTES:
        raise LocalH323Error(f"TPKT payload too large: {len(payload)} bytes")
    return bytes((TPKT_VERSION, 0)) + size.to_bytes(2, "big") + payload


class TpktFramer:
    """Reassembles TPKT payloads from a TCP byte stream.

    ``max_pdu_size_bytes`` bounds the TPKT length (header included) and is
    checked on the header, before buffering the body.
    """

    def __init__(self, *, max_pdu_size_bytes: int = 16384) -> None:
        if not HEADER_SIZE_BYTES < max_pdu_size_bytes <= MAX_TPKT_SIZE_BYTES:
            raise LocalH323Error(f"bad max_pdu_size_bytes {max_pdu_size_bytes}")
        self._max_size = max_pdu_size_bytes
        self._buffer = bytearray()

    def receive_data(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the payloads of every TPKT now complete.

        Raises RemoteH323Error on a version other than 3 or a length below 4
        or above the limit; the stream cannot be resynchronised after that.
        """
        self._buffer += data
        payloads: list[bytes] = []
        while len(self._buffer) >= HEADER_SIZE_BYTES:
            size = self._check_header(bytes(self._buffer[:HEADER_SIZE_BYTES]))
            if len(self._buffer) < size:
                break
            payloads.append(bytes(self._buffer[HEADER_SIZE_BYTES:size]))
            del self._buffer[:size]
        return payloads

    def _check_header(self, header: bytes) -> int:
        if header[0] != TPKT_VERSION:
            raise RemoteH323Error(
                f"TPKT version {header[0]} is not 3", q931_cause=CAUSE_INVALID_MESSAGE
            )
        size = int.from_bytes(header[2:4], "big")
        # A zero-length payload (size 4) is legal TPKT; only shorter is broken.
        if size < HEADER_SIZE_BYTES or size > self._max_size:
            raise RemoteH323Error(
                f"TPKT length {size} outside 4..{self._max_size}",
                q931_cause=CAUSE_INVALID_MESSAGE,
            )
        return size

    @property
    def buffered_size_bytes(self) -> int:
        """Bytes received but not yet returned as a payload."""
        return len(self._buffer)

    @property
    def partial_payload(self) -> bytes:
        """The received start of an incomplete TPKT's payload (maybe empty)."""
        return bytes(self._buffer[HEADER_SIZE_BYTES:])
