"""The controller's read-only side, for API servers that run apart from it (``tether server``).

:class:`ClusterObserver` is the :class:`~tether.controller.face.ObservingFace` of a server
replica. It follows the control namespace by list+watch (read only: it never bootstraps) and
holds no comparison of its own: :class:`OnDemandComparisons` renders an app's compared commit
with the controller's own parts (desired state, destinations, admission, comparison) when the
diff or the manifests are asked for, never writing, and keeps the answer while the app, its
project, the settings and the live objects it looked at stay the same (and at most a TTL).

Actions reach the controller through the cluster, as Argo CD's API server does: a refresh is the
``argocd.argoproj.io/refresh`` annotation (written by the API), a sync the ``operation`` field,
a terminate ``status.operationState.phase: Terminating``, a webhook the hard refresh annotation
on each app the push concerns, paced by :class:`RefreshPacer`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tether.cluster.client import ClusterClient
from tether.cluster.errors import CacheSyncError, ClusterError, Conflict, NotFound, UnknownKind
from tether.controller import admission, clusters, impersonation, models, multisource, project
from tether.controller.comparison import compare_app
from tether.controller.config import ControllerConfig
from tether.controller.control import ControlNamespace
from tether.controller.desired import DesiredState
from tether.controller.destinations import Destination, Destinations, kinds_of
from tether.controller.face import (
    ClusterView,
    ControllerMetrics,
    ControlNamespaceReadings,
    Listeners,
    Observation,
    RepositoryCounters,
)
from tether.controller.imagerequests import REPOSITORY, repositories_of_event, request_reconcile
from tether.controller.previews import Previews, PreviewSettings, PullPreview
from tether.controller.pushes import RefreshPacer, push_concerns
from tether.controller.repoconfig import RepoConfig
from tether.controller.status import TERMINATING, read_status
from tether.engine.diff import AppDiff
from tether.engine.ignore import parse_ignore_differences
from tether.engine.plan import hook_info
from tether.errors import TetherError
from tether.images.events import RegistryEvent
from tether.names import (
    APPLICATION,
    ARGO_API_VERSION,
    REFRESH_ANNOTATION,
    SERVER_FIELD_MANAGER,
    SETTINGS_CONFIGMAP,
)
from tether.render import RenderError
from tether.resources import ResourceKey
from tether.source.credentials import RepoCredentials, select_credentials
from tether.source.errors import SourceError
from tether.source.pullrequests import PullRequestEvent
from tether.source.revisions import is_commit_sha
from tether.source.webhooks import WebhookEvent

log = logging.getLogger(__name__)

#: tries of the terminate write when the controller's own status writes race it
TERMINATE_ATTEMPTS = 3


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


def _version(obj: Mapping[str, Any] | None) -> str:
    return str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")


def live_versions(
    dest: Destination, name: str, keys: Iterable[ResourceKey]
) -> frozenset[tuple[ResourceKey, str]]:
    """(key, resourceVersion) of the live objects a comparison of ``name`` looks at: each desired
    one (``""`` when missing) and each tracked as the app's. Read from the live cache only."""
    seen = {(key, _version(dest.cache.get(key))) for key in keys}
    seen.update((ResourceKey.of(o), _version(o)) for o in dest.cache.objects_of(name))
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
            _version(self.control.project_objects().get(project_name)),
            _version(self.control.configmap(SETTINGS_CONFIGMAP)),
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


# ---- the face -------------------------------------------------------------------------------


class ClusterObserver(ControlNamespaceReadings):
    """The face of a server replica: the control namespace from the cluster, comparisons on
    demand, actions written to the cluster for the controller (see the module's docstring)."""

    def __init__(
        self,
        client: ClusterClient,
        config: ControllerConfig,
        settings: ObserverSettings | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.settings = settings or ObserverSettings()
        cache_dir = config.cache_dir or Path(tempfile.mkdtemp(prefix="tether-server-cache-"))
        self.control = ControlNamespace(
            client,
            config.namespace,
            on_application=self._on_application,
            on_project=lambda *_: None,
            on_secret=lambda *_: None,
            on_configmap=self._on_configmap,
        )
        self.repo_config = RepoConfig(cache_dir / "trust", config.namespace)
        self.sources = DesiredState(
            client,
            config.namespace,
            cache_dir,
            self._credentials_for,
            tracking=config.tracking,
            allow_local_repositories=config.allow_local_repositories,
            trust=self.repo_config.trust,
        )
        self.comparisons = OnDemandComparisons(
            client, config, self.control, self.settings, sources=self.sources
        )
        self.previews = Previews(
            self.control.application_objects,
            self.comparisons,
            self.sources.mirrors,
            self._credentials_for,
        )
        self.pacer = RefreshPacer(self._request_hard_refresh, self.settings.webhook_refresh_rate)
        self.listeners = Listeners()

    @property
    def namespace(self) -> str:
        return self.config.namespace

    async def start(self) -> None:
        """List and watch the control namespace (nothing is bootstrapped or written); an
        ObservationError saying what to do when it cannot be."""
        where = f"namespace {self.namespace}"
        try:
            async with asyncio.timeout(self.settings.start_timeout):
                await self.control.start()
        except UnknownKind as exc:
            raise ObservationError(
                f"{exc.message}: Argo CD's resources are not installed in this cluster; install "
                "Tether first (tether install), or start tether controller once"
            ) from None
        except TimeoutError:
            raise ObservationError(
                f"the Applications, AppProjects, Secrets and ConfigMaps of {where} could not be "
                f"listed within {self.settings.start_timeout:g}s: may this identity list and "
                "watch them? (the log names the refusal)"
            ) from None

    async def stop(self) -> None:
        await self.pacer.stop()
        await self.previews.close()
        await self.control.stop()
        await self.comparisons.close()
        await self.sources.aclose()

    # ---- the control namespace (read through ControlNamespaceReadings) ------------------------

    def _on_application(self, event_type: str, obj: dict[str, Any]) -> None:
        if event_type == "DELETED":
            self.comparisons.forget(obj["metadata"]["name"])
        self.listeners.notify("application", event_type, obj)

    def _on_configmap(self, event_type: str, obj: dict[str, Any]) -> None:
        if self.repo_config.follows(obj["metadata"]["name"]):
            self.repo_config.on_configmap(event_type, obj)

    def _credentials_for(self, url: str) -> RepoCredentials | None:
        return select_credentials(url, self.control.repository_secrets())

    # ---- one application ----------------------------------------------------------------------

    def comparison(self, name: str) -> AppDiff | None:
        kept = self.comparisons.kept(name)
        return kept.diff if kept is not None else None

    def desired(self, name: str) -> list[dict[str, Any]]:
        kept = self.comparisons.kept(name)
        return list(kept.desired) if kept is not None else []

    async def observe(self, name: str) -> Observation | None:
        obj = self.control.application(name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return None
        try:
            return await self.comparisons.observe(obj)
        except ObservationError as exc:
            log.info("%s not compared on demand: %s", name, exc.message)
            return None

    def cluster_of(self, name: str) -> ClusterView | None:
        obj = self.control.application(name)
        found = self.control.destination_of(obj) if obj is not None else None
        dest = self.comparisons.destinations.get(found[1].server) if found else None
        return None if dest is None else ClusterView(dest.entry.server, dest.client, dest.cache)

    async def open_cluster(self, name: str) -> ClusterView | None:
        obj = self.control.application(name)
        found = self.control.destination_of(obj) if obj is not None else None
        if obj is None or found is None:
            return None
        dest = await self.comparisons.destinations.open(found[1])
        resources = list((obj.get("status") or {}).get("resources") or [])
        try:
            await dest.follow(kinds_of([], resources))
        except CacheSyncError as exc:
            log.warning("objects of %s not followed: %s", name, exc.message)
        return ClusterView(dest.entry.server, dest.client, dest.cache)

    # ---- actions, through the cluster ---------------------------------------------------------

    async def refresh(self, name: str, hard: bool = False) -> None:
        """The API writes the refresh annotation the controller acts on; here only the kept
        comparison is dropped, so the next diff is computed anew."""
        self.comparisons.forget(name)

    async def terminate(self, name: str) -> bool:
        """Ask the controller to stop the app's running operation (see :func:`request_termination`)."""
        return await request_termination(self.client, self.control, self.namespace, name)

    async def on_webhook(self, repo_urls: Iterable[str]) -> list[str]:
        return await self.on_push(WebhookEvent("generic", "push", tuple(repo_urls)))

    async def on_push(self, event: WebhookEvent) -> list[str]:
        matched = [
            name
            for name, obj in sorted(self.control.application_objects().items())
            if push_concerns(event, obj)
        ]
        self.pacer.add(matched)
        return matched

    async def on_pull_request(
        self, event: PullRequestEvent, settings: PreviewSettings
    ) -> list[str]:
        return self.previews.on_pull_request(event, settings)

    def pull_preview(self, app: str, number: int) -> PullPreview | None:
        return self.previews.preview(app, number)

    async def on_registry_event(self, event: RegistryEvent) -> list[str]:
        """Ask the controller to scan the event's ImageRepositories now (Flux's
        reconcile-request annotation)."""
        names = await repositories_of_event(self.client, self.namespace, event)
        return await request_reconcile(
            self.client, self.namespace, REPOSITORY, names, SERVER_FIELD_MANAGER
        )

    async def request_image_reconcile(self, kind: str, name: str) -> bool:
        done = await request_reconcile(
            self.client, self.namespace, kind, [name], SERVER_FIELD_MANAGER
        )
        return bool(done)

    async def _request_hard_refresh(self, name: str) -> None:
        obj = self.control.application(name)
        annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
        if obj is None or annotations.get(REFRESH_ANNOTATION) == "hard":
            return  # gone, or already asked for: the controller will see it
        info = await self.client.resource_for(ARGO_API_VERSION, APPLICATION)
        patch = {"metadata": {"annotations": {REFRESH_ANNOTATION: "hard"}}}
        try:
            updated = await self.client.patch(
                info, name, patch, self.namespace, field_manager=SERVER_FIELD_MANAGER
            )
        except NotFound:
            return
        self.control.remember(updated)

    # ---- events, clusters, counters -----------------------------------------------------------

    def check_repository_url(self, url: str) -> str:
        return self.sources.check_repository_url(url)

    def metrics(self) -> ControllerMetrics:
        """The replica's own work: comparisons computed on demand, webhook refreshes written
        and its client's requests (no reconciles: the controller does those)."""
        return ControllerMetrics(
            counters={
                "observations": self.comparisons.computed,
                "webhook_refreshes": self.pacer.written,
            },
            reconcile_seconds=[],
            reconciles_timed=0,
            queue_depth=len(self.pacer.pending()),
            requests_by_verb=dict(self.client.stats.by_verb),
            request_retries=self.client.stats.retries,
            repositories=[
                RepositoryCounters(m.url, m.ref_checks, m.fetches)
                for m in self.sources.mirrors.mirrors()
            ],
        )


async def request_termination(
    client: ClusterClient, control: ControlNamespace, namespace: str, name: str
) -> bool:
    """Ask the controller that runs the app's operation to stop it, as Argo CD's API server
    does: ``status.operationState.phase: Terminating``. False when none runs."""
    info = await client.resource_for(ARGO_API_VERSION, APPLICATION)
    obj = control.application(name)
    for _ in range(TERMINATE_ATTEMPTS):
        state = read_status(obj).operation if obj is not None else None
        if obj is None or state is None or not state.running:
            return False
        body = {
            "status": {"operationState": {"phase": TERMINATING}},
            "metadata": {"resourceVersion": _version(obj)},
        }
        try:
            updated = await client.patch(
                info,
                name,
                body,
                namespace,
                patch_type="merge",
                field_manager=SERVER_FIELD_MANAGER,
                subresource="status",
            )
        except NotFound:
            return False
        except Conflict:
            # most often the controller's own status write: look again
            try:
                obj = await client.get(info, name, namespace)
            except NotFound:
                return False
            continue
        control.remember(updated)
        return True
    raise Conflict("the application changed while the terminate was requested; try again")
