"""GitRepositories: the ref resolved to a commit, fetched into a mirror, recorded as Flux's
``status.artifact.revision`` (``main@sha1:<commit>``) with ``Ready`` and ``ArtifactInStorage``.

Mirrors are kept per (namespace, ``secretRef``): a tenant's GitRepository never reads commits a
mirror fetched with another namespace's credentials, so a private repository one tenant may read
stays unreadable through another tenant's object naming the same URL. The tree of a commit is
exported once per mirror and shared by the Kustomizations reading it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound
from tether.cluster.secretdata import decoded
from tether.controller.exports import TreeExports
from tether.fields import InvalidSpecError
from tether.flux import status as fluxstatus
from tether.flux.specs import GitRef, GitRepositorySpec, parse_git_repository
from tether.images.automationspec import git_repository_credentials
from tether.render import SealedTree
from tether.source.credentials import RepoCredentials
from tether.source.errors import SourceError
from tether.source.mirror import MirrorCache
from tether.source.policy import RepoPolicy
from tether.source.trust import RepoTrust


@dataclass(frozen=True)
class Artifact:
    """What a GitRepository holds now: its URL, the commit and Flux's revision string."""

    url: str
    commit: str
    revision: str
    #: the mirrors of the object's namespace and credentials (where the commit is)
    store: str
    #: ``spec.ignore``: what else to leave out of the source
    ignore: str | None = None
    #: the source's kind (an OCIRepository's artifact is a digest, not a commit)
    kind: str = "GitRepository"


@dataclass(frozen=True)
class Outcome:
    """A reconcile's result: the status to write (None: leave it) and when to come back
    (None: only when the object changes)."""

    status: dict[str, Any] | None
    requeue: float | None


def ref_revision(ref: GitRef) -> str:
    """The revision the mirror resolves for a Flux ref."""
    if ref.kind == "branch":
        return f"refs/heads/{ref.value}"
    if ref.kind == "tag":
        return f"refs/tags/{ref.value}"
    return ref.value


def _pointer(ref: GitRef, resolved_ref: str | None) -> str | None:
    if ref.kind == "semver" and resolved_ref:
        return resolved_ref.removeprefix("refs/tags/")
    return ref.pointer


class GitRepositories:
    """Reconciles GitRepositories (one at a time per object; the part serialises them)."""

    def __init__(
        self,
        client: ClusterClient,
        cache_dir: Path,
        *,
        allow_local_repositories: bool = False,
        trust: RepoTrust | None = None,
    ) -> None:
        self.client = client
        self.root = cache_dir / "flux-git"
        self._policy = RepoPolicy(allow_local=allow_local_repositories)
        self._trust = trust
        self._stores: dict[str, tuple[MirrorCache, TreeExports]] = {}
        self._artifacts: dict[str, Artifact] = {}

    def artifact(self, namespace: str, name: str) -> Artifact | None:
        """The GitRepository's current artifact, once reconciled by this process."""
        return self._artifacts.get(f"{namespace}/{name}")

    def forget(self, namespace: str, name: str) -> None:
        self._artifacts.pop(f"{namespace}/{name}", None)

    async def tree(self, artifact: Artifact) -> SealedTree:
        """The files of the artifact's commit (exported once, shared, read-only)."""
        _, exports = self._stores[artifact.store]
        return await exports.export(artifact.url, artifact.commit)

    def _store(self, namespace: str, secret: str | None) -> tuple[str, MirrorCache, TreeExports]:
        key = hashlib.sha256(f"{namespace}\0{secret or ''}".encode()).hexdigest()[:24]
        if key not in self._stores:
            root = self.root / key
            mirrors = MirrorCache(root / "git", policy=self._policy, trust=self._trust)
            exports = TreeExports(root / "trees", lambda url: mirrors.mirror(url))
            self._stores[key] = (mirrors, exports)
        mirrors, exports = self._stores[key]
        return key, mirrors, exports

    async def reconcile(self, obj: Mapping[str, Any], now: str) -> Outcome:
        seen = fluxstatus.Observed.of(obj)
        namespace, previous, generation = seen.namespace, seen.status, seen.generation
        try:
            spec = parse_git_repository(obj.get("spec"))
        except InvalidSpecError as exc:
            reason = fluxstatus.refusal_reason(exc)
            status = _failed(previous, reason, exc.message, generation, now, stalled=True)
            return Outcome(status, None)
        if spec.suspend:
            return Outcome(None, None)
        try:
            credentials = await self._credentials(namespace, spec)
        except _CredentialsMissing as exc:
            status = _failed(previous, fluxstatus.AUTHENTICATION_FAILED, str(exc), generation, now)
            return Outcome(status, spec.interval)
        key, mirrors, _ = self._store(namespace, spec.secret_ref)
        try:
            mirror = mirrors.mirror(spec.url, credentials)
            resolved = await mirror.resolve_async(ref_revision(spec.ref))
        except SourceError as exc:
            message = f"failed to checkout and determine revision: {exc.message}"
            status = _failed(previous, fluxstatus.GIT_OPERATION_FAILED, message, generation, now)
            return Outcome(status, spec.interval)
        revision = fluxstatus.git_revision(_pointer(spec.ref, resolved.ref), resolved.commit)
        self._artifacts[f"{namespace}/{seen.name}"] = Artifact(
            spec.url, resolved.commit, revision, key, spec.ignore
        )
        return Outcome(_stored(previous, revision, generation, now), spec.interval)

    async def _credentials(self, namespace: str, spec: GitRepositorySpec) -> RepoCredentials | None:
        if not spec.secret_ref:
            return None
        info = await self.client.resource_for("v1", "Secret")
        try:
            secret = await self.client.get(info, spec.secret_ref, namespace)
        except NotFound:
            raise _CredentialsMissing(
                f"failed to get secret '{namespace}/{spec.secret_ref}': not found"
            ) from None
        except ClusterError as exc:
            raise _CredentialsMissing(
                f"failed to get secret '{namespace}/{spec.secret_ref}': {exc.message}"
            ) from None
        return git_repository_credentials(spec.url, decoded(secret))


class _CredentialsMissing(Exception):
    """The GitRepository's ``secretRef`` cannot be read (its message is Flux-shaped)."""


def _stored(previous: dict[str, Any], revision: str, generation: int, now: str) -> dict[str, Any]:
    message = f"stored artifact for revision '{revision}'"
    return fluxstatus.stored(previous, revision, message, generation, now)


def _failed(
    previous: dict[str, Any],
    reason: str,
    message: str,
    generation: int,
    now: str,
    *,
    stalled: bool = False,
) -> dict[str, Any]:
    """Ready=False with the reason; the artifact of the last good revision stays (and keeps
    being used by the Kustomizations reading it)."""
    wanted = [(fluxstatus.READY, False, reason, message)]
    if stalled:
        wanted.append((fluxstatus.STALLED, True, reason, message))
    elif previous.get("artifact"):
        revision = previous["artifact"].get("revision", "")
        wanted.append(
            (fluxstatus.ARTIFACT_IN_STORAGE, True, fluxstatus.SUCCEEDED,
             f"stored artifact for revision '{revision}'")
        )  # fmt: skip
    return fluxstatus.updated(previous, wanted, generation, now)
