"""Flux's status shapes: revisions, conditions and the Kustomization inventory.

What ``flux get``, dashboards and other controllers read must look as Flux writes it: revisions
``<pointer>@sha1:<commit>`` (RFC-0005), ``Ready``/``Reconciling``/``Stalled``/``Healthy``
conditions with Flux's reasons, a condition's ``lastTransitionTime`` kept while its status holds
(as ``meta.SetStatusCondition``), and inventory entries ``<namespace>_<name>_<group>_<kind>``
with the object's version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tether.flux.specs import InvalidExpression, Unsupported
from tether.resources import ResourceKey

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
HEALTHY = "Healthy"
ARTIFACT_IN_STORAGE = "ArtifactInStorage"
FETCH_FAILED = "FetchFailed"
SOURCE_VERIFIED = "SourceVerified"

# reasons, as Flux's controllers spell them
SUCCEEDED = "Succeeded"  # source-controller
GIT_OPERATION_FAILED = "GitOperationFailed"
AUTHENTICATION_FAILED = "AuthenticationFailed"
VERIFICATION_ERROR = "VerificationError"
PROGRESSING = "Progressing"
PROGRESSING_WITH_RETRY = "ProgressingWithRetry"
RECONCILIATION_SUCCEEDED = "ReconciliationSucceeded"  # kustomize-controller
RECONCILIATION_FAILED = "ReconciliationFailed"
ARTIFACT_FAILED = "ArtifactFailed"
BUILD_FAILED = "BuildFailed"
HEALTH_CHECK_FAILED = "HealthCheckFailed"
DEPENDENCY_NOT_READY = "DependencyNotReady"
PRUNE_FAILED = "PruneFailed"
INVALID_SPEC = "InvalidSpec"  # Tether: the spec could not be read (Flux's CRD would refuse it)
UNSUPPORTED = "Unsupported"  # Tether: a field Flux accepts that Tether does not carry out
INVALID_CEL_EXPRESSION = "InvalidCELExpression"

MAX_MESSAGE = 4096  # bounded as Kubernetes bounds a condition's message (32 KiB) and readable


@dataclass(frozen=True)
class Observed:
    """What a reconcile reads of the object itself before its spec."""

    namespace: str
    name: str
    generation: int
    status: dict[str, Any]

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Observed:
        meta = obj.get("metadata") or {}
        return cls(
            str(meta.get("namespace") or ""),
            str(meta.get("name") or ""),
            int(meta.get("generation") or 0),
            dict(obj.get("status") or {}),
        )


def refusal_reason(exc: Exception) -> str:
    """The ``Ready`` reason of a spec that cannot be carried out: ``Unsupported`` for a field
    Flux accepts and Tether does not do yet, ``InvalidSpec`` otherwise."""
    if isinstance(exc, InvalidExpression):
        return INVALID_CEL_EXPRESSION
    return UNSUPPORTED if isinstance(exc, Unsupported) else INVALID_SPEC


def git_revision(pointer: str | None, commit: str) -> str:
    """``main@sha1:<sha>``, ``v1.2.3@sha1:<sha>``, or ``sha1:<sha>`` without a pointer; a
    SHA-256 repository's commit is ``sha256:``."""
    algorithm = "sha256" if len(commit) == 64 else "sha1"
    return f"{pointer}@{algorithm}:{commit}" if pointer else f"{algorithm}:{commit}"


def revision_commit(revision: str) -> str:
    """The commit of a revision string (``main@sha1:abc`` → ``abc``); the string itself when
    it is a bare commit of Flux v1's older ``main/abc`` form."""
    tail = revision.rsplit("@", 1)[-1]
    if ":" in tail:
        return tail.split(":", 1)[1]
    return revision.rsplit("/", 1)[-1]


def condition(
    previous: Iterable[Mapping[str, Any]],
    type_: str,
    status: bool,
    reason: str,
    message: str,
    generation: int,
    now: str,
) -> dict[str, Any]:
    """One condition, its ``lastTransitionTime`` kept when its status did not change."""
    value = "True" if status else "False"
    since = now
    for old in previous:
        if (
            old.get("type") == type_
            and old.get("status") == value
            and old.get("lastTransitionTime")
        ):
            since = str(old["lastTransitionTime"])
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 3] + "..."
    return {
        "type": type_,
        "status": value,
        "observedGeneration": generation,
        "lastTransitionTime": since,
        "reason": reason,
        "message": message,
    }


def conditions(
    previous: Iterable[Mapping[str, Any]],
    wanted: Iterable[tuple[str, bool, str, str]],
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """The whole list: ``wanted`` as (type, status, reason, message), Ready first as Flux
    orders them; conditions not wanted are dropped (Flux removes Reconciling when done)."""
    old = list(previous)
    made = [condition(old, t, s, r, m, generation, now) for t, s, r, m in wanted]
    return sorted(made, key=lambda c: (c["type"] != READY, c["type"]))


def updated(
    previous: Mapping[str, Any],
    wanted: Iterable[tuple[str, bool, str, str]],
    generation: int,
    now: str,
    **fields: Any,
) -> dict[str, Any]:
    """A new status: the previous one with ``observedGeneration``, the ``wanted`` conditions
    (see :func:`conditions`) and ``fields`` set."""
    return {
        **previous,
        "observedGeneration": generation,
        "conditions": conditions(previous.get("conditions") or (), wanted, generation, now),
        **fields,
    }


def stored(
    previous: Mapping[str, Any],
    revision: str,
    message: str,
    generation: int,
    now: str,
    also: Iterable[tuple[str, bool, str, str]] = (),
    **artifact: Any,
) -> dict[str, Any]:
    """A source's status once its artifact is had: ``Ready`` and ``ArtifactInStorage``
    (reason ``Succeeded``) and the conditions ``also`` lists, ``artifact`` with ``revision``
    (and ``artifact``'s fields), kept as it was — ``lastUpdateTime`` included — while the
    revision does not move."""
    kept = dict(previous.get("artifact") or {})
    if kept.get("revision") != revision:
        kept = {"revision": revision, "lastUpdateTime": now, **artifact}
    wanted = [(READY, True, SUCCEEDED, message), (ARTIFACT_IN_STORAGE, True, SUCCEEDED, message),
              *also]  # fmt: skip
    return updated(previous, wanted, generation, now, artifact=kept)


def refused(
    previous: Mapping[str, Any], reason: str, message: str, generation: int, now: str
) -> dict[str, Any]:
    """``Ready=False`` and ``Stalled`` with the reason: nothing is tried until the spec
    changes."""
    wanted = [(READY, False, reason, message), (STALLED, True, reason, message)]
    return updated(previous, wanted, generation, now)


def is_ready(obj: Mapping[str, Any]) -> bool:
    """Ready=True for the object's current generation (Flux's readiness of a dependency)."""
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    if generation is not None and status.get("observedGeneration") != generation:
        return False
    return any(
        c.get("type") == READY and c.get("status") == "True" for c in status.get("conditions") or ()
    )


# ---- inventory ---------------------------------------------------------------------------------


def inventory_id(key: ResourceKey) -> str:
    """``<namespace>_<name>_<group>_<kind>`` (empty namespace and core group as empty)."""
    return f"{key.namespace}_{key.name}_{key.group}_{key.kind}"


def inventory(objects: Iterable[tuple[ResourceKey, str]]) -> dict[str, Any]:
    """``status.inventory`` of the objects applied, as (key, version) pairs, sorted by id."""
    entries = sorted({inventory_id(key): version for key, version in objects}.items())
    return {"entries": [{"id": id_, "v": version} for id_, version in entries]}


class InventoryError(ValueError):
    """An inventory entry that is not ``<namespace>_<name>_<group>_<kind>``."""


def inventory_keys(status: Mapping[str, Any]) -> list[tuple[ResourceKey, str]]:
    """The (key, version) pairs of ``status.inventory``; entries that cannot be read are
    refused rather than skipped (pruning from a misread inventory would delete the wrong
    object)."""
    pairs = []
    for entry in ((status.get("inventory") or {}).get("entries")) or ():
        id_ = str(entry.get("id", "")) if isinstance(entry, Mapping) else ""
        parts = id_.split("_")
        # names and namespaces have no "_"; a group or kind has none either
        if len(parts) != 4 or not parts[1] or not parts[3]:
            raise InventoryError(
                f"inventory entry {id_!r} is not <namespace>_<name>_<group>_<kind>"
            )
        namespace, name, group, kind = parts
        key = ResourceKey(group=group, kind=kind, namespace=namespace, name=name)
        pairs.append((key, str(entry.get("v", ""))))
    return pairs


# ---- history -----------------------------------------------------------------------------------

#: entries of a Kustomization's ``status.history``, as Flux keeps them
MAX_HISTORY = 5


def manifest_digest(objects: Iterable[Mapping[str, Any]]) -> str:
    """``sha256:`` of the applied objects (canonical JSON): the same objects, the same digest."""
    text = json.dumps(list(objects), sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def record_history(
    history: Iterable[Mapping[str, Any]],
    digest: str,
    reason: str,
    now: str,
    seconds: float,
    revision: str,
) -> list[dict[str, Any]]:
    """``status.history`` after one reconcile, as kustomize-controller keeps it: the newest
    first; a reconcile of the same objects with the same outcome as the newest entry counts in
    it (``totalReconciliations``, ``lastReconciled``) instead of adding one; at most 5."""
    entries = [dict(e) for e in history if isinstance(e, Mapping)]
    duration = f"{round(seconds, 3):g}s"
    if (
        entries
        and entries[0].get("digest") == digest
        and entries[0].get("lastReconciledStatus") == reason
    ):
        newest = entries[0]
        newest["lastReconciled"] = now
        newest["lastReconciledDuration"] = duration
        newest["totalReconciliations"] = int(newest.get("totalReconciliations") or 0) + 1
        newest["metadata"] = {**(newest.get("metadata") or {}), "revision": revision}
        return entries[:MAX_HISTORY]
    entry = {
        "digest": digest,
        "firstReconciled": now,
        "lastReconciled": now,
        "lastReconciledDuration": duration,
        "lastReconciledStatus": reason,
        "totalReconciliations": 1,
        "metadata": {"revision": revision},
    }
    return [entry, *entries][:MAX_HISTORY]
