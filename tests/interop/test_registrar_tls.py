"""Registrar over real mutual TLS on loopback, against a real gateway process."""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gateway.pki.ca import CertificateAuthority
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
    """A gateway that also has plain TCP and UDP listeners (for trunks)."""
    udp_port, tcp_port = free_port(socket.SOCK_DGRAM), free_port()
    process = make_gateway(
        extra_config=(
            f'\n[plain]\ntcp = ["127.0.0.1:{tcp_port}"]\n'
            f'udp = ["127.0.0.1:{udp_port}"]\n'
        )
    )
    process.plain_tcp_port, process.plain_udp_port = tcp_port, udp_port
    return process


def connect(gateway: GatewayProcess, context: ssl.SSLContext) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", gateway.port), timeout=10)
    return context.wrap_socket(raw, server_hostname="localhost")


def test_register_refresh_unregister_and_listing(gateway: GatewayProcess) -> None:
    """A site registers with its certificate, refreshes, and unregisters."""
    site = gateway.issue_site("xa-ia-hrung")
    with connect(gateway, site_tls_context(gateway, site)) as tls:
        tls.sendall(register_request("xa-ia-hrung", cseq=1, call_id="c1"))
        first = read_response(tls)
        assert status_of(first) == 200, first
        assert ";expires=300" in first
        rows = gateway.registrations()
        assert [r["site"] for r in rows] == ["xa-ia-hrung"]
        assert rows[0]["transport"] == "TLS"
        assert rows[0]["cert_serial"] == site.serial_hex
        tls.sendall(register_request("xa-ia-hrung", cseq=2, call_id="c1", expires=1200))
        refreshed = read_response(tls)
        assert status_of(refreshed) == 200 and ";expires=1200" in refreshed
        tls.sendall(register_request("xa-ia-hrung", cseq=3, call_id="c1", expires=0))
        removed = read_response(tls)
        assert status_of(removed) == 200
        assert "Contact:" not in removed
    assert gateway.registrations() == []


def test_other_sites_aor_is_forbidden(gateway: GatewayProcess) -> None:
    """Site A's certificate registering as site B gets 403 and a log line why."""
    site_a = gateway.issue_site("xa-a")
    gateway.issue_site("xa-b")
    with connect(gateway, site_tls_context(gateway, site_a)) as tls:
        tls.sendall(register_request("xa-a", aor_user="xa-b"))
        response = read_response(tls)
    assert status_of(response) == 403
    assert "Warning: 399" in response
    refusal = gateway.wait_event("sip.register.refused", site="xa-a")
    assert "xa-b" in refusal["reason"]
    assert gateway.registrations() == []


def test_certificate_from_another_ca_fails_handshake(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    """A certificate of a foreign CA, even with a matching name, gets no entry."""
    rogue = CertificateAuthority.create(
        tmp_path / "rogue",
        org="rogue",
        domain="vcgw.test",
        key_type="ec-p256",
        now=datetime.now(UTC),
    )
    fake = rogue.issue_site("xa-a", key_type="ec-p256", now=datetime.now(UTC))
    context = site_tls_context(gateway, fake)
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with connect(gateway, context) as tls:
            tls.sendall(register_request("xa-a"))
            read_response(tls, timeout_s=5)
    assert gateway.registrations() == []


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_no_client_certificate_fails_handshake(
    gateway: GatewayProcess, version: ssl.TLSVersion
) -> None:
    """Without a client certificate the handshake fails (TLS 1.2 and 1.3)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(str(gateway.ca_dir / "ca.crt"))
    context.minimum_version = context.maximum_version = version
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with connect(gateway, context) as tls:
            tls.sendall(register_request("xa-a"))
            read_response(tls, timeout_s=5)


# Python warns that TLS 1.0/1.1 are deprecated: this test uses them on purpose.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_old_tls_versions_are_refused(gateway: GatewayProcess) -> None:
    """TLS 1.1 is refused even with a valid site certificate."""
    site = gateway.issue_site("xa-old")
    context = site_tls_context(gateway, site)
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        connect(gateway, context).close()


def test_revoked_site_is_dropped_within_5s_and_refused(gateway: GatewayProcess) -> None:
    """`vcgw ca revoke` closes the site's open connection and removes its binding."""
    site = gateway.issue_site("xa-revoked")
    other = gateway.issue_site("xa-stays")
    context = site_tls_context(gateway, site)
    with (
        connect(gateway, context) as tls,
        connect(gateway, site_tls_context(gateway, other)) as other_tls,
    ):
        tls.sendall(register_request("xa-revoked"))
        assert status_of(read_response(tls)) == 200
        other_tls.sendall(register_request("xa-stays"))
        assert status_of(read_response(other_tls)) == 200
        gateway.ca_cli("revoke", "xa-revoked", "--reason", "key-compromise")
        revoked_at = time.monotonic()
        tls.settimeout(6)
        with pytest.raises((ConnectionError, ssl.SSLError, OSError, AssertionError)):
            data = tls.recv(1024)
            assert data != b"", "connection still open"
            raise AssertionError(f"unexpected data {data!r}")
        assert time.monotonic() - revoked_at < 5.0
        # The other site keeps its connection and binding.
        other_tls.sendall(b"\r\n\r\n")
        other_tls.settimeout(5)
        assert other_tls.recv(16) == b"\r\n"
    assert [r["site"] for r in gateway.registrations()] == ["xa-stays"]
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with connect(gateway, context) as again:
            again.sendall(register_request("xa-revoked"))
            read_response(again, timeout_s=5)


def test_plain_tcp_and_udp_register_is_refused(gateway: GatewayProcess) -> None:
    """Sites may never register over plain TCP or UDP listeners: 403."""
    tcp_port, udp_port = gateway.plain_tcp_port, gateway.plain_udp_port
    assert tcp_port is not None and udp_port is not None
    with socket.create_connection(("127.0.0.1", tcp_port), timeout=5) as tcp:
        tcp.sendall(register_request("xa-a", transport="TCP"))
        assert status_of(read_response(tcp)) == 403
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(register_request("xa-a", transport="UDP"), ("127.0.0.1", udp_port))
        data, _ = udp.recvfrom(65536)
        assert status_of(data.decode()) == 403
    assert gateway.registrations() == []


def test_keepalive_ping_gets_pong_and_options_answered(gateway: GatewayProcess) -> None:
    """RFC 5626 CRLFCRLF ping gets a CRLF pong; OPTIONS gets 200 with Allow."""
    site = gateway.issue_site("xa-ka")
    with connect(gateway, site_tls_context(gateway, site)) as tls:
        tls.sendall(b"\r\n\r\n")
        assert tls.recv(16) == b"\r\n"
        options = (
            "OPTIONS sip:vcgw.test SIP/2.0\r\n"
            "Via: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKopt1\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:xa-ka@vcgw.test>;tag=a\r\n"
            "To: <sip:vcgw.test>\r\nCall-ID: opt-1\r\nCSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        tls.sendall(options.encode())
        response = read_response(tls)
    assert status_of(response) == 200
    assert "Allow: " in response and "REGISTER" in response


def test_garbage_gets_400_or_close_and_gateway_keeps_serving(
    gateway: GatewayProcess,
) -> None:
    """A malformed request gets 400; framing garbage closes only that connection."""
    site = gateway.issue_site("xa-bad")
    context = site_tls_context(gateway, site)
    with connect(gateway, context) as tls:
        bad = register_request("xa-bad").replace(
            b"CSeq: 1 REGISTER", b"CSeq: x REGISTER"
        )
        tls.sendall(bad)
        assert status_of(read_response(tls)) == 400
    with connect(gateway, context) as tls:
        tls.sendall(b"\x16\x03\x01garbage\r\n\r\n" * 10)
        tls.settimeout(5)
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            assert tls.recv(1024) == b""
    with connect(gateway, context) as tls:
        tls.sendall(register_request("xa-bad"))
        assert status_of(read_response(tls)) == 200


def test_bindings_survive_a_restart(gateway: GatewayProcess) -> None:
    """Bindings are persisted in SQLite and reloaded on start."""
    site = gateway.issue_site("xa-persist")
    with connect(gateway, site_tls_context(gateway, site)) as tls:
        tls.sendall(register_request("xa-persist", expires=600))
        assert status_of(read_response(tls)) == 200
    assert gateway.stop() == 0
    gateway.start()
    ready = gateway.events("gateway.ready")[-1]
    assert ready["registrations"] == 1
    assert [r["site"] for r in gateway.registrations()] == ["xa-persist"]
