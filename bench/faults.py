"""Convergence under API faults: N Applications from a cold start to all Synced and Healthy, on a
healthy API server and with a share of every request failing (500s, and 429s with Retry-After 1 s,
on every verb including watches), in the same run.

The controller runs with the defaults a user gets (``ControllerConfig()`` and the client's QPS 50 /
burst 100); the local cluster runs in its own process and injects the faults.

    python bench/faults.py [--apps 40] [--rate 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.controller import all_synced, app_files, application  # noqa: E402
from tether.cluster.client import ClusterClient  # noqa: E402
from tether.controller.controller import Controller, ControllerConfig  # noqa: E402
from tether.demo.repo import create_repository  # noqa: E402
from tether.localcluster.cluster import ClusterProcess  # noqa: E402
from tether.source.gitserver import GitHTTPServer  # noqa: E402

VERBS = ("get", "list", "watch", "create", "update", "patch", "delete")


def row(label: str, value: str) -> None:
    print(f"{label:62} {value:>16}", flush=True)


async def set_faults(client: ClusterClient, rate: float) -> None:
    body = {"error_rate": dict.fromkeys(VERBS, rate), "throttle_share": 0.5, "retry_after": 1}
    await client.request("PUT", "/tether/v1/faults", verb="update", body=body)


async def cold_start(tmp: Path, apps: int, rate: float) -> tuple[float, dict[str, int]]:
    """Seconds until every app is Synced and Healthy, and the controller's request counts."""
    workdir = tmp / f"rate-{rate}"
    (workdir / "cluster").mkdir(parents=True)
    cluster = ClusterProcess.start(workdir / "cluster", ["--pod-ready-delay", "0.2"])
    server = GitHTTPServer(workdir / "git").start()
    admin = ClusterClient.from_kubeconfig(str(cluster.kubeconfig))
    client = ClusterClient.from_kubeconfig(str(cluster.kubeconfig))
    controller = Controller(
        client,
        ControllerConfig(cache_dir=workdir / "cache", leader_election=False),
    )
    try:
        await controller.start()
        files: dict[str, str] = {}
        for i in range(apps):
            files.update(app_files(i))
        create_repository(workdir / "git" / "fleet.git", workdir / "fleet", files)
        url = server.url("fleet.git")
        info = await admin.resource_for("argoproj.io/v1alpha1", "Application")
        names = {f"app-{i:04d}" for i in range(apps)}
        await set_faults(admin, rate)
        started = time.perf_counter()
        for i in range(apps):
            doc = application(f"app-{i:04d}", url, f"apps/app-{i:04d}", f"fleet-{i % 5}")
            while True:  # the benchmark's own writes meet the faults too: retry them
                try:
                    await admin.apply(info, doc, force=True)
                    break
                except Exception:
                    await asyncio.sleep(0.05)
        while True:
            try:
                if await all_synced(admin, names):
                    break
            except Exception:
                pass
            await asyncio.sleep(0.5)
        return time.perf_counter() - started, dict(client.stats.by_verb)
    finally:
        await controller.stop()
        await client.aclose()
        await admin.aclose()
        server.stop()
        cluster.stop()


async def main(apps: int, rate: float) -> None:
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        row(f"{apps} apps x 10 resources, controller defaults", "cold start")
        healthy, healthy_requests = await cold_start(tmp, apps, 0.0)
        row("  healthy API server (baseline)", f"{healthy:8.1f} s")
        faulty, faulty_requests = await cold_start(tmp, apps, rate)
        row(f"  {rate:.0%} of API requests failing (500 / 429)", f"{faulty:8.1f} s")
        row("  ratio", f"{faulty / healthy:8.2f} x")
        row("  controller requests, healthy", str(sum(healthy_requests.values())))
        row(f"  controller requests, {rate:.0%} failing", str(sum(faulty_requests.values())))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=40)
    parser.add_argument("--rate", type=float, default=0.2)
    args = parser.parse_args()
    asyncio.run(main(args.apps, args.rate))
