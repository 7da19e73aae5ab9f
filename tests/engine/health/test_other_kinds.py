"""Built-in checks of networking, storage, autoscaling and API kinds; custom resources; absence."""

from __future__ import annotations

from typing import Any

import orjson

from tests.engine.health.helpers import status_of
from tether.engine.health import (
    DEGRADED,
    HEALTHY,
    MISSING,
    PROGRESSING,
    SUSPENDED,
    UNKNOWN,
    HealthCustomizations,
    HealthStatus,
    has_health,
    health_of,
)

T0 = "2026-01-10T09:00:00Z"


def obj(api_version: str, kind: str, status: Any = None, **fields: Any) -> dict[str, Any]:
    metadata = fields.pop("metadata", {})
    result: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": "x", "namespace": "demo", **metadata},
        **fields,
    }
    if status is not None:
        result["status"] = status
    return result


def test_absent_object_is_missing() -> None:
    assert health_of(None) == HealthStatus(MISSING, "")


def test_object_being_deleted_is_progressing_whatever_its_kind() -> None:
    metadata = {"deletionTimestamp": T0, "finalizers": ["kubernetes.io/pvc-protection"]}
    claim = obj("v1", "PersistentVolumeClaim", {"phase": "Bound"}, metadata=metadata)
    assert health_of(claim) == HealthStatus(PROGRESSING, "Pending deletion")
    config = obj("v1", "ConfigMap", metadata={"deletionTimestamp": T0})
    assert health_of(config) == HealthStatus(PROGRESSING, "Pending deletion")


def test_hook_held_by_the_hook_finalizer_keeps_its_real_health_while_deleted() -> None:
    metadata = {"deletionTimestamp": T0, "finalizers": ["argocd.argoproj.io/hook-finalizer"]}
    done = {"conditions": [{"type": "Complete", "status": "True", "message": ""}]}
    assert status_of(obj("batch/v1", "Job", done, metadata=metadata)) == HEALTHY


def test_kinds_without_a_health_check_have_no_health() -> None:
    for api_version, kind in [
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "ServiceAccount"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("policy/v1", "PodDisruptionBudget"),
    ]:
        item = obj(api_version, kind, {"conditions": [{"type": "Ready", "status": "False"}]})
        assert health_of(item) is None, kind
        assert not has_health(item)


def test_persistent_volume_claim_health_follows_its_phase() -> None:
    bound = {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
    assert health_of(obj("v1", "PersistentVolumeClaim", bound)) == HealthStatus(HEALTHY)
    assert health_of(obj("v1", "PersistentVolumeClaim", {"phase": "Pending"})) == HealthStatus(
        PROGRESSING
    )
    assert health_of(obj("v1", "PersistentVolumeClaim", {"phase": "Lost"})) == HealthStatus(
        DEGRADED
    )
    assert health_of(obj("v1", "PersistentVolumeClaim", {})) == HealthStatus(PROGRESSING)
    assert health_of(obj("v1", "PersistentVolumeClaim", {"phase": "Odd"})) == HealthStatus(UNKNOWN)


def test_load_balancer_service_is_progressing_until_it_has_an_address() -> None:
    spec = {
        "type": "LoadBalancer",
        "clusterIP": "10.96.12.7",
        "ports": [{"port": 80, "nodePort": 31380}],
    }
    waiting = obj("v1", "Service", {"loadBalancer": {}}, spec=spec)
    assert health_of(waiting) == HealthStatus(PROGRESSING)
    ready = obj(
        "v1",
        "Service",
        {"loadBalancer": {"ingress": [{"ip": "203.0.113.9", "ipMode": "VIP"}]}},
        spec=spec,
    )
    assert health_of(ready) == HealthStatus(HEALTHY)
    cluster_ip = obj(
        "v1", "Service", {"loadBalancer": {}}, spec={"type": "ClusterIP", "clusterIP": "10.96.3.4"}
    )
    assert health_of(cluster_ip) == HealthStatus(HEALTHY)


def test_ingress_is_progressing_until_its_controller_publishes_an_address() -> None:
    for api_version in ("networking.k8s.io/v1", "extensions/v1beta1"):
        assert health_of(obj(api_version, "Ingress", {"loadBalancer": {}})) == HealthStatus(
            PROGRESSING
        )
        published = {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}
        assert health_of(obj(api_version, "Ingress", published)) == HealthStatus(HEALTHY)


def _hpa_conditions(*entries: tuple[str, str, str, str]) -> list[dict[str, Any]]:
    return [
        {"type": t, "status": s, "reason": r, "message": m, "lastTransitionTime": T0}
        for t, s, r, m in entries
    ]


VALID_METRIC = (
    "ScalingActive",
    "True",
    "ValidMetricFound",
    "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)",
)
WITHIN_RANGE = (
    "ScalingLimited",
    "False",
    "DesiredWithinRange",
    "the desired count is within the acceptable range",
)


def test_hpa_able_to_scale_is_healthy() -> None:
    conditions = _hpa_conditions(
        ("AbleToScale", "True", "ReadyForNewScale", "recommended size matches current size"),
        VALID_METRIC,
        WITHIN_RANGE,
    )
    hpa = obj(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        {"currentReplicas": 2, "desiredReplicas": 2, "conditions": conditions},
    )
    assert health_of(hpa) == HealthStatus(HEALTHY, "recommended size matches current size")


def test_hpa_that_cannot_get_its_target_scale_is_degraded() -> None:
    message = 'the HPA controller was unable to get the target\'s current scale: deployments/scale.apps "web" not found'
    conditions = _hpa_conditions(
        ("AbleToScale", "False", "FailedGetScale", message), VALID_METRIC, WITHIN_RANGE
    )
    hpa = obj("autoscaling/v2", "HorizontalPodAutoscaler", {"conditions": conditions})
    assert health_of(hpa) == HealthStatus(DEGRADED, message)


def test_hpa_without_deciding_conditions_is_waiting_to_autoscale() -> None:
    hpa = obj(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        {"conditions": _hpa_conditions(VALID_METRIC, WITHIN_RANGE)},
    )
    assert health_of(hpa) == HealthStatus(PROGRESSING, "Waiting to Autoscale")
    assert health_of(obj("autoscaling/v2", "HorizontalPodAutoscaler", {})) == HealthStatus(
        PROGRESSING, "Waiting to Autoscale"
    )


def test_hpa_v1_reads_its_conditions_from_the_annotation() -> None:
    message = "the HPA was unable to compute the replica count: missing request for cpu"
    annotation = orjson.dumps(
        [
            {
                "type": "ScalingActive",
                "status": "False",
                "reason": "FailedGetResourceMetric",
                "message": message,
            }
        ]
    ).decode()
    metadata = {"annotations": {"autoscaling.alpha.kubernetes.io/conditions": annotation}}
    hpa = obj(
        "autoscaling/v1", "HorizontalPodAutoscaler", {"currentReplicas": 1}, metadata=metadata
    )
    assert health_of(hpa) == HealthStatus(DEGRADED, message)
    bare = obj("autoscaling/v1", "HorizontalPodAutoscaler", {"currentReplicas": 1})
    assert health_of(bare) == HealthStatus(PROGRESSING, "Waiting to Autoscale")
    broken = obj(
        "autoscaling/v1",
        "HorizontalPodAutoscaler",
        metadata={"annotations": {"autoscaling.alpha.kubernetes.io/conditions": "[{"}},
    )
    assert status_of(broken) == UNKNOWN


def test_apiservice_health_follows_its_available_condition() -> None:
    def apiservice(status: str, reason: str, message: str) -> dict[str, Any]:
        condition = {"type": "Available", "status": status, "reason": reason, "message": message}
        return obj("apiregistration.k8s.io/v1", "APIService", {"conditions": [condition]})

    assert health_of(apiservice("True", "Passed", "all checks passed")) == HealthStatus(
        HEALTHY, "Passed: all checks passed"
    )
    failing = apiservice(
        "False", "FailedDiscoveryCheck", "failing or missing response from https://10.96.0.9:443"
    )
    assert health_of(failing) == HealthStatus(
        PROGRESSING, "FailedDiscoveryCheck: failing or missing response from https://10.96.0.9:443"
    )
    assert health_of(obj("apiregistration.k8s.io/v1", "APIService", {})) == HealthStatus(
        PROGRESSING, "Waiting to be processed"
    )


def _crd(*conditions: tuple[str, str, str, str]) -> dict[str, Any]:
    entries = [
        {"type": t, "status": s, "reason": r, "message": m, "lastTransitionTime": T0}
        for t, s, r, m in conditions
    ]
    return obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", {"conditions": entries})


NAMES_OK = ("NamesAccepted", "True", "NoConflicts", "no conflicts found")


def test_established_crd_is_healthy() -> None:
    crd = _crd(
        NAMES_OK,
        ("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
    )
    assert health_of(crd) == HealthStatus(HEALTHY, "CRD is healthy")


def test_crd_still_installing_is_progressing() -> None:
    installing = _crd(
        NAMES_OK, ("Established", "False", "Installing", "the initial names have not been accepted")
    )
    assert health_of(installing) == HealthStatus(
        PROGRESSING, "CRD is not established: the initial names have not been accepted"
    )


def test_crd_whose_names_are_accepted_but_not_yet_established_is_progressing() -> None:
    assert health_of(_crd(NAMES_OK)) == HealthStatus(PROGRESSING, "CRD is not established yet")


def test_crd_not_established_or_with_rejected_names_is_degraded() -> None:
    conflict = _crd(
        ("NamesAccepted", "False", "PluralConflict", '"widgets" is already in use'),
        ("Established", "False", "NotAccepted", "not all names are accepted"),
    )
    assert health_of(conflict) == HealthStatus(
        DEGRADED, 'CRD names have not been accepted: "widgets" is already in use'
    )
    violations = _crd(
        NAMES_OK,
        ("Established", "True", "InitialNamesAccepted", ""),
        (
            "NonStructuralSchema",
            "True",
            "Violations",
            "spec.versions[0].schema.openAPIV3Schema.type: Required value",
        ),
    )
    assert status_of(violations) == DEGRADED


def test_crd_without_conditions_or_terminating_is_progressing() -> None:
    assert health_of(_crd()) == HealthStatus(PROGRESSING, "Status conditions not found")
    terminating = _crd(
        NAMES_OK,
        ("Established", "True", "InitialNamesAccepted", ""),
        (
            "Terminating",
            "True",
            "InstanceDeletionInProgress",
            "CustomResource deletion is in progress",
        ),
    )
    assert health_of(terminating) == HealthStatus(
        PROGRESSING, "CRD is terminating: CustomResource deletion is in progress"
    )


# Argo CD's documented check for apps of apps (operator-manual/health.md), opt-in through argocd-cm
ARGOCD_APPLICATION_LUA = """
hs = {}
hs.status = "Progressing"
hs.message = ""
if obj.status ~= nil then
  if obj.status.health ~= nil then
    hs.status = obj.status.health.status
    if obj.status.health.message ~= nil then
      hs.message = obj.status.health.message
    end
  end
end
return hs
"""


def test_child_application_has_no_health_unless_the_operator_adds_argo_cds_check() -> None:
    # Argo CD 1.8+: a parent app of apps never waits on a child (one with manual sync would
    # never become healthy and would hold the parent's sync forever)
    for status in (HEALTHY, PROGRESSING, DEGRADED, MISSING):
        app = obj(
            "argoproj.io/v1alpha1", "Application", {"health": {"status": status, "message": "m"}}
        )
        assert health_of(app) is None
    assert not has_health(obj("argoproj.io/v1alpha1", "Application", {}))
    custom = HealthCustomizations.from_configmap(
        {"resource.customizations.health.argoproj.io_Application": ARGOCD_APPLICATION_LUA}
    )
    for status in (HEALTHY, PROGRESSING, DEGRADED, SUSPENDED, MISSING, UNKNOWN):
        app = obj(
            "argoproj.io/v1alpha1", "Application", {"health": {"status": status, "message": "m"}}
        )
        assert health_of(app, customizations=custom) == HealthStatus(status, "m")
    assert health_of(
        obj("argoproj.io/v1alpha1", "Application", {}), customizations=custom
    ) == HealthStatus(PROGRESSING, "")


def test_argo_workflow_health_follows_its_phase() -> None:
    running = obj("argoproj.io/v1alpha1", "Workflow", {"phase": "Running", "message": "step 2"})
    assert health_of(running) == HealthStatus(PROGRESSING, "step 2")
    assert status_of(obj("argoproj.io/v1alpha1", "Workflow", {"phase": "Failed"})) == DEGRADED
    assert status_of(obj("argoproj.io/v1alpha1", "Workflow", {"phase": "Succeeded"})) == HEALTHY


# --- Custom resources: standard conditions (kstatus) ---------------------------------------


def custom(
    conditions: list[tuple[str, str]], generation: int = 3, observed: int | None = 3
) -> dict[str, Any]:
    status: dict[str, Any] = {
        "conditions": [
            {
                "type": t,
                "status": s,
                "reason": f"{t}{s}",
                "message": f"{t} is {s}",
                "lastTransitionTime": T0,
            }
            for t, s in conditions
        ]
    }
    if observed is not None:
        status["observedGeneration"] = observed
    return obj("example.com/v1", "Widget", status, metadata={"generation": generation})


def test_custom_resource_ready_is_healthy_and_not_ready_degraded() -> None:
    assert health_of(custom([("Ready", "True")])) == HealthStatus(HEALTHY, "Ready is True")
    assert health_of(custom([("Ready", "False")])) == HealthStatus(DEGRADED, "Ready is False")
    assert health_of(custom([("Ready", "Unknown")])) == HealthStatus(
        PROGRESSING, "Ready is Unknown"
    )


def test_custom_resource_reconciling_is_progressing_even_when_not_ready() -> None:
    health = health_of(custom([("Ready", "False"), ("Reconciling", "True")]))
    assert health == HealthStatus(PROGRESSING, "Reconciling is True")


def test_custom_resource_stalled_is_degraded() -> None:
    health = health_of(custom([("Ready", "False"), ("Reconciling", "True"), ("Stalled", "True")]))
    assert health == HealthStatus(DEGRADED, "Stalled is True")


def test_custom_resource_with_unobserved_generation_is_progressing() -> None:
    health = health_of(custom([("Ready", "True")], generation=4, observed=3))
    assert health == HealthStatus(
        PROGRESSING, "Waiting for the controller to observe generation 4 (observed 3)"
    )


def test_custom_resource_without_standard_status_has_no_health() -> None:
    assert health_of(obj("example.com/v1", "Widget")) is None
    assert health_of(custom([("Synced", "True")])) is None
    assert health_of(custom([], observed=None)) is None
