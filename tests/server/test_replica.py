"""The API/UI server as a replica of its own (``tether server``), beside the stack's controller.

The replica (`ClusterObserver` behind `run_server`, on a real socket) reads the control
namespace from the cluster and computes diffs on demand; its refresh, sync and webhook reach the
stack's controller through the cluster and the apps converge. Every request its client sends is
logged: the only writes are the actions asked for (dry runs of the comparison write nothing).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import orjson
import pytest
import pytest_asyncio

from tests.cluster.conftest import loopback_transport
from tests.server.conftest import CONTROL_NS, WEBHOOK_SECRET, Stack, application, eventually
from tether.cluster.client import ClusterClient
from tether.cluster.config import load_kubeconfig
from tether.controller.config import ControllerConfig
from tether.controller.observer import ClusterObserver, ObserverSettings
from tether.demo.repo import commit_and_push
from tether.localcluster.cluster import LocalCluster
from tether.names import REFRESH_ANNOTATION
from tether.server import ServerSettings, run_server
from tether.server.app import RunningServer
from tether.source.webhooks import WebhookSecrets

pytestmark = pytest.mark.asyncio(loop_scope="session")

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
KUSTOMIZATION = "apps/payment-service/production/kustomization.yaml"


class WriteLog(httpx2.AsyncBaseTransport):
    """Passes every request on; remembers (method, path) of each one that writes (not a dry
    run)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.writes: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method in WRITE_METHODS and request.url.params.get("dryRun") != "All":
            self.writes.append((request.method, request.url.path))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Replica:
    observer: ClusterObserver
    server: RunningServer
    log: WriteLog
    stack: Stack

    def http(self, user: str | None = "admin") -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.stack.tokens[user]}"} if user else {}
        return httpx.AsyncClient(base_url=self.server.url, headers=headers, timeout=30)

    def app_writes(self, name: str) -> list[str]:
        """The methods of the writes made to Application ``name`` (status subresource apart)."""
        return [m for m, p in self.log.writes if p.endswith(f"/applications/{name}")]


@pytest_asyncio.fixture(scope="package", loop_scope="session")
async def replica(stack: Stack, local_cluster: LocalCluster) -> AsyncIterator[Replica]:
    config = load_kubeconfig(str(local_cluster.kubeconfig))
    log = WriteLog(loopback_transport(config))
    client = ClusterClient(config, transport=log)
    observer = ClusterObserver(
        client,
        ControllerConfig(
            namespace=CONTROL_NS, cache_dir=stack.root / "replica-cache", bootstrap=False
        ),
        ObserverSettings(comparison_ttl=600, max_comparisons=2, webhook_refresh_rate=50),
    )
    await observer.start()
    settings = ServerSettings(
        webhook_secrets=WebhookSecrets(github=WEBHOOK_SECRET, generic=WEBHOOK_SECRET)
    )
    server = await run_server(observer, listen="127.0.0.1:0", settings=settings)
    try:
        yield Replica(observer, server, log, stack)
    finally:
        await server.stop()
        await observer.stop()
        await client.aclose()


async def _json(http: httpx.AsyncClient, path: str) -> Any:
    answer = await http.get(path)
    assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text}"
    return answer.json()


async def _compared(http: httpx.AsyncClient, name: str, sync: str) -> dict[str, Any] | None:
    app = await _json(http, f"/api/v1/applications/{name}")
    status = app.get("status") or {}
    return app if (status.get("sync") or {}).get("status") == sync else None


def _deployment(items: list[dict[str, Any]]) -> dict[str, Any]:
    return next(i for i in items if i["kind"] == "Deployment")


async def test_the_replica_lists_apps_and_computes_the_diff_when_asked(replica: Replica) -> None:
    name = await replica.stack.manual_app("rep")
    path = f"/api/v1/applications/{name}"
    async with replica.http() as http:
        listed = await _json(http, "/api/v1/applications")
        assert name in {a["metadata"]["name"] for a in listed["items"]}
        await eventually(lambda: _compared(http, name, "OutOfSync"), what="compared")
        assert replica.observer.comparison(name) is None, "nothing computed before asked"
        before = replica.observer.comparisons.computed
        items = (await _json(http, f"{path}/managed-resources"))["items"]
        assert _deployment(items)["status"] == "OutOfSync"
        manifests = (await _json(http, f"{path}/manifests"))["manifests"]
        assert any(m["kind"] == "Deployment" for m in manifests)
        # the manifests reused the comparison the diff made: nothing changed in between
        assert replica.observer.comparisons.computed == before + 1
        metrics = (await http.get("/metrics")).text
        assert f'tether_controller_events_total{{kind="observations"}} {before + 1}.0' in metrics
        assert "argocd_app_info{" in metrics and f'name="{name}"' in metrics
    assert replica.app_writes(name) == []


async def test_a_sync_and_a_refresh_through_the_replica_converge(replica: Replica) -> None:
    name = await replica.stack.manual_app("rsync")
    path = f"/api/v1/applications/{name}"
    async with replica.http() as http:
        await eventually(lambda: _compared(http, name, "OutOfSync"), what="compared")
        assert (await http.post(f"{path}/sync", json={})).status_code == 200

        async def synced() -> dict[str, Any] | None:
            app = await _compared(http, name, "Synced")
            status = (app or {}).get("status") or {}
            healthy = (status.get("health") or {}).get("status") == "Healthy"
            done = (status.get("operationState") or {}).get("phase") == "Succeeded"
            return app if healthy and done else None

        app = await eventually(synced, timeout=60, what="synced by the controller")
        items = (await _json(http, f"{path}/managed-resources"))["items"]
        assert _deployment(items)["status"] == "Synced"
        nodes = (await _json(http, f"{path}/resource-tree"))["nodes"]
        assert {"Deployment", "ReplicaSet"} <= {n["kind"] for n in nodes}
        refreshed = await http.post(f"{path}/refresh", json={"hard": True})
        assert refreshed.status_code == 200, refreshed.text
        answer = refreshed.json()
        assert REFRESH_ANNOTATION not in (answer["metadata"].get("annotations") or {})
        assert int(answer["metadata"]["resourceVersion"]) > int(app["metadata"]["resourceVersion"])
    # the operation request and the refresh annotation: nothing else was written
    assert replica.app_writes(name) == ["PATCH", "PATCH"]


async def test_the_replica_diff_follows_drift_in_the_live_objects(replica: Replica) -> None:
    name = await replica.stack.manual_app("rdrift")
    path = f"/api/v1/applications/{name}"
    async with replica.http() as http:
        await eventually(lambda: _compared(http, name, "OutOfSync"), what="compared")
        assert (await http.post(f"{path}/sync", json={})).status_code == 200
        app = await eventually(lambda: _compared(http, name, "Synced"), timeout=60, what="sync")
        namespace = app["spec"]["destination"]["namespace"]
        items = (await _json(http, f"{path}/managed-resources"))["items"]
        assert _deployment(items)["status"] == "Synced"
        await replica.stack.kubectl(
            "-n", namespace, "scale", "deployment/payment-service", "--replicas=7"
        )

        async def drift_shown() -> dict[str, Any] | None:
            found = _deployment((await _json(http, f"{path}/managed-resources"))["items"])
            return found if found["status"] == "OutOfSync" else None

        drifted = await eventually(drift_shown, what="the scale in the replica's diff")
        assert any(c["path"] == "/spec/replicas" for c in drifted["changes"])
    # the comparisons (dry runs included) wrote nothing: every write was to an Application
    assert replica.log.writes
    assert all("/applications/" in path for _, path in replica.log.writes), replica.log.writes


def _github(payload: bytes) -> dict[str, str]:
    digest = hmac.new(WEBHOOK_SECRET.encode(), payload, hashlib.sha256).hexdigest()
    return {
        "X-GitHub-Event": "push",
        "Content-Type": "application/json",
        "X-Hub-Signature-256": f"sha256={digest}",
    }


async def _create(replica: Replica, name: str, url: str, revision: str) -> None:
    ns = await replica.stack.namespace(name)
    body = application(name, url, ns)
    body["spec"]["source"]["targetRevision"] = revision
    async with replica.http() as http:
        created = await http.post("/api/v1/applications", json=body)
        assert created.status_code == 201, created.text


async def test_a_webhook_to_the_replica_refreshes_the_apps_of_that_branch(
    replica: Replica,
) -> None:
    stack = replica.stack
    url, work = stack.new_repo()
    tracking, elsewhere = (f"rhook-{uuid.uuid4().hex[:5]}" for _ in range(2))
    await _create(replica, tracking, url, "main")
    await _create(replica, elsewhere, url, "release")
    await eventually(lambda: _image_is(replica, tracking, "1.4.0"), timeout=60, what="deployed")
    # the controller stops polling: only the webhook can tell it about the new commit
    stack.controller.config.reconcile_interval = 3600
    try:
        text = (work / KUSTOMIZATION).read_text().replace("1.4.0", "1.9.0")
        commit_and_push(work, "bump", {KUSTOMIZATION: text})
        payload = orjson.dumps({"ref": "refs/heads/main", "repository": {"clone_url": url}})
        async with replica.http(None) as anonymous:
            answer = await anonymous.post("/api/webhook", content=payload, headers=_github(payload))
        assert answer.status_code == 200, answer.text
        assert answer.json()["refreshed"] == [tracking]
        await eventually(
            lambda: _image_is(replica, tracking, "1.9.0"), timeout=60, what="new commit deployed"
        )
    finally:
        stack.controller.config.reconcile_interval = 1.0
    await replica.observer.pacer.wait()
    assert replica.app_writes(tracking) == ["PATCH"]
    assert replica.app_writes(elsewhere) == []


async def _image_is(replica: Replica, name: str, tag: str) -> bool:
    """Whether the app is Synced at a commit whose Deployment runs ``tag``."""
    app = await replica.stack.cluster_app(name)
    status = (app or {}).get("status") or {}
    images = (status.get("summary") or {}).get("images") or []
    synced = (status.get("sync") or {}).get("status") == "Synced"
    return synced and any(i.endswith(f":{tag}") for i in images)


#: how long a terminated sync may take to stop (it stops between waves or while waiting)
STOP_SECONDS = 10.0


async def test_terminate_through_the_replica_stops_a_sync_waiting_for_health(
    replica: Replica,
) -> None:
    """A sync whose first wave never becomes healthy (an image that cannot be pulled) waits in
    that wave; terminate through the replica writes Terminating and the controller stops it."""
    stack = replica.stack
    name = f"rterm-{uuid.uuid4().hex[:5]}"
    url, work = stack.new_repo()
    service = "apps/payment-service/base/service.yaml"
    later = (
        (work / service)
        .read_text()
        .replace(
            "  name: payment-service\n",
            "  name: payment-service\n  annotations:\n    argocd.argoproj.io/sync-wave: '1'\n",
            1,
        )
    )
    stuck = (work / KUSTOMIZATION).read_text().replace("1.4.0", "1.4.0-pullbackoff")
    commit_and_push(work, "never healthy", {service: later, KUSTOMIZATION: stuck})
    ns = await stack.namespace(name)
    path = f"/api/v1/applications/{name}"
    async with replica.http() as http:
        body = application(name, url, ns, automated=False)
        assert (await http.post("/api/v1/applications", json=body)).status_code == 201
        await eventually(lambda: _compared(http, name, "OutOfSync"), what="compared")
        assert (await http.post(f"{path}/sync", json={})).status_code == 200

        async def phase() -> str:
            app = await _json(http, path)
            return str(((app.get("status") or {}).get("operationState") or {}).get("phase"))

        await eventually(lambda: _is(phase(), "Running"), what="the sync running")
        answer = await http.delete(f"{path}/operation")
        assert answer.status_code == 200 and answer.json() == {"terminated": True}

        async def finished() -> dict[str, Any] | None:
            app = await _json(http, path)
            state = (app.get("status") or {}).get("operationState") or {}
            return state if state.get("phase") not in ("Running", "Terminating") else None

        ended = await eventually(finished, timeout=STOP_SECONDS, what="the sync stopped")
    assert "cancel" in ended["message"], ended


async def _is(value: Any, expected: str) -> bool:
    return await value == expected
