"""Benchmark of record of the controller (issue 17), every figure side by side in one run.

1. Baseline: the same objects (N apps x 10 resources + 20 namespaces: 10,020 at 1,000 apps)
   written by ONE pinned kubectl, ``kubectl apply --server-side -f DIR`` (a folder of one file
   per app), and the time until every Deployment is Available (watched); the sum is the target
   Tether is measured against.
2. Tether's cold start, as a user runs it: ``python -m tether controller`` as its own process,
   first with the DEFAULT flags (only --kubeconfig, --cache-dir, --listen and --metrics-listen
   added), then with TUNED flags (printed). The Applications are written before the controller
   starts; the clock starts at its spawn. Figures: time to the first and to all Synced+Healthy
   apps (from the bench's own watch on Applications), the ratio to the baseline, apps/s, the
   controller's API requests per app by verb (its own ``/metrics``), peak RSS (VmHWM), CPU.
3. Idle: N seconds with nothing changing: the controller's requests by verb and writes, status
   changes and Lease renewals seen by the bench's watches, git ref checks and fetches, CPU, RSS.
4. Monorepo: one commit changing one app of a repository holding N/10 apps, a signed GitHub
   webhook, time until that app is Synced+Healthy at the new commit, and what it rendered.
5. Latency (first controller run only): push-to-synced through ``POST /api/webhook`` (p50/p95),
   selfHeal revert of a scale (p50/max), production mode revert with a commit waiting (max).

Each run (baseline, default, tuned) gets a FRESH local cluster, started after the previous one
stopped: no run finds another's 10,000 objects in the store or in its watches, and no two
compete for the 2 cores. The cluster runs in its own process; the git server in this one.

    flock /tmp/tether-bench.lock python bench/controller.py [--apps 1000] [--idle 60] [--quick]
        [--skip-baseline] [--skip-default] [--skip-tuned]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent))

from _fleet import CONTROL_NAMESPACE, Fleet, app_name  # noqa: E402
from _harness import (  # noqa: E402
    WRITE_VERBS,
    BenchError,
    ControllerProcess,
    Metrics,
    ObjectWatch,
    Run,
    Table,
    WaitTimeout,
    app_summary,
    cluster_metrics,
    deployment_available,
    difference,
    github_push_payload,
    process_sample,
    synced_healthy,
    write_webhook_secret,
)
from _latency import latency  # noqa: E402

from tether.cluster.client import ClusterClient  # noqa: E402
from tether.cluster.config import ClientSettings  # noqa: E402
from tether.controller.config import ControllerConfig  # noqa: E402
from tether.controller.control import bootstrap  # noqa: E402
from tether.localcluster.cluster import ClusterProcess  # noqa: E402
from tether.source.gitserver import GitHTTPServer  # noqa: E402
from tether.tools import find_tool  # noqa: E402

DEFAULT, TUNED, BASELINE = "Tether default", "Tether tuned", "kubectl"
#: above the defaults (printed under the table) on every count the CLI offers
TUNED_FLAGS = ["--workers", "128", "--sync-workers", "128", "--max-in-flight", "64"]
#: the bench's own client: it writes the Applications and watches; never the controller's figures
BENCH_SETTINGS = ClientSettings(qps=1000, burst=2000)
CLUSTER_ARGS = ["--pod-ready-delay", "0.2"]
#: rows both sides fill
COLD_ROW = "cold start: all Synced+Healthy / written+Available"
PEAK_ROW = "  peak RSS (VmHWM; goal <= 150 MiB at 1,000)"
WRITER_CPU_ROW = "  CPU s: the writer (controller + its git/tools children; kubectl)"
CLUSTER_CPU_ROW = "  CPU s: cluster process"


@dataclass
class Options:
    apps: int
    idle: float
    commits: int
    skip_baseline: bool
    skip_default: bool
    skip_tuned: bool


def default_flags() -> str:
    """What the default flags are in this tree (they follow these two dataclasses)."""
    config, client = ControllerConfig(), ClientSettings()
    return (
        f"(defaults: --workers {config.workers} --sync-workers {config.sync_workers} "
        f"--qps {client.qps:g} --burst {client.burst}, "
        f"at most {getattr(client, 'max_in_flight', 'unbounded')} requests in flight)"
    )


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:.1f} s"


def cpu_now() -> float:
    """CPU seconds of this process (the git server's threads) and its reaped children (git)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


async def bench_client(cluster: ClusterProcess) -> ClusterClient:
    return ClusterClient.from_kubeconfig(str(cluster.kubeconfig), settings=BENCH_SETTINGS)


# ---- 1. the baseline ----------------------------------------------------------------------------


@dataclass
class Baseline:
    """The direct write's figures: the sum to compare with, and rows for the table."""

    total: float
    rows: list[tuple[str, str]]


async def baseline(fleet: Fleet, root: Path) -> Baseline:
    """``kubectl apply --server-side`` of the fleet's objects on a fresh cluster, then every
    Deployment Available; the total counts from kubectl's start."""
    count = fleet.write_manifests(root / "manifests")
    cluster = ClusterProcess.start(root / "cluster-baseline", CLUSTER_ARGS)
    client = await bench_client(cluster)
    try:
        info = await client.resource_for("apps/v1", "Deployment")
        watch = await ObjectWatch(client, info, deployment_available, bool).start()
        cpu_cluster = process_sample(cluster.process.pid).cpu_seconds
        cpu_bench = cpu_now()
        started = time.perf_counter()
        await run_kubectl(cluster.kubeconfig, root / "manifests")
        written = time.perf_counter() - started
        await watch.wait(
            lambda: len(watch.first_seen) >= fleet.size, 600 + fleet.size, "Deployments"
        )
        total = max(watch.first_seen.values()) - started
        cluster_cpu = process_sample(cluster.process.pid).cpu_seconds - cpu_cluster
        # the largest child so far: kubectl (the git processes before it are a few MiB)
        kubectl_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        await watch.stop()
        rows = [
            (COLD_ROW, seconds(total)),
            (PEAK_ROW, f"{kubectl_peak:.0f} MiB"),
            (WRITER_CPU_ROW, f"{cpu_now() - cpu_bench:.1f}"),
            (CLUSTER_CPU_ROW, f"{cluster_cpu:.1f}"),
            (f"kubectl: objects written ({fleet.size} apps x 10 + namespaces)", str(count)),
            ("kubectl: write (apply --server-side)", seconds(written)),
            ("kubectl: then all Deployments Available", f"+{seconds(max(total - written, 0))}"),
        ]
        for label, value in rows:
            print(f"  [{BASELINE}] {label.strip()}: {value}", flush=True)
        return Baseline(total, rows)
    finally:
        await client.aclose()
        cluster.stop()


async def run_kubectl(kubeconfig: Path, folder: Path) -> None:
    """ONE pinned kubectl: ``apply --server-side -f folder``."""
    kubectl = await asyncio.create_subprocess_exec(
        find_tool("kubectl"),
        "--kubeconfig",
        str(kubeconfig),
        "apply",
        "--server-side",
        "-f",
        str(folder),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await kubectl.communicate()
    if kubectl.returncode != 0:
        raise BenchError(f"kubectl apply failed: {err.decode()[-2000:]}")


# ---- 2. a controller run -------------------------------------------------------------------------


async def prepare_cluster(fleet: Fleet, root: Path) -> tuple[ClusterProcess, ClusterClient]:
    """A fresh cluster with the CRDs, the control namespace, the webhook secret and every
    Application written (as `tether install` and a user's `kubectl apply` would leave it)."""
    cluster = ClusterProcess.start(root / "cluster", CLUSTER_ARGS)
    client = await bench_client(cluster)
    await bootstrap(client, CONTROL_NAMESPACE, "bench")
    await write_webhook_secret(client, CONTROL_NAMESPACE)
    started = time.perf_counter()
    await fleet.apply_applications(client)
    print(f"  {fleet.size} Applications written in {seconds(time.perf_counter() - started)}")
    return cluster, client


async def start_run(column: str, flags: list[str], fleet: Fleet, root: Path) -> Run:
    cluster, client = await prepare_cluster(fleet, root)
    app_info = await client.resource_for("argoproj.io/v1alpha1", "Application")
    apps = await ObjectWatch(
        client, app_info, app_summary, synced_healthy, CONTROL_NAMESPACE
    ).start()
    lease_info = await client.resource_for("coordination.k8s.io/v1", "Lease")
    leases = await ObjectWatch(
        client,
        lease_info,
        lambda o: str((o.get("spec") or {}).get("renewTime")),
        lambda _: False,
        CONTROL_NAMESPACE,
    ).start()
    controller = ControllerProcess(root / "controller", cluster.kubeconfig, flags)
    return Run(column, root, cluster, client, controller, apps, leases)


async def stop_run(run: Run) -> None:
    await run.apps.stop()
    await run.leases.stop()
    await run.controller.stop()
    await run.client.aclose()
    run.cluster.stop()


async def report_progress(run: Run, total: int) -> None:
    """A line every 15 s while the cold start runs (a 10,000-app run takes a while)."""
    while True:
        await asyncio.sleep(15.0)
        elapsed = time.perf_counter() - run.controller.started_at
        print(f"  ... {len(run.apps.first_seen)}/{total} Synced+Healthy at {elapsed:.0f} s")


@dataclass
class ColdStart:
    """What the cold start left: when each app was first Synced+Healthy (from the spawn)."""

    apps: int
    done: list[float]
    finished: bool
    timeout: float
    #: seconds from the spawn until the controller printed that it runs (0: it never did)
    running: float = 0.0


async def cold_start(table: Table, run: Run, fleet: Fleet, target: float | None) -> bool:
    """Spawn the controller and wait for every app Synced+Healthy; False when it timed out."""
    cpu_cluster = process_sample(run.cluster.process.pid).cpu_seconds
    cpu_bench = cpu_now()
    served_before = await cluster_metrics(run.cluster.kubeconfig)
    result = await spawn_and_wait(table, run, fleet)
    sample = run.controller.sample()
    metrics = await run.controller.scrape()
    served = server_requests(await cluster_metrics(run.cluster.kubeconfig), served_before)
    report_times(table, run.column, result, target)
    table.put(PEAK_ROW, run.column, f"{sample.peak_rss_mib:.0f} MiB")
    report_requests(table, run.column, metrics, result.apps)
    table.put(
        "  API requests per app the API server served (incl. Leases, Events)",
        run.column,
        f"{sum(served.values()) / result.apps:.1f}",
    )
    table.put(
        WRITER_CPU_ROW,
        run.column,
        f"{sample.cpu_seconds:.1f} (+{sample.children_cpu_seconds:.1f})",
    )
    cluster_cpu = process_sample(run.cluster.process.pid).cpu_seconds - cpu_cluster
    table.put(CLUSTER_CPU_ROW, run.column, f"{cluster_cpu:.1f}")
    table.put(
        "  CPU s: bench (watches, git server + git)", run.column, f"{cpu_now() - cpu_bench:.1f}"
    )
    return result.finished


async def spawn_and_wait(table: Table, run: Run, fleet: Fleet) -> ColdStart:
    names = {f"{CONTROL_NAMESPACE}/{n}" for n in fleet.names()}
    run.controller.start()
    progress = asyncio.create_task(report_progress(run, len(names)))
    timeout = 900.0 + 2.0 * fleet.size
    running = 0.0
    try:
        running = await run.controller.wait_running()
        table.put("controller start until running (watches synced)", run.column, seconds(running))
        await run.apps.wait(lambda: names <= run.apps.done_keys(), timeout, "Applications")
        finished = True
    except WaitTimeout:
        finished = False
    finally:
        progress.cancel()
    started = run.controller.started_at
    done = sorted(run.apps.first_seen[n] - started for n in names if n in run.apps.first_seen)
    return ColdStart(len(names), done, finished, timeout, running)


def report_times(table: Table, column: str, result: ColdStart, target: float | None) -> None:
    label = COLD_ROW
    if not result.finished:
        table.put(label, column, f">{result.timeout:.0f} s ({len(result.done)}/{result.apps})")
    else:
        cold = result.done[-1]
        table.put(label, column, seconds(cold))
        if target:
            table.put(
                "  ratio to kubectl write + Available (goal <= 2)", column, f"{cold / target:.2f}x"
            )
        table.put("  apps per second", column, f"{result.apps / cold:.1f}")
    if result.done:
        table.put("  first app Synced+Healthy (goal < 2 s)", column, seconds(result.done[0]))
        if result.running:
            table.put(
                "  first app Synced+Healthy after the running line",
                column,
                seconds(result.done[0] - result.running),
            )
        table.put(
            "  half the apps Synced+Healthy", column, seconds(result.done[len(result.done) // 2])
        )


def report_requests(table: Table, column: str, metrics: Metrics, apps: int) -> None:
    """The controller's API requests per app, by verb, since it started."""
    by_verb = metrics.by_label("argocd_app_k8s_request_total", "verb")
    total = sum(by_verb.values())
    table.put(
        "  API requests per app, all verbs (controller's count)", column, f"{total / apps:.1f}"
    )
    for verb, count in sorted(by_verb.items()):
        table.put(f"    {verb}", column, f"{count / apps:.2f}")
    retries = metrics.total("tether_k8s_request_retries_total")
    table.put("  API requests retried (429, 5xx, connection)", column, f"{retries:.0f}")


# ---- 3. idle -----------------------------------------------------------------------------------


async def idle(table: Table, run: Run, seconds_idle: float) -> None:
    """After the cold start settles (no Application changed for 2 s), nothing changes for
    ``seconds_idle``: what does the controller do?"""
    await run.apps.wait_quiet(2.0, 60.0)
    before, sample = await run.controller.scrape(), run.controller.sample()
    served_before = await cluster_metrics(run.cluster.kubeconfig)
    app_events, lease_events = run.apps.events, run.leases.events
    await asyncio.sleep(seconds_idle)
    after, end = await run.controller.scrape(), run.controller.sample()
    served = server_requests(await cluster_metrics(run.cluster.kubeconfig), served_before)
    label = f"idle {seconds_idle:.0f} s"
    requests = difference(
        after.by_label("argocd_app_k8s_request_total", "verb"),
        before.by_label("argocd_app_k8s_request_total", "verb"),
    )
    table.put(f"{label}: API requests by verb (controller's count)", run.column, listed(requests))
    writes = sum(v for k, v in requests.items() if k in WRITE_VERBS)
    table.put(f"{label}: API writes (controller's count; goal 0)", run.column, str(writes))
    table.put(f"{label}: requests the API server served", run.column, listed(served))
    table.put(
        f"{label}: Lease renewals seen by the bench",
        run.column,
        str(run.leases.events - lease_events),
    )
    table.put(
        f"{label}: Application changes seen by the bench",
        run.column,
        str(run.apps.events - app_events),
    )
    git = difference(
        after.by_label("argocd_git_request_total", "request_type"),
        before.by_label("argocd_git_request_total", "request_type"),
    )
    table.put(
        f"{label}: git ref checks / fetches",
        run.column,
        f"{git.get('ls-remote', 0)} / {git.get('fetch', 0)}",
    )
    events = difference(
        after.by_label("tether_controller_events_total", "kind"),
        before.by_label("tether_controller_events_total", "kind"),
    )
    # a reconcile costs no request when nothing changed, but queued ones delay a drift's revert
    table.put(
        f"{label}: reconciles / polls",
        run.column,
        f"{events.get('reconciles', 0)} / {events.get('polls', 0)}",
    )
    table.put(
        f"{label}: controller CPU s", run.column, f"{end.cpu_seconds - sample.cpu_seconds:.2f}"
    )
    table.put("idle RSS (VmRSS after the idle period)", run.column, f"{end.rss_mib:.0f} MiB")


def server_requests(after: Metrics, before: Metrics) -> dict[str, int]:
    """Requests the API server counted between two readings, by "verb resource"; the bench
    sends none meanwhile (its watches are open already), so they are the controller's."""

    def keyed(metrics: Metrics) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, value in metrics.samples.get("apiserver_request_total", {}).items():
            labels = dict(key)
            name = f"{labels.get('verb', '')} {labels.get('resource', '')}".strip()
            out[name] = out.get(name, 0.0) + value
        return out

    return difference(keyed(after), keyed(before))


def listed(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


# ---- 4. the monorepo figure ----------------------------------------------------------------------


def renders(metrics: Metrics) -> float | None:
    """Renders counted in /metrics, if the controller exports such a counter."""
    found = [
        value
        for name, samples in metrics.samples.items()
        for key, value in samples.items()
        if "render" in name or any("render" in v for _, v in key)
    ]
    return sum(found) if found else None


async def monorepo(table: Table, run: Run, fleet: Fleet) -> None:
    """One app of a repository of N/10 apps changes; the webhook; that app Synced at it."""
    index = 0
    name = f"{CONTROL_NAMESPACE}/{app_name(index)}"
    url, before_sha, after_sha = await asyncio.to_thread(fleet.change_one, index, run.column)
    before = await run.controller.scrape()
    started = time.perf_counter()
    payload = github_push_payload(
        url, before_sha, after_sha, [f"apps/{app_name(index)}/manifests.yaml"]
    )
    await run.controller.github_push(payload)
    await run.apps.wait(
        lambda: run.apps.states.get(name) == ("Synced", "Healthy", after_sha), 120.0, name
    )
    elapsed = time.perf_counter() - started
    after = await run.controller.scrape()
    label = f"monorepo: 1 app of {fleet.per_repo} changed, webhook to Synced (goal < 1 s)"
    table.put(label, run.column, f"{elapsed * 1000:.0f} ms")
    counted_before, counted_after = renders(before), renders(after)
    if counted_after is None:
        table.note("renders: the controller's /metrics has no render counter (n/a)")
    table.put(
        "  renders it caused (goal 1)",
        run.column,
        "n/a" if counted_after is None else f"{counted_after - (counted_before or 0):.0f}",
    )
    events = difference(
        after.by_label("tether_controller_events_total", "kind"),
        before.by_label("tether_controller_events_total", "kind"),
    )
    table.put("  reconciles it caused", run.column, str(events.get("reconciles", 0)))
    table.put("  syncs it caused", run.column, str(events.get("syncs", 0)))


# ---- the whole run -------------------------------------------------------------------------------


async def controller_run(
    table: Table,
    column: str,
    flags: list[str],
    fleet: Fleet,
    root: Path,
    target: float | None,
    options: Options,
    with_latency: bool,
) -> bool:
    """Cold start, idle, monorepo (and latency) with one controller; False when it failed."""
    print(f"--- {column}: python -m tether controller {' '.join(flags)}".rstrip(), flush=True)
    table.note(f"{column}: python -m tether controller {' '.join(flags) or default_flags()}")
    run = await start_run(column, flags, fleet, root)
    try:
        if not await cold_start(table, run, fleet, target):
            return False
        await idle(table, run, options.idle)
        await monorepo(table, run, fleet)
        if with_latency:
            await latency(table, run, fleet, options.commits)
        return True
    except BenchError as exc:
        table.put("run stopped", column, "see above")
        print(f"  {column}: {exc}", flush=True)
        return False
    finally:
        await stop_run(run)


async def main(options: Options) -> None:
    table = Table((DEFAULT, TUNED, BASELINE))
    with tempfile.TemporaryDirectory(prefix="tether-bench-") as tmp_text:
        tmp = Path(tmp_text)
        server = GitHTTPServer(tmp / "git").start()
        try:
            fleet = Fleet(tmp, server, max(1, options.apps // 10))
            await asyncio.to_thread(fleet.create)
            print(
                f"{fleet.size} apps x 10 resources over 10 repositories "
                f"({fleet.per_repo} apps each)",
                flush=True,
            )
            direct = None
            if not options.skip_baseline:
                print(f"--- {BASELINE}: apply --server-side -f DIR, one process", flush=True)
                direct = await baseline(fleet, tmp / "baseline")
                table.note(
                    f"{BASELINE}: ONE process, kubectl apply --server-side -f DIR (a file per "
                    "app, the namespaces first), on a fresh cluster; Available from a watch"
                )
            target = direct.total if direct else None
            runs = [(DEFAULT, [], options.skip_default), (TUNED, TUNED_FLAGS, options.skip_tuned)]
            measured_latency, failed = False, False
            for column, flags, skipped in runs:
                if skipped:
                    continue
                completed = await controller_run(
                    table,
                    column,
                    flags,
                    fleet,
                    tmp / column.split()[-1],
                    target,
                    options,
                    with_latency=not measured_latency,
                )
                measured_latency = measured_latency or completed
                failed = failed or not completed
        finally:
            server.stop()
    for label, value in direct.rows if direct else ():
        table.put(label, BASELINE, value, echo=False)
    table.print()
    if failed:
        raise SystemExit(1)


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--apps", type=int, default=1000, help="apps of 10 resources (1000)")
    parser.add_argument("--idle", type=float, default=60.0, help="idle seconds measured (60)")
    parser.add_argument("--commits", type=int, default=20, help="webhook latency samples (20)")
    parser.add_argument("--quick", action="store_true", help="100 apps, 15 s idle, 5 commits")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--skip-default", action="store_true")
    parser.add_argument("--skip-tuned", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.apps, args.idle, args.commits = 100, 15.0, 5
    return Options(
        apps=args.apps,
        idle=args.idle,
        commits=args.commits,
        skip_baseline=args.skip_baseline,
        skip_default=args.skip_default,
        skip_tuned=args.skip_tuned,
    )


if __name__ == "__main__":
    asyncio.run(main(parse_options()))
