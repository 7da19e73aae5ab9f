"""An OCIRepository's ``verify``: the cosign signatures of the artifact's digest, checked before
anything of the artifact is downloaded (as source-controller does).

The signatures are the layers of the ``sha256-<hex>.sig`` manifest of the same repository,
read with the repository's own credentials; each payload is a bounded download checked
against its digest. The policy is the ``*.pub`` keys of ``verify.secretRef`` or, without one,
keyless against the trusted root the controller was given (Sigstore's public-good instance by
default). The first signature that verifies wins; when none does, the reasons are kept short
and go into Flux's message.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

from tether.charts.models import OciLayer, ResolvedArtifact
from tether.charts.oci import OciArtifacts
from tether.cluster.client import ClusterClient
from tether.cluster.secretdata import decoded
from tether.controller.flux.helmcharts import ChartUnavailable, source_secret
from tether.flux.ocispecs import VerifySpec
from tether.sigstore.errors import SignatureError
from tether.sigstore.layout import (
    MAX_PAYLOAD_BYTES,
    SIMPLE_SIGNING,
    signature_layers,
    signature_tag,
)
from tether.source.credentials import RepoCredentials

if TYPE_CHECKING:  # cryptography (7 MiB) is loaded when a signature is first checked
    from tether.sigstore.cosign import KeylessPolicy, KeyPolicy
    from tether.sigstore.trustroot import TrustedRoot

#: the reasons of failed signatures shown in the message
_SHOWN_REASONS = 3


class ArtifactVerifier:
    """Verifies artifacts' signatures; the trusted root is read once, when first needed."""

    def __init__(
        self, client: ClusterClient, artifacts: OciArtifacts, trusted_root: Path | None = None
    ) -> None:
        self.client = client
        self.artifacts = artifacts
        self._root_path = trusted_root
        self._root: TrustedRoot | None = None

    def _trusted_root(self) -> TrustedRoot:
        from tether.sigstore.trustroot import load_trusted_root, public_good

        if self._root is None:
            path = self._root_path
            self._root = load_trusted_root(path) if path else public_good()
        return self._root

    async def verify(
        self,
        namespace: str,
        verify_spec: VerifySpec,
        resolved: ResolvedArtifact,
        creds: RepoCredentials | None,
        ca_pem: str | None = None,
    ) -> str:
        """Who signed the artifact, or a SignatureError saying why no signature counts."""
        from tether.sigstore.cosign import verify

        policy = await self._policy(namespace, verify_spec)
        reference = f"{resolved.location.reference}@{resolved.digest}"
        raw = await self.artifacts.raw_manifest(
            resolved, signature_tag(resolved.digest), creds, ca_pem
        )
        try:
            layers = signature_layers(json.loads(raw)) if raw else []
        except (ValueError, RecursionError):
            raise SignatureError(f"the signature manifest of '{reference}' is not JSON") from None
        reasons: list[str] = []
        for layer in layers:
            if layer.size > MAX_PAYLOAD_BYTES:
                reasons.append(f"payload larger than {MAX_PAYLOAD_BYTES} bytes")
                continue
            blob = OciLayer(SIMPLE_SIGNING, layer.digest, layer.size)
            payload = await self.artifacts.blob(resolved, blob, creds, ca_pem)
            try:
                return verify(layer, payload, resolved.digest, policy)
            except SignatureError as exc:
                if exc.message not in reasons:
                    reasons.append(exc.message)
        detail = ""
        if reasons:
            detail = f" ({len(layers)} signature(s): {'; '.join(reasons[:_SHOWN_REASONS])})"
        raise SignatureError(f"no matching signatures were found for '{reference}'{detail}")

    async def _policy(self, namespace: str, spec: VerifySpec) -> KeyPolicy | KeylessPolicy:
        from tether.sigstore.cosign import KeylessPolicy, KeyPolicy, load_public_key

        if spec.secret_ref is None:
            root = await asyncio.to_thread(self._trusted_root)
            return KeylessPolicy(root, spec.identities)
        try:
            secret = decoded(await source_secret(self.client, namespace, spec.secret_ref))
        except ChartUnavailable as exc:
            raise SignatureError(str(exc)) from None
        keys = tuple(
            load_public_key(name, value.encode())
            for name, value in sorted(secret.items())
            if name.endswith(".pub")
        )
        if not keys:
            raise SignatureError(
                f"no public keys (keys ending in .pub) in secret '{namespace}/{spec.secret_ref}'"
            )
        return KeyPolicy(keys)
