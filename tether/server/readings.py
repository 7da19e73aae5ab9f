"""Each Application's status, read once per version (`tether.controller.status.read_status`).

Reading an app's ``status.resources`` costs about 12 µs an entry, so a scrape of ``/metrics`` or
a filtered list over 1,000 apps of 50 resources would pay 0.6 s every time. The server reads
the status of an app once per resourceVersion and reuses it while the app is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from tether.controller.status import AppStatus, read_status

#: readings kept beyond the current applications before those of deleted ones are dropped
SPARE_READINGS = 128


class StatusReadings:
    """`read_status` of Applications, kept by name while their resourceVersion stays."""

    def __init__(self, names: Callable[[], Collection[str]]) -> None:
        #: the names of the current applications (those of the others are dropped)
        self._names = names
        self._by_name: dict[str, tuple[str, AppStatus]] = {}

    def of(self, app: dict[str, Any]) -> AppStatus:
        """The typed status of ``app`` (read again only when its resourceVersion moved)."""
        meta = app.get("metadata") or {}
        name, version = meta.get("name"), meta.get("resourceVersion")
        if not isinstance(name, str) or not isinstance(version, str) or not version:
            return read_status(app)
        kept = self._by_name.get(name)
        if kept is not None and kept[0] == version:
            return kept[1]
        status = read_status(app)
        self._by_name[name] = (version, status)
        self._forget_deleted()
        return status

    def _forget_deleted(self) -> None:
        names = self._names()
        if len(self._by_name) > len(names) + SPARE_READINGS:
            self._by_name = {n: v for n, v in self._by_name.items() if n in names}

    def __len__(self) -> int:
        return len(self._by_name)
