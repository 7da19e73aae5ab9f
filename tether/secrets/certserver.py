"""The controller's HTTP endpoints, as Bitnami's controller serves them for kubeseal.

* ``GET /v1/cert.pem``: the newest sealing certificate (PEM), what ``--controller URL`` fetches.
* ``POST /v1/verify``: a SealedSecret (JSON or YAML) in; 200 when this controller can unseal it,
  409 with the reason otherwise. Nothing decrypted is returned.
* ``POST /v1/rotate``: a SealedSecret in, the same sealed again to the newest key out
  (``tether seal --re-encrypt``). Only ciphertext leaves the process.
* ``GET /healthz``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tether import safeyaml
from tether.secrets.keys import KeyRing
from tether.secrets.sealed import SealingError, reseal, unseal_data

MAX_BODY_BYTES = 2 * 1024 * 1024


async def _sealed_from_request(request: Request) -> dict[str, Any] | Response:
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return PlainTextResponse("request body too large", status_code=413)
    try:
        obj = safeyaml.load(body, loader=safeyaml.KubernetesLoader)
    except safeyaml.YamlError:
        return PlainTextResponse("body is not a JSON or YAML SealedSecret", status_code=400)
    if not isinstance(obj, dict) or obj.get("kind") != "SealedSecret":
        return PlainTextResponse("body is not a SealedSecret", status_code=400)
    return obj


def cert_app(ring: KeyRing | Callable[[], KeyRing]) -> Starlette:
    """An ASGI app serving the certificate of ``ring`` (or of the ring a callable returns, so a
    renewed key is served at once)."""

    def current() -> KeyRing:
        return ring() if callable(ring) else ring

    async def cert(request: Request) -> Response:
        latest = current().latest
        if latest is None:
            return PlainTextResponse("no sealing key yet", status_code=503)
        return Response(latest.certificate_pem(), media_type="application/x-pem-file")

    async def verify(request: Request) -> Response:
        sealed = await _sealed_from_request(request)
        if isinstance(sealed, Response):
            return sealed
        try:
            await asyncio.to_thread(unseal_data, current().private_keys(), sealed)
        except SealingError as exc:
            return PlainTextResponse(str(exc), status_code=409)
        return PlainTextResponse("OK")

    async def rotate(request: Request) -> Response:
        sealed = await _sealed_from_request(request)
        if isinstance(sealed, Response):
            return sealed
        ring = current()
        if ring.latest is None:
            return PlainTextResponse("no sealing key yet", status_code=503)
        try:
            rotated = await asyncio.to_thread(
                reseal, ring.private_keys(), ring.latest.public_key(), sealed
            )
        except SealingError as exc:
            return PlainTextResponse(str(exc), status_code=409)
        return Response(orjson.dumps(rotated), media_type="application/json")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"keys": len(current())})

    return Starlette(
        routes=[
            Route("/v1/cert.pem", cert, methods=["GET"]),
            Route("/v1/verify", verify, methods=["POST"]),
            Route("/v1/rotate", rotate, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
