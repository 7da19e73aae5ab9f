"""A project's sync windows applied to one Application: may a sync run now, and what to show.

Pure: :mod:`tether.controller.syncwindows` evaluates windows; this module picks the app's
fields windows match on, fails closed when a project's windows cannot be read, and turns a
decision into the documents the API, the CLI and the UI show.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tether.controller.project import Project
from tether.controller.syncwindows import (
    AppTarget,
    SyncWindow,
    decide,
    next_change,
)

#: the longest an app waiting for a window is left before it is looked at again (a window that
#: opens later is found again then; a project edit re-queues its apps at once anyway)
MAX_WAIT_SECONDS = 3600.0


@dataclass(frozen=True)
class WindowCheck:
    """Whether a sync may run now, why, and when that may change (None: not within a year)."""

    allowed: bool
    reason: str
    active: tuple[SyncWindow, ...] = ()
    matching: tuple[SyncWindow, ...] = ()
    next_change: datetime | None = None

    def wait_seconds(self, now: datetime) -> float:
        """How long a blocked sync waits before it is looked at again."""
        if self.next_change is None:
            return MAX_WAIT_SECONDS
        return min(max((self.next_change - now).total_seconds() + 0.5, 0.5), MAX_WAIT_SECONDS)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def target_of(app_obj: Mapping[str, Any]) -> AppTarget:
    """What windows match on, as Argo CD reads it: the app's name and the destination its spec
    names (server and name, as written)."""
    destination = _mapping(_mapping(app_obj.get("spec")).get("destination"))

    def text(value: Any) -> str:
        return value if isinstance(value, str) else ""

    return AppTarget(
        name=text(_mapping(app_obj.get("metadata")).get("name")),
        namespace=text(destination.get("namespace")),
        server=text(destination.get("server")),
        cluster_name=text(destination.get("name")),
    )


def check(project: Project, target: AppTarget, now: datetime, *, manual: bool) -> WindowCheck:
    """Whether a ``manual`` (or automated) sync of ``target`` may run at ``now``."""
    if project.sync_window_error:
        return WindowCheck(
            False,
            f"the sync windows of project {project.name} cannot be read "
            f"({project.sync_window_error}): syncs wait until the project is fixed",
        )
    decision = decide(project.sync_windows, target, now, manual=manual)
    change = next_change(project.sync_windows, target, now) if decision.matching else None
    return WindowCheck(
        decision.allowed, decision.reason, decision.active, decision.matching, change
    )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window_document(window: SyncWindow, now: datetime) -> dict[str, Any]:
    """One window as Argo CD writes it in an AppProject, with its index and whether it is active
    now."""
    doc: dict[str, Any] = {
        "index": window.index,
        "kind": window.kind,
        "schedule": window.schedule.text,
        "duration": window.duration_text,
        "timeZone": window.time_zone,
        "applications": list(window.applications),
        "namespaces": list(window.namespaces),
        "clusters": list(window.clusters),
        "manualSync": window.manual_sync,
        "andOperator": window.and_operator,
        "active": window.active(now),
    }
    if window.description:
        doc["description"] = window.description
    return doc


def project_windows(project: Project, now: datetime) -> dict[str, Any]:
    """Every window of a project (``tether proj windows list``)."""
    return {
        "project": project.name,
        "windows": [window_document(w, now) for w in project.sync_windows],
        "error": project.sync_window_error or None,
    }


def app_windows(project: Project, app_obj: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The windows of one app, as Argo CD's ``GET /api/v1/applications/{name}/syncwindows``
    answers (``assignedWindows``, ``activeWindows``, ``canSync`` for a manual sync), with
    whether an automated sync may run, why, and when that next changes."""
    target = target_of(app_obj)
    manual = check(project, target, now, manual=True)
    automated = check(project, target, now, manual=False)
    return {
        "assignedWindows": [window_document(w, now) for w in automated.matching],
        "activeWindows": [window_document(w, now) for w in automated.active],
        "canSync": manual.allowed,
        "canAutoSync": automated.allowed,
        "reason": automated.reason,
        "manualReason": manual.reason,
        "nextChange": _iso(automated.next_change),
    }
