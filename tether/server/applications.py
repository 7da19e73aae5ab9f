"""``/api/v1/applications``: list and read Applications.

Reads come from the controller's watch of the control namespace (no request to the cluster).
Their status is read as the controller, the CLI and the metrics read it
(`tether.controller.status.read_status`): a missing sync or health status is ``Unknown``.
Writes are in `tether.server.app_writes`, operations in `tether.server.operations`, what an
application deployed in `tether.server.app_objects`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams

from tether.controller.status import AppStatus, read_status
from tether.labels import matches_selector
from tether.server.errors import BadRequest
from tether.server.http import JSONResponse
from tether.server.refresh import refreshed_application, resource_version
from tether.server.state import Context, project_of


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


@dataclass(frozen=True)
class AppFilter:
    """The filters of ``GET /api/v1/applications``: an app is listed when it passes each given
    one (an empty set or text does not filter)."""

    projects: frozenset[str] = frozenset()
    syncs: frozenset[str] = frozenset()
    healths: frozenset[str] = frozenset()
    selector: str = ""
    name_glob: str = ""
    #: lowercase text looked for in the name, repository, path, namespace and project
    search: str = ""

    @classmethod
    def from_query(cls, query: QueryParams) -> AppFilter:
        """The filters of a request (``project`` and ``projects`` are alternatives)."""
        return cls(
            projects=frozenset(query.getlist("project")) or frozenset(query.getlist("projects")),
            syncs=frozenset(query.getlist("sync")),
            healths=frozenset(query.getlist("health")),
            selector=query.get("selector", ""),
            name_glob=query.get("name", ""),
            search=query.get("search", "").lower(),
        )

    def matches(
        self,
        name: str,
        app: dict[str, Any],
        status_of: Callable[[dict[str, Any]], AppStatus] = read_status,
    ) -> bool:
        """Whether the Application ``name`` passes every filter (cheapest checks first);
        ``status_of`` reads its status."""
        if self.projects and project_of(app) not in self.projects:
            return False
        if self.syncs or self.healths:
            status = status_of(app)
            if self.syncs and status.sync not in self.syncs:
                return False
            if self.healths and status.health not in self.healths:
                return False
        labels = app["metadata"].get("labels") or {}
        if self.selector and not matches_selector(labels, self.selector):
            return False
        if self.name_glob and not fnmatch.fnmatchcase(name, self.name_glob):
            return False
        return not self.search or _mentions(app, self.search)


async def list_applications(ctx: Context) -> JSONResponse:
    """Applications the caller may see, filtered by the query."""
    wanted = AppFilter.from_query(ctx.request.query_params)
    policy = ctx.state.policy()
    held = policy.roles_of(ctx.caller.subjects)
    items = []
    for name, app in ctx.state.applications().items():
        if not wanted.matches(name, app, ctx.state.statuses.of):
            continue
        if not policy.allowed_for_roles(held, "applications", "get", f"{project_of(app)}/{name}"):
            continue
        items.append(app)
    items.sort(key=lambda a: a["metadata"]["name"])
    newest = max((resource_version(a) for a in items), default=0)
    return JSONResponse({"items": items, "metadata": {"resourceVersion": str(newest)}})


async def get_application(ctx: Context) -> JSONResponse:
    """The Application; ``?refresh=normal|hard`` answers it as compared after the request."""
    app = ctx.visible_application()
    refresh = ctx.request.query_params.get("refresh")
    if refresh:
        if refresh not in ("normal", "hard"):
            raise BadRequest("refresh must be normal or hard")
        app = await refreshed_application(ctx, app["metadata"]["name"], refresh == "hard")
    return JSONResponse(app)


async def application_history(ctx: Context) -> JSONResponse:
    """``status.history`` as stored (entries carry more than the typed reading keeps)."""
    app = ctx.visible_application()
    return JSONResponse({"items": (app.get("status") or {}).get("history") or []})
