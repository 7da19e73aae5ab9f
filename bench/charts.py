"""Charts from Helm repositories: the podinfo chart of the corpus packaged by the pinned helm,
indexed by `helm repo index`, served by a plain static file server on loopback (as GitHub Pages
or a bucket serve chart repositories: `Last-Modified`, `If-Modified-Since`).

Figures, each beside its baseline in the same run:

1. cold: resolve the version, download and check the archive, unpack, render (the controller's
   own parts), against `helm template --repo URL --version V` doing the same;
2. cached: a repeated render of the same version (the render cache hit), goal < 1 ms;
3. the poll round of 1,000 apps on 10 repositories with nothing new (every index stale, so each
   is asked again): goal < 1 s and no archive downloaded, against `helm repo update` of the same
   10 repositories (which downloads every index in full).

Run: .venv/bin/python bench/charts.py [--apps 1000] [--repos 10]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tether.charts import ChartSource  # noqa: E402
from tether.controller.chartsources import ChartSources, render_revision  # noqa: E402
from tether.controller.models import AppSource  # noqa: E402
from tether.render import RenderCache, render  # noqa: E402
from tether.tools import find_tool  # noqa: E402

CHART = ROOT.parent / "shared" / "corpora" / "podinfo" / "charts" / "podinfo"
VERSIONS = ("6.5.0", "6.6.0", "6.7.0")


class _Handler(SimpleHTTPRequestHandler):
    """Static files, counting what was asked and what was answered."""

    counts: Counter[str]

    def log_message(self, format: str, *args: Any) -> None:
        return

    def send_response(self, code: int, message: str | None = None) -> None:
        kind = "archive" if self.path.endswith(".tgz") else "index"
        self.counts[f"{kind} {code}"] += 1
        super().send_response(code, message)


def serve(root: Path, counts: Counter[str]) -> tuple[ThreadingHTTPServer, str]:
    handler = functools.partial(_Handler, directory=str(root))
    _Handler.counts = counts
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def helm(*args: str, home: Path) -> str:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    env.update({f"HELM_{k}_HOME": str(home / k.lower()) for k in ("CACHE", "CONFIG", "DATA")})
    done = subprocess.run(
        [find_tool("helm"), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout


def package(into: Path, home: Path) -> None:
    """The corpus chart at each of VERSIONS, packaged by helm."""
    into.mkdir(parents=True)
    for version in VERSIONS:
        copy = into.parent / f"src-{version}" / "podinfo"
        shutil.copytree(CHART, copy)
        text = (copy / "Chart.yaml").read_text()
        lines = [
            f"version: {version}" if ln.startswith("version:") else ln for ln in text.splitlines()
        ]
        (copy / "Chart.yaml").write_text("\n".join(lines) + "\n")
        helm("package", str(copy), "-d", str(into), home=home)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:9.2f} ms"


async def cold_and_cached(base: Path, url: str, home: Path, rounds: int) -> None:
    source = AppSource(repo_url=url, chart="podinfo", target_revision="^6.6", raw={})
    colds, baselines = [], []
    for i in range(rounds):
        charts = ChartSources(base / f"cold-{i}", lambda _u: None)
        start = time.perf_counter()
        resolved = await charts.resolve(source)
        tree = await charts.tree(source, resolved)
        await asyncio.to_thread(render, tree, "podinfo", {}, app_name="podinfo")
        colds.append(time.perf_counter() - start)
        await charts.aclose()
        start = time.perf_counter()
        helm("template", "podinfo", "podinfo", "--repo", url, "--version", resolved.version,
             home=home / f"cold-{i}")  # fmt: skip
        baselines.append(time.perf_counter() - start)
    print(f"chart {resolved.name} {resolved.version} (range ^6.6 of {', '.join(VERSIONS)})")
    print(f"  cold: resolve + fetch + check + unpack + render  {ms(statistics.median(colds))}"
          f"   baseline helm template --repo --version  {ms(statistics.median(baselines))}")  # fmt: skip

    cache = RenderCache()
    args = (tree, "podinfo", {})
    revision = render_revision(resolved)
    options = {"app_name": "podinfo", "repo_url": url, "revision": revision, "cache": cache}
    render(*args, **options)  # type: ignore[arg-type]
    hits = []
    for _ in range(200):
        start = time.perf_counter()
        render(*args, **options)  # type: ignore[arg-type]
        hits.append(time.perf_counter() - start)
    print(f"  cached render (hit), median of 200              {ms(statistics.median(hits))}"
          f"   goal < 1 ms")  # fmt: skip


async def poll_round(
    base: Path, urls: list[str], apps: int, counts: Counter[str], home: Path
) -> None:
    now = [0.0]
    chart_source = ChartSource(base / "poll" / "store", clock=lambda: now[0])
    charts = ChartSources(base / "poll", lambda _u: None, source=chart_source)
    sources = [
        AppSource(repo_url=urls[i % len(urls)], chart="podinfo", target_revision="^6", raw={})
        for i in range(apps)
    ]
    await asyncio.gather(*(charts.resolve(s) for s in sources))  # the first round: cold
    counts.clear()
    now[0] += 3600.0  # every index older than its refresh age: each repository is asked again
    start = time.perf_counter()
    found = await asyncio.gather(*(charts.resolve(s) for s in sources))
    took = time.perf_counter() - start
    asked = dict(sorted(counts.items()))
    await charts.aclose()
    for i, url in enumerate(urls):
        helm("repo", "add", f"r{i}", url, home=home / "poll")
    counts.clear()
    start = time.perf_counter()
    helm("repo", "update", home=home / "poll")
    helm_took = time.perf_counter() - start
    print(f"poll round: {apps} apps on {len(urls)} repositories, nothing new")
    print(f"  Tether  {ms(took)}   requests {asked}   versions {sorted({f.version for f in found})}"
          f"   goal < 1 s, no archive")  # fmt: skip
    print(f"  baseline helm repo update  {ms(helm_took)}   requests {dict(sorted(counts.items()))}")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--repos", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        counts: Counter[str] = Counter()
        home = base / "helm-home"
        package(base / "packaged", home)
        servers, urls = [], []
        for i in range(args.repos):
            root = base / f"repo-{i}"
            shutil.copytree(base / "packaged", root)
            server, url = serve(root, counts)
            helm("repo", "index", str(root), "--url", url, home=home)
            servers.append(server)
            urls.append(url)
        await cold_and_cached(base, urls[0], home, args.rounds)
        await poll_round(base, urls, args.apps, counts, home)
        for server in servers:
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
