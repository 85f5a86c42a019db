"""CertificateAuthority: layout, permissions, lifecycle and refusals."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from gateway.errors import PkiError
from gateway.pki.ca import CertificateAuthority

from .conftest import DOMAIN, ORG


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_create_writes_the_layout(tmp_path: Path, now: dt.datetime) -> None:
    """init makes ca.crt, crl.pem, private/ca.key (encrypted, 0600), ca.pass
    (0600), the inventory with org and domain, and an empty sites/."""
    ca = CertificateAuthority.create(
        tmp_path / "certs", org=ORG, domain="VC.Example.VN", key_type="ec-p256", now=now
    )
    root = tmp_path / "certs"
    assert _tree(root) == {
        ".lock",
        "ca.crt",
        "crl.pem",
        "inventory.sqlite3",
        "private",
        "private/ca.key",
        "private/ca.pass",
        "sites",
    }
    assert _mode(root / "private") == 0o700
    assert _mode(root / "private" / "ca.key") == 0o600
    assert _mode(root / "private" / "ca.pass") == 0o600
    key_pem = (root / "private" / "ca.key").read_bytes()
    assert key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(key_pem, password=None)
    assert ca.domain == "vc.example.vn" and ca.org == ORG
    assert ca.ca_cert_path == root / "ca.crt" and ca.crl_path == root / "crl.pem"
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    reloaded = CertificateAuthority.load(root)
    assert (reloaded.domain, reloaded.org) == ("vc.example.vn", ORG)


def test_create_refuses_existing_ca(ca: CertificateAuthority, now: dt.datetime) -> None:
    """A second init in the same folder is refused and changes nothing."""
    before = ca.ca_cert_path.read_bytes()
    with pytest.raises(PkiError, match=r"already holds a CA .*refusing to overwrite"):
        CertificateAuthority.create(
            ca.ca_dir, org="x", domain="x.vn", key_type="ec-p256", now=now
        )
    assert ca.ca_cert_path.read_bytes() == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"org": ""}, "--org '' must be 1 to 64"),
        ({"domain": "bad domain"}, "--domain 'bad domain' is not a valid DNS name"),
        ({"key_type": "rsa2048"}, "key type 'rsa2048' is not allowed here"),
        ({"days": 0}, "--days 0 is not a positive number"),
    ],
)
def test_create_bad_input_leaves_nothing(
    tmp_path: Path, now: dt.datetime, kwargs: dict[str, object], message: str
) -> None:
    """Bad init arguments are refused before any file is written."""
    args: dict[str, object] = {"org": ORG, "domain": DOMAIN, "key_type": "ec-p256"}
    args.update(kwargs)
    with pytest.raises(PkiError, match=message):
        CertificateAuthority.create(tmp_path / "certs", now=now, **args)  # type: ignore[arg-type]
    assert not (tmp_path / "certs").exists()


def test_external_passphrase_file(tmp_path: Path, now: dt.datetime) -> None:
    """With --ca-pass-file no ca.pass is written; load finds the file again."""
    pass_file = tmp_path / "secret.txt"
    pass_file.write_text("correct horse battery\n")
    CertificateAuthority.create(
        tmp_path / "certs",
        org=ORG,
        domain=DOMAIN,
        key_type="ec-p256",
        now=now,
        passphrase_file=pass_file,
    )
    assert not (tmp_path / "certs" / "private" / "ca.pass").exists()
    key_pem = (tmp_path / "certs" / "private" / "ca.key").read_bytes()
    serialization.load_pem_private_key(key_pem, password=b"correct horse battery")
    ca = CertificateAuthority.load(tmp_path / "certs")
    ca.issue_site("s1", key_type="ec-p256", now=now)


def test_wrong_passphrase_is_a_clear_error(
    ca: CertificateAuthority, tmp_path: Path, now: dt.datetime
) -> None:
    """A wrong passphrase names the key and the passphrase file; no site appears."""
    wrong = tmp_path / "wrong.pass"
    wrong.write_text("nope")
    other = CertificateAuthority.load(ca.ca_dir, passphrase_file=wrong)
    with pytest.raises(PkiError, match=r"cannot decrypt .*ca.key with the passphrase"):
        other.issue_site("s1", key_type="ec-p256", now=now)
    assert _tree(ca.ca_dir / "sites") == set()
    assert other.list(now=now) == []


def test_load_errors(tmp_path: Path) -> None:
    """load says what is missing and what to do."""
    with pytest.raises(PkiError, match="does not exist: run 'vcgw ca init'"):
        CertificateAuthority.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PkiError, match=r"no CA in .*inventory.sqlite3 is missing"):
        CertificateAuthority.load(tmp_path / "empty")


def test_issue_site_files_and_modes(ca: CertificateAuthority, now: dt.datetime) -> None:
    """issue writes cert, key (0600), chain, p12 and p12.pass (0600) in sites/SITE."""
    issued = ca.issue_site("hue", key_type="ec-p256", now=now)
    site_dir = ca.ca_dir / "sites" / "hue"
    assert _tree(site_dir) == {
        "hue.crt",
        "hue.key",
        "hue-chain.pem",
        "hue.p12",
        "hue.p12.pass",
    }
    assert issued.cert_path == site_dir / "hue.crt"
    assert issued.p12_password_path == site_dir / "hue.p12.pass"
    for private in ("hue.key", "hue.p12", "hue.p12.pass"):
        assert _mode(site_dir / private) == 0o600
    assert _mode(site_dir) == 0o700
    chain = x509.load_pem_x509_certificates(issued.chain_path.read_bytes())
    assert chain[0].serial_number == int(issued.serial_hex, 16)
    assert chain[1] == ca.ca_certificate
    key = serialization.load_pem_private_key(issued.key_path.read_bytes(), None)
    assert key.public_key() == chain[0].public_key()
    password = issued.p12_password_path.read_bytes().strip()
    bundle = pkcs12.load_pkcs12(issued.p12_path.read_bytes(), password)  # type: ignore[union-attr]
    assert bundle.cert is not None and bundle.cert.certificate == chain[0]
    assert [c.certificate for c in bundle.additional_certs] == [ca.ca_certificate]


def test_issue_with_given_p12_password(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """A supplied PKCS#12 password is used and no .p12.pass is written; the
    legacy option makes a bundle that still loads."""
    issued = ca.issue_site(
        "s1", key_type="ec-p256", p12_password=b"pw-123", p12_legacy=True, now=now
    )
    assert issued.p12_password_path is None
    assert not (ca.ca_dir / "sites" / "s1" / "s1.p12.pass").exists()
    assert issued.p12_path is not None
    pkcs12.load_pkcs12(issued.p12_path.read_bytes(), b"pw-123")
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(issued.p12_path.read_bytes(), b"wrong")


def test_issue_active_name_again_is_refused(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """A site with an active certificate cannot be issued again, whatever
    the letter case; the message points to renew."""
    ca.issue_site("HaNoi", key_type="ec-p256", now=now)
    with pytest.raises(
        PkiError, match=r"'HaNoi' already has a certificate.*renew HaNoi"
    ):
        ca.issue_site("hanoi", key_type="ec-p256", now=now)
    assert not (ca.ca_dir / "sites" / "hanoi").exists()
    assert len(ca.list(now=now)) == 1


def test_bad_site_name_writes_nothing(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """An invalid name is refused before any file or record appears."""
    with pytest.raises(PkiError, match="has a slash"):
        ca.issue_site("../evil", now=now)
    assert _tree(ca.ca_dir / "sites") == set()
    assert ca.list(now=now) == []


def test_days_beyond_ca_are_refused(ca: CertificateAuthority, now: dt.datetime) -> None:
    """A leaf may not outlive the CA; the error gives the largest --days."""
    with pytest.raises(
        PkiError, match=r"would outlive the CA .* use --days 3650 or less"
    ):
        ca.issue_site("s1", days=4000, key_type="ec-p256", now=now)
    later = now + dt.timedelta(days=4000)
    with pytest.raises(PkiError, match="the CA expired on"):
        ca.issue_site("s1", days=1, key_type="ec-p256", now=later)
    assert _tree(ca.ca_dir / "sites") == set()


def test_revoke_then_reissue(ca: CertificateAuthority, now: dt.datetime) -> None:
    """Revoking frees the name; a re-issue archives the revoked files in old/."""
    first = ca.issue_site("s1", key_type="ec-p256", now=now)
    record = ca.revoke(site="s1", reason="key-compromise", now=now)
    assert (record.status, record.reason, record.revoked_at) == (
        "revoked",
        "key-compromise",
        now,
    )
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(int(first.serial_hex, 16))
    with pytest.raises(PkiError, match="'s1' is already revoked"):
        ca.revoke(site="s1", now=now)
    second = ca.issue_site("s1", key_type="ec-p256", now=now)
    archived = ca.ca_dir / "sites" / "s1" / "old" / first.serial_hex / "s1.crt"
    assert x509.load_pem_x509_certificate(archived.read_bytes()).serial_number == int(
        first.serial_hex, 16
    )
    assert second.cert_path.exists()
    statuses = [(r.serial_hex, r.status) for r in ca.list(now=now)]
    assert statuses == [(first.serial_hex, "revoked"), (second.serial_hex, "valid")]


def test_revoke_by_serial_and_errors(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """--serial accepts colons and upper case; bad requests say why."""
    issued = ca.issue_site("s1", key_type="ec-p256", now=now)
    colon_serial = ":".join(
        issued.serial_hex[i : i + 2] for i in range(0, len(issued.serial_hex), 2)
    ).upper()
    assert ca.revoke(serial_hex=colon_serial, now=now).serial_hex == issued.serial_hex
    with pytest.raises(PkiError, match="is already revoked"):
        ca.revoke(serial_hex=issued.serial_hex, now=now)
    with pytest.raises(PkiError, match="no certificate with serial 0102"):
        ca.revoke(serial_hex="0102", now=now)
    with pytest.raises(PkiError, match="no certificate for site 'ghost'"):
        ca.revoke(site="ghost", now=now)
    with pytest.raises(PkiError, match="either a site name or --serial"):
        ca.revoke(site="s1", serial_hex="01", now=now)
    with pytest.raises(PkiError, match="unknown reason 'lost'"):
        ca.revoke(site="s1", reason="lost", now=now)


def test_renew_supersedes_and_archives(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """renew keeps the key type and lifetime, revokes the old cert as
    superseded (on the CRL) and moves its files to old/SERIAL/."""
    first = ca.issue_site("s1", days=30, key_type="ec-p256", now=now)
    later = now + dt.timedelta(days=20)
    second = ca.renew("s1", now=later)
    assert second.serial_hex != first.serial_hex
    assert second.not_after == later + dt.timedelta(days=30)
    old_dir = ca.ca_dir / "sites" / "s1" / "old" / first.serial_hex
    assert _tree(old_dir) == {
        "s1.crt",
        "s1.key",
        "s1-chain.pem",
        "s1.p12",
        "s1.p12.pass",
    }
    records = {r.serial_hex: r for r in ca.list(now=later)}
    assert records[first.serial_hex].status == "superseded"
    assert records[first.serial_hex].reason == "superseded"
    assert records[second.serial_hex].status == "valid"
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(int(first.serial_hex, 16))
    assert entry is not None
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.superseded
    third = ca.renew("s1", now=later)
    assert (ca.ca_dir / "sites" / "s1" / "old" / second.serial_hex / "s1.crt").exists()
    assert old_dir.exists() and third.cert_path.exists()


def test_renew_needs_an_active_certificate(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """renew of an unknown or revoked site says to issue instead."""
    with pytest.raises(PkiError, match=r"no active certificate to renew.*issue ghost"):
        ca.renew("ghost", now=now)


def test_list_reports_expiry(ca: CertificateAuthority, now: dt.datetime) -> None:
    """list derives 'expired' from the time given; fingerprints match openssl form."""
    issued = ca.issue_site("s1", days=10, key_type="ec-p256", now=now)
    [record] = ca.list(now=now + dt.timedelta(days=11))
    assert record.status == "expired" and record.kind == "site"
    cert = x509.load_pem_x509_certificate(issued.cert_path.read_bytes())
    assert (
        record.sha256_fingerprint == cert.fingerprint(hashes.SHA256()).hex(":").upper()
    )


def test_server_reissue_replaces(ca: CertificateAuthority, now: dt.datetime) -> None:
    """Re-issuing the server certificate replaces it and archives the old one."""
    first = ca.issue_server("gw1", key_type="ec-p256", now=now)
    second = ca.issue_server("gw2", key_type="ec-p256", now=now)
    assert second.cert_path == ca.ca_dir / "server" / "server.crt"
    assert (ca.ca_dir / "server" / "old" / first.serial_hex / "server.key").exists()
    assert _mode(ca.ca_dir / "server" / "server.key") == 0o600
    statuses = [(r.name, r.kind, r.status) for r in ca.list(now=now)]
    assert statuses == [("gw1", "server", "superseded"), ("gw2", "server", "valid")]


def test_write_crl_refreshes_next_update(
    ca: CertificateAuthority, now: dt.datetime
) -> None:
    """crl bumps the CRL number and moves thisUpdate/nextUpdate forward."""
    later = now + dt.timedelta(days=6)
    path = ca.write_crl(now=later, next_update_days=3)
    crl = x509.load_pem_x509_crl(path.read_bytes())
    assert crl.last_update_utc == later
    assert crl.next_update_utc == later + dt.timedelta(days=3)
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    with pytest.raises(PkiError, match="must be 1 or more"):
        ca.write_crl(now=later, next_update_days=0)


def test_naive_time_is_refused(ca: CertificateAuthority) -> None:
    """A naive datetime is a programming error reported as PkiError."""
    with pytest.raises(PkiError, match="timezone-aware"):
        ca.list(now=dt.datetime(2026, 1, 1))
