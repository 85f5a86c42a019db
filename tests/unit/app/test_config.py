"""Config loading: valid files load; every error names the key and the problem."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from gateway.app.config import (
    GatewayConfig,
    HostPort,
    config_from_dict,
    load_config,
    parse_host_port,
)
from gateway.errors import ConfigError

EXAMPLE = Path(__file__).parents[3] / "deploy" / "gateway.example.toml"

MINIMAL = """
[sip]
domain = "province.example"
[tls]
listen = ["127.0.0.1:5061", "[::1]:5061"]
certificate = "certs/server/server-chain.pem"
private_key = "certs/server/server.key"
ca_certificate = "certs/ca.crt"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_file_loads_with_defaults_and_relative_paths(tmp_path: Path) -> None:
    """Paths resolve against the file's folder; omitted sections take defaults."""
    config = load_config(write(tmp_path, MINIMAL))
    assert config.sip.domain == "province.example"
    assert config.tls.listen == (HostPort("127.0.0.1", 5061), HostPort("::1", 5061))
    assert (
        config.tls.certificate == tmp_path.resolve() / "certs/server/server-chain.pem"
    )
    assert config.registrar.default_expires_s == 600
    assert config.store.path == tmp_path.resolve() / "vcgw.sqlite3"
    assert config.plain.tcp == () and config.plain.udp == ()


def test_example_file_loads_and_documents_every_key() -> None:
    """deploy/gateway.example.toml is valid and has a comment above every key."""
    config = load_config(EXAMPLE)
    assert config.sip.domain
    text = EXAMPLE.read_text(encoding="utf-8")
    lines = text.splitlines()
    for section in dataclasses.fields(GatewayConfig):
        if section.name == "source":
            continue
        assert f"[{section.name}]" in text, section.name
        cls = type(getattr(config, section.name))
        for key in dataclasses.fields(cls):
            index = next(
                (
                    i
                    for i, line in enumerate(lines)
                    if re.match(rf"{key.name}\s*=", line)
                ),
                None,
            )
            assert index is not None, f"{section.name}.{key.name} not in the example"
            assert lines[index - 1].startswith("#"), f"{key.name} has no comment"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("tls", "listen", ["127.0.0.1:99999"]), "tls.listen = '127.0.0.1:99999'"),
        (("tls", "listen", ["::1:5061"]), "IPv6 address must be written"),
        (("tls", "listen", []), "listen needs at least one"),
        (("tls", "min_version", "1.0"), "min_version must be '1.2' or '1.3'"),
        (("tls", "handshake_timeout_s", "ten"), "tls.handshake_timeout_s = 'ten'"),
        (("tls", "certificat", "x"), "tls.certificat: unknown key"),
        (("registrar", "min_expires_s", 0), "min_expires_s must be at least 1"),
        (("registrar", "max_expires_s", 30), "min_expires_s <= default_expires_s"),
        (("registrar", "default_expires_s", True), "must be a whole number"),
        (("logging", "level", "loud"), "level must be one of"),
        (("store", "backend", "oracle"), "backend must be 'sqlite'"),
        (("sip", "domain", ""), "domain is empty"),
    ],
)
def test_bad_values_name_the_key(
    tmp_path: Path, edit: tuple[str, str, object], expected: str
) -> None:
    """Each bad value raises ConfigError whose message names key and problem."""
    section, key, value = edit
    document: dict[str, dict[str, object]] = {
        "sip": {"domain": "p.example"},
        "tls": {
            "listen": ["127.0.0.1:5061"],
            "certificate": "a",
            "private_key": "b",
            "ca_certificate": "c",
        },
    }
    document.setdefault(section, {})[key] = value
    with pytest.raises(ConfigError) as caught:
        config_from_dict(document, base_dir=tmp_path, source=tmp_path / "g.toml")
    assert expected in str(caught.value)
    assert "g.toml" in str(caught.value)


def test_missing_sections_and_keys_are_named(tmp_path: Path) -> None:
    """A missing required section or key is reported by name."""
    with pytest.raises(ConfigError, match=r"section \[tls\] is missing"):
        config_from_dict({"sip": {"domain": "x"}}, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"tls\.private_key is missing"):
        config_from_dict(
            {
                "sip": {"domain": "x"},
                "tls": {
                    "listen": "127.0.0.1:5061",
                    "certificate": "a",
                    "ca_certificate": "c",
                },
            },
            base_dir=tmp_path,
        )
    with pytest.raises(ConfigError, match=r"unknown section \[tsl\]"):
        config_from_dict({"tsl": {}}, base_dir=tmp_path)


def test_syntax_error_and_unreadable_file(tmp_path: Path) -> None:
    """TOML syntax errors and unreadable files name the file."""
    with pytest.raises(ConfigError, match="TOML syntax error"):
        load_config(write(tmp_path, "[sip\ndomain="))
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes(b'[sip]\ndomain = "\xe9"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:5061", HostPort("127.0.0.1", 5061)),
        ("[::1]:5061", HostPort("::1", 5061)),
        ("localhost:1", HostPort("localhost", 1)),
        (" 10.0.0.1:65535 ", HostPort("10.0.0.1", 65535)),
    ],
)
def test_parse_host_port(text: str, expected: HostPort) -> None:
    """HOST:PORT and [V6]:PORT parse; str() writes them back."""
    parsed = parse_host_port(text)
    assert parsed == expected
    assert parse_host_port(str(parsed)) == parsed


@pytest.mark.parametrize(
    "text", ["", ":5061", "host", "host:0", "host:x", "[::1", "[::1]x"]
)
def test_parse_host_port_rejects(text: str) -> None:
    """Malformed addresses raise ValueError with a reason."""
    with pytest.raises(ValueError):
        parse_host_port(text)
