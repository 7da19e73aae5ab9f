"""A GitRepository's ``include`` on the real stack: another repository's folder placed in its
artifact (less what that repository's ignore rules leave out, replacing what was at
``toPath``), built by a Kustomization; a push to the included repository alone makes a new
artifact and the Kustomization applies it, the revision staying the including one's; an include
that does not exist is Flux's ``IncludeUnavailable``."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest

from tests.controller.stack import Env
from tether.demo.repo import commit_and_push
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

SOURCE_API = "source.toolkit.fluxcd.io/v1"


def configmap(name: str, **data: str) -> str:
    lines = "".join(f"  {key}: '{value}'\n" for key, value in data.items())
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n{lines}"


def git_repository(name: str, ns: str, url: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": SOURCE_API, "kind": "GitRepository", "metadata": {"name": name, "namespace": ns},
            "spec": {"url": url, "interval": "10m", "ref": {"branch": "main"}, **spec}}  # fmt: skip


async def conditions(env: Env, name: str, ns: str) -> dict[str, dict[str, Any]]:
    obj = await env.live("GitRepository", name, ns, SOURCE_API)
    return {c["type"]: c for c in ((obj or {}).get("status") or {}).get("conditions") or ()}


async def test_an_included_repository_is_placed_and_its_pushes_applied(env: Env) -> None:
    ns = f"include-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    shared_url, shared_work = env.new_repo({
        "manifests/cm.yaml": configmap("shared-settings", level="one"),
        "manifests/left-out.yaml": configmap("left-out"),
        "README.md": "shared\n",
    })  # fmt: skip
    app_url, _ = env.new_repo({
        "deploy/cm.yaml": configmap("app-settings"),
        "vendor/shared/stale.yaml": configmap("stale"),
    })  # fmt: skip
    await env.apply(
        git_repository("shared", ns, shared_url, ignore="/manifests/left-out.yaml"),
        git_repository("app", ns, app_url, include=[
            {"repository": {"name": "shared"}, "fromPath": "manifests", "toPath": "vendor/shared"}]),
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "app", "namespace": ns},
         "spec": {"interval": "10m", "prune": True, "path": "./", "targetNamespace": ns,
                  "sourceRef": {"kind": "GitRepository", "name": "app"}}},
    )  # fmt: skip

    async def names() -> set[str]:
        info = await env.client.resource_for("v1", "ConfigMap")
        return {o["metadata"]["name"] for o in (await env.client.list(info, ns)).items}

    async def applied() -> set[str] | None:
        found = await names()
        return found if {"app-settings", "shared-settings"} <= found else None

    found = await eventually(applied, 90, "the app and the included ConfigMaps applied")
    # what the included repository's ignore leaves out, and what its folder replaced, are not
    assert "left-out" not in found and "stale" not in found
    app = await env.live("GitRepository", "app", ns, SOURCE_API)
    shared = await env.live("GitRepository", "shared", ns, SOURCE_API)
    assert app is not None and shared is not None
    app_revision = app["status"]["artifact"]["revision"]
    assert app["status"]["includedArtifacts"] == [
        {"revision": shared["status"]["artifact"]["revision"]}
    ]

    # a push to the included repository alone: a new artifact of the including one, applied
    commit_and_push(
        shared_work, "level two", {"manifests/cm.yaml": configmap("shared-settings", level="two")}
    )
    stamp = datetime.datetime.now(datetime.UTC).isoformat()
    await env.kube("annotate", "--overwrite", "-n", ns, "gitrepository/shared",
                   f"reconcile.fluxcd.io/requestedAt={stamp}")  # fmt: skip

    async def level_two() -> bool:
        live = await env.live("ConfigMap", "shared-settings", ns)
        return live is not None and live["data"] == {"level": "two"}

    await eventually(level_two, 60, "the included repository's push applied")
    app = await env.live("GitRepository", "app", ns, SOURCE_API)
    assert app is not None and app["status"]["artifact"]["revision"] == app_revision
    kustomization = await env.live("Kustomization", "app", ns, "kustomize.toolkit.fluxcd.io/v1")
    assert kustomization is not None
    assert kustomization["status"]["lastAppliedRevision"] == app_revision


async def test_an_include_that_does_not_exist_is_include_unavailable(env: Env) -> None:
    ns = f"include-{uuid.uuid4().hex[:6]}"
    await env.kube("create", "namespace", ns)
    url, _ = env.new_repo({"cm.yaml": configmap("x")})
    await env.apply(
        git_repository("lonely", ns, url, include=[{"repository": {"name": "nowhere"}}])
    )

    async def unavailable() -> dict[str, dict[str, Any]] | None:
        found = await conditions(env, "lonely", ns)
        return found if "IncludeUnavailable" in found else None

    found = await eventually(unavailable, 60, "IncludeUnavailable")
    assert found["Ready"]["status"] == "False" and found["Ready"]["reason"] == "NotFound"
    assert found["IncludeUnavailable"]["message"] == (
        "could not get resource for include 'nowhere': "
        'gitrepositories.source.toolkit.fluxcd.io "nowhere" not found'
    )
    lonely = await env.live("GitRepository", "lonely", ns, SOURCE_API)
    assert lonely is not None and "artifact" not in lonely["status"]
