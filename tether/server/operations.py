"""Sync, rollback, refresh and terminate an Application.

Sync and rollback are requested the Argo CD way, by setting the Application's ``operation``
field (with a resourceVersion precondition), which the controller runs. Refresh and terminate
go to the controller through its face. Whether an operation runs, and the history a rollback
picks from, are read through `tether.controller.status.read_status` (once per app version,
`tether.server.readings`).
"""

from __future__ import annotations

from typing import Any

from tether.cluster.errors import ClusterError, Conflict
from tether.controller import models
from tether.controller.status import AppStatus
from tether.names import SERVER_FIELD_MANAGER
from tether.server.app_objects import RESOURCE_REF_FIELDS
from tether.server.app_writes import application_info, remember
from tether.server.errors import BadRequest, ConflictError, NotFoundError, cluster_error
from tether.server.http import (
    JSONResponse,
    check_fields,
    check_name,
    check_object_name,
    read_json,
    typed,
)
from tether.server.refresh import refreshed_application
from tether.server.state import Context
from tether.server.windows import check_manual_sync

SYNC_FIELDS = ("revision", "revisions", "prune", "dryRun", "resources", "syncOptions")
#: phases in which an operation still holds the application
BUSY_PHASES = ("Running", "Terminating")
#: tries of an operation request whose Application changed meanwhile (the controller writes
#: its status all the time)
OPERATION_ATTEMPTS = 3


def operation_running(app: dict[str, Any], status: AppStatus) -> bool:
    """Whether an operation is requested, running or being terminated."""
    state = status.operation
    return app.get("operation") is not None or (state is not None and state.phase in BUSY_PHASES)


async def _request_operation(ctx: Context, app: dict[str, Any], sync: dict[str, Any]) -> Any:
    operation = {
        "sync": sync,
        "initiatedBy": {"username": ctx.caller.username},
    }
    try:
        models.parse_operation(operation)
    except models.InvalidSpecError as exc:
        raise BadRequest(exc.message) from None
    check_manual_sync(ctx.state, app, sync)
    client = ctx.state.controller.client
    info = await application_info(ctx)
    name = app["metadata"]["name"]
    for attempt in range(OPERATION_ATTEMPTS):
        if operation_running(app, ctx.state.statuses.of(app)):
            raise ConflictError("another operation is already in progress")
        try:
            updated = await client.patch(
                info,
                name,
                {
                    "operation": operation,
                    # the write fails if the app changed since we looked (an operation raced us)
                    "metadata": {"resourceVersion": app["metadata"]["resourceVersion"]},
                },
                ctx.state.namespace,
                field_manager=SERVER_FIELD_MANAGER,
            )
        except Conflict:
            if attempt == OPERATION_ATTEMPTS - 1:
                raise ConflictError(
                    "the application changed while the operation was requested; try again"
                ) from None
            # most often the controller's own status write: look again (is an operation
            # there now?) and ask on the fresh copy, as Argo CD's server does
            app = await _fresh_application(ctx, info, name)
            continue
        except ClusterError as exc:
            raise cluster_error(exc) from None
        remember(ctx, updated)
        return updated
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _fresh_application(ctx: Context, info: Any, name: str) -> dict[str, Any]:
    try:
        fresh: dict[str, Any] = await ctx.state.controller.client.get(
            info, name, ctx.state.namespace
        )
    except ClusterError as exc:
        raise cluster_error(exc) from None
    return fresh


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


def _flags(body: dict[str, Any]) -> dict[str, Any]:
    """``prune`` and ``dryRun`` of a sync or rollback request, when set."""
    sync: dict[str, Any] = {}
    if typed(body, "prune", bool):
        sync["prune"] = True
    if typed(body, "dryRun", bool):
        sync["dryRun"] = True
    return sync


async def sync_application(ctx: Context) -> JSONResponse:
    name = check_name(ctx.request.path_params["name"], "application name")
    body = await read_json(ctx.request, ctx.state.settings.max_body_bytes, allow_empty=True)
    check_fields(body, SYNC_FIELDS, "the sync request")
    app = ctx.state.visible_application(ctx.caller, name, "sync")
    sync: dict[str, Any] = {}
    revision = typed(body, "revision", str)
    if revision:
        sync["revision"] = revision
    revisions = typed(body, "revisions", list)
    if revisions:
        # a multi-source app: one per source, in order (an empty one: that source's target)
        if not all(isinstance(r, str) and "|" not in r for r in revisions):
            raise BadRequest("revisions must be a list of revisions, one per source")
        sync["revisions"] = revisions
    sync.update(_flags(body))
    options = typed(body, "syncOptions", list)
    if options:
        if not all(isinstance(o, str) for o in options):
            raise BadRequest("syncOptions must be a list of strings like Prune=false")
        sync["syncOptions"] = options
    if body.get("resources"):
        sync["resources"] = _sync_resources(body["resources"])
    updated = await _request_operation(ctx, app, sync)
    return JSONResponse(updated)


def _automated(app: dict[str, Any]) -> bool:
    """Whether automated sync is on: the next automated sync would undo a rollback. In the
    production mode (``enabled: false``, drift reverted to the last sync) a rollback is a sync
    like any other, and its revision is the one drift is then reverted to."""
    automated = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    return isinstance(automated, dict) and automated.get("enabled", True) is not False


def rollback_refusal(name: str) -> str:
    """Argo CD's refusal of a rollback under automated sync, with the way forward."""
    return (
        "rollback cannot be initiated when auto-sync is enabled: the next automated sync would "
        f"undo it. Turn automated sync off first: `tether app set {name} --sync-policy none` "
        f"(or `tether app set {name} --sync-policy manual --self-heal` to keep reverting "
        "drift, to the rolled-back revision), then roll back"
    )


async def rollback_application(ctx: Context) -> JSONResponse:
    name = check_name(ctx.request.path_params["name"], "application name")
    body = await read_json(ctx.request, ctx.state.settings.max_body_bytes)
    check_fields(body, ("id", "prune", "dryRun"), "the rollback request")
    history_id = typed(body, "id", int)
    if history_id is None:
        raise BadRequest("id (the history entry to roll back to) is required")
    app = ctx.state.visible_application(ctx.caller, name, "sync")
    if _automated(app):
        raise BadRequest(rollback_refusal(name))
    history = ctx.state.statuses.of(app).history
    entry = next((h for h in history if h.id == history_id), None)
    if entry is None:
        raise NotFoundError(f"application {name} does not have deployment with id {history_id}")
    # a multi-source app's entry records one revision per source: asked for as Argo CD does
    several = bool((app.get("spec") or {}).get("sources"))
    at = {"revisions": entry.revision.split("|")} if several else {"revision": entry.revision}
    sync: dict[str, Any] = {**at, **_flags(body)}
    updated = await _request_operation(ctx, app, sync)
    return JSONResponse(updated)


async def refresh_application(ctx: Context) -> JSONResponse:
    name = check_name(ctx.request.path_params["name"], "application name")
    body = await read_json(ctx.request, ctx.state.settings.max_body_bytes, allow_empty=True)
    check_fields(body, ("hard",), "the refresh request")
    # as in Argo CD, whoever may see an application may ask for it to be compared again
    ctx.state.visible_application(ctx.caller, name, "get")
    return JSONResponse(await refreshed_application(ctx, name, bool(typed(body, "hard", bool))))


async def terminate_operation(ctx: Context) -> JSONResponse:
    app = ctx.visible_application("sync")
    name = app["metadata"]["name"]
    try:
        terminated = await ctx.state.controller.terminate(name)
    except ClusterError as exc:
        raise cluster_error(exc) from None
    if not terminated and app.get("operation") is not None:
        # requested but not started yet: withdraw the request
        client = ctx.state.controller.client
        info = await application_info(ctx)
        try:
            updated = await client.patch(
                info,
                name,
                {"operation": None},
                ctx.state.namespace,
                field_manager=SERVER_FIELD_MANAGER,
            )
        except ClusterError as exc:
            raise cluster_error(exc) from None
        remember(ctx, updated)
        terminated = True
    return JSONResponse({"terminated": terminated})
