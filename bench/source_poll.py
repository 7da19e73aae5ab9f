"""Cost of a poll round over 1,000 applications on 10 repositories.

Serves 10 repositories with `git http-backend` behind Basic auth on loopback, registers 100
applications per repository (each at its own path), then measures:
  1. a poll round with no change (target: 10 ref checks, 0 fetches, 0 renders, under 1 s);
  2. a poll round after one commit touching one application's path (target: 1 fetch, 1 app);
  3. with an 11th repository on a socket that accepts and never answers: the latency of a
     webhook-style poll of one healthy repository and the longest event-loop stall while that
     repository hangs (target: a normal poll, no stall), and the full round's time (bounded by
     the ls-remote limit, 5 s here).

Run: .venv/bin/python bench/source_poll.py
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tether.source import AppSource, GitTimeouts, MirrorCache, RepoCredentials, SourcePoller
from tether.source.gitserver import GitHTTPServer

REPOSITORIES = 10
APPS_PER_REPOSITORY = 100
USER, PASSWORD = "bench", "bench-password"
TARGET_SECONDS = 1.0
HANG_LIMIT = GitTimeouts(ls_remote=5.0)


def git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.com",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def make_repository(served: Path, scratch: Path, index: int) -> Path:
    """A bare repository with 100 Kustomize applications sharing a base; returns the clone."""
    name = f"repo{index}.git"
    git(served, "init", "-q", "--bare", "--initial-branch=main", name)
    work = scratch / f"repo{index}"
    git(scratch, "clone", "-q", str(served / name), str(work))
    git(work, "checkout", "-q", "-b", "main")
    base = work / "base"
    base.mkdir()
    (base / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
    (base / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: base}\n")
    for app in range(APPS_PER_REPOSITORY):
        folder = work / "apps" / f"app{app:03d}"
        folder.mkdir(parents=True)
        (folder / "kustomization.yaml").write_text(
            f"resources:\n- ../../base\n- deploy.yaml\nnamePrefix: app{app:03d}-\n"
        )
        (folder / "deploy.yaml").write_text(f"kind: Deployment\nmetadata: {{name: d{app}}}\n")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "applications")
    git(work, "push", "-q", "origin", "HEAD:refs/heads/main")
    return work


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tether-bench-") as temp:
        root = Path(temp)
        served, scratch = root / "served", root / "scratch"
        served.mkdir()
        scratch.mkdir()
        clones = [make_repository(served, scratch, i) for i in range(REPOSITORIES)]
        with GitHTTPServer(served, (USER, PASSWORD)) as server:
            credentials = RepoCredentials(url=server.url(""), username=USER, password=PASSWORD)
            poller = SourcePoller(
                MirrorCache(root / "cache", timeouts=HANG_LIMIT), lambda url: credentials
            )
            for repo in range(REPOSITORIES):
                for app in range(APPS_PER_REPOSITORY):
                    poller.register(
                        AppSource(
                            f"r{repo}-app{app:03d}",
                            server.url(f"repo{repo}.git"),
                            "main",
                            f"apps/app{app:03d}",
                        )
                    )
            apps = REPOSITORIES * APPS_PER_REPOSITORY

            cold = poller.poll()
            print(
                f"cold round (clone):     {cold.ref_checks:>3} ref checks  {cold.fetches:>3} "
                f"fetches  {len(cold.changed):>4} apps to render  {cold.seconds * 1000:7.1f} ms"
            )

            idle = [poller.poll() for _ in range(5)]
            best = min(idle, key=lambda r: r.seconds)
            worst = max(r.seconds for r in idle)
            print(
                f"no-change round:        {best.ref_checks:>3} ref checks  {best.fetches:>3} "
                f"fetches  {len(best.changed):>4} apps to render  {best.seconds * 1000:7.1f} ms "
                f"(worst of 5: {worst * 1000:.1f} ms; {apps} apps, target < "
                f"{TARGET_SECONDS * 1000:.0f} ms, 10 ref checks, 0 fetches, 0 renders)"
            )

            target = clones[3] / "apps" / "app042" / "deploy.yaml"
            target.write_text(target.read_text() + "# changed\n")
            git(clones[3], "commit", "-q", "-am", "change app042")
            git(clones[3], "push", "-q", "origin", "HEAD:refs/heads/main")
            started = time.perf_counter()
            moved = poller.poll()
            print(
                f"one-app commit round:   {moved.ref_checks:>3} ref checks  {moved.fetches:>3} "
                f"fetches  {len(moved.changed):>4} apps to render  "
                f"{(time.perf_counter() - started) * 1000:7.1f} ms  (changed: "
                f"{', '.join(moved.changed)}; target: 1 fetch, 1 app)"
            )

            base = clones[5] / "base" / "cm.yaml"
            base.write_text(base.read_text() + "# shared base changed\n")
            git(clones[5], "commit", "-q", "-am", "change base")
            git(clones[5], "push", "-q", "origin", "HEAD:refs/heads/main")
            shared = poller.poll()
            print(
                f"shared-base commit:     {shared.ref_checks:>3} ref checks  "
                f"{shared.fetches:>3} fetches  {len(shared.changed):>4} apps to render  "
                f"{shared.seconds * 1000:7.1f} ms  (all {APPS_PER_REPOSITORY} apps of that "
                "repository use the base)"
            )
            stall = asyncio.run(during_a_hang(poller, server.url("repo1.git")))

            ok = (
                stall
                and best.ref_checks == REPOSITORIES
                and best.fetches == 0
                and not best.changed
                and best.seconds < TARGET_SECONDS
                and moved.fetches == 1
                and moved.changed == ["r3-app042"]
            )
            print("targets met" if ok else "TARGETS MISSED")


async def during_a_hang(poller: SourcePoller, healthy_url: str) -> bool:
    """Poll everything while one repository hangs; meanwhile time a poll of a healthy one and
    the event loop's longest stall. True when the healthy poll ended before the hang did."""
    # A listening socket nobody accepts from: the kernel completes the handshake, then silence.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        hung_url = f"http://127.0.0.1:{silent.getsockname()[1]}/hung.git"
        poller.register(AppSource("hung", hung_url, "main", ""))
        stalls: list[float] = []

        async def heartbeat() -> None:
            while True:
                before = time.perf_counter()
                await asyncio.sleep(0.001)
                stalls.append(time.perf_counter() - before)

        beat = asyncio.create_task(heartbeat())
        started = time.perf_counter()
        round_with_hang = asyncio.create_task(poller.poll_async())
        await asyncio.sleep(0.2)  # let git connect to the silent socket
        healthy_started = time.perf_counter()
        await poller.poll_async([healthy_url])
        healthy_ms = (time.perf_counter() - healthy_started) * 1000
        healthy_first = not round_with_hang.done()
        result = await round_with_hang
        beat.cancel()
        poller.unregister("hung")
    print(
        f"hanging repository:     webhook poll of a healthy one {healthy_ms:7.1f} ms while it "
        f"hangs; longest event-loop stall {max(stalls) * 1000:.1f} ms; full round "
        f"{time.perf_counter() - started:.1f} s (limit {HANG_LIMIT.ls_remote:g} s): "
        f"{result.apps['hung'].error}"
    )
    return healthy_first


if __name__ == "__main__":
    main()
