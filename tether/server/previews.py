"""``GET /api/v1/applications/{name}/previews/{number}``: what merging pull request ``number``
would do to the app, as its preview found it (the UI's ``/applications/<app>/preview/<pr>``)."""

from __future__ import annotations

from tether.controller.previews import as_json
from tether.server.errors import BadRequest, NotFoundError
from tether.server.http import JSONResponse
from tether.server.state import Context

#: pull request numbers are positive and fit the hosts' integers
MAX_NUMBER = 2**31 - 1


async def application_preview(ctx: Context) -> JSONResponse:
    app = ctx.visible_application()
    name = app["metadata"]["name"]
    text = str(ctx.request.path_params.get("number", ""))
    if not text.isdigit() or not 0 < int(text) <= MAX_NUMBER:
        raise BadRequest(f"{text[:40]!r} is not a pull request number")
    number = int(text)
    found = ctx.state.controller.pull_preview(name, number)
    preview = found.app(name) if found is not None else None
    if found is None or preview is None:
        raise NotFoundError(
            f"no preview of pull request #{number} for application {name} is kept here: "
            "previews are made when the Git host's pull_request webhook arrives, and kept in "
            "the memory of the server that received it"
        )
    return JSONResponse(as_json(found, preview))
