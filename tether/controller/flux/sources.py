"""The sources Kustomizations build from, by kind: GitRepositories (a commit of a mirror) and
OCIRepositories (an unpacked layer); both answer an :class:`Artifact` and its sealed tree."""

from __future__ import annotations

from tether.controller.flux.gitrepos import Artifact, GitRepositories
from tether.controller.flux.ocirepos import OCI_KIND, OCIRepositories
from tether.render.sealed import SealedTree


class SourceArtifacts:
    def __init__(self, git: GitRepositories, oci: OCIRepositories) -> None:
        self.git = git
        self.oci = oci

    def artifact(self, kind: str, namespace: str, name: str) -> Artifact | None:
        if kind == OCI_KIND:
            return self.oci.artifact(namespace, name)
        return self.git.artifact(namespace, name)

    async def tree(self, artifact: Artifact) -> SealedTree:
        if artifact.kind == OCI_KIND:
            return await self.oci.tree(artifact)
        return await self.git.tree(artifact)
