"""cosign's signatures of an OCI artifact, verified as ``cosign verify`` does.

Signatures of ``repo@sha256:<hex>`` are the layers of the manifest tagged ``sha256-<hex>.sig``
in the same repository: each a simple-signing payload naming the signed digest, with the
signature (and, keyless, the Fulcio certificate and the Rekor bundle) in its annotations.

- With public keys (:class:`KeyPolicy`): the signature verifies with one of them. As Flux, the
  transparency log is not consulted.
- Keyless (:class:`KeylessPolicy`): the certificate chains to a trusted Fulcio, carries a
  trusted SCT, was issued to an identity the policy accepts (issuer and subject regular
  expressions, RE2, unanchored as Go matches them) and was valid when Rekor logged the
  signature; Rekor's SET verifies and the entry is of this signature; the signature verifies
  with the certificate's key.

Either way the payload must be a cosign container image signature of the very digest.
(Where signatures are and how they are laid out: :mod:`.layout`, which loads no cryptography.)
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tether.errors import TetherError
from tether.sigstore.certs import identity_of, verify_chain, verify_sct, verify_signature
from tether.sigstore.errors import SignatureError
from tether.sigstore.identity import IdentityMatch, identity_match
from tether.sigstore.layout import (
    BUNDLE_ANNOTATION,
    CERTIFICATE_ANNOTATION,
    MAX_PAYLOAD_BYTES,
    MAX_SIGNATURES,
    PAYLOAD_TYPE,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING,
    SignatureLayer,
    signature_layers,
    signature_tag,
)
from tether.sigstore.rekor import check_entry, verify_bundle

__all__ = [
    "BUNDLE_ANNOTATION",
    "CERTIFICATE_ANNOTATION",
    "MAX_PAYLOAD_BYTES",
    "MAX_SIGNATURES",
    "PAYLOAD_TYPE",
    "SIGNATURE_ANNOTATION",
    "SIMPLE_SIGNING",
    "IdentityMatch",
    "KeyPolicy",
    "KeylessPolicy",
    "SignatureLayer",
    "identity_match",
    "load_public_key",
    "signature_layers",
    "signature_tag",
    "verify",
]
from tether.sigstore.trustroot import TrustedRoot


@dataclass(frozen=True)
class KeyPolicy:
    """Public keys (PEM), by name; one of them must have made the signature."""

    keys: tuple[tuple[str, PublicKeyTypes], ...]


@dataclass(frozen=True)
class KeylessPolicy:
    root: TrustedRoot
    #: empty: any identity Fulcio issued a certificate to (as Flux without matchOIDCIdentity)
    identities: tuple[IdentityMatch, ...]


def load_public_key(name: str, pem: bytes) -> tuple[str, PublicKeyTypes]:
    try:
        return name, load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise SignatureError(f"{name} is not a PEM public key") from None


def verify(
    layer: SignatureLayer, payload: bytes, digest: str, policy: KeyPolicy | KeylessPolicy
) -> str:
    """Who signed ``digest`` by this layer (a key's name or a certificate's identity), or a
    SignatureError saying why the signature does not count."""
    _check_payload(payload, digest)
    try:
        signature = base64.b64decode(layer.signature, validate=True)
    except (ValueError, binascii.Error):
        raise SignatureError("signature is not base64") from None
    if isinstance(policy, KeyPolicy):
        for name, key in policy.keys:
            if verify_signature(key, signature, payload):
                return f"key {name}"
        raise SignatureError("signature verifies with none of the public keys")
    return _verify_keyless(layer, signature, payload, policy)


def _verify_keyless(
    layer: SignatureLayer, signature: bytes, payload: bytes, policy: KeylessPolicy
) -> str:
    if layer.certificate is None:
        raise SignatureError("signature has no certificate (was it signed with a key?)")
    if layer.bundle is None:
        raise SignatureError("signature has no transparency log bundle")
    try:
        cert = x509.load_pem_x509_certificate(layer.certificate.encode())
    except ValueError:
        raise SignatureError("signature's certificate is not a PEM certificate") from None
    entry = verify_bundle(layer.bundle, policy.root)
    check_entry(entry, signature, cert, payload)
    authority = verify_chain(cert, policy.root, entry.integrated)
    verify_sct(cert, authority.chain[0], policy.root)
    identity = identity_of(cert)
    if policy.identities and not any(_matches(m, identity.issuer, identity.subjects)
                                     for m in policy.identities):  # fmt: skip
        raise SignatureError(f"certificate identity ({identity.describe()}) matches no "
                             "matchOIDCIdentity entry")  # fmt: skip
    if not verify_signature(cert.public_key(), signature, payload):
        raise SignatureError("signature does not verify with the certificate's key")
    return identity.describe()


def _matches(match: IdentityMatch, issuer: str, subjects: Sequence[str]) -> bool:
    try:
        return match.issuer.search(issuer, 0) and any(match.subject.search(s, 0) for s in subjects)
    except TetherError:
        return False


def _check_payload(payload: bytes, digest: str) -> None:
    try:
        doc = json.loads(payload)
        critical = doc["critical"]
        # Go's JSON decoding ignores case: the spec writes Docker-manifest-digest, cosign lower
        image = {str(key).lower(): value for key, value in critical["image"].items()}
        kind, signed = critical["type"], image["docker-manifest-digest"]
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        raise SignatureError("payload is not a cosign simple-signing payload") from None
    if kind != PAYLOAD_TYPE:
        raise SignatureError(f"payload of type {str(kind)[:60]!r} is not a {PAYLOAD_TYPE}")
    if signed != digest:
        raise SignatureError(f"payload signs {str(signed)[:80]}, not {digest}")
