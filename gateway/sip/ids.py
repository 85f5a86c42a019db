"""Random SIP identifiers and transaction keys (RFC 3261 §8.1.1, §17.1.3, §17.2.3).

Tags, branches, Call-IDs and SSRCs come from ``secrets`` through an injectable
byte source, so tests can make them deterministic.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from gateway.sip.errors import RemoteSipError
from gateway.sip.message import SipMessage, SipRequest

__all__ = [
    "MAGIC_COOKIE",
    "IdSource",
    "TransactionKey",
    "client_key",
    "server_key",
]

# RFC 3261 §8.1.1.7: branches of RFC 3261 elements start with this cookie.
MAGIC_COOKIE = "z9hG4bK"


class IdSource:
    """Factory of random protocol identifiers.

    ``random_bytes(n)`` must return ``n`` unpredictable bytes; the default is
    ``secrets.token_bytes``.
    """

    __slots__ = ("_random_bytes",)

    def __init__(
        self, random_bytes: Callable[[int], bytes] = secrets.token_bytes
    ) -> None:
        self._random_bytes = random_bytes

    def _hex(self, size_bytes: int) -> str:
        return self._random_bytes(size_bytes).hex()

    def new_branch(self) -> str:
        """A Via branch unique in space and time, with the magic cookie (§8.1.1.7)."""
        return MAGIC_COOKIE + self._hex(12)

    def new_tag(self) -> str:
        """A From/To tag with at least 32 random bits (§19.3)."""
        return self._hex(8)

    def new_call_id(self, host: str | None = None) -> str:
        """A unique Call-ID, ``random@host`` if ``host`` is given (§8.1.1.4)."""
        local = self._hex(16)
        return f"{local}@{host}" if host else local

    def new_cseq(self) -> int:
        """An initial CSeq number below 2**31 (§8.1.1.5); never zero."""
        return int.from_bytes(self._random_bytes(4), "big") % (2**31 - 1) + 1

    def new_ssrc(self) -> int:
        """A random 32-bit RTP SSRC (RFC 3550 §8.1)."""
        return int.from_bytes(self._random_bytes(4), "big")


@dataclass(frozen=True, slots=True, kw_only=True)
class TransactionKey:
    """Identity of one SIP transaction, as the transaction layer matches it.

    Client keys (§17.1.3) are the top Via branch and the CSeq method, with an
    empty ``sent_by``. Server keys (§17.2.3) add the top Via sent-by; ACK is
    keyed as INVITE so that it finds its INVITE transaction. For RFC 2543
    peers (no magic cookie) ``branch`` is a synthetic value built from the
    fields §17.2.3 compares.
    """

    branch: str
    method: str
    sent_by: str = ""
    is_server: bool = False


def client_key(message: SipMessage) -> TransactionKey:
    """Client transaction key of a request we send or a response we receive.

    §17.1.3: top Via branch plus CSeq method. Raises RemoteSipError(400) when
    the message has no Via branch or no valid CSeq.
    """
    via = message.top_via
    if via is None or not via.branch:
        raise RemoteSipError("no Via branch")
    return TransactionKey(branch=via.branch, method=message.cseq.method)


def server_key(request: SipRequest) -> TransactionKey:
    """Server transaction key of a received request (§17.2.3).

    Branch, sent-by and method, with ACK keyed as INVITE. For a branch without
    the magic cookie (RFC 2543 peers) the key is built from Request-URI, From
    tag, Call-ID, CSeq number and the whole top Via; the To tag is left out so
    that the ACK (which carries the response's tag) finds its INVITE.
    Raises RemoteSipError(400) when Via or CSeq are missing or malformed.
    """
    via = request.top_via
    if via is None:
        raise RemoteSipError("request without Via")
    method = "INVITE" if request.method == "ACK" else request.method
    branch = via.branch or ""
    if branch.startswith(MAGIC_COOKIE):
        return TransactionKey(
            branch=branch, method=method, sent_by=via.sent_by.lower(), is_server=True
        )
    parts = (
        request.uri,
        request.from_addr.tag or "",
        request.call_id,
        str(request.cseq.seq),
        str(via),
    )
    return TransactionKey(
        branch="rfc2543|" + "|".join(parts), method=method, is_server=True
    )
