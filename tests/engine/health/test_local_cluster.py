"""Health of objects as a real API server (the local cluster) returns them.

The local cluster's simulated controllers are new: when they run, workloads get the status
blocks the real controllers write, and the tests follow them to Healthy and Degraded; when they
do not, only what holds for objects straight from the API server is asserted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from tests.engine.health.helpers import status_of
from tether.engine.health import DEGRADED, HEALTHY, PROGRESSING, HealthStatus, health_of
from tether.localcluster.testing import Kubectl

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


def _wait_for(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


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


def _controllers_run(kubectl: Kubectl, namespace: str) -> bool:
    deployment = _wait_for(
        lambda: _get(kubectl, namespace, "deployment/web"),
        lambda obj: "observedGeneration" in obj.get("status", {}),
        timeout=10,
    )
    return "observedGeneration" in deployment.get("status", {})


def test_workloads_become_healthy_once_their_controllers_are_done(
    kubectl: Kubectl, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=MANIFESTS)
    assert _controllers_run(kubectl, namespace), "the local cluster's controllers must run"

    def health_reader(resource: str) -> Callable[[], HealthStatus | None]:
        return lambda: health_of(_get(kubectl, namespace, resource))

    for resource in ("deployment/web", "job/migrate", "pvc/data"):
        health = _wait_for(
            health_reader(resource),
            lambda h: h is not None and h.status == HEALTHY,
            timeout=8,
        )
        assert health is not None and health.status == HEALTHY, (resource, health)


def test_crash_looping_deployment_is_degraded(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=MANIFESTS + "---" + CRASHLOOP)
    assert _controllers_run(kubectl, namespace), "the local cluster's controllers must run"

    def crashing_pods() -> list[dict[str, Any]]:
        pods = _get(kubectl, namespace, "pods")["items"]
        return [p for p in pods if p["metadata"].get("labels", {}).get("app") == "broken"]

    pods = _wait_for(
        crashing_pods,
        lambda items: any(status_of(p) == DEGRADED for p in items),
        timeout=8,
    )
    pod_health = health_of(next(p for p in pods if status_of(p) == DEGRADED))
    assert pod_health is not None and "back-off" in pod_health.message
    health = _wait_for(
        lambda: health_of(_get(kubectl, namespace, "deployment/broken")),
        lambda h: h is not None and h.status == DEGRADED,
        timeout=8,
    )
    assert health == HealthStatus(DEGRADED, 'Deployment "broken" exceeded its progress deadline')


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
        health = _wait_for(
            lambda: health_of(_get(kubectl, "default", f"crd/widgets.{group}")),
            lambda h: h == HealthStatus(HEALTHY, "CRD is healthy"),
            timeout=10,
        )
        assert health == HealthStatus(HEALTHY, "CRD is healthy")
        widget = (
            f"apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w1}}\nspec: {{size: 1}}\n"
        )
        kubectl("apply", "-n", namespace, "-f", "-", input=widget)
        # No controller writes its status: nothing says whether it is healthy.
        assert health_of(_get(kubectl, namespace, f"widgets.{group}/w1")) is None
    finally:
        kubectl("delete", "crd", f"widgets.{group}", "--wait=false", check=False)
