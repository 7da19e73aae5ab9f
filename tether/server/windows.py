"""Sync windows through the API: an app's windows (Argo CD's route), a project's windows, and
the check that refuses a manual sync a window blocks (``403``, as Argo CD answers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tether.controller import windowgate
from tether.controller.models import InvalidSpecError
from tether.controller.project import Project, parse_project
from tether.server.errors import NotFoundError, PermissionDenied
from tether.server.http import JSONResponse, check_name
from tether.server.state import Context, ServerState, project_of


def _project(state: ServerState, name: str) -> Project | None:
    """The AppProject ``name`` parsed; None when it is missing or unreadable (the controller
    reports that on the apps naming it)."""
    obj = state.projects().get(name)
    if obj is None:
        return None
    try:
        return parse_project(obj)
    except InvalidSpecError:
        return None


def check_manual_sync(state: ServerState, app: dict[str, Any], sync: dict[str, Any]) -> None:
    """Refuse a manual sync (or rollback) of ``app`` that its project's windows block now; a
    dry run changes nothing and is let through. The controller checks again when it runs."""
    if sync.get("dryRun"):
        return
    proj = _project(state, project_of(app))
    if proj is None:
        return
    now = datetime.now(UTC)
    verdict = windowgate.check(proj, windowgate.target_of(app), now, manual=True)
    if not verdict.allowed:
        raise PermissionDenied(f"cannot sync: {verdict.reason}")


async def application_windows(ctx: Context) -> JSONResponse:
    """``GET /api/v1/applications/{name}/syncwindows``."""
    app = ctx.visible_application()
    proj = _project(ctx.state, project_of(app))
    if proj is None:
        raise NotFoundError(f"project {project_of(app)} not found")
    return JSONResponse(windowgate.app_windows(proj, app, datetime.now(UTC)))


async def project_windows(ctx: Context) -> JSONResponse:
    """``GET /api/v1/projects/{name}/syncwindows``."""
    name = check_name(ctx.request.path_params["name"], "project name")
    ctx.state.enforce(ctx.caller, "projects", "get", name)
    proj = _project(ctx.state, name)
    if proj is None:
        raise NotFoundError(f"project {name} not found")
    return JSONResponse(windowgate.project_windows(proj, datetime.now(UTC)))
