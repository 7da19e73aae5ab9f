"""API semantics through real HTTP: lightkube for client behaviour, httpx for exact wire answers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import lightkube
import orjson
import pytest
from lightkube import ApiError
from lightkube.generic_resource import create_namespaced_resource
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment, ReplicaSet
from lightkube.resources.core_v1 import ConfigMap, Namespace, Pod

from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import crd_manifest, lightkube_for, wait_until


@pytest.fixture
def http(local_cluster: LocalCluster) -> Iterator[httpx.Client]:
    ca = local_cluster.creds.ca_pem.decode()
    import ssl

    ctx = ssl.create_default_context(cadata=ca)
    with httpx.Client(
        base_url=local_cluster.url,
        headers={"Authorization": f"Bearer {local_cluster.admin_token}"},
        verify=ctx,
        timeout=30,
    ) as c:
        yield c


def cm(name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": data,
    }


def apply_raw(
    http: httpx.Client, path: str, body: dict[str, Any], manager: str, force: bool = False
) -> httpx.Response:
    return http.patch(
        path,
        params={"fieldManager": manager, "force": "true" if force else "false"},
        content=orjson.dumps(body),
        headers={"Content-Type": "application/apply-patch+yaml"},
    )


def deployment(
    name: str, namespace: str, containers: list[dict[str, Any]], replicas: int | None = 2
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": containers}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


# ---- authentication ---------------------------------------------------------------------------


def test_request_without_token_gets_401(local_cluster: LocalCluster, http: httpx.Client) -> None:
    r = http.get("/api/v1/namespaces", headers={"Authorization": ""})
    assert r.status_code == 401
    assert r.json()["reason"] == "Unauthorized"
    r = http.get("/api/v1/namespaces", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401


def test_read_only_user_gets_403_on_writes(
    local_cluster: LocalCluster, http: httpx.Client, namespace: str
) -> None:
    viewer = {"Authorization": f"Bearer {local_cluster.viewer_token}"}
    assert http.get(f"/api/v1/namespaces/{namespace}/configmaps", headers=viewer).status_code == 200
    r = http.post(
        f"/api/v1/namespaces/{namespace}/configmaps",
        headers=viewer,
        content=orjson.dumps(cm("a", namespace, {})),
    )
    assert r.status_code == 403
    body = r.json()
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        f'configmaps is forbidden: User "viewer" cannot create resource "configmaps" in API group "" '
        f'in the namespace "{namespace}"'
    )


# ---- server-side apply ----------------------------------------------------------------------


def test_ssa_conflict_between_two_managers_then_force_takes_ownership(
    http: httpx.Client, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/shared"
    assert (
        apply_raw(http, path, cm("shared", namespace, {"a": "1", "b": "2"}), "kubectl").status_code
        == 201
    )
    r = http.patch(
        path,
        params={"fieldManager": "controller"},
        content=b'{"data":{"a":"9","c":"3"}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200
    conflict = apply_raw(http, path, cm("shared", namespace, {"a": "1", "b": "2"}), "kubectl")
    assert conflict.status_code == 409
    assert conflict.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Apply failed with 1 conflict: conflict with "controller" using v1: .data.a',
        "reason": "Conflict",
        "details": {
            "causes": [
                {
                    "reason": "FieldManagerConflict",
                    "message": 'conflict with "controller" using v1',
                    "field": ".data.a",
                }
            ]
        },
        "code": 409,
    }
    forced = apply_raw(
        http, path, cm("shared", namespace, {"a": "1", "b": "2"}), "kubectl", force=True
    )
    assert forced.status_code == 200
    assert forced.json()["data"] == {"a": "1", "b": "2", "c": "3"}
    entries = {e["manager"]: e for e in forced.json()["metadata"]["managedFields"]}
    assert entries["kubectl"]["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}
    assert entries["controller"]["fieldsV1"] == {"f:data": {"f:c": {}}}


def test_field_dropped_from_one_managers_intent_disappears_while_another_managers_field_stays(
    http: httpx.Client, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/owned"
    apply_raw(http, path, cm("owned", namespace, {"a": "1", "b": "2"}), "gitops")
    apply_raw(http, path, {**cm("owned", namespace, {"c": "3"})}, "other")
    r = apply_raw(http, path, cm("owned", namespace, {"a": "1"}), "gitops")
    assert r.status_code == 200
    assert r.json()["data"] == {"a": "1", "c": "3"}


def test_identical_apply_is_a_no_op_that_keeps_resource_version(
    http: httpx.Client, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/same"
    first = apply_raw(http, path, cm("same", namespace, {"a": "1"}), "gitops").json()
    second = apply_raw(http, path, cm("same", namespace, {"a": "1"}), "gitops").json()
    assert first["metadata"]["resourceVersion"] == second["metadata"]["resourceVersion"]
    assert first["metadata"]["managedFields"] == second["metadata"]["managedFields"]


def test_containers_are_merged_by_name_across_managers(
    lightkube_client: lightkube.Client, http: httpx.Client, namespace: str
) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/web"
    app = {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]}
    assert apply_raw(http, path, deployment("web", namespace, [app]), "gitops").status_code == 201
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace},
        "spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "proxy:1"}]}}},
    }
    r = apply_raw(http, path, sidecar, "injector")
    assert r.status_code == 200, r.text
    live = lightkube_client.get(Deployment, "web", namespace=namespace)
    names = [c.name for c in live.spec.template.spec.containers]
    assert names == ["app", "sidecar"]
    # the first manager bumps its image: the sidecar stays
    app["image"] = "app:2"
    apply_raw(http, path, deployment("web", namespace, [app]), "gitops")
    live = lightkube_client.get(Deployment, "web", namespace=namespace)
    assert [(c.name, c.image) for c in live.spec.template.spec.containers] == [
        ("app", "app:2"),
        ("sidecar", "proxy:1"),
    ]
    assert live.metadata.generation == 3


def test_removing_replicas_from_intent_resets_it_to_the_default(
    http: httpx.Client, namespace: str
) -> None:
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/scaled"
    containers = [{"name": "app", "image": "app:1"}]
    apply_raw(http, path, deployment("scaled", namespace, containers, replicas=5), "gitops")
    r = apply_raw(http, path, deployment("scaled", namespace, containers, replicas=None), "gitops")
    assert r.json()["spec"]["replicas"] == 1


def test_apply_without_field_manager_and_force_on_merge_patch_are_invalid(
    http: httpx.Client, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/x"
    r = http.patch(
        path,
        content=orjson.dumps(cm("x", namespace, {})),
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    assert r.status_code == 422
    assert r.json()["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    )
    r = http.patch(
        path,
        params={"force": "true"},
        content=b"{}",
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 422


def test_lightkube_apply_and_dry_run_persist_nothing(
    lightkube_client: lightkube.Client, namespace: str
) -> None:
    obj = ConfigMap(metadata=ObjectMeta(name="dry", namespace=namespace), data={"a": "1"})
    created = lightkube_client.apply(obj, field_manager="tether", dry_run=True)
    assert created.metadata.uid
    assert created.metadata.resourceVersion is None
    with pytest.raises(ApiError) as exc:
        lightkube_client.get(ConfigMap, "dry", namespace=namespace)
    assert exc.value.status.code == 404
    real = lightkube_client.apply(obj, field_manager="tether")
    changed = ConfigMap(metadata=ObjectMeta(name="dry", namespace=namespace), data={"a": "2"})
    preview = lightkube_client.apply(changed, field_manager="tether", dry_run=True)
    assert preview.data == {"a": "2"}
    assert preview.metadata.resourceVersion == real.metadata.resourceVersion
    assert lightkube_client.get(ConfigMap, "dry", namespace=namespace).data == {"a": "1"}


# ---- concurrency, generation, status ---------------------------------------------------------


def test_stale_resource_version_update_is_a_409_conflict(
    http: httpx.Client, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    created = http.post(base, content=orjson.dumps(cm("occ", namespace, {"a": "1"}))).json()
    stale = dict(created)
    ok = http.put(f"{base}/occ", content=orjson.dumps({**created, "data": {"a": "2"}}))
    assert ok.status_code == 200
    r = http.put(f"{base}/occ", content=orjson.dumps({**stale, "data": {"a": "3"}}))
    assert r.status_code == 409
    assert r.json()["message"] == (
        'Operation cannot be fulfilled on configmaps "occ": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert r.json()["details"] == {"name": "occ", "kind": "configmaps"}


def test_create_twice_and_get_missing_answer_exact_status_bodies(
    http: httpx.Client, namespace: str
) -> None:
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    body = orjson.dumps(deployment("dup", namespace, [{"name": "a", "image": "a:1"}]))
    assert http.post(base, content=body).status_code == 201
    r = http.post(base, content=body)
    assert r.status_code == 409
    assert r.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "dup" already exists',
        "reason": "AlreadyExists",
        "details": {"name": "dup", "group": "apps", "kind": "deployments"},
        "code": 409,
    }
    r = http.get(f"{base}/missing")
    assert r.status_code == 404
    assert r.json()["message"] == 'deployments.apps "missing" not found'


def test_status_write_keeps_generation_and_main_write_ignores_status(
    http: httpx.Client, namespace: str
) -> None:
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    created = http.post(
        base, content=orjson.dumps(deployment("gen", namespace, [{"name": "a", "image": "a:1"}]))
    ).json()
    assert created["metadata"]["generation"] == 1
    status = {**created, "status": {"observedGeneration": 1, "replicas": 2}}
    r = http.put(f"{base}/gen/status", content=orjson.dumps(status))
    assert r.status_code == 200
    assert r.json()["metadata"]["generation"] == 1
    assert r.json()["status"]["replicas"] == 2
    latest = r.json()
    sneaky = {**latest, "status": {"replicas": 99}}
    r = http.put(f"{base}/gen", content=orjson.dumps(sneaky))
    assert r.json()["status"]["replicas"] == 2
    labelled = {**r.json(), "metadata": {**r.json()["metadata"], "labels": {"x": "y"}}}
    assert (
        http.put(f"{base}/gen", content=orjson.dumps(labelled)).json()["metadata"]["generation"]
        == 1
    )
    annotated = http.get(f"{base}/gen").json()
    annotated["metadata"]["annotations"] = {"note": "x"}
    assert (
        http.put(f"{base}/gen", content=orjson.dumps(annotated)).json()["metadata"]["generation"]
        == 2
    )


def test_scale_subresource(http: httpx.Client, namespace: str) -> None:
    base = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    http.post(
        base, content=orjson.dumps(deployment("sc", namespace, [{"name": "a", "image": "a:1"}]))
    )
    scale = http.get(f"{base}/sc/scale").json()
    assert scale["kind"] == "Scale"
    assert scale["spec"]["replicas"] == 2
    assert scale["status"]["selector"] == "app=sc"
    r = http.patch(
        f"{base}/sc/scale",
        content=b'{"spec":{"replicas":4}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200
    assert http.get(f"{base}/sc").json()["spec"]["replicas"] == 4


# ---- list and watch --------------------------------------------------------------------------


def test_list_with_selectors_and_pagination_keeps_one_snapshot(
    http: httpx.Client, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    for i in range(7):
        obj = cm(f"p{i}", namespace, {})
        obj["metadata"]["labels"] = {"tier": "web" if i % 2 else "db"}
        http.post(base, content=orjson.dumps(obj))
    first = http.get(base, params={"limit": 3}).json()
    assert [i["metadata"]["name"] for i in first["items"]] == ["p0", "p1", "p2"]
    assert "kind" not in first["items"][0]  # built-in list items carry no kind, as on a real server
    assert first["metadata"]["remainingItemCount"] == 4
    http.post(base, content=orjson.dumps(cm("p-late", namespace, {})))
    second = http.get(base, params={"limit": 3, "continue": first["metadata"]["continue"]}).json()
    third = http.get(base, params={"limit": 3, "continue": second["metadata"]["continue"]}).json()
    names = [i["metadata"]["name"] for i in first["items"] + second["items"] + third["items"]]
    assert names == [f"p{i}" for i in range(7)]
    assert (
        first["metadata"]["resourceVersion"]
        == second["metadata"]["resourceVersion"]
        == third["metadata"]["resourceVersion"]
    )
    assert not third["metadata"].get("continue")
    web = http.get(base, params={"labelSelector": "tier=web"}).json()
    assert [i["metadata"]["name"] for i in web["items"]] == ["p1", "p3", "p5"]
    notin = http.get(base, params={"labelSelector": "tier notin (web),tier"}).json()
    assert [i["metadata"]["name"] for i in notin["items"]] == ["p0", "p2", "p4", "p6"]
    by_name = http.get(base, params={"fieldSelector": "metadata.name=p3"}).json()
    assert [i["metadata"]["name"] for i in by_name["items"]] == ["p3"]
    bad = http.get(base, params={"fieldSelector": "data.a=1"})
    assert bad.status_code == 400
    assert bad.json()["message"] == "field label not supported: data.a"


def _watch_events(
    http: httpx.Client, path: str, params: dict[str, Any], count: int
) -> list[dict[str, Any]]:
    events = []
    with http.stream("GET", path, params={"watch": "true", **params}) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if not line:
                continue
            events.append(orjson.loads(line))
            if len(events) >= count:
                break
    return events


def test_watch_resumed_from_a_resource_version_replays_only_later_events(
    http: httpx.Client, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    first = http.post(base, content=orjson.dumps(cm("w1", namespace, {}))).json()
    http.post(base, content=orjson.dumps(cm("w2", namespace, {})))
    http.delete(f"{base}/w1")
    events = _watch_events(
        http,
        base,
        {"resourceVersion": first["metadata"]["resourceVersion"], "timeoutSeconds": 5},
        2,
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "w2"),
        ("DELETED", "w1"),
    ]
    assert events[0]["object"]["kind"] == "ConfigMap"
    initial = _watch_events(http, base, {"timeoutSeconds": 5}, 1)
    assert initial[0]["type"] == "ADDED" and initial[0]["object"]["metadata"]["name"] == "w2"


def test_watch_from_a_compacted_resource_version_gets_410_expired(
    http: httpx.Client, namespace: str
) -> None:
    with LocalCluster(history_size=5) as small:
        import ssl

        ctx = ssl.create_default_context(cadata=small.creds.ca_pem.decode())
        with httpx.Client(
            base_url=small.url, headers={"Authorization": f"Bearer {small.admin_token}"}, verify=ctx
        ) as c:
            base = "/api/v1/namespaces/default/configmaps"
            first = c.post(base, content=orjson.dumps(cm("old", "default", {}))).json()
            for i in range(10):
                c.post(base, content=orjson.dumps(cm(f"n{i}", "default", {})))
            events = _watch_events(
                c, base, {"resourceVersion": first["metadata"]["resourceVersion"]}, 1
            )
            assert events[0]["type"] == "ERROR"
            assert events[0]["object"]["code"] == 410
            assert events[0]["object"]["reason"] == "Expired"
            assert events[0]["object"]["message"].startswith("too old resource version:")


def test_lightkube_watch_gets_410_then_a_relist_and_watch_from_the_list_version_works(
    local_cluster: LocalCluster,
) -> None:
    with LocalCluster(history_size=3) as small:
        small_client = lightkube_for(small)
        first = small_client.create(ConfigMap(metadata=ObjectMeta(name="a0", namespace="default")))
        for i in range(6):
            small_client.create(
                ConfigMap(metadata=ObjectMeta(name=f"a{i + 1}", namespace="default"))
            )
        with pytest.raises(ApiError) as expired:
            for _ in small_client.watch(
                ConfigMap, namespace="default", resource_version=first.metadata.resourceVersion
            ):
                pass
        assert expired.value.status.code == 410
        listing = small_client.list(ConfigMap, namespace="default")
        names = [o.metadata.name for o in listing]
        assert names == [f"a{i}" for i in range(7)]
        small_client.create(ConfigMap(metadata=ObjectMeta(name="after", namespace="default")))
        for event, obj in small_client.watch(
            ConfigMap, namespace="default", resource_version=listing.resourceVersion
        ):
            assert (event, obj.metadata.name) == ("ADDED", "after")
            break
        small_client.close()


def test_watch_with_label_selector_turns_transitions_into_added_and_deleted(
    http: httpx.Client, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    created = http.post(base, content=orjson.dumps(cm("sel", namespace, {}))).json()
    labelled = {**created, "metadata": {**created["metadata"], "labels": {"watch": "me"}}}
    updated = http.put(f"{base}/sel", content=orjson.dumps(labelled)).json()
    unlabelled = {**updated, "metadata": {**updated["metadata"], "labels": {}}}
    http.put(f"{base}/sel", content=orjson.dumps(unlabelled))
    events = _watch_events(
        http,
        base,
        {"resourceVersion": created["metadata"]["resourceVersion"], "labelSelector": "watch=me"},
        2,
    )
    assert [e["type"] for e in events] == ["ADDED", "DELETED"]


def test_watch_ends_at_timeout_with_a_bookmark(http: httpx.Client, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.get(base).json()["metadata"]["resourceVersion"]
    params = {"watch": "true", "resourceVersion": rv, "timeoutSeconds": 3}
    with http.stream("GET", base, params={**params, "allowWatchBookmarks": "true"}) as r:
        assert r.status_code == 200
        # made while the watch is open: it comes before the watch ends by itself
        http.post(base, content=orjson.dumps(cm("late", namespace, {})))
        events = [orjson.loads(line) for line in r.iter_lines() if line]
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert set(events[-1]["object"]["metadata"]) == {"resourceVersion"}


# ---- deletion --------------------------------------------------------------------------------


def _owned(
    owner: Any, kind: str = "Deployment", api_version: str = "apps/v1", block: bool = True
) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": api_version,
            "kind": kind,
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": block,
        }
    ]


def _wait_gone(http: httpx.Client, path: str) -> None:
    wait_until(lambda: http.get(path).status_code == 404, timeout=10, what=f"{path} deleted")


@pytest.mark.parametrize("policy", ["Background", "Foreground"])
def test_cascading_deletion_removes_dependents(
    http: httpx.Client, namespace: str, policy: str
) -> None:
    deploys = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    owner = http.post(
        deploys, content=orjson.dumps(deployment("own", namespace, [{"name": "a", "image": "a:1"}]))
    ).json()
    cm_obj = cm("child", namespace, {})
    cm_obj["metadata"]["ownerReferences"] = _owned(owner)
    http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=orjson.dumps(cm_obj))
    r = http.request(
        "DELETE", f"{deploys}/own", content=orjson.dumps({"propagationPolicy": policy})
    )
    assert r.status_code == 200
    _wait_gone(http, f"/api/v1/namespaces/{namespace}/configmaps/child")
    _wait_gone(http, f"{deploys}/own")


def test_orphan_deletion_keeps_dependents_without_the_owner_reference(
    http: httpx.Client, namespace: str
) -> None:
    deploys = f"/apis/apps/v1/namespaces/{namespace}/deployments"
    owner = http.post(
        deploys,
        content=orjson.dumps(deployment("orph", namespace, [{"name": "a", "image": "a:1"}])),
    ).json()
    cm_obj = cm("kept", namespace, {})
    cm_obj["metadata"]["ownerReferences"] = _owned(owner)
    http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=orjson.dumps(cm_obj))
    http.request("DELETE", f"{deploys}/orph", params={"propagationPolicy": "Orphan"})
    _wait_gone(http, f"{deploys}/orph")
    kept = http.get(f"/api/v1/namespaces/{namespace}/configmaps/kept").json()
    assert "ownerReferences" not in kept["metadata"]


def test_finalizer_holds_object_until_removed(http: httpx.Client, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    obj = cm("held", namespace, {})
    obj["metadata"]["finalizers"] = ["tether.test/hold"]
    http.post(base, content=orjson.dumps(obj))
    r = http.delete(f"{base}/held")
    assert r.status_code == 200
    held = r.json()
    assert held["metadata"]["deletionTimestamp"]
    more = {
        **held,
        "metadata": {**held["metadata"], "finalizers": ["tether.test/hold", "tether.test/new"]},
    }
    refused = http.put(f"{base}/held", content=orjson.dumps(more))
    assert refused.status_code == 422
    assert (
        "no new finalizers can be added if the object is being deleted" in refused.json()["message"]
    )
    released = {**held, "metadata": {**held["metadata"], "finalizers": []}}
    assert http.put(f"{base}/held", content=orjson.dumps(released)).status_code == 200
    assert http.get(f"{base}/held").status_code == 404


def test_namespace_termination_deletes_contents_and_blocks_new_objects(
    http: httpx.Client, lightkube_client: lightkube.Client
) -> None:
    lightkube_client.create(Namespace(metadata=ObjectMeta(name="doomed")))
    base = "/api/v1/namespaces/doomed/configmaps"
    obj = cm("slow", "doomed", {})
    obj["metadata"]["finalizers"] = ["tether.test/hold"]
    http.post(base, content=orjson.dumps(obj))
    http.post(base, content=orjson.dumps(cm("fast", "doomed", {})))
    r = http.delete("/api/v1/namespaces/doomed")
    assert r.status_code == 200
    assert r.json()["status"]["phase"] == "Terminating"
    _wait_gone(http, f"{base}/fast")
    refused = http.post(base, content=orjson.dumps(cm("new", "doomed", {})))
    assert refused.status_code == 403
    assert refused.json()["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    slow = http.get(f"{base}/slow").json()
    slow["metadata"]["finalizers"] = []
    http.put(f"{base}/slow", content=orjson.dumps(slow))
    _wait_gone(http, "/api/v1/namespaces/doomed")


def test_default_namespace_cannot_be_deleted(http: httpx.Client) -> None:
    r = http.delete("/api/v1/namespaces/default")
    assert r.status_code == 403
    assert (
        r.json()["message"]
        == 'namespaces "default" is forbidden: this namespace may not be deleted'
    )


def test_dry_run_delete_keeps_the_object(http: httpx.Client, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(base, content=orjson.dumps(cm("stay", namespace, {})))
    assert http.delete(f"{base}/stay", params={"dryRun": "All"}).status_code == 200
    assert http.get(f"{base}/stay").status_code == 200


# ---- bad input -------------------------------------------------------------------------------


def _state(http: httpx.Client, namespace: str) -> Any:
    return http.get(f"/api/v1/namespaces/{namespace}/configmaps").json()["items"]


@pytest.mark.parametrize(
    ("body", "content_type", "code", "reason", "message_part"),
    [
        (b"{not json", "application/json", 400, "BadRequest", ""),
        (b"a: [unclosed", "application/yaml", 400, "BadRequest", ""),
        (
            b'{"apiVersion":"v2","kind":"ConfigMap","metadata":{"name":"x"}}',
            "application/json",
            400,
            "BadRequest",
            "the API version in the data (v2) does not match the expected API version (v1)",
        ),
        (
            b'{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x"}}',
            "application/json",
            400,
            "BadRequest",
            "",
        ),
        (
            b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_A_Name"}}',
            "application/json",
            422,
            "Invalid",
            'ConfigMap "Not_A_Name" is invalid: metadata.name: Invalid value: "Not_A_Name"',
        ),
        (
            b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","resourceVersion":"5"}}',
            "application/json",
            500,
            None,
            "resourceVersion should not be set on objects to be created",
        ),
        (
            b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}',
            "text/plain",
            415,
            "UnsupportedMediaType",
            "",
        ),
    ],
    ids=[
        "malformed-json",
        "malformed-yaml",
        "wrong-apiversion",
        "wrong-kind",
        "bad-name",
        "rv-on-create",
        "bad-content-type",
    ],
)
def test_bad_create_gets_the_real_status_and_changes_nothing(
    http: httpx.Client,
    namespace: str,
    body: bytes,
    content_type: str,
    code: int,
    reason: str | None,
    message_part: str,
) -> None:
    before = _state(http, namespace)
    r = http.post(
        f"/api/v1/namespaces/{namespace}/configmaps",
        content=body,
        headers={"Content-Type": content_type},
    )
    assert r.status_code == code, r.text
    status = r.json()
    assert status["kind"] == "Status" and status["code"] == code and status["status"] == "Failure"
    assert status.get("reason") == reason
    assert message_part in status["message"]
    assert _state(http, namespace) == before


def test_namespace_name_must_be_a_dns_label(http: httpx.Client) -> None:
    r = http.post(
        "/api/v1/namespaces",
        content=b'{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a.b"}}',
    )
    assert r.status_code == 422
    assert r.json()["details"]["causes"][0]["field"] == "metadata.name"


def test_unknown_kind_and_unknown_group_answer_404(http: httpx.Client) -> None:
    assert http.get("/api/v1/namespaces/default/gizmos").status_code == 404
    r = http.get("/apis/nope.example.com/v1/things")
    assert r.status_code == 404
    assert r.json()["message"] == "the server could not find the requested resource"


def test_body_larger_than_3_mib_is_rejected(http: httpx.Client, namespace: str) -> None:
    big = cm("big", namespace, {"blob": "x" * (3 * 1024 * 1024 + 10)})
    r = http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=orjson.dumps(big))
    assert r.status_code == 413
    assert r.json()["reason"] == "RequestEntityTooLarge"
    assert http.get(f"/api/v1/namespaces/{namespace}/configmaps/big").status_code == 404


def test_patch_of_the_wrong_content_type_is_415(http: httpx.Client, namespace: str) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(base, content=orjson.dumps(cm("pt", namespace, {"a": "1"})))
    r = http.patch(
        f"{base}/pt", content=b'{"data":{"a":"2"}}', headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 415
    assert r.json()["reason"] == "UnsupportedMediaType"
    assert http.get(f"{base}/pt").json()["data"] == {"a": "1"}


def test_failing_json_patch_test_op_is_422_and_changes_nothing(
    http: httpx.Client, namespace: str
) -> None:
    base = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(base, content=orjson.dumps(cm("jp", namespace, {"a": "1"})))
    ops = [
        {"op": "test", "path": "/data/a", "value": "2"},
        {"op": "replace", "path": "/data/a", "value": "3"},
    ]
    r = http.patch(
        f"{base}/jp",
        content=orjson.dumps(ops),
        headers={"Content-Type": "application/json-patch+json"},
    )
    assert r.status_code == 422
    assert r.json()["message"] == "the server rejected our request due to an error in our request"
    assert http.get(f"{base}/jp").json()["data"] == {"a": "1"}


def test_strategic_merge_patch_on_a_custom_resource_is_415(
    http: httpx.Client, lightkube_client: lightkube.Client, kubectl: Any
) -> None:
    sprockets = crd_manifest("tether.test", "Sprocket", "sprockets", scope="Cluster")
    kubectl("apply", "-f", "-", input=orjson.dumps(sprockets).decode())
    kubectl("wait", "--for", "condition=established", "crd/sprockets.tether.test")
    Sprocket = create_namespaced_resource("tether.test", "v1", "Sprocket", "sprockets")
    assert Sprocket is not None
    body = {
        "apiVersion": "tether.test/v1",
        "kind": "Sprocket",
        "metadata": {"name": "s1"},
        "spec": {"a": 1},
    }
    assert (
        http.post("/apis/tether.test/v1/sprockets", content=orjson.dumps(body)).status_code == 201
    )
    r = http.patch(
        "/apis/tether.test/v1/sprockets/s1",
        content=b'{"spec":{"a":2}}',
        headers={"Content-Type": "application/strategic-merge-patch+json"},
    )
    assert r.status_code == 415
    r = http.patch(
        "/apis/tether.test/v1/sprockets/s1",
        content=b'{"spec":{"a":2}}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r.status_code == 200 and r.json()["metadata"]["generation"] == 2


def test_replicaset_and_pod_kinds_are_served(
    lightkube_client: lightkube.Client, namespace: str
) -> None:
    assert list(lightkube_client.list(ReplicaSet, namespace=namespace)) == []
    assert list(lightkube_client.list(Pod, namespace=namespace)) == []
