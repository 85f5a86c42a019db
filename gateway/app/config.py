"""Gateway configuration: one TOML file read into frozen, validated dataclasses.

Every error names the file, the key, the value and what is wrong, because the
reader is an admin fixing a file by hand. Relative paths in the file are taken
relative to the file's own folder, so an instance folder can be moved whole.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from gateway.b2bua.routing import Route, check_routes
from gateway.b2bua.trunks import GATEKEEPER_PORT, HostPort, Trunk
from gateway.errors import ConfigError


def parse_host_port(text: str, *, default_port: int | None = None) -> HostPort:
    """Parse ``HOST:PORT`` or ``[V6]:PORT``; raise ValueError with a plain reason."""
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError("IPv6 address must be written [ADDRESS]:PORT")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError("expected ':' after ']'")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            host, port_text = text, ""
        if ":" in host:
            raise ValueError("IPv6 address must be written [ADDRESS]:PORT")
    if not host:
        raise ValueError("host is empty")
    if not port_text:
        if default_port is None:
            raise ValueError("port is missing (write HOST:PORT)")
        return HostPort(host, default_port)
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text!r} is not a number from 1 to 65535")
    return HostPort(host, int(port_text))


#: Keys whose ``HOST`` alone means this port (the key's last name).
_DEFAULT_PORTS = {"gatekeeper": GATEKEEPER_PORT}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class SipSection:
    """[sip]: the province's SIP domain and identity of the gateway."""

    domain: str
    user_agent: str = "vcgw"

    def __post_init__(self) -> None:
        _check(bool(self.domain.strip()), "domain is empty")
        _check(" " not in self.domain, "domain must not contain spaces")


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsSection:
    """[tls]: the SIP-over-TLS listener that sites use, and its trust material."""

    listen: tuple[HostPort, ...]
    certificate: Path
    private_key: Path
    ca_certificate: Path
    crl: Path | None = None
    min_version: str = "1.2"
    handshake_timeout_s: float = 10.0
    crl_check_interval_s: float = 2.0

    def __post_init__(self) -> None:
        _check(len(self.listen) > 0, "listen needs at least one HOST:PORT")
        _check(self.min_version in ("1.2", "1.3"), "min_version must be '1.2' or '1.3'")
        _check(0 < self.handshake_timeout_s <= 120, "handshake_timeout_s must be 0-120")
        _check(0 < self.crl_check_interval_s <= 60, "crl_check_interval_s must be 0-60")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlainSection:
    """[plain]: optional unencrypted listeners (trunks inside a closed WAN only).

    Sites may never register over these; they exist for trunks whose policy
    allows it.
    """

    tcp: tuple[HostPort, ...] = ()
    udp: tuple[HostPort, ...] = ()
    h323: tuple[HostPort, ...] = ()  # H.225.0 call signalling (TCP 1720).


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrarSection:
    """[registrar]: binding lifetimes (RFC 3261 §10.3)."""

    min_expires_s: int = 60
    max_expires_s: int = 3600
    default_expires_s: int = 600
    max_contacts_per_site: int = 10
    qualify_interval_s: float = 60.0

    def __post_init__(self) -> None:
        _check(self.min_expires_s >= 1, "min_expires_s must be at least 1")
        _check(
            self.qualify_interval_s == 0 or 0.2 <= self.qualify_interval_s <= 3600,
            "qualify_interval_s must be 0 (off) or 0.2-3600",
        )
        _check(
            self.min_expires_s <= self.default_expires_s <= self.max_expires_s,
            "need min_expires_s <= default_expires_s <= max_expires_s",
        )
        _check(1 <= self.max_contacts_per_site <= 100, "max_contacts_per_site: 1-100")


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreSection:
    """[store]: where registrations and call records are kept."""

    backend: str = "sqlite"
    path: Path = Path("vcgw.sqlite3")

    def __post_init__(self) -> None:
        _check(
            self.backend == "sqlite", "backend must be 'sqlite' (the only one so far)"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingSection:
    """[logging]: level and rendering (auto = JSON unless stdout is a terminal)."""

    level: str = "info"
    format: str = "auto"

    def __post_init__(self) -> None:
        levels = ("debug", "info", "warning", "error")
        _check(self.level in levels, f"level must be one of {', '.join(levels)}")
        _check(self.format in ("auto", "json", "console"), "format: auto|json|console")


@dataclass(frozen=True, slots=True, kw_only=True)
class MediaSection:
    """[media]: the RTP/SRTP relay's addresses, ports and limits."""

    bind_host: str = "127.0.0.1"
    port_min: int = 16384
    port_max: int = 32767
    timeout_s: float = 30.0
    allow_srtp_32: bool = False
    keyframe_min_interval_s: float = 1.0

    def __post_init__(self) -> None:
        try:
            address = ipaddress.ip_address(self.bind_host)
        except ValueError:
            raise ValueError(
                f"bind_host = {self.bind_host!r}: must be an IP address"
            ) from None
        # SDP advertises this address (c= line), so it must be a real one.
        _check(
            not address.is_unspecified,
            "bind_host must be the address sites reach, not 0.0.0.0 or ::",
        )
        _check(
            1024 <= self.port_min < self.port_max <= 65535,
            "need 1024 <= port_min < port_max <= 65535",
        )
        # RTP takes the even port and RTCP the odd one above it (RFC 3550 §11).
        _check(self.port_min % 2 == 0, "port_min must be even (RTP ports are even)")
        _check(self.port_max % 2 == 1, "port_max must be odd (the last RTCP port)")
        _check(
            self.port_max - self.port_min + 1 >= 16,
            "port_min-port_max must hold at least 16 ports (two calls)",
        )
        _check(5 <= self.timeout_s <= 3600, "timeout_s must be 5-3600")
        _check(
            0 <= self.keyframe_min_interval_s <= 60,
            "keyframe_min_interval_s must be 0-60",
        )

    @property
    def port_count(self) -> int:
        """How many ports the range holds."""
        return self.port_max - self.port_min + 1


_TEST_NUMBER = re.compile(r"[0-9*#]{1,32}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CallsSection:
    """[calls]: per-call limits, session timers (RFC 4028) and the test number."""

    max_calls_per_site: int = 4
    session_expires_s: int = 1800
    min_se_s: int = 90
    test_number: str = "9999"
    max_forwards: int = 70

    def __post_init__(self) -> None:
        _check(1 <= self.max_calls_per_site <= 1000, "max_calls_per_site: 1-1000")
        # RFC 4028 §4: Min-SE is never below 90 seconds.
        _check(90 <= self.min_se_s <= 86400, "min_se_s must be 90-86400 (RFC 4028)")
        _check(
            self.min_se_s <= self.session_expires_s <= 86400,
            "need min_se_s <= session_expires_s <= 86400",
        )
        _check(
            self.test_number == ""
            or _TEST_NUMBER.fullmatch(self.test_number) is not None,
            f"test_number = {self.test_number!r}: use digits, * or # (or '' for off)",
        )
        _check(1 <= self.max_forwards <= 255, "max_forwards must be 1-255")


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayConfig:
    """The whole configuration file.

    ``trunks`` and ``routes`` come from the arrays of tables ``[[trunks]]`` and
    ``[[routes]]``, in file order (routes are tried in that order).
    """

    sip: SipSection
    tls: TlsSection
    plain: PlainSection = field(default_factory=PlainSection)
    registrar: RegistrarSection = field(default_factory=RegistrarSection)
    store: StoreSection = field(default_factory=StoreSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    media: MediaSection = field(default_factory=MediaSection)
    calls: CallsSection = field(default_factory=CallsSection)
    trunks: tuple[Trunk, ...] = ()
    routes: tuple[Route, ...] = ()
    source: Path | None = None


_T = TypeVar("_T")
_SECTIONS: dict[str, type[Any]] = {
    "sip": SipSection,
    "tls": TlsSection,
    "plain": PlainSection,
    "registrar": RegistrarSection,
    "store": StoreSection,
    "logging": LoggingSection,
    "media": MediaSection,
    "calls": CallsSection,
}
#: Arrays of tables (``[[trunks]]``): each item is one dataclass. Their
#: validation messages start with the key, so errors read ``routes[2].key``.
_ARRAYS: dict[str, type[Any]] = {"trunks": Trunk, "routes": Route}


def load_config(path: Path) -> GatewayConfig:
    """Read and validate ``path``; raise ConfigError naming the key on any problem."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror})") from exc
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the file is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax error: {exc}") from exc
    return config_from_dict(document, base_dir=path.resolve().parent, source=path)


def config_from_dict(
    document: dict[str, Any], *, base_dir: Path, source: Path | None = None
) -> GatewayConfig:
    """Build a GatewayConfig from parsed TOML; paths resolve against ``base_dir``."""
    where = str(source) if source else "config"
    unknown = sorted(set(document) - set(_SECTIONS) - set(_ARRAYS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown section [{unknown[0]}] "
            f"(known: {', '.join(sorted([*_SECTIONS, *_ARRAYS]))})"
        )
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        table = document.get(name)
        if table is None:
            if name in ("sip", "tls"):
                raise ConfigError(f"{where}: section [{name}] is missing")
            table = {}
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: {name} must be a table [{name}]")
        sections[name] = _build_section(cls, table, name, base_dir, where)
    for name, cls in _ARRAYS.items():
        sections[name] = _build_array(
            cls, document.get(name, []), name, base_dir, where
        )
    try:
        check_routes(sections["routes"], sections["trunks"])
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return GatewayConfig(**sections, source=source)


def _build_array(
    cls: type[_T], items: Any, name: str, base_dir: Path, where: str
) -> tuple[_T, ...]:
    """Build each table of ``[[name]]``; errors name the item as ``name[INDEX]``."""
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ConfigError(f"{where}: {name} must be an array of tables [[{name}]]")
    return tuple(
        _build_section(cls, item, f"{name}[{index}]", base_dir, where, is_item=True)
        for index, item in enumerate(items)
    )


def _build_section(
    cls: type[_T],
    table: dict[str, Any],
    section: str,
    base_dir: Path,
    where: str,
    *,
    is_item: bool = False,
) -> _T:
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    for key in table:
        if key not in known:
            raise ConfigError(
                f"{where}: {section}.{key}: unknown key "
                f"(known: {', '.join(sorted(known))})"
            )
    values: dict[str, Any] = {}
    for name, spec in known.items():
        key = f"{section}.{name}"
        if name not in table:
            if spec.default is MISSING and spec.default_factory is MISSING:
                raise ConfigError(f"{where}: {key} is missing")
            if isinstance(spec.default, Path) and not spec.default.is_absolute():
                values[name] = (
                    base_dir / spec.default
                )  # Defaults are file-relative too.
            continue
        values[name] = _convert(table[name], hints[name], key, base_dir, where)
    try:
        return cls(**values)
    except ValueError as exc:
        if is_item:
            raise ConfigError(f"{where}: {section}.{exc}") from exc
        raise ConfigError(f"{where}: [{section}] {exc}") from exc


def _convert(value: Any, hint: Any, key: str, base_dir: Path, where: str) -> Any:
    """Convert one TOML value to the field's type, or raise ConfigError."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(value, options[0], key, base_dir, where)
    if origin is tuple:
        item_type = typing.get_args(hint)[0]
        items = value if isinstance(value, list) else [value]
        return tuple(_convert(v, item_type, key, base_dir, where) for v in items)
    return _convert_scalar(value, hint, key, base_dir, where)


def _convert_scalar(value: Any, hint: Any, key: str, base_dir: Path, where: str) -> Any:
    shown = repr(value)
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: {key} = {shown}: must be true or false")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: {key} = {shown}: must be a whole number")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: {key} = {shown}: must be a number")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: {key} = {shown}: must be a text string")
    if hint is str:
        return value
    if hint is Path:
        if not value:
            raise ConfigError(f"{where}: {key} is empty: give a file path")
        path = Path(value)
        return path if path.is_absolute() else base_dir / path
    if hint is HostPort:  # TrunkAddress is the same class.
        default_port = _DEFAULT_PORTS.get(key.rpartition(".")[2])
        try:
            parsed = parse_host_port(value, default_port=default_port)
        except ValueError as exc:
            raise ConfigError(f"{where}: {key} = {shown}: {exc}") from exc
        return hint(parsed.host, parsed.port)
    raise ConfigError(f"{where}: {key}: unsupported type {hint!r}")  # pragma: no cover


def check_files(config: GatewayConfig) -> list[str]:
    """Problems with the files the config names (missing, unreadable); empty if fine."""
    problems: list[str] = []
    tls = config.tls
    named = [
        ("tls.certificate", tls.certificate),
        ("tls.private_key", tls.private_key),
        ("tls.ca_certificate", tls.ca_certificate),
    ]
    if tls.crl is not None:
        named.append(("tls.crl", tls.crl))
    for key, path in named:
        if not path.is_file():
            problems.append(f"{key}: file {path} does not exist")
    for listener in (
        *tls.listen,
        *config.plain.tcp,
        *config.plain.udp,
        *config.plain.h323,
    ):
        try:
            ipaddress.ip_address(listener.host)
        except ValueError:
            if listener.host != "localhost":
                problems.append(
                    f"listen address {listener}: host must be an IP address"
                )
    return problems
