"""Benchmark of the sync engine on the local cluster, with kubectl as the baseline in the same run.

(a) cold sync of 1,000 ConfigMaps and of 100 Deployments by the engine vs
    ``kubectl apply --server-side`` of the same manifests (ratio engine / kubectl);
(b) diff of an unchanged 1,000-object app with a warm live cache: time and API requests;
(c) memory of the live cache per 10,000 objects.

    python bench/engine.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tether.cluster.client import ClusterClient
from tether.cluster.config import ClientSettings
from tether.engine.diff import compare
from tether.engine.plan import plan_sync
from tether.engine.sync import SyncEngine
from tether.localcluster.cluster import ClusterProcess
from tether.resources import ResourceKey
from tether.tools import find_tool


def configmaps(ns: str, count: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{prefix}-{i}", "namespace": ns, "labels": {"app": "bench"}},
            "data": {"index": str(i), "payload": "x" * 64},
        }
        for i in range(count)
    ]


def deployments(ns: str, count: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"{prefix}-{i}", "namespace": ns},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": f"{prefix}-{i}"}},
                "template": {
                    "metadata": {"labels": {"app": f"{prefix}-{i}"}},
                    "spec": {"containers": [{"name": "app", "image": f"nginx:1.{i % 30}"}]},
                },
            },
        }
        for i in range(count)
    ]


def kubectl_apply(
    kubeconfig: Path, objects: list[dict[str, Any]], wait_rollout: bool
) -> tuple[float, float]:
    """(seconds for the apply, seconds until also Available when ``wait_rollout``)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write(yaml.safe_dump_all(objects))
        path = fh.name
    kubectl = find_tool("kubectl")
    started = time.perf_counter()
    subprocess.run(
        [kubectl, "--kubeconfig", str(kubeconfig), "apply", "--server-side", "-f", path],
        check=True,
        capture_output=True,
    )
    applied = time.perf_counter() - started
    if wait_rollout:
        ns = objects[0]["metadata"]["namespace"]
        subprocess.run(
            [
                kubectl,
                "--kubeconfig",
                str(kubeconfig),
                "wait",
                "-n",
                ns,
                "--for=condition=Available",
                "deploy",
                "--all",
                "--timeout=300s",
            ],
            check=True,
            capture_output=True,
        )
    return applied, time.perf_counter() - started


async def engine_sync(client: ClusterClient, objects: list[dict[str, Any]]) -> float:
    engine = SyncEngine(client, app_name="bench", poll_interval=0.1)
    started = time.perf_counter()
    result = await engine.sync(plan_sync(objects))
    elapsed = time.perf_counter() - started
    if not result.succeeded:
        raise RuntimeError(f"engine sync failed: {result.message}")
    return elapsed


async def make_namespace(client: ClusterClient, name: str) -> None:
    info = await client.resource_for("v1", "Namespace")
    await client.apply(
        info, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}, force=True
    )


def row(label: str, value: str) -> None:
    print(f"{label:62} {value:>10}")


async def main(quick: bool) -> None:
    n_cm = 200 if quick else 1000
    n_deploy = 20 if quick else 100
    with tempfile.TemporaryDirectory() as tmp:
        proc = ClusterProcess.start(Path(tmp), ["--pod-ready-delay", "0.2"])
        try:
            # Client-side rate limits (default 50 QPS, burst 100, as Argo CD) would measure the
            # limiter, not the engine: raised here, reported in the output.
            settings = ClientSettings(qps=5000, burst=5000)
            async with ClusterClient.from_kubeconfig(
                str(proc.kubeconfig), settings=settings
            ) as client:
                for ns in ("engine-cm", "kubectl-cm", "engine-deploy", "kubectl-deploy"):
                    await make_namespace(client, ns)
                print(f"{'figure (engine client: qps 5000, burst 5000)':62} {'value':>10}")
                # (a) cold syncs, engine vs kubectl apply --server-side on the same cluster
                t_kubectl, _ = kubectl_apply(
                    proc.kubeconfig, configmaps("kubectl-cm", n_cm, "cm"), wait_rollout=False
                )
                t_engine = await engine_sync(client, configmaps("engine-cm", n_cm, "cm"))
                row(f"cold sync {n_cm} ConfigMaps: engine", f"{t_engine * 1000:8.0f} ms")
                row(
                    f"cold sync {n_cm} ConfigMaps: kubectl apply --server-side",
                    f"{t_kubectl * 1000:8.0f} ms",
                )
                row("  ratio engine / kubectl (target <= 1.0)", f"{t_engine / t_kubectl:10.2f}")
                t_apply, t_kubectl = kubectl_apply(
                    proc.kubeconfig,
                    deployments("kubectl-deploy", n_deploy, "web"),
                    wait_rollout=True,
                )
                t_engine = await engine_sync(client, deployments("engine-deploy", n_deploy, "web"))
                row(
                    f"cold sync {n_deploy} Deployments until healthy: engine",
                    f"{t_engine * 1000:8.0f} ms",
                )
                row(
                    f"cold sync {n_deploy} Deployments: kubectl apply --server-side",
                    f"{t_apply * 1000:8.0f} ms",
                )
                row(
                    f"cold sync {n_deploy} Deployments: kubectl apply + wait Available",
                    f"{t_kubectl * 1000:8.0f} ms",
                )
                row(
                    "  ratio engine / (kubectl apply + wait) (target <= 1.0)",
                    f"{t_engine / t_kubectl:10.2f}",
                )

                # (b) diff of an unchanged app against the live cache
                from tether.cluster.cache import LiveCache

                desired = configmaps("engine-cm", n_cm, "cm")
                engine = SyncEngine(client, app_name="bench")
                stamped = [engine.tracking.stamp(o, "bench") for o in desired]
                info = await client.resource_for("v1", "ConfigMap")
                cache = LiveCache(client)
                await cache.track([info])
                await cache.wait_synced()
                live = {
                    ResourceKey.of(o): o
                    for o in (cache.get(ResourceKey.of(d)) for d in stamped)
                    if o is not None
                }
                before = client.stats.total
                timings = []
                for _ in range(5):
                    started = time.perf_counter()
                    result = await compare(stamped, live)
                    timings.append(time.perf_counter() - started)
                requests = client.stats.total - before
                synced = sum(1 for r in result.resources if r.status == "Synced")
                print(
                    f"{f'diff of an unchanged {n_cm}-object app (best of 5)':62} {min(timings) * 1000:8.1f} ms"
                )
                print(f"{'  API requests during the diffs (target 0)':62} {requests:10d}")
                print(f"{'  resources Synced':62} {synced:10d}")
                await cache.close()

                # (c) live cache memory per 10,000 objects
                n_mem = 2000 if quick else 10_000
                mem_ns = "memory"
                await make_namespace(client, mem_ns)
                await engine_sync(client, configmaps(mem_ns, n_mem, "mem"))
                gc.collect()
                tracemalloc.start()
                baseline = tracemalloc.get_traced_memory()[0]
                cache = LiveCache(client)
                await cache.track([info])
                await cache.wait_synced()
                gc.collect()
                used = tracemalloc.get_traced_memory()[0] - baseline
                tracemalloc.stop()
                count = len(cache)
                per_10k = used / max(count, 1) * 10_000 / (1024 * 1024)
                print(
                    f"{f'live cache memory per 10,000 ConfigMaps ({count} cached)':62} {per_10k:8.1f} MiB"
                )
                await cache.close()
        finally:
            proc.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    asyncio.run(main(parser.parse_args().quick))
