"""ignoreDifferences jq expressions on the real stack: local cluster, git server, controller, API.

The hostile case runs the controller in this process; a watchdog process kills the test run if
this process grows past a bound, so a regression fails instead of eating the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tether.cluster.client import ClusterClient
from tether.controller.controller import Controller, ControllerConfig
from tether.demo.repo import create_repository
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually
from tether.server import run_server
from tether.server.app import RunningServer
from tether.source.gitserver import GitHTTPServer

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONTROL_NS = "ign-argocd"
GROWTH_LIMIT = 1 << 30
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: fast
"""


@dataclass
class Stack:
    client: ClusterClient
    server: RunningServer
    repo_url: str
    token: str

    def http(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.AsyncClient(base_url=self.server.url, headers=headers, timeout=30)

    async def namespace(self) -> str:
        name = f"ign-{uuid.uuid4().hex[:6]}"
        info = await self.client.resource_for("v1", "Namespace")
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        await self.client.create(info, body)
        return name

    async def app_status(self, name: str) -> dict[str, Any]:
        info = await self.client.resource_for("argoproj.io/v1alpha1", "Application")
        return (await self.client.get(info, name, CONTROL_NS)).get("status") or {}


def application(name: str, stack: Stack, namespace: str, *expressions: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": CONTROL_NS},
        "spec": {
            "project": "default",
            "source": {"repoURL": stack.repo_url, "targetRevision": "HEAD", "path": "app"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
            "ignoreDifferences": [{"kind": "ConfigMap", "jqPathExpressions": list(expressions)}],
        },
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    root = tmp_path_factory.mktemp("ignore-stack")
    git_server = GitHTTPServer(root).start()
    create_repository(root / "apps.git", root / "apps", {"app/settings.yaml": CONFIGMAP})
    client = ClusterClient.from_kubeconfig(str(local_cluster.kubeconfig))
    config = ControllerConfig(
        namespace=CONTROL_NS,
        reconcile_interval=1.0,
        leader_election=False,
        cache_dir=root / "cache",
    )
    controller = Controller(client, config)
    await controller.start()
    server = await run_server(controller, listen="127.0.0.1:0")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            answer = await http.post(
                "/api/v1/session", json={"username": "admin", "password": server.admin_password}
            )
            assert answer.status_code == 200, answer.text
        yield Stack(client, server, git_server.url("apps.git"), answer.json()["token"])
    finally:
        await server.stop()
        await controller.stop()
        await client.aclose()
        git_server.stop()


@pytest.fixture
def memory_watchdog() -> Iterator[None]:
    """Kill this process if it grows by more than GROWTH_LIMIT while the test runs."""
    code = textwrap.dedent(
        """
        import os, re, signal, sys, time
        pid, limit = int(sys.argv[1]), int(sys.argv[2])
        def rss():
            with open(f"/proc/{pid}/status") as status:
                return int(re.search(r"VmRSS:\\s+(\\d+)", status.read()).group(1)) * 1024
        base = rss()
        while True:
            if rss() > base + limit:
                print("watchdog: the test process grew past its bound", file=sys.stderr)
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.1)
        """
    )
    watchdog = subprocess.Popen([sys.executable, "-c", code, str(os.getpid()), str(GROWTH_LIMIT)])
    try:
        yield
    finally:
        watchdog.kill()
        watchdog.wait()


async def test_api_refuses_an_invalid_expression_on_create_and_update(stack: Stack) -> None:
    name = f"ign-api-{uuid.uuid4().hex[:5]}"
    namespace = await stack.namespace()
    async with stack.http() as http:
        bad = application(name, stack, namespace, ".data.mode", "..[[[[")
        refused = await http.post("/api/v1/applications", json=bad)
        assert refused.status_code == 400
        assert refused.json()["error"].startswith(
            'spec.ignoreDifferences[0].jqPathExpressions[1]: invalid jq expression "..[[[[": '
        )
        good = application(name, stack, namespace, ".data.mode")
        assert (await http.post("/api/v1/applications", json=good)).status_code == 201
        changed = application(name, stack, namespace, "def f: f; f | (")
        refused = await http.put(f"/api/v1/applications/{name}", json=changed)
        assert refused.status_code == 400
        assert refused.json()["error"].startswith(
            "spec.ignoreDifferences[0].jqPathExpressions[0]: invalid jq expression "
        )


async def test_controller_reports_an_invalid_expression_written_past_the_api(stack: Stack) -> None:
    name = f"ign-direct-{uuid.uuid4().hex[:5]}"
    namespace = await stack.namespace()
    info = await stack.client.resource_for("argoproj.io/v1alpha1", "Application")
    await stack.client.create(info, application(name, stack, namespace, "..[[[["))

    async def invalid_spec_condition() -> bool:
        conditions = (await stack.app_status(name)).get("conditions") or []
        return any(
            c.get("type") == "InvalidSpecError"
            and c.get("message", "").startswith(
                'spec.ignoreDifferences[0].jqPathExpressions[0]: invalid jq expression "..[[[["'
            )
            for c in conditions
        )

    await eventually(invalid_spec_condition, timeout=30, what="InvalidSpecError condition")


async def test_a_looping_expression_is_a_comparison_error_and_the_api_stays_up(
    stack: Stack, memory_watchdog: None
) -> None:
    name = f"ign-loop-{uuid.uuid4().hex[:5]}"
    namespace = await stack.namespace()
    async with stack.http() as http:
        created = await http.post(
            "/api/v1/applications", json=application(name, stack, namespace, "repeat(.)")
        )
        assert created.status_code == 201, created.text
        health_answers: list[int] = []

        async def comparison_error() -> bool:
            health_answers.append((await http.get("/healthz")).status_code)
            status = await stack.app_status(name)
            messages = [c.get("message", "") for c in status.get("conditions") or []]
            return (status.get("sync") or {}).get("status") == "Unknown" and any(
                'ignoreDifferences: jq expression "repeat(.)" ran longer than 1s' in m
                for m in messages
            )

        await eventually(comparison_error, timeout=60, what="ComparisonError of repeat(.)")
    assert health_answers and set(health_answers) == {200}
