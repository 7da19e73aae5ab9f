"""Kustomizations hear at once of a change to an object they applied: Tether's live cache
(the controller's list+watch of its own cluster) tells, so drift is corrected in about a second
instead of at the next ``interval`` — which Flux cannot do.

After a Kustomization applied its objects, the kinds it applied are followed. A change that
matters — another ``generation`` (a spec change), other contents of a kind without generations
(a ConfigMap's data), a deletion — of an object carrying a Kustomization's ownership labels
wakes that Kustomization; status updates and the annotations controllers write (a Deployment's
revision) do not, nor does an object being created. The first change seen of an object after
the controller started wakes it too (its state before is not known), once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson

from tether.cluster.cache import LiveCache
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import CacheSyncError
from tether.names import FLUX_KUSTOMIZATION_NAME_LABEL, FLUX_KUSTOMIZATION_NAMESPACE_LABEL

log = logging.getLogger(__name__)

#: objects whose last state is kept, at most (beyond it, new ones are not remembered)
MAX_REMEMBERED = 200_000


def fingerprint(obj: dict[str, Any]) -> str:
    """What a change must alter to count: the generation when the kind has generations, else
    everything but metadata and status."""
    generation = (obj.get("metadata") or {}).get("generation")
    if isinstance(generation, int):
        return f"generation:{generation}"
    body = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


class LiveDrift:
    def __init__(
        self,
        cache_of: Callable[[], Awaitable[LiveCache]],
        wake: Callable[[str, str], None],
    ) -> None:
        """``cache_of``: the controller's live cache of its own cluster; ``wake(namespace,
        name)``: reconcile that Kustomization soon."""
        self.cache_of = cache_of
        self.wake = wake
        self._followed: set[tuple[str, str]] = set()
        self._seen: dict[str, str] = {}
        #: Kustomizations woken by a live change (tests, metrics)
        self.wakes = 0

    async def follow(self, infos: Iterable[ResourceInfo]) -> None:
        """Follow these kinds (once each) in the live cache."""
        new = {i.group_kind: i for i in infos if i.group_kind not in self._followed}
        if not new:
            return
        cache = await self.cache_of()
        for group_kind in new:
            cache.subscribe_type(group_kind, self._on_event)
            self._followed.add(group_kind)
        try:
            # listed before going on: a change made meanwhile would hide in the first list
            await cache.track(new.values(), wait=True)
        except CacheSyncError as exc:
            log.info("drift of %s heard at the interval only: %s", sorted(new), exc)

    def _on_event(self, event_type: str, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        name = labels.get(FLUX_KUSTOMIZATION_NAME_LABEL)
        namespace = labels.get(FLUX_KUSTOMIZATION_NAMESPACE_LABEL)
        uid = str(meta.get("uid") or "")
        if not name or not namespace or not uid:
            return
        if event_type == "DELETED":
            self._seen.pop(uid, None)
            self._wake(namespace, name)
            return
        mark = fingerprint(obj)
        before = self._seen.get(uid)
        if before is not None or len(self._seen) < MAX_REMEMBERED:
            self._seen[uid] = mark
        if event_type == "ADDED" or before == mark:
            return  # created (by the apply itself, mostly), or nothing that counts changed
        self._wake(namespace, name)

    def _wake(self, namespace: str, name: str) -> None:
        self.wakes += 1
        self.wake(namespace, name)
