"""argoproj.io kinds with a built-in check: Workflow.

An ``Application`` deployed by another (app of apps) has no built-in check, as in Argo CD since
1.8: a parent never waits on its children's health unless the operator adds Argo CD's documented
Lua check for ``argoproj.io/Application`` to ``argocd-cm``.
"""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import mapping, text
from tether.engine.health.status import DEGRADED, HEALTHY, PROGRESSING, UNKNOWN, HealthStatus

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
