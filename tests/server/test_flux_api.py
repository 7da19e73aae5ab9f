"""Flux objects in the REST API: the list holds what the caller may get (alice is readonly,
bob has no role), one Kustomization shows its inventory's live objects with their health, and
a reconcile request needs ``flux, update``."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import yaml

from tests.server.conftest import Stack, eventually
from tether.demo.repo import create_repository

ON_THE_STACK = pytest.mark.asyncio(loop_scope="session")


async def _apply(stack: Stack, *docs: dict[str, Any]) -> None:
    for doc in docs:
        info = await stack.client.resource_for(doc["apiVersion"], doc["kind"])
        await stack.client.apply(info, doc, field_manager="test", force=True)


@ON_THE_STACK
async def test_flux_objects_in_the_api(stack: Stack) -> None:
    ns = await stack.namespace("fluxapi")
    name = f"repo-{uuid.uuid4().hex[:8]}"
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shown"}, "data": {}}
    create_repository(
        stack.root / f"{name}.git", stack.root / name, {"app/cm.yaml": yaml.safe_dump(cm)}
    )
    await _apply(
        stack,
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "src", "namespace": ns},
         "spec": {"url": stack.git.url(f"{name}.git"), "interval": "60m", "ref": {"branch": "main"}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": "app", "namespace": ns},
         "spec": {"interval": "60m", "prune": True, "path": "./app", "targetNamespace": ns,
                  "sourceRef": {"kind": "GitRepository", "name": "src"}}},
    )  # fmt: skip

    async def listed_ready() -> dict[str, Any] | None:
        async with stack.http("alice") as http:
            items = (await http.get("/api/v1/flux")).json()["items"]
        return next(
            (
                i
                for i in items
                if (i["namespace"], i["name"]) == (ns, "app") and i["ready"] == "True"
            ),
            None,
        )

    item = await eventually(listed_ready, 60, "the Kustomization listed Ready")
    await _apply(
        stack,
        {"apiVersion": "source.extensions.fluxcd.io/v1beta1", "kind": "ArtifactGenerator",
         "metadata": {"name": "gen", "namespace": ns},
         "spec": {"sources": [{"alias": "s", "kind": "GitRepository", "name": "src"}],
                  "artifacts": [{"name": "split", "copy": [{"from": "@s/app/**", "to": "@artifact/"}]}]}},
    )  # fmt: skip

    async def generated() -> list[dict[str, Any]] | None:
        async with stack.http("alice") as http:
            items = (await http.get("/api/v1/flux")).json()["items"]
        found = [i for i in items if i["namespace"] == ns and i["kind"] in
                 ("artifactgenerators", "externalartifacts") and i["ready"] == "True"]  # fmt: skip
        return found if len(found) == 2 else None

    gen, split = sorted(await eventually(generated, 60, "the generator and its artifact listed"),
                        key=lambda i: i["kind"])  # fmt: skip
    assert gen["artifacts"] == ["split"] and gen["sources"][0]["alias"] == "s"
    assert split["name"] == "split" and split["revision"].startswith("latest@sha256:")
    assert item["kind"] == "kustomizations" and item["revision"].startswith("main@sha1:")
    assert item["inventory"] == 1 and item["source"] == {"kind": "GitRepository", "name": "src"}
    async with stack.http("bob") as http:
        assert (await http.get("/api/v1/flux")).json()["items"] == []
        refused = await http.get(f"/api/v1/flux/kustomizations/{ns}/app")
        assert refused.status_code == 403
    async with stack.http("alice") as http:
        detail = (await http.get(f"/api/v1/flux/kustomizations/{ns}/app")).json()
        assert [(n["kind"], n["name"], n["exists"]) for n in detail["tree"]] == [
            ("ConfigMap", "shown", True)
        ]
        assert "health" not in detail["tree"][0]  # a ConfigMap has no notion of health
        newest = detail["history"][0]
        assert newest["lastReconciledStatus"] == "ReconciliationSucceeded"
        assert newest["metadata"]["revision"] == item["revision"]
        assert newest["digest"].startswith("sha256:") and newest["totalReconciliations"] >= 1
        assert (await http.get(f"/api/v1/flux/kustomizations/{ns}/app/diff")).json() == {
            "resources": []
        }
        info = await stack.client.resource_for("v1", "ConfigMap")
        label = {"metadata": {"labels": {"kustomize.toolkit.fluxcd.io/name": "edited"}}}
        await stack.client.patch(info, "shown", label, ns)
        drift = (await http.get(f"/api/v1/flux/kustomizations/{ns}/app/diff")).json()
        [changed] = drift["resources"]
        assert (changed["kind"], changed["name"], changed["action"]) == (
            "ConfigMap",
            "shown",
            "drifted",
        )
        assert "-    kustomize.toolkit.fluxcd.io/name: edited" in changed["diff"]
        assert "+    kustomize.toolkit.fluxcd.io/name: app" in changed["diff"]
        denied = await http.post(f"/api/v1/flux/kustomizations/{ns}/app/reconcile")
        assert denied.status_code == 403
        missing = await http.get(f"/api/v1/flux/kustomizations/{ns}/nope")
        assert missing.status_code == 404
    async with stack.http() as http:
        asked = await http.post(f"/api/v1/flux/kustomizations/{ns}/app/reconcile")
        assert asked.status_code == 200, asked.text
        requested = asked.json()["requestedAt"]

    async def handled() -> bool:
        info = await stack.client.resource_for("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
        obj = await stack.client.get(info, "app", ns)
        return (obj.get("status") or {}).get("lastHandledReconcileAt") == requested

    await eventually(handled, 60, "the reconcile handled")


@ON_THE_STACK
async def test_a_helm_release_in_the_api_with_its_history_and_tree(stack: Stack) -> None:
    """A chart from a GitRepository folder, installed; the API shows Helm's history and the
    live objects of the deployed manifest."""
    ns = await stack.namespace("fluxhelm")
    name = f"repo-{uuid.uuid4().hex[:8]}"
    chart = {
        "charts/tiny/Chart.yaml": "apiVersion: v2\nname: tiny\nversion: 0.3.0\n",
        "charts/tiny/templates/cm.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cm\n"
            "data:\n  greeting: {{ .Values.greeting | quote }}\n"
        ),
        "charts/tiny/values.yaml": "greeting: hello\n",
    }
    create_repository(stack.root / f"{name}.git", stack.root / name, chart)
    await _apply(
        stack,
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "charts", "namespace": ns},
         "spec": {"url": stack.git.url(f"{name}.git"), "interval": "60m", "ref": {"branch": "main"}}},
        {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
         "metadata": {"name": "tiny", "namespace": ns},
         "spec": {"interval": "60m", "values": {"greeting": "from-flux"},
                  "chart": {"spec": {"chart": "./charts/tiny",
                                     "sourceRef": {"kind": "GitRepository", "name": "charts"}}}}},
    )  # fmt: skip

    async def listed_ready() -> dict[str, Any] | None:
        async with stack.http("alice") as http:
            items = (await http.get("/api/v1/flux")).json()["items"]
        return next(
            (i for i in items if (i["kind"], i["namespace"], i["name"]) == ("helmreleases", ns, "tiny")
             and i["ready"] == "True"),
            None,
        )  # fmt: skip

    item = await eventually(listed_ready, 90, "the HelmRelease listed Ready")
    assert item["revision"] == "0.3.0"
    assert item["release"] == {"name": "tiny", "namespace": ns, "version": 1, "status": "deployed"}
    async with stack.http("bob") as http:
        refused = await http.get(f"/api/v1/flux/helmreleases/{ns}/tiny")
        assert refused.status_code == 403
    async with stack.http("alice") as http:
        detail = (await http.get(f"/api/v1/flux/helmreleases/{ns}/tiny")).json()
    assert [(h["revision"], h["status"], h["chart"]) for h in detail["history"]] == [
        (1, "deployed", "tiny-0.3.0")
    ]
    assert [(n["kind"], n["namespace"], n["name"], n["exists"]) for n in detail["tree"]] == [
        ("ConfigMap", ns, "tiny-cm", True)
    ]
    info = await stack.client.resource_for("v1", "ConfigMap")
    assert (await stack.client.get(info, "tiny-cm", ns))["data"] == {"greeting": "from-flux"}
