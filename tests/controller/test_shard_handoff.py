"""Two controller replicas in one process on the local cluster: they share the apps by shard,
never run a reconcile of one app at once, and a clean stop hands the shards over."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controller.stack import APPLICATION, status_of
from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import NotFound
from tether.controller.controller import Controller, ControllerConfig
from tether.controller.shards import ShardRecord, ShardSettings, shard_of
from tether.demo.repo import commit_and_push, create_repository
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually, kubectl_runner
from tether.names import REPLICA_LEASE_LABEL, SHARD_RECORD_ANNOTATION, SHARD_RECORD_LEASE
from tether.source.gitserver import GitHTTPServer

pytestmark = pytest.mark.asyncio(loop_scope="session")

SHARDS = 8


def configmap_files(count: int, value: str) -> dict[str, str]:
    """A repository with one small app per folder: ``apps/app-<i>/cm.yaml``, one ConfigMap."""
    doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{i}\ndata:\n  value: {value}\n"
    return {f"apps/app-{i}/cm.yaml": doc.format(i=i, value=value) for i in range(count)}


def application(name: str, control_ns: str, repo_url: str, path: str, dest_ns: str) -> dict:
    """The issue's automated Application, pointed at one folder (namespace created)."""
    doc = yaml.safe_load(APPLICATION)
    doc["metadata"].update(name=name, namespace=control_ns)
    doc["spec"]["source"].update(repoURL=repo_url, path=path)
    doc["spec"]["destination"]["namespace"] = dest_ns
    doc["spec"]["syncPolicy"]["syncOptions"] = ["CreateNamespace=true"]
    return dict(doc)


def fleet_of(root: Path, count: int = 12) -> tuple[str, str, Path, list[str]]:
    """A fresh control namespace, the apps' namespace, and a repository of ``count`` apps at
    value "one" (its working copy and the apps' names)."""
    control_ns = f"shards-{uuid.uuid4().hex[:6]}"
    work = root / "work"
    create_repository(root / "git" / "apps.git", work, configmap_files(count, "one"))
    return control_ns, f"{control_ns}-apps", work, [f"app-{i}" for i in range(count)]


def record_of(lease: dict[str, Any]) -> ShardRecord:
    return ShardRecord.from_json(lease["metadata"]["annotations"][SHARD_RECORD_ANNOTATION])


class Overlap:
    """Samples which replicas run a reconcile of each app and which may start reconciles of
    each shard; remembers any app or shard two replicas had at once."""

    def __init__(self, replicas: dict[str, Controller]) -> None:
        self.replicas = replicas
        self.seen: list[tuple[str, list[str]]] = []
        self.task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            running: dict[str, list[str]] = {}
            for who, controller in self.replicas.items():
                for app in controller.reconciling():
                    running.setdefault(app, []).append(who)
                held = controller.sharding.held if controller.sharding is not None else ()
                for shard in held:
                    running.setdefault(f"shard {shard}", []).append(who)
            self.seen += [(what, whom) for what, whom in running.items() if len(whom) > 1]
            await asyncio.sleep(0.005)

    def stop(self) -> None:
        self.task.cancel()


@asynccontextmanager
async def replica(
    cluster: LocalCluster,
    control_ns: str,
    identity: str,
    root: Path,
    kubeconfig: Path | None = None,
    reconcile_interval: float = 1.0,
) -> AsyncIterator[Controller]:
    client = ClusterClient.from_kubeconfig(str(kubeconfig or cluster.kubeconfig))
    config = ControllerConfig(
        namespace=control_ns,
        reconcile_interval=reconcile_interval,
        cache_dir=root / f"cache-{identity}",
        identity=identity,
        lease_duration=3.0,
    )
    controller = Controller(client, config, ShardSettings(shards=SHARDS, lease_duration=3.0))
    await controller.start()
    try:
        yield controller
    finally:
        await controller.stop()
        await client.aclose()


async def test_two_replicas_share_the_apps_and_a_clean_stop_hands_them_over(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    control_ns, dest_ns, work, names = fleet_of(tmp_path)
    count = len(names)
    with GitHTTPServer(tmp_path / "git") as git:
        url = git.url("apps.git")
        # no polls: only the webhook (heard by a, passed on to b) brings the next commit
        hourly = {"reconcile_interval": 3600.0}
        async with replica(local_cluster, control_ns, "replica-a", tmp_path, **hourly) as a:
            # alone on a fresh install: every shard at once, before any worker ran
            assert a.sharding is not None and a.sharding.held == frozenset(range(SHARDS))
            await _ghost_lease(local_cluster, control_ns)
            client = a.client
            apps = await client.resource_for("argoproj.io/v1alpha1", "Application")
            for i, name in enumerate(names):
                path = f"apps/app-{i}"
                await client.create(apps, application(name, control_ns, url, path, dest_ns))
            await eventually(lambda: _all_synced(client, control_ns, names), timeout=90)
            async with replica(local_cluster, control_ns, "replica-b", tmp_path, **hourly) as b:
                overlap = Overlap({"a": a, "b": b})
                try:
                    await eventually(lambda: _shared(a, b), timeout=60, what="shards shared")
                    for name in names:
                        assert a.owns(name) != b.owns(name), name
                    owned = a.metrics().counters["apps_owned"] + b.metrics().counters["apps_owned"]
                    assert owned == count
                    commit_and_push(work, "two", configmap_files(count, "two"))
                    await a.on_webhook([url])
                    await eventually(
                        lambda: _values(client, dest_ns, names, "two"), timeout=90, what="v2"
                    )
                finally:
                    overlap.stop()
                assert overlap.seen == []
                b_shards = b.sharding.held if b.sharding is not None else frozenset()
            # b stopped cleanly: it left the record and gave its shards back before it ended
            lease_info = await client.resource_for("coordination.k8s.io/v1", "Lease")
            record = record_of(await client.get(lease_info, SHARD_RECORD_LEASE, control_ns))
            assert record.members == ("replica-a",)
            assert not record.held_by("replica-b")
            with pytest.raises(NotFound):
                await client.get(lease_info, "tether-replica-replica-b", control_ns)
            await eventually(
                lambda: _holds(a, frozenset(range(SHARDS))), timeout=30, what="a takes all"
            )
            await eventually(
                lambda: _gone(client, lease_info, "tether-replica-ghost", control_ns),
                timeout=30,
                what="the Lease of a replica long gone deleted",
            )
            assert b_shards and all(shard_of(n, SHARDS) in range(SHARDS) for n in names)


async def _all_synced(client: ClusterClient, ns: str, names: list[str]) -> bool:
    info = await client.resource_for("argoproj.io/v1alpha1", "Application")
    items = (await client.list(info, ns)).items
    done = {i["metadata"]["name"] for i in items if status_of(i) == ("Synced", "Healthy")}
    return set(names) <= done


async def _values(client: ClusterClient, ns: str, names: list[str], value: str) -> bool:
    info = await client.resource_for("v1", "ConfigMap")
    items = (await client.list(info, ns)).items
    good = {i["metadata"]["name"] for i in items if (i.get("data") or {}).get("value") == value}
    return set(names) <= good


async def _shared(a: Controller, b: Controller) -> bool:
    assert a.sharding is not None and b.sharding is not None
    held_a, held_b = a.sharding.held, b.sharding.held
    assert not held_a & held_b
    return bool(held_a) and bool(held_b) and held_a | held_b == frozenset(range(SHARDS))


async def _holds(controller: Controller, shards: frozenset[int]) -> bool:
    return controller.sharding is not None and controller.sharding.held == shards


async def test_a_replica_cut_from_the_api_stops_before_its_shards_move_and_comes_back(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    control_ns, dest_ns, work, names = fleet_of(tmp_path)
    count = len(names)
    user = f"{control_ns}-cut"  # replica a is this user: deleting its binding cuts it off
    admin = kubectl_runner(local_cluster.kubeconfig, tmp_path)
    grant = ("create", "clusterrolebinding", user, "--clusterrole=cluster-admin", f"--user={user}")
    admin(*grant)
    cut_config = local_cluster.access().cert_kubeconfig(tmp_path / "kubeconfig-a", user)
    with GitHTTPServer(tmp_path / "git") as git:
        url = git.url("apps.git")
        async with (
            replica(local_cluster, control_ns, "replica-a", tmp_path, cut_config) as a,
            replica(local_cluster, control_ns, "replica-b", tmp_path) as b,
        ):
            client = b.client
            apps = await client.resource_for("argoproj.io/v1alpha1", "Application")
            for i, name in enumerate(names):
                path = f"apps/app-{i}"
                await client.create(apps, application(name, control_ns, url, path, dest_ns))
            await eventually(lambda: _shared(a, b), timeout=60, what="shards shared")
            await eventually(lambda: _all_synced(client, control_ns, names), timeout=90)
            overlap = Overlap({"a": a, "b": b})
            try:
                await asyncio.to_thread(admin, "delete", "clusterrolebinding", user)
                # a stops at its renew deadline; b takes a's shards once a's Lease expired
                await eventually(lambda: _holds(a, frozenset()), timeout=30, what="a stops")
                everything = frozenset(range(SHARDS))
                await eventually(lambda: _holds(b, everything), timeout=30, what="b takes all")
                commit_and_push(work, "two", configmap_files(count, "two"))
                await eventually(
                    lambda: _values(client, dest_ns, names, "two"), timeout=90, what="v2"
                )
                await asyncio.to_thread(admin, *grant)
                await eventually(lambda: _shared(a, b), timeout=60, what="a back")
            finally:
                overlap.stop()
            assert overlap.seen == []


async def _ghost_lease(cluster: LocalCluster, namespace: str) -> None:
    """The Lease a replica killed long ago left behind (it never joined the record)."""
    async with ClusterClient.from_kubeconfig(str(cluster.kubeconfig)) as client:
        info = await client.resource_for("coordination.k8s.io/v1", "Lease")
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": "tether-replica-ghost",
                "namespace": namespace,
                "labels": {REPLICA_LEASE_LABEL: "true"},
            },
            "spec": {"holderIdentity": "ghost", "leaseDurationSeconds": 3},
        }
        await client.create(info, body)


async def _gone(client: ClusterClient, info: ResourceInfo, name: str, namespace: str) -> bool:
    try:
        await client.get(info, name, namespace)
    except NotFound:
        return True
    return False


async def test_deleting_the_record_by_hand_never_gives_a_shard_two_replicas(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    control_ns, _dest_ns, _work, _names = fleet_of(tmp_path, count=0)
    async with (
        replica(local_cluster, control_ns, "replica-a", tmp_path) as a,
        replica(local_cluster, control_ns, "replica-b", tmp_path) as b,
    ):
        await eventually(lambda: _shared(a, b), timeout=60, what="shards shared")
        overlap = Overlap({"a": a, "b": b})
        try:
            info = await a.client.resource_for("coordination.k8s.io/v1", "Lease")
            await a.client.delete(info, SHARD_RECORD_LEASE, control_ns)
            # made again as settling: for a lease duration nobody takes a shard
            settling = await eventually(
                lambda: _settling(a.client, info, control_ns), timeout=30, what="settling"
            )
            assert settling.owners == {}
            await eventually(lambda: _shared(a, b), timeout=60, what="shared again")
        finally:
            overlap.stop()
        assert overlap.seen == []


async def _settling(client: ClusterClient, info: ResourceInfo, ns: str) -> ShardRecord | None:
    try:
        record = record_of(await client.get(info, SHARD_RECORD_LEASE, ns))
    except NotFound:
        return None
    return record if record.settling and len(record.members) == 2 else None
