"""Every write the controller makes to an Application: status, operation, refresh, Events.

Status goes as a JSON merge patch of the ``status`` subresource, only when something changed,
retried on top of the fresh copy when a user edited the Application meanwhile. Each answer is
kept in the control namespace's view (so the next write of the same reconcile builds on it) and
announced to listeners (the API's live stream).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, Conflict, NotFound
from tether.controller.status import merge_patch, next_status, now_iso
from tether.names import APPLICATION, ARGO_API_VERSION, REFRESH_ANNOTATION

log = logging.getLogger(__name__)

#: attempts of a status write that meets a concurrent edit
STATUS_ATTEMPTS = 4
EVENT_SOURCE = "tether-controller"


class ApplicationWriter:
    """Writes to the Applications of one control namespace."""

    def __init__(
        self,
        client: ClusterClient,
        namespace: str,
        field_manager: str,
        *,
        current: Callable[[str], dict[str, Any] | None],
        remember: Callable[[dict[str, Any]], None],
        announce: Callable[[dict[str, Any]], None],
        on_event: Callable[[dict[str, Any], str, str, str], None] | None = None,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.field_manager = field_manager
        self._current = current
        self._remember = remember
        self._announce = announce
        #: told every Event recorded on an Application (Flux Alerts route them)
        self._on_event = on_event
        self.status_writes = 0
        #: updates held back per app, to go out with that app's next status write
        self._held: dict[str, dict[str, Any]] = {}

    async def status(
        self, obj: dict[str, Any], update: dict[str, Any], *, hold: bool = False
    ) -> None:
        """Merge ``update`` into the app's status and write it only when something changed.

        With ``hold`` the update waits for the app's next write (or :meth:`flush`): the
        comparison and the start of the sync it decides go out as one patch."""
        held = self._held.pop(obj["metadata"]["name"], None)
        if held is not None:
            update = {**held, **update}
        if hold:
            self._held[obj["metadata"]["name"]] = update
            return
        base = self._current(obj["metadata"]["name"]) or obj
        old_status = dict(base.get("status") or {})
        new_status = next_status(old_status, update)
        if new_status is None:
            return
        info = await self.client.resource_for(ARGO_API_VERSION, APPLICATION)
        # a merge patch keeps keys it does not mention: name the dropped ones as null
        body = {
            "status": merge_patch(old_status, new_status),
            "metadata": {"resourceVersion": base["metadata"]["resourceVersion"]},
        }
        name = base["metadata"]["name"]
        for attempt in range(STATUS_ATTEMPTS):
            try:
                updated = await self.client.patch(
                    info,
                    name,
                    body,
                    self.namespace,
                    patch_type="merge",
                    field_manager=self.field_manager,
                    subresource="status",
                )
                break
            except Conflict:
                if attempt == STATUS_ATTEMPTS - 1:
                    raise
                # a user edited the Application meanwhile: write on top of the fresh copy
                fresh = await self.client.get(info, name, self.namespace)
                body["metadata"]["resourceVersion"] = fresh["metadata"]["resourceVersion"]
                fresh_status = dict(fresh.get("status") or {})
                body["status"] = merge_patch(fresh_status, {**fresh_status, **update})
            except NotFound:
                return
        self.status_writes += 1
        self._remember(updated)
        self._announce(updated)

    async def flush(self, obj: dict[str, Any]) -> None:
        """Write the update held back for ``obj``'s app, if any."""
        if obj["metadata"]["name"] in self._held:
            await self.status(obj, {})

    async def _patch_spec(self, obj: dict[str, Any], patch: dict[str, Any]) -> None:
        info = await self.client.resource_for(ARGO_API_VERSION, APPLICATION)
        try:
            updated = await self.client.patch(
                info,
                obj["metadata"]["name"],
                patch,
                self.namespace,
                field_manager=self.field_manager,
            )
        except NotFound:
            return
        self._remember(updated)

    async def clear_operation(self, obj: dict[str, Any]) -> None:
        """Remove the requested ``operation`` (it has been taken up) — only if it is still the
        one taken up: a request written meanwhile (a rollback asked for while this sync
        started) stays for the next reconcile. A JSON patch whose ``test`` fails changes
        nothing."""
        taken = obj.get("operation")
        if taken is None:
            return
        info = await self.client.resource_for(ARGO_API_VERSION, APPLICATION)
        patch = [{"op": "test", "path": "/operation", "value": taken},
                 {"op": "remove", "path": "/operation"}]  # fmt: skip
        try:
            updated = await self.client.patch(
                info, obj["metadata"]["name"], patch, self.namespace,
                patch_type="json", field_manager=self.field_manager,
            )  # fmt: skip
        except NotFound:
            return
        except ClusterError as exc:
            # the test failed: another operation was requested since; it is left for later
            log.info("operation of %s not cleared: %s", obj["metadata"]["name"], exc.message)
            return
        self._remember(updated)

    async def clear_refresh(self, obj: dict[str, Any]) -> None:
        """Remove the refresh annotation (the refresh has been done)."""
        await self._patch_spec(obj, {"metadata": {"annotations": {REFRESH_ANNOTATION: None}}})

    async def event(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        """A Kubernetes Event on the Application (what `kubectl describe` and the UI show)."""
        if self._on_event is not None:
            self._on_event(obj, event_type, reason, message)
        info = await self.client.resource_for("v1", "Event")
        try:
            await self.client.create(
                info, event_for(obj, self.namespace, event_type, reason, message)
            )
        except ClusterError as exc:
            log.debug("event not recorded: %s", exc.message)


def event_for(
    obj: dict[str, Any],
    namespace: str,
    event_type: str,
    reason: str,
    message: str,
    *,
    api_version: str = ARGO_API_VERSION,
    kind: str = APPLICATION,
    component: str = EVENT_SOURCE,
) -> dict[str, Any]:
    """The Event about ``obj`` (an Application unless told), named like those client-go
    records."""
    meta = obj["metadata"]
    stamp = now_iso()
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{meta['name']}.{time.time_ns():x}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": api_version,
            "kind": kind,
            "name": meta["name"],
            "namespace": namespace,
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "reason": reason,
        "message": message,
        "type": event_type,
        "source": {"component": component},
        "reportingComponent": component,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }
