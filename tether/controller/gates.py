"""What holds a sync back before it starts: the project's sync windows, then the app's
dependencies. A held sync is not an error: it waits, one Event says why (again only when the
reason changes), and it is looked at again when the wait can be over (a window opens or closes,
a dependency changes, the project changes).

A dry run changes nothing and is never held; a sync already running is never interrupted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tether.controller import models, windowgate
from tether.controller.appdeps import AppDependencies
from tether.controller.project import Project
from tether.controller.writes import ApplicationWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hold:
    """Why a sync waits: the Event's reason and message, and when to look again (None: when
    something it waits for changes)."""

    reason: str
    message: str
    retry_in: float | None = None


def window_hold(
    project: Project, obj: dict[str, Any], operation: models.Operation, now: datetime
) -> Hold | None:
    """The hold of the project's sync windows, or None when they let the sync run now."""
    manual = not operation.initiated_by.automated
    verdict = windowgate.check(project, windowgate.target_of(obj), now, manual=manual)
    if verdict.allowed:
        return None
    what = "the requested sync" if manual else "the automated sync"
    return Hold("SyncWindowWait", f"{what} waits: {verdict.reason}", verdict.wait_seconds(now))


def dependency_hold(dependencies: AppDependencies, name: str) -> Hold | None:
    """The hold of the app's dependencies, or None when every one is ready."""
    ready = dependencies.readiness(name)
    if ready.ready:
        return None
    return Hold("DependencyWait", f"the sync {ready.reason}")


class SyncGates:
    """Decides, before an operation starts, whether it runs now."""

    def __init__(
        self,
        writer: ApplicationWriter,
        enqueue: Callable[[str, float], None],
        dependencies: AppDependencies,
    ) -> None:
        self.writer = writer
        self.enqueue = enqueue
        self.dependencies = dependencies
        #: the wait last told for each app ("" or absent: none)
        self._told: dict[str, str] = {}

    def forget(self, name: str) -> None:
        self._told.pop(name, None)

    async def allows(
        self, obj: dict[str, Any], project: Project, operation: models.Operation
    ) -> bool:
        """Whether ``operation`` of the app ``obj`` may start now; else it waits."""
        name = str(obj["metadata"]["name"])
        if operation.sync.dry_run:
            return True
        hold = window_hold(project, obj, operation, datetime.now(UTC)) or dependency_hold(
            self.dependencies, name
        )
        if hold is None:
            self._told.pop(name, None)
            return True
        if hold.retry_in is not None:
            self.enqueue(name, hold.retry_in)
        if self._told.get(name) != hold.message:
            self._told[name] = hold.message
            log.info("%s: %s", name, hold.message)
            await self.writer.event(obj, "Normal", hold.reason, hold.message)
        return False
