"""GitRepositories: the ref resolved to a commit, fetched into a mirror, recorded as Flux's
``status.artifact.revision`` (``main@sha1:<commit>``) with ``Ready`` and ``ArtifactInStorage``.

Mirrors are kept per (namespace, ``secretRef``): a tenant's GitRepository never reads commits a
mirror fetched with another namespace's credentials, so a private repository one tenant may read
stays unreadable through another tenant's object naming the same URL. The tree of a commit is
exported once per mirror and shared by the Kustomizations reading it.

``include`` places other GitRepositories' artifacts (same namespace) in this one's
(:mod:`.gitincludes`): the revision stays this repository's, ``status.includedArtifacts``
names theirs, and a change of one of them makes a new artifact here. An include that has no
artifact yet is ``IncludeUnavailable`` (Flux's reasons, ``NotFound`` and ``NoArtifact``) and the
last artifact stays; one that includes this repository back is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound
from tether.cluster.secretdata import decoded
from tether.controller.exports import TreeExports
from tether.controller.flux.gitincludes import IncludeError, Part, compose
from tether.errors import TetherError
from tether.fields import InvalidSpecError
from tether.flux import status as fluxstatus
from tether.flux.specs import GitInclude, GitRef, GitRepositorySpec, parse_git_repository
from tether.images.automationspec import git_repository_credentials
from tether.render import SealedTree
from tether.render.sealed import seal_tree
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
    #: a GitRepository's ``include``: the artifacts placed in its tree
    includes: tuple[Included, ...] = ()


@dataclass(frozen=True)
class Included:
    """An included GitRepository (``namespace/name``) as it was when this artifact was made."""

    key: str
    artifact: Artifact
    from_path: str
    to_path: str


#: Flux's requeue of an object waiting for an include (``--requeue-dependency``)
INCLUDE_REQUEUE = 30.0
#: includes of includes followed at most
MAX_INCLUDE_DEPTH = 8
INCLUDE_UNAVAILABLE = "IncludeUnavailable"


def identity(artifact: Artifact) -> str:
    """What makes an artifact's tree: its commit and, recursively, its includes'."""
    parts = [artifact.commit, artifact.ignore or "",
             [(i.key, identity(i.artifact), i.from_path, i.to_path) for i in artifact.includes]]  # fmt: skip
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


class _IncludeMissing(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


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
        exists: Callable[[str, str], bool] = lambda namespace, name: True,
    ) -> None:
        """``exists(namespace, name)``: whether that GitRepository exists (an include's)."""
        self.client = client
        self.exists = exists
        self.root = cache_dir / "flux-git"
        self._policy = RepoPolicy(allow_local=allow_local_repositories)
        self._trust = trust
        self._stores: dict[str, tuple[MirrorCache, TreeExports]] = {}
        self._artifacts: dict[str, Artifact] = {}
        self._composing: dict[str, asyncio.Task[SealedTree]] = {}
        self._composed: dict[str, SealedTree] = {}

    def artifact(self, namespace: str, name: str) -> Artifact | None:
        """The GitRepository's current artifact, once reconciled by this process."""
        return self._artifacts.get(f"{namespace}/{name}")

    def forget(self, namespace: str, name: str) -> None:
        self._artifacts.pop(f"{namespace}/{name}", None)

    async def tree(self, artifact: Artifact) -> SealedTree:
        """The files of the artifact's commit (exported once, shared, read-only), with its
        includes placed (composed once per combination of revisions)."""
        _, exports = self._stores[artifact.store]
        base = await exports.export(artifact.url, artifact.commit)
        if not artifact.includes:
            return base
        key = identity(artifact)
        if key in self._composed:
            return self._composed[key]
        task = self._composing.get(key)
        if task is None:
            task = asyncio.create_task(self._compose(key, base, artifact.includes))
            self._composing[key] = task
            task.add_done_callback(lambda _: self._composing.pop(key, None))
        return await asyncio.shield(task)

    async def _compose(
        self, key: str, base: SealedTree, includes: tuple[Included, ...]
    ) -> SealedTree:
        parts = []
        for included in includes:
            tree = await self.tree(included.artifact)
            name = included.key.partition("/")[2]
            parts.append(Part(name, tree.root, included.artifact.ignore,
                              included.from_path, included.to_path))  # fmt: skip
        path = await asyncio.to_thread(compose, self.root / "composed", key, base.root, parts)
        sealed = await asyncio.to_thread(seal_tree, path)
        self._composed[key] = sealed
        return sealed

    def _included(
        self, namespace: str, name: str, includes: tuple[GitInclude, ...]
    ) -> tuple[Included, ...]:
        """The includes' current artifacts, or _IncludeMissing (Flux's reason and message)."""
        found = []
        own = f"{namespace}/{name}"
        for include in includes:
            key = f"{namespace}/{include.name}"
            artifact = self._artifacts.get(key)
            if artifact is None:
                if not self.exists(namespace, include.name):
                    raise _IncludeMissing("NotFound", f"could not get resource for include "
                                          f"'{include.name}': gitrepositories.source.toolkit."
                                          f"fluxcd.io \"{include.name}\" not found")  # fmt: skip
                raise _IncludeMissing(
                    "NoArtifact", f"no artifact available for include '{include.name}'"
                )
            _check_no_cycle(own, key, artifact)
            found.append(Included(key, artifact, include.from_path, include.to_path))
        return tuple(found)

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
        try:
            includes = self._included(namespace, seen.name, spec.includes)
        except _IncludeMissing as exc:
            wanted = [(fluxstatus.READY, False, exc.reason, str(exc)),
                      (INCLUDE_UNAVAILABLE, True, exc.reason, str(exc))]  # fmt: skip
            status = fluxstatus.updated(previous, wanted, generation, now)
            return Outcome(status, min(INCLUDE_REQUEUE, spec.interval))
        revision = fluxstatus.git_revision(_pointer(spec.ref, resolved.ref), resolved.commit)
        artifact = Artifact(spec.url, resolved.commit, revision, key, spec.ignore,
                            includes=includes)  # fmt: skip
        if includes:
            try:
                await self.tree(artifact)
            except TetherError as exc:  # IncludeError, or the export or seal of a tree
                reason = exc.reason if isinstance(exc, IncludeError) else "CopyFailure"
                wanted = [(fluxstatus.READY, False, reason, exc.message),
                          (INCLUDE_UNAVAILABLE, True, reason, exc.message)]  # fmt: skip
                return Outcome(fluxstatus.updated(previous, wanted, generation, now), spec.interval)
        self._artifacts[f"{namespace}/{seen.name}"] = artifact
        status = _stored(previous, revision, generation, now)
        status.pop("includedArtifacts", None)
        status.pop("observedInclude", None)
        if includes:
            status["includedArtifacts"] = [{"revision": i.artifact.revision} for i in includes]
            status["observedInclude"] = (obj.get("spec") or {}).get("include")
        return Outcome(status, spec.interval)

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


def _check_no_cycle(own: str, key: str, artifact: Artifact, depth: int = 0) -> None:
    name = key.partition("/")[2]
    if depth >= MAX_INCLUDE_DEPTH:
        raise _IncludeMissing(
            "IllegalPath", f"include '{name}' nests includes deeper than {MAX_INCLUDE_DEPTH}"
        )
    for included in artifact.includes:
        if included.key == own:
            raise _IncludeMissing(
                "IllegalPath", f"include '{name}' includes this GitRepository again (a cycle)"
            )
        _check_no_cycle(own, included.key, included.artifact, depth + 1)


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
