"""What an install needs from the running controller: the initial admin password in
``argocd-initial-admin-secret`` (waited for by ``tether install``), and metrics that Prometheus
can scrape without a token on their own port while the API's ``/metrics`` stays signed-in."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.install.conftest import run_install
from tether.cluster.client import ClusterClient
from tether.cluster.errors import NotFound
from tether.controller.controller import Controller, ControllerConfig
from tether.install.names import INITIAL_ADMIN_SECRET
from tether.server import run_server
from tether.server.app import RunningServer
from tether.server.auth import write_initial_admin_secret


@asynccontextmanager
async def running_tether(
    client: ClusterClient, namespace: str, cache: Path
) -> AsyncIterator[RunningServer]:
    """The controller and its server in this process, as the install's pod runs them."""
    config = ControllerConfig(namespace=namespace, leader_election=False, cache_dir=cache)
    controller = Controller(client, config)
    await controller.start()
    server = await run_server(controller, listen="127.0.0.1:0", metrics_listen="127.0.0.1:0")
    try:
        yield server
    finally:
        await server.stop()
        await controller.stop()


async def _secret(client: ClusterClient, name: str, namespace: str) -> dict | None:  # type: ignore[type-arg]
    info = await client.resource_for("v1", "Secret")
    try:
        return await client.get(info, name, namespace)
    except NotFound:
        return None


async def test_install_waits_for_the_password_the_server_writes_and_it_signs_in(
    client: ClusterClient, kubeconfig: Path, install_ns: str, tmp_path: Path
) -> None:
    first = await asyncio.to_thread(run_install, kubeconfig, "-n", install_ns, "--no-wait")
    assert first.exit_code == 0, first.output
    async with running_tether(client, install_ns, tmp_path / "cache") as server:
        assert server.admin_password
        waited = await asyncio.to_thread(
            run_install, kubeconfig, "-n", install_ns, "--wait-timeout", "60"
        )
        assert waited.exit_code == 0, waited.output
        assert (
            f"kubectl -n {install_ns} get secret {INITIAL_ADMIN_SECRET} "
            "-o jsonpath='{.data.password}' | base64 -d" in waited.output
        )
        # printed once, as `argocd admin initial-password` does: the one installing is the admin
        assert f"  password:  {server.admin_password}\n" in waited.output
        secret = await _secret(client, INITIAL_ADMIN_SECRET, install_ns)
        assert secret is not None
        password = base64.b64decode(secret["data"]["password"]).decode()
        assert password == server.admin_password
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            answer = await http.post(
                "/api/v1/session", json={"username": "admin", "password": password}
            )
            assert answer.status_code == 200, answer.text


async def test_an_existing_initial_secret_is_kept(client: ClusterClient, namespace: str) -> None:
    assert await write_initial_admin_secret(client, namespace, "first")
    assert not await write_initial_admin_secret(client, namespace, "second")
    secret = await _secret(client, INITIAL_ADMIN_SECRET, namespace)
    assert secret is not None
    assert base64.b64decode(secret["data"]["password"]).decode() == "first"


async def test_a_password_set_before_needs_no_initial_secret(
    client: ClusterClient, kubeconfig: Path, install_ns: str, tmp_path: Path
) -> None:
    async with running_tether(client, install_ns, tmp_path / "cache"):
        pass
    info = await client.resource_for("v1", "Secret")
    await client.delete(info, INITIAL_ADMIN_SECRET, install_ns)  # as Argo CD advises
    result = await asyncio.to_thread(
        run_install, kubeconfig, "-n", install_ns, "--wait-timeout", "30"
    )
    assert result.exit_code == 0, result.output
    assert f"the one set before ({INITIAL_ADMIN_SECRET} was deleted)" in result.output


def test_no_controller_is_a_clear_timeout(kubeconfig: Path, install_ns: str) -> None:
    result = run_install(kubeconfig, "-n", install_ns, "--wait-timeout", "0.5")
    assert result.exit_code == 1
    assert f"did not write Secret {INITIAL_ADMIN_SECRET} in namespace {install_ns}" in (
        result.output
    )
    assert "everything else is installed" in result.output
    assert f"kubectl -n {install_ns} get pods" in result.output
    assert "Traceback" not in result.output


async def test_metrics_port_needs_no_token_and_the_api_route_still_does(
    client: ClusterClient, namespace: str, tmp_path: Path
) -> None:
    async with running_tether(client, namespace, tmp_path / "cache") as server:
        assert server.metrics_url
        async with httpx.AsyncClient(timeout=30) as http:
            open_scrape = await http.get(f"{server.metrics_url}/metrics")
            assert open_scrape.status_code == 200
            assert "argocd_app_reconcile" in open_scrape.text
            assert open_scrape.headers["content-type"].startswith("text/plain; version=0.0.4")
            other = await http.get(f"{server.metrics_url}/api/v1/applications")
            assert other.status_code == 404
            guarded = await http.get(f"{server.url}/metrics")
            assert guarded.status_code == 401
