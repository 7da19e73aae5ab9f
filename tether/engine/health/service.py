"""core/Service: a LoadBalancer is ready once the cloud gave it an address."""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import mapping, sequence
from tether.engine.health.status import HEALTHY, PROGRESSING, HealthStatus


def service_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of a Service: Progressing while a LoadBalancer has no ingress address."""
    if mapping(obj.get("spec")).get("type") == "LoadBalancer":
        load_balancer = mapping(mapping(obj.get("status")).get("loadBalancer"))
        if not sequence(load_balancer.get("ingress")):
            return HealthStatus(PROGRESSING)
    return HealthStatus(HEALTHY)
