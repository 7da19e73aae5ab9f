"""Workloads that run on the local cluster, checked with kubectl and against the kstatus rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.localcluster import kstatus
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import Kubectl, wait_until
from tether.localcluster.workloads import CronSchedule, WorkloadOptions


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Workloads on, with controller deadlines scaled down 100x (600 s → 6 s)."""
    workdir = tmp_path_factory.mktemp("workload-cluster")
    options = WorkloadOptions(pod_ready_delay=0.1, job_run_time=0.1, time_scale=0.01)
    with LocalCluster(kubeconfig=workdir / "kubeconfig", workloads=options) as cluster:
        yield cluster


def get(kubectl: Kubectl, kind: str, name: str, namespace: str) -> dict[str, Any]:
    return json.loads(kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout)  # type: ignore[no-any-return]


def apply(kubectl: Kubectl, namespace: str, manifest: str) -> None:
    kubectl("apply", "--server-side", "-n", namespace, "-f", "-", input=manifest)


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  {extra}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: app, image: "{image}"}}]
"""


def deployment(name: str, image: str, replicas: int = 2, extra: str = "") -> str:
    return DEPLOYMENT.format(name=name, image=image, replicas=replicas, extra=extra)


def test_rollout_status_finishes_for_a_new_deployment_and_an_image_change(
    kubectl: Kubectl, namespace: str
) -> None:
    apply(kubectl, namespace, deployment("web", "nginx:1.27", replicas=3))
    out = kubectl("rollout", "status", "deploy/web", "-n", namespace, "--timeout=30s").stdout
    assert 'deployment "web" successfully rolled out' in out
    first = get(kubectl, "deploy", "web", namespace)
    assert first["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert kstatus.compute(first) == (kstatus.CURRENT, "Current")
    kubectl("set", "image", "deploy/web", "app=nginx:1.28", "-n", namespace)
    out = kubectl("rollout", "status", "deploy/web", "-n", namespace, "--timeout=30s").stdout
    assert 'deployment "web" successfully rolled out' in out
    second = get(kubectl, "deploy", "web", namespace)
    assert second["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert second["metadata"]["generation"] == 2
    assert second["status"]["observedGeneration"] == 2
    rs_list = json.loads(kubectl("get", "rs", "-n", namespace, "-o", "json").stdout)["items"]
    by_revision = {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in rs_list
    }
    old_rs = wait_until(lambda: get(kubectl, "rs", by_revision["1"]["metadata"]["name"], namespace))
    assert old_rs["spec"]["replicas"] == 0  # the old ReplicaSet is scaled down
    assert by_revision["2"]["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    wait_until(
        lambda: (
            get(kubectl, "rs", by_revision["1"]["metadata"]["name"], namespace)["status"].get(
                "replicas", 0
            )
            == 0
        )
    )
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
    assert {
        p["spec"]["containers"][0]["image"]
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
    } == {"nginx:1.28"}
    assert all(kstatus.compute(p)[0] == kstatus.CURRENT for p in pods)


def test_wait_for_condition_available(kubectl: Kubectl, namespace: str) -> None:
    apply(kubectl, namespace, deployment("avail", "nginx:1.27"))
    out = kubectl(
        "wait", "--for=condition=Available", "deploy/avail", "-n", namespace, "--timeout=30s"
    ).stdout
    assert "condition met" in out


def test_wait_for_job_complete(kubectl: Kubectl, namespace: str) -> None:
    kubectl("create", "job", "once", "-n", namespace, "--image=busybox:1.36")
    out = kubectl(
        "wait", "--for=condition=complete", "job/once", "-n", namespace, "--timeout=30s"
    ).stdout
    assert "condition met" in out
    job = get(kubectl, "job", "once", namespace)
    assert job["status"]["succeeded"] == 1
    assert job["status"]["completionTime"]
    assert [c["type"] for c in job["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert kstatus.compute(job) == (kstatus.CURRENT, "JobComplete")


def test_failing_job_reaches_backoff_limit(kubectl: Kubectl, namespace: str) -> None:
    apply(
        kubectl,
        namespace,
        """
apiVersion: batch/v1
kind: Job
metadata: {name: broken}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: "busybox:1.36-fail"}]
""",
    )
    kubectl("wait", "--for=condition=failed", "job/broken", "-n", namespace, "--timeout=30s")
    job = get(kubectl, "job", "broken", namespace)
    assert job["status"]["failed"] == 2
    failed = next(c for c in job["status"]["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "BackoffLimitExceeded"
    assert kstatus.compute(job) == (kstatus.FAILED, "JobFailed")


def test_crashloop_image_ends_in_progress_deadline_exceeded(
    kubectl: Kubectl, namespace: str
) -> None:
    # progressDeadlineSeconds defaults to 600; this cluster scales it by 0.01 to 6 s
    apply(kubectl, namespace, deployment("crash", "app:1.0-crashloop", replicas=1))
    pod = wait_until(
        lambda: next(
            (
                p
                for p in json.loads(
                    kubectl("get", "pods", "-n", namespace, "-l", "app=crash", "-o", "json").stdout
                )["items"]
                if p["status"].get("phase") == "Running"
            ),
            None,
        )
    )
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    assert waiting["reason"] == "CrashLoopBackOff"
    assert kstatus.compute(pod) == (kstatus.FAILED, "ContainerCrashLooping")
    deploy = get(kubectl, "deploy", "crash", namespace)
    assert kstatus.compute(deploy)[0] == kstatus.IN_PROGRESS
    result = kubectl(
        "rollout", "status", "deploy/crash", "-n", namespace, "--timeout=30s", check=False
    )
    assert result.returncode == 1
    assert 'deployment "crash" exceeded its progress deadline' in result.stderr
    deploy = get(kubectl, "deploy", "crash", namespace)
    assert kstatus.compute(deploy) == (kstatus.FAILED, "ProgressDeadlineExceeded")


def test_stale_generation_is_in_progress_until_observed(
    local_cluster: LocalCluster, kubectl: Kubectl, namespace: str
) -> None:
    apply(kubectl, namespace, deployment("stale", "nginx:1.27", replicas=1))
    kubectl("rollout", "status", "deploy/stale", "-n", namespace, "--timeout=30s")
    obj = get(kubectl, "deploy", "stale", namespace)
    obj["metadata"]["generation"] += 1  # as a spec write would do before the controller sees it
    assert kstatus.compute(obj) == (kstatus.IN_PROGRESS, "LatestGenerationNotObserved")


def test_scale_down_and_up_and_recreate_strategy(kubectl: Kubectl, namespace: str) -> None:
    apply(
        kubectl,
        namespace,
        deployment("rec", "nginx:1.27", replicas=2, extra="strategy: {type: Recreate}"),
    )
    kubectl("rollout", "status", "deploy/rec", "-n", namespace, "--timeout=30s")
    kubectl("scale", "deploy/rec", "--replicas=4", "-n", namespace)
    kubectl("rollout", "status", "deploy/rec", "-n", namespace, "--timeout=30s")
    assert get(kubectl, "deploy", "rec", namespace)["status"]["readyReplicas"] == 4
    kubectl("set", "image", "deploy/rec", "app=nginx:1.28", "-n", namespace)
    kubectl("rollout", "status", "deploy/rec", "-n", namespace, "--timeout=30s")
    deploy = get(kubectl, "deploy", "rec", namespace)
    assert kstatus.compute(deploy) == (kstatus.CURRENT, "Current")


def test_statefulset_pods_come_up_in_order_with_claims(kubectl: Kubectl, namespace: str) -> None:
    apply(
        kubectl,
        namespace,
        """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  replicas: 3
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: db, image: "postgres:17"}]}
  volumeClaimTemplates:
  - metadata: {name: data}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
""",
    )
    out = kubectl("rollout", "status", "sts/db", "-n", namespace, "--timeout=30s").stdout
    assert "partitioned roll out complete" in out or "roll out complete" in out
    sts = get(kubectl, "sts", "db", namespace)
    assert kstatus.compute(sts) == (kstatus.CURRENT, "Current")
    pods = json.loads(kubectl("get", "pods", "-n", namespace, "-l", "app=db", "-o", "json").stdout)[
        "items"
    ]
    assert sorted(p["metadata"]["name"] for p in pods) == ["db-0", "db-1", "db-2"]
    created = sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"])
    assert created[0]["metadata"]["name"] == "db-0"
    pvcs = json.loads(kubectl("get", "pvc", "-n", namespace, "-o", "json").stdout)["items"]
    assert sorted(p["metadata"]["name"] for p in pvcs) == ["data-db-0", "data-db-1", "data-db-2"]
    wait_until(
        lambda: all(
            kstatus.compute(p) == (kstatus.CURRENT, "Bound")
            for p in json.loads(kubectl("get", "pvc", "-n", namespace, "-o", "json").stdout)[
                "items"
            ]
        )
    )


def test_daemonset_runs_one_pod_per_node(kubectl: Kubectl, namespace: str) -> None:
    apply(
        kubectl,
        namespace,
        """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec: {containers: [{name: agent, image: "agent:1"}]}
""",
    )
    kubectl("rollout", "status", "ds/agent", "-n", namespace, "--timeout=30s")
    ds = get(kubectl, "ds", "agent", namespace)
    assert ds["status"]["numberReady"] == 1
    assert kstatus.compute(ds) == (kstatus.CURRENT, "Current")


def test_load_balancer_service_gets_an_address_and_pvc_binds(
    kubectl: Kubectl, namespace: str
) -> None:
    apply(
        kubectl,
        namespace,
        """
apiVersion: v1
kind: Service
metadata: {name: lb}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: claim}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 2Gi}}}
""",
    )
    svc = wait_until(
        lambda: (
            (s := get(kubectl, "svc", "lb", namespace))["status"]
            .get("loadBalancer", {})
            .get("ingress")
            and s
        )
    )
    assert svc["status"]["loadBalancer"]["ingress"][0]["ip"].startswith("172.18.255.")
    assert kstatus.compute(svc) == (kstatus.CURRENT, "Current")
    pvc = wait_until(
        lambda: (
            (p := get(kubectl, "pvc", "claim", namespace))["status"].get("phase") == "Bound" and p
        )
    )
    assert pvc["status"]["capacity"] == {"storage": "2Gi"}
    assert pvc["spec"]["volumeName"].startswith("pvc-")


def test_cronjob_schedule_parsing() -> None:
    every_five = CronSchedule.parse("*/5 * * * *")
    assert every_five.next_after(0) == 300.0
    nightly = CronSchedule.parse("@daily")
    assert nightly.next_after(10) == 86400.0
    with pytest.raises(ValueError):
        CronSchedule.parse("61 * * * *")
    with pytest.raises(ValueError):
        CronSchedule.parse("* * *")


def test_deleting_a_deployment_removes_its_replicasets_and_pods(
    kubectl: Kubectl, namespace: str, tmp_path: Path
) -> None:
    apply(kubectl, namespace, deployment("gone", "nginx:1.27", replicas=2))
    kubectl("rollout", "status", "deploy/gone", "-n", namespace, "--timeout=30s")
    kubectl("delete", "deploy/gone", "-n", namespace, "--wait")
    wait_until(
        lambda: (
            json.loads(
                kubectl("get", "rs,pods", "-n", namespace, "-l", "app=gone", "-o", "json").stdout
            )["items"]
            == []
        )
    )


def _pods(kubectl: Kubectl, namespace: str, selector: str) -> list[dict[str, Any]]:
    out = kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout
    return json.loads(out)["items"]  # type: ignore[no-any-return]


def test_pullbackoff_tag_fails_its_pull_without_an_image_list(
    kubectl: Kubectl, namespace: str
) -> None:
    # this cluster has no list of images: every image exists but a tag ending in -pullbackoff
    apply(kubectl, namespace, deployment("pull", "registry.example/app:9-pullbackoff", replicas=1))
    pod = wait_until(
        lambda: next(
            (
                p
                for p in _pods(kubectl, namespace, "app=pull")
                if p["status"].get("containerStatuses")
                and p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
                == "ImagePullBackOff"
            ),
            None,
        )
    )
    assert pod["status"]["phase"] == "Pending"
    assert kstatus.compute(pod) == (kstatus.IN_PROGRESS, "PodNotRunning")
    deploy = get(kubectl, "deploy", "pull", namespace)
    assert kstatus.compute(deploy)[0] == kstatus.IN_PROGRESS


def test_pod_whose_node_selector_matches_no_node_is_unschedulable(
    kubectl: Kubectl, namespace: str
) -> None:
    apply(
        kubectl,
        namespace,
        """
apiVersion: v1
kind: Pod
metadata: {name: picky, labels: {app: picky}}
spec:
  nodeSelector: {disktype: ssd}
  containers: [{name: app, image: "nginx:1.27"}]
""",
    )
    pod = wait_until(
        lambda: next(
            (
                p
                for p in _pods(kubectl, namespace, "app=picky")
                if any(c["type"] == "PodScheduled" for c in p["status"].get("conditions", []))
            ),
            None,
        )
    )
    scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
    assert pod["status"]["phase"] == "Pending"
    assert "nodeName" not in pod["spec"]
    assert kstatus.compute(pod)[0] == kstatus.IN_PROGRESS
