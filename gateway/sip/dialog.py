"""SIP dialogs (RFC 3261 §12), sans-IO.

A ``Dialog`` holds the state §12 defines: the id (Call-ID and both tags), the
local and remote CSeq numbers, the local and remote parties, the remote
target, the route set and the secure flag. It builds in-dialog requests
(§12.2.1.1) and checks requests and responses that belong to it (§12.2.2,
§12.2.1.2). ``DialogSet`` finds the dialog of a message by its id.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import Enum

from gateway.sip.errors import LocalSipError, RemoteSipError
from gateway.sip.grammar import NameAddr, parse_name_addr
from gateway.sip.ids import IdSource
from gateway.sip.message import Headers, SipRequest, SipResponse
from gateway.sip.uri import SipUri, Uri, parse_uri

__all__ = ["TARGET_REFRESH_METHODS", "Dialog", "DialogId", "DialogSet", "DialogState"]

# Requests whose Contact replaces the remote target: re-INVITE (§12.2),
# UPDATE (RFC 3311 §5.2), SUBSCRIBE and NOTIFY (RFC 6665 §4.1).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY"})
# Requests that carry our Contact: target refreshes and REFER (RFC 3515 §2.4.1).
_CONTACT_METHODS = TARGET_REFRESH_METHODS | {"REFER"}


class DialogState(Enum):
    """Dialog states (§12): early after a 1xx with a tag, confirmed after 2xx."""

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogId:
    """Dialog identifier (§12): Call-ID, local tag and remote tag."""

    call_id: str
    local_tag: str
    remote_tag: str


def _record_routes(message: SipRequest | SipResponse) -> list[NameAddr]:
    return [parse_name_addr(v) for v in message.headers.values("record-route")]


def _first_contact(message: SipRequest | SipResponse) -> str | None:
    contacts = message.headers.values("contact")
    return contacts[0] if contacts else None


def _is_sips(uri_text: str) -> bool:
    return uri_text.strip().lower().startswith("sips:")


class Dialog:
    """One dialog (§12). Build it with ``from_uac`` or ``from_uas``.

    ``local_seq`` is None until we send a request in it (the UAS side);
    ``remote_seq`` is None until the peer sends one (the UAC side).
    """

    def __init__(
        self,
        *,
        call_id: str,
        local_party: NameAddr,
        remote_party: NameAddr,
        remote_target: Uri,
        route_set: list[NameAddr],
        local_seq: int | None,
        remote_seq: int | None,
        local_contact: str | None,
        is_secure: bool,
        is_uac: bool,
        state: DialogState,
    ) -> None:
        self.call_id = call_id
        self.local_party = local_party
        self.remote_party = remote_party
        self.remote_target = remote_target
        self.route_set = route_set
        self.local_seq = local_seq
        self.remote_seq = remote_seq
        self.local_contact = local_contact
        self.is_secure = is_secure
        self.is_uac = is_uac
        self.state = state
        # The CSeq number of our latest INVITE, which its 2xx ACK reuses.
        self.invite_seq: int | None = None

    @property
    def id(self) -> DialogId:
        """The dialog id (§12)."""
        return DialogId(
            call_id=self.call_id,
            local_tag=self.local_party.tag or "",
            remote_tag=self.remote_party.tag or "",
        )

    @property
    def local_uri(self) -> Uri:
        """The local URI: our From URI as UAC, our To URI as UAS (§12.1)."""
        return self.local_party.uri

    @property
    def remote_uri(self) -> Uri:
        """The remote URI (§12.1)."""
        return self.remote_party.uri

    @classmethod
    def from_uac(
        cls, request: SipRequest, response: SipResponse, *, is_tls: bool = False
    ) -> Dialog:
        """The UAC's dialog from its request and a 101-299 response (§12.1.2).

        The route set is the response's Record-Route reversed; the remote
        target its Contact. Raises RemoteSipError when the response has no To
        tag, or a 2xx has no Contact; LocalSipError for other statuses or a
        request without From tag.
        """
        if not 101 <= response.status <= 299:
            raise LocalSipError(f"status {response.status} creates no dialog")
        if not response.to_addr.tag:
            raise RemoteSipError("dialog-creating response without To tag")
        if not request.from_addr.tag:
            raise LocalSipError("our request has no From tag")
        contacts = response.contacts
        if contacts:
            target = contacts[0].uri
        elif response.status >= 200:
            raise RemoteSipError("2xx without Contact")
        else:
            # Some devices omit Contact in 18x; the request URI is the best guess.
            target = parse_uri(request.uri)
        dialog = cls(
            call_id=request.call_id,
            local_party=request.from_addr,
            remote_party=response.to_addr,
            remote_target=target,
            route_set=list(reversed(_record_routes(response))),
            local_seq=request.cseq.seq,
            remote_seq=None,
            local_contact=_first_contact(request),
            is_secure=is_tls and _is_sips(request.uri),
            is_uac=True,
            state=DialogState.EARLY if response.status < 200 else DialogState.CONFIRMED,
        )
        if request.method == "INVITE":
            dialog.invite_seq = request.cseq.seq
        return dialog

    @classmethod
    def from_uas(
        cls, request: SipRequest, response: SipResponse, *, is_tls: bool = False
    ) -> Dialog:
        """The UAS's dialog from a request and our 101-299 response (§12.1.1).

        The route set is the request's Record-Route in order; the remote
        target its Contact. Raises RemoteSipError(400) when the request has
        no Contact; LocalSipError when our response has no To tag or a status
        that creates no dialog.
        """
        if not 101 <= response.status <= 299:
            raise LocalSipError(f"status {response.status} creates no dialog")
        if not response.to_addr.tag:
            raise LocalSipError("our dialog-creating response has no To tag")
        contacts = request.contacts
        if not contacts:
            raise RemoteSipError("dialog-creating request without Contact")
        return cls(
            call_id=request.call_id,
            local_party=response.to_addr,
            remote_party=request.from_addr,
            remote_target=contacts[0].uri,
            route_set=_record_routes(request),
            local_seq=None,
            remote_seq=request.cseq.seq,
            local_contact=_first_contact(response),
            is_secure=is_tls and _is_sips(request.uri),
            is_uac=False,
            state=DialogState.EARLY if response.status < 200 else DialogState.CONFIRMED,
        )

    # ------------------------------------------------------------ sending

    def create_request(
        self,
        method: str,
        *,
        ids: IdSource,
        via_sent_by: str,
        via_transport: str = "UDP",
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: list[tuple[str, str]] | None = None,
    ) -> SipRequest:
        """Build an in-dialog request (§12.2.1.1) with a fresh Via branch.

        The CSeq number is one above the last local one (a random start when
        empty); ACK reuses the INVITE's number (§13.2.2.4). Request-URI and
        Route follow the route set (loose or strict routing). BYE terminates
        the dialog (§15.1.1). Raises LocalSipError for CANCEL (use
        ``make_cancel``), for ACK with no INVITE sent, or once terminated.
        """
        if self.state is DialogState.TERMINATED:
            raise LocalSipError("dialog is terminated")
        seq = self._next_seq(method, ids)
        request_uri, routes = self._routing()
        headers = Headers(
            [
                (
                    "Via",
                    f"SIP/2.0/{via_transport} {via_sent_by};branch={ids.new_branch()}",
                )
            ]
        )
        headers.add("Max-Forwards", "70")
        for route in routes:
            headers.add("Route", str(route))
        headers.add("From", str(self.local_party))
        headers.add("To", str(self.remote_party))
        headers.add("Call-ID", self.call_id)
        headers.add("CSeq", f"{seq} {method}")
        if self.local_contact is not None and method in _CONTACT_METHODS:
            headers.add("Contact", self.local_contact)
        for name, value in extra_headers or []:
            headers.add(name, value)
        if content_type is not None:
            headers.add("Content-Type", content_type)
        if method == "BYE":
            self.state = DialogState.TERMINATED
        return SipRequest(headers=headers, body=body, method=method, uri=request_uri)

    def _next_seq(self, method: str, ids: IdSource) -> int:
        if method == "CANCEL":
            raise LocalSipError("CANCEL is built from the request: use make_cancel")
        if method == "ACK":
            if self.invite_seq is None:
                raise LocalSipError("no INVITE to acknowledge in this dialog")
            return self.invite_seq
        seq = ids.new_cseq() if self.local_seq is None else self.local_seq + 1
        self.local_seq = seq
        if method == "INVITE":
            self.invite_seq = seq
        return seq

    def _routing(self) -> tuple[str, list[NameAddr]]:
        """Request-URI and Route values (§12.2.1.1)."""
        if not self.route_set:
            return str(self.remote_target), []
        first = self.route_set[0].uri
        if not isinstance(first, SipUri) or first.param("lr") is not None:
            return str(self.remote_target), list(self.route_set)
        # Strict routing (RFC 2543 next hop): the first route becomes the
        # Request-URI and the remote target goes last in Route.
        request_uri = str(replace(first, headers=()))
        return request_uri, [*self.route_set[1:], NameAddr(uri=self.remote_target)]

    # ------------------------------------------------------------ receiving

    def receive_request(self, request: SipRequest) -> None:
        """Account for a request the peer sent in this dialog (§12.2.2).

        Updates the remote CSeq and, for target refreshes, the remote target;
        a BYE terminates the dialog. Raises RemoteSipError(481) if the request
        is not in this dialog, RemoteSipError(500) if its CSeq is lower than
        the remote sequence number.
        """
        if (
            request.call_id != self.call_id
            or (request.to_addr.tag or "") != self.id.local_tag
            or (request.from_addr.tag or "") != self.id.remote_tag
        ):
            raise RemoteSipError("request is not in this dialog", status=481)
        if request.method in ("ACK", "CANCEL"):
            # Both reuse the CSeq number of the request they refer to.
            return
        seq = request.cseq.seq
        if self.remote_seq is not None and seq < self.remote_seq:
            raise RemoteSipError(
                f"CSeq {seq} below remote sequence {self.remote_seq}", status=500
            )
        self.remote_seq = seq
        if request.method in TARGET_REFRESH_METHODS and request.contacts:
            self.remote_target = request.contacts[0].uri
        if request.method == "BYE":
            self.state = DialogState.TERMINATED

    def receive_response(self, response: SipResponse) -> None:
        """Account for a response to a request we sent in this dialog.

        A 2xx to INVITE confirms an early dialog and recomputes its route set
        (§13.2.2.4); a 2xx to a target refresh updates the remote target
        (§12.2.1.2); 300-699 to the INVITE ends an early dialog (§13.2.2.3),
        and 481 or 408 to anything ends the dialog (§12.2.1.2).
        """
        method = response.cseq.method
        status = response.status
        if status in (408, 481):
            self.state = DialogState.TERMINATED
            return
        if 200 <= status <= 299:
            if method in TARGET_REFRESH_METHODS and response.contacts:
                self.remote_target = response.contacts[0].uri
            if method == "INVITE" and self.state is DialogState.EARLY:
                if self.is_uac:
                    self.route_set = list(reversed(_record_routes(response)))
                self.state = DialogState.CONFIRMED
        elif status >= 300 and method == "INVITE" and self.state is DialogState.EARLY:
            self.state = DialogState.TERMINATED


class DialogSet:
    """Dialogs of one endpoint, found by dialog id.

    For a received request the local tag is its To tag; for a received
    response it is the From tag (§12).
    """

    def __init__(self) -> None:
        self._dialogs: dict[DialogId, Dialog] = {}

    def __len__(self) -> int:
        return len(self._dialogs)

    def __iter__(self) -> Iterator[Dialog]:
        return iter(list(self._dialogs.values()))

    def add(self, dialog: Dialog) -> None:
        """Store ``dialog``. Raises LocalSipError if its id is already in use."""
        if dialog.id in self._dialogs:
            raise LocalSipError(f"dialog already exists: {dialog.id}")
        self._dialogs[dialog.id] = dialog

    def remove(self, dialog_id: DialogId) -> Dialog | None:
        """Forget a dialog; returns it, or None if unknown."""
        return self._dialogs.pop(dialog_id, None)

    def get(self, dialog_id: DialogId) -> Dialog | None:
        """The dialog with this id, or None."""
        return self._dialogs.get(dialog_id)

    def find_for_request(self, request: SipRequest) -> Dialog | None:
        """The dialog a received request belongs to, or None."""
        return self._dialogs.get(
            DialogId(
                call_id=request.call_id,
                local_tag=request.to_addr.tag or "",
                remote_tag=request.from_addr.tag or "",
            )
        )

    def find_for_response(self, response: SipResponse) -> Dialog | None:
        """The dialog a received response belongs to, or None."""
        return self._dialogs.get(
            DialogId(
                call_id=response.call_id,
                local_tag=response.from_addr.tag or "",
                remote_tag=response.to_addr.tag or "",
            )
        )
