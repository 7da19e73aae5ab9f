"""Built-in checks of workload kinds, on status blocks as the Kubernetes controllers write them."""

from __future__ import annotations

import copy
from typing import Any

from tests.engine.health.helpers import status_of
from tether.engine.health import (
    DEGRADED,
    HEALTHY,
    PROGRESSING,
    SUSPENDED,
    UNKNOWN,
    HealthStatus,
    health_of,
)

T0 = "2026-01-10T09:00:00Z"


def _cond(kind: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": T0,
        "lastTransitionTime": T0,
    }


# --- Deployment ----------------------------------------------------------------------------


def deployment(status: dict[str, Any], *, generation: int = 1, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "demo", "generation": generation},
        "spec": {
            "replicas": 2,
            "progressDeadlineSeconds": 600,
            "selector": {"matchLabels": {"app": "web"}},
            **spec,
        },
        "status": status,
    }


READY_DEPLOYMENT_STATUS: dict[str, Any] = {
    "observedGeneration": 1,
    "replicas": 2,
    "updatedReplicas": 2,
    "readyReplicas": 2,
    "availableReplicas": 2,
    "conditions": [
        _cond(
            "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."
        ),
        _cond(
            "Progressing",
            "True",
            "NewReplicaSetAvailable",
            'ReplicaSet "web-5d4f8c7b9" has successfully progressed.',
        ),
    ],
}


def test_deployment_with_all_replicas_available_is_healthy() -> None:
    assert health_of(deployment(READY_DEPLOYMENT_STATUS)) == HealthStatus(HEALTHY, "")


def test_deployment_waiting_for_available_replicas_is_progressing() -> None:
    status = {
        "observedGeneration": 1,
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 0,
        "availableReplicas": 0,
        "unavailableReplicas": 2,
        "conditions": [
            _cond(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            ),
            _cond(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                'ReplicaSet "web-5d4f8c7b9" is progressing.',
            ),
        ],
    }
    assert health_of(deployment(status)) == HealthStatus(
        PROGRESSING, "Waiting for rollout to finish: 0 of 2 updated replicas are available..."
    )


def test_deployment_with_replicas_not_updated_yet_is_progressing() -> None:
    status = {**READY_DEPLOYMENT_STATUS, "updatedReplicas": 1, "replicas": 3}
    assert health_of(deployment(status)) == HealthStatus(
        PROGRESSING,
        "Waiting for rollout to finish: 1 out of 2 new replicas have been updated...",
    )


def test_deployment_with_old_replicas_terminating_is_progressing() -> None:
    status = {**READY_DEPLOYMENT_STATUS, "replicas": 3}
    assert health_of(deployment(status)) == HealthStatus(
        PROGRESSING, "Waiting for rollout to finish: 1 old replicas are pending termination..."
    )


def test_deployment_whose_generation_is_not_observed_is_progressing() -> None:
    health = health_of(deployment(READY_DEPLOYMENT_STATUS, generation=2))
    assert health == HealthStatus(
        PROGRESSING,
        "Waiting for rollout to finish: observed deployment generation less than desired generation",
    )


def test_deployment_past_its_progress_deadline_is_degraded() -> None:
    status = {
        "observedGeneration": 1,
        "replicas": 3,
        "updatedReplicas": 1,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "unavailableReplicas": 1,
        "conditions": [
            _cond(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            ),
            _cond(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                'ReplicaSet "web-7f9d6b5c4" has timed out progressing.',
            ),
        ],
    }
    assert health_of(deployment(status)) == HealthStatus(
        DEGRADED, 'Deployment "web" exceeded its progress deadline'
    )


def test_paused_deployment_is_suspended() -> None:
    status = copy.deepcopy(READY_DEPLOYMENT_STATUS)
    status["conditions"][1] = _cond(
        "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused"
    )
    assert health_of(deployment(status, paused=True)) == HealthStatus(
        SUSPENDED, "Deployment is paused"
    )


def test_deployment_without_replicas_field_expects_one_replica() -> None:
    obj = deployment({"observedGeneration": 1})
    del obj["spec"]["replicas"]
    assert health_of(obj) == HealthStatus(
        PROGRESSING, "Waiting for rollout to finish: 0 out of 1 new replicas have been updated..."
    )


def test_deployment_with_mistyped_fields_is_read_as_zero_values_not_a_crash() -> None:
    obj = deployment({"observedGeneration": "one", "conditions": "none"}, generation=0)
    obj["spec"] = "garbage"
    assert health_of(obj) == HealthStatus(
        PROGRESSING, "Waiting for rollout to finish: 0 out of 1 new replicas have been updated..."
    )


# --- StatefulSet ---------------------------------------------------------------------------


def statefulset(status: dict[str, Any], **strategy: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": "demo", "generation": 2},
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "updateStrategy": strategy
            or {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        },
        "status": status,
    }


READY_STS_STATUS: dict[str, Any] = {
    "observedGeneration": 2,
    "replicas": 3,
    "readyReplicas": 3,
    "currentReplicas": 3,
    "updatedReplicas": 3,
    "availableReplicas": 3,
    "currentRevision": "db-6c8d7f9b5",
    "updateRevision": "db-6c8d7f9b5",
    "collisionCount": 0,
}


def test_statefulset_with_all_pods_updated_and_ready_is_healthy() -> None:
    assert health_of(statefulset(READY_STS_STATUS)) == HealthStatus(
        HEALTHY, "partitioned roll out complete: 3 new pods have been updated..."
    )


def test_statefulset_waiting_for_ready_pods_is_progressing() -> None:
    status = {**READY_STS_STATUS, "readyReplicas": 1, "availableReplicas": 1}
    assert health_of(statefulset(status)) == HealthStatus(
        PROGRESSING, "Waiting for 2 pods to be ready..."
    )


def test_statefulset_partitioned_rollout_in_progress_is_progressing() -> None:
    status = {**READY_STS_STATUS, "updatedReplicas": 1, "updateRevision": "db-7a9e8b6c1"}
    health = health_of(statefulset(status, type="RollingUpdate", rollingUpdate={"partition": 1}))
    assert health == HealthStatus(
        PROGRESSING,
        "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...",
    )


def test_statefulset_not_yet_observed_by_its_controller_is_progressing() -> None:
    assert health_of(statefulset({})) == HealthStatus(
        PROGRESSING, "Waiting for statefulset spec update to be observed..."
    )


def test_statefulset_with_on_delete_strategy_is_healthy_once_pods_are_ready() -> None:
    assert health_of(statefulset(READY_STS_STATUS, type="OnDelete")) == HealthStatus(
        HEALTHY, "statefulset has 3 ready pods"
    )


def test_statefulset_rolling_update_without_partition_block_compares_revisions() -> None:
    status = {**READY_STS_STATUS, "updateRevision": "db-7a9e8b6c1", "updatedReplicas": 1}
    assert health_of(statefulset(status, type="RollingUpdate")) == HealthStatus(
        PROGRESSING,
        "waiting for statefulset rolling update to complete 1 pods at revision db-7a9e8b6c1...",
    )
    assert health_of(statefulset(READY_STS_STATUS, type="RollingUpdate")) == HealthStatus(
        HEALTHY, "statefulset rolling update complete 3 pods at revision db-6c8d7f9b5..."
    )


# --- DaemonSet -----------------------------------------------------------------------------


def daemonset(status: dict[str, Any], strategy: str = "RollingUpdate") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "kube-system", "generation": 3},
        "spec": {"updateStrategy": {"type": strategy}},
        "status": status,
    }


READY_DS_STATUS: dict[str, Any] = {
    "observedGeneration": 3,
    "desiredNumberScheduled": 2,
    "currentNumberScheduled": 2,
    "updatedNumberScheduled": 2,
    "numberReady": 2,
    "numberAvailable": 2,
    "numberMisscheduled": 0,
}


def test_daemonset_with_all_pods_available_is_healthy() -> None:
    assert health_of(daemonset(READY_DS_STATUS)) == HealthStatus(HEALTHY, "")


def test_daemonset_rolling_out_is_progressing() -> None:
    status = {**READY_DS_STATUS, "updatedNumberScheduled": 1}
    assert health_of(daemonset(status)) == HealthStatus(
        PROGRESSING,
        'Waiting for daemon set "agent" rollout to finish: 1 out of 2 new pods have been updated...',
    )
    status = {**READY_DS_STATUS, "numberAvailable": 1, "numberUnavailable": 1}
    assert health_of(daemonset(status)) == HealthStatus(
        PROGRESSING,
        'Waiting for daemon set "agent" rollout to finish: 1 of 2 updated pods are available...',
    )


def test_daemonset_not_yet_observed_is_progressing() -> None:
    assert status_of(daemonset({"observedGeneration": 2})) == PROGRESSING


def test_daemonset_with_on_delete_strategy_is_healthy() -> None:
    status = {**READY_DS_STATUS, "updatedNumberScheduled": 1}
    assert health_of(daemonset(status, "OnDelete")) == HealthStatus(
        HEALTHY, "daemon set 1 out of 2 new pods have been updated"
    )


# --- ReplicaSet ----------------------------------------------------------------------------


def replicaset(status: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": "web-5d4f8c7b9", "namespace": "demo", "generation": 1},
        "spec": {"replicas": 2},
        "status": status,
    }


def test_replicaset_health_follows_available_replicas_and_failures() -> None:
    ready = {
        "observedGeneration": 1,
        "replicas": 2,
        "fullyLabeledReplicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 2,
    }
    assert health_of(replicaset(ready)) == HealthStatus(HEALTHY, "")
    starting = {**ready, "readyReplicas": 1, "availableReplicas": 1}
    assert health_of(replicaset(starting)) == HealthStatus(
        PROGRESSING, "Waiting for rollout to finish: 1 out of 2 new replicas are available..."
    )
    quota = 'pods "web-5d4f8c7b9-x2k9q" is forbidden: exceeded quota: compute'
    failing = {
        "observedGeneration": 1,
        "replicas": 0,
        "conditions": [_cond("ReplicaFailure", "True", "FailedCreate", quota)],
    }
    assert health_of(replicaset(failing)) == HealthStatus(DEGRADED, quota)


# --- Pod -----------------------------------------------------------------------------------


def pod(
    status: dict[str, Any], restart_policy: str = "Always", **annotations: str
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-5d4f8c7b9-x2k9q",
            "namespace": "demo",
            "annotations": annotations,
        },
        "spec": {
            "restartPolicy": restart_policy,
            "containers": [{"name": "app", "image": "app:1"}],
        },
        "status": status,
    }


def _pod_conditions(ready: str, reason: str = "") -> list[dict[str, Any]]:
    return [
        {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": T0},
        {"type": "Initialized", "status": "True", "lastTransitionTime": T0},
        {"type": "Ready", "status": ready, "reason": reason, "lastTransitionTime": T0},
        {"type": "ContainersReady", "status": ready, "reason": reason, "lastTransitionTime": T0},
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": T0},
    ]


RUNNING_READY: dict[str, Any] = {
    "phase": "Running",
    "conditions": _pod_conditions("True"),
    "containerStatuses": [
        {
            "name": "app",
            "image": "app:1",
            "imageID": "docker.io/library/app@sha256:0f3e",
            "containerID": "containerd://1a2b",
            "ready": True,
            "started": True,
            "restartCount": 0,
            "state": {"running": {"startedAt": T0}},
        }
    ],
    "hostIP": "10.0.0.4",
    "podIP": "10.244.0.12",
    "qosClass": "BestEffort",
    "startTime": T0,
}

CRASH_LOOP: dict[str, Any] = {
    "phase": "Running",
    "conditions": _pod_conditions("False", "ContainersNotReady"),
    "containerStatuses": [
        {
            "name": "app",
            "image": "app:1",
            "ready": False,
            "started": False,
            "restartCount": 4,
            "lastState": {
                "terminated": {
                    "exitCode": 1,
                    "reason": "Error",
                    "startedAt": T0,
                    "finishedAt": T0,
                    "containerID": "containerd://1a2b",
                }
            },
            "state": {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": "back-off 1m20s restarting failed container=app pod=web-5d4f8c7b9-x2k9q_demo",
                }
            },
        }
    ],
    "startTime": T0,
}


def _waiting(reason: str, message: str) -> dict[str, Any]:
    return {
        "phase": "Pending",
        "conditions": _pod_conditions("False", "ContainersNotReady"),
        "containerStatuses": [
            {
                "name": "app",
                "image": "registry.example/app:missing",
                "ready": False,
                "restartCount": 0,
                "state": {"waiting": {"reason": reason, "message": message}},
            }
        ],
        "startTime": T0,
    }


def test_running_ready_pod_is_healthy() -> None:
    assert health_of(pod(RUNNING_READY)) == HealthStatus(HEALTHY, "")


def test_pending_pod_is_progressing_with_the_scheduler_message() -> None:
    status = {
        "phase": "Pending",
        "conditions": [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient cpu.",
            }
        ],
        "qosClass": "Burstable",
    }
    assert status_of(pod(status)) == PROGRESSING


def test_crash_looping_pod_is_degraded_with_the_kubelet_message() -> None:
    assert health_of(pod(CRASH_LOOP)) == HealthStatus(
        DEGRADED, "back-off 1m20s restarting failed container=app pod=web-5d4f8c7b9-x2k9q_demo"
    )


def test_image_pull_failures_make_a_long_running_pod_degraded() -> None:
    message = 'Back-off pulling image "registry.example/app:missing"'
    assert health_of(pod(_waiting("ImagePullBackOff", message))) == HealthStatus(DEGRADED, message)
    pull = 'failed to pull and unpack image "registry.example/app:missing": not found'
    assert health_of(pod(_waiting("ErrImagePull", pull))) == HealthStatus(DEGRADED, pull)


def test_hook_pod_with_image_pull_backoff_stays_progressing() -> None:
    status = _waiting("ImagePullBackOff", "Back-off pulling image")
    assert status_of(pod(status, "Never")) == PROGRESSING
    assert status_of(pod(status, "OnFailure")) == PROGRESSING


def test_running_pod_not_ready_after_a_container_died_is_degraded() -> None:
    status = copy.deepcopy(CRASH_LOOP)
    status["containerStatuses"][0]["state"] = {"running": {"startedAt": T0}}
    assert status_of(pod(status)) == DEGRADED


def test_running_pod_starting_up_is_progressing() -> None:
    status = copy.deepcopy(RUNNING_READY)
    status["conditions"] = _pod_conditions("False", "ContainersNotReady")
    status["containerStatuses"][0]["ready"] = False
    assert health_of(pod(status)) == HealthStatus(PROGRESSING, "")


def test_running_never_restart_pod_is_progressing_until_it_finishes() -> None:
    assert status_of(pod(RUNNING_READY, "Never")) == PROGRESSING
    assert status_of(pod(RUNNING_READY, "OnFailure")) == PROGRESSING


def test_ignore_restart_policy_annotation_judges_an_operator_pod_as_long_running() -> None:
    annotations = {"argocd.argoproj.io/ignore-restart-policy": "true"}
    assert status_of(pod(RUNNING_READY, "Never", **annotations)) == HEALTHY


def test_succeeded_pod_is_healthy_whatever_its_restart_policy() -> None:
    status = {
        "phase": "Succeeded",
        "conditions": _pod_conditions("False", "PodCompleted"),
        "containerStatuses": [
            {
                "name": "app",
                "ready": False,
                "restartCount": 0,
                "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
            }
        ],
    }
    for policy in ("Never", "OnFailure", "Always"):
        assert status_of(pod(status, policy)) == HEALTHY


def test_failed_pod_is_degraded_with_the_best_message_available() -> None:
    terminated = {"exitCode": 1, "reason": "Error", "startedAt": T0, "finishedAt": T0}
    status: dict[str, Any] = {
        "phase": "Failed",
        "containerStatuses": [
            {"name": "app", "ready": False, "restartCount": 0, "state": {"terminated": terminated}}
        ],
    }
    assert health_of(pod(status, "Never")) == HealthStatus(
        DEGRADED, 'container "app" failed with exit code 1'
    )
    oom = copy.deepcopy(status)
    oom["containerStatuses"][0]["state"]["terminated"] = {"exitCode": 137, "reason": "OOMKilled"}
    assert health_of(pod(oom, "Never")) == HealthStatus(DEGRADED, "OOMKilled")
    evicted = {
        "phase": "Failed",
        "reason": "Evicted",
        "message": "The node was low on resource: memory.",
    }
    assert health_of(pod(evicted)) == HealthStatus(
        DEGRADED, "The node was low on resource: memory."
    )


def test_pod_in_unknown_phase_is_unknown() -> None:
    status = {"phase": "Unknown", "message": "node unreachable"}
    assert health_of(pod(status)) == HealthStatus(UNKNOWN, "node unreachable")


# --- Job and CronJob -----------------------------------------------------------------------


def job(status: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "demo", "generation": 1},
        "spec": {"backoffLimit": 6, "completions": 1, "parallelism": 1, **spec},
        "status": status,
    }


def test_running_job_is_progressing() -> None:
    status = {
        "startTime": T0,
        "active": 1,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    }
    assert health_of(job(status)) == HealthStatus(PROGRESSING, "")


def test_completed_job_is_healthy() -> None:
    status = {
        "startTime": T0,
        "completionTime": T0,
        "succeeded": 1,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [
            _cond(
                "SuccessCriteriaMet",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ),
            _cond(
                "Complete",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            ),
        ],
    }
    assert health_of(job(status)) == HealthStatus(
        HEALTHY, "Reached expected number of succeeded pods"
    )


def test_failed_job_is_degraded() -> None:
    status = {
        "startTime": T0,
        "failed": 7,
        "conditions": [
            _cond(
                "FailureTarget",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ),
            _cond(
                "Failed",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ),
        ],
    }
    assert health_of(job(status)) == HealthStatus(
        DEGRADED, "Job has reached the specified backoff limit"
    )


def test_suspended_job_is_suspended_and_a_resumed_one_progressing() -> None:
    suspended = {"conditions": [_cond("Suspended", "True", "JobSuspended", "Job suspended")]}
    assert health_of(job(suspended, suspend=True)) == HealthStatus(SUSPENDED, "Job suspended")
    resumed = {
        "startTime": T0,
        "active": 1,
        "conditions": [_cond("Suspended", "False", "JobResumed", "Job resumed")],
    }
    assert health_of(job(resumed, suspend=False)) == HealthStatus(PROGRESSING, "")


def cronjob(status: dict[str, Any] | None, suspend: bool = False) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "backup", "namespace": "demo"},
        "spec": {"schedule": "*/5 * * * *", "suspend": suspend, "jobTemplate": {"spec": {}}},
    }
    if status is not None:
        obj["status"] = status
    return obj


def test_cronjob_health_follows_its_last_runs() -> None:
    assert health_of(cronjob(None)) == HealthStatus(PROGRESSING, "Waiting for CronJob")
    assert health_of(cronjob({})) == HealthStatus(HEALTHY, "CronJob has not been scheduled yet")
    ok = {"lastScheduleTime": "2026-01-10T09:05:00Z", "lastSuccessfulTime": "2026-01-10T09:05:12Z"}
    assert health_of(cronjob(ok)) == HealthStatus(
        HEALTHY, "CronJob has completed its last execution successfully"
    )
    failed = {
        "lastScheduleTime": "2026-01-10T09:10:00Z",
        "lastSuccessfulTime": "2026-01-10T09:05:12Z",
    }
    assert health_of(cronjob(failed)) == HealthStatus(
        DEGRADED, "CronJob has not completed its last execution successfully"
    )
    running = {
        **failed,
        "active": [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": "backup-29463010",
                "namespace": "demo",
            }
        ],
    }
    assert status_of(cronjob(running)) == HEALTHY
    assert status_of(cronjob({"lastScheduleTime": "2026-01-10T09:10:00Z"})) == HEALTHY


def test_suspended_cronjob_is_suspended() -> None:
    assert health_of(cronjob({}, suspend=True)) == HealthStatus(SUSPENDED, "CronJob is Suspended")
