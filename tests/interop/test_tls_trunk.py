"""A TLS trunk with mandatory SRTP (the national network), played by SIPp behind
stunnel: the gateway verifies the trunk's certificate and name, presents its
own, and sends SDES keys only over that TLS hop."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.interop.conftest import GatewayFactory
from tests.interop.harness import free_port, require_tools
from tests.interop.pjsua_peer import CALLER_MEDIA_PORT, Site, call_records
from tests.interop.sipp_trunk import SippTrunk, free_media_port

pytestmark = pytest.mark.interop
SIPP = Path(__file__).parent / "sipp"
TRUNK_NAME = "national.test"


def write_pem(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def make_trunk_pki(out: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA of the national network and its server certificate for ``name``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "national test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return (
        write_pem(out / "national-ca.pem", ca.public_bytes(pem)),
        write_pem(out / "trunk.crt", cert.public_bytes(pem)),
        write_pem(
            out / "trunk.key",
            key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        ),
    )


def national_trunk(tls_port: int, national_ca: Path) -> Callable[[str], str]:
    """Config edit: a TLS trunk "national" (SRTP by default) and a 77 route."""

    def edit(text: str) -> str:
        route = (
            '[[routes]]\nname = "national-out"\nmatch_prefix = "77"\n'
            'target = "trunk:national"\n\n'
        )
        marker = "[[routes]]\n# Site to site"
        return text.replace(marker, route + marker) + (
            f'\n[[trunks]]\nname = "national"\naddresses = ["127.0.0.1:{tls_port}"]\n'
            f'transport = "tls"\noptions_interval_s = 0\n'
            f'ca_certificate = "{national_ca}"\nserver_name = "{TRUNK_NAME}"\n'
        )

    return edit


def start_stunnel_server(
    workdir: Path, *, tls_port: int, sipp_port: int, cert: Path, key: Path, ca: Path
) -> subprocess.Popen[bytes]:
    """stunnel in server mode: TLS on ``tls_port`` to SIPp's TCP port.

    It requires the gateway's client certificate (signed by the province CA).
    """
    config = workdir / "stunnel-trunk.conf"
    log_path = workdir / "stunnel-trunk.log"
    config.write_text(
        "foreground = yes\npid =\ndebug = 5\n"
        f"[trunk]\naccept = 127.0.0.1:{tls_port}\nconnect = 127.0.0.1:{sipp_port}\n"
        f"cert = {cert}\nkey = {key}\nCAfile = {ca}\nverifyChain = yes\n"
        "sslVersionMin = TLSv1.2\n",
        encoding="utf-8",
    )
    log = open(log_path, "wb")  # noqa: SIM115 (the process owns it)
    process = subprocess.Popen(["stunnel4", str(config)], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if b"Configuration successful" in log_path.read_bytes():
            return process
        time.sleep(0.05)
    process.kill()
    raise AssertionError("stunnel did not start")


def test_call_to_tls_trunk_with_mandatory_srtp(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """INVITE over verified TLS carries SRTP keys; the record says TLS and SRTP."""
    require_tools(["sipp", "stunnel4"])
    national_ca, trunk_cert, trunk_key = make_trunk_pki(tmp_path, TRUNK_NAME)
    tls_port = free_port()
    trunk = SippTrunk(
        SIPP / "trunk_uas_srtp_answer.xml",
        tmp_path / "sipp",
        transport="tcp",
        media_port=free_media_port(),
        calls=1,
        timeout_s=40,
        name="national",
    )

    gateway = make_gateway(edit=national_trunk(tls_port, national_ca))
    trunk.start()
    stunnel = start_stunnel_server(
        tmp_path,
        tls_port=tls_port,
        sipp_port=trunk.port,
        cert=trunk_cert,
        key=trunk_key,
        ca=gateway.ca_dir / "ca.crt",
    )
    site = Site(
        gateway,
        "xa-national",
        "register,call:77123,wait:1,hangup",
        media_port=CALLER_MEDIA_PORT,
    )
    try:
        confirmed = site.wait_for("call", state="confirmed")
        site.wait_for("call", state="disconnected")
    finally:
        site.finish()
        result = trunk.wait(20)
        os.kill(stunnel.pid, signal.SIGTERM)
        stunnel.wait(10)
    assert confirmed["status"] == 200
    assert result.is_ok, result.describe()
    (invite,) = result.received("INVITE ")
    assert "RTP/SAVP" in invite.body and "a=crypto:" in invite.body
    (record,) = call_records(gateway)
    caller, callee = record["legs"]
    assert caller["media"].startswith("SRTP ")
    assert callee["media"] == "SRTP AES_CM_128_HMAC_SHA1_80"
    assert callee["transport"] == "TLS" and callee["tls_version"].startswith("TLSv1.")
    stunnel_log = (tmp_path / "stunnel-trunk.log").read_text(errors="replace")
    assert "Certificate accepted" in stunnel_log  # It verified the gateway's cert.


def test_tls_trunk_with_wrong_name_is_not_called(
    make_gateway: GatewayFactory, tmp_path: Path
) -> None:
    """A trunk certificate for another name fails verification: no INVITE, 503."""
    require_tools(["sipp", "stunnel4"])
    national_ca, trunk_cert, trunk_key = make_trunk_pki(tmp_path, "impostor.test")
    tls_port = free_port()
    trunk = SippTrunk(
        SIPP / "trunk_uas_srtp_answer.xml",
        tmp_path / "sipp",
        transport="tcp",
        media_port=free_media_port(),
        calls=1,
        timeout_s=20,
        name="impostor",
    )

    gateway = make_gateway(edit=national_trunk(tls_port, national_ca))
    trunk.start()
    stunnel = start_stunnel_server(
        tmp_path,
        tls_port=tls_port,
        sipp_port=trunk.port,
        cert=trunk_cert,
        key=trunk_key,
        ca=gateway.ca_dir / "ca.crt",
    )
    site = Site(
        gateway, "xa-careful", "register,call:77123", media_port=CALLER_MEDIA_PORT
    )
    try:
        ended = site.wait_for("call", state="disconnected")
    finally:
        site.finish()
        result = trunk.stop()
        os.kill(stunnel.pid, signal.SIGTERM)
        stunnel.wait(10)
    assert ended["status"] in (408, 503), ended
    assert not result.received("INVITE ")
    unreachable = gateway.wait_event("call.trunk_unreachable")
    assert "certificate" in unreachable["error"].lower()
