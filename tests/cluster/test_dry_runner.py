"""The diff's server-side dry runner on ClusterClient: answers, and which failures are cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from tether.cluster import ClientSettings, ClusterClient
from tether.engine.diff import ClusterDryRunner, DryRunError
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import crd_manifest

from .conftest import (
    ThrottlingProxy,
    config_map,
    kubeconfig_for,
    unreachable_kubeconfig,
    write_kubeconfig,
)


async def test_dry_run_answers_with_the_object_as_applied_and_stores_nothing(
    client: ClusterClient, namespace: str
) -> None:
    runner = ClusterDryRunner(client)
    answer = await runner.dry_run_apply(config_map("preview", namespace, {"k": "v"}))
    assert answer["data"] == {"k": "v"} and answer["metadata"]["uid"]
    managers = [m["manager"] for m in answer["metadata"]["managedFields"]]
    assert managers == ["tether"]
    assert client.stats.by_verb["apply"] == 1
    cm_info = await client.resource_for("v1", "ConfigMap")
    assert [o["metadata"]["name"] for o in (await client.list(cm_info, namespace)).items] == []


async def test_rejections_are_permanent_and_name_the_code(
    client: ClusterClient, namespace: str
) -> None:
    runner = ClusterDryRunner(client)
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "bad", "namespace": namespace},
        "spec": {"type": "NotAType", "ports": [{"port": 80}]},
    }
    with pytest.raises(DryRunError) as invalid:
        await runner.dry_run_apply(bad)
    assert invalid.value.permanent and invalid.value.message.startswith("422 ")
    gizmo = {"apiVersion": "nope.example.com/v1", "kind": "Gizmo", "metadata": {"name": "g"}}
    with pytest.raises(DryRunError) as unknown:
        await runner.dry_run_apply(gizmo)
    assert unknown.value.permanent
    assert (
        unknown.value.message == '404 no matches for kind "Gizmo" in version "nope.example.com/v1"'
    )


async def test_a_kind_whose_crd_came_after_discovery_is_found(
    client: ClusterClient, namespace: str
) -> None:
    await client.discover()
    crd = crd_manifest("dry.example.com", "Lever", "levers")
    await client.apply(await client.resource_for_object(crd), crd)
    runner = ClusterDryRunner(client)
    lever = {
        "apiVersion": "dry.example.com/v1",
        "kind": "Lever",
        "metadata": {"name": "l", "namespace": namespace},
        "spec": {"pull": True},
    }
    answer = await runner.dry_run_apply(lever)
    assert answer["spec"] == {"pull": True}


async def test_throttling_and_an_unreachable_server_are_retried_later(
    local_cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    settings = ClientSettings(max_retries=0, backoff_base=0.01)
    async with ThrottlingProxy(
        local_cluster.url, local_cluster.creds.ca_pem, throttle=3, retry_after=0
    ) as proxy:
        path = write_kubeconfig(
            tmp_path / "proxy", kubeconfig_for(proxy.url, {"token": local_cluster.admin_token})
        )
        async with ClusterClient.from_kubeconfig(path, settings=settings) as throttled:
            with pytest.raises(DryRunError) as busy:
                await ClusterDryRunner(throttled).dry_run_apply(config_map("t", namespace))
    assert not busy.value.permanent and busy.value.message.startswith("429 ")
    gone_path = unreachable_kubeconfig(tmp_path / "gone")
    async with ClusterClient.from_kubeconfig(gone_path, settings=settings) as gone:
        with pytest.raises(DryRunError) as unreachable:
            await ClusterDryRunner(gone).dry_run_apply(config_map("u", namespace))
    assert not unreachable.value.permanent
    assert "cannot reach the API server" in unreachable.value.message
