"""`vcgw` command line: thin over the library; errors are one short line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from gateway import __version__
from gateway.app.config import check_files, load_config, parse_host_port
from gateway.errors import GatewayError
from gateway.store.base import CallRecord, LegRecord

DEFAULT_DOMAIN = "vcgw.test"
DEFAULT_LISTEN = "127.0.0.1:5061"


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def cmd_init(args: argparse.Namespace) -> int:
    from gateway.app.instance import init_instance

    try:
        listen = parse_host_port(args.listen)
    except ValueError as exc:
        return _fail(f"--listen {args.listen!r}: {exc}")
    result = init_instance(
        Path(args.dir),
        domain=args.domain,
        listen=listen,
        org=args.org,
        now=datetime.now(UTC),
    )
    made = "created a new CA" if result.created_ca else "reused the existing CA"
    print(f"Wrote {result.config_path} ({made} in {result.ca_dir}).")
    print(f"Server certificate for {result.server_hostname} and sip:{args.domain}.")
    print(f"Start the gateway:  vcgw run --config {result.config_path}")
    print(f"Issue a site:       vcgw ca --ca-dir {result.ca_dir} issue SITE-NAME")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    config = load_config(Path(args.file))
    problems = check_files(config)
    for problem in problems:
        print(f"error: {args.file}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{args.file}: OK")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from gateway.app.main import run_gateway

    config = load_config(Path(args.config))
    problems = check_files(config)
    if problems:
        for problem in problems:
            print(f"error: {args.config}: {problem}", file=sys.stderr)
        return 1
    return run_gateway(config)


def cmd_registrations(args: argparse.Namespace) -> int:
    import json
    import time

    from gateway.store.sqlite import SqliteStore

    config = load_config(Path(args.config))
    store = SqliteStore(config.store.path)
    try:
        now = time.time()
        live = [b for b in store.load_bindings() if b.expires_at > now]
    finally:
        store.close()
    if args.json:
        rows = [
            {
                "site": b.site,
                "aor": b.aor,
                "contact": b.contact,
                "expires_in_s": int(b.expires_at - now),
                "transport": b.transport,
                "peer": b.peer,
                "cert_serial": b.cert_serial,
                "user_agent": b.user_agent,
            }
            for b in live
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if not live:
        print("No site is registered.")
    for b in live:
        print(f"{b.site:<24} {b.contact:<48} {int(b.expires_at - now):>5}s  {b.peer}")
    return 0


def parse_since(text: str) -> float:
    """``--since`` as epoch seconds: ISO 8601 or YYYY-MM-DD, local time if naive."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            "use ISO 8601, e.g. 2025-03-01 or 2025-03-01T08:00:00+07:00"
        ) from None
    # A naive time is the admin's local time, like the times printed.
    return moment.astimezone().timestamp()


def _local_time(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _duration(record: CallRecord) -> str:
    if record.answered_at is None:
        return "unanswered"
    total = int(record.talk_time_s)
    return f"{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"


def _leg_security(leg: LegRecord) -> str:
    # TLS legs show the TLS version; others the plain transport (UDP, TCP).
    signalling = leg.tls_version or leg.transport.upper() or "?"
    return f"{leg.leg} {signalling}/{leg.media or 'no media'}"


def cmd_cdr(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from gateway.store.sqlite import SqliteStore

    try:
        since = None if args.since is None else parse_since(args.since)
    except ValueError as exc:
        return _fail(f"--since {args.since!r}: {exc}")
    config = load_config(Path(args.config))
    store = SqliteStore(config.store.path)
    try:
        records = store.list_call_records(since=since)
    finally:
        store.close()
    if args.json:
        rows = [
            {
                **asdict(r),
                "start": _local_time(r.started_at),
                "duration_s": r.talk_time_s,
            }
            for r in records
        ]
        print(json.dumps(rows, indent=2))
        return 0
    if not records:
        print("No call records.")
    for r in records:
        legs = ", ".join(_leg_security(leg) for leg in r.legs) or "no legs"
        print(
            f"{_local_time(r.started_at)}  {r.caller} -> {r.callee}  "
            f"{_duration(r)}  {r.end_reason}  [{legs}]"
        )
    return 0


def cmd_version(_args: argparse.Namespace) -> int:
    print(f"vcgw {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The whole `vcgw` argument parser."""
    from gateway.app.pki_cli import add_ca_parser

    parser = argparse.ArgumentParser(
        prog="vcgw", description="Secure SIP/H.323 video-conference gateway."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="make a working instance folder")
    init.add_argument("--dir", default=".", help="instance folder (default: .)")
    init.add_argument("--domain", default=DEFAULT_DOMAIN, help="the SIP domain")
    init.add_argument("--listen", default=DEFAULT_LISTEN, help="TLS HOST:PORT")
    init.add_argument("--org", default="vcgw development CA", help="CA organisation")
    init.set_defaults(func=cmd_init)

    run = commands.add_parser("run", help="serve in the foreground")
    run.add_argument("--config", required=True, help="path to gateway.toml")
    run.set_defaults(func=cmd_run)

    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", help="validate a config file")
    check.add_argument("file", help="path to gateway.toml")
    check.set_defaults(func=cmd_config_check)

    registrations = commands.add_parser("registrations", help="list registered sites")
    registrations.add_argument("--config", required=True, help="path to gateway.toml")
    registrations.add_argument("--json", action="store_true", help="JSON output")
    registrations.set_defaults(func=cmd_registrations)

    cdr = commands.add_parser("cdr", help="list call records")
    cdr.add_argument("--config", required=True, help="path to gateway.toml")
    cdr.add_argument("--json", action="store_true", help="JSON output")
    cdr.add_argument(
        "--since", help="only calls started from this time (ISO 8601 or YYYY-MM-DD)"
    )
    cdr.set_defaults(func=cmd_cdr)

    version = commands.add_parser("version", help="print the version")
    version.set_defaults(func=cmd_version)

    add_ca_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `vcgw` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except GatewayError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
