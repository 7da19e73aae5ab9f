"""The demo's Applications on a real API server: created once, then left as the user made them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tether.cluster.client import ClusterClient
from tether.cluster.crds import wait_established
from tether.controller.crds import crd_manifests
from tether.demo.apps import DEMO_APPS, ensure_demo_applications
from tether.names import APPLICATION, ARGO_API_VERSION

pytestmark = pytest.mark.asyncio(loop_scope="session")

OLD = "http://127.0.0.1:40001/k8s-manifests.git"
NEW = "http://127.0.0.1:40002/k8s-manifests.git"


async def _control_namespace(client: ClusterClient) -> str:
    crds = crd_manifests()
    for crd in crds:
        info = await client.resource_for_object(crd)
        await client.apply(info, crd, force=True)
    await wait_established(client, [crd["metadata"]["name"] for crd in crds], timeout=30)
    name = f"demo-{uuid.uuid4().hex[:6]}"
    ns = await client.resource_for("v1", "Namespace")
    await client.apply(ns, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


async def _apps(client: ClusterClient, namespace: str) -> dict[str, dict[str, Any]]:
    info = await client.resource_for(ARGO_API_VERSION, APPLICATION)
    listed = await client.list(info, namespace)
    return {obj["metadata"]["name"]: obj for obj in listed.items}


async def test_staging_is_automated_and_production_manual_with_a_first_sync(
    client: ClusterClient,
) -> None:
    control = await _control_namespace(client)
    await ensure_demo_applications(client, OLD, None, control)
    apps = await _apps(client, control)
    assert sorted(apps) == sorted(app.name for app in DEMO_APPS)
    for name, obj in apps.items():
        spec = obj["spec"]
        environment = name.rpartition("-")[2]
        assert spec["source"] == {
            "repoURL": OLD,
            "targetRevision": "HEAD",
            "path": f"apps/{name.rpartition('-')[0]}/{environment}",
        }
        assert spec["destination"]["namespace"] == name
        if environment == "staging":
            assert spec["syncPolicy"] == {"automated": {"prune": True, "selfHeal": True}}
            assert "operation" not in obj
        else:
            assert spec["syncPolicy"] == {"automated": {"enabled": False, "selfHeal": True}}
            assert obj["operation"] == {"initiatedBy": {"username": "tether up"}, "sync": {}}


async def test_a_restart_keeps_the_users_changes_and_follows_a_moved_git_server(
    client: ClusterClient,
) -> None:
    control = await _control_namespace(client)
    await ensure_demo_applications(client, OLD, None, control)
    info = await client.resource_for(ARGO_API_VERSION, APPLICATION)
    # what the user (and the controller) did meanwhile
    await client.patch(info, "payment-service-staging", {"spec": {"syncPolicy": None}}, control)
    await client.patch(info, "payment-service-production", {"operation": None}, control)
    elsewhere = {"spec": {"source": {"repoURL": "https://example.com/fork.git"}}}
    await client.patch(info, "catalog-service-production", elsewhere, control)

    await ensure_demo_applications(client, OLD, None, control)
    apps = await _apps(client, control)
    assert "syncPolicy" not in apps["payment-service-staging"]["spec"]
    assert "operation" not in apps["payment-service-production"], "a restart synced again"

    await ensure_demo_applications(client, NEW, OLD, control)
    urls = {
        name: obj["spec"]["source"]["repoURL"]
        for name, obj in (await _apps(client, control)).items()
    }
    assert urls == {
        "payment-service-staging": NEW,
        "payment-service-production": NEW,
        "catalog-service-staging": NEW,
        "catalog-service-production": "https://example.com/fork.git",
    }
