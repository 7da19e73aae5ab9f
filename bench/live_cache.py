"""Benchmark of the live cache: memory per 10,000 objects, initial sync time, event latency.

Starts a local cluster in its own process (API only, ``--no-workloads``, so the objects counted
are exactly the ones created here), creates ConfigMaps and Deployments stamped with tracking ids
for 100 applications, then measures, in this process:

* the initial list+watch sync of both types (wall time, requests);
* the memory the cache retains (tracemalloc, after a GC), with and without ``managedFields``;
* event latency: a write's request sent → the subscriber's callback, over sequential writes;
* reads of every cached object and the request counter afterwards (the target is zero).

    python bench/live_cache.py [--objects 10000] [--samples 200]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

# Replace the script folder with the repository root: bench/ holds modules (secrets.py) whose
# names would shadow the standard library for everything imported below.
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tether.cluster import ClientSettings, ClusterClient, LiveCache, ObjectKey, ResourceInfo, stamp
from tether.localcluster.cluster import ClusterProcess

NAMESPACE = "bench"
APPS = 100


def configmap(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"cm-{i:05d}",
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/name": f"svc-{i % APPS}", "tier": "backend"},
        },
        "data": {
            "LOG_LEVEL": "info",
            "FEATURE_FLAGS": "a,b,c",
            "settings.yaml": f"replicas: 3\nname: svc-{i}\ntimeout: 30s\n",
        },
    }


def deployment(i: int) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": f"svc-{i}", "tier": "backend"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": f"deploy-{i:05d}", "namespace": NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": f"registry.example.com/svc-{i}:1.4.2",
                            "ports": [{"containerPort": 8080, "name": "http"}],
                            "env": [{"name": "PORT", "value": "8080"}],
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"memory": "256Mi"},
                            },
                            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                        }
                    ]
                },
            },
        },
    }


async def populate(client: ClusterClient, infos: dict[str, ResourceInfo], count: int) -> float:
    ns_info = await client.resource_for("v1", "Namespace")
    await client.create(
        ns_info, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    )
    gate = asyncio.Semaphore(64)

    async def create(info: ResourceInfo, obj: dict[str, Any], i: int) -> None:
        async with gate:
            await client.create(info, stamp(obj, f"app-{i % APPS}"))

    start = time.perf_counter()
    half = count // 2
    await asyncio.gather(
        *(create(infos["cm"], configmap(i), i) for i in range(half)),
        *(create(infos["deploy"], deployment(i), i) for i in range(count - half)),
    )
    return time.perf_counter() - start


async def measure_sync(
    client: ClusterClient, infos: dict[str, ResourceInfo], keep_managed_fields: bool
) -> tuple[float, int]:
    """Seconds to the first full sync, and requests it took."""
    client.stats.reset()
    start = time.perf_counter()
    async with LiveCache(client, keep_managed_fields=keep_managed_fields) as cache:
        await cache.track(infos.values())
        elapsed = time.perf_counter() - start
        requests = client.stats.total
    return elapsed, requests


async def measure_memory(
    client: ClusterClient, infos: dict[str, ResourceInfo], keep_managed_fields: bool
) -> tuple[int, int]:
    """Bytes the cache retains once synced (tracemalloc), and how many objects it holds."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    cache = LiveCache(client, keep_managed_fields=keep_managed_fields)
    await cache.track(infos.values())
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    held = len(cache)
    await cache.close()
    return retained, held


async def measure_latency(
    client: ClusterClient, infos: dict[str, ResourceInfo], samples: int
) -> list[float]:
    """Seconds from sending a patch to the subscriber's callback, one write at a time."""
    async with LiveCache(client, namespace=NAMESPACE) as cache:
        await cache.track([infos["cm"]])
        arrived: dict[ObjectKey, asyncio.Event] = {}

        def on_change(app: str, event: str, key: ObjectKey) -> None:
            waiter = arrived.get(key)
            if waiter is not None:
                waiter.set()

        cache.subscribe(on_change)
        latencies = []
        for n in range(samples):
            name = f"cm-{n:05d}"
            key = ObjectKey("", "ConfigMap", NAMESPACE, name)
            arrived[key] = asyncio.Event()
            start = time.perf_counter()
            await client.patch(infos["cm"], name, {"data": {"SEQ": str(n)}}, NAMESPACE)
            await asyncio.wait_for(arrived[key].wait(), timeout=5)
            latencies.append(time.perf_counter() - start)
            del arrived[key]
    return latencies


async def measure_reads(
    client: ClusterClient, infos: dict[str, ResourceInfo]
) -> tuple[float, int, int]:
    """Read every cached object by key and each app's objects; seconds and requests made."""
    async with LiveCache(client) as cache:
        await cache.track(infos.values())
        keys = [
            ObjectKey.of(o) for info in infos.values() for o in cache.objects(info.group, info.kind)
        ]
        client.stats.reset()
        start = time.perf_counter()
        for key in keys:
            cache.get(key)
        for app in range(APPS):
            cache.objects_of(f"app-{app}")
        return time.perf_counter() - start, len(keys), client.stats.total


async def run(count: int, samples: int, kubeconfig: Path) -> None:
    settings = ClientSettings(qps=0)
    async with ClusterClient.from_kubeconfig(str(kubeconfig), settings=settings) as client:
        infos = {
            "cm": await client.resource_for("v1", "ConfigMap"),
            "deploy": await client.resource_for("apps/v1", "Deployment"),
        }
        created = await populate(client, infos, count)
        print(
            f"setup: created {count:,} objects ({count // 2:,} ConfigMaps, "
            f"{count - count // 2:,} Deployments) in {created:.1f} s"
        )
        per = 10_000 / count
        for keep in (True, False):
            label = "with managedFields" if keep else "managedFields dropped"
            elapsed, requests = await measure_sync(client, infos, keep)
            retained, held = await measure_memory(client, infos, keep)
            print(
                f"cache ({label}): initial list+watch sync {elapsed:.2f} s "
                f"({requests} requests), {held:,} objects, "
                f"memory {retained / 2**20:.1f} MiB = {retained * per / 2**20:.1f} MiB per 10,000 "
                f"({retained / max(held, 1) / 1024:.2f} KiB/object)"
            )
        latencies = await measure_latency(client, infos, samples)
        ms = sorted(x * 1000 for x in latencies)
        print(
            f"event latency write->callback over {samples} writes: "
            f"p50 {statistics.median(ms):.1f} ms, p95 {ms[int(len(ms) * 0.95) - 1]:.1f} ms, "
            f"max {ms[-1]:.1f} ms (target: well under 1 s)"
        )
        seconds, reads, requests = await measure_reads(client, infos)
        print(
            f"cached reads: {reads:,} gets + {APPS} app lookups in {seconds * 1000:.1f} ms, "
            f"{requests} API requests (target 0)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tether-bench-cache-") as tmp:
        cluster = ClusterProcess.start(Path(tmp), ["--no-workloads", "--watch-history", "50000"])
        try:
            asyncio.run(run(args.objects, args.samples, cluster.kubeconfig))
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
