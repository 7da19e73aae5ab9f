"""Tenant isolation on the real stack: a tenant who may commit to one repository of a project
limited to one namespace reaches nothing beyond it (issue 13's reproductions).

Each test gives its tenant a project of its own, confined to one namespace, and pushes what an
attacker would push. Nothing of a revision with a violating object may reach the cluster.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import yaml

from tests.controller.stack import CONTROL_NS, Env, synced_healthy
from tether.demo.repo import commit_and_push
from tether.localcluster.testing import crd_manifest, eventually

pytestmark = pytest.mark.slow

IN_CLUSTER = "https://kubernetes.default.svc"


def configmap(name: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


async def tenant(env: Env, **spec: Any) -> tuple[str, str]:
    """A project confined to a fresh namespace; returns (project, namespace)."""
    suffix = uuid.uuid4().hex[:6]
    name, ns = f"team-{suffix}", f"team-{suffix}"
    await env.kube("create", "namespace", ns)
    project = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": name, "namespace": CONTROL_NS},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": IN_CLUSTER, "namespace": ns}],
            **spec,
        },
    }
    await env.apply(project)
    return name, ns


async def tenant_app(env: Env, name: str, project: str, ns: str, files: dict[str, str]) -> Any:
    url, work = env.new_repo(files)
    await env.application(
        name, url, ns, **{"spec.project": project, "spec.source.path": "manifests"}
    )
    return work


def manifests(*docs: dict[str, Any]) -> dict[str, str]:
    return {f"manifests/{i}.yaml": yaml.safe_dump(doc) for i, doc in enumerate(docs)}


@pytest.mark.asyncio(loop_scope="session")
async def test_objects_outside_the_projects_namespaces_refuse_the_whole_revision(
    env: Env,
) -> None:
    project, ns = await tenant(env)
    probe = f"probe-{uuid.uuid4().hex[:6]}"
    app = f"iso-{uuid.uuid4().hex[:6]}"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": probe, "namespace": CONTROL_NS},
        "stringData": {"admin.password": "owned"},
    }
    work = await tenant_app(
        env,
        app,
        project,
        ns,
        manifests(configmap("fine"), configmap(probe, "kube-system"), secret),
    )
    message = await eventually(
        lambda: env.condition(app, "InvalidSpecError"), what="the revision is refused"
    )
    assert f"ConfigMap kube-system/{probe}: namespace kube-system is not permitted" in message
    assert f"Secret {CONTROL_NS}/{probe}: namespace {CONTROL_NS} is not permitted" in message
    # nothing of that revision was applied, not even the permitted ConfigMap
    assert await env.live("ConfigMap", probe, "kube-system") is None
    assert await env.live("Secret", probe, CONTROL_NS) is None
    assert await env.live("ConfigMap", "fine", ns) is None
    # the tenant fixes the revision: it deploys, and the condition goes
    commit_and_push(work, "only my namespace", {"manifests/1.yaml": None, "manifests/2.yaml": None})
    await eventually(lambda: synced_healthy(env, app), what="fixed revision synced")
    assert await env.live("ConfigMap", "fine", ns) is not None
    assert await env.condition(app, "InvalidSpecError") is None


@pytest.mark.asyncio(loop_scope="session")
async def test_a_glob_destination_does_not_open_the_control_namespace(env: Env) -> None:
    project, ns = await tenant(env, destinations=[{"server": "*", "namespace": "*"}])
    probe = f"probe-{uuid.uuid4().hex[:6]}"
    app = f"iso-{uuid.uuid4().hex[:6]}"
    await tenant_app(env, app, project, ns, manifests(configmap(probe, CONTROL_NS)))
    message = await eventually(
        lambda: env.condition(app, "InvalidSpecError"), what="control namespace refused"
    )
    assert f"the control namespace {CONTROL_NS} is writable only when a destination" in message
    assert await env.live("ConfigMap", probe, CONTROL_NS) is None


@pytest.mark.asyncio(loop_scope="session")
async def test_a_child_application_cannot_escape_into_another_project(env: Env) -> None:
    # the project may write the control namespace (app of apps), but only apps of its own
    project, ns = await tenant(
        env,
        destinations=[
            {"server": IN_CLUSTER, "namespace": "team-*"},
            {"server": IN_CLUSTER, "namespace": CONTROL_NS},
        ],
    )
    child = f"escape-{uuid.uuid4().hex[:6]}"
    escape = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": child, "namespace": CONTROL_NS},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://example.com/cluster-admin.git", "path": "."},
            "destination": {"server": IN_CLUSTER, "namespace": "kube-system"},
        },
    }
    app = f"iso-{uuid.uuid4().hex[:6]}"
    await tenant_app(env, app, project, ns, manifests(escape))
    message = await eventually(
        lambda: env.condition(app, "InvalidSpecError"), what="child project refused"
    )
    assert f"project '{project}' may not create Applications of project 'default'" in message
    assert (await env.live("Application", child, CONTROL_NS, "argoproj.io/v1alpha1")) is None


@pytest.mark.asyncio(loop_scope="session")
async def test_cluster_scoped_objects_need_the_whitelist(env: Env) -> None:
    project, ns = await tenant(env)
    role = f"iso-all-{uuid.uuid4().hex[:6]}"
    cluster_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": role},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }
    app = f"iso-{uuid.uuid4().hex[:6]}"
    await tenant_app(env, app, project, ns, manifests(cluster_role))
    message = await eventually(
        lambda: env.condition(app, "InvalidSpecError"), what="cluster role refused"
    )
    assert "cluster-scoped resource rbac.authorization.k8s.io:ClusterRole is not permitted" in (
        message
    )
    assert await env.live("ClusterRole", role, "", "rbac.authorization.k8s.io/v1") is None


@pytest.mark.asyncio(loop_scope="session")
async def test_a_cluster_scoped_kind_defined_in_the_same_revision_is_checked_when_written(
    env: Env,
) -> None:
    # the kind is unknown until its CRD is applied, so only the write can tell it is cluster-scoped
    project, ns = await tenant(
        env,
        clusterResourceWhitelist=[
            {"group": "apiextensions.k8s.io", "kind": "CustomResourceDefinition"}
        ],
    )
    group = f"g{uuid.uuid4().hex[:8]}.tether.test"
    crd = crd_manifest(group, "Gadget", "gadgets", scope="Cluster")
    gadget = {"apiVersion": f"{group}/v1", "kind": "Gadget", "metadata": {"name": "g1"}}
    app = f"iso-{uuid.uuid4().hex[:6]}"
    await tenant_app(env, app, project, ns, manifests(crd, gadget))

    async def failed() -> dict[str, Any] | None:
        state = ((await env.app(app)).get("status") or {}).get("operationState") or {}
        return state if state.get("phase") in ("Failed", "Error") else None

    state = await eventually(failed, what="the sync is refused at the write")
    assert (
        f"{group}/Gadget g1: cluster-scoped resource {group}:Gadget is not permitted"
        in (state["message"])
    )
    assert await env.live("Gadget", "g1", "", f"{group}/v1") is None


@pytest.mark.asyncio(loop_scope="session")
async def test_pruning_never_deletes_outside_the_project_whatever_its_tracking_id(
    env: Env,
) -> None:
    project, ns = await tenant(env)
    app = f"iso-{uuid.uuid4().hex[:6]}"
    # someone plants this app's tracking id on an object the tenant may not touch
    victim = configmap(f"victim-{uuid.uuid4().hex[:6]}", "default")
    victim["metadata"]["annotations"] = {
        "argocd.argoproj.io/tracking-id": f"{app}:/ConfigMap:default/{victim['metadata']['name']}"
    }
    await env.apply(victim)
    await tenant_app(env, app, project, ns, manifests(configmap("fine")))
    await eventually(lambda: synced_healthy(env, app), what="the app syncs with prune on")
    status = (await env.app(app))["status"]
    assert [r["name"] for r in status["resources"]] == ["fine"]  # not one of the app's objects
    assert status["operationState"]["operation"]["sync"].get("prune") is True
    assert await env.live("ConfigMap", victim["metadata"]["name"], "default") is not None


@pytest.mark.asyncio(loop_scope="session")
async def test_a_decryption_key_of_another_project_cannot_be_used(env: Env) -> None:
    project, ns = await tenant(env)
    key_name = f"age-{uuid.uuid4().hex[:6]}"
    other_team_key = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": key_name,
            "namespace": CONTROL_NS,
            "annotations": {"tether.io/projects": "someone-else"},
        },
        "stringData": {"age.agekey": "AGE-SECRET-KEY-1INVALIDBUTNEVERREAD"},
    }
    await env.apply(other_team_key)
    messages = []
    for secret_name in (key_name, f"missing-{key_name}"):
        app = f"iso-{uuid.uuid4().hex[:6]}"
        url, _work = env.new_repo(manifests(configmap("fine")))
        await env.application(
            app,
            url,
            ns,
            **{
                "spec.project": project,
                "spec.source.path": "manifests",
                "metadata.annotations": {"tether.io/sops-secret": secret_name},
            },
        )
        messages.append(
            await eventually(lambda app=app: env.condition(app, "InvalidSpecError"), what="refused")
        )
        assert await env.live("ConfigMap", "fine", ns) is None
    assert f"decryption Secret '{key_name}' is not available to project '{project}'" in messages[0]
    # a missing Secret reads the same: no probing which keys exist
    assert messages[1] == messages[0].replace(key_name, f"missing-{key_name}")


@pytest.mark.asyncio(loop_scope="session")
async def test_local_repositories_and_the_controllers_own_mirrors_are_refused(env: Env) -> None:
    # another team's repository, mirrored by the controller (with that team's credentials);
    # a tenant of another project points an app at the mirror on disk
    victim_project, victim_ns = await tenant(env)
    await tenant_app(
        env, f"iso-{uuid.uuid4().hex[:6]}", victim_project, victim_ns,
        manifests(configmap("victim-config")),
    )  # fmt: skip
    await eventually(
        lambda: env.live("ConfigMap", "victim-config", victim_ns), what="victim app deployed"
    )
    project, ns = await tenant(env)
    mirrors = sorted(p for p in env.controller.sources.mirrors.root.iterdir() if p.is_dir())
    assert mirrors, "the controller mirrored the repositories it polls"
    attempts = [f"file://{mirrors[0]}", str(mirrors[0]), f"file://{env.root}/elsewhere.git"]
    for url in attempts:
        app = f"iso-{uuid.uuid4().hex[:6]}"
        await env.application(
            app, url, ns, **{"spec.project": project, "spec.source.path": "manifests"}
        )
        message = await eventually(
            lambda app=app: env.condition(app, "ComparisonError"), what=f"{url} refused"
        )
        assert "local" in message.lower(), message
    assert await env.live("ConfigMap", "victim-config", ns) is None
