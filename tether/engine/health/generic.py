"""Custom resources without a check of their own: the standard conditions, as kstatus reads them.

Controllers built with controller-runtime, Flux, Crossplane and most operators report through
``status.observedGeneration`` and the ``Ready`` / ``Reconciling`` / ``Stalled`` conditions
(Kubernetes API conventions). The mapping, in order, first hit wins:

1. ``metadata.generation`` ahead of ``status.observedGeneration`` → Progressing
2. ``Stalled=True`` → Degraded
3. ``Reconciling=True`` → Progressing
4. ``Ready=True`` → Healthy; ``Ready=False`` → Degraded; ``Ready=Unknown`` → Progressing
5. none of these → no health (the resource does not count, as in Argo CD), except Flux's own
   kinds (``*.fluxcd.io``), which always get a Ready condition: Progressing until they do (as
   Flux's status readers and Argo CD's Flux health checks say)

(Deletion is handled before any check: Progressing, "Pending deletion".)
"""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import condition, integer, mapping, text
from tether.engine.health.status import DEGRADED, HEALTHY, PROGRESSING, HealthStatus

#: API groups served by Kubernetes itself; any other group is a custom resource.
KUBERNETES_GROUPS = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "extensions",
        "flowcontrol.apiserver.k8s.io",
        "internal.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
        "storagemigration.k8s.io",
    }
)


def _condition_message(entry: dict[str, Any]) -> str:
    return text(entry.get("message")) or text(entry.get("reason"))


def generic_health(obj: dict[str, Any]) -> HealthStatus | None:
    """Health of a custom resource from its standard status fields; ``None`` when it has none."""
    status = mapping(obj.get("status"))
    generation = mapping(obj.get("metadata")).get("generation")
    observed = status.get("observedGeneration")
    if isinstance(generation, int) and isinstance(observed, int) and observed < generation:
        return HealthStatus(
            PROGRESSING,
            f"Waiting for the controller to observe generation {generation} "
            f"(observed {integer(observed)})",
        )
    stalled = condition(status, "Stalled")
    if stalled is not None and stalled.get("status") == "True":
        return HealthStatus(DEGRADED, _condition_message(stalled))
    reconciling = condition(status, "Reconciling")
    if reconciling is not None and reconciling.get("status") == "True":
        return HealthStatus(PROGRESSING, _condition_message(reconciling))
    ready = condition(status, "Ready")
    if ready is None:
        group = str(obj.get("apiVersion") or "").rpartition("/")[0]
        if group.endswith(".fluxcd.io"):
            return HealthStatus(PROGRESSING, "Waiting to be reconciled")
        return None
    value = ready.get("status")
    if value == "True":
        return HealthStatus(HEALTHY, text(ready.get("message")))
    if value == "False":
        return HealthStatus(DEGRADED, _condition_message(ready))
    return HealthStatus(PROGRESSING, _condition_message(ready))
