"""JSON patch, JSON merge patch and strategic merge patch."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tether.localcluster.patch import PatchError, json_patch, merge_patch, strategic_merge_patch
from tether.localcluster.schema import Node, schema_for


def _node(group: str, kind: str) -> Node:
    node = schema_for(group, kind)
    assert node is not None
    return node


DEPLOYMENT = _node("apps", "Deployment")


def _deployment(containers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "resourceVersion": "812"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers},
            },
        },
    }


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]


# --- JSON patch ----------------------------------------------------------------------------------


def test_json_patch_applies_operations_in_order() -> None:
    obj = {
        "metadata": {"resourceVersion": "812", "annotations": {"old": "x"}},
        "spec": {"replicas": 1},
    }
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "812"},
        {"op": "replace", "path": "/spec/replicas", "value": 3},
        {"op": "add", "path": "/metadata/labels", "value": {"tier": "web"}},
        {"op": "remove", "path": "/metadata/annotations/old"},
    ]
    result = json_patch(obj, ops)
    assert result == {
        "metadata": {"resourceVersion": "812", "annotations": {}, "labels": {"tier": "web"}},
        "spec": {"replicas": 3},
    }
    assert obj["metadata"]["annotations"] == {"old": "x"}


def test_json_patch_failing_test_is_invalid() -> None:
    with pytest.raises(PatchError) as err:
        json_patch({"a": 1}, [{"op": "test", "path": "/a", "value": 2}])
    assert err.value.reason == "Invalid"


def test_json_patch_missing_path_is_invalid() -> None:
    with pytest.raises(PatchError) as err:
        json_patch({"a": 1}, [{"op": "remove", "path": "/b"}])
    assert err.value.reason == "Invalid"
    assert err.value.message


def test_json_patch_that_is_not_a_list_is_bad_request() -> None:
    with pytest.raises(PatchError) as err:
        json_patch({"a": 1}, {"op": "remove", "path": "/a"})
    assert err.value.reason == "BadRequest"


def test_json_patch_over_ten_thousand_operations_is_too_large() -> None:
    ops = [{"op": "test", "path": "/a", "value": 1}] * 10001
    with pytest.raises(PatchError) as err:
        json_patch({"a": 1}, ops)
    assert err.value.reason == "RequestEntityTooLarge"


# --- merge patch ---------------------------------------------------------------------------------


def test_merge_patch_null_deletes_and_lists_replace() -> None:
    obj = {"metadata": {"labels": {"old": "1", "keep": "2"}}, "spec": {"args": ["a", "b"]}}
    patch = {"metadata": {"labels": {"tier": "web", "old": None}}, "spec": {"args": ["c"]}}
    assert merge_patch(obj, patch) == {
        "metadata": {"labels": {"keep": "2", "tier": "web"}},
        "spec": {"args": ["c"]},
    }
    assert obj["metadata"]["labels"] == {"old": "1", "keep": "2"}


def test_merge_patch_non_object_replaces_document() -> None:
    assert merge_patch({"a": 1}, [1, 2]) == [1, 2]


def test_merge_patch_result_does_not_share_untouched_values() -> None:
    obj = {"spec": {"x": {"y": 1}}, "data": {"a": "1"}}
    result = merge_patch(obj, {"data": {"b": "2"}})
    result["spec"]["x"]["y"] = 2
    assert obj["spec"]["x"]["y"] == 1


# --- strategic merge patch -----------------------------------------------------------------------


def test_smp_merges_containers_by_name_instead_of_replacing() -> None:
    live = _deployment(
        [
            {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]},
            {"name": "sidecar", "image": "s:1"},
        ]
    )
    result = strategic_merge_patch(
        live,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:2"}]}}}},
        DEPLOYMENT,
    )
    assert _containers(result) == [
        {"name": "app", "image": "app:2", "ports": [{"containerPort": 80}]},
        {"name": "sidecar", "image": "s:1"},
    ]


def test_smp_of_kubectl_client_side_apply_with_set_element_order_and_delete() -> None:
    live = _deployment(
        [
            {"name": "app", "image": "app:1", "ports": [{"containerPort": 80}]},
            {"name": "sidecar", "image": "s:1"},
        ]
    )
    before = copy.deepcopy(live)
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [
                        {"name": "app", "image": "app:2"},
                        {"name": "sidecar", "$patch": "delete"},
                    ],
                }
            }
        }
    }
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert _containers(result) == [
        {"name": "app", "image": "app:2", "ports": [{"containerPort": 80}]}
    ]
    assert live == before


def test_smp_image_bump_keeps_the_order_named_by_set_element_order() -> None:
    live = _deployment([{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}])
    patch = {
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
                    "containers": [{"name": "a", "image": "a:2"}],
                }
            }
        },
    }
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert _containers(result) == [{"name": "b", "image": "b:1"}, {"name": "a", "image": "a:2"}]
    assert "kubectl.kubernetes.io/last-applied-configuration" in result["metadata"]["annotations"]


def test_smp_set_element_order_that_contradicts_the_patch_list_is_bad_request() -> None:
    live = _deployment([{"name": "a"}, {"name": "b"}])
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "a"}],
                    "containers": [{"name": "b", "image": "x"}],
                }
            }
        }
    }
    with pytest.raises(PatchError) as err:
        strategic_merge_patch(live, patch, DEPLOYMENT)
    assert err.value.reason == "BadRequest"


def test_smp_new_keyed_item_goes_before_server_only_items() -> None:
    live = _deployment([{"name": "app", "image": "app:1"}])
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "new", "image": "n"}]}}}}
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert [c["name"] for c in _containers(result)] == ["new", "app"]


def test_smp_replace_directive_in_a_map_replaces_it() -> None:
    live = _deployment([{"name": "app"}])
    patch = {"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}}
    assert strategic_merge_patch(live, patch, DEPLOYMENT)["spec"]["strategy"] == {
        "type": "Recreate"
    }


def test_smp_replace_directive_in_a_list_replaces_the_list() -> None:
    live = _deployment([{"name": "app", "image": "a"}, {"name": "sidecar", "image": "s"}])
    patch = {
        "spec": {
            "template": {
                "spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "o"}]}
            }
        }
    }
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert _containers(result) == [{"name": "only", "image": "o"}]


def test_smp_delete_directive_in_a_map_removes_it() -> None:
    live = _deployment([{"name": "app"}])
    patch = {"spec": {"strategy": {"rollingUpdate": {"$patch": "delete"}}}}
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert result["spec"]["strategy"] == {"type": "RollingUpdate"}


def test_smp_explicit_merge_directive_merges() -> None:
    live = _deployment([{"name": "app"}])
    patch = {"spec": {"strategy": {"$patch": "merge", "type": "RollingUpdate"}}}
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert result["spec"]["strategy"]["rollingUpdate"] == {
        "maxSurge": "25%",
        "maxUnavailable": "25%",
    }


def test_smp_unknown_directive_is_bad_request() -> None:
    with pytest.raises(PatchError) as err:
        strategic_merge_patch({"spec": {}}, {"spec": {"$patch": "explode"}}, DEPLOYMENT)
    assert err.value.reason == "BadRequest"


def test_smp_deleting_a_keyed_item_without_its_key_is_bad_request() -> None:
    live = _deployment([{"name": "app"}])
    patch = {"spec": {"template": {"spec": {"containers": [{"$patch": "delete"}]}}}}
    with pytest.raises(PatchError) as err:
        strategic_merge_patch(live, patch, DEPLOYMENT)
    assert err.value.reason == "BadRequest"


def test_smp_retain_keys_clears_the_other_union_members() -> None:
    live = _deployment([{"name": "app"}])
    patch = {
        "spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": None}}
    }
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_smp_retain_keys_not_covering_the_patch_is_invalid() -> None:
    live = _deployment([{"name": "app"}])
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {"maxSurge": 1}}}}
    with pytest.raises(PatchError) as err:
        strategic_merge_patch(live, patch, DEPLOYMENT)
    assert err.value.reason == "Invalid"


def test_smp_volume_switching_source_with_retain_keys() -> None:
    live = _deployment([{"name": "app"}])
    live["spec"]["template"]["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "volumes": [
                        {
                            "name": "data",
                            "$retainKeys": ["configMap", "name"],
                            "configMap": {"name": "cfg"},
                        }
                    ]
                }
            }
        }
    }
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert result["spec"]["template"]["spec"]["volumes"] == [
        {"name": "data", "configMap": {"name": "cfg"}}
    ]


def test_smp_primitive_merge_list_is_a_set_union() -> None:
    obj = {"metadata": {"name": "x", "finalizers": ["a", "b"]}}
    result = strategic_merge_patch(obj, {"metadata": {"finalizers": ["b", "c"]}}, DEPLOYMENT)
    assert sorted(result["metadata"]["finalizers"]) == ["a", "b", "c"]
    assert len(result["metadata"]["finalizers"]) == 3


def test_smp_delete_from_primitive_list() -> None:
    obj = {"metadata": {"name": "x", "finalizers": ["a", "b", "c"]}}
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b"]}}
    result = strategic_merge_patch(obj, patch, DEPLOYMENT)
    assert result["metadata"]["finalizers"] == ["a", "c"]


def test_smp_set_element_order_of_a_primitive_list() -> None:
    obj = {"metadata": {"name": "x", "finalizers": ["a", "b"]}}
    patch = {"metadata": {"$setElementOrder/finalizers": ["b", "a", "c"], "finalizers": ["c"]}}
    result = strategic_merge_patch(obj, patch, DEPLOYMENT)
    assert result["metadata"]["finalizers"] == ["b", "a", "c"]


def test_smp_lists_without_strategy_are_replaced() -> None:
    live = _deployment([{"name": "app", "args": ["a", "b"]}])
    live["spec"]["template"]["spec"]["tolerations"] = [{"key": "x"}]
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "app", "args": ["c"]}],
                    "tolerations": [{"key": "y"}],
                }
            }
        }
    }
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert _containers(result) == [{"name": "app", "args": ["c"]}]
    assert result["spec"]["template"]["spec"]["tolerations"] == [{"key": "y"}]


def test_smp_null_deletes_a_key() -> None:
    obj = {"metadata": {"name": "x", "labels": {"a": "1", "b": "2"}}}
    result = strategic_merge_patch(obj, {"metadata": {"labels": {"a": None}}}, DEPLOYMENT)
    assert result["metadata"]["labels"] == {"b": "2"}


def test_smp_of_kubectl_label_and_annotate() -> None:
    obj = {"metadata": {"name": "x", "labels": {"a": "1"}}}
    patch = {"metadata": {"labels": {"tier": "web"}, "annotations": {"note": "hi"}}}
    result = strategic_merge_patch(obj, patch, DEPLOYMENT)
    assert result["metadata"] == {
        "name": "x",
        "labels": {"a": "1", "tier": "web"},
        "annotations": {"note": "hi"},
    }


def test_smp_of_kubectl_scale() -> None:
    live = _deployment([{"name": "app"}])
    assert (
        strategic_merge_patch(live, {"spec": {"replicas": 4}}, DEPLOYMENT)["spec"]["replicas"] == 4
    )


def test_smp_of_kubectl_rollout_restart_adds_template_annotation() -> None:
    live = _deployment([{"name": "app"}])
    patch = {
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T10:00:00Z"}
                }
            }
        }
    }
    result = strategic_merge_patch(live, patch, DEPLOYMENT)
    assert result["spec"]["template"]["metadata"] == {
        "labels": {"app": "web"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T10:00:00Z"},
    }


def test_smp_service_ports_merge_by_port() -> None:
    service = _node("", "Service")
    live = {
        "spec": {
            "ports": [
                {"port": 80, "targetPort": 8080, "protocol": "TCP"},
                {"port": 443, "protocol": "TCP"},
            ]
        }
    }
    result = strategic_merge_patch(
        live, {"spec": {"ports": [{"port": 80, "targetPort": 9090}]}}, service
    )
    assert result["spec"]["ports"] == [
        {"port": 80, "targetPort": 9090, "protocol": "TCP"},
        {"port": 443, "protocol": "TCP"},
    ]


def test_smp_without_schema_merges_maps_and_replaces_lists() -> None:
    result = strategic_merge_patch(
        {"spec": {"a": 1, "l": [1, 2]}}, {"spec": {"b": 2, "l": [3]}}, None
    )
    assert result == {"spec": {"a": 1, "b": 2, "l": [3]}}


def test_smp_new_values_carry_no_nulls_or_directives() -> None:
    patch = {"spec": {"strategy": {"type": "Recreate", "rollingUpdate": None}}}
    result = strategic_merge_patch({"spec": {}}, patch, DEPLOYMENT)
    assert result["spec"]["strategy"] == {"type": "Recreate"}


def test_smp_does_not_mutate_patch() -> None:
    live = _deployment([{"name": "app", "image": "a"}])
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "$setElementOrder/containers": [{"name": "app"}],
                    "containers": [{"name": "app", "image": "b"}],
                }
            }
        }
    }
    frozen = copy.deepcopy(patch)
    strategic_merge_patch(live, patch, DEPLOYMENT)
    assert patch == frozen
