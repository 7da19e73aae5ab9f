"""Images that do not exist, on the real local cluster: kubelet's states, health, and recovery.

The cluster of this module knows the images listed in a file (``WorkloadOptions(images=...)``)
and runs its deadlines 100x faster: the image back-off is 0.1 s doubling to 3 s, a Deployment's
progress deadline 6 s.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.localcluster.test_workloads import apply, deployment, get
from tether.cluster import ClusterClient
from tether.engine.health import DEGRADED, HEALTHY, PROGRESSING, health_of
from tether.localcluster.cluster import ClusterProcess, ClusterStartError, LocalCluster
from tether.localcluster.images import ImageCatalog
from tether.localcluster.testing import Kubectl, kubectl_runner, wait_until
from tether.localcluster.workloads import WorkloadOptions

LISTED = """\
# the registry of these tests
nginx:1.*
ghcr.io/example/payment-service:1.*
busybox:1.36
"""
NOT_FOUND = (
    'rpc error: code = NotFound desc = failed to pull and unpack image "{0}": '
    'failed to resolve reference "{0}": {0}: not found'
)


@pytest.fixture(scope="module")
def image_list(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("registry") / "images.txt"
    path.write_text(LISTED)
    return path


@pytest.fixture(scope="module")
def local_cluster(
    tmp_path_factory: pytest.TempPathFactory, image_list: Path
) -> Iterator[LocalCluster]:
    workdir = tmp_path_factory.mktemp("image-cluster")
    options = WorkloadOptions(
        pod_ready_delay=0.1,
        job_run_time=0.1,
        time_scale=0.01,
        images=ImageCatalog.from_file(image_list),
    )
    with LocalCluster(kubeconfig=workdir / "kubeconfig", workloads=options) as cluster:
        yield cluster


def _pods(kubectl: Kubectl, namespace: str, selector: str) -> list[dict[str, Any]]:
    out = kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout
    return json.loads(out)["items"]  # type: ignore[no-any-return]


def _waiting(pod: dict[str, Any], container: str = "app") -> dict[str, Any]:
    for status in pod["status"].get("containerStatuses") or []:
        if status["name"] == container:
            return status["state"].get("waiting") or {}  # type: ignore[no-any-return]
    return {}


def _pod_waiting_with(kubectl: Kubectl, namespace: str, app: str, reason: str) -> dict[str, Any]:
    return wait_until(  # type: ignore[no-any-return]
        lambda: next(
            (
                p
                for p in _pods(kubectl, namespace, f"app={app}")
                if _waiting(p).get("reason") == reason
            ),
            None,
        ),
        what=f"a pod of {app} waiting with {reason}",
    )


def _condition(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next((c for c in obj["status"].get("conditions") or [] if c["type"] == ctype), {})


async def _reasons_seen(
    client: ClusterClient, namespace: str, resource_version: str, wanted: int
) -> list[str]:
    """The waiting reasons of the pods' ``app`` container, in the order watch events carry them,
    until ``wanted`` changes were seen."""
    info = await client.resource_for("v1", "Pod")
    reasons: list[str] = []
    async with asyncio.timeout(60):
        async for event in client.watch(info, namespace, resource_version=resource_version):
            if event.type not in ("ADDED", "MODIFIED"):
                continue
            reason = _waiting(event.object).get("reason")
            if reason and (not reasons or reasons[-1] != reason):
                reasons.append(reason)
            if len(reasons) >= wanted:
                return reasons
    return reasons


async def test_a_missing_tag_fails_backs_off_and_retries_and_is_never_ready(
    client: ClusterClient, kubectl: Kubectl, namespace: str
) -> None:
    info = await client.resource_for("v1", "Pod")
    start = (await client.list(info, namespace)).resource_version
    apply(kubectl, namespace, deployment("typo", "ghcr.io/example/payment-service:14.0", 1))
    reasons = await _reasons_seen(client, namespace, start, wanted=4)
    assert reasons == ["ErrImagePull", "ImagePullBackOff", "ErrImagePull", "ImagePullBackOff"]
    pod = _pod_waiting_with(kubectl, namespace, "typo", "ImagePullBackOff")
    full = "ghcr.io/example/payment-service:14.0"
    assert _waiting(pod)["message"] == (
        f'Back-off pulling image "{full}": ErrImagePull: {NOT_FOUND.format(full)}'
    )
    assert pod["status"]["phase"] == "Pending"
    assert _condition(pod, "Ready")["status"] == "False"
    assert pod["status"]["containerStatuses"][0]["ready"] is False
    table = kubectl("get", "pods", "-n", namespace, "-l", "app=typo").stdout
    assert "ErrImagePull" in table or "ImagePullBackOff" in table
    health = health_of(pod)
    assert health is not None and health.status == DEGRADED
    assert "Back-off pulling image" in health.message


def test_a_mistyped_tag_degrades_the_deployment_and_the_fixed_tag_rolls_out(
    kubectl: Kubectl, namespace: str
) -> None:
    apply(kubectl, namespace, deployment("shop", "nginx:1.27", replicas=2))
    kubectl("rollout", "status", "deploy/shop", "-n", namespace, "--timeout=30s")
    apply(kubectl, namespace, deployment("shop", "nginx:12.7", replicas=2))
    pod = _pod_waiting_with(kubectl, namespace, "shop", "ImagePullBackOff")
    assert _waiting(pod)["message"].endswith(NOT_FOUND.format("docker.io/library/nginx:12.7"))
    result = kubectl(
        "rollout", "status", "deploy/shop", "-n", namespace, "--timeout=30s", check=False
    )
    assert result.returncode == 1
    assert 'deployment "shop" exceeded its progress deadline' in result.stderr
    deploy = get(kubectl, "deploy", "shop", namespace)
    assert _condition(deploy, "Progressing")["reason"] == "ProgressDeadlineExceeded"
    health = health_of(deploy)
    assert health is not None and health.status == DEGRADED
    # the old pods keep serving: the rollout stops at the pod that cannot start
    assert deploy["status"]["availableReplicas"] == 2

    kubectl("set", "image", "deploy/shop", "app=nginx:1.28", "-n", namespace)
    kubectl("rollout", "status", "deploy/shop", "-n", namespace, "--timeout=30s")
    deploy = get(kubectl, "deploy", "shop", namespace)
    health = health_of(deploy)
    assert health is not None and health.status == HEALTHY
    assert _condition(deploy, "Progressing")["reason"] == "NewReplicaSetAvailable"
    pods = wait_until(
        lambda: (ps := _pods(kubectl, namespace, "app=shop")) and len(ps) == 2 and ps,
        what="the two pods of the fixed tag only",
    )
    for pod in pods:
        assert pod["spec"]["containers"][0]["image"] == "nginx:1.28"
        assert pod["status"]["containerStatuses"][0]["state"].get("running")


def test_pushing_the_missing_image_starts_the_waiting_pod(
    kubectl: Kubectl, namespace: str, image_list: Path
) -> None:
    image = f"ghcr.io/example/{namespace}:1.0"  # a repository no other test lists
    apply(kubectl, namespace, deployment("late", image, replicas=1))
    waiting = _pod_waiting_with(kubectl, namespace, "late", "ImagePullBackOff")
    with image_list.open("a") as listing:
        listing.write(f"{image}\n")
    kubectl("rollout", "status", "deploy/late", "-n", namespace, "--timeout=30s")
    (pod,) = _pods(kubectl, namespace, "app=late")
    assert pod["metadata"]["uid"] == waiting["metadata"]["uid"]  # the same pod, now pulled
    assert pod["status"]["phase"] == "Running"
    assert pod["status"]["containerStatuses"][0]["imageID"].startswith(
        f"ghcr.io/example/{namespace}@sha256:"
    )


POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  containers: {containers}
"""


def test_a_pod_runs_the_containers_whose_images_exist(kubectl: Kubectl, namespace: str) -> None:
    containers = '[{name: proxy, image: "nginx:1.27"}, {name: app, image: "nginx:0.1"}]'
    apply(kubectl, namespace, POD.format(name="pair", containers=containers))
    pod = _pod_waiting_with(kubectl, namespace, "pair", "ImagePullBackOff")
    proxy = next(s for s in pod["status"]["containerStatuses"] if s["name"] == "proxy")
    assert proxy["ready"] is True and "running" in proxy["state"]
    assert pod["status"]["phase"] == "Running"
    ready = _condition(pod, "Ready")
    assert (ready["status"], ready["message"]) == ("False", "containers with unready status: [app]")
    health = health_of(pod)
    assert health is not None and health.status == DEGRADED


def test_a_reference_that_does_not_parse_waits_with_invalid_image_name(
    kubectl: Kubectl, namespace: str
) -> None:
    apply(
        kubectl, namespace, POD.format(name="caps", containers='[{name: app, image: "Nginx:1.27"}]')
    )
    pod = _pod_waiting_with(kubectl, namespace, "caps", "InvalidImageName")
    assert _waiting(pod)["message"] == (
        'Failed to apply default image tag "Nginx:1.27": couldn\'t parse image name "Nginx:1.27": '
        "invalid reference format: repository name (library/Nginx) must be lowercase"
    )
    # gitops-engine counts only Err*/*BackOff/*Error reasons as failures: a Pending pod waits
    health = health_of(pod)
    assert health is not None and health.status == PROGRESSING


async def test_a_job_whose_image_is_missing_does_not_run(
    client: ClusterClient, kubectl: Kubectl, namespace: str
) -> None:
    info = await client.resource_for("v1", "Pod")
    start = (await client.list(info, namespace)).resource_version
    apply(
        kubectl,
        namespace,
        """
apiVersion: batch/v1
kind: Job
metadata: {name: migrate}
spec:
  backoffLimit: 0
  template:
    metadata: {labels: {app: migrate}}
    spec:
      restartPolicy: Never
      containers: [{name: app, image: "busybox:1.37"}]
""",
    )
    # a second failed pull: by then a pod that ran would have finished (job_run_time is 0.1 s)
    reasons = await _reasons_seen(client, namespace, start, wanted=3)
    assert reasons == ["ErrImagePull", "ImagePullBackOff", "ErrImagePull"]
    (pod,) = _pods(kubectl, namespace, "app=migrate")
    assert pod["status"]["phase"] == "Pending"
    job = get(kubectl, "job", "migrate", namespace)
    assert not job["status"].get("succeeded") and not job["status"].get("failed")
    assert not _condition(job, "Complete") and not _condition(job, "Failed")


def test_cluster_up_reads_images_from_a_file(tmp_path: Path) -> None:
    listing = tmp_path / "images.txt"
    listing.write_text("# demo\nnginx:1.*\n")
    cluster = ClusterProcess.start(tmp_path, ["--images", str(listing), "--time-scale", "0.01"])
    try:
        kubectl = kubectl_runner(cluster.kubeconfig, tmp_path)
        kubectl("create", "namespace", "shop")
        apply(kubectl, "shop", deployment("ok", "nginx:1.27", replicas=1))
        apply(kubectl, "shop", deployment("typo", "nginx:2.0", replicas=1))
        kubectl("rollout", "status", "deploy/ok", "-n", "shop", "--timeout=30s")
        _pod_waiting_with(kubectl, "shop", "typo", "ImagePullBackOff")
    finally:
        cluster.stop()


@pytest.mark.parametrize(
    ("content", "extra", "error"),
    [
        ("nginx:*\nbad:[\n", [], "--images: {path}:2: 'bad:[': invalid glob '[': unclosed '['"),
        (None, [], "--images: {path}: cannot read: No such file or directory"),
        ("nginx:*\n", ["--no-workloads"], "--images needs the simulated kubelet"),
    ],
)
def test_cluster_up_refuses_an_unusable_image_list(
    tmp_path: Path, content: str | None, extra: list[str], error: str
) -> None:
    listing = tmp_path / "images.txt"
    if content is not None:
        listing.write_text(content)
    with pytest.raises(ClusterStartError) as caught:
        ClusterProcess.start(tmp_path, ["--images", str(listing), *extra])
    assert error.format(path=listing) in str(caught.value)
    assert "Traceback" not in str(caught.value)
