"""``tether controller`` as a process: SIGKILL in the middle of a sync (replicas sharing the apps:
tests/controller/test_shard_replicas.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tether.demo.repo import commit_and_push, create_repository
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import wait_until
from tether.localcluster.workloads import WorkloadOptions
from tether.source.gitserver import GitHTTPServer
from tether.tools import find_tool

pytestmark = pytest.mark.slow


@pytest.fixture
def slow_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    """Pods take 2 s to become ready, so a sync is still running when the controller dies."""
    with LocalCluster(
        kubeconfig=tmp_path / "kubeconfig", workloads=WorkloadOptions(pod_ready_delay=2.0)
    ) as cluster:
        yield cluster


def kubectl(cluster: LocalCluster, *args: str, input: str | None = None) -> str:
    proc = subprocess.run(
        [find_tool("kubectl"), "--kubeconfig", str(cluster.kubeconfig), *args],
        input=input,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def app_status(cluster: LocalCluster, name: str, ns: str = "argocd") -> dict[str, Any]:
    out = kubectl(cluster, "get", "application", name, "-n", ns, "-o", "yaml")
    return yaml.safe_load(out).get("status") or {}


def start_controller(
    cluster: LocalCluster, tmp: Path, identity: str, *extra: str
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HOSTNAME": identity}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tether.cli.main",
            "controller",
            "--kubeconfig",
            str(cluster.kubeconfig),
            "--reconcile-interval",
            "1",
            "--cache-dir",
            str(tmp / f"cache-{identity}"),
            "--listen",
            "127.0.0.1:0",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )


def wait_for(check: Any, timeout: float = 30.0, what: str = "") -> Any:
    """``wait_until`` for checks that run kubectl: a failing kubectl (the CRDs are not
    installed yet, the lease does not exist yet) counts as "not yet"."""

    def tolerant() -> Any:
        try:
            return check()
        except subprocess.CalledProcessError:
            return None

    return wait_until(tolerant, timeout=timeout, what=what, interval=0.1)


def application(name: str, repo_url: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd"},
            "spec": {
                "project": "default",
                "source": {
                    "repoURL": repo_url,
                    "targetRevision": "HEAD",
                    "path": "apps/payment-service/production",
                },
                "destination": {
                    "server": "https://kubernetes.default.svc",
                    "namespace": "payment-service",
                },
                "syncPolicy": {
                    "automated": {"prune": True, "selfHeal": True},
                    "syncOptions": ["CreateNamespace=true"],
                },
            },
        }
    )


def test_controller_killed_mid_sync_is_finished_by_the_restarted_controller(
    slow_cluster: LocalCluster, tmp_path: Path
) -> None:
    create_repository(tmp_path / "git" / "k8s.git", tmp_path / "work")
    # the Deployment in a wave before the rest: the sync waits for it to become healthy (the
    # last wave is not waited for), so it is still running when the controller dies
    path = "apps/payment-service/production/kustomization.yaml"
    overlay = yaml.safe_load((tmp_path / "work" / path).read_text())
    overlay["patches"].append(
        {
            "target": {"kind": "Deployment", "name": "payment-service"},
            "patch": yaml.safe_dump(
                [
                    {
                        "op": "add",
                        "path": "/metadata/annotations",
                        "value": {"argocd.argoproj.io/sync-wave": "-1"},
                    }
                ]
            ),
        }
    )
    commit_and_push(tmp_path / "work", "deployment first", {path: yaml.safe_dump(overlay)})
    with GitHTTPServer(tmp_path / "git") as server:
        first = start_controller(slow_cluster, tmp_path, "first", "--no-leader-election")
        try:
            wait_for(
                lambda: "applications" in kubectl(slow_cluster, "api-resources"),
                what="CRDs installed",
            )
            kubectl(
                slow_cluster,
                "apply",
                "-f",
                "-",
                input=application("payment-service", server.url("k8s.git")),
            )
            wait_for(
                lambda: (
                    app_status(slow_cluster, "payment-service")
                    .get("operationState", {})
                    .get("phase")
                    == "Running"
                ),
                what="sync running",
            )
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        state = app_status(slow_cluster, "payment-service")["operationState"]
        assert state["phase"] == "Running"  # the process died in the middle of the sync
        second = start_controller(slow_cluster, tmp_path, "second", "--no-leader-election")
        try:

            def finished() -> dict[str, Any] | None:
                status = app_status(slow_cluster, "payment-service")
                op = status.get("operationState") or {}
                if op.get("phase") in ("Failed", "Error"):
                    return status
                # after a successful sync, the next comparison reports Synced
                done = (
                    op.get("phase") == "Succeeded"
                    and status.get("sync", {}).get("status") == "Synced"
                )
                return status if done else None

            status = wait_for(finished, timeout=60, what="operation finished by the new controller")
            assert status["operationState"]["phase"] == "Succeeded", status["operationState"].get(
                "message"
            )
            assert status["sync"]["status"] == "Synced"
            # one sync of one revision, resumed after the kill: one history entry
            history = app_status(slow_cluster, "payment-service").get("history") or []
            assert [h["revision"] for h in history] == [status["sync"]["revision"]], history
            deploys = yaml.safe_load(
                kubectl(slow_cluster, "get", "deploy", "-n", "payment-service", "-o", "yaml")
            )["items"]
            assert [d["metadata"]["name"] for d in deploys] == ["payment-service"]
            rs = yaml.safe_load(
                kubectl(slow_cluster, "get", "rs", "-n", "payment-service", "-o", "yaml")
            )["items"]
            assert len(rs) == 1  # applied twice, but the same pod template: one ReplicaSet
        finally:
            second.terminate()
            second.wait(timeout=20)
