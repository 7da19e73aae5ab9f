"""Applications through the API on the real stack: create, watch it sync, drift, operate, delete."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.server.conftest import Stack, application, eventually
from tether.demo.repo import commit_and_push, git

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _status(http: httpx.AsyncClient, name: str) -> tuple[str, str, str]:
    answer = await http.get(f"/api/v1/applications/{name}")
    assert answer.status_code == 200, answer.text
    status = answer.json().get("status") or {}
    return (
        (status.get("sync") or {}).get("status", ""),
        (status.get("health") or {}).get("status", ""),
        (status.get("sync") or {}).get("revision", ""),
    )


async def _synced(http: httpx.AsyncClient, name: str, revision: str | None = None) -> bool:
    sync, health, rev = await _status(http, name)
    return sync == "Synced" and health == "Healthy" and (revision is None or rev == revision)


async def _create(stack: Stack, name: str, **options: Any) -> tuple[str, Any, str]:
    url, work = stack.new_repo()
    ns = await stack.namespace(name)
    async with stack.http() as http:
        answer = await http.post("/api/v1/applications", json=application(name, url, ns, **options))
        assert answer.status_code == 201, answer.text
        assert answer.json()["metadata"]["name"] == name
    return url, work, ns


async def test_an_application_created_through_the_api_syncs_and_shows_its_tree_and_diff(
    stack: Stack,
) -> None:
    name = f"tree-{uuid.uuid4().hex[:5]}"
    _url, work, ns = await _create(stack, name, self_heal=False)
    head = git(["rev-parse", "HEAD"], work)
    async with stack.http() as http:
        await eventually(lambda: _synced(http, name, head), timeout=30, what="Synced and Healthy")

        tree = (await http.get(f"/api/v1/applications/{name}/resource-tree")).json()["nodes"]
        by_uid = {n["uid"]: n for n in tree}
        pods = [n for n in tree if n["kind"] == "Pod"]
        assert pods, f"no pods in {[(n['kind'], n['name']) for n in tree]}"
        replica_set = by_uid[pods[0]["parentRefs"][0]["uid"]]
        assert replica_set["kind"] == "ReplicaSet"
        deployment = by_uid[replica_set["parentRefs"][0]["uid"]]
        assert (deployment["kind"], deployment["name"]) == ("Deployment", "payment-service")
        assert deployment["status"] == "Synced" and deployment["parentRefs"] == []
        assert deployment["health"]["status"] == "Healthy"

        one = await http.get(
            f"/api/v1/applications/{name}/resource",
            params={
                "group": "apps",
                "kind": "ReplicaSet",
                "namespace": ns,
                "name": replica_set["name"],
            },
        )
        assert one.status_code == 200 and one.json()["kind"] == "ReplicaSet"

        manifests = (await http.get(f"/api/v1/applications/{name}/manifests")).json()
        assert manifests["revision"] == head
        assert sorted(m["kind"] for m in manifests["manifests"]) == [
            "ConfigMap",
            "Deployment",
            "Service",
        ]

        await stack.kubectl("scale", "deployment/payment-service", "--replicas=5", "-n", ns)

        async def drift() -> list[dict[str, Any]]:
            answer = await http.get(f"/api/v1/applications/{name}/managed-resources")
            return [i for i in answer.json()["items"] if i["status"] == "OutOfSync"]

        drifted = await eventually(drift, timeout=10, what="drift reported")
        assert [(i["kind"], i["name"]) for i in drifted] == [("Deployment", "payment-service")]
        item = drifted[0]
        assert "-  replicas: 5" in item["diff"] and "+  replicas: 2" in item["diff"]
        assert {"op": "replace", "path": "/spec/replicas", "old": 5, "new": 2} in item["changes"]
        assert item["liveState"]["spec"]["replicas"] == 5
        assert item["targetState"]["spec"]["replicas"] == 2
        # the status write follows the comparison the managed resources come from
        await eventually(lambda: _status_is(http, name, "OutOfSync"), timeout=10, what="status")

        history = (await http.get(f"/api/v1/applications/{name}/history")).json()["items"]
        assert [h["revision"] for h in history] == [head]
        events = (await http.get(f"/api/v1/applications/{name}/events")).json()["items"]
        assert any(e["reason"] == "OperationCompleted" for e in events)


async def test_manual_sync_rollback_terminate_and_cascading_delete(stack: Stack) -> None:
    name = f"ops-{uuid.uuid4().hex[:5]}"
    _url, work, ns = await _create(stack, name)
    first = git(["rev-parse", "HEAD"], work)
    async with stack.http() as http:
        await eventually(lambda: _synced(http, name, first), timeout=30, what="first sync")
        path = "apps/payment-service/production/kustomization.yaml"
        text = (work / path).read_text().replace("newTag: 1.4.0", "newTag: 2.0.0")
        second = commit_and_push(work, "bump", {path: text})
        await eventually(lambda: _synced(http, name, second), timeout=30, what="second sync")

        refused = await http.post(f"/api/v1/applications/{name}/rollback", json={"id": 0})
        assert refused.status_code == 400
        message = refused.json()["error"]
        assert message.startswith("rollback cannot be initiated when auto-sync is enabled")
        assert f"tether app set {name} --sync-policy none" in message

        # automation off (PUT of the object as read), then a manual rollback to the first commit
        current = (await http.get(f"/api/v1/applications/{name}")).json()
        current["spec"].pop("syncPolicy")
        updated = await http.put(f"/api/v1/applications/{name}", json=current)
        assert updated.status_code == 200, updated.text
        assert "syncPolicy" not in updated.json()["spec"]
        rolled = await http.post(f"/api/v1/applications/{name}/rollback", json={"id": 0})
        assert rolled.status_code == 200, rolled.text
        assert rolled.json()["operation"]["sync"]["revision"] == first
        assert rolled.json()["operation"]["initiatedBy"] == {"username": "admin"}

        async def rolled_back() -> bool:
            status = (await http.get(f"/api/v1/applications/{name}")).json()["status"]
            history = status.get("history") or []
            return bool(history) and history[-1]["revision"] == first and len(history) == 3

        await eventually(rolled_back, timeout=30, what="rollback recorded in history")
        # the live Deployment runs the first image again; Git (HEAD) now differs
        deploy = await stack.kubectl("get", "deploy/payment-service", "-n", ns, "-o", "json")
        assert "payment-service:1.4.0" in deploy

        synced = await http.post(
            f"/api/v1/applications/{name}/sync",
            json={
                "prune": True,
                "resources": [
                    {
                        "group": "apps",
                        "kind": "Deployment",
                        "name": "payment-service",
                        "namespace": ns,
                    }
                ],
            },
        )
        assert synced.status_code == 200, synced.text
        assert synced.json()["operation"]["sync"]["prune"] is True
        await eventually(lambda: _synced(http, name, second), timeout=30, what="synced to HEAD")

        refreshed = await http.post(f"/api/v1/applications/{name}/refresh", json={"hard": True})
        assert refreshed.status_code == 200
        got = await http.get(f"/api/v1/applications/{name}", params={"refresh": "normal"})
        assert got.status_code == 200

        # nothing is running: terminate answers false and changes nothing
        terminated = await http.delete(f"/api/v1/applications/{name}/operation")
        assert terminated.status_code == 200 and terminated.json() == {"terminated": False}

        deleted = await http.delete(f"/api/v1/applications/{name}", params={"cascade": "true"})
        assert deleted.status_code == 200, deleted.text

        async def gone() -> bool:
            listing = await http.get("/api/v1/applications")
            names = [a["metadata"]["name"] for a in listing.json()["items"]]
            return name not in names and await stack.cluster_app(name) is None

        await eventually(gone, timeout=30, what="application deleted")
        await eventually(
            lambda: _no_deployment(stack, ns), timeout=30, what="Deployment removed by cascade"
        )


async def _no_deployment(stack: Stack, ns: str) -> bool:
    out = await stack.kubectl("get", "deployments", "-n", ns, "-o", "name")
    return out.strip() == ""


async def test_a_queued_operation_can_be_terminated_before_it_starts(stack: Stack) -> None:
    name = f"term-{uuid.uuid4().hex[:5]}"
    _url, _work, _ns = await _create(stack, name, automated=False)
    async with stack.http() as http:
        await eventually(
            lambda: _status_is(http, name, "OutOfSync"), timeout=30, what="compared once"
        )
        # stop the controller from picking it up, so the request is still pending
        stack.controller.is_leader = False
        try:
            synced = await http.post(f"/api/v1/applications/{name}/sync", json={})
            assert synced.status_code == 200
            again = await http.post(f"/api/v1/applications/{name}/sync", json={})
            assert again.status_code == 409
            terminated = await http.delete(f"/api/v1/applications/{name}/operation")
            assert terminated.json() == {"terminated": True}
            app = await stack.cluster_app(name)
            assert app is not None and app.get("operation") is None
        finally:
            stack.controller.is_leader = True
        deleted = await http.delete(f"/api/v1/applications/{name}", params={"cascade": "false"})
        assert deleted.status_code == 200


async def _status_is(http: httpx.AsyncClient, name: str, sync: str) -> bool:
    return (await _status(http, name))[0] == sync


async def test_list_filters_by_project_status_label_name_and_text(stack: Stack) -> None:
    name = f"filt-{uuid.uuid4().hex[:5]}"
    _url, _work, ns = await _create(stack, name)
    async with stack.http() as http:
        labelled = (await http.get(f"/api/v1/applications/{name}")).json()
        labelled["metadata"]["labels"] = {"team": "payments"}
        assert (await http.put(f"/api/v1/applications/{name}", json=labelled)).status_code == 200
        await eventually(lambda: _synced(http, name), timeout=30, what="synced")

        async def names(**params: Any) -> list[str]:
            answer = await http.get("/api/v1/applications", params=params)
            assert answer.status_code == 200
            return [a["metadata"]["name"] for a in answer.json()["items"]]

        assert name in await names(project="default")
        assert name not in await names(project="other")
        assert name in await names(sync="Synced", health="Healthy")
        assert name not in await names(sync="OutOfSync")
        assert name in await names(selector="team=payments")
        assert name not in await names(selector="team!=payments")
        assert await names(name="filt-*") and all(
            n.startswith("filt-") for n in await names(name="filt-*")
        )
        assert name in await names(search=ns)
        assert name not in await names(search="no-such-text")
        answer = await http.get("/api/v1/applications")
        assert int(answer.json()["metadata"]["resourceVersion"]) > 0


async def test_create_is_idempotent_and_refuses_a_different_spec_without_upsert(
    stack: Stack,
) -> None:
    name = f"ups-{uuid.uuid4().hex[:5]}"
    url, _work = stack.new_repo()
    ns = await stack.namespace(name)
    body = application(name, url, ns, automated=False)
    async with stack.http() as http:
        assert (await http.post("/api/v1/applications", json=body)).status_code == 201
        assert (await http.post("/api/v1/applications", json=body)).status_code == 200
        body["spec"]["source"]["path"] = "apps/payment-service/staging"
        conflict = await http.post("/api/v1/applications", json=body)
        assert conflict.status_code == 409 and "upsert" in conflict.json()["error"]
        upserted = await http.post("/api/v1/applications", params={"upsert": "true"}, json=body)
        assert upserted.status_code == 200
        assert upserted.json()["spec"]["source"]["path"] == "apps/payment-service/staging"
        missing_project = dict(body, spec={**body["spec"], "project": "nope"})
        missing_project["metadata"] = {"name": f"{name}-x"}
        refused = await http.post("/api/v1/applications", json=missing_project)
        assert refused.status_code == 400 and "project nope" in refused.json()["error"]
        assert (await http.delete(f"/api/v1/applications/{name}")).status_code == 200
        assert (await http.get("/api/v1/applications/no-such-app")).status_code == 404
