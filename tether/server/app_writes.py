"""Create, change and delete Applications.

Writes go through the cluster client of the controller's face with the field manager
``tether-server``; each written object is handed to the controller at once
(`ControllerFace.remember_application`) so that the next read sees it. Bodies are checked
completely before anything is written.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import AlreadyExists, ClusterError, Conflict
from tether.controller import models
from tether.names import (
    APPLICATION,
    ARGO_API_VERSION,
    DEFAULT_PROJECT,
    RESOURCES_FINALIZER,
    SERVER_FIELD_MANAGER,
)
from tether.server.errors import BadRequest, ConflictError, cluster_error
from tether.server.http import JSONResponse, check_fields, check_name, query_bool, read_json, typed
from tether.server.state import Context, app_object, project_of

SPEC_FIELDS = (
    "source",
    "sources",
    "destination",
    "project",
    "syncPolicy",
    "ignoreDifferences",
    "info",
    "revisionHistoryLimit",
    "sourceHydrator",
)
# status is accepted (a `get -o yaml` sent back) and ignored: the controller owns it
APP_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")
METADATA_FIELDS = ("name", "namespace", "labels", "annotations", "finalizers")
# set by the API server; accepted in a body sent back unchanged, never written from it
SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
)
#: metadata a request may set (any other is the API server's or ignored)
WRITTEN_METADATA = ("labels", "annotations", "finalizers")


async def application_info(ctx: Context) -> ResourceInfo:
    """The Application resource type of the control cluster."""
    return await ctx.state.controller.client.resource_for(ARGO_API_VERSION, APPLICATION)


def remember(ctx: Context, obj: dict[str, Any]) -> None:
    """Put a written Application in the controller's view at once (the watch event follows),
    so the next read of this client sees its own write."""
    ctx.state.controller.remember_application(obj)


# ---- checking a body ----------------------------------------------------------------------------


def _check_metadata(body: dict[str, Any]) -> dict[str, Any]:
    meta = body.get("metadata")
    if not isinstance(meta, dict):
        raise BadRequest("metadata must be an object with a name")
    check_fields(meta, (*METADATA_FIELDS, *SERVER_METADATA), "metadata")
    name = typed(meta, "name", str, "metadata.")
    if not name:
        raise BadRequest("metadata.name is required")
    check_name(name, "metadata.name")
    for key in ("labels", "annotations"):
        value = typed(meta, key, dict, "metadata.")
        if value is not None and not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise BadRequest(f"metadata.{key} must map strings to strings")
    finalizers = typed(meta, "finalizers", list, "metadata.")
    if finalizers is not None and not all(isinstance(f, str) for f in finalizers):
        raise BadRequest("metadata.finalizers must be a list of strings")
    return meta


async def _check_application_body(body: dict[str, Any]) -> dict[str, Any]:
    """Validate an Application from a request; return the metadata to write.

    The spec is parsed off the event loop: it compiles the jq expressions of ignoreDifferences
    in a bounded worker, which may take up to its compile limit for a hostile one."""
    check_fields(body, APP_FIELDS, "the Application")
    if body.get("apiVersion") not in (None, ARGO_API_VERSION):
        raise BadRequest(f"apiVersion must be {ARGO_API_VERSION}")
    if body.get("kind") not in (None, APPLICATION):
        raise BadRequest(f"kind must be {APPLICATION}")
    meta = _check_metadata(body)
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise BadRequest("spec must be an object")
    check_fields(spec, SPEC_FIELDS, "spec")
    try:
        await asyncio.to_thread(models.parse_spec, spec)
    except models.InvalidSpecError as exc:
        raise BadRequest(exc.message) from None
    return meta


def _check_project_exists(ctx: Context, project: str) -> None:
    if project not in ctx.state.projects():
        raise BadRequest(f"application references project {project} which does not exist")


def _app_document(ctx: Context, body: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    out_meta: dict[str, Any] = {"name": meta["name"], "namespace": ctx.state.namespace}
    for key in WRITTEN_METADATA:
        if meta.get(key):
            out_meta[key] = meta[key]
    return {
        "apiVersion": ARGO_API_VERSION,
        "kind": APPLICATION,
        "metadata": out_meta,
        "spec": body["spec"],
    }


# ---- writing ------------------------------------------------------------------------------------


async def _create_or_find(
    ctx: Context, doc: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(created, None), or (None, the existing Application of that name)."""
    name = doc["metadata"]["name"]
    existing = ctx.state.applications().get(name)
    if existing is not None:
        return None, existing
    client = ctx.state.controller.client
    info = await application_info(ctx)
    try:
        created = await client.create(info, doc, field_manager=SERVER_FIELD_MANAGER)
    except AlreadyExists:
        return None, await client.get(info, name, ctx.state.namespace)
    except ClusterError as exc:
        raise cluster_error(exc) from None
    remember(ctx, created)
    return created, None


async def create_application(ctx: Context) -> JSONResponse:
    body = await read_json(ctx.request, ctx.state.settings.max_body_bytes)
    if "operation" in body:
        # an operation smuggled into a create would sync without the sync permission
        raise BadRequest("operation cannot be set when creating an application; use sync")
    meta = await _check_application_body(body)
    upsert = query_bool(ctx.request, "upsert", False)
    project = str(body["spec"].get("project") or DEFAULT_PROJECT)
    ctx.state.enforce(ctx.caller, "applications", "create", f"{project}/{meta['name']}")
    _check_project_exists(ctx, project)
    doc = _app_document(ctx, body, meta)
    created, existing = await _create_or_find(ctx, doc)
    if created is not None:
        return JSONResponse(created, status_code=201)
    assert existing is not None
    if not ctx.state.can(ctx.caller, "applications", "get", app_object(existing)):
        # names are unique: say the name is taken, and nothing about the application
        raise ConflictError(f"application {meta['name']} already exists")
    if existing.get("spec") == doc["spec"]:
        return JSONResponse(existing, status_code=200)
    if not upsert:
        raise ConflictError(
            f"application {meta['name']} already exists with a different spec; "
            "use upsert=true to replace it"
        )
    ctx.state.enforce(ctx.caller, "applications", "update", app_object(existing))
    updated = await _replace(ctx, existing, doc, None)
    return JSONResponse(updated, status_code=200)


def _replacement(
    existing: dict[str, Any], doc: dict[str, Any], resource_version: str | None
) -> dict[str, Any]:
    """``existing`` with the spec and the written metadata of ``doc``."""
    new = copy.deepcopy(existing)
    new["spec"] = doc["spec"]
    for key in WRITTEN_METADATA:
        if doc["metadata"].get(key):
            new["metadata"][key] = doc["metadata"][key]
        else:
            new["metadata"].pop(key, None)
    if resource_version:
        new["metadata"]["resourceVersion"] = resource_version
    new["metadata"].pop("managedFields", None)
    return new


async def _replace(
    ctx: Context, existing: dict[str, Any], doc: dict[str, Any], resource_version: str | None
) -> dict[str, Any]:
    new = _replacement(existing, doc, resource_version)
    client = ctx.state.controller.client
    info = await application_info(ctx)
    name = existing["metadata"]["name"]
    for attempt in range(3):
        try:
            updated = await client.replace(
                info, new, ctx.state.namespace, field_manager=SERVER_FIELD_MANAGER
            )
            break
        except Conflict as exc:
            # the controller writes status all the time: without a client-given
            # resourceVersion, replace the spec of the freshest copy instead of failing
            if resource_version or attempt == 2:
                raise cluster_error(exc) from None
            fresh = await client.get(info, name, ctx.state.namespace)
            new["metadata"]["resourceVersion"] = fresh["metadata"]["resourceVersion"]
        except ClusterError as exc:
            raise cluster_error(exc) from None
    remember(ctx, updated)
    return updated


async def update_application(ctx: Context) -> JSONResponse:
    name = check_name(ctx.request.path_params["name"], "application name")
    body = await read_json(ctx.request, ctx.state.settings.max_body_bytes)
    if "operation" in body:
        raise BadRequest("operation cannot be set by an update; use sync or rollback")
    meta = await _check_application_body(body)
    if meta["name"] != name:
        raise BadRequest(f"metadata.name {meta['name']!r} does not match the path ({name!r})")
    existing = ctx.state.visible_application(ctx.caller, name, "update")
    project = str(body["spec"].get("project") or DEFAULT_PROJECT)
    if project != project_of(existing):
        # moving an app needs the right to have it in the new project as well
        ctx.state.enforce(ctx.caller, "applications", "update", f"{project}/{name}")
    _check_project_exists(ctx, project)
    doc = _app_document(ctx, body, meta)
    resource_version = meta.get("resourceVersion")
    updated = await _replace(
        ctx, existing, doc, str(resource_version) if resource_version else None
    )
    return JSONResponse(updated)


def _finalizers_for(app: dict[str, Any], cascade: bool) -> list[str]:
    """The app's finalizers with the resources finalizer added (cascade) or removed."""
    finalizers = list(app["metadata"].get("finalizers") or [])
    has = any(f.startswith(RESOURCES_FINALIZER) for f in finalizers)
    if cascade and not has:
        finalizers.append(RESOURCES_FINALIZER)
    elif not cascade and has:
        finalizers = [f for f in finalizers if not f.startswith(RESOURCES_FINALIZER)]
    return finalizers


async def delete_application(ctx: Context) -> JSONResponse:
    app = ctx.visible_application("delete")
    name = app["metadata"]["name"]
    finalizers = _finalizers_for(app, query_bool(ctx.request, "cascade", True))
    client = ctx.state.controller.client
    info = await application_info(ctx)
    try:
        if finalizers != list(app["metadata"].get("finalizers") or []):
            await client.patch(
                info,
                name,
                {"metadata": {"finalizers": finalizers or None}},
                ctx.state.namespace,
                field_manager=SERVER_FIELD_MANAGER,
            )
        await client.delete(info, name, ctx.state.namespace)
    except ClusterError as exc:
        raise cluster_error(exc) from None
    return JSONResponse({})
