"""Server-side defaults (spec §12) applied by `apply_defaults`."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tether.localcluster.defaults import (
    InvalidQuantityError,
    apply_defaults,
    canonical_quantity,
)


def defaulted(group: str, kind: str, obj: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    result = copy.deepcopy(obj)
    apply_defaults(group, kind, result, **kwargs)
    return result


def container(image: str = "nginx:1.27", **extra: Any) -> dict[str, Any]:
    return {"name": "app", "image": image, **extra}


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [container(ports=[{"containerPort": 80}])]},
            },
        },
    }


EXPECTED_POD_SPEC_DEFAULTS = {
    "restartPolicy": "Always",
    "dnsPolicy": "ClusterFirst",
    "schedulerName": "default-scheduler",
    "securityContext": {},
    "terminationGracePeriodSeconds": 30,
}
EXPECTED_CONTAINER_DEFAULTS = {
    "imagePullPolicy": "IfNotPresent",
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
    "resources": {},
}


def test_deployment_gets_every_documented_default() -> None:
    spec = defaulted("apps", "Deployment", deployment())["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    pod_spec = spec["template"]["spec"]
    for key, value in EXPECTED_POD_SPEC_DEFAULTS.items():
        assert pod_spec[key] == value
    only = pod_spec["containers"][0]
    for key, value in EXPECTED_CONTAINER_DEFAULTS.items():
        assert only[key] == value
    assert only["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    # Pod-only defaults stay out of templates.
    assert "enableServiceLinks" not in pod_spec
    assert "tolerations" not in pod_spec


def test_deployment_recreate_strategy_gets_no_rolling_update() -> None:
    obj = deployment()
    obj["spec"]["strategy"] = {"type": "Recreate"}
    assert defaulted("apps", "Deployment", obj)["spec"]["strategy"] == {"type": "Recreate"}


def test_user_values_are_never_overwritten() -> None:
    obj = deployment()
    obj["spec"].update(replicas=0, revisionHistoryLimit=2)
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Never"
    spec = defaulted("apps", "Deployment", obj)["spec"]
    assert spec["replicas"] == 0
    assert spec["revisionHistoryLimit"] == 2
    assert spec["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Never"


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("registry.local:5000/team/app", "Always"),
        ("registry.local:5000/team/app:v2", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
        ("nginx:latest@sha256:" + "a" * 64, "Always"),
    ],
)
def test_image_pull_policy_follows_the_tag(image: str, policy: str) -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [container(image)]}}
    assert defaulted("", "Pod", pod)["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_pod_gets_admission_and_pod_only_defaults() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "containers": [container(resources={"limits": {"cpu": "500m", "memory": "64Mi"}})]
        },
    }
    result = defaulted("", "Pod", pod)
    spec = result["spec"]
    assert spec["enableServiceLinks"] is True
    assert spec["serviceAccountName"] == "default"
    assert spec["serviceAccount"] == "default"
    assert spec["priority"] == 0
    assert spec["preemptionPolicy"] == "PreemptLowerPriority"
    assert spec["tolerations"] == [
        {
            "key": "node.kubernetes.io/not-ready",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]
    # Only on Pods: requests copied from limits.
    assert spec["containers"][0]["resources"]["requests"] == {"cpu": "500m", "memory": "64Mi"}
    assert result["status"] == {"phase": "Pending", "qosClass": "Guaranteed"}


def test_pod_keeps_an_existing_toleration_for_an_untolerated_taint() -> None:
    toleration = {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
    }
    pod = {
        "metadata": {"name": "p"},
        "spec": {"containers": [container()], "tolerations": [toleration]},
    }
    keys = [t["key"] for t in defaulted("", "Pod", pod)["spec"]["tolerations"]]
    assert keys == ["node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready"]


def test_best_effort_pod_qos() -> None:
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [container()]}}
    assert defaulted("", "Pod", pod)["status"]["qosClass"] == "BestEffort"


def test_probe_and_http_get_defaults() -> None:
    probe = {"httpGet": {"port": 8080}}
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [container(livenessProbe=probe)]}}
    live = defaulted("", "Pod", pod)["spec"]["containers"][0]["livenessProbe"]
    assert live == {
        "httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }


def test_volume_defaults() -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {
            "containers": [container()],
            "volumes": [
                {"name": "scratch"},
                {"name": "cfg", "configMap": {"name": "c"}},
                {"name": "sec", "secret": {"secretName": "s", "defaultMode": 256}},
                {"name": "host", "hostPath": {"path": "/tmp"}},
            ],
        },
    }
    volumes = defaulted("", "Pod", pod)["spec"]["volumes"]
    assert volumes[0] == {"name": "scratch", "emptyDir": {}}
    assert volumes[1]["configMap"]["defaultMode"] == 420
    assert volumes[2]["secret"]["defaultMode"] == 256
    assert volumes[3]["hostPath"]["type"] == ""


def test_env_field_ref_gets_api_version() -> None:
    env = [{"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [container(env=env)]}}
    ref = defaulted("", "Pod", pod)["spec"]["containers"][0]["env"][0]["valueFrom"]["fieldRef"]
    assert ref == {"fieldPath": "metadata.namespace", "apiVersion": "v1"}


def test_statefulset_defaults() -> None:
    obj = {
        "metadata": {"name": "db"},
        "spec": {"template": {"spec": {"containers": [container()]}}},
    }
    spec = defaulted("apps", "StatefulSet", obj)["spec"]
    assert spec["replicas"] == 1
    assert spec["podManagementPolicy"] == "OrderedReady"
    assert spec["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }


def test_statefulset_claim_templates_get_pvc_defaults() -> None:
    claim = {
        "metadata": {"name": "data"},
        "spec": {"resources": {"requests": {"storage": "1.5Gi"}}},
    }
    obj = {"metadata": {"name": "db"}, "spec": {"volumeClaimTemplates": [claim], "template": {}}}
    result = defaulted("apps", "StatefulSet", obj)["spec"]["volumeClaimTemplates"][0]
    assert result["spec"]["volumeMode"] == "Filesystem"
    assert result["spec"]["resources"]["requests"]["storage"] == "1536Mi"
    assert result["status"] == {"phase": "Pending"}


def test_daemonset_and_replicaset_defaults() -> None:
    ds = defaulted("apps", "DaemonSet", {"metadata": {"name": "d"}, "spec": {}})["spec"]
    assert ds["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert ds["revisionHistoryLimit"] == 10
    assert (
        defaulted("apps", "ReplicaSet", {"metadata": {"name": "r"}, "spec": {}})["spec"]["replicas"]
        == 1
    )


def job(**spec: Any) -> dict[str, Any]:
    template = {"spec": {"restartPolicy": "Never", "containers": [container()]}}
    return {"metadata": {"name": "migrate", "uid": "1234"}, "spec": {"template": template, **spec}}


def test_job_defaults_and_generated_selector() -> None:
    result = defaulted("batch", "Job", job())
    spec = result["spec"]
    assert spec["parallelism"] == 1
    assert spec["completions"] == 1
    assert spec["backoffLimit"] == 6
    assert spec["completionMode"] == "NonIndexed"
    assert spec["suspend"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": "1234"}}
    expected_labels = {
        "batch.kubernetes.io/controller-uid": "1234",
        "batch.kubernetes.io/job-name": "migrate",
        "controller-uid": "1234",
        "job-name": "migrate",
    }
    assert spec["template"]["metadata"]["labels"] == expected_labels
    assert result["metadata"]["labels"] == expected_labels


def test_job_with_only_parallelism_gets_no_completions() -> None:
    spec = defaulted("batch", "Job", job(parallelism=3))["spec"]
    assert spec["parallelism"] == 3
    assert "completions" not in spec


def test_job_selector_is_not_generated_on_update_or_with_manual_selector() -> None:
    assert "selector" not in defaulted("batch", "Job", job(), old=job())["spec"]
    assert "selector" not in defaulted("batch", "Job", job(manualSelector=True))["spec"]


def test_cronjob_defaults_reach_only_the_pod_spec_of_the_job_template() -> None:
    obj = {
        "metadata": {"name": "c"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": job()["spec"]}},
    }
    spec = defaulted("batch", "CronJob", obj)["spec"]
    assert spec["concurrencyPolicy"] == "Allow"
    assert spec["suspend"] is False
    assert spec["successfulJobsHistoryLimit"] == 3
    assert spec["failedJobsHistoryLimit"] == 1
    job_spec = spec["jobTemplate"]["spec"]
    assert job_spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert "backoffLimit" not in job_spec


def service(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec},
    }


def test_cluster_ip_service_defaults() -> None:
    result = defaulted("", "Service", service(), allocate_cluster_ip=lambda: "10.96.0.10")
    spec = result["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["clusterIP"] == "10.96.0.10"
    assert spec["clusterIPs"] == ["10.96.0.10"]
    assert spec["ipFamilies"] == ["IPv4"]
    assert spec["ipFamilyPolicy"] == "SingleStack"
    assert "externalTrafficPolicy" not in spec
    assert result["status"] == {"loadBalancer": {}}


def test_service_update_keeps_allocated_values_from_old() -> None:
    old = defaulted(
        "", "Service", service(type="NodePort"), allocate_cluster_ip=lambda: "10.96.0.7"
    )

    def no_allocation() -> str:
        raise AssertionError("updates must not allocate")

    updated = defaulted(
        "", "Service", service(type="NodePort"), old=old, allocate_cluster_ip=no_allocation
    )
    assert updated["spec"]["clusterIP"] == "10.96.0.7"
    assert updated["spec"]["ports"][0]["nodePort"] == old["spec"]["ports"][0]["nodePort"]


def test_load_balancer_gets_node_ports_in_range_unique_and_deterministic() -> None:
    ports = [{"name": f"p{i}", "port": 8000 + i} for i in range(5)]
    first = defaulted(
        "",
        "Service",
        service(type="LoadBalancer", ports=ports),
        allocate_cluster_ip=lambda: "10.0.0.1",
    )
    second = defaulted(
        "",
        "Service",
        service(type="LoadBalancer", ports=ports),
        allocate_cluster_ip=lambda: "10.0.0.1",
    )
    spec = first["spec"]
    node_ports = [p["nodePort"] for p in spec["ports"]]
    assert all(30000 <= p <= 32767 for p in node_ports)
    assert len(set(node_ports)) == len(node_ports)
    assert node_ports == [p["nodePort"] for p in second["spec"]["ports"]]
    assert spec["allocateLoadBalancerNodePorts"] is True
    assert spec["externalTrafficPolicy"] == "Cluster"


def test_headless_and_external_name_services() -> None:
    headless = defaulted("", "Service", service(clusterIP="None"))["spec"]
    assert headless["clusterIPs"] == ["None"]
    assert headless["ipFamilyPolicy"] == "SingleStack"
    external = defaulted(
        "",
        "Service",
        {
            "metadata": {"name": "x"},
            "spec": {"type": "ExternalName", "externalName": "example.com"},
        },
        allocate_cluster_ip=lambda: "10.0.0.9",
    )["spec"]
    assert "clusterIP" not in external
    assert "internalTrafficPolicy" not in external


def test_secret_defaults_type_and_folds_string_data() -> None:
    result = defaulted(
        "", "Secret", {"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}}
    )
    assert result["type"] == "Opaque"
    assert result["data"] == {"password": "aHVudGVyMg=="}
    assert "stringData" not in result


def test_namespace_defaults() -> None:
    result = defaulted(
        "",
        "Namespace",
        {"metadata": {"name": "team-a", "labels": {"kubernetes.io/metadata.name": "x"}}},
    )
    assert result["metadata"]["labels"]["kubernetes.io/metadata.name"] == "team-a"
    assert result["spec"] == {"finalizers": ["kubernetes"]}
    assert result["status"] == {"phase": "Active"}


def test_pvc_defaults_and_default_storage_class() -> None:
    pvc = {
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    result = defaulted("", "PersistentVolumeClaim", pvc, default_storage_class="standard")
    assert result["spec"]["volumeMode"] == "Filesystem"
    assert result["spec"]["storageClassName"] == "standard"
    assert result["status"] == {"phase": "Pending"}
    pvc["spec"]["storageClassName"] = ""
    assert (
        defaulted("", "PersistentVolumeClaim", pvc, default_storage_class="standard")["spec"][
            "storageClassName"
        ]
        == ""
    )


def test_hpa_v2_defaults() -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "metadata": {"name": "h"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 5},
    }
    spec = defaulted("autoscaling", "HorizontalPodAutoscaler", hpa)["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 80},
            },
        }
    ]


def test_network_policy_types() -> None:
    ingress_only = defaulted(
        "networking.k8s.io", "NetworkPolicy", {"metadata": {"name": "n"}, "spec": {}}
    )
    assert ingress_only["spec"]["policyTypes"] == ["Ingress"]
    with_egress = defaulted(
        "networking.k8s.io",
        "NetworkPolicy",
        {"metadata": {"name": "n"}, "spec": {"egress": [{"ports": [{"port": 53}]}]}},
    )
    assert with_egress["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert with_egress["spec"]["egress"][0]["ports"][0]["protocol"] == "TCP"


def test_kinds_without_defaults_are_untouched() -> None:
    for group, kind in [
        ("", "ConfigMap"),
        ("", "ServiceAccount"),
        ("coordination.k8s.io", "Lease"),
        ("rbac.authorization.k8s.io", "Role"),
        ("example.com", "Widget"),
    ]:
        obj = {"metadata": {"name": "x"}, "data": {"a": "b"}}
        assert defaulted(group, kind, obj) == obj


def test_crd_names_default() -> None:
    crd = {
        "metadata": {"name": "widgets.example.com"},
        "spec": {"names": {"plural": "widgets", "kind": "Widget"}},
    }
    spec = defaulted("apiextensions.k8s.io", "CustomResourceDefinition", crd)["spec"]
    assert spec["names"]["singular"] == "widget"
    assert spec["names"]["listKind"] == "WidgetList"
    assert spec["conversion"] == {"strategy": "None"}


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("1000m", "1"),
        ("0.5", "500m"),
        ("1Gi", "1Gi"),
        ("1.5Gi", "1536Mi"),
        ("1024Mi", "1Gi"),
        ("1000", "1k"),
        ("100m", "100m"),
        ("0.1", "100m"),
        ("2048", "2048"),
        ("512Ki", "512Ki"),
        ("0.5Ki", "512"),
        ("1e3", "1e3"),
        ("0", "0"),
        (2, "2"),
        (0.25, "250m"),
        ("1.0000000001", "1000000001n"),
    ],
)
def test_quantities_are_canonicalised(given: str | int | float, canonical: str) -> None:
    assert canonical_quantity(given) == canonical


def test_invalid_quantity_raises() -> None:
    with pytest.raises(InvalidQuantityError, match="quantities must match the regular expression"):
        canonical_quantity("one")


def test_container_resources_are_canonicalised() -> None:
    obj = deployment()
    obj["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "1000m", "memory": "1.5Gi"},
        "limits": {"cpu": 2},
    }
    resources = defaulted("apps", "Deployment", obj)["spec"]["template"]["spec"]["containers"][0][
        "resources"
    ]
    assert resources == {"requests": {"cpu": "1", "memory": "1536Mi"}, "limits": {"cpu": "2"}}


IDEMPOTENCE_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("apps", "Deployment", deployment()),
    ("apps", "StatefulSet", {"metadata": {"name": "s"}, "spec": {"template": {"spec": {"containers": [container()]}}}}),
    ("apps", "DaemonSet", {"metadata": {"name": "d"}, "spec": {}}),
    ("batch", "Job", job()),
    ("batch", "CronJob", {"metadata": {"name": "c"}, "spec": {"jobTemplate": {"spec": job()["spec"]}}}),
    ("", "Pod", {"metadata": {"name": "p"}, "spec": {"containers": [container(resources={"limits": {"cpu": "1"}})]}}),
    ("", "Service", service(type="LoadBalancer", externalTrafficPolicy="Local")),
    ("", "Secret", {"metadata": {"name": "s"}, "stringData": {"a": "b"}}),
    ("", "Namespace", {"metadata": {"name": "n"}}),
    ("", "PersistentVolumeClaim", {"metadata": {"name": "p"}, "spec": {"resources": {"requests": {"storage": "0.5Gi"}}}}),
    ("autoscaling", "HorizontalPodAutoscaler", {"metadata": {"name": "h"}, "spec": {"behavior": {}}}),
    ("policy", "PodDisruptionBudget", {"metadata": {"name": "p"}, "spec": {}}),
    ("networking.k8s.io", "NetworkPolicy", {"metadata": {"name": "n"}, "spec": {"egress": [{}]}}),
    ("rbac.authorization.k8s.io", "RoleBinding", {"metadata": {"name": "b"}, "roleRef": {"kind": "Role", "name": "r"}, "subjects": [{"kind": "User", "name": "u"}]}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("group", "kind", "obj"), IDEMPOTENCE_CASES, ids=[c[1] for c in IDEMPOTENCE_CASES]
)
def test_defaults_are_idempotent(group: str, kind: str, obj: dict[str, Any]) -> None:
    counter = iter(range(1, 100))

    def allocate() -> str:
        return f"10.96.0.{next(counter)}"

    once = defaulted(group, kind, obj, allocate_cluster_ip=allocate)
    twice = defaulted(group, kind, once, allocate_cluster_ip=allocate)
    assert twice == once
    # And as the server runs it on update, with the stored object as `old`.
    assert defaulted(group, kind, once, old=once, allocate_cluster_ip=allocate) == once


def test_rbac_binding_api_groups_are_defaulted() -> None:
    binding = {
        "metadata": {"name": "b"},
        "roleRef": {"kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "name": "jane"},
            {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"},
        ],
    }
    result = defaulted("rbac.authorization.k8s.io", "RoleBinding", binding)
    assert result["roleRef"]["apiGroup"] == "rbac.authorization.k8s.io"
    assert result["subjects"][0]["apiGroup"] == "rbac.authorization.k8s.io"
    assert "apiGroup" not in result["subjects"][1]


def test_namespace_update_does_not_restore_a_finalized_spec_finalizer() -> None:
    old = defaulted("", "Namespace", {"metadata": {"name": "team-a"}})
    finalized = copy.deepcopy(old)
    finalized["spec"] = {}
    assert defaulted("", "Namespace", finalized, old=old)["spec"] == {}
