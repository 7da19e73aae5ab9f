"""apps/ReplicaSet, with Argo CD's messages."""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import condition, integer, mapping, rollout_not_observed, text
from tether.engine.health.status import DEGRADED, HEALTHY, PROGRESSING, HealthStatus


def replicaset_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of a ReplicaSet."""
    spec = mapping(obj.get("spec"))
    status = mapping(obj.get("status"))
    waiting = rollout_not_observed(obj, "replica set")
    if waiting is not None:
        return HealthStatus(PROGRESSING, waiting)
    failure = condition(status, "ReplicaFailure")
    if failure is not None and failure.get("status") == "True":
        # Pod creation was rejected (quota, admission): the controller will not get further.
        return HealthStatus(DEGRADED, text(failure.get("message")))
    replicas = integer(spec.get("replicas"), 1)
    available = integer(status.get("availableReplicas"))
    if available < replicas:
        return HealthStatus(
            PROGRESSING,
            f"Waiting for rollout to finish: {available} out of {replicas} new replicas are "
            "available...",
        )
    return HealthStatus(HEALTHY)
