"""Flux HelmReleases at scale (issue 22): N HelmReleases from cold to all Ready, beside the
pinned ``helm install`` of the same releases run directly, and Flux's published figures.

The shape is Flux's own benchmark (fluxcd/flux-benchmark): the podinfo chart (here the shared
corpus' copy, packaged and pushed by the pinned helm to Debian's docker-registry on loopback)
from an OCI HelmRepository, one release per HelmRelease, default chart values (one Deployment
of one replica, a Service), into 20 namespaces.

1. Baseline: the same N releases installed by the pinned ``helm install --wait=watcher`` run
   directly against a fresh local cluster, 8 at a time (Tether's Flux workers), from the same
   chart archive.
2. Tether: a fresh cluster, the HelmRepository and the N HelmReleases written, then
   ``python -m tether controller`` spawned with its DEFAULT flags; the clock starts at the
   spawn and stops when every HelmRelease is Ready (the bench's own watch). Peak RSS (VmHWM)
   and CPU of the controller (the helm processes it runs are not counted in its RSS).

Flux's published figures (v2.9.0, 16-core runner, kind, helm-controller 2 CPU, concurrency 10):
100 → 26 s / 286 MiB, 500 → 2m14s / 306 MiB, 1,000 → 4m39s / 361 MiB. Not the same machine:
read the ratio to direct helm of the same run, and Flux's figure as a reference only.

    flock /tmp/tether-bench.lock python bench/flux_helm.py [--releases 100] [--skip-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ControllerProcess, ObjectWatch, Table, process_sample
from flux import NAMESPACES, apply_all, namespaces, ready

from tether.cluster.client import ClusterClient
from tether.cluster.config import ClientSettings
from tether.controller.control import bootstrap
from tether.images.testing import docker_registry
from tether.localcluster.cluster import ClusterProcess
from tether.tools import find_tool

CHART = (
    Path(__file__).resolve().parents[2] / "shared" / "corpora" / "podinfo" / "charts" / "podinfo"
)
CLUSTER_ARGS = ["--pod-ready-delay", "0.2"]
SETTINGS = ClientSettings(qps=1000, burst=2000)
AT_ONCE = 8
TETHER, BASELINE = "Tether default", "helm install"
FLUX_PUBLISHED = {100: "26 s / 286 MiB", 500: "2m14s / 306 MiB", 1000: "4m39s / 361 MiB"}
ROW = "all releases (HelmReleases Ready / helm installed)"


def helm(home: Path, *args: str) -> str:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update({f"HELM_{k}_HOME": str(home / k.lower()) for k in ("CACHE", "CONFIG", "DATA")})
    done = subprocess.run([find_tool("helm"), *args], capture_output=True, text=True, env=env,
                          timeout=600)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"helm {' '.join(args[:2])} failed: {done.stderr[-2000:]}")
    return done.stdout


def namespace_of(index: int) -> str:
    return f"bench-{index % NAMESPACES}"


def helm_release(index: int) -> dict[str, Any]:
    return {
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": f"app-{index:04d}", "namespace": namespace_of(index)},
        "spec": {
            "interval": "60m",
            "chart": {"spec": {"chart": "podinfo", "version": "*",
                               "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
        },
    }  # fmt: skip


def repository(namespace: str, host: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": {"name": "charts", "namespace": namespace},
        "spec": {"type": "oci", "url": f"oci://{host}/charts", "insecure": True, "interval": "60m"},
    }


async def baseline(table: Table, root: Path, archive: Path, count: int) -> float:
    cluster = ClusterProcess.start(root / "cluster-baseline", CLUSTER_ARGS)
    client = ClusterClient.from_kubeconfig(str(cluster.kubeconfig), settings=SETTINGS)
    try:
        await apply_all(client, namespaces())
        gate = asyncio.Semaphore(AT_ONCE)

        async def install(index: int) -> None:
            async with gate:
                await asyncio.to_thread(
                    helm, root / "helm-home", "install", f"app-{index:04d}", str(archive),
                    "-n", namespace_of(index), "--wait=watcher", "--wait-for-jobs",
                    "--timeout", "300s", "--kubeconfig", str(cluster.kubeconfig),
                )  # fmt: skip

        started = time.perf_counter()
        await asyncio.gather(*(install(i) for i in range(count)))
        total = time.perf_counter() - started
        table.put(ROW, BASELINE, f"{total:.1f} s")
        table.put(f"  releases per second ({AT_ONCE} at a time)", BASELINE, f"{count / total:.1f}")
        return total
    finally:
        await client.aclose()
        cluster.stop()


async def tether_run(
    table: Table, root: Path, host: str, count: int, reference: float | None
) -> None:
    cluster = ClusterProcess.start(root / "cluster", CLUSTER_ARGS)
    client = ClusterClient.from_kubeconfig(str(cluster.kubeconfig), settings=SETTINGS)
    controller: ControllerProcess | None = None
    try:
        await bootstrap(client, "argocd", "bench")
        await apply_all(client, namespaces())
        await apply_all(client, [repository(f"bench-{n}", host) for n in range(NAMESPACES)])
        await apply_all(client, [helm_release(i) for i in range(count)])
        info = await client.resource_for("helm.toolkit.fluxcd.io/v2", "HelmRelease")
        watch: ObjectWatch[bool] = await ObjectWatch(client, info, ready, bool, None).start()
        controller = ControllerProcess(root / "controller", cluster.kubeconfig, []).start()
        running = await controller.wait_running()
        await watch.wait(lambda: len(watch.first_seen) >= count, 3600, "HelmReleases Ready")
        total = max(watch.first_seen.values()) - controller.started_at
        first = min(watch.first_seen.values()) - controller.started_at
        sample = process_sample(controller.pid)
        table.put(ROW, TETHER, f"{total:.1f} s")
        if reference:
            table.put("  ratio to direct helm", TETHER, f"{total / reference:.2f}x")
        table.put("  controller start until running", TETHER, f"{running:.2f} s")
        table.put("  first HelmRelease Ready", TETHER, f"{first:.2f} s")
        table.put("  HelmReleases per second", TETHER, f"{count / total:.1f}")
        table.put("  peak RSS of the controller (VmHWM)", TETHER, f"{sample.peak_rss_mib:.0f} MiB")
        table.put("  CPU s: controller (helm processes apart)", TETHER, f"{sample.cpu_seconds:.1f}")
        await watch.stop()
    finally:
        if controller is not None:
            await controller.stop()
        await client.aclose()
        cluster.stop()


async def main(count: int, skip_baseline: bool) -> None:
    table = Table((TETHER, BASELINE, "Flux (published)"))
    table.put(ROW, "Flux (published)", FLUX_PUBLISHED.get(count, "-"), echo=False)
    print(f"{count} HelmReleases of podinfo from an OCI HelmRepository", flush=True)
    with tempfile.TemporaryDirectory(prefix="tether-bench-helm-") as tmp:
        root = Path(tmp)
        source = shutil.copytree(CHART, root / "src" / "podinfo")
        helm(root / "helm-home", "package", str(source), "-d", str(root / "out"))
        archive = next((root / "out").glob("podinfo-*.tgz"))
        with docker_registry(root / "registry") as registry:
            helm(root / "helm-home", "push", str(archive), f"oci://{registry.host}/charts",
                 "--plain-http")  # fmt: skip
            reference = None if skip_baseline else await baseline(table, root / "b", archive, count)
            await tether_run(table, root / "t", registry.host, count, reference)
    table.note(f"helm install: the pinned helm run directly, {AT_ONCE} at a time, same archive")
    table.note("Tether default: python -m tether controller with its default flags")
    table.note("Flux: fluxcd/flux-benchmark v2.9.0 on a 16-core runner (not this machine)")
    table.print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--releases", type=int, default=100)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.releases, args.skip_baseline))
