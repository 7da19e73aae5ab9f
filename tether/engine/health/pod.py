"""core/Pod: phases, container states and the restart-policy rules Argo CD applies."""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import condition, integer, mapping, sequence, text
from tether.engine.health.status import (
    DEGRADED,
    HEALTHY,
    PROGRESSING,
    UNKNOWN,
    HealthStatus,
)
from tether.names import (
    HELM_HOOK_ANNOTATION,
    HOOK_ANNOTATION,
    IGNORE_RESTART_POLICY_ANNOTATION,
)

# Helm marks CRDs with its hook annotation too; Argo CD does not run them as hooks.
_HELM_CRD_INSTALL = "crd-install"


def _is_container_error(reason: str) -> bool:
    # CrashLoopBackOff, ImagePullBackOff, ErrImagePull, CreateContainerConfigError, ...
    return reason.startswith("Err") or reason.endswith("Error") or reason.endswith("BackOff")


def is_hook(annotations: dict[str, Any]) -> bool:
    """Whether Argo CD runs the object as a sync hook: its own hook annotation (unless it only
    says ``Skip``) or, without it, a Helm hook annotation other than ``crd-install``."""
    argo = annotations.get(HOOK_ANNOTATION)
    if argo is not None:
        types = [part.strip() for part in text(argo).split(",") if part.strip()]
        return types != ["Skip"]
    helm = annotations.get(HELM_HOOK_ANNOTATION)
    return helm is not None and text(helm) != _HELM_CRD_INSTALL


def _restart_policy(obj: dict[str, Any]) -> str:
    """The restart policy the health rules apply: ``Always`` also for a pod carrying Argo CD's
    ignore-restart-policy annotation, unless the pod is a hook (a hook must stay Progressing
    while it runs, or a pull still retrying would fail the sync)."""
    policy = text(mapping(obj.get("spec")).get("restartPolicy")) or "Always"
    annotations = mapping(mapping(obj.get("metadata")).get("annotations"))
    if annotations.get(IGNORE_RESTART_POLICY_ANNOTATION) == "true" and not is_hook(annotations):
        return "Always"
    return policy


def _failure_message(container: dict[str, Any]) -> str:
    terminated = mapping(mapping(container.get("state")).get("terminated"))
    if not terminated:
        return ""
    message = text(terminated.get("message"))
    if message:
        return message
    if terminated.get("reason") == "OOMKilled":
        return "OOMKilled"
    exit_code = integer(terminated.get("exitCode"))
    if exit_code != 0:
        return f'container "{text(container.get("name"))}" failed with exit code {exit_code}'
    return ""


def pod_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of a Pod.

    A pod that restarts forever (``restartPolicy: Always``, the default) is Degraded as soon as a
    container waits for an error reason (CrashLoopBackOff, ImagePullBackOff, ErrImagePull...).
    Pods with ``Never``/``OnFailure`` are finite, typically hooks: they stay Progressing while they
    run, so a pull that is still retrying does not fail a hook early, and are Healthy once they
    succeed.
    """
    status = mapping(obj.get("status"))
    message = text(status.get("message"))
    policy = _restart_policy(obj)
    containers = [c for c in sequence(status.get("containerStatuses")) if isinstance(c, dict)]

    if policy == "Always":
        waiting_messages = []
        for container in containers:
            waiting = mapping(mapping(container.get("state")).get("waiting"))
            if waiting and _is_container_error(text(waiting.get("reason"))):
                waiting_messages.append(text(waiting.get("message")))
        if waiting_messages:
            return HealthStatus(DEGRADED, ", ".join(waiting_messages))

    phase = text(status.get("phase"))
    if phase == "Pending":
        return HealthStatus(PROGRESSING, message)
    if phase == "Succeeded":
        return HealthStatus(HEALTHY, message)
    if phase == "Failed":
        if message:
            return HealthStatus(DEGRADED, message)
        init_containers = sequence(status.get("initContainerStatuses"))
        for container in (*init_containers, *containers):
            if isinstance(container, dict) and (failure := _failure_message(container)):
                return HealthStatus(DEGRADED, failure)
        return HealthStatus(DEGRADED, "")
    if phase == "Running":
        if policy == "Always":
            ready = condition(status, "Ready")
            if ready is not None and ready.get("status") == "True":
                return HealthStatus(HEALTHY, message)
            # Not ready and a container already died once: it is failing, not starting.
            for container in containers:
                if mapping(mapping(container.get("lastState")).get("terminated")):
                    return HealthStatus(DEGRADED, message)
            return HealthStatus(PROGRESSING, message)
        if policy in ("OnFailure", "Never"):
            return HealthStatus(PROGRESSING, message)
    return HealthStatus(UNKNOWN, message)
