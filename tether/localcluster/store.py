"""In-memory object storage with one global resourceVersion, an event history and watchers.

The store is touched from the server's single event loop only, so it needs no locks. Stored
objects are never mutated in place: a write replaces the dict, which lets lists, paging snapshots
and watch events hold references without copying.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from tether.localcluster.selectors import Matcher

Key = tuple[str, str]  # (group, plural)
ObjKey = tuple[str, str]  # (namespace, name)


class Backend(Protocol):
    """Durable storage behind the in-memory store (see ``persistence.py``)."""

    def load(self) -> Iterable[tuple[Key, dict[str, Any]]]: ...

    def revision(self) -> int: ...

    def put(self, key: Key, obj: dict[str, Any], rv: int) -> None: ...

    def delete(self, key: Key, namespace: str, name: str, rv: int) -> None: ...


@dataclass
class Event:
    """One persisted change, as watchers and the history see it."""

    rv: int
    type: str  # ADDED | MODIFIED | DELETED
    key: Key
    obj: dict[str, Any]
    old: dict[str, Any] | None = None
    #: the object encoded once as JSON, shared by every watcher that sends it
    raw: bytes | None = None

    def encoded(self) -> bytes:
        if self.raw is None:
            self.raw = orjson.dumps(self.obj)
        return self.raw


@dataclass(eq=False)
class Watcher:
    """A live watch: its filter and the queue its HTTP stream drains."""

    key: Key
    namespace: str | None
    label_match: Matcher | None
    field_match: Matcher | None
    queue: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)
    closed: bool = False

    def matches(self, obj: dict[str, Any]) -> bool:
        if self.namespace is not None and obj["metadata"].get("namespace") != self.namespace:
            return False
        if self.label_match is not None and not self.label_match(obj):
            return False
        return self.field_match is None or self.field_match(obj)


class Store:
    """Objects by resource and (namespace, name); history of recent events for watch resumption."""

    def __init__(self, history_size: int = 10_000, backend: Backend | None = None) -> None:
        self.rv = 1
        self.backend = backend
        #: watches from before this revision cannot be served from history (state was reloaded)
        self.history_floor = 0
        self.collections: dict[Key, dict[ObjKey, dict[str, Any]]] = {}
        self.history: deque[Event] = deque(maxlen=history_size)
        self.watchers: set[Watcher] = set()
        #: owner uid -> keys of objects that name it in ownerReferences
        self.dependents: dict[str, set[tuple[Key, ObjKey]]] = {}
        #: uid -> where the object with that uid is stored
        self.by_uid: dict[str, tuple[Key, ObjKey]] = {}
        self.listeners: list[Callable[[Event], None]] = []
        self.started_at = time.time()
        if backend is not None:
            for key, obj in backend.load():
                self.restore(key, obj)
            self.rv = max(self.rv, backend.revision())
            self.history_floor = self.rv

    # ---- reads ---------------------------------------------------------------------------------

    def get(self, key: Key, namespace: str, name: str) -> dict[str, Any] | None:
        coll = self.collections.get(key)
        if coll is None:
            return None
        return coll.get((namespace, name))

    def objects(self, key: Key, namespace: str | None = None) -> list[dict[str, Any]]:
        """Objects of a resource sorted by namespace then name (etcd key order)."""
        coll = self.collections.get(key)
        if not coll:
            return []
        if namespace is None:
            return [coll[k] for k in sorted(coll)]
        return [coll[k] for k in sorted(k for k in coll if k[0] == namespace)]

    def count(self, key: Key) -> int:
        return len(self.collections.get(key, {}))

    def oldest_rv(self) -> int:
        """Lowest resourceVersion from which a watch can still be resumed without a gap."""
        if len(self.history) == self.history.maxlen and self.history:
            return max(self.history[0].rv - 1, self.history_floor)
        return self.history_floor

    # ---- writes --------------------------------------------------------------------------------

    def next_rv(self) -> int:
        self.rv += 1
        return self.rv

    def put(self, key: Key, obj: dict[str, Any], old: dict[str, Any] | None) -> Event:
        """Store ``obj`` (its metadata.resourceVersion already set) and notify watchers."""
        rv = int(obj["metadata"]["resourceVersion"])
        meta = obj["metadata"]
        okey = (meta.get("namespace") or "", meta["name"])
        if self.backend is not None:
            self.backend.put(key, obj, rv)
        self.collections.setdefault(key, {})[okey] = obj
        self._index_owners(key, okey, old, obj)
        self.by_uid[meta["uid"]] = (key, okey)
        event = Event(rv, "MODIFIED" if old is not None else "ADDED", key, obj, old)
        self._publish(event)
        return event

    def remove(self, key: Key, obj: dict[str, Any], rv: int) -> Event:
        """Delete ``obj``; the DELETED event carries its last state with the delete's revision."""
        meta = obj["metadata"]
        okey = (meta.get("namespace") or "", meta["name"])
        if self.backend is not None:
            self.backend.delete(key, okey[0], okey[1], rv)
        coll = self.collections.get(key, {})
        coll.pop(okey, None)
        self._index_owners(key, okey, obj, None)
        self.by_uid.pop(meta.get("uid", ""), None)
        final = {**obj, "metadata": {**meta, "resourceVersion": str(rv)}}
        event = Event(rv, "DELETED", key, final, obj)
        self._publish(event)
        return event

    def restore(self, key: Key, obj: dict[str, Any]) -> None:
        """Load an object without an event (used when state is read back from disk)."""
        meta = obj["metadata"]
        okey = (meta.get("namespace") or "", meta["name"])
        self.collections.setdefault(key, {})[okey] = obj
        self._index_owners(key, okey, None, obj)
        self.by_uid[meta["uid"]] = (key, okey)

    def _index_owners(
        self, key: Key, okey: ObjKey, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> None:
        old_uids = {
            r.get("uid") for r in (old or {}).get("metadata", {}).get("ownerReferences") or []
        }
        new_uids = {
            r.get("uid") for r in (new or {}).get("metadata", {}).get("ownerReferences") or []
        }
        for uid in old_uids - new_uids:
            deps = self.dependents.get(str(uid))
            if deps is not None:
                deps.discard((key, okey))
                if not deps:
                    del self.dependents[str(uid)]
        for uid in new_uids - old_uids:
            self.dependents.setdefault(str(uid), set()).add((key, okey))

    def by_uid_get(self, uid: str) -> dict[str, Any] | None:
        where = self.by_uid.get(uid)
        if where is None:
            return None
        return self.get(where[0], *where[1])

    def dependents_of(self, uid: str) -> list[tuple[Key, dict[str, Any]]]:
        out = []
        for key, (ns, name) in list(self.dependents.get(uid, ())):
            obj = self.get(key, ns, name)
            if obj is not None:
                out.append((key, obj))
        return out

    # ---- watch ---------------------------------------------------------------------------------

    def _publish(self, event: Event) -> None:
        self.history.append(event)
        for watcher in self.watchers:
            if watcher.key == event.key and not watcher.closed:
                translated = translate_event(watcher, event)
                if translated is not None:
                    watcher.queue.put_nowait(translated)
        for listener in self.listeners:
            listener(event)

    def events_since(self, key: Key, rv: int) -> Iterable[Event]:
        for event in self.history:
            if event.rv > rv and event.key == key:
                yield event

    def add_watcher(self, watcher: Watcher) -> None:
        self.watchers.add(watcher)

    def remove_watcher(self, watcher: Watcher) -> None:
        watcher.closed = True
        self.watchers.discard(watcher)

    def close_watchers(self) -> None:
        for watcher in list(self.watchers):
            watcher.queue.put_nowait(None)


def translate_event(watcher: Watcher, event: Event) -> Event | None:
    """Apply the watcher's filter, turning selector transitions into ADDED/DELETED as the cacher does."""
    new_match = watcher.matches(event.obj) if event.type != "DELETED" else False
    old_match = watcher.matches(event.old) if event.old is not None else False
    if event.type == "DELETED":
        return event if old_match else None
    if new_match and old_match:
        return event
    if new_match:
        return Event(event.rv, "ADDED", event.key, event.obj, event.old)
    if old_match and event.old is not None:
        gone = {
            **event.old,
            "metadata": {**event.old["metadata"], "resourceVersion": str(event.rv)},
        }
        return Event(event.rv, "DELETED", event.key, gone, event.old)
    return None


def deep_copy(obj: Any) -> Any:
    """A fast deep copy of JSON data (orjson round trip beats copy.deepcopy several times over)."""
    return orjson.loads(orjson.dumps(obj))
