"""managedFields (FieldsV1) and server-side apply."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tether.localcluster.fieldmanager import (
    LAST_APPLIED_ANNOTATION,
    ApplyConflict,
    apply,
    fields_of,
    iter_paths,
    path_string,
    to_fields_v1,
    update_managed_fields,
)
from tether.localcluster.schema import Node, schema_for, schema_from_openapi


def _node(group: str, kind: str) -> Node:
    node = schema_for(group, kind)
    assert node is not None
    return node


CONFIGMAP = _node("", "ConfigMap")
DEPLOYMENT = _node("apps", "Deployment")
SERVICE = _node("", "Service")


def _cm(data: dict[str, str], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "default", **meta},
        "data": data,
    }


def _apply_cm(
    live: dict[str, Any] | None,
    intent: dict[str, Any],
    manager: str = "kubectl",
    now: str = "T",
    force: bool = False,
) -> dict[str, Any]:
    return apply(
        live, intent, manager=manager, force=force, node=CONFIGMAP, api_version="v1", now=now
    )


def _update(
    old: dict[str, Any] | None,
    new: dict[str, Any],
    manager: str,
    now: str = "T",
    node: Node | None = CONFIGMAP,
    api_version: str = "v1",
    subresource: str | None = None,
) -> dict[str, Any]:
    """`new` with the managedFields a non-apply write by `manager` gives it."""
    result = copy.deepcopy(new)
    managed = update_managed_fields(
        old,
        result,
        manager=manager,
        api_version=api_version,
        now=now,
        subresource=subresource,
        node=node,
    )
    result["metadata"]["managedFields"] = managed
    return result


def _managed(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["metadata"].get("managedFields", [])


def _entry(obj: dict[str, Any], manager: str) -> dict[str, Any]:
    (entry,) = [e for e in _managed(obj) if e["manager"] == manager]
    return entry


def _worked_example_step2() -> dict[str, Any]:
    created = _apply_cm(None, _cm({"a": "1", "b": "2"}), now="T1")
    patched = copy.deepcopy(created)
    patched["data"].update({"a": "9", "c": "3"})
    return _update(created, patched, "controller", now="T2")


# --- §5.8 worked example ------------------------------------------------------------------------


def test_worked_example_step1_apply_creates_apply_entry() -> None:
    created = _apply_cm(None, _cm({"a": "1", "b": "2"}), now="T1")
    assert created["data"] == {"a": "1", "b": "2"}
    assert _managed(created) == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": "T1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}, "f:b": {}}},
        }
    ]


def test_worked_example_step2_update_takes_changed_fields_from_applier() -> None:
    obj = _worked_example_step2()
    assert _managed(obj) == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": "T1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:b": {}}},
        },
        {
            "manager": "controller",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "T2",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:data": {"f:a": {}, "f:c": {}}},
        },
    ]


def test_apply_conflict_between_two_managers_reports_409_message() -> None:
    obj = _worked_example_step2()
    with pytest.raises(ApplyConflict) as err:
        _apply_cm(obj, _cm({"a": "1", "b": "2"}), now="T3")
    assert err.value.message == (
        'Apply failed with 1 conflict: conflict with "controller" using v1: .data.a'
    )
    assert err.value.causes() == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "controller" using v1',
            "field": ".data.a",
        }
    ]
    (conflict,) = err.value.conflicts
    assert (conflict.manager, conflict.operation, conflict.api_version, conflict.field) == (
        "controller",
        "Update",
        "v1",
        ".data.a",
    )


def test_force_apply_transfers_ownership_and_controller_keeps_other_fields() -> None:
    obj = _worked_example_step2()
    forced = _apply_cm(obj, _cm({"a": "1", "b": "2"}), now="T4", force=True)
    assert forced["data"] == {"a": "1", "b": "2", "c": "3"}
    assert _entry(forced, "kubectl")["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}
    assert _entry(forced, "kubectl")["time"] == "T4"
    assert _entry(forced, "controller")["fieldsV1"] == {"f:data": {"f:c": {}}}


def test_field_dropped_from_intent_is_deleted_but_other_managers_field_stays() -> None:
    obj = _worked_example_step2()
    forced = _apply_cm(obj, _cm({"a": "1", "b": "2"}), now="T4", force=True)
    shrunk = _apply_cm(forced, _cm({"a": "1"}), now="T5")
    assert shrunk["data"] == {"a": "1", "c": "3"}
    assert _entry(shrunk, "kubectl")["fieldsV1"] == {"f:data": {"f:a": {}}}
    assert _entry(shrunk, "controller")["fieldsV1"] == {"f:data": {"f:c": {}}}


def test_reapplying_identical_intent_changes_nothing_including_times() -> None:
    obj = _worked_example_step2()
    forced = _apply_cm(obj, _cm({"a": "1", "b": "2"}), now="T4", force=True)
    shrunk = _apply_cm(forced, _cm({"a": "1"}), now="T5")
    again = _apply_cm(shrunk, _cm({"a": "1"}), now="T6")
    assert again == shrunk


def test_apply_does_not_mutate_its_inputs() -> None:
    obj = _worked_example_step2()
    intent = _cm({"a": "1"})
    frozen_obj, frozen_intent = copy.deepcopy(obj), copy.deepcopy(intent)
    result = _apply_cm(obj, intent, force=True)
    result["data"]["x"] = "y"
    result["metadata"]["managedFields"][0]["fieldsV1"]["f:x"] = {}
    assert obj == frozen_obj
    assert intent == frozen_intent


def test_field_dropped_from_intent_stays_when_another_manager_also_owns_it() -> None:
    first = _apply_cm(None, _cm({"a": "1", "b": "2"}), manager="one")
    shared = _apply_cm(first, _cm({"b": "2"}), manager="two")
    assert _entry(shared, "two")["fieldsV1"] == {"f:data": {"f:b": {}}}
    released = _apply_cm(shared, _cm({"a": "1"}), manager="one")
    assert released["data"] == {"a": "1", "b": "2"}
    assert _entry(released, "two")["fieldsV1"] == {"f:data": {"f:b": {}}}


def test_same_value_from_another_manager_is_shared_not_a_conflict() -> None:
    obj = _worked_example_step2()
    shared = _apply_cm(obj, _cm({"a": "9"}), manager="other")
    assert _entry(shared, "other")["fieldsV1"] == {"f:data": {"f:a": {}}}
    assert _entry(shared, "controller")["fieldsV1"] == {"f:data": {"f:a": {}, "f:c": {}}}


def test_emptying_a_map_by_removal_drops_the_map() -> None:
    created = _apply_cm(None, _cm({"a": "1"}))
    emptied = _apply_cm(
        created, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    )
    assert "data" not in emptied
    assert "managedFields" not in emptied["metadata"]


def test_multiple_conflicts_are_grouped_by_sorted_manager() -> None:
    live = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": "app", "image": "app:1"}]}},
        },
    }
    live = apply(
        live,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"replicas": 1},
        },
        manager="a",
        force=False,
        node=DEPLOYMENT,
        api_version="apps/v1",
        now="T1",
    )
    changed = copy.deepcopy(live)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
    live = _update(live, changed, "b", node=DEPLOYMENT, api_version="apps/v1")
    intent = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "template": {"spec": {"containers": [{"name": "app", "image": "app:3"}]}},
        },
    }
    with pytest.raises(ApplyConflict) as err:
        apply(
            live,
            intent,
            manager="c",
            force=False,
            node=DEPLOYMENT,
            api_version="apps/v1",
            now="T2",
        )
    assert err.value.message == (
        'Apply failed with 2 conflicts: conflicts with "a":\n- .spec.replicas\n'
        'conflicts with "b" using apps/v1:\n- .spec.template.spec.containers[name="app"].image'
    )
    assert [c["message"] for c in err.value.causes()] == [
        'conflict with "a"',
        'conflict with "b" using apps/v1',
    ]


# --- Deployment ---------------------------------------------------------------------------------


def _web_intent(image: str = "nginx:1.27") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "nginx", "image": image, "ports": [{"containerPort": 80}]}
                    ]
                },
            },
        },
    }


def _apply_deploy(
    live: dict[str, Any] | None, intent: dict[str, Any], manager: str, force: bool = False
) -> dict[str, Any]:
    return apply(
        live,
        intent,
        manager=manager,
        force=force,
        node=DEPLOYMENT,
        api_version="apps/v1",
        now="T",
    )


def test_deployment_apply_entry_matches_the_documented_fields_v1_exactly() -> None:
    created = _apply_deploy(None, _web_intent(), "gitops")
    (entry,) = _managed(created)
    expected = (
        '{"manager":"gitops","operation":"Apply","apiVersion":"apps/v1","time":"T",'
        '"fieldsType":"FieldsV1","fieldsV1":{'
        '"f:metadata":{"f:labels":{"f:app":{}}},'
        '"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{'
        '"f:metadata":{"f:labels":{"f:app":{}}},'
        '"f:spec":{"f:containers":{"k:{\\"name\\":\\"nginx\\"}":{".":{},"f:image":{},"f:name":{},'
        '"f:ports":{"k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}":{".":{},"f:containerPort":{}}}}}}}}}}'
    )
    assert json.dumps(entry, separators=(",", ":")) == expected


def test_deployment_created_by_post_owns_defaults_with_dots_on_created_parents() -> None:
    posted = _web_intent()
    spec = posted["spec"]
    spec["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    spec["revisionHistoryLimit"] = 10
    container = spec["template"]["spec"]["containers"][0]
    container["imagePullPolicy"] = "IfNotPresent"
    container["resources"] = {}
    container["ports"][0]["protocol"] = "TCP"
    spec["template"]["spec"]["securityContext"] = {}
    (entry,) = update_managed_fields(
        None,
        posted,
        manager="OpenAPI-Generator",
        api_version="apps/v1",
        now="T",
        node=DEPLOYMENT,
    )
    assert entry["operation"] == "Update"
    fields = entry["fieldsV1"]
    assert fields["f:metadata"] == {"f:labels": {".": {}, "f:app": {}}}
    assert fields["f:spec"]["f:strategy"] == {
        "f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}},
        "f:type": {},
    }
    nginx = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"nginx"}']
    assert nginx == {
        ".": {},
        "f:image": {},
        "f:imagePullPolicy": {},
        "f:name": {},
        "f:ports": {
            ".": {},
            'k:{"containerPort":80,"protocol":"TCP"}': {
                ".": {},
                "f:containerPort": {},
                "f:protocol": {},
            },
        },
        "f:resources": {},
    }
    assert fields["f:spec"]["f:template"]["f:spec"]["f:securityContext"] == {}
    assert list(fields["f:spec"]) == [
        "f:replicas",
        "f:revisionHistoryLimit",
        "f:selector",
        "f:strategy",
        "f:template",
    ]


def test_containers_from_two_managers_merge_by_name() -> None:
    created = _apply_deploy(None, _web_intent(), "gitops")
    sidecar = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:1"}]}}},
    }
    both = _apply_deploy(created, sidecar, "mesh")
    containers = both["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["nginx", "proxy"]
    assert containers[0]["ports"] == [{"containerPort": 80}]
    mesh = _entry(both, "mesh")["fieldsV1"]
    assert mesh == {
        "f:spec": {
            "f:template": {
                "f:spec": {
                    "f:containers": {'k:{"name":"proxy"}': {".": {}, "f:image": {}, "f:name": {}}}
                }
            }
        }
    }
    # Re-applying gitops' intent keeps the proxy container that mesh owns.
    bumped = _apply_deploy(both, _web_intent("nginx:1.28"), "gitops")
    containers = bumped["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [
        ("nginx", "nginx:1.28"),
        ("proxy", "envoy:1"),
    ]


def test_container_dropped_from_intent_is_removed_from_the_list() -> None:
    intent = _web_intent()
    intent["spec"]["template"]["spec"]["containers"].append({"name": "extra", "image": "x"})
    created = _apply_deploy(None, intent, "gitops")
    shrunk = _apply_deploy(created, _web_intent(), "gitops")
    assert [c["name"] for c in shrunk["spec"]["template"]["spec"]["containers"]] == ["nginx"]


def test_replicas_dropped_from_intent_is_removed_for_defaulting() -> None:
    created = _apply_deploy(None, _web_intent(), "gitops")
    intent = _web_intent()
    del intent["spec"]["replicas"]
    assert "replicas" not in _apply_deploy(created, intent, "gitops")["spec"]


def test_image_changed_by_another_manager_conflicts_with_keyed_path() -> None:
    created = _apply_deploy(None, _web_intent(), "gitops")
    with pytest.raises(ApplyConflict) as err:
        _apply_deploy(created, _web_intent("nginx:1.29"), "other")
    assert err.value.message == (
        'Apply failed with 1 conflict: conflict with "gitops": '
        '.spec.template.spec.containers[name="nginx"].image'
    )


def test_port_without_protocol_matches_live_port_with_default_protocol() -> None:
    created = _apply_deploy(None, _web_intent(), "gitops")
    defaulted = copy.deepcopy(created)
    defaulted["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = "TCP"
    again = _apply_deploy(defaulted, _web_intent(), "gitops")
    assert again["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP"}
    ]


def test_service_port_conflict_path_uses_both_keys() -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s", "namespace": "default"},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}]},
    }
    created = apply(None, svc, manager="one", force=False, node=SERVICE, api_version="v1", now="T")
    other = copy.deepcopy(svc)
    other["spec"]["ports"][0]["targetPort"] = 9090
    with pytest.raises(ApplyConflict) as err:
        apply(created, other, manager="two", force=False, node=SERVICE, api_version="v1", now="T")
    assert err.value.conflicts[0].field == '.spec.ports[port=80,protocol="TCP"].targetPort'


def test_finalizers_are_a_set_owned_per_value() -> None:
    first = _apply_cm(None, _cm({}, finalizers=["example.com/a"]), manager="one")
    both = _apply_cm(first, _cm({}, finalizers=["example.com/b"]), manager="two")
    assert both["metadata"]["finalizers"] == ["example.com/a", "example.com/b"]
    assert _entry(both, "two")["fieldsV1"] == {
        "f:data": {},
        "f:metadata": {"f:finalizers": {'v:"example.com/b"': {}}},
    }
    assert path_string(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'


def test_unknown_kind_uses_granular_maps_and_atomic_lists() -> None:
    intent = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"size": 1, "tags": ["a"]},
    }
    created = apply(
        None, intent, manager="m", force=False, node=None, api_version="example.com/v1", now="T"
    )
    assert _managed(created)[0]["fieldsV1"] == {"f:spec": {".": {}, "f:size": {}, "f:tags": {}}}
    other = copy.deepcopy(intent)
    other["spec"]["tags"] = ["b"]
    with pytest.raises(ApplyConflict) as err:
        apply(
            created,
            other,
            manager="n",
            force=False,
            node=None,
            api_version="example.com/v1",
            now="T",
        )
    assert err.value.conflicts[0].field == ".spec.tags"


# --- kubectl migration --------------------------------------------------------------------------


def test_kubectl_server_side_apply_takes_over_client_side_apply_fields_without_force() -> None:
    last = _cm({"a": "1"})
    live = _cm({"a": "1"}, annotations={LAST_APPLIED_ANNOTATION: json.dumps(last)})
    live = _update(None, live, "kubectl-client-side-apply")
    intent = _cm({"a": "2"})
    with pytest.raises(ApplyConflict):
        _apply_cm(live, intent, manager="gitops")
    taken = _apply_cm(live, intent, manager="kubectl", now="T9")
    assert taken["data"] == {"a": "2"}
    assert _entry(taken, "kubectl")["fieldsV1"] == {"f:data": {"f:a": {}}}
    # The client-side applier keeps only the map node it created, not the value.
    csa = _entry(taken, "kubectl-client-side-apply")["fieldsV1"]
    assert csa["f:data"] == {}
    annotation = taken["metadata"]["annotations"][LAST_APPLIED_ANNOTATION]
    assert json.loads(annotation)["data"] == {"a": "2"}
    assert annotation.endswith("\n")


def test_kubectl_migration_does_not_cover_fields_changed_since_last_apply() -> None:
    last = _cm({"a": "1"})
    live = _cm({"a": "1"}, annotations={LAST_APPLIED_ANNOTATION: json.dumps(last)})
    live = _update(None, live, "kubectl-client-side-apply")
    edited = copy.deepcopy(live)
    edited["data"]["a"] = "5"
    edited = _update(live, edited, "kubectl-edit")
    with pytest.raises(ApplyConflict) as err:
        _apply_cm(edited, _cm({"a": "2"}), manager="kubectl")
    assert err.value.conflicts[0].manager == "kubectl-edit"


# --- non-apply writes ---------------------------------------------------------------------------


def test_configmap_created_by_post_marks_new_data_map_with_dot() -> None:
    (entry,) = update_managed_fields(
        None,
        _cm({"a": "1"}, labels={"x": "y"}),
        manager="kubectl-create",
        api_version="v1",
        now="T",
        node=CONFIGMAP,
    )
    assert entry["fieldsV1"] == {
        "f:data": {".": {}, "f:a": {}},
        "f:metadata": {"f:labels": {".": {}, "f:x": {}}},
    }


def test_update_removing_a_field_strips_it_from_every_manager_and_keeps_time() -> None:
    obj = _worked_example_step2()
    edited = copy.deepcopy(obj)
    del edited["data"]["c"]
    result = _update(obj, edited, "controller", now="T9")
    assert _entry(result, "controller") == {
        "manager": "controller",
        "operation": "Update",
        "apiVersion": "v1",
        "time": "T2",
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {"f:a": {}}},
    }


def test_update_entries_are_per_manager_version_and_subresource() -> None:
    obj = _worked_example_step2()
    status = copy.deepcopy(obj)
    status["data"]["s"] = "1"
    result = _update(obj, status, "controller", now="T3", subresource="status")
    entries = [(e["manager"], e.get("subresource")) for e in _managed(result)]
    assert entries == [("kubectl", None), ("controller", None), ("controller", "status")]
    with pytest.raises(ApplyConflict) as err:
        _apply_cm(result, _cm({"s": "2"}), manager="x")
    assert err.value.causes()[0]["message"] == (
        'conflict with "controller" with subresource "status" using v1'
    )


def test_client_writing_managed_fields_with_one_empty_entry_wipes_tracking() -> None:
    obj = _worked_example_step2()
    wiped = copy.deepcopy(obj)
    wiped["metadata"]["managedFields"] = [{}]
    assert (
        update_managed_fields(
            obj, wiped, manager="kubectl-patch", api_version="v1", now="T", node=CONFIGMAP
        )
        == []
    )


def test_client_writing_an_empty_managed_fields_list_keeps_the_old_ones() -> None:
    obj = _worked_example_step2()
    edited = copy.deepcopy(obj)
    edited["metadata"]["managedFields"] = []
    assert update_managed_fields(
        obj, edited, manager="kubectl-patch", api_version="v1", now="T", node=CONFIGMAP
    ) == _managed(obj)


def test_client_managed_fields_are_honoured_on_update() -> None:
    obj = _worked_example_step2()
    edited = copy.deepcopy(obj)
    edited["metadata"]["managedFields"] = [
        e for e in edited["metadata"]["managedFields"] if e["manager"] == "kubectl"
    ]
    assert [
        e["manager"]
        for e in update_managed_fields(
            obj, edited, manager="m", api_version="v1", now="T", node=CONFIGMAP
        )
    ] == ["kubectl"]


def test_more_than_ten_update_managers_fold_into_ancient_changes() -> None:
    obj = _apply_cm(None, _cm({}), now="T00")
    for index in range(12):
        changed = copy.deepcopy(obj)
        changed["data"][f"k{index}"] = "v"
        obj = _update(obj, changed, f"writer-{index:02d}", now=f"T{index + 10:02d}")
    managers = [e["manager"] for e in _managed(obj)]
    assert len(managers) == 11
    assert "ancient-changes" in managers
    assert "writer-00" not in managers and "writer-01" not in managers
    ancient = _entry(obj, "ancient-changes")
    assert ancient["fieldsV1"] == {"f:data": {"f:k0": {}, "f:k1": {}, "f:k2": {}}}
    assert "writer-11" in managers


def test_untracked_metadata_never_appears_in_managed_fields() -> None:
    old = _cm({"a": "1"}, resourceVersion="1", uid="u1", creationTimestamp="T0", generation=1)
    new = _cm({"a": "1"}, resourceVersion="2", uid="u1", creationTimestamp="T0", generation=2)
    assert (
        update_managed_fields(old, new, manager="m", api_version="v1", now="T", node=CONFIGMAP)
        == []
    )


# --- field set encoding -------------------------------------------------------------------------


def test_fields_v1_orders_dot_fields_keys_values_then_indexes() -> None:
    fields = {
        "i:1": {},
        'v:"b"': {},
        'k:{"port":8080}': {},
        "f:z": {},
        'k:{"port":443}': {},
        'v:"a"': {},
        "f:a": {"f:x": {}, ".": {}},
        "i:0": {},
    }
    encoded = to_fields_v1(fields)
    assert list(encoded) == [
        "f:a",
        "f:z",
        'k:{"port":443}',
        'k:{"port":8080}',
        'v:"a"',
        'v:"b"',
        "i:0",
        "i:1",
    ]
    assert list(encoded["f:a"]) == [".", "f:x"]


def test_fields_of_ignores_untracked_metadata() -> None:
    fields = fields_of(_cm({"a": "1"}, labels={"l": "v"}, resourceVersion="3"), CONFIGMAP)
    assert fields == {"f:data": {"f:a": {}}, "f:metadata": {"f:labels": {"f:l": {}}}}


def test_iter_paths_and_path_strings() -> None:
    fields = {
        "f:spec": {
            "f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:targetPort": {}}},
            "f:replicas": {},
        }
    }
    assert [path_string(p) for p in iter_paths(fields)] == [
        ".spec.replicas",
        '.spec.ports[port=80,protocol="TCP"]',
        '.spec.ports[port=80,protocol="TCP"].targetPort',
    ]
    assert path_string(("f:items", "i:3")) == ".items[3]"


def test_custom_resource_lists_follow_the_crd_schema() -> None:
    node = schema_from_openapi(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "hosts": {"type": "array", "items": {"type": "string"}},
                        "ports": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["port", "protocol"],
                            "items": {
                                "type": "object",
                                "properties": {
                                    "port": {"type": "integer"},
                                    "protocol": {"type": "string", "default": "TCP"},
                                    "name": {"type": "string"},
                                },
                            },
                        },
                    },
                }
            },
        }
    )
    intent = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"hosts": ["a"], "ports": [{"port": 80, "name": "http"}]},
    }
    created = apply(
        None, intent, manager="m", force=False, node=node, api_version="example.com/v1", now="T"
    )
    assert _managed(created)[0]["fieldsV1"] == {
        "f:spec": {
            "f:hosts": {},
            "f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}, "f:port": {}}},
        }
    }
    extra = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"ports": [{"port": 443, "name": "https"}]},
    }
    both = apply(
        created, extra, manager="n", force=False, node=node, api_version="example.com/v1", now="T"
    )
    assert both["spec"]["ports"] == [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]
