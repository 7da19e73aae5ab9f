"""Flux's OCIRepositories, on Tether's OCI client (:class:`tether.charts.OciArtifacts`).

The registry is asked what ``ref`` selects (a manifest HEAD for a tag, a tag list for a semver
range); the layer ``layerSelector`` picks is downloaded once by digest (bounded, checked against
the manifest) and, for ``extract``, unpacked once into a sealed read-only tree that
Kustomizations build from; for ``copy`` of a Helm chart layer it is the chart a HelmRelease's
``chartRef`` installs. ``status.artifact.revision`` is Flux's ``<tag>@sha256:<digest>``. A
failed check keeps the last artifact: readers go on with the last good one.

With ``verify``, the digest's cosign signatures are checked (:mod:`.ociverify`) before any
layer is downloaded; an artifact none verifies is not taken (``SourceVerified=False``,
``VerificationError``) and the last verified one stays. A verified digest is not checked again
until it, the spec or the generation changes, or a check failed.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.charts import ChartError, ChartSource, ResolvedArtifact
from tether.charts.archive import unpack_chart
from tether.charts.ocimanifest import HELM_CHART_LAYER, HELM_LEGACY_CHART_LAYER
from tether.cluster.client import ClusterClient
from tether.cluster.secretdata import decoded
from tether.controller.flux.gitrepos import Artifact, Outcome
from tether.controller.flux.helmcharts import (
    ChartArtifact,
    ChartUnavailable,
    SourceNotFetched,
    chart_yaml,
    source_secret,
    trusted_ca,
)
from tether.controller.flux.ociverify import ArtifactVerifier
from tether.fields import InvalidSpecError
from tether.flux import status as fluxstatus
from tether.flux.ocispecs import OCIRepositorySpec, oci_revision, parse_oci_repository
from tether.images.dockerconfig import credentials_from_dockerconfig
from tether.images.errors import ImageError
from tether.names import FLUX_OCI_REPOSITORY
from tether.render.sealed import SealedTree, seal_tree
from tether.sigstore.errors import SignatureError
from tether.source.credentials import RepoCredentials
from tether.source.trust import RepoTrust

OCI_ARTIFACT_FAILED = "OCIArtifactPullFailed"
OCI_KIND = FLUX_OCI_REPOSITORY


@dataclass(frozen=True)
class _Access:
    """How the registry is reached: the login of ``secretRef`` and the CA of its host (the
    controller's TLS certificates, as for Git and Helm repositories; None: the system's)."""

    creds: RepoCredentials | None
    ca_pem: str | None


@dataclass(frozen=True)
class _Held:
    spec: OCIRepositorySpec
    resolved: ResolvedArtifact
    access: _Access
    revision: str


class OCIRepositories:
    """OCIRepositories reconciled; their trees and charts for the readers."""

    def __init__(
        self,
        client: ClusterClient,
        charts: ChartSource,
        root: Path,
        trusted_root: Path | None = None,
        trust: RepoTrust | None = None,
    ) -> None:
        """``trusted_root``: the Sigstore trusted root of keyless verification (None: the
        public-good instance's); ``trust``: the per-host CAs of https registries."""
        self.client = client
        self.trust = trust
        self.artifacts = charts.artifacts
        self.limits = charts.limits
        self.root = root
        self.verifier = ArtifactVerifier(client, charts.artifacts, trusted_root)
        self._held: dict[tuple[str, str], _Held] = {}
        #: what was verified last: (digest, verify spec, generation) -> its condition message
        self._verified: dict[tuple[str, str], tuple[tuple[object, ...], str]] = {}
        self._unpacking: dict[str, asyncio.Task[Path]] = {}
        self._trees: dict[str, SealedTree] = {}

    def forget(self, namespace: str, name: str) -> None:
        self._held.pop((namespace, name), None)
        self._verified.pop((namespace, name), None)

    def artifact(self, namespace: str, name: str) -> Artifact | None:
        """The source artifact a Kustomization reads (its tree: :meth:`tree`)."""
        held = self._held.get((namespace, name))
        if held is None:
            return None
        return Artifact(held.spec.url, held.resolved.digest, held.revision,
                        f"oci:{namespace}/{name}", held.spec.ignore, kind=OCI_KIND)  # fmt: skip

    async def reconcile(self, obj: Mapping[str, Any], now: str) -> Outcome:
        seen = fluxstatus.Observed.of(obj)
        previous, generation = seen.status, seen.generation
        key = (seen.namespace, seen.name)
        try:
            spec = parse_oci_repository(obj.get("spec"))
        except InvalidSpecError as exc:
            reason = fluxstatus.refusal_reason(exc)
            return Outcome(fluxstatus.refused(previous, reason, exc.message, generation, now), None)
        if spec.suspend:
            return Outcome(None, None)
        try:
            access = _Access(
                await self._credentials(seen.namespace, spec),
                await trusted_ca(self.trust, spec.url, spec.insecure),
            )
            resolved = await self.artifacts.resolve_selected(
                spec.url, spec.reference, access.creds, access.ca_pem, plain_http=spec.insecure,
                media_type=spec.media_type,
            )  # fmt: skip
            verified = await self._verify(key, spec, resolved, access, generation)
            if spec.operation == "extract" and resolved.layer.media_type not in (
                HELM_CHART_LAYER,
                HELM_LEGACY_CHART_LAYER,
            ):
                await self._tree_of(resolved, access)
        except (ChartUnavailable, ChartError) as exc:
            message = f"failed to pull artifact from '{spec.url}': {_text(exc)}"
            wanted = [(fluxstatus.READY, False, OCI_ARTIFACT_FAILED, message),
                      (fluxstatus.FETCH_FAILED, True, OCI_ARTIFACT_FAILED, message)]  # fmt: skip
            return Outcome(fluxstatus.updated(previous, wanted, generation, now), spec.interval)
        except SignatureError as exc:
            provider = spec.verify.described if spec.verify else "cosign"
            message = f"failed to verify the signature using provider '{provider}': {exc.message}"
            wanted = [(fluxstatus.READY, False, fluxstatus.VERIFICATION_ERROR, message),
                      (fluxstatus.SOURCE_VERIFIED, False, fluxstatus.VERIFICATION_ERROR, message)]  # fmt: skip
            return Outcome(fluxstatus.updated(previous, wanted, generation, now), spec.interval)
        revision = oci_revision(resolved.tag, resolved.digest)
        self._held[key] = _Held(spec, resolved, access, revision)
        message = f"stored artifact for digest '{revision}'"
        also = (
            [(fluxstatus.SOURCE_VERIFIED, True, fluxstatus.SUCCEEDED, verified)] if verified else []
        )
        status = fluxstatus.stored(previous, revision, message, generation, now, also,
                                   digest=resolved.layer.digest, url=spec.url)  # fmt: skip
        return Outcome(status, spec.interval)

    async def _verify(
        self,
        key: tuple[str, str],
        spec: OCIRepositorySpec,
        resolved: ResolvedArtifact,
        access: _Access,
        generation: int,
    ) -> str | None:
        """The SourceVerified message of an artifact whose signature verifies (None without
        ``verify``), or a SignatureError."""
        if spec.verify is None:
            self._verified.pop(key, None)
            return None
        checked = (resolved.digest, spec.verify, generation)
        last = self._verified.get(key)
        if last is not None and last[0] == checked:
            return last[1]
        self._verified.pop(key, None)
        signer = await self.verifier.verify(
            key[0], spec.verify, resolved, access.creds, access.ca_pem
        )
        revision = oci_revision(resolved.tag, resolved.digest)
        message = f"verified signature of revision {revision} ({signer})"
        self._verified[key] = (checked, message)
        return message

    async def _credentials(self, namespace: str, spec: OCIRepositorySpec) -> RepoCredentials | None:
        """``secretRef``: a dockerconfigjson Secret (Flux's), or ``username``/``password``."""
        if not spec.secret_ref:
            return None
        where = f"secret '{namespace}/{spec.secret_ref}'"
        secret = await source_secret(self.client, namespace, spec.secret_ref)
        if ".dockerconfigjson" in (secret.get("data") or {}):
            host = spec.url.removeprefix("oci://").split("/", 1)[0]
            try:
                login = credentials_from_dockerconfig(secret.get("data") or {}, host)
            except ImageError as exc:
                raise ChartUnavailable(f"{where}: {exc.message}") from None
            if login is None:
                return None
            return RepoCredentials(url=spec.url, username=login.username,
                                   password=login.password, type="oci")  # fmt: skip
        data = decoded(secret)
        return RepoCredentials(url=spec.url, username=data.get("username") or None,
                               password=data.get("password") or None, type="oci")  # fmt: skip

    async def _unpacked(self, resolved: ResolvedArtifact, access: _Access, kind: str) -> Path:
        digest = resolved.layer.digest.removeprefix("sha256:")
        dest = self.root / digest[:32] / kind
        if await asyncio.to_thread(os.path.isdir, dest):
            return dest
        task = self._unpacking.get(str(dest))
        if task is None:

            async def unpack() -> Path:
                if kind == "tree":
                    return await self.artifacts.materialize(
                        resolved, dest, access.creds, access.ca_pem
                    )
                blob, _ = await self.artifacts.fetch_layer(resolved, access.creds, access.ca_pem)
                what = f"chart of {resolved.repo_url}"
                await asyncio.to_thread(unpack_chart, blob, dest, self.limits, what)
                return dest

            task = asyncio.create_task(unpack())
            self._unpacking[str(dest)] = task
            task.add_done_callback(lambda _: self._unpacking.pop(str(dest), None))
        return await asyncio.shield(task)

    async def _tree_of(self, resolved: ResolvedArtifact, access: _Access) -> SealedTree:
        path = await self._unpacked(resolved, access, "tree")
        sealed = self._trees.get(str(path))
        if sealed is None:
            sealed = await asyncio.to_thread(seal_tree, path)
            self._trees[str(path)] = sealed
        return sealed

    async def tree(self, artifact: Artifact) -> SealedTree:
        namespace, _, name = artifact.store.removeprefix("oci:").partition("/")
        held = self._held.get((namespace, name))
        if held is None or held.resolved.digest != artifact.commit:
            raise ChartUnavailable(f"OCIRepository '{namespace}/{name}' moved; try again")
        return await self._tree_of(held.resolved, held.access)

    async def chart(self, namespace: str, name: str) -> ChartArtifact:
        """The Helm chart the OCIRepository holds (a chart layer), unpacked."""
        held = self._held.get((namespace, name))
        if held is None:
            raise SourceNotFetched(f"OCIRepository '{namespace}/{name}' is not ready")
        if held.resolved.layer.media_type not in (HELM_CHART_LAYER, HELM_LEGACY_CHART_LAYER):
            raise ChartUnavailable(
                f"OCIRepository '{namespace}/{name}' does not hold a Helm chart layer (set "
                f"layerSelector.mediaType: {HELM_CHART_LAYER}, operation: copy)"
            )
        try:
            folder = await self._unpacked(held.resolved, held.access, "chart")
        except ChartError as exc:
            raise ChartUnavailable(_text(exc)) from None
        meta = await asyncio.to_thread(chart_yaml, folder)
        return ChartArtifact(folder, str(meta["name"]), str(meta["version"]), held.revision)


def _text(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc)
