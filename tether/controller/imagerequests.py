"""Asking for image automation from a process that does not run it (a server replica, a
replica without shard 0, the CLI through the API): Flux's ``reconcile.fluxcd.io/requestedAt``
annotation on the objects (:mod:`tether.cluster.reconcilerequest`), which the replica that runs
it follows."""

from __future__ import annotations

from datetime import UTC, datetime

from tether.cluster.client import ClusterClient
from tether.cluster.reconcilerequest import annotate_requested
from tether.images.events import RegistryEvent, concerns
from tether.names import (
    FLUX_IMAGE_API_VERSION,
    IMAGE_POLICY,
    IMAGE_REPOSITORY,
    IMAGE_UPDATE_AUTOMATION,
)

REPOSITORY, POLICY, AUTOMATION = "repository", "policy", "automation"
#: the Flux kind of each
KINDS = {REPOSITORY: IMAGE_REPOSITORY, POLICY: IMAGE_POLICY, AUTOMATION: IMAGE_UPDATE_AUTOMATION}


async def request_reconcile(
    client: ClusterClient, namespace: str, kind: str, names: list[str], field_manager: str
) -> list[str]:
    """Ask for a run of ``kind`` objects through Flux's ``reconcile.fluxcd.io/requestedAt``
    annotation (from a process that does not run image automation: a server replica, a replica
    without shard 0, the CLI); returns the names annotated (those that exist)."""
    info = await client.resource_for(FLUX_IMAGE_API_VERSION, KINDS[kind])
    stamp = datetime.now(UTC).isoformat()
    return await annotate_requested(client, info, namespace, names, stamp, field_manager)


async def repositories_of_event(
    client: ClusterClient, namespace: str, event: RegistryEvent
) -> list[str]:
    """The ImageRepositories of ``namespace`` whose image a registry event names (listed from
    the cluster: for a process that does not follow them)."""
    info = await client.resource_for(FLUX_IMAGE_API_VERSION, IMAGE_REPOSITORY)
    listing = await client.list(info, namespace)
    return sorted(
        obj["metadata"]["name"]
        for obj in listing.items
        if isinstance(image := (obj.get("spec") or {}).get("image"), str) and concerns(event, image)
    )
