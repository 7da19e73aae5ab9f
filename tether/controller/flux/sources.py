"""The sources Kustomizations build from, by kind: GitRepositories (a commit of a mirror),
OCIRepositories (an unpacked layer) and the ExternalArtifacts ArtifactGenerators write; each
answers an :class:`Artifact` and its sealed tree."""

from __future__ import annotations

from typing import Protocol

from tether.controller.flux.gitrepos import Artifact, GitRepositories
from tether.controller.flux.ocirepos import OCI_KIND, OCIRepositories
from tether.names import FLUX_EXTERNAL_ARTIFACT
from tether.render.sealed import SealedTree

EXTERNAL_KIND = FLUX_EXTERNAL_ARTIFACT


class ArtifactStore(Protocol):
    def artifact(self, namespace: str, name: str) -> Artifact | None: ...

    async def tree(self, artifact: Artifact) -> SealedTree: ...


class SourceArtifacts:
    def __init__(self, git: GitRepositories, oci: OCIRepositories) -> None:
        self.git = git
        self.oci = oci
        #: the ExternalArtifacts (the ArtifactGenerators, which read the other two kinds)
        self.external: ArtifactStore | None = None

    def _store(self, kind: str) -> ArtifactStore | None:
        if kind == OCI_KIND:
            return self.oci
        if kind == EXTERNAL_KIND:
            return self.external
        return self.git

    def artifact(self, kind: str, namespace: str, name: str) -> Artifact | None:
        store = self._store(kind)
        return store.artifact(namespace, name) if store is not None else None

    async def tree(self, artifact: Artifact) -> SealedTree:
        store = self._store(artifact.kind)
        assert store is not None, f"no store for {artifact.kind}"
        return await store.tree(artifact)
