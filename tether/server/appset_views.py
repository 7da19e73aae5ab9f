"""``GET /api/v1/applicationsets`` and ``GET /api/v1/applicationsets/{name}``: the sets of the
control namespace the caller may see, each with the Applications it made and its rollout."""

from __future__ import annotations

from typing import Any

from tether.server.errors import NotFoundError
from tether.server.http import JSONResponse, check_name
from tether.server.state import Context


def _project(appset: dict[str, Any]) -> str:
    template = (appset.get("spec") or {}).get("template") or {}
    project = (template.get("spec") or {}).get("project") if isinstance(template, dict) else None
    return str(project) if isinstance(project, str) and "{{" not in project else "*"


def _object(appset: dict[str, Any]) -> str:
    return f"{_project(appset)}/{appset['metadata']['name']}"


def _view(ctx: Context, appset: dict[str, Any]) -> dict[str, Any]:
    """The set with, per generated Application the caller may see, its sync and health."""
    apps = ctx.state.controller.applications()
    generated = []
    for entry in (appset.get("status") or {}).get("resources") or []:
        app = apps.get(str(entry.get("name")))
        if app is None:
            continue
        project = str((app.get("spec") or {}).get("project") or "default")
        if not ctx.state.can(ctx.caller, "applications", "get", f"{project}/{entry['name']}"):
            continue
        status = app.get("status") or {}
        generated.append({
            "name": entry["name"],
            "project": project,
            "sync": (status.get("sync") or {}).get("status") or "Unknown",
            "health": (status.get("health") or {}).get("status") or "Unknown",
        })  # fmt: skip
    return {**appset, "applications": generated}


async def list_appsets(ctx: Context) -> JSONResponse:
    sets = ctx.state.controller.applicationsets()
    items = [
        _view(ctx, s)
        for name, s in sorted(sets.items())
        if ctx.state.can(ctx.caller, "applicationsets", "get", _object(s))
    ]
    return JSONResponse({"items": items})


async def get_appset(ctx: Context) -> JSONResponse:
    name = check_name(ctx.request.path_params["name"], "applicationset name")
    found = ctx.state.controller.applicationsets().get(name)
    # the same answer whether it exists or not, for a caller who may not see it
    if found is None or not ctx.state.can(ctx.caller, "applicationsets", "get", _object(found)):
        raise NotFoundError(f"applicationset {name} not found")
    return JSONResponse(_view(ctx, found))
