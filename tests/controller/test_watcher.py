"""The controller's list+watch mirror never goes back to an older copy than one it wrote itself.

The controller keeps the answer to its own status writes (so the next write of a reconcile
builds on it); the watch delivers the intermediate versions later. A stale "Running" arriving
after "Succeeded" made the controller believe a sync had been interrupted and run it again,
adding a second history entry for the same revision.
"""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from typing import Any

import pytest
import yaml

from tether.cluster.client import ClusterClient
from tether.controller.watcher import ObjectWatcher
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually
from tether.tools import find_tool


def kubectl_sync(cluster: LocalCluster, *args: str, input: str | None = None) -> Any:
    """kubectl run synchronously: the event loop (and so the watcher) cannot run meanwhile."""
    proc = subprocess.run(
        [find_tool("kubectl"), "--kubeconfig", str(cluster.kubeconfig), *args],
        input=input,
        capture_output=True,
        text=True,
        check=True,
    )
    return yaml.safe_load(proc.stdout) if proc.stdout.strip() else None


@pytest.mark.asyncio(loop_scope="session")
async def test_a_late_watch_event_does_not_replace_a_newer_own_write(
    local_cluster: LocalCluster, namespace: str
) -> None:
    name = f"w-{uuid.uuid4().hex[:6]}"
    async with ClusterClient.from_kubeconfig(str(local_cluster.kubeconfig)) as client:
        info = await client.resource_for("v1", "ConfigMap")
        seen: list[str] = []
        watcher = ObjectWatcher(
            client, info, namespace, lambda _t, o: seen.append(o["metadata"]["resourceVersion"])
        )
        watcher.start()
        try:
            await asyncio.wait_for(watcher.synced.wait(), 30)
            cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
            created = kubectl_sync(
                local_cluster, "create", "-n", namespace, "-o", "yaml", "-f", "-",
                input=yaml.safe_dump({**cm, "data": {"phase": "Running"}}),
            )  # fmt: skip
            newest = kubectl_sync(
                local_cluster, "patch", "configmap", name, "-n", namespace, "-o", "yaml",
                "--type=merge", "-p", '{"data": {"phase": "Succeeded"}}',
            )  # fmt: skip
            # our own write's answer arrives before the watch has delivered either event
            assert watcher.remember(newest)
            assert not watcher.remember(created)  # an older copy is refused

            async def delivered() -> bool:
                return newest["metadata"]["resourceVersion"] in seen

            await eventually(delivered, what="the watch delivered the newest version")
            assert created["metadata"]["resourceVersion"] not in seen  # the stale one: skipped
            assert watcher.get(name)["data"] == {"phase": "Succeeded"}  # type: ignore[index]
        finally:
            await watcher.stop()
