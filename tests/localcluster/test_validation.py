"""Validation of built-in kinds and the exact messages kube-apiserver prints."""

from __future__ import annotations

import base64
import copy
from typing import Any

import httpx
import orjson
import pytest

from tests.localcluster import test_api
from tether.localcluster.defaults import apply_defaults
from tether.localcluster.secretdecode import SecretDecodeError, decode_secret, go_base64_error
from tether.localcluster.testing import Kubectl
from tether.localcluster.validation import (
    FieldError,
    forbidden,
    invalid,
    invalid_message,
    is_dns1123_label,
    is_dns1123_subdomain,
    is_path_segment_name,
    not_supported,
    required,
    too_long,
    too_many,
    validate_name,
    validate_object,
)

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def messages(errors: list[FieldError]) -> list[str]:
    return [str(e) for e in errors]


def prepared(
    group: str, kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Default like the server does before validating."""
    result = copy.deepcopy(obj)
    apply_defaults(group, kind, result, old=old, allocate_cluster_ip=lambda: "10.96.0.10")
    return result


def check(
    group: str, kind: str, obj: dict[str, Any], old: dict[str, Any] | None = None
) -> list[str]:
    return messages(validate_object(group, kind, prepared(group, kind, obj, old), old))


def deployment(**spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
            },
        },
    }
    base["spec"].update(spec)
    return base


# ---- FieldError rendering ------------------------------------------------------------------


def test_field_error_messages_follow_go_formatting() -> None:
    assert invalid("spec.replicas", -1, "must be greater than or equal to 0").message() == (
        "Invalid value: -1: must be greater than or equal to 0"
    )
    assert invalid("metadata.name", "Web", "bad").message() == 'Invalid value: "Web": bad'
    assert invalid("spec.paused", True, "x").message() == "Invalid value: true: x"
    assert invalid("spec.ratio", 0.5, "x").message() == "Invalid value: 0.5: x"
    assert invalid("spec.big", 1e7, "x").message() == "Invalid value: 1e+07: x"
    assert invalid("spec.x", None, "x").message() == "Invalid value: null: x"
    assert required("spec.selector").message() == "Required value"
    assert required("metadata.name", "name or generateName is required").message() == (
        "Required value: name or generateName is required"
    )
    assert not_supported("spec.type", "Magic", ["ClusterIP", "NodePort"]).message() == (
        'Unsupported value: "Magic": supported values: "ClusterIP", "NodePort"'
    )
    assert forbidden("spec", "nope").message() == "Forbidden: nope"
    assert (
        too_long("metadata.annotations", 63).message() == "Too long: may not be more than 63 bytes"
    )
    assert too_many("spec.items", 4, 3).message() == "Too many: 4: must have at most 3 items"
    assert invalid("k", 'a"b', "x").message() == 'Invalid value: "a\\"b": x'


def test_cause_has_reason_message_and_field() -> None:
    error = invalid("spec.replicas", -1, "must be greater than or equal to 0")
    assert error.cause() == {
        "reason": "FieldValueInvalid",
        "message": "Invalid value: -1: must be greater than or equal to 0",
        "field": "spec.replicas",
    }


def test_field_error_accepts_positional_construction() -> None:
    error = FieldError("FieldValueRequired", "metadata.name", "name or generateName is required")
    assert str(error) == "metadata.name: Required value: name or generateName is required"


def test_invalid_message_single_and_aggregated() -> None:
    one = [invalid("spec.replicas", -1, "must be greater than or equal to 0")]
    assert invalid_message("Deployment", "apps", "web", one) == (
        'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0"
    )
    two = [*one, required("spec.selector"), required("spec.selector")]
    assert invalid_message("Deployment", "apps", "web", two) == (
        'Deployment.apps "web" is invalid: [spec.replicas: Invalid value: -1: must be greater '
        "than or equal to 0, spec.selector: Required value]"
    )
    assert invalid_message("ConfigMap", "", "cfg", [required("data")]) == (
        'ConfigMap "cfg" is invalid: data: Required value'
    )


# ---- names ---------------------------------------------------------------------------------


def test_name_rules_give_the_real_messages() -> None:
    assert is_dns1123_subdomain("Web_App") == [SUBDOMAIN_MSG]
    assert is_dns1123_label("a.b") == [LABEL_MSG]
    assert is_dns1123_subdomain("a" * 254) == ["must be no more than 253 characters"]
    assert is_dns1123_label("a" * 64) == ["must be no more than 63 characters"]
    assert is_path_segment_name("system:viewer") == []
    assert is_path_segment_name("a/b") == ["may not contain '/'"]
    assert is_path_segment_name("..") == ["may not be '..'"]
    assert validate_name(is_dns1123_subdomain, "web-", prefix=True) == []


def test_configmap_with_invalid_name() -> None:
    errors = check("", "ConfigMap", {"metadata": {"name": "Bad_Name", "namespace": "default"}})
    assert errors == [f'metadata.name: Invalid value: "Bad_Name": {SUBDOMAIN_MSG}']


def test_namespace_name_must_be_a_dns_label() -> None:
    errors = check("", "Namespace", {"metadata": {"name": "team.a"}})
    assert errors == [f'metadata.name: Invalid value: "team.a": {LABEL_MSG}']


def test_service_name_must_be_a_dns1035_label() -> None:
    svc = {"metadata": {"name": "1web", "namespace": "d"}, "spec": {"ports": [{"port": 80}]}}
    assert check("", "Service", svc) == [f'metadata.name: Invalid value: "1web": {DNS1035_MSG}']


def test_rbac_names_use_the_path_segment_rule() -> None:
    role = {"metadata": {"name": "system:Reader"}, "rules": []}
    assert check("rbac.authorization.k8s.io", "ClusterRole", role) == []


def test_missing_name_and_generate_name() -> None:
    assert check("", "ConfigMap", {"metadata": {}}) == [
        "metadata.name: Required value: name or generateName is required"
    ]


# ---- metadata ------------------------------------------------------------------------------


def test_label_key_and_value_rules() -> None:
    meta = {"name": "c", "labels": {"-bad": "ok", "good": "x" * 64}}
    errors = check("", "ConfigMap", {"metadata": meta})
    assert errors[0].startswith('metadata.labels: Invalid value: "-bad": name part must consist of')
    assert (
        errors[1]
        == f'metadata.labels: Invalid value: "{"x" * 64}": must be no more than 63 characters'
    )


def test_annotations_total_size_limit() -> None:
    meta = {"name": "c", "annotations": {"big": "x" * (256 * 1024)}}
    assert check("", "ConfigMap", {"metadata": meta}) == [
        "metadata.annotations: Too long: may not be more than 262144 bytes"
    ]


def test_only_one_controller_owner_reference() -> None:
    refs = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "a",
            "uid": "1",
            "controller": True,
        },
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "b",
            "uid": "2",
            "controller": True,
        },
    ]
    errors = check("", "ConfigMap", {"metadata": {"name": "c", "ownerReferences": refs}})
    assert len(errors) == 1
    assert errors[0].endswith(
        'Only one reference can have Controller set to true. Found "true" in references for '
        "ReplicaSet/a and ReplicaSet/b"
    )


def test_immutable_metadata_on_update() -> None:
    old = {
        "metadata": {
            "name": "c",
            "namespace": "a",
            "uid": "1",
            "creationTimestamp": "2025-01-01T00:00:00Z",
        }
    }
    new = copy.deepcopy(old)
    new["metadata"]["uid"] = "2"
    assert check("", "ConfigMap", new, old) == [
        'metadata.uid: Invalid value: "2": field is immutable'
    ]


def test_no_new_finalizers_while_deleting() -> None:
    old = {
        "metadata": {
            "name": "c",
            "deletionTimestamp": "2025-01-01T00:00:00Z",
            "finalizers": ["a.io/x"],
        }
    }
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = ["a.io/x", "b.io/y"]
    assert check("", "ConfigMap", new, old) == [
        "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being "
        'deleted, found new finalizers []string{"b.io/y"}'
    ]


# ---- apps ----------------------------------------------------------------------------------


def test_valid_deployment_has_no_errors() -> None:
    assert check("apps", "Deployment", deployment()) == []


def test_negative_replicas() -> None:
    obj = prepared("apps", "Deployment", deployment(replicas=-1))
    errors = validate_object("apps", "Deployment", obj, None)
    assert invalid_message("Deployment", "apps", "web", errors) == (
        'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0"
    )


def test_selector_mismatch_message() -> None:
    obj = deployment()
    obj["spec"]["template"]["metadata"]["labels"] = {"app": "api"}
    assert check("apps", "Deployment", obj) == [
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"api"}: '
        "`selector` does not match template `labels`"
    ]


def test_selector_required_and_empty() -> None:
    obj = deployment()
    del obj["spec"]["selector"]
    assert check("apps", "Deployment", obj) == ["spec.selector: Required value"]
    obj["spec"]["selector"] = {}
    assert check("apps", "Deployment", obj) == [
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
    ]


def test_selector_is_immutable_on_update() -> None:
    old = prepared("apps", "Deployment", deployment())
    new = deployment(selector={"matchLabels": {"app": "web2"}})
    new["spec"]["template"]["metadata"]["labels"] = {"app": "web2"}
    assert check("apps", "Deployment", new, old) == [
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string"
        '{"app":"web2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable'
    ]


def test_container_rules() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"] = [
        {"name": "Web", "image": "nginx", "ports": [{"containerPort": 70000, "protocol": "HTTP"}]},
        {"name": "side"},
        {"name": "side", "image": "busybox"},
    ]
    assert check("apps", "Deployment", obj) == [
        f'spec.template.spec.containers[0].name: Invalid value: "Web": {LABEL_MSG}',
        "spec.template.spec.containers[0].ports[0].containerPort: Invalid value: 70000: "
        "must be between 1 and 65535, inclusive",
        'spec.template.spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": '
        'supported values: "SCTP", "TCP", "UDP"',
        "spec.template.spec.containers[1].image: Required value",
        'spec.template.spec.containers[2].name: Duplicate value: "side"',
    ]


def test_template_needs_containers() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"] = []
    assert check("apps", "Deployment", obj) == ["spec.template.spec.containers: Required value"]


def test_deployment_template_restart_policy_must_be_always() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert check("apps", "Deployment", obj) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'
    ]


def test_rolling_update_zero_zero() -> None:
    obj = deployment(
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 0}}
    )
    assert check("apps", "Deployment", obj) == [
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, "
        'IntVal:0, StrVal:""}: may not be 0 when `maxSurge` is 0'
    ]


def test_statefulset_forbidden_spec_update() -> None:
    sts = deployment(serviceName="db")
    old = prepared("apps", "StatefulSet", sts)
    new = copy.deepcopy(sts)
    new["spec"]["serviceName"] = "other"
    assert check("apps", "StatefulSet", new, old) == [
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', "
        "'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', "
        "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
    ]
    scaled = copy.deepcopy(old)
    scaled["spec"]["replicas"] = 5
    assert check("apps", "StatefulSet", scaled, old) == []


def test_daemonset_empty_selector_message() -> None:
    obj = deployment(selector={})
    assert check("apps", "DaemonSet", obj)[-1].endswith("empty selector is invalid for daemonset")


# ---- core ----------------------------------------------------------------------------------


def test_pod_restart_policy_enum() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "d"},
        "spec": {"restartPolicy": "Sometimes", "containers": [{"name": "a", "image": "b"}]},
    }
    assert check("", "Pod", pod) == [
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'
    ]


def test_pod_volume_mount_must_name_a_volume() -> None:
    container = {"name": "a", "image": "b", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [container]}}
    assert check("", "Pod", pod) == ['spec.containers[0].volumeMounts[0].name: Not found: "data"']


def test_pod_spec_is_mostly_immutable() -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a", "image": "b:1"}]}}
    old = prepared("", "Pod", pod)
    image_change = copy.deepcopy(old)
    image_change["spec"]["containers"][0]["image"] = "b:2"
    assert check("", "Pod", image_change, old) == []
    port_change = copy.deepcopy(old)
    port_change["spec"]["containers"][0]["ports"] = [{"containerPort": 80}]
    assert check("", "Pod", port_change, old)[0].startswith(
        "spec: Forbidden: pod updates may not change fields"
    )


def test_requests_may_not_exceed_limits() -> None:
    resources = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
    pod = {
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "a", "image": "b", "resources": resources}]},
    }
    assert check("", "Pod", pod) == [
        'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1'
    ]


def service(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "d"},
        "spec": {"selector": {"app": "web"}, **spec},
    }


def test_service_ports_required_unless_headless_or_external_name() -> None:
    assert check("", "Service", service()) == ["spec.ports: Required value"]
    assert check("", "Service", service(clusterIP="None")) == []
    assert check("", "Service", service(type="ExternalName", externalName="db.example.com")) == []


def test_service_port_and_type_rules() -> None:
    svc = service(type="Magic", ports=[{"port": 0}, {"name": "b", "port": 80, "protocol": "TCP"}])
    assert check("", "Service", svc) == [
        'spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", '
        '"LoadBalancer", "NodePort"',
        "spec.ports[0].name: Required value",
        "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
        'spec.ports[0].targetPort: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: '
        "must be between 1 and 65535, inclusive",
    ]


def test_service_cluster_ip_is_immutable() -> None:
    old = prepared("", "Service", service(ports=[{"port": 80}]))
    new = copy.deepcopy(old)
    new["spec"]["clusterIP"] = "10.96.0.99"
    new["spec"]["clusterIPs"] = ["10.96.0.99"]
    assert check("", "Service", new, old) == [
        'spec.clusterIPs[0]: Invalid value: []string{"10.96.0.99"}: may not change once set'
    ]


def test_config_map_keys_and_size() -> None:
    cm = {"metadata": {"name": "c"}, "data": {"bad key": "v", "..x": "v"}}
    assert check("", "ConfigMap", cm) == [
        "data[..x]: Invalid value: \"..x\": must not start with '..'",
        'data[bad key]: Invalid value: "bad key": a valid config key must consist of alphanumeric '
        "characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used "
        "for validation is '[-._a-zA-Z0-9]+')",
    ]
    huge = {"metadata": {"name": "c"}, "data": {"a": "x" * (1024 * 1024 + 1)}}
    assert check("", "ConfigMap", huge) == [": Too long: may not be more than 1048576 bytes"]


def test_secret_type_is_immutable_and_tls_needs_keys() -> None:
    old = prepared("", "Secret", {"metadata": {"name": "s"}, "data": {}})
    new = {"metadata": {"name": "s"}, "type": "kubernetes.io/tls", "data": {}}
    assert check("", "Secret", new, old) == [
        "data[tls.crt]: Required value",
        "data[tls.key]: Required value",
        'type: Invalid value: "kubernetes.io/tls": field is immutable',
    ]


def test_immutable_config_map() -> None:
    old = {"metadata": {"name": "c"}, "immutable": True, "data": {"a": "1"}}
    new = copy.deepcopy(old)
    new["data"]["a"] = "2"
    assert check("", "ConfigMap", new, old) == [
        "data: Forbidden: field is immutable when `immutable` is set"
    ]


def test_pvc_requires_access_modes_and_storage() -> None:
    pvc = {"metadata": {"name": "p"}, "spec": {}}
    assert check("", "PersistentVolumeClaim", pvc) == [
        "spec.accessModes: Required value: at least 1 access mode is required",
        "spec.resources[storage]: Required value",
    ]


def test_event_involved_object_namespace_must_match() -> None:
    event = {
        "metadata": {"name": "e.1", "namespace": "a"},
        "involvedObject": {"kind": "Pod", "namespace": "b"},
    }
    assert check("", "Event", event) == [
        'involvedObject.namespace: Invalid value: "b": does not match event.namespace'
    ]


# ---- batch ---------------------------------------------------------------------------------


def job(restart_policy: str = "Never") -> dict[str, Any]:
    return {
        "metadata": {"name": "migrate", "namespace": "d", "uid": "1234"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": restart_policy,
                    "containers": [{"name": "a", "image": "b"}],
                }
            }
        },
    }


def test_defaulted_job_is_valid() -> None:
    assert check("batch", "Job", job()) == []


def test_job_restart_policy_must_be_never_or_on_failure() -> None:
    assert check("batch", "Job", job("Always")) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"'
    ]


def test_job_template_and_selector_are_immutable() -> None:
    old = prepared("batch", "Job", job())
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "c"
    errors = check("batch", "Job", new, old)
    assert errors == ["spec.template: Invalid value: core.PodTemplateSpec{…}: field is immutable"]


def test_cronjob_schedule_required() -> None:
    cron = {"metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": job()["spec"]}}}
    assert check("batch", "CronJob", cron) == ["spec.schedule: Required value"]


# ---- other groups ---------------------------------------------------------------------------


def test_role_binding_role_ref_required_and_immutable() -> None:
    binding = {
        "metadata": {"name": "b", "namespace": "d"},
        "roleRef": {"kind": "Role"},
        "subjects": [],
    }
    assert check("rbac.authorization.k8s.io", "RoleBinding", binding) == [
        "roleRef.name: Required value"
    ]
    old = prepared(
        "rbac.authorization.k8s.io",
        "RoleBinding",
        {**binding, "roleRef": {"kind": "Role", "name": "a"}},
    )
    new = copy.deepcopy(old)
    new["roleRef"]["name"] = "b"
    assert check("rbac.authorization.k8s.io", "RoleBinding", new, old) == [
        'roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"Role", Name:"b"}: cannot change roleRef'
    ]


def test_role_rules_need_verbs() -> None:
    role = {
        "metadata": {"name": "r", "namespace": "d"},
        "rules": [{"apiGroups": [""], "resources": ["pods"]}],
    }
    assert check("rbac.authorization.k8s.io", "Role", role) == [
        "rules[0].verbs: Required value: verbs must contain at least one value"
    ]


def test_hpa_rules() -> None:
    hpa = {
        "metadata": {"name": "h"},
        "spec": {"scaleTargetRef": {"kind": "Deployment"}, "maxReplicas": 0},
    }
    assert check("autoscaling", "HorizontalPodAutoscaler", hpa) == [
        "spec.scaleTargetRef.name: Required value",
        "spec.maxReplicas: Invalid value: 0: must be greater than 0",
    ]


def test_pdb_cannot_set_both_bounds() -> None:
    pdb = {"metadata": {"name": "p"}, "spec": {"minAvailable": 1, "maxUnavailable": "150%"}}
    errors = check("policy", "PodDisruptionBudget", pdb)
    assert errors[0].endswith("minAvailable and maxUnavailable cannot be both set")
    assert errors[1] == (
        'spec.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}: '
        "must not be greater than 100%"
    )


def test_ingress_path_rules() -> None:
    ingress = {
        "metadata": {"name": "i"},
        "spec": {
            "rules": [
                {
                    "host": "a.example.com",
                    "http": {"paths": [{"path": "api", "backend": {"service": {"name": "web"}}}]},
                }
            ]
        },
    }
    assert check("networking.k8s.io", "Ingress", ingress) == [
        "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
        "spec.rules[0].http.paths[0].backend: Required value: port name or number is required",
    ]


def test_network_policy_types_enum() -> None:
    policy = {"metadata": {"name": "n"}, "spec": {"podSelector": {}, "policyTypes": ["Sideways"]}}
    assert check("networking.k8s.io", "NetworkPolicy", policy) == [
        'spec.policyTypes[0]: Unsupported value: "Sideways": supported values: "Egress", "Ingress"'
    ]


def test_lease_duration_must_be_positive() -> None:
    lease = {"metadata": {"name": "l"}, "spec": {"leaseDurationSeconds": 0}}
    assert check("coordination.k8s.io", "Lease", lease) == [
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0"
    ]


# ---- CustomResourceDefinition ----------------------------------------------------------------


def crd(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "listKind": "WidgetList",
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}
                        },
                    }
                },
            }
        ],
    }
    spec.update(overrides)
    return {"metadata": {"name": "widgets.example.com"}, "spec": spec}


def check_crd(obj: dict[str, Any]) -> list[str]:
    return check("apiextensions.k8s.io", "CustomResourceDefinition", obj)


def test_valid_crd() -> None:
    assert check_crd(crd()) == []


def test_crd_name_must_be_plural_dot_group() -> None:
    obj = crd()
    obj["metadata"]["name"] = "gadgets.example.com"
    assert check_crd(obj) == [
        'metadata.name: Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group'
    ]


def test_crd_group_needs_a_dot_and_scope_enum() -> None:
    obj = crd(group="example", scope="Galaxy")
    obj["metadata"]["name"] = "widgets.example"
    assert check_crd(obj) == [
        'spec.group: Invalid value: "example": should be a domain with at least one dot',
        'spec.scope: Unsupported value: "Galaxy": supported values: "Cluster", "Namespaced"',
    ]


def test_crd_needs_exactly_one_storage_version() -> None:
    obj = crd()
    obj["spec"]["versions"].append({**copy.deepcopy(obj["spec"]["versions"][0]), "name": "v2"})
    errors = check_crd(obj)
    assert len(errors) == 1
    assert errors[0].endswith("must have exactly one version marked as storage version")


def test_crd_structural_schema_rules() -> None:
    schema = {
        "type": "object",
        "properties": {
            "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}},
            "spec": {
                "type": "object",
                "properties": {"untyped": {}, "port": {"x-kubernetes-int-or-string": True}},
                "additionalProperties": {"type": "string"},
            },
        },
    }
    obj = crd()
    obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = schema
    prefix = "spec.versions[0].schema.openAPIV3Schema"
    assert check_crd(obj) == [
        f"{prefix}.properties[spec].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive",
        f"{prefix}.properties[spec].properties[untyped].type: Required value: must not be empty for specified object fields",
        f"{prefix}.properties[metadata]: Forbidden: must not specify anything other than name and generateName, "
        "but metadata is implicitly specified",
    ]


def test_crd_names_must_be_valid() -> None:
    obj = crd(
        names={"plural": "Widgets", "singular": "widget", "kind": "Widget", "listKind": "Widget"}
    )
    obj["metadata"]["name"] = "Widgets.example.com"
    errors = check_crd(obj)
    assert any(
        e.startswith('spec.names.plural: Invalid value: "Widgets": a DNS-1035 label')
        for e in errors
    )
    assert (
        'spec.names.listKind: Invalid value: "Widget": kind and listKind may not be the same'
        in errors
    )


# ---- Secret data decoded as kube-apiserver decodes it --------------------------------------------

CANNOT = 'Secret in version "v1" cannot be handled as a Secret: '
#: the raw HTTP client of the API tests (fixture ``http``)
http = test_api.http


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        # offsets as kube-apiserver reports them for these values (Go's base64 decoder)
        ("admin", 4),
        ("billy", 4),
        ("<foo>", 0),
        ("APIKEY_BASE64", 6),
        ("${PASSWORD_B64}", 0),
        ("YWRtaW4", 4),
        ("YQ", 0),
        ("YQ=", 3),
        ("YQ==x", 4),
        ("YQ==", None),
        ("YWJj\nZA==", None),
        ("YQ=\n=", None),
        ("", None),
    ],
)
def test_base64_errors_point_at_the_byte_go_reports(text: str, offset: int | None) -> None:
    assert go_base64_error(text) == offset


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"data": "a string"},
            "string into Go struct field Secret.data of type map[string][]uint8",
        ),
        ({"data": ["x"]}, "array into Go struct field Secret.data of type map[string][]uint8"),
        ({"data": {"a": {"b": "c"}}}, "object into Go struct field Secret.data of type []uint8"),
        ({"data": {"a": 5}}, "number into Go struct field Secret.data of type []uint8"),
        ({"data": {"a": True}}, "bool into Go struct field Secret.data of type []uint8"),
        ({"data": {"a": [256]}}, "number 256 into Go struct field Secret.data of type uint8"),
        ({"data": {"a": ["x"]}}, "string into Go struct field Secret.data of type uint8"),
        (
            {"stringData": ["x"]},
            "array into Go struct field Secret.stringData of type map[string]string",
        ),
        (
            {"stringData": 7},
            "number into Go struct field Secret.stringData of type map[string]string",
        ),
        ({"stringData": {"a": 5}}, "number into Go struct field Secret.stringData of type string"),
        (
            {"stringData": {"a": ["x"]}},
            "array into Go struct field Secret.stringData of type string",
        ),
    ],
)
def test_secret_fields_that_do_not_fit_gos_types_give_gos_message(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(SecretDecodeError) as caught:
        decode_secret({"metadata": {"name": "s"}, **fields})
    assert caught.value.message == f"json: cannot unmarshal {message}"


def test_the_first_error_in_document_order_wins_and_values_are_stored_as_go_writes_them() -> None:
    with pytest.raises(SecretDecodeError, match="stringData"):
        decode_secret({"stringData": [1], "data": "x"})
    with pytest.raises(SecretDecodeError, match="input byte 1"):
        decode_secret({"data": {"a": "Y!", "b": 5}})
    secret: dict[str, Any] = {
        "data": {"nl": "YWJj\nZA==", "null": None, "bytes": [104, 105], 1: "YQ=="},
        "stringData": {"s": None, "t": "text"},
    }
    decode_secret(secret)
    assert secret == {
        "data": {"nl": "YWJjZA==", "null": "", "bytes": "aGk=", "1": "YQ=="},
        "stringData": {"s": "", "t": "text"},
    }


def _secret_body(namespace: str, **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": namespace},
        **fields,
    }


def _status(answer: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    assert answer.status_code == code, answer.text
    body: dict[str, Any] = answer.json()
    assert (body["kind"], body["status"], body["reason"], body["code"]) == (
        "Status",
        "Failure",
        reason,
        code,
    )
    return body


def test_undecodable_secret_bodies_are_400_and_nothing_is_stored(
    http: httpx.Client, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/secrets"
    cases = [
        ({"data": "plain text"}, "json: cannot unmarshal string into Go struct field "),
        ({"data": {"a": "not base64!"}}, "illegal base64 data at input byte 3"),
        ({"stringData": ["x"]}, "json: cannot unmarshal array into Go struct field "),
    ]
    for fields, message in cases:
        created = http.post(path, json=_secret_body(namespace, **fields))
        assert _status(created, 400, "BadRequest")["message"].startswith(CANNOT + message)
        applied = http.patch(
            f"{path}/s",
            params={"fieldManager": "test"},
            content=orjson.dumps(_secret_body(namespace, **fields)),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        assert _status(applied, 400, "BadRequest")["message"].startswith(CANNOT + message)
        _status(http.get(f"{path}/s"), 404, "NotFound")
    assert http.post(path, json=_secret_body(namespace, data={"a": "YQ=="})).status_code == 201
    replaced = http.put(f"{path}/s", json=_secret_body(namespace, data="x"))
    assert _status(replaced, 400, "BadRequest")["message"] == (
        CANNOT + "json: cannot unmarshal string into Go struct field Secret.data of type "
        "map[string][]uint8"
    )
    patched = http.patch(
        f"{path}/s",
        json={"data": {"b": "!!"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    body = _status(patched, 422, "Invalid")
    assert body["message"].startswith(' "" is invalid: patch: Invalid value: "{')
    assert body["message"].endswith(": illegal base64 data at input byte 0")
    assert body["details"]["causes"][0]["field"] == "patch"
    assert http.get(f"{path}/s").json()["data"] == {"a": "YQ=="}


def test_secret_keys_and_total_size_are_invalid_with_the_apiservers_messages(
    http: httpx.Client, namespace: str
) -> None:
    path = f"/api/v1/namespaces/{namespace}/secrets"
    bad_key = http.post(path, json=_secret_body(namespace, stringData={"bad key": "v"}))
    assert _status(bad_key, 422, "Invalid")["message"].startswith(
        'Secret "s" is invalid: data[bad key]: Invalid value: "bad key": a valid config key'
    )
    big = base64.b64encode(b"x" * (1024 * 1024 + 1)).decode()
    too_big = http.post(path, json=_secret_body(namespace, data={"a": big}))
    assert _status(too_big, 422, "Invalid")["message"] == (
        'Secret "s" is invalid: data: Too long: may not be more than 1048576 bytes'
    )
    decoded = http.post(
        path,
        json=_secret_body(namespace, data={"a": "YWJj\nZA==", "n": None}, stringData={"s": None}),
    )
    assert decoded.status_code == 201, decoded.text
    assert decoded.json()["data"] == {"a": "YWJjZA==", "n": "", "s": ""}


def test_kubectl_shows_the_apiservers_refusal_of_undecodable_secret_data(
    kubectl: Kubectl, namespace: str
) -> None:
    for verb in (("create",), ("apply", "--server-side")):
        for fields, message in (
            ({"data": "plain text"}, "json: cannot unmarshal string into Go struct field "),
            ({"data": {"password": "hunter2"}}, "illegal base64 data at input byte 4"),
            ({"stringData": ["x"]}, "json: cannot unmarshal array into Go struct field "),
        ):
            body = orjson.dumps(_secret_body(namespace, **fields)).decode()
            proc = kubectl(*verb, "-f", "-", input=body, check=False)
            assert proc.returncode == 1, proc.stdout
            assert "Error from server (BadRequest)" in proc.stderr
            assert CANNOT + message in proc.stderr
    assert kubectl("get", "secrets", "-n", namespace, "-o", "name").stdout.strip() == ""
