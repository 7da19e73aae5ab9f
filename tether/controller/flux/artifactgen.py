"""Flux's ArtifactGenerators (source-watcher) and the ExternalArtifacts they write.

Each artifact of a generator is built from the current trees of its sources (GitRepositories,
OCIRepositories) by the copy plan of :mod:`tether.flux.artifactgen`, in a thread, bounded
(files and bytes), stored once by the digest of its content and sealed read-only; its
``ExternalArtifact`` object (``<artifact name>`` in the generator's namespace) carries Flux's
``latest@sha256:<content digest>`` revision (or the revision of the source ``revision`` names),
so a Kustomization reading it is woken only when what it holds changed. ExternalArtifacts a
generator no longer lists are deleted.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import ClusterError, NotFound
from tether.controller.flux.gitrepos import Artifact, Outcome
from tether.controller.flux.helmcharts import ChartUnavailable
from tether.controller.flux.sources import SourceArtifacts
from tether.controller.status import now_iso
from tether.fields import InvalidSpecError
from tether.flux import status as fluxstatus
from tether.flux.artifactgen import ArtifactSpec, CopyError, GeneratorSpec, parse_generator, plan
from tether.names import (
    FLUX_ARTIFACT_GENERATOR,
    FLUX_EXTERNAL_ARTIFACT,
    FLUX_GENERATOR_API_VERSION,
    FLUX_SOURCE_API_VERSION,
)
from tether.render.sealed import SealedTree, seal_tree

EXTERNAL_ARTIFACT = FLUX_EXTERNAL_ARTIFACT
GENERATOR_API_VERSION = FLUX_GENERATOR_API_VERSION
GENERATOR = FLUX_ARTIFACT_GENERATOR
FIELD_MANAGER = "source-watcher"
#: bounds of one generated artifact
MAX_FILES = 20_000
MAX_BYTES = 256 * 1024 * 1024
SOURCE_RETRY = 30.0


class _Failed(Exception):
    def __init__(self, reason: str, message: str, stalled: bool = False) -> None:
        super().__init__(message)
        self.reason, self.message, self.stalled = reason, message, stalled


@dataclass(frozen=True)
class Built:
    revision: str
    digest: str
    tree: SealedTree
    origin: str | None


class ArtifactGenerators:
    def __init__(
        self,
        client: ClusterClient,
        sources: SourceArtifacts,
        root: Path,
        external_info: Callable[[], ResourceInfo | None],
        cached: Callable[[str, str], Mapping[str, Any] | None],
    ) -> None:
        self.client = client
        self.sources = sources
        self.root = root
        self.external_info = external_info
        self.cached = cached
        self._built: dict[tuple[str, str], Built] = {}

    # ---- the face Kustomizations read --------------------------------------------------------

    def artifact(self, namespace: str, name: str) -> Artifact | None:
        built = self._built.get((namespace, name))
        if built is None:
            return None
        return Artifact(f"external://{namespace}/{name}", built.digest, built.revision,
                        f"external:{namespace}/{name}", None, kind=EXTERNAL_ARTIFACT)  # fmt: skip

    async def tree(self, artifact: Artifact) -> SealedTree:
        namespace, _, name = artifact.store.removeprefix("external:").partition("/")
        built = self._built.get((namespace, name))
        if built is None or built.digest != artifact.commit:
            raise ChartUnavailable(f"ExternalArtifact '{namespace}/{name}' moved; try again")
        return built.tree

    # ---- reconcile ---------------------------------------------------------------------------

    async def reconcile(self, obj: Mapping[str, Any], now: str) -> tuple[Outcome, list[str]]:
        """The generator's status, and the names of the artifacts whose revision moved."""
        seen = fluxstatus.Observed.of(obj)
        previous, generation = seen.status, seen.generation
        try:
            spec = parse_generator(obj.get("spec"), seen.namespace)
            for source in spec.sources:
                if source.namespace != seen.namespace:
                    raise _Failed("AccessDenied", f"cannot access {source.kind}/{source.namespace}/"
                                  f"{source.name}: cross-namespace references are not allowed", True)  # fmt: skip
            trees, revisions = await self._trees(spec)
            moved = []
            for artifact in spec.artifacts:
                built = await self._build(seen.namespace, artifact, trees, revisions)
                key = (seen.namespace, artifact.name)
                old = self._built.get(key)
                self._built[key] = built
                await self._publish(obj, artifact.name, built, now)
                if old is None or old.revision != built.revision:
                    moved.append(artifact.name)
            await self._collect(obj, {a.name for a in spec.artifacts}, previous)
        except InvalidSpecError as exc:
            failed = _Failed(fluxstatus.refusal_reason(exc), exc.message, True)
            return Outcome(_failed(previous, failed, generation, now), None), []
        except _Failed as failed:
            requeue = None if failed.stalled else SOURCE_RETRY
            return Outcome(_failed(previous, failed, generation, now), requeue), []
        inventory = [{"name": a.name, "namespace": seen.namespace,
                      "digest": self._built[(seen.namespace, a.name)].digest} for a in spec.artifacts]  # fmt: skip
        message = f"reconciliation succeeded, generated {len(spec.artifacts)} artifact(s)"
        wanted = [(fluxstatus.READY, True, fluxstatus.SUCCEEDED, message)]
        status = fluxstatus.updated(previous, wanted, generation, now, inventory=inventory)
        return Outcome(status, None), moved

    async def _trees(self, spec: GeneratorSpec) -> tuple[dict[str, SealedTree], dict[str, str]]:
        trees, revisions = {}, {}
        for source in spec.sources:
            artifact = self.sources.artifact(source.kind, source.namespace, source.name)
            if artifact is None:
                raise _Failed("SourceFetchFailed",
                              f"{source.kind} '{source.namespace}/{source.name}' is not ready")  # fmt: skip
            try:
                trees[source.alias] = await self.sources.tree(artifact)
            except ChartUnavailable as exc:
                raise _Failed("SourceFetchFailed", str(exc)) from None
            revisions[source.alias] = artifact.revision
        return trees, revisions

    async def _build(
        self,
        namespace: str,
        artifact: ArtifactSpec,
        trees: Mapping[str, SealedTree],
        revisions: Mapping[str, str],
    ) -> Built:
        listings = {
            alias: await asyncio.to_thread(_listing, tree.root) for alias, tree in trees.items()
        }
        try:
            placed = plan(artifact, listings)
        except CopyError as exc:
            raise _Failed("BuildFailed", f"artifact '{artifact.name}': {exc}") from None
        if len(placed) > MAX_FILES:
            raise _Failed("BuildFailed", f"artifact '{artifact.name}': more than {MAX_FILES} files")
        roots = {alias: tree.root for alias, tree in trees.items()}
        folder = self.root / namespace / artifact.name
        try:
            digest, path = await asyncio.to_thread(_materialize, folder, placed, roots)
        except _Failed:
            raise
        except OSError as exc:
            raise _Failed("BuildFailed", f"artifact '{artifact.name}': {exc.strerror}") from None
        tree = await asyncio.to_thread(seal_tree, path)
        if artifact.revision_alias:
            revision = revisions[artifact.revision_alias]
        else:
            revision = f"latest@sha256:{digest}"
        origin = revisions.get(artifact.origin_alias) if artifact.origin_alias else None
        return Built(revision, f"sha256:{digest}", tree, origin)

    async def _publish(self, obj: Mapping[str, Any], name: str, built: Built, now: str) -> None:
        info = self.external_info()
        if info is None:
            return
        meta = obj.get("metadata") or {}
        namespace = str(meta.get("namespace"))
        desired = {
            "apiVersion": FLUX_SOURCE_API_VERSION,
            "kind": EXTERNAL_ARTIFACT,
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"sourceRef": {"apiVersion": GENERATOR_API_VERSION, "kind": GENERATOR,
                                   "name": meta.get("name"), "namespace": namespace}},
        }  # fmt: skip
        live = self.cached(namespace, name)
        try:
            if live is None or live.get("spec") != desired["spec"]:
                live = await self.client.apply(
                    info, desired, field_manager=FIELD_MANAGER, force=True
                )
            previous = dict(live.get("status") or {})
            artifact = dict(previous.get("artifact") or {})
            if artifact.get("revision") != built.revision or artifact.get("digest") != built.digest:
                artifact = {"revision": built.revision, "digest": built.digest, "lastUpdateTime": now,
                            "path": f"externalartifact/{namespace}/{name}/{built.digest[7:19]}.tar.gz",
                            "url": f"external://{namespace}/{name}"}  # fmt: skip
                if built.origin:
                    artifact["metadata"] = {"org.opencontainers.image.revision": built.origin}
            message = f"stored artifact: revision '{built.revision}'"
            wanted = [(fluxstatus.READY, True, fluxstatus.SUCCEEDED, message)]
            generation = int((live.get("metadata") or {}).get("generation") or 1)
            status = fluxstatus.updated(previous, wanted, generation, now_iso(), artifact=artifact)
            if status.get("artifact") != previous.get("artifact") or not previous.get("conditions"):
                await self.client.patch(info, name, {"status": status}, namespace,
                                        field_manager=FIELD_MANAGER, subresource="status")  # fmt: skip
        except ClusterError as exc:
            raise _Failed(
                "ReconciliationFailed", f"ExternalArtifact '{namespace}/{name}': {exc.message}"
            ) from None

    async def _collect(
        self, obj: Mapping[str, Any], names: set[str], previous: Mapping[str, Any]
    ) -> None:
        """Delete the ExternalArtifacts of the last inventory no longer generated."""
        info = self.external_info()
        namespace = str((obj.get("metadata") or {}).get("namespace"))
        for entry in previous.get("inventory") or ():
            name = str(entry.get("name") or "") if isinstance(entry, Mapping) else ""
            if not name or name in names or info is None:
                continue
            self._built.pop((namespace, name), None)
            try:
                await self.client.delete(info, name, namespace)
            except NotFound:
                pass
            except ClusterError as exc:
                raise _Failed(
                    "ReconciliationFailed", f"ExternalArtifact '{namespace}/{name}': {exc.message}"
                ) from None


def _listing(root: Path) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for file in files:
            path = Path(folder) / file
            if path.is_file() and not path.is_symlink():
                found.append(path.relative_to(root).as_posix())
    return found


def _materialize(
    folder: Path, placed: Mapping[str, tuple[str, str]], roots: Mapping[str, Path]
) -> tuple[str, Path]:
    """Copy the planned files into a folder named by the digest of the content (kept when it
    exists already); the digest and the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=folder))
    try:
        digest = hashlib.sha256()
        total = 0
        for dest in sorted(placed):
            alias, source = placed[dest]
            data = (roots[alias] / source).read_bytes()
            total += len(data)
            if total > MAX_BYTES:
                raise _Failed("BuildFailed", f"the artifact is larger than {MAX_BYTES} bytes")
            digest.update(f"{dest}\0{len(data)}\0".encode())
            digest.update(data)
            target = staging / dest
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        hex_digest = digest.hexdigest()
        final = folder / hex_digest[:32]
        if final.is_dir():
            return hex_digest, final
        os.rename(staging, final)
        return hex_digest, final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _failed(previous: dict[str, Any], failed: _Failed, generation: int, now: str) -> dict[str, Any]:
    wanted = [(fluxstatus.READY, False, failed.reason, failed.message)]
    if failed.stalled:
        wanted.append((fluxstatus.STALLED, True, failed.reason, failed.message))
    return fluxstatus.updated(previous, wanted, generation, now)
