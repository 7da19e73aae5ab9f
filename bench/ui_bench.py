"""Benchmark of the web UI: first render of the applications page with 1,000 Applications.

The whole stack runs as in `tether up`: the local cluster in its own process, a git server, the
controller and the API server here. 1,000 lightweight Applications (one ConfigMap each, spread
over 10 repositories) are created and synced, so every card carries a real status. Chromium
(Playwright, system binary) then opens /applications several times in a fresh tab; the figure is
`window.__tetherRendered`, which app.js sets once the frame holding the list has been drawn,
in milliseconds since the navigation started (so it includes the page, its modules, the API
call for the list and the rendering).

Reference point: the issue's target is < 1 s; Argo CD users report minutes at 4,000 apps.

    python bench/ui_bench.py [--apps 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.async_api import async_playwright  # noqa: E402

from tether.cluster.client import ClusterClient  # noqa: E402
from tether.cluster.config import ClientSettings  # noqa: E402
from tether.controller.controller import Controller, ControllerConfig  # noqa: E402
from tether.demo.repo import create_repository  # noqa: E402
from tether.localcluster.cluster import ClusterProcess  # noqa: E402
from tether.names import APPLICATION, ARGO_API_VERSION  # noqa: E402
from tether.server.app import run_server  # noqa: E402
from tether.source.gitserver import GitHTTPServer  # noqa: E402

REPOS = 10
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def row(label: str, value: str) -> None:
    print(f"{label:66} {value:>14}", flush=True)


def app_files(name: str) -> dict[str, str]:
    """One ConfigMap: enough for a real status, cheap enough to sync 1,000 of them quickly."""
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-config"},
        "data": {"owner": name},
    }
    return {f"apps/{name}/config.yaml": yaml.safe_dump(doc)}


def application(name: str, repo_url: str, namespace: str, project: str) -> dict[str, Any]:
    return {
        "apiVersion": ARGO_API_VERSION,
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": project,
            "source": {"repoURL": repo_url, "targetRevision": "HEAD", "path": f"apps/{name}"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": namespace},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true"],
            },
        },
    }


async def synced_count(client: ClusterClient) -> int:
    info = await client.resource_for(ARGO_API_VERSION, APPLICATION)
    items = (await client.list(info, "argocd")).items
    return sum(
        1 for a in items if (a.get("status") or {}).get("sync", {}).get("status") == "Synced"
    )


async def applications_page_first_render(
    url: str, password: str, runs: int, expected: int
) -> list[dict[str, float]]:
    """Opens ``url``/applications ``runs`` times in fresh tabs of one signed-in Chromium context.

    Each sample: ``rendered`` (ms from navigation start to the list drawn), ``api`` (ms the
    list request took, from the Resource Timing API) and ``cards`` (how many were rendered).
    Usable from bench/server.py as well.
    """
    samples = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1440, "height": 900})
        answer = await context.request.post(
            f"{url}/api/v1/session", data={"username": "admin", "password": password}
        )
        if not answer.ok:
            raise RuntimeError(f"sign-in failed: {answer.status} {await answer.text()}")
        for _ in range(runs):
            page = await context.new_page()
            await page.goto(f"{url}/applications")
            await page.wait_for_function("window.__tetherRendered !== undefined", timeout=60_000)
            sample = await page.evaluate(
                """() => {
                  const list = performance.getEntriesByType('resource')
                    .find((e) => new URL(e.name).pathname === '/api/v1/applications');
                  return {
                    rendered: window.__tetherRendered,
                    api: list ? list.responseEnd - list.startTime : NaN,
                    cards: document.querySelectorAll('.app-card').length,
                  };
                }"""
            )
            if sample["cards"] != expected:
                raise RuntimeError(f"rendered {sample['cards']} cards, expected {expected}")
            samples.append(sample)
            await page.close()
        await browser.close()
    return samples


async def main(apps: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        (tmp / "cluster").mkdir()
        cluster = ClusterProcess.start(tmp / "cluster", ["--pod-ready-delay", "0.2"])
        git = GitHTTPServer(tmp / "git").start()
        try:
            settings = ClientSettings(qps=1000, burst=2000)
            client = ClusterClient.from_kubeconfig(str(cluster.kubeconfig), settings=settings)
            config = ControllerConfig(
                reconcile_interval=60.0,
                leader_election=False,
                cache_dir=tmp / "cache",
                workers=16,
                client_settings=settings,
            )
            controller = Controller(client, config)
            await controller.start()
            server = await run_server(controller, listen="127.0.0.1:0")
            assert server.admin_password is not None

            per_repo = max(1, apps // REPOS)
            app_info = await client.resource_for(ARGO_API_VERSION, APPLICATION)
            started = time.perf_counter()
            total = 0
            for r in range(REPOS):
                names = [f"app-{r * per_repo + i:04d}" for i in range(per_repo)]
                files: dict[str, str] = {}
                for name in names:
                    files.update(app_files(name))
                create_repository(tmp / "git" / f"fleet-{r}.git", tmp / f"fleet-{r}", files)
                repo_url = git.url(f"fleet-{r}.git")
                for i, name in enumerate(names):
                    doc = application(name, repo_url, f"ui-bench-{i % 10}", "default")
                    await client.apply(app_info, doc, force=True)
                total += len(names)
            deadline = time.monotonic() + 600
            while (synced := await synced_count(client)) < total and time.monotonic() < deadline:
                await asyncio.sleep(1.0)
            row(
                f"{total} applications created and synced (set-up, not the figure)",
                f"{time.perf_counter() - started:8.1f} s",
            )
            if synced < total:
                row("  applications still not Synced after 10 min", str(total - synced))

            samples = await applications_page_first_render(
                server.url, server.admin_password, runs, total
            )
            rendered = sorted(s["rendered"] for s in samples)
            api = sorted(s["api"] for s in samples)
            row(
                f"applications page, {total} apps: first render, first tab (cold)",
                f"{samples[0]['rendered']:8.0f} ms",
            )
            row(
                f"applications page, {total} apps: first render, median of {runs}",
                f"{statistics.median(rendered):8.0f} ms",
            )
            row(
                f"applications page, {total} apps: first render, worst of {runs}",
                f"{rendered[-1]:8.0f} ms",
            )
            row(
                "  of which GET /api/v1/applications (median, in the browser)",
                f"{statistics.median(api):8.0f} ms",
            )
            row("  target (issue 7)", "< 1000 ms")

            await server.stop()
            await controller.stop()
            await client.aclose()
        finally:
            git.stop()
            cluster.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.apps, args.runs))
