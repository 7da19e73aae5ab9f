"""Sealed Secrets crypto: kubeseal's exact wire format, scopes, and (un)sealing whole Secrets.

One sealed value (flux-and-secrets.md §6.1, bitnami-labs/sealed-secrets ``pkg/crypto``)::

    base64( len16_be(rsa_ct) || rsa_ct || aes_gcm_ct )
      rsa_ct     = RSA-OAEP(SHA-256, MGF1-SHA-256, public key, session key, OAEP label = scope label)
      aes_gcm_ct = AES-256-GCM(session key, nonce = 12 zero bytes, value, no associated data) || tag

The 32-byte session key is random and used once, which is why a zero nonce is safe. The scope
label binds a value to where it may be unsealed: ``namespace/name`` (strict), ``namespace``
(namespace-wide) or empty (cluster-wide); it is checked by OAEP, so a value moved elsewhere under
a narrower scope does not decrypt.

Error messages never contain a value, a session key or key material: they end up in status
conditions, events and logs.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tether.errors import TetherError

API_VERSION = "bitnami.com/v1alpha1"
KIND = "SealedSecret"
NAMESPACE_WIDE_ANNOTATION = "sealedsecrets.bitnami.com/namespace-wide"
CLUSTER_WIDE_ANNOTATION = "sealedsecrets.bitnami.com/cluster-wide"
MANAGED_ANNOTATION = "sealedsecrets.bitnami.com/managed"
SKIP_OWNER_REFERENCES_ANNOTATION = "sealedsecrets.bitnami.com/skip-set-owner-references"
SESSION_KEY_BYTES = 32
_ZERO_NONCE = bytes(12)
_GCM_TAG_BYTES = 16
# annotations kubeseal drops from an input Secret: they describe the plain object, not the sealed
_DROPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration",)


class SealingError(TetherError):
    """A value could not be sealed or unsealed."""


class CorruptedValueError(SealingError):
    """The sealed bytes are malformed: bad base64, too short, or a tag that does not verify."""


class NoMatchingKeyError(SealingError):
    """No private key opens the value under the expected scope label."""


class InvalidSecretError(SealingError):
    """The input is not a Secret that can be sealed (no name, data not base64, …)."""


class Scope(enum.Enum):
    """Where a sealed value may be unsealed."""

    STRICT = "strict"
    NAMESPACE_WIDE = "namespace-wide"
    CLUSTER_WIDE = "cluster-wide"

    @classmethod
    def parse(cls, text: str) -> Scope:
        """``strict``, ``namespace-wide`` or ``cluster-wide``."""
        try:
            return cls(text)
        except ValueError:
            raise SealingError(
                f"unknown scope {text!r}: use strict, namespace-wide or cluster-wide"
            ) from None

    def annotations(self) -> dict[str, str]:
        """The annotations that select this scope on a SealedSecret (none for strict)."""
        if self is Scope.NAMESPACE_WIDE:
            return {NAMESPACE_WIDE_ANNOTATION: "true"}
        if self is Scope.CLUSTER_WIDE:
            return {CLUSTER_WIDE_ANNOTATION: "true"}
        return {}


def scope_of(metadata: Mapping[str, Any] | None) -> Scope:
    """The scope an object's annotations select; cluster-wide wins over namespace-wide as in
    Bitnami's controller."""
    annotations = (metadata or {}).get("annotations") or {}
    if str(annotations.get(CLUSTER_WIDE_ANNOTATION, "")).lower() == "true":
        return Scope.CLUSTER_WIDE
    if str(annotations.get(NAMESPACE_WIDE_ANNOTATION, "")).lower() == "true":
        return Scope.NAMESPACE_WIDE
    return Scope.STRICT


def encryption_label(scope: Scope, namespace: str, name: str) -> bytes:
    """The OAEP label binding a value to its scope: ``ns/name``, ``ns`` or empty."""
    if scope is Scope.CLUSTER_WIDE:
        return b""
    if not namespace:
        raise SealingError(f"a {scope.value} sealed value needs a namespace")
    if scope is Scope.NAMESPACE_WIDE:
        return namespace.encode()
    if not name:
        raise SealingError("a strict sealed value needs a name")
    return f"{namespace}/{name}".encode()


def _oaep(label: bytes) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)


def _mgf1_sha256(seed: bytes, length: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def _oaep_encrypt_with_seed(
    public_key: rsa.RSAPublicKey, message: bytes, label: bytes, seed: bytes
) -> bytes:
    """RSAES-OAEP-ENCRYPT (RFC 8017 §7.1.1) with SHA-256 and a caller-chosen seed.

    Only for known-answer vectors: ``cryptography`` draws the seed itself, which makes its
    output unrepeatable. Production sealing never takes this path.
    """
    numbers = public_key.public_numbers()
    k = (numbers.n.bit_length() + 7) // 8
    h_len = hashlib.sha256().digest_size
    if len(seed) != h_len:
        raise SealingError(f"the OAEP seed must be {h_len} bytes")
    if len(message) > k - 2 * h_len - 2:
        raise SealingError("message too long for the RSA key")
    padding_string = bytes(k - len(message) - 2 * h_len - 2)
    data_block = hashlib.sha256(label).digest() + padding_string + b"\x01" + message
    masked_db = bytes(
        a ^ b for a, b in zip(data_block, _mgf1_sha256(seed, k - h_len - 1), strict=True)
    )
    masked_seed = bytes(a ^ b for a, b in zip(seed, _mgf1_sha256(masked_db, h_len), strict=True))
    encoded = int.from_bytes(b"\x00" + masked_seed + masked_db, "big")
    return pow(encoded, numbers.e, numbers.n).to_bytes(k, "big")


def hybrid_encrypt(
    public_key: rsa.RSAPublicKey,
    plaintext: bytes,
    label: bytes,
    *,
    session_key: bytes | None = None,
    oaep_seed: bytes | None = None,
) -> bytes:
    """The raw (not base64) sealed bytes of ``plaintext``.

    ``session_key`` and ``oaep_seed`` exist for known-answer tests; leave them out to draw both
    from the operating system's random source.
    """
    if session_key is None:
        session_key = os.urandom(SESSION_KEY_BYTES)
    if len(session_key) != SESSION_KEY_BYTES:
        raise SealingError(f"the session key must be {SESSION_KEY_BYTES} bytes")
    if oaep_seed is None:
        rsa_ct = public_key.encrypt(session_key, _oaep(label))
    else:
        rsa_ct = _oaep_encrypt_with_seed(public_key, session_key, label, oaep_seed)
    aes_ct = AESGCM(session_key).encrypt(_ZERO_NONCE, plaintext, None)
    return struct.pack(">H", len(rsa_ct)) + rsa_ct + aes_ct


def split_sealed(raw: bytes) -> tuple[bytes, bytes]:
    """(RSA ciphertext, AES-GCM ciphertext with tag) of raw sealed bytes, or a clear error."""
    if len(raw) < 2:
        raise CorruptedValueError(f"sealed data is too short ({len(raw)} bytes)")
    (rsa_len,) = struct.unpack(">H", raw[:2])
    if len(raw) < 2 + rsa_len:
        raise CorruptedValueError(
            f"sealed data is too short: its 2-byte length says {rsa_len} bytes of RSA ciphertext "
            f"but only {len(raw) - 2} bytes follow"
        )
    rsa_ct, aes_ct = raw[2 : 2 + rsa_len], raw[2 + rsa_len :]
    if len(aes_ct) < _GCM_TAG_BYTES:
        raise CorruptedValueError(
            f"sealed data is too short: {len(aes_ct)} bytes after the RSA part, fewer than the "
            f"{_GCM_TAG_BYTES}-byte AES-GCM tag"
        )
    return rsa_ct, aes_ct


def hybrid_decrypt(private_keys: Sequence[rsa.RSAPrivateKey], raw: bytes, label: bytes) -> bytes:
    """Open raw sealed bytes with the first key whose OAEP check passes for ``label``."""
    rsa_ct, aes_ct = split_sealed(raw)
    for key in private_keys:
        if (key.key_size + 7) // 8 != len(rsa_ct):
            continue
        try:
            session_key = key.decrypt(rsa_ct, _oaep(label))
        except ValueError:
            continue
        if len(session_key) != SESSION_KEY_BYTES:
            raise CorruptedValueError("sealed data holds a session key of the wrong size")
        try:
            return AESGCM(session_key).decrypt(_ZERO_NONCE, aes_ct, None)
        except InvalidTag:
            # the RSA part belongs to this key and label, so the AES part was altered
            raise CorruptedValueError(
                "sealed data does not authenticate: the AES-GCM part was altered or truncated"
            ) from None
    raise NoMatchingKeyError(
        f"no private key decrypts it (tried {len(private_keys)}): it was sealed with another "
        "key, or for another name, namespace or scope"
    )


def decode_sealed(value: str) -> bytes:
    """The raw bytes of one ``encryptedData`` value (standard base64, as kubeseal writes)."""
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CorruptedValueError("sealed data is not valid base64") from None


def seal_value(
    public_key: rsa.RSAPublicKey,
    value: bytes,
    *,
    scope: Scope = Scope.STRICT,
    namespace: str = "",
    name: str = "",
    session_key: bytes | None = None,
    oaep_seed: bytes | None = None,
) -> str:
    """One ``encryptedData`` value: what ``kubeseal --raw`` prints."""
    label = encryption_label(scope, namespace, name)
    raw = hybrid_encrypt(public_key, value, label, session_key=session_key, oaep_seed=oaep_seed)
    return base64.b64encode(raw).decode()


def unseal_value(
    private_keys: Sequence[rsa.RSAPrivateKey],
    value: str,
    *,
    scope: Scope = Scope.STRICT,
    namespace: str = "",
    name: str = "",
) -> bytes:
    """The plain bytes of one ``encryptedData`` value, trying every key."""
    return hybrid_decrypt(
        private_keys, decode_sealed(value), encryption_label(scope, namespace, name)
    )


def explain_failure(
    private_keys: Sequence[rsa.RSAPrivateKey], value: str, scope: Scope, namespace: str, name: str
) -> str:
    """Why ``value`` does not unseal here, in words: used after a :class:`NoMatchingKeyError`.

    A value sealed for another scope of this same object still opens under that scope's label,
    which tells a scope mistake apart from a foreign key or a moved value.
    """
    raw = decode_sealed(value)
    for other in Scope:
        if other is scope:
            continue
        try:
            hybrid_decrypt(private_keys, raw, encryption_label(other, namespace, name))
        except SealingError:
            continue
        return (
            f"it was sealed with scope {other.value}, but the SealedSecret asks for "
            f"{scope.value} (set the scope annotations to match, or seal it again)"
        )
    if scope is Scope.CLUSTER_WIDE:
        return "no key of this controller decrypts it: it was sealed with another key"
    return (
        f"no key of this controller decrypts it under {scope.value} scope: it was sealed with "
        "another key, or for another name or namespace"
    )


# --- whole Secrets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlainSecret:
    """A Secret's identity and decoded data, as sealing needs them."""

    name: str
    namespace: str
    data: dict[str, bytes]
    type: str | None = None
    immutable: bool | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None

    @classmethod
    def from_object(cls, obj: Mapping[str, Any], default_namespace: str = "") -> PlainSecret:
        """Read a Secret dict: ``data`` (base64) merged with ``stringData`` (plain, wins)."""
        if obj.get("kind") != "Secret":
            raise InvalidSecretError(f"expected a Secret, got kind {obj.get('kind')!r}")
        metadata = obj.get("metadata") or {}
        name = metadata.get("name") or ""
        if not name:
            raise InvalidSecretError("the Secret has no metadata.name")
        namespace = metadata.get("namespace") or default_namespace
        data: dict[str, bytes] = {}
        for key, value in (obj.get("data") or {}).items():
            try:
                data[str(key)] = base64.b64decode(str(value or ""), validate=True)
            except (binascii.Error, ValueError):
                raise InvalidSecretError(f"data key {key!r} is not valid base64") from None
        for key, value in (obj.get("stringData") or {}).items():
            data[str(key)] = str(value if value is not None else "").encode()
        annotations = {
            str(k): str(v)
            for k, v in (metadata.get("annotations") or {}).items()
            if k not in _DROPPED_ANNOTATIONS
        }
        labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
        immutable = obj.get("immutable")
        return cls(
            name=name,
            namespace=namespace,
            data=data,
            type=obj.get("type"),
            immutable=bool(immutable) if immutable is not None else None,
            labels=labels or None,
            annotations=annotations or None,
        )


def seal_secret(
    public_key: rsa.RSAPublicKey, secret: PlainSecret, scope: Scope | None = None
) -> dict[str, Any]:
    """A SealedSecret dict for ``secret`` (scope from its annotations unless given)."""
    if scope is None:
        scope = scope_of({"annotations": secret.annotations or {}})
    if scope is not Scope.CLUSTER_WIDE and not secret.namespace:
        raise InvalidSecretError(
            f"the Secret has no namespace; {scope.value} scope needs one (give --namespace)"
        )
    annotations = {
        k: v
        for k, v in (secret.annotations or {}).items()
        if k not in (NAMESPACE_WIDE_ANNOTATION, CLUSTER_WIDE_ANNOTATION)
    }
    annotations.update(scope.annotations())
    template_meta: dict[str, Any] = {"name": secret.name}
    if secret.namespace:
        template_meta["namespace"] = secret.namespace
    if secret.labels:
        template_meta["labels"] = dict(secret.labels)
    if annotations:
        template_meta["annotations"] = dict(annotations)
    template: dict[str, Any] = {"metadata": template_meta}
    if secret.type:
        template["type"] = secret.type
    if secret.immutable is not None:
        template["immutable"] = secret.immutable
    metadata: dict[str, Any] = {"name": secret.name}
    if secret.namespace:
        metadata["namespace"] = secret.namespace
    if scope.annotations():
        metadata["annotations"] = scope.annotations()
    encrypted = {
        key: seal_value(
            public_key, value, scope=scope, namespace=secret.namespace, name=secret.name
        )
        for key, value in sorted(secret.data.items())
    }
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": metadata,
        "spec": {"encryptedData": encrypted, "template": template},
    }


def unseal_data(
    private_keys: Sequence[rsa.RSAPrivateKey], sealed: Mapping[str, Any]
) -> dict[str, bytes]:
    """Every ``spec.encryptedData`` value of a SealedSecret dict, decrypted.

    Raises :class:`SealingError` naming the data key at fault (never its value).
    """
    metadata = sealed.get("metadata") or {}
    name, namespace = str(metadata.get("name") or ""), str(metadata.get("namespace") or "")
    scope = scope_of(metadata)
    spec = sealed.get("spec") or {}
    if spec.get("data"):
        raise SealingError(
            "spec.data (the deprecated whole-Secret format) is not supported; seal the Secret "
            "again to get spec.encryptedData"
        )
    encrypted = spec.get("encryptedData")
    if not isinstance(encrypted, Mapping):
        raise SealingError("spec.encryptedData is missing or not a mapping")
    out: dict[str, bytes] = {}
    for key, value in encrypted.items():
        if not isinstance(value, str):
            raise CorruptedValueError(f"encryptedData[{key!r}]: value is not a string")
        try:
            out[str(key)] = unseal_value(
                private_keys, value, scope=scope, namespace=namespace, name=name
            )
        except NoMatchingKeyError:
            reason = explain_failure(private_keys, value, scope, namespace, name)
            raise NoMatchingKeyError(f"encryptedData[{key!r}]: {reason}") from None
        except SealingError as exc:
            raise type(exc)(f"encryptedData[{key!r}]: {exc}") from None
    return out


def reseal(
    private_keys: Sequence[rsa.RSAPrivateKey],
    public_key: rsa.RSAPublicKey,
    sealed: Mapping[str, Any],
) -> dict[str, Any]:
    """The same SealedSecret with every value sealed again to ``public_key`` (same scope)."""
    plain = unseal_data(private_keys, sealed)
    metadata = sealed.get("metadata") or {}
    name, namespace = str(metadata.get("name") or ""), str(metadata.get("namespace") or "")
    scope = scope_of(metadata)
    result = dict(sealed)
    spec = dict(sealed.get("spec") or {})
    spec["encryptedData"] = {
        key: seal_value(public_key, value, scope=scope, namespace=namespace, name=name)
        for key, value in plain.items()
    }
    result["spec"] = spec
    return result


def secret_from_sealed(
    sealed: Mapping[str, Any], data: Mapping[str, bytes], *, with_owner: bool = True
) -> dict[str, Any]:
    """The Secret a SealedSecret describes, with ``data`` (decrypted) and its template applied.

    ``spec.template.data`` entries are copied with ``{{ .key }}`` / ``{{ index . "key" }}``
    replaced by decrypted values; other Go template actions are refused.
    """
    metadata = sealed.get("metadata") or {}
    spec = sealed.get("spec") or {}
    template = spec.get("template") or {}
    template_meta = template.get("metadata") or {}
    secret_meta: dict[str, Any] = {
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
    }
    labels = template_meta.get("labels")
    if labels:
        secret_meta["labels"] = dict(labels)
    annotations = {
        k: v
        for k, v in (template_meta.get("annotations") or {}).items()
        if k not in (NAMESPACE_WIDE_ANNOTATION, CLUSTER_WIDE_ANNOTATION)
    }
    if annotations:
        secret_meta["annotations"] = annotations
    skip_owner = (
        str(annotations.get(SKIP_OWNER_REFERENCES_ANNOTATION, "")).lower() == "true"
        or not with_owner
    )
    if not skip_owner and metadata.get("uid"):
        secret_meta["ownerReferences"] = [owner_reference(sealed)]
    encoded = {k: base64.b64encode(v).decode() for k, v in data.items()}
    for key, text in (template.get("data") or {}).items():
        encoded[str(key)] = base64.b64encode(render_template(str(text or ""), data)).decode()
    secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": secret_meta,
        "type": template.get("type") or "Opaque",
        "data": dict(sorted(encoded.items())),
    }
    if template.get("immutable") is not None:
        secret["immutable"] = bool(template["immutable"])
    return secret


def owner_reference(sealed: Mapping[str, Any]) -> dict[str, Any]:
    """The controller ownerReference a Secret gets from its SealedSecret."""
    metadata = sealed.get("metadata") or {}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
        "controller": True,
    }


def render_template(text: str, values: Mapping[str, bytes]) -> bytes:
    """``spec.template.data`` text with value references substituted (no other functions)."""
    out = bytearray()
    rest = text
    while True:
        start = rest.find("{{")
        if start < 0:
            out += rest.encode()
            return bytes(out)
        end = rest.find("}}", start)
        if end < 0:
            raise SealingError("spec.template.data: unterminated {{ in a template")
        out += rest[:start].encode()
        action = rest[start + 2 : end].strip().strip("-").strip()
        key = _template_key(action)
        if key is None:
            raise SealingError(
                'spec.template.data: only {{ .key }} and {{ index . "key" }} are supported '
                "(template functions are not)"
            )
        if key not in values:
            raise SealingError(f"spec.template.data refers to {key!r}, not in encryptedData")
        out += values[key]
        rest = rest[end + 2 :]


def _template_key(action: str) -> str | None:
    if action.startswith(".") and action[1:].replace("_", "a").replace("-", "a").isalnum():
        return action[1:]
    parts = action.split()
    if len(parts) == 3 and parts[0] == "index" and parts[1] == ".":
        quoted = parts[2]
        if len(quoted) >= 2 and quoted[0] == quoted[-1] and quoted[0] in '"`':
            return quoted[1:-1]
    return None
