"""apiextensions.k8s.io/CustomResourceDefinition: Established, NamesAccepted and friends."""

from __future__ import annotations

from typing import Any

from tether.engine.health._fields import condition, mapping, sequence, text
from tether.engine.health.status import DEGRADED, HEALTHY, PROGRESSING, HealthStatus


def crd_health(obj: dict[str, Any]) -> HealthStatus:
    """Health of a CustomResourceDefinition.

    As the check Argo CD bundles for CRDs (a Lua script in its ``resource_customizations``), with
    two refinements: each message is that of the condition that decides (the script keeps
    whichever it read last, and none for a CRD not established), and ``Established=False`` with
    reason ``Installing`` is Progressing, as kstatus has it, rather than Degraded.
    """
    status = mapping(obj.get("status"))
    if not sequence(status.get("conditions")):
        return HealthStatus(PROGRESSING, "Status conditions not found")
    terminating = condition(status, "Terminating")
    if terminating is not None and terminating.get("status") == "True":
        return HealthStatus(PROGRESSING, f"CRD is terminating: {text(terminating.get('message'))}")
    names = condition(status, "NamesAccepted")
    if names is not None and names.get("status") == "False":
        return HealthStatus(
            DEGRADED, f"CRD names have not been accepted: {text(names.get('message'))}"
        )
    established = condition(status, "Established")
    if established is None:
        return HealthStatus(PROGRESSING, "CRD is not established yet")
    if established.get("status") != "True":
        # "Installing" lasts until the API server serves the new resource (a moment): a sync
        # wave waiting on the CRD must wait, not fail. Any other reason is a real failure.
        still_installing = established.get("reason") == "Installing"
        return HealthStatus(
            PROGRESSING if still_installing else DEGRADED,
            f"CRD is not established: {text(established.get('message'))}",
        )
    non_structural = condition(status, "NonStructuralSchema")
    if non_structural is not None and non_structural.get("status") == "True":
        return HealthStatus(
            DEGRADED, f"Schema violations found: {text(non_structural.get('message'))}"
        )
    return HealthStatus(HEALTHY, "CRD is healthy")
