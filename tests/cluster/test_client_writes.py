"""ClusterClient's whole-object replace, kind lookup from a manifest and the wait for new CRDs,
against the real local cluster."""

from __future__ import annotations

import uuid

import httpx2
import pytest

from tether.cluster import (
    ClientSettings,
    ClusterClient,
    Conflict,
    NotEstablished,
    UnknownKind,
    is_established,
    load_kubeconfig,
    wait_established,
)
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import crd_manifest

from .conftest import config_map, loopback_transport, own_cluster_client


async def test_replace_writes_the_whole_object_and_refuses_a_stale_resource_version(
    client: ClusterClient, namespace: str
) -> None:
    cm_info = await client.resource_for("v1", "ConfigMap")
    created = await client.create(
        cm_info, config_map("whole", namespace, {"a": "1", "b": "2"}, labels={"team": "x"})
    )
    body = config_map("whole", namespace, {"a": "9"})
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    replaced = await client.replace(cm_info, body, field_manager="replacer")
    # a PUT drops what the body leaves out, unlike a patch or an apply
    assert replaced["data"] == {"a": "9"} and "labels" not in replaced["metadata"]
    assert replaced["metadata"]["uid"] == created["metadata"]["uid"]
    managers = {(m["manager"], m["operation"]) for m in replaced["metadata"]["managedFields"]}
    assert ("replacer", "Update") in managers
    stale = config_map("whole", namespace, {"a": "stale"})
    stale["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    with pytest.raises(Conflict) as conflict:
        await client.replace(cm_info, stale)
    assert conflict.value.code == 409
    assert (await client.get(cm_info, "whole", namespace))["data"] == {"a": "9"}


async def test_replace_dry_run_persists_nothing(client: ClusterClient, namespace: str) -> None:
    cm_info = await client.resource_for("v1", "ConfigMap")
    created = await client.create(cm_info, config_map("dry-put", namespace, {"v": "1"}))
    body = config_map("dry-put", namespace, {"v": "2"})
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    preview = await client.replace(cm_info, body, dry_run=True)
    assert preview["data"] == {"v": "2"}
    stored = await client.get(cm_info, "dry-put", namespace)
    assert stored["data"] == {"v": "1"}
    assert stored["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_resource_for_object_reads_api_version_and_kind(client: ClusterClient) -> None:
    deploy = await client.resource_for_object({"apiVersion": "apps/v1", "kind": "Deployment"})
    assert (deploy.plural, deploy.namespaced) == ("deployments", True)
    with pytest.raises(UnknownKind, match='no matches for kind "" in version ""'):
        await client.resource_for_object({"metadata": {"name": "no-type"}})


class LaggingDiscovery(httpx2.AsyncBaseTransport):
    """Forwards to the cluster, but answers ``/apis`` from the previous answer ``lag`` times:
    a server whose discovery trails a CRD that is already Established (kube-apiserver's
    aggregated discovery is updated asynchronously)."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self.inner = inner
        self.lag = 0
        self.previous: tuple[int, list[tuple[str, str]], bytes] | None = None

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path != "/apis":
            return response
        content = await response.aread()
        headers = [
            (k, v)
            for k, v in response.headers.items()
            if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")
        ]
        if self.lag and self.previous is not None:
            self.lag -= 1
            status, headers, content = self.previous
        else:
            status = response.status_code
            self.previous = (status, headers, content)
        return httpx2.Response(status, headers=headers, content=content)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_resource_for_object_fetches_discovery_again_when_a_refresh_lags(
    local_cluster: LocalCluster, client: ClusterClient
) -> None:
    config = load_kubeconfig(str(local_cluster.kubeconfig))
    lagging = LaggingDiscovery(loopback_transport(config))
    async with ClusterClient(config, ClientSettings(qps=0), transport=lagging) as lagged:
        lagged.discovery.miss_refresh_interval = 0  # the miss comes right after a fetch
        await lagged.discover()
        group = f"lag{uuid.uuid4().hex[:8]}.example.com"
        crd = crd_manifest(group, "Sprocket", "sprockets")
        crd_info = await client.resource_for_object(crd)
        await client.apply(crd_info, crd)
        await wait_established(client, [crd["metadata"]["name"]], timeout=30)
        lagging.lag = 1  # the refresh on the miss still gets the old list of groups
        before = lagged.stats.by_verb["discovery"]
        info = await lagged.resource_for_object({"apiVersion": f"{group}/v1", "kind": "Sprocket"})
        assert (info.plural, info.kind) == ("sprockets", "Sprocket")
        # the refresh on the miss, then one more fetch after invalidating
        assert lagged.stats.by_verb["discovery"] == before + 4


async def test_unknown_kind_from_an_object_costs_two_discovery_fetches(
    client: ClusterClient,
) -> None:
    client.discovery.miss_refresh_interval = 0  # the miss comes right after a fetch
    await client.discover()
    before = client.stats.by_verb["discovery"]
    with pytest.raises(UnknownKind, match='no matches for kind "Gizmo"'):
        await client.resource_for_object({"apiVersion": "nope.example.com/v1", "kind": "Gizmo"})
    assert client.stats.by_verb["discovery"] == before + 4


async def test_wait_established_waits_for_every_crd_then_refreshes_discovery() -> None:
    async with own_cluster_client(crd_establish_delay=1.0) as c:
        crds = [crd_manifest("slow.example.com", k, f"{k.lower()}s") for k in ("Cog", "Gear")]
        crd_info = await c.resource_for_object(crds[0])
        for crd in crds:
            await c.apply(crd_info, crd)
        await c.discover()
        names = [crd["metadata"]["name"] for crd in crds]
        await wait_established(c, names, timeout=30)
        # each CRD became Established a second after it was created: the call waited
        assert all([is_established(await c.get(crd_info, n)) for n in names])
        assert c.discovery_stale
        gear = await c.resource_for("slow.example.com/v1", "Gear")
        assert gear.plural == "gears"


async def test_wait_established_names_the_crd_that_never_got_there() -> None:
    async with own_cluster_client(crd_establish_delay=3600) as c:
        crd = crd_manifest("stuck.example.com", "Anchor", "anchors")
        await c.apply(await c.resource_for_object(crd), crd)
        with pytest.raises(NotEstablished) as late:
            await wait_established(c, [crd["metadata"]["name"]], timeout=0.2)
    assert late.value.message == (
        "CRD anchors.stuck.example.com was not Established within 0.2s; "
        "see kubectl describe crd anchors.stuck.example.com"
    )
