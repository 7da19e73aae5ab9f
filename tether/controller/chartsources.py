"""Sources that are not Git repositories: charts from Helm repositories and OCI registries
(``spec.source.chart``), and Argo CD's OCI sources of plain manifests (``repoURL: oci://…``
without a chart). Which version or digest an app is at, and the files, unpacked once per
archive and shared by every app on it.

A chart app's revision is its chart version, an OCI manifest source's the manifest digest, as
Argo CD reports them. The index is read through
:class:`tether.charts.ChartSource` (kept in memory, re-validated with a conditional request once
it is older than its refresh age): each periodic comparison asks for the target again, which
costs nothing while the index is fresh and one ``304`` when nothing moved. Errors reach the
reconcile as :class:`SourceError`, as a Git source's do: the last good version stays applied.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar, cast

from tether.charts import ChartError, ChartSource, ResolvedArtifact, ResolvedChart
from tether.charts.ociref import is_oci_url
from tether.controller import models
from tether.render import SealedTree, seal_tree
from tether.render.tree import remove_tree
from tether.source.credentials import RepoCredentials
from tether.source.errors import SourceError
from tether.source.trust import RepoTrust

#: how often an OCI source's tag is asked about again (a Helm repository's index is re-validated
#: as often: the chart source's refresh age)
OCI_RECHECK_SECONDS = 180.0

_Found = TypeVar("_Found", ResolvedChart, ResolvedArtifact)


def _wanted(target: str | None) -> str:
    """A targetRevision as the chart sources read it: ``HEAD`` (Argo CD's default for Git)
    and empty mean the newest release."""
    return "" if not target or target == "HEAD" else target


class ChartSourceError(SourceError):
    """A chart could not be resolved or fetched (the message says why; no secret in it)."""


def is_chart_source(source: models.AppSource) -> bool:
    """Whether ``source`` takes a chart from a Helm repository rather than a path in Git."""
    return bool(source.chart)


def render_revision(resolved: ResolvedChart) -> str:
    """What a chart's render is cached under: the version and, when known, the archive's
    digest (a version published again with other contents renders again)."""
    return f"{resolved.version}@{resolved.digest}" if resolved.digest else resolved.version


class ChartSources:
    """Resolved chart versions of the apps, and the unpacked charts by archive."""

    def __init__(
        self,
        cache_dir: Path,
        credentials_for: Callable[[str], RepoCredentials | None],
        trust: RepoTrust | None = None,
        *,
        source: ChartSource | None = None,
    ) -> None:
        self.root = cache_dir / "charts"
        self.credentials_for = credentials_for
        self.trust = trust
        self.source = source if source is not None else ChartSource(self.root / "store")
        #: (repo, chart, version) -> the resolution last seen for it
        self._versions: dict[tuple[str, str, str], ResolvedChart] = {}
        #: OCI sources: (what, url, ...) -> when last asked, and what it resolved to
        self._polled_at: dict[tuple[str, ...], tuple[float, ResolvedChart | ResolvedArtifact]] = {}
        #: manifest digest -> the artifact last resolved to it
        self._artifacts: dict[str, ResolvedArtifact] = {}
        self._trees: dict[str, SealedTree] = {}
        self._unpacking: dict[str, asyncio.Task[SealedTree]] = {}

    async def aclose(self) -> None:
        await self.source.aclose()

    def _ca_pem(self, url: str) -> str | None:
        path = self.trust.ca_file_for(url) if self.trust is not None else None
        return path.read_text() if path is not None else None

    def _oci(self, url: str) -> dict[str, bool]:
        """``enable_oci`` and ``plain_http`` from the repository Secret of ``url``."""
        creds = self.credentials_for(url)
        if creds is None:
            return {"enable_oci": False, "plain_http": False}
        return {"enable_oci": creds.enable_oci, "plain_http": creds.oci_force_http}

    def is_artifact(self, source: models.AppSource) -> bool:
        """Whether ``source`` is an OCI artifact of plain manifests (no chart)."""
        if source.chart:
            return False
        url = source.repo_url
        if url.lower().startswith("oci://"):
            return True
        creds = self.credentials_for(url)
        return creds is not None and creds.enable_oci and is_oci_url(url, True)

    async def resolve(self, source: models.AppSource, revision: str | None = None) -> ResolvedChart:
        """The chart version ``revision`` (a sync to a version, a rollback) or else the
        source's ``targetRevision`` selects now: from the Helm repository's index (in memory
        while fresh), or for an OCI registry at most every :data:`OCI_RECHECK_SECONDS` a
        manifest HEAD (after a tag list for a range)."""
        assert source.chart
        chart = source.chart
        wanted = _wanted(revision or source.target_revision)
        url = source.repo_url
        creds, ca_pem, oci = self.credentials_for(url), self._ca_pem(url), self._oci(url)

        async def first() -> ResolvedChart:
            return await self.source.resolve(url, chart, wanted, creds, ca_pem, **oci)

        async def again(previous: ResolvedChart) -> ResolvedChart | None:
            return await self.source.check_for_update(previous, creds, ca_pem)

        try:
            if revision is None and is_oci_url(url, oci["enable_oci"]):
                resolved = await self._polled(("chart", url, chart, wanted), first, again)
            else:
                resolved = await first()
        except ChartError as exc:
            raise ChartSourceError(exc.message) from None
        self._versions[(url, chart, resolved.version)] = resolved
        return resolved

    async def _polled(
        self,
        key: tuple[str, ...],
        first: Callable[[], Awaitable[_Found]],
        again: Callable[[_Found], Awaitable[_Found | None]],
    ) -> _Found:
        """What ``key`` resolves to: resolved the first time, then asked again (``again``,
        the cheap check) once :data:`OCI_RECHECK_SECONDS` passed or a hard refresh asked."""
        now = time.monotonic()
        seen = self._polled_at.get(key)
        if seen is None:
            found = await first()
        elif now - seen[0] < OCI_RECHECK_SECONDS:
            return cast(_Found, seen[1])
        else:
            found = await again(cast(_Found, seen[1])) or cast(_Found, seen[1])
        self._polled_at[key] = (now, found)
        return found

    async def resolve_artifact(
        self, source: models.AppSource, revision: str | None = None
    ) -> ResolvedArtifact:
        """The manifest ``revision`` (a digest: a sync to it, a rollback) or else the source's
        ``targetRevision`` (a tag, a semver range or a digest) names now."""
        wanted = _wanted(revision or source.target_revision)
        url = source.repo_url
        creds, ca_pem, oci = self.credentials_for(url), self._ca_pem(url), self._oci(url)
        artifacts = self.source.artifacts

        async def first() -> ResolvedArtifact:
            return await artifacts.resolve(url, wanted, creds, ca_pem, **oci)

        async def again(previous: ResolvedArtifact) -> ResolvedArtifact | None:
            return await artifacts.check_for_update(previous, creds, ca_pem)

        try:
            if revision is None:
                found = await self._polled(("artifact", url, wanted), first, again)
            else:
                found = await first()
        except ChartError as exc:
            raise ChartSourceError(exc.message) from None
        self._artifacts[found.digest] = found
        return found

    async def artifact_tree(self, source: models.AppSource, digest: str) -> SealedTree:
        """The artifact of manifest ``digest`` unpacked, sealed, shared by every app on it."""
        found = self._artifacts.get(digest) or await self.resolve_artifact(source, digest)
        key = hashlib.sha256(f"{found.repo_url}@{digest}".encode()).hexdigest()[:32]
        url = source.repo_url

        async def unpack(into: Path) -> None:
            await self.source.artifacts.materialize(
                found, into, self.credentials_for(url), self._ca_pem(url)
            )

        return await self._shared_tree(key, unpack)

    async def refresh(self, url: str) -> None:
        """A hard refresh: re-validate the index of ``url`` now, or ask the OCI registry again
        at the next resolve; errors are left to that resolve."""
        for key in [k for k in self._polled_at if k[1] == url]:
            del self._polled_at[key]
        if is_oci_url(url, self._oci(url)["enable_oci"]):
            return
        try:
            await self.source.refresh(url, self.credentials_for(url), self._ca_pem(url))
        except ChartError:
            return

    async def at_version(self, source: models.AppSource, version: str) -> ResolvedChart:
        """The resolution of ``version`` (seen before, or read from the index again)."""
        assert source.chart
        kept = self._versions.get((source.repo_url, source.chart, version))
        return kept if kept is not None else await self.resolve(source, version)

    async def tree(self, source: models.AppSource, resolved: ResolvedChart) -> SealedTree:
        """The chart unpacked (dependencies placed) under ``<tree>/<chart name>``, sealed
        read-only and shared by every app on the same archive."""
        key = hashlib.sha256(render_revision(resolved).encode() + resolved.repo_url.encode())
        url = source.repo_url
        helm = source.helm or {}

        async def unpack(into: Path) -> None:
            await self.source.materialize(
                resolved,
                into,
                self.credentials_for(url),
                self._ca_pem(url),
                pass_credentials=bool(helm.get("passCredentials")),
            )

        return await self._shared_tree(key.hexdigest()[:32], unpack)

    async def _shared_tree(self, key: str, unpack: Callable[[Path], Awaitable[None]]) -> SealedTree:
        """The tree ``key`` names: unpacked once (callers meanwhile wait for that one), kept on
        disk, sealed read-only."""
        sealed = self._trees.get(key)
        if sealed is not None and sealed.root.exists():
            return sealed
        task = self._unpacking.get(key)
        if task is None:
            task = asyncio.create_task(self._unpack(key, unpack))
            self._unpacking[key] = task
            task.add_done_callback(lambda _: self._unpacking.pop(key, None))
        # shielded: one app's cancelled reconcile must not cancel an unpack others wait for
        return await asyncio.shield(task)

    async def _unpack(self, key: str, unpack: Callable[[Path], Awaitable[None]]) -> SealedTree:
        path = self.root / "trees" / key
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.tmp{os.getpid()}{random.randint(0, 1 << 30)}")
            try:
                await unpack(tmp)
            except ChartError as exc:
                await asyncio.to_thread(remove_tree, tmp)
                raise ChartSourceError(exc.message) from None
            try:
                tmp.rename(path)
            except OSError:  # another process sharing the cache unpacked it first
                await asyncio.to_thread(remove_tree, tmp)
        sealed = await asyncio.to_thread(seal_tree, path)
        self._trees[key] = sealed
        return sealed
