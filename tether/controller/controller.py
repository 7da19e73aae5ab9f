"""The GitOps loop: Applications in, a cluster that matches Git out.

One :class:`Controller` per process. It follows Applications, AppProjects and the repository and
cluster Secrets of its control namespace; polls Git (and takes webhooks); renders, compares and
reports each Application's status the way Argo CD writes it; runs syncs requested through the
``operation`` field or decided by the automated sync policy; and keeps a history for rollbacks.

Work is keyed by application name in a de-duplicating queue served by a few workers. Triggers:
Application changes, moved refs (poll or webhook), live-cache events on managed objects (drift is
seen within a second), the refresh annotation, retries. Only the Lease holder reconciles.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import os
import random
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from tether.cluster.cache import LiveCache
from tether.cluster.client import ClusterClient
from tether.cluster.config import ClientSettings
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import ClusterError, Conflict, NotFound, UnknownKind
from tether.cluster.tracking import Tracking
from tether.controller import admission, clusters, crds, models, project
from tether.controller.face import ClusterView, ControllerMetrics, Listener, RepositoryCounters
from tether.controller.watcher import ObjectWatcher
from tether.engine import diff as diffing
from tether.engine.health import HealthCustomizations, HealthStatus, aggregate, app_health_of
from tether.engine.ignore import (
    IgnoreRule,
    IgnoreRuleError,
    parse_ignore_differences,
    parse_system_rules,
)
from tether.engine.plan import PlanError, SyncOptions, hook_info, plan_sync, resource_options
from tether.engine.sync import SyncEngine, SyncResult
from tether.errors import TetherError
from tether.render import RenderCache, RenderError, render
from tether.resources import ResourceKey
from tether.secrets.sops import SopsError, SopsKeys
from tether.source import MirrorCache, SourcePoller
from tether.source.credentials import select_credentials
from tether.source.errors import SourceError
from tether.source.policy import RepoPolicy
from tether.source.poller import AppSource

log = logging.getLogger(__name__)

RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"
REFRESH_ANNOTATION = "argocd.argoproj.io/refresh"
SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
LEASE_NAME = "tether-controller"
SOPS_SECRET_ANNOTATION = "tether.io/sops-secret"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ControllerConfig:
    """Settings of one controller process (Argo CD's names where they exist)."""

    namespace: str = "argocd"
    #: timeout.reconciliation: how often refs are polled and every app compared again
    reconcile_interval: float = 120.0
    jitter: float = 0.1
    cache_dir: Path | None = None
    workers: int = 8
    #: syncs running at once (comparisons are limited by ``workers``), as Argo CD's
    #: status and operation processors
    sync_workers: int = 4
    tracking: Tracking = field(default_factory=Tracking)
    field_manager: str = "tether"
    wave_timeout: float = 300.0
    #: first self-heal after drift waits this long; repeated drift doubles it up to the cap
    self_heal_delay: float = 0.2
    self_heal_max_delay: float = 60.0
    leader_election: bool = True
    lease_duration: float = 15.0
    identity: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    client_settings: ClientSettings = field(default_factory=ClientSettings)
    #: install the Application/AppProject CRDs and the default AppProject when missing
    bootstrap: bool = True
    #: accept ``file://`` URLs and local paths as repoURL (demos and tests; never the cache)
    allow_local_repositories: bool = False


@dataclass
class AppRuntime:
    """What the controller remembers about one Application between reconciles."""

    last_reconciled: float = 0.0
    self_heal_delay: float = 0.0
    last_self_heal: float = 0.0
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    operation_running: bool = False
    last_compare: diffing.AppDiff | None = None
    desired: list[dict[str, Any]] = field(default_factory=list)
    tracked_kinds: set[tuple[str, str]] = field(default_factory=set)
    source_error: str | None = None


@dataclass
class Destination:
    """A cluster the controller deploys to: its client, live cache and dry-run cache."""

    entry: clusters.ClusterEntry
    client: ClusterClient
    cache: LiveCache
    dry_runs: diffing.DryRunCache = field(default_factory=diffing.DryRunCache)
    tracked: set[tuple[str, str, str]] = field(default_factory=set)


class Controller:
    """Reconciles every Application in the control namespace."""

    def __init__(self, client: ClusterClient, config: ControllerConfig | None = None) -> None:
        self.client = client
        self.config = config or ControllerConfig()
        cache_dir = self.config.cache_dir or Path(tempfile.mkdtemp(prefix="tether-cache-"))
        self.cache_dir = cache_dir
        self.mirrors = MirrorCache(
            cache_dir / "git",
            policy=RepoPolicy(
                allow_local=self.config.allow_local_repositories, forbidden_roots=(cache_dir,)
            ),
        )
        self.poller = SourcePoller(self.mirrors, self._credentials_for)
        self.render_cache = RenderCache()
        self.exports: dict[tuple[str, str], Path] = {}
        self.apps: dict[str, AppRuntime] = {}
        self.destinations: dict[str, Destination] = {}
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        #: apps a worker is reconciling now, and those that changed meanwhile
        self._active: set[str] = set()
        self._dirty: set[str] = set()
        self._sync_slots = asyncio.Semaphore(self.config.sync_workers)
        self._tasks: list[asyncio.Task[None]] = []
        self.is_leader = not self.config.leader_election
        self.leader_changed = asyncio.Event()
        self.watch_applications: ObjectWatcher | None = None
        self.watch_projects: ObjectWatcher | None = None
        self.watch_secrets: ObjectWatcher | None = None
        self.watch_configmaps: ObjectWatcher | None = None
        self.stats: dict[str, int] = {"reconciles": 0, "syncs": 0, "status_writes": 0, "polls": 0}
        self.reconcile_seconds: list[float] = []
        self.listeners: list[Any] = []

    # ---- the face the API server sees (tether.controller.face.ControllerFace) ------------------

    @property
    def namespace(self) -> str:
        return self.config.namespace

    def ready(self) -> bool:
        watchers = (self.watch_applications, self.watch_projects, self.watch_configmaps)
        return all(w is not None and w.synced.is_set() for w in watchers)

    def applications(self) -> dict[str, dict[str, Any]]:
        return self.watch_applications.objects if self.watch_applications else {}

    def projects(self) -> dict[str, dict[str, Any]]:
        return self.watch_projects.objects if self.watch_projects else {}

    def configmap(self, name: str) -> dict[str, Any] | None:
        return self.watch_configmaps.get(name) if self.watch_configmaps else None

    def secrets(self) -> dict[str, dict[str, Any]]:
        return self.watch_secrets.objects if self.watch_secrets else {}

    def remember_application(self, obj: dict[str, Any]) -> None:
        if self.watch_applications is not None:
            self.watch_applications.remember(obj)

    def comparison(self, name: str) -> diffing.AppDiff | None:
        runtime = self.apps.get(name)
        return runtime.last_compare if runtime is not None else None

    def desired(self, name: str) -> list[dict[str, Any]]:
        runtime = self.apps.get(name)
        return list(runtime.desired) if runtime is not None else []

    def cluster_of(self, name: str) -> ClusterView | None:
        dest = self.destination_of(name)
        if dest is None:
            return None
        return ClusterView(dest.entry.server, dest.client, dest.cache)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self.listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self.listeners:
                self.listeners.remove(listener)

        return unsubscribe

    def metrics(self) -> ControllerMetrics:
        return ControllerMetrics(
            counters=dict(self.stats),
            reconcile_seconds=list(self.reconcile_seconds[-10_000:]),
            queue_depth=self.queue.qsize(),
            requests_by_verb=dict(self.client.stats.by_verb),
            request_retries=self.client.stats.retries,
            repositories=[
                RepositoryCounters(m.url, m.ref_checks, m.fetches) for m in self.mirrors.mirrors()
            ],
        )

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        ns = self.config.namespace
        if self.config.bootstrap:
            await self._bootstrap()
        app_info = await self.client.resource_for("argoproj.io/v1alpha1", "Application")
        proj_info = await self.client.resource_for("argoproj.io/v1alpha1", "AppProject")
        secret_info = await self.client.resource_for("v1", "Secret")
        cm_info = await self.client.resource_for("v1", "ConfigMap")
        self.watch_applications = ObjectWatcher(self.client, app_info, ns, self._on_application)
        self.watch_projects = ObjectWatcher(self.client, proj_info, ns, self._on_project)
        self.watch_secrets = ObjectWatcher(
            self.client, secret_info, ns, self._on_secret, label_selector=SECRET_TYPE_LABEL
        )
        self.watch_configmaps = ObjectWatcher(self.client, cm_info, ns, self._on_configmap)
        for watcher in (
            self.watch_projects,
            self.watch_secrets,
            self.watch_configmaps,
            self.watch_applications,
        ):
            watcher.start()
        for watcher in (
            self.watch_projects,
            self.watch_secrets,
            self.watch_configmaps,
            self.watch_applications,
        ):
            await asyncio.wait_for(watcher.synced.wait(), 60)
        if self.config.leader_election:
            self._tasks.append(asyncio.create_task(self._lead(), name="leader-election"))
        for i in range(self.config.workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"reconcile-{i}"))
        self._tasks.append(asyncio.create_task(self._poll_loop(), name="git-poll"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        self.poller.close()
        for timer in self._timers.values():
            timer.cancel()
        for watcher in (
            self.watch_applications,
            self.watch_projects,
            self.watch_secrets,
            self.watch_configmaps,
        ):
            if watcher is not None:
                await watcher.stop()
        for dest in self.destinations.values():
            await dest.cache.close()
            if dest.client is not self.client:
                await dest.client.aclose()

    async def _bootstrap(self) -> None:
        """Install the CRDs, the control namespace and the default AppProject when missing."""
        crd_info = await self.client.resource_for(
            "apiextensions.k8s.io/v1", "CustomResourceDefinition"
        )
        for crd in crds.crd_manifests():
            try:
                await self.client.get(crd_info, crd["metadata"]["name"])
            except NotFound:
                await self.client.apply(
                    crd_info, crd, field_manager=self.config.field_manager, force=True
                )
        for crd in crds.crd_manifests():
            deadline = time.monotonic() + 30
            while True:
                live = await self.client.get(crd_info, crd["metadata"]["name"])
                conds = (live.get("status") or {}).get("conditions") or []
                if any(c.get("type") == "Established" and c.get("status") == "True" for c in conds):
                    break
                if time.monotonic() > deadline:
                    raise TetherError(f"CRD {crd['metadata']['name']} was not established")
                await asyncio.sleep(0.05)
        self.client.invalidate_discovery()
        ns_info = await self.client.resource_for("v1", "Namespace")
        try:
            await self.client.get(ns_info, self.config.namespace)
        except NotFound:
            body = {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": self.config.namespace},
            }
            await self.client.apply(
                ns_info, body, field_manager=self.config.field_manager, force=True
            )
        proj_info = await self.client.resource_for("argoproj.io/v1alpha1", "AppProject")
        try:
            await self.client.get(proj_info, "default", self.config.namespace)
        except NotFound:
            default = project.default_project(self.config.namespace)
            await self.client.apply(
                proj_info, default, field_manager=self.config.field_manager, force=True
            )

    # ---- triggers ------------------------------------------------------------------------------

    def enqueue(self, name: str, delay: float = 0.0) -> None:
        """Reconcile ``name`` (after ``delay`` seconds); repeated requests collapse into one."""
        if delay > 0:
            loop = asyncio.get_running_loop()
            existing = self._timers.get(name)
            due = loop.time() + delay
            if existing is not None and existing.when() <= due:
                return
            if existing is not None:
                existing.cancel()
            self._timers[name] = loop.call_at(due, self._fire, name)
            return
        if name not in self._queued:
            self._queued.add(name)
            self.queue.put_nowait(name)

    def _fire(self, name: str) -> None:
        self._timers.pop(name, None)
        self.enqueue(name)

    def _on_application(self, event_type: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            self.apps.pop(name, None)
            self.poller.unregister(name)
        self.enqueue(name)
        self._notify("application", event_type, obj)

    def _on_project(self, event_type: str, obj: dict[str, Any]) -> None:
        for name, app in self.watch_applications.objects.items() if self.watch_applications else []:
            if ((app.get("spec") or {}).get("project") or "default") == obj["metadata"]["name"]:
                self.enqueue(name)

    def _on_secret(self, event_type: str, obj: dict[str, Any]) -> None:
        if self.watch_applications is not None:
            for name in list(self.watch_applications.objects):
                self.enqueue(name)

    def _on_configmap(self, event_type: str, obj: dict[str, Any]) -> None:
        if obj["metadata"]["name"] == "argocd-cm" and self.watch_applications is not None:
            for name in list(self.watch_applications.objects):
                self.enqueue(name)

    def _on_live_change(self, app: str, event_type: str, key: Any) -> None:
        if self.watch_applications is not None and app in self.watch_applications.objects:
            self.enqueue(app)

    def _notify(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                listener(kind, event_type, obj)
            except Exception:
                log.exception("listener failed")

    async def refresh(self, name: str, hard: bool = False) -> None:
        """Compare ``name`` again now; ``hard`` also checks its repository for new commits."""
        app = self.watch_applications.get(name) if self.watch_applications else None
        if app is not None and hard:
            url = ((app.get("spec") or {}).get("source") or {}).get("repoURL")
            if url:
                await self._poll([url])
        self.enqueue(name)

    async def on_webhook(self, repo_urls: Iterable[str]) -> list[str]:
        """A push arrived: poll those repositories now and reconcile the apps their commits touch."""
        return await self._poll(list(repo_urls))

    async def _poll(self, repo_urls: list[str] | None = None) -> list[str]:
        result = await self.poller.poll_async(repo_urls)
        self.stats["polls"] += 1
        touched = []
        for name, poll in result.apps.items():
            runtime = self.apps.setdefault(name, AppRuntime())
            error = poll.error.message if poll.error is not None else None
            if poll.changed or error != runtime.source_error:
                runtime.source_error = error
                touched.append(name)
                self.enqueue(name)
        return touched

    async def _poll_loop(self) -> None:
        last = time.monotonic()
        factor = 1 + random.uniform(-self.config.jitter, self.config.jitter)
        while True:
            # re-read the interval at every tick, so a changed setting applies at once
            interval = self.config.reconcile_interval
            wait = last + interval * factor - time.monotonic()
            if wait > 0:
                await asyncio.sleep(min(wait, 1.0))
                continue
            last = time.monotonic()
            factor = 1 + random.uniform(-self.config.jitter, self.config.jitter)
            if not self.is_leader:
                continue
            try:
                await self._poll()
            except Exception:
                log.exception("git poll failed")
            # every app is compared again once per interval, as Argo CD's timeout.reconciliation
            now = time.monotonic()
            for name, runtime in list(self.apps.items()):
                if now - runtime.last_reconciled >= interval:
                    self.enqueue(name)

    # ---- leader election -----------------------------------------------------------------------

    async def _lead(self) -> None:
        info = await self.client.resource_for("coordination.k8s.io/v1", "Lease")
        ns = self.config.namespace
        duration = self.config.lease_duration
        while True:
            try:
                leader = await self._try_lease(info, ns, duration)
            except ClusterError as exc:
                log.warning("leader election: %s", exc.message)
                leader = False
            if leader != self.is_leader:
                self.is_leader = leader
                self.leader_changed.set()
                log.info("%s leadership", "acquired" if leader else "lost")
                if leader and self.watch_applications is not None:
                    for name in list(self.watch_applications.objects):
                        self.enqueue(name)
            await asyncio.sleep(duration / 3)

    async def _try_lease(self, info: ResourceInfo, ns: str, duration: float) -> bool:
        now = datetime.now(UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        me = self.config.identity
        try:
            lease = await self.client.get(info, LEASE_NAME, ns)
        except NotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": LEASE_NAME, "namespace": ns},
                "spec": {
                    "holderIdentity": me,
                    "leaseDurationSeconds": int(duration),
                    "acquireTime": stamp,
                    "renewTime": stamp,
                    "leaseTransitions": 0,
                },
            }
            try:
                await self.client.create(info, body)
                return True
            except ClusterError:
                return False
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        renew = spec.get("renewTime")
        expired = True
        if renew:
            renewed = datetime.strptime(
                renew.replace("Z", "").split(".")[0], "%Y-%m-%dT%H:%M:%S"
            ).replace(tzinfo=UTC)
            expired = (now - renewed).total_seconds() > float(
                spec.get("leaseDurationSeconds") or duration
            )
        if holder != me and not expired:
            return False
        new = copy.deepcopy(lease)
        new["spec"]["holderIdentity"] = me
        new["spec"]["renewTime"] = stamp
        if holder != me:
            new["spec"]["acquireTime"] = stamp
            new["spec"]["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        try:
            await self.client.request("PUT", info.path(ns, LEASE_NAME), verb="update", body=new)
        except Conflict:
            return False
        return True

    # ---- workers -------------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            name = await self.queue.get()
            self._queued.discard(name)
            if not self.is_leader:
                continue
            if name in self._active:
                # another worker has this app: it looks again when it is done
                self._dirty.add(name)
                continue
            self._active.add(name)
            started = time.perf_counter()
            try:
                await self.reconcile(name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile of %s failed", name)
                self.enqueue(name, delay=5.0)
            finally:
                self._active.discard(name)
                if name in self._dirty:
                    self._dirty.discard(name)
                    self.enqueue(name)
                self.reconcile_seconds.append(time.perf_counter() - started)
                if len(self.reconcile_seconds) > 10_000:
                    del self.reconcile_seconds[:5_000]

    # ---- helpers -------------------------------------------------------------------------------

    def check_repository_url(self, url: str) -> str:
        """The checked ``url``; a ``SourceError`` when it is malformed or a local repository
        this controller may not read (see ``ControllerConfig.allow_local_repositories``)."""
        return self.mirrors.check(url)

    def _repo_secrets(self) -> list[dict[str, Any]]:
        if self.watch_secrets is None:
            return []
        return [
            s
            for s in self.watch_secrets.objects.values()
            if (s["metadata"].get("labels") or {}).get(SECRET_TYPE_LABEL)
            in ("repository", "repo-creds")
        ]

    def _cluster_secrets(self) -> list[dict[str, Any]]:
        if self.watch_secrets is None:
            return []
        return [
            s
            for s in self.watch_secrets.objects.values()
            if (s["metadata"].get("labels") or {}).get(SECRET_TYPE_LABEL) == "cluster"
        ]

    def _credentials_for(self, url: str) -> Any:
        return select_credentials(url, self._repo_secrets())

    def _settings(self) -> dict[str, str]:
        cm = self.watch_configmaps.get("argocd-cm") if self.watch_configmaps else None
        return dict((cm or {}).get("data") or {})

    def health_customizations(self) -> HealthCustomizations | None:
        data = self._settings()
        if not any(k.startswith("resource.customizations") for k in data):
            return None
        return HealthCustomizations.from_configmap(data)

    def _system_rules(self) -> list[IgnoreRule]:
        return list(parse_system_rules(self._settings()))

    def destination_of(self, name: str) -> Destination | None:
        """The destination cluster an Application deploys to (None before its first reconcile
        or when its spec names no known cluster)."""
        obj = self.watch_applications.get(name) if self.watch_applications else None
        if obj is None:
            return None
        try:
            app = models.parse_application(obj)
            entry = clusters.resolve_destination(app.spec.destination, self._cluster_secrets())
        except TetherError:
            return None
        return self.destinations.get(entry.server)

    async def destination_for(self, entry: clusters.ClusterEntry) -> Destination:
        dest = self.destinations.get(entry.server)
        if dest is not None:
            return dest
        if entry.server == clusters.IN_CLUSTER_SERVER:
            client = self.client
        else:
            client = clusters.client_for(entry)
        cache = LiveCache(client, tracking=self.config.tracking)
        cache.subscribe(self._on_live_change)
        dest = Destination(entry, client, cache)
        self.destinations[entry.server] = dest
        return dest

    async def _export(self, url: str, commit: str) -> Path:
        """The tree of ``commit`` as files, written once and shared by every app on it."""
        key = (url, commit)
        path = self.exports.get(key)
        if path is not None and path.exists():
            return path
        mirror = self.mirrors.mirror(url, self._credentials_for(url))
        tree = await mirror.tree_async(commit)
        path = (
            self.cache_dir / "trees" / hashlib.sha256(f"{url}@{commit}".encode()).hexdigest()[:32]
        )
        if not path.exists():
            tmp = path.with_name(path.name + f".tmp{os.getpid()}{random.randint(0, 1 << 30)}")
            await asyncio.to_thread(tree.export, tmp)
            try:
                tmp.rename(path)
            except OSError:
                # another worker exported the same commit first: keep theirs, drop ours
                await asyncio.to_thread(shutil.rmtree, tmp, True)
        self.exports[key] = path
        return path

    async def _resolve_commit(
        self, name: str, source: models.AppSource, revision: str | None
    ) -> str:
        """The commit to render: an explicit revision (sync/rollback), else the polled target."""
        if revision and revision != source.target_revision:
            if revision == self.poller.commit_of(name):
                return revision  # the polled commit itself: in the mirror, no network needed
            mirror = self.mirrors.mirror(source.repo_url, self._credentials_for(source.repo_url))
            resolved = await mirror.resolve_async(revision)
            return resolved.commit
        self.poller.register(
            AppSource(
                name,
                source.repo_url,
                source.target_revision or "HEAD",
                source.path or "",
                _value_files(source),
            )
        )
        commit = self.poller.commit_of(name)
        runtime = self.apps.setdefault(name, AppRuntime())
        if commit is None:
            result = await self.poller.poll_async([source.repo_url])
            poll = result.apps.get(name)
            if poll is not None and poll.error is not None:
                runtime.source_error = poll.error.message
            commit = self.poller.commit_of(name)
        if runtime.source_error and commit is None:
            # never resolved: there is nothing to compare with, nor to apply
            raise SourceError(runtime.source_error)
        # an unreachable repository or a vanished branch after a good poll: the last good
        # commit stays in use for the comparison and self-heal (the error is a condition)
        if commit is None:
            raise SourceError(
                f"could not resolve revision {source.target_revision!r} of {source.repo_url}"
            )
        return commit

    async def desired_objects(
        self, app: models.Application, dest: Destination, commit: str
    ) -> tuple[list[dict[str, Any]], str]:
        """Render the app at ``commit``: objects stamped with the tracking id, namespaced."""
        source = app.spec.source
        assert source is not None
        tree = await self._export(source.repo_url, commit)
        decryption = await self._sops_keys(app)
        result = await asyncio.to_thread(
            render,
            tree,
            source.path or ".",
            source.raw,
            app_name=app.name,
            namespace=app.spec.destination.namespace or "",
            repo_url=source.repo_url,
            revision=commit,
            project=app.spec.project,
            cache=self.render_cache,
            decryption=decryption,
        )
        objects = []
        for obj in result.objects:
            obj = copy.deepcopy(obj)
            meta = obj.setdefault("metadata", {})
            try:
                info = await dest.client.resource_for(
                    str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
                )
                namespaced = info.namespaced
            except UnknownKind:
                namespaced = True  # reported by the comparison; a CRD in the same app may add it
                info = None
            if namespaced and not meta.get("namespace"):
                meta["namespace"] = app.spec.destination.namespace or "default"
            if info is not None and not namespaced:
                meta.pop("namespace", None)
            objects.append(self.config.tracking.stamp(obj, app.name))
        return objects, result.tool

    async def _sops_keys(self, app: models.Application) -> SopsKeys | None:
        """Age identities for SOPS files, from the Secret the ``tether.io/sops-secret``
        annotation names (in the control namespace, and only one that lists the app's project
        in its ``tether.io/projects`` annotation: one team never decrypts with another's key)."""
        secret_name = app.annotations.get(SOPS_SECRET_ANNOTATION)
        if not secret_name:
            return None
        info = await self.client.resource_for("v1", "Secret")
        try:
            secret: dict[str, Any] | None = await self.client.get(
                info, secret_name, self.config.namespace
            )
        except NotFound:
            secret = None
        admission.check_secret_use(
            secret, secret_name, app.spec.project or models.DEFAULT_PROJECT_NAME, "decryption"
        )
        assert secret is not None
        try:
            return SopsKeys.from_secret(secret)
        except SopsError as exc:
            raise RenderError(f"decryption Secret {secret_name!r}: {exc}") from exc

    # ---- reconcile -----------------------------------------------------------------------------

    async def reconcile(self, name: str) -> None:
        """Compare one Application with its cluster, write its status, sync when asked or due."""
        if self.watch_applications is None:
            return
        obj = self.watch_applications.get(name)
        if obj is None:
            return
        self.stats["reconciles"] += 1
        runtime = self.apps.setdefault(name, AppRuntime())
        runtime.last_reconciled = time.monotonic()
        if obj["metadata"].get("deletionTimestamp"):
            await self._finalize_deletion(obj)
            return
        refresh = (obj["metadata"].get("annotations") or {}).get(REFRESH_ANNOTATION)
        if refresh:
            if refresh == "hard":
                url = ((obj.get("spec") or {}).get("source") or {}).get("repoURL")
                if url:
                    await self._poll([url])
            await self._clear_refresh(obj)
        try:
            app = models.parse_application(obj)
            proj = self._project(app)
            if app.spec.source is None:
                raise models.InvalidSpecError(
                    "spec.source is required (multiple sources are not supported yet)"
                )
            proj.check_source(app.spec.source.repo_url)
            entry = clusters.resolve_destination(app.spec.destination, self._cluster_secrets())
            if entry is None:
                raise models.InvalidSpecError("spec.destination does not name a known cluster")
            proj.check_destination(entry.server, entry.name, app.spec.destination.namespace or "")
        except (
            models.InvalidSpecError,
            project.ProjectViolation,
            clusters.UnknownDestination,
        ) as exc:
            await self._write_status(
                obj,
                {
                    "conditions": _conditions(obj, [("InvalidSpecError", exc.message)]),
                    "sync": {"status": "Unknown"},
                    "health": {"status": "Unknown"},
                },
            )
            return
        dest = await self.destination_for(entry)
        scope = self._write_scope(app, proj, dest)
        operation = app.operation
        running = (obj.get("status") or {}).get("operationState") or {}
        resumed_at = None
        if (
            operation is None
            and running.get("phase") == "Running"
            and not runtime.operation_running
        ):
            # the controller stopped in the middle of a sync: run the recorded operation again,
            # as the same operation (its start time identifies it in the history)
            operation = parse_operation(running.get("operation") or {})
            resumed_at = running.get("startedAt") or None
        compare = await self._compare(obj, app, scope, dest, None)
        if operation is not None and not runtime.operation_running:
            # a requested sync runs even when the comparison failed: it then fails with that
            # reason in operationState instead of waiting forever
            await self._run_operation(obj, app, scope, dest, operation, resumed_at)
            return
        if compare is None:
            return
        decision = self._auto_sync(obj, app, compare)
        if decision is not None:
            await self._run_operation(obj, app, scope, dest, decision)

    def _project(self, app: models.Application) -> project.Project:
        name = app.spec.project or "default"
        obj = self.watch_projects.get(name) if self.watch_projects else None
        if obj is None:
            raise models.InvalidSpecError(
                f"Application referencing project {name} which does not exist"
            )
        return project.parse_project(obj)

    def _write_scope(
        self, app: models.Application, proj: project.Project, dest: Destination
    ) -> admission.WriteScope:
        """What the app may write: its project on its destination cluster (the control
        namespace is guarded on the cluster this controller runs in)."""
        proj_obj = (self.watch_projects.get(proj.name) if self.watch_projects else None) or {}
        control = self.config.namespace if dest.client is self.client else None
        return admission.WriteScope.of(proj_obj, proj, dest.entry.server, dest.entry.name, control)

    async def _compare(
        self,
        obj: dict[str, Any],
        app: models.Application,
        scope: admission.WriteScope,
        dest: Destination,
        revision: str | None,
    ) -> _Comparison | None:
        name = app.name
        runtime = self.apps.setdefault(name, AppRuntime())
        source = app.spec.source
        assert source is not None
        try:
            commit = await self._resolve_commit(name, source, revision)
            rendered, tool = await self.desired_objects(app, dest, commit)
            # nothing of a revision is desired state unless the project permits all of it
            admission.check_objects(scope, rendered)
            # hooks run during syncs; like Argo CD, they are not part of the sync status
            desired = [d for d in rendered if not hook_info(d)[0]]
        except (SourceError, RenderError, project.ProjectViolation) as exc:
            condition = (
                "InvalidSpecError"
                if isinstance(exc, project.ProjectViolation)
                else "ComparisonError"
            )
            await self._write_status(
                obj,
                {
                    "conditions": _conditions(obj, [(condition, exc.message)]),
                    "sync": {**((obj.get("status") or {}).get("sync") or {}), "status": "Unknown"},
                    "reconciledAt": now_iso(),
                },
            )
            return None
        # follow every kind the app uses, so drift and extraneous objects are seen
        infos: list[ResourceInfo] = []
        unknown: list[str] = []
        kinds = {
            (ResourceKey.of(d).group, d.get("apiVersion", ""), d.get("kind", "")) for d in desired
        }
        for status_res in (obj.get("status") or {}).get("resources") or []:
            group = status_res.get("group", "")
            version = status_res.get("version", "v1")
            kinds.add(
                (group, f"{group}/{version}" if group else version, status_res.get("kind", ""))
            )
        for _group, api_version, kind in kinds:
            try:
                infos.append(await dest.client.resource_for(str(api_version), str(kind)))
            except UnknownKind:
                unknown.append(f"{kind} ({api_version})")
        new_infos = [i for i in infos if (i.group, i.version, i.kind) not in dest.tracked]
        if new_infos:
            await dest.cache.track(new_infos)
            dest.tracked.update((i.group, i.version, i.kind) for i in new_infos)
        live: dict[ResourceKey, dict[str, Any]] = {}
        for d in desired:
            key = ResourceKey.of(d)
            found = dest.cache.get(key)
            if found is not None:
                live[key] = found
        tracked = []
        for o in dest.cache.objects_of(name):
            if hook_info(o)[0]:
                continue
            if admission.refusal(scope, o) is not None:
                continue  # a tracking id outside the project does not make an object the app's
            key = ResourceKey.of(o)
            live.setdefault(key, o)
            tracked.append(key)
        rules = list(parse_ignore_differences(app.spec.ignore_differences)) + self._system_rules()
        result = await diffing.compare(
            desired,
            live,
            tracked,
            rules,
            diffing.ClusterDryRunner(dest.client, field_manager=self.config.field_manager),
            cache=dest.dry_runs,
            field_manager=self.config.field_manager,
        )
        runtime.last_compare = result
        runtime.desired = desired
        customizations = self.health_customizations()
        resources = []
        healths: list[HealthStatus | None] = []
        by_key = {ResourceKey.of(d): d for d in desired}
        for res in result.resources:
            key = res.key
            live_obj = live.get(key)
            desired_obj = by_key.get(key)
            api_version = str((desired_obj or live_obj or {}).get("apiVersion", "v1"))
            entry: dict[str, Any] = {
                **({"group": key.group} if key.group else {}),
                "version": api_version.rpartition("/")[2],
                "kind": key.kind,
                **({"namespace": key.namespace} if key.namespace else {}),
                "name": key.name,
                "status": "Synced" if res.status == diffing.SyncStatus.SYNCED else "OutOfSync",
            }
            if res.status == diffing.SyncStatus.EXTRANEOUS:
                entry["requiresPruning"] = True
            health = (
                app_health_of(live_obj, customizations=customizations)
                if live_obj is not None or desired_obj is not None
                else None
            )
            if res.status != diffing.SyncStatus.EXTRANEOUS:
                healths.append(health)
            if health is not None:
                entry["health"] = {
                    "status": health.status,
                    **({"message": health.message} if health.message else {}),
                }
            resources.append(entry)
        resources.sort(
            key=lambda r: (r.get("group", ""), r["kind"], r.get("namespace", ""), r["name"])
        )
        errors = [(res.key, res.error) for res in result.resources if res.error]
        app_health = aggregate(healths)
        sync_status = "Synced" if result.status == diffing.SyncStatus.SYNCED else "OutOfSync"
        condition_list = []
        messages = [runtime.source_error] if runtime.source_error and revision is None else []
        messages += [f"the server could not find the requested resource: {u}" for u in unknown]
        messages += [f"{key}: {err}" for key, err in errors]
        if messages:
            condition_list.append(("ComparisonError", "; ".join(messages)))
        status_update: dict[str, Any] = {
            "sync": {
                "status": sync_status if not errors else "Unknown",
                "revision": commit,
                "comparedTo": {
                    "source": source.raw,
                    "destination": {
                        k: v for k, v in (obj.get("spec") or {}).get("destination", {}).items()
                    },
                },
            },
            "health": {
                "status": app_health.status,
                **(
                    {"message": app_health.message}
                    if app_health.message and app_health.status != "Healthy"
                    else {}
                ),
            },
            "resources": resources,
            "conditions": _conditions(obj, condition_list),
            "sourceType": {"Kustomize": "Kustomize", "Helm": "Helm"}.get(tool, "Directory"),
            "summary": _summary(desired),
            "controllerNamespace": self.config.namespace,
        }
        await self._write_status(obj, status_update)
        return _Comparison(
            commit, result, desired, sync_status if not errors else "Unknown", app_health, tracked
        )

    # ---- automated sync ------------------------------------------------------------------------

    def _auto_sync(
        self, obj: dict[str, Any], app: models.Application, compare: _Comparison
    ) -> models.Operation | None:
        policy = app.spec.sync_policy
        automated = policy.automated
        if automated is None or not automated.enabled or compare.sync_status != "OutOfSync":
            return None
        runtime = self.apps.setdefault(app.name, AppRuntime())
        if not compare.desired and automated.prune and not automated.allow_empty:
            log.warning(
                "%s: automated sync would prune every resource; allowEmpty is off", app.name
            )
            return None
        source = app.spec.source
        assert source is not None
        last = (obj.get("status") or {}).get("operationState") or {}
        last_result = last.get("syncResult") or {}
        same_target = (
            last_result.get("revision") == compare.commit
            and last_result.get("source") == source.raw
        )
        if same_target:
            phase = last.get("phase")
            if phase in ("Failed", "Error"):
                retry = policy.retry
                count = int(last.get("retryCount") or 0)
                if retry.limit == 0 or (retry.limit > 0 and count >= retry.limit):
                    return None
                delay = _backoff(retry, count)
                finished = _parse_iso(last.get("finishedAt"))
                if time.time() - finished < delay:
                    self.enqueue(app.name, delay - (time.time() - finished) + 0.05)
                    return None
            elif phase == "Succeeded":
                if not automated.self_heal:
                    return None
                # self-heal: revert drift, backing off when drift keeps coming back
                now = time.monotonic()
                wait = runtime.self_heal_delay or self.config.self_heal_delay
                if now - runtime.last_self_heal < wait:
                    self.enqueue(app.name, wait - (now - runtime.last_self_heal) + 0.01)
                    return None
                recent = now - runtime.last_self_heal < 10 * max(wait, 1.0)
                runtime.self_heal_delay = (
                    min(wait * 2, self.config.self_heal_max_delay)
                    if recent
                    else self.config.self_heal_delay
                )
                runtime.last_self_heal = now
            else:
                return None
        return models.Operation(
            sync=models.SyncOperation(
                revision=compare.commit,
                prune=automated.prune,
                sync_options=tuple(policy.sync_options),
            ),
            initiated_by=models.InitiatedBy(username="", automated=True),
            retry=policy.retry,
        )

    # ---- operations ----------------------------------------------------------------------------

    async def _run_operation(
        self,
        obj: dict[str, Any],
        app: models.Application,
        scope: admission.WriteScope,
        dest: Destination,
        operation: models.Operation,
        resumed_at: str | None = None,
    ) -> None:
        async with self._sync_slots:
            await self._run_operation_now(obj, app, scope, dest, operation, resumed_at)

    async def _run_operation_now(
        self,
        obj: dict[str, Any],
        app: models.Application,
        scope: admission.WriteScope,
        dest: Destination,
        operation: models.Operation,
        resumed_at: str | None = None,
    ) -> None:
        runtime = self.apps.setdefault(app.name, AppRuntime())
        runtime.operation_running = True
        runtime.cancel = asyncio.Event()
        self.stats["syncs"] += 1
        started = resumed_at or now_iso()
        op_doc = operation_to_dict(operation)
        previous_state = (obj.get("status") or {}).get("operationState") or {}
        retry_count = 0
        source = app.spec.source
        assert source is not None
        if previous_state.get("phase") in ("Failed", "Error") and (
            (previous_state.get("syncResult") or {}).get("source") == source.raw
        ):
            retry_count = int(previous_state.get("retryCount") or 0) + (
                1 if operation.initiated_by.automated else 0
            )
        try:
            await self._write_status(
                obj,
                {
                    "operationState": {
                        "operation": op_doc,
                        "phase": "Running",
                        "message": "Syncing",
                        "startedAt": started,
                        **({"retryCount": retry_count} if retry_count else {}),
                    }
                },
            )
            if app.operation is not None:
                await self._clear_operation(obj)
            who = "automated sync" if operation.initiated_by.automated else "sync"
            sync_op = operation.sync
            revision = sync_op.revision or None
            await self._event(
                obj,
                "Normal",
                "OperationStarted",
                f"Initiated {who} to {revision or source.target_revision}",
            )
            current = self.watch_applications.get(app.name) if self.watch_applications else obj
            obj = current or obj
            commit = await self._resolve_commit(app.name, source, revision)
            desired, _tool = await self.desired_objects(app, dest, commit)
            # a revision with one object outside the project applies nothing at all
            admission.check_objects(scope, desired)
            options = SyncOptions.parse(
                list(app.spec.sync_policy.sync_options) + list(sync_op.sync_options),
                prune=sync_op.prune,
                dry_run=sync_op.dry_run,
            )
            selected = {tuple(r) for r in sync_op.resources} if sync_op.resources else None
            if selected is not None:
                desired = [
                    d
                    for d in desired
                    if tuple(ResourceKey.of(d)) in selected
                    or (ResourceKey.of(d).group, ResourceKey.of(d).kind, "", ResourceKey.of(d).name)
                    in selected
                ]
            prune_candidates = []
            if runtime.last_compare is not None:
                desired_keys = {ResourceKey.of(d) for d in desired}
                for o in dest.cache.objects_of(app.name):
                    if hook_info(o)[0]:
                        continue  # hooks go by their delete policies, never by pruning
                    key = ResourceKey.of(o)
                    if (
                        key not in desired_keys
                        and not o["metadata"].get("ownerReferences")
                        and (selected is None or tuple(key) in selected)
                        # a tracking id is only an annotation: never delete outside the project
                        and admission.refusal(scope, o) is None
                    ):
                        prune_candidates.append(o)
            if options.respect_ignore_differences:
                rules = (
                    list(parse_ignore_differences(app.spec.ignore_differences))
                    + self._system_rules()
                )
                pairs = [(d, dest.cache.get(ResourceKey.of(d))) for d in desired]
                try:
                    # jq runs in bounded workers; waiting on them stays off the event loop
                    desired = await asyncio.to_thread(
                        lambda: [
                            diffing.respect_ignore_differences(d, lv, rules) for d, lv in pairs
                        ]
                    )
                except IgnoreRuleError as exc:
                    raise _OperationFailed(exc.message) from exc
            try:
                plan = plan_sync(desired, prune_candidates, options)
            except PlanError as exc:
                raise _OperationFailed(exc.message) from exc
            if selected is not None:
                plan.tasks = [t for t in plan.tasks if not t.is_hook]
            engine = SyncEngine(
                dest.client,
                app_name=app.name,
                tracking=self.config.tracking,
                field_manager=self.config.field_manager,
                wave_timeout=self.config.wave_timeout,
                admit=lambda obj: admission.refusal(scope, obj),
            )
            skip = set()
            if options.apply_out_of_sync_only and runtime.last_compare is not None:
                skip = {
                    r.key
                    for r in runtime.last_compare.resources
                    if r.status == diffing.SyncStatus.SYNCED
                }
            result = await engine.sync(
                plan,
                options,
                namespace=app.spec.destination.namespace or None,
                skip=skip,
                cancel=runtime.cancel,
            )
        except (
            SourceError,
            RenderError,
            project.ProjectViolation,
            _OperationFailed,
            ClusterError,
        ) as exc:
            result = SyncResult(
                phase="Error" if not isinstance(exc, _OperationFailed) else "Failed",
                message=getattr(exc, "message", str(exc)),
            )
            result.finished_at = time.time()
            commit = (obj.get("status") or {}).get("sync", {}).get("revision", "")
        finally:
            runtime.operation_running = False
        finished = now_iso()
        state = {
            "operation": op_doc,
            "phase": result.phase,
            "message": result.message,
            "syncResult": {
                "resources": [s.to_argo() for s in result.steps],
                "revision": commit,
                "source": source.raw,
            },
            "startedAt": started,
            "finishedAt": finished,
            **({"retryCount": retry_count} if retry_count else {}),
        }
        latest = self.watch_applications.get(app.name) if self.watch_applications else None
        latest = latest or obj
        update: dict[str, Any] = {"operationState": state}
        if result.phase == "Succeeded" and not operation.sync.dry_run:
            history = list((latest.get("status") or {}).get("history") or [])
            next_id = max((int(h.get("id", 0)) for h in history), default=-1) + 1
            # a resumed operation that already recorded its result keeps that one entry
            recorded = any(
                h.get("revision") == commit and h.get("deployStartedAt") == started for h in history
            )
            if not recorded:
                history.append(
                    {
                        "id": next_id,
                        "revision": commit,
                        "deployedAt": finished,
                        "deployStartedAt": started,
                        "source": source.raw,
                        "initiatedBy": {"automated": True}
                        if operation.initiated_by.automated
                        else {"username": operation.initiated_by.username or "admin"},
                    }
                )
            limit = app.spec.revision_history_limit
            update["history"] = history[-limit:] if limit > 0 else history
            update["conditions"] = _conditions(latest, [], drop=("SyncError",))
        elif result.phase in ("Failed", "Error"):
            update["conditions"] = _conditions(
                latest, [("SyncError", result.message)], keep_others=True
            )
        await self._write_status(latest, update)
        if result.phase == "Succeeded":
            await self._event(
                latest, "Normal", "OperationCompleted", f"Sync operation to {commit} succeeded"
            )
        else:
            await self._event(
                latest,
                "Warning",
                "OperationCompleted",
                f"Sync operation to {commit} {result.phase.lower()}: {result.message}",
            )
        if result.phase in ("Failed", "Error") and operation.retry.limit != 0:
            retry = operation.retry
            if retry.limit < 0 or retry_count < retry.limit:
                self.enqueue(app.name, _backoff(retry, retry_count))
        self.enqueue(app.name)

    async def terminate(self, name: str) -> bool:
        runtime = self.apps.get(name)
        if runtime is None or not runtime.operation_running:
            return False
        runtime.cancel.set()
        return True

    # ---- deletion ------------------------------------------------------------------------------

    async def _finalize_deletion(self, obj: dict[str, Any]) -> None:
        finalizers = obj["metadata"].get("finalizers") or []
        ours = [f for f in finalizers if f.startswith(RESOURCES_FINALIZER)]
        if not ours:
            return
        name = obj["metadata"]["name"]
        try:
            app = models.parse_application(obj)
            entry = clusters.resolve_destination(app.spec.destination, self._cluster_secrets())
        except TetherError:
            entry = None
        if entry is not None:
            dest = await self.destination_for(entry)
            remaining = dest.cache.objects_of(name)
            for live in remaining:
                if live["metadata"].get("deletionTimestamp"):
                    continue
                if resource_options(live).get("Delete") == "false":
                    continue  # Delete=false: the object outlives its Application
                try:
                    info = await dest.client.resource_for(
                        live.get("apiVersion", ""), live.get("kind", "")
                    )
                    ns = live["metadata"].get("namespace") if info.namespaced else None
                    policy: Literal["Background", "Foreground"] = (
                        "Background" if ours[0].endswith("/background") else "Foreground"
                    )
                    await dest.client.delete(
                        info, live["metadata"]["name"], ns, propagation_policy=policy
                    )
                except NotFound:
                    continue
            left = [
                o
                for o in dest.cache.objects_of(name)
                if resource_options(o).get("Delete") != "false"
            ]
            if left:
                self.enqueue(name, delay=0.5)
                return
        info = await self.client.resource_for("argoproj.io/v1alpha1", "Application")
        keep = [f for f in finalizers if f not in ours]
        await self.client.patch(
            info,
            name,
            {
                "metadata": {
                    "finalizers": keep or None,
                    "resourceVersion": obj["metadata"]["resourceVersion"],
                }
            },
            self.config.namespace,
            field_manager=self.config.field_manager,
        )

    # ---- writes to the Application -------------------------------------------------------------

    async def _write_status(self, obj: dict[str, Any], update: dict[str, Any]) -> None:
        """Merge ``update`` into status and write it only when something changed."""
        current = (
            self.watch_applications.get(obj["metadata"]["name"])
            if self.watch_applications
            else None
        )
        base = current or obj
        old_status = dict(base.get("status") or {})
        new_status = {**old_status, **update}
        # reconciledAt moves only with a real change: an idle app costs no write at all
        if "reconciledAt" not in update and _strip_time(new_status) != _strip_time(old_status):
            new_status["reconciledAt"] = now_iso()
        if new_status == old_status:
            return
        info = await self.client.resource_for("argoproj.io/v1alpha1", "Application")
        # a merge patch keeps keys it does not mention: name the dropped ones as null
        body = {
            "status": _merge_patch(old_status, new_status),
            "metadata": {"resourceVersion": base["metadata"]["resourceVersion"]},
        }
        name = base["metadata"]["name"]
        updated: dict[str, Any] | None = None
        for attempt in range(4):
            try:
                updated = await self.client.patch(
                    info,
                    name,
                    body,
                    self.config.namespace,
                    patch_type="merge",
                    field_manager=self.config.field_manager,
                    subresource="status",
                )
                break
            except Conflict:
                if attempt == 3:
                    raise
                # a user edited the Application meanwhile: write on top of the fresh copy
                fresh = await self.client.get(info, name, self.config.namespace)
                body["metadata"]["resourceVersion"] = fresh["metadata"]["resourceVersion"]
                fresh_status = dict(fresh.get("status") or {})
                body["status"] = _merge_patch(fresh_status, {**fresh_status, **update})
            except NotFound:
                return
        assert updated is not None
        self.stats["status_writes"] += 1
        if self.watch_applications is not None:
            # keep our view current so the next write in this reconcile builds on this one
            self.watch_applications.remember(updated)
        self._notify("application", "MODIFIED", updated)

    async def _clear_operation(self, obj: dict[str, Any]) -> None:
        info = await self.client.resource_for("argoproj.io/v1alpha1", "Application")
        try:
            updated = await self.client.patch(
                info,
                obj["metadata"]["name"],
                {"operation": None},
                self.config.namespace,
                field_manager=self.config.field_manager,
            )
            if self.watch_applications is not None:
                self.watch_applications.remember(updated)
        except NotFound:
            pass

    async def _clear_refresh(self, obj: dict[str, Any]) -> None:
        info = await self.client.resource_for("argoproj.io/v1alpha1", "Application")
        try:
            updated = await self.client.patch(
                info,
                obj["metadata"]["name"],
                {"metadata": {"annotations": {REFRESH_ANNOTATION: None}}},
                self.config.namespace,
                field_manager=self.config.field_manager,
            )
            if self.watch_applications is not None:
                self.watch_applications.remember(updated)
        except NotFound:
            pass

    async def _event(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        """A Kubernetes Event on the Application (what `kubectl describe` and the UI show)."""
        info = await self.client.resource_for("v1", "Event")
        meta = obj["metadata"]
        stamp = now_iso()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            # named like the events client-go records: <object>.<unique hex>
            "metadata": {
                "name": f"{meta['name']}.{time.time_ns():x}",
                "namespace": self.config.namespace,
            },
            "involvedObject": {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "name": meta["name"],
                "namespace": self.config.namespace,
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": {"component": "tether-controller"},
            "reportingComponent": "tether-controller",
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await self.client.create(info, body)
        except ClusterError as exc:
            log.debug("event not recorded: %s", exc.message)


class _OperationFailed(TetherError):
    """The operation could not start (bad plan); reported as a Failed operation."""


@dataclass
class _Comparison:
    commit: str
    diff: diffing.AppDiff
    desired: list[dict[str, Any]]
    sync_status: str
    health: HealthStatus
    tracked: list[ResourceKey]


def _backoff(retry: models.RetryPolicy, count: int) -> float:
    """Seconds before retry number ``count + 1``: duration * factor**count, capped."""
    return float(
        min(retry.backoff_duration * (retry.backoff_factor**count), retry.backoff_max_duration)
    )


def operation_to_dict(operation: models.Operation) -> dict[str, Any]:
    """The ``operation`` document as Argo CD stores it (in ``status.operationState.operation``)."""
    sync = operation.sync
    sync_doc: dict[str, Any] = {}
    if sync.revision:
        sync_doc["revision"] = sync.revision
    if sync.prune:
        sync_doc["prune"] = True
    if sync.dry_run:
        sync_doc["dryRun"] = True
    if sync.sync_options:
        sync_doc["syncOptions"] = list(sync.sync_options)
    if sync.resources:
        sync_doc["resources"] = [
            {
                **({"group": r.group} if r.group else {}),
                "kind": r.kind,
                **({"namespace": r.namespace} if r.namespace else {}),
                "name": r.name,
            }
            for r in sync.resources
        ]
    initiated: dict[str, Any] = (
        {"automated": True}
        if operation.initiated_by.automated
        else {"username": operation.initiated_by.username or "admin"}
    )
    doc: dict[str, Any] = {"sync": sync_doc, "initiatedBy": initiated}
    retry = operation.retry
    if retry.limit != 0:
        doc["retry"] = {
            "limit": retry.limit,
            "backoff": {
                "duration": f"{retry.backoff_duration:g}s",
                "factor": retry.backoff_factor,
                "maxDuration": f"{retry.backoff_max_duration:g}s",
            },
        }
    return doc


def parse_operation(doc: dict[str, Any]) -> models.Operation:
    """An operation recorded in ``status.operationState.operation`` (to resume it)."""
    parsed = models.parse_operation(doc)
    if parsed is None:
        return models.Operation(sync=models.SyncOperation())
    return parsed


def _value_files(source: models.AppSource) -> tuple[str, ...]:
    helm = source.raw.get("helm") or {}
    return tuple(str(v) for v in helm.get("valueFiles") or ())


def _merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) turning ``old`` into ``new``: removed keys become null,
    objects are patched key by key, anything else is replaced."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = _merge_patch(old[key], value)
    return patch


def _parse_iso(text: str | None) -> float:
    if not text:
        return 0.0
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


def _strip_time(status: dict[str, Any]) -> Any:
    return orjson.dumps(
        {k: v for k, v in status.items() if k not in ("reconciledAt", "observedAt")},
        option=orjson.OPT_SORT_KEYS,
    )


def _conditions(
    obj: dict[str, Any],
    wanted: list[tuple[str, str]],
    *,
    keep_others: bool = False,
    drop: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """The Application's conditions with ``wanted`` set (others of comparison/spec kinds cleared),
    keeping ``lastTransitionTime`` of a condition whose message did not change."""
    existing = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
    out = []
    managed = {"ComparisonError", "InvalidSpecError"}
    wanted_types = {t for t, _ in wanted}
    for ctype, cond in existing.items():
        if ctype in drop or ctype in wanted_types:
            continue
        if ctype in managed and not keep_others:
            continue
        out.append(cond)
    for ctype, message in wanted:
        old = existing.get(ctype)
        if old is not None and old.get("message") == message:
            out.append(old)
        else:
            out.append({"type": ctype, "message": message, "lastTransitionTime": now_iso()})
    return out


def _summary(desired: list[dict[str, Any]]) -> dict[str, Any]:
    images: set[str] = set()
    for obj in desired:
        spec = obj.get("spec") or {}
        pod = (
            (spec.get("template") or {}).get("spec")
            or spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
            or (spec if obj.get("kind") == "Pod" else {})
        )
        for c in list(pod.get("containers") or []) + list(pod.get("initContainers") or []):
            if c.get("image"):
                images.add(str(c["image"]))
    return {"images": sorted(images)} if images else {}
