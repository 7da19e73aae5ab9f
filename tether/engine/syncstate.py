"""What one sync knows and what it records.

:class:`SyncSettings` is the engine's configuration, resolved for one run (which application it
writes for, which objects it may write). :class:`RunRecord` belongs to one run: the
:class:`SyncResult` being built, the step of each task (a hook's step changes when the hook ends)
and the Secrets whose values no message may show. Nothing here is shared between two runs except
the settings' concurrency limit, which bounds the requests one engine sends to its cluster.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.tracking import Tracking
from tether.engine.health import HealthStatus
from tether.engine.masking import scrub
from tether.engine.plan import SyncTask
from tether.resources import ResourceKey

# operation phases, as Argo CD's operationState.phase uses them
PHASE_RUNNING = "Running"
PHASE_SUCCEEDED = "Succeeded"
PHASE_FAILED = "Failed"
PHASE_ERROR = "Error"
PHASE_TERMINATED = "Terminated"

# result statuses, as Argo CD's syncResult.resources[].status and hookPhase use them
SYNCED = "Synced"
SYNC_FAILED = "SyncFailed"
PRUNED = "Pruned"
PRUNE_SKIPPED = "PruneSkipped"
HOOK_SUCCEEDED = "Succeeded"
HOOK_FAILED = "Failed"
HOOK_RUNNING = "Running"

#: decides whether an object may be written: the reason it may not, or ``None``
Admit = Callable[[dict[str, Any]], str | None]
Health = Callable[[dict[str, Any]], HealthStatus | None]
#: sees each live object a write answered with (a live cache's write-through)
Written = Callable[[dict[str, Any]], None]


@dataclass
class StepResult:
    """What happened to one task."""

    key: ResourceKey
    phase: str
    wave: int
    action: str
    status: str
    message: str = ""
    hook_phase: str | None = None
    hook_type: str | None = None
    #: name of the object actually created (hooks with generateName get one from the server)
    name: str | None = None

    @classmethod
    def of(cls, task: SyncTask, status: str, message: str, **extra: Any) -> StepResult:
        """The step of ``task`` with ``status`` and ``message`` (and any other field)."""
        return cls(task.key, task.phase, task.wave, task.action, status, message, **extra)

    def to_argo(self) -> dict[str, Any]:
        """The ``syncResult.resources[]`` entry Argo CD writes for this step."""
        entry: dict[str, Any] = {
            "group": self.key.group,
            "kind": self.key.kind,
            "namespace": self.key.namespace,
            "name": self.name or self.key.name,
            "status": self.status,
            "message": self.message,
            "syncPhase": self.phase,
        }
        if self.hook_type:
            entry["hookType"] = self.hook_type
            entry["hookPhase"] = self.hook_phase
        return entry


@dataclass
class SyncResult:
    """The outcome of a sync: Argo CD's operation phase, a message, every step and the log."""

    phase: str  # Succeeded | Failed | Error | Terminated
    message: str
    steps: list[StepResult] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)
    finished_at: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.phase == PHASE_SUCCEEDED


class SyncFailure(Exception):
    """Internal: stop the sync after a step failed (the step result carries the reason)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class SyncSettings:
    """How an engine syncs, resolved for one run."""

    client: ClusterClient
    app_name: str | None
    tracking: Tracking
    field_manager: str
    health: Health
    poll_interval: float
    wave_timeout: float
    wave_delay: float
    retries: int
    #: sees every object in its final form just before it is written
    admit: Admit | None
    #: the engine's bound on concurrent requests, shared by its runs
    limit: asyncio.Semaphore
    #: sees each live object a write of this run answered with
    written: Written | None = None


class RunRecord:
    """The result of one run as it is built: steps, log lines, the step of each task."""

    def __init__(self, secrets: list[dict[str, Any]]) -> None:
        self.result = SyncResult(phase=PHASE_RUNNING, message="")
        #: the Secrets of this sync: a server may quote their values in an error it returns
        self.secrets = secrets
        self._steps: dict[int, StepResult] = {}

    def record(self, step: StepResult, line: str, task: SyncTask | None = None) -> None:
        """Add ``step`` and its log line; with ``task``, remember the step as that task's."""
        self.result.steps.append(step)
        self.result.log.append(f"{step.phase} wave {step.wave}: {line}")
        if task is not None:
            self._steps[id(task)] = step

    def note(self, line: str) -> None:
        """Add a log line that belongs to no step."""
        self.result.log.append(line)

    def step_of(self, task: SyncTask) -> StepResult | None:
        """The step recorded for ``task`` by its apply, if any."""
        return self._steps.get(id(task))

    def finish(self, phase: str, message: str) -> SyncResult:
        """End the run: its phase and message, the time, every message scrubbed of Secrets."""
        result = self.result
        result.phase = phase
        result.message = message
        result.finished_at = time.time()
        if self.secrets:
            result.message = scrub(result.message, *self.secrets)
            result.log = [scrub(line, *self.secrets) for line in result.log]
            for step in result.steps:
                step.message = scrub(step.message, *self.secrets)
        return result


def secrets_of(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Secrets among ``objects``."""
    return [o for o in objects if o.get("kind") == "Secret"]


def namespace_of(obj: dict[str, Any], info: ResourceInfo) -> str | None:
    """The namespace to address ``obj`` in: its own for namespaced kinds, none otherwise."""
    return obj["metadata"].get("namespace") if info.namespaced else None


def ref_kind(key: ResourceKey) -> str:
    """``kind.group`` in lower case, as kubectl prints a resource type."""
    return f"{key.kind.lower()}.{key.group}" if key.group else key.kind.lower()


def ref(key: ResourceKey) -> str:
    """``kind.group/name``, as kubectl prints an object."""
    return f"{ref_kind(key)}/{key.name}"
