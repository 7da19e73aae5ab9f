"""The GitOps loop: Applications in, a cluster that matches Git out.

One :class:`Controller` per process puts the parts together; each part has one job:

- :mod:`~tether.controller.control` follows the control namespace (Applications, AppProjects,
  repository and cluster Secrets, ConfigMaps) and bootstraps it;
- :mod:`~tether.controller.workqueue` holds the names waiting for a reconcile;
- :mod:`~tether.controller.sharding` shares the apps among replicas (one owner per shard);
- :mod:`~tether.controller.desired` resolves commits and renders desired objects;
- :mod:`~tether.controller.admission` checks every object against the app's project;
- :mod:`~tether.controller.destinations` opens the clusters apps deploy to;
- :mod:`~tether.controller.comparison` compares desired with live;
- :mod:`~tether.controller.status` reads and builds the status document;
- :mod:`~tether.controller.autosync` decides automated syncs;
- :mod:`~tether.controller.operations` runs syncs and records them;
- :mod:`~tether.controller.finalizers` deletes what a deleted app deployed;
- :mod:`~tether.controller.writes` writes to Applications;
- :mod:`~tether.controller.images` scans image registries and runs Flux's image automations
  (pull requests of image updates).

Triggers: Application changes, moved refs (poll or webhook), live-cache events on managed
objects (drift is seen within a second), the refresh annotation, retries. The API server sees
the controller only through :class:`~tether.controller.face.ControllerFace`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tether.cluster.cache import LiveCache, cancel_and_wait
from tether.cluster.client import ClusterClient
from tether.controller import clusters, multisource
from tether.controller.appdeps import AppDependencies
from tether.controller.config import ControllerConfig
from tether.controller.control import ControlNamespace, bootstrap
from tether.controller.desired import DesiredState
from tether.controller.destinations import Destination, Destinations
from tether.controller.extras import Extras
from tether.controller.face import (
    ClusterView,
    ControllerMetrics,
    ControlNamespaceReadings,
    FluxDiffError,
    Listeners,
    RepositoryCounters,
)
from tether.controller.fluxalerts import FluxAlerts
from tether.controller.imagerequests import REPOSITORY, repositories_of_event, request_reconcile
from tether.controller.notifications import AppNotifications
from tether.controller.observer import request_termination
from tether.controller.ondemand import ObserverSettings, OnDemandComparisons
from tether.controller.operations import OperationRunner
from tether.controller.previews import Previews, PreviewSettings, PullPreview
from tether.controller.reconciler import AppRuntime, Reconciler
from tether.controller.repoconfig import RepoConfig
from tether.controller.sharding import ShardCoordinator, ShardHooks
from tether.controller.shards import ShardSettings
from tether.controller.slowstart import SlowStart
from tether.controller.status import TERMINATING, read_status
from tether.controller.workqueue import WorkQueue
from tether.controller.writes import ApplicationWriter
from tether.engine import diff as diffing
from tether.images.events import RegistryEvent, concerns
from tether.names import SETTINGS_CONFIGMAP
from tether.source.credentials import RepoCredentials, select_credentials
from tether.source.policy import RepoPolicy
from tether.source.pullrequests import PullRequestEvent

__all__ = ["Controller", "ControllerConfig"]

if TYPE_CHECKING:
    from tether.controller.appsets import ApplicationSets
    from tether.controller.flux.part import FluxPart
    from tether.controller.images import ImageAutomation

log = logging.getLogger(__name__)

#: reconcile durations kept for /metrics
RECONCILE_SAMPLES = 10_000
#: seconds before a reconcile that raised is tried again
FAILED_RECONCILE_DELAY = 5.0


class Controller(ControlNamespaceReadings):
    """Reconciles every Application in the control namespace."""

    def __init__(
        self,
        client: ClusterClient,
        config: ControllerConfig | None = None,
        shard_settings: ShardSettings | None = None,
    ) -> None:
        self.client = client
        self.config = config or ControllerConfig()
        self.shard_settings = shard_settings or ShardSettings(
            lease_duration=self.config.lease_duration
        )
        self.cache_dir = self.config.cache_dir or Path(tempfile.mkdtemp(prefix="tether-cache-"))
        self.control = ControlNamespace(
            client,
            self.config.namespace,
            on_application=self._on_application,
            on_project=self._on_project,
            on_secret=self._on_secret,
            on_configmap=self._on_configmap,
        )
        self.repo_config = RepoConfig(self.cache_dir / "trust", self.config.namespace)
        self.sources = DesiredState(
            client,
            self.config.namespace,
            self.cache_dir,
            self._credentials_for,
            tracking=self.config.tracking,
            allow_local_repositories=self.config.allow_local_repositories,
            trust=self.repo_config.trust,
        )
        self.destinations = Destinations(
            client,
            self.config.tracking,
            self._on_live_change,
            managed_namespaces=self.config.managed_namespaces,
        )
        self.flux_alerts = FluxAlerts(client, self.config.namespace)
        self.writer = ApplicationWriter(
            client,
            self.config.namespace,
            self.config.field_manager,
            current=self.control.application,
            remember=self.control.remember,
            announce=lambda obj: self._notify("application", "MODIFIED", obj),
            on_event=self.flux_alerts.on_application_event,
        )
        self.queue = WorkQueue()
        #: how many of the workers may reconcile at once: few at a cold start, then all
        self._admission = SlowStart(self.config.workers)
        self.dependencies = AppDependencies(
            self.control.application_objects, self.control.project_objects
        )
        self.reconciler = Reconciler(
            self.config,
            client,
            control=self.control,
            sources=self.sources,
            destinations=self.destinations,
            writer=self.writer,
            enqueue=self.enqueue,
            poll=self._poll,
            dependencies=self.dependencies,
        )
        self.notifications = self._notifications()
        self.previews = self._previews()
        #: ApplicationSets and image automation: loaded during the start, started after it
        self.extras = Extras(self._build_extras, self.control.application_objects)
        #: None without leader election: this process owns every app
        self.sharding: ShardCoordinator | None = None
        #: the reconcile running for each app (cancelled when its shard leaves this replica)
        self._running: dict[str, asyncio.Task[None]] = {}
        #: polls started by a push another replica heard
        self._relayed: set[asyncio.Task[list[str]]] = set()
        self.listeners = Listeners()
        self.polls = 0
        self.reconcile_seconds: list[float] = []
        self.reconciles_timed = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stand_down = False

    def _notifications(self) -> AppNotifications:
        """Argo CD's notifications for the apps this replica owns."""
        return AppNotifications(
            self.client,
            self.config.namespace,
            self.config.field_manager,
            configmap=self.control.configmap,
            applications=self.control.application_objects,
            projects=self.control.project_objects,
            owns=self.owns,
        )

    def _previews(self) -> Previews:
        """Pull-request previews, compared with the controller's own sources and caches."""
        comparer = OnDemandComparisons(
            self.client,
            self.config,
            self.control,
            ObserverSettings(),
            sources=self.sources,
            destinations=self.destinations,
        )
        return Previews(
            self.control.application_objects,
            comparer,
            self.sources.mirrors,
            self._credentials_for,
        )

    def _build_extras(self) -> tuple[ApplicationSets, ImageAutomation, FluxPart]:
        """ApplicationSets, Flux's image automation reaching repositories as the sources do, and
        Flux's GitRepositories and Kustomizations (their modules are loaded by then:
        :class:`~tether.controller.extras.Extras`)."""
        from tether.controller.appsets import ApplicationSets
        from tether.controller.flux.part import FluxPart
        from tether.controller.images import ImageAutomation
        from tether.images.automation import GitAccess

        appsets = ApplicationSets(
            self.client,
            self.config.namespace,
            applications=self.control.application_objects,
            secrets=self.control.secret_objects,
            mirrors=self.sources.mirrors,
            credentials_for=self._credentials_for,
            active=self._runs_images,
            remember=self.control.remember,
        )
        policy = RepoPolicy(
            allow_local=self.config.allow_local_repositories, forbidden_roots=(self.cache_dir,)
        )
        images = ImageAutomation(
            self.client,
            self.config.namespace,
            self.config.field_manager,
            applications=self.control.application_objects,
            credentials_for=self._credentials_for,
            access=GitAccess(policy=policy, trust=self.repo_config.trust),
            active=self._runs_images,
            record=self.writer.event,
            report=self.flux_alerts.emit,
        )
        flux = FluxPart(
            self.client,
            self.cache_dir,
            allow_local_repositories=self.config.allow_local_repositories,
            trust=self.repo_config.trust,
            active=self._runs_images,
            # a namespaced install may list nothing beyond its namespaces
            namespace=self.config.namespace if self.config.managed_namespaces else None,
            report=self.flux_alerts.emit,
            live_cache=self._own_cache,
            trusted_root=self.config.sigstore_trusted_root,
            workers=self.config.flux_workers,
        )
        return appsets, images, flux

    @property
    def appsets(self) -> ApplicationSets:
        """The ApplicationSets part (once started; tests read it)."""
        assert self.extras.appsets is not None, "the ApplicationSets part is not started yet"
        return self.extras.appsets

    # ---- the face the API server sees (tether.controller.face.ControllerFace) ------------------

    @property
    def namespace(self) -> str:
        return self.config.namespace

    @property
    def is_leader(self) -> bool:
        """Whether this replica reconciles anything (holds a shard, or runs without election)."""
        if self._stand_down:
            return False
        return self.sharding is None or bool(self.sharding.held)

    @is_leader.setter
    def is_leader(self, value: bool) -> None:
        # False stands this replica down (reconciles wait) whatever the Lease says
        self._stand_down = not value

    def comparison(self, name: str) -> diffing.AppDiff | None:
        runtime = self.reconciler.apps.get(name)
        return runtime.last_compare if runtime is not None else None

    def desired(self, name: str) -> list[dict[str, Any]]:
        runtime = self.reconciler.apps.get(name)
        return list(runtime.desired) if runtime is not None else []

    async def _own_cache(self) -> LiveCache:
        """The live cache of the controller's own cluster (opened on first use)."""
        dest = await self.destinations.open(clusters.in_cluster_entry())
        return dest.cache

    def cluster_of(self, name: str) -> ClusterView | None:
        dest = self.destination_of(name)
        return None if dest is None else ClusterView(dest.entry.server, dest.client, dest.cache)

    def check_repository_url(self, url: str) -> str:
        return self.sources.check_repository_url(url)

    def metrics(self) -> ControllerMetrics:
        return ControllerMetrics(
            counters={
                **self.reconciler.stats,
                "polls": self.polls,
                "status_writes": self.writer.status_writes,
                "renders": self.sources.renders,
                **self.extras.counters(),
                **self._shard_counters(),
            },
            reconcile_seconds=list(self.reconcile_seconds),
            reconciles_timed=self.reconciles_timed,
            queue_depth=self.queue.depth(),
            requests_by_verb=dict(self.client.stats.by_verb),
            request_retries=self.client.stats.retries,
            repositories=[
                RepositoryCounters(m.url, m.ref_checks, m.fetches)
                for m in self.sources.mirrors.mirrors()
            ],
        )

    @property
    def apps(self) -> dict[str, AppRuntime]:
        """What the controller remembers per Application (tests read it)."""
        return self.reconciler.apps

    @property
    def operations(self) -> OperationRunner:
        return self.reconciler.operations

    async def reconcile(self, name: str) -> None:
        """Reconcile one Application now (the workers call this for queued names)."""
        await self.reconciler.reconcile(name)

    def destination_of(self, name: str) -> Destination | None:
        """The destination cluster an Application deploys to (None before its first reconcile
        or when its spec names no known cluster)."""
        obj = self.control.application(name)
        found = self.control.destination_of(obj) if obj is not None else None
        return None if found is None else self.destinations.get(found[1].server)

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start everything: :meth:`prepare`, then :meth:`begin`."""
        await self.prepare()
        await self.begin()

    async def prepare(self) -> None:
        """Bootstrap, follow the control namespace, take shards: all but the reconciles."""
        self.extras.preload()  # loads while the API server answers the start's requests
        if self.config.bootstrap:
            await bootstrap(self.client, self.config.namespace, self.config.field_manager)
        await self.control.start()
        if self.config.leader_election:
            self.sharding = ShardCoordinator(
                self.client,
                self.config.namespace,
                self.config.identity,
                self.shard_settings,
                ShardHooks(
                    gained=self._on_shards_gained,
                    drain=self._drain,
                    stop_all=self._stop_all,
                    pushed=self._on_pushed_elsewhere,
                ),
            )
            # the first round before the workers start: a lone replica owns everything at once
            await self.sharding.start()
            self._spawn(self.sharding.run(), "sharding")

    async def begin(self) -> None:
        """Start the reconciles (after :meth:`prepare`); the extras start after them."""
        for i in range(self.config.workers):
            self._spawn(self._worker(), f"reconcile-{i}")
        self._spawn(self._poll_loop(), "git-poll")
        self.notifications.start()
        # after the reconciles: its six requests never hold up an app's first check
        self._spawn(self._start_extras(), "extras")

    async def _start_extras(self) -> None:
        await self.flux_alerts.start()
        await self.extras.start()

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def stop(self) -> None:
        if self.sharding is not None:
            # the running reconciles end, the shards are handed over, then the workers stop
            await self.sharding.leave()
        await asyncio.gather(*(cancel_and_wait(task) for task in [*self._tasks, *self._relayed]))
        if self.sharding is not None:
            await self.sharding.aclose()
        self._tasks.clear()
        await self.extras.stop()
        await self.flux_alerts.stop()
        await self.notifications.stop()
        await self.previews.close()
        await self.sources.aclose()
        self.queue.close()
        await self.control.stop()
        await self.destinations.close()

    # ---- triggers ------------------------------------------------------------------------------

    def enqueue(self, name: str, delay: float = 0.0, *, resync: bool = False) -> None:
        """Reconcile ``name`` (after ``delay`` seconds); repeated requests collapse into one.
        An app of a shard another replica holds is left to that replica. ``resync``: the
        periodic comparison, which yields to every event."""
        if self.owns(name):
            self.queue.add(name, delay, resync=resync)

    def reconciling(self) -> frozenset[str]:
        """The apps whose reconcile runs now in this replica."""
        return frozenset(self._running)

    def owns(self, name: str) -> bool:
        """Whether this replica reconciles ``name`` now (its shard is held here, or no
        election runs)."""
        if self.sharding is None:
            return True
        return self.sharding.active(self._shard_of(name))

    def _shard_of(self, name: str) -> int:
        assert self.sharding is not None
        obj = self.control.application(name)
        return self.sharding.shard_of(obj if obj is not None else {"metadata": {"name": name}})

    def _enqueue_all(self) -> None:
        for name in list(self.control.application_objects()):
            self.enqueue(name)

    def _on_application(self, event_type: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            self._forget(name)
        elif (state := read_status(obj).operation) is not None and state.phase == TERMINATING:
            # a terminate written to the Application (a server replica, Argo CD's API server)
            self._terminate_here(name)
        if event_type == "DELETED" or not self.notifications.own_write(obj):
            # the notifier's record of what it sent changes nothing to reconcile
            self.enqueue(name)
        for dependent in self.dependencies.on_application(event_type, obj):
            self.enqueue(dependent)  # its wait for this app may be over
        self.extras.on_application(event_type, obj)
        self.notifications.on_application(event_type, obj)
        self._notify("application", event_type, obj)

    def _forget(self, name: str) -> None:
        """What is kept for ``name`` goes: the app is gone, or reconciled by another replica."""
        self.reconciler.apps.pop(name, None)
        self.reconciler.gates.forget(name)
        self.sources.forget(name)  # its repository is no longer polled for it here
        self.queue.forget(name)  # an app of that name made again is a first check

    def _terminate_here(self, name: str) -> bool:
        """Stop the sync of ``name`` running in this process; False when none runs here."""
        runtime = self.reconciler.apps.get(name)
        if runtime is None or not runtime.operation_running:
            return False
        runtime.cancel.set()
        return True

    def _on_project(self, event_type: str, obj: dict[str, Any]) -> None:
        for name in self.control.apps_of_project(obj["metadata"]["name"]):
            self.enqueue(name)

    def _on_secret(self, event_type: str, obj: dict[str, Any]) -> None:
        self._enqueue_all()

    def _on_configmap(self, event_type: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if self.repo_config.follows(name):
            self.repo_config.on_configmap(event_type, obj)
            self._enqueue_all()  # apps whose repository failed try it again now
        if name == SETTINGS_CONFIGMAP:
            self._enqueue_all()

    def _on_live_change(self, app: str, event_type: str, key: Any) -> None:
        if app in self.control.application_objects() and self.owns(app):
            self.enqueue(app)

    # ---- shards ------------------------------------------------------------------------------

    def _on_shards_gained(self, shards: frozenset[int]) -> None:
        for name in list(self.control.application_objects()):
            if self._shard_of(name) in shards:
                self.queue.add(name)

    async def _drain(self, shards: frozenset[int], timeout: float) -> None:
        """Wait for the running reconciles of ``shards``; cancel those past ``timeout``; then
        forget what was kept for their apps (the new owner builds its own)."""

        def running() -> list[asyncio.Task[None]]:
            return [t for n, t in list(self._running.items()) if self._shard_of(n) in shards]

        if tasks := running():
            await asyncio.wait(tasks, timeout=timeout)
        if late := running():
            log.warning("sharding: cancelling %d reconciles still running", len(late))
            await asyncio.gather(*(cancel_and_wait(task) for task in late))
        for name in [n for n in list(self.reconciler.apps) if self._shard_of(n) in shards]:
            if name not in self._running:
                self._forget(name)

    def _stop_all(self) -> None:
        """The Lease was not renewed in time: every running reconcile is cancelled now."""
        for task in list(self._running.values()):
            task.cancel()

    def _shard_counters(self) -> dict[str, int]:
        if self.sharding is None:
            return {}
        held = self.sharding.held
        apps = sum(1 for n in self.control.application_objects() if self._shard_of(n) in held)
        return {
            "shards_held": len(held),
            "apps_owned": apps,
            "shard_generation": self.sharding.generation,
        }

    def _notify(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        self.listeners.notify(kind, event_type, obj)

    async def refresh(self, name: str, hard: bool = False) -> None:
        """Compare ``name`` again now; ``hard`` also checks its repository for new commits."""
        app = self.control.application(name)
        if app is not None and hard:
            await self.reconciler.check_source(app)
        self.enqueue(name)

    async def on_webhook(self, repo_urls: Iterable[str]) -> list[str]:
        """A push arrived: poll those repositories now and reconcile the apps their commits
        touch (this replica's); the other replicas hear of it through the record's Lease."""
        urls = list(repo_urls)
        self.extras.on_push(urls)
        if self.sharding is not None:
            await self.sharding.announce_push(urls)
        return await self._poll(urls)

    async def on_registry_event(self, event: RegistryEvent) -> list[str]:
        """A registry webhook: the ImageRepositories of the pushed images are scanned now; by
        this replica when it runs image automation (:meth:`_runs_images`), else through Flux's
        reconcile-request annotation, which the one that runs it follows."""
        await self._refresh_oci_apps(event)
        if self._runs_images():
            return self.extras.on_registry_event(event)
        names = await repositories_of_event(self.client, self.namespace, event)
        return await request_reconcile(
            self.client, self.namespace, REPOSITORY, names, self.config.field_manager
        )

    async def _refresh_oci_apps(self, event: RegistryEvent) -> None:
        """The apps of this replica whose chart or artifact the registry just pushed: their
        source is asked again and they are compared now, not at the next check."""
        for name, obj in self.control.application_objects().items():
            pushed = any(concerns(event, r) for r in multisource.oci_repositories(obj))
            if pushed and self.owns(name):
                await self.reconciler.check_source(obj)
                self.enqueue(name)

    async def request_image_reconcile(self, kind: str, name: str) -> bool:
        done = await request_reconcile(
            self.client, self.namespace, kind, [name], self.config.field_manager
        )
        return bool(done)

    def _runs_images(self) -> bool:
        """Image automation runs in one replica: the one holding shard 0 (or the only one)."""
        if self._stand_down:
            return False
        return self.sharding is None or self.sharding.active(0)

    def _on_pushed_elsewhere(self, urls: list[str]) -> None:
        """Another replica received a webhook: check those repositories for this one's apps
        (the poller checks only repositories its apps use)."""
        if self.is_leader:
            task = asyncio.create_task(self._poll(urls), name="relayed-push")
            self._relayed.add(task)
            task.add_done_callback(self._relayed.discard)

    async def on_pull_request(
        self, event: PullRequestEvent, settings: PreviewSettings
    ) -> list[str]:
        self.extras.on_pull_request()  # pullRequest generators see it now, not in 3 minutes
        return self.previews.on_pull_request(event, settings)

    def pull_preview(self, app: str, number: int) -> PullPreview | None:
        return self.previews.preview(app, number)

    async def preview_appset(self, appset: dict[str, Any]) -> dict[str, Any]:
        return await self.extras.preview_appset(appset)

    def applicationsets(self) -> dict[str, dict[str, Any]]:
        return self.extras.applicationsets()

    async def flux_receiver(self, path: str) -> dict[str, Any] | None:
        return self.extras.flux_receiver(path)

    async def flux_diff(self, namespace: str, name: str) -> list[dict[str, Any]] | None:
        from tether.controller.flux.fluxdiff import DiffError

        try:
            return await self.extras.flux_diff(namespace, name)
        except DiffError as exc:
            raise FluxDiffError(str(exc)) from None

    async def terminate(self, name: str) -> bool:
        """Stop the app's running sync: here when it runs here, else through the Application
        (the replica that owns the app cancels it)."""
        if self._terminate_here(name):
            return True
        if self.owns(name):
            return False
        return await request_termination(self.client, self.control, self.namespace, name)

    async def _poll(self, repo_urls: list[str] | None = None) -> list[str]:
        result = await self.sources.poll(repo_urls)
        self.polls += 1
        touched = []
        for key, poll in result.apps.items():
            name = multisource.app_of(key)  # a source of a multi-source app: that app
            runtime = self.reconciler.runtime(name)
            error = poll.error.message if poll.error is not None else None
            if poll.changed or error != runtime.source_error:
                runtime.source_error = error
                if self.owns(name) and name not in touched:
                    touched.append(name)
                    self.enqueue(name)
        return touched

    def _owned_repositories(self) -> list[str] | None:
        """The repositories of the apps this replica owns (None: all, no election)."""
        if self.sharding is None:
            return None
        urls = {
            url
            for name, obj in self.control.application_objects().items()
            if self.owns(name)
            for url in multisource.repo_urls(obj)
        }
        return sorted(urls)

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
                owned = self._owned_repositories()
                if owned is None or owned:
                    await self._poll(owned)
            except Exception:
                log.exception("git poll failed")
            # every app is compared again once per interval, as Argo CD's timeout.reconciliation
            now = time.monotonic()
            for name, runtime in list(self.reconciler.apps.items()):
                if now - runtime.last_reconciled >= interval:
                    self.enqueue(name, resync=True)

    # ---- workers -------------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            await self._admission.acquire()
            try:
                await self._work_once()
            finally:
                self._admission.release()

    async def _work_once(self) -> None:
        """Take one name from the queue and reconcile it."""
        name = await self.queue.take()
        if name is not None:  # None: another worker has it, it comes back when that one is done
            await self._reconcile_taken(name)

    async def _reconcile_taken(self, name: str) -> None:
        started = time.perf_counter()
        try:
            if not self._stand_down and self.owns(name):
                await self._reconcile_owned(name)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reconcile of %s failed", name)
            self.enqueue(name, delay=FAILED_RECONCILE_DELAY)
        finally:
            self.queue.done(name)
            self.reconcile_seconds.append(time.perf_counter() - started)
            self.reconciles_timed += 1
            if len(self.reconcile_seconds) > RECONCILE_SAMPLES:
                del self.reconcile_seconds[: RECONCILE_SAMPLES // 2]

    async def _reconcile_owned(self, name: str) -> None:
        """Reconcile in a task of its own, which losing the app's shard may cancel."""
        task = asyncio.create_task(self.reconciler.reconcile(name), name=f"reconcile {name}")
        self._running[name] = task
        try:
            await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the worker itself stops
            log.info("reconcile of %s cancelled: its shard left this replica", name)
        finally:
            self._running.pop(name, None)

    # ---- credentials ---------------------------------------------------------------------------

    def _credentials_for(self, url: str) -> RepoCredentials | None:
        return select_credentials(url, self.control.repository_secrets())
