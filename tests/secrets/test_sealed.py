"""The kubeseal wire format: known answers, layout, scopes, and clear errors on bad input."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tests.secrets.conftest import DATA
from tether.secrets.keys import KeyPair
from tether.secrets.sealed import (
    CLUSTER_WIDE_ANNOTATION,
    NAMESPACE_WIDE_ANNOTATION,
    CorruptedValueError,
    NoMatchingKeyError,
    PlainSecret,
    Scope,
    SealingError,
    encryption_label,
    reseal,
    scope_of,
    seal_secret,
    seal_value,
    secret_from_sealed,
    unseal_data,
    unseal_value,
)

SESSION_KEY = bytes(range(32))
OAEP_SEED = bytes(range(32, 64))
PLAINTEXT = b"hunter2"


def _vectors() -> dict[str, str]:
    lines = (DATA / "vectors.txt").read_text().splitlines()
    return dict(line.split(" ", 1) for line in lines if line and not line.startswith("#"))


def _mgf1(seed: bytes, length: int) -> bytes:
    out = b"".join(
        hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range((length + 31) // 32)
    )
    return out[:length]


@pytest.mark.parametrize(
    ("scope", "namespace", "name", "label"),
    [
        (Scope.STRICT, "default", "mysecret", b"default/mysecret"),
        (Scope.NAMESPACE_WIDE, "default", "", b"default"),
        (Scope.CLUSTER_WIDE, "", "", b""),
    ],
)
def test_known_answer_vectors_match_byte_for_byte(
    pair1: KeyPair, scope: Scope, namespace: str, name: str, label: bytes
) -> None:
    expected = _vectors()[scope.value]
    sealed = seal_value(
        pair1.public_key(),
        PLAINTEXT,
        scope=scope,
        namespace=namespace,
        name=name,
        session_key=SESSION_KEY,
        oaep_seed=OAEP_SEED,
    )
    assert sealed == expected
    raw = base64.b64decode(expected)
    # layout: 2-byte big-endian length, 512 bytes of RSA, then AES-GCM ciphertext and tag
    assert struct.unpack(">H", raw[:2]) == (512,)
    assert len(raw) == 2 + 512 + len(PLAINTEXT) + 16
    # the AES part, derived independently: zero nonce, no associated data
    assert raw[514:] == AESGCM(SESSION_KEY).encrypt(bytes(12), PLAINTEXT, None)
    # the RSA part decoded by hand (RFC 8017 EME-OAEP, SHA-256, label = scope label)
    numbers = pair1.private_key.private_numbers()
    em = pow(int.from_bytes(raw[2:514], "big"), numbers.d, numbers.public_numbers.n)
    em_bytes = em.to_bytes(512, "big")
    assert em_bytes[0] == 0
    masked_seed, masked_db = em_bytes[1:33], em_bytes[33:]
    seed = bytes(a ^ b for a, b in zip(masked_seed, _mgf1(masked_db, 32), strict=True))
    assert seed == OAEP_SEED
    db = bytes(a ^ b for a, b in zip(masked_db, _mgf1(seed, 479), strict=True))
    assert db[:32] == hashlib.sha256(label).digest()
    assert db[-33:] == b"\x01" + SESSION_KEY
    assert set(db[32:-33]) == {0}
    # and the standard library implementation agrees
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)
    assert pair1.private_key.decrypt(raw[2:514], oaep) == SESSION_KEY


def test_random_sealing_round_trips_and_differs_each_time(pair1: KeyPair) -> None:
    one = seal_value(pair1.public_key(), b"s3cr3t", namespace="ns", name="n")
    two = seal_value(pair1.public_key(), b"s3cr3t", namespace="ns", name="n")
    assert one != two
    for sealed in (one, two):
        assert unseal_value([pair1.private_key], sealed, namespace="ns", name="n") == b"s3cr3t"


def test_labels_follow_the_scope() -> None:
    assert encryption_label(Scope.STRICT, "myns", "myname") == b"myns/myname"
    assert encryption_label(Scope.NAMESPACE_WIDE, "myns", "myname") == b"myns"
    assert encryption_label(Scope.CLUSTER_WIDE, "myns", "myname") == b""
    assert scope_of({"annotations": {NAMESPACE_WIDE_ANNOTATION: "true"}}) is Scope.NAMESPACE_WIDE
    assert scope_of({"annotations": {CLUSTER_WIDE_ANNOTATION: "true"}}) is Scope.CLUSTER_WIDE
    assert scope_of({}) is Scope.STRICT


def test_strict_value_moved_to_another_name_fails_cluster_wide_works(pair1: KeyPair) -> None:
    strict = seal_value(pair1.public_key(), b"v", namespace="a", name="x")
    with pytest.raises(NoMatchingKeyError):
        unseal_value([pair1.private_key], strict, namespace="a", name="y")
    with pytest.raises(NoMatchingKeyError):
        unseal_value([pair1.private_key], strict, namespace="b", name="x")
    wide = seal_value(pair1.public_key(), b"v", scope=Scope.CLUSTER_WIDE)
    assert unseal_value([pair1.private_key], wide, scope=Scope.CLUSTER_WIDE) == b"v"


def test_every_key_is_tried(pair1: KeyPair, pair2: KeyPair) -> None:
    sealed = seal_value(pair1.public_key(), b"v", namespace="a", name="x")
    keys = [pair2.private_key, pair1.private_key]
    assert unseal_value(keys, sealed, namespace="a", name="x") == b"v"


def _sealed_object(value: str, annotations: dict[str, str] | None = None) -> dict[str, object]:
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": "x", "namespace": "a", "annotations": annotations or {}},
        "spec": {"encryptedData": {"password": value}},
    }


def _raw(pair: KeyPair, value: bytes = b"topsecret-value") -> bytes:
    return base64.b64decode(seal_value(pair.public_key(), value, namespace="a", name="x"))


@pytest.mark.parametrize(
    ("mangle", "expected"),
    [
        (lambda raw: base64.b64encode(raw[:300]).decode(), "2-byte length says 512"),
        (lambda raw: "!!not base64!!", "not valid base64"),
        (lambda raw: base64.b64encode(b"\xff\xff" + raw[2:100]).decode(), "says 65535"),
        (lambda raw: base64.b64encode(b"\x01").decode(), "too short (1 bytes)"),
        (lambda raw: base64.b64encode(raw[:514] + raw[520:]).decode(), "does not authenticate"),
        (lambda raw: base64.b64encode(raw[:-1] + bytes([raw[-1] ^ 1])).decode(), "altered"),
    ],
    ids=["truncated", "bad-base64", "length-too-large", "one-byte", "aes-cut", "tag-flipped"],
)
def test_corrupted_values_give_clear_errors_without_plaintext(
    pair1: KeyPair, mangle: object, expected: str
) -> None:
    value = mangle(_raw(pair1))  # type: ignore[operator]
    with pytest.raises(CorruptedValueError) as caught:
        unseal_data([pair1.private_key], _sealed_object(value))
    message = str(caught.value)
    assert expected in message
    assert "encryptedData['password']" in message
    assert "topsecret" not in message


def test_value_for_another_key_says_so(pair1: KeyPair, pair2: KeyPair) -> None:
    value = seal_value(pair2.public_key(), b"topsecret", namespace="a", name="x")
    with pytest.raises(NoMatchingKeyError) as caught:
        unseal_data([pair1.private_key], _sealed_object(value))
    assert "sealed with another key, or for another name or namespace" in str(caught.value)


def test_scope_mismatch_is_named(pair1: KeyPair) -> None:
    value = seal_value(pair1.public_key(), b"topsecret", scope=Scope.CLUSTER_WIDE)
    with pytest.raises(NoMatchingKeyError) as caught:
        unseal_data([pair1.private_key], _sealed_object(value))
    assert "sealed with scope cluster-wide, but the SealedSecret asks for strict" in str(
        caught.value
    )
    obj = _sealed_object(value, {CLUSTER_WIDE_ANNOTATION: "true"})
    assert unseal_data([pair1.private_key], obj) == {"password": b"topsecret"}


def test_seal_secret_produces_a_sealed_secret_that_unseals(pair1: KeyPair) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "db",
            "namespace": "prod",
            "labels": {"app": "db"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "a": "b"},
        },
        "type": "kubernetes.io/basic-auth",
        "immutable": True,
        "data": {"username": base64.b64encode(b"admin").decode()},
        "stringData": {"password": "pw"},
    }
    sealed = seal_secret(pair1.public_key(), PlainSecret.from_object(secret))
    assert sealed["metadata"] == {"name": "db", "namespace": "prod"}
    template = sealed["spec"]["template"]
    assert template["metadata"]["annotations"] == {"a": "b"}
    assert template["type"] == "kubernetes.io/basic-auth" and template["immutable"] is True
    sealed["metadata"]["uid"] = "u-1"
    data = unseal_data([pair1.private_key], sealed)
    assert data == {"username": b"admin", "password": b"pw"}
    out = secret_from_sealed(sealed, data)
    assert out["data"] == {"password": "cHc=", "username": "YWRtaW4="}
    assert out["metadata"]["labels"] == {"app": "db"}
    assert out["metadata"]["ownerReferences"][0]["controller"] is True
    assert out["type"] == "kubernetes.io/basic-auth" and out["immutable"] is True


def test_template_data_substitutes_values_and_refuses_functions(pair1: KeyPair) -> None:
    sealed = _sealed_object(seal_value(pair1.public_key(), b"pw", namespace="a", name="x"))
    sealed["spec"]["template"] = {"data": {"dsn": 'user:{{ .password }}@{{ index . "password" }}'}}  # type: ignore[index]
    out = secret_from_sealed(sealed, unseal_data([pair1.private_key], sealed))
    assert base64.b64decode(out["data"]["dsn"]) == b"user:pw@pw"
    sealed["spec"]["template"] = {"data": {"x": '{{ env "HOME" }}'}}  # type: ignore[index]
    with pytest.raises(SealingError, match="template functions are not"):
        secret_from_sealed(sealed, {"password": b"pw"})


def test_reseal_moves_values_to_the_new_key(pair1: KeyPair, pair2: KeyPair) -> None:
    sealed = _sealed_object(seal_value(pair1.public_key(), b"pw", namespace="a", name="x"))
    moved = reseal([pair1.private_key], pair2.public_key(), sealed)
    assert unseal_data([pair2.private_key], moved) == {"password": b"pw"}
    with pytest.raises(NoMatchingKeyError):
        unseal_data([pair1.private_key], moved)


def test_deprecated_whole_secret_format_is_refused(pair1: KeyPair) -> None:
    with pytest.raises(SealingError, match="deprecated"):
        unseal_data([pair1.private_key], {"metadata": {}, "spec": {"data": "AAAA"}})


def test_secret_with_bad_base64_data_is_refused() -> None:
    with pytest.raises(SealingError, match="data key 'k' is not valid base64"):
        PlainSecret.from_object({"kind": "Secret", "metadata": {"name": "n"}, "data": {"k": "%%%"}})
