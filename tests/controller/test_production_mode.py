"""Production mode: manual sync with automatic drift revert, on the real stack.

Written the way Argo CD's schema already allows, ``syncPolicy.automated: {enabled: false,
selfHeal: true}``: new commits wait for a person (the app is OutOfSync, the diff shows why), but
drift is reverted at once to the revision of the last sync, never to a newer commit.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import yaml

from tests.controller.stack import CONTROL_NS, Env, status_of
from tether.demo.repo import commit_and_push, git
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.slow

PRODUCTION = {"automated": {"enabled": False, "selfHeal": True}}
OVERLAY = "apps/payment-service/production/kustomization.yaml"


def bump(work: Any, tag: str) -> dict[str, str]:
    doc = yaml.safe_load((work / OVERLAY).read_text())
    doc["images"][0]["newTag"] = tag
    return {OVERLAY: yaml.safe_dump(doc, sort_keys=False)}


async def deployment(env: Env, ns: str) -> dict[str, Any] | None:
    return await env.live("Deployment", "payment-service", ns, "apps/v1")


async def request_sync(env: Env, name: str) -> None:
    info = await env.client.resource_for("argoproj.io/v1alpha1", "Application")
    await env.client.patch(
        info, name, {"operation": {"sync": {}, "initiatedBy": {"username": "alice"}}}, CONTROL_NS
    )


async def history(env: Env, name: str) -> list[dict[str, Any]]:
    return list(((await env.app(name)).get("status") or {}).get("history") or [])


@pytest.mark.asyncio(loop_scope="session")
async def test_new_commits_wait_for_a_person_while_drift_is_reverted_to_the_synced_one(
    env: Env,
) -> None:
    url, work = env.new_repo()
    first = git(["rev-parse", "HEAD"], work)
    name = f"prod-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", name)
    await env.application(name, url, name, **{"spec.syncPolicy": PRODUCTION})
    # nothing deploys by itself, not even the first revision
    await eventually(lambda: _sync_is(env, name, "OutOfSync"), what="compared, not synced")
    assert await deployment(env, name) is None

    await request_sync(env, name)
    await eventually(lambda: _image_is(env, name, "1.4.0"), what="the first manual sync")
    entries = await eventually(lambda: _history_longer(env, name, 0), what="recorded")
    assert [(h["revision"], h["trigger"]) for h in entries] == [(first, "manual")]
    meta = entries[0]["revisionMetadata"]
    assert meta["message"] == "Initial manifests" and meta["author"] and meta["date"]

    # a new commit waits: OutOfSync with its diff, the cluster keeps the synced image
    second = commit_and_push(work, "payment-service 1.5.0", bump(work, "1.5.0"))
    await env.controller.refresh(name, hard=True)
    await eventually(lambda: _sync_is(env, name, "OutOfSync", second), what="new commit seen")
    comparison = env.controller.comparison(name)
    assert comparison is not None
    drifted = [r for r in comparison.resources if r.status != "Synced"]
    assert [r.key.kind for r in drifted] == ["Deployment"]
    assert "1.5.0" in drifted[0].diff
    assert await _image_is(env, name, "1.4.0")

    # drift is reverted at once, to the synced revision (not to the waiting commit)
    await env.kube("scale", "deployment/payment-service", "--replicas=5", "-n", name)
    await eventually(lambda: _replicas_are(env, name, 2), what="the scale is reverted")
    assert await _image_is(env, name, "1.4.0")
    entries = await eventually(
        lambda: _history_longer(env, name, 1), what="the revert is in the history"
    )
    assert (entries[-1]["revision"], entries[-1]["trigger"]) == (first, "selfHeal")
    assert (await env.app(name))["status"]["sync"]["revision"] == second

    # a person syncs: the waiting commit deploys
    await request_sync(env, name)
    await eventually(lambda: _image_is(env, name, "1.5.0"), what="the manual sync of 1.5.0")
    await eventually(lambda: _sync_is(env, name, "Synced", second), what="Synced to 1.5.0")
    entries = await eventually(lambda: _history_longer(env, name, 2), what="recorded")
    assert (entries[-1]["revision"], entries[-1]["trigger"]) == (second, "manual")
    assert entries[-1]["revisionMetadata"]["message"] == "payment-service 1.5.0"


@pytest.mark.asyncio(loop_scope="session")
async def test_an_automated_app_keeps_its_last_good_revision_enforced_past_a_broken_one(
    env: Env,
) -> None:
    url, work = env.new_repo()
    name = f"broken-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", name)
    await env.application(name, url, name)
    await eventually(lambda: _replicas_are(env, name, 2), what="first sync")
    commit_and_push(work, "broken", {"apps/payment-service/base/service.yaml": "kind: [\n"})
    await env.controller.refresh(name, hard=True)
    await eventually(lambda: env.condition(name, "ComparisonError"), what="the broken revision")
    # nothing of the broken revision is applied, and drift is still reverted
    await env.kube("scale", "deployment/payment-service", "--replicas=5", "-n", name)
    await eventually(lambda: _replicas_are(env, name, 2), what="the scale is reverted")


@pytest.mark.asyncio(loop_scope="session")
async def test_the_production_policy_is_valid_for_the_application_schema(env: Env) -> None:
    # the manifest is plain Argo CD: `enabled` is a field of syncPolicy.automated there too
    doc = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": f"schema-{uuid.uuid4().hex[:6]}", "namespace": CONTROL_NS},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://example.com/r.git", "path": "p"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"},
            "syncPolicy": PRODUCTION,
        },
    }
    out = await env.kube(
        "apply", "--server-side", "--dry-run=server", "-o", "yaml", "-f", "-",
        input=yaml.safe_dump(doc),
    )  # fmt: skip
    applied = yaml.safe_load(out.stdout)
    assert applied["spec"]["syncPolicy"] == PRODUCTION


async def _sync_is(env: Env, name: str, sync: str, revision: str | None = None) -> bool:
    app = await env.app(name)
    ok = status_of(app)[0] == sync
    if revision is not None:
        ok = ok and (app.get("status") or {}).get("sync", {}).get("revision") == revision
    return ok


async def _image_is(env: Env, ns: str, tag: str) -> bool:
    deploy = await deployment(env, ns)
    image = deploy["spec"]["template"]["spec"]["containers"][0]["image"] if deploy else ""
    return bool(image.endswith(f":{tag}"))


async def _replicas_are(env: Env, ns: str, replicas: int) -> bool:
    deploy = await deployment(env, ns)
    return deploy is not None and deploy["spec"]["replicas"] == replicas


async def _history_longer(env: Env, name: str, count: int) -> list[dict[str, Any]] | None:
    entries = await history(env, name)
    return entries if len(entries) > count else None
