"""The GitOps loop: Applications in, a cluster that matches Git out.

One :class:`Controller` per process puts the parts together; each part has one job:

- :mod:`~tether.controller.control` follows the control namespace (Applications, AppProjects,
  repository and cluster Secrets, ConfigMaps) and bootstraps it;
- :mod:`~tether.controller.workqueue` holds the names waiting for a reconcile;
- :mod:`~tether.controller.leadership` elects the one replica that reconciles;
- :mod:`~tether.controller.desired` resolves commits and renders desired objects;
- :mod:`~tether.controller.admission` checks every object against the app's project;
- :mod:`~tether.controller.destinations` opens the clusters apps deploy to;
- :mod:`~tether.controller.comparison` compares desired with live;
- :mod:`~tether.controller.status` reads and builds the status document;
- :mod:`~tether.controller.autosync` decides automated syncs;
- :mod:`~tether.controller.operations` runs syncs and records them;
- :mod:`~tether.controller.finalizers` deletes what a deleted app deployed;
- :mod:`~tether.controller.writes` writes to Applications.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.cluster.client import ClusterClient
from tether.controller import admission, autosync, clusters, models, project
from tether.controller.comparison import Comparison, compare_app
from tether.controller.config import ControllerConfig
from tether.controller.control import ControlNamespace, bootstrap
from tether.controller.desired import DesiredState, Rendered
from tether.controller.destinations import Destination, Destinations
from tether.controller.face import ClusterView, ControllerMetrics, Listener, RepositoryCounters
from tether.controller.finalizers import delete_resources, our_finalizers, without_finalizers
from tether.controller.leadership import Leadership
from tether.controller.operations import OperationContext, OperationRunner
from tether.controller.status import (
    compared_update,
    comparison_failed_update,
    invalid_spec_update,
    read_status,
)
from tether.controller.workqueue import WorkQueue
from tether.controller.writes import ApplicationWriter
from tether.engine import diff as diffing
from tether.engine.ignore import IgnoreRule, parse_ignore_differences
from tether.engine.plan import hook_info
from tether.engine.sync import SyncEngine
from tether.errors import TetherError
from tether.names import APPLICATION, ARGO_API_VERSION, REFRESH_ANNOTATION, SETTINGS_CONFIGMAP
from tether.render import RenderError
from tether.source.credentials import RepoCredentials, select_credentials
from tether.source.errors import SourceError

__all__ = ["Controller", "ControllerConfig"]

log = logging.getLogger(__name__)

#: reconcile durations kept for /metrics
RECONCILE_SAMPLES = 10_000
#: seconds before a reconcile that raised is tried again
FAILED_RECONCILE_DELAY = 5.0


@dataclass
class AppRuntime:
    """What the controller remembers about one Application between reconciles."""

    last_reconciled: float = 0.0
    heal: autosync.HealBackoff = field(default_factory=autosync.HealBackoff)
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    operation_running: bool = False
    last_compare: diffing.AppDiff | None = None
    desired: list[dict[str, Any]] = field(default_factory=list)
    source_error: str | None = None


@dataclass(frozen=True)
class _Target:
    """A valid Application with its project scope and opened destination."""

    app: models.Application
    scope: admission.WriteScope
    dest: Destination


class Controller:
    """Reconciles every Application in the control namespace."""

    def __init__(self, client: ClusterClient, config: ControllerConfig | None = None) -> None:
        self.client = client
        self.config = config or ControllerConfig()
        self.cache_dir = self.config.cache_dir or Path(tempfile.mkdtemp(prefix="tether-cache-"))
        self.control = ControlNamespace(
            client,
            self.config.namespace,
            on_application=self._on_application,
            on_project=self._on_project,
            on_secret=self._on_secret,
            on_configmap=self._on_configmap,
        )
        self.sources = DesiredState(
            client,
            self.config.namespace,
            self.cache_dir,
            self._credentials_for,
            tracking=self.config.tracking,
            allow_local_repositories=self.config.allow_local_repositories,
        )
        self.destinations = Destinations(client, self.config.tracking, self._on_live_change)
        self.writer = ApplicationWriter(
            client,
            self.config.namespace,
            self.config.field_manager,
            current=self.control.application,
            remember=self.control.remember,
            announce=lambda obj: self._notify("application", "MODIFIED", obj),
        )
        self.operations = OperationRunner(
            self.writer,
            self.sources,
            current=self.control.application,
            enqueue=self.enqueue,
            engine_for=self._engine_for,
        )
        self.queue = WorkQueue()
        self.leadership: Leadership | None = None
        self.apps: dict[str, AppRuntime] = {}
        self.listeners: list[Listener] = []
        self.stats: dict[str, int] = {"reconciles": 0, "syncs": 0, "polls": 0}
        self.reconcile_seconds: list[float] = []
        self._sync_slots = asyncio.Semaphore(self.config.sync_workers)
        self._tasks: list[asyncio.Task[None]] = []
        self._stand_down = False

    # ---- the face the API server sees (tether.controller.face.ControllerFace) ------------------

    @property
    def namespace(self) -> str:
        return self.config.namespace

    @property
    def is_leader(self) -> bool:
        """Whether this replica reconciles (holds the Lease, or runs without election)."""
        if self._stand_down:
            return False
        return self.leadership is None or self.leadership.is_leader

    @is_leader.setter
    def is_leader(self, value: bool) -> None:
        # False stands this replica down (reconciles wait) whatever the Lease says
        self._stand_down = not value

    def ready(self) -> bool:
        return self.control.ready()

    def applications(self) -> dict[str, dict[str, Any]]:
        return self.control.application_objects()

    def projects(self) -> dict[str, dict[str, Any]]:
        return self.control.project_objects()

    def configmap(self, name: str) -> dict[str, Any] | None:
        return self.control.configmap(name)

    def secrets(self) -> dict[str, dict[str, Any]]:
        return self.control.secret_objects()

    def remember_application(self, obj: dict[str, Any]) -> None:
        self.control.remember(obj)

    def comparison(self, name: str) -> diffing.AppDiff | None:
        runtime = self.apps.get(name)
        return runtime.last_compare if runtime is not None else None

    def desired(self, name: str) -> list[dict[str, Any]]:
        runtime = self.apps.get(name)
        return list(runtime.desired) if runtime is not None else []

    def cluster_of(self, name: str) -> ClusterView | None:
        dest = self.destination_of(name)
        return None if dest is None else ClusterView(dest.entry.server, dest.client, dest.cache)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self.listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self.listeners:
                self.listeners.remove(listener)

        return unsubscribe

    def check_repository_url(self, url: str) -> str:
        return self.sources.check_repository_url(url)

    def metrics(self) -> ControllerMetrics:
        return ControllerMetrics(
            counters={**self.stats, "status_writes": self.writer.status_writes},
            reconcile_seconds=list(self.reconcile_seconds),
            queue_depth=self.queue.depth(),
            requests_by_verb=dict(self.client.stats.by_verb),
            request_retries=self.client.stats.retries,
            repositories=[
                RepositoryCounters(m.url, m.ref_checks, m.fetches)
                for m in self.sources.mirrors.mirrors()
            ],
        )

    def destination_of(self, name: str) -> Destination | None:
        """The destination cluster an Application deploys to (None before its first reconcile
        or when its spec names no known cluster)."""
        obj = self.control.application(name)
        if obj is None:
            return None
        try:
            app = models.parse_application(obj)
            entry = clusters.resolve_destination(
                app.spec.destination, self.control.cluster_secrets()
            )
        except TetherError:
            return None
        return self.destinations.get(entry.server)

    # ---- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self.config.bootstrap:
            await bootstrap(self.client, self.config.namespace, self.config.field_manager)
        await self.control.start()
        if self.config.leader_election:
            self.leadership = Leadership(
                self.client,
                self.config.namespace,
                self.config.identity,
                self.config.lease_duration,
                self._on_leadership,
            )
            self._spawn(self.leadership.run(), "leader-election")
        for i in range(self.config.workers):
            self._spawn(self._worker(), f"reconcile-{i}")
        self._spawn(self._poll_loop(), "git-poll")

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        self.sources.close()
        self.queue.close()
        await self.control.stop()
        await self.destinations.close()

    # ---- triggers ------------------------------------------------------------------------------

    def enqueue(self, name: str, delay: float = 0.0) -> None:
        """Reconcile ``name`` (after ``delay`` seconds); repeated requests collapse into one."""
        self.queue.add(name, delay)

    def _enqueue_all(self) -> None:
        for name in list(self.control.application_objects()):
            self.enqueue(name)

    def _on_application(self, event_type: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if event_type == "DELETED":
            self.apps.pop(name, None)
            self.sources.forget(name)
        self.enqueue(name)
        self._notify("application", event_type, obj)

    def _on_project(self, event_type: str, obj: dict[str, Any]) -> None:
        for name in self.control.apps_of_project(obj["metadata"]["name"]):
            self.enqueue(name)

    def _on_secret(self, event_type: str, obj: dict[str, Any]) -> None:
        self._enqueue_all()

    def _on_configmap(self, event_type: str, obj: dict[str, Any]) -> None:
        if obj["metadata"]["name"] == SETTINGS_CONFIGMAP:
            self._enqueue_all()

    def _on_live_change(self, app: str, event_type: str, key: Any) -> None:
        if app in self.control.application_objects():
            self.enqueue(app)

    def _on_leadership(self, leader: bool) -> None:
        if leader:
            self._enqueue_all()

    def _notify(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        for listener in list(self.listeners):
            try:
                listener(kind, event_type, obj)
            except Exception:
                log.exception("listener failed")

    async def refresh(self, name: str, hard: bool = False) -> None:
        """Compare ``name`` again now; ``hard`` also checks its repository for new commits."""
        app = self.control.application(name)
        if app is not None and hard:
            url = ((app.get("spec") or {}).get("source") or {}).get("repoURL")
            if url:
                await self._poll([url])
        self.enqueue(name)

    async def on_webhook(self, repo_urls: Iterable[str]) -> list[str]:
        """A push arrived: poll those repositories now and reconcile the apps their commits touch."""
        return await self._poll(list(repo_urls))

    async def terminate(self, name: str) -> bool:
        runtime = self.apps.get(name)
        if runtime is None or not runtime.operation_running:
            return False
        runtime.cancel.set()
        return True

    async def _poll(self, repo_urls: list[str] | None = None) -> list[str]:
        result = await self.sources.poll(repo_urls)
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

    # ---- workers -------------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            name = await self.queue.take()
            if name is None:
                continue  # another worker has it: it comes back when that one is done
            started = time.perf_counter()
            try:
                if self.is_leader:
                    await self.reconcile(name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile of %s failed", name)
                self.enqueue(name, delay=FAILED_RECONCILE_DELAY)
            finally:
                self.queue.done(name)
                self.reconcile_seconds.append(time.perf_counter() - started)
                if len(self.reconcile_seconds) > RECONCILE_SAMPLES:
                    del self.reconcile_seconds[: RECONCILE_SAMPLES // 2]

    # ---- reconcile -----------------------------------------------------------------------------

    async def reconcile(self, name: str) -> None:
        """Compare one Application with its cluster, write its status, sync when asked or due."""
        obj = self.control.application(name)
        if obj is None:
            return
        self.stats["reconciles"] += 1
        runtime = self.apps.setdefault(name, AppRuntime())
        runtime.last_reconciled = time.monotonic()
        if obj["metadata"].get("deletionTimestamp"):
            await self._finalize(obj)
            return
        await self._honour_refresh(obj)
        target = await self._target(obj)
        if target is None:
            return
        operation, resumed_at = self._requested_operation(obj, target.app, runtime)
        compare = await self._compare(obj, target, runtime)
        if operation is not None:
            # a requested sync runs even when the comparison failed: it then fails with that
            # reason in operationState instead of waiting forever
            await self._run_operation(obj, target, operation, runtime, resumed_at)
            return
        if compare is not None:
            await self._auto_sync(obj, target, compare, runtime)

    async def _honour_refresh(self, obj: dict[str, Any]) -> None:
        refresh = (obj["metadata"].get("annotations") or {}).get(REFRESH_ANNOTATION)
        if not refresh:
            return
        if refresh == "hard":
            url = ((obj.get("spec") or {}).get("source") or {}).get("repoURL")
            if url:
                await self._poll([url])
        await self.writer.clear_refresh(obj)

    async def _target(self, obj: dict[str, Any]) -> _Target | None:
        """The app, its project scope and destination; None (InvalidSpecError written) when the
        spec, its project or its destination refuses it."""
        try:
            app = models.parse_application(obj)
            proj, proj_obj = self.control.project_of(app)
            if app.spec.source is None:
                raise models.InvalidSpecError(
                    "spec.source is required (multiple sources are not supported yet)"
                )
            proj.check_source(app.spec.source.repo_url)
            entry = clusters.resolve_destination(
                app.spec.destination, self.control.cluster_secrets()
            )
            if entry is None:
                raise models.InvalidSpecError("spec.destination does not name a known cluster")
            proj.check_destination(entry.server, entry.name, app.spec.destination.namespace or "")
        except (
            models.InvalidSpecError,
            project.ProjectViolation,
            clusters.UnknownDestination,
        ) as exc:
            await self.writer.status(obj, invalid_spec_update(obj.get("status") or {}, exc.message))
            return None
        dest = await self.destinations.open(entry)
        # the control namespace is guarded on the cluster this controller runs in
        control = self.config.namespace if dest.client is self.client else None
        scope = admission.WriteScope.of(proj_obj, proj, entry.server, entry.name, control)
        return _Target(app, scope, dest)

    @staticmethod
    def _requested_operation(
        obj: dict[str, Any], app: models.Application, runtime: AppRuntime
    ) -> tuple[models.Operation | None, str | None]:
        """The operation to run now, and the start time of one resumed after a crash."""
        if runtime.operation_running:
            return None, None
        if app.operation is not None:
            return app.operation, None
        running = read_status(obj).operation
        if running is not None and running.running:
            # the controller stopped in the middle of a sync: run the recorded operation again,
            # as the same operation (its start time identifies it in the history)
            resumed = models.parse_operation(dict(running.operation)) or models.Operation(
                sync=models.SyncOperation()
            )
            return resumed, running.started_at or None
        return None, None

    def _rules(self, app: models.Application) -> list[IgnoreRule]:
        return (
            list(parse_ignore_differences(app.spec.ignore_differences))
            + self.control.system_rules()
        )

    async def _render(
        self, obj: dict[str, Any], target: _Target, runtime: AppRuntime
    ) -> tuple[str, Rendered] | None:
        """The app's commit and objects, all within its project; None (status written) when
        they cannot be had."""
        source = target.app.spec.source
        assert source is not None
        status = obj.get("status") or {}
        try:
            resolved = await self.sources.resolve(
                target.app.name, source, None, runtime.source_error
            )
        except SourceError as exc:
            runtime.source_error = exc.message
            await self.writer.status(
                obj, comparison_failed_update(status, "ComparisonError", exc.message)
            )
            return None
        runtime.source_error = resolved.source_error
        try:
            rendered = await self.sources.render(target.app, target.dest.client, resolved.commit)
            # nothing of a revision is desired state unless the project permits all of it
            admission.check_objects(target.scope, rendered.objects)
        except (SourceError, RenderError, project.ProjectViolation) as exc:
            kind = (
                "InvalidSpecError"
                if isinstance(exc, project.ProjectViolation)
                else "ComparisonError"
            )
            await self.writer.status(obj, comparison_failed_update(status, kind, exc.message))
            return None
        return resolved.commit, rendered

    async def _compare(
        self, obj: dict[str, Any], target: _Target, runtime: AppRuntime
    ) -> Comparison | None:
        rendered = await self._render(obj, target, runtime)
        if rendered is None:
            return None
        commit, result = rendered
        source = target.app.spec.source
        assert source is not None
        status = obj.get("status") or {}

        def keep_live(live: dict[str, Any]) -> bool:
            # hooks are not compared; a tracking id outside the project does not make an
            # object the app's
            return not hook_info(live)[0] and admission.refusal(target.scope, live) is None

        compare = await compare_app(
            target.app.name,
            commit,
            result.tool,
            result.objects,
            target.dest,
            status_resources=list(status.get("resources") or []),
            keep_live=keep_live,
            rules=self._rules(target.app),
            customizations=self.control.health_customizations(),
            field_manager=self.config.field_manager,
        )
        runtime.last_compare = compare.diff
        runtime.desired = compare.desired
        problems = ([runtime.source_error] if runtime.source_error else []) + compare.problems
        update = compared_update(
            status,
            sync_status=compare.sync_status,
            commit=commit,
            source=source.raw,
            destination=(obj.get("spec") or {}).get("destination") or {},
            health_status=compare.health.status,
            health_message=compare.health.message,
            resources=compare.resources,
            problems=problems,
            tool=compare.tool,
            desired=compare.desired,
            namespace=self.config.namespace,
        )
        await self.writer.status(obj, update)
        return compare

    async def _auto_sync(
        self, obj: dict[str, Any], target: _Target, compare: Comparison, runtime: AppRuntime
    ) -> None:
        decision = autosync.decide(
            target.app,
            read_status(self.control.application(target.app.name) or obj),
            commit=compare.commit,
            sync_status=compare.sync_status,
            nothing_desired=not compare.desired,
            heal=runtime.heal,
            settings=autosync.HealSettings(
                self.config.self_heal_delay, self.config.self_heal_max_delay
            ),
            now=time.monotonic(),
            wall_now=time.time(),
        )
        if decision.retry_in is not None:
            self.enqueue(target.app.name, decision.retry_in)
        if decision.heal is not None:
            runtime.heal = decision.heal
        if decision.operation is not None:
            await self._run_operation(obj, target, decision.operation, runtime, None)
        elif decision.reason.startswith("automated sync would prune"):
            log.warning("%s: %s", target.app.name, decision.reason)

    async def _run_operation(
        self,
        obj: dict[str, Any],
        target: _Target,
        operation: models.Operation,
        runtime: AppRuntime,
        resumed_at: str | None,
    ) -> None:
        async with self._sync_slots:
            runtime.operation_running = True
            runtime.cancel = asyncio.Event()
            self.stats["syncs"] += 1
            context = OperationContext(
                obj=obj,
                app=target.app,
                scope=target.scope,
                dest=target.dest,
                operation=operation,
                last_compare=runtime.last_compare,
                rules=self._rules(target.app),
                resumed_at=resumed_at,
                cancel=runtime.cancel,
            )
            try:
                await self.operations.run(context)
            finally:
                runtime.operation_running = False

    def _engine_for(self, dest: Destination, app: str, scope: admission.WriteScope) -> SyncEngine:
        return SyncEngine(
            dest.client,
            app_name=app,
            tracking=self.config.tracking,
            field_manager=self.config.field_manager,
            wave_timeout=self.config.wave_timeout,
            admit=lambda obj: admission.refusal(scope, obj),
        )

    # ---- deletion ------------------------------------------------------------------------------

    async def _finalize(self, obj: dict[str, Any]) -> None:
        finalizers = our_finalizers(obj)
        if not finalizers:
            return
        name = obj["metadata"]["name"]
        deletion = await self._deletion_scope(obj)
        if deletion is not None:
            dest, may_delete = deletion
            if not await delete_resources(name, dest, finalizers, may_delete):
                self.enqueue(name, delay=0.5)
                return
        info = await self.client.resource_for(ARGO_API_VERSION, APPLICATION)
        await self.client.patch(
            info,
            name,
            without_finalizers(obj, finalizers),
            self.config.namespace,
            field_manager=self.config.field_manager,
        )

    async def _deletion_scope(
        self, obj: dict[str, Any]
    ) -> tuple[Destination, Callable[[dict[str, Any]], bool]] | None:
        """Where a deleted app's objects are, and which it may delete: those its project permits
        (a tracking id is only an annotation); without its project, those in its destination
        namespace."""
        try:
            app = models.parse_application(obj)
            entry = clusters.resolve_destination(
                app.spec.destination, self.control.cluster_secrets()
            )
        except TetherError:
            return None
        if entry is None:
            return None
        dest = await self.destinations.open(entry)
        try:
            proj, proj_obj = self.control.project_of(app)
        except models.InvalidSpecError:
            namespace = app.spec.destination.namespace or ""
            return dest, lambda o: (o["metadata"].get("namespace") or "") == namespace
        control = self.config.namespace if dest.client is self.client else None
        scope = admission.WriteScope.of(proj_obj, proj, entry.server, entry.name, control)
        return dest, lambda o: admission.refusal(scope, o) is None

    # ---- credentials ---------------------------------------------------------------------------

    def _credentials_for(self, url: str) -> RepoCredentials | None:
        return select_credentials(url, self.control.repository_secrets())
