"""The web UI: static files from ``tether/server/ui/``, ``index.html`` for every page path."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response

from tether.server.http import error_response

# Paths the single-page UI never owns: an unknown one there is a real 404, not a page.
API_PREFIXES = ("/api/", "/metrics", "/healthz", "/readyz")
mimetypes.add_type("application/javascript", ".js")
mimetypes.add_type("application/javascript", ".mjs")
mimetypes.add_type("text/css", ".css")
mimetypes.add_type("image/svg+xml", ".svg")
mimetypes.add_type("application/json", ".map")
mimetypes.add_type("font/woff2", ".woff2")


def _file_in(root: Path, relative: str) -> Path | None:
    """The file ``relative`` names inside ``root``, or None (never a path outside ``root``)."""
    parts = [p for p in relative.split("/") if p]
    if any(p in (".", "..") or "\\" in p or "\x00" in p for p in parts):
        return None
    candidate = root.joinpath(*parts) if parts else root
    try:
        resolved = candidate.resolve()
        if not resolved.is_relative_to(root.resolve()) or not resolved.is_file():
            return None
    except OSError:
        return None
    return resolved


def serve_ui(request: Request, root: Path) -> Response:
    """A GET of a non-API path: the file when it exists, else ``index.html`` (client routing)."""
    path = request.url.path
    if path.startswith(API_PREFIXES) or path in ("/api", "/metrics"):
        return error_response(f"no such API path: {path}", 404)
    found = _file_in(root, path)
    if found is not None and found.name != "index.html":
        media_type = mimetypes.guess_type(found.name)[0] or "application/octet-stream"
        return FileResponse(found, media_type=media_type)
    index = _file_in(root, "index.html")
    if index is None:
        return error_response(
            "the web UI is not installed in this build (tether/server/ui/index.html is missing)",
            404,
        )
    # the page itself must not be cached: it names the current asset files
    return FileResponse(index, media_type="text/html", headers={"Cache-Control": "no-cache"})
