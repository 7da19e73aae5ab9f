"""Rendered manifests by (repository, commit, path, options, tool versions), LRU-bounded."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from tether.render.models import RenderLimits, RenderResult


@dataclass(frozen=True)
class RenderKey:
    """Everything a render's output depends on.

    ``options`` is the canonical JSON of the source's tool options and the Application context;
    ``tools`` the versions of kustomize, helm and gojsonnet, so an upgrade renders afresh.
    """

    repo_url: str
    revision: str
    path: str
    options: bytes
    limits: RenderLimits
    tools: tuple[str, ...]


class RenderCache:
    """A thread-safe LRU of render results; a hit returns the stored result itself.

    Results are shared: callers treat ``objects`` as read-only (``RenderResult.copy_objects()``
    gives a private copy). Failed renders are not stored, so a timeout gets another chance.
    """

    def __init__(self, max_entries: int = 1024) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[RenderKey, RenderResult] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: RenderKey) -> RenderResult | None:
        """The stored result for ``key`` (now most recently used), or None."""
        with self._lock:
            result = self._entries.get(key)
            if result is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return result

    def put(self, key: RenderKey, result: RenderResult) -> None:
        """Store ``result``, evicting the least recently used entry beyond the bound."""
        with self._lock:
            self._entries[key] = result
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries
