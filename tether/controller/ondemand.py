"""Comparisons on demand, read only: an app rendered (at its compared commit, or at any revision
for a pull-request preview) and compared with its live objects with the controller's own parts
(desired state, destinations, admission, comparison), never writing; kept while nothing it
depends on changes. Used by a server replica (:mod:`tether.controller.observer`) and by the
previews of both the controller and a replica."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError
from tether.controller import admission, clusters, impersonation, models, multisource, project
from tether.controller.comparison import compare_app
from tether.controller.config import ControllerConfig
from tether.controller.control import ControlNamespace
from tether.controller.desired import DesiredState
from tether.controller.destinations import Destination, Destinations
from tether.controller.face import (
    Observation,
)
from tether.controller.status import read_status
from tether.engine.ignore import parse_ignore_differences
from tether.engine.plan import hook_info
from tether.errors import TetherError
from tether.names import (
    REFRESH_ANNOTATION,
    SETTINGS_CONFIGMAP,
)
from tether.render import RenderError
from tether.resources import ResourceKey
from tether.source.errors import SourceError
from tether.source.revisions import is_commit_sha

log = logging.getLogger(__name__)


class ObservationError(TetherError):
    """An app cannot be compared on demand (its spec, project, source or render refuses it)."""


@dataclass
class ObserverSettings:
    """Limits of a server replica's on-demand work."""

    #: seconds an on-demand comparison is reused at most (it is dropped sooner when the app,
    #: its project, ``argocd-cm`` or a live object it looked at changes)
    comparison_ttl: float = 30.0
    #: comparisons kept, least recently asked for dropped first (memory bound)
    max_comparisons: int = 128
    #: comparisons computed at once (renders are CPU work: many viewers must not starve the loop)
    compare_workers: int = 2
    #: refresh annotations a webhook writes per second at most (a push to a repository that
    #: 1,000 apps use must not flood the API server)
    webhook_refresh_rate: float = 20.0
    #: seconds the start waits for the control namespace to be listed
    start_timeout: float = 60.0


@dataclass(frozen=True)
class _Target:
    """What an app is compared at: its parsed spec, project scope and destination."""

    app: models.Application
    scope: admission.WriteScope
    dest: Destination


@dataclass
class _Entry:
    """One kept comparison and what it depended on."""

    basis: tuple[str, ...]
    observation: Observation
    dest: Destination
    keys: tuple[ResourceKey, ...]
    live: frozenset[tuple[ResourceKey, str]]
    at: float


def _digest(value: Any) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def resource_version(obj: Mapping[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")


def live_versions(
    dest: Destination, name: str, keys: Iterable[ResourceKey]
) -> frozenset[tuple[ResourceKey, str]]:
    """(key, resourceVersion) of the live objects a comparison of ``name`` looks at: each desired
    one (``""`` when missing) and each tracked as the app's. Read from the live cache only."""
    seen = {(key, resource_version(dest.cache.get(key))) for key in keys}
    seen.update((ResourceKey.of(o), resource_version(o)) for o in dest.cache.objects_of(name))
    return frozenset(seen)


class OnDemandComparisons:
    """Renders and compares apps when asked, with the controller's parts, writing nothing."""

    def __init__(
        self,
        client: ClusterClient,
        config: ControllerConfig,
        control: ControlNamespace,
        settings: ObserverSettings,
        *,
        sources: DesiredState,
        destinations: Destinations | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.control = control
        self.settings = settings
        self.sources = sources
        #: the destinations' caches: the controller's own when it runs in this process
        self._own_destinations = destinations is None
        self.destinations = destinations or Destinations(
            client,
            config.tracking,
            lambda *_: None,  # freshness is checked against the cache when asked, not pushed
            managed_namespaces=config.managed_namespaces,
        )
        self.computed = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._running: dict[tuple[str, tuple[str, ...]], asyncio.Task[Observation]] = {}
        self._slots = asyncio.Semaphore(settings.compare_workers)

    def kept(self, name: str) -> Observation | None:
        """The comparison kept for ``name`` (however old), without computing one."""
        entry = self._entries.get(name)
        return entry.observation if entry is not None else None

    def forget(self, name: str) -> None:
        self._entries.pop(name, None)

    async def close(self) -> None:
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        if self._own_destinations:
            await self.destinations.close()

    async def observe(self, obj: dict[str, Any]) -> Observation:
        """The app ``obj`` compared with its live objects: the kept comparison while it is
        current, else a new one (one at a time per app and basis)."""
        name = obj["metadata"]["name"]
        basis = self._basis(obj)
        entry = self._entries.get(name)
        if entry is not None and self._current(entry, name, basis):
            self._entries.move_to_end(name)
            return entry.observation
        key = (name, basis)
        task = self._running.get(key)
        if task is None:
            task = asyncio.create_task(self._compute(obj, basis), name=f"observe-{name}")
            self._running[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        # shielded: one caller going away does not cancel the others' comparison
        return await asyncio.shield(task)

    def _finished(self, key: tuple[str, tuple[str, ...]], task: asyncio.Task[Observation]) -> None:
        self._running.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here: every caller may have gone away meanwhile

    def _basis(self, obj: dict[str, Any]) -> tuple[str, ...]:
        """What a comparison depends on besides the live objects: the app's spec and
        annotations (the refresh annotation aside), its compared revision, its project and the
        settings, by version."""
        meta = obj.get("metadata") or {}
        annotations = dict(meta.get("annotations") or {})
        annotations.pop(REFRESH_ANNOTATION, None)
        spec = obj.get("spec") or {}
        project_name = str(spec.get("project") or "default")
        return (
            _digest([spec, annotations]),
            _compared_revision(obj),
            resource_version(self.control.project_objects().get(project_name)),
            resource_version(self.control.configmap(SETTINGS_CONFIGMAP)),
        )

    def _current(self, entry: _Entry, name: str, basis: tuple[str, ...]) -> bool:
        if entry.basis != basis or time.monotonic() - entry.at > self.settings.comparison_ttl:
            return False
        return live_versions(entry.dest, name, entry.keys) == entry.live

    async def compare_at(self, obj: dict[str, Any], revision: str) -> Observation:
        """The app ``obj`` rendered at ``revision`` (a commit the mirror holds; several joined
        with ``|`` for a multi-source app, an empty part meaning that source's target) and
        compared with its live objects, as a sync to that revision would see it; nothing kept,
        nothing written. ObservationError names a refusal: the spec, the project, the render."""
        async with self._slots:
            target = await self._target(obj)
            try:
                commit = (await self.sources.resolve_app(target.app, revision, None)).commit
            except SourceError as exc:
                raise ObservationError(exc.message) from exc
            return await self._compare(obj, target, commit)

    async def _compare(self, obj: dict[str, Any], target: _Target, commit: str) -> Observation:
        try:
            rendered = await self.sources.render(target.app, target.dest.client, commit)
            admission.check_objects(target.scope, rendered.objects)
            compared = await compare_app(
                target.app.name,
                commit,
                rendered.tool,
                rendered.objects,
                target.dest,
                status_resources=list((obj.get("status") or {}).get("resources") or []),
                keep_live=lambda live: _own(target.scope, live),
                rules=list(parse_ignore_differences(target.app.spec.ignore_differences))
                + self.control.system_rules(),
                customizations=self.control.health_customizations(),
                field_manager=self.config.field_manager,
            )
        except (SourceError, RenderError, project.ProjectViolation, ClusterError) as exc:
            raise ObservationError(exc.message) from exc
        return Observation(commit, compared.diff, compared.desired)

    async def _compute(self, obj: dict[str, Any], basis: tuple[str, ...]) -> Observation:
        name = obj["metadata"]["name"]
        async with self._slots:
            target = await self._target(obj)
            commit = await self._commit(target.app, obj)
            observation = await self._compare(obj, target, commit)
        self.computed += 1
        keys = tuple(ResourceKey.of(d) for d in observation.desired)
        self._entries[name] = _Entry(
            basis,
            observation,
            target.dest,
            keys,
            live_versions(target.dest, name, keys),
            time.monotonic(),
        )
        self._entries.move_to_end(name)
        while len(self._entries) > self.settings.max_comparisons:
            self._entries.popitem(last=False)
        return observation

    async def _target(self, obj: dict[str, Any]) -> _Target:
        """The app's spec, project scope and destination, checked as the reconciler checks
        them; ObservationError naming what refuses it."""
        try:
            app = models.parse_application(obj)
            proj, proj_obj = self.control.project_of(app)
            multisource.check_sources(app.spec.sources)
            for source in app.spec.all_sources:
                proj.check_source(source.repo_url)
            entry = clusters.resolve_destination(
                app.spec.destination, self.control.cluster_secrets()
            )
            if entry is None:
                raise models.InvalidSpecError("spec.destination does not name a known cluster")
            namespace = app.spec.destination.namespace or ""
            proj.check_destination(entry.server, entry.name, namespace)
            dest = await self.destinations.open(entry)
            scope = admission.WriteScope.of(
                proj_obj,
                proj,
                entry.server,
                entry.name,
                self.config.namespace if dest.client is self.client else None,
                managed_namespaces=dest.namespaces,
                cluster_resources=dest.cluster_resources,
                impersonate=impersonation.impersonation_enabled(self.control.settings()),
            )
            if namespace:
                admission.check_managed_namespace(scope, namespace, "spec.destination")
        except TetherError as exc:
            raise ObservationError(exc.message) from exc
        return _Target(app, scope, dest)

    async def _commit(self, app: models.Application, obj: dict[str, Any]) -> str:
        """The commit the app's status reports as compared (so the diff matches the status),
        else its target revision resolved now; fetched into the replica's mirror if missing."""
        source = app.spec.source
        if source is None or source.chart or source.repo_url.lower().startswith("oci://"):
            # several sources, a chart, an OCI artifact: the status's revision(s), else the
            # targets, resolved as the controller resolves them
            try:
                compared = read_status(obj).revision
                return (await self.sources.resolve_app(app, compared or None, None)).commit
            except SourceError as exc:
                raise ObservationError(exc.message) from exc
        revision = _compared_revision(obj) or source.target_revision or "HEAD"
        url = source.repo_url
        mirror = self.sources.mirrors.mirror(url, self.sources.credentials_for(url))
        try:
            if len(revision) == 40 and await asyncio.to_thread(mirror.has_commit, revision):
                return revision
            return (await mirror.resolve_async(revision)).commit
        except SourceError as exc:
            raise ObservationError(exc.message) from exc


def _compared_revision(obj: dict[str, Any]) -> str:
    """``status.sync.revision`` when it was compared for the app's current source."""
    status = read_status(obj)
    source = (obj.get("spec") or {}).get("source") or {}
    compared = status.compared_source
    same = compared.get("repoURL") == source.get("repoURL") and (
        compared.get("targetRevision") or "HEAD"
    ) == (source.get("targetRevision") or "HEAD")
    return status.revision if same and is_commit_sha(status.revision) else ""


def _own(scope: admission.WriteScope, live: dict[str, Any]) -> bool:
    # as the reconciler: hooks are not compared; a tracking id outside the project does not
    # make an object the app's
    return not hook_info(live)[0] and admission.refusal(scope, live) is None
