"""``POST /api/v1/applicationsets/preview``: what applying an ApplicationSet would do, without
applying anything (``tether appset preview FILE``)."""

from __future__ import annotations

from typing import Any

from tether.names import APPLICATION_SET, ARGO_API_VERSION, DEFAULT_PROJECT
from tether.server.errors import BadRequest
from tether.server.http import JSONResponse, check_name, read_json
from tether.server.state import Context


def _project(body: dict[str, Any]) -> str:
    template = (body.get("spec") or {}).get("template") or {}
    project = (template.get("spec") or {}).get("project") if isinstance(template, dict) else None
    # a templated project is decided per Application: only a wildcard right covers it
    return str(project) if isinstance(project, str) and "{{" not in project else "*"


async def preview_appset(ctx: Context) -> JSONResponse:
    body = await read_json(ctx.request, ctx.state.settings.max_body_bytes)
    if body.get("kind") not in (None, APPLICATION_SET) or body.get("apiVersion") not in (
        None,
        ARGO_API_VERSION,
    ):
        raise BadRequest(f"the body must be an {ARGO_API_VERSION} {APPLICATION_SET}")
    meta = body.get("metadata") or {}
    name = check_name(str(meta.get("name") or ""), "applicationset name")
    project = _project(body) or DEFAULT_PROJECT
    ctx.state.enforce(ctx.caller, "applicationsets", "create", f"{project}/{name}")
    # previewed in the control namespace, as the controller would generate it
    stored = {**body, "metadata": {**meta, "namespace": ctx.state.namespace}}
    return JSONResponse(await ctx.state.controller.preview_appset(stored))
