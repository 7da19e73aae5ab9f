"""One reconcile of one Application: validate, compare, report, sync when asked or due.

The :class:`Reconciler` is the pipeline in order: the spec and its project (``_target``), the
desired state (``_render``), the comparison and its status (``_compare``), then a requested
operation or the automated policy's decision. It keeps what it learns about each app between
reconciles in an :class:`AppRuntime`; the controller feeds it names from the work queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import CacheSyncError, ClusterError
from tether.controller import (
    admission,
    autosync,
    clusters,
    impersonation,
    models,
    multisource,
    project,
)
from tether.controller.appdeps import AppDependencies
from tether.controller.comparison import Comparison, compare_app
from tether.controller.config import ControllerConfig
from tether.controller.control import ControlNamespace
from tether.controller.desired import DesiredState, Rendered
from tether.controller.destinations import Destination, Destinations
from tether.controller.finalizers import delete_resources, our_finalizers, without_finalizers
from tether.controller.gates import SyncGates
from tether.controller.operations import OperationContext, OperationRunner, sync_user
from tether.controller.status import (
    TERMINATING,
    compared_update,
    comparison_failed_update,
    conditions,
    invalid_spec_update,
    now_iso,
    operation_terminated,
    read_status,
)
from tether.controller.writes import ApplicationWriter
from tether.engine import diff as diffing
from tether.engine.ignore import IgnoreRule, parse_ignore_differences
from tether.engine.plan import hook_info
from tether.engine.sync import SyncEngine
from tether.names import APPLICATION, ARGO_API_VERSION, REFRESH_ANNOTATION
from tether.render import RenderError
from tether.source.errors import SourceError

log = logging.getLogger(__name__)

#: the condition of an app whose deletion the cluster refused (Argo CD's type)
DELETION_ERROR = "DeletionError"
#: seconds before a refused deletion is tried again
DELETION_RETRY_DELAY = 10.0


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


class Reconciler:
    """Reconciles one Application at a time (the controller runs several concurrently, never
    two for the same app)."""

    def __init__(
        self,
        config: ControllerConfig,
        client: ClusterClient,
        *,
        control: ControlNamespace,
        sources: DesiredState,
        destinations: Destinations,
        writer: ApplicationWriter,
        enqueue: Callable[[str, float], None],
        poll: Callable[[list[str]], Awaitable[list[str]]],
        dependencies: AppDependencies,
    ) -> None:
        self.config = config
        self.client = client
        self.control = control
        self.sources = sources
        self.destinations = destinations
        self.writer = writer
        self.enqueue = enqueue
        self._poll = poll
        self.dependencies = dependencies
        self.gates = SyncGates(writer, enqueue, dependencies)
        self.operations = OperationRunner(
            writer,
            sources,
            current=control.application,
            enqueue=enqueue,
            engine_for=self._engine_for,
        )
        self.apps: dict[str, AppRuntime] = {}
        self.stats: dict[str, int] = {"reconciles": 0, "syncs": 0}
        self._sync_slots = asyncio.Semaphore(config.sync_workers)

    def runtime(self, name: str) -> AppRuntime:
        return self.apps.setdefault(name, AppRuntime())

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
        await self._end_termination(obj, runtime)
        refresh = await self._start_refresh(obj)
        target = await self._target(obj)
        if target is None:
            if refresh:
                await self.writer.clear_refresh(obj)
            return
        operation, resumed_at = self._requested_operation(obj, target.app, runtime)
        automated = target.app.spec.sync_policy.automated
        # the comparison goes out with the start of the sync it leads to (one patch, not two);
        # a refresh is answered at once: its waiter reads the status after the annotation goes
        hold = not refresh and (
            operation is not None or (automated is not None and automated.enabled)
        )
        try:
            compare = await self._compare(obj, target, runtime, hold=hold)
            if refresh:
                # removed once the comparison is written: a client waiting for its refresh
                # (the API's ?refresh=) knows the status it reads next is the refreshed one
                await self.writer.clear_refresh(obj)
            if operation is not None:
                # a requested sync runs even when the comparison failed: it then fails with
                # that reason in operationState instead of waiting forever
                trigger = _trigger_of(operation, target.app, compare, resumed_at is not None)
                await self._run_operation(obj, target, operation, runtime, resumed_at, trigger)
                return
            await self._automate(obj, target, compare, runtime)
        finally:
            await self.writer.flush(obj)

    async def _end_termination(self, obj: dict[str, Any], runtime: AppRuntime) -> None:
        """A terminate written to the Application (``operationState.phase: Terminating``, what
        a server replica writes) while no sync of it runs here: the sync is already over (or
        died with a replica), so the operation ends; a sync running here is cancelled by the
        controller as soon as it sees the Application change."""
        state = (obj.get("status") or {}).get("operationState") or {}
        if state.get("phase") != TERMINATING or runtime.operation_running:
            return
        await self.writer.status(obj, {"operationState": operation_terminated(state, now_iso())})

    async def _start_refresh(self, obj: dict[str, Any]) -> str:
        """The refresh the annotation asks for ("", normal or hard); a hard one checks the
        repository for new commits first."""
        refresh = str((obj["metadata"].get("annotations") or {}).get(REFRESH_ANNOTATION) or "")
        if refresh == "hard":
            await self.check_source(obj)
        return refresh

    async def check_source(self, obj: dict[str, Any]) -> None:
        """Look for a new revision of the app's source now (a hard refresh): its Git
        repository's refs, or its Helm repository's index."""
        spec = obj.get("spec") or {}
        charts = {
            str(s.get("repoURL"))
            for s in spec.get("sources") or [spec.get("source") or {}]
            if isinstance(s, dict) and s.get("chart")
        }
        for url in multisource.repo_urls(obj):
            if url in charts or url.lower().startswith("oci://"):
                # a Helm repository's index is read again, an OCI registry asked again
                await self.sources.refresh_chart_index(url)
            else:
                await self._poll([url])

    async def _target(self, obj: dict[str, Any]) -> _Target | None:
        """The app, its project scope and destination; None (InvalidSpecError written) when the
        spec, its project or its destination refuses it."""
        try:
            app = models.parse_application(obj)
            proj, proj_obj = self.control.project_of(app)
            self.dependencies.check(app.name)
            multisource.check_sources(app.spec.sources)
            for source in app.spec.all_sources:
                proj.check_source(source.repo_url)
            entry = clusters.resolve_destination(
                app.spec.destination, self.control.cluster_secrets()
            )
            if entry is None:
                raise models.InvalidSpecError("spec.destination does not name a known cluster")
            proj.check_destination(entry.server, entry.name, app.spec.destination.namespace or "")
            dest = await self.destinations.open(entry)
        except (
            models.InvalidSpecError,
            project.ProjectViolation,
            clusters.UnknownDestination,
            clusters.ClusterSecretError,
        ) as exc:
            await self.writer.status(obj, invalid_spec_update(obj.get("status") or {}, exc.message))
            return None
        scope = self._scope(proj_obj, proj, dest)
        try:
            if app.spec.destination.namespace:
                admission.check_managed_namespace(
                    scope, app.spec.destination.namespace, "spec.destination"
                )
        except project.ProjectViolation as exc:
            await self.writer.status(obj, invalid_spec_update(obj.get("status") or {}, exc.message))
            return None
        return _Target(app, scope, dest)

    def _scope(
        self, proj_obj: dict[str, Any], proj: project.Project, dest: Destination
    ) -> admission.WriteScope:
        """Where and how an app of ``proj`` writes to ``dest``."""
        # the control namespace is guarded on the cluster this controller runs in
        control = self.config.namespace if dest.client is self.client else None
        return admission.WriteScope.of(
            proj_obj,
            proj,
            dest.entry.server,
            dest.entry.name,
            control,
            managed_namespaces=dest.namespaces,
            cluster_resources=dest.cluster_resources,
            impersonate=impersonation.impersonation_enabled(self.control.settings()),
        )

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
        status = obj.get("status") or {}
        try:
            resolved = await self.sources.resolve_app(target.app, None, runtime.source_error)
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
        except (SourceError, RenderError, project.ProjectViolation, ClusterError) as exc:
            kind = (
                "InvalidSpecError"
                if isinstance(exc, project.ProjectViolation)
                else "ComparisonError"
            )
            await self.writer.status(obj, comparison_failed_update(status, kind, exc.message))
            return None
        return resolved.commit, rendered

    async def _compare(
        self, obj: dict[str, Any], target: _Target, runtime: AppRuntime, *, hold: bool = False
    ) -> Comparison | None:
        rendered = await self._render(obj, target, runtime)
        if rendered is None:
            return None
        commit, result = rendered
        status = obj.get("status") or {}
        try:
            compare = await self._compare_rendered(obj, target, commit, result)
        except ClusterError as exc:
            # a kind the controller may not list (a missing verb): its objects cannot be told
            # from missing ones, so nothing is compared and nothing synced automatically
            log.warning("%s: %s", target.app.name, exc.message)
            await self.writer.status(
                obj, comparison_failed_update(status, "ComparisonError", exc.message)
            )
            return None
        runtime.last_compare = compare.diff
        runtime.desired = compare.desired
        problems = ([runtime.source_error] if runtime.source_error else []) + compare.problems
        update = compared_update(
            status,
            sync_status=compare.sync_status,
            commit=commit,
            source=target.app.spec.source.raw if target.app.spec.source else {},
            destination=(obj.get("spec") or {}).get("destination") or {},
            health_status=compare.health.status,
            health_message=compare.health.message,
            resources=compare.resources,
            problems=problems,
            tool=compare.tool,
            desired=compare.desired,
            namespace=self.config.namespace,
        )
        update["sync"] = multisource.as_recorded(target.app, update["sync"], commit)
        await self.writer.status(obj, update, hold=hold)
        return compare

    async def _compare_rendered(
        self, obj: dict[str, Any], target: _Target, commit: str, rendered: Rendered
    ) -> Comparison:
        """The comparison of ``rendered`` (the app at ``commit``) with the live objects."""

        def keep_live(live: dict[str, Any]) -> bool:
            # hooks are not compared; a tracking id outside the project does not make an
            # object the app's
            return not hook_info(live)[0] and admission.refusal(target.scope, live) is None

        return await compare_app(
            target.app.name,
            commit,
            rendered.tool,
            rendered.objects,
            target.dest,
            status_resources=list((obj.get("status") or {}).get("resources") or []),
            keep_live=keep_live,
            rules=self._rules(target.app),
            customizations=self.control.health_customizations(),
            field_manager=self.config.field_manager,
        )

    # ---- the automated policy, and drift revert to the last synced revision --------------------

    def _heal_settings(self) -> autosync.HealSettings:
        return autosync.HealSettings(self.config.self_heal_delay, self.config.self_heal_max_delay)

    async def _automate(
        self,
        obj: dict[str, Any],
        target: _Target,
        compare: Comparison | None,
        runtime: AppRuntime,
    ) -> None:
        """Sync when the policy says so. An automated app is synced to its target; drift is
        reverted to the last synced revision when the target is not synced automatically (the
        production mode) or cannot be had (a broken revision never replaces the last good one)."""
        automated = target.app.spec.sync_policy.automated
        if automated is None or target.app.operation is not None or runtime.operation_running:
            # as in Argo CD: no automated sync while an operation is asked for or running (the
            # requested one runs at the next reconcile, once the running one is recorded)
            return
        status = read_status(self.control.application(target.app.name) or obj)
        if automated.enabled and compare is not None:
            decision = autosync.decide(
                target.app,
                status,
                commit=compare.commit,
                sync_status=compare.sync_status,
                nothing_desired=not compare.desired,
                heal=runtime.heal,
                settings=self._heal_settings(),
                now=time.monotonic(),
                wall_now=time.time(),
            )
            trigger = "selfHeal" if decision.heal is not None else "automated"
            await self._carry_out(decision, obj, target, runtime, trigger, runtime.last_compare)
            return
        revision = autosync.last_synced(status)
        if not automated.self_heal or not revision:
            return
        drift = compare
        if drift is None or drift.commit != revision:
            drift = await self._drift(obj, target, revision)
        if drift is None:
            return
        decision = autosync.decide_heal(
            target.app,
            status,
            revision=revision,
            sync_status=drift.sync_status,
            heal=runtime.heal,
            settings=self._heal_settings(),
            now=time.monotonic(),
        )
        await self._carry_out(decision, obj, target, runtime, "selfHeal", drift.diff)

    async def _drift(
        self, obj: dict[str, Any], target: _Target, revision: str
    ) -> Comparison | None:
        """The live objects compared with the app at ``revision`` (nothing written)."""
        try:
            rendered = await self.sources.render(target.app, target.dest.client, revision)
            admission.check_objects(target.scope, rendered.objects)
        except (SourceError, RenderError, project.ProjectViolation) as exc:
            log.warning("%s: cannot revert drift to %s: %s", target.app.name, revision[:12], exc)
            return None
        try:
            return await self._compare_rendered(obj, target, revision, rendered)
        except CacheSyncError as exc:
            log.warning("%s: cannot revert drift to %s: %s", target.app.name, revision[:12], exc)
            return None

    async def _carry_out(
        self,
        decision: autosync.Decision,
        obj: dict[str, Any],
        target: _Target,
        runtime: AppRuntime,
        trigger: str,
        compared: diffing.AppDiff | None,
    ) -> None:
        if decision.retry_in is not None:
            self.enqueue(target.app.name, decision.retry_in)
        if decision.heal is not None:
            runtime.heal = decision.heal
        if decision.operation is not None:
            await self._run_operation(
                obj, target, decision.operation, runtime, None, trigger, compared
            )
        elif decision.reason.startswith("automated sync would prune"):
            log.warning("%s: %s", target.app.name, decision.reason)

    async def _run_operation(
        self,
        obj: dict[str, Any],
        target: _Target,
        operation: models.Operation,
        runtime: AppRuntime,
        resumed_at: str | None,
        trigger: str,
        compared: diffing.AppDiff | None = None,
    ) -> None:
        if resumed_at is None and not await self.gates.allows(obj, target.scope.project, operation):
            return
        if self._sync_slots.locked():
            await self.writer.flush(obj)  # the comparison is not kept back while slots are busy
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
                last_compare=compared if compared is not None else runtime.last_compare,
                rules=self._rules(target.app),
                resumed_at=resumed_at,
                cancel=runtime.cancel,
                trigger=trigger,
            )
            try:
                await self.operations.run(context)
            finally:
                runtime.operation_running = False

    def _engine_for(
        self, dest: Destination, app: str, scope: admission.WriteScope, user: str | None
    ) -> SyncEngine:
        """The engine of one sync: every write as ``user`` when impersonating."""
        return SyncEngine(
            dest.client if user is None else dest.client.as_user(user),
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
        try:
            deletion = await self._deletion_scope(obj)
            if deletion is not None:
                dest, client, may_delete = deletion
                if not await delete_resources(name, dest, client, finalizers, may_delete):
                    self.enqueue(name, 0.5)
                    return
        except (ClusterError, project.ProjectViolation) as exc:
            # a 403 (or no service account to impersonate) keeps the app and says why
            status = obj.get("status") or {}
            update = {
                "conditions": conditions(status, [(DELETION_ERROR, exc.message)], keep_others=True)
            }
            await self.writer.status(obj, update)
            self.enqueue(name, DELETION_RETRY_DELAY)
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
    ) -> tuple[Destination, ClusterClient, Callable[[dict[str, Any]], bool]] | None:
        """Where a deleted app's objects are, who deletes them (the project's service account
        when impersonating) and which it may delete: those its project permits (a tracking id
        is only an annotation); without its project, those in its destination namespace."""
        found = self.control.destination_of(obj)
        if found is None:
            return None
        app, entry = found
        dest = await self.destinations.open(entry)
        try:
            proj, proj_obj = self.control.project_of(app)
        except models.InvalidSpecError:
            namespace = app.spec.destination.namespace or ""
            return dest, dest.client, lambda o: (o["metadata"].get("namespace") or "") == namespace
        scope = self._scope(proj_obj, proj, dest)
        user = sync_user(scope, app, obj)
        client = dest.client if user is None else dest.client.as_user(user)
        return dest, client, lambda o: admission.refusal(scope, o) is None


def _trigger_of(
    operation: models.Operation,
    app: models.Application,
    compare: Comparison | None,
    resumed: bool,
) -> str:
    """Why a requested (or resumed) operation runs, for the history."""
    if resumed:
        return "automated" if operation.initiated_by.automated else "manual"
    revision = multisource.operation_revision(operation.sync) or ""
    source = app.spec.source
    targets = {"", "HEAD", source.target_revision if source else ""}
    if compare is not None:
        targets.add(compare.commit)
    return "manual" if revision in targets else "rollback"
