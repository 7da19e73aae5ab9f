"""Fixtures for cluster-access tests: a ClusterClient on the session's local cluster, helpers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import uvicorn
import yaml
from lightkube.config.client_adapter import verify_cluster
from lightkube.config.kubeconfig import SingleConfig

from tether.cluster import ClientSettings, ClusterClient
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually


def kubeconfig_for(
    server: str, user: dict[str, Any], ca_pem: bytes | None = None
) -> dict[str, Any]:
    """A one-context kubeconfig document for ``server`` with ``user`` credentials."""
    cluster: dict[str, Any] = {"server": server}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }


def write_kubeconfig(path: Path, document: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(document))
    return str(path)


def unreachable_kubeconfig(path: Path) -> str:
    """A kubeconfig naming a loopback port where nothing listens."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    return write_kubeconfig(path, kubeconfig_for(f"http://127.0.0.1:{port}", {"token": "x"}))


@contextlib.asynccontextmanager
async def own_cluster_client(crd_establish_delay: float) -> AsyncIterator[ClusterClient]:
    """A client on a cluster of its own (no workloads) whose CRDs take this long to be
    Established, for waits the shared cluster cannot show."""
    with LocalCluster(crd_establish_delay=crd_establish_delay, workloads=None) as cluster:
        assert cluster.kubeconfig is not None
        settings = ClientSettings(qps=0)
        async with ClusterClient.from_kubeconfig(str(cluster.kubeconfig), settings=settings) as c:
            yield c


def loopback_transport(config: SingleConfig) -> httpx2.AsyncHTTPTransport:
    """A plain httpx transport trusting the cluster's CA, for tests that wrap the transport."""
    assert config.user is not None
    return httpx2.AsyncHTTPTransport(
        verify=verify_cluster(config.cluster, config.user, config.abs_file)
    )


def config_map(
    name: str, namespace: str, data: dict[str, str] | None = None, **meta: Any
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, **meta},
        "data": data or {"k": "v"},
    }


def deployment(name: str, namespace: str, replicas: int = 1, **meta: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, **meta},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }


class ThrottlingProxy:
    """A loopback HTTP server that answers 429 (with Retry-After) a set number of times, then
    forwards each request to the real cluster, so the client's retry path runs for real."""

    def __init__(self, upstream: str, ca_pem: bytes, throttle: int, retry_after: int = 1) -> None:
        self.upstream = httpx2.AsyncClient(
            base_url=upstream, verify=_ssl_context(ca_pem), timeout=10
        )
        self.remaining = throttle
        self.retry_after = retry_after
        self.seen: list[tuple[str, str, int]] = []
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app, log_level="warning", lifespan="off", access_log=False, interface="asgi3"
            )
        )
        self._task: asyncio.Task[None] | None = None

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"] + (
            "?" + scope["query_string"].decode() if scope["query_string"] else ""
        )
        if self.remaining > 0:
            self.remaining -= 1
            self.seen.append((scope["method"], path, 429))
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": "too many requests, please try again later",
                "reason": "TooManyRequests",
                "code": 429,
            }
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"retry-after", str(self.retry_after).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": orjson.dumps(status)})
            return
        headers = {
            k.decode(): v.decode()
            for k, v in scope["headers"]
            if k.lower() not in (b"host", b"content-length", b"connection")
        }
        upstream = await self.upstream.request(scope["method"], path, content=body, headers=headers)
        self.seen.append((scope["method"], path, upstream.status_code))
        await send(
            {
                "type": "http.response.start",
                "status": upstream.status_code,
                "headers": [(b"content-type", upstream.headers.get("content-type", "").encode())],
            }
        )
        await send({"type": "http.response.body", "body": upstream.content})

    async def __aenter__(self) -> ThrottlingProxy:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        await eventually(lambda: self._server.started, what="the throttling proxy started")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        await self.upstream.aclose()


def _ssl_context(ca_pem: bytes) -> Any:
    import ssl

    return ssl.create_default_context(cadata=ca_pem.decode())
