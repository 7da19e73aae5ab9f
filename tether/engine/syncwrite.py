"""The writes of one sync: dry runs, applies, replaces, prunes and hook deletions.

A :class:`Writer` belongs to one run. Its dry run (:meth:`Writer.preflight`) remembers the
resourceVersion each apply would meet, so the apply can tell ``unchanged`` from ``configured``
without reading the object again.
"""

from __future__ import annotations

import asyncio
import copy
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from tether.cluster.crds import CRD_KIND
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import (
    AlreadyExists,
    ClusterError,
    Conflict,
    Forbidden,
    NotFound,
    ServerError,
    TooManyRequests,
    UnknownKind,
    Unreachable,
)
from tether.engine.plan import SyncOptions, SyncPlan, SyncTask
from tether.engine.syncstate import (
    HOOK_FAILED,
    HOOK_RUNNING,
    PRUNE_SKIPPED,
    PRUNED,
    SYNC_FAILED,
    SYNCED,
    RunRecord,
    StepResult,
    SyncFailure,
    SyncSettings,
    namespace_of,
    ref,
    ref_kind,
)
from tether.resources import ResourceKey

TRANSIENT = (ServerError, TooManyRequests, Unreachable, Conflict)

_PROPAGATION: dict[str, Literal["Foreground", "Background", "Orphan"]] = {
    "foreground": "Foreground",
    "background": "Background",
    "orphan": "Orphan",
}


class Writer:
    """Sends one run's objects to the cluster and records a step for each."""

    def __init__(
        self,
        settings: SyncSettings,
        record: RunRecord,
        options: SyncOptions,
        namespace: str | None,
        skip: frozenset[ResourceKey],
    ) -> None:
        self.settings = settings
        self.client = settings.client
        self.record = record
        self.options = options
        self.namespace = namespace
        self.skip = skip
        #: task id -> the resourceVersion the dry run met (None: the apply creates)
        self._before_rv: dict[int, str | None] = {}
        #: task id -> the object prepared for its dry run, sent again by its write
        self._prepared: dict[int, tuple[dict[str, Any], ResourceInfo]] = {}

    # ---- preparation ---------------------------------------------------------------------------

    async def prepared(self, task: SyncTask) -> tuple[dict[str, Any], ResourceInfo]:
        """The object to send: the destination namespace filled in for namespaced kinds (and
        none for cluster-scoped ones), checked by ``admit``, stamped with its tracking id.
        Made once per task: the write sends the very object its dry run checked."""
        known = self._prepared.get(id(task))
        if known is not None:
            return known
        # only metadata changes here (the stamp below copies deeply): the desired object is
        # shared with the comparison and the render cache, and stays as it is
        obj = {**task.obj, "metadata": dict(task.obj.get("metadata") or {})}
        info = await self.client.resource_for_object(obj)
        meta = obj["metadata"]
        if not info.namespaced:
            meta.pop("namespace", None)
        elif self.namespace and not meta.get("namespace"):
            meta["namespace"] = self.namespace
        if self.settings.admit is not None:
            refusal = self.settings.admit(obj)
            if refusal is not None:
                raise ClusterError(refusal, code=403, reason="Forbidden")
        if self.settings.app_name:
            obj = self.settings.tracking.stamp(obj, self.settings.app_name)
        self._prepared[id(task)] = obj, info
        return obj, info

    async def ensure_namespace(self, namespace: str) -> None:
        """Create the destination namespace unless it exists (``CreateNamespace=true``).

        One request either way: a create that the server answers AlreadyExists leaves an
        existing namespace untouched (no read first, no apply that would take its fields)."""
        info = await self.client.resource_for("v1", "Namespace")
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        try:
            await self.client.create(
                info, body, field_manager=self.settings.field_manager, dry_run=self.options.dry_run
            )
        except AlreadyExists:
            return
        except Forbidden as refused:
            # an identity that may read namespaces but not create them: fine if it exists
            try:
                await self.client.get(info, namespace)
            except NotFound:
                raise refused from None
            return
        self.record.note(f"namespace {namespace} created (CreateNamespace=true)")

    # ---- dry run -------------------------------------------------------------------------------

    async def preflight(self, plan: SyncPlan) -> None:
        """Dry-run every apply on the server; any rejection fails the sync before a write."""
        crd_kinds = _kinds_defined_by(plan.tasks)
        created = _namespaces_created_by(plan.tasks)
        failures: list[tuple[SyncTask, str]] = []

        async def check(task: SyncTask) -> None:
            if not self._dry_runnable(task, crd_kinds):
                return
            try:
                await self._dry_run(task)
            except UnknownKind:
                failures.append(
                    (
                        task,
                        f'the server could not find the requested resource: no matches for kind "{task.key.kind}" in version "{task.obj.get("apiVersion")}"',
                    )
                )
            except NotFound as exc:
                obj, _ = await self.prepared(task)
                # its Namespace is part of this sync: it cannot be dry-run before that exists
                if (obj.get("metadata") or {}).get("namespace") not in created:
                    failures.append((task, exc.message))
            except ClusterError as exc:
                failures.append((task, exc.message))

        await asyncio.gather(*(check(t) for t in plan.tasks))
        if failures:
            self._fail_preflight(plan, failures)

    def _dry_runnable(self, task: SyncTask, crd_kinds: set[tuple[str, str]]) -> bool:
        if task.action == "prune":
            # a delete the identity may not make (a 403) stops the sync before any write
            return not self.settings.app_name or self._owned(task.obj)
        if (task.key.group, task.key.kind) in crd_kinds or task.option(
            "SkipDryRunOnMissingResource"
        ) == "true":
            return False  # its CRD is part of this sync: it cannot be dry-run before it exists
        return not (
            task.option("Validate") == "false"
            or (not self.options.validate and task.action == "apply")
        )

    async def _dry_run(self, task: SyncTask) -> None:
        if task.action == "prune":
            await self._dry_run_prune(task)
            return
        obj, info = await self.prepared(task)
        manager = self.settings.field_manager
        if task.is_hook and not obj["metadata"].get("name"):
            async with self.settings.limit:
                await self.client.create(info, obj, dry_run=True, field_manager=manager)
            return
        async with self.settings.limit:
            predicted = await self.client.apply(
                info, obj, field_manager=manager, force=True, dry_run=True
            )
        # a dry-run apply that would create answers without a resourceVersion; otherwise it
        # carries the live one, which tells "unchanged" after the apply
        self._before_rv[id(task)] = predicted["metadata"].get("resourceVersion")

    async def _dry_run_prune(self, task: SyncTask) -> None:
        obj = task.obj
        info = await self.client.resource_for_object(obj)
        async with self.settings.limit:
            try:
                await self.client.delete(
                    info, obj["metadata"]["name"], namespace_of(obj, info), dry_run=True
                )
            except NotFound:
                pass  # gone already: the prune will find nothing to do

    def _fail_preflight(self, plan: SyncPlan, failures: list[tuple[SyncTask, str]]) -> None:
        order = {id(t): i for i, t in enumerate(plan.tasks)}
        failures.sort(key=lambda f: order[id(f[0])])
        for task, message in failures:
            self.record.record(
                StepResult.of(
                    task, SYNC_FAILED, message, hook_type=task.phase if task.is_hook else None
                ),
                f"{ref(task.key)} rejected by dry run: {message}",
            )
        first = failures[0]
        raise SyncFailure(
            f"one or more objects failed to apply (dry run): {ref(first[0].key)}: {first[1]}"
        )

    # ---- applies -------------------------------------------------------------------------------

    async def apply(self, task: SyncTask) -> dict[str, Any] | None:
        """Apply (or create, or replace) one task's object; the live object it answered with,
        or ``None`` for an object skipped as already in sync."""
        hook_type = task.phase if task.is_hook else None
        if task.action == "apply" and task.key in self.skip:
            self.record.record(
                StepResult.of(task, SYNCED, "unchanged (already in sync)"),
                f"{ref(task.key)} skipped: already in sync",
            )
            return None
        try:
            live, before_rv = await self._write(task)
        except ClusterError as exc:
            self.record.record(
                StepResult.of(
                    task,
                    SYNC_FAILED,
                    exc.message,
                    hook_phase=HOOK_FAILED if hook_type else None,
                    hook_type=hook_type,
                ),
                f"{ref(task.key)} failed: {exc.message}",
            )
            raise SyncFailure(f"{ref(task.key)}: {exc.message}") from exc
        if self.settings.written is not None:
            self.settings.written(live)
        name = live["metadata"]["name"]
        if before_rv is None:
            verb = "created"
        elif before_rv == live["metadata"].get("resourceVersion"):
            verb = "unchanged"
        else:
            verb = "configured"
        message = f"{ref_kind(task.key)}/{name} {verb}"
        step = StepResult.of(
            task,
            SYNCED,
            message,
            hook_phase=HOOK_RUNNING if hook_type else None,
            hook_type=hook_type,
            name=name,
        )
        self.record.record(step, message, task)
        return live

    async def _write(self, task: SyncTask) -> tuple[dict[str, Any], str | None]:
        """(live object after the write, resourceVersion before it or None when created)."""
        obj, info = await self.prepared(task)
        replace = self.options.replace or task.option("Replace") == "true"
        needs_live = self.options.fail_on_shared_resource or replace
        before: dict[str, Any] | None = None
        before_rv: str | None = None
        if id(task) in self._before_rv and not needs_live:
            before_rv = self._before_rv[id(task)]
        elif obj["metadata"].get("name"):
            try:
                before = await self.client.get(
                    info, obj["metadata"]["name"], namespace_of(obj, info)
                )
                before_rv = before["metadata"].get("resourceVersion")
            except NotFound:
                before = None
        if before is not None:
            self._check_shared(task, before)
        manager = self.settings.field_manager
        async with self.settings.limit:
            if task.is_hook and not obj["metadata"].get("name"):
                live = await self._with_retries(
                    lambda: self.client.create(info, obj, field_manager=manager)
                )
            elif replace:
                live = await self._replace(info, obj, before)
            else:
                live = await self._with_retries(
                    lambda: self.client.apply(info, obj, field_manager=manager, force=True)
                )
        return live, before_rv

    def _check_shared(self, task: SyncTask, before: dict[str, Any]) -> None:
        """``FailOnSharedResource``: refuse an object another application tracks."""
        app = self.settings.app_name
        if not (self.options.fail_on_shared_resource and app):
            return
        owner = self.settings.tracking.owning_app(before)
        if owner and owner != app:
            raise ClusterError(
                f"{ref(task.key)} is part of application {owner}", code=409, reason="Conflict"
            )

    async def _replace(
        self, info: ResourceInfo, obj: dict[str, Any], before: dict[str, Any] | None
    ) -> dict[str, Any]:
        if before is None:
            return await self.client.create(info, obj, field_manager=self.settings.field_manager)
        body = copy.deepcopy(obj)
        # conditional on the version read: a change meanwhile is a Conflict, not overwritten
        body["metadata"]["resourceVersion"] = before["metadata"]["resourceVersion"]
        return await self.client.replace(
            info, body, namespace_of(body, info), field_manager=self.settings.field_manager
        )

    async def _with_retries(self, call: Callable[[], Awaitable[Any]]) -> Any:
        delay = 0.2
        for attempt in range(self.settings.retries + 1):
            try:
                return await call()
            except TRANSIENT:
                if attempt == self.settings.retries:
                    raise
                await asyncio.sleep(delay + random.uniform(0, delay / 2))
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    # ---- deletions -----------------------------------------------------------------------------

    async def prune(self, task: SyncTask) -> None:
        """Delete one live object that left Git (never one another application tracks)."""
        obj = task.obj
        if self.settings.app_name and not self._owned(obj):
            self.record.record(
                StepResult.of(task, PRUNE_SKIPPED, "not managed by this application"),
                f"{ref(task.key)} not pruned: tracked by another application",
            )
            return
        policy = _PROPAGATION.get(self.options.prune_propagation_policy, "Foreground")
        try:
            info = await self.client.resource_for_object(obj)
            await self._with_retries(
                lambda: self.client.delete(
                    info,
                    obj["metadata"]["name"],
                    namespace_of(obj, info),
                    propagation_policy=policy,
                )
            )
        except NotFound:
            pass
        except ClusterError as exc:
            self.record.record(
                StepResult.of(task, SYNC_FAILED, exc.message),
                f"{ref(task.key)} prune failed: {exc.message}",
            )
            raise SyncFailure(f"{ref(task.key)}: {exc.message}") from exc
        self.record.record(StepResult.of(task, PRUNED, "pruned"), f"{ref(task.key)} pruned")

    def _owned(self, obj: dict[str, Any]) -> bool:
        owner = self.settings.tracking.owning_app(obj)
        return owner is None or owner == self.settings.app_name

    async def delete_before_creation(self, task: SyncTask) -> None:
        """``BeforeHookCreation``: delete a named hook's previous object and wait until it is
        gone, so the hook runs afresh."""
        name = (task.obj.get("metadata") or {}).get("name")
        if not name:
            return
        obj, info = await self.prepared(task)
        ns = namespace_of(obj, info)
        try:
            await self.client.delete(info, name, ns, propagation_policy="Background")
        except NotFound:
            return
        deadline = time.monotonic() + self.settings.wave_timeout
        while time.monotonic() < deadline:
            try:
                await self.client.get(info, name, ns)
            except NotFound:
                self.record.note(
                    f"{task.phase} wave {task.wave}: {ref(task.key)} deleted before creation"
                )
                return
            await asyncio.sleep(self.settings.poll_interval)
        raise SyncFailure(f"{ref(task.key)}: previous hook object was not deleted in time")


def _namespaces_created_by(tasks: list[SyncTask]) -> set[str]:
    """The Namespaces among ``tasks`` (their objects' dry runs need them to exist first)."""
    return {t.key.name for t in tasks if t.key.group == "" and t.key.kind == "Namespace"}


def _kinds_defined_by(tasks: list[SyncTask]) -> set[tuple[str, str]]:
    """(group, kind) of every custom resource whose CRD is among ``tasks``."""
    kinds = set()
    for task in tasks:
        if task.key.kind != CRD_KIND:
            continue
        spec = task.obj.get("spec") or {}
        kinds.add((spec.get("group", ""), (spec.get("names") or {}).get("kind", "")))
    return kinds
