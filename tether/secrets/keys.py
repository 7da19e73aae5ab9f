"""Sealing key pairs: RSA-4096 keys with self-signed certificates, kept as labelled Secrets.

Compatible with Bitnami's controller: each key is a ``kubernetes.io/tls`` Secret in the control
namespace, named from the ``sealed-secrets-key`` prefix and labelled
``sealedsecrets.bitnami.com/sealed-secrets-key: active``, so keys can be backed up and moved
between the two controllers. Renewal adds a key and never deletes one, so everything sealed
before still unseals; the newest key seals.

This module does no I/O: the controller lists and creates the Secrets it describes.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tether.errors import TetherError

KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
KEY_PREFIX = "sealed-secrets-key"
DEFAULT_KEY_SIZE = 4096
DEFAULT_RENEW_PERIOD = dt.timedelta(days=30)
DEFAULT_CERT_VALIDITY = dt.timedelta(days=3650)
DEFAULT_COMMON_NAME = "sealed-secret"


class KeyMaterialError(TetherError):
    """A key Secret or key file cannot be read (its contents are never quoted)."""


@dataclass(frozen=True)
class KeyPair:
    """One sealing key: the private key, its certificate, and when it became active."""

    name: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    certificate: x509.Certificate = field(repr=False)
    created: dt.datetime

    def public_key(self) -> rsa.RSAPublicKey:
        key = self.certificate.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        return key

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def fingerprint(self) -> str:
        """SHA-256 of the public key (DER), hex: names a key without revealing anything."""
        der = self.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        digest = hashes.Hash(hashes.SHA256())
        digest.update(der)
        return digest.finalize().hex()


def generate_key_pair(
    *,
    name: str = "",
    key_size: int = DEFAULT_KEY_SIZE,
    valid_for: dt.timedelta = DEFAULT_CERT_VALIDITY,
    common_name: str = DEFAULT_COMMON_NAME,
    now: dt.datetime | None = None,
) -> KeyPair:
    """A new RSA key with a self-signed certificate (about a quarter second for 4096 bits)."""
    now = now or dt.datetime.now(dt.UTC)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    return KeyPair(
        name, private_key, self_signed_certificate(private_key, valid_for, now, common_name), now
    )


def self_signed_certificate(
    private_key: rsa.RSAPrivateKey,
    valid_for: dt.timedelta = DEFAULT_CERT_VALIDITY,
    now: dt.datetime | None = None,
    common_name: str = DEFAULT_COMMON_NAME,
) -> x509.Certificate:
    """The certificate kubeseal reads the public key from (``--cert``, ``/v1/cert.pem``)."""
    now = now or dt.datetime.now(dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + valid_for)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(key_usage("key_encipherment", "key_cert_sign"), critical=True)
        .sign(private_key, hashes.SHA256())
    )


_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def key_usage(*allowed: str) -> x509.KeyUsage:
    """A KeyUsage extension allowing only ``allowed`` (names of ``x509.KeyUsage``'s flags)."""
    unknown = set(allowed) - set(_KEY_USAGES)
    if unknown:
        raise ValueError(f"not key usages: {', '.join(sorted(unknown))}")
    return x509.KeyUsage(**{name: name in allowed for name in _KEY_USAGES})


def private_key_pem(private_key: rsa.RSAPrivateKey) -> bytes:
    """PKCS#1 PEM (``RSA PRIVATE KEY``), the encoding Bitnami's key Secrets use."""
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def key_secret(pair: KeyPair, namespace: str, prefix: str = KEY_PREFIX) -> dict[str, Any]:
    """The Secret to create for a new key (``generateName`` picks a unique name)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "generateName": f"{prefix}-",
            "namespace": namespace,
            "labels": {KEY_LABEL: "active"},
        },
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(pair.certificate_pem()).decode(),
            "tls.key": base64.b64encode(private_key_pem(pair.private_key)).decode(),
        },
    }


def load_private_keys(pem: bytes, what: str = "private key file") -> list[rsa.RSAPrivateKey]:
    """Every RSA private key in a PEM bundle (``--recovery-private-key``, a backup of the key
    Secrets as YAML is also accepted: its ``tls.key`` values are read)."""
    keys: list[rsa.RSAPrivateKey] = []
    for block in _pem_blocks(pem):
        if b"PRIVATE KEY" not in block.split(b"\n", 1)[0]:
            continue
        try:
            key = serialization.load_pem_private_key(block, password=None)
        except (ValueError, TypeError):
            raise KeyMaterialError(f"{what}: a PEM private key block cannot be read") from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise KeyMaterialError(f"{what}: a private key is not an RSA key")
        keys.append(key)
    if not keys:
        keys = _keys_from_secret_yaml(pem, what)
    if not keys:
        raise KeyMaterialError(f"{what}: no RSA private key found")
    return keys


def _pem_blocks(data: bytes) -> list[bytes]:
    blocks: list[bytes] = []
    start = data.find(b"-----BEGIN ")
    while start >= 0:
        end_marker = data.find(b"-----END ", start)
        if end_marker < 0:
            break
        end = data.find(b"-----", end_marker + 9)
        if end < 0:
            break
        blocks.append(data[start : end + 5] + b"\n")
        start = data.find(b"-----BEGIN ", end + 5)
    return blocks


def _keys_from_secret_yaml(data: bytes, what: str) -> list[rsa.RSAPrivateKey]:
    from tether import safeyaml

    try:
        docs = safeyaml.load_all(data, loader=safeyaml.KubernetesLoader)
    except safeyaml.YamlError:
        return []
    keys: list[rsa.RSAPrivateKey] = []
    for doc in docs:
        items = doc.get("items") if isinstance(doc, dict) and "items" in doc else [doc]
        for item in items or []:
            if isinstance(item, dict) and isinstance(item.get("data"), dict):
                encoded = item["data"].get("tls.key")
                if encoded:
                    try:
                        pem = base64.b64decode(encoded, validate=True)
                    except (binascii.Error, ValueError):
                        raise KeyMaterialError(f"{what}: a tls.key is not valid base64") from None
                    keys.extend(load_private_keys(pem, what))
    return keys


def parse_key_secret(secret: Mapping[str, Any]) -> KeyPair:
    """The key pair a key Secret (dict) holds; its ordering time is its creationTimestamp."""
    metadata = secret.get("metadata") or {}
    name = str(metadata.get("name") or "")
    data = secret.get("data") or {}
    try:
        key_pem = base64.b64decode(data.get("tls.key") or "", validate=True)
        cert_pem = base64.b64decode(data.get("tls.crt") or "", validate=True)
    except (binascii.Error, ValueError):
        raise KeyMaterialError(f"key Secret {name}: tls.key or tls.crt is not base64") from None
    keys = load_private_keys(key_pem, f"key Secret {name}")
    try:
        certificate = x509.load_pem_x509_certificates(cert_pem)[0]
    except (ValueError, IndexError):
        raise KeyMaterialError(f"key Secret {name}: tls.crt holds no certificate") from None
    cert_key = certificate.public_key()
    if (
        not isinstance(cert_key, rsa.RSAPublicKey)
        or cert_key.public_numbers() != keys[0].public_key().public_numbers()
    ):
        raise KeyMaterialError(f"key Secret {name}: the certificate does not match the key")
    created = _parse_time(metadata.get("creationTimestamp")) or certificate.not_valid_before_utc
    return KeyPair(name, keys[0], certificate, created)


def _parse_time(value: Any) -> dt.datetime | None:
    if not value:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@dataclass
class KeyRing:
    """Every sealing key the controller knows; the newest seals, all of them unseal."""

    pairs: list[KeyPair] = field(default_factory=list)

    @classmethod
    def from_secrets(cls, secrets: Iterable[Mapping[str, Any]]) -> tuple[KeyRing, list[str]]:
        """A ring from key Secrets, and a message for each Secret that could not be read."""
        ring = cls()
        problems: list[str] = []
        for secret in secrets:
            try:
                ring.add(parse_key_secret(secret))
            except KeyMaterialError as exc:
                problems.append(str(exc))
        return ring, problems

    def add(self, pair: KeyPair) -> None:
        """Add a key (a key already present, by fingerprint, is kept once)."""
        if any(p.fingerprint() == pair.fingerprint() for p in self.pairs):
            return
        self.pairs.append(pair)
        self.pairs.sort(key=lambda p: p.created, reverse=True)

    @property
    def latest(self) -> KeyPair | None:
        return self.pairs[0] if self.pairs else None

    def private_keys(self) -> Sequence[rsa.RSAPrivateKey]:
        """Newest first: a fresh SealedSecret opens on the first try."""
        return [p.private_key for p in self.pairs]

    def renewal_due(
        self,
        now: dt.datetime,
        period: dt.timedelta | None,
        cutoff: dt.datetime | None = None,
    ) -> bool:
        """Whether a new key should be generated: none yet, the newest is older than ``period``
        (``None`` or zero disables renewal), or it predates ``cutoff`` (early renewal)."""
        latest = self.latest
        if latest is None:
            return True
        if cutoff is not None and latest.created < cutoff <= now:
            return True
        if not period:
            return False
        return now - latest.created >= period

    def next_renewal(self, period: dt.timedelta | None) -> dt.datetime | None:
        """When the newest key turns ``period`` old (None without keys or renewal)."""
        if self.latest is None or not period:
            return None
        return self.latest.created + period

    def __len__(self) -> int:
        return len(self.pairs)
