"""Unit tests of the diff: no false drift, real drift, ignoreDifferences, Secret masking, app level.

The LIVE_* objects were captured from the local cluster (`kubectl apply --server-side
--field-manager=tether` of the manifests below, then `kubectl get -o json --show-managed-fields`):
they carry the server's defaults, status and managedFields exactly as the API server returned them.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from typing import Any

import pytest

from tether.engine.diff import (
    Change,
    DryRunCache,
    DryRunError,
    ResourceKey,
    SyncStatus,
    compare,
    diff_resource,
    respect_ignore_differences,
)
from tether.engine.ignore import (
    IgnoreRule,
    IgnoreRuleError,
    parse_ignore_differences,
    parse_system_rules,
)
from tether.engine.normalize import dropped_owned_paths, parse_quantity, scalars_equal

LIVE_DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "annotations": {"deployment.kubernetes.io/revision": "1"},
        "creationTimestamp": "2026-11-26T13:22:19Z",
        "generation": 2,
        "labels": {"app": "web"},
        "managedFields": [
            {
                "apiVersion": "apps/v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {
                        "f:selector": {},
                        "f:template": {
                            "f:metadata": {"f:labels": {"f:app": {}}},
                            "f:spec": {
                                "f:containers": {
                                    'k:{"name":"nginx"}': {
                                        ".": {},
                                        "f:image": {},
                                        "f:name": {},
                                        "f:ports": {
                                            'k:{"containerPort":80,"protocol":"TCP"}': {
                                                ".": {},
                                                "f:containerPort": {},
                                            }
                                        },
                                        "f:resources": {"f:limits": {"f:cpu": {}, "f:memory": {}}},
                                    }
                                }
                            },
                        },
                    },
                },
                "manager": "tether",
                "operation": "Apply",
                "time": "2026-11-26T13:22:19Z",
            },
            {
                "apiVersion": "apps/v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {
                        "f:annotations": {".": {}, "f:deployment.kubernetes.io/revision": {}}
                    },
                    "f:status": {
                        "f:availableReplicas": {},
                        "f:conditions": {
                            ".": {},
                            'k:{"type":"Available"}': {
                                ".": {},
                                "f:lastTransitionTime": {},
                                "f:lastUpdateTime": {},
                                "f:message": {},
                                "f:reason": {},
                                "f:status": {},
                                "f:type": {},
                            },
                            'k:{"type":"Progressing"}': {
                                ".": {},
                                "f:lastTransitionTime": {},
                                "f:lastUpdateTime": {},
                                "f:message": {},
                                "f:reason": {},
                                "f:status": {},
                                "f:type": {},
                            },
                        },
                        "f:observedGeneration": {},
                        "f:readyReplicas": {},
                        "f:replicas": {},
                        "f:updatedReplicas": {},
                    },
                },
                "manager": "kube-controller-manager",
                "operation": "Update",
                "subresource": "status",
                "time": "2026-11-26T13:22:19Z",
            },
        ],
        "name": "web",
        "namespace": "default",
        "resourceVersion": "18",
        "uid": "18881eb5-50b2-4e9b-bc4d-ec9fd007a986",
    },
    "spec": {
        "progressDeadlineSeconds": 600,
        "replicas": 1,
        "revisionHistoryLimit": 10,
        "selector": {"matchLabels": {"app": "web"}},
        "strategy": {
            "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            "type": "RollingUpdate",
        },
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "containers": [
                    {
                        "image": "nginx:1.27",
                        "imagePullPolicy": "IfNotPresent",
                        "name": "nginx",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                    }
                ],
                "dnsPolicy": "ClusterFirst",
                "restartPolicy": "Always",
                "schedulerName": "default-scheduler",
                "securityContext": {},
                "terminationGracePeriodSeconds": 30,
            },
        },
    },
    "status": {
        "availableReplicas": 1,
        "conditions": [
            {
                "lastTransitionTime": "2026-11-26T13:22:19Z",
                "lastUpdateTime": "2026-11-26T13:22:19Z",
                "message": "Deployment has minimum availability.",
                "reason": "MinimumReplicasAvailable",
                "status": "True",
                "type": "Available",
            },
            {
                "lastTransitionTime": "2026-11-26T13:22:19Z",
                "lastUpdateTime": "2026-11-26T13:22:19Z",
                "message": 'ReplicaSet "web-jv5mvrlnh2" has successfully progressed.',
                "reason": "NewReplicaSetAvailable",
                "status": "True",
                "type": "Progressing",
            },
        ],
        "observedGeneration": 2,
        "readyReplicas": 1,
        "replicas": 1,
        "updatedReplicas": 1,
    },
}

LIVE_SERVICE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "creationTimestamp": "2026-11-26T13:22:19Z",
        "managedFields": [
            {
                "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:spec": {
                        "f:ports": {
                            'k:{"port":80,"protocol":"TCP"}': {
                                ".": {},
                                "f:port": {},
                                "f:targetPort": {},
                            }
                        },
                        "f:selector": {},
                    }
                },
                "manager": "tether",
                "operation": "Apply",
                "time": "2026-11-26T13:22:19Z",
            }
        ],
        "name": "web",
        "namespace": "default",
        "resourceVersion": "19",
        "uid": "f1cedb15-7d3e-47b9-9d62-101486cc6f68",
    },
    "spec": {
        "clusterIP": "10.96.206.241",
        "clusterIPs": ["10.96.206.241"],
        "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
        "selector": {"app": "web"},
        "sessionAffinity": "None",
        "type": "ClusterIP",
    },
    "status": {"loadBalancer": {}},
}

LIVE_JOB: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {
        "creationTimestamp": "2026-11-26T13:22:19Z",
        "generation": 1,
        "labels": {
            "batch.kubernetes.io/controller-uid": "0cf40788-b588-419e-a203-7bef93e57bef",
            "batch.kubernetes.io/job-name": "once",
            "controller-uid": "0cf40788-b588-419e-a203-7bef93e57bef",
            "job-name": "once",
        },
        "managedFields": [
            {
                "apiVersion": "batch/v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:spec": {
                        "f:template": {
                            "f:spec": {
                                "f:containers": {
                                    'k:{"name":"main"}': {
                                        ".": {},
                                        "f:command": {},
                                        "f:image": {},
                                        "f:name": {},
                                    }
                                },
                                "f:restartPolicy": {},
                            }
                        }
                    }
                },
                "manager": "tether",
                "operation": "Apply",
                "time": "2026-11-26T13:22:19Z",
            },
            {
                "apiVersion": "batch/v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:status": {
                        "f:completionTime": {},
                        "f:conditions": {
                            ".": {},
                            'k:{"type":"Complete"}': {
                                ".": {},
                                "f:lastTransitionTime": {},
                                "f:message": {},
                                "f:reason": {},
                                "f:status": {},
                                "f:type": {},
                            },
                            'k:{"type":"SuccessCriteriaMet"}': {
                                ".": {},
                                "f:lastTransitionTime": {},
                                "f:message": {},
                                "f:reason": {},
                                "f:status": {},
                                "f:type": {},
                            },
                        },
                        "f:startTime": {},
                        "f:succeeded": {},
                        "f:terminating": {},
                        "f:uncountedTerminatedPods": {},
                    }
                },
                "manager": "kube-controller-manager",
                "operation": "Update",
                "subresource": "status",
                "time": "2026-11-26T13:22:19Z",
            },
        ],
        "name": "once",
        "namespace": "default",
        "resourceVersion": "27",
        "uid": "0cf40788-b588-419e-a203-7bef93e57bef",
    },
    "spec": {
        "backoffLimit": 6,
        "completionMode": "NonIndexed",
        "completions": 1,
        "parallelism": 1,
        "podReplacementPolicy": "TerminatingOrFailed",
        "selector": {
            "matchLabels": {
                "batch.kubernetes.io/controller-uid": "0cf40788-b588-419e-a203-7bef93e57bef"
            }
        },
        "suspend": False,
        "template": {
            "metadata": {
                "labels": {
                    "batch.kubernetes.io/controller-uid": "0cf40788-b588-419e-a203-7bef93e57bef",
                    "batch.kubernetes.io/job-name": "once",
                    "controller-uid": "0cf40788-b588-419e-a203-7bef93e57bef",
                    "job-name": "once",
                }
            },
            "spec": {
                "containers": [
                    {
                        "command": ["sh", "-c", "true"],
                        "image": "busybox:1.36",
                        "imagePullPolicy": "IfNotPresent",
                        "name": "main",
                        "resources": {},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                    }
                ],
                "dnsPolicy": "ClusterFirst",
                "restartPolicy": "Never",
                "schedulerName": "default-scheduler",
                "securityContext": {},
                "terminationGracePeriodSeconds": 30,
            },
        },
    },
    "status": {
        "completionTime": "2026-11-26T13:22:19Z",
        "conditions": [
            {
                "lastTransitionTime": "2026-11-26T13:22:19Z",
                "message": "Reached expected number of succeeded pods",
                "reason": "CompletionsReached",
                "status": "True",
                "type": "SuccessCriteriaMet",
            },
            {
                "lastTransitionTime": "2026-11-26T13:22:19Z",
                "message": "Reached expected number of succeeded pods",
                "reason": "CompletionsReached",
                "status": "True",
                "type": "Complete",
            },
        ],
        "startTime": "2026-11-26T13:22:19Z",
        "succeeded": 1,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    },
}


def _deployment(**spec_overrides: Any) -> dict[str, Any]:
    """The manifest LIVE_DEPLOYMENT was applied from: no replicas, no strategy, no defaults."""
    manifest: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx:1.27",
                            "ports": [{"containerPort": 80}],
                            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                        }
                    ]
                },
            },
        },
    }
    manifest["spec"].update(spec_overrides)
    return manifest


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]["containers"][0]


class CountingRunner:
    """A DryRunner that answers with a fixed object (or error) and counts requests."""

    def __init__(self, answer: dict[str, Any] | DryRunError) -> None:
        self.answer = answer
        self.calls: list[dict[str, Any]] = []

    async def dry_run_apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(obj)
        if isinstance(self.answer, DryRunError):
            raise self.answer
        return copy.deepcopy(self.answer)


def _live(*objects: dict[str, Any]) -> dict[ResourceKey, dict[str, Any]]:
    return {ResourceKey.of(o): o for o in objects}


# --- no false drift ------------------------------------------------------------------------------


async def test_deployment_without_replicas_or_strategy_is_synced_against_defaulted_live() -> None:
    runner = CountingRunner(DryRunError("must not be asked", permanent=True))
    result = await compare([_deployment()], _live(LIVE_DEPLOYMENT), dry_runner=runner)
    assert result.status is SyncStatus.SYNCED
    (resource,) = result.resources
    assert resource.decided_by == "local"
    assert resource.diff == "" and resource.changes == ()
    assert runner.calls == [] and result.dry_run_requests == 0
    # The normalized object has no status, managedFields or controller annotations.
    assert resource.live is not None
    assert "status" not in resource.live
    assert "managedFields" not in resource.live["metadata"]
    assert "annotations" not in resource.live["metadata"]


async def test_a_locally_synced_resource_keeps_the_live_object_not_a_copy() -> None:
    live = _live(LIVE_DEPLOYMENT)
    result = await compare([_deployment()], live)
    (resource,) = result.resources
    assert resource.synced and resource.decided_by == "local"
    (cached,) = live.values()
    # the last comparison of every app is kept: it holds the cached object, nothing more
    assert resource.synced_live is cached
    assert resource.shown_live is None and resource.shown_desired is None
    assert resource.live == resource.desired
    assert resource.live is not None and "status" not in resource.live
    assert resource.live["spec"] == cached["spec"]


def test_service_and_job_without_defaults_are_synced() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once", "namespace": "default"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", "true"]}
                    ],
                }
            }
        },
    }
    assert diff_resource(service, LIVE_SERVICE).status is SyncStatus.SYNCED
    assert diff_resource(job, LIVE_JOB).status is SyncStatus.SYNCED


def test_equivalent_spellings_empty_values_and_nulls_are_not_drift() -> None:
    desired = _deployment()
    container = _container(desired)
    container["resources"]["limits"] = {"cpu": 0.5, "memory": "131072Ki"}  # == 500m, 128Mi
    container["ports"] = [{"containerPort": 80, "protocol": "TCP"}]
    container["env"] = []
    container["args"] = None
    desired["metadata"]["annotations"] = {}
    desired["metadata"]["creationTimestamp"] = None
    desired["spec"]["template"]["spec"]["volumes"] = None
    desired["status"] = {}
    desired["spec"]["strategy"] = {"rollingUpdate": {"maxSurge": "25%"}}
    assert diff_resource(desired, LIVE_DEPLOYMENT).status is SyncStatus.SYNCED


def test_int_or_string_port_is_not_drift() -> None:
    service = copy.deepcopy(LIVE_SERVICE)
    desired = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "8080"}]},
    }
    assert diff_resource(desired, service).status is SyncStatus.SYNCED


@pytest.mark.parametrize(
    ("left", "right", "equal"),
    [
        ("1000m", "1", True),
        ("0.5", "500m", True),
        (1, "1", True),
        ("1Gi", "1024Mi", True),
        ("1Gi", "1073741824", True),
        ("1e3", "1k", True),
        ("100m", "0.1", True),
        ("1Gi", "1G", False),
        ("250m", "0.5", False),
        ("abc", "abc", True),
    ],
)
def test_quantities_compare_by_value(left: Any, right: Any, equal: bool) -> None:
    assert scalars_equal(left, right, "cpu", "limits") is equal


def test_quantity_equivalence_only_applies_to_quantity_fields() -> None:
    # In ConfigMap data "1" and "1.0" are different strings.
    assert not scalars_equal("1.0", "1", "key", "data")
    assert not scalars_equal(True, 1, "x", None)
    assert parse_quantity("12Mi") == 12 * 1024 * 1024
    assert parse_quantity("nonsense") is None


# --- real drift ----------------------------------------------------------------------------------


def test_image_change_is_out_of_sync_with_readable_unified_diff() -> None:
    desired = _deployment()
    _container(desired)["image"] = "nginx:1.28"
    result = diff_resource(desired, LIVE_DEPLOYMENT)
    assert result.status is SyncStatus.OUT_OF_SYNC
    lines = result.diff.splitlines()
    assert lines[0] == "--- live" and lines[1] == "+++ desired"
    assert "-        image: nginx:1.27" in lines
    assert "+        image: nginx:1.28" in lines
    # Only the image changed: no defaulted field shows up as a difference.
    changed = [line for line in lines[2:] if line[:1] in "+-"]
    assert changed == ["-        image: nginx:1.27", "+        image: nginx:1.28"]
    assert result.changes == (
        Change("replace", "/spec/template/spec/containers/0/image", "nginx:1.27", "nginx:1.28"),
    )


async def test_replicas_drift_is_out_of_sync() -> None:
    live = copy.deepcopy(LIVE_DEPLOYMENT)
    live["spec"]["replicas"] = 5
    result = await compare([_deployment(replicas=2)], _live(live))
    assert result.status is SyncStatus.OUT_OF_SYNC
    (resource,) = result.resources
    assert "-  replicas: 5" in resource.diff.splitlines()
    assert "+  replicas: 2" in resource.diff.splitlines()
    assert resource.changes == (Change("replace", "/spec/replicas", 5, 2),)


def test_field_dropped_from_desired_that_we_applied_is_out_of_sync() -> None:
    # `resources.limits` is owned by tether in live managedFields: the next apply removes it.
    desired = _deployment()
    del _container(desired)["resources"]
    result = diff_resource(desired, LIVE_DEPLOYMENT)
    assert result.status is SyncStatus.OUT_OF_SYNC
    assert "-            cpu: 500m" in result.diff.splitlines()
    removed = [c.path for c in result.changes if c.op == "remove"]
    assert removed and all(
        p.startswith("/spec/template/spec/containers/0/resources") for p in removed
    )


def test_field_dropped_but_shared_with_another_manager_is_not_drift() -> None:
    live = copy.deepcopy(LIVE_DEPLOYMENT)
    live["metadata"]["managedFields"].append(
        {
            "manager": "kubectl-edit",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:spec": {
                    "f:template": {
                        "f:spec": {
                            "f:containers": {
                                'k:{"name":"nginx"}': {
                                    "f:resources": {"f:limits": {"f:cpu": {}, "f:memory": {}}}
                                }
                            }
                        }
                    }
                }
            },
        }
    )
    desired = _deployment()
    del _container(desired)["resources"]
    assert dropped_owned_paths(desired, live, "tether") == []
    assert diff_resource(desired, live).status is SyncStatus.SYNCED


def test_extra_container_added_by_someone_else_is_not_removed_by_apply() -> None:
    # Keyed lists merge: an apply leaves another manager's container alone, so it is not drift.
    live = copy.deepcopy(LIVE_DEPLOYMENT)
    live["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "envoy"})
    assert diff_resource(_deployment(), live).status is SyncStatus.SYNCED


# --- ignoreDifferences ---------------------------------------------------------------------------


async def test_ignore_json_pointer_replicas_is_synced() -> None:
    live = copy.deepcopy(LIVE_DEPLOYMENT)
    live["spec"]["replicas"] = 5
    rules = parse_ignore_differences(
        [{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]
    )
    result = await compare([_deployment(replicas=2)], _live(live), rules=rules)
    assert result.status is SyncStatus.SYNCED
    # A real change next to the ignored one is still reported, without the ignored field.
    desired = _deployment(replicas=2)
    _container(desired)["image"] = "nginx:1.28"
    result = await compare([desired], _live(live), rules=rules)
    assert result.status is SyncStatus.OUT_OF_SYNC
    assert [c.path for c in result.resources[0].changes] == [
        "/spec/template/spec/containers/0/image"
    ]


def test_ignore_rule_matching_follows_argo_cd() -> None:
    rule = IgnoreRule.from_spec({"group": "apps", "kind": "Deployment", "name": "web"})
    assert rule.matches("apps", "Deployment", "any", "web")
    assert not rule.matches("apps", "Deployment", "any", "other")
    assert not rule.matches("", "Deployment", "any", "web")
    core = IgnoreRule.from_spec({"kind": "Service"})  # no group: the core group only
    assert core.matches("", "Service", "ns", "x") and not core.matches(
        "serving.knative.dev", "Service", "ns", "x"
    )
    wildcard = IgnoreRule.from_spec({"group": "*", "kind": "*"})
    assert wildcard.matches("apps", "StatefulSet", "ns", "x")
    with pytest.raises(IgnoreRuleError, match="'kind' is required"):
        IgnoreRule.from_spec({"group": "apps", "jsonPointers": ["/spec"]})
    with pytest.raises(IgnoreRuleError, match="must start with '/'"):
        IgnoreRule.from_spec({"kind": "Service", "jsonPointers": ["spec"]})
    with pytest.raises(IgnoreRuleError, match="invalid jq"):
        IgnoreRule.from_spec({"kind": "Service", "jqPathExpressions": [".spec[["]})


def test_jq_expression_ignores_selected_containers() -> None:
    live = copy.deepcopy(LIVE_DEPLOYMENT)
    live["spec"]["template"]["spec"]["containers"].append(
        {"name": "istio-proxy", "image": "proxy:1", "resources": {}}
    )
    desired = _deployment()
    desired["spec"]["template"]["spec"]["containers"].append(
        {"name": "istio-proxy", "image": "proxy:2"}
    )
    assert diff_resource(desired, live).status is SyncStatus.OUT_OF_SYNC
    rules = parse_ignore_differences(
        [
            {
                "group": "apps",
                "kind": "Deployment",
                "jqPathExpressions": [
                    '.spec.template.spec.containers[] | select(.name == "istio-proxy") | .image'
                ],
            }
        ]
    )
    assert diff_resource(desired, live, rules).status is SyncStatus.SYNCED
    # An expression that fails on this object (no initContainers) is skipped, as Argo CD does.
    failing = parse_ignore_differences(
        [
            {
                "group": "apps",
                "kind": "Deployment",
                "jqPathExpressions": [".spec.template.spec.initContainers[]"],
            }
        ]
    )
    assert diff_resource(_deployment(), LIVE_DEPLOYMENT, failing).status is SyncStatus.SYNCED


def _scaled_by_hpa(replicas: int) -> dict[str, Any]:
    live = copy.deepcopy(LIVE_DEPLOYMENT)
    live["spec"]["replicas"] = replicas
    live["metadata"]["managedFields"].append(
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "apiVersion": "autoscaling/v1",
            "subresource": "scale",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:replicas": {}}},
        }
    )
    return live


def test_managed_fields_managers_ignores_fields_owned_by_the_hpa() -> None:
    live = _scaled_by_hpa(7)
    desired = _deployment(replicas=2)
    assert diff_resource(desired, live).status is SyncStatus.OUT_OF_SYNC
    rules = parse_ignore_differences(
        [
            {
                "group": "apps",
                "kind": "Deployment",
                "managedFieldsManagers": ["kube-controller-manager"],
            }
        ]
    )
    result = diff_resource(desired, live, rules)
    assert result.status is SyncStatus.SYNCED
    # Fields the manager does not own are still compared.
    _container(desired)["image"] = "nginx:1.28"
    assert diff_resource(desired, live, rules).status is SyncStatus.OUT_OF_SYNC


def test_system_wide_rules_from_configmap_keys() -> None:
    rules = parse_system_rules(
        {
            "resource.customizations.ignoreDifferences.all": "managedFieldsManagers:\n- kube-controller-manager\n",
            "resource.customizations.ignoreDifferences.apps_Deployment": "jsonPointers:\n- /spec/replicas\n",
            "resource.customizations.ignoreDifferences._Service": "jqPathExpressions:\n- .spec.clusterIP\n",
            "resource.customizations": (
                "admissionregistration.k8s.io/MutatingWebhookConfiguration:\n"
                "  ignoreDifferences: |\n"
                "    jqPathExpressions:\n"
                "    - '.webhooks[]?.clientConfig.caBundle'\n"
            ),
            "resource.customizations.health.apps_Deployment": "ignored: here",
        }
    )
    by_kind = {(r.group, r.kind): r for r in rules}
    assert by_kind[("*", "*")].managed_fields_managers == ("kube-controller-manager",)
    assert by_kind[("apps", "Deployment")].json_pointers == ("/spec/replicas",)
    assert by_kind[("", "Service")].jq_path_expressions == (".spec.clusterIP",)
    webhook = by_kind[("admissionregistration.k8s.io", "MutatingWebhookConfiguration")]
    assert webhook.jq_path_expressions == (".webhooks[]?.clientConfig.caBundle",)
    assert len(rules) == 4
    live = copy.deepcopy(LIVE_DEPLOYMENT)
    live["spec"]["replicas"] = 9
    assert diff_resource(_deployment(replicas=3), live, rules).status is SyncStatus.SYNCED


def test_respect_ignore_differences_keeps_live_values_on_sync() -> None:
    live = _scaled_by_hpa(7)
    rules = parse_ignore_differences(
        [
            {"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]},
            {
                "group": "apps",
                "kind": "Deployment",
                "jqPathExpressions": [
                    '.spec.template.spec.containers[] | select(.name == "nginx") | .image'
                ],
            },
        ]
    )
    desired = _deployment(replicas=2)
    _container(desired)["image"] = "nginx:1.28"
    rewritten = respect_ignore_differences(desired, live, rules)
    assert rewritten["spec"]["replicas"] == 7
    assert _container(rewritten)["image"] == "nginx:1.27"
    assert desired["spec"]["replicas"] == 2  # the input is left alone
    assert respect_ignore_differences(desired, None, rules) is desired
    assert respect_ignore_differences(desired, live, []) is desired


# --- Secrets -------------------------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _live_secret(**data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": "creds",
            "namespace": "default",
            "resourceVersion": "5",
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": json.dumps({"data": data}),
            },
            "managedFields": [
                {
                    "manager": "tether",
                    "operation": "Apply",
                    "apiVersion": "v1",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:data": {f"f:{k}": {} for k in data}},
                }
            ],
        },
        "data": {k: _b64(v) for k, v in data.items()},
    }


def _secret(
    data: dict[str, str] | None = None, string_data: dict[str, str] | None = None
) -> dict[str, Any]:
    secret: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "default"},
    }
    if data is not None:
        secret["data"] = {k: _b64(v) for k, v in data.items()}
    if string_data is not None:
        secret["stringData"] = string_data
    return secret


async def test_secret_change_shows_masked_values_only() -> None:
    live = _live_secret(password="hunter2-old", user="admin-same")
    desired = _secret(data={"user": "admin-same"}, string_data={"password": "hunter2-new"})
    result = await compare([desired], _live(live))
    assert result.status is SyncStatus.OUT_OF_SYNC
    text = repr(result) + result.resources[0].diff
    for secret in ("hunter2-old", "hunter2-new", "admin-same"):
        assert secret not in text
        assert _b64(secret) not in text
    resource = result.resources[0]
    assert resource.live is not None and resource.desired is not None
    # Equal values keep equal masks; the changed value gets a different mask.
    assert resource.live["data"]["user"] == resource.desired["data"]["user"]
    assert resource.live["data"]["password"] != resource.desired["data"]["password"]
    assert set(resource.live["data"]["password"]) == {"+"}
    assert [c.path for c in resource.changes] == ["/data/password"]
    assert "last-applied-configuration" not in text


def test_secret_masks_are_stable_between_compares() -> None:
    live = _live_secret(password="a-secret-value")
    desired = _secret(data={"password": "another-value"})
    first, second = diff_resource(desired, live), diff_resource(desired, live)
    assert first.diff == second.diff and "++++++++" in first.diff


def test_secret_string_data_equal_to_live_data_is_synced() -> None:
    live = _live_secret(password="s3cr3t-value")
    assert (
        diff_resource(_secret(string_data={"password": "s3cr3t-value"}), live).status
        is SyncStatus.SYNCED
    )
    assert (
        diff_resource(_secret(data={"password": "s3cr3t-value"}), live).status is SyncStatus.SYNCED
    )
    synced = diff_resource(_secret(data={"password": "s3cr3t-value"}), live)
    assert "s3cr3t" not in repr(synced) and _b64("s3cr3t-value") not in repr(synced)


async def test_missing_secret_is_masked_too() -> None:
    result = await compare([_secret(string_data={"token": "plain-token-value"})], {})
    (resource,) = result.resources
    assert resource.status is SyncStatus.MISSING
    assert "plain-token-value" not in repr(result) + resource.diff
    assert _b64("plain-token-value") not in repr(result) + resource.diff


async def test_dry_run_error_message_never_quotes_secret_values() -> None:
    live = _live_secret(password="old-password-1")
    runner = CountingRunner(
        DryRunError(f"422 bad value {_b64('new-password-2')} (new-password-2)", permanent=True)
    )
    result = await compare(
        [_secret(data={"password": "new-password-2"})], _live(live), dry_runner=runner
    )
    (resource,) = result.resources
    assert resource.status is SyncStatus.UNKNOWN
    assert resource.error is not None and "422" in resource.error
    assert "new-password-2" not in repr(result) and _b64("new-password-2") not in repr(result)


# --- application level ---------------------------------------------------------------------------


async def test_missing_and_extraneous_resources() -> None:
    stale = copy.deepcopy(LIVE_SERVICE)
    stale["metadata"]["name"] = "old"
    ignored = copy.deepcopy(LIVE_SERVICE)
    ignored["metadata"]["name"] = "kept"
    ignored["metadata"]["annotations"] = {"argocd.argoproj.io/compare-options": "IgnoreExtraneous"}
    untracked = copy.deepcopy(LIVE_SERVICE)
    untracked["metadata"]["name"] = "not-ours"
    new = copy.deepcopy(_deployment())
    new["metadata"]["name"] = "new"
    live = _live(LIVE_DEPLOYMENT, stale, ignored, untracked)
    tracked = [ResourceKey.of(LIVE_DEPLOYMENT), ResourceKey.of(stale), ResourceKey.of(ignored)]
    result = await compare([_deployment(), new], live, tracked_keys=tracked)
    statuses = {str(r.key): r.status for r in result.resources}
    assert statuses == {
        "apps/Deployment default/web": SyncStatus.SYNCED,
        "apps/Deployment default/new": SyncStatus.MISSING,
        "Service default/old": SyncStatus.EXTRANEOUS,
        "Service default/kept": SyncStatus.EXTRANEOUS,
    }
    assert result.status is SyncStatus.OUT_OF_SYNC
    missing = result.get(ResourceKey("apps", "Deployment", "default", "new"))
    assert missing is not None and missing.diff.startswith("--- live\n+++ desired\n")
    assert "+    image: nginx:1.27" in missing.diff or "+        image: nginx:1.27" in missing.diff
    extraneous = result.get(ResourceKey("", "Service", "default", "old"))
    assert (
        extraneous is not None and extraneous.desired is None and "-  name: old" in extraneous.diff
    )
    # Only IgnoreExtraneous objects left over: the application counts as Synced.
    only_ignored = await compare([_deployment()], live, tracked_keys=[tracked[0], tracked[2]])
    assert only_ignored.status is SyncStatus.SYNCED


async def test_duplicate_identity_is_a_per_resource_error() -> None:
    twin = _deployment()
    _container(twin)["image"] = "nginx:1.28"
    result = await compare([_deployment(), LIVE_SERVICE, twin], _live(LIVE_DEPLOYMENT))
    web = result.get(ResourceKey("apps", "Deployment", "default", "web"))
    assert web is not None and web.status is SyncStatus.UNKNOWN
    assert web.error is not None
    assert "apps/Deployment default/web" in web.error and "#1, #3" in web.error
    assert len(result.resources) == 2
    assert result.status is SyncStatus.OUT_OF_SYNC  # the Service is Missing


async def test_undecided_resource_asks_the_server_once_then_uses_the_cache() -> None:
    # Dropping an applied field the server resets to the live value: only the server knows.
    live = copy.deepcopy(LIVE_DEPLOYMENT)
    live["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:replicas"] = {}
    runner = CountingRunner(live)
    cache = DryRunCache()
    first = await compare([_deployment()], _live(live), dry_runner=runner, cache=cache)
    assert first.status is SyncStatus.SYNCED
    assert first.resources[0].decided_by == "dry-run"
    assert first.dry_run_requests == 1 and len(runner.calls) == 1
    sent = runner.calls[0]
    assert "managedFields" not in sent["metadata"] and "status" not in sent
    second = await compare([_deployment()], _live(live), dry_runner=runner, cache=cache)
    assert second.status is SyncStatus.SYNCED and second.dry_run_requests == 0
    assert len(runner.calls) == 1 and cache.hits == 1
    # A new live resourceVersion is a new question.
    moved = copy.deepcopy(live)
    moved["metadata"]["resourceVersion"] = "19"
    await compare([_deployment()], _live(moved), dry_runner=runner, cache=cache)
    assert len(runner.calls) == 2


async def test_server_answer_decides_drift_and_shows_its_diff() -> None:
    live = copy.deepcopy(LIVE_DEPLOYMENT)
    live["spec"]["replicas"] = 5
    predicted = copy.deepcopy(live)
    predicted["spec"]["replicas"] = 2
    predicted["metadata"]["generation"] = 3
    result = await compare(
        [_deployment(replicas=2)], _live(live), dry_runner=CountingRunner(predicted)
    )
    (resource,) = result.resources
    assert resource.status is SyncStatus.OUT_OF_SYNC and resource.decided_by == "dry-run"
    assert resource.changes == (Change("replace", "/spec/replicas", 5, 2),)


async def test_transient_dry_run_errors_are_not_cached() -> None:
    live = copy.deepcopy(LIVE_DEPLOYMENT)
    live["spec"]["replicas"] = 5
    runner = CountingRunner(DryRunError("503 unavailable", permanent=False))
    cache = DryRunCache()
    for _ in range(2):
        result = await compare(
            [_deployment(replicas=2)], _live(live), dry_runner=runner, cache=cache
        )
        assert result.resources[0].status is SyncStatus.UNKNOWN
    assert len(runner.calls) == 2 and len(cache) == 0


def test_unchanged_app_of_many_objects_is_decided_locally() -> None:
    desired, live = [], {}
    for i in range(1000):
        manifest = _deployment()
        manifest["metadata"]["name"] = f"web-{i}"
        obj = copy.deepcopy(LIVE_DEPLOYMENT)
        obj["metadata"]["name"] = f"web-{i}"
        desired.append(manifest)
        live[ResourceKey.of(obj)] = obj
    result = asyncio.run(compare(desired, live))
    # no request to the server for an unchanged app; how fast is bench/engine.py's figure
    assert result.status is SyncStatus.SYNCED and result.dry_run_requests == 0
    assert {r.decided_by for r in result.resources} == {"local"}
