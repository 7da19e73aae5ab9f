"""The production mode through the CLI, against the real stack (`tests.cli.stack`): manual sync
with automatic drift revert set by ``tether app set``, a new commit waiting for a person while
drift is reverted to the last sync, history that names the commit and what started each
deployment, ``app get --hard-refresh`` printing the comparison made after the refresh, and a
rollback refused under auto-sync naming the way forward.

The controller polls Git rarely here (every 10 minutes): a new commit is seen only when a
refresh asks for it, so what a refresh prints can be told from what it printed before.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from tether.demo.repo import commit_and_push
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually
from tether.server.settings import ServerSettings

from .stack import Env, app_json, clean_error, create_app, ok, running_env

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

CONTROL_NS = "cli-prod-argocd"
OVERLAY = "apps/payment-service/production/kustomization.yaml"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Env]:
    async with running_env(
        local_cluster, tmp_path_factory, CONTROL_NS, ServerSettings(), reconcile_interval=600
    ) as started:
        yield started


def image_tag(work: Path) -> str:
    """The image tag of payment-service in production at the working copy's commit."""
    tag: str = yaml.safe_load((work / OVERLAY).read_text())["images"][0]["newTag"]
    return tag


def push_image_tag(work: Path, tag: str) -> str:
    """Commit a new image tag for payment-service in production; the new commit."""
    doc = yaml.safe_load((work / OVERLAY).read_text())
    doc["images"][0]["newTag"] = tag
    return commit_and_push(work, f"payment-service {tag}", {OVERLAY: yaml.safe_dump(doc)})


async def image_of(env: Env, namespace: str) -> str:
    out = await env.kube("-n", namespace, "get", "deployment", "payment-service", "-o", "json")
    image: str = json.loads(out.stdout)["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


async def replicas_of(env: Env, namespace: str) -> int:
    out = await env.kube("-n", namespace, "get", "deployment", "payment-service", "-o", "json")
    replicas: int = json.loads(out.stdout)["spec"]["replicas"]
    return replicas


async def history(env: Env, name: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(
        ok(await env.cli("app", "history", name, "-o", "json"))
    )
    return entries


async def synced_app(env: Env, name: str, *flags: str) -> None:
    """A new app (in its own namespace), synced by hand and waited for."""
    await create_app(env, name, name, "--sync-option", "CreateNamespace=true", *flags)
    ok(await env.cli("app", "sync", name, "--timeout", "60"))
    ok(await env.cli("app", "wait", name, "--sync", "--health", "--timeout", "60"))


async def test_manual_sync_with_auto_revert_through_the_cli(env: Env) -> None:
    name = "cli-prod"
    await synced_app(env, name)
    synced = f"ghcr.io/example/payment-service:{image_tag(env.work)}"
    first = (await app_json(env, name))["status"]["sync"]["revision"]
    ok(await env.cli("app", "set", name, "--sync-policy", "manual", "--self-heal"))
    app = await app_json(env, name)
    assert app["spec"]["syncPolicy"]["automated"] == {"enabled": False, "selfHeal": True}
    listed = ok(await env.cli("app", "list"))
    row = next(line.split() for line in listed.splitlines() if line.startswith(name + " "))
    assert "Manual-AutoRevert" in row
    assert "Manual, auto-revert" in ok(await env.cli("app", "get", name))

    # a new commit waits for a person: OutOfSync with its diff, nothing of it applied
    second = push_image_tag(env.work, "9.9.9")
    refreshed = json.loads(ok(await env.cli("app", "get", name, "--hard-refresh", "-o", "json")))
    assert refreshed["status"]["sync"] == {**refreshed["status"]["sync"], "status": "OutOfSync"}
    assert refreshed["status"]["sync"]["revision"] == second
    diff = await env.cli("app", "diff", name)
    assert diff.exit_code == 1 and "9.9.9" in diff.output
    assert await image_of(env, name) == synced

    # drift is reverted to the revision of the last sync, never to the new commit
    await env.kube("-n", name, "scale", "deployment", "payment-service", "--replicas", "5")
    await eventually(lambda: _replicas_are(env, name, 2), what="the scale reverted")
    assert await image_of(env, name) == synced
    entries = await history(env, name)
    assert [e.get("trigger") for e in entries] == ["manual", "selfHeal"]
    assert all(e["revision"] == first for e in entries)

    # a person syncs: the commit is applied
    ok(await env.cli("app", "sync", name, "--timeout", "60"))
    assert await image_of(env, name) == "ghcr.io/example/payment-service:9.9.9"

    # the history names each commit, who and what started each deployment
    table = ok(await env.cli("app", "history", name))
    header, *rows = table.splitlines()
    assert header.split()[:4] == ["ID", "DATE", "REVISION", "TRIGGER"]
    assert "manual" in rows[0] and "Initial manifests" in rows[0] and "Tether Demo" in rows[0]
    assert "selfHeal" in rows[1] and "automated" in rows[1]
    assert "manual" in rows[2] and "payment-service 9.9.9" in rows[2]
    assert "payment-service 9.9.9" in ok(await env.cli("app", "get", name))

    # a rollback is allowed in this mode, and drift is then reverted to the rolled-back revision
    rollback = ok(await env.cli("app", "rollback", name, "0", "--timeout", "60"))
    assert "operation Succeeded" in rollback
    assert await image_of(env, name) == synced
    assert (await history(env, name))[-1]["trigger"] == "rollback"
    await env.kube("-n", name, "set", "image", "deployment/payment-service",
                   "payment-service=ghcr.io/example/payment-service:6.6.6")  # fmt: skip
    await eventually(
        lambda: _image_is(env, name, synced),
        what="the edit reverted to the rolled-back revision",
    )
    # back to the file's original tag, for the other tests of this module
    push_image_tag(env.work, synced.rpartition(":")[2])


async def _replicas_are(env: Env, namespace: str, replicas: int) -> bool:
    return await replicas_of(env, namespace) == replicas


async def _image_is(env: Env, namespace: str, image: str) -> bool:
    return await image_of(env, namespace) == image


async def test_app_create_writes_manual_sync_with_auto_revert(env: Env) -> None:
    await create_app(env, "cli-prod-created", "cli-prod-created", "--sync-policy", "manual",
                     "--self-heal")  # fmt: skip
    app = await app_json(env, "cli-prod-created")
    assert app["spec"]["syncPolicy"] == {"automated": {"enabled": False, "selfHeal": True}}
    refused = await env.cli(
        "app", "set", "cli-prod-created", "--sync-policy", "none", "--self-heal"
    )
    clean_error(refused, "--sync-policy manual --self-heal")


async def test_app_get_hard_refresh_prints_the_comparison_made_after_it(env: Env) -> None:
    name = "cli-refresh"
    await synced_app(env, name)
    before = (await app_json(env, name))["status"]["sync"]
    assert before["status"] == "Synced"
    tag = image_tag(env.work)
    pushed = push_image_tag(env.work, "3.1.4")
    # a normal refresh compares with the commit the controller knows: still Synced
    normal = json.loads(ok(await env.cli("app", "get", name, "--refresh", "-o", "json")))
    assert normal["status"]["sync"]["revision"] == before["revision"]
    hard = ok(await env.cli("app", "get", name, "--hard-refresh"))
    assert f"OutOfSync to HEAD ({pushed[:7]})" in hard
    push_image_tag(env.work, tag)


async def test_a_rollback_refused_under_auto_sync_names_the_way_forward(env: Env) -> None:
    name = "cli-auto"
    await synced_app(env, name)
    ok(await env.cli("app", "set", name, "--sync-policy", "automated", "--self-heal"))
    refused = await env.cli("app", "rollback", name, "0")
    line = clean_error(refused, f"tether app set {name} --sync-policy none")
    assert "auto-sync" in line
    # the way forward works: after it, the same rollback is accepted
    ok(await env.cli("app", "set", name, "--sync-policy", "none"))
    assert "operation Succeeded" in ok(
        await env.cli("app", "rollback", name, "0", "--timeout", "60")
    )
