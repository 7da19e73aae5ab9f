"""The objects of the live cache and the ways to find them, without any I/O.

Objects are indexed by (group, kind, namespace, name), by uid, by type, by owning application
(its tracking), and by owner uid (``ownerReferences``), so a Deployment's ReplicaSets and Pods
are found for the resource tree and health without a request.

:class:`SharedValues` makes the stored objects smaller: what many of them repeat is kept once.
"""

from __future__ import annotations

import hashlib
import sys
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

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


# ---- shared values ---------------------------------------------------------------------------

#: string values up to this length are shared (kinds, namespaces, label values, timestamps,
#: condition reasons); longer ones are rarely repeated and would only fill the table
SHARED_STRING_LENGTH = 32
#: fieldsV1 tries are shared node by node down to this depth; deeper nodes stay as they are
_MAX_TRIE_DEPTH = 64
#: the tables are swept of values no object uses any more when they have grown this much
_FIRST_SWEEP = 4096


class SharedValues:
    """What many cached objects repeat, kept once and shared between them.

    * ``metadata.managedFields``: each entry without its ``time`` (read by nobody in Tether, and
      what makes otherwise equal entries differ), its ``fieldsV1`` trie shared node by node with
      every equal trie (the same manager writes the same shape on every object of a template),
      and the list itself shared by the objects with equal entries. Readers see plain lists and
      dicts with the same ``manager``, ``operation``, ``apiVersion``, ``fieldsType``,
      ``subresource`` and ``fieldsV1`` as the API server sent.
    * string values of up to :data:`SHARED_STRING_LENGTH` characters.

    Shared values must never be mutated (cached objects are read-only anyway). The tables keep
    only what some object still uses: they are swept as they grow (a value whose only reference
    is the table's is dropped), so their size follows the cache's, not its history.
    """

    def __init__(self) -> None:
        self._strings: dict[str, str] = {}
        self._tries: dict[bytes, dict[str, Any]] = {}
        self._entries: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._lists: dict[tuple[int, ...], list[Any]] = {}
        self._empty: dict[str, Any] = {}
        self._next_sweep = _FIRST_SWEEP

    def __len__(self) -> int:
        """How many shared values the tables hold."""
        return len(self._strings) + len(self._tries) + len(self._entries) + len(self._lists)

    def managed_fields(self, entries: Any) -> Any:
        """``entries`` (a ``managedFields`` value) in the shared form; anything that is not a
        list of entries is returned as it is."""
        if not isinstance(entries, list):
            return entries
        shared = [self._entry(e) if isinstance(e, dict) else e for e in entries]
        # ids are safe keys: the list kept in the table holds every element it names
        found = self._lists.setdefault(tuple(id(e) for e in shared), shared)
        self._maybe_sweep()
        return found

    def _entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        # The key is built without copying anything: most entries are already in the table.
        key: list[Any] = []
        for name, value in entry.items():
            if name == "time":
                continue
            if type(value) is str:
                key += (name, value)
            elif name == "fieldsV1" and type(value) is dict and (digest := _digest(value)):
                key += (name, digest)
            else:  # not an entry as the API server writes them: kept, not shared
                return {n: v for n, v in entry.items() if n != "time"}
        found = self._entries.get(tuple(key))
        if found is None:
            found = {
                name: self._trie(value, 0) if type(value) is dict else self._share(value)
                for name, value in entry.items()
                if name != "time"
            }
            # the key keeps the shared strings, not this object's copies
            self._entries[tuple(self._share(k) if type(k) is str else k for k in key)] = found
        return found

    def _share(self, text: str) -> str:
        return self._strings.setdefault(text, text)

    def _trie(self, node: dict[str, Any], depth: int) -> dict[str, Any]:
        if not node:
            return self._empty
        key = _digest(node) if depth <= _MAX_TRIE_DEPTH else None
        if key is None:
            return node  # too deep, or not serializable: kept as it is
        found = self._tries.get(key)
        if found is None:
            found = {
                name: self._trie(child, depth + 1) if isinstance(child, dict) else child
                for name, child in node.items()
            }
            self._tries[key] = found
        return found

    def strings_in(self, node: Any) -> None:
        """Replace, in place, each short string value inside ``node`` (dicts and lists) by the
        shared equal one. Keys are left alone: the JSON parser already shares short keys."""
        share = self._strings.setdefault
        limit = SHARED_STRING_LENGTH
        text, mapping, sequence, size = str, dict, list, len  # locals: read for every value
        stack = [node] if type(node) is mapping or type(node) is sequence else []
        while stack:
            current = stack.pop()
            # this visits every value of every cached object: plain type checks, no helpers
            places = current.items() if type(current) is mapping else enumerate(current)
            for place, value in places:
                kind = type(value)
                if kind is text:
                    if size(value) <= limit:
                        current[place] = share(value, value)
                elif kind is mapping or kind is sequence:
                    stack.append(value)
        self._maybe_sweep()

    def _maybe_sweep(self) -> None:
        if len(self) < self._next_sweep:
            return
        self.sweep()
        self._next_sweep = max(_FIRST_SWEEP, 2 * len(self))

    def sweep(self) -> None:
        """Drop every shared value no object uses any more. Outer values go first (lists, then
        entries, tries, strings), so what a dropped value held is free when its table's turn
        comes."""
        _sweep(self._lists, lambda: ((-1,), []))
        _sweep(self._entries, lambda: (("probe",), {}))
        _sweep(self._tries, lambda: (b"probe", {}))
        # a fresh string no object holds (its NULs and the table's id: never a real value)
        _sweep(self._strings, lambda: (probe := f"\0sweep\0{id(self._strings)}", probe))


def _digest(node: dict[str, Any]) -> bytes | None:
    """A digest of the exact serialization of a fieldsV1 node (equal bytes: equal trie, same key
    order), or None when it cannot be serialized. Never the bytes themselves as a key: orjson's
    output can hold a 4 KiB buffer each."""
    try:
        raw = orjson.dumps(node)
    except (TypeError, orjson.JSONEncodeError):
        return None
    return hashlib.blake2b(raw, digest_size=16).digest()


def _sweep(table: dict[Any, Any], probe: Callable[[], tuple[Any, Any]]) -> None:
    """Remove the values of ``table`` that nothing but the table refers to.

    A probe (fresh key and value held by nobody else) is added last and counted first, the
    same way as every other value, so the count of an unused value is measured, not assumed (it
    differs between a table whose keys are its values and one whose are not, and between Python
    versions). Newest first: a trie node is added after its children, so dropping an unused
    parent frees its children before they are counted, and one pass is enough. A value dropped
    while in use would only stop being shared: objects hold their own references.
    """
    table.update((probe(),))
    unused = 0
    for key in reversed(list(table)):
        count = sys.getrefcount(table[key])
        if not unused:
            unused = count  # the probe, counted exactly like the rest
        if count <= unused:
            del table[key]
