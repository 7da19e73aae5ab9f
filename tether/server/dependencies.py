"""An Application's dependencies through the API: whether its syncs may run as far as they go,
what it waits for, and its neighbourhood of the dependency graph (the apps it names and the
apps that name it), showing only what the caller may see."""

from __future__ import annotations

from typing import Any

from tether.controller.dependencies import DependencyGraph, graph_document, readiness
from tether.names import DEPENDS_ON_ANNOTATION
from tether.server.http import JSONResponse
from tether.server.state import Context, app_object


def _involved(apps: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The apps that declare dependencies, and the apps they name: the graph is built from
    those only (most apps have none; reading their annotation is all they cost)."""
    declaring = {
        n: a
        for n, a in apps.items()
        if DEPENDS_ON_ANNOTATION in ((a.get("metadata") or {}).get("annotations") or {})
    }
    named = DependencyGraph.build(declaring).dependents
    return {**declaring, **{n: apps[n] for n in named if n in apps}}


async def application_dependencies(ctx: Context) -> JSONResponse:
    """``GET /api/v1/applications/{name}/dependencies``."""
    app = ctx.visible_application()
    name = app["metadata"]["name"]
    apps = ctx.state.applications()
    projects = ctx.state.projects()
    graph = DependencyGraph.build(_involved(apps))
    verdict = readiness(name, graph, apps, projects)
    document = graph_document(graph, apps, [name], projects)
    named = set(graph.dependencies_of(name))  # the app's own annotation shows these names

    def visible(node: dict[str, Any]) -> bool:
        other = apps.get(node["name"])
        if other is None:
            return node["name"] in named or node["name"] == name
        return ctx.state.can(ctx.caller, "applications", "get", app_object(other))

    nodes = [n for n in document["nodes"] if visible(n)]
    shown = {n["name"] for n in nodes} | named
    return JSONResponse(
        {
            "ready": verdict.ready,
            "reason": verdict.reason,
            "error": verdict.error or None,
            "waiting": [
                {"dependency": w.dependency, "reasons": list(w.reasons)} for w in verdict.waiting
            ],
            "nodes": nodes,
            "edges": [e for e in document["edges"] if e["from"] in shown and e["to"] in shown],
            "cycles": [c for c in document.get("cycles", []) if name in c],
        }
    )
