"""Sealing keys as Bitnami-compatible Secrets, renewal timing, and the CRD file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from tests.secrets.conftest import DATA
from tether.secrets.crd import sealed_secret_crd_yaml
from tether.secrets.keys import (
    KEY_LABEL,
    KeyMaterialError,
    KeyPair,
    KeyRing,
    generate_key_pair,
    key_secret,
    key_usage,
    load_private_keys,
    parse_key_secret,
)

DAY = dt.timedelta(days=1)


def test_key_secret_round_trips_like_bitnami(pair1: KeyPair) -> None:
    secret = key_secret(pair1, "kube-system")
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["labels"] == {KEY_LABEL: "active"}
    assert secret["metadata"]["generateName"] == "sealed-secrets-key-"
    secret["metadata"].update(
        name="sealed-secrets-keyabc", creationTimestamp="2025-02-01T00:00:00Z"
    )
    parsed = parse_key_secret(secret)
    assert parsed.fingerprint() == pair1.fingerprint()
    assert parsed.created == dt.datetime(2025, 2, 1, tzinfo=dt.UTC)
    assert "PRIVATE" not in repr(parsed)


def test_renewal_is_due_after_the_period_and_never_deletes(pair1: KeyPair, pair2: KeyPair) -> None:
    ring = KeyRing()
    now = dt.datetime(2025, 1, 20, tzinfo=dt.UTC)
    assert ring.renewal_due(now, 30 * DAY)
    ring.add(pair1)  # created 2025-01-01
    assert not ring.renewal_due(now, 30 * DAY)
    assert ring.renewal_due(now + 12 * DAY, 30 * DAY)
    assert not ring.renewal_due(now + 400 * DAY, None)
    assert ring.renewal_due(now, 30 * DAY, cutoff=now - DAY)
    assert ring.next_renewal(30 * DAY) == pair1.created + 30 * DAY
    ring.add(pair2)
    ring.add(pair1)
    assert len(ring) == 2 and ring.latest is pair2
    assert list(ring.private_keys()) == [pair2.private_key, pair1.private_key]


def test_unreadable_key_secret_is_reported_without_its_contents() -> None:
    bad = {"metadata": {"name": "k"}, "data": {"tls.key": "bm90IGEga2V5", "tls.crt": ""}}
    ring, problems = KeyRing.from_secrets([bad])
    assert len(ring) == 0 and problems == ["key Secret k: no RSA private key found"]


def test_recovery_keys_load_from_pem_or_secret_backup(pair1: KeyPair) -> None:
    pem = (DATA / "test-key-1.pem").read_bytes()
    assert len(load_private_keys(pem)) == 1
    backup = yaml.safe_dump(
        {"apiVersion": "v1", "kind": "List", "items": [key_secret(pair1, "ns")]}
    )
    keys = load_private_keys(backup.encode())
    assert keys[0].private_numbers() == pair1.private_key.private_numbers()
    with pytest.raises(KeyMaterialError, match="no RSA private key"):
        load_private_keys(b"hello")


def test_deploy_crd_file_matches_the_code() -> None:
    shipped = Path(__file__).resolve().parents[2] / "deploy" / "crds" / "sealedsecret.yaml"
    assert shipped.read_text() == sealed_secret_crd_yaml()


def test_sealing_certificate_allows_key_encipherment_and_certificate_signing_only() -> None:
    pair = generate_key_pair(key_size=2048)
    usage = pair.certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value == key_usage("key_encipherment", "key_cert_sign")
    assert usage.value.key_encipherment and not usage.value.digital_signature
    with pytest.raises(ValueError, match="not key usages: sign_everything"):
        key_usage("sign_everything")
