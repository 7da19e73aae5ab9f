"""With one API request in five failing (500s and 429s with Retry-After, on every verb, watches
included), every Application still converges to Synced and Healthy.

The cluster is a private one: its faults must not reach other tests. bench/faults.py measures how
much longer convergence takes at the same rate.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controller.stack import Env, running_stack, synced_healthy
from tether.cluster.errors import ClusterError
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.faults import FaultConfig
from tether.localcluster.testing import eventually
from tether.localcluster.workloads import WorkloadOptions

pytestmark = pytest.mark.slow

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


def fault_rate(rate: float) -> FaultConfig:
    return FaultConfig(error_rate=dict.fromkeys(VERBS, rate), throttle_share=0.5, retry_after=1)


@pytest.fixture
def faulty_cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    with LocalCluster(
        kubeconfig=tmp_path / "kubeconfig", workloads=WorkloadOptions(pod_ready_delay=0.1)
    ) as cluster:
        yield cluster


async def converged(env: Env, names: list[str]) -> bool:
    for name in names:
        try:
            if not await synced_healthy(env, name):
                return False
        except ClusterError:
            return False  # the test's own reads meet the faults too
    return True


@pytest.mark.asyncio(loop_scope="session")
async def test_every_app_converges_with_a_fifth_of_api_requests_failing(
    faulty_cluster: LocalCluster, tmp_path: Path
) -> None:
    async with running_stack(faulty_cluster, tmp_path) as env:
        names = []
        for i in range(4):
            url, _work = env.new_repo()
            name = f"faulty-{i}-{uuid.uuid4().hex[:4]}"
            await env.kube("create", "namespace", name)
            names.append(name)
            await env.application(name, url, name)
        # from here on, one request in five fails, the controller's and the test's alike
        faulty_cluster.call(setattr, faulty_cluster.app, "faults", fault_rate(0.2))
        await eventually(lambda: converged(env, names), timeout=180, what="all apps converge")
        faulty_cluster.call(setattr, faulty_cluster.app, "faults", FaultConfig())
        for name in names:
            app = await env.app(name)
            assert app["status"]["operationState"]["phase"] == "Succeeded"
            assert len(app["status"]["history"]) == 1, app["status"]["history"]
