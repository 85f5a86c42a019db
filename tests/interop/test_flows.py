"""Requests to a site reuse its registration flow; a new TLS flow only when gone."""

from __future__ import annotations

import socket
import ssl
import threading

import pytest

from tests.interop.conftest import GatewayFactory
from tests.interop.harness import (
    GatewayProcess,
    free_port,
    read_response,
    register_request,
    site_tls_context,
    status_of,
)

pytestmark = pytest.mark.interop


@pytest.fixture
def gateway(make_gateway: GatewayFactory) -> GatewayProcess:
    """Qualify every half second, so the test sees OPTIONS quickly."""
    return make_gateway(extra_config="\n[registrar]\nqualify_interval_s = 0.5\n")


def answer_options(stream: ssl.SSLSocket) -> str:
    """Read one OPTIONS request and answer it 200 like an endpoint would."""
    request = read_response(stream, timeout_s=10)  # Reads one header block.
    assert request.startswith("OPTIONS "), request
    kept = [
        line
        for line in request.split("\r\n")
        if line.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")
    ]
    lines = [
        line + ";tag=site" if line.lower().startswith("to:") else line for line in kept
    ]
    answer = "SIP/2.0 200 OK\r\n" + "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"
    stream.sendall(answer.encode())
    return request


def test_options_go_over_the_registration_flow_then_a_new_one(
    gateway: GatewayProcess,
) -> None:
    """Qualify uses the registered connection; after it closes, a new TLS one."""
    site = gateway.issue_site("xa-flow")
    listen_port = free_port()
    # The site's own TLS listener, as a room system has, with its certificate.
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(str(site.cert_path), str(site.key_path))
    server_context.load_verify_locations(str(gateway.ca_dir / "ca.crt"))
    server_context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", listen_port))
    accepted: list[tuple[ssl.SSLSocket, dict[str, object]]] = []

    def accept_one() -> None:
        raw, _ = listener.accept()
        tls = server_context.wrap_socket(raw, server_side=True)
        accepted.append((tls, tls.getpeercert() or {}))

    contact = f"<sip:xa-flow@127.0.0.1:{listen_port};transport=tls>"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as raw:
        with site_tls_context(gateway, site).wrap_socket(
            raw, server_hostname="localhost"
        ) as tls:
            tls.sendall(register_request("xa-flow", contact=contact))
            assert status_of(read_response(tls)) == 200
            registered_flow = gateway.wait_event("sip.register.accepted")["flow"]
            request = answer_options(tls)
            assert "OPTIONS sip:xa-flow@127.0.0.1" in request
            ok = gateway.wait_event("sip.qualify.ok", site="xa-flow")
            assert ok["flow"] == registered_flow
    # The registration flow is gone: the gateway must dial the contact itself.
    thread = threading.Thread(target=accept_one, daemon=True)
    thread.start()
    thread.join(15)
    listener.close()
    assert accepted, "the gateway did not open a new TLS connection to the site"
    inbound, gateway_cert = accepted[0]
    with inbound:
        subject = dict(x[0] for x in gateway_cert["subject"])  # type: ignore[index]
        assert subject["commonName"] == "localhost"  # The gateway's own certificate.
        answer_options(inbound)
        entries = []
        for _ in range(100):
            entries = [
                e
                for e in gateway.events("sip.qualify.ok")
                if e["site"] == "xa-flow" and e["flow"] != registered_flow
            ]
            if entries:
                break
            threading.Event().wait(0.1)
        assert entries, gateway.log_text()[-3000:]
