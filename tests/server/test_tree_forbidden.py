"""The resource tree of a controller that may not list a child kind (Pods, ReplicaSets, Jobs):
the view is answered with what the cache has, never a 500, and the next request tries again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tether.cluster.cache import LiveCache
from tether.cluster.client import ClusterClient
from tether.controller.face import ClusterView
from tether.localcluster.cluster import LocalCluster
from tether.server import app_objects

pytestmark = pytest.mark.asyncio(loop_scope="session")


class _OneCluster:
    """The one part of the server's state the tree reads: the app's destination."""

    def __init__(self, view: ClusterView) -> None:
        self.view = view

    async def cluster_view(self, app: str) -> ClusterView:
        return self.view


async def test_a_child_kind_the_controller_may_not_list_leaves_the_tree_answering(
    local_cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    access = local_cluster.access()
    kubeconfig = await asyncio.to_thread(
        access.service_account_kubeconfig, tmp_path / "kubeconfig", namespace, "no-pods"
    )
    client = ClusterClient.from_kubeconfig(str(kubeconfig))
    cache = LiveCache(client, namespace=namespace)
    try:
        view = ClusterView(server=local_cluster.url, client=client, cache=cache)
        face = _OneCluster(view)
        # no RBAC at all for the account: every child kind's list is refused
        for _ in range(2):
            answered = await app_objects.cluster_with_children(face, "app")  # type: ignore[arg-type]
            assert answered is view
        assert cache not in app_objects._following_children, "a refused kind counted as followed"
    finally:
        await cache.close()
        await client.aclose()
