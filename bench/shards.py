"""Sharding across controller replicas (issue 17): 1, 2 and 3 ``tether controller`` processes
sharing N one-ConfigMap apps on this machine.

For each replica count, on a FRESH local cluster (its own process) with one Git repository of
N apps (``apps/app-<i>/cm.yaml``, one ConfigMap each): the replicas start (default flags plus
``--shards``, ``--lease-duration`` and an ``--identity``), the bench waits until the membership
record lists them all with a share each, then writes the N Applications and watches them.
Figures: time from the first Application written to all Synced+Healthy, apps/s, CPU seconds
and peak RSS of the replicas. With two replicas or more: one replica is SIGKILLed, and the bench
measures the time until the record gives its shards to the others (the takeover), then until
its apps follow a new commit (a webhook-free poll; ``--reconcile-interval`` is the bench's).

All replicas run on the same 2 cores as the API server: this shows the cost and the hand-off,
not the throughput of separate machines.

    flock /tmp/tether-bench.lock python bench/shards.py [--apps 3000] [--replicas 1,2,3]
        [--lease-duration 15] [--shards 128] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent))

from _fleet import application  # noqa: E402
from _harness import (  # noqa: E402
    BenchError,
    ControllerProcess,
    ObjectWatch,
    Table,
    app_summary,
    synced_healthy,
)

from tether.cluster.client import ClusterClient  # noqa: E402
from tether.cluster.config import ClientSettings  # noqa: E402
from tether.cluster.errors import NotFound  # noqa: E402
from tether.controller.shards import DEFAULT_SHARDS, ShardRecord  # noqa: E402
from tether.demo.repo import commit_and_push, create_repository  # noqa: E402
from tether.localcluster.cluster import ClusterProcess  # noqa: E402
from tether.names import (  # noqa: E402
    APPLICATION,
    ARGO_API_VERSION,
    DEFAULT_NAMESPACE,
    SHARD_RECORD_ANNOTATION,
    SHARD_RECORD_LEASE,
)
from tether.source.gitserver import GitHTTPServer  # noqa: E402

DEST_NAMESPACE = "fleet"
BENCH_SETTINGS = ClientSettings(qps=1000, burst=2000)


@dataclass
class Options:
    apps: int
    replicas: list[int]
    lease_duration: float
    shards: int
    reconcile_interval: float
    timeout: float


def configmap_files(count: int, value: str) -> dict[str, str]:
    """One folder per app, ``apps/app-<i>/cm.yaml``, holding one ConfigMap."""
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{i}\ndata:\n  value: {value}\n"
    return {f"apps/app-{i}/cm.yaml": doc.format(i=i, value=value) for i in range(count)}


async def read_record(client: ClusterClient) -> ShardRecord | None:
    info = await client.resource_for("coordination.k8s.io/v1", "Lease")
    try:
        lease = await client.get(info, SHARD_RECORD_LEASE, DEFAULT_NAMESPACE)
    except NotFound:
        return None
    text = (lease["metadata"].get("annotations") or {}).get(SHARD_RECORD_ANNOTATION)
    return ShardRecord.from_json(text) if text else None


async def until_record(
    client: ClusterClient, members: set[str], timeout: float, what: str
) -> float:
    """Poll the record (5 times a second) until exactly ``members`` own every shard."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        record = await read_record(client)
        if (
            record is not None
            and set(record.members) == members
            and set(record.owners.values()) == members
            and len(record.owners) == record.shards
        ):
            return time.perf_counter() - started
        await asyncio.sleep(0.2)
    raise BenchError(f"no {what} after {timeout:.0f} s")


async def create_applications(client: ClusterClient, count: int, url: str) -> None:
    info = await client.resource_for(ARGO_API_VERSION, APPLICATION)
    gate = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with gate:
            app = application(f"app-{i}", url, f"apps/app-{i}", DEST_NAMESPACE)
            await client.create(info, app)

    await asyncio.gather(*(one(i) for i in range(count)))


async def one_run(options: Options, count: int, table: Table, root: Path) -> None:
    column = f"{count} replica{'s' if count > 1 else ''}"
    cluster = ClusterProcess.start(root / "cluster", ["--pod-ready-delay", "0.2"])
    client = ClusterClient.from_kubeconfig(str(cluster.kubeconfig), settings=BENCH_SETTINGS)
    work = root / "work"
    create_repository(root / "git" / "apps.git", work, configmap_files(options.apps, "one"))
    replicas: list[ControllerProcess] = []
    try:
        with GitHTTPServer(root / "git") as git:
            for i in range(count):
                flags = [
                    "--shards",
                    str(options.shards),
                    "--lease-duration",
                    str(options.lease_duration),
                    "--identity",
                    f"replica-{i}",
                    "--reconcile-interval",
                    str(options.reconcile_interval),
                ]
                replica = ControllerProcess(root / f"replica-{i}", cluster.kubeconfig, flags)
                replicas.append(replica.start())
            await asyncio.gather(*(r.wait_running() for r in replicas))
            names = {f"replica-{i}" for i in range(count)}
            await until_record(client, names, options.lease_duration * 6, "shared record")
            info = await client.resource_for(ARGO_API_VERSION, APPLICATION)
            apps = await ObjectWatch(
                client, info, app_summary, synced_healthy, DEFAULT_NAMESPACE
            ).start()
            try:
                started = time.perf_counter()
                await create_applications(client, options.apps, git.url("apps.git"))
                await apps.wait(
                    lambda: len(apps.done_keys()) >= options.apps, options.timeout, "all synced"
                )
                took = time.perf_counter() - started
                table.put("all Synced+Healthy (s)", column, f"{took:.1f}")
                table.put("apps/s", column, f"{options.apps / took:.1f}")
                samples = [r.sample() for r in replicas]
                cpu = sum(s.cpu_seconds + s.children_cpu_seconds for s in samples)
                table.put("CPU s (all replicas)", column, f"{cpu:.1f}")
                peak = max(s.peak_rss_mib for s in samples)
                table.put("peak RSS, largest replica (MiB)", column, f"{peak:.0f}")
                if count > 1:
                    await takeover(options, client, replicas, apps, work, table, column)
            finally:
                await apps.stop()
    finally:
        for replica in replicas:
            await replica.stop()
        await client.aclose()
        cluster.stop()


async def takeover(
    options: Options,
    client: ClusterClient,
    replicas: list[ControllerProcess],
    apps: ObjectWatch[tuple[str, str, str]],
    work: Path,
    table: Table,
    column: str,
) -> None:
    """SIGKILL the last replica; time until the others own its shards, then until every app
    (its own included) is Synced at a new commit."""
    victim = replicas[-1]
    assert victim.process is not None
    victim.process.send_signal(signal.SIGKILL)
    killed = time.perf_counter()
    survivors = {f"replica-{i}" for i in range(len(replicas) - 1)}
    await until_record(client, survivors, options.lease_duration * 6, "takeover")
    table.put("SIGKILL -> shards taken (s)", column, f"{time.perf_counter() - killed:.1f}")
    revision = commit_and_push(work, "two", configmap_files(options.apps, "two"))
    pushed = time.perf_counter()

    def all_at_new_commit() -> bool:
        states = list(apps.states.values())
        return len(states) >= options.apps and all(
            synced_healthy(s) and s[2] == revision for s in states
        )

    await apps.wait(all_at_new_commit, options.timeout, "all apps at the new commit")
    table.put("push -> all apps at it (s)", column, f"{time.perf_counter() - pushed:.1f}")


def parse_options() -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", type=int, default=3000)
    parser.add_argument("--replicas", default="1,2,3")
    parser.add_argument("--lease-duration", type=float, default=15.0)
    parser.add_argument("--shards", type=int, default=DEFAULT_SHARDS)
    parser.add_argument("--reconcile-interval", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--quick", action="store_true", help="150 apps, a 6 s lease")
    args = parser.parse_args()
    if args.quick:
        args.apps, args.lease_duration = 150, 6.0
    return Options(
        apps=args.apps,
        replicas=[int(n) for n in args.replicas.split(",") if n.strip()],
        lease_duration=args.lease_duration,
        shards=args.shards,
        reconcile_interval=args.reconcile_interval,
        timeout=args.timeout,
    )


async def main() -> None:
    options = parse_options()
    table = Table(tuple(f"{n} replica{'s' if n > 1 else ''}" for n in options.replicas))
    table.note(
        f"{options.apps} apps of one ConfigMap each, one repository; {options.shards} shards, "
        f"lease {options.lease_duration:g} s (renewed every {options.lease_duration / 3:g} s, "
        f"renew deadline {options.lease_duration * 2 / 3:g} s); every replica, the API server "
        "and the bench share this machine's cores"
    )
    table.note(
        "takeover: from the SIGKILL until the membership record gives every shard to a live replica"
    )
    for count in options.replicas:
        print(f"== {count} replica(s)", flush=True)
        with tempfile.TemporaryDirectory(prefix="tether-shards-") as tmp:
            try:
                await one_run(options, count, table, Path(tmp))
            except BenchError as exc:
                table.put("error", f"{count} replica{'s' if count > 1 else ''}", str(exc))
    table.print()


if __name__ == "__main__":
    asyncio.run(main())
