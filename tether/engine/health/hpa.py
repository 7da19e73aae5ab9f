"""autoscaling/HorizontalPodAutoscaler: its AbleToScale / ScalingActive / ScalingLimited
conditions, read as Argo CD reads them."""

from __future__ import annotations

from typing import Any

import orjson

from tether.engine.health._fields import mapping, sequence, text
from tether.engine.health.status import DEGRADED, HEALTHY, PROGRESSING, UNKNOWN, HealthStatus

#: autoscaling/v1 has no conditions field: the API server carries them in this annotation.
V1_CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"

_WAITING = HealthStatus(PROGRESSING, "Waiting to Autoscale")

# Reasons the HPA controller gives when it cannot do its job at all.
_DEGRADED_REASONS = frozenset(
    {
        ("AbleToScale", "FailedGetScale"),
        ("AbleToScale", "FailedUpdateScale"),
        ("ScalingActive", "FailedGetResourceMetric"),
        ("ScalingActive", "InvalidSelector"),
    }
)
_HEALTHY_WHEN_TRUE = frozenset({"AbleToScale", "ScalingLimited"})


def hpa_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of a HorizontalPodAutoscaler.

    The first condition that is a known failure (Degraded) or an ``AbleToScale``/``ScalingLimited``
    condition that is True (Healthy) decides, in the order the controller wrote them; with
    neither, the autoscaler is still waiting for metrics (Progressing).
    """
    if text(obj.get("apiVersion")) == "autoscaling/v1":
        annotation = mapping(mapping(obj.get("metadata")).get("annotations")).get(
            V1_CONDITIONS_ANNOTATION
        )
        if annotation is None:
            return _WAITING
        try:
            conditions = orjson.loads(text(annotation))
        except orjson.JSONDecodeError as exc:
            return HealthStatus(UNKNOWN, f"failed to convert conditions annotation to typed: {exc}")
    else:
        conditions = mapping(obj.get("status")).get("conditions")
    for entry in sequence(conditions):
        if not isinstance(entry, dict):
            continue
        kind = entry.get("type")
        if (kind, entry.get("reason")) in _DEGRADED_REASONS:
            return HealthStatus(DEGRADED, text(entry.get("message")))
        if kind in _HEALTHY_WHEN_TRUE and entry.get("status") == "True":
            return HealthStatus(HEALTHY, text(entry.get("message")))
    return _WAITING
