"""Flux's GitRepository and Kustomization on the real stack (local cluster, loopback git server,
real pushes, the real kustomize): a folder without kustomization.yaml is applied into its
targetNamespace with Flux's labels and inventory; a push prunes what left Git; dependsOn holds a
Kustomization until its dependency is Ready, and a cycle is named; a strict-mode variable that
is missing fails the build with nothing applied; drift is corrected at the next reconcile."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import yaml

from tests.controller.stack import Env
from tether.demo.repo import commit_and_push
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


def configmap(name: str, value: str = "v") -> str:
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": value}}
    )


def git_repository(name: str, namespace: str, url: str) -> dict[str, Any]:
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "interval": "1m", "ref": {"branch": "main"}},
    }


def kustomization(name: str, namespace: str, source: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": "10m",
            "prune": True,
            "sourceRef": {"kind": "GitRepository", "name": source},
            **spec,
        },
    }


async def get(
    env: Env, api_version: str, kind: str, name: str, namespace: str
) -> dict[str, Any] | None:
    from tether.cluster.errors import NotFound

    info = await env.client.resource_for(api_version, kind)
    try:
        return await env.client.get(info, name, namespace)
    except NotFound:
        return None


async def ready(env: Env, name: str, namespace: str) -> dict[str, Any]:
    obj = await get(env, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", name, namespace)
    conditions = ((obj or {}).get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), {})


async def tenant(env: Env) -> str:
    namespace = f"flux-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", namespace)
    await env.controller.extras.ready()
    return namespace


async def test_a_kustomization_applies_its_folder_and_prunes_what_left_git(env: Env) -> None:
    namespace = await tenant(env)
    url, work = env.new_repo({"deploy/a.yaml": configmap("a"), "deploy/b.yaml": configmap("b")})
    await env.apply(
        git_repository("repo", namespace, url),
        kustomization("app", namespace, "repo", path="./deploy", targetNamespace=namespace),
    )

    async def applied() -> bool:
        return (await ready(env, "app", namespace)).get("status") == "True"

    await eventually(applied, 60, "the Kustomization Ready")
    ks = await get(env, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", "app", namespace)
    assert ks is not None
    revision = ks["status"]["lastAppliedRevision"]
    assert revision.startswith("main@sha1:") and len(revision) == len("main@sha1:") + 40
    assert (await ready(env, "app", namespace))["message"] == f"Applied revision: {revision}"
    assert [e["id"] for e in ks["status"]["inventory"]["entries"]] == [
        f"{namespace}_a__ConfigMap",
        f"{namespace}_b__ConfigMap",
    ]
    repo = await get(env, "source.toolkit.fluxcd.io/v1", "GitRepository", "repo", namespace)
    assert repo is not None and repo["status"]["artifact"]["revision"] == revision
    live = await get(env, "v1", "ConfigMap", "a", namespace)
    assert live is not None
    assert live["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "app"
    assert live["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/namespace"] == namespace

    # drift is corrected at the next reconcile (asked for as `flux reconcile` asks)
    await env.kube("patch", "configmap", "a", "-n", namespace, "-p", '{"data":{"k":"edited"}}')
    await env.kube("annotate", "--overwrite", "kustomization", "app", "-n", namespace,
                   "reconcile.fluxcd.io/requestedAt=first")  # fmt: skip

    async def reverted() -> bool:
        cm = await get(env, "v1", "ConfigMap", "a", namespace)
        return cm is not None and cm["data"]["k"] == "v"

    await eventually(reverted, 60, "the drift reverted")

    # b left Git, c came: the next revision prunes b from the inventory
    commit_and_push(work, "drop b, add c", {"deploy/b.yaml": None, "deploy/c.yaml": configmap("c")})
    await env.kube("annotate", "--overwrite", "gitrepository", "repo", "-n", namespace,
                   "reconcile.fluxcd.io/requestedAt=push")  # fmt: skip

    async def pruned() -> bool:
        return (
            await get(env, "v1", "ConfigMap", "b", namespace) is None
            and await get(env, "v1", "ConfigMap", "c", namespace) is not None
        )

    await eventually(pruned, 60, "b pruned and c applied")
    ks = await get(env, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", "app", namespace)
    assert ks is not None
    assert ks["status"]["lastAppliedRevision"] != revision
    assert [e["id"] for e in ks["status"]["inventory"]["entries"]] == [
        f"{namespace}_a__ConfigMap",
        f"{namespace}_c__ConfigMap",
    ]


async def test_depends_on_holds_a_kustomization_until_its_dependency_is_ready(env: Env) -> None:
    namespace = await tenant(env)
    url, _ = env.new_repo({"one/cm.yaml": configmap("one"), "two/cm.yaml": configmap("two")})
    await env.apply(
        git_repository("repo", namespace, url),
        kustomization("second", namespace, "repo", path="./two", targetNamespace=namespace,
                      dependsOn=[{"name": "first"}]),
    )  # fmt: skip

    async def waiting() -> bool:
        condition = await ready(env, "second", namespace)
        return condition.get("reason") == "DependencyNotReady"

    await eventually(waiting, 60, "second waiting for first")
    assert "dependency" in (await ready(env, "second", namespace))["message"]
    assert await get(env, "v1", "ConfigMap", "two", namespace) is None

    await env.apply(
        kustomization("first", namespace, "repo", path="./one", targetNamespace=namespace)
    )

    async def both() -> bool:
        states = [(await ready(env, name, namespace)).get("status") for name in ("first", "second")]
        return states == ["True", "True"]

    await eventually(both, 60, "both Ready")
    first, second = await ready(env, "first", namespace), await ready(env, "second", namespace)
    assert first["lastTransitionTime"] <= second["lastTransitionTime"]

    # a cycle never resolves in Flux; Tether names it
    await env.apply(
        kustomization("c1", namespace, "repo", path="./one", dependsOn=[{"name": "c2"}]),
        kustomization("c2", namespace, "repo", path="./one", dependsOn=[{"name": "c1"}]),
    )

    async def named() -> bool:
        message = (await ready(env, "c1", namespace)).get("message", "")
        return "dependency cycle" in message

    await eventually(named, 60, "the cycle named")
    assert (await ready(env, "c1", namespace))["message"] == (
        f"dependency cycle: {namespace}/c1 -> {namespace}/c2 -> {namespace}/c1"
    )


async def test_a_missing_variable_fails_the_build_and_applies_nothing(env: Env) -> None:
    namespace = await tenant(env)
    text = configmap("vars", "${cluster_env}-${region}")
    url, _ = env.new_repo({"deploy/cm.yaml": text, "deploy/other.yaml": configmap("other")})
    await env.apply(
        git_repository("repo", namespace, url),
        kustomization("app", namespace, "repo", path="./deploy", targetNamespace=namespace,
                      postBuild={"substitute": {"cluster_env": "prod"}}),
    )  # fmt: skip

    async def failed() -> bool:
        return (await ready(env, "app", namespace)).get("reason") == "BuildFailed"

    await eventually(failed, 60, "the build failed")
    message = (await ready(env, "app", namespace))["message"]
    assert "region" in message, message
    assert await get(env, "v1", "ConfigMap", "other", namespace) is None  # nothing applied

    # given the variable, it applies
    await env.apply(
        kustomization("app", namespace, "repo", path="./deploy", targetNamespace=namespace,
                      postBuild={"substitute": {"cluster_env": "prod", "region": "eu"}}),
    )  # fmt: skip

    async def substituted() -> bool:
        cm = await get(env, "v1", "ConfigMap", "vars", namespace)
        return cm is not None and cm["data"]["k"] == "prod-eu"

    await eventually(substituted, 60, "the ConfigMap substituted")


async def test_deleting_a_kustomization_follows_its_deletion_policy(env: Env) -> None:
    namespace = await tenant(env)
    url, _ = env.new_repo(
        {"pruned/cm.yaml": configmap("pruned"), "kept/cm.yaml": configmap("kept")}
    )
    await env.apply(
        git_repository("repo", namespace, url),
        kustomization("mirror", namespace, "repo", path="./pruned", targetNamespace=namespace),
        kustomization("orphan", namespace, "repo", path="./kept", targetNamespace=namespace,
                      deletionPolicy="Orphan"),
    )  # fmt: skip

    async def both_applied() -> bool:
        return (
            await get(env, "v1", "ConfigMap", "pruned", namespace) is not None
            and await get(env, "v1", "ConfigMap", "kept", namespace) is not None
        )

    await eventually(both_applied, 60, "both applied")
    ks = await get(env, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", "mirror", namespace)
    assert ks is not None and "finalizers.fluxcd.io" in ks["metadata"]["finalizers"]

    await env.kube("delete", "kustomization", "mirror", "orphan", "-n", namespace, "--wait=false")

    async def gone() -> bool:
        return (
            all(
                [
                    await get(env, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", n, namespace)
                    is None
                    for n in ("mirror", "orphan")
                ]
            )
            and await get(env, "v1", "ConfigMap", "pruned", namespace) is None
        )

    await eventually(gone, 60, "both Kustomizations gone, the mirrored objects with them")
    assert await get(env, "v1", "ConfigMap", "kept", namespace) is not None  # Orphan


async def test_a_source_of_another_namespace_is_refused(env: Env) -> None:
    """As Flux with --no-cross-namespace-refs (its multi-tenancy guide's lockdown): a tenant's
    Kustomization cannot build a GitRepository of another namespace, fetched with that
    namespace's credentials."""
    owner, tenant_ns = await tenant(env), await tenant(env)
    url, _ = env.new_repo({"deploy/cm.yaml": configmap("private")})
    await env.apply(
        git_repository("repo", owner, url),
        kustomization("steal", tenant_ns, "repo", path="./deploy", targetNamespace=tenant_ns,
                      sourceRef={"kind": "GitRepository", "name": "repo", "namespace": owner}),
    )  # fmt: skip

    async def refused() -> bool:
        return (await ready(env, "steal", tenant_ns)).get("reason") == "AccessDenied"

    await eventually(refused, 60, "the cross-namespace reference refused")
    assert (
        "cross-namespace references are not allowed"
        in (await ready(env, "steal", tenant_ns))["message"]
    )
    assert await get(env, "v1", "ConfigMap", "private", tenant_ns) is None


async def test_health_check_expressions_decide_a_kustomization_s_wait(env: Env) -> None:
    """healthCheckExprs give ConfigMaps (no health of their own) one: `failed` fails the wait
    at once, `current` passes it; an expression that does not parse stalls the Kustomization
    (InvalidCELExpression) with nothing applied."""
    namespace = await tenant(env)
    url, _ = env.new_repo({"deploy/a.yaml": configmap("a", "bad")})
    exprs = [{"apiVersion": "v1", "kind": "ConfigMap", "current": "data.k == 'good'",
              "failed": "data.k == 'bad'"}]  # fmt: skip
    await env.apply(
        git_repository("repo", namespace, url),
        kustomization("checked", namespace, "repo", path="./deploy", targetNamespace=namespace,
                      wait=True, timeout="20s", healthCheckExprs=exprs),
    )  # fmt: skip

    async def failed() -> dict[str, Any] | None:
        found = await ready(env, "checked", namespace)
        return found if found.get("reason") == "HealthCheckFailed" else None

    refused = await eventually(failed, 60, "the failed expression failing the wait")
    assert refused["message"] == (
        f"ConfigMap/{namespace}/a status: 'Failed': 'data.k == 'bad'' is true"
    )
    passing = [{**exprs[0], "current": "data.k == 'bad'", "failed": "false"}]
    await env.kube("patch", "kustomization", "checked", "-n", namespace, "--type=merge", "-p",
                   json.dumps({"spec": {"healthCheckExprs": passing}}))  # fmt: skip

    async def passed() -> bool:
        return (await ready(env, "checked", namespace)).get("status") == "True"

    await eventually(passed, 60, "the current expression passing the wait")
    broken = [{**exprs[0], "current": "data.k == "}]
    await env.apply(
        kustomization("broken", namespace, "repo", path="./deploy", targetNamespace=namespace,
                      wait=True, healthCheckExprs=broken),
    )  # fmt: skip

    async def stalled() -> dict[str, Any] | None:
        found = await ready(env, "broken", namespace)
        return found if found.get("reason") == "InvalidCELExpression" else None

    invalid = await eventually(stalled, 60, "the invalid expression named")
    assert invalid["message"] == (
        "spec.healthCheckExprs[0].current: invalid CEL expression: unexpected 'the end' at 11"
    )


async def test_flux_s_beta_versions_apply_unchanged(env: Env) -> None:
    """Manifests written for Flux's beta APIs (v1beta2 sources and Kustomizations) apply as
    they are and reconcile as v1."""
    namespace = await tenant(env)
    url, _ = env.new_repo({"deploy/cm.yaml": configmap("from-beta")})
    source = {
        **git_repository("repo", namespace, url),
        "apiVersion": "source.toolkit.fluxcd.io/v1beta2",
    }
    ks = {**kustomization("app", namespace, "repo", path="./deploy", targetNamespace=namespace),
          "apiVersion": "kustomize.toolkit.fluxcd.io/v1beta2"}  # fmt: skip
    await env.apply(source, ks)

    async def applied() -> bool:
        return (await ready(env, "app", namespace)).get("status") == "True"

    await eventually(applied, 60, "the v1beta2 Kustomization Ready")
    assert await get(env, "v1", "ConfigMap", "from-beta", namespace) is not None
    beta = await env.kube("get", "kustomizations.v1beta2.kustomize.toolkit.fluxcd.io", "app",
                          "-n", namespace, "-o", "jsonpath={.apiVersion}")  # fmt: skip
    assert "v1beta2" in str(beta.stdout)


def _configmap_with(name: str, value: str, **extra: Any) -> str:
    doc = yaml.safe_load(configmap(name, value))
    doc.update(extra)
    return yaml.safe_dump(doc)


async def test_force_recreates_what_an_apply_cannot_change_and_if_not_present_is_left(
    env: Env,
) -> None:
    namespace = await tenant(env)
    once = {
        "metadata": {
            "name": "once",
            "annotations": {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"},
        }
    }
    url, work = env.new_repo({
        "deploy/frozen.yaml": _configmap_with("frozen", "one", immutable=True),
        "deploy/once.yaml": _configmap_with("once", "one", **once),
    })  # fmt: skip
    await env.apply(
        git_repository("repo", namespace, url),
        kustomization("app", namespace, "repo", path="./deploy", targetNamespace=namespace),
    )

    async def is_ready() -> bool:
        return (await ready(env, "app", namespace)).get("status") == "True"

    await eventually(is_ready, 60, "the first apply")
    frozen = await get(env, "v1", "ConfigMap", "frozen", namespace)
    assert frozen is not None
    await env.kube("patch", "configmap", "once", "-n", namespace, "-p", '{"data":{"k":"edited"}}')
    commit_and_push(work, "two", {
        "deploy/frozen.yaml": _configmap_with("frozen", "two", immutable=True),
        "deploy/once.yaml": _configmap_with("once", "two", **once),
    })  # fmt: skip
    await env.kube("annotate", "--overwrite", "gitrepository", "repo", "-n", namespace,
                   "reconcile.fluxcd.io/requestedAt=two")  # fmt: skip

    async def refused() -> dict[str, Any] | None:
        found = await ready(env, "app", namespace)
        return found if found.get("reason") == "ReconciliationFailed" else None

    failure = await eventually(refused, 60, "the immutable change refused")
    assert "immutable" in failure["message"]
    await env.kube("patch", "kustomization", "app", "-n", namespace, "--type=merge",
                   "-p", '{"spec":{"force":true}}')  # fmt: skip
    await eventually(is_ready, 60, "the object recreated with force")
    recreated = await get(env, "v1", "ConfigMap", "frozen", namespace)
    assert recreated is not None and recreated["data"]["k"] == "two"
    assert recreated["metadata"]["uid"] != frozen["metadata"]["uid"]
    kept = await get(env, "v1", "ConfigMap", "once", namespace)
    assert kept is not None and kept["data"]["k"] == "edited"  # IfNotPresent: never updated


async def test_drift_is_reverted_at_once_from_the_live_cache(env: Env) -> None:
    """Flux reverts drift at the next interval; Tether hears the change in its live cache and
    reconciles the Kustomization at once (an interval of an hour here, no request made)."""
    namespace = await tenant(env)
    url, _ = env.new_repo({"deploy/a.yaml": configmap("watched", "git")})
    await env.apply(
        git_repository("repo", namespace, url),
        kustomization("app", namespace, "repo", path="./deploy", targetNamespace=namespace,
                      interval="1h"),
    )  # fmt: skip

    async def is_ready() -> bool:
        return (await ready(env, "app", namespace)).get("status") == "True"

    await eventually(is_ready, 60, "the first apply")
    await env.kube("patch", "configmap", "watched", "-n", namespace, "-p", '{"data":{"k":"hand"}}')

    async def reverted() -> bool:
        cm = await get(env, "v1", "ConfigMap", "watched", namespace)
        return cm is not None and cm["data"]["k"] == "git"

    await eventually(reverted, 20, "the drift reverted without waiting for the interval")
    await env.kube("delete", "configmap", "watched", "-n", namespace)

    async def recreated() -> bool:
        return await get(env, "v1", "ConfigMap", "watched", namespace) is not None

    await eventually(recreated, 20, "the deleted object created again")
    flux = env.controller.extras.flux
    assert flux is not None and flux.live is not None and flux.live.wakes >= 2
