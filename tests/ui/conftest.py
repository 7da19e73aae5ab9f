"""Fixtures for the browser tests: the whole stack (local cluster, git server, controller, API
server) in this event loop, and Chromium driven by Playwright's async API in the same loop, so
the controller keeps reconciling while the browser waits.

Screenshots go to ``$TETHER_UI_ARTIFACTS`` when set (CI keeps that folder), else to a pytest
temporary folder; the folder is printed at the start of the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from tether.cluster.client import ClusterClient
from tether.controller.controller import Controller, ControllerConfig
from tether.demo.repo import create_repository
from tether.localcluster.cluster import LocalCluster
from tether.server.app import RunningServer, run_server
from tether.source.gitserver import GitHTTPServer

CHROMIUM = "/usr/bin/chromium"
# The machine may have no network: these flags keep Chromium from trying to reach one.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Stack:
    """Everything a UI story needs, all running in the test's event loop."""

    client: ClusterClient
    controller: Controller
    server: RunningServer
    git: GitHTTPServer
    repo_url: str
    work: Path
    namespace: str
    first_commit: str
    artifacts: Path
    shots: list[Path] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def password(self) -> str:
        assert self.server.admin_password, "the server did not generate an admin password"
        return self.server.admin_password

    async def application(
        self,
        name: str,
        path: str,
        dest: str,
        automated: bool,
        annotations: dict[str, str] | None = None,
    ) -> None:
        """Create an Application for the demo repository, deploying into namespace ``dest``."""
        sync_policy: dict[str, Any] = {"syncOptions": ["CreateNamespace=true"]}
        if automated:
            sync_policy["automated"] = {"prune": True, "selfHeal": True}
        body = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "annotations": annotations or {},
            },
            "spec": {
                "project": "default",
                "source": {"repoURL": self.repo_url, "targetRevision": "HEAD", "path": path},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": dest},
                "syncPolicy": sync_policy,
            },
        }
        info = await self.client.resource_for("argoproj.io/v1alpha1", "Application")
        await self.client.apply(info, body, self.namespace, field_manager="ui-test", force=True)

    async def app(self, name: str) -> dict[str, Any]:
        info = await self.client.resource_for("argoproj.io/v1alpha1", "Application")
        return await self.client.get(info, name, self.namespace)

    async def live(self, api_version: str, kind: str, name: str, ns: str) -> dict[str, Any]:
        info = await self.client.resource_for(api_version, kind)
        return await self.client.get(info, name, ns)

    async def screenshot(self, page: Page, name: str) -> None:
        path = self.artifacts / f"{len(self.shots) + 1:02d}-{name}.png"
        # a full-page shot of a scrolled page draws the sticky top bar mid-page
        await page.evaluate("window.scrollTo(0, 0)")
        await page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("TETHER_UI_ARTIFACTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("ui-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nUI screenshots: {folder}")
    return folder


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory, artifacts: Path
) -> AsyncIterator[Stack]:
    root = tmp_path_factory.mktemp("ui-gitops")
    git = GitHTTPServer(root).start()
    first = create_repository(root / "k8s-manifests.git", root / "work")
    client = ClusterClient.from_kubeconfig(str(local_cluster.kubeconfig))
    namespace = f"ui-argocd-{uuid.uuid4().hex[:6]}"
    config = ControllerConfig(
        namespace=namespace,
        reconcile_interval=1.0,
        leader_election=False,
        cache_dir=root / "cache",
        wave_timeout=60,
    )
    controller = Controller(client, config)
    await controller.start()
    server = await run_server(controller, listen="127.0.0.1:0")
    try:
        yield Stack(
            client=client,
            controller=controller,
            server=server,
            git=git,
            repo_url=git.url("k8s-manifests.git"),
            work=root / "work",
            namespace=namespace,
            first_commit=first,
            artifacts=artifacts,
        )
    finally:
        await server.stop()
        await controller.stop()
        await client.aclose()
        git.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-packages` (Debian's chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture(loop_scope="session")
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser context (no cookies) per test, with page errors collected and checked."""
    context: BrowserContext = await browser.new_context(viewport={"width": 1440, "height": 900})
    opened = await context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        await context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"
