"""1,000 sites, each with its own certificate, register over TLS at once."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.interop.harness import DOMAIN, GatewayProcess, register_request

pytestmark = pytest.mark.interop
SITES = 1000


def make_site_certificates(
    gateway: GatewayProcess, out: Path
) -> list[tuple[str, Path, Path]]:
    """Site certificates signed by the gateway's CA key, made by this test."""
    ca_cert = x509.load_pem_x509_certificate((gateway.ca_dir / "ca.crt").read_bytes())
    passphrase = (gateway.ca_dir / "private" / "ca.pass").read_bytes().strip()
    ca_key = serialization.load_pem_private_key(
        (gateway.ca_dir / "private" / "ca.key").read_bytes(), passphrase
    )
    now = dt.datetime.now(dt.UTC)
    sites = []
    for index in range(SITES):
        name = f"xa-{index:04d}"
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.UniformResourceIdentifier(f"sip:{name}@{DOMAIN}")]
                ),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
            .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
        )
        cert_path, key_path = out / f"{name}.crt", out / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        sites.append((name, cert_path, key_path))
    return sites


async def register_all(
    gateway: GatewayProcess, sites: list[tuple[str, Path, Path]]
) -> list[int]:
    """Open every connection and REGISTER; hang up only once all are answered."""
    ca_file = str(gateway.ca_dir / "ca.crt")
    release = asyncio.Event()
    answered: list[int] = []

    async def one(index: int, name: str, cert: Path, key: Path) -> int:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(ca_file)
        context.load_cert_chain(str(cert), str(key))
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", gateway.port, ssl=context, server_hostname="localhost"
        )
        try:
            writer.write(register_request(name, local=f"127.0.0.1:{20000 + index}"))
            head = await reader.readuntil(b"\r\n\r\n")
            answered.append(index)
            await release.wait()  # All connections stay open together.
            return int(head.split(b" ", 2)[1])
        finally:
            writer.close()

    tasks = [asyncio.create_task(one(i, *site)) for i, site in enumerate(sites)]
    deadline = asyncio.get_running_loop().time() + 180
    while len(answered) < len(tasks) and asyncio.get_running_loop().time() < deadline:
        if any(t.done() for t in tasks):
            break  # A failure: stop waiting, report below.
        await asyncio.sleep(0.1)
    release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    return [r if isinstance(r, int) else -1 for r in results]


def test_thousand_sites_register_concurrently(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    """All 1,000 REGISTERs get 200 and all 1,000 bindings are listed."""
    sites = make_site_certificates(gateway, tmp_path)
    statuses = asyncio.run(register_all(gateway, sites))
    assert statuses.count(200) == SITES, {s: statuses.count(s) for s in set(statuses)}
    rows = gateway.registrations()
    assert len(rows) == SITES
    assert {r["site"] for r in rows} == {name for name, _, _ in sites}
