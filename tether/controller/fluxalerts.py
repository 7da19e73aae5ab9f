"""Flux's Alerts and Providers as a part of the controller: the events of what it reconciles
(Applications' sync and health Events, Flux image objects' Ready transitions) routed to the
Providers of the Alerts that select them, delivered in the background.

Alerts and Providers are followed in the control namespace by list+watch; each is parsed once
per version, and one that cannot work is logged once (Flux v1beta3 gives them no status). The
same event (object, message, metadata) goes to a Provider at most once per five minutes, Flux's
rate limit. Idle without the CRDs, or with no Alert: an event costs a dictionary lookup.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from typing import Any

import httpx2

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound
from tether.cluster.secretdata import decoded
from tether.controller.watcher import ObjectWatcher
from tether.names import (
    FLUX_ALERT,
    FLUX_NOTIFICATION_API_VERSION,
    FLUX_PROVIDER,
)
from tether.notify.delivery import Delivery
from tether.notify.flux.events import application_event
from tether.notify.flux.models import (
    Alert,
    FluxAlertError,
    FluxEvent,
    Provider,
    parse_alert,
    parse_provider,
)
from tether.notify.flux.providers import send
from tether.notify.flux.routing import route
from tether.notify.senders import DeliveryError
from tether.systemtls import system_context

log = logging.getLogger(__name__)

#: Flux's ``--rate-limit-interval``: the same event is sent once in this many seconds
RATE_LIMIT_SECONDS = 300.0
#: remembered sends at most (the oldest are forgotten first)
MAX_REMEMBERED = 10_000


def _version(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('name')}@{meta.get('resourceVersion')}"


class FluxAlerts:
    """Routes events to the Providers of matching Alerts; see the module docstring."""

    def __init__(self, client: ClusterClient, namespace: str) -> None:
        self.client = client
        self.namespace = namespace
        self.delivery = Delivery()
        self.watchers: dict[str, ObjectWatcher] = {}
        self._parsed: dict[str, Alert | Provider | None] = {}
        self._told: set[str] = set()
        self._sent: dict[tuple[Any, ...], float] = {}
        self._http: httpx2.AsyncClient | None = None
        self.sent = 0

    async def start(self) -> bool:
        """Follow Alerts and Providers; False (idle) when their CRDs are not served or may not
        be read."""
        for kind in (FLUX_ALERT, FLUX_PROVIDER):
            try:
                info = await self.client.resource_for(FLUX_NOTIFICATION_API_VERSION, kind)
                await self.client.request(
                    "GET", info.path(self.namespace), verb="list", params={"limit": "1"}
                )
            except ClusterError as exc:
                log.info("Flux alerts off: %s cannot be read (%s)", kind, exc.message)
                return False
            self.watchers[kind] = ObjectWatcher(self.client, info, self.namespace)
            self.watchers[kind].start()
        self._http = httpx2.AsyncClient(verify=system_context(), follow_redirects=False)
        self.delivery.start()
        return True

    async def stop(self) -> None:
        await self.delivery.stop()
        for watcher in self.watchers.values():
            await watcher.stop()
        if self._http is not None:
            await self._http.aclose()

    # ---- events in -------------------------------------------------------------------------

    def emit(self, event: FluxEvent) -> int:
        """Queue ``event`` for every Provider whose Alert selects it; how many were queued."""
        alerts_watcher = self.watchers.get(FLUX_ALERT)
        if alerts_watcher is None or not alerts_watcher.objects or self._http is None:
            return 0
        alerts = [a for a in map(self._alert, alerts_watcher.objects.values()) if a is not None]
        queued = 0
        for alert, routed in route(alerts, event):
            provider = self._provider(alert)
            if (
                provider is None
                or provider.suspended
                or not self._first_in_a_while(provider, routed)
            ):
                continue
            what = f"{routed.involved.kind}/{routed.involved.name} to Provider {provider.name}"
            if self.delivery.submit(what, functools.partial(self._send, provider, routed)):
                queued += 1
        return queued

    def on_application_event(
        self, obj: Mapping[str, Any], event_type: str, reason: str, message: str
    ) -> None:
        self.emit(application_event(obj, event_type, reason, message))

    # ---- the objects -----------------------------------------------------------------------

    def _parse(self, obj: Mapping[str, Any], kind: str) -> Alert | Provider | None:
        version = f"{kind}/{_version(obj)}"
        if version in self._parsed:
            return self._parsed[version]
        parsed: Alert | Provider | None
        try:
            parsed = parse_alert(obj) if kind == FLUX_ALERT else parse_provider(obj)
        except FluxAlertError as exc:
            log.warning("%s", exc.message)
            parsed = None
        if len(self._parsed) > 4 * MAX_REMEMBERED:
            self._parsed.clear()
        self._parsed[version] = parsed
        return parsed

    def _alert(self, obj: Mapping[str, Any]) -> Alert | None:
        parsed = self._parse(obj, FLUX_ALERT)
        return parsed if isinstance(parsed, Alert) else None

    def _provider(self, alert: Alert) -> Provider | None:
        obj = self.watchers[FLUX_PROVIDER].get(alert.provider)
        if obj is None:
            key = f"missing {alert.name} {alert.provider}"
            if key not in self._told:
                self._told.add(key)
                log.warning(
                    "Alert %s/%s: its Provider %s does not exist",
                    alert.namespace,
                    alert.name,
                    alert.provider,
                )
            return None
        parsed = self._parse(obj, FLUX_PROVIDER)
        return parsed if isinstance(parsed, Provider) else None

    def _first_in_a_while(self, provider: Provider, event: FluxEvent) -> bool:
        obj = event.involved
        key = (
            provider.name,
            obj.kind,
            obj.namespace,
            obj.name,
            event.severity,
            event.message,
            tuple(sorted(event.metadata.items())),
        )
        now = time.monotonic()
        last = self._sent.get(key)
        if last is not None and now - last < RATE_LIMIT_SECONDS:
            return False
        self._sent[key] = now
        if len(self._sent) > MAX_REMEMBERED:
            cutoff = now - RATE_LIMIT_SECONDS
            self._sent = {k: at for k, at in self._sent.items() if at >= cutoff}
        return True

    async def _secret(self, provider: Provider) -> dict[str, str]:
        if not provider.secret:
            return {}
        try:
            info = await self.client.resource_for("v1", "Secret")
            return decoded(await self.client.get(info, provider.secret, self.namespace))
        except NotFound:
            return {}
        except ClusterError as exc:
            raise DeliveryError(
                f"Provider {provider.name}: its Secret {provider.secret} cannot be read: "
                f"{exc.message}",
                retry=True,
            ) from None

    async def _send(self, provider: Provider, event: FluxEvent) -> None:
        assert self._http is not None
        await send(provider, await self._secret(provider), event, self._http)
        self.sent += 1
