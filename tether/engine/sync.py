"""Execute a sync plan against a cluster, the way Argo CD's sync does.

A sync runs in phases (PreSync → Sync → PostSync), each in waves. Before anything is written the
whole plan is dry-run on the server, so an object the server rejects stops the sync with nothing
applied. Within a wave, prunes run first, then hooks that must be recreated are deleted, then
objects are applied by kind group (Namespaces and CRDs become usable before what depends on them),
concurrently inside a group. The next wave starts once every object of the wave is healthy and
every hook has finished. A failure stops the sync and runs the SyncFail hooks.

Every step gets a result (applied, unchanged, pruned, hook succeeded/failed, failed with the
server's message) and a line in the step log, in execution order.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import (
    AlreadyExists,
    ClusterError,
    Conflict,
    NotFound,
    ServerError,
    TooManyRequests,
    UnknownKind,
    Unreachable,
)
from tether.cluster.tracking import Tracking
from tether.engine.health import HealthStatus, health_of
from tether.engine.masking import scrub
from tether.engine.plan import KIND_ORDER, SyncOptions, SyncPlan, SyncTask
from tether.resources import ResourceKey

log = logging.getLogger(__name__)

FIELD_MANAGER = "tether"
TRANSIENT = (ServerError, TooManyRequests, Unreachable, Conflict)

# result statuses, as Argo CD's syncResult.resources[].status and hookPhase use them
SYNCED = "Synced"
SYNC_FAILED = "SyncFailed"
PRUNED = "Pruned"
PRUNE_SKIPPED = "PruneSkipped"
HOOK_SUCCEEDED = "Succeeded"
HOOK_FAILED = "Failed"
HOOK_RUNNING = "Running"


@dataclass
class StepResult:
    """What happened to one task."""

    key: ResourceKey
    phase: str
    wave: int
    action: str
    status: str
    message: str = ""
    hook_phase: str | None = None
    hook_type: str | None = None
    #: name of the object actually created (hooks with generateName get one from the server)
    name: str | None = None

    def to_argo(self) -> dict[str, Any]:
        """The ``syncResult.resources[]`` entry Argo CD writes for this step."""
        entry: dict[str, Any] = {
            "group": self.key.group,
            "kind": self.key.kind,
            "namespace": self.key.namespace,
            "name": self.name or self.key.name,
            "status": self.status,
            "message": self.message,
            "syncPhase": self.phase,
        }
        if self.hook_type:
            entry["hookType"] = self.hook_type
            entry["hookPhase"] = self.hook_phase
        return entry


@dataclass
class SyncResult:
    """The outcome of a sync: Argo CD's operation phase, a message, every step and the log."""

    phase: str  # Succeeded | Failed | Error | Terminated
    message: str
    steps: list[StepResult] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    finished_at: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.phase == "Succeeded"


class SyncFailure(Exception):
    """Internal: stop the sync after a step failed (the step result carries the reason)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SyncEngine:
    """Applies plans to one cluster through a :class:`ClusterClient`."""

    def __init__(
        self,
        client: ClusterClient,
        *,
        app_name: str | None = None,
        tracking: Tracking | None = None,
        field_manager: str = FIELD_MANAGER,
        health: Callable[[dict[str, Any]], HealthStatus | None] = health_of,
        poll_interval: float = 0.1,
        wave_timeout: float = 300.0,
        wave_delay: float = 0.0,
        concurrency: int = 16,  # within httpx's 20 keep-alive connections: no reconnects
        retries: int = 4,
        admit: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> None:
        """``admit`` sees every object in its final form (namespace as the server scopes it)
        just before it is written, and returns why it may not be, or ``None``."""
        self.client = client
        self.app_name = app_name
        self.tracking = tracking or Tracking()
        self.field_manager = field_manager
        self.health = health
        self.poll_interval = poll_interval
        self.wave_timeout = wave_timeout
        self.wave_delay = wave_delay
        self.retries = retries
        self.admit = admit
        self._limit = asyncio.Semaphore(concurrency)

    # ---- entry point ---------------------------------------------------------------------------

    async def sync(
        self,
        plan: SyncPlan,
        options: SyncOptions | None = None,
        *,
        namespace: str | None = None,
        skip: set[ResourceKey] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> SyncResult:
        """Run ``plan``. ``namespace`` is the destination namespace for objects that name none;
        ``skip`` lists keys already in sync (``ApplyOutOfSyncOnly``)."""
        options = options or SyncOptions()
        result = SyncResult(phase="Running", message="")
        self._result = result
        # the Secrets of this sync: a server may quote them in an error it returns
        self._secrets = [t.obj for t in plan.tasks if t.obj.get("kind") == "Secret"]
        self._cancel = cancel or asyncio.Event()
        self._namespace = namespace
        self._before_rv: dict[int, str | None] = {}
        for key, reason in plan.skipped:
            result.log.append(f"skip {key}: {reason}")
        try:
            if options.create_namespace and namespace:
                await self._ensure_namespace(namespace, options)
            await self._preflight(plan, options)
            if options.dry_run:
                result.phase = "Succeeded"
                result.message = "dry run succeeded: the server accepted every object"
                return self._finish(result)
            for phase in ("PreSync", "Sync", "PostSync"):
                for wave, tasks in plan.waves(phase):
                    if self._cancel.is_set():
                        result.phase = "Terminated"
                        result.message = "sync was cancelled"
                        return self._finish(result)
                    await self._run_wave(phase, wave, tasks, options, skip or set())
                    if self.wave_delay:
                        await asyncio.sleep(self.wave_delay)
            result.phase = "Succeeded"
            result.message = "successfully synced (all tasks run)"
        except SyncFailure as failure:
            result.phase = "Failed"
            result.message = failure.message
            await self._run_sync_fail(plan, options)
        except ClusterError as exc:
            result.phase = "Error"
            result.message = exc.message
            await self._run_sync_fail(plan, options)
        return self._finish(result)

    def _finish(self, result: SyncResult) -> SyncResult:
        result.finished_at = time.time()
        if self._secrets:
            result.message = scrub(result.message, *self._secrets)
            result.log = [scrub(line, *self._secrets) for line in result.log]
            for step in result.steps:
                step.message = scrub(step.message, *self._secrets)
        return result

    def _record(self, step: StepResult, line: str) -> None:
        self._result.steps.append(step)
        self._result.log.append(f"{step.phase} wave {step.wave}: {line}")

    # ---- preparation ---------------------------------------------------------------------------

    async def _prepared(self, task: SyncTask) -> tuple[dict[str, Any], ResourceInfo]:
        """The object to send: the destination namespace filled in for namespaced kinds (and
        none for cluster-scoped ones), stamped with the tracking id that names it."""
        obj = copy.deepcopy(task.obj)
        info = await self._info(obj)
        meta = obj.setdefault("metadata", {})
        if not info.namespaced:
            meta.pop("namespace", None)
        elif self._namespace and not meta.get("namespace"):
            meta["namespace"] = self._namespace
        if self.admit is not None:
            refusal = self.admit(obj)
            if refusal is not None:
                raise ClusterError(refusal, code=403, reason="Forbidden")
        if self.app_name:
            obj = self.tracking.stamp(obj, self.app_name)
        return obj, info

    async def _info(self, obj: dict[str, Any]) -> ResourceInfo:
        try:
            return await self.client.resource_for(
                str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
            )
        except UnknownKind:
            self.client.invalidate_discovery()
            return await self.client.resource_for(
                str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
            )

    async def _ensure_namespace(self, namespace: str, options: SyncOptions) -> None:
        info = await self.client.resource_for("v1", "Namespace")
        try:
            await self.client.get(info, namespace)
            return
        except NotFound:
            pass
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        await self.client.apply(
            info, body, field_manager=self.field_manager, force=True, dry_run=options.dry_run
        )
        self._result.log.append(f"namespace {namespace} created (CreateNamespace=true)")

    async def _preflight(self, plan: SyncPlan, options: SyncOptions) -> None:
        """Dry-run every apply on the server; any rejection fails the sync before a write."""
        crd_kinds = {
            (
                (t.obj.get("spec") or {}).get("group", ""),
                ((t.obj.get("spec") or {}).get("names") or {}).get("kind", ""),
            )
            for t in plan.tasks
            if t.key.kind == "CustomResourceDefinition"
        }
        failures: list[tuple[SyncTask, str]] = []

        async def check(task: SyncTask) -> None:
            if task.action == "prune":
                return
            if (task.key.group, task.key.kind) in crd_kinds or task.option(
                "SkipDryRunOnMissingResource"
            ) == "true":
                return  # its CRD is part of this sync: it cannot be dry-run before it exists
            if task.option("Validate") == "false" or (
                not options.validate and task.action == "apply"
            ):
                return
            try:
                obj, info = await self._prepared(task)
                if task.is_hook and not obj["metadata"].get("name"):
                    async with self._limit:
                        await self.client.create(
                            info, obj, dry_run=True, field_manager=self.field_manager
                        )
                else:
                    async with self._limit:
                        predicted = await self.client.apply(
                            info, obj, field_manager=self.field_manager, force=True, dry_run=True
                        )
                    # a dry-run apply that would create answers without a resourceVersion;
                    # otherwise it carries the live one, which tells "unchanged" after the apply
                    self._before_rv[id(task)] = predicted["metadata"].get("resourceVersion")
            except UnknownKind:
                failures.append(
                    (
                        task,
                        f'the server could not find the requested resource: no matches for kind "{task.key.kind}" in version "{task.obj.get("apiVersion")}"',
                    )
                )
            except ClusterError as exc:
                failures.append((task, exc.message))

        await asyncio.gather(*(check(t) for t in plan.tasks))
        if failures:
            order = {id(t): i for i, t in enumerate(plan.tasks)}
            failures.sort(key=lambda f: order[id(f[0])])
            for task, message in failures:
                self._record(
                    StepResult(
                        task.key,
                        task.phase,
                        task.wave,
                        task.action,
                        SYNC_FAILED,
                        message,
                        hook_type=task.phase if task.is_hook else None,
                    ),
                    f"{_ref(task.key)} rejected by dry run: {message}",
                )
            first = failures[0]
            raise SyncFailure(
                f"one or more objects failed to apply (dry run): {_ref(first[0].key)}: {first[1]}"
            )

    # ---- waves ---------------------------------------------------------------------------------

    async def _run_wave(
        self,
        phase: str,
        wave: int,
        tasks: list[SyncTask],
        options: SyncOptions,
        skip: set[ResourceKey],
    ) -> None:
        prunes = [t for t in tasks if t.action == "prune"]
        hooks = [t for t in tasks if t.is_hook]
        applies = [t for t in tasks if t.action == "apply"]
        await self._gather([self._prune(t, options) for t in prunes])
        await self._gather(
            [
                self._delete_before_creation(t)
                for t in hooks
                if "BeforeHookCreation" in t.delete_policies
            ]
        )
        applied: list[tuple[SyncTask, dict[str, Any]]] = []
        for group in _kind_groups(applies + hooks):
            outcomes = await self._gather([self._apply(t, options, skip) for t in group])
            applied.extend(
                (t, obj) for t, obj in zip(group, outcomes, strict=True) if obj is not None
            )
            if any(t.key.kind == "CustomResourceDefinition" for t in group):
                await self._wait_established(
                    [
                        obj
                        for t, obj in zip(group, outcomes, strict=True)
                        if obj is not None and t.key.kind == "CustomResourceDefinition"
                    ]
                )
        await self._wait_wave(phase, wave, applied)

    async def _gather(self, coros: list[Any]) -> list[Any]:
        """Run steps concurrently; the first SyncFailure (in plan order) wins once all settle."""
        results = await asyncio.gather(*coros, return_exceptions=True)
        for outcome in results:
            if isinstance(outcome, BaseException):
                raise outcome
        return results

    async def _with_retries(self, call: Callable[[], Any]) -> Any:
        delay = 0.2
        for attempt in range(self.retries + 1):
            try:
                return await call()
            except TRANSIENT:
                if attempt == self.retries:
                    raise
                await asyncio.sleep(delay + random.uniform(0, delay / 2))
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    async def _apply(
        self, task: SyncTask, options: SyncOptions, skip: set[ResourceKey]
    ) -> dict[str, Any] | None:
        hook_type = task.phase if task.is_hook else None
        if task.action == "apply" and task.key in skip:
            self._record(
                StepResult(
                    task.key,
                    task.phase,
                    task.wave,
                    task.action,
                    SYNCED,
                    "unchanged (already in sync)",
                ),
                f"{_ref(task.key)} skipped: already in sync",
            )
            return None
        try:
            obj, info = await self._prepared(task)
            ns = obj["metadata"].get("namespace") if info.namespaced else None
            before: dict[str, Any] | None = None
            before_rv: str | None = None
            needs_live = (
                options.fail_on_shared_resource
                or options.replace
                or task.option("Replace") == "true"
            )
            if id(task) in self._before_rv and not needs_live:
                before_rv = self._before_rv[id(task)]
            elif obj["metadata"].get("name"):
                try:
                    before = await self.client.get(info, obj["metadata"]["name"], ns)
                    before_rv = before["metadata"].get("resourceVersion")
                except NotFound:
                    before = None
            if before is not None and options.fail_on_shared_resource and self.app_name:
                owner = self.tracking.owning_app(before)
                if owner and owner != self.app_name:
                    raise ClusterError(
                        f"{_ref(task.key)} is part of application {owner}",
                        code=409,
                        reason="Conflict",
                    )
            async with self._limit:
                if task.is_hook and not obj["metadata"].get("name"):
                    live = await self._with_retries(
                        lambda: self.client.create(info, obj, field_manager=self.field_manager)
                    )
                elif options.replace or task.option("Replace") == "true":
                    live = await self._replace(info, obj, before)
                else:
                    live = await self._with_retries(
                        lambda: self.client.apply(
                            info, obj, field_manager=self.field_manager, force=True
                        )
                    )
        except ClusterError as exc:
            self._record(
                StepResult(
                    task.key,
                    task.phase,
                    task.wave,
                    task.action,
                    SYNC_FAILED,
                    exc.message,
                    HOOK_FAILED if hook_type else None,
                    hook_type,
                ),
                f"{_ref(task.key)} failed: {exc.message}",
            )
            raise SyncFailure(f"{_ref(task.key)}: {exc.message}") from exc
        name = live["metadata"]["name"]
        if before_rv is None:
            verb = "created"
        elif before_rv == live["metadata"].get("resourceVersion"):
            verb = "unchanged"
        else:
            verb = "configured"
        message = f"{_ref_kind(task.key)}/{name} {verb}"
        step = StepResult(
            task.key,
            task.phase,
            task.wave,
            task.action,
            SYNCED,
            message,
            HOOK_RUNNING if hook_type else None,
            hook_type,
            name,
        )
        self._record(step, message)
        self._steps_by_task[id(task)] = step
        return live

    async def _replace(
        self, info: ResourceInfo, obj: dict[str, Any], before: dict[str, Any] | None
    ) -> dict[str, Any]:
        if before is None:
            return await self.client.create(info, obj, field_manager=self.field_manager)
        body = copy.deepcopy(obj)
        body["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"]
        ns = body["metadata"].get("namespace") if info.namespaced else None
        result: dict[str, Any] = await self.client.request(
            "PUT",
            info.path(ns, body["metadata"]["name"]),
            verb="update",
            params={"fieldManager": self.field_manager},
            body=body,
        )
        return result

    async def _prune(self, task: SyncTask, options: SyncOptions) -> None:
        obj = task.obj
        if self.app_name and not self._owned(obj):
            self._record(
                StepResult(
                    task.key,
                    task.phase,
                    task.wave,
                    "prune",
                    PRUNE_SKIPPED,
                    "not managed by this application",
                ),
                f"{_ref(task.key)} not pruned: tracked by another application",
            )
            return
        policies: dict[str, Literal["Foreground", "Background", "Orphan"]] = {
            "foreground": "Foreground",
            "background": "Background",
            "orphan": "Orphan",
        }
        policy = policies.get(options.prune_propagation_policy, "Foreground")
        try:
            info = await self._info(obj)
            ns = obj["metadata"].get("namespace") if info.namespaced else None
            await self._with_retries(
                lambda: self.client.delete(
                    info, obj["metadata"]["name"], ns, propagation_policy=policy
                )
            )
        except NotFound:
            pass
        except ClusterError as exc:
            self._record(
                StepResult(task.key, task.phase, task.wave, "prune", SYNC_FAILED, exc.message),
                f"{_ref(task.key)} prune failed: {exc.message}",
            )
            raise SyncFailure(f"{_ref(task.key)}: {exc.message}") from exc
        self._record(
            StepResult(task.key, task.phase, task.wave, "prune", PRUNED, "pruned"),
            f"{_ref(task.key)} pruned",
        )

    def _owned(self, obj: dict[str, Any]) -> bool:
        owner = self.tracking.owning_app(obj)
        return owner is None or owner == self.app_name

    async def _delete_before_creation(self, task: SyncTask) -> None:
        name = (task.obj.get("metadata") or {}).get("name")
        if not name:
            return
        obj, info = await self._prepared(task)
        ns = obj["metadata"].get("namespace") if info.namespaced else None
        try:
            await self.client.delete(info, name, ns, propagation_policy="Background")
        except NotFound:
            return
        deadline = time.monotonic() + self.wave_timeout
        while time.monotonic() < deadline:
            try:
                await self.client.get(info, name, ns)
            except NotFound:
                self._result.log.append(
                    f"{task.phase} wave {task.wave}: {_ref(task.key)} deleted before creation"
                )
                return
            await asyncio.sleep(self.poll_interval)
        raise SyncFailure(f"{_ref(task.key)}: previous hook object was not deleted in time")

    async def _wait_established(self, crds: list[dict[str, Any]]) -> None:
        info = await self.client.resource_for("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        deadline = time.monotonic() + self.wave_timeout
        for crd in crds:
            while True:
                live = await self.client.get(info, crd["metadata"]["name"])
                conditions = (live.get("status") or {}).get("conditions") or []
                if any(
                    c.get("type") == "Established" and c.get("status") == "True" for c in conditions
                ):
                    break
                if time.monotonic() > deadline:
                    raise SyncFailure(
                        f"CustomResourceDefinition {crd['metadata']['name']} was not established in time"
                    )
                await asyncio.sleep(self.poll_interval)
        self.client.invalidate_discovery()

    async def _wait_wave(
        self, phase: str, wave: int, applied: list[tuple[SyncTask, dict[str, Any]]]
    ) -> None:
        """Wait until every applied object of the wave is healthy and every hook has finished."""
        pending = list(applied)
        deadline = time.monotonic() + self.wave_timeout
        first_pass = True
        while pending:
            if self._cancel.is_set():
                raise SyncFailure(
                    "sync was cancelled while waiting for resources to become healthy"
                )
            still: list[tuple[SyncTask, dict[str, Any]]] = []
            for task, obj in pending:
                if first_pass:
                    # the object the apply answered with is the freshest view there is
                    live: dict[str, Any] | None = obj
                else:
                    info = await self._info(obj)
                    ns = obj["metadata"].get("namespace") if info.namespaced else None
                    try:
                        live = await self.client.get(info, obj["metadata"]["name"], ns)
                    except NotFound:
                        live = None
                if task.is_hook:
                    done = await self._hook_done(task, live)
                    if not done:
                        still.append((task, obj))
                    continue
                status = self.health(live) if live is not None else None
                if status is None or status.status in ("Healthy", "Suspended"):
                    continue
                if status.status == "Degraded":
                    step = self._steps_by_task.get(id(task))
                    if step is not None:
                        step.message = f"{step.message}; health: Degraded: {status.message}"
                    self._result.log.append(
                        f"{phase} wave {wave}: {_ref(task.key)} is Degraded: {status.message}"
                    )
                    raise SyncFailure(f"{_ref(task.key)} is Degraded: {status.message}")
                still.append((task, obj))
            pending = still
            first_pass = False
            if not pending:
                break
            if time.monotonic() > deadline:
                names = ", ".join(_ref(t.key) for t, _ in pending)
                raise SyncFailure(
                    f"timed out after {self.wave_timeout:.0f}s waiting for {names} in {phase} wave {wave}"
                )
            await asyncio.sleep(self.poll_interval)
        self._result.log.append(f"{phase} wave {wave}: healthy")

    async def _hook_done(self, task: SyncTask, live: dict[str, Any] | None) -> bool:
        step = self._steps_by_task.get(id(task))
        if live is None:
            if step is not None and step.hook_phase == HOOK_RUNNING:
                step.hook_phase = HOOK_FAILED
                step.status = SYNC_FAILED
                step.message = f"{step.message}; the hook object was deleted before it finished"
                raise SyncFailure(f"{_ref(task.key)}: hook deleted before it finished")
            return True
        phase, message = hook_phase(live, self.health)
        if phase == HOOK_RUNNING:
            return False
        if step is not None:
            step.hook_phase = phase
            step.message = message or step.message
            if phase == HOOK_FAILED:
                step.status = SYNC_FAILED
        self._result.log.append(
            f"{task.phase} wave {task.wave}: hook {_ref_kind(task.key)}/{live['metadata']['name']} {phase.lower()}"
            + (f": {message}" if message else "")
        )
        policies = task.delete_policies
        if (phase == HOOK_SUCCEEDED and "HookSucceeded" in policies) or (
            phase == HOOK_FAILED and "HookFailed" in policies
        ):
            info = await self._info(live)
            ns = live["metadata"].get("namespace") if info.namespaced else None
            try:
                await self.client.delete(
                    info, live["metadata"]["name"], ns, propagation_policy="Background"
                )
                self._result.log.append(
                    f"{task.phase} wave {task.wave}: hook {_ref_kind(task.key)}/{live['metadata']['name']} deleted ({'HookSucceeded' if phase == HOOK_SUCCEEDED else 'HookFailed'})"
                )
            except NotFound:
                pass
        if phase == HOOK_FAILED:
            raise SyncFailure(
                f"{task.phase} hook {_ref_kind(task.key)}/{live['metadata']['name']} failed: {message}"
            )
        return True

    async def _run_sync_fail(self, plan: SyncPlan, options: SyncOptions) -> None:
        """Run the SyncFail hooks after a failure; their own failure is only logged."""
        for wave, tasks in plan.waves("SyncFail"):
            try:
                await self._gather(
                    [
                        self._delete_before_creation(t)
                        for t in tasks
                        if "BeforeHookCreation" in t.delete_policies
                    ]
                )
                applied = []
                for task in tasks:
                    live = await self._apply(task, options, set())
                    if live is not None:
                        applied.append((task, live))
                await self._wait_wave("SyncFail", wave, applied)
            except (SyncFailure, ClusterError) as exc:
                self._result.log.append(
                    f"SyncFail wave {wave}: {getattr(exc, 'message', str(exc))}"
                )

    @property
    def _steps_by_task(self) -> dict[int, StepResult]:
        store: dict[int, StepResult] = self.__dict__.setdefault("_step_index", {})
        return store


def hook_phase(
    live: dict[str, Any], health: Callable[[dict[str, Any]], HealthStatus | None] = health_of
) -> tuple[str, str]:
    """(Running | Succeeded | Failed, message) of a hook object, as Argo CD judges hooks."""
    kind = live.get("kind")
    status = live.get("status") or {}
    if kind == "Job":
        for cond in status.get("conditions") or []:
            if cond.get("status") != "True":
                continue
            if cond.get("type") == "Complete":
                return HOOK_SUCCEEDED, cond.get("message") or "job completed"
            if cond.get("type") == "Failed":
                return HOOK_FAILED, cond.get("message") or cond.get("reason") or "job failed"
        return HOOK_RUNNING, ""
    if kind == "Pod":
        phase = status.get("phase")
        if phase == "Succeeded":
            return HOOK_SUCCEEDED, "pod completed"
        if phase == "Failed":
            return HOOK_FAILED, status.get("message") or "pod failed"
        return HOOK_RUNNING, ""
    result = health(live)
    if result is None:
        return HOOK_SUCCEEDED, ""
    if result.status == "Healthy":
        return HOOK_SUCCEEDED, result.message
    if result.status == "Degraded":
        return HOOK_FAILED, result.message
    return HOOK_RUNNING, ""


def _kind_groups(tasks: list[SyncTask]) -> list[list[SyncTask]]:
    """Consecutive groups of the same kind rank: each group is applied concurrently."""
    rank = {kind: i for i, kind in enumerate(KIND_ORDER)}
    groups: dict[int, list[SyncTask]] = {}
    for task in tasks:
        groups.setdefault(rank.get(task.key.kind, len(KIND_ORDER)), []).append(task)
    return [groups[r] for r in sorted(groups)]


def _ref_kind(key: ResourceKey) -> str:
    return f"{key.kind.lower()}.{key.group}" if key.group else key.kind.lower()


def _ref(key: ResourceKey) -> str:
    return f"{_ref_kind(key)}/{key.name}"


def generated_suffix() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=5))


__all__ = [
    "FIELD_MANAGER",
    "AlreadyExists",
    "StepResult",
    "SyncEngine",
    "SyncResult",
    "hook_phase",
]
