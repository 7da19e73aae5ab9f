"""The comparison of one Application: desired objects and live ones in, a typed result out.

:func:`compare_app` gathers what the engine needs (the live objects from the destination's
cache, the dry-run runner) and asks the engine's diff; :func:`assess` turns the diff into what
Argo CD reports per resource (sync word, health, pruning) and for the whole app, purely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tether.controller.destinations import Destination, kinds_of, live_view
from tether.controller.status import OUT_OF_SYNC, SYNCED, UNKNOWN, sync_word
from tether.engine import diff as diffing
from tether.engine.health import HealthCustomizations, HealthStatus, aggregate, app_health_of
from tether.engine.ignore import IgnoreRule
from tether.engine.plan import hook_info
from tether.resources import ResourceKey


@dataclass(frozen=True)
class Comparison:
    """What one comparison found, ready for the status and the auto-sync decision."""

    commit: str
    tool: str
    diff: diffing.AppDiff
    #: the desired objects without hooks (hooks run in syncs; they are not compared)
    desired: list[dict[str, Any]]
    #: Synced, OutOfSync, or Unknown when some resource could not be compared
    sync_status: str
    health: HealthStatus
    #: keys of the live objects tracked as the app's
    tracked: list[ResourceKey]
    #: ``status.resources`` entries, sorted as Argo CD sorts them
    resources: list[dict[str, Any]] = field(default_factory=list)
    #: what makes a ComparisonError: unknown kinds, resources that could not be compared
    problems: list[str] = field(default_factory=list)


def _entry(
    res: diffing.ResourceDiff, api_version: str, health: HealthStatus | None
) -> dict[str, Any]:
    key = res.key
    entry: dict[str, Any] = {
        **({"group": key.group} if key.group else {}),
        "version": api_version.rpartition("/")[2],
        "kind": key.kind,
        **({"namespace": key.namespace} if key.namespace else {}),
        "name": key.name,
        "status": sync_word(res.status),
    }
    if res.status == diffing.SyncStatus.EXTRANEOUS:
        entry["requiresPruning"] = True
    if health is not None:
        entry["health"] = {
            "status": health.status,
            **({"message": health.message} if health.message else {}),
        }
    return entry


def assess(
    result: diffing.AppDiff,
    live: dict[ResourceKey, dict[str, Any]],
    desired: list[dict[str, Any]],
    customizations: HealthCustomizations | None,
) -> tuple[list[dict[str, Any]], HealthStatus, list[str]]:
    """``status.resources`` entries, the app's health (extraneous objects do not count) and the
    per-resource errors, from a diff."""
    by_key = {ResourceKey.of(d): d for d in desired}
    entries = []
    healths: list[HealthStatus | None] = []
    for res in result.resources:
        live_obj = live.get(res.key)
        desired_obj = by_key.get(res.key)
        health = (
            app_health_of(live_obj, customizations=customizations)
            if live_obj is not None or desired_obj is not None
            else None
        )
        if res.status != diffing.SyncStatus.EXTRANEOUS:
            healths.append(health)
        api_version = str((desired_obj or live_obj or {}).get("apiVersion", "v1"))
        entries.append(_entry(res, api_version, health))
    entries.sort(key=lambda r: (r.get("group", ""), r["kind"], r.get("namespace", ""), r["name"]))
    errors = [f"{res.key}: {res.error}" for res in result.resources if res.error]
    return entries, aggregate(healths), errors


async def compare_app(
    name: str,
    commit: str,
    tool: str,
    rendered: list[dict[str, Any]],
    dest: Destination,
    *,
    status_resources: list[dict[str, Any]],
    keep_live: Callable[[dict[str, Any]], bool],
    rules: list[IgnoreRule],
    customizations: HealthCustomizations | None,
    field_manager: str,
) -> Comparison:
    """Compare the app's rendered objects with the destination's live ones.

    ``keep_live`` decides which objects tracked as the app's are its own (not hooks, within its
    project); ``status_resources`` (the last status) keeps objects that left Git followed.
    """
    desired = [d for d in rendered if not hook_info(d)[0]]
    unknown = await dest.follow(kinds_of(desired, status_resources))
    live, tracked = live_view(desired, dest.cache.get, dest.cache.objects_of(name), keep_live)
    result = await diffing.compare(
        desired,
        live,
        tracked,
        rules,
        diffing.ClusterDryRunner(dest.client, field_manager=field_manager),
        cache=dest.dry_runs,
        field_manager=field_manager,
    )
    resources, health, errors = assess(result, live, desired, customizations)
    problems = [f"the server could not find the requested resource: {u}" for u in unknown]
    problems += errors
    if errors:
        sync = UNKNOWN
    else:
        sync = SYNCED if result.status == diffing.SyncStatus.SYNCED else OUT_OF_SYNC
    return Comparison(commit, tool, result, desired, sync, health, tracked, resources, problems)
