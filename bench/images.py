"""Benchmark of image updates through pull requests (issue 18), each figure beside its baseline.

1. Registry event -> pull request: ``python -m tether controller`` as its own process with the
   DEFAULT flags (only --kubeconfig, --cache-dir, --listen and --metrics-listen added, as in
   bench/controller.py), its ``/api/webhook`` as the notification endpoint of Debian's
   docker-registry (``Authorization: Bearer <secret>``, the secret in ``tether-secret``), one
   ImageRepository (interval 5m), ImagePolicy (semver 1.x) and ImageUpdateAutomation with the
   pull-request annotations against the fake GitHub over the loopback git server, and an
   Application deploying the overlay. N tags (1.5.0, 1.5.1, ...) are pushed one at a time; the
   clock runs from the answer to the manifest PUT to the moment the fake host holds an open
   pull request whose body names the tag (its open/edit hooked, so no polling delay). The
   first event opens the pull request, the others update it. Where the time goes: when the
   bench's watches saw the scan's and the policy's statuses, when the git server answered the
   branch's push. Baseline: polling alone (computed: a push at a random moment waits for the
   next scan, uniform over the interval; at 1m, and 5m as in ``flux create image repository``'s
   examples), and the same git work by hand in the same run (``git clone --depth 1``, sed,
   commit, push to a branch of its own; and two ``kubectl kustomize`` runs, what the body's
   rendered diff needs). The bench waits ``--pause`` seconds after each pull request.
2. Scan of 1,000 tags: one repository holding 1,000 tags (pushed once, before timing);
   ``RegistryClient.list_tags`` (one client kept, as the controller keeps it; and a new client
   each time) and ``reflector.scan`` (listing, Flux's order, the status), p50 of several runs,
   beside ``skopeo list-tags --tls-verify=false`` (Debian's skopeo) on the same repository.
3. Tag listing of 100 repositories of 10 tags: Tether's client one by one, 2 at once (the
   controller's image workers) and 16 at once, beside 100 ``skopeo list-tags`` runs one by one
   and 2 at once. Runs of both sides alternate (the machine's load drifts).

The controller and the cluster are stopped before parts 2 and 3, so the listings run alone.

    flock /tmp/tether-bench.lock .venv/bin/python bench/images.py [--events 20] [--tags 1000]
        [--repos 100] [--quick] [--skip-latency] [--skip-listing]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    BenchError,
    ControllerProcess,
    ObjectWatch,
    Table,
    free_port,
)
from _images import (  # noqa: E402
    BRANCH,
    BRANCH_REF,
    IMAGE_REPO,
    NOTIFY_SECRET,
    NS,
    OVERLAY,
    REPO,
    REPOSITORY_INTERVAL,
    TOKEN,
    HandTimes,
    Moments,
    Pusher,
    apply_all,
    by_hand,
    diagnosis,
    first_seen,
    machine_facts,
    ms,
    notifications,
    percentile,
    secret,
    seed_repository,
    skopeo_list_tags,
)

from tether.cluster.client import ClusterClient  # noqa: E402
from tether.controller.control import bootstrap  # noqa: E402
from tether.controller.images import COALESCE_SECONDS  # noqa: E402
from tether.controller.status import read_status  # noqa: E402
from tether.githost.fake import FakeGitHost  # noqa: E402
from tether.images.reflector import scan  # noqa: E402
from tether.images.registry import RegistryClient  # noqa: E402
from tether.images.testing import (  # noqa: E402
    docker_registry,
    payment_service_files,
    payment_service_objects,
)
from tether.localcluster.cluster import ClusterProcess  # noqa: E402
from tether.names import FLUX_IMAGE_API_VERSION, SERVER_SECRET  # noqa: E402
from tether.source.gitserver import GitHTTPServer  # noqa: E402

TETHER, BASELINE = "Tether", "baseline"
#: the polling baselines, in seconds (``flux create image repository``'s examples: 5m)
POLL_INTERVALS = (60.0, 300.0)
GOAL_SECONDS = 2.0
CLUSTER_ARGS = ["--pod-ready-delay", "0.2"]
#: concurrencies of the listing of many repositories (2: the controller's image workers)
LISTING_CONCURRENCY = (1, 2, 16)
#: how long an event may take before it counts as missed, and how many misses end the part
EVENT_TIMEOUT = 60.0
MAX_MISSES = 3
NAN = float("nan")


@dataclass
class Options:
    events: int
    pause: float
    by_hand: int
    tags: int
    repos: int
    repo_tags: int
    reps: int
    skopeo_reps: int
    listing_reps: int
    skip_latency: bool
    skip_listing: bool


# ---- 1. registry event -> pull request ----------------------------------------------------------


async def prepare(client: ClusterClient, host: FakeGitHost, root: Path, image: str) -> None:
    """The CRDs and namespace, the two Secrets, the repository on the fake host, the objects."""
    await bootstrap(client, NS, "bench")
    url = host.create_repo(REPO)
    await asyncio.to_thread(
        seed_repository, url, root / "work", payment_service_files(image, NS, OVERLAY)
    )
    docs = [
        secret(SERVER_SECRET, {"webhook.registry.distribution.secret": NOTIFY_SECRET}),
        secret("github-token", {"token": TOKEN}),
        *payment_service_objects(
            image,
            NS,
            repo_url=url,
            api_url=host.github_api_url,
            interval=REPOSITORY_INTERVAL,
            push_branch=BRANCH,
        ),
    ]
    await apply_all(client, docs)


async def settled(client: ClusterClient, timeout: float = 180.0) -> None:
    """The app Synced+Healthy at 1.4.0, the policy at 1.4.0 and the automation's first run done
    (nothing to propose: main holds the latest image)."""
    kinds = {
        "app": await client.resource_for("argoproj.io/v1alpha1", "Application"),
        "policy": await client.resource_for(FLUX_IMAGE_API_VERSION, "ImagePolicy"),
        "automation": await client.resource_for(FLUX_IMAGE_API_VERSION, "ImageUpdateAutomation"),
    }
    deadline = time.monotonic() + timeout
    while True:
        app = await client.get(kinds["app"], "payment-service-production", NS)
        policy = await client.get(kinds["policy"], "payment-service", NS)
        automation = await client.get(kinds["automation"], "payment-service", NS)
        status = read_status(app)
        latest = ((policy.get("status") or {}).get("latestRef") or {}).get("tag")
        ran = (automation.get("status") or {}).get("lastAutomationRunTime")
        if (status.sync, status.health, latest) == ("Synced", "Healthy", "1.4.0") and ran:
            return
        if time.monotonic() > deadline:
            raise BenchError(
                f"not settled in {timeout:.0f} s: app {status.sync}/{status.health}, "
                f"policy at {latest}, automation ran: {bool(ran)}"
            )
        await asyncio.sleep(0.2)


@dataclass
class EventSamples:
    """Seconds from each manifest PUT's answer to each step, per event."""

    total: list[float]
    scanned: list[float]
    chosen: list[float]
    pushed: list[float]
    #: tags whose pull request did not come within EVENT_TIMEOUT (counted as infinitely late)
    misses: list[str] = field(default_factory=list)

    def missed(self, tag: str) -> None:
        self.misses.append(tag)
        self.total.append(math.inf)
        for into in (self.scanned, self.chosen, self.pushed):
            into.append(NAN)


async def push_events(
    client: ClusterClient, pusher: Pusher, moments: Moments, options: Options, logs: list[Path]
) -> EventSamples:
    """Push 1.5.0, 1.5.1, ... one at a time; each waits for its pull request (when it does
    not come, what the objects say and the ``logs`` are printed)."""
    tag_count, scanned_at = first_seen(
        lambda o: ((o.get("status") or {}).get("lastScanResult") or {}).get("tagCount")
    )
    latest_tag, chosen_at = first_seen(
        lambda o: ((o.get("status") or {}).get("latestRef") or {}).get("tag")
    )
    watches = [
        await ObjectWatch(
            client, await client.resource_for(FLUX_IMAGE_API_VERSION, kind), summary, bool, NS
        ).start()
        for kind, summary in (("ImageRepository", tag_count), ("ImagePolicy", latest_tag))
    ]
    samples = EventSamples([], [], [], [])
    try:
        for k in range(options.events):
            tag = f"1.5.{k}"
            sent, put = await pusher.manifest(IMAGE_REPO, tag)
            try:
                # matched from the request's start, timed from its answer
                done = await moments.pull_naming(tag, sent, EVENT_TIMEOUT)
            except BenchError as exc:
                print(f"  {tag}: {exc}\n{await diagnosis(client, logs)}", flush=True)
                samples.missed(tag)
                if len(samples.misses) > MAX_MISSES:
                    raise
                continue
            samples.total.append(max(done - put, 0.0))
            # 1.4.0 and 1.5.0 .. 1.5.k
            steps = (scanned_at.get(k + 2), chosen_at.get(tag), moments.pushed(BRANCH_REF, put))
            for into, at in zip(
                (samples.scanned, samples.chosen, samples.pushed), steps, strict=True
            ):
                into.append(max(at - put, 0.0) if at is not None else NAN)
            print(f"  {tag}: pull request in {ms(done - put)}", flush=True)
            await asyncio.sleep(options.pause)
    finally:
        for watch in watches:
            await watch.stop()
    return samples


def report_events(table: Table, samples: EventSamples) -> None:
    n = len(samples.total)
    polls = [[interval * q for interval in POLL_INTERVALS] for q in (0.5, 0.95, 1.0)]
    rows = [
        (f"registry event -> pull request, p50 of {n} (goal < 2 s)", 0.5, polls[0]),
        (f"registry event -> pull request, p95 of {n}", 0.95, polls[1]),
        (f"registry event -> pull request, max of {n}", 1.0, polls[2]),
    ]
    for label, q, poll in rows:
        table.put(label, TETHER, ms(percentile(samples.total, q)))
        table.put(label, BASELINE, " / ".join(f"{v:.0f} s" for v in poll), echo=False)
    table.put("  first event (opens the pull request)", TETHER, ms(samples.total[0]))
    within = sum(1 for s in samples.total if s < GOAL_SECONDS)
    table.put("  events under 2 s", TETHER, f"{within}/{n}")
    missed = ", ".join(samples.misses) or "none"
    table.put(f"  events without a pull request in {EVENT_TIMEOUT:.0f} s", TETHER, missed)
    steps = (
        ("  p50 until the scan's status was seen (bench's watch)", samples.scanned),
        ("  p50 until the policy's latestRef was seen", samples.chosen),
        ("  p50 until the git server answered the branch's push", samples.pushed),
    )
    for label, values in steps:
        known = [v for v in values if v == v]  # NaN: a step the watch did not see apart
        table.put(label, TETHER, ms(statistics.median(known)) if known else "n/a")
    table.note(
        "baseline of the event rows: polling alone, computed: a push at a random moment waits "
        "for the next scan, uniform over the interval (p50 = interval/2); at "
        + " / ".join(f"{v / 60:.0f}m" for v in POLL_INTERVALS)
        + " (flux create image repository's examples use 5m), before any git work"
    )
    table.note(
        f"after the policy moved, the automation waits {COALESCE_SECONDS:g} s for other "
        "policies (one commit for all), then fetches, edits, commits, renders the diff "
        "(kubectl kustomize, before and after) and pushes; the pull request follows the push"
    )


def report_by_hand(table: Table, rounds: list[HandTimes]) -> None:
    n = len(rounds)
    rows = (
        (f"git work by hand (clone --depth 1, sed, commit, push), p50 of {n}", "git_total"),
        ("  git clone --depth 1", "clone"),
        ("  sed + git commit", "edit_commit"),
        ("  git push", "push"),
        ("  kubectl kustomize x2 (the rendered diff in the body)", "render"),
    )
    for label, name in rows:
        value = statistics.median(getattr(r, name) for r in rounds)
        table.put(label, BASELINE, ms(value))


async def event_latency(table: Table, options: Options, root: Path) -> None:
    """Part 1 on its own cluster, git server, fake GitHub, registry and controller."""
    print("--- registry event -> pull request (controller with default flags)", flush=True)
    async with AsyncExitStack() as stack:
        cluster = ClusterProcess.start(root / "cluster", CLUSTER_ARGS)
        stack.callback(cluster.stop)
        client = ClusterClient.from_kubeconfig(str(cluster.kubeconfig))
        stack.push_async_callback(client.aclose)
        git_server = GitHTTPServer(root / "forge").start()
        stack.callback(git_server.stop)
        host = FakeGitHost(git_server, {TOKEN: "tether-bot"}).start()
        stack.callback(host.stop)
        controller = ControllerProcess(root / "controller", cluster.kubeconfig, [])
        stack.push_async_callback(controller.stop)
        port = free_port()
        await prepare(client, host, root, f"127.0.0.1:{port}/{IMAGE_REPO}")
        # 1.4.0 is in the registry before it notifies anyone (and before the controller runs)
        with docker_registry(root / "registry", port=port) as plain:
            first = Pusher(plain)
            await first.manifest(IMAGE_REPO, "1.4.0")
            await first.aclose()
        registry = stack.enter_context(
            docker_registry(
                root / "registry", port=port, notifications=notifications(controller.api_url)
            )
        )
        pusher = Pusher(registry)
        stack.push_async_callback(pusher.aclose)
        controller.start()
        running = await controller.wait_running()
        print(f"  controller running after {running:.1f} s", flush=True)
        await settled(client)
        moments = Moments(asyncio.get_running_loop()).hook(host, git_server)
        logs = [root / "registry" / "registry.log", root / "controller" / "controller.err"]
        samples = await push_events(client, pusher, moments, options, logs)
        report_events(table, samples)
        rounds = []
        for k in range(options.by_hand):
            url = host.repo_url(REPO)
            scratch = root / "by-hand"
            rounds.append(
                await asyncio.to_thread(by_hand, url, scratch, OVERLAY, f"1.6.{k}", "bench/by-hand")
            )
        report_by_hand(table, rounds)
        sample = controller.sample()
        table.put("controller RSS after the events (VmRSS)", TETHER, f"{sample.rss_mib:.0f} MiB")
    table.note(
        f"{TETHER}: python -m tether controller (default flags), its /api/webhook as "
        "docker-registry's notification endpoint"
    )


# ---- 2 and 3. listing tags -------------------------------------------------------------------------


async def timed(call: Callable[[], Awaitable[int]], expected: int) -> float:
    """Seconds of ``call()``, which returns how many tags it listed (checked)."""
    started = time.perf_counter()
    count = await call()
    elapsed = time.perf_counter() - started
    if count != expected:
        raise BenchError(f"listed {count} tags, expected {expected}")
    return elapsed


async def big_scan(table: Table, options: Options, host: str, pusher: Pusher) -> None:
    """Part 2: one repository of ``options.tags`` tags."""
    repository = "bench/many-tags"
    started = time.perf_counter()
    await pusher.tags(repository, [f"1.{i // 100}.{i % 100}" for i in range(options.tags)])
    print(f"  {options.tags} tags pushed in {time.perf_counter() - started:.1f} s", flush=True)
    image = f"{host}/{repository}"
    repo_obj = {
        "apiVersion": FLUX_IMAGE_API_VERSION,
        "kind": "ImageRepository",
        "metadata": {"name": "many-tags", "namespace": NS, "generation": 1},
        "spec": {"image": image, "interval": REPOSITORY_INTERVAL, "insecure": True},
    }
    kept = RegistryClient()

    async def listed() -> int:
        return len(await kept.list_tags(image, insecure=True))

    async def fresh() -> int:
        async with RegistryClient() as client:
            return len(await client.list_tags(image, insecure=True))

    async def scanned() -> int:
        outcome = await scan(repo_obj, secret_data=None, ca_pem=None, client=kept, now=now())
        if not outcome.scanned:
            raise BenchError(f"scan failed: {outcome.message}")
        return len(outcome.tags or ())

    runs: dict[str, list[float]] = {"list": [], "fresh": [], "scan": [], "skopeo": []}
    try:
        await listed()  # the connection the controller keeps is open from earlier scans
        for k in range(options.reps):
            runs["list"].append(await timed(listed, options.tags))
            runs["fresh"].append(await timed(fresh, options.tags))
            runs["scan"].append(await timed(scanned, options.tags))
            if k < options.skopeo_reps:
                seconds, count = await skopeo_list_tags(host, repository)
                if count != options.tags:
                    raise BenchError(f"skopeo listed {count} tags, expected {options.tags}")
                runs["skopeo"].append(seconds)
    finally:
        await kept.aclose()
    label = f"scan of {options.tags:,} tags: list_tags, p50 of {options.reps}"
    table.put(label, TETHER, ms(statistics.median(runs["list"])))
    table.put(label, BASELINE, ms(statistics.median(runs["skopeo"])), echo=False)
    rows = (
        ("  reflector.scan (list, Flux's order, status)", "scan"),
        ("  list_tags with a new client each time", "fresh"),
    )
    for text, name in rows:
        table.put(text, TETHER, ms(statistics.median(runs[name])))
    table.note(
        f"{BASELINE} of the scan row: skopeo list-tags --tls-verify=false docker://HOST/REPO, "
        f"p50 of {len(runs['skopeo'])} (a process each: https is tried first, then http)"
    )


def now() -> datetime:
    return datetime.now(UTC)


async def many_repositories(table: Table, options: Options, host: str, pusher: Pusher) -> None:
    """Part 3: ``options.repos`` repositories of ``options.repo_tags`` tags each."""
    names = [f"bench/repo-{i:03d}" for i in range(options.repos)]
    started = time.perf_counter()
    for name in names:
        await pusher.tags(name, [f"2.0.{t}" for t in range(options.repo_tags)])
    print(f"  {options.repos} repositories pushed in {time.perf_counter() - started:.1f} s")
    client = RegistryClient()

    async def tether_all(concurrency: int) -> float:
        gate = asyncio.Semaphore(concurrency)

        async def one(name: str) -> int:
            async with gate:
                return len(await client.list_tags(f"{host}/{name}", insecure=True))

        return await timed(lambda: _summed(one(n) for n in names), len(names) * options.repo_tags)

    async def skopeo_all(concurrency: int) -> float:
        gate = asyncio.Semaphore(concurrency)

        async def one(name: str) -> int:
            async with gate:
                return (await skopeo_list_tags(host, name))[1]

        return await timed(lambda: _summed(one(n) for n in names), len(names) * options.repo_tags)

    runs: dict[tuple[str, int], list[float]] = {}
    try:
        await tether_all(16)  # warm: the controller's client has its connections open
        await skopeo_all(2)  # and the OS has skopeo's binary in its page cache
        for _ in range(options.listing_reps):
            for concurrency in LISTING_CONCURRENCY:
                runs.setdefault((TETHER, concurrency), []).append(await tether_all(concurrency))
            for concurrency in (1, 2):
                runs.setdefault((BASELINE, concurrency), []).append(await skopeo_all(concurrency))
    finally:
        await client.aclose()
    labels = {
        1: f"tag listing of {options.repos} repositories x {options.repo_tags} tags: one by "
        f"one, p50 of {options.listing_reps}",
        2: "  2 at once (the controller's image workers)",
        16: "  16 at once",
    }
    for (column, concurrency), values in runs.items():
        table.put(labels[concurrency], column, ms(statistics.median(values)), column == TETHER)
    table.note(
        f"{BASELINE} of the listing rows: {options.repos} skopeo list-tags processes, one by "
        "one and 2 at once"
    )


async def _summed(calls: Any) -> int:
    return sum(await asyncio.gather(*calls))


async def listings(table: Table, options: Options, root: Path) -> None:
    """Parts 2 and 3 on a registry of their own (nothing else running)."""
    print("--- tag listing: Tether's registry client beside skopeo list-tags", flush=True)
    with docker_registry(root / "registry") as registry:
        pusher = Pusher(registry)
        try:
            await big_scan(table, options, registry.host, pusher)
            await many_repositories(table, options, registry.host, pusher)
        finally:
            await pusher.aclose()


# ---- the whole run --------------------------------------------------------------------------------


async def main(options: Options) -> None:
    table = Table((TETHER, BASELINE))
    load_at_start = os.getloadavg()[0]
    failed = False
    with tempfile.TemporaryDirectory(prefix="tether-bench-images-") as tmp_text:
        tmp = Path(tmp_text)
        parts = [
            (event_latency, tmp / "latency", options.skip_latency),
            (listings, tmp / "listing", options.skip_listing),
        ]
        for part, root, skipped in parts:
            if skipped:
                continue
            try:
                await part(table, options, root)
            except BenchError as exc:
                failed = True
                table.put(f"{part.__name__} stopped", TETHER, "see above")
                print(f"  {part.__name__}: {exc}", flush=True)
    table.print()
    for fact in machine_facts(load_at_start):
        print(fact)
    if failed:
        raise SystemExit(1)


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20, help="tags pushed one at a time (20)")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between events (1)")
    parser.add_argument("--by-hand", type=int, default=5, help="rounds of git by hand (5)")
    parser.add_argument("--tags", type=int, default=1000, help="tags of the big repository")
    parser.add_argument("--repos", type=int, default=100, help="repositories listed (100)")
    parser.add_argument("--repo-tags", type=int, default=10, help="tags of each (10)")
    parser.add_argument("--reps", type=int, default=20, help="runs of the big scan (20)")
    parser.add_argument("--skopeo-reps", type=int, default=10, help="skopeo runs of it (10)")
    parser.add_argument("--listing-reps", type=int, default=3, help="listings of all (3)")
    parser.add_argument("--quick", action="store_true", help="5 events, 200 tags, 20 repos")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-listing", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.by_hand, args.tags, args.repos = 5, 2, 200, 20
        args.reps, args.skopeo_reps, args.listing_reps = 5, 3, 1
    return Options(
        events=args.events,
        pause=args.pause,
        by_hand=args.by_hand,
        tags=args.tags,
        repos=args.repos,
        repo_tags=args.repo_tags,
        reps=args.reps,
        skopeo_reps=args.skopeo_reps,
        listing_reps=args.listing_reps,
        skip_latency=args.skip_latency,
        skip_listing=args.skip_listing,
    )


if __name__ == "__main__":
    asyncio.run(main(parse_options()))
