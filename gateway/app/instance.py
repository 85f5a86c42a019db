"""`vcgw init`: make a working instance folder (config, dev CA, server certificate)."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gateway.app.config import load_config
from gateway.b2bua.trunks import HostPort
from gateway.errors import ConfigError
from gateway.pki.ca import CertificateAuthority

CONFIG_NAME = "gateway.toml"
CA_DIR_NAME = "certs"

_TEMPLATE = """\
# vcgw configuration, made by `vcgw init`. Every key is explained in
# deploy/gateway.example.toml. Paths are relative to this file's folder.

[sip]
domain = "{domain}"

[tls]
listen = ["{listen}"]
certificate = "{ca_dir}/server/server-chain.pem"
private_key = "{ca_dir}/server/server.key"
ca_certificate = "{ca_dir}/ca.crt"
crl = "{ca_dir}/crl.pem"

[store]
path = "vcgw.sqlite3"

[calls]
# Dial this number to hear your own audio and see your own video back (SRTP).
test_number = "9999"

[[routes]]
# Site to site: a site dials another site's name, e.g. sip:xa-b@{domain}.
name = "site-by-name"
match_regex = '[A-Za-z0-9][A-Za-z0-9._~-]*'
target = "sites"

[logging]
level = "info"
format = "auto"
"""


@dataclass(frozen=True, slots=True)
class InitResult:
    """What `vcgw init` made."""

    config_path: Path
    ca_dir: Path
    created_ca: bool
    server_hostname: str


def server_names_for(listen: HostPort) -> tuple[str, list[str]]:
    """Host name and IP SANs for the server certificate of a listener."""
    try:
        address = ipaddress.ip_address(listen.host)
    except ValueError:
        return listen.host, []
    if address.is_loopback:
        return "localhost", [str(address)]
    if address.is_unspecified:
        return os.uname().nodename, []
    return os.uname().nodename, [str(address)]


def init_instance(
    directory: Path, *, domain: str, listen: HostPort, org: str, now: datetime
) -> InitResult:
    """Create ``directory/gateway.toml`` and a CA with a server certificate.

    An existing CA in ``directory/certs`` is reused (its domain must match);
    an existing gateway.toml is never overwritten.
    """
    config_path = directory / CONFIG_NAME
    if config_path.exists():
        raise ConfigError(f"{config_path} already exists: this folder is set up")
    directory.mkdir(parents=True, exist_ok=True)
    ca_dir = directory / CA_DIR_NAME
    created_ca = not (ca_dir / "ca.crt").exists()
    if created_ca:
        ca = CertificateAuthority.create(
            ca_dir, org=org, domain=domain, key_type="rsa3072", days=3650, now=now
        )
    else:
        ca = CertificateAuthority.load(ca_dir)
        if ca.domain != domain:
            raise ConfigError(
                f"{ca_dir} holds a CA for domain {ca.domain!r}, not {domain!r}: "
                f"use --domain {ca.domain} or another --dir"
            )
    hostname, ips = server_names_for(listen)
    ca.issue_server(hostname, ips=ips, now=now)
    text = _TEMPLATE.format(domain=domain, listen=listen, ca_dir=CA_DIR_NAME)
    _write_new_file(config_path, text)
    load_config(config_path)  # The file we wrote must be valid.
    return InitResult(config_path, ca_dir, created_ca, hostname)


def _write_new_file(path: Path, text: str) -> None:
    """Write atomically; fail if the file appeared meanwhile."""
    handle, temp_name = tempfile.mkstemp(
        dir=path.parent, prefix=".gateway.", suffix=".tmp"
    )
    try:
        os.fchmod(handle, 0o644)  # Config is not secret; keys live in certs/.
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.link(temp_name, path)  # Fails instead of overwriting.
    finally:
        os.unlink(temp_name)
