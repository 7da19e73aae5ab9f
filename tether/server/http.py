"""Request and response helpers shared by every route: bounded JSON bodies, checked names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from tether.server.errors import BadRequest, PayloadTooLarge

# RFC 1123 subdomain: what Kubernetes accepts as the name of an Application or AppProject.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# Names of live objects are looser (e.g. RBAC objects allow ':'), but never a path.
_OBJECT_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.:@]*[A-Za-z0-9])?")


#: longest error message sent; a hostile body quoted back is cut (the answer stays small)
MAX_ERROR_MESSAGE = 2000
#: longest value quoted in a message
MAX_SHOWN = 100


def shown(value: Any) -> str:
    """``value`` quoted for a message, cut to `MAX_SHOWN` characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= MAX_SHOWN:
        return repr(text)
    return f"{text[:MAX_SHOWN]!r}... ({len(text)} characters)"


class JSONResponse(Response):
    """A JSON answer serialized with orjson (much faster on large lists)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


def error_response(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    """The error shape of the API contract (the message cut to `MAX_ERROR_MESSAGE`)."""
    if len(message) > MAX_ERROR_MESSAGE:
        message = message[:MAX_ERROR_MESSAGE] + "... (message cut)"
    return JSONResponse({"error": message, "code": status}, status_code=status, headers=headers)


def check_name(value: str, what: str = "name") -> str:
    """``value`` when it is a valid Kubernetes object name (RFC 1123), else 400."""
    if not value or len(value) > 253 or _NAME.fullmatch(value) is None:
        raise BadRequest(
            f"{what} {shown(value)} is not valid: use lowercase letters, digits, '-' and '.', "
            "starting and ending with a letter or digit (RFC 1123), at most 253 characters"
        )
    return value


def check_object_name(value: str, what: str) -> str:
    """A live object's name or namespace: no path separators, no ``..``."""
    if not value or len(value) > 253 or _OBJECT_NAME.fullmatch(value) is None or ".." in value:
        raise BadRequest(f"{what} {shown(value)} is not a valid Kubernetes object name")
    return value


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes without reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise BadRequest("the Content-Length header is not a number") from None
        if size > limit:
            raise PayloadTooLarge(f"the request body has {size} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"the request body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int, *, allow_empty: bool = False) -> dict[str, Any]:
    """The body as a JSON object (400 when it is not one)."""
    body = await read_body(request, limit)
    if not body.strip():
        if allow_empty:
            return {}
        raise BadRequest("the request body is empty; a JSON object is expected")
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest("the request body must be a JSON object")
    return value


def check_fields(body: dict[str, Any], allowed: Iterable[str], where: str = "body") -> None:
    """400 naming every key of ``body`` that is not in ``allowed``."""
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        named = ", ".join(u if len(u) <= MAX_SHOWN else shown(u) for u in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise BadRequest(
            f"unknown field{'s' if len(unknown) > 1 else ''} in {where}: {named}{more} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def typed(body: dict[str, Any], key: str, kind: type | tuple[type, ...], where: str = "") -> Any:
    """``body[key]`` when absent or of the expected JSON type, else 400."""
    value = body.get(key)
    if value is None:
        return None
    # bool is an int in Python; a JSON true is not a number
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        label = {"str": "a string", "bool": "true or false", "int": "an integer"}.get(names, names)
        raise BadRequest(f"{where}{key} must be {label}")
    return value


def query_bool(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise BadRequest(f"query parameter {name} must be true or false")
