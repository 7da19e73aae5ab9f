"""networking.k8s.io/Ingress (and the old extensions/Ingress)."""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import mapping, sequence
from tether.engine.health.status import HEALTHY, PROGRESSING, HealthStatus


def ingress_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of an Ingress: Progressing until its controller published a load-balancer address."""
    load_balancer = mapping(mapping(obj.get("status")).get("loadBalancer"))
    if sequence(load_balancer.get("ingress")):
        return HealthStatus(HEALTHY)
    return HealthStatus(PROGRESSING)
