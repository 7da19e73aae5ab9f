"""Benchmark of pull-request previews (issue 20): a pull request touching 1 of N apps, from the
webhook to the comment on the pull request, beside what a reviewer does by hand today.

The fleet of bench/controller.py (N apps x 10 resources over 10 repositories, here under the
owner ``acme``) runs on a fresh local cluster under ``python -m tether controller`` with its
DEFAULT flags (plus only what points it at the cluster). Once every app is Synced+Healthy the
fake GitHub API (tether.githost.fake, GitHub's documented REST shapes) is pointed at through
``argocd-cm`` and ``tether-secret`` as a user configures it, and for each round:

1. a branch changing one app's Deployment image is pushed to the loopback git server, a pull
   request opened on the fake host, and its signed ``pull_request`` webhook POSTed to the
   controller's ``/api/webhook``;
2. the clock runs from the POST until the comment is on the pull request, and until the
   ``tether/preview`` status is ``success`` on the head commit.

Baseline in the same run: ``kubectl diff --server-side`` of the same app's changed objects
against the same cluster (one pinned kubectl process), the manual way to see that diff.

    flock /tmp/tether-bench.lock python bench/previews.py [--apps 1000] [--rounds 5]
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

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
import yaml  # noqa: E402
from _fleet import CONTROL_NAMESPACE, DUMPER, Fleet, app_name, app_namespace, app_objects  # noqa: E402
from _harness import WEBHOOK_SECRET, Table  # noqa: E402
from controller import DEFAULT, spawn_and_wait, start_run, stop_run  # noqa: E402

from tether.demo.repo import push_branch  # noqa: E402
from tether.githost.fake import FakeGitHost  # noqa: E402
from tether.source.gitserver import GitHTTPServer  # noqa: E402
from tether.tools import find_tool  # noqa: E402

TOKEN = "ghp_bench_preview_token_0123456789"
OWNER = "acme"
BASELINE = "kubectl diff --server-side"
COMMENT_ROW = "webhook → comment on the pull request (goal < 2 s)"
STATUS_ROW = "webhook → tether/preview status success"


def bumped(index: int, tag: str) -> str:
    """The app's manifests with its Deployment's image at ``tag``."""
    docs = app_objects(index)
    docs[0]["spec"]["template"]["spec"]["containers"][0]["image"] = f"nginx:{tag}"
    return yaml.dump_all(docs, Dumper=DUMPER)


async def configure(run_client: object, forge: FakeGitHost) -> None:
    """The token in ``tether-secret`` and the API's address in ``argocd-cm``."""
    from tether.cluster.client import ClusterClient

    assert isinstance(run_client, ClusterClient)
    secret = await run_client.resource_for("v1", "Secret")
    await run_client.apply(
        secret,
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {"name": "tether-secret", "namespace": CONTROL_NAMESPACE},
         "stringData": {"preview.github.token": TOKEN}},
        field_manager="bench-preview", force=True,
    )  # fmt: skip
    configmap = await run_client.resource_for("v1", "ConfigMap")
    await run_client.apply(
        configmap,
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "argocd-cm", "namespace": CONTROL_NAMESPACE},
         "data": {"preview.github.apiURL": forge.github_api_url,
                  "url": "https://cd.example.com"}},
        field_manager="bench-preview", force=True,
    )  # fmt: skip


async def wait_for(check: object, timeout: float, what: str) -> float:
    """Seconds until ``check()`` is true, polled every 5 ms."""
    assert callable(check)
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.005)
    return time.perf_counter() - started


async def one_round(
    http: httpx.AsyncClient, api_url: str, fleet: Fleet, forge: FakeGitHost, round_: int
) -> tuple[float, float, dict[str, object]]:
    index = round_  # apps 0..rounds-1 all live in repository 0
    repo = fleet.repo_path(0)
    path = f"apps/{app_name(index)}/manifests.yaml"
    branch = f"preview-{round_}"
    change = {path: bumped(index, f"1.{28 + round_}")}
    head = await asyncio.to_thread(push_branch, fleet.root / "fleet-0", branch, change)
    pull = forge.forge.open_pull(repo, branch, "main", f"Bump {app_name(index)}", "", "dev")
    headers, body = forge.pull_request_webhook(repo, pull.number, "opened", WEBHOOK_SECRET)
    started = time.perf_counter()
    answer = await http.post(f"{api_url}/api/webhook", content=body, headers=headers)
    answer.raise_for_status()
    await wait_for(lambda: forge.comments(repo, pull.number), 60, "the comment")
    elapsed_comment = time.perf_counter() - started
    await wait_for(
        lambda: any(
            s.context == "tether/preview" and s.state == "success"
            for s in forge.statuses(repo, head)
        ),
        60,
        "the status",
    )
    elapsed_status = time.perf_counter() - started
    text = forge.comments(repo, pull.number)[0]
    facts: dict[str, object] = {
        "following": answer.json()["previewing"],
        "image_shown": f"nginx:1.{28 + round_}" in text,
        "apps_in_comment": text.count("| [`app-"),
    }
    return elapsed_comment, elapsed_status, facts


def kubectl_diff(kubeconfig: Path, folder: Path, index: int, tag: str) -> float:
    """``kubectl diff --server-side`` of the app's changed objects; seconds."""
    docs = yaml.safe_load_all(bumped(index, tag))
    placed = []
    for doc in docs:
        doc["metadata"]["namespace"] = app_namespace(index)
        placed.append(doc)
    path = folder / f"diff-{index}.yaml"
    path.write_text(yaml.dump_all(placed, Dumper=DUMPER))
    started = time.perf_counter()
    done = subprocess.run(
        [find_tool("kubectl"), "--kubeconfig", str(kubeconfig), "diff", "--server-side",
         "--field-manager", "tether", "-f", str(path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1) or f"nginx:{tag}" not in done.stdout:
        raise SystemExit(f"kubectl diff failed ({done.returncode}): {done.stderr[-400:]}")
    return elapsed


def ms(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values) * 1000:.0f} ms, max {max(values) * 1000:.0f} ms "
        f"({len(values)} pull requests)"
    )


async def main(apps: int, rounds: int) -> None:
    table = Table((DEFAULT, BASELINE))
    with tempfile.TemporaryDirectory(prefix="tether-bench-previews-") as tmp_text:
        tmp = Path(tmp_text)
        server = GitHTTPServer(tmp / "git").start()
        forge = FakeGitHost(server, {TOKEN: "tether-bot"}).start()
        try:
            fleet = Fleet(tmp, server, max(1, apps // 10), owner=OWNER)
            await asyncio.to_thread(fleet.create)
            print(f"{fleet.size} apps x 10 resources, {fleet.per_repo} per repository", flush=True)
            run = await start_run(DEFAULT, [], fleet, tmp / "run")
            try:
                await configure(run.client, forge)
                cold = await spawn_and_wait(table, run, fleet)
                if not cold.finished:
                    raise SystemExit("the fleet did not become Synced+Healthy")
                comments, statuses, checks = [], [], []
                async with httpx.AsyncClient(timeout=60) as http:
                    for round_ in range(rounds):
                        comment, status, facts = await one_round(
                            http, run.controller.api_url, fleet, forge, round_
                        )
                        comments.append(comment)
                        statuses.append(status)
                        checks.append(facts)
                        shown = {**facts, "following": len(facts["following"])}  # type: ignore[arg-type]
                        print(f"  round {round_}: {comment * 1000:.0f} ms {shown}", flush=True)
                diffs = [
                    await asyncio.to_thread(
                        kubectl_diff, run.cluster.kubeconfig, tmp, r, f"1.{28 + r}"
                    )
                    for r in range(rounds)
                ]
            finally:
                await stop_run(run)
        finally:
            forge.stop()
            server.stop()
    following = {len(c["following"]) for c in checks}  # type: ignore[arg-type]
    table.put(COMMENT_ROW, DEFAULT, ms(comments))
    table.put(STATUS_ROW, DEFAULT, ms(statuses))
    table.put(
        "  apps following the base branch / previewed",
        DEFAULT,
        f"{'/'.join(str(f) for f in sorted(following))} / "
        f"{max(int(c['apps_in_comment']) for c in checks)}",  # type: ignore[call-overload]
    )
    table.put(
        "  image change shown in every comment", DEFAULT, str(all(c["image_shown"] for c in checks))
    )
    table.put(COMMENT_ROW, BASELINE, ms(diffs) + " (the diff alone, by hand)")
    table.note(f"{DEFAULT}: python -m tether controller (default flags), {fleet.size} apps")
    table.note(f"{BASELINE}: one kubectl process per pull request, the same objects, same cluster")
    table.print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    asyncio.run(main(options.apps, options.rounds))
