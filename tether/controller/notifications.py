"""Notifications as a part of the controller: the notifier (:mod:`tether.notify.notifier`) fed
with the changes of the Applications this replica owns, its settings read from the control
namespace (``argocd-notifications-cm`` as it is followed, ``argocd-notifications-secret`` read
when the ConfigMap changes and every minute), and what it sent recorded on the Application.

Idle unless the ConfigMap exists. Changes are taken by one worker, latest change per app first
come first served, so a burst of 1,000 syncs queues 1,000 entries, not 1,000 tasks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from tether.cluster.cache import cancel_and_wait
from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound
from tether.names import APPLICATION, ARGO_API_VERSION, DEFAULT_PROJECT
from tether.notify.config import CONFIGMAP, SECRET
from tether.notify.delivery import Delivery
from tether.notify.firing import STATE_ANNOTATION
from tether.notify.notifier import (
    Notifier,
    NotifierParts,
    expression_evaluator,
    template_renderer,
)

log = logging.getLogger(__name__)

#: apps considered at once by the worker
BATCH = 16
#: how often the notification Secret is read again (besides when the ConfigMap changes)
SECRET_REFRESH_SECONDS = 60.0


class AppNotifications:
    """Feeds the notifier; ``owns(name)`` says whether this replica notifies for an app."""

    def __init__(
        self,
        client: ClusterClient,
        namespace: str,
        field_manager: str,
        *,
        configmap: Callable[[str], Mapping[str, Any] | None],
        applications: Callable[[], Mapping[str, Mapping[str, Any]]],
        projects: Callable[[], Mapping[str, Mapping[str, Any]]],
        owns: Callable[[str], bool],
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.field_manager = field_manager
        self._configmap = configmap
        self._applications = applications
        self._projects = projects
        self._owns = owns
        self._secret: Mapping[str, Any] | None = None
        self._secret_read = (0.0, "")
        self.delivery = Delivery()
        self.notifier = Notifier(
            NotifierParts(
                configmap=lambda: self._configmap(CONFIGMAP),
                secret=lambda: self._secret,
                project_of=self._project_of,
                record=self._record,
                current=lambda name: self._applications().get(name),
                evaluate=expression_evaluator(),
                render=template_renderer(),
            ),
            self.delivery,
        )
        self._pending: dict[str, Mapping[str, Any]] = {}
        #: the resourceVersion each app had after the notifier's own last write to it
        self._written: dict[str, str] = {}
        #: the state the notifier wrote last, per app, until the watch brings that write
        self._unseen: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.delivery.start()
        self._task = asyncio.create_task(self._work(), name="notifications")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
        await self.delivery.stop()
        await self.notifier.aclose()

    def on_application(self, event_type: str, obj: Mapping[str, Any]) -> None:
        """An Application changed: considered by the worker (a deletion is not notified)."""
        name = str(obj["metadata"]["name"])
        if event_type == "DELETED":
            self._written.pop(name, None)
            self._unseen.pop(name, None)
            return
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if name in self._unseen and annotations.get(STATE_ANNOTATION) == self._unseen[name]:
            del self._unseen[name]  # the watch carries the notifier's last write now
        if self._configmap(CONFIGMAP) is None or self.own_write(obj):
            return
        if self._owns(name):
            self._pending[name] = obj
            self._wake.set()

    def _project_of(self, app: Mapping[str, Any]) -> Mapping[str, Any] | None:
        name = str((app.get("spec") or {}).get("project") or DEFAULT_PROJECT)
        return self._projects().get(name)

    async def _work(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._read_secret()
            while self._pending:
                # a batch of distinct apps at once: their state writes go out together (one
                # app's changes stay in order: it appears at most once in a batch)
                batch: list[tuple[str, Mapping[str, Any]]] = []
                while self._pending and len(batch) < BATCH:
                    name = next(iter(self._pending))
                    batch.append((name, self._pending.pop(name)))
                await asyncio.gather(*(self._one(name, obj) for name, obj in batch))

    async def _one(self, name: str, obj: Mapping[str, Any]) -> None:
        try:
            await self.notifier.on_application(self._with_last_state(name, obj))
        except Exception:  # one app's notifications never stop the others
            log.exception("notifications of %s failed", name)

    def _with_last_state(self, name: str, obj: Mapping[str, Any]) -> Mapping[str, Any]:
        """``obj`` carrying the state the notifier last wrote, while the watch has not brought
        that write yet: a copy older than the write must not send again."""
        value = self._unseen.get(name)
        if value is None:
            return obj
        meta = dict(obj.get("metadata") or {})
        meta["annotations"] = {**(meta.get("annotations") or {}), STATE_ANNOTATION: value}
        return {**obj, "metadata": meta}

    async def _read_secret(self) -> None:
        """The Secret again when the ConfigMap changed or a minute passed (absent: none)."""
        cm = self._configmap(CONFIGMAP) or {}
        version = str((cm.get("metadata") or {}).get("resourceVersion") or "")
        at, seen = self._secret_read
        if version == seen and time.monotonic() - at < SECRET_REFRESH_SECONDS:
            return
        self._secret_read = (time.monotonic(), version)
        try:
            info = await self.client.resource_for("v1", "Secret")
            self._secret = await self.client.get(info, SECRET, self.namespace)
        except NotFound:
            self._secret = None
        except ClusterError as exc:
            log.warning("notifications: %s cannot be read: %s", SECRET, exc.message)

    def own_write(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` is exactly the Application as the notifier's last state write left
        it (nothing else changed it since): no reason to reconcile it again."""
        meta = obj.get("metadata") or {}
        version = self._written.get(str(meta.get("name") or ""))
        return version is not None and version == meta.get("resourceVersion")

    async def _record(self, name: str, value: str) -> None:
        # before the write: a copy of the app arriving meanwhile is older than it
        self._unseen[name] = value
        info = await self.client.resource_for(ARGO_API_VERSION, APPLICATION)
        try:
            answer = await self.client.patch(
                info,
                name,
                {"metadata": {"annotations": {STATE_ANNOTATION: value}}},
                self.namespace,
                field_manager=self.field_manager,
            )
        except ClusterError as exc:
            log.warning(
                "notifications of %s: the sent state was not recorded: %s", name, exc.message
            )
            self._unseen.pop(name, None)
            return
        version = (answer.get("metadata") or {}).get("resourceVersion")
        if version:
            self._written[name] = str(version)
