"""apps/ReplicaSet, with Argo CD's messages."""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import condition, integer, mapping, text
from tether.engine.health.status import DEGRADED, HEALTHY, PROGRESSING, HealthStatus


def replicaset_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of a ReplicaSet."""
    spec = mapping(obj.get("spec"))
    status = mapping(obj.get("status"))
    generation = integer(mapping(obj.get("metadata")).get("generation"))
    if generation > integer(status.get("observedGeneration")):
        return HealthStatus(
            PROGRESSING,
            "Waiting for rollout to finish: observed replica set generation less than desired "
            "generation",
        )
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
