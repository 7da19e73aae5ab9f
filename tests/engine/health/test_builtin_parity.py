"""Built-in checks where Tether differed from Argo CD's current rules (gitops-engine): the
autoscaler's metric failures and hook pods with the ignore-restart-policy annotation.

Fixtures are written for these tests, with status blocks as the controllers write them.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tether.engine.health import DEGRADED, HEALTHY, PROGRESSING, UNKNOWN, HealthStatus, health_of

T0 = "2026-03-02T08:15:00Z"
IGNORE_RESTART_POLICY = "argocd.argoproj.io/ignore-restart-policy"


def _condition(kind: str, status: str, reason: str, message: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": T0,
    }


def autoscaler(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {
            "minReplicas": 2,
            "maxReplicas": 6,
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
        },
        "status": {"currentReplicas": 2, "desiredReplicas": 2, "conditions": conditions},
    }


ABLE = _condition(
    "AbleToScale", "True", "SucceededGetScale", "the HPA controller was able to get the scale"
)
LIMITED = _condition(
    "ScalingLimited", "True", "TooFewReplicas", "the desired replica count is below the minimum"
)


@pytest.mark.parametrize(
    "reason",
    [
        "FailedGetObjectMetric",
        "FailedGetPodsMetric",
        "FailedGetExternalMetric",
        "FailedComputeMetricsReplicas",
    ],
)
def test_autoscaler_that_cannot_read_its_metric_is_degraded_behind_able_to_scale(
    reason: str,
) -> None:
    # The controller lists AbleToScale=True first: Argo CD used to stop there (Healthy); it now
    # looks at every condition for a failure before any healthy one.
    message = f"the HPA was unable to compute the replica count: {reason} for queue_depth"
    failing = _condition("ScalingActive", "False", reason, message)
    assert health_of(autoscaler([ABLE, failing, LIMITED])) == HealthStatus(DEGRADED, message)


def test_autoscaler_v1_annotation_with_a_metric_failure_is_degraded() -> None:
    message = "the HPA was unable to compute the replica count: no metrics for requests_per_second"
    conditions = [ABLE, _condition("ScalingActive", "False", "FailedGetObjectMetric", message)]
    hpa = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "api",
            "annotations": {
                "autoscaling.alpha.kubernetes.io/conditions": orjson.dumps(conditions).decode()
            },
        },
        "status": {"currentReplicas": 1},
    }
    assert health_of(hpa) == HealthStatus(DEGRADED, message)


def test_autoscaler_scaled_to_zero_on_purpose_stays_healthy() -> None:
    # ScalingActive=False with ScalingDisabled is the HPA standing aside while its target has no
    # replicas: no failure.
    disabled = _condition(
        "ScalingActive",
        "False",
        "ScalingDisabled",
        "scaling is disabled since the replica count of the target is zero",
    )
    assert health_of(autoscaler([ABLE, disabled])) == HealthStatus(HEALTHY, ABLE["message"])


@pytest.mark.parametrize("annotation", ['{"type": "AbleToScale"}', "[1, 2]", '"AbleToScale"'])
def test_autoscaler_v1_annotation_that_is_no_list_of_conditions_is_unknown(
    annotation: str,
) -> None:
    hpa = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": "api",
            "annotations": {"autoscaling.alpha.kubernetes.io/conditions": annotation},
        },
    }
    assert health_of(hpa) == HealthStatus(
        UNKNOWN, "failed to convert conditions annotation to typed: expected a list of conditions"
    )


RUNNING_READY: dict[str, Any] = {
    "phase": "Running",
    "conditions": [
        {"type": "Initialized", "status": "True", "lastTransitionTime": T0},
        {"type": "Ready", "status": "True", "lastTransitionTime": T0},
        {"type": "ContainersReady", "status": "True", "lastTransitionTime": T0},
    ],
    "containerStatuses": [
        {
            "name": "migrate",
            "ready": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": T0}},
        }
    ],
}

PULL_RETRYING: dict[str, Any] = {
    "phase": "Pending",
    "containerStatuses": [
        {
            "name": "migrate",
            "ready": False,
            "restartCount": 0,
            "state": {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": 'Back-off pulling image "registry.local/migrate:7"',
                }
            },
        }
    ],
}


def hook_pod(status: dict[str, Any], **annotations: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "db-migrate", "namespace": "shop", "annotations": annotations},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "migrate", "image": "registry.local/migrate:7"}],
        },
        "status": status,
    }


@pytest.mark.parametrize(
    "hook",
    [
        {"argocd.argoproj.io/hook": "PreSync"},
        {"argocd.argoproj.io/hook": "Sync,PostSync"},
        {"helm.sh/hook": "pre-upgrade"},
    ],
)
def test_running_hook_pod_stays_progressing_despite_ignore_restart_policy(
    hook: dict[str, str],
) -> None:
    # Argo CD ignores the annotation on hooks: a hook is done when it succeeds, not when ready.
    pod = hook_pod(RUNNING_READY, **hook, **{IGNORE_RESTART_POLICY: "true"})
    assert health_of(pod) == HealthStatus(PROGRESSING, "")


def test_hook_pod_whose_pull_is_retrying_is_not_failed_early() -> None:
    pod = hook_pod(
        PULL_RETRYING, **{"argocd.argoproj.io/hook": "PreSync", IGNORE_RESTART_POLICY: "true"}
    )
    assert health_of(pod) == HealthStatus(PROGRESSING, "")


@pytest.mark.parametrize(
    "annotations",
    [
        {},
        {"argocd.argoproj.io/hook": "Skip"},
        {"helm.sh/hook": "crd-install"},
    ],
)
def test_ignore_restart_policy_still_applies_to_pods_that_are_not_hooks(
    annotations: dict[str, str],
) -> None:
    # An operator's long-running pod with restartPolicy Never (the annotation's purpose); a
    # Skip-only Argo CD annotation and Helm's crd-install do not make a hook.
    ready = hook_pod(RUNNING_READY, **annotations, **{IGNORE_RESTART_POLICY: "true"})
    assert health_of(ready) == HealthStatus(HEALTHY, "")
    pulling = hook_pod(PULL_RETRYING, **annotations, **{IGNORE_RESTART_POLICY: "true"})
    assert health_of(pulling) == HealthStatus(
        DEGRADED, 'Back-off pulling image "registry.local/migrate:7"'
    )
