"""Three ``tether controller`` processes on 300 apps: each app owned by exactly one replica, all
converge; a SIGKILLed replica's apps are taken over and converge; a new replica takes its share;
a replica cut from the API stops before anyone takes its shards, so no shard ever has two
workers (each replica's log says when it took and gave up each shard, on one machine's clock).

Each replica is its own user (a client certificate bound to cluster-admin): deleting its binding
cuts its API access (every request 403) without touching the others.
"""

from __future__ import annotations

import itertools
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.controller.test_shard_handoff import application, configmap_files, record_of
from tether.controller.shards import ShardRecord
from tether.demo.repo import commit_and_push, create_repository
from tether.localcluster.cluster import ClusterProcess
from tether.localcluster.identities import ClusterAccess
from tether.localcluster.testing import Kubectl, kubectl_runner, wait_until
from tether.names import SHARD_RECORD_LEASE
from tether.source.gitserver import GitHTTPServer

pytestmark = pytest.mark.slow

APPS = 300
SHARDS = 24
LEASE = 9.0
CONTROL_NS = "argocd"
DEST_NS = "fleet"
_STAMP = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"
_TOOK = re.compile(_STAMP + r" .*sharding: took shards ([\d,]+)")
_RELEASED = re.compile(_STAMP + r" .*sharding: (?:released shards|left \(released shards) ([\d,]+)")
_STOPPED = re.compile(_STAMP + r" .*all work stops")


@dataclass
class Replica:
    """One ``tether controller`` process as user ``name``."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    metrics_port: int
    killed_at: datetime | None = None

    def counters(self) -> dict[str, float]:
        try:
            text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).text
        except httpx.HTTPError:
            return {}  # not listening yet
        found = re.findall(r'^tether_controller_events_total\{kind="(\w+)"\} (\S+)$', text, re.M)
        return {kind: float(value) for kind, value in found}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Fleet:
    cluster: ClusterProcess
    access: ClusterAccess
    admin: Kubectl
    root: Path
    http: httpx.Client
    replicas: dict[str, Replica] = field(default_factory=dict)

    def start(self, name: str) -> Replica:
        self.grant(name)
        kubeconfig = self.access.cert_kubeconfig(self.root / f"kubeconfig-{name}", name)
        port = _free_port()
        log = self.root / f"{name}.log"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tether.cli.main",
                "controller",
                "--kubeconfig",
                str(kubeconfig),
                "--reconcile-interval",
                "2",
                "--cache-dir",
                str(self.root / f"cache-{name}"),
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                f"127.0.0.1:{port}",
                "--allow-local-repositories",
                "--shards",
                str(SHARDS),
                "--lease-duration",
                str(LEASE),
                "--identity",
                name,
            ],
            stdout=subprocess.DEVNULL,
            stderr=log.open("wb"),
        )
        self.replicas[name] = Replica(name, process, log, port)
        return self.replicas[name]

    def grant(self, name: str) -> None:
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"fleet-{name}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": name}],
        }
        self.admin("apply", "-f", "-", input=yaml.safe_dump(binding))

    def cut(self, name: str) -> None:
        self.admin("delete", "clusterrolebinding", f"fleet-{name}")

    def get(self, path: str) -> Any:
        answer = self.http.get(path)
        return answer.json() if answer.status_code == 200 else None

    def record(self) -> ShardRecord | None:
        lease = self.get(
            f"/apis/coordination.k8s.io/v1/namespaces/{CONTROL_NS}/leases/{SHARD_RECORD_LEASE}"
        )
        return record_of(lease) if lease else None

    def apps_done(self, value: str) -> bool:
        """Every app Synced and Healthy and every ConfigMap at ``value``."""
        apps = self.get(f"/apis/argoproj.io/v1alpha1/namespaces/{CONTROL_NS}/applications")
        maps = self.get(f"/api/v1/namespaces/{DEST_NS}/configmaps")
        if not apps or not maps:
            return False
        done = [
            a
            for a in apps["items"]
            if ((a.get("status") or {}).get("sync") or {}).get("status") == "Synced"
            and ((a.get("status") or {}).get("health") or {}).get("status") == "Healthy"
        ]
        good = [m for m in maps["items"] if (m.get("data") or {}).get("value") == value]
        return len(done) == APPS and len(good) == APPS

    def shared_by(self, names: list[str]) -> bool:
        """The record lists exactly these replicas, each owning a share, every shard owned,
        and each replica's own counters agree: its shards and apps sum to all of them."""
        record = self.record()
        ids = set(names)
        if record is None or set(record.members) != ids or len(record.owners) != SHARDS:
            return False
        if set(record.owners.values()) != ids:
            return False
        counters = [self.replicas[n].counters() for n in names]
        held = sum(c.get("shards_held", 0) for c in counters)
        owned = sum(c.get("apps_owned", 0) for c in counters)
        return held == SHARDS and owned == APPS and all(c.get("apps_owned") for c in counters)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    state = tmp_path / "state"
    cluster = ClusterProcess.start(tmp_path, ["--state", str(state)])
    access = cluster.access(state)
    context = ssl.create_default_context(cadata=access.ca_pem.decode())
    http = httpx.Client(
        base_url=access.server,
        verify=context,
        headers={"Authorization": f"Bearer {access.admin_token}"},
        timeout=30,
    )
    made = Fleet(cluster, access, kubectl_runner(cluster.kubeconfig, tmp_path), tmp_path, http)
    try:
        yield made
    finally:
        for replica in made.replicas.values():
            replica.stop()
        http.close()
        cluster.stop()


def holding_intervals(replica: Replica) -> dict[int, list[tuple[datetime, datetime]]]:
    """When the replica worked on each shard, from its log (killed: up to the kill)."""
    open_: dict[int, datetime] = {}
    out: dict[int, list[tuple[datetime, datetime]]] = {}

    def close(shards: list[int], at: datetime) -> None:
        for shard in shards:
            if shard in open_:
                out.setdefault(shard, []).append((open_.pop(shard), at))

    for line in replica.log.read_text(errors="replace").splitlines():
        if m := _TOOK.match(line):
            for shard in m.group(2).split(","):
                open_.setdefault(int(shard), _when(m.group(1)))
        elif m := _RELEASED.match(line):
            close([int(s) for s in m.group(2).split(",")], _when(m.group(1)))
        elif m := _STOPPED.match(line):
            close(list(open_), _when(m.group(1)))
    close(list(open_), replica.killed_at or datetime.max)
    return out


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f")


def assert_one_worker_per_shard(replicas: list[Replica]) -> None:
    spans: dict[int, list[tuple[datetime, datetime, str]]] = {}
    for replica in replicas:
        for shard, intervals in holding_intervals(replica).items():
            spans.setdefault(shard, []).extend((s, e, replica.name) for s, e in intervals)
    assert set(spans) == set(range(SHARDS))
    for shard, items in spans.items():
        items.sort()
        for (_, end, who), (start, _, next_who) in itertools.pairwise(items):
            assert start >= end, f"shard {shard}: {next_who} took it before {who} gave it up"


def test_three_replicas_share_300_apps_survive_a_kill_a_join_and_a_partition(
    fleet: Fleet,
) -> None:
    work = fleet.root / "work"
    create_repository(fleet.root / "git" / "apps.git", work, configmap_files(APPS, "one"))
    with GitHTTPServer(fleet.root / "git") as git:
        url = git.url("apps.git")
        a, _, c = (fleet.start(n) for n in ("replica-a", "replica-b", "replica-c"))
        wait_until(
            lambda: fleet.get("/apis/argoproj.io/v1alpha1") is not None,
            timeout=60,
            what="CRDs installed",
        )
        docs = [
            application(f"app-{i}", CONTROL_NS, url, f"apps/app-{i}", DEST_NS) for i in range(APPS)
        ]
        fleet.admin("apply", "-f", "-", input=yaml.safe_dump_all(docs), timeout=120)
        names = ["replica-a", "replica-b", "replica-c"]
        wait_until(lambda: fleet.shared_by(names), timeout=90, what="three replicas share")
        wait_until(lambda: fleet.apps_done("one"), timeout=300, what="300 apps converge")

        # SIGKILL c: its shards are taken over, its apps follow the next commit
        c.process.send_signal(signal.SIGKILL)
        c.process.wait()
        c.killed_at = datetime.now()
        wait_until(
            lambda: fleet.shared_by(["replica-a", "replica-b"]), timeout=LEASE * 4, what="takeover"
        )
        commit_and_push(work, "two", configmap_files(APPS, "two"))
        wait_until(lambda: fleet.apps_done("two"), timeout=300, what="converged after the kill")

        # a new replica takes its share
        fleet.start("replica-d")
        names = ["replica-a", "replica-b", "replica-d"]
        wait_until(lambda: fleet.shared_by(names), timeout=60, what="d takes its share")

        # a loses the API: it stops, b and d take its shards, its apps follow the next commit
        fleet.cut("replica-a")
        wait_until(
            lambda: fleet.shared_by(["replica-b", "replica-d"]), timeout=LEASE * 4, what="cut"
        )
        commit_and_push(work, "three", configmap_files(APPS, "three"))
        wait_until(lambda: fleet.apps_done("three"), timeout=300, what="converged after the cut")
        assert "all work stops" in a.log.read_text()

        # the partition heals: a is back with its share, nobody worked on a shard twice
        fleet.grant("replica-a")
        wait_until(lambda: fleet.shared_by(names), timeout=60, what="a back")
        commit_and_push(work, "four", configmap_files(APPS, "four"))
        wait_until(lambda: fleet.apps_done("four"), timeout=300, what="converged after healing")
        for replica in fleet.replicas.values():
            replica.stop()
    assert_one_worker_per_shard(list(fleet.replicas.values()))
