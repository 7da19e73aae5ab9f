"""Faults the controller rides out on the real stack: Git going away, children that never sync."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import yaml

from tests.controller.stack import APPLICATION, CONTROL_NS, Env, synced_healthy
from tether.demo.repo import create_repository, git
from tether.localcluster.testing import eventually
from tether.source.gitserver import GitHTTPServer

pytestmark = pytest.mark.slow

CONFIGMAP = "payment-service-config"


async def restored_after_delete(env: Env, ns: str) -> None:
    """Delete a managed ConfigMap by hand and wait for self-heal to bring it back."""
    before = await env.live("ConfigMap", CONFIGMAP, ns)
    assert before is not None
    await env.kube("delete", "configmap", CONFIGMAP, "-n", ns)

    async def back() -> bool:
        now = await env.live("ConfigMap", CONFIGMAP, ns)
        return now is not None and now["metadata"]["uid"] != before["metadata"]["uid"]

    await eventually(back, what="the deleted ConfigMap is restored from the last good commit")


@pytest.mark.asyncio(loop_scope="session")
async def test_while_the_git_server_is_down_the_last_good_commit_is_still_enforced(
    env: Env,
) -> None:
    root = env.root / f"down-{uuid.uuid4().hex[:6]}"
    server = GitHTTPServer(root).start()
    try:
        head = create_repository(root / "k8s.git", root / "work")
        name = f"down-{uuid.uuid4().hex[:6]}"
        ns = name
        await env.kube("create", "namespace", ns)
        await env.application(name, server.url("k8s.git"), ns)
        await eventually(lambda: synced_healthy(env, name, head), what="first sync")
    finally:
        server.stop()
    await env.controller.refresh(name, hard=True)  # the poll now fails
    message = await eventually(
        lambda: env.condition(name, "ComparisonError"), what="the outage is reported"
    )
    assert f"the last good commit {head[:12]} stays in use" in message
    await restored_after_delete(env, ns)
    # the next comparison, still against the last good commit, finds the app in sync again
    await eventually(lambda: synced_healthy(env, name, head), what="Synced to the last good commit")


@pytest.mark.asyncio(loop_scope="session")
async def test_when_the_tracked_branch_is_deleted_the_last_good_commit_is_still_enforced(
    env: Env,
) -> None:
    url, work = env.new_repo()
    git(["push", "-q", "origin", "main:release"], work)
    head = git(["rev-parse", "HEAD"], work)
    name = f"branch-{uuid.uuid4().hex[:6]}"
    ns = name
    await env.kube("create", "namespace", ns)
    await env.application(name, url, ns, **{"spec.source.targetRevision": "release"})
    await eventually(lambda: synced_healthy(env, name, head), what="first sync")
    git(["push", "-q", "origin", "--delete", "release"], work)
    await env.controller.refresh(name, hard=True)
    message = await eventually(
        lambda: env.condition(name, "ComparisonError"), what="the missing branch is reported"
    )
    assert "release" in message and head[:12] in message
    await restored_after_delete(env, ns)
    # the branch comes back with the same commit: the condition clears
    git(["push", "-q", "origin", "main:release"], work)
    await env.controller.refresh(name, hard=True)

    async def cleared() -> bool:
        return await env.condition(name, "ComparisonError") is None

    await eventually(cleared, what="the condition clears when the branch is back")


@pytest.mark.asyncio(loop_scope="session")
async def test_a_parent_app_does_not_wait_for_a_child_with_manual_sync(env: Env) -> None:
    child_url, _work = env.new_repo()
    name = f"parent-{uuid.uuid4().hex[:6]}"
    ns = f"child-{uuid.uuid4().hex[:6]}"
    child: dict[str, Any] = yaml.safe_load(APPLICATION)
    child["metadata"]["name"] = f"{name}-child"
    child["spec"]["source"]["repoURL"] = child_url
    child["spec"]["destination"]["namespace"] = ns
    child["spec"].pop("syncPolicy")  # a person syncs the child: it stays OutOfSync and Missing
    parent_url, _parent_work = env.new_repo({"apps/child.yaml": yaml.safe_dump(child)})
    await env.application(name, parent_url, CONTROL_NS, **{"spec.source.path": "apps"})
    await eventually(lambda: synced_healthy(env, name), what="parent Synced and Healthy")
    parent = (await env.app(name))["status"]
    assert parent["operationState"]["phase"] == "Succeeded"
    child_status = (await env.app(f"{name}-child")).get("status") or {}
    assert (child_status.get("sync") or {}).get("status") != "Synced"


@pytest.mark.asyncio(loop_scope="session")
async def test_an_unexpected_failure_ends_the_operation_with_the_reason(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _work = env.new_repo()
    name = f"boom-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", name)
    await env.application(name, url, name, **{"spec.syncPolicy": None})

    def broken_engine(*args: Any) -> Any:
        raise RuntimeError("the engine fell over")

    monkeypatch.setattr(env.controller.operations, "_engine_for", broken_engine)
    info = await env.client.resource_for("argoproj.io/v1alpha1", "Application")
    await env.client.patch(
        info, name, {"operation": {"sync": {}, "initiatedBy": {"username": "admin"}}}, CONTROL_NS
    )

    async def ended() -> dict[str, Any] | None:
        state = ((await env.app(name)).get("status") or {}).get("operationState") or {}
        return state if state.get("phase") not in (None, "Running") else None

    state = await eventually(ended, what="the operation ends")
    assert state["phase"] == "Error"
    assert state["message"] == "internal error: RuntimeError: the engine fell over"


@pytest.mark.asyncio(loop_scope="session")
async def test_a_failed_automated_sync_is_tried_again_when_the_spec_changes(env: Env) -> None:
    url, _work = env.new_repo()
    name = f"nons-{uuid.uuid4().hex[:6]}"
    # the destination namespace does not exist and CreateNamespace is not set: the sync fails
    await env.application(
        name, url, name, **{"spec.syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}
    )

    async def failed() -> bool:
        state = ((await env.app(name)).get("status") or {}).get("operationState") or {}
        return state.get("phase") in ("Failed", "Error")

    await eventually(failed, what="the sync fails for the missing namespace")
    # the user adds the option: no manual sync is needed for the next try
    info = await env.client.resource_for("argoproj.io/v1alpha1", "Application")
    await env.client.patch(
        info,
        name,
        {"spec": {"syncPolicy": {"syncOptions": ["CreateNamespace=true"]}}},
        CONTROL_NS,
    )
    await eventually(lambda: synced_healthy(env, name), what="synced after the spec change")
