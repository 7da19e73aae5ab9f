"""Benchmark of the API server: list 1,000 Applications through ``GET /api/v1/applications``.

The local cluster runs in its own process (API only). 1,000 Applications are created with a
status shaped like the controller writes it (three resources, sync, health, one history entry,
a finished operation), written through the status subresource. The controller runs with leader
election against a Lease held by another identity, so it watches (the server reads from its
watch) but never reconciles: the figure is the API's cost alone. The list is then fetched over
HTTP as the admin (authentication and an RBAC check per application included), several times.

Target (issue 7): < 200 ms for 1,000 applications. One function per figure; the UI half
(first render in Chromium) lives in ``bench/ui_bench.py``.

    python bench/server.py [--apps 1000] [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

# bench/ holds modules whose names would shadow the standard library: use the repository root
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tether.cluster import ClientSettings, ClusterClient  # noqa: E402
from tether.controller.controller import Controller, ControllerConfig  # noqa: E402
from tether.localcluster.cluster import ClusterProcess  # noqa: E402
from tether.names import APPLICATION, ARGO_API_VERSION  # noqa: E402
from tether.server import ServerSettings, run_server  # noqa: E402

NAMESPACE = "bench-argocd"


def application(i: int) -> dict[str, Any]:
    return {
        "apiVersion": ARGO_API_VERSION,
        "kind": "Application",
        "metadata": {
            "name": f"app-{i:04d}",
            "namespace": NAMESPACE,
            "labels": {"team": f"t{i % 7}"},
        },
        "spec": {
            "project": "default",
            "source": {
                "repoURL": f"https://git.example.com/org/repo-{i % 10}.git",
                "targetRevision": "HEAD",
                "path": f"apps/app-{i:04d}",
            },
            "destination": {"server": "https://kubernetes.default.svc", "namespace": f"ns-{i}"},
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
        },
    }


def status(i: int) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sha = f"{i:040x}"
    resources = [
        {
            "kind": kind,
            "name": f"app-{i:04d}",
            "namespace": f"ns-{i}",
            "version": "v1",
            "status": "Synced",
            **({"health": {"status": "Healthy"}} if kind != "ConfigMap" else {}),
        }
        for kind in ("ConfigMap", "Service", "Deployment")
    ]
    resources[2]["group"] = "apps"
    return {
        "sync": {
            "status": "Synced",
            "revision": sha,
            "comparedTo": {"source": application(i)["spec"]["source"]},
        },
        "health": {"status": "Healthy"},
        "resources": resources,
        "history": [
            {
                "id": 0,
                "revision": sha,
                "deployedAt": stamp,
                "source": application(i)["spec"]["source"],
            }
        ],
        "operationState": {
            "phase": "Succeeded",
            "message": "successfully synced",
            "startedAt": stamp,
            "finishedAt": stamp,
            "operation": {"sync": {"revision": sha}, "initiatedBy": {"automated": True}},
            "syncResult": {"revision": sha, "resources": []},
        },
        "reconciledAt": stamp,
        "sourceType": "Directory",
        "summary": {"images": [f"ghcr.io/example/app-{i}:1.0.0"]},
    }


async def create_applications(client: ClusterClient, count: int) -> float:
    info = await client.resource_for(ARGO_API_VERSION, APPLICATION)
    started = time.perf_counter()
    semaphore = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with semaphore:
            created = await client.create(info, application(i))
            body = {
                "status": status(i),
                "metadata": {"resourceVersion": created["metadata"]["resourceVersion"]},
            }
            await client.patch(
                info, created["metadata"]["name"], body, NAMESPACE, subresource="status"
            )

    await asyncio.gather(*(one(i) for i in range(count)))
    return time.perf_counter() - started


async def figure_list_applications(url: str, token: str, count: int, runs: int) -> dict[str, float]:
    """Wall time of ``GET /api/v1/applications``: request, answer on loopback, JSON decoded."""
    timings = []
    size = 0
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as http:
        await http.get("/api/v1/applications")  # warm the connection
        for _ in range(runs):
            started = time.perf_counter()
            answer = await http.get("/api/v1/applications")
            items = orjson.loads(answer.content)["items"]
            timings.append(time.perf_counter() - started)
            size = len(answer.content)
            assert len(items) == count, f"listed {len(items)} of {count}"
    return {
        "median_ms": statistics.median(timings) * 1000,
        "p90_ms": sorted(timings)[int(0.9 * (len(timings) - 1))] * 1000,
        "bytes": float(size),
    }


async def run(apps: int, runs: int, kubeconfig: Path, cache: Path) -> None:
    client = ClusterClient.from_kubeconfig(
        str(kubeconfig), settings=ClientSettings(qps=2000, burst=4000)
    )
    controller = Controller(
        client,
        ControllerConfig(
            namespace=NAMESPACE, leader_election=True, cache_dir=cache, reconcile_interval=3600
        ),
    )
    ns_info = await client.resource_for("v1", "Namespace")
    await client.apply(
        ns_info,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
        force=True,
    )
    await controller.start()  # installs the CRDs
    controller.is_leader = False  # stands down: the bench measures the server, never a sync
    created = await create_applications(client, apps)
    while len(controller.applications()) < apps:
        await asyncio.sleep(0.05)
    server = await run_server(controller, listen="127.0.0.1:0", settings=ServerSettings())
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            answer = await http.post(
                "/api/v1/session", json={"username": "admin", "password": server.admin_password}
            )
            token = answer.json()["token"]
        figures = await figure_list_applications(server.url, token, apps, runs)
        renders = await _ui_first_render(server.url, str(server.admin_password), apps)
    finally:
        await server.stop()
        await controller.stop()
        await client.aclose()
    print(f"setup: {apps} Applications created with status in {created:.1f} s")
    print(
        f"list {apps} applications through the API: median {figures['median_ms']:.0f} ms, "
        f"p90 {figures['p90_ms']:.0f} ms, {figures['bytes'] / 1e6:.1f} MB "
        f"(target < 200 ms; over {runs} runs)"
    )
    rendered = sorted(r["rendered"] for r in renders)
    print(
        f"first render of the applications page with {apps} apps in Chromium: median "
        f"{statistics.median(rendered):.0f} ms, worst {rendered[-1]:.0f} ms (target < 1 s; "
        f"{len(rendered)} runs)"
    )


async def _ui_first_render(url: str, password: str, apps: int) -> list[dict[str, float]]:
    """The browser half lives in bench/ui_bench.py; loaded by path (bench/ is no package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "ui_bench", Path(__file__).with_name("ui_bench.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    samples: list[dict[str, float]] = await module.applications_page_first_render(
        url, password, 5, apps
    )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = ClusterProcess.start(Path(tmp), ["--no-workloads"])
        try:
            asyncio.run(run(args.apps, args.runs, cluster.kubeconfig, Path(tmp) / "cache"))
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
