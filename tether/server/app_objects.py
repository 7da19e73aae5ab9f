"""What an Application deployed: the per-resource comparison, the desired manifests, the tree
of live objects, one live object, and Events.

All of it comes through the controller's face: the app's last comparison and desired objects,
and the client and live cache of its destination (`ControllerFace.cluster_of`); a server
replica computes the comparison when asked (`ServerState.comparison`). Secret values are masked
in every answer.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from tether.cluster.cache import LiveCache
from tether.cluster.errors import CacheSyncError, ClusterError, UnknownKind
from tether.controller.face import ClusterView
from tether.controller.status import AppStatus, ResourceState, sync_word
from tether.engine.diff import ResourceDiff, SyncStatus
from tether.engine.health import health_of
from tether.engine.masking import mask_object, mask_objects, mask_secrets
from tether.names import APPLICATION
from tether.resources import ResourceKey
from tether.server.errors import BadRequest, NotFoundError
from tether.server.http import JSONResponse, check_fields, check_object_name, shown
from tether.server.state import Context, ServerState

RESOURCE_REF_FIELDS = ("group", "kind", "namespace", "name", "version")
#: the kinds whose objects appear under an app's objects in the resource tree
CHILD_KINDS = (("apps/v1", "ReplicaSet"), ("v1", "Pod"), ("batch/v1", "Job"))
#: what a resource without a known health shows
NO_HEALTH = {"status": "", "message": ""}

log = logging.getLogger(__name__)

#: live caches that already follow `CHILD_KINDS` (weak: a closed cluster is forgotten)
_following_children: weakref.WeakSet[LiveCache] = weakref.WeakSet()


async def cluster_with_children(state: ServerState, app: str) -> ClusterView | None:
    """The app's destination, its live cache also following ReplicaSets, Pods and Jobs.

    The controller's cache follows only the kinds applications declare; the tree needs the
    objects they own, so the first tree request for a cluster adds those kinds (a list, then a
    watch: later requests cost nothing).
    """
    view = await state.cluster_view(app)
    if view is None:
        return None
    if view.cache not in _following_children:
        infos = []
        for api_version, kind in CHILD_KINDS:
            try:
                infos.append(await view.client.resource_for(api_version, kind))
            except UnknownKind:
                continue
        try:
            await view.cache.track(infos)
        except CacheSyncError as exc:
            # a child kind the controller may not list: the tree shows what it can, and the
            # next request tries again
            log.warning("resource tree of %s: %s", view.server, exc)
            return view
        _following_children.add(view.cache)
    return view


# ---- the comparison -----------------------------------------------------------------------------


def _resource_states(status: AppStatus) -> dict[ResourceKey, ResourceState]:
    """``status.resources`` by key (the first entry of a key, as listed)."""
    states: dict[ResourceKey, ResourceState] = {}
    for res in status.resources:
        states.setdefault(ResourceKey(res.group, res.kind, res.namespace, res.name), res)
    return states


def _health(res: ResourceState | None) -> dict[str, str]:
    """A resource's health as ``status.resources`` records it, in the API's shape."""
    if res is None or not res.health:
        return dict(NO_HEALTH)
    return {"status": res.health, **({"message": res.health_message} if res.health_message else {})}


def _managed_item(res: ResourceDiff, state: ResourceState | None) -> dict[str, Any]:
    key = res.key
    # the diff module masks Secrets already; masking again (as a pair, so masks stay
    # comparable) is cheap and keeps the promise local
    live, target = mask_secrets(res.live, res.desired)
    return {
        "group": key.group,
        "kind": key.kind,
        "namespace": key.namespace,
        "name": key.name,
        "status": sync_word(res.status),
        "diffStatus": str(res.status),
        "requiresPruning": res.status is SyncStatus.EXTRANEOUS,
        "health": _health(state),
        "diff": res.diff,
        "changes": [{"op": c.op, "path": c.path, "old": c.old, "new": c.new} for c in res.changes],
        "liveState": live,
        "targetState": target,
        **({"error": res.error} if res.error else {}),
    }


async def managed_resources(ctx: Context) -> JSONResponse:
    """Each resource of the app's last comparison: sync word, diffs, live and desired states."""
    app = ctx.visible_application()
    compare, _ = await ctx.state.comparison(app["metadata"]["name"])
    if compare is None:
        return JSONResponse({"items": []})
    states = _resource_states(ctx.state.statuses.of(app))
    return JSONResponse({"items": [_managed_item(r, states.get(r.key)) for r in compare.resources]})


async def manifests(ctx: Context) -> JSONResponse:
    """The desired objects of the app's last comparison, masked, and the revision compared."""
    app = ctx.visible_application()
    _, desired = await ctx.state.comparison(app["metadata"]["name"])
    revision = ctx.state.statuses.of(app).revision
    return JSONResponse({"manifests": mask_objects(desired), "revision": revision})


# ---- the live tree ------------------------------------------------------------------------------


def _node(
    obj: dict[str, Any], status: str, health: dict[str, Any], parents: list[dict[str, Any]]
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
        "health": health,
        "status": status,
        "createdAt": meta.get("creationTimestamp", ""),
    }


def _live_health(obj: dict[str, Any]) -> dict[str, Any]:
    health = health_of(obj)
    return health.to_dict() if health is not None else dict(NO_HEALTH)


def _owners(child: dict[str, Any], cache: LiveCache) -> list[dict[str, Any]]:
    """The parentRefs of ``child``: its owners that the live cache holds."""
    parents = []
    for ref in child["metadata"].get("ownerReferences") or []:
        owner = cache.get_by_uid(str(ref.get("uid")))
        if owner is None:
            continue
        meta = owner["metadata"]
        parents.append(
            {
                "group": str(owner.get("apiVersion") or "").rpartition("/")[0],
                "kind": owner.get("kind", ""),
                "namespace": meta.get("namespace", ""),
                "name": meta.get("name", ""),
                "uid": meta.get("uid", ""),
            }
        )
    return parents


def tree_nodes(status: AppStatus, cache: LiveCache) -> list[dict[str, Any]]:
    """The app's live objects (in ``status.resources`` order), then what each owns, once."""
    nodes: list[dict[str, Any]] = []
    seen: set[str] = set()
    roots: list[dict[str, Any]] = []
    for res in status.resources:
        live = cache.get(ResourceKey(res.group, res.kind, res.namespace, res.name))
        if live is None:
            continue
        roots.append(live)
        seen.add(live["metadata"].get("uid", ""))
        nodes.append(_node(live, res.status, _health(res), []))
    for root in roots:
        for child in cache.tree(root):
            uid = child["metadata"].get("uid", "")
            if uid in seen:
                continue
            seen.add(uid)
            nodes.append(_node(child, "", _live_health(child), _owners(child, cache)))
    return nodes


async def resource_tree(ctx: Context) -> JSONResponse:
    """The app's live objects and, from the live cache, what they own (ReplicaSets, Pods...)."""
    app = ctx.visible_application()
    view = await cluster_with_children(ctx.state, app["metadata"]["name"])
    if view is None:
        return JSONResponse({"nodes": []})
    return JSONResponse({"nodes": tree_nodes(ctx.state.statuses.of(app), view.cache)})


def _object_ref(query: dict[str, str]) -> ResourceKey:
    """The live object a ``/resource`` query names (400 when it names none, or a path)."""
    check_fields(query, RESOURCE_REF_FIELDS, "query")
    kind = query.get("kind", "")
    name = query.get("name", "")
    if not kind or not name:
        raise BadRequest("kind and name are required query parameters")
    check_object_name(name, "name")
    namespace = query.get("namespace", "")
    if namespace:
        check_object_name(namespace, "namespace")
    group = query.get("group", "")
    if group and (".." in group or "/" in group):
        raise BadRequest(f"group {shown(group)} is not a valid API group")
    if not kind.isalnum():
        raise BadRequest(f"kind {shown(kind)} is not a valid kind")
    return ResourceKey(group, kind, namespace, name)


async def live_resource(ctx: Context) -> JSONResponse:
    """One live object of the app (or owned by one of its objects), masked."""
    app = ctx.visible_application()
    key = _object_ref(dict(ctx.request.query_params))
    name = app["metadata"]["name"]
    view = await cluster_with_children(ctx.state, name)
    if view is None:
        raise NotFoundError(f"application {name} has no live objects yet")
    obj = view.cache.get(key)
    if obj is None or view.cache.app_of(obj) != name:
        raise NotFoundError(
            f"{key.kind} {key.namespace + '/' if key.namespace else ''}{key.name} is not part of "
            f"application {name}"
        )
    return JSONResponse(mask_object(obj))


# ---- events -------------------------------------------------------------------------------------


async def _application_events(ctx: Context, app: dict[str, Any]) -> list[dict[str, Any]]:
    """Events of the control namespace about the Application itself (by uid or name)."""
    client = ctx.state.controller.client
    info = await client.resource_for("v1", "Event")
    name = app["metadata"]["name"]
    app_uid = app["metadata"].get("uid")
    listing = await client.list(info, ctx.state.namespace)
    return [
        event
        for event in listing.items
        if (involved := event.get("involvedObject") or {}).get("kind") == APPLICATION
        and (involved.get("uid") == app_uid or involved.get("name") == name)
    ]


async def _object_events(view: ClusterView, app: str, namespace: str) -> list[dict[str, Any]]:
    """Events of the destination namespace about the app's objects and what they own."""
    roots = view.cache.objects_of(app)
    uids = {o["metadata"].get("uid") for o in roots}
    for root in roots:
        uids.update(c["metadata"].get("uid") for c in view.cache.tree(root))
    try:
        info = await view.client.resource_for("v1", "Event")
        listing = await view.client.list(info, namespace)
    except ClusterError as exc:
        # the destination may refuse Events; the Application's own still show
        log.debug("events of the resources not listed: %s", exc.message)
        return []
    return [e for e in listing.items if (e.get("involvedObject") or {}).get("uid") in uids]


async def application_events(ctx: Context) -> JSONResponse:
    """Events about the Application and about its objects (by uid)."""
    app = ctx.visible_application()
    name = app["metadata"]["name"]
    events = await _application_events(ctx, app)
    view = await ctx.state.cluster_view(name)
    namespace = ((app.get("spec") or {}).get("destination") or {}).get("namespace")
    if view is not None and namespace:
        events.extend(await _object_events(view, name, str(namespace)))
    events.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    return JSONResponse({"items": events})
