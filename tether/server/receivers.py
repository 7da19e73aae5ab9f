"""``POST /hook/<digest>``: Flux's Receivers (:mod:`tether.flux.receivers`) on Tether's API
server. The Receiver whose ``status.webhookPath`` is the request's path is found, the request
verified with its Secret's ``token``, and every object it names gets
``reconcile.fluxcd.io/requestedAt``: the controller reconciles them at once, as Flux's do.

Answers: 200 with the objects asked to reconcile (or ``ping``), 404 for a path no Receiver
has, 401 or 400 when the request is not genuine or not an event the Receiver takes, 503 when
the Receiver's Secret cannot be read. Nothing about another Receiver is told.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.responses import Response

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound
from tether.cluster.reconcilerequest import annotate_requested
from tether.cluster.secretdata import decoded
from tether.fields import InvalidSpecError
from tether.flux.receivers import RejectedRequest, Target, parse_receiver, select, verify
from tether.server.http import JSONResponse, error_response, read_body
from tether.server.state import Context

TOKEN_KEY = "token"


async def receive_hook(ctx: Context) -> Response:
    client = ctx.state.controller.client
    path = ctx.request.url.path
    receiver = await ctx.state.controller.flux_receiver(path)
    if receiver is None:
        return error_response("no Receiver has this path", 404)
    namespace = receiver["metadata"]["namespace"]
    try:
        spec = parse_receiver(receiver.get("spec"), namespace)
        token = await _token(client, namespace, spec.secret)
        body = await read_body(ctx.request, ctx.state.settings.webhook_max_bytes)
        headers = {k.lower(): v for k, v in ctx.request.headers.items()}
        if not verify(spec, headers, body, token):
            return JSONResponse({"ping": "ok"})
    except InvalidSpecError as exc:
        return error_response(f"the Receiver cannot be used: {exc.message}", 503)
    except RejectedRequest as exc:
        return error_response(exc.message, exc.status)
    requested = datetime.now(UTC).isoformat()
    reconciled: list[str] = []
    for target in spec.resources:
        reconciled.extend(await _request(client, target, requested))
    return JSONResponse({"reconciled": reconciled, "requestedAt": requested})


async def _token(client: ClusterClient, namespace: str, secret: str) -> str:
    info = await client.resource_for("v1", "Secret")
    try:
        token = decoded(await client.get(info, secret, namespace)).get(TOKEN_KEY, "")
    except (NotFound, ClusterError):
        token = ""
    if not token:
        raise InvalidSpecError(f"Secret {namespace}/{secret} has no {TOKEN_KEY!r}")
    return token


async def _request(client: ClusterClient, target: Target, requested: str) -> list[str]:
    """Annotate the objects ``target`` names; their ``kind/namespace/name``."""
    try:
        info = await client.resource_for(target.api_version, target.kind)
        if target.name == "*":
            names = select(target, (await client.list(info, target.namespace)).items)
        else:
            names = [target.name]
        done = await annotate_requested(
            client, info, target.namespace, names, requested, "tether-receiver"
        )
    except ClusterError:
        return []
    return [f"{target.kind}/{target.namespace}/{name}" for name in done]
