"""Receivers' status: the path their webhook answers on (``status.webhookPath``, from the token
in their Secret) and ``Ready``. The requests themselves are the API server's
(:mod:`tether.server.receivers`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound
from tether.cluster.secretdata import decoded
from tether.controller.flux.gitrepos import Outcome
from tether.fields import InvalidSpecError
from tether.flux import status as fluxstatus
from tether.flux.receivers import parse_receiver, webhook_path
from tether.names import FLUX_RECEIVER, FLUX_RECEIVER_API_VERSION

#: a Receiver's Secret is read again this often (a rotated token moves the path)
RECHECK = 600.0
TOKEN_KEY = "token"


async def reconcile_receiver(client: ClusterClient, obj: Mapping[str, Any], now: str) -> Outcome:
    seen = fluxstatus.Observed.of(obj)

    def status(ready: bool, reason: str, message: str, **extra: Any) -> dict[str, Any]:
        wanted = [(fluxstatus.READY, ready, reason, message)]
        return fluxstatus.updated(seen.status, wanted, seen.generation, now, **extra)

    try:
        spec = parse_receiver(obj.get("spec"), seen.namespace)
    except InvalidSpecError as exc:
        return Outcome(status(False, fluxstatus.refusal_reason(exc), exc.message), None)
    info = await client.resource_for("v1", "Secret")
    try:
        token = decoded(await client.get(info, spec.secret, seen.namespace)).get(TOKEN_KEY, "")
    except NotFound:
        token = ""
    except ClusterError as exc:
        return Outcome(status(False, "TokenNotFound", exc.message), RECHECK)
    if not token:
        message = f"unable to read token from secret '{seen.namespace}/{spec.secret}'"
        return Outcome(status(False, "TokenNotFound", message), RECHECK)
    path = webhook_path(token, seen.name, seen.namespace)
    message = f"Receiver initialized for path: {path}"
    return Outcome(status(True, fluxstatus.SUCCEEDED, message, webhookPath=path), RECHECK)


def receiver_at(receivers: Iterable[dict[str, Any]], path: str) -> dict[str, Any] | None:
    """The Receiver whose ``status.webhookPath`` is ``path``."""
    for obj in receivers:
        if (obj.get("status") or {}).get("webhookPath") == path:
            return obj
    return None


class ReceiverListing:
    """Receivers found by listing them, for a replica that does not watch them (``tether
    server``). The endpoint takes requests from anyone: a flood must not become a flood of
    lists, so a listing is reused for :data:`RELIST_AFTER` seconds (a found Receiver for
    :data:`MAX_AGE`, its spec may change)."""

    RELIST_AFTER = 0.5
    MAX_AGE = 5.0

    def __init__(self, client: ClusterClient) -> None:
        self.client = client
        self._at = float("-inf")
        self._listed: list[dict[str, Any]] = []

    async def find(self, path: str) -> dict[str, Any] | None:
        found = receiver_at(self._listed, path)
        age = time.monotonic() - self._at
        if age < self.RELIST_AFTER or (found is not None and age < self.MAX_AGE):
            return found
        try:
            info = await self.client.resource_for(FLUX_RECEIVER_API_VERSION, FLUX_RECEIVER)
            self._listed = (await self.client.list(info, None)).items
        except ClusterError:
            return None
        self._at = time.monotonic()
        return receiver_at(self._listed, path)
