"""Flux's Kustomizations, HelmReleases and their sources in the REST API, beside Applications.

``GET /api/v1/flux``: every Kustomization, HelmRelease, GitRepository, HelmRepository,
OCIRepository, ArtifactGenerator and ExternalArtifact the caller may ``get``, summarised (Ready, reason, message, revision, suspended, source, dependsOn,
inventory size or chart).
``GET /api/v1/flux/kustomizations/{namespace}/{name}``: one, with its resource tree: each object
of its inventory, read live, with its health (Tether's health checks).
``GET /api/v1/flux/kustomizations/{namespace}/{name}/diff``: what applying its current revision
would change (drifted, created, deleted objects with masked unified diffs).
``GET /api/v1/flux/helmreleases/{namespace}/{name}``: one, with its history of revisions (as
``helm history`` lists them) and the tree of what its deployed revision's manifest holds.
``POST /api/v1/flux/{kind}/{namespace}/{name}/reconcile``: ``reconcile.fluxcd.io/requestedAt``,
as ``flux reconcile`` sets it.

RBAC: Tether's resource ``flux``, objects ``<kind>/<namespace>/<name>`` (kind
``kustomizations``, ``helmreleases``, ``gitrepositories``, ``helmrepositories``,
``ocirepositories``, ``artifactgenerators`` or ``externalartifacts``); ``get`` to read, ``update`` to ask for a reconcile.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound, UnknownKind
from tether.cluster.reconcilerequest import annotate_requested
from tether.controller.face import FluxDiffError
from tether.engine.health import health_of
from tether.flux.helmstorage import StorageError, history, manifest_keys
from tether.flux.status import InventoryError, inventory_keys
from tether.names import (
    FLUX_ARTIFACT_GENERATOR,
    FLUX_EXTERNAL_ARTIFACT,
    FLUX_GENERATOR_API_VERSION,
    FLUX_GIT_REPOSITORY,
    FLUX_HELM_API_VERSION,
    FLUX_HELM_RELEASE,
    FLUX_HELM_REPOSITORY,
    FLUX_KUSTOMIZATION,
    FLUX_KUSTOMIZE_API_VERSION,
    FLUX_OCI_REPOSITORY,
    FLUX_SOURCE_API_VERSION,
)
from tether.resources import ResourceKey
from tether.safeyaml import YamlError
from tether.server.errors import BadRequest, ConflictError, NotFoundError
from tether.server.http import JSONResponse, check_name
from tether.server.state import Context

RBAC_RESOURCE = "flux"
KINDS = {
    "kustomizations": (FLUX_KUSTOMIZE_API_VERSION, FLUX_KUSTOMIZATION),
    "helmreleases": (FLUX_HELM_API_VERSION, FLUX_HELM_RELEASE),
    "gitrepositories": (FLUX_SOURCE_API_VERSION, FLUX_GIT_REPOSITORY),
    "helmrepositories": (FLUX_SOURCE_API_VERSION, FLUX_HELM_REPOSITORY),
    "ocirepositories": (FLUX_SOURCE_API_VERSION, FLUX_OCI_REPOSITORY),
    "artifactgenerators": (FLUX_GENERATOR_API_VERSION, FLUX_ARTIFACT_GENERATOR),
    "externalartifacts": (FLUX_SOURCE_API_VERSION, FLUX_EXTERNAL_ARTIFACT),
}
#: the live objects of one tree read at once, and in all
TREE_READS_AT_ONCE = 16
MAX_TREE = 1000


def _ready(obj: dict[str, Any]) -> dict[str, Any]:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition
    return {}


def summary(plural: str, obj: dict[str, Any]) -> dict[str, Any]:
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    ready = _ready(obj)
    item: dict[str, Any] = {
        "kind": plural,
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "ready": ready.get("status", "Unknown"),
        "reason": ready.get("reason", ""),
        "message": ready.get("message", ""),
        "suspended": bool(spec.get("suspend")),
    }
    if plural == "kustomizations":
        item["revision"] = status.get("lastAppliedRevision", "")
        item["source"] = spec.get("sourceRef") or {}
        item["path"] = spec.get("path", "")
        item["dependsOn"] = spec.get("dependsOn") or []
        item["inventory"] = len((status.get("inventory") or {}).get("entries") or [])
    elif plural == "helmreleases":
        chart = (spec.get("chart") or {}).get("spec") or {}
        item["revision"] = status.get("lastAttemptedRevision", "")
        item["chart"] = {k: chart.get(k) for k in ("chart", "version", "sourceRef")}
        item["dependsOn"] = spec.get("dependsOn") or []
        latest = (status.get("history") or [{}])[0]
        item["release"] = {k: latest.get(k) for k in ("name", "namespace", "version", "status")}
        if spec.get("chartRef"):
            item["chart"] = {"chartRef": spec["chartRef"]}
    elif plural == "artifactgenerators":
        item["revision"] = ""
        item["sources"] = spec.get("sources") or []
        item["artifacts"] = [
            a.get("name") for a in status.get("inventory") or () if isinstance(a, dict)
        ]
    else:
        item["revision"] = (status.get("artifact") or {}).get("revision", "")
        item["url"] = spec.get("url", "")
    return item


def _rbac_object(plural: str, namespace: str, name: str) -> str:
    return f"{plural}/{namespace}/{name}"


async def _objects(client: ClusterClient, plural: str) -> list[dict[str, Any]]:
    api_version, kind = KINDS[plural]
    try:
        info = await client.resource_for(api_version, kind)
        return list((await client.list(info, None)).items)
    except (UnknownKind, ClusterError):
        return []  # not served, or not readable by this server: nothing to show


async def list_flux(ctx: Context) -> JSONResponse:
    client = ctx.state.controller.client
    policy = ctx.state.policy()
    held = policy.roles_of(ctx.caller.subjects)
    items = []
    for plural in KINDS:
        for obj in await _objects(client, plural):
            meta = obj["metadata"]
            target = _rbac_object(plural, meta.get("namespace", ""), meta.get("name", ""))
            if policy.allowed_for_roles(held, RBAC_RESOURCE, "get", target):
                items.append(summary(plural, obj))
    return JSONResponse({"items": items})


def _target(ctx: Context) -> tuple[str, str, str]:
    plural = ctx.request.path_params.get("kind", "kustomizations")
    if plural not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
    namespace = check_name(ctx.request.path_params["namespace"], "namespace")
    name = check_name(ctx.request.path_params["name"], f"{KINDS[plural][1]} name")
    return plural, namespace, name


async def _get(client: ClusterClient, plural: str, namespace: str, name: str) -> dict[str, Any]:
    api_version, kind = KINDS[plural]
    try:
        info = await client.resource_for(api_version, kind)
        return await client.get(info, name, namespace)
    except (UnknownKind, NotFound):
        raise NotFoundError(f"{kind} {namespace}/{name} not found") from None


async def get_kustomization(ctx: Context) -> JSONResponse:
    plural, namespace, name = _target(ctx)
    ctx.state.enforce(ctx.caller, RBAC_RESOURCE, "get", _rbac_object(plural, namespace, name))
    client = ctx.state.controller.client
    obj = await _get(client, plural, namespace, name)
    item = summary(plural, obj)
    item["conditions"] = (obj.get("status") or {}).get("conditions") or []
    item["history"] = (obj.get("status") or {}).get("history") or []
    try:
        entries = inventory_keys(obj.get("status") or {})[:MAX_TREE]
    except InventoryError as exc:
        item["tree"], item["treeError"] = [], str(exc)
        return JSONResponse(item)
    item["tree"] = await _tree(client, entries)
    return JSONResponse(item)


async def diff_kustomization(ctx: Context) -> JSONResponse:
    """What applying the Kustomization's current revision would change (the controller builds
    it and asks the API server, applying nothing)."""
    namespace = check_name(ctx.request.path_params["namespace"], "namespace")
    name = check_name(ctx.request.path_params["name"], "Kustomization name")
    target = _rbac_object("kustomizations", namespace, name)
    ctx.state.enforce(ctx.caller, RBAC_RESOURCE, "get", target)
    try:
        resources = await ctx.state.controller.flux_diff(namespace, name)
    except FluxDiffError as exc:
        raise ConflictError(exc.message) from None
    if resources is None:
        raise NotFoundError(f"Kustomization {namespace}/{name} not found")
    return JSONResponse({"resources": resources})


async def get_helm_release(ctx: Context) -> JSONResponse:
    namespace = check_name(ctx.request.path_params["namespace"], "namespace")
    name = check_name(ctx.request.path_params["name"], "HelmRelease name")
    ctx.state.enforce(
        ctx.caller, RBAC_RESOURCE, "get", _rbac_object("helmreleases", namespace, name)
    )
    client = ctx.state.controller.client
    obj = await _get(client, "helmreleases", namespace, name)
    item = summary("helmreleases", obj)
    status = obj.get("status") or {}
    item["conditions"] = status.get("conditions") or []
    release = item["release"]
    if not release.get("name"):
        item["history"], item["tree"] = [], []
        return JSONResponse(item)
    try:
        revisions = await _revisions(client, str(status.get("storageNamespace") or namespace),
                                     str(release["name"]))  # fmt: skip
    except (ClusterError, StorageError) as exc:
        item["history"], item["tree"] = [], []
        item["treeError"] = getattr(exc, "message", None) or str(exc)
        return JSONResponse(item)
    item["history"] = [
        {"revision": r.version, "status": r.status, "chart": f"{r.chart_name}-{r.chart_version}",
         "appVersion": r.app_version, "updated": r.last_deployed, "description": r.description}
        for r in revisions
    ]  # fmt: skip
    deployed = next((r for r in revisions if r.status == "deployed"), None)
    try:
        entries = (
            manifest_keys(deployed.manifest, str(release.get("namespace") or namespace))
            if deployed
            else []
        )
    except YamlError as exc:
        item["tree"], item["treeError"] = [], exc.message
        return JSONResponse(item)
    item["tree"] = await _tree(client, entries[:MAX_TREE])
    return JSONResponse(item)


async def _revisions(client: ClusterClient, namespace: str, release: str) -> list[Any]:
    info = await client.resource_for("v1", "Secret")
    found = await client.list(info, namespace, label_selector=f"owner=helm,name={release}")
    return history(found.items)


async def _tree(
    client: ClusterClient, entries: list[tuple[ResourceKey, str]]
) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(TREE_READS_AT_ONCE)

    async def node(key: ResourceKey, version: str) -> dict[str, Any]:
        api_version = f"{key.group}/{version}" if key.group else version
        found: dict[str, Any] = {
            "group": key.group,
            "version": version,
            "kind": key.kind,
            "namespace": key.namespace,
            "name": key.name,
        }
        async with gate:
            try:
                info = await client.resource_for(api_version, key.kind)
                if not info.namespaced:
                    found["namespace"] = ""
                live = await client.get(
                    info, key.name, (key.namespace or None) if info.namespaced else None
                )
            except (NotFound, UnknownKind):
                live = None
            except ClusterError as exc:
                found["error"] = exc.message
                return found
        health = health_of(live)
        found["exists"] = live is not None
        if health is not None:
            found["health"] = health.to_dict()
        return found

    return list(await asyncio.gather(*(node(k, v) for k, v in entries)))


async def reconcile_flux(ctx: Context) -> JSONResponse:
    plural, namespace, name = _target(ctx)
    ctx.state.enforce(ctx.caller, RBAC_RESOURCE, "update", _rbac_object(plural, namespace, name))
    client = ctx.state.controller.client
    api_version, kind = KINDS[plural]
    await _get(client, plural, namespace, name)
    requested = datetime.now(UTC).isoformat()
    info = await client.resource_for(api_version, kind)
    if not await annotate_requested(client, info, namespace, [name], requested, "tether-server"):
        raise NotFoundError(f"{kind} {namespace}/{name} not found")
    return JSONResponse({"requestedAt": requested})
