"""apiregistration.k8s.io/APIService: its Available condition."""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import condition, mapping, text
from tether.engine.health.status import HEALTHY, PROGRESSING, HealthStatus


def apiservice_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of an APIService: Healthy when Available, else Progressing (as Argo CD: the
    aggregated server may still be starting)."""
    available = condition(mapping(obj.get("status")), "Available")
    if available is None:
        return HealthStatus(PROGRESSING, "Waiting to be processed")
    message = f"{text(available.get('reason'))}: {text(available.get('message'))}"
    if available.get("status") == "True":
        return HealthStatus(HEALTHY, message)
    return HealthStatus(PROGRESSING, message)
