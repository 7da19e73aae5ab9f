"""The pinned helm binary against the local cluster: install, test (including the chart's test
that fails on purpose), upgrade, history, rollback and uninstall, with releases stored as Helm
stores them. Helm's typed client sends a protobuf DeleteOptions body when it purges a release,
and its test Pods are bare Pods that must run to their end."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.corpora import CORPORA
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.workloads import WorkloadOptions
from tether.tools import find_tool

CHART = CORPORA / "podinfo" / "charts" / "podinfo"


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    workdir = tmp_path_factory.mktemp("helm-cluster")
    options = WorkloadOptions(pod_ready_delay=0.1, job_run_time=0.1)
    with LocalCluster(kubeconfig=workdir / "kubeconfig", workloads=options) as cluster:
        yield cluster


def _helm(
    cluster: LocalCluster, home: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "KUBECONFIG": str(cluster.kubeconfig),
           "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
           "HELM_DATA_HOME": str(home / "data")}  # fmt: skip
    return subprocess.run(
        [find_tool("helm"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=check,
    )


def test_helm_manages_a_release_end_to_end(local_cluster: LocalCluster, tmp_path: Path) -> None:
    ns = ("-n", "default")
    installed = _helm(local_cluster, tmp_path, "install", "web", str(CHART), *ns, "--wait")
    assert "STATUS: deployed" in installed.stdout
    tested = _helm(local_cluster, tmp_path, "test", "web", *ns, "--timeout", "60s")
    assert tested.stdout.count("Phase:          Succeeded") >= 2, tested.stdout
    _helm(local_cluster, tmp_path, "upgrade", "web", str(CHART), *ns, "--wait",
          "--set", "faults.testFail=true")  # fmt: skip
    failing = _helm(local_cluster, tmp_path, "test", "web", *ns, "--timeout", "60s", check=False)
    assert failing.returncode != 0
    assert "Phase:          Failed" in failing.stdout, failing.stdout + failing.stderr
    _helm(local_cluster, tmp_path, "rollback", "web", "1", *ns, "--wait")
    history = _helm(local_cluster, tmp_path, "history", "web", *ns).stdout
    assert [line.split()[0] for line in history.splitlines()[1:]] == ["1", "2", "3"]
    assert "Rollback to 1" in history
    listed = _helm(local_cluster, tmp_path, "ls", "-A").stdout
    assert "web" in listed and "deployed" in listed
    uninstalled = _helm(local_cluster, tmp_path, "uninstall", "web", *ns)
    assert 'release "web" uninstalled' in uninstalled.stdout, uninstalled.stderr
    assert "web" not in _helm(local_cluster, tmp_path, "ls", "-A").stdout
