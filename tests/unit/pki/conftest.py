"""Fixtures for the CA tests: a fixed clock and fast EC CAs in tmp folders."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.pki.ca import CertificateAuthority

NOW = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
DOMAIN = "vc.example.gov.vn"
ORG = "So Thong tin va Truyen thong"


@pytest.fixture
def now() -> dt.datetime:
    """The fake wall clock every test passes to the CA."""
    return NOW


@pytest.fixture(scope="session")
def _ec_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ca_dir = tmp_path_factory.mktemp("ec-template") / "certs"
    CertificateAuthority.create(
        ca_dir, org=ORG, domain=DOMAIN, key_type="ec-p256", now=NOW
    ).close()
    return ca_dir


@pytest.fixture(scope="session")
def _rsa_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # RSA-3072 generation is slow: make one per session and copy it.
    ca_dir = tmp_path_factory.mktemp("rsa-template") / "certs"
    CertificateAuthority.create(
        ca_dir, org=ORG, domain=DOMAIN, key_type="rsa3072", now=NOW
    ).close()
    return ca_dir


def _copy(template: Path, target: Path) -> CertificateAuthority:
    shutil.copytree(template, target)
    return CertificateAuthority.load(target)


@pytest.fixture
def ca(_ec_template: Path, tmp_path: Path) -> CertificateAuthority:
    """A fresh EC P-256 CA of its own in ``tmp_path/certs``."""
    return _copy(_ec_template, tmp_path / "certs")


@pytest.fixture
def rsa_ca(_rsa_template: Path, tmp_path: Path) -> CertificateAuthority:
    """A fresh RSA-3072 CA (copied from a session template)."""
    return _copy(_rsa_template, tmp_path / "certs")


@pytest.fixture
def ca_copy(_ec_template: Path, tmp_path: Path) -> Callable[[str], Path]:
    """Copy the EC template into ``tmp_path/NAME`` and return that folder."""

    def make(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(_ec_template, target)
        return target

    return make
