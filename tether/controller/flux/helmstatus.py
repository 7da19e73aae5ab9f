"""A HelmRelease's status as helm-controller writes it: the conditions of one reconcile's
steps (``Released``, ``TestSuccess``, ``Remediated``), ``Ready`` from them, ``Stalled`` or
``Reconciling`` after a failure, the failures counted for what is wanted now, the history of
Helm's revisions and the post-renderers the release was made with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tether.controller.flux.reconcile import Failure
from tether.flux import status as fluxstatus
from tether.flux.helmactions import Attempts, Wanted
from tether.flux.helmspecs import HelmReleaseSpec
from tether.flux.helmstorage import Release, config_digest

RESET_ANNOTATION = "reconcile.fluxcd.io/resetAt"

# conditions and reasons, as helm-controller writes them
RELEASED = "Released"
TEST_SUCCESS = "TestSuccess"
REMEDIATED = "Remediated"
INIT_FAILED = "InitFailed"
RETRIES_EXCEEDED = "RetriesExceeded"
GET_LAST_RELEASE_FAILED = "GetLastReleaseFailed"


@dataclass
class Progress:
    """What the steps of one reconcile did (conditions as (type, status, reason, message))."""

    attempts: Attempts
    conditions: dict[str, tuple[str, bool, str, str]] = field(default_factory=dict)
    requeue: float | None = None
    stalled: str | None = None
    history: list[Release] = field(default_factory=list)
    #: the user helm runs as (``serviceAccountName``), None: the controller's own identity
    user: str | None = None
    #: the release was found deployed and in sync (drift detection looks at it)
    in_sync: bool = False
    #: another cluster's kubeconfig (``kubeConfig``), None: the controller's own cluster
    kubeconfig: dict[str, Any] | None = None

    def set(self, type_: str, status: bool, reason: str, message: str) -> None:
        self.conditions[type_] = (type_, status, reason, message)


def status_of(
    obj: Mapping[str, Any],
    spec: HelmReleaseSpec,
    wanted: Wanted,
    progress: Progress,
    generation: int,
    now: str,
) -> dict[str, Any]:
    """The status after one reconcile's steps (``progress``): the conditions they set over
    those of the status before, ``Ready`` from them, and Flux's other fields."""
    previous = dict(obj.get("status") or {})
    old = {c.get("type"): c for c in previous.get("conditions") or () if isinstance(c, Mapping)}
    conditions = dict(progress.conditions)
    for kept in (RELEASED, TEST_SUCCESS, REMEDIATED):
        if kept not in conditions and kept in old:
            c = old[kept]
            conditions[kept] = (kept, c.get("status") == "True", str(c.get("reason")),
                                str(c.get("message")))  # fmt: skip
    if not spec.test.enable:
        conditions.pop(TEST_SUCCESS, None)
    ready = _ready(conditions, progress, old.get(fluxstatus.READY))
    wanted_conditions = [ready, *conditions.values()]
    if progress.stalled:
        wanted_conditions.append((fluxstatus.STALLED, True, RETRIES_EXCEEDED, progress.stalled))
    elif not ready[1] and progress.requeue is not None:
        wanted_conditions.append((fluxstatus.RECONCILING, True,
                                  fluxstatus.PROGRESSING_WITH_RETRY, ready[3]))  # fmt: skip
    attempts = progress.attempts
    meta = obj.get("metadata") or {}
    fields: dict[str, Any] = {
        "storageNamespace": spec.storage_namespace,
        "history": [r.snapshot() for r in progress.history[: max(spec.max_history, 1)]],
        "lastAttemptedRevision": wanted.chart_version,
        "lastAttemptedConfigDigest": wanted.config_digest,
        "observedPostRenderersDigest": _observed_renderers(previous, progress, wanted),
        "lastAttemptedGeneration": generation,
        "installFailures": attempts.install_failures,
        "upgradeFailures": attempts.upgrade_failures,
        "failures": attempts.install_failures + attempts.upgrade_failures,
    }
    if attempts.last_action:
        fields["lastAttemptedReleaseAction"] = attempts.last_action
    if spec.chart.source.kind != "OCIRepository":
        fields["helmChart"] = f"{spec.chart.source.namespace}/{chart_object(obj)}"
    reset = (meta.get("annotations") or {}).get(RESET_ANNOTATION)
    if reset:
        fields["lastHandledResetAt"] = reset
    status = fluxstatus.updated(previous, wanted_conditions, generation, now, **fields)
    if not fields["history"]:
        status.pop("history", None)
    return status


def _ready(
    conditions: Mapping[str, tuple[str, bool, str, str]],
    progress: Progress,
    old: Mapping[str, Any] | None,
) -> tuple[str, bool, str, str]:
    released = conditions.get(RELEASED)
    tested = conditions.get(TEST_SUCCESS)
    remediated = conditions.get(REMEDIATED)
    if remediated is not None and (released is None or not released[1]):
        return (fluxstatus.READY, False, remediated[2], remediated[3])
    for condition in (released, tested):
        if condition is not None and not condition[1]:
            return (fluxstatus.READY, False, condition[2], condition[3])
    if progress.stalled:
        if old is not None and old.get("status") == "False":
            return (fluxstatus.READY, False, str(old.get("reason")), str(old.get("message")))
        return (fluxstatus.READY, False, RETRIES_EXCEEDED, progress.stalled)
    best = tested if tested is not None and tested[1] and released is not None else released
    if best is None:
        return (fluxstatus.READY, False, fluxstatus.PROGRESSING, "Reconciliation in progress")
    return (fluxstatus.READY, True, best[2], best[3])


def renderers_digest(spec: HelmReleaseSpec) -> str:
    return (
        config_digest({"postRenderers": list(spec.post_renderers)}) if spec.post_renderers else ""
    )


def _observed_renderers(previous: Mapping[str, Any], progress: Progress, wanted: Wanted) -> str:
    """The post-renderers the deployed release was made with: the wanted ones once an install
    or upgrade succeeded, else what the status said."""
    released = progress.conditions.get(RELEASED)
    if released is not None and released[1]:
        return wanted.post_renderers_digest
    return str(previous.get("observedPostRenderersDigest") or "")


def attempts_of(obj: Mapping[str, Any], wanted: Wanted, generation: int) -> Attempts:
    """The failures counted for what is wanted now; none when that changed or a reset is
    asked (``reconcile.fluxcd.io/resetAt``)."""
    status = obj.get("status") or {}
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    reset = annotations.get(RESET_ANNOTATION)
    same = (
        status.get("lastAttemptedRevision") == wanted.chart_version
        and status.get("lastAttemptedConfigDigest") == wanted.config_digest
        and status.get("lastAttemptedGeneration") == generation
        and not (reset and reset != status.get("lastHandledResetAt"))
    )
    if not same:
        return Attempts(last_action=status.get("lastAttemptedReleaseAction"))
    remediated: Mapping[str, Any] = next(
        (c for c in status.get("conditions") or () if c.get("type") == REMEDIATED), {}
    )
    return Attempts(
        install_failures=int(status.get("installFailures") or 0),
        upgrade_failures=int(status.get("upgradeFailures") or 0),
        last_action=status.get("lastAttemptedReleaseAction"),
        remediation_failed=remediated.get("status") == "False",
    )


def chart_object(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace')}-{meta.get('name')}"


def failed_status(
    previous: dict[str, Any], failure: Failure, generation: int, now: str
) -> dict[str, Any]:
    """Ready=False with the reason; Stalled when nothing more will be tried, else Reconciling
    (``ProgressingWithRetry``) as Flux writes it; the release conditions stay."""
    wanted = [(fluxstatus.READY, False, failure.reason, failure.message)]
    if failure.stalled:
        wanted.append((fluxstatus.STALLED, True, failure.reason, failure.message))
    elif failure.requeue is not None:
        wanted.append((fluxstatus.RECONCILING, True, fluxstatus.PROGRESSING_WITH_RETRY,
                       failure.message))  # fmt: skip
    keep = [
        (str(c.get("type")), c.get("status") == "True", str(c.get("reason")), str(c.get("message")))
        for c in previous.get("conditions") or ()
        if isinstance(c, Mapping) and c.get("type") in (RELEASED, TEST_SUCCESS, REMEDIATED)
    ]
    return fluxstatus.updated(previous, [*wanted, *keep], generation, now)
