"""A port of the kstatus rules (sigs.k8s.io/cli-utils ``status.Compute``) used as a test oracle.

The simulated controllers must produce objects that these rules, which Flux and kpt rely on,
classify as a real cluster's objects would be. Written from kubernetes-api.md §9.
"""

from __future__ import annotations

from typing import Any

CURRENT = "Current"
IN_PROGRESS = "InProgress"
FAILED = "Failed"
TERMINATING = "Terminating"


def _cond(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == ctype:
            return dict(cond)
    return None


def _is_true(obj: dict[str, Any], ctype: str) -> bool:
    cond = _cond(obj, ctype)
    return cond is not None and cond.get("status") == "True"


def compute(obj: dict[str, Any]) -> tuple[str, str]:
    """(status, reason) for an object as kstatus computes it."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return TERMINATING, "Terminating"
    generation = meta.get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and observed is not None and generation != observed:
        return IN_PROGRESS, "LatestGenerationNotObserved"
    if _is_true(obj, "Reconciling"):
        return IN_PROGRESS, "Reconciling"
    if _is_true(obj, "Stalled"):
        return FAILED, "Stalled"
    group = (obj.get("apiVersion") or "").rpartition("/")[0]
    rule = _RULES.get((group, obj.get("kind", "")))
    if rule is not None:
        return rule(obj)
    ready = _cond(obj, "Ready")
    if ready is not None:
        return (CURRENT, "Ready") if ready.get("status") == "True" else (IN_PROGRESS, "NotReady")
    return CURRENT, "NoStatus"


def _always_current(obj: dict[str, Any]) -> tuple[str, str]:
    return CURRENT, "Current"


def _deployment(obj: dict[str, Any]) -> tuple[str, str]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    progressing = _cond(obj, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return FAILED, "ProgressDeadlineExceeded"
    desired = int(spec.get("replicas", 1))
    replicas = int(status.get("replicas", 0))
    updated = int(status.get("updatedReplicas", 0))
    available = int(status.get("availableReplicas", 0))
    ready = int(status.get("readyReplicas", 0))
    if replicas < desired:
        return IN_PROGRESS, "LessReplicas"
    if updated < desired:
        return IN_PROGRESS, "LessUpdated"
    if replicas > desired:
        return IN_PROGRESS, "ExtraPods"
    if available < updated:
        return IN_PROGRESS, "LessAvailable"
    if ready < desired:
        return IN_PROGRESS, "LessReady"
    has_deadline = spec.get("progressDeadlineSeconds") not in (None, 2147483647)
    is_progressing = (
        progressing is not None
        and progressing.get("status") == "True"
        and progressing.get("reason") == "NewReplicaSetAvailable"
    )
    if has_deadline and not is_progressing:
        return IN_PROGRESS, "ReplicaSetNotAvailable"
    if not _is_true(obj, "Available"):
        return IN_PROGRESS, "DeploymentNotAvailable"
    return CURRENT, "Current"


def _statefulset(obj: dict[str, Any]) -> tuple[str, str]:
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "OnDelete":
        return CURRENT, "OnDelete"
    desired = int(spec.get("replicas", 1))
    if int(status.get("replicas", 0)) < desired:
        return IN_PROGRESS, "LessReplicas"
    if int(status.get("readyReplicas", 0)) < desired:
        return IN_PROGRESS, "LessReady"
    if int(status.get("replicas", 0)) > desired:
        return IN_PROGRESS, "ExtraPods"
    rolling = strategy.get("rollingUpdate") or {}
    if "partition" in rolling:
        if int(status.get("updatedReplicas", 0)) < desired - int(rolling["partition"]):
            return IN_PROGRESS, "LessUpdated"
        return CURRENT, "Current"
    if int(status.get("currentReplicas", 0)) < desired:
        return IN_PROGRESS, "LessCurrent"
    if status.get("currentRevision") != status.get("updateRevision"):
        return IN_PROGRESS, "RevisionMismatch"
    return CURRENT, "Current"


def _daemonset(obj: dict[str, Any]) -> tuple[str, str]:
    status = obj.get("status") or {}
    if (obj.get("metadata") or {}).get("generation") is None:
        return IN_PROGRESS, "NoGeneration"
    if status.get("observedGeneration") is None:
        return IN_PROGRESS, "NoObservedGeneration"
    desired = status.get("desiredNumberScheduled")
    if desired is None:
        return IN_PROGRESS, "NoDesiredNumber"
    for field in (
        "currentNumberScheduled",
        "updatedNumberScheduled",
        "numberAvailable",
        "numberReady",
    ):
        if int(desired) > int(status.get(field, 0)):
            return IN_PROGRESS, field
    return CURRENT, "Current"


def _pod(obj: dict[str, Any]) -> tuple[str, str]:
    status = obj.get("status") or {}
    phase = status.get("phase")
    if phase in ("Succeeded", "Failed"):
        return CURRENT, "PodFinished"
    if phase == "Running":
        if _is_true(obj, "Ready"):
            return CURRENT, "PodRunningReady"
        for cs in status.get("containerStatuses") or []:
            if ((cs.get("state") or {}).get("waiting") or {}).get("reason") == "CrashLoopBackOff":
                return FAILED, "ContainerCrashLooping"
        return IN_PROGRESS, "PodRunningNotReady"
    return IN_PROGRESS, "PodNotRunning"


def _job(obj: dict[str, Any]) -> tuple[str, str]:
    if _is_true(obj, "Complete"):
        return CURRENT, "JobComplete"
    if _is_true(obj, "Failed"):
        return FAILED, "JobFailed"
    if _is_true(obj, "Suspended") and (obj.get("spec") or {}).get("suspend"):
        return CURRENT, "JobSuspended"
    if not (obj.get("status") or {}).get("startTime"):
        return IN_PROGRESS, "JobNotStarted"
    return CURRENT, "JobInProgress"


def _pvc(obj: dict[str, Any]) -> tuple[str, str]:
    bound = (obj.get("status") or {}).get("phase") == "Bound"
    return (CURRENT, "Bound") if bound else (IN_PROGRESS, "NotBound")


def _service(obj: dict[str, Any]) -> tuple[str, str]:
    spec = obj.get("spec") or {}
    if spec.get("type") == "LoadBalancer" and not spec.get("clusterIP"):
        return IN_PROGRESS, "NoIPAssigned"
    return CURRENT, "Current"


def _replicaset(obj: dict[str, Any]) -> tuple[str, str]:
    if _is_true(obj, "ReplicaFailure"):
        return IN_PROGRESS, "ReplicaFailure"
    desired = int((obj.get("spec") or {}).get("replicas", 1))
    status = obj.get("status") or {}
    for field in ("fullyLabeledReplicas", "availableReplicas", "readyReplicas"):
        if desired > int(status.get(field, 0)):
            return IN_PROGRESS, field
    if int(status.get("replicas", 0)) > desired:
        return IN_PROGRESS, "ExtraPods"
    return CURRENT, "Current"


_RULES = {
    ("", "ConfigMap"): _always_current,
    ("", "Secret"): _always_current,
    ("batch", "CronJob"): _always_current,
    ("policy", "PodDisruptionBudget"): _always_current,
    ("apps", "Deployment"): _deployment,
    ("apps", "StatefulSet"): _statefulset,
    ("apps", "DaemonSet"): _daemonset,
    ("apps", "ReplicaSet"): _replicaset,
    ("", "Pod"): _pod,
    ("batch", "Job"): _job,
    ("", "PersistentVolumeClaim"): _pvc,
    ("", "Service"): _service,
}
