"""What a Kustomization's build and prune read from the cluster, fetched before the build (plain
data between the parts): ``postBuild`` variables, SOPS identities, and the objects of the last
inventory that are still there and still carry its ownership labels."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound, UnknownKind
from tether.cluster.secretdata import decoded
from tether.flux.specs import KustomizationSpec
from tether.flux.status import inventory_keys
from tether.flux.substitute import VarSource, collect_variables
from tether.names import (
    FLUX_KUSTOMIZATION_NAME_LABEL,
    FLUX_KUSTOMIZATION_NAMESPACE_LABEL,
    FLUX_PRUNE_KEY,
    FLUX_RECONCILE_KEY,
    FLUX_SSA_KEY,
)
from tether.resources import ResourceKey
from tether.secrets.sops import SopsError, SopsKeys

DISABLED = "disabled"


class InputError(Exception):
    """An input of the build is missing or unreadable; the message is Flux-shaped."""


async def variables(
    client: ClusterClient, namespace: str, spec: KustomizationSpec
) -> dict[str, str] | None:
    """The ``postBuild`` variables (None without ``postBuild``)."""
    if not spec.post_build:
        return None
    sources = []
    for entry in spec.substitute_from:
        info = await client.resource_for("v1", entry.kind)
        try:
            obj = await client.get(info, entry.name, namespace)
        except NotFound:
            sources.append(VarSource(entry.kind, entry.name, entry.optional, None))
            continue
        except ClusterError as exc:
            raise InputError(f"{entry.kind} '{namespace}/{entry.name}': {exc.message}") from None
        data = decoded(obj) if entry.kind == "Secret" else dict(obj.get("data") or {})
        sources.append(VarSource(entry.kind, entry.name, entry.optional, data))
    return collect_variables(dict(spec.substitute), sources)


async def decryption_keys(
    client: ClusterClient, namespace: str, spec: KustomizationSpec
) -> SopsKeys | None:
    """The age identities of ``spec.decryption.secretRef`` (in the Kustomization's namespace,
    as Flux reads them)."""
    if not spec.decrypt or not spec.decryption_secret:
        return None
    info = await client.resource_for("v1", "Secret")
    try:
        secret = await client.get(info, spec.decryption_secret, namespace)
    except NotFound:
        raise InputError(
            f"decryption secret '{namespace}/{spec.decryption_secret}' not found"
        ) from None
    except ClusterError as exc:
        raise InputError(f"decryption secret: {exc.message}") from None
    try:
        return SopsKeys.from_secret(secret)
    except SopsError as exc:
        raise InputError(
            f"decryption secret '{namespace}/{spec.decryption_secret}': {exc}"
        ) from None


def disabled(obj: Mapping[str, Any], key: str) -> bool:
    """A label or annotation ``key`` with the value ``disabled`` (any case), as Flux reads its
    opt-outs."""
    meta = obj.get("metadata") or {}
    for field in ("labels", "annotations"):
        value = (meta.get(field) or {}).get(key)
        if isinstance(value, str) and value.lower() == DISABLED:
            return True
    return False


def ssa_policy(obj: Mapping[str, Any]) -> str:
    """``kustomize.toolkit.fluxcd.io/ssa`` (lower case): override (default), merge,
    ifnotpresent or ignore."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(FLUX_SSA_KEY) or "override").lower()


def applied(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The built objects Flux applies: not those marked ``reconcile: disabled`` or
    ``ssa: Ignore``."""
    return [
        obj
        for obj in objects
        if not disabled(obj, FLUX_RECONCILE_KEY) and ssa_policy(obj) != "ignore"
    ]


def owned_by(obj: Mapping[str, Any], namespace: str, name: str) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return (
        labels.get(FLUX_KUSTOMIZATION_NAME_LABEL) == name
        and labels.get(FLUX_KUSTOMIZATION_NAMESPACE_LABEL) == namespace
    )


async def stale_objects(
    client: ClusterClient,
    status: Mapping[str, Any],
    desired: Iterable[ResourceKey],
    namespace: str,
    name: str,
) -> list[dict[str, Any]]:
    """The live objects of the last inventory that the new build no longer has, still labelled
    as this Kustomization's and not opted out of pruning: what ``prune`` deletes."""
    keep = set(desired)
    gone = [(key, version) for key, version in inventory_keys(status) if key not in keep]

    async def live(key: ResourceKey, version: str) -> dict[str, Any] | None:
        api_version = f"{key.group}/{version}" if key.group else version
        try:
            info = await client.resource_for(api_version, key.kind)
            return await client.get(info, key.name, key.namespace or None)
        except (NotFound, UnknownKind):
            return None

    found = await asyncio.gather(*(live(key, version) for key, version in gone))
    return [
        obj
        for obj in found
        if obj is not None
        and owned_by(obj, namespace, name)
        and not disabled(obj, FLUX_PRUNE_KEY)
        and not disabled(obj, FLUX_RECONCILE_KEY)
    ]
