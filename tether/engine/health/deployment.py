"""apps/Deployment: the rules of ``kubectl rollout status``, with Argo CD's messages."""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import condition, integer, mapping, name_of, rollout_not_observed
from tether.engine.health.status import DEGRADED, HEALTHY, PROGRESSING, SUSPENDED, HealthStatus


def deployment_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of a Deployment."""
    spec = mapping(obj.get("spec"))
    status = mapping(obj.get("status"))
    if spec.get("paused") is True:
        return HealthStatus(SUSPENDED, "Deployment is paused")
    waiting = rollout_not_observed(obj, "deployment")
    if waiting is not None:
        return HealthStatus(PROGRESSING, waiting)
    progressing = condition(status, "Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return HealthStatus(DEGRADED, f'Deployment "{name_of(obj)}" exceeded its progress deadline')
    # The API server always sets spec.replicas (default 1); a hand-written manifest may not.
    replicas = integer(spec.get("replicas"), 1)
    updated = integer(status.get("updatedReplicas"))
    if updated < replicas:
        return HealthStatus(
            PROGRESSING,
            f"Waiting for rollout to finish: {updated} out of {replicas} new replicas have been "
            "updated...",
        )
    current = integer(status.get("replicas"))
    if current > updated:
        return HealthStatus(
            PROGRESSING,
            f"Waiting for rollout to finish: {current - updated} old replicas are pending "
            "termination...",
        )
    available = integer(status.get("availableReplicas"))
    if available < updated:
        return HealthStatus(
            PROGRESSING,
            f"Waiting for rollout to finish: {available} of {updated} updated replicas are "
            "available...",
        )
    return HealthStatus(HEALTHY)
