"""``/api/v1/applications``: list, read, create, change, delete and operate Applications.

Reads come from the controller's watch of the control namespace (no request to the cluster).
Writes go through the cluster client with the field manager ``tether-server``; sync and rollback
are requested the Argo CD way, by setting the Application's ``operation`` field, which the
controller runs.
"""

from __future__ import annotations

import asyncio
import copy
import fnmatch
import logging
from typing import Any

from tether.cluster.errors import AlreadyExists, ClusterError, Conflict, NotFound
from tether.controller import models
from tether.controller.controller import RESOURCES_FINALIZER
from tether.engine.diff import ResourceDiff, SyncStatus
from tether.engine.health import health_of
from tether.engine.masking import mask_object, mask_objects, mask_secrets
from tether.resources import ResourceKey
from tether.server import resources as live_resources
from tether.server.errors import ApiError, BadRequest, ConflictError, NotFoundError
from tether.server.http import (
    JSONResponse,
    check_fields,
    check_name,
    check_object_name,
    query_bool,
    read_json,
    shown,
    typed,
)
from tether.server.state import Context, app_object, project_of

API_VERSION = "argoproj.io/v1alpha1"
FIELD_MANAGER = "tether-server"
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
SYNC_FIELDS = ("revision", "prune", "dryRun", "resources", "syncOptions")
RESOURCE_REF_FIELDS = ("group", "kind", "namespace", "name", "version")

log = logging.getLogger(__name__)


# ---- reads --------------------------------------------------------------------------------------


def _matches_selector(labels: dict[str, str], selector: str) -> bool:
    """Equality-based label selectors: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, comma-joined."""
    for term in (t.strip() for t in selector.split(",")):
        if not term:
            continue
        if "!=" in term:
            key, _, value = term.partition("!=")
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, _, value = term.partition("==" if "==" in term else "=")
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


async def list_applications(ctx: Context) -> JSONResponse:
    """Applications the caller may see, filtered by the query."""
    query = ctx.request.query_params
    projects = set(query.getlist("project")) or set(query.getlist("projects"))
    syncs = set(query.getlist("sync"))
    healths = set(query.getlist("health"))
    selector = query.get("selector", "")
    name_glob = query.get("name", "")
    search = query.get("search", "").lower()
    policy = ctx.state.policy()
    held = policy.roles_of(ctx.caller.subjects)
    items = []
    newest = 0
    for name, app in ctx.state.applications().items():
        project = project_of(app)
        if projects and project not in projects:
            continue
        status = app.get("status") or {}
        if syncs and (status.get("sync") or {}).get("status", "") not in syncs:
            continue
        if healths and (status.get("health") or {}).get("status", "") not in healths:
            continue
        meta = app["metadata"]
        if selector and not _matches_selector(meta.get("labels") or {}, selector):
            continue
        if name_glob and not fnmatch.fnmatchcase(name, name_glob):
            continue
        if search and not _mentions(app, search):
            continue
        if not policy.allowed_for_roles(held, "applications", "get", f"{project}/{name}"):
            continue
        items.append(app)
        try:
            newest = max(newest, int(meta.get("resourceVersion") or 0))
        except ValueError:
            pass
    items.sort(key=lambda a: a["metadata"]["name"])
    return JSONResponse({"items": items, "metadata": {"resourceVersion": str(newest)}})


def _mentions(app: dict[str, Any], text: str) -> bool:
    spec = app.get("spec") or {}
    source = spec.get("source") or {}
    destination = spec.get("destination") or {}
    haystack = (
        app["metadata"]["name"],
        str(source.get("repoURL") or ""),
        str(source.get("path") or ""),
        str(destination.get("namespace") or ""),
        str(spec.get("project") or ""),
    )
    return any(text in h.lower() for h in haystack)


def _visible(ctx: Context, action: str = "get") -> dict[str, Any]:
    """The Application of the path, after the name check and RBAC. A caller who may not
    ``action`` it gets the same answer whether it exists or not (`visible_application`)."""
    name = check_name(ctx.request.path_params["name"], "application name")
    return ctx.state.visible_application(ctx.caller, name, action)


async def get_application(ctx: Context) -> JSONResponse:
    app = _visible(ctx)
    refresh = ctx.request.query_params.get("refresh")
    if refresh:
        if refresh not in ("normal", "hard"):
            raise BadRequest("refresh must be normal or hard")
        await ctx.state.controller.refresh(app["metadata"]["name"], refresh == "hard")
    return JSONResponse(app)


async def application_history(ctx: Context) -> JSONResponse:
    app = _visible(ctx)
    return JSONResponse({"items": (app.get("status") or {}).get("history") or []})


def _resource_health(app: dict[str, Any], key: ResourceKey) -> dict[str, Any] | None:
    for res in (app.get("status") or {}).get("resources") or []:
        if (
            res.get("group", "") == key.group
            and res.get("kind") == key.kind
            and res.get("namespace", "") == key.namespace
            and res.get("name") == key.name
        ):
            health = res.get("health")
            return dict(health) if isinstance(health, dict) else None
    return None


def _sync_word(status: SyncStatus) -> str:
    if status is SyncStatus.SYNCED:
        return "Synced"
    if status is SyncStatus.UNKNOWN:
        return "Unknown"
    return "OutOfSync"


def _managed_item(app: dict[str, Any], res: ResourceDiff) -> dict[str, Any]:
    key = res.key
    # the diff module masks Secrets already; masking again (as a pair, so masks stay
    # comparable) is cheap and keeps the promise local
    live, target = mask_secrets(res.live, res.desired)
    health = _resource_health(app, key)
    return {
        "group": key.group,
        "kind": key.kind,
        "namespace": key.namespace,
        "name": key.name,
        "status": _sync_word(res.status),
        "diffStatus": str(res.status),
        "requiresPruning": res.status is SyncStatus.EXTRANEOUS,
        "health": health or {"status": "", "message": ""},
        "diff": res.diff,
        "changes": [{"op": c.op, "path": c.path, "old": c.old, "new": c.new} for c in res.changes],
        "liveState": live,
        "targetState": target,
        **({"error": res.error} if res.error else {}),
    }


async def managed_resources(ctx: Context) -> JSONResponse:
    app = _visible(ctx)
    runtime = ctx.state.controller.apps.get(app["metadata"]["name"])
    compare = runtime.last_compare if runtime is not None else None
    if compare is None:
        return JSONResponse({"items": []})
    return JSONResponse({"items": [_managed_item(app, r) for r in compare.resources]})


async def manifests(ctx: Context) -> JSONResponse:
    app = _visible(ctx)
    runtime = ctx.state.controller.apps.get(app["metadata"]["name"])
    desired = runtime.desired if runtime is not None else []
    revision = ((app.get("status") or {}).get("sync") or {}).get("revision", "")
    return JSONResponse({"manifests": mask_objects(desired), "revision": revision})


def _node(
    obj: dict[str, Any], status: str, health: dict[str, Any] | None, parents: list[dict[str, Any]]
) -> dict[str, Any]:
    api_version = str(obj.get("apiVersion") or "v1")
    group, _, version = api_version.rpartition("/")
    meta = obj.get("metadata") or {}
    return {
        "group": group,
        "version": version,
        "kind": obj.get("kind", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "uid": meta.get("uid", ""),
        "parentRefs": parents,
        "health": health or {"status": "", "message": ""},
        "status": status,
        "createdAt": meta.get("creationTimestamp", ""),
    }


def _health_doc(obj: dict[str, Any]) -> dict[str, Any] | None:
    health = health_of(obj)
    return health.to_dict() if health is not None else None


async def resource_tree(ctx: Context) -> JSONResponse:
    """The app's live objects and, from the live cache, what they own (ReplicaSets, Pods...)."""
    app = _visible(ctx)
    name = app["metadata"]["name"]
    dest = await live_resources.destination_with_children(ctx.state.controller, name)
    if dest is None:
        return JSONResponse({"nodes": []})
    cache = dest.cache
    nodes: list[dict[str, Any]] = []
    seen: set[str] = set()
    roots: list[dict[str, Any]] = []
    for res in (app.get("status") or {}).get("resources") or []:
        key = ResourceKey(
            res.get("group", ""), res.get("kind", ""), res.get("namespace", ""), res.get("name", "")
        )
        live = cache.get(key)
        if live is None:
            continue
        roots.append(live)
        uid = live["metadata"].get("uid", "")
        seen.add(uid)
        nodes.append(_node(live, res.get("status", ""), res.get("health"), []))
    for root in roots:
        for child in cache.tree(root):
            uid = child["metadata"].get("uid", "")
            if uid in seen:
                continue
            seen.add(uid)
            parents = []
            for ref in child["metadata"].get("ownerReferences") or []:
                owner = cache.get_by_uid(str(ref.get("uid")))
                if owner is None:
                    continue
                owner_group = str(owner.get("apiVersion") or "").rpartition("/")[0]
                parents.append(
                    {
                        "group": owner_group,
                        "kind": owner.get("kind", ""),
                        "namespace": owner["metadata"].get("namespace", ""),
                        "name": owner["metadata"].get("name", ""),
                        "uid": owner["metadata"].get("uid", ""),
                    }
                )
            nodes.append(_node(child, "", _health_doc(child), parents))
    return JSONResponse({"nodes": nodes})


async def live_resource(ctx: Context) -> JSONResponse:
    """One live object of the app (or owned by one of its objects), masked."""
    app = _visible(ctx)
    query = ctx.request.query_params
    check_fields(dict(query), RESOURCE_REF_FIELDS, "query")
    kind = query.get("kind", "")
    obj_name = query.get("name", "")
    if not kind or not obj_name:
        raise BadRequest("kind and name are required query parameters")
    check_object_name(obj_name, "name")
    namespace = query.get("namespace", "")
    if namespace:
        check_object_name(namespace, "namespace")
    group = query.get("group", "")
    if group and (".." in group or "/" in group):
        raise BadRequest(f"group {shown(group)} is not a valid API group")
    if not kind.isalnum():
        raise BadRequest(f"kind {shown(kind)} is not a valid kind")
    name = app["metadata"]["name"]
    dest = await live_resources.destination_with_children(ctx.state.controller, name)
    if dest is None:
        raise NotFoundError(f"application {name} has no live objects yet")
    obj = dest.cache.get(ResourceKey(group, kind, namespace, obj_name))
    if obj is None or dest.cache.app_of(obj) != name:
        raise NotFoundError(
            f"{kind} {namespace + '/' if namespace else ''}{obj_name} is not part of "
            f"application {name}"
        )
    return JSONResponse(mask_object(obj))


async def application_events(ctx: Context) -> JSONResponse:
    """Events about the Application and about its objects (by uid)."""
    app = _visible(ctx)
    name = app["metadata"]["name"]
    state = ctx.state
    client = state.controller.client
    info = await client.resource_for("v1", "Event")
    events = []
    app_uid = app["metadata"].get("uid")
    listing = await client.list(info, state.namespace)
    for event in listing.items:
        involved = event.get("involvedObject") or {}
        if involved.get("kind") == "Application" and (
            involved.get("uid") == app_uid or involved.get("name") == name
        ):
            events.append(event)
    dest = state.controller.destination_of(name)
    namespace = ((app.get("spec") or {}).get("destination") or {}).get("namespace")
    if dest is not None and namespace:
        uids = {o["metadata"].get("uid") for o in dest.cache.objects_of(name)}
        for root in dest.cache.objects_of(name):
            uids.update(c["metadata"].get("uid") for c in dest.cache.tree(root))
        try:
            dest_info = await dest.client.resource_for("v1", "Event")
            for event in (await dest.client.list(dest_info, namespace)).items:
                if (event.get("involvedObject") or {}).get("uid") in uids:
                    events.append(event)
        except ClusterError as exc:
            # the destination may refuse Events; the Application's own still show
            log.debug("events of the resources not listed: %s", exc.message)
    events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    return JSONResponse({"items": events})


# ---- writes -------------------------------------------------------------------------------------


async def _check_application_body(body: dict[str, Any]) -> dict[str, Any]:
    """Validate an Application from a request; return the metadata to write.

    The spec is parsed off the event loop: it compiles the jq expressions of ignoreDifferences
    in a bounded worker, which may take up to its compile limit for a hostile one."""
    check_fields(body, APP_FIELDS, "the Application")
    if body.get("apiVersion") not in (None, API_VERSION):
        raise BadRequest(f"apiVersion must be {API_VERSION}")
    if body.get("kind") not in (None, "Application"):
        raise BadRequest("kind must be Application")
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
    for key in ("labels", "annotations", "finalizers"):
        if meta.get(key):
            out_meta[key] = meta[key]
    return {
        "apiVersion": API_VERSION,
        "kind": "Application",
        "metadata": out_meta,
        "spec": body["spec"],
    }


async def _app_info(ctx: Context) -> Any:
    return await ctx.state.controller.client.resource_for(API_VERSION, "Application")


def _cluster_error(exc: ClusterError) -> ApiError:
    """A cluster refusal as an API answer (the server's message names the field)."""
    if isinstance(exc, NotFound):
        return NotFoundError(exc.message)
    if isinstance(exc, Conflict):
        return ConflictError(exc.message)
    if exc.code in (400, 422):
        return BadRequest(exc.message)
    return ApiError(f"the cluster refused the change: {exc.message}", 502)


async def create_application(ctx: Context) -> JSONResponse:
    body = await read_json(ctx.request, ctx.state.settings.max_body_bytes)
    if "operation" in body:
        # an operation smuggled into a create would sync without the sync permission
        raise BadRequest("operation cannot be set when creating an application; use sync")
    meta = await _check_application_body(body)
    upsert = query_bool(ctx.request, "upsert", False)
    project = str(body["spec"].get("project") or "default")
    ctx.state.enforce(ctx.caller, "applications", "create", f"{project}/{meta['name']}")
    _check_project_exists(ctx, project)
    doc = _app_document(ctx, body, meta)
    client = ctx.state.controller.client
    info = await _app_info(ctx)
    existing = ctx.state.applications().get(meta["name"])
    if existing is None:
        try:
            created = await client.create(info, doc, field_manager=FIELD_MANAGER)
            _remember(ctx, created)
            return JSONResponse(created, status_code=201)
        except AlreadyExists:
            existing = await client.get(info, meta["name"], ctx.state.namespace)
        except ClusterError as exc:
            raise _cluster_error(exc) from None
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


def _remember(ctx: Context, obj: dict[str, Any]) -> None:
    """Put a written Application in the controller's view at once (the watch event follows),
    so the next read of this client sees its own write."""
    ctx.state.controller.remember_application(obj)


async def _replace(
    ctx: Context, existing: dict[str, Any], doc: dict[str, Any], resource_version: str | None
) -> dict[str, Any]:
    new = copy.deepcopy(existing)
    new["spec"] = doc["spec"]
    for key in ("labels", "annotations", "finalizers"):
        if doc["metadata"].get(key):
            new["metadata"][key] = doc["metadata"][key]
        else:
            new["metadata"].pop(key, None)
    if resource_version:
        new["metadata"]["resourceVersion"] = resource_version
    new["metadata"].pop("managedFields", None)
    client = ctx.state.controller.client
    info = await _app_info(ctx)
    name = existing["metadata"]["name"]
    path = info.path(ctx.state.namespace, name)
    for attempt in range(3):
        try:
            updated: dict[str, Any] = await client.request(
                "PUT", path, verb="update", body=new, params={"fieldManager": FIELD_MANAGER}
            )
            break
        except Conflict as exc:
            # the controller writes status all the time: without a client-given
            # resourceVersion, replace the spec of the freshest copy instead of failing
            if resource_version or attempt == 2:
                raise _cluster_error(exc) from None
            fresh = await client.get(info, name, ctx.state.namespace)
            new["metadata"]["resourceVersion"] = fresh["metadata"]["resourceVersion"]
        except ClusterError as exc:
            raise _cluster_error(exc) from None
    _remember(ctx, updated)
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
    project = str(body["spec"].get("project") or "default")
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


async def delete_application(ctx: Context) -> JSONResponse:
    app = _visible(ctx, "delete")
    name = app["metadata"]["name"]
    cascade = query_bool(ctx.request, "cascade", True)
    client = ctx.state.controller.client
    info = await _app_info(ctx)
    finalizers = list(app["metadata"].get("finalizers") or [])
    has = any(f.startswith(RESOURCES_FINALIZER) for f in finalizers)
    try:
        if cascade and not has:
            finalizers.append(RESOURCES_FINALIZER)
        elif not cascade and has:
            finalizers = [f for f in finalizers if not f.startswith(RESOURCES_FINALIZER)]
        if finalizers != list(app["metadata"].get("finalizers") or []):
            await client.patch(
                info,
                name,
                {"metadata": {"finalizers": finalizers or None}},
                ctx.state.namespace,
                field_manager=FIELD_MANAGER,
            )
        await client.delete(info, name, ctx.state.namespace)
    except ClusterError as exc:
        raise _cluster_error(exc) from None
    return JSONResponse({})


def _operation_running(app: dict[str, Any]) -> bool:
    state = (app.get("status") or {}).get("operationState") or {}
    return app.get("operation") is not None or state.get("phase") in ("Running", "Terminating")


async def _request_operation(ctx: Context, app: dict[str, Any], sync: dict[str, Any]) -> Any:
    operation = {
        "sync": sync,
        "initiatedBy": {"username": ctx.caller.username},
    }
    try:
        models.parse_operation(operation)
    except models.InvalidSpecError as exc:
        raise BadRequest(exc.message) from None
    if _operation_running(app):
        raise ConflictError("another operation is already in progress")
    client = ctx.state.controller.client
    info = await _app_info(ctx)
    try:
        updated = await client.patch(
            info,
            app["metadata"]["name"],
            {
                "operation": operation,
                # the write fails if the app changed since we looked (an operation raced us)
                "metadata": {"resourceVersion": app["metadata"]["resourceVersion"]},
            },
            ctx.state.namespace,
            field_manager=FIELD_MANAGER,
        )
    except Conflict:
        raise ConflictError(
            "the application changed while the operation was requested; try again"
        ) from None
    except ClusterError as exc:
        raise _cluster_error(exc) from None
    _remember(ctx, updated)
    return updated


def _sync_resources(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list):
        raise BadRequest("resources must be a list of {group, kind, namespace, name}")
    out = []
    for index, item in enumerate(value):
        where = f"resources[{index}]."
        if not isinstance(item, dict):
            raise BadRequest(f"resources[{index}] must be an object")
        check_fields(item, RESOURCE_REF_FIELDS, f"resources[{index}]")
        ref = {}
        for key in ("group", "kind", "namespace", "name"):
            text = typed(item, key, str, where)
            if text:
                ref[key] = text
        if "kind" not in ref or "name" not in ref:
            raise BadRequest(f"resources[{index}] needs kind and name")
        check_object_name(ref["name"], f"{where}name")
        if "namespace" in ref:
            check_object_name(ref["namespace"], f"{where}namespace")
        out.append(ref)
    return out


async def sync_application(ctx: Context) -> JSONResponse:
    name = check_name(ctx.request.path_params["name"], "application name")
    body = await read_json(ctx.request, ctx.state.settings.max_body_bytes, allow_empty=True)
    check_fields(body, SYNC_FIELDS, "the sync request")
    app = ctx.state.visible_application(ctx.caller, name, "sync")
    sync: dict[str, Any] = {}
    revision = typed(body, "revision", str)
    if revision:
        sync["revision"] = revision
    if typed(body, "prune", bool):
        sync["prune"] = True
    if typed(body, "dryRun", bool):
        sync["dryRun"] = True
    options = typed(body, "syncOptions", list)
    if options:
        if not all(isinstance(o, str) for o in options):
            raise BadRequest("syncOptions must be a list of strings like Prune=false")
        sync["syncOptions"] = options
    if body.get("resources"):
        sync["resources"] = _sync_resources(body["resources"])
    updated = await _request_operation(ctx, app, sync)
    return JSONResponse(updated)


async def rollback_application(ctx: Context) -> JSONResponse:
    name = check_name(ctx.request.path_params["name"], "application name")
    body = await read_json(ctx.request, ctx.state.settings.max_body_bytes)
    check_fields(body, ("id", "prune", "dryRun"), "the rollback request")
    history_id = typed(body, "id", int)
    if history_id is None:
        raise BadRequest("id (the history entry to roll back to) is required")
    app = ctx.state.visible_application(ctx.caller, name, "sync")
    automated = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    if automated is not None and automated.get("enabled", True) is not False:
        raise BadRequest("rollback cannot be initiated when auto-sync is enabled")
    history = (app.get("status") or {}).get("history") or []
    entry = next((h for h in history if h.get("id") == history_id), None)
    if entry is None:
        raise NotFoundError(f"application {name} does not have deployment with id {history_id}")
    sync: dict[str, Any] = {"revision": entry.get("revision", "")}
    if typed(body, "prune", bool):
        sync["prune"] = True
    if typed(body, "dryRun", bool):
        sync["dryRun"] = True
    updated = await _request_operation(ctx, app, sync)
    return JSONResponse(updated)


async def refresh_application(ctx: Context) -> JSONResponse:
    name = check_name(ctx.request.path_params["name"], "application name")
    body = await read_json(ctx.request, ctx.state.settings.max_body_bytes, allow_empty=True)
    check_fields(body, ("hard",), "the refresh request")
    # as in Argo CD, whoever may see an application may ask for it to be compared again
    ctx.state.visible_application(ctx.caller, name, "get")
    await ctx.state.controller.refresh(name, bool(typed(body, "hard", bool)))
    return JSONResponse(ctx.state.application(name))


async def terminate_operation(ctx: Context) -> JSONResponse:
    app = _visible(ctx, "sync")
    name = app["metadata"]["name"]
    terminated = await ctx.state.controller.terminate(name)
    if not terminated and app.get("operation") is not None:
        # requested but not started yet: withdraw the request
        client = ctx.state.controller.client
        info = await _app_info(ctx)
        try:
            updated = await client.patch(
                info, name, {"operation": None}, ctx.state.namespace, field_manager=FIELD_MANAGER
            )
            _remember(ctx, updated)
            terminated = True
        except ClusterError as exc:
            raise _cluster_error(exc) from None
    return JSONResponse({"terminated": terminated})
