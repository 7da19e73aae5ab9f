"""A list+watch mirror of one resource type in one namespace, for the controller's own objects.

The live cache (``tether.cluster.LiveCache``) follows what applications manage; Applications,
AppProjects and the Secrets that configure repositories and clusters are followed here, with a
callback on every change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from tether.cluster.cache import cancel_and_wait
from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import ClusterError, Expired

log = logging.getLogger(__name__)

Callback = Callable[[str, dict[str, Any]], None]


class ObjectWatcher:
    """Objects of one type by name (``namespace/name`` when following every namespace), kept
    current; ``callback(event_type, obj)`` on each change."""

    def __init__(
        self,
        client: ClusterClient,
        info: ResourceInfo,
        namespace: str | None,
        callback: Callback | None = None,
        *,
        label_selector: str | None = None,
        watch_timeout: int = 300,
    ) -> None:
        self.client = client
        self.info = info
        self.namespace = namespace
        self.callback = callback
        self.label_selector = label_selector
        self.watch_timeout = watch_timeout
        self.objects: dict[str, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def get(self, name: str) -> dict[str, Any] | None:
        """The object of that key: its name, or ``namespace/name`` in a watch of every
        namespace."""
        return self.objects.get(name)

    def key_of(self, obj: Mapping[str, Any]) -> str:
        meta = obj["metadata"]
        if self.namespace is None and meta.get("namespace"):
            return f"{meta['namespace']}/{meta['name']}"
        return str(meta["name"])

    def remember(self, obj: dict[str, Any]) -> bool:
        """Keep ``obj`` (an answer to one of our own writes) unless a newer copy is known.

        The watch delivers the same write a little later; until then the answer is the newest
        state, and an older event arriving after it must not bring back what was overwritten.
        """
        name = self.key_of(obj)
        if is_older(obj, self.objects.get(name)):
            return False
        self.objects[name] = obj
        return True

    async def write_status(
        self, obj: dict[str, Any], status: dict[str, Any], field_manager: str
    ) -> dict[str, Any] | None:
        """Patch ``obj``'s status subresource to ``status`` when it differs (keys it drops are
        removed) and keep the answer; None when nothing was written."""
        old = obj.get("status") or {}
        if old == status:
            return None
        meta = obj["metadata"]
        answer = await self.client.patch(
            self.info,
            meta["name"],
            {"status": {**dict.fromkeys(old, None), **status}},
            meta.get("namespace") or self.namespace,
            field_manager=field_manager,
            subresource="status",
        )
        self.remember(answer)
        return answer

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"watch-{self.info.plural}")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    def _emit(self, event_type: str, obj: dict[str, Any]) -> None:
        if self.callback is not None:
            try:
                self.callback(event_type, obj)
            except Exception:
                log.exception("watch callback failed for %s", self.info.plural)

    async def _relist(self) -> str:
        listing = await self.client.list(
            self.info, self.namespace, label_selector=self.label_selector
        )
        fresh = {self.key_of(o): o for o in listing.items}
        for name, gone in list(self.objects.items()):
            if name not in fresh:
                del self.objects[name]
                self._emit("DELETED", gone)
        for name, obj in fresh.items():
            old = self.objects.get(name)
            if old is None or old["metadata"].get("resourceVersion") != obj["metadata"].get(
                "resourceVersion"
            ):
                self.objects[name] = obj
                self._emit("MODIFIED" if old is not None else "ADDED", obj)
        self.synced.set()
        return listing.resource_version

    async def _run(self) -> None:
        rv: str | None = None
        failures = 0
        while True:
            try:
                if rv is None:
                    rv = await self._relist()
                async for event in self.client.watch(
                    self.info,
                    self.namespace,
                    resource_version=rv,
                    timeout_seconds=self.watch_timeout,
                    label_selector=self.label_selector,
                ):
                    obj = event.object
                    new_rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if new_rv:
                        rv = new_rv
                    if event.type == "BOOKMARK":
                        continue
                    name = self.key_of(obj)
                    if event.type == "DELETED":
                        self.objects.pop(name, None)
                    elif is_older(obj, self.objects.get(name)):
                        continue  # our own later write is already here
                    else:
                        self.objects[name] = obj
                    self._emit(event.type, obj)
                failures = 0
            except Expired:
                rv = None
            except asyncio.CancelledError:
                raise
            except ClusterError as exc:
                failures += 1
                log.warning("watch of %s failed: %s", self.info.plural, exc.message)
                await asyncio.sleep(min(30.0, 0.2 * 2**failures))
                rv = None


def older_version(version: str, than: str) -> bool:
    """Whether resourceVersion ``version`` is older than ``than``.

    resourceVersions are opaque to clients, but every API server in use (etcd's revisions, the
    local cluster's counter) gives integers that grow; anything else counts as newer.
    """
    try:
        return int(version) < int(than)
    except (TypeError, ValueError):
        return False


def is_older(obj: Mapping[str, Any], known: Mapping[str, Any] | None) -> bool:
    """Whether ``obj`` is an older version of ``known`` (same object, smaller resourceVersion)."""
    if known is None:
        return False
    meta, known_meta = obj.get("metadata") or {}, known.get("metadata") or {}
    if (meta.get("uid") or "") != (known_meta.get("uid") or ""):
        return False
    return older_version(
        str(meta.get("resourceVersion") or ""), str(known_meta.get("resourceVersion") or "")
    )
