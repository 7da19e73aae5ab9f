"""batch/Job."""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import mapping, sequence, text
from tether.engine.health.status import (
    DEGRADED,
    HEALTHY,
    PROGRESSING,
    SUSPENDED,
    HealthStatus,
)


def job_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of a Job: its terminal conditions, Progressing while it runs.

    Unlike Argo CD, only conditions with ``status: "True"`` count: the Job controller leaves
    ``Suspended=False`` behind when a suspended Job is resumed, and that Job is running again.
    """
    failed: dict[str, Any] | None = None
    complete: dict[str, Any] | None = None
    suspended: dict[str, Any] | None = None
    for entry in sequence(mapping(obj.get("status")).get("conditions")):
        if not isinstance(entry, dict) or entry.get("status") != "True":
            continue
        kind = entry.get("type")
        if kind == "Failed":
            failed = entry
        elif kind == "Complete":
            complete = entry
        elif kind == "Suspended":
            suspended = entry
    if failed is not None:
        return HealthStatus(DEGRADED, text(failed.get("message")))
    if complete is not None:
        return HealthStatus(HEALTHY, text(complete.get("message")))
    if suspended is not None:
        return HealthStatus(SUSPENDED, text(suspended.get("message")))
    return HealthStatus(PROGRESSING, "")
