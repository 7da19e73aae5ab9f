"""Flux Kustomizations at scale (issue 22): N Kustomizations from cold to all Ready, beside the
direct ``kubectl apply --server-side`` of the same objects and Flux's published figures.

The shape is Flux's own benchmark (fluxcd/flux-benchmark, shared/reference/flux-and-secrets.md
§3.1): each Kustomization deploys a Deployment scaled to 0, a ServiceAccount, a Service and an
Ingress; here all from ONE GitRepository (a monorepo with a folder per app, no
kustomization.yaml: Flux generates one), into 20 namespaces (``targetNamespace``).

1. Baseline: the same objects written by ONE pinned ``kubectl apply --server-side -f DIR`` on a
   fresh local cluster.
2. Tether: a fresh cluster, the GitRepository and the N Kustomizations written, then
   ``python -m tether controller`` spawned with its DEFAULT flags; the clock starts at the
   spawn and stops when every Kustomization is Ready (the bench's own watch). Peak RSS (VmHWM),
   requests per Kustomization (the controller's /metrics), CPU.

Flux's published figures (v2.9.0, 16-core runner, kind): 100 → 26 s, 500 → 2m0s, 1,000 →
4m13s with 223 MiB for kustomize-controller. Not the same machine: read the ratio to kubectl of
the same run, and Flux's figure as a reference only.

    flock /tmp/tether-bench.lock python bench/flux.py [--kustomizations 1000] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    ControllerProcess,
    ObjectWatch,
    Table,
    cluster_metrics,
    process_sample,
)

from tether.cluster.client import ClusterClient
from tether.cluster.config import ClientSettings
from tether.controller.control import bootstrap
from tether.demo.repo import create_repository
from tether.localcluster.cluster import ClusterProcess
from tether.source.gitserver import GitHTTPServer
from tether.tools import find_tool

NAMESPACES = 20
FLUX_NAMESPACE = "flux-system"
CLUSTER_ARGS = ["--pod-ready-delay", "0.2"]
SETTINGS = ClientSettings(qps=1000, burst=2000)
TETHER, BASELINE = "Tether default", "kubectl"
#: Flux's published MTTP (v2.9.0, 16 cores), by count of Kustomizations
FLUX_PUBLISHED = {100: "26 s", 500: "2m0s", 1000: "4m13s / 223 MiB"}


def app_objects(index: int) -> list[dict[str, Any]]:
    name = f"app-{index:04d}"
    labels = {"app": name}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": name,
                        "containers": [
                            {"name": "app", "image": "ghcr.io/stefanprodan/podinfo:6.7.0"}
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 9898}]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": name},
            "spec": {
                "rules": [
                    {
                        "host": f"{name}.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": name, "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ]
            },
        },
    ]


def namespace_of(index: int) -> str:
    return f"bench-{index % NAMESPACES}"


def kustomization(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": f"app-{index:04d}", "namespace": FLUX_NAMESPACE},
        "spec": {
            "interval": "60m",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            "path": f"./apps/app-{index:04d}",
            "targetNamespace": namespace_of(index),
        },
    }


def namespaces() -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{n}"}}
        for n in range(NAMESPACES)
    ]


async def apply_all(client: ClusterClient, docs: list[dict[str, Any]]) -> None:
    gate = asyncio.Semaphore(16)

    async def one(doc: dict[str, Any]) -> None:
        info = await client.resource_for(doc["apiVersion"], doc["kind"])
        async with gate:
            await client.apply(info, doc, field_manager="bench", force=True)

    await asyncio.gather(*(one(d) for d in docs))


def ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def baseline(table: Table, root: Path, count: int) -> float:
    folder = root / "manifests"
    folder.mkdir(parents=True)
    (folder / "0-namespaces.yaml").write_text(yaml.safe_dump_all(namespaces()))
    for i in range(count):
        docs = app_objects(i)
        for doc in docs:
            doc["metadata"]["namespace"] = namespace_of(i)
        (folder / f"app-{i:04d}.yaml").write_text(yaml.safe_dump_all(docs))
    cluster = ClusterProcess.start(root / "cluster-baseline", CLUSTER_ARGS)
    try:
        started = time.perf_counter()
        kubectl = await asyncio.create_subprocess_exec(
            find_tool("kubectl"), "--kubeconfig", str(cluster.kubeconfig), "apply",
            "--server-side", "-f", str(folder),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await kubectl.communicate()
        if kubectl.returncode != 0:
            raise SystemExit(f"kubectl apply failed: {err.decode()[-2000:]}")
        total = time.perf_counter() - started
        table.put(
            "all applied (Kustomizations Ready / kubectl written)", BASELINE, f"{total:.1f} s"
        )
        table.put("  objects", BASELINE, str(4 * count + NAMESPACES))
        return total
    finally:
        cluster.stop()


async def tether_run(table: Table, root: Path, count: int, reference: float | None) -> None:
    server = GitHTTPServer(root / "git").start()
    cluster = ClusterProcess.start(root / "cluster", CLUSTER_ARGS)
    client = ClusterClient.from_kubeconfig(str(cluster.kubeconfig), settings=SETTINGS)
    controller: ControllerProcess | None = None
    try:
        files = {
            f"apps/app-{i:04d}/app.yaml": yaml.safe_dump_all(app_objects(i)) for i in range(count)
        }
        create_repository(root / "git" / "fleet.git", root / "fleet", files)
        await bootstrap(client, "argocd", "bench")
        await apply_all(client, [*namespaces(), {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": FLUX_NAMESPACE}}])  # fmt: skip
        source = {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": FLUX_NAMESPACE},
            "spec": {"url": server.url("fleet.git"), "interval": "60m", "ref": {"branch": "main"}},
        }
        await apply_all(client, [source, *(kustomization(i) for i in range(count))])
        info = await client.resource_for("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
        watch: ObjectWatch[bool] = await ObjectWatch(
            client, info, ready, bool, FLUX_NAMESPACE
        ).start()
        before = await cluster_metrics(cluster.kubeconfig)
        controller = ControllerProcess(root / "controller", cluster.kubeconfig, []).start()
        running = await controller.wait_running()
        await watch.wait(lambda: len(watch.first_seen) >= count, 1800, "Kustomizations Ready")
        total = max(watch.first_seen.values()) - controller.started_at
        first = min(watch.first_seen.values()) - controller.started_at
        sample = process_sample(controller.pid)
        after = await cluster_metrics(cluster.kubeconfig)
        requests = after.total("apiserver_request_total") - before.total("apiserver_request_total")
        table.put("all applied (Kustomizations Ready / kubectl written)", TETHER, f"{total:.1f} s")
        if reference:
            table.put("  ratio to kubectl", TETHER, f"{total / reference:.2f}x")
        table.put("  controller start until running", TETHER, f"{running:.2f} s")
        table.put("  first Kustomization Ready", TETHER, f"{first:.2f} s")
        table.put("  Kustomizations per second", TETHER, f"{count / total:.1f}")
        table.put("  peak RSS (VmHWM)", TETHER, f"{sample.peak_rss_mib:.0f} MiB")
        table.put("  CPU s: controller", TETHER, f"{sample.cpu_seconds:.1f}")
        table.put(
            "  API requests per Kustomization (server's count)", TETHER, f"{requests / count:.1f}"
        )
        await watch.stop()
    finally:
        if controller is not None:
            await controller.stop()
        await client.aclose()
        cluster.stop()
        server.stop()


async def main(count: int, skip_baseline: bool) -> None:
    table = Table((TETHER, BASELINE, "Flux (published)"))
    table.put("all applied (Kustomizations Ready / kubectl written)", "Flux (published)",
              FLUX_PUBLISHED.get(count, "-"), echo=False)  # fmt: skip
    print(f"{count} Kustomizations x 4 objects from one GitRepository", flush=True)
    with tempfile.TemporaryDirectory(prefix="tether-bench-flux-") as tmp:
        reference = None if skip_baseline else await baseline(table, Path(tmp) / "b", count)
        await tether_run(table, Path(tmp) / "t", count, reference)
    table.note("kubectl: ONE process, apply --server-side -f DIR, on a fresh local cluster")
    table.note("Tether default: python -m tether controller with its default flags")
    table.note("Flux: fluxcd/flux-benchmark v2.9.0 on a 16-core runner (not this machine)")
    table.print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kustomizations", type=int, default=1000)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.kustomizations, args.skip_baseline))
