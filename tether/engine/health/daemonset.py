"""apps/DaemonSet: the rules of ``kubectl rollout status``, with Argo CD's messages."""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import integer, mapping, name_of, rollout_not_observed, text
from tether.engine.health.status import HEALTHY, PROGRESSING, HealthStatus


def daemonset_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of a DaemonSet."""
    spec = mapping(obj.get("spec"))
    status = mapping(obj.get("status"))
    waiting = rollout_not_observed(obj, "daemon set")
    if waiting is not None:
        return HealthStatus(PROGRESSING, waiting)
    desired = integer(status.get("desiredNumberScheduled"))
    updated = integer(status.get("updatedNumberScheduled"))
    if text(mapping(spec.get("updateStrategy")).get("type")) == "OnDelete":
        # Pods are replaced only when someone deletes them: there is no rollout to wait for.
        return HealthStatus(
            HEALTHY, f"daemon set {updated} out of {desired} new pods have been updated"
        )
    name = name_of(obj)
    if updated < desired:
        return HealthStatus(
            PROGRESSING,
            f'Waiting for daemon set "{name}" rollout to finish: {updated} out of {desired} new '
            "pods have been updated...",
        )
    available = integer(status.get("numberAvailable"))
    if available < desired:
        return HealthStatus(
            PROGRESSING,
            f'Waiting for daemon set "{name}" rollout to finish: {available} of {desired} updated '
            "pods are available...",
        )
    return HealthStatus(HEALTHY)
