"""Latency figures of bench/controller.py on the demo repository's payment-service app.

Push-to-synced through a signed ``POST /api/webhook``, a drift (a scale, as ``kubectl scale``)
reverted by selfHeal, and the same revert in production mode (manual sync with selfHeal) while a
newer commit waits; each observed from the bench's own watch on the app's Deployment.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from _fleet import CONTROL_NAMESPACE, Fleet, application
from _harness import BenchError, ObjectWatch, Run, Table, github_push_payload

from tether.demo.repo import commit_and_push, create_repository

LATENCY_APP = "latency"
KUSTOMIZATION = "apps/payment-service/production/kustomization.yaml"
#: namespace/name of the Deployment the app deploys
DEPLOYMENT = f"{LATENCY_APP}/payment-service"


@dataclass(frozen=True)
class Deployed:
    """What the bench keeps of the app's Deployment."""

    image: str
    replicas: int
    #: the local cluster's resourceVersions are increasing integers: "seen after a write"
    version: int


def deployment_summary(obj: dict[str, Any]) -> Deployed:
    """The first container's image, spec.replicas and the resourceVersion."""
    spec = obj.get("spec") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or [{}]
    version = (obj.get("metadata") or {}).get("resourceVersion") or "0"
    return Deployed(
        str(containers[0].get("image", "")), int(spec.get("replicas") or 0), int(version)
    )


@dataclass
class LatencyApp:
    """The app under measurement: its Deployment as watched, its working copy and commit."""

    deploys: ObjectWatch[Deployed]
    work: Path
    url: str
    head: str
    #: the GitHub push event of the last push
    payload: dict[str, Any] = field(default_factory=dict)

    async def push(self, tag: str, message: str) -> str:
        """Commit ``tag`` as the overlay's image and push; returns the new commit. The
        webhook is for the caller to send (its clock starts there)."""
        overlay = yaml.safe_load((self.work / KUSTOMIZATION).read_text())
        overlay["images"][0]["newTag"] = tag
        changes: dict[str, str | None] = {KUSTOMIZATION: yaml.safe_dump(overlay)}
        after = await asyncio.to_thread(commit_and_push, self.work, message, changes)
        self.head, before = after, self.head
        self.payload = github_push_payload(self.url, before, after, [KUSTOMIZATION])
        return after

    async def notify(self, run: Run) -> None:
        """The signed GitHub webhook of the last push."""
        await run.controller.github_push(self.payload)


async def latency(table: Table, run: Run, fleet: Fleet, commits: int) -> None:
    """The demo repository's payment-service as one more app: webhook, selfHeal, production."""
    work = fleet.root / "latency-work"
    head = await asyncio.to_thread(
        create_repository, fleet.root / "git" / "latency.git", work, None
    )
    url = fleet.server.url("latency.git")
    app_info = await run.client.resource_for("argoproj.io/v1alpha1", "Application")
    doc = application(LATENCY_APP, url, "apps/payment-service/production", LATENCY_APP)
    await run.client.apply(app_info, doc, field_manager="bench", force=True)
    deploy_info = await run.client.resource_for("apps/v1", "Deployment")
    deploys = await ObjectWatch(
        run.client, deploy_info, deployment_summary, lambda _: False, LATENCY_APP
    ).start()
    key = f"{CONTROL_NAMESPACE}/{LATENCY_APP}"
    await run.apps.wait(lambda: key in run.apps.first_seen, 120.0, key)
    app = LatencyApp(deploys, work, url, head)
    try:
        await push_latency(table, run, app, commits)
        await self_heal(table, run, deploys, "selfHeal: a scale reverted", 5)
        await production_mode(table, run, app)
    finally:
        await deploys.stop()


async def push_latency(table: Table, run: Run, app: LatencyApp, commits: int) -> None:
    """Push a new image tag, POST the webhook, time until the Deployment has it."""
    samples = []
    for i in range(commits):
        tag = f"9.0.{i}"
        await app.push(tag, f"bump {tag}")
        started = time.perf_counter()
        await app.notify(run)
        await wait_image(app.deploys, tag)
        samples.append(time.perf_counter() - started)
    samples.sort()
    table.put(
        f"push-to-synced via webhook, p50 of {commits}",
        run.column,
        f"{statistics.median(samples) * 1000:.0f} ms",
    )
    table.put(
        f"push-to-synced via webhook, p95 of {commits}",
        run.column,
        f"{samples[max(int(len(samples) * 0.95) - 1, 0)] * 1000:.0f} ms",
    )


async def wait_image(deploys: ObjectWatch[Deployed], tag: str) -> None:
    await deploys.wait(
        lambda: any(d.image.endswith(f":{tag}") for d in deploys.states.values()),
        60.0,
        f"image tag {tag}",
    )


async def wait_replicas(
    deploys: ObjectWatch[Deployed], key: str, replicas: int, after: int
) -> None:
    """Until the watch shows ``replicas`` in a version written after ``after``."""
    await deploys.wait(
        lambda: deploys.states[key].replicas == replicas and deploys.states[key].version > after,
        60.0,
        f"{replicas} replicas",
    )


async def self_heal(
    table: Table, run: Run, deploys: ObjectWatch[Deployed], label: str, count: int
) -> list[float]:
    """Scale the Deployment behind the controller's back (as `kubectl scale`); time the revert."""
    info = await run.client.resource_for("apps/v1", "Deployment")
    samples = []
    for i in range(count):
        desired = deploys.states[DEPLOYMENT].replicas
        namespace, name = DEPLOYMENT.split("/")
        drifted = await run.client.patch(
            info,
            name,
            {"spec": {"replicas": desired + 3 + i}},
            namespace,
            field_manager="kubectl-scale",
        )
        started = time.perf_counter()
        version = int(drifted["metadata"]["resourceVersion"])
        await wait_replicas(deploys, DEPLOYMENT, desired, version)
        samples.append(time.perf_counter() - started)
        # drift that keeps coming back is healed with a growing delay (Argo CD's backoff);
        # spacing the samples measures the first revert every time
        await asyncio.sleep(11.0)
    samples.sort()
    if label.startswith("selfHeal"):
        table.put(
            f"{label}, p50 of {count}", run.column, f"{statistics.median(samples) * 1000:.0f} ms"
        )
    table.put(f"{label}, max of {count}", run.column, f"{samples[-1] * 1000:.0f} ms")
    return samples


async def production_mode(table: Table, run: Run, app: LatencyApp) -> None:
    """Manual sync with selfHeal, a newer commit waiting: drift goes back to the synced revision."""
    app_info = await run.client.resource_for("argoproj.io/v1alpha1", "Application")
    policy = {"spec": {"syncPolicy": {"automated": {"enabled": False, "selfHeal": True}}}}
    await run.client.patch(app_info, LATENCY_APP, policy, CONTROL_NAMESPACE, field_manager="bench")
    synced_image = app.deploys.states[DEPLOYMENT].image
    after = await app.push("9.9.9", "waits for a person")
    await app.notify(run)
    key = f"{CONTROL_NAMESPACE}/{LATENCY_APP}"
    await run.apps.wait(
        lambda: run.apps.states[key][0] == "OutOfSync" and run.apps.states[key][2] == after,
        60.0,
        "OutOfSync at the waiting commit",
    )
    await self_heal(table, run, app.deploys, "production mode, a commit waiting: scale reverted", 3)
    image = app.deploys.states[DEPLOYMENT].image
    if image != synced_image:
        raise BenchError(f"production mode deployed the waiting commit: {image}")
