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

# Reasons the HPA controller gives when it cannot do its job at all: it cannot read or change
# the target's scale, or cannot read a metric it scales on (Argo CD's list since it stopped
# missing the object, pods, external and computed metrics).
_DEGRADED_REASONS = frozenset(
    {
        ("AbleToScale", "FailedGetScale"),
        ("AbleToScale", "FailedUpdateScale"),
        ("ScalingActive", "FailedGetResourceMetric"),
        ("ScalingActive", "FailedGetObjectMetric"),
        ("ScalingActive", "FailedGetPodsMetric"),
        ("ScalingActive", "FailedGetExternalMetric"),
        ("ScalingActive", "FailedComputeMetricsReplicas"),
        ("ScalingActive", "InvalidSelector"),
    }
)
_HEALTHY_WHEN_TRUE = frozenset({"AbleToScale", "ScalingLimited"})


def _v1_conditions(obj: dict[str, Any]) -> list[dict[str, Any]] | HealthStatus:
    """The conditions autoscaling/v1 keeps in an annotation, or the health saying why they
    cannot be read (Waiting when there are none yet)."""
    annotation = mapping(mapping(obj.get("metadata")).get("annotations")).get(
        V1_CONDITIONS_ANNOTATION
    )
    if annotation is None:
        return _WAITING
    try:
        conditions = orjson.loads(text(annotation))
    except orjson.JSONDecodeError as exc:
        return HealthStatus(UNKNOWN, f"failed to convert conditions annotation to typed: {exc}")
    # Argo CD decodes the annotation into a list of conditions: any other shape is an error.
    if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
        return HealthStatus(
            UNKNOWN,
            "failed to convert conditions annotation to typed: expected a list of conditions",
        )
    return conditions


def hpa_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of a HorizontalPodAutoscaler.

    Any condition that is a known failure makes it Degraded, wherever it stands in the list (a
    ``ScalingActive`` metric failure after an ``AbleToScale=True`` included); otherwise the first
    ``AbleToScale``/``ScalingLimited`` condition that is True makes it Healthy; with neither,
    the autoscaler is still waiting for metrics (Progressing).
    """
    if text(obj.get("apiVersion")) == "autoscaling/v1":
        found = _v1_conditions(obj)
        if isinstance(found, HealthStatus):
            return found
        conditions = found
    else:
        status_conditions = sequence(mapping(obj.get("status")).get("conditions"))
        conditions = [entry for entry in status_conditions if isinstance(entry, dict)]
    for entry in conditions:
        if (entry.get("type"), entry.get("reason")) in _DEGRADED_REASONS:
            return HealthStatus(DEGRADED, text(entry.get("message")))
    for entry in conditions:
        if entry.get("type") in _HEALTHY_WHEN_TRUE and entry.get("status") == "True":
            return HealthStatus(HEALTHY, text(entry.get("message")))
    return _WAITING
