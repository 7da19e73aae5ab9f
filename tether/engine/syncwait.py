"""Waiting inside one sync: until a wave is healthy, its hooks have finished, its CRDs serve.

A :class:`Waiter` belongs to one run. The first look at a wave uses the objects the applies
answered with (the freshest view there is); later looks read them again every
``poll_interval``, up to ``wave_timeout``. A Degraded object or a failed hook fails the sync.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tether.cluster.crds import wait_established
from tether.cluster.errors import NotEstablished, NotFound
from tether.engine.health import health_of
from tether.engine.plan import SyncTask
from tether.engine.syncstate import (
    HOOK_FAILED,
    HOOK_RUNNING,
    HOOK_SUCCEEDED,
    SYNC_FAILED,
    Health,
    RunRecord,
    SyncFailure,
    SyncSettings,
    namespace_of,
    ref,
    ref_kind,
)

Applied = list[tuple[SyncTask, dict[str, Any]]]


class Waiter:
    """Waits for one run's waves, hooks and CRDs."""

    def __init__(self, settings: SyncSettings, record: RunRecord, cancel: asyncio.Event) -> None:
        self.settings = settings
        self.client = settings.client
        self.record = record
        self.cancel = cancel

    async def wait_wave(self, phase: str, wave: int, applied: Applied) -> None:
        """Wait until every applied object of the wave is healthy and every hook has finished."""
        pending = list(applied)
        deadline = time.monotonic() + self.settings.wave_timeout
        first_pass = True
        while pending:
            if self.cancel.is_set():
                raise SyncFailure(
                    "sync was cancelled while waiting for resources to become healthy"
                )
            still: Applied = []
            for task, obj in pending:
                # the object the apply answered with is the freshest view there is
                live = obj if first_pass else await self._read(obj)
                if not await self._settled(phase, wave, task, live):
                    still.append((task, obj))
            pending = still
            first_pass = False
            if not pending:
                break
            if time.monotonic() > deadline:
                names = ", ".join(ref(t.key) for t, _ in pending)
                raise SyncFailure(
                    f"timed out after {self.settings.wave_timeout:.0f}s waiting for {names} in {phase} wave {wave}"
                )
            await asyncio.sleep(self.settings.poll_interval)
        self.record.note(f"{phase} wave {wave}: healthy")

    async def _read(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        info = await self.client.resource_for_object(obj)
        try:
            return await self.client.get(info, obj["metadata"]["name"], namespace_of(obj, info))
        except NotFound:
            return None

    async def _settled(
        self, phase: str, wave: int, task: SyncTask, live: dict[str, Any] | None
    ) -> bool:
        """Whether ``task`` needs no more waiting; raises when it failed."""
        if task.is_hook:
            return await self.hook_done(task, live)
        status = self.settings.health(live) if live is not None else None
        if status is None or status.status in ("Healthy", "Suspended"):
            return True
        if status.status == "Degraded":
            step = self.record.step_of(task)
            if step is not None:
                step.message = f"{step.message}; health: Degraded: {status.message}"
            self.record.note(f"{phase} wave {wave}: {ref(task.key)} is Degraded: {status.message}")
            raise SyncFailure(f"{ref(task.key)} is Degraded: {status.message}")
        return False

    async def hook_done(self, task: SyncTask, live: dict[str, Any] | None) -> bool:
        """Whether a hook has finished; records its outcome, applies its delete policy, and
        raises when it failed or its object vanished while it ran."""
        step = self.record.step_of(task)
        if live is None:
            if step is not None and step.hook_phase == HOOK_RUNNING:
                step.hook_phase = HOOK_FAILED
                step.status = SYNC_FAILED
                step.message = f"{step.message}; the hook object was deleted before it finished"
                raise SyncFailure(f"{ref(task.key)}: hook deleted before it finished")
            return True
        phase, message = hook_phase(live, self.settings.health)
        if phase == HOOK_RUNNING:
            return False
        if step is not None:
            step.hook_phase = phase
            step.message = message or step.message
            if phase == HOOK_FAILED:
                step.status = SYNC_FAILED
        name = f"{ref_kind(task.key)}/{live['metadata']['name']}"
        self.record.note(
            f"{task.phase} wave {task.wave}: hook {name} {phase.lower()}"
            + (f": {message}" if message else "")
        )
        await self._apply_delete_policy(task, live, phase)
        if phase == HOOK_FAILED:
            raise SyncFailure(f"{task.phase} hook {name} failed: {message}")
        return True

    async def _apply_delete_policy(self, task: SyncTask, live: dict[str, Any], phase: str) -> None:
        policy = "HookSucceeded" if phase == HOOK_SUCCEEDED else "HookFailed"
        if policy not in task.delete_policies:
            return
        info = await self.client.resource_for_object(live)
        name = live["metadata"]["name"]
        try:
            await self.client.delete(
                info, name, namespace_of(live, info), propagation_policy="Background"
            )
        except NotFound:
            return
        self.record.note(
            f"{task.phase} wave {task.wave}: hook {ref_kind(task.key)}/{name} deleted ({policy})"
        )

    async def wait_established(self, crds: list[dict[str, Any]]) -> None:
        """Wait until every CRD in ``crds`` is Established (discovery is refreshed after)."""
        try:
            await wait_established(
                self.client,
                [crd["metadata"]["name"] for crd in crds],
                self.settings.wave_timeout,
                poll_interval=self.settings.poll_interval,
            )
        except NotEstablished as exc:
            # a CRD that never serves fails the sync, as an unhealthy object of the wave does
            raise SyncFailure(exc.message) from exc


def hook_phase(live: dict[str, Any], health: Health = health_of) -> tuple[str, str]:
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
