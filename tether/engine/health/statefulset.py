"""apps/StatefulSet: the rules of ``kubectl rollout status``, with Argo CD's messages."""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import integer, mapping, text
from tether.engine.health.status import HEALTHY, PROGRESSING, HealthStatus


def statefulset_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of a StatefulSet."""
    spec = mapping(obj.get("spec"))
    status = mapping(obj.get("status"))
    observed = integer(status.get("observedGeneration"))
    generation = integer(mapping(obj.get("metadata")).get("generation"))
    if observed == 0 or generation > observed:
        return HealthStatus(PROGRESSING, "Waiting for statefulset spec update to be observed...")
    replicas = integer(spec.get("replicas"), 1)
    ready = integer(status.get("readyReplicas"))
    if ready < replicas:
        return HealthStatus(PROGRESSING, f"Waiting for {replicas - ready} pods to be ready...")
    strategy = mapping(spec.get("updateStrategy"))
    strategy_type = text(strategy.get("type")) or "RollingUpdate"
    updated = integer(status.get("updatedReplicas"))
    rolling = strategy.get("rollingUpdate")
    if strategy_type == "RollingUpdate" and isinstance(rolling, dict):
        partition = rolling.get("partition")
        if isinstance(partition, int) and updated < replicas - partition:
            return HealthStatus(
                PROGRESSING,
                f"Waiting for partitioned roll out to finish: {updated} out of "
                f"{replicas - partition} new pods have been updated...",
            )
        return HealthStatus(
            HEALTHY, f"partitioned roll out complete: {updated} new pods have been updated..."
        )
    if strategy_type == "OnDelete":
        return HealthStatus(HEALTHY, f"statefulset has {ready} ready pods")
    update_revision = text(status.get("updateRevision"))
    current_revision = text(status.get("currentRevision"))
    if update_revision != current_revision:
        return HealthStatus(
            PROGRESSING,
            f"waiting for statefulset rolling update to complete {updated} pods at revision "
            f"{update_revision}...",
        )
    current = integer(status.get("currentReplicas"))
    return HealthStatus(
        HEALTHY,
        f"statefulset rolling update complete {current} pods at revision {current_revision}...",
    )
