"""Who hears about the live cache's changes: application subscribers and type subscribers.

A broken subscriber is logged and skipped: it must not stop the watch that feeds everyone else.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from tether.resources import ResourceKey

log = logging.getLogger("tether.cluster.cache")

#: ``callback(app_name, event_type, key)``, called on the cache's event loop; keep it quick
ChangeCallback = Callable[[str, str, ResourceKey], None]

#: ``callback(event_type, object)`` for every change of one type, on the cache's event loop
ObjectCallback = Callable[[str, dict[str, Any]], None]


class Subscribers:
    """The callbacks of one live cache, by application change and by type."""

    def __init__(self) -> None:
        self._changes: list[ChangeCallback] = []
        self._by_type: dict[tuple[str, str], list[ObjectCallback]] = {}

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """Add an application subscriber; returns a function that removes it."""
        self._changes.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._changes.remove(callback)

        return unsubscribe

    def subscribe_type(
        self, group_kind: tuple[str, str], callback: ObjectCallback
    ) -> Callable[[], None]:
        """Add a subscriber of one type; returns a function that removes it."""
        callbacks = self._by_type.setdefault(group_kind, [])
        callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                callbacks.remove(callback)

        return unsubscribe

    def emit_type(self, obj: dict[str, Any], event_type: str, key: ResourceKey) -> None:
        for callback in list(self._by_type.get((key.group, key.kind), ())):
            try:
                callback(event_type, obj)
            except Exception:
                log.exception("live cache type subscriber failed on %s %s", event_type, key)

    def emit(self, app: str, event_type: str, key: ResourceKey) -> None:
        for callback in list(self._changes):
            try:
                callback(app, event_type, key)
            except Exception:
                log.exception("live cache subscriber failed on %s %s", event_type, key)
