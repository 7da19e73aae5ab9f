"""Benchmark of the controller on the local cluster with a real git server.

1. push-to-synced latency through a webhook (p50, p95 over 20 commits); drift reverted by selfHeal,
   automated and in production mode (manual sync, drift reverted to the last synced revision);
2. N Applications of 10 resources each from a cold start to all Synced and Healthy (time, peak RSS);
3. one idle minute with nothing changing: API requests by verb, git ref checks and fetches, CPU.

The cluster runs in its own process; the controller and the git server run here, as in `tether up`.
Reference points: Argo CD synced 10,000 one-ConfigMap apps in 53 min with defaults and ~8.5 min
with 10 shards and raised QPS on an m5.4xlarge (AWS, 2023); see shared/reference/argocd.md §3.

    python bench/controller.py [--apps 1000] [--idle 60] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tether.cluster.client import ClusterClient  # noqa: E402
from tether.cluster.config import ClientSettings  # noqa: E402
from tether.controller.controller import Controller, ControllerConfig  # noqa: E402
from tether.demo.repo import commit_and_push, create_repository  # noqa: E402
from tether.localcluster.cluster import ClusterProcess  # noqa: E402
from tether.source.gitserver import GitHTTPServer  # noqa: E402

REPOS = 10


def row(label: str, value: str) -> None:
    print(f"{label:66} {value:>14}", flush=True)


def app_files(index: int) -> dict[str, str]:
    """Ten resources: a Deployment (1 replica), a Service, seven ConfigMaps and a Secret."""
    name = f"app-{index:04d}"
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{name}-secret"},
            "stringData": {"token": f"t-{index}"},
        },
    ]
    docs += [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-cm{i}"},
            "data": {"key": f"value-{i}"},
        }
        for i in range(7)
    ]
    return {f"apps/{name}/manifests.yaml": yaml.safe_dump_all(docs)}


def application(name: str, repo_url: str, path: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": repo_url, "targetRevision": "HEAD", "path": path},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    }


async def all_synced(client: ClusterClient, names: set[str]) -> bool:
    info = await client.resource_for("argoproj.io/v1alpha1", "Application")
    items = (await client.list(info, "argocd")).items
    done = {
        a["metadata"]["name"]
        for a in items
        if (a.get("status") or {}).get("sync", {}).get("status") == "Synced"
        and (a.get("status") or {}).get("health", {}).get("status") == "Healthy"
    }
    return names <= done


async def webhook_latency(
    controller: Controller, client: ClusterClient, root: Path, server: GitHTTPServer, commits: int
) -> list[float]:
    work = root / "latency-work"
    create_repository(root / "git" / "latency.git", work)
    url = server.url("latency.git")
    app_info = await client.resource_for("argoproj.io/v1alpha1", "Application")
    doc = application("latency", url, "apps/payment-service/production", "latency")
    await client.apply(app_info, doc, force=True)
    deploy_info = await client.resource_for("apps/v1", "Deployment")
    while not await all_synced(client, {"latency"}):
        await asyncio.sleep(0.1)
    samples = []
    kustomization = "apps/payment-service/production/kustomization.yaml"
    for i in range(commits):
        overlay = yaml.safe_load((work / kustomization).read_text())
        tag = f"9.0.{i}"
        overlay["images"][0]["newTag"] = tag
        await asyncio.to_thread(
            commit_and_push, work, f"bump {tag}", {kustomization: yaml.safe_dump(overlay)}
        )
        started = time.perf_counter()
        await controller.on_webhook([url])
        while True:
            live = await client.get(deploy_info, "payment-service", "latency")
            if live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f":{tag}"):
                break
            await asyncio.sleep(0.01)
        samples.append(time.perf_counter() - started)
    return samples


async def self_heal_latency(client: ClusterClient, samples: int) -> list[float]:
    """Scale the latency app's Deployment behind the controller's back; time the revert."""
    info = await client.resource_for("apps/v1", "Deployment")
    out = []
    for i in range(samples):
        live = await client.get(info, "payment-service", "latency")
        desired = live["spec"]["replicas"]
        await client.patch(
            info,
            "payment-service",
            {"spec": {"replicas": desired + 3 + i}},
            "latency",
            field_manager="kubectl-scale",
        )
        started = time.perf_counter()
        while (await client.get(info, "payment-service", "latency"))["spec"]["replicas"] != desired:
            await asyncio.sleep(0.01)
        out.append(time.perf_counter() - started)
        # drift that keeps coming back is healed with a growing delay (as Argo CD's backoff);
        # spacing the samples measures the first-revert latency every time
        await asyncio.sleep(11.0)
    return out


async def production_heal_latency(
    controller: Controller, client: ClusterClient, root: Path, url: str, samples: int
) -> list[float]:
    """The latency app in production mode, a commit waiting: time each scale's revert."""
    app_info = await client.resource_for("argoproj.io/v1alpha1", "Application")
    policy = {"spec": {"syncPolicy": {"automated": {"enabled": False, "selfHeal": True}}}}
    await client.patch(app_info, "latency", policy, "argocd", field_manager="bench")
    work = root / "latency-work"
    kustomization = "apps/payment-service/production/kustomization.yaml"
    overlay = yaml.safe_load((work / kustomization).read_text())
    synced_tag = overlay["images"][0]["newTag"]
    overlay["images"][0]["newTag"] = "9.9.9"
    await asyncio.to_thread(
        commit_and_push, work, "waits for a person", {kustomization: yaml.safe_dump(overlay)}
    )
    await controller.on_webhook([url])
    while ((await client.get(app_info, "latency", "argocd")).get("status") or {}).get(
        "sync", {}
    ).get("status") != "OutOfSync":
        await asyncio.sleep(0.05)
    out = await self_heal_latency(client, samples)
    live = await client.get(
        await client.resource_for("apps/v1", "Deployment"), "payment-service", "latency"
    )
    image = live["spec"]["template"]["spec"]["containers"][0]["image"]
    if not image.endswith(f":{synced_tag}"):
        raise SystemExit(f"production mode deployed the waiting commit: {image}")
    return out


async def main(apps: int, idle: float, commits: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        (tmp / "cluster").mkdir()
        cluster = ClusterProcess.start(tmp / "cluster", ["--pod-ready-delay", "0.2"])
        server = GitHTTPServer(tmp / "git").start()
        try:
            settings = ClientSettings(qps=1000, burst=2000)
            client = ClusterClient.from_kubeconfig(str(cluster.kubeconfig), settings=settings)
            config = ControllerConfig(
                reconcile_interval=30.0,
                leader_election=False,
                cache_dir=tmp / "cache",
                workers=16,
                client_settings=settings,
            )
            controller = Controller(client, config)
            await controller.start()
            row("figure (controller client QPS 1000 / burst 2000; git poll 30 s)", "value")

            samples = await webhook_latency(controller, client, tmp, server, commits)
            samples.sort()
            row(
                f"push-to-synced via webhook, p50 over {commits} commits",
                f"{statistics.median(samples) * 1000:8.0f} ms",
            )
            row(
                f"push-to-synced via webhook, p95 over {commits} commits",
                f"{samples[int(len(samples) * 0.95) - 1] * 1000:8.0f} ms",
            )

            heal = await self_heal_latency(client, 5)
            heal.sort()
            row(
                "selfHeal: kubectl-style scale to replicas reverted, p50 of 5",
                f"{statistics.median(heal) * 1000:8.0f} ms",
            )
            row(
                "selfHeal: kubectl-style scale to replicas reverted, max of 5",
                f"{heal[-1] * 1000:8.0f} ms",
            )

            heal = await production_heal_latency(
                controller, client, tmp, server.url("latency.git"), 3
            )
            heal.sort()
            row(
                "production mode, a commit waiting: scale reverted to synced, max of 3",
                f"{heal[-1] * 1000:8.0f} ms",
            )

            # cold start: N apps spread over 10 repositories, one directory app each
            per_repo = max(1, apps // REPOS)
            urls = []
            for r in range(REPOS):
                files: dict[str, str] = {}
                for i in range(per_repo):
                    files.update(app_files(r * per_repo + i))
                create_repository(tmp / "git" / f"fleet-{r}.git", tmp / f"fleet-{r}", files)
                urls.append(server.url(f"fleet-{r}.git"))
            app_info = await client.resource_for("argoproj.io/v1alpha1", "Application")
            names = set()
            started = time.perf_counter()
            for r, url in enumerate(urls):
                for i in range(per_repo):
                    n = r * per_repo + i
                    name = f"app-{n:04d}"
                    names.add(name)
                    await client.apply(
                        app_info,
                        application(name, url, f"apps/{name}", f"fleet-{n % 20}"),
                        force=True,
                    )
            while not await all_synced(client, names):
                await asyncio.sleep(0.5)
            cold = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            row(
                f"{len(names)} apps x 10 resources: cold start to all Synced+Healthy",
                f"{cold:8.1f} s",
            )
            row("  apps per second", f"{len(names) / cold:8.1f} /s")
            row("  controller peak RSS (this process, incl. git server thread)", f"{peak:8.0f} MiB")

            # idle: nothing changes; count what the controller does
            await asyncio.sleep(2.0)
            before_req = dict(client.stats.by_verb)
            before_git = (
                sum(r.ref_checks for r in controller.metrics().repositories),
                sum(r.fetches for r in controller.metrics().repositories),
            )
            before_cpu = time.process_time()
            before_writes = controller.metrics().counters["status_writes"]
            await asyncio.sleep(idle)
            after_req = dict(client.stats.by_verb)
            requests = {
                k: after_req.get(k, 0) - before_req.get(k, 0)
                for k in after_req
                if after_req.get(k, 0) != before_req.get(k, 0)
            }
            repositories = controller.metrics().repositories
            ref_checks = sum(r.ref_checks for r in repositories) - before_git[0]
            fetches = sum(r.fetches for r in repositories) - before_git[1]
            writes = sum(
                v
                for k, v in requests.items()
                if k in ("create", "apply", "patch", "delete", "update")
            )
            row(f"idle {idle:.0f} s: API requests by verb", str(requests or "none"))
            row(f"idle {idle:.0f} s: API writes (target 0)", str(writes))
            row(
                f"idle {idle:.0f} s: status writes",
                str(controller.metrics().counters["status_writes"] - before_writes),
            )
            row(
                f"idle {idle:.0f} s: git ref checks / fetches ({len(urls) + 1} repos, poll every 30 s)",
                f"{ref_checks} / {fetches}",
            )
            row(
                f"idle {idle:.0f} s: controller CPU seconds",
                f"{time.process_time() - before_cpu:8.2f}",
            )
            await controller.stop()
            await client.aclose()
        finally:
            server.stop()
            cluster.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=60.0)
    parser.add_argument("--commits", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="100 apps, 15 s idle, 5 commits")
    args = parser.parse_args()
    if args.quick:
        args.apps, args.idle, args.commits = 100, 15.0, 5
    asyncio.run(main(args.apps, args.idle, args.commits))
