"""Rendered manifests by (repository, commit, path, options, tool versions), LRU-bounded by
entries and by bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from tether.render.models import MiB, RenderLimits, RenderResult

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: default bounds of a render cache: entries, and bytes of the objects as compact JSON
DEFAULT_MAX_ENTRIES = 20_000
DEFAULT_MAX_BYTES = 256 * MiB


@dataclass(frozen=True)
class RenderKey:
    """Everything a render's output depends on.

    ``options`` is the SHA-256 of the canonical JSON of the source's tool options and the
    Application context (the cluster's API versions alone are kilobytes, and a controller keeps
    a key per app and revision);
    ``tools`` the versions of kustomize, helm and gojsonnet, so an upgrade renders afresh.
    """

    repo_url: str
    revision: str
    path: str
    options: bytes
    limits: RenderLimits
    tools: tuple[str, ...]


def objects_size(objects: list[dict[str, Any]]) -> int:
    """What a list of objects weighs in a cache: its length as compact JSON (Python holds
    several times that; the bound scales with it)."""
    try:
        return len(orjson.dumps(objects))
    except TypeError:
        return 0  # YAML can give values JSON has no form for; they still count as an entry


class BoundedCache(Generic[K, V]):
    """A thread-safe LRU bounded by entries and by the summed ``size_of`` of its values.

    A value larger than ``max_bytes`` on its own is not stored. Values are shared: callers
    treat them as read-only.
    """

    def __init__(self, max_entries: int, max_bytes: int, size_of: Callable[[V], int]) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._size_of = size_of
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        """The stored value for ``key`` (now most recently used), or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[0]

    def put(self, key: K, value: V) -> None:
        """Store ``value``, evicting the least recently used entries beyond the bounds."""
        size = self._size_of(value)
        with self._lock:
            self._drop(key)
            if size > self.max_bytes:
                return
            self._entries[key] = (value, size)
            self.bytes += size
            while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self.bytes -= evicted

    def discard(self, key: K) -> None:
        """Forget ``key`` if it is stored."""
        with self._lock:
            self._drop(key)

    def _drop(self, key: K) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries


class RenderCache(BoundedCache[RenderKey, RenderResult]):
    """Render results; a hit returns the stored result itself.

    Results are shared: callers treat ``objects`` as read-only (``RenderResult.copy_objects()``
    gives a private copy). Failed renders are not stored, so a timeout gets another chance.
    """

    def __init__(
        self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        super().__init__(max_entries, max_bytes, lambda result: objects_size(result.objects))
