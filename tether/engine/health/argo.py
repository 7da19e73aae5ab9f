"""argoproj.io kinds with a built-in check: Application (app of apps) and Workflow."""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import mapping, text
from tether.engine.health.status import (
    DEGRADED,
    HEALTHY,
    PROGRESSING,
    UNKNOWN,
    HealthStatus,
    is_valid_status,
)


def argocd_application_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of a child Application: the health its own controller reported.

    Argo CD dropped this check in 1.8 and documents a Lua snippet to add it back for apps of
    apps; Tether has it built in, with the snippet's behaviour: Progressing until reported.
    """
    health = mapping(mapping(obj.get("status")).get("health"))
    status = health.get("status")
    if not is_valid_status(status):
        return HealthStatus(PROGRESSING, "")
    return HealthStatus(text(status), text(health.get("message")))


_WORKFLOW_PHASES = {
    "": PROGRESSING,
    "Pending": PROGRESSING,
    "Running": PROGRESSING,
    "Succeeded": HEALTHY,
    "Failed": DEGRADED,
    "Error": DEGRADED,
}


def workflow_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of an Argo Workflow, from its phase."""
    status = mapping(obj.get("status"))
    phase = text(status.get("phase"))
    return HealthStatus(_WORKFLOW_PHASES.get(phase, UNKNOWN), text(status.get("message")))
