"""One run of a sync plan: phases, waves, kind groups, and the SyncFail hooks after a failure.

A :class:`SyncRun` is made for every sync and holds everything that belongs to it (its result,
the step of each task, the resourceVersions its dry run met, its cancel event), so one
:class:`~tether.engine.sync.SyncEngine` can run any number of syncs at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection
from typing import Any

from tether.cluster.crds import CRD_KIND
from tether.cluster.errors import ClusterError
from tether.engine.plan import (
    SYNC_FAIL_PHASE,
    SYNC_PHASES,
    SyncOptions,
    SyncPlan,
    SyncTask,
    kind_rank,
)
from tether.engine.syncstate import (
    PHASE_ERROR,
    PHASE_FAILED,
    PHASE_SUCCEEDED,
    PHASE_TERMINATED,
    RunRecord,
    SyncFailure,
    SyncResult,
    SyncSettings,
    secrets_of,
)
from tether.engine.syncwait import Applied, Waiter
from tether.engine.syncwrite import Writer
from tether.resources import ResourceKey


class SyncRun:
    """Executes one plan once; make a new one for every sync."""

    def __init__(
        self,
        settings: SyncSettings,
        plan: SyncPlan,
        options: SyncOptions,
        *,
        namespace: str | None = None,
        skip: Collection[ResourceKey] = (),
        cancel: asyncio.Event | None = None,
    ) -> None:
        """``namespace`` is the destination for objects that name none; ``skip`` lists keys
        already in sync, whose applies are left out; ``cancel`` stops the run between waves."""
        self.settings = settings
        self.plan = plan
        self.options = options
        self.namespace = namespace
        self.cancel = cancel or asyncio.Event()
        self.record = RunRecord(secrets_of([t.obj for t in plan.tasks]))
        self.writer = Writer(settings, self.record, options, namespace, frozenset(skip))
        self.waiter = Waiter(settings, self.record, self.cancel)

    async def execute(self) -> SyncResult:
        """Run the plan; the result says how it ended (never raises for a cluster's refusal)."""
        for key, reason in self.plan.skipped:
            self.record.note(f"skip {key}: {reason}")
        try:
            phase, message = await self._run_phases()
        except SyncFailure as failure:
            await self._run_sync_fail()
            return self.record.finish(PHASE_FAILED, failure.message)
        except ClusterError as exc:
            await self._run_sync_fail()
            return self.record.finish(PHASE_ERROR, exc.message)
        return self.record.finish(phase, message)

    async def _run_phases(self) -> tuple[str, str]:
        if self.options.create_namespace and self.namespace:
            await self.writer.ensure_namespace(self.namespace)
        await self.writer.preflight(self.plan)
        if self.options.dry_run:
            return PHASE_SUCCEEDED, "dry run succeeded: the server accepted every object"
        waves = [(p, w, tasks) for p in SYNC_PHASES for w, tasks in self.plan.waves(p)]
        for index, (phase, wave, tasks) in enumerate(waves):
            if self.cancel.is_set():
                return PHASE_TERMINATED, "sync was cancelled"
            # gitops-engine's rule: the last wave of plain resources is an (asynchronous) apply
            # that succeeds at once; health is the comparison's to report, and the sync's slot
            # is not held while a Deployment rolls out
            final = index == len(waves) - 1 and not any(t.is_hook for t in tasks)
            await self._run_wave(phase, wave, tasks, wait=not final)
            if self.settings.wave_delay:
                await asyncio.sleep(self.settings.wave_delay)
        return PHASE_SUCCEEDED, "successfully synced (all tasks run)"

    async def _run_wave(
        self, phase: str, wave: int, tasks: list[SyncTask], *, wait: bool = True
    ) -> None:
        """Prunes first, then hooks to recreate are deleted, then applies by kind group (a CRD
        group waits for its CRDs to serve), then (unless ``wait`` is off) the wait for the wave
        to be healthy."""
        hooks = [t for t in tasks if t.is_hook]
        applies = [t for t in tasks if t.action == "apply"]
        await _gather([self.writer.prune(t) for t in tasks if t.action == "prune"])
        await self._delete_hooks_before_creation(hooks)
        applied: Applied = []
        for group in _kind_groups(applies + hooks):
            outcomes = await _gather([self.writer.apply(t) for t in group])
            done = [(t, o) for t, o in zip(group, outcomes, strict=True) if o is not None]
            applied.extend(done)
            if any(t.key.kind == CRD_KIND for t in group):
                await self.waiter.wait_established([o for t, o in done if t.key.kind == CRD_KIND])
        if wait:
            await self.waiter.wait_wave(phase, wave, applied)
        else:
            self.record.note(f"{phase} wave {wave}: applied (last wave: health not awaited)")

    async def _delete_hooks_before_creation(self, hooks: list[SyncTask]) -> None:
        await _gather(
            [
                self.writer.delete_before_creation(t)
                for t in hooks
                if "BeforeHookCreation" in t.delete_policies
            ]
        )

    async def _run_sync_fail(self) -> None:
        """Run the SyncFail hooks after a failure; their own failure is only logged."""
        for wave, tasks in self.plan.waves(SYNC_FAIL_PHASE):
            try:
                await self._delete_hooks_before_creation(tasks)
                applied: Applied = []
                for task in tasks:
                    live = await self.writer.apply(task)
                    if live is not None:
                        applied.append((task, live))
                await self.waiter.wait_wave(SYNC_FAIL_PHASE, wave, applied)
            except (SyncFailure, ClusterError) as exc:
                self.record.note(f"{SYNC_FAIL_PHASE} wave {wave}: {exc.message}")


async def _gather(coros: list[Awaitable[Any]]) -> list[Any]:
    """Run steps concurrently; the first failure (in plan order) wins once all settle."""
    results = await asyncio.gather(*coros, return_exceptions=True)
    for outcome in results:
        if isinstance(outcome, BaseException):
            raise outcome
    return results


def _kind_groups(tasks: list[SyncTask]) -> list[list[SyncTask]]:
    """Groups of the same kind rank, in rank order: each group is applied concurrently."""
    groups: dict[int, list[SyncTask]] = {}
    for task in tasks:
        groups.setdefault(kind_rank(task.key.kind), []).append(task)
    return [groups[r] for r in sorted(groups)]
