"""ClusterKubeApi, the Sealed Secrets controller's Kubernetes calls on Tether's cluster stack."""

from __future__ import annotations

import asyncio

import pytest

from tests.cluster.conftest import own_cluster_client
from tether.cluster import ClusterClient, LiveCache, NotEstablished
from tether.localcluster.cluster import LocalCluster
from tether.secrets.crd import CRD_NAME, sealed_secret_crd
from tether.secrets.kubeapi import LISTED, ClusterKubeApi


async def test_a_crd_that_never_gets_established_is_an_error_naming_it() -> None:
    async with own_cluster_client(crd_establish_delay=3600) as client:
        api = ClusterKubeApi(client, crd_timeout=0.2)
        with pytest.raises(NotEstablished, match=f"CRD {CRD_NAME} was not Established"):
            await api.ensure_crd(sealed_secret_crd())
        await api.close()


async def test_followers_on_a_shared_cache_get_the_list_then_each_change(
    local_cluster: LocalCluster, namespace: str
) -> None:
    client = ClusterClient.from_kubeconfig(str(local_cluster.kubeconfig))
    async with client, LiveCache(client) as shared:
        api = ClusterKubeApi(client, cache=shared)
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "followed", "namespace": namespace},
            "data": {"k": "dg=="},
        }
        await api.create_secret(secret)
        listed: list[tuple[str, str, str]] = []
        follower = api.watch_owned_secrets()
        while (event := await anext(follower))[0] != LISTED:
            meta = event[1]["metadata"]
            listed.append((event[0], meta["namespace"], meta["name"]))
        assert ("ADDED", namespace, "followed") in listed
        assert [i.kind for i in shared.tracked] == ["Secret"]
        await api.delete_secret(namespace, "followed")
        async with asyncio.timeout(15):
            while True:
                kind, obj = await anext(follower)
                if (obj["metadata"]["namespace"], obj["metadata"]["name"]) == (
                    namespace,
                    "followed",
                ):
                    break
        assert kind == "DELETED" and obj["data"] == {"k": "dg=="}
        await follower.aclose()
        await api.close()  # a shared cache is left running for its owner
        assert shared.tracked and await api.get_secret(namespace, "followed") is None
