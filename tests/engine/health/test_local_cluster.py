"""Health of objects as a real API server (the local cluster) returns them.

The local cluster's simulated controllers are new: when they run, workloads get the status
blocks the real controllers write, and the tests follow them to Healthy and Degraded; when they
do not, only what holds for objects straight from the API server is asserted.
"""

from __future__ import annotations

from typing import Any

import orjson

from tests.engine.health.helpers import status_of
from tether.engine.health import DEGRADED, HEALTHY, PROGRESSING, HealthStatus, health_of
from tether.localcluster.testing import Kubectl, wait_until

MANIFESTS = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: app, image: registry.example/web:1}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: registry.example/migrate:1}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {level: debug}
"""

CRASHLOOP = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: broken}
spec:
  replicas: 1
  progressDeadlineSeconds: 1
  selector: {matchLabels: {app: broken}}
  template:
    metadata: {labels: {app: broken}}
    spec: {containers: [{name: app, image: registry.example/web:1-crashloop}]}
"""


def _get(kubectl: Kubectl, namespace: str, resource: str) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(
        kubectl("get", resource, "-n", namespace, "-o", "json").stdout
    )
    return result


def _health_becomes(
    kubectl: Kubectl, namespace: str, resource: str, wanted: HealthStatus | str, timeout: float
) -> HealthStatus:
    """Wait until ``resource``'s health is ``wanted`` (a whole status, or only its status word)."""

    def reached() -> HealthStatus | None:
        health = health_of(_get(kubectl, namespace, resource))
        if health is None or wanted not in (health, health.status):
            return None
        return health

    return wait_until(reached, timeout=timeout, what=f"{resource} {wanted}")


def test_objects_straight_from_the_api_server(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=MANIFESTS)
    deployment = _get(kubectl, namespace, "deployment/web")
    # Before any controller writes status, a Deployment waits for its generation to be seen.
    unobserved = {key: value for key, value in deployment.items() if key != "status"}
    assert health_of(unobserved) == HealthStatus(
        PROGRESSING,
        "Waiting for rollout to finish: observed deployment generation less than desired "
        "generation",
    )
    assert status_of(deployment) in (PROGRESSING, HEALTHY)
    for resource in ("job/migrate", "pvc/data"):
        health = health_of(_get(kubectl, namespace, resource))
        assert health is not None and health.status in (PROGRESSING, HEALTHY), resource
    assert health_of(_get(kubectl, namespace, "configmap/settings")) is None


def _controllers_run(kubectl: Kubectl, namespace: str) -> None:
    """Wait until the local cluster's controllers have seen the Deployment."""
    wait_until(
        lambda: (
            "observedGeneration" in _get(kubectl, namespace, "deployment/web").get("status", {})
        ),
        timeout=10,
        what="the local cluster's controllers to observe the Deployment",
    )


def test_workloads_become_healthy_once_their_controllers_are_done(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=MANIFESTS)
    _controllers_run(kubectl, namespace)
    for resource in ("deployment/web", "job/migrate", "pvc/data"):
        _health_becomes(kubectl, namespace, resource, HEALTHY, timeout=8)


def test_crash_looping_deployment_is_degraded(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=MANIFESTS + "---" + CRASHLOOP)
    _controllers_run(kubectl, namespace)

    def degraded_pods() -> list[dict[str, Any]]:
        pods = _get(kubectl, namespace, "pods")["items"]
        broken = [p for p in pods if p["metadata"].get("labels", {}).get("app") == "broken"]
        return [p for p in broken if status_of(p) == DEGRADED]

    pods = wait_until(degraded_pods, timeout=8, what="a degraded pod of the broken Deployment")
    pod_health = health_of(pods[0])
    assert pod_health is not None and "back-off" in pod_health.message
    deadline_passed = HealthStatus(DEGRADED, 'Deployment "broken" exceeded its progress deadline')
    _health_becomes(kubectl, namespace, "deployment/broken", deadline_passed, timeout=8)


def test_established_crd_is_healthy_and_its_bare_resources_have_no_health(
    kubectl: Kubectl, namespace: str
) -> None:
    group = f"{namespace}.example.com"
    crd = f"""
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"""
    kubectl("apply", "-f", "-", input=crd)
    try:
        healthy = HealthStatus(HEALTHY, "CRD is healthy")
        _health_becomes(kubectl, "default", f"crd/widgets.{group}", healthy, timeout=10)
        widget = (
            f"apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w1}}\nspec: {{size: 1}}\n"
        )
        kubectl("apply", "-n", namespace, "-f", "-", input=widget)
        # No controller writes its status: nothing says whether it is healthy.
        assert health_of(_get(kubectl, namespace, f"widgets.{group}/w1")) is None
    finally:
        kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)
