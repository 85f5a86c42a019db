"""Structured logging: JSON lines in production, console rendering on a terminal.

Event names are dotted and stable (``sip.register.accepted``); data goes in
fields. A redaction processor runs last before rendering, so no private key,
SDES key or password reaches a log line whatever a caller passes.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

_REDACTED = "<redacted>"
_PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
# RFC 4568 key-params: inline:<base64 key||salt>[|lifetime][|MKI:len]
_SDES_INLINE = re.compile(r"(inline:)[A-Za-z0-9+/=]+", re.IGNORECASE)
# name=value or name: value for secret-bearing names inside free text.
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)\b(password|passwd|passphrase|secret|pass)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
)
_AUTHORIZATION = re.compile(r"(?im)^((?:proxy-)?authorization\s*:\s*)(\S+)[^\r\n]*")
_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "passphrase",
        "secret",
        "private_key",
        "key_material",
        "master_key",
        "authorization",
        "proxy_authorization",
        "p12_password",
    }
)


def redact_text(text: str) -> str:
    """Remove private keys, SDES inline keys, Authorization values and passwords."""
    text = _PEM_PRIVATE_KEY.sub(f"-----BEGIN PRIVATE KEY-----{_REDACTED}", text)
    text = _SDES_INLINE.sub(rf"\1{_REDACTED}", text)
    text = _AUTHORIZATION.sub(rf"\1{_REDACTED}", text)
    return _SECRET_ASSIGNMENT.sub(rf"\1\2{_REDACTED}", text)


def _redact_value(key: str, value: Any) -> Any:
    if key.lower() in _SECRET_KEYS and value is not None:
        return _REDACTED
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def redact_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: redact every field, nested ones included."""
    for key in list(event_dict):
        event_dict[key] = _redact_value(key, event_dict[key])
    return event_dict


def configure_logging(
    *, level: str = "info", fmt: str = "auto", stream: TextIO | None = None
) -> None:
    """Set up structlog for the process. ``fmt``: auto, json or console."""
    out = stream if stream is not None else sys.stdout
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if use_console
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str = "vcgw") -> Any:
    """A bound structlog logger."""
    return structlog.get_logger(name)
