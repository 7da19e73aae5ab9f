"""A Kustomization's finalizer and ``spec.deletionPolicy``, as kustomize-controller has them.

Every Kustomization gets Flux's finalizer (``finalizers.fluxcd.io``) at its first reconcile.
When it is deleted, what its last inventory holds and still carries its ownership labels is
deleted with it: under ``MirrorPrune`` (the default) when ``prune`` is on and it is not
suspended, under ``Delete`` always, under ``WaitForTermination`` always and the finalizer stays
until the objects are gone; ``Orphan`` leaves them. Objects marked
``kustomize.toolkit.fluxcd.io/prune: disabled`` stay, as when pruning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import ClusterError, Conflict, NotFound
from tether.controller.finalizers import without_finalizers
from tether.controller.flux import inputs
from tether.controller.flux.reconcile import tenant_user
from tether.controller.flux.remote import RemoteClusters, RemoteError
from tether.fields import InvalidSpecError
from tether.flux.specs import KustomizationSpec, parse_kustomization

FINALIZER = "finalizers.fluxcd.io"
#: how soon a WaitForTermination deletion looks again while objects are going
TERMINATION_POLL = 2.0
#: how soon a deletion the API server refused is tried again
RETRY = 30.0


def needs_finalizer(obj: Mapping[str, Any]) -> bool:
    meta = obj.get("metadata") or {}
    return not meta.get("deletionTimestamp") and FINALIZER not in (meta.get("finalizers") or ())


async def add_finalizer(
    client: ClusterClient, info: ResourceInfo, obj: dict[str, Any]
) -> dict[str, Any]:
    """The object with Flux's finalizer added (guarded by its resourceVersion)."""
    meta = obj["metadata"]
    patch = {
        "metadata": {
            "finalizers": [*(meta.get("finalizers") or []), FINALIZER],
            "resourceVersion": meta["resourceVersion"],
        }
    }
    return await client.patch(info, meta["name"], patch, meta["namespace"])


def _deletes(spec: KustomizationSpec) -> bool:
    if spec.deletion_policy == "Orphan":
        return False
    if spec.deletion_policy == "MirrorPrune":
        return spec.prune and not spec.suspend
    return True


async def finalize(
    client: ClusterClient,
    info: ResourceInfo,
    obj: dict[str, Any],
    remotes: RemoteClusters | None = None,
) -> float | None:
    """Carry out the deletion policy of a Kustomization being deleted; None once its finalizer
    is removed, else the seconds after which to look again."""
    meta = obj["metadata"]
    if FINALIZER not in (meta.get("finalizers") or ()):
        return None
    namespace, name = meta["namespace"], meta["name"]
    try:
        spec = parse_kustomization(obj.get("spec"), namespace)
    except InvalidSpecError:
        spec = None  # nothing can be carried out: the object goes, what it made stays
    if spec is not None and _deletes(spec):
        writer = client
        if spec.kube_config is not None and remotes is not None:
            try:
                writer = (await remotes.remote(namespace, spec.kube_config)).client
            except RemoteError:
                return RETRY  # the other cluster cannot be reached: tried again later
        user = tenant_user(namespace, spec.service_account)
        if user:
            writer = writer.as_user(user)
        try:
            left = await inputs.stale_objects(writer, obj.get("status") or {}, (), namespace, name)
            for live in left:
                await _delete(writer, live)
        except ClusterError:
            return RETRY  # a refusal or an outage: the finalizer stays, tried again later
        if spec.deletion_policy == "WaitForTermination" and left:
            return TERMINATION_POLL
    try:
        await client.patch(info, name, without_finalizers(obj, [FINALIZER]), namespace)
    except Conflict:
        return 0.2  # changed meanwhile: read again
    except NotFound:
        return None  # gone already
    return None


async def _delete(client: ClusterClient, live: Mapping[str, Any]) -> None:
    meta = live.get("metadata") or {}
    try:
        info = await client.resource_for(str(live.get("apiVersion")), str(live.get("kind")))
        await client.delete(
            info, str(meta.get("name")), meta.get("namespace"), propagation_policy="Background"
        )
    except NotFound:
        return  # gone already: nothing to delete
