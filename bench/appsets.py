"""Benchmark of ApplicationSets (issue 21): a Git-directory set over N directories, beside the
same N Applications written directly, in one run.

On a fresh local cluster, with ``python -m tether controller`` and its DEFAULT flags:

1. baseline: the N Applications the set would make, written by ONE pinned ``kubectl apply
   --server-side -f`` into a namespace the controller does not watch (the write path alone);
2. the set applied: the time until all N Applications exist (the bench's own watch), the
   controller's writes for it (its ``/metrics``);
3. once every generated Application is Synced and Healthy: no-change regenerations (the set's
   annotation touched, which makes the controller generate it again): time from the touch to the
   generation counted on ``/metrics``, and the writes it made (goal: 0 writes, under 1 s).

    flock /tmp/tether-bench.lock python bench/appsets.py [--directories 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402
from _fleet import CONTROL_NAMESPACE, DUMPER  # noqa: E402
from _harness import (  # noqa: E402
    ControllerProcess,
    ObjectWatch,
    Table,
    app_summary,
    synced_healthy,
)
from controller import CLUSTER_ARGS, bench_client, seconds  # noqa: E402

from tether.controller.control import bootstrap  # noqa: E402
from tether.demo.repo import create_repository  # noqa: E402
from tether.localcluster.cluster import ClusterProcess  # noqa: E402
from tether.source.gitserver import GitHTTPServer  # noqa: E402
from tether.tools import find_tool  # noqa: E402

TETHER, BASELINE = "Tether default", "kubectl apply --server-side"
SET = "fleet"
TARGET_NS = "appset-fleet"


def directory(i: int) -> str:
    return f"apps/app-{i:05d}"


def files(count: int) -> dict[str, str]:
    return {
        f"{directory(i)}/cm.yaml": yaml.dump(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"app-{i:05d}"},
             "data": {"index": str(i)}}, Dumper=DUMPER,
        )
        for i in range(count)
    }  # fmt: skip


def application(i: int, url: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": f"{SET}-app-{i:05d}", "namespace": namespace},
        "spec": {
            "project": "default",
            "source": {"repoURL": url, "targetRevision": "HEAD", "path": directory(i)},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": TARGET_NS},
            "syncPolicy": {"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]},
        },
    }


def appset(url: str) -> dict[str, Any]:
    template = application(0, url, CONTROL_NAMESPACE)
    template["metadata"] = {"name": f"{SET}-{{{{path.basename}}}}"}
    template["spec"]["source"]["path"] = "{{path}}"
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": SET, "namespace": CONTROL_NAMESPACE},
        "spec": {
            "generators": [
                {"git": {"repoURL": url, "revision": "HEAD",
                         "directories": [{"path": "apps/*"}]}}
            ],
            "template": {"metadata": template["metadata"], "spec": template["spec"]},
        },
    }  # fmt: skip


def owner(obj: dict[str, Any]) -> str:
    refs = obj["metadata"].get("ownerReferences") or []
    return str(refs[0].get("name")) if refs else ""


async def baseline(kubeconfig: Path, url: str, count: int, folder: Path) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "baseline"}}]
    docs += [application(i, url, "baseline") for i in range(count)]
    (folder / "apps.yaml").write_text(yaml.dump_all(docs, Dumper=DUMPER))
    started = time.perf_counter()
    done = await asyncio.to_thread(
        subprocess.run,
        [find_tool("kubectl"), "--kubeconfig", str(kubeconfig), "apply", "--server-side",
         "-f", str(folder / "apps.yaml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"kubectl apply failed: {done.stderr[-400:]}")
    return time.perf_counter() - started


async def counters(controller: ControllerProcess) -> dict[str, float]:
    return (await controller.scrape()).by_label("tether_controller_events_total", "kind")


async def regenerate(
    client: Any, controller: ControllerProcess, round_: int
) -> tuple[float, float]:
    """Touch the set; seconds until the controller counted the generation, and its writes."""
    before = await counters(controller)
    info = await client.resource_for("argoproj.io/v1alpha1", "ApplicationSet")
    started = time.perf_counter()
    await client.patch(
        info, SET, {"metadata": {"annotations": {"bench/touch": str(round_)}}}, CONTROL_NAMESPACE
    )
    while True:
        after = await counters(controller)
        if after.get("appset_generations", 0) > before.get("appset_generations", 0):
            break
        if time.perf_counter() - started > 60:
            raise SystemExit("no regeneration within 60 s")
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    return elapsed, after.get("appset_writes", 0) - before.get("appset_writes", 0)


async def main(count: int, rounds: int) -> None:
    table = Table((TETHER, BASELINE))
    with tempfile.TemporaryDirectory(prefix="tether-bench-appsets-") as tmp_text:
        tmp = Path(tmp_text)
        server = GitHTTPServer(tmp / "git").start()
        create_repository(tmp / "git" / "sets.git", tmp / "work", files(count))
        url = server.url("sets.git")
        cluster = ClusterProcess.start(tmp / "cluster", CLUSTER_ARGS)
        client = await bench_client(cluster)
        controller = ControllerProcess(tmp / "controller", cluster.kubeconfig, [])
        try:
            await bootstrap(client, CONTROL_NAMESPACE, "bench")
            table.put(
                f"{count} Applications written",
                BASELINE,
                seconds(await baseline(cluster.kubeconfig, url, count, tmp / "baseline")),
            )
            controller.start()
            await controller.wait_running()
            info = await client.resource_for("argoproj.io/v1alpha1", "Application")
            apps = await ObjectWatch(
                client, info, owner, lambda o: o == SET, CONTROL_NAMESPACE
            ).start()
            synced = await ObjectWatch(
                client, info, app_summary, synced_healthy, CONTROL_NAMESPACE
            ).start()
            set_info = await client.resource_for("argoproj.io/v1alpha1", "ApplicationSet")
            started = time.perf_counter()
            await client.apply(set_info, appset(url), field_manager="bench", force=True)
            await apps.wait(lambda: len(apps.done_keys()) >= count, 600, "generated Applications")
            first = time.perf_counter() - started
            table.put(
                f"{count} Applications written",
                TETHER,
                seconds(first) + " (set applied → all exist)",
            )
            writes = (await counters(controller)).get("appset_writes", 0)
            table.put("  writes of the first generation (N apps + status)", TETHER, f"{writes:.0f}")
            await synced.wait(lambda: len(synced.done_keys()) >= count, 900, "Synced+Healthy")
            print(f"  all {count} generated Applications Synced+Healthy", flush=True)
            results = [await regenerate(client, controller, r) for r in range(rounds)]
            times = [r[0] for r in results]
            table.put(
                "no-change regeneration: touch → generated (goal < 1 s)",
                TETHER,
                f"p50 {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms",
            )
            table.put(
                "  writes per no-change regeneration (goal 0)",
                TETHER,
                ", ".join(f"{r[1]:.0f}" for r in results),
            )
            await apps.stop()
            await synced.stop()
        finally:
            await controller.stop()
            await client.aclose()
            cluster.stop()
            server.stop()
    table.note(f"{TETHER}: python -m tether controller (default flags), one fresh local cluster")
    table.note(f"{BASELINE}: one kubectl process writing the same {count} Applications")
    table.print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--directories", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    asyncio.run(main(options.directories, options.rounds))
