"""The Application's ``status`` document, read as typed values.

Argo CD's controller writes ``status``; so does Tether's, in the same shape. Everything that
decides from it (the auto-sync policy, the API's filters, the CLI, metrics) reads it through
:func:`read_status`, so they agree on what a missing or malformed field means. Reading never
fails: a status written by another tool, or edited by hand, gives defaults where it is off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.engine.diff import SyncStatus

SYNCED = "Synced"
OUT_OF_SYNC = "OutOfSync"
UNKNOWN = "Unknown"
#: operation phases that are over
TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Error", "Terminated"})


def sync_word(status: SyncStatus) -> str:
    """The word Argo CD writes for a resource's comparison: Synced, OutOfSync or Unknown.

    Missing and extraneous resources are OutOfSync (the latter with ``requiresPruning``).
    """
    if status is SyncStatus.SYNCED:
        return SYNCED
    if status is SyncStatus.UNKNOWN:
        return UNKNOWN
    return OUT_OF_SYNC


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return 0


@dataclass(frozen=True)
class ResourceState:
    """One entry of ``status.resources``."""

    group: str
    version: str
    kind: str
    namespace: str
    name: str
    status: str
    health: str = ""
    health_message: str = ""
    requires_pruning: bool = False


@dataclass(frozen=True)
class Condition:
    type: str
    message: str
    last_transition_time: str = ""


@dataclass(frozen=True)
class OperationState:
    """``status.operationState``: the last (or running) operation and its result."""

    phase: str
    message: str = ""
    started_at: str = ""
    finished_at: str = ""
    retry_count: int = 0
    #: ``syncResult.revision`` and ``syncResult.source``: what the operation synced
    revision: str = ""
    source: Mapping[str, Any] = field(default_factory=dict)
    #: the operation document as recorded (to resume it)
    operation: Mapping[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.phase == "Running"

    @property
    def failed(self) -> bool:
        return self.phase in ("Failed", "Error")


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    revision: str
    deployed_at: str = ""
    deploy_started_at: str = ""
    source: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AppStatus:
    """An Application's status as typed values (``UNKNOWN`` where it says nothing)."""

    sync: str = UNKNOWN
    revision: str = ""
    health: str = UNKNOWN
    health_message: str = ""
    resources: tuple[ResourceState, ...] = ()
    conditions: tuple[Condition, ...] = ()
    operation: OperationState | None = None
    history: tuple[HistoryEntry, ...] = ()
    reconciled_at: str = ""
    source_type: str = ""

    def condition(self, kind: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == kind), None)


def _resource(entry: Mapping[str, Any]) -> ResourceState:
    health = _map(entry.get("health"))
    return ResourceState(
        group=_text(entry.get("group")),
        version=_text(entry.get("version")),
        kind=_text(entry.get("kind")),
        namespace=_text(entry.get("namespace")),
        name=_text(entry.get("name")),
        status=_text(entry.get("status")) or UNKNOWN,
        health=_text(health.get("status")),
        health_message=_text(health.get("message")),
        requires_pruning=entry.get("requiresPruning") is True,
    )


def _operation(state: Mapping[str, Any]) -> OperationState | None:
    if not state:
        return None
    result = _map(state.get("syncResult"))
    return OperationState(
        phase=_text(state.get("phase")),
        message=_text(state.get("message")),
        started_at=_text(state.get("startedAt")),
        finished_at=_text(state.get("finishedAt")),
        retry_count=_int(state.get("retryCount")),
        revision=_text(result.get("revision")),
        source=_map(result.get("source")),
        operation=_map(state.get("operation")),
    )


def _history(entry: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        id=_int(entry.get("id")),
        revision=_text(entry.get("revision")),
        deployed_at=_text(entry.get("deployedAt")),
        deploy_started_at=_text(entry.get("deployStartedAt")),
        source=_map(entry.get("source")),
    )


def read_status(app: Mapping[str, Any]) -> AppStatus:
    """The typed status of an Application object (any shape: defaults where it is off)."""
    status = _map(_map(app).get("status"))
    sync = _map(status.get("sync"))
    health = _map(status.get("health"))
    return AppStatus(
        sync=_text(sync.get("status")) or UNKNOWN,
        revision=_text(sync.get("revision")),
        health=_text(health.get("status")) or UNKNOWN,
        health_message=_text(health.get("message")),
        resources=tuple(
            _resource(r) for r in _list(status.get("resources")) if isinstance(r, Mapping)
        ),
        conditions=tuple(
            Condition(
                _text(c.get("type")), _text(c.get("message")), _text(c.get("lastTransitionTime"))
            )
            for c in _list(status.get("conditions"))
            if isinstance(c, Mapping)
        ),
        operation=_operation(_map(status.get("operationState"))),
        history=tuple(_history(h) for h in _list(status.get("history")) if isinstance(h, Mapping)),
        reconciled_at=_text(status.get("reconciledAt")),
        source_type=_text(status.get("sourceType")),
    )
