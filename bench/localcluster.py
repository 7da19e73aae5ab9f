"""Benchmark of the local cluster: apply throughput, big lists, watch fan-out, memory.

Runs the cluster in its own process (as ``tether cluster up``) so that the load generator does not
share its interpreter, then drives it over HTTPS with keep-alive connections the way a controller
does. Prints one line per figure.

    python bench/localcluster.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tether.localcluster.cluster import ClusterProcess
from tether.tools import find_tool


def _client_settings(kubeconfig: Path) -> tuple[str, str, ssl.SSLContext]:
    import base64

    doc = yaml.safe_load(kubeconfig.read_text())
    cluster = doc["clusters"][0]["cluster"]
    ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
    token = doc["users"][0]["user"]["token"]
    return cluster["server"], token, ssl.create_default_context(cadata=ca)


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def configmap(ns: str, name: str, i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "bench", "n": str(i % 10)}},
        "data": {"key": f"value-{i}", "other": "x" * 64},
    }


def deployment(ns: str, name: str, i: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": f"ghcr.io/example/app:{i}",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "env": [{"name": "MODE", "value": "bench"}],
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        }
                    ]
                },
            },
        },
    }


async def apply_rate(
    server: str, token: str, ctx: ssl.SSLContext, kind: str, clients: int, total: int
) -> float:
    """Server-side applies per second with ``clients`` concurrent keep-alive connections."""
    ns = "default"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/apply-patch+yaml"}
    counter = iter(range(total))
    run_id = f"{kind[:2].lower()}{clients}-{int(time.time() * 1000) % 100000}"

    async def worker() -> None:
        async with httpx.AsyncClient(
            base_url=server, verify=ctx, headers=headers, timeout=60
        ) as http:
            for i in counter:
                name = f"{run_id}-{i}"
                if kind == "ConfigMap":
                    path = f"/api/v1/namespaces/{ns}/configmaps/{name}"
                    body = configmap(ns, name, i)
                else:
                    path = f"/apis/apps/v1/namespaces/{ns}/deployments/{name}"
                    body = deployment(ns, name, i)
                r = await http.patch(
                    path,
                    params={"fieldManager": "bench", "force": "true"},
                    content=orjson.dumps(body),
                )
                if r.status_code not in (200, 201):
                    raise RuntimeError(f"apply failed: {r.status_code} {r.text}")

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return total / (time.perf_counter() - started)


async def create_many(server: str, token: str, ctx: ssl.SSLContext, ns: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    counter = iter(range(count))

    async def worker() -> None:
        async with httpx.AsyncClient(
            base_url=server, verify=ctx, headers=headers, timeout=60
        ) as http:
            for i in counter:
                r = await http.post(
                    f"/api/v1/namespaces/{ns}/configmaps",
                    content=orjson.dumps(configmap(ns, f"obj-{i:05d}", i)),
                )
                if r.status_code != 201:
                    raise RuntimeError(f"create failed: {r.status_code} {r.text}")

    await asyncio.gather(*(worker() for _ in range(8)))


async def list_time(
    server: str, token: str, ctx: ssl.SSLContext, ns: str
) -> tuple[float, float, int]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server, verify=ctx, headers=headers, timeout=120) as http:
        started = time.perf_counter()
        r = await http.get(f"/api/v1/namespaces/{ns}/configmaps")
        full = time.perf_counter() - started
        count = len(r.json()["items"])
        started = time.perf_counter()
        token_value = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 500}
            if token_value:
                params["continue"] = token_value
            page = (await http.get(f"/api/v1/namespaces/{ns}/configmaps", params=params)).json()
            pages += 1
            token_value = page["metadata"].get("continue")
            if not token_value:
                break
        paged = time.perf_counter() - started
    return full, paged, count


async def watch_fanout(
    server: str, token: str, ctx: ssl.SSLContext, watchers: int, events: int
) -> tuple[float, int]:
    """Time from the first write until every watcher has received every event."""
    headers = {"Authorization": f"Bearer {token}"}
    ns = "fanout"
    async with httpx.AsyncClient(base_url=server, verify=ctx, headers=headers, timeout=60) as http:
        await http.post(
            "/api/v1/namespaces",
            content=orjson.dumps(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
            ),
        )
        rv = (await http.get(f"/api/v1/namespaces/{ns}/configmaps")).json()["metadata"][
            "resourceVersion"
        ]
    ready = asyncio.Event()
    opened = 0
    received = [0] * watchers

    async def watch(idx: int) -> None:
        nonlocal opened
        limits = httpx.Limits(max_connections=1)
        async with (
            httpx.AsyncClient(
                base_url=server, verify=ctx, headers=headers, timeout=120, limits=limits
            ) as http,
            http.stream(
                "GET",
                f"/api/v1/namespaces/{ns}/configmaps",
                params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": 120},
            ) as r,
        ):
            opened += 1
            if opened == watchers:
                ready.set()
            async for line in r.aiter_lines():
                if line:
                    received[idx] += 1
                    if received[idx] >= events:
                        return

    tasks = [asyncio.create_task(watch(i)) for i in range(watchers)]
    await asyncio.wait_for(ready.wait(), 60)
    await asyncio.sleep(0.2)  # let every stream reach the server's queue before the first write
    started = time.perf_counter()
    await create_many(server, token, ctx, ns, events)
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    return time.perf_counter() - started, sum(received)


def kubectl_apply_rate(kubeconfig: Path, count: int) -> float:
    """Baseline for comparison: the same ConfigMaps through ``kubectl apply --server-side``."""
    docs = [configmap("default", f"kubectl-{i}", i) for i in range(count)]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write(yaml.safe_dump_all(docs))
        path = fh.name
    started = time.perf_counter()
    subprocess.run(
        [
            find_tool("kubectl"),
            "--kubeconfig",
            str(kubeconfig),
            "apply",
            "--server-side",
            "-f",
            path,
        ],
        check=True,
        capture_output=True,
    )
    return count / (time.perf_counter() - started)


async def deployments_available(server: str, token: str, ctx: ssl.SSLContext, count: int) -> float:
    """Seconds from creating ``count`` Deployments until every one reports Available."""
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server, verify=ctx, headers=headers, timeout=60) as http:
        started = time.perf_counter()
        for i in range(count):
            body = deployment("default", f"avail-{i}", i)
            r = await http.post(
                "/apis/apps/v1/namespaces/default/deployments", content=orjson.dumps(body)
            )
            if r.status_code != 201:
                raise RuntimeError(f"create failed: {r.status_code} {r.text}")
        while True:
            items = (await http.get("/apis/apps/v1/namespaces/default/deployments")).json()["items"]
            available = sum(
                1
                for d in items
                if any(
                    c["type"] == "Available" and c["status"] == "True"
                    for c in (d.get("status") or {}).get("conditions", [])
                )
                and (d.get("status") or {}).get("availableReplicas") == d["spec"]["replicas"]
            )
            if available == count:
                return time.perf_counter() - started
            await asyncio.sleep(0.05)


async def write_rate(extra_args: list[str], count: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        proc = ClusterProcess.start(Path(tmp), [*extra_args, "--no-workloads"])
        try:
            server, token, ctx = _client_settings(proc.kubeconfig)
            started = time.perf_counter()
            await create_many(server, token, ctx, "default", count)
            return count / (time.perf_counter() - started)
        finally:
            proc.stop()


async def main(quick: bool) -> None:
    scale = 0.2 if quick else 1.0
    with tempfile.TemporaryDirectory() as tmp:
        proc = ClusterProcess.start(Path(tmp), ["--no-workloads"])
        try:
            server, token, ctx = _client_settings(proc.kubeconfig)
            pid = proc.process.pid
            n_cm = int(2000 * scale)
            n_dep = int(1000 * scale)
            print(f"{'figure':58} value")
            for kind, total in (("ConfigMap", n_cm), ("Deployment", n_dep)):
                for clients in (1, 8):
                    rate = await apply_rate(server, token, ctx, kind, clients, total)
                    print(f"{f'server-side apply {kind}, {clients} client(s)':58} {rate:8.0f} /s")
            rate = kubectl_apply_rate(proc.kubeconfig, int(500 * scale))
            print(
                f"{'baseline: kubectl apply --server-side (ConfigMaps, 1 run)':58} {rate:8.0f} /s"
            )

            async with httpx.AsyncClient(
                base_url=server, verify=ctx, headers={"Authorization": f"Bearer {token}"}
            ) as http:
                await http.post(
                    "/api/v1/namespaces",
                    content=orjson.dumps(
                        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "big"}}
                    ),
                )
            n_list = int(10_000 * scale)
            rss_before = _rss_kib(pid)
            started = time.perf_counter()
            await create_many(server, token, ctx, "big", n_list)
            create_rate = n_list / (time.perf_counter() - started)
            rss_after = _rss_kib(pid)
            print(f"{f'create {n_list} ConfigMaps, 8 clients':58} {create_rate:8.0f} /s")
            per_10k = (rss_after - rss_before) / 1024 * (10_000 / n_list)
            print(f"{'memory per 10,000 ConfigMaps (server RSS growth)':58} {per_10k:8.1f} MiB")
            full, paged, count = await list_time(server, token, ctx, "big")
            print(f"{f'LIST {count} objects, one request':58} {full * 1000:8.0f} ms")
            print(f"{f'LIST {count} objects, pages of 500 (as kubectl)':58} {paged * 1000:8.0f} ms")
            watchers, events = 50, int(500 * scale)
            elapsed, received = await watch_fanout(server, token, ctx, watchers, events)
            print(
                f"{f'watch fan-out: {events} writes to {watchers} watchers':58} {elapsed * 1000:8.0f} ms"
            )
            print(f"{'watch fan-out: events delivered':58} {received / elapsed:8.0f} /s")
        finally:
            proc.stop()
    n_writes = int(2000 * scale)
    with tempfile.TemporaryDirectory() as state:
        on = await write_rate(["--state", state], n_writes)
    off = await write_rate([], n_writes)
    print(f"{'creates/s, 8 clients, --state on (SQLite WAL)':58} {on:8.0f} /s")
    print(f"{'creates/s, 8 clients, --state off (memory)':58} {off:8.0f} /s")
    with tempfile.TemporaryDirectory() as tmp:
        proc = ClusterProcess.start(Path(tmp), ["--pod-ready-delay", "0"])
        try:
            server, token, ctx = _client_settings(proc.kubeconfig)
            n_deploy = 100
            seconds = await deployments_available(server, token, ctx, n_deploy)
            print(
                f"{f'{n_deploy} Deployments (2 replicas) to Available, delay 0':58} {seconds * 1000:8.0f} ms"
            )
        finally:
            proc.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fifth of the work, for a smoke run")
    args = parser.parse_args()
    asyncio.run(main(args.quick))
