"""Sync an application to a cluster, the way Argo CD's sync does.

:meth:`SyncEngine.run` takes a :class:`~tether.engine.syncrequest.SyncRequest` (plain data) and
owns the whole sync: the selection of a partial sync, prune candidates, RespectIgnoreDifferences,
ApplyOutOfSyncOnly, leaving hooks out of a partial sync, planning and execution.

A sync runs in phases (PreSync → Sync → PostSync), each in waves. Before anything is written the
whole plan is dry-run on the server, so an object the server rejects stops the sync with nothing
applied. Within a wave, prunes run first, then hooks that must be recreated are deleted, then
objects are applied by kind group (Namespaces and CRDs become usable before what depends on them),
concurrently inside a group. The next wave starts once every object of the wave is healthy and
every hook has finished. A failure stops the sync and runs the SyncFail hooks.

Every step gets a result (applied, unchanged, pruned, hook succeeded/failed, failed with the
server's message) and a line in the step log, in execution order. Every sync is a
:class:`~tether.engine.syncrun.SyncRun` of its own: one engine runs any number at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Collection
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import AlreadyExists
from tether.cluster.tracking import Tracking
from tether.engine.errors import IgnoreRuleError
from tether.engine.health import health_of
from tether.engine.plan import PlanError, SyncOptions, SyncPlan
from tether.engine.syncrequest import (
    SyncRequest,
    keys_to_skip,
    live_lookup,
    plan_request,
    selected_desired,
    with_live_ignored_values,
)
from tether.engine.syncrun import SyncRun
from tether.engine.syncstate import (
    PHASE_FAILED,
    Admit,
    Health,
    RunRecord,
    StepResult,
    SyncResult,
    SyncSettings,
    secrets_of,
)
from tether.engine.syncwait import hook_phase
from tether.names import CONTROLLER_FIELD_MANAGER
from tether.resources import ResourceKey


class SyncEngine:
    """Syncs to one cluster through a :class:`ClusterClient`; keeps no state of any sync."""

    def __init__(
        self,
        client: ClusterClient,
        *,
        app_name: str | None = None,
        tracking: Tracking | None = None,
        field_manager: str = CONTROLLER_FIELD_MANAGER,
        health: Health = health_of,
        poll_interval: float = 0.1,
        wave_timeout: float = 300.0,
        wave_delay: float = 0.0,
        concurrency: int = 16,  # within httpx's 20 keep-alive connections: no reconnects
        retries: int = 4,
        admit: Admit | None = None,
    ) -> None:
        """``app_name`` is the application every write is tracked as (a request may name its
        own). ``admit`` sees every object in its final form (namespace as the server scopes it)
        just before it is written, and returns why it may not be, or ``None``. ``concurrency``
        bounds the requests in flight for all the engine's syncs together."""
        self.settings = SyncSettings(
            client=client,
            app_name=app_name,
            tracking=tracking or Tracking(),
            field_manager=field_manager,
            health=health,
            poll_interval=poll_interval,
            wave_timeout=wave_timeout,
            wave_delay=wave_delay,
            retries=retries,
            admit=admit,
            limit=asyncio.Semaphore(concurrency),
        )

    @property
    def client(self) -> ClusterClient:
        return self.settings.client

    @property
    def tracking(self) -> Tracking:
        """How the engine marks what it writes (bench/engine.py stamps objects with it)."""
        return self.settings.tracking

    @property
    def app_name(self) -> str | None:
        return self.settings.app_name

    async def run(self, request: SyncRequest) -> SyncResult:
        """Sync ``request``: select, find prune candidates, keep ignored live values, plan and
        execute. A request that cannot be planned (an unreadable annotation, a failing ignore
        rule) ends ``Failed`` with the reason, as a step that fails does; a cluster error that
        stops the sync ends it ``Error``."""
        desired = selected_desired(request.desired, request.resources)
        try:
            if request.options.respect_ignore_differences:
                lookup, rules = live_lookup(request), list(request.ignore_rules)
                # jq runs in bounded workers; waiting on them stays off the event loop
                desired = await asyncio.to_thread(with_live_ignored_values, desired, lookup, rules)
            plan = plan_request(request, desired)
        except (PlanError, IgnoreRuleError) as exc:
            return RunRecord(secrets_of(desired)).finish(PHASE_FAILED, exc.message)
        settings = dataclasses.replace(
            self.settings,
            app_name=request.app_name or self.settings.app_name,
            admit=_both(self.settings.admit, request.admit),
            written=request.written or self.settings.written,
        )
        sync_run = SyncRun(
            settings,
            plan,
            request.options,
            namespace=request.namespace,
            skip=keys_to_skip(request.options, request.in_sync),
            cancel=request.cancel,
        )
        return await sync_run.execute()

    async def sync(
        self,
        plan: SyncPlan,
        options: SyncOptions | None = None,
        *,
        namespace: str | None = None,
        skip: Collection[ResourceKey] | None = None,
        cancel: asyncio.Event | None = None,
    ) -> SyncResult:
        """Run an already made ``plan`` (the entry point before :meth:`run`, kept until every
        caller uses it). ``namespace`` is the destination namespace for objects that name none;
        ``skip`` lists keys already in sync (``ApplyOutOfSyncOnly``)."""
        sync_run = SyncRun(
            self.settings,
            plan,
            options or SyncOptions(),
            namespace=namespace,
            skip=skip or (),
            cancel=cancel,
        )
        return await sync_run.execute()


def _both(first: Admit | None, second: Admit | None) -> Admit | None:
    """One check refusing what either refuses."""
    if first is None or second is None:
        return first or second

    def admit(obj: dict[str, Any]) -> str | None:
        refusal = first(obj)
        return refusal if refusal is not None else second(obj)

    return admit


__all__ = [
    "AlreadyExists",
    "StepResult",
    "SyncEngine",
    "SyncRequest",
    "SyncResult",
    "hook_phase",
]
