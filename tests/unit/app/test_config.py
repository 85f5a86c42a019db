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


def _blocks(lines: list[str], header: str) -> list[list[str]]:
    """The lines of each table headed ``header`` (up to the next header)."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in lines:
        if line.startswith("["):
            current = [] if line.strip() == header else None
            if current is not None:
                blocks.append(current)
        elif current is not None:
            current.append(line)
    return blocks


def test_example_file_loads_and_documents_every_key() -> None:
    """deploy/gateway.example.toml is valid and has a comment above every key.

    Flat sections must show every key of their table; arrays of tables
    (``[[trunks]]``, ``[[routes]]``) must show each key in at least one item.
    """
    config = load_config(EXAMPLE)
    assert config.sip.domain
    assert config.trunks and config.routes
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    for section in dataclasses.fields(GatewayConfig):
        if section.name == "source":
            continue
        value = getattr(config, section.name)
        is_array = isinstance(value, tuple)
        header = f"[[{section.name}]]" if is_array else f"[{section.name}]"
        blocks = _blocks(lines, header)
        assert blocks, header
        cls = type(value[0]) if is_array else type(value)
        for key in dataclasses.fields(cls):
            documented = [
                i > 0 and block[i - 1].startswith("#")
                for block in blocks
                for i, line in enumerate(block)
                if re.match(rf"{key.name}\s*=", line)
            ]
            assert documented, f"{section.name}.{key.name} not in the example"
            assert all(documented), f"{section.name}.{key.name} has no comment"


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


def _base() -> dict[str, object]:
    return {
        "sip": {"domain": "p.example"},
        "tls": {
            "listen": ["127.0.0.1:5061"],
            "certificate": "a",
            "private_key": "b",
            "ca_certificate": "c",
        },
    }


def test_media_calls_trunks_routes_defaults(tmp_path: Path) -> None:
    """Without the new sections the defaults apply and no trunk or route exists."""
    config = config_from_dict(_base(), base_dir=tmp_path)
    assert config.media.port_min == 16384 and config.media.port_max == 32767
    assert config.media.port_count == 16384
    assert config.media.timeout_s == 30.0 and config.media.allow_srtp_32 is False
    assert config.calls.max_calls_per_site == 4
    assert (config.calls.session_expires_s, config.calls.min_se_s) == (1800, 90)
    assert config.calls.test_number == "9999"
    assert config.calls.max_forwards == 70
    assert config.trunks == () and config.routes == ()


def test_trunks_and_routes_load_in_order(tmp_path: Path) -> None:
    """Arrays of tables become tuples of validated dataclasses, in file order."""
    text = (
        MINIMAL
        + """
[calls]
test_number = ""
[[trunks]]
name = "mcu"
addresses = ["10.0.0.5:5060", "[fd00::5]:5060"]
srtp = "off"
[[trunks]]
name = "national"
protocol = "h323"
addresses = "10.9.0.1:1720"
[[routes]]
name = "rooms"
match_prefix = "88"
target = "trunk:mcu"
allowed_sources = ["sites", "trunk:national"]
[[routes]]
name = "names"
match_regex = '[a-z]+'
target = "sites"
"""
    )
    config = load_config(write(tmp_path, text))
    assert [t.name for t in config.trunks] == ["mcu", "national"]
    mcu = config.trunks[0]
    assert [str(a) for a in mcu.addresses] == ["10.0.0.5:5060", "[fd00::5]:5060"]
    assert mcu.srtp == "off" and mcu.transport == "udp"
    assert config.trunks[1].protocol == "h323"
    assert [r.name for r in config.routes] == ["rooms", "names"]
    assert config.routes[0].allowed_sources == ("sites", "trunk:national")
    assert config.calls.test_number == ""


def _route(**values: object) -> dict[str, object]:
    return {"name": "r", "match_prefix": "1", "target": "test", **values}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"media": {"port_min": 20001}}, "[media] port_min must be even"),
        ({"media": {"port_max": 40010}}, "[media] port_max must be odd"),
        ({"media": {"port_min": 40000, "port_max": 40005}}, "at least 16 ports"),
        ({"media": {"port_min": 80, "port_max": 40001}}, "1024 <= port_min"),
        ({"media": {"bind_host": "0.0.0.0"}}, "not 0.0.0.0"),
        ({"media": {"bind_host": "gw.local"}}, "bind_host = 'gw.local'"),
        ({"media": {"timeout_s": 1}}, "timeout_s must be 5-3600"),
        ({"media": {"allow_srtp_32": "yes"}}, "media.allow_srtp_32 = 'yes'"),
        ({"calls": {"min_se_s": 60}}, "min_se_s must be 90"),
        ({"calls": {"session_expires_s": 80}}, "min_se_s <= session_expires_s"),
        ({"calls": {"test_number": "echo"}}, "test_number = 'echo'"),
        ({"calls": {"max_calls_per_site": 0}}, "max_calls_per_site"),
        ({"calls": {"max_forwards": 0}}, "max_forwards must be 1-255"),
        (
            {
                "routes": [
                    _route(),
                    _route(name="s"),
                    _route(name="t", match_prefix="", match_regex="(["),
                ]
            },
            "routes[2].match_regex = '([': not a valid regular expression (",
        ),
        (
            {"routes": [_route(target="trunk:nope")]},
            "routes[0].target = 'trunk:nope': no trunk of that name",
        ),
        ({"routes": [_route(colour="red")]}, "routes[0].colour: unknown key"),
        (
            {"routes": [{"name": "r", "match_prefix": "1"}]},
            "routes[0].target is missing",
        ),
        ({"routes": {"name": "r"}}, "routes must be an array of tables [[routes]]"),
        ({"routes": [_route(strip_digits="1")]}, "routes[0].strip_digits = '1'"),
        (
            {"trunks": [{"name": "t", "addresses": ["10.0.0.1"]}]},
            "trunks[0].addresses = '10.0.0.1': port is missing",
        ),
        (
            {"trunks": [{"name": "t", "addresses": ["10.0.0.1:5060"], "srtp": "no"}]},
            "trunks[0].srtp = 'no': must be one of",
        ),
        (
            {"trunks": [{"name": "t", "addresses": ["10.0.0.1:5060"]}] * 2},
            "trunks[1].name = 't': already used by trunks[0]",
        ),
        (
            {"trunks": [{"name": "t", "gatekeeper": "10.0.0.9:1719"}]},
            "trunks[0].gatekeeper: only an H.323 trunk (protocol = 'h323')",
        ),
        (
            {"trunks": [{"name": "t", "protocol": "h323", "gatekeeper": "1.2.3.4:x"}]},
            "trunks[0].gatekeeper = '1.2.3.4:x': port 'x' is not a number",
        ),
        (
            {"trunks": [{"name": "t", "protocol": "h323"}]},
            "trunks[0].addresses: give at least one HOST:PORT",
        ),
        (
            {
                "trunks": [
                    {
                        "name": "t",
                        "protocol": "h323",
                        "gatekeeper": "10.0.0.9",
                        "prefixes": "84x",
                    }
                ]
            },
            "trunks[0].prefixes: '84x' is not dialled digits",
        ),
        (
            {
                "trunks": [
                    {
                        "name": "t",
                        "protocol": "h323",
                        "gatekeeper": "10.0.0.9",
                        "ras_ttl_s": 1.5,
                    }
                ]
            },
            "trunks[0].ras_ttl_s = 1.5: must be a whole number",
        ),
    ],
)
def test_new_sections_bad_values_name_the_key(
    tmp_path: Path, extra: dict[str, object], expected: str
) -> None:
    """[media], [calls], [[trunks]] and [[routes]] errors name key (and index)."""
    document = {**_base(), **extra}
    with pytest.raises(ConfigError) as caught:
        config_from_dict(document, base_dir=tmp_path, source=tmp_path / "g.toml")
    assert expected in str(caught.value)
    assert str(caught.value).startswith(f"{tmp_path / 'g.toml'}: ")


def test_gatekeeper_trunk_loads_with_default_port(tmp_path: Path) -> None:
    """A gatekeeper without a port gets 1719; the RAS keys load as typed."""
    text = (
        MINIMAL
        + """
[[trunks]]
name = "mcu-gk"
protocol = "h323"
transport = "tcp"
gatekeeper = "10.20.0.7"
gatekeeper_id = "GK1"
h323_id = "vcgw-hn"
prefixes = ["84", "8424"]
ras_ttl_s = 120
ras_retry_s = 5
"""
    )
    (trunk,) = load_config(write(tmp_path, text)).trunks
    assert trunk.gatekeeper == HostPort("10.20.0.7", 1719)
    assert trunk.addresses == ()
    assert (trunk.gatekeeper_id, trunk.h323_id) == ("GK1", "vcgw-hn")
    assert trunk.prefixes == ("84", "8424")
    assert (trunk.ras_ttl_s, trunk.ras_retry_s) == (120, 5.0)
    assert load_config(write(tmp_path, MINIMAL)).trunks == ()
