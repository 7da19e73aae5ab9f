"""Shared fixtures for secrets tests: committed test keys, the SOPS corpus and its age keys."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.corpora import CORPORA
from tether.secrets.keys import KeyPair
from tether.secrets.sops import SopsKeys

DATA = Path(__file__).resolve().parent / "data"
SOPS_CORPUS = CORPORA / "kustomize-controller-sops" / "sops"


def load_pair(index: int, name: str = "") -> KeyPair:
    """Committed RSA-4096 test key ``index`` (1 or 2) with its certificate: TEST ONLY keys."""
    key = serialization.load_pem_private_key((DATA / f"test-key-{index}.pem").read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey)
    cert = x509.load_pem_x509_certificate((DATA / f"test-cert-{index}.pem").read_bytes())
    return KeyPair(
        name or f"test-key-{index}", key, cert, dt.datetime(2025, 1, index, tzinfo=dt.UTC)
    )


@pytest.fixture(scope="session")
def pair1() -> KeyPair:
    return load_pair(1)


@pytest.fixture(scope="session")
def pair2() -> KeyPair:
    return load_pair(2)


@pytest.fixture(scope="session")
def sops_keys() -> SopsKeys:
    return SopsKeys.from_files(
        [SOPS_CORPUS / "keys" / "age.txt", SOPS_CORPUS / "keys" / "age-global.txt"]
    )
