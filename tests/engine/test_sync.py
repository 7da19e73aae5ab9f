"""Syncs against the local cluster (simulated controllers on): order, hooks, prunes, failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound
from tether.cluster.tracking import TRACKING_ANNOTATION
from tether.engine.plan import PlanError, SyncOptions, plan_sync
from tether.engine.sync import SyncEngine
from tether.localcluster.cluster import LocalCluster


@pytest.fixture
async def client(local_cluster: LocalCluster) -> AsyncIterator[ClusterClient]:
    async with ClusterClient.from_kubeconfig(str(local_cluster.kubeconfig)) as c:
        yield c


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def job(
    name: str,
    hook: str | None = None,
    image: str = "busybox:1.36",
    wave: int | None = None,
    policy: str | None = None,
) -> str:
    annotations = {}
    if hook:
        annotations["argocd.argoproj.io/hook"] = hook
    if policy:
        annotations["argocd.argoproj.io/hook-delete-policy"] = policy
    if wave is not None:
        annotations["argocd.argoproj.io/sync-wave"] = str(wave)
    return yaml.safe_dump(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "annotations": annotations},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "main", "image": image}],
                    }
                },
            },
        }
    )


def deployment(
    name: str, wave: int, image: str = "nginx:1.27", extra: dict[str, Any] | None = None
) -> str:
    spec = {
        "replicas": 1,
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": image}]},
        },
        **(extra or {}),
    }
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "annotations": {"argocd.argoproj.io/sync-wave": str(wave)}},
            "spec": spec,
        }
    )


def configmap(name: str, wave: int = 0, **data: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "annotations": {"argocd.argoproj.io/sync-wave": str(wave)}},
            "data": data,
        }
    )


async def exists(
    client: ClusterClient, api_version: str, kind: str, name: str, namespace: str
) -> bool:
    info = await client.resource_for(api_version, kind)
    try:
        await client.get(info, name, namespace)
        return True
    except NotFound:
        return False


async def test_three_waves_hooks_and_a_prune_run_in_argo_cd_order(
    client: ClusterClient, namespace: str
) -> None:
    engine = SyncEngine(client, app_name="shop", poll_interval=0.05)
    first = docs(configmap("old", wave=1, a="1"))
    result = await engine.sync(plan_sync(first), namespace=namespace)
    assert result.succeeded, result.message
    info = await client.resource_for("v1", "ConfigMap")
    old_live = await client.get(info, "old", namespace)
    desired = docs(
        "---\n".join(
            [
                job("migrate", hook="PreSync"),
                configmap("settings", wave=0, mode="prod"),
                deployment("backend", wave=1),
                deployment("frontend", wave=2),
                job("smoke", hook="PostSync", policy="HookSucceeded"),
            ]
        )
    )
    plan = plan_sync(desired, [old_live], SyncOptions(prune=True))
    result = await engine.sync(plan, SyncOptions(prune=True), namespace=namespace)
    assert result.succeeded, result.log
    assert result.log == [
        "PreSync wave 0: job.batch/migrate created",
        "PreSync wave 0: hook job.batch/migrate succeeded: Reached expected number of succeeded pods",
        "PreSync wave 0: healthy",
        "Sync wave 0: configmap/settings created",
        "Sync wave 0: healthy",
        "Sync wave 1: configmap/old pruned",
        "Sync wave 1: deployment.apps/backend created",
        "Sync wave 1: healthy",
        "Sync wave 2: deployment.apps/frontend created",
        "Sync wave 2: healthy",
        "PostSync wave 0: job.batch/smoke created",
        "PostSync wave 0: hook job.batch/smoke succeeded: Reached expected number of succeeded pods",
        "PostSync wave 0: hook job.batch/smoke deleted (HookSucceeded)",
        "PostSync wave 0: healthy",
    ]
    assert [(s.key.name, s.status) for s in result.steps] == [
        ("migrate", "Synced"),
        ("settings", "Synced"),
        ("old", "Pruned"),
        ("backend", "Synced"),
        ("frontend", "Synced"),
        ("smoke", "Synced"),
    ]
    assert [s.hook_phase for s in result.steps if s.hook_type] == ["Succeeded", "Succeeded"]
    cm = await client.get(info, "settings", namespace)
    assert (
        cm["metadata"]["annotations"][TRACKING_ANNOTATION]
        == f"shop:/ConfigMap:{namespace}/settings"
    )
    assert not await exists(client, "v1", "ConfigMap", "old", namespace)
    assert not await exists(client, "batch/v1", "Job", "smoke", namespace)  # HookSucceeded
    assert await exists(client, "batch/v1", "Job", "migrate", namespace)
    # the same sync again: everything unchanged, the named PreSync hook recreated
    again = await engine.sync(plan_sync(desired), namespace=namespace)
    assert again.succeeded
    assert "Sync wave 1: deployment.apps/backend unchanged" in again.log
    assert "PreSync wave 0: job.batch/migrate deleted before creation" in again.log


async def test_failing_presync_hook_stops_the_sync_and_runs_syncfail_hooks(
    client: ClusterClient, namespace: str
) -> None:
    desired = docs(
        "---\n".join(
            [
                job("migrate", hook="PreSync", image="busybox:1.36-fail"),
                configmap("never"),
                job("alert", hook="SyncFail"),
            ]
        )
    )
    engine = SyncEngine(client, app_name="shop", poll_interval=0.05)
    result = await engine.sync(plan_sync(desired), namespace=namespace)
    assert result.phase == "Failed"
    assert "PreSync hook job.batch/migrate failed" in result.message
    assert not await exists(client, "v1", "ConfigMap", "never", namespace)
    assert await exists(client, "batch/v1", "Job", "alert", namespace)
    assert "SyncFail wave 0: job.batch/alert created" in result.log
    failed = next(s for s in result.steps if s.key.name == "migrate")
    assert (failed.status, failed.hook_phase) == ("SyncFailed", "Failed")


async def test_rejected_objects_fail_the_sync_before_anything_is_applied(
    client: ClusterClient, namespace: str
) -> None:
    desired = docs(
        "---\n".join(
            [
                configmap("a-first"),
                deployment("bad", wave=0, extra={"replicas": -1}),
                yaml.safe_dump(
                    {
                        "apiVersion": "nope.example.com/v1",
                        "kind": "Gizmo",
                        "metadata": {"name": "g"},
                    }
                ),
                configmap("z-last", wave=3),
            ]
        )
    )
    engine = SyncEngine(client, app_name="shop")
    result = await engine.sync(plan_sync(desired), namespace=namespace)
    assert result.phase == "Failed"
    errors = {s.key.name: s.message for s in result.steps if s.status == "SyncFailed"}
    assert set(errors) == {"bad", "g"}
    assert "spec.replicas: Invalid value: -1: must be greater than or equal to 0" in errors["bad"]
    assert 'no matches for kind "Gizmo" in version "nope.example.com/v1"' in errors["g"]
    assert not await exists(client, "v1", "ConfigMap", "a-first", namespace)
    assert not await exists(client, "v1", "ConfigMap", "z-last", namespace)


def test_two_objects_with_the_same_identity_are_refused_by_the_plan() -> None:
    with pytest.raises(PlanError, match="appears more than once"):
        plan_sync(docs(configmap("twin") + "---\n" + configmap("twin")))


async def test_crd_and_its_custom_resources_in_one_sync(
    client: ClusterClient, namespace: str
) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "caches.engine.test"},
        "spec": {
            "group": "engine.test",
            "scope": "Namespaced",
            "names": {"plural": "caches", "singular": "cache", "kind": "Cache"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    cache = {
        "apiVersion": "engine.test/v1",
        "kind": "Cache",
        "metadata": {"name": "redis"},
        "spec": {"size": 3},
    }
    engine = SyncEngine(client, app_name="shop", poll_interval=0.05)
    result = await engine.sync(plan_sync([cache, crd]), namespace=namespace)
    assert result.succeeded, result.log
    assert [s.key.kind for s in result.steps] == ["CustomResourceDefinition", "Cache"]
    assert await exists(client, "engine.test/v1", "Cache", "redis", namespace)


async def test_degraded_deployment_fails_the_sync_with_its_health_message(
    client: ClusterClient, namespace: str
) -> None:
    desired = docs(
        deployment("crashy", wave=0, image="app:1-crashloop", extra={"progressDeadlineSeconds": 2})
        + "---\n"
        + configmap("after", wave=1)
    )
    engine = SyncEngine(client, app_name="shop", poll_interval=0.05, wave_timeout=30)
    result = await engine.sync(plan_sync(desired), namespace=namespace)
    assert result.phase == "Failed"
    assert "deployment.apps/crashy" in result.message and "Degraded" in result.message
    assert "progress deadline" in result.message
    assert not await exists(client, "v1", "ConfigMap", "after", namespace)


async def test_dry_run_sync_applies_nothing(client: ClusterClient, namespace: str) -> None:
    engine = SyncEngine(client, app_name="shop")
    result = await engine.sync(
        plan_sync(docs(configmap("dry"))), SyncOptions(dry_run=True), namespace=namespace
    )
    assert result.succeeded
    assert not await exists(client, "v1", "ConfigMap", "dry", namespace)


async def test_cancelled_sync_stops_between_waves(client: ClusterClient, namespace: str) -> None:
    cancel = asyncio.Event()
    engine = SyncEngine(client, app_name="shop", poll_interval=0.05)
    desired = docs(deployment("slow", wave=0) + "---\n" + configmap("later", wave=5))

    async def stop_soon() -> None:
        await asyncio.sleep(0.05)
        cancel.set()

    stopper = asyncio.create_task(stop_soon())
    result = await engine.sync(plan_sync(desired), namespace=namespace, cancel=cancel)
    await stopper
    assert result.phase in ("Terminated", "Failed")
    assert "cancel" in result.message
    assert not await exists(client, "v1", "ConfigMap", "later", namespace)


async def test_create_namespace_option(client: ClusterClient, namespace: str) -> None:
    target = f"{namespace}-created"
    engine = SyncEngine(client, app_name="shop")
    result = await engine.sync(
        plan_sync(docs(configmap("inside"))), SyncOptions(create_namespace=True), namespace=target
    )
    assert result.succeeded, result.message
    assert await exists(client, "v1", "ConfigMap", "inside", target)


class QuotingClient(ClusterClient):
    """The real client, except that the server's refusal of a Secret quotes its value, as
    kube-apiserver's field errors (``Invalid value: "…"``) do for some fields."""

    async def apply(self, info: Any, obj: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if obj.get("kind") == "Secret":
            value = next(iter((obj.get("stringData") or obj.get("data") or {}).values()))
            raise ClusterError(
                f'Secret "{obj["metadata"]["name"]}" is invalid: data[token]: '
                f'Invalid value: "{value}": refused',
                code=422,
                reason="Invalid",
            )
        return await super().apply(info, obj, *args, **kwargs)


async def test_a_server_error_quoting_a_secret_value_is_masked_in_every_message(
    local_cluster: LocalCluster, namespace: str
) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "stringData": {"token": "hunter2-is-the-password"},
    }
    async with QuotingClient.from_kubeconfig(str(local_cluster.kubeconfig)) as quoting:
        engine = SyncEngine(quoting, app_name="masking", wave_timeout=30)
        result = await engine.sync(plan_sync([secret]), namespace=namespace)
    assert result.phase == "Failed"
    texts = [result.message, *result.log, *(s.message for s in result.steps)]
    assert any("is invalid" in t for t in texts)
    assert not [t for t in texts if "hunter2" in t]
