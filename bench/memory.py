"""Memory of the live cache and of the control namespace: bytes per object and per app.

Starts a local cluster in its own process, lets a real controller sync one application (its
Application status, as the controller writes it, is the template), then writes N apps' worth of
objects the way the controller applies them (server-side apply, field manager ``tether``,
tracking annotation): per app a Deployment (1 replica, so a ReplicaSet and a Pod follow), a
Service, seven ConfigMaps and a Secret, the fleet of bench/controller.py (bench/_fleet.py); and N Applications
with that status. Then, in this process, with tracemalloc after a GC:

* a LiveCache following Deployments, Services, ConfigMaps, Secrets (what the controller follows)
  and ReplicaSets and Pods (what the UI's resource tree adds): bytes per object, with the
  cached objects as the API sent them (``--raw``: managedFields whole, nothing shared) and as
  the cache keeps them by default (managedFields compact, values shared);
* the control namespace (ControlNamespace): bytes per Application, raw and compact.

    flock /tmp/tether-bench.lock python bench/memory.py [--apps 1000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import yaml

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._fleet import app_name, app_namespace, app_objects, app_path, application  # noqa: E402
from tether.cluster import ClientSettings, ClusterClient, LiveCache, ResourceInfo, stamp  # noqa: E402
from tether.controller.control import ControlNamespace  # noqa: E402
from tether.controller.controller import Controller, ControllerConfig  # noqa: E402
from tether.demo.repo import create_repository  # noqa: E402
from tether.localcluster.cluster import ClusterProcess  # noqa: E402
from tether.names import ARGO_API_VERSION, CONTROLLER_FIELD_MANAGER  # noqa: E402
from tether.source.gitserver import GitHTTPServer  # noqa: E402

TEMPLATE_APP = "app-template"
FOLLOWED = [
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("apps/v1", "ReplicaSet"),
    ("v1", "Pod"),
]


def row(label: str, value: str) -> None:
    print(f"{label:66} {value:>14}", flush=True)


async def bounded(calls: list[Callable[[], Awaitable[Any]]], limit: int = 64) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(one(c) for c in calls))


async def template_status(client: ClusterClient, tmp: Path) -> dict[str, Any]:
    """The status a real controller writes for one synced app of bench/controller.py's shape."""
    server = GitHTTPServer(tmp / "git").start()
    try:
        files = {app_path(0): yaml.safe_dump_all(app_objects(0))}
        create_repository(tmp / "git" / "t.git", tmp / "t-work", files)
        config = ControllerConfig(leader_election=False, cache_dir=tmp / "cache")
        controller = Controller(client, config)
        await controller.start()
        info = await client.resource_for(ARGO_API_VERSION, "Application")
        path = str(Path(app_path(0)).parent)
        doc = application(TEMPLATE_APP, server.url("t.git"), path, "template")
        await client.apply(info, doc, force=True)
        try:
            async with asyncio.timeout(120):
                while True:
                    status = (await client.get(info, TEMPLATE_APP, "argocd")).get("status") or {}
                    if (status.get("sync") or {}).get("status") == "Synced" and (
                        status.get("health") or {}
                    ).get("status") == "Healthy":
                        return dict(status)
                    await asyncio.sleep(0.2)
        finally:
            await controller.stop()
    finally:
        server.stop()


def stamped_objects(index: int) -> list[dict[str, Any]]:
    """One app's objects as the controller applies them: namespace filled in, tracking id."""
    docs = app_objects(index)
    for doc in docs:
        doc["metadata"]["namespace"] = app_namespace(index)
    return [stamp(doc, app_name(index)) for doc in docs]


def app_status(template: dict[str, Any], index: int) -> dict[str, Any]:
    """The template status with this app's names (as if the controller had synced it)."""
    text = yaml.safe_dump(template)
    text = text.replace(app_name(0), app_name(index)).replace(
        "namespace: template", f"namespace: {app_namespace(index)}"
    )
    return dict(yaml.safe_load(text))


async def populate(client: ClusterClient, apps: int, template: dict[str, Any]) -> float:
    """Write every app's objects and Application; return the seconds it took."""
    started = time.perf_counter()
    ns_info = await client.resource_for("v1", "Namespace")
    for namespace in sorted({app_namespace(i) for i in range(apps)}):
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        await client.apply(ns_info, body, field_manager=CONTROLLER_FIELD_MANAGER, force=True)
    infos = {kind: await client.resource_for(av, kind) for av, kind in FOLLOWED}
    app_info = await client.resource_for(ARGO_API_VERSION, "Application")

    def write(obj: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
        return lambda: client.apply(
            infos[obj["kind"]], obj, field_manager=CONTROLLER_FIELD_MANAGER, force=True
        )

    def write_app(i: int) -> Callable[[], Awaitable[Any]]:
        async def run() -> None:
            name = app_name(i)
            path = str(Path(app_path(i)).parent)
            doc = application(name, "https://git.example.com/fleet.git", path, app_namespace(i))
            await client.apply(app_info, doc, field_manager="kubectl", force=True)
            await client.patch(
                app_info,
                name,
                {"status": app_status(template, i)},
                "argocd",
                patch_type="merge",
                field_manager=CONTROLLER_FIELD_MANAGER,
                subresource="status",
            )

        return run

    await bounded([write(obj) for i in range(apps) for obj in stamped_objects(i)])
    await bounded([write_app(i) for i in range(apps)])
    await wait_available(client, infos["Deployment"], apps)
    return time.perf_counter() - started


async def wait_available(client: ClusterClient, info: ResourceInfo, apps: int) -> None:
    async with asyncio.timeout(600):
        while True:
            items = (await client.list(info)).items
            ready = sum(1 for d in items if (d.get("status") or {}).get("availableReplicas"))
            if ready >= apps:
                return
            await asyncio.sleep(1.0)


async def retained(build: Callable[[], Awaitable[Any]]) -> tuple[int, Any]:
    """Bytes still allocated after ``build()`` (what the built thing keeps), and the thing."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    thing = await build()
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return kept, thing


async def cache_bytes(client: ClusterClient, share: bool, keep: bool) -> tuple[int, int, float]:
    """Bytes the cache keeps, objects it holds, and the seconds of its first sync (measured
    apart, without tracemalloc, best of two)."""
    infos = [await client.resource_for(av, kind) for av, kind in FOLLOWED]

    async def build() -> LiveCache:
        cache = LiveCache(client, keep_managed_fields=keep, share=share)
        await cache.track(infos)
        return cache

    kept, cache = await retained(build)
    count = len(cache)
    await cache.close()
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        cache = await build()
        seconds.append(time.perf_counter() - started)
        await cache.close()
    return kept, count, min(seconds)


async def control_bytes(client: ClusterClient, compact: bool) -> tuple[int, int]:
    def ignore(event_type: str, obj: dict[str, Any]) -> None:
        return None

    async def build() -> ControlNamespace:
        control = ControlNamespace(
            client,
            "argocd",
            on_application=ignore,
            on_project=ignore,
            on_secret=ignore,
            on_configmap=ignore,
            compact=compact,
        )
        await control.start()
        return control

    kept, control = await retained(build)
    count = len(control.application_objects())
    await control.stop()
    return kept, count


async def main(apps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        (tmp / "cluster").mkdir()
        cluster = ClusterProcess.start(tmp / "cluster", ["--pod-ready-delay", "0.2"])
        settings = ClientSettings(qps=1000, burst=2000)
        client = ClusterClient.from_kubeconfig(str(cluster.kubeconfig), settings=settings)
        try:
            template = await template_status(client, tmp)
            took = await populate(client, apps, template)
            row(f"{apps} apps written (10 objects + Application each)", f"{took:8.1f} s")
            for label, share, keep in (
                ("raw: managedFields whole, nothing shared", False, True),
                ("default: managedFields compact, values shared", True, True),
                ("managedFields dropped, values shared", True, False),
            ):
                kept, count, seconds = await cache_bytes(client, share, keep)
                row(f"live cache, {label}", f"{kept / count:8.0f} B/obj")
                row(f"  {count} objects", f"{kept / 2**20:8.1f} MiB")
                row("  first list of them all (best of 2)", f"{seconds:8.2f} s")
            for label, compact in (("raw", False), ("default: compact", True)):
                kept, count = await control_bytes(client, compact)
                row(f"control namespace, {label}", f"{kept / count:8.0f} B/app")
                row(
                    f"  {count} Applications (+ projects, secrets, configmaps)",
                    f"{kept / 2**20:8.1f} MiB",
                )
        finally:
            await client.aclose()
            cluster.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="100 apps")
    args = parser.parse_args()
    asyncio.run(main(100 if args.quick else args.apps))
