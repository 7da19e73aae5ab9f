"""The charts of Applications whose source names one (``spec.source.chart``): which version an
app is at, and the chart's files, unpacked once per archive and shared by every app on it.

A chart app's revision is its chart version, as Argo CD reports it. The index is read through
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
from collections.abc import Callable
from pathlib import Path

from tether.charts import ChartError, ChartSource, ResolvedChart
from tether.controller import models
from tether.render import SealedTree, seal_tree
from tether.render.tree import remove_tree
from tether.source.credentials import RepoCredentials
from tether.source.errors import SourceError
from tether.source.trust import RepoTrust


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
        self._trees: dict[str, SealedTree] = {}
        self._unpacking: dict[str, asyncio.Task[SealedTree]] = {}

    async def aclose(self) -> None:
        await self.source.aclose()

    def _ca_pem(self, url: str) -> str | None:
        path = self.trust.ca_file_for(url) if self.trust is not None else None
        return path.read_text() if path is not None else None

    async def resolve(self, source: models.AppSource, revision: str | None = None) -> ResolvedChart:
        """The chart version ``revision`` (a sync to a version, a rollback) or else the
        source's ``targetRevision`` selects now."""
        assert source.chart
        wanted = revision or source.target_revision or ""
        if wanted == "HEAD":  # Argo CD's default for Git; for a chart it means the newest
            wanted = ""
        url = source.repo_url
        try:
            resolved = await self.source.resolve(
                url, source.chart, wanted, self.credentials_for(url), self._ca_pem(url)
            )
        except ChartError as exc:
            raise ChartSourceError(exc.message) from None
        self._versions[(url, source.chart, resolved.version)] = resolved
        return resolved

    async def refresh(self, url: str) -> None:
        """Re-validate the index of ``url`` now; errors are left to the next resolve."""
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
        digest = key.hexdigest()[:32]
        sealed = self._trees.get(digest)
        if sealed is not None and sealed.root.exists():
            return sealed
        task = self._unpacking.get(digest)
        if task is None:
            task = asyncio.create_task(self._unpack(source, resolved, digest))
            self._unpacking[digest] = task
            task.add_done_callback(lambda _: self._unpacking.pop(digest, None))
        return await asyncio.shield(task)

    async def _unpack(
        self, source: models.AppSource, resolved: ResolvedChart, digest: str
    ) -> SealedTree:
        path = self.root / "trees" / digest
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.tmp{os.getpid()}{random.randint(0, 1 << 30)}")
            url = source.repo_url
            helm = source.helm or {}
            try:
                await self.source.materialize(
                    resolved,
                    tmp,
                    self.credentials_for(url),
                    self._ca_pem(url),
                    pass_credentials=bool(helm.get("passCredentials")),
                )
            except ChartError as exc:
                await asyncio.to_thread(remove_tree, tmp)
                raise ChartSourceError(exc.message) from None
            try:
                tmp.rename(path)
            except OSError:  # another process sharing the cache unpacked it first
                await asyncio.to_thread(remove_tree, tmp)
        sealed = await asyncio.to_thread(seal_tree, path)
        self._trees[digest] = sealed
        return sealed
