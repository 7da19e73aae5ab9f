"""Deleting an Application with Argo CD's resources finalizer deletes what it deployed first.

``resources-finalizer.argocd.argoproj.io`` deletes the app's objects in the foreground (its
``/background`` variant in the background); objects marked ``Delete=false`` outlive the app. The
finalizer is removed once none of the app's objects is left.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from tether.cluster.client import ClusterClient
from tether.cluster.errors import NotFound
from tether.controller.destinations import Destination
from tether.engine.plan import resource_options
from tether.names import BACKGROUND_RESOURCES_FINALIZER, RESOURCES_FINALIZER


def our_finalizers(obj: dict[str, Any]) -> list[str]:
    """The resources finalizers on the Application (foreground or background)."""
    return [f for f in obj["metadata"].get("finalizers") or [] if f.startswith(RESOURCES_FINALIZER)]


def _outlives(obj: dict[str, Any]) -> bool:
    return resource_options(obj).get("Delete") == "false"


async def delete_resources(
    name: str,
    dest: Destination,
    client: ClusterClient,
    finalizers: list[str],
    may_delete: Callable[[dict[str, Any]], bool],
) -> bool:
    """Delete, through ``client`` (the destination's, or its impersonating view), the objects of
    app ``name`` that ``may_delete`` allows (its project's); returns whether all of them are
    gone. A refusal of the cluster (a 403) raises its :class:`ClusterError`."""
    policy: Literal["Background", "Foreground"] = (
        "Background" if BACKGROUND_RESOURCES_FINALIZER in finalizers else "Foreground"
    )
    for live in dest.cache.objects_of(name):
        if live["metadata"].get("deletionTimestamp") or _outlives(live) or not may_delete(live):
            continue
        try:
            info = await client.resource_for(live.get("apiVersion", ""), live.get("kind", ""))
            ns = live["metadata"].get("namespace") if info.namespaced else None
            await client.delete(info, live["metadata"]["name"], ns, propagation_policy=policy)
        except NotFound:
            continue
    left = [o for o in dest.cache.objects_of(name) if not _outlives(o) and may_delete(o)]
    return not left


def without_finalizers(obj: dict[str, Any], finalizers: list[str]) -> dict[str, Any]:
    """The merge patch removing ``finalizers`` (guarded by the resourceVersion read)."""
    keep = [f for f in obj["metadata"].get("finalizers") or [] if f not in finalizers]
    return {
        "metadata": {
            "finalizers": keep or None,
            "resourceVersion": obj["metadata"]["resourceVersion"],
        }
    }
