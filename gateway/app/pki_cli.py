"""``vcgw ca``: the command line of the per-site certificate authority.

A thin layer over :mod:`gateway.pki.ca`: it parses arguments, reads the clock
and password files, calls the CA and prints short results. Every failure is
one line on stderr starting with ``error:`` and exit status 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from gateway.errors import PkiError
from gateway.pki import fsutil
from gateway.pki.ca import CertificateAuthority, CertRecord, IssuedCertificate
from gateway.pki.profiles import REVOCATION_REASONS

__all__ = ["add_ca_parser", "main", "run_ca"]

DEFAULT_CA_DIR = "certs"
_CA_KEY_TYPES = ("rsa3072", "ec-p256")
_LEAF_KEY_TYPES = ("rsa2048", "rsa3072", "ec-p256")


def _common_options(parser: argparse.ArgumentParser, *, is_subcommand: bool) -> None:
    """--ca-dir and --ca-pass-file, accepted before or after the subcommand.

    On subcommands the defaults are suppressed, so that a value given before
    the subcommand is not overwritten.
    """
    parser.add_argument(
        "--ca-dir",
        default=argparse.SUPPRESS if is_subcommand else DEFAULT_CA_DIR,
        metavar="DIR",
        help=f"CA folder (default: {DEFAULT_CA_DIR})",
    )
    parser.add_argument(
        "--ca-pass-file",
        default=argparse.SUPPRESS if is_subcommand else None,
        metavar="FILE",
        help="file with the CA key passphrase (default: DIR/private/ca.pass)",
    )


def _leaf_options(parser: argparse.ArgumentParser, *, default_days: int | None) -> None:
    parser.add_argument(
        "--days",
        type=int,
        default=default_days,
        help="validity in days"
        + (f" (default: {default_days})" if default_days else " (default: as before)"),
    )


def _p12_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--p12-password-file",
        metavar="FILE",
        help="PKCS#12 password (default: random, written to SITE.p12.pass)",
    )
    parser.add_argument(
        "--p12-legacy",
        action="store_true",
        help="old PKCS#12 encryption (3DES/SHA-1) for room systems made before ~2018",
    )


def add_ca_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``ca`` command and its subcommands on ``subparsers``."""
    ca = subparsers.add_parser(
        "ca",
        help="manage the site certificate authority",
        description="Certificate authority for site room systems and the gateway.",
    )
    _common_options(ca, is_subcommand=False)
    ca.set_defaults(func=run_ca)
    commands = ca.add_subparsers(dest="ca_command", required=True, metavar="COMMAND")

    def sub(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(
            name, help=help_text, description=help_text
        )
        _common_options(parser, is_subcommand=True)
        return parser

    init = sub("init", "create a new CA (refuses to overwrite one)")
    init.add_argument("--org", required=True, help="organisation name in certificates")
    init.add_argument("--domain", required=True, help="the province's SIP domain")
    init.add_argument("--key-type", choices=_CA_KEY_TYPES, default="rsa3072")
    init.add_argument("--days", type=int, default=3650, help="validity (default: 3650)")

    issue = sub("issue", "issue a certificate for a new site")
    issue.add_argument("site", metavar="SITE", help="site name (SIP user part)")
    _leaf_options(issue, default_days=825)
    issue.add_argument(
        "--key-type",
        choices=_LEAF_KEY_TYPES,
        default="rsa2048",
        help="default rsa2048: many 2015-2020 room systems cannot use ECDSA",
    )
    _p12_options(issue)

    server = sub("server", "issue the gateway's own TLS certificate")
    server.add_argument("hostname", metavar="HOSTNAME", help="the gateway's DNS name")
    server.add_argument(
        "--ip", action="append", default=[], metavar="IP", help="also name this IP"
    )
    _leaf_options(server, default_days=825)
    server.add_argument("--key-type", choices=_LEAF_KEY_TYPES, default="rsa2048")

    revoke = sub("revoke", "revoke a site (or a serial) and rewrite the CRL")
    revoke.add_argument("site", metavar="SITE", nargs="?", help="site name")
    revoke.add_argument("--serial", metavar="HEX", help="revoke this serial instead")
    revoke.add_argument(
        "--reason", choices=tuple(REVOCATION_REASONS), default="unspecified"
    )

    crl = sub("crl", "publish a fresh CRL")
    crl.add_argument(
        "--next-update-days", type=int, default=7, help="CRL lifetime (default: 7)"
    )

    renew = sub("renew", "new key and certificate for a site; the old is revoked")
    renew.add_argument("site", metavar="SITE", help="site name")
    _leaf_options(renew, default_days=None)
    _p12_options(renew)

    listing = sub("list", "list all certificates")
    listing.add_argument("--json", action="store_true", help="print JSON")


def run_ca(args: argparse.Namespace) -> int:
    """Run a parsed ``vcgw ca`` command; 0 on success, 1 on error."""
    handler = _HANDLERS[args.ca_command]
    now = dt.datetime.now(dt.UTC)
    try:
        handler(args, now)
    except PkiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # A file problem the CA did not translate.
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def _pass_file(args: argparse.Namespace) -> Path | None:
    return None if args.ca_pass_file is None else Path(args.ca_pass_file)


def _load(args: argparse.Namespace) -> CertificateAuthority:
    return CertificateAuthority.load(
        Path(args.ca_dir), passphrase_file=_pass_file(args)
    )


def _p12_password(args: argparse.Namespace) -> bytes | None:
    if args.p12_password_file is None:
        return None
    return fsutil.read_secret_file(
        Path(args.p12_password_file), what="PKCS#12 password"
    )


def _cmd_init(args: argparse.Namespace, now: dt.datetime) -> None:
    ca = CertificateAuthority.create(
        Path(args.ca_dir),
        org=args.org,
        domain=args.domain,
        key_type=args.key_type,
        days=args.days,
        now=now,
        passphrase_file=_pass_file(args),
    )
    until = ca.ca_certificate.not_valid_after_utc
    passphrase = args.ca_pass_file or ca.ca_dir / "private" / "ca.pass"
    print(f"Created CA for {ca.domain} in {ca.ca_dir}, valid until {until:%Y-%m-%d}.")
    print(f"  CA certificate: {ca.ca_cert_path}  (install it on every site)")
    key_path = ca.ca_dir / "private" / "ca.key"
    print(f"  CA key:         {key_path}  (passphrase in {passphrase})")
    print(f"  CRL:            {ca.crl_path}")
    print(f"Back up {ca.ca_dir / 'private'} to a safe place now.")


def _print_issued(what: str, issued: IssuedCertificate) -> None:
    print(
        f"{what} {issued.name}: serial {issued.serial_hex}, "
        f"valid until {issued.not_after:%Y-%m-%d}."
    )
    print(f"  certificate: {issued.cert_path}")
    print(f"  private key: {issued.key_path}")
    print(f"  chain:       {issued.chain_path}")
    if issued.p12_path is not None:
        where = issued.p12_password_path or "the file you gave"
        print(f"  PKCS#12:     {issued.p12_path}  (password in {where})")


def _cmd_issue(args: argparse.Namespace, now: dt.datetime) -> None:
    password = _p12_password(args)
    issued = _load(args).issue_site(
        args.site,
        days=args.days,
        key_type=args.key_type,
        p12_password=password,
        p12_legacy=args.p12_legacy,
        now=now,
    )
    _print_issued("Issued site", issued)


def _cmd_server(args: argparse.Namespace, now: dt.datetime) -> None:
    issued = _load(args).issue_server(
        args.hostname, ips=args.ip, days=args.days, key_type=args.key_type, now=now
    )
    _print_issued("Issued server certificate for", issued)


def _cmd_renew(args: argparse.Namespace, now: dt.datetime) -> None:
    password = _p12_password(args)
    issued = _load(args).renew(
        args.site,
        days=args.days,
        p12_password=password,
        p12_legacy=args.p12_legacy,
        now=now,
    )
    _print_issued("Renewed site", issued)
    print("  The old certificate is revoked (superseded); its files are in old/.")


def _cmd_revoke(args: argparse.Namespace, now: dt.datetime) -> None:
    if (args.site is None) == (args.serial is None):
        raise PkiError("give a SITE or --serial HEX (exactly one)")
    ca = _load(args)
    record = ca.revoke(
        site=args.site, serial_hex=args.serial, reason=args.reason, now=now
    )
    print(f"Revoked {record.kind} {record.name} (serial {record.serial_hex}).")
    print(f"  CRL updated: {ca.crl_path}  (reload the gateway to apply it)")


def _cmd_crl(args: argparse.Namespace, now: dt.datetime) -> None:
    path = _load(args).write_crl(now=now, next_update_days=args.next_update_days)
    until = now + dt.timedelta(days=args.next_update_days)
    print(f"Wrote {path}, next update {until:%Y-%m-%d %H:%M} UTC.")


def _record_to_json(record: CertRecord) -> dict[str, str | None]:
    def iso(moment: dt.datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    return {
        "name": record.name,
        "kind": record.kind,
        "serial": record.serial_hex,
        "not_before": iso(record.not_before),
        "not_after": iso(record.not_after),
        "status": record.status,
        "sha256": record.sha256_fingerprint,
        "revoked_at": iso(record.revoked_at),
        "reason": record.reason,
    }


def _cmd_list(args: argparse.Namespace, now: dt.datetime) -> None:
    records = _load(args).list(now=now)
    if args.json:
        print(json.dumps([_record_to_json(r) for r in records], indent=2))
        return
    if not records:
        print("No certificates yet. Issue one with: vcgw ca issue SITE")
        return
    width = max(len(r.name) for r in records)
    print(f"{'SITE':<{width}}  KIND    SERIAL{' ' * 35}NOT-AFTER   STATUS      SHA-256")
    for r in records:
        print(
            f"{r.name:<{width}}  {r.kind:<6}  {r.serial_hex:<40} "
            f"{r.not_after:%Y-%m-%d}  {r.status:<10}  {r.sha256_fingerprint}"
        )


_HANDLERS: dict[str, Callable[[argparse.Namespace, dt.datetime], None]] = {
    "init": _cmd_init,
    "issue": _cmd_issue,
    "server": _cmd_server,
    "revoke": _cmd_revoke,
    "crl": _cmd_crl,
    "renew": _cmd_renew,
    "list": _cmd_list,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``vcgw ca`` alone (``python -m gateway.app.pki_cli ca ...``)."""
    parser = argparse.ArgumentParser(prog="vcgw")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_ca_parser(commands)
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
