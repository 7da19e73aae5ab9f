"""One real stack for the server tests: local cluster, git server, controller, API server.

The stack is shared by the package (starting it costs a few seconds); each test works on its
own applications and namespaces. Accounts: ``admin`` (generated password), ``alice`` (mapped to
``role:readonly`` in ``argocd-rbac-cm``) and ``bob`` (declared, no role: the default policy is
empty, so he sees nothing).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tether.cluster.client import ClusterClient
from tether.cluster.errors import NotFound
from tether.controller.controller import Controller, ControllerConfig
from tether.demo.repo import create_repository
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually
from tether.server import ServerSettings, run_server
from tether.server.app import RunningServer, create_app
from tether.source.gitserver import GitHTTPServer
from tether.source.webhooks import WebhookSecrets
from tether.tools import find_tool

CONTROL_NS = "srv-argocd"
WEBHOOK_SECRET = "srv-webhook-secret"
USER_PASSWORD = "correct-horse-battery"


@dataclass
class Stack:
    client: ClusterClient
    controller: Controller
    server: RunningServer
    git: GitHTTPServer
    root: Path
    kubectl_path: str
    kube_env: dict[str, str]
    ui_dir: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def http(self, user: str | None = "admin", **kwargs: Any) -> httpx.AsyncClient:
        """A client signed in as ``user`` (None: no token)."""
        headers = {"Authorization": f"Bearer {self.tokens[user]}"} if user else {}
        headers.update(kwargs.pop("headers", {}))
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, **kwargs)

    async def kubectl(self, *args: str, input: str | None = None) -> str:
        def run() -> str:
            proc = subprocess.run(
                [self.kubectl_path, *args],
                input=input,
                capture_output=True,
                text=True,
                env=self.kube_env,
                timeout=60,
            )
            if proc.returncode != 0:
                raise AssertionError(f"kubectl {' '.join(args)}: {proc.stderr}")
            return proc.stdout

        return await asyncio.to_thread(run)

    def new_repo(self) -> tuple[str, Path]:
        name = f"repo-{uuid.uuid4().hex[:8]}"
        create_repository(self.root / f"{name}.git", self.root / name)
        return self.git.url(f"{name}.git"), self.root / name

    async def namespace(self, prefix: str) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        info = await self.client.resource_for("v1", "Namespace")
        await self.client.create(
            info, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        )
        return name

    async def manual_app(self, prefix: str) -> str:
        """A new Application without automated sync, from a new repository into a new
        namespace (created as admin); returns its name."""
        name = f"{prefix}-{uuid.uuid4().hex[:5]}"
        url, _work = self.new_repo()
        ns = await self.namespace(name)
        async with self.http() as http:
            answer = await http.post(
                "/api/v1/applications", json=application(name, url, ns, automated=False)
            )
            assert answer.status_code == 201, answer.text
        return name

    async def cluster_app(self, name: str) -> dict[str, Any] | None:
        info = await self.client.resource_for("argoproj.io/v1alpha1", "Application")
        try:
            return await self.client.get(info, name, CONTROL_NS)
        except NotFound:
            return None


@asynccontextmanager
async def in_process_api(
    face: Any, token: str, settings: ServerSettings | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The API app of ``face`` started in this process, and a client holding ``token``."""
    app = create_app(face, settings or ServerSettings())
    headers = {"Authorization": f"Bearer {token}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://server", headers=headers, timeout=30
        ) as http:
            yield http


def application(
    name: str, repo_url: str, namespace: str, *, automated: bool = True, self_heal: bool = True
) -> dict[str, Any]:
    """The demo's payment-service Application, aimed at a test repository and namespace."""
    spec: dict[str, Any] = {
        "project": "default",
        "source": {
            "repoURL": repo_url,
            "targetRevision": "HEAD",
            "path": "apps/payment-service/production",
        },
        "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
    }
    if automated:
        spec["syncPolicy"] = {"automated": {"prune": True, "selfHeal": self_heal}}
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": spec,
    }


async def _configmap(client: ClusterClient, name: str, data: dict[str, str]) -> None:
    info = await client.resource_for("v1", "ConfigMap")
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": CONTROL_NS},
        "data": data,
    }
    await client.apply(info, body, field_manager="tests", force=True)


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def stack(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    root = tmp_path_factory.mktemp("server-stack")
    git_server = GitHTTPServer(root).start()
    ui_dir = root / "ui"
    (ui_dir / "assets").mkdir(parents=True)
    (ui_dir / "index.html").write_text("<!doctype html><title>Tether</title><div id=app></div>")
    (ui_dir / "assets" / "app.js").write_text("console.log('tether');")
    (root / "secret.txt").write_text("outside the UI folder")
    client = ClusterClient.from_kubeconfig(str(local_cluster.kubeconfig))
    controller = Controller(
        client,
        ControllerConfig(
            namespace=CONTROL_NS,
            reconcile_interval=1.0,
            leader_election=False,
            cache_dir=root / "cache",
            wave_timeout=60,
        ),
    )
    await controller.start()
    await _configmap(
        client,
        "argocd-cm",
        {"accounts.alice": "login, apiKey", "accounts.bob": "login"},
    )
    await _configmap(client, "argocd-rbac-cm", {"policy.csv": "g, alice, role:readonly\n"})
    settings = ServerSettings(
        webhook_secrets=WebhookSecrets(github=WEBHOOK_SECRET, generic=WEBHOOK_SECRET),
        ui_dir=ui_dir,
        login_lockout_seconds=1.5,
    )
    server = await run_server(controller, listen="127.0.0.1:0", settings=settings)
    assert server.admin_password, "a first start generates the admin password"
    kube_env = {
        **os.environ,
        "KUBECONFIG": str(local_cluster.kubeconfig),
        "HOME": str(root),
        "KUBECACHEDIR": str(root / "kube-cache"),
    }
    stack = Stack(
        client, controller, server, git_server, root, find_tool("kubectl"), kube_env, ui_dir
    )
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            # the accounts ConfigMap reaches the controller's watch asynchronously
            async def signed_in_as_admin() -> bool:
                answer = await http.post(
                    "/api/v1/session",
                    json={"username": "admin", "password": server.admin_password},
                )
                if answer.status_code == 200:
                    stack.tokens["admin"] = answer.json()["token"]
                return answer.status_code == 200

            await eventually(signed_in_as_admin, what="admin sign-in")
            headers = {"Authorization": f"Bearer {stack.tokens['admin']}"}
            for user in ("alice", "bob"):

                async def password_set(user: str = user) -> bool:
                    answer = await http.put(
                        "/api/v1/account/password",
                        headers=headers,
                        json={
                            "name": user,
                            "currentPassword": server.admin_password,
                            "newPassword": USER_PASSWORD,
                        },
                    )
                    return answer.status_code == 200

                await eventually(password_set, what=f"password of {user}")
                answer = await http.post(
                    "/api/v1/session", json={"username": user, "password": USER_PASSWORD}
                )
                assert answer.status_code == 200, answer.text
                stack.tokens[user] = answer.json()["token"]
        yield stack
    finally:
        await server.stop()
        await controller.stop()
        await client.aclose()
        git_server.stop()
