"""What a sync is asked to do, and the pure rules that turn the request into a plan.

The caller hands the engine plain data (a :class:`SyncRequest`), as gitops-engine's
``NewSyncContext(..., WithResourcesFilter, WithPrune, WithSkipHooks, ...)`` takes its options:
the desired objects, the application's tracked live objects, the selection of a partial sync,
the ignore rules, the keys the last comparison found Synced. The rules here decide, without a
cluster, what is applied, what is pruned, what is skipped as already in sync and whether hooks run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from tether.engine.diff import respect_ignore_differences
from tether.engine.ignore import IgnoreRule
from tether.engine.plan import SyncOptions, SyncPlan, hook_info, plan_sync
from tether.engine.syncstate import Admit, Written
from tether.resources import ResourceKey

#: the live object of a key, tracked by the application or not (the live cache's ``get``)
LiveLookup = Callable[[ResourceKey], dict[str, Any] | None]
#: one selected resource: (group, kind, namespace, name); namespace "" selects any namespace
Selection = Collection[tuple[str, str, str, str]]


@dataclass(frozen=True)
class SyncRequest:
    """One sync, as plain data.

    ``desired``: the rendered objects (already checked against the project as a whole).
    ``live``: the application's tracked live objects; prune candidates come from these only
    (pass none when the application was never compared, so nothing is pruned).
    ``options``: the Application's and the operation's sync options (``prune`` and ``dry_run``
    included). ``resources``: the selection of a partial sync, ``None`` (or empty) for all.
    ``ignore_rules``: the ignoreDifferences rules, used with ``RespectIgnoreDifferences=true``.
    ``in_sync``: keys the last comparison found Synced, skipped with ``ApplyOutOfSyncOnly=true``.
    ``namespace``: the destination namespace for namespaced objects that name none.
    ``admit``: the project's check of one object (the reason it is refused, or ``None``), for
    prune candidates and for every write. ``cancel``: set to stop the sync between waves.
    ``app_name``: the application whose tracking id every write carries (default: the engine's).
    ``skip_hooks``: run no hooks (a partial sync never runs any).
    ``live_of``: where ``RespectIgnoreDifferences`` finds the live object of a desired one
    (default: among ``live``). ``written``: sees each live object a write answered with, so a
    live cache holds what the sync wrote before its watch brings it.
    """

    desired: Sequence[dict[str, Any]]
    live: Sequence[dict[str, Any]] = ()
    options: SyncOptions = field(default_factory=SyncOptions)
    resources: Selection | None = None
    ignore_rules: Sequence[IgnoreRule] = ()
    in_sync: Collection[ResourceKey] = frozenset()
    namespace: str | None = None
    admit: Admit | None = None
    cancel: asyncio.Event | None = None
    app_name: str | None = None
    skip_hooks: bool = False
    live_of: LiveLookup | None = None
    written: Written | None = None

    @property
    def partial(self) -> bool:
        """Whether only selected resources are synced."""
        return bool(self.resources)


def _selection(resources: Selection | None) -> set[tuple[str, ...]] | None:
    return {tuple(r) for r in resources} if resources else None


def selected_desired(
    desired: Sequence[dict[str, Any]], resources: Selection | None
) -> list[dict[str, Any]]:
    """The desired objects a partial sync selects (all without a selection). A selected
    resource without a namespace selects its group, kind and name in any namespace."""
    selected = _selection(resources)
    if selected is None:
        return list(desired)
    out = []
    for obj in desired:
        key = ResourceKey.of(obj)
        if tuple(key) in selected or (key.group, key.kind, "", key.name) in selected:
            out.append(obj)
    return out


def prune_candidates(
    live: Sequence[dict[str, Any]],
    desired: Sequence[dict[str, Any]],
    resources: Selection | None = None,
    admit: Admit | None = None,
) -> list[dict[str, Any]]:
    """The tracked live objects a sync may prune: not desired, not a hook (hooks go by their
    delete policies), not owned by another object, selected by a partial sync (by exact key),
    and admitted by the project (a tracking id is only an annotation: never delete outside it)."""
    selected = _selection(resources)
    desired_keys = {ResourceKey.of(d) for d in desired}
    out = []
    for obj in live:
        if hook_info(obj)[0]:
            continue
        key = ResourceKey.of(obj)
        if key in desired_keys or (obj.get("metadata") or {}).get("ownerReferences"):
            continue
        if selected is not None and tuple(key) not in selected:
            continue
        if admit is not None and admit(obj) is not None:
            continue
        out.append(obj)
    return out


def keys_to_skip(options: SyncOptions, in_sync: Collection[ResourceKey]) -> frozenset[ResourceKey]:
    """The keys whose applies are left out: those already Synced, with ``ApplyOutOfSyncOnly``."""
    return frozenset(in_sync) if options.apply_out_of_sync_only else frozenset()


def with_live_ignored_values(
    desired: Sequence[dict[str, Any]], live_of: LiveLookup, rules: Sequence[IgnoreRule]
) -> list[dict[str, Any]]:
    """``RespectIgnoreDifferences``: each desired object with the live values at its ignored
    places. Blocks on jq workers (run it off the event loop); raises IgnoreRuleError."""
    return [respect_ignore_differences(d, live_of(ResourceKey.of(d)), rules) for d in desired]


def live_lookup(request: SyncRequest) -> LiveLookup:
    """The request's ``live_of``, or a lookup among its ``live`` objects."""
    if request.live_of is not None:
        return request.live_of
    by_key = {ResourceKey.of(o): o for o in request.live}
    return by_key.get


def plan_request(request: SyncRequest, desired: Sequence[dict[str, Any]]) -> SyncPlan:
    """The plan for ``desired`` (the request's selected, prepared objects) and the request's
    prune candidates; hooks left out of a partial sync. Raises PlanError."""
    prune = prune_candidates(request.live, desired, request.resources, request.admit)
    plan = plan_sync(list(desired), prune, request.options)
    return plan.without_hooks() if request.partial or request.skip_hooks else plan
