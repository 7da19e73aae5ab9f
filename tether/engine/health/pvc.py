"""core/PersistentVolumeClaim: its phase."""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import mapping, text
from tether.engine.health.status import DEGRADED, HEALTHY, PROGRESSING, UNKNOWN, HealthStatus

_BY_PHASE = {"Bound": HEALTHY, "Pending": PROGRESSING, "Lost": DEGRADED}


def pvc_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of a PersistentVolumeClaim: Bound, Pending (waiting to be bound) or Lost.

    A claim with no phase yet has just been created (the API server writes ``Pending``), so it
    is Progressing, not Unknown as in Argo CD.
    """
    phase = text(mapping(obj.get("status")).get("phase")) or "Pending"
    return HealthStatus(_BY_PHASE.get(phase, UNKNOWN))
