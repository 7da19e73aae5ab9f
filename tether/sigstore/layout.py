"""Where cosign keeps the signatures of an OCI artifact and how it lays them out: the
``sha256-<hex>.sig`` tag of the same repository, a simple-signing layer per signature with the
signature (and, keyless, the certificate and the Rekor bundle) in its annotations. Plain data:
no cryptography is loaded here (that is :mod:`.cosign`'s, loaded when a signature is checked).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
PAYLOAD_TYPE = "cosign container image signature"
#: signatures looked at per artifact, and the size of one payload
MAX_SIGNATURES = 32
MAX_PAYLOAD_BYTES = 64 * 1024


def signature_tag(digest: str) -> str:
    """Where cosign keeps the signatures of ``sha256:<hex>``: the tag ``sha256-<hex>.sig``."""
    return digest.replace(":", "-") + ".sig"


@dataclass(frozen=True)
class SignatureLayer:
    """One signature as the manifest lists it; the payload is the blob ``digest``."""

    digest: str
    size: int
    signature: str
    certificate: str | None
    bundle: str | None


def signature_layers(manifest: Mapping[str, Any]) -> list[SignatureLayer]:
    """The simple-signing layers of a signature manifest (at most :data:`MAX_SIGNATURES`)."""
    found = []
    for layer in manifest.get("layers") or []:
        if not isinstance(layer, Mapping) or layer.get("mediaType") != SIMPLE_SIGNING:
            continue
        notes = layer.get("annotations") or {}
        signature = notes.get(SIGNATURE_ANNOTATION) if isinstance(notes, Mapping) else None
        size = layer.get("size")
        if not isinstance(signature, str) or not isinstance(layer.get("digest"), str):
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            continue
        found.append(SignatureLayer(
            digest=layer["digest"], size=size, signature=signature,
            certificate=_text(notes.get(CERTIFICATE_ANNOTATION)),
            bundle=_text(notes.get(BUNDLE_ANNOTATION)),
        ))  # fmt: skip
        if len(found) == MAX_SIGNATURES:
            break
    return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
