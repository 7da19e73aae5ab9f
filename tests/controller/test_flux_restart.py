"""A controller that starts again finds Flux objects Ready and keeps them so: it fetches their
sources again before it reconciles them, without a Ready=False in between (no status write, no
Warning event, no alert) — Flux keeps its artifacts in storage across restarts, Tether in
memory."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.controller.stack import Env, running_stack
from tests.controller.test_flux import configmap, get, git_repository, kustomization, ready
from tether.demo.repo import create_repository
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually
from tether.source.gitserver import GitHTTPServer

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with LocalCluster(
        port=0, kubeconfig=tmp_path_factory.mktemp("restart") / "kubeconfig"
    ) as cluster:
        yield cluster


async def test_a_restarted_controller_keeps_kustomizations_ready(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    namespace = f"restart-{uuid.uuid4().hex[:6]}"
    server = GitHTTPServer(tmp_path / "git").start()  # serves both controllers
    create_repository(
        tmp_path / "git" / "r.git", tmp_path / "work", {"deploy/cm.yaml": configmap("kept")}
    )
    url = server.url("r.git")
    try:
        await _restart(local_cluster, tmp_path, namespace, url)
    finally:
        server.stop()


async def _restart(local_cluster: LocalCluster, tmp_path: Path, namespace: str, url: str) -> None:
    async with running_stack(local_cluster, tmp_path / "first") as env:
        await env.kube("create", "namespace", namespace)
        await env.controller.extras.ready()
        await env.apply(
            git_repository("repo", namespace, url),
            kustomization("app", namespace, "repo", path="./deploy", targetNamespace=namespace,
                          interval="1s"),
        )  # fmt: skip

        async def is_ready() -> dict[str, str] | None:
            found = await ready(env, "app", namespace)
            return found if found.get("status") == "True" else None

        before = await eventually(is_ready, 60, "the Kustomization Ready")
        warnings_before = await _warnings(env, namespace)
    # the same cluster, a new controller (its own cache: nothing fetched yet)
    async with running_stack(local_cluster, tmp_path / "second") as env:
        await env.controller.extras.ready()
        ks = await get(env, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", "app", namespace)
        assert ks is not None
        handled = ks["status"].get("lastAppliedRevision")

        async def reconciled_again() -> bool:
            flux = env.controller.extras.flux
            return flux is not None and flux.kustomizations.applies >= 2

        await eventually(reconciled_again, 60, "the Kustomization reconciled by the new controller")
        after = await ready(env, "app", namespace)
        assert after["status"] == "True"
        assert after["lastTransitionTime"] == before["lastTransitionTime"]
        assert await _warnings(env, namespace) == warnings_before
        ks = await get(env, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", "app", namespace)
        assert ks is not None and ks["status"]["lastAppliedRevision"] == handled


async def _warnings(env: Env, namespace: str) -> int:
    """How many Warning events the namespace holds (a first reconcile may have found the
    GitRepository not fetched yet, before the restart)."""
    answer = await env.kube("get", "events", "-n", namespace, "-o", "jsonpath={.items[*].type}")
    return str(answer.stdout).split().count("Warning")
