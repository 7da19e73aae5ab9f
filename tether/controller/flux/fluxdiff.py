"""What applying a Kustomization's build would change, as ``flux diff kustomization`` shows it.

Each built object (those Flux would apply) is read live and compared on Tether's engine
(:func:`tether.engine.diff.compare`: a local check, then a server-side apply dry run with
kustomize-controller's field manager, as the Kustomization's identity); with ``prune``, what the
last inventory holds and the build no longer has is listed as deleted. Secret values are masked
in every diff. The controller answers it for the API; ``tether flux diff`` for a local folder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound, UnknownKind
from tether.controller.flux import inputs
from tether.engine.diff import ClusterDryRunner, ResourceDiff, SyncStatus, compare
from tether.names import FLUX_KUSTOMIZE_FIELD_MANAGER
from tether.resources import ResourceKey

READS_AT_ONCE = 8
#: objects compared at most (an inventory holds at most that many in practice)
MAX_OBJECTS = 5000


class DiffError(Exception):
    """The comparison could not be made; the message says why."""


async def read_live(
    client: ClusterClient, objects: Sequence[Mapping[str, Any]]
) -> dict[ResourceKey, dict[str, Any]]:
    """The live object of each of ``objects`` that exists, by key."""
    gate = asyncio.Semaphore(READS_AT_ONCE)
    found: dict[ResourceKey, dict[str, Any]] = {}

    async def read(obj: Mapping[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        async with gate:
            try:
                info = await client.resource_for(str(obj.get("apiVersion")), str(obj.get("kind")))
                found[ResourceKey.of(obj)] = await client.get(
                    info, str(meta.get("name")), meta.get("namespace") if info.namespaced else None
                )
            except (NotFound, UnknownKind):
                return
            except ClusterError as exc:
                raise DiffError(f"{obj.get('kind')}/{meta.get('name')}: {exc.message}") from None

    await asyncio.gather(*(read(o) for o in objects))
    return found


async def diff_build(
    client: ClusterClient,
    objects: Sequence[dict[str, Any]],
    status: Mapping[str, Any],
    namespace: str,
    name: str,
    *,
    prune: bool,
) -> list[ResourceDiff]:
    """The objects that differ (changed, to create, to delete), in build order."""
    desired = inputs.applied(objects)
    if len(desired) > MAX_OBJECTS:
        raise DiffError(f"the build has more than {MAX_OBJECTS} objects")
    live = await read_live(client, desired)
    stale: list[dict[str, Any]] = []
    if prune:
        try:
            keys = [ResourceKey.of(o) for o in desired]
            stale = await inputs.stale_objects(client, status, keys, namespace, name)
        except ValueError as exc:
            raise DiffError(str(exc)) from None
    live.update({ResourceKey.of(o): o for o in stale})
    runner = ClusterDryRunner(client, field_manager=FLUX_KUSTOMIZE_FIELD_MANAGER)
    result = await compare(
        desired,
        live,
        [ResourceKey.of(o) for o in stale],
        (),
        runner,
        field_manager=FLUX_KUSTOMIZE_FIELD_MANAGER,
    )
    return result.out_of_sync


def describe(diffs: Sequence[ResourceDiff]) -> list[dict[str, Any]]:
    """The differences as the API answers them (diffs masked)."""
    action = {
        SyncStatus.MISSING: "created",
        SyncStatus.EXTRANEOUS: "deleted",
        SyncStatus.OUT_OF_SYNC: "drifted",
    }
    return [
        {
            "group": d.key.group,
            "kind": d.key.kind,
            "namespace": d.key.namespace,
            "name": d.key.name,
            "action": action.get(d.status, "unknown"),
            "diff": d.diff,
            **({"error": d.error} if d.error else {}),
        }
        for d in diffs
    ]
