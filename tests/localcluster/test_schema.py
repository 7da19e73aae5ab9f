"""Type topology: built-in kinds from lightkube-models, CRD schemas, unknown fields."""

from __future__ import annotations

import pytest

from tether.localcluster.schema import (
    ANY,
    LIST,
    MAP,
    SCALAR,
    STRUCT,
    Node,
    default_object_node,
    list_keys,
    prune_unknown,
    schema_for,
    schema_from_openapi,
    unknown_fields,
)

REQUIRED_KINDS = [
    ("", "Namespace"),
    ("", "ConfigMap"),
    ("", "Secret"),
    ("", "Service"),
    ("", "ServiceAccount"),
    ("", "Pod"),
    ("", "PersistentVolumeClaim"),
    ("", "Event"),
    ("apps", "Deployment"),
    ("apps", "ReplicaSet"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("batch", "Job"),
    ("batch", "CronJob"),
    ("networking.k8s.io", "Ingress"),
    ("networking.k8s.io", "NetworkPolicy"),
    ("rbac.authorization.k8s.io", "Role"),
    ("rbac.authorization.k8s.io", "RoleBinding"),
    ("rbac.authorization.k8s.io", "ClusterRole"),
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
    ("policy", "PodDisruptionBudget"),
    ("autoscaling", "HorizontalPodAutoscaler"),
    ("coordination.k8s.io", "Lease"),
    ("apiextensions.k8s.io", "CustomResourceDefinition"),
    ("autoscaling", "Scale"),
]


def _deployment() -> Node:
    node = schema_for("apps", "Deployment")
    assert node is not None
    return node


def _pod_spec() -> Node:
    return _deployment().fields["spec"].fields["template"].fields["spec"]


@pytest.mark.parametrize(("group", "kind"), REQUIRED_KINDS)
def test_schema_for_models_every_required_builtin_kind(group: str, kind: str) -> None:
    node = schema_for(group, kind)
    assert node is not None
    assert node.kind == STRUCT
    assert {"apiVersion", "kind", "metadata"} <= set(node.fields)


def test_schema_for_unknown_group_or_kind_is_none() -> None:
    assert schema_for("example.com", "Widget") is None
    assert schema_for("", "NoSuchKind") is None
    assert schema_for("apps", "DeploymentList") is None


def test_schema_for_is_cached() -> None:
    assert schema_for("apps", "Deployment") is schema_for("apps", "Deployment")


def test_containers_are_keyed_by_name_for_both_patch_kinds() -> None:
    containers = _pod_spec().fields["containers"]
    assert containers.is_keyed_list
    assert containers.keys == ("name",)
    assert containers.patch_strategy == "merge"
    assert containers.patch_merge_key == "name"
    assert list_keys(containers) == ("name",)


def test_container_ports_key_on_port_and_protocol_with_tcp_default() -> None:
    ports = _pod_spec().fields["containers"].item().fields["ports"]
    assert ports.keys == ("containerPort", "protocol")
    assert ports.key_defaults == {"protocol": "TCP"}
    assert ports.patch_merge_key == "containerPort"


def test_service_ports_key_on_port_and_protocol() -> None:
    service = schema_for("", "Service")
    assert service is not None
    ports = service.fields["spec"].fields["ports"]
    assert ports.keys == ("port", "protocol")
    assert ports.patch_merge_key == "port"
    assert ports.key_defaults == {"protocol": "TCP"}


@pytest.mark.parametrize(
    ("field", "keys"),
    [
        ("initContainers", ("name",)),
        ("ephemeralContainers", ("name",)),
        ("volumes", ("name",)),
        ("imagePullSecrets", ("name",)),
        ("hostAliases", ("ip",)),
        ("topologySpreadConstraints", ("topologyKey", "whenUnsatisfiable")),
    ],
)
def test_pod_spec_keyed_lists_follow_the_table(field: str, keys: tuple[str, ...]) -> None:
    assert list_keys(_pod_spec().fields[field]) == keys


def test_container_env_and_volume_mounts_are_keyed() -> None:
    container = _pod_spec().fields["containers"].item()
    assert list_keys(container.fields["env"]) == ("name",)
    assert list_keys(container.fields["volumeMounts"]) == ("mountPath",)


def test_volumes_retain_keys_and_strategy_retains_keys() -> None:
    assert _pod_spec().fields["volumes"].retain_keys
    assert _deployment().fields["spec"].fields["strategy"].retain_keys


def test_lists_without_a_strategy_are_atomic() -> None:
    container = _pod_spec().fields["containers"].item()
    for name in ("args", "command", "envFrom"):
        assert container.fields[name].kind == LIST
        assert container.fields[name].is_leaf
        assert container.fields[name].patch_strategy == ""
    assert _pod_spec().fields["tolerations"].is_leaf


def test_status_conditions_are_keyed_by_type() -> None:
    for group, kind in [("apps", "Deployment"), ("", "Pod"), ("batch", "Job")]:
        node = schema_for(group, kind)
        assert node is not None
        assert list_keys(node.fields["status"].fields["conditions"]) == ("type",)


def test_object_meta_semantics() -> None:
    meta = _deployment().fields["metadata"]
    assert meta.fields["labels"].kind == MAP and not meta.fields["labels"].atomic
    assert meta.fields["annotations"].kind == MAP
    assert meta.fields["finalizers"].is_set_list
    assert meta.fields["finalizers"].patch_strategy == "merge"
    assert list_keys(meta.fields["ownerReferences"]) == ("uid",)
    assert meta.fields["ownerReferences"].item().atomic
    assert meta.fields["managedFields"].is_leaf


def test_label_selector_is_an_atomic_struct_and_quantities_are_scalars() -> None:
    spec = _deployment().fields["spec"]
    assert spec.fields["selector"].kind == STRUCT and spec.fields["selector"].is_leaf
    resources = _pod_spec().fields["containers"].item().fields["resources"]
    assert resources.fields["limits"].kind == MAP
    assert resources.fields["limits"].child("cpu").kind == ANY
    assert spec.fields["strategy"].fields["rollingUpdate"].fields["maxSurge"].kind == SCALAR


def test_crd_openapi_schema_is_free_form_without_infinite_recursion() -> None:
    crd = schema_for("apiextensions.k8s.io", "CustomResourceDefinition")
    assert crd is not None
    version = crd.fields["spec"].fields["versions"].item()
    assert version.fields["schema"].fields["openAPIV3Schema"].kind == ANY


def test_schema_from_openapi_models_list_and_map_types() -> None:
    node = schema_from_openapi(
        {
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {
                        "replicas": {"type": "integer"},
                        "hosts": {"type": "array", "items": {"type": "string"}},
                        "tags": {
                            "type": "array",
                            "x-kubernetes-list-type": "set",
                            "items": {"type": "string"},
                        },
                        "ports": {
                            "type": "array",
                            "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["port", "protocol"],
                            "items": {
                                "type": "object",
                                "properties": {
                                    "port": {"type": "integer"},
                                    "protocol": {"type": "string", "default": "TCP"},
                                },
                            },
                        },
                        "selector": {
                            "type": "object",
                            "x-kubernetes-map-type": "atomic",
                            "properties": {"app": {"type": "string"}},
                        },
                        "env": {"type": "object", "additionalProperties": {"type": "string"}},
                        "blob": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        "size": {"x-kubernetes-int-or-string": True},
                    },
                }
            },
        }
    )
    spec = node.fields["spec"]
    assert spec.fields["hosts"].is_leaf
    assert spec.fields["tags"].is_set_list
    assert spec.fields["ports"].keys == ("port", "protocol")
    assert spec.fields["ports"].key_defaults == {"protocol": "TCP"}
    assert spec.fields["selector"].is_leaf
    assert spec.fields["env"].kind == MAP
    assert spec.fields["blob"].kind == ANY
    assert spec.fields["size"].kind == SCALAR
    assert node.fields["metadata"].fields["finalizers"].is_set_list


def test_unknown_fields_reports_paths_like_the_api_server() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"anything": "goes"}},
        "spec": {
            "foo": 1,
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": "a"}, {"name": "b", "bogus": True}]}},
        },
        "status": {"replicas": 1},
    }
    assert unknown_fields(obj, _deployment()) == [
        "spec.foo",
        "spec.template.spec.containers[1].bogus",
    ]


def test_prune_unknown_drops_only_unknown_fields_and_leaves_input_alone() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"foo": 1, "replicas": 3},
    }
    pruned = prune_unknown(obj, _deployment())
    assert pruned == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 3},
    }
    assert obj["spec"] == {"foo": 1, "replicas": 3}


def test_unknown_fields_respects_preserve_unknown_in_crd_schemas() -> None:
    node = schema_from_openapi(
        {
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        }
    )
    obj = {"metadata": {"name": "w"}, "spec": {"size": 1, "colour": "red"}, "extra": {"a": 1}}
    assert unknown_fields(obj, node) == ["spec.colour"]


def test_default_object_node_keeps_object_meta_and_accepts_anything_else() -> None:
    node = default_object_node()
    assert unknown_fields({"metadata": {"name": "x"}, "spec": {"a": [1]}}, node) == []
    assert node.fields["metadata"].fields["finalizers"].is_set_list
