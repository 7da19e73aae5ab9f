"""The objects of the live cache and the ways to find them, without any I/O.

Objects are indexed by (group, kind, namespace, name), by uid, by type, by owning application
(its tracking), and by owner uid (``ownerReferences``), so a Deployment's ReplicaSets and Pods
are found for the resource tree and health without a request.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from tether.cluster.tracking import Tracking
from tether.resources import ResourceKey

# Owner chains deeper than this are a loop or a pathology; stop walking.
_MAX_OWNER_DEPTH = 16


class ObjectIndex:
    """Live objects as plain dicts, with lookups by key, uid, type, application and owner.

    Objects handed out are the stored dicts themselves, for speed: callers must not mutate them
    (copy first).
    """

    def __init__(self, tracking: Tracking | None = None) -> None:
        self.tracking = tracking or Tracking()
        self._objects: dict[ResourceKey, dict[str, Any]] = {}
        self._by_type: dict[tuple[str, str], set[ResourceKey]] = {}
        self._by_uid: dict[str, ResourceKey] = {}
        self._dependents: dict[str, set[str]] = {}
        self._by_app: dict[str, set[ResourceKey]] = {}

    # ---- reads -----------------------------------------------------------------------------

    def get(self, key: ResourceKey) -> dict[str, Any] | None:
        """The object with this key, or None."""
        return self._objects.get(key)

    def get_by_uid(self, uid: str) -> dict[str, Any] | None:
        """The object with this ``metadata.uid``, or None."""
        key = self._by_uid.get(uid)
        return self._objects.get(key) if key is not None else None

    def keys(self, group_kind: tuple[str, str]) -> set[ResourceKey]:
        """A copy of the keys of one type's objects."""
        return set(self._by_type.get(group_kind, ()))

    def objects(self, group: str, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Objects of one type, optionally in one namespace."""
        keys = self._by_type.get((group, kind), set())
        return [self._objects[k] for k in keys if namespace is None or k.namespace == namespace]

    def objects_of(self, app: str) -> list[dict[str, Any]]:
        """Objects tracked as ``app``'s (by its tracking method), not their children."""
        return [self._objects[k] for k in self._by_app.get(app, ())]

    def children(self, uid: str) -> list[dict[str, Any]]:
        """Objects whose ``ownerReferences`` name ``uid``."""
        out = []
        for child_uid in self._dependents.get(uid, ()):
            child = self.get_by_uid(child_uid)
            if child is not None:
                out.append(child)
        return out

    def dependent_uids(self, uid: str) -> set[str]:
        """Uids of the objects whose ``ownerReferences`` name ``uid`` (cached or not)."""
        return self._dependents.get(uid, set())

    def tree(self, root: dict[str, Any] | str) -> list[dict[str, Any]]:
        """Every descendant of ``root`` (an object or a uid), breadth first."""
        root_uid = root if isinstance(root, str) else (root.get("metadata") or {}).get("uid", "")
        seen = {root_uid}
        out: list[dict[str, Any]] = []
        queue = deque([root_uid])
        while queue:
            uid = queue.popleft()
            for child in self.children(uid):
                child_uid = child["metadata"].get("uid", "")
                if child_uid in seen:
                    continue
                seen.add(child_uid)
                out.append(child)
                queue.append(child_uid)
        return out

    def app_of(self, obj: dict[str, Any]) -> str | None:
        """The application ``obj`` belongs to: its own tracking, else its root owner's."""
        seen: set[str] = set()
        current: dict[str, Any] | None = obj
        for _ in range(_MAX_OWNER_DEPTH):
            if current is None:
                return None
            app = self.tracking.owning_app(current)
            if app is not None:
                return app
            meta = current.get("metadata") or {}
            seen.add(meta.get("uid", ""))
            refs = meta.get("ownerReferences") or []
            # Follow the controller reference first: it is the one that created the object.
            refs = sorted(refs, key=lambda r: not r.get("controller"))
            current = next(
                (
                    owner
                    for ref in refs
                    if ref.get("uid") not in seen
                    and (owner := self.get_by_uid(str(ref.get("uid")))) is not None
                ),
                None,
            )
        return None

    def __len__(self) -> int:
        return len(self._objects)

    # ---- writes ----------------------------------------------------------------------------

    def put(self, key: ResourceKey, obj: dict[str, Any]) -> None:
        """Store ``obj`` under ``key``, replacing (and unindexing) what was there."""
        old = self._objects.get(key)
        if old is not None:
            self._unindex(key, old)
        self._objects[key] = obj
        self._by_type.setdefault((key.group, key.kind), set()).add(key)
        meta = obj.get("metadata") or {}
        uid = meta.get("uid")
        if uid:
            self._by_uid[uid] = key
        for ref in meta.get("ownerReferences") or ():
            if uid and ref.get("uid"):
                self._dependents.setdefault(ref["uid"], set()).add(uid)
        app = self.tracking.owning_app(obj)
        if app is not None:
            self._by_app.setdefault(app, set()).add(key)

    def remove(self, key: ResourceKey) -> dict[str, Any] | None:
        """Forget the object under ``key``; return it (None when there was none)."""
        old = self._objects.pop(key, None)
        if old is not None:
            self._unindex(key, old)
            self._by_type.get((key.group, key.kind), set()).discard(key)
        return old

    def forget_type(self, group_kind: tuple[str, str]) -> None:
        """Forget every object of one type."""
        for key in list(self._by_type.pop(group_kind, ())):
            self.remove(key)

    def _unindex(self, key: ResourceKey, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        uid = meta.get("uid")
        if uid and self._by_uid.get(uid) == key:
            del self._by_uid[uid]
        for ref in meta.get("ownerReferences") or ():
            deps = self._dependents.get(ref.get("uid", ""))
            if deps is not None:
                deps.discard(uid)
                if not deps:
                    del self._dependents[ref["uid"]]
        app = self.tracking.owning_app(obj)
        if app is not None:
            keys = self._by_app.get(app)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_app[app]
