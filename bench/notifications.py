"""Benchmark of notifications (issue 20): N apps syncing, each subscribed to on-sync-succeeded on a
webhook service, beside the same cold start without notifications, in one run.

Two runs of the fleet of bench/controller.py (N apps x 10 resources over 10 repositories), each
on a fresh local cluster under ``python -m tether controller`` with its DEFAULT flags:

1. without notifications: no ``argocd-notifications-cm``, no subscriptions;
2. with: ``argocd-notifications-cm`` as Argo CD's docs write it (a webhook service to a
   loopback receiver in this process, the catalog's on-sync-succeeded trigger and a template
   whose body names the app) and every Application subscribed by annotation
   (``notifications.argoproj.io/subscribe.on-sync-succeeded.bench: ""``).

Figures: time until every app is Synced+Healthy in each run and their ratio (the notifier must
not slow syncs), and per app the latency from the moment the bench's watch sees its sync
operation Succeeded to the moment the webhook arrives (p50, p95, max), and how many arrived
(exactly one per app is the rule).

    flock /tmp/tether-bench.lock python bench/notifications.py [--apps 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402
from _fleet import CONTROL_NAMESPACE, Fleet  # noqa: E402
from _harness import ObjectWatch, Table  # noqa: E402
from controller import ColdStart, seconds, spawn_and_wait, start_run, stop_run  # noqa: E402

from tether.cluster.client import ClusterClient  # noqa: E402
from tether.source.gitserver import GitHTTPServer  # noqa: E402

WITHOUT, WITH = "without notifications", "with a subscription each"
SUBSCRIPTION = "notifications.argoproj.io/subscribe.on-sync-succeeded.bench"
TRIGGER = (
    "- description: Application syncing has succeeded\n"
    "  send: [app-sync-succeeded]\n"
    "  when: app.status.operationState != nil and "
    "app.status.operationState.phase in ['Succeeded']\n"
    "  oncePer: app.status.operationState?.syncResult?.revision\n"
)
TEMPLATE = (
    "message: Application {{.app.metadata.name}} has been successfully synced.\n"
    "webhook:\n  bench:\n    method: POST\n    path: /synced\n"
    '    body: \'{"app": "{{.app.metadata.name}}", '
    '"operation": "{{.app.status.operationState.startedAt}}", '
    '"revision": "{{.app.status.operationState.syncResult.revision}}"}\'\n'
)


class Receiver:
    """A loopback HTTP endpoint noting when each app's message arrived (perf_counter)."""

    def __init__(self) -> None:
        self.arrived: dict[str, list[float]] = {}
        #: the sync operations (start times) each app was notified for
        self.operations: dict[str, list[str]] = {}
        #: each message as it arrived (to tell why an app got more than one)
        self.bodies: dict[str, list[str]] = {}
        arrived, operations, lock = self.arrived, self.operations, threading.Lock()
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                at = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                document = orjson.loads(body)
                app = str(document.get("app", ""))
                with lock:
                    arrived.setdefault(app, []).append(at)
                    operations.setdefault(app, []).append(str(document.get("operation")))
                    bodies.setdefault(app, []).append(f"{at:.3f} {document}")
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


async def configure(client: ClusterClient, receiver: Receiver) -> None:
    info = await client.resource_for("v1", "ConfigMap")
    data = {
        "service.webhook.bench": f"url: {receiver.url}\n",
        "template.app-sync-succeeded": TEMPLATE,
        "trigger.on-sync-succeeded": TRIGGER,
    }
    await client.apply(
        info,
        {"apiVersion": "v1", "kind": "ConfigMap", "data": data,
         "metadata": {"name": "argocd-notifications-cm", "namespace": CONTROL_NAMESPACE}},
        field_manager="bench", force=True,
    )  # fmt: skip


def phase(obj: dict[str, Any]) -> str:
    return str(((obj.get("status") or {}).get("operationState") or {}).get("phase") or "")


async def cold(
    table: Table, column: str, fleet: Fleet, root: Path, receiver: Receiver | None
) -> tuple[ColdStart, dict[str, float]]:
    run = await start_run(column, [], fleet, root)
    try:
        if receiver is not None:
            await configure(run.client, receiver)
        info = await run.client.resource_for("argoproj.io/v1alpha1", "Application")
        operations = await ObjectWatch(
            run.client, info, phase, lambda p: p == "Succeeded", CONTROL_NAMESPACE
        ).start()
        try:
            result = await spawn_and_wait(table, run, fleet)
            if receiver is not None:  # the last messages may trail the last sync a little
                deadline = time.perf_counter() + 60
                while len(receiver.arrived) < fleet.size and time.perf_counter() < deadline:
                    await asyncio.sleep(0.05)
                await asyncio.sleep(2.0)  # a duplicate would arrive within this
            succeeded = dict(operations.first_seen)
        finally:
            await operations.stop()
        return result, succeeded
    finally:
        await stop_run(run)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main(apps: int, repeat: int) -> None:
    table = Table((WITHOUT, WITH))
    plain: list[ColdStart] = []
    notified: list[tuple[ColdStart, dict[str, float], Receiver]] = []
    with tempfile.TemporaryDirectory(prefix="tether-bench-notify-") as tmp_text:
        tmp = Path(tmp_text)
        server = GitHTTPServer(tmp / "git").start()
        try:
            fleet = Fleet(tmp, server, max(1, apps // 10))
            await asyncio.to_thread(fleet.create)
            # alternating, so that a slow stretch of the machine does not land on one side
            for round_ in range(repeat):
                print(f"--- {WITHOUT} ({round_ + 1}/{repeat})", flush=True)
                fleet.annotations = {}
                plain.append((await cold(table, WITHOUT, fleet, tmp / f"without{round_}", None))[0])
                print(f"--- {WITH} ({round_ + 1}/{repeat})", flush=True)
                fleet.annotations = {SUBSCRIPTION: ""}
                receiver = Receiver()
                try:
                    result, succeeded = await cold(
                        table, WITH, fleet, tmp / f"with{round_}", receiver
                    )
                finally:
                    receiver.server.shutdown()
                notified.append((result, succeeded, receiver))
        finally:
            server.stop()
    report(table, fleet.size, plain, notified)


def report(
    table: Table,
    size: int,
    plain: list[ColdStart],
    notified: list[tuple[ColdStart, dict[str, float], Receiver]],
) -> None:
    label = f"cold start: all {size} apps Synced+Healthy"
    for column, results in ((WITHOUT, plain), (WITH, [n[0] for n in notified])):
        table.put(label, column, ", ".join(
            seconds(r.done[-1]) if r.finished else "did not finish" for r in results
        ))  # fmt: skip
    finished = [p.done[-1] for p in plain if p.finished]
    with_done = [n[0].done[-1] for n in notified if n[0].finished]
    if finished and with_done:
        ratio = statistics.median(with_done) / statistics.median(finished)
        table.put("  ratio of medians with / without (goal ~1.0)", WITH, f"{ratio:.2f}x")
    latencies: list[float] = []
    messages = twice = apps_notified = 0
    for _, succeeded, receiver in notified:
        latencies += [
            times[0] - succeeded[f"{CONTROL_NAMESPACE}/{app}"]
            for app, times in receiver.arrived.items()
            if f"{CONTROL_NAMESPACE}/{app}" in succeeded
        ]
        messages += sum(len(times) for times in receiver.arrived.values())
        twice += sum(len(ops) - len(set(ops)) for ops in receiver.operations.values())
        for app, ops in receiver.operations.items():
            if len(ops) != len(set(ops)):
                print(f"  same sync notified twice: {app}: {receiver.bodies[app]}", flush=True)
        apps_notified += len(receiver.arrived)
    if latencies:
        table.put(
            "notification latency: sync Succeeded seen → webhook arrived",
            WITH,
            f"p50 {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms",
        )
    table.put(
        "  apps notified / messages / one sync notified twice (goal 0)",
        WITH,
        f"{apps_notified}/{size * len(notified)} / {messages} / {twice}",
    )
    table.note(
        "more messages than apps: an app synced again (a new operation notifies again once the "
        "condition stopped holding, as Argo CD's engine does)"
    )
    table.note(
        "each run: python -m tether controller with the default flags on a fresh cluster; "
        "runs alternate without / with"
    )
    table.note(
        "latency: from the bench's watch seeing status.operationState.phase Succeeded to the "
        "request at the receiver (same clock); negative would mean the message came first"
    )
    table.print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, alternating")
    options = parser.parse_args()
    asyncio.run(main(options.apps, options.repeat))
