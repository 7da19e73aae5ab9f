"""Desired state: which commit an Application is at, and the objects it renders there.

Source (poll the repositories, resolve revisions) and Render (export the commit's tree once,
render it with the app's tool options) meet here, with what only the controller knows: the
app's repository credentials, its decryption keys (the SOPS Secret its project may use) and the
destination cluster's scopes (namespaced kinds get the destination namespace, cluster-scoped
ones none). Every object leaves stamped with the app's tracking id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tether.cluster.client import ClusterClient
from tether.cluster.errors import NotFound, UnknownKind
from tether.cluster.tracking import Tracking
from tether.controller import admission, models, multisource
from tether.controller.chartsources import ChartSources, is_chart_source, render_revision
from tether.controller.exports import TreeExports
from tether.controller.multisource import source_key
from tether.names import DEFAULT_PROJECT, SOPS_SECRET_ANNOTATION
from tether.render import (
    DEFAULT_LIMITS,
    RenderContext,
    RenderError,
    RenderKey,
    SealedTree,
    render,
    render_key,
)
from tether.render.cache import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ENTRIES,
    BoundedCache,
    objects_size,
)
from tether.secrets.sops import SopsError, SopsKeys
from tether.source import MirrorCache, SourcePoller
from tether.source.credentials import RepoCredentials
from tether.source.errors import SourceError
from tether.source.policy import RepoPolicy
from tether.source.poller import AppSource, PollResult
from tether.source.revisions import is_full_sha
from tether.source.trust import RepoTrust


@dataclass(frozen=True)
class Resolved:
    """The commit an app is at, and the repository's error when only the last good one is known."""

    commit: str
    source_error: str | None = None


@dataclass(frozen=True)
class _SourceTree:
    """One source's files at one revision, ready for the render stage."""

    tree: SealedTree
    path: str
    options: dict[str, Any]
    #: what the render is cached under for this source (a chart: version and digest)
    key_revision: str


@dataclass(frozen=True)
class Rendered:
    """The app's objects at a commit (stamped, namespaced) and the tool that rendered them;
    shared with the desired-state cache, so read-only."""

    objects: list[dict[str, Any]]
    tool: str


@dataclass(frozen=True)
class _Placed:
    """A kept render: the placed objects, and the scopes (namespaced or not) they were placed
    for; a destination whose discovery changed gets a fresh render."""

    objects: list[dict[str, Any]]
    tool: str
    scopes: tuple[bool, ...]


def _compact(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects rebuilt through JSON: orjson shares the key strings that YAML loading made
    once per occurrence (a quarter less memory for typical manifests). Values JSON cannot hold
    (non-string keys, huge integers) keep the objects as they are."""
    try:
        compacted: list[dict[str, Any]] = orjson.loads(orjson.dumps(objects))
    except TypeError:
        return objects
    return compacted


def _placed_size(placed: _Placed) -> int:
    return objects_size(placed.objects)


#: renders kept per app: the target revision's and the last synced one's (production mode compares
#: both); older commits of the app are dropped when a newer one is rendered
RENDERS_PER_APP = 2


def value_files(source: models.AppSource) -> tuple[str, ...]:
    helm = source.raw.get("helm") or {}
    return tuple(str(v) for v in helm.get("valueFiles") or ())


class DesiredState:
    """Git mirrors, the poller, exported trees and the render cache of one controller."""

    def __init__(
        self,
        client: ClusterClient,
        namespace: str,
        cache_dir: Path,
        credentials_for: Callable[[str], RepoCredentials | None],
        *,
        tracking: Tracking,
        allow_local_repositories: bool = False,
        trust: RepoTrust | None = None,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.cache_dir = cache_dir
        self.credentials_for = credentials_for
        self.tracking = tracking
        policy = RepoPolicy(allow_local=allow_local_repositories, forbidden_roots=(cache_dir,))
        self.mirrors = MirrorCache(cache_dir / "git", policy=policy, trust=trust)
        self.poller = SourcePoller(self.mirrors, credentials_for)
        self.charts = ChartSources(cache_dir, credentials_for, trust)
        # the only copy of each app's desired objects (callers share it): bounded by entries and
        # bytes; an app evicted renders again at its next comparison
        self.rendered: BoundedCache[RenderKey, _Placed] = BoundedCache(
            DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BYTES, _placed_size
        )
        # each app's kept renders, oldest first: at most RENDERS_PER_APP (its target and the
        # revision it last synced), so commits that moved on do not pile up
        self._kept: dict[str, list[RenderKey]] = {}
        self.renders = 0
        self.exports = TreeExports(
            cache_dir / "trees", lambda url: self.mirrors.mirror(url, self.credentials_for(url))
        )
        #: multi-source apps: the poller's names of their sources
        self._source_keys: dict[str, set[str]] = {}

    async def aclose(self) -> None:
        self.poller.close()
        await self.charts.aclose()

    def check_repository_url(self, url: str) -> str:
        return self.mirrors.check(url)

    def forget(self, name: str) -> None:
        self.poller.unregister(name)
        for poller_name in self._source_keys.pop(name, ()):
            self.poller.unregister(poller_name)
        for key in self._kept.pop(name, []):
            self.rendered.discard(key)

    async def refresh_chart_index(self, url: str) -> None:
        """Read a Helm repository's index again now (a hard refresh); an error is reported by
        the comparison that follows."""
        await self.charts.refresh(url)

    async def poll(self, repo_urls: Iterable[str] | None = None) -> PollResult:
        """Check the repositories' refs (all, or these) and fetch what moved."""
        return await self.poller.poll_async(list(repo_urls) if repo_urls is not None else None)

    # ---- the commit --------------------------------------------------------------------------

    async def resolve_app(
        self, app: models.Application, revision: str | None, source_error: str | None
    ) -> Resolved:
        """:meth:`resolve` for every source of ``app``: one source's commit, or the revisions
        of several joined (``revision``, when given, names them the same way; an empty part is
        that source's target)."""
        if not app.spec.sources:
            assert app.spec.source is not None
            return await self.resolve(app.name, app.spec.source, revision, source_error)
        sources = app.spec.sources
        wanted = multisource.split_revisions(revision or "", len(sources))
        self._source_keys[app.name] = {source_key(app.name, i) for i in range(len(sources))}
        revisions = []
        for index, source in enumerate(sources):
            one = await self.resolve(
                source_key(app.name, index), source, wanted[index] or None, source_error
            )
            revisions.append(one.commit)
            source_error = one.source_error
        return Resolved(multisource.join_revisions(revisions), source_error)

    async def resolve(
        self,
        name: str,
        source: models.AppSource,
        revision: str | None,
        source_error: str | None,
    ) -> Resolved:
        """The commit to render: an explicit ``revision`` (sync, rollback), else the polled
        target of the app. ``source_error`` is the app's last poll error: with a commit known
        from an earlier good poll, that commit stays in use (comparison and self-heal go on
        while Git is away); never resolved, it is raised. A chart's revision is its version."""
        if is_chart_source(source):
            return Resolved((await self.charts.resolve(source, revision)).version, source_error)
        if self.charts.is_artifact(source):
            found = await self.charts.resolve_artifact(source, revision)
            return Resolved(found.digest, source_error)
        if revision and revision != source.target_revision:
            return Resolved(await self._resolve_revision(name, source, revision))
        self.poller.register(
            AppSource(
                name,
                source.repo_url,
                source.target_revision or "HEAD",
                source.path or "",
                value_files(source),
            )
        )
        commit = self.poller.commit_of(name)
        if commit is None:
            # shares the repository's last (or running) ref check: not one ls-remote per app
            poll = await self.poller.first_poll(name)
            if poll is not None and poll.error is not None:
                source_error = poll.error.message
            commit = self.poller.commit_of(name)
        if commit is None:
            raise SourceError(
                source_error
                or f"could not resolve revision {source.target_revision!r} of {source.repo_url}"
            )
        return Resolved(commit, source_error)

    async def _resolve_revision(self, name: str, source: models.AppSource, revision: str) -> str:
        if revision == self.poller.commit_of(name):
            return revision  # the polled commit itself: in the mirror, no network needed
        mirror = self.mirrors.mirror(source.repo_url, self.credentials_for(source.repo_url))
        if is_full_sha(revision) and await asyncio.to_thread(mirror.has_commit, revision):
            # a commit id names one commit forever: the mirror holding it is enough (the
            # automated sync, a rollback or a sync to a history entry needs no ls-remote)
            return revision
        return (await mirror.resolve_async(revision)).commit

    async def revision_metadata(
        self, app: models.Application, commit: str
    ) -> dict[str, str] | None:
        """Argo CD's revision metadata of ``commit``: author, date, message (its subject);
        None when the mirror does not hold it, or the source is not one Git repository."""
        source = app.spec.source
        if source is None or is_chart_source(source) or self.charts.is_artifact(source):
            return None
        url = source.repo_url
        mirror = self.mirrors.mirror(url, self.credentials_for(url))
        try:
            info = await mirror.commit_info_async(commit)
        except SourceError:
            return None
        if info is None:
            return None
        return {"author": info.author, "date": info.date, "message": info.subject}

    # ---- the objects -------------------------------------------------------------------------

    async def export(self, url: str, commit: str) -> SealedTree:
        """The tree of ``commit`` as files, written once, sealed read-only (links checked) and
        shared by every app on it: renders read it in place (:class:`TreeExports`)."""
        return await self.exports.export(url, commit)

    async def render(
        self, app: models.Application, dest_client: ClusterClient, commit: str
    ) -> Rendered:
        """The app's objects at ``commit`` (the revisions of its sources, joined, for several):
        stamped with its tracking id, with the namespaces the destination cluster's scopes call
        for. Kept once per (app, commit, options) and shared with every caller: treat them as
        read-only."""
        sources = app.spec.all_sources
        revisions = (
            multisource.split_revisions(commit, len(sources)) if app.spec.sources else (commit,)
        )
        decryption = await self.decryption_keys(app)
        trees = [await self._source_tree(s, r) for s, r in zip(sources, revisions, strict=True)]
        key_source = {"sources": [s.raw for s in sources]} if app.spec.sources else sources[0].raw
        key_revision = multisource.join_revisions([t.key_revision for t in trees])
        key = self._key(app, key_source, sources[0], key_revision, decryption)
        kept = self.rendered.get(key)
        if kept is not None and kept.scopes == await self._scopes(kept.objects, dest_client):
            return Rendered(kept.objects, kept.tool)
        refs = {s.ref: t.tree for s, t in zip(sources, trees, strict=True) if s.ref}
        rendered_objects: list[dict[str, Any]] = []
        tool = ""
        for source, tree, revision in zip(sources, trees, revisions, strict=True):
            if app.spec.sources and not multisource.renders(source):
                continue
            result = await asyncio.to_thread(
                render,
                tree.tree,
                tree.path,
                tree.options,
                app_name=app.name,
                namespace=app.spec.destination.namespace or "",
                repo_url=source.repo_url,
                revision=revision,
                project=app.spec.project,
                decryption=decryption,
                value_refs=refs or None,
            )
            rendered_objects.extend(result.objects)
            tool = tool or result.tool
        if app.spec.sources:
            rendered_objects = multisource.last_wins(rendered_objects)
        # the render is this call's own (no render cache): placed where it lies, held only here
        scopes = await self._scopes(rendered_objects, dest_client)
        objects = _compact(
            [
                self._placed(obj, namespaced, app)
                for obj, namespaced in zip(rendered_objects, scopes, strict=True)
            ]
        )
        self.renders += 1
        self._keep(app.name, key, _Placed(objects, tool, scopes))
        return Rendered(objects, tool)

    async def _source_tree(self, source: models.AppSource, revision: str) -> _SourceTree:
        """Where one source's files are at ``revision``, which path of them renders, and with
        which options: a chart unpacked (its options without ``chart``), an OCI artifact, or
        the Git commit's exported tree."""
        if is_chart_source(source):
            chart = await self.charts.at_version(source, revision)
            options = {k: v for k, v in source.raw.items() if k != "chart"}
            tree = await self.charts.tree(source, chart)
            return _SourceTree(tree, chart.name, options, render_revision(chart))
        if self.charts.is_artifact(source):
            tree = await self.charts.artifact_tree(source, revision)
            return _SourceTree(tree, source.path or ".", source.raw, revision)
        tree = await self.export(source.repo_url, revision)
        return _SourceTree(tree, source.path or ".", source.raw, revision)

    def _keep(self, name: str, key: RenderKey, placed: _Placed) -> None:
        keys = self._kept.setdefault(name, [])
        if key in keys:
            keys.remove(key)
        keys.append(key)
        while len(keys) > RENDERS_PER_APP:
            self.rendered.discard(keys.pop(0))
        self.rendered.put(key, placed)

    def _key(
        self,
        app: models.Application,
        options: dict[str, Any],
        source: models.AppSource,
        revision: str,
        decryption: SopsKeys | None,
    ) -> RenderKey:
        context = RenderContext(
            app_name=app.name,
            namespace=app.spec.destination.namespace or "",
            repo_url=source.repo_url,
            revision=revision,
            project=app.spec.project,
        )
        return render_key(source.path or ".", options, context, DEFAULT_LIMITS, decryption)

    async def _scopes(
        self, objects: list[dict[str, Any]], dest_client: ClusterClient
    ) -> tuple[bool, ...]:
        """Whether each object is namespaced on the destination (an unknown kind counts as
        namespaced): what placement depends on besides the app."""
        scopes: list[bool] = []
        for obj in objects:
            try:
                # the cached lookup only: a revision full of unknown kinds must not refetch
                # discovery for each object (the comparison reports them; a CRD in the same app
                # may add them)
                info = await dest_client.resource_for(
                    str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
                )
            except UnknownKind:
                info = None
            scopes.append(info is None or info.namespaced)
        return tuple(scopes)

    def _placed(
        self, obj: dict[str, Any], namespaced: bool, app: models.Application
    ) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        if namespaced and not meta.get("namespace"):
            meta["namespace"] = app.spec.destination.namespace or "default"
        if not namespaced:
            meta.pop("namespace", None)
        return self.tracking.stamp(obj, app.name)

    async def decryption_keys(self, app: models.Application) -> SopsKeys | None:
        """Age identities for SOPS files, from the Secret the ``tether.io/sops-secret``
        annotation names (in the control namespace, and only one that lists the app's project
        in its ``tether.io/projects`` annotation: one team never decrypts with another's key)."""
        secret_name = app.annotations.get(SOPS_SECRET_ANNOTATION)
        if not secret_name:
            return None
        info = await self.client.resource_for("v1", "Secret")
        try:
            secret: dict[str, Any] | None = await self.client.get(info, secret_name, self.namespace)
        except NotFound:
            secret = None
        admission.check_secret_use(
            secret, secret_name, app.spec.project or DEFAULT_PROJECT, "decryption"
        )
        assert secret is not None
        try:
            return SopsKeys.from_secret(secret)
        except SopsError as exc:
            raise RenderError(f"decryption Secret {secret_name!r}: {exc}") from exc
