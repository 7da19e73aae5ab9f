"""Syncs against the local cluster (simulated controllers on): order, hooks, prunes, failures."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
import yaml

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound
from tether.cluster.tracking import TRACKING_ANNOTATION
from tether.engine.ignore import IgnoreRule, parse_ignore_differences
from tether.engine.plan import PlanError, SyncOptions, plan_sync
from tether.engine.sync import SyncEngine, SyncRequest
from tether.localcluster.cluster import LocalCluster
from tether.resources import ResourceKey


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


async def test_a_namespace_and_its_objects_in_one_sync(client: ClusterClient) -> None:
    """Objects in a Namespace the same sync creates cannot be dry-run first: they are written
    after it; an object in a namespace that exists nowhere still fails the dry run."""
    name = f"made-{id(client) % 100000}"
    ns_doc = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    inside = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": name}}
    engine = SyncEngine(client, app_name="tenant", poll_interval=0.05)
    result = await engine.sync(plan_sync([inside, ns_doc]))
    assert result.succeeded, result.log
    assert await exists(client, "v1", "ConfigMap", "c", name)
    lost = {**inside, "metadata": {"name": "c", "namespace": "nowhere-at-all"}}
    result = await engine.sync(plan_sync([lost]))
    assert result.phase == "Failed"
    assert 'namespaces "nowhere-at-all" not found' in result.message


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


async def test_last_wave_of_plain_resources_succeeds_without_waiting_for_health(
    client: ClusterClient, namespace: str
) -> None:
    # gitops-engine: the final wave is an asynchronous apply; a Deployment that will never be
    # healthy does not hold the sync (the comparison reports its health)
    desired = docs(
        configmap("first", wave=0)
        + "---\n"
        + deployment(
            "crashy", wave=1, image="app:1-crashloop", extra={"progressDeadlineSeconds": 2}
        )
    )
    engine = SyncEngine(client, app_name="shop", poll_interval=0.05, wave_timeout=30)
    result = await engine.sync(plan_sync(desired), namespace=namespace)
    assert result.succeeded, result.log
    assert result.log[-2:] == [
        "Sync wave 1: deployment.apps/crashy created",
        "Sync wave 1: applied (last wave: health not awaited)",
    ]
    assert "Sync wave 0: healthy" in result.log  # an earlier wave still waits


async def test_last_wave_with_a_hook_still_waits_for_it(
    client: ClusterClient, namespace: str
) -> None:
    desired = docs(
        deployment("web", wave=0) + "---\n" + job("check", hook="Sync", image="busybox:1.36-fail")
    )
    engine = SyncEngine(client, app_name="shop", poll_interval=0.05, wave_timeout=30)
    result = await engine.sync(plan_sync(desired), namespace=namespace)
    assert result.phase == "Failed", result.log
    assert "Sync hook job.batch/check failed" in result.message


async def test_each_object_is_prepared_once_and_the_desired_objects_stay_as_they_were(
    client: ClusterClient, namespace: str
) -> None:
    desired = docs(configmap("one", a="1") + "---\n" + deployment("two", wave=0))
    before = copy.deepcopy(desired)
    seen: list[str] = []

    def admit(obj: dict[str, Any]) -> str | None:
        seen.append(obj["metadata"]["name"])
        return None

    engine = SyncEngine(client, app_name="shop", admit=admit)
    result = await engine.sync(plan_sync(desired), namespace=namespace)
    assert result.succeeded, result.log
    # the dry run and the write send one prepared object: checked once
    assert sorted(seen) == ["one", "two"]
    assert desired == before  # no namespace, no tracking id written into the shared objects


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


# ---- SyncEngine.run: the engine owns the sync --------------------------------------------------


def placed(objects: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """``objects`` in ``namespace``, as the controller hands its rendered objects over."""
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
    return objects


async def first_sync(engine: SyncEngine, namespace: str, *manifests: str) -> None:
    """Sync ``manifests`` into ``namespace``: the state a test starts from."""
    result = await engine.run(SyncRequest(docs("---\n".join(manifests)), namespace=namespace))
    assert result.succeeded, result.log


async def configmaps(client: ClusterClient, namespace: str) -> dict[str, dict[str, Any]]:
    info = await client.resource_for("v1", "ConfigMap")
    listed = await client.list(info, namespace)
    return {o["metadata"]["name"]: o for o in listed.items}


async def test_one_engine_runs_syncs_at_once_each_with_its_own_state(
    client: ClusterClient, namespace: str
) -> None:
    engine = SyncEngine(client, poll_interval=0.05)
    other = f"{namespace}-b"

    def request(prefix: str, app: str, ns: str, **extra: Any) -> SyncRequest:
        desired = docs(
            "---\n".join(
                [
                    configmap(f"{prefix}-first", wave=0),
                    deployment(f"{prefix}-web", wave=1),
                    configmap(f"{prefix}-last", wave=2),
                ]
            )
        )
        return SyncRequest(desired, app_name=app, namespace=ns, **extra)

    cancelled = asyncio.Event()
    cancelled.set()
    left, right, stopped = await asyncio.gather(
        engine.run(request("l", "left", namespace)),
        engine.run(
            request("r", "right", other, options=SyncOptions.parse(["CreateNamespace=true"]))
        ),
        engine.run(request("s", "stopped", namespace, cancel=cancelled)),
    )
    assert (left.phase, right.phase, stopped.phase) == ("Succeeded", "Succeeded", "Terminated")
    assert [s.key.name for s in left.steps] == ["l-first", "l-web", "l-last"]
    assert [s.key.name for s in right.steps] == ["r-first", "r-web", "r-last"]
    assert stopped.steps == []
    here, there = await configmaps(client, namespace), await configmaps(client, other)
    assert sorted(here) == ["l-first", "l-last"] and sorted(there) == ["r-first", "r-last"]
    assert here["l-last"]["metadata"]["annotations"][TRACKING_ANNOTATION].startswith("left:")
    assert there["r-last"]["metadata"]["annotations"][TRACKING_ANNOTATION].startswith("right:")


async def test_run_syncs_only_the_selection_without_hooks_and_prunes_selected_objects(
    client: ClusterClient, namespace: str
) -> None:
    engine = SyncEngine(client, app_name="sel", poll_interval=0.05)
    await first_sync(engine, namespace, *(configmap(n, v="1") for n in ("a", "b", "gone", "other")))
    live = list((await configmaps(client, namespace)).values())
    objects = [job("migrate", hook="PreSync"), configmap("a", v="2"), configmap("b", v="2")]
    desired = placed(docs("---\n".join(objects)), namespace)
    selection = [("", "ConfigMap", namespace, "a"), ("", "ConfigMap", namespace, "gone")]
    result = await engine.run(
        SyncRequest(
            desired,
            live=live,
            options=SyncOptions(prune=True),
            resources=selection,
            namespace=namespace,
        )
    )
    assert result.succeeded, result.log
    assert [(s.key.name, s.status) for s in result.steps] == [("gone", "Pruned"), ("a", "Synced")]
    after = await configmaps(client, namespace)
    assert sorted(after) == ["a", "b", "other"]
    assert (after["a"]["data"], after["b"]["data"]) == ({"v": "2"}, {"v": "1"})
    assert not await exists(client, "batch/v1", "Job", "migrate", namespace)


async def test_run_applies_out_of_sync_only_what_the_last_comparison_did_not_find_synced(
    client: ClusterClient, namespace: str
) -> None:
    engine = SyncEngine(client, app_name="oos")
    await first_sync(engine, namespace, configmap("a", v="1"))
    desired = placed(docs(configmap("a", v="2") + "---\n" + configmap("b", v="2")), namespace)
    in_sync = {ResourceKey("", "ConfigMap", namespace, "a")}
    result = await engine.run(
        SyncRequest(
            desired,
            options=SyncOptions.parse(["ApplyOutOfSyncOnly=true"]),
            in_sync=in_sync,
            namespace=namespace,
        )
    )
    assert result.succeeded, result.log
    assert [s.message for s in result.steps] == [
        "unchanged (already in sync)",
        "configmap/b created",
    ]
    after = await configmaps(client, namespace)
    assert (after["a"]["data"], after["b"]["data"]) == ({"v": "1"}, {"v": "2"})


async def test_run_keeps_live_values_at_ignored_places_with_respect_ignore_differences(
    client: ClusterClient, namespace: str
) -> None:
    engine = SyncEngine(client, app_name="ign")
    await first_sync(engine, namespace, configmap("a", k="1"))
    info = await client.resource_for("v1", "ConfigMap")
    await client.patch(info, "a", {"data": {"k": "edited"}}, namespace)
    live = list((await configmaps(client, namespace)).values())
    desired = placed(docs(configmap("a", k="2", m="3")), namespace)
    rules = parse_ignore_differences([{"kind": "ConfigMap", "jsonPointers": ["/data/k"]}])
    options = SyncOptions.parse(["RespectIgnoreDifferences=true"])
    result = await engine.run(
        SyncRequest(desired, live=live, options=options, ignore_rules=rules, namespace=namespace)
    )
    assert result.succeeded, result.log
    assert (await configmaps(client, namespace))["a"]["data"] == {"k": "edited", "m": "3"}
    without = await engine.run(SyncRequest(desired, live=live, ignore_rules=rules))
    assert without.succeeded
    assert (await configmaps(client, namespace))["a"]["data"] == {"k": "2", "m": "3"}


async def test_run_ends_failed_with_the_reason_when_the_request_cannot_be_planned(
    client: ClusterClient, namespace: str
) -> None:
    engine = SyncEngine(client, app_name="bad")
    unreadable_wave = docs(configmap("a") + "---\n" + configmap("b"))
    unreadable_wave[1]["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] = "soon"
    result = await engine.run(SyncRequest(unreadable_wave, namespace=namespace))
    assert result.phase == "Failed"
    assert "argocd.argoproj.io/sync-wave must be an integer, got 'soon'" in result.message
    assert result.finished_at >= result.started_at
    broken = IgnoreRule(kind="ConfigMap", error="argocd-cm key x: not YAML")
    result = await engine.run(
        SyncRequest(
            docs(configmap("a")),
            live=docs(configmap("a")),
            options=SyncOptions.parse(["RespectIgnoreDifferences=true"]),
            ignore_rules=[broken],
            namespace=namespace,
        )
    )
    assert (result.phase, result.message) == ("Failed", "argocd-cm key x: not YAML")
    assert await configmaps(client, namespace) == {}


async def test_run_neither_writes_nor_prunes_what_the_request_admit_refuses(
    client: ClusterClient, namespace: str
) -> None:
    engine = SyncEngine(client, app_name="adm")
    await first_sync(engine, namespace, configmap("protected"), configmap("gone"))
    live = list((await configmaps(client, namespace)).values())

    def admit(obj: dict[str, Any]) -> str | None:
        name = obj["metadata"]["name"]
        return f"{name} is outside the project" if name in ("protected", "refused") else None

    pruned = await engine.run(
        SyncRequest([], live=live, options=SyncOptions(prune=True), admit=admit)
    )
    assert pruned.succeeded, pruned.log
    assert [(s.key.name, s.status) for s in pruned.steps] == [("gone", "Pruned")]
    assert sorted(await configmaps(client, namespace)) == ["protected"]
    refused = await engine.run(
        SyncRequest(docs(configmap("refused")), admit=admit, namespace=namespace)
    )
    assert refused.phase == "Failed"
    assert "refused is outside the project" in refused.message
    assert sorted(await configmaps(client, namespace)) == ["protected"]


async def test_replace_option_puts_the_whole_object_dropping_fields_others_set(
    client: ClusterClient, namespace: str
) -> None:
    engine = SyncEngine(client, app_name="rep")
    desired = placed(docs(configmap("a", k="1")), namespace)
    assert (await engine.sync(plan_sync(desired), namespace=namespace)).succeeded
    info = await client.resource_for("v1", "ConfigMap")
    await client.patch(info, "a", {"data": {"x": "theirs"}}, namespace, field_manager="someone")
    applied = await engine.sync(plan_sync(desired), namespace=namespace)
    assert applied.succeeded
    assert (await configmaps(client, namespace))["a"]["data"] == {"k": "1", "x": "theirs"}
    replaced = await engine.sync(plan_sync(desired), SyncOptions(replace=True), namespace=namespace)
    assert replaced.succeeded, replaced.log
    assert replaced.steps[0].message == "configmap/a configured"
    assert (await configmaps(client, namespace))["a"]["data"] == {"k": "1"}
