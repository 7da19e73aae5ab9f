"""The controller on the real stack for story tests: local cluster, git server, kubectl.

The controller runs in the test's event loop; kubectl runs in a thread so it never blocks it.
``tests/controller/conftest.py`` gives each test module one :class:`Env` as the ``env`` fixture.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.controller.test_crds import PAYMENT_SERVICE
from tether.cluster.client import ClusterClient
from tether.cluster.errors import NotFound
from tether.controller.controller import Controller, ControllerConfig
from tether.demo.repo import create_repository
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import Kubectl, kubectl_runner
from tether.source.gitserver import GitHTTPServer

CONTROL_NS = "argocd"
APPLICATION = PAYMENT_SERVICE  # the manifest, shared with the CRD tests


@dataclass
class Env:
    cluster: LocalCluster
    client: ClusterClient
    controller: Controller
    git: GitHTTPServer
    root: Path
    kubectl: Kubectl

    async def kube(self, *args: str, input: str | None = None, check: bool = True) -> Any:
        return await asyncio.to_thread(self.kubectl, *args, input=input, check=check)

    async def apply(self, *docs: dict[str, Any]) -> None:
        """Server-side apply of ``docs`` with kubectl."""
        await self.kube("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))

    def new_repo(self, files: dict[str, str] | None = None) -> tuple[str, Path]:
        name = f"repo-{uuid.uuid4().hex[:8]}"
        create_repository(self.root / f"{name}.git", self.root / name, files)
        return self.git.url(f"{name}.git"), self.root / name

    async def application(self, name: str, repo_url: str, namespace: str, **changes: Any) -> None:
        doc = yaml.safe_load(APPLICATION)
        doc["metadata"]["name"] = name
        doc["spec"]["source"]["repoURL"] = repo_url
        doc["spec"]["destination"]["namespace"] = namespace
        for path, value in changes.items():
            target = doc
            parts = path.split(".")
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            if value is None:
                target.pop(parts[-1], None)
            else:
                target[parts[-1]] = value
        await self.kube("apply", "--server-side", "-f", "-", input=yaml.safe_dump(doc))

    async def app(self, name: str) -> dict[str, Any]:
        info = await self.client.resource_for("argoproj.io/v1alpha1", "Application")
        return await self.client.get(info, name, CONTROL_NS)

    async def live(
        self, kind: str, name: str, namespace: str | None, api_version: str = "v1"
    ) -> dict[str, Any] | None:
        info = await self.client.resource_for(api_version, kind)
        try:
            return await self.client.get(info, name, namespace)
        except NotFound:
            return None

    async def condition(self, app: str, kind: str) -> str | None:
        """The message of the app's condition of type ``kind``, or None."""
        try:
            status = (await self.app(app)).get("status") or {}
        except NotFound:
            return None
        for cond in status.get("conditions") or []:
            if cond.get("type") == kind:
                return str(cond.get("message"))
        return None


def status_of(app: dict[str, Any]) -> tuple[str, str]:
    status = app.get("status") or {}
    return (status.get("sync") or {}).get("status", ""), (status.get("health") or {}).get(
        "status", ""
    )


async def synced_healthy(env: Env, name: str, revision: str | None = None) -> bool:
    try:
        app = await env.app(name)
    except NotFound:
        return False
    ok = status_of(app) == ("Synced", "Healthy")
    if revision is not None:
        ok = ok and (app.get("status") or {}).get("sync", {}).get("revision") == revision
    return ok


@asynccontextmanager
async def running_stack(cluster: LocalCluster, root: Path, **config: Any) -> AsyncIterator[Env]:
    """A git server under ``root`` and a started controller (``config`` overrides settings)."""
    server = GitHTTPServer(root).start()
    client = ClusterClient.from_kubeconfig(str(cluster.kubeconfig))
    settings = {
        "namespace": CONTROL_NS,
        "reconcile_interval": 1.0,
        "leader_election": False,
        "cache_dir": root / "cache",
        "wave_timeout": 60,
        **config,
    }
    controller = Controller(client, ControllerConfig(**settings))
    await controller.start()
    try:
        yield Env(
            cluster, client, controller, server, root, kubectl_runner(cluster.kubeconfig, root)
        )
    finally:
        await controller.stop()
        await client.aclose()
        server.stop()
