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
from tether.controller.watcher import is_older, older_version
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
        #: the copy of each app the notifier last considered (an older one is never taken)
        self._considered: dict[str, Mapping[str, Any]] = {}
        #: the state the notifier last wrote on each app, and the resourceVersion that write
        #: made (None while it is in flight)
        self._written: dict[str, tuple[str, str | None]] = {}
        self._busy = False
        self._wake = asyncio.Event()
        #: set while nothing is pending or being considered (what ``idle`` waits for)
        self._drained = asyncio.Event()
        self._drained.set()
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
            for kept in (self._written, self._considered, self._pending):
                kept.pop(name, None)
            return
        if self.own_write(obj):
            # nothing new to consider; but a copy still waiting is older: the newest replaces it
            if name in self._pending:
                self._pending[name] = obj
            return
        last = self._pending.get(name) or self._considered.get(name)
        if last is not None and is_older(obj, last):
            return  # a copy older than one already taken: considering it would go back in time
        if self._configmap(CONFIGMAP) is None:
            return
        if self._owns(name):
            self._pending[name] = obj
            self._drained.clear()
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
                    obj = self._pending.pop(name)
                    self._considered[name] = obj
                    # now, not when its turn comes: a write arriving meanwhile changes nothing
                    batch.append((name, self._with_last_state(name, obj)))
                self._busy = True
                try:
                    await asyncio.gather(*(self._one(name, obj) for name, obj in batch))
                finally:
                    self._busy = False
            self._drained.set()

    async def _one(self, name: str, obj: Mapping[str, Any]) -> None:
        try:
            await self.notifier.on_application(obj)
        except Exception:  # one app's notifications never stop the others
            log.exception("notifications of %s failed", name)

    def _with_last_state(self, name: str, obj: Mapping[str, Any]) -> Mapping[str, Any]:
        """``obj`` carrying the state the notifier last wrote when ``obj`` is older than that
        write (or the write is in flight): such a copy must not send again."""
        written = self._written.get(name)
        if written is None:
            return obj
        value, version = written
        if version is not None and not older_version(
            str((obj.get("metadata") or {}).get("resourceVersion") or ""), version
        ):
            return obj  # the write is in it, or something changed the app after it
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

    async def idle(self) -> None:
        """Return once every change seen so far is considered and its deliveries ended
        (tests, shutdown)."""
        await self._drained.wait()
        await self.delivery.idle()

    def own_write(self, obj: Mapping[str, Any]) -> bool:
        """Whether ``obj`` is exactly the Application as the notifier's last state write left
        it (nothing else changed it since): no reason to reconcile it again."""
        meta = obj.get("metadata") or {}
        written = self._written.get(str(meta.get("name") or ""))
        return written is not None and written[1] == meta.get("resourceVersion")

    async def _record(self, name: str, value: str) -> None:
        # before the write: a copy of the app arriving meanwhile is older than it
        self._written[name] = (value, None)
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
            self._written.pop(name, None)
            return
        version = (answer.get("metadata") or {}).get("resourceVersion")
        self._written[name] = (value, str(version) if version else None)
