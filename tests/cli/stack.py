"""The real stack the end-to-end CLI tests run against: API server, controller, local cluster,
git server with the demo repository.

The controller and the server run in the test's event loop; each CLI call runs in a thread
(``asyncio.to_thread``) so the server can answer it. Each test module starts its own stack in
its own control namespace (:func:`running_env`).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from tether.cli.api import ApiClient
from tether.cluster.client import ClusterClient
from tether.controller.controller import Controller, ControllerConfig
from tether.demo.repo import create_repository
from tether.localcluster.cluster import LocalCluster
from tether.server.app import RunningServer, run_server
from tether.server.settings import ServerSettings
from tether.source.gitserver import GitHTTPServer
from tether.tools import find_tool

from .conftest import CLI

IN_CLUSTER = "https://kubernetes.default.svc"
APP_PATH = "apps/payment-service/production"


@dataclass
class Env:
    controller: Controller
    url: str
    admin_password: str
    admin_token: str
    repo_url: str
    kubectl: Callable[..., subprocess.CompletedProcess[str]]
    #: the working copy of the repository (``commit_and_push`` from it)
    work: Path

    async def cli(
        self, *args: str, token: str | None = "admin", input: str | None = None
    ) -> Result:
        """Run ``tether ARGS`` against the test server (as admin unless ``token`` says else)."""
        chosen = self.admin_token if token == "admin" else token
        env = {"TETHER_SERVER": self.url, "TETHER_TOKEN": chosen}
        runner = CliRunner(env=env)
        return await asyncio.to_thread(runner.invoke, CLI, list(args), input)

    async def kube(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(self.kubectl, *args, check=check, input=input)

    async def namespace(self, name: str) -> None:
        await self.kube("create", "namespace", name, check=False)


def ok(result: Result) -> str:
    """The output of a command that must have succeeded."""
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return result.output


def clean_error(result: Result, fragment: str, code: int = 2) -> str:
    """The one ``error:`` line of a failed command (no traceback), which contains ``fragment``."""
    assert result.exit_code == code, f"exit {result.exit_code}: {result.output}"
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert fragment in errors[0], errors[0]
    return errors[0]


def _kubectl_for(
    cluster: LocalCluster, home: Path
) -> Callable[..., subprocess.CompletedProcess[str]]:
    binary = find_tool("kubectl")
    kube_env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig), "HOME": str(home)}

    def kubectl(
        *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [binary, *args], input=input, capture_output=True, text=True, env=kube_env, timeout=60
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
        return proc

    return kubectl


@asynccontextmanager
async def running_env(
    local_cluster: LocalCluster,
    tmp_path_factory: pytest.TempPathFactory,
    control_namespace: str,
    settings: ServerSettings,
    reconcile_interval: float = 1.0,
) -> AsyncIterator[Env]:
    """A controller of ``control_namespace`` and an API server, signed in as admin."""
    root = tmp_path_factory.mktemp("cli-gitops")
    git = GitHTTPServer(root).start()
    create_repository(root / "shop.git", root / "shop")
    client = ClusterClient.from_kubeconfig(str(local_cluster.kubeconfig))
    controller = Controller(
        client,
        ControllerConfig(
            namespace=control_namespace,
            reconcile_interval=reconcile_interval,
            leader_election=False,
            cache_dir=root / "cache",
        ),
    )
    await controller.start()
    server: RunningServer | None = None
    try:
        server = await run_server(controller, listen="127.0.0.1:0", settings=settings)
        assert server.admin_password, "a fresh control namespace must get a new admin password"
        password = server.admin_password

        def sign_in() -> str:
            with ApiClient(server.url) as api:
                return api.sign_in("admin", password)

        token = await asyncio.to_thread(sign_in)
        kubectl = _kubectl_for(local_cluster, root)
        yield Env(
            controller, server.url, password, token, git.url("shop.git"), kubectl, root / "shop"
        )
    finally:
        if server is not None:
            await server.stop()
        await controller.stop()
        await client.aclose()
        git.stop()


async def create_app(env: Env, name: str, namespace: str, *extra: str) -> None:
    await env.namespace(namespace)
    ok(
        await env.cli(
            "app", "create", name, "--repo", env.repo_url, "--path", APP_PATH,
            "--dest-server", IN_CLUSTER, "--dest-namespace", namespace, *extra,
        )
    )  # fmt: skip


async def app_json(env: Env, name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(ok(await env.cli("app", "get", name, "-o", "json")))
    return result
