"""The Application's ``status`` document, read as typed values.

Argo CD's controller writes ``status``; so does Tether's, in the same shape. Everything that
decides from it (the auto-sync policy, the API's filters, the CLI, metrics) reads it through
:func:`read_status`, so they agree on what a missing or malformed field means. Reading never
fails: a status written by another tool, or edited by hand, gives defaults where it is off.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from tether.controller.models import Operation
from tether.controller.multisource import read_revision
from tether.engine.diff import SyncStatus

SYNCED = "Synced"
OUT_OF_SYNC = "OutOfSync"
UNKNOWN = "Unknown"
#: ``operationState.phase`` of an operation asked to stop (Argo CD's terminate writes it)
TERMINATING = "Terminating"
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
    #: ``syncResult.revision`` and ``syncResult.source``: what the operation synced (a
    #: multi-source app: its ``revisions`` joined, and ``sources``)
    revision: str = ""
    source: Mapping[str, Any] = field(default_factory=dict)
    sources: tuple[Mapping[str, Any], ...] = ()
    #: the operation document as recorded (to resume it)
    operation: Mapping[str, Any] = field(default_factory=dict)
    #: ``syncResult.resources``: what the operation did to each object (hooks included)
    results: tuple[Mapping[str, Any], ...] = ()

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
    #: ``sync.comparedTo.source``: the source the sync status was computed for
    compared_source: Mapping[str, Any] = field(default_factory=dict)

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
        revision=read_revision(result),
        source=_map(result.get("source")),
        sources=tuple(_map(x) for x in _list(result.get("sources"))),
        operation=_map(state.get("operation")),
        results=tuple(r for r in _list(result.get("resources")) if isinstance(r, Mapping)),
    )


def _history(entry: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        id=_int(entry.get("id")),
        revision=read_revision(entry),
        deployed_at=_text(entry.get("deployedAt")),
        deploy_started_at=_text(entry.get("deployStartedAt")),
        source=_map(entry.get("source")),
    )


def read_operation(app: Mapping[str, Any]) -> OperationState | None:
    """The typed ``status.operationState`` of an Application alone (for readers that want no
    more: the whole typed status lists every resource)."""
    return _operation(_map(_map(_map(app).get("status")).get("operationState")))


def read_status(app: Mapping[str, Any]) -> AppStatus:
    """The typed status of an Application object (any shape: defaults where it is off)."""
    status = _map(_map(app).get("status"))
    sync = _map(status.get("sync"))
    health = _map(status.get("health"))
    return AppStatus(
        sync=_text(sync.get("status")) or UNKNOWN,
        revision=read_revision(sync),
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
        compared_source=_map(_map(sync.get("comparedTo")).get("source")),
    )


# ---- building the document ----------------------------------------------------------------------
#
# Pure functions: the controller's writes are these documents, merged into ``status`` and written
# only when something changed. Timestamps come from ``now_iso`` unless given.


def now_iso() -> str:
    """The current time as Argo CD writes it (seconds, UTC, ``Z``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str | None) -> float:
    """Seconds since the epoch of a time written by :func:`now_iso` (0 when unreadable)."""
    if not text:
        return 0.0
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


#: conditions the comparison and the spec checks own: dropped when they no longer apply
COMPARISON_CONDITIONS = frozenset({"ComparisonError", "InvalidSpecError"})


def conditions(
    status: Mapping[str, Any],
    wanted: list[tuple[str, str]],
    *,
    keep_others: bool = False,
    drop: tuple[str, ...] = (),
    now: str | None = None,
) -> list[dict[str, Any]]:
    """``status.conditions`` with ``wanted`` (type, message) set.

    Conditions of the comparison's kinds not wanted are cleared unless ``keep_others``; types in
    ``drop`` always are. A condition whose message did not change keeps its
    ``lastTransitionTime``.
    """
    existing = {c.get("type"): c for c in _list(status.get("conditions")) if isinstance(c, Mapping)}
    wanted_types = {t for t, _ in wanted}
    out = []
    for ctype, cond in existing.items():
        if ctype in drop or ctype in wanted_types:
            continue
        if ctype in COMPARISON_CONDITIONS and not keep_others:
            continue
        out.append(dict(cond))
    for ctype, message in wanted:
        old = existing.get(ctype)
        if old is not None and old.get("message") == message:
            out.append(dict(old))
        else:
            out.append({"type": ctype, "message": message, "lastTransitionTime": now or now_iso()})
    return out


def summary(desired: list[dict[str, Any]]) -> dict[str, Any]:
    """``status.summary``: the images the desired workloads run."""
    images: set[str] = set()
    for obj in desired:
        spec = _map(obj.get("spec"))
        template = _map(_map(spec.get("template")).get("spec"))
        job = _map(
            _map(_map(_map(spec.get("jobTemplate")).get("spec")).get("template")).get("spec")
        )
        pod = template or job or (spec if obj.get("kind") == "Pod" else {})
        for c in _list(pod.get("containers")) + _list(pod.get("initContainers")):
            if isinstance(c, Mapping) and c.get("image"):
                images.add(str(c["image"]))
    return {"images": sorted(images)} if images else {}


def merge_patch(old: Any, new: Any) -> Any:
    """The JSON merge patch (RFC 7386) turning ``old`` into ``new``: removed keys become null,
    objects are patched key by key, anything else is replaced."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        if key not in old:
            patch[key] = value
        elif old[key] != value:
            patch[key] = merge_patch(old[key], value)
    return patch


def without_times(status: Mapping[str, Any]) -> bytes:
    """The status without its timestamps, to tell a real change from a re-write."""
    return orjson.dumps(
        {k: v for k, v in status.items() if k not in ("reconciledAt", "observedAt")},
        option=orjson.OPT_SORT_KEYS,
    )


def next_status(old: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any] | None:
    """``old`` with ``update`` merged in, or ``None`` when nothing changes.

    ``reconciledAt`` moves only with a real change, so an idle application costs no write.
    """
    old_status = dict(old)
    new_status = {**old_status, **update}
    if "reconciledAt" not in update and without_times(new_status) != without_times(old_status):
        new_status["reconciledAt"] = now_iso()
    return None if new_status == old_status else new_status


def history_after(
    history: list[dict[str, Any]], entry: dict[str, Any], limit: int, *, resumed: bool = False
) -> list[dict[str, Any]]:
    """``status.history`` with ``entry`` appended (ids go on from the largest), at most ``limit``
    entries kept (0: all). An operation ``resumed`` after a crash that already recorded its
    result (same revision, start time and initiator) adds nothing; any other operation is
    recorded, even one started in the same second as an earlier one to the same revision (a
    rollback right after the first sync, a drift reverted right after a rollback)."""
    recorded = resumed and any(
        read_revision(h) == read_revision(entry)
        and h.get("deployStartedAt") == entry["deployStartedAt"]
        and h.get("initiatedBy") == entry.get("initiatedBy")
        for h in history
    )
    out = list(history)
    if not recorded:
        next_id = max((_int(h.get("id")) for h in history), default=-1) + 1
        out.append({"id": next_id, **entry})
    return out[-limit:] if limit > 0 else out


def operation_document(operation: Operation) -> dict[str, Any]:
    """The ``operation`` document as Argo CD stores it (in ``status.operationState.operation``)."""
    sync = operation.sync
    sync_doc: dict[str, Any] = {}
    if sync.revision:
        sync_doc["revision"] = sync.revision
    if sync.revisions:
        sync_doc["revisions"] = list(sync.revisions)
    if sync.prune:
        sync_doc["prune"] = True
    if sync.dry_run:
        sync_doc["dryRun"] = True
    if sync.sync_options:
        sync_doc["syncOptions"] = list(sync.sync_options)
    if sync.resources:
        sync_doc["resources"] = [
            {
                **({"group": r.group} if r.group else {}),
                "kind": r.kind,
                **({"namespace": r.namespace} if r.namespace else {}),
                "name": r.name,
            }
            for r in sync.resources
        ]
    initiated: dict[str, Any] = (
        {"automated": True}
        if operation.initiated_by.automated
        else {"username": operation.initiated_by.username or "admin"}
    )
    doc: dict[str, Any] = {"sync": sync_doc, "initiatedBy": initiated}
    retry = operation.retry
    if retry.limit != 0:
        doc["retry"] = {
            "limit": retry.limit,
            "backoff": {
                "duration": f"{retry.backoff_duration:g}s",
                "factor": retry.backoff_factor,
                "maxDuration": f"{retry.backoff_max_duration:g}s",
            },
        }
    return doc


# ---- the documents a reconcile writes ---------------------------------------------------------


def invalid_spec_update(status: Mapping[str, Any], message: str) -> dict[str, Any]:
    """The status of an app whose spec or project refuses it: nothing is compared."""
    return {
        "conditions": conditions(status, [("InvalidSpecError", message)]),
        "sync": {"status": UNKNOWN},
        "health": {"status": UNKNOWN},
    }


def comparison_failed_update(status: Mapping[str, Any], kind: str, message: str) -> dict[str, Any]:
    """The status when the desired state could not be had (``kind``: ComparisonError for
    Git and render failures, InvalidSpecError for a revision its project refuses)."""
    return {
        "conditions": conditions(status, [(kind, message)]),
        "sync": {**_map(status.get("sync")), "status": UNKNOWN},
        "reconciledAt": now_iso(),
    }


def compared_update(
    status: Mapping[str, Any],
    *,
    sync_status: str,
    commit: str,
    source: Mapping[str, Any],
    destination: Mapping[str, Any],
    health_status: str,
    health_message: str,
    resources: list[dict[str, Any]],
    problems: list[str],
    tool: str,
    desired: list[dict[str, Any]],
    namespace: str,
) -> dict[str, Any]:
    """The status after a comparison, as Argo CD writes it. ``problems`` (an unreachable
    repository whose last good commit is in use, unknown kinds, resources that could not be
    compared) make one ComparisonError."""
    wanted = [("ComparisonError", "; ".join(problems))] if problems else []
    return {
        "sync": {
            "status": sync_status,
            "revision": commit,
            "comparedTo": {"source": dict(source), "destination": dict(destination)},
        },
        "health": {
            "status": health_status,
            **(
                {"message": health_message} if health_message and health_status != "Healthy" else {}
            ),
        },
        "resources": resources,
        "conditions": conditions(status, wanted),
        "sourceType": {"Kustomize": "Kustomize", "Helm": "Helm"}.get(tool, "Directory"),
        "summary": summary(desired),
        "controllerNamespace": namespace,
    }


def operation_started(operation: dict[str, Any], started: str, retry_count: int) -> dict[str, Any]:
    """``operationState`` while an operation runs."""
    return {
        "operation": operation,
        "phase": "Running",
        "message": "Syncing",
        "startedAt": started,
        **({"retryCount": retry_count} if retry_count else {}),
    }


def operation_terminated(state: Mapping[str, Any], finished: str) -> dict[str, Any]:
    """``operationState`` of an operation stopped (``Terminating``) while no sync of it runs
    here: it ended, as Argo CD ends it (Failed, "Operation terminated")."""
    return {**state, "phase": "Failed", "message": "Operation terminated", "finishedAt": finished}


def operation_finished(
    operation: dict[str, Any],
    *,
    phase: str,
    message: str,
    resources: list[dict[str, Any]],
    revision: str,
    source: Mapping[str, Any],
    started: str,
    finished: str,
    retry_count: int,
) -> dict[str, Any]:
    """``operationState`` once an operation is over, with its ``syncResult``."""
    return {
        "operation": operation,
        "phase": phase,
        "message": message,
        "syncResult": {"resources": resources, "revision": revision, "source": dict(source)},
        "startedAt": started,
        "finishedAt": finished,
        **({"retryCount": retry_count} if retry_count else {}),
    }
