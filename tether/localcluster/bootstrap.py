"""The RBAC objects the local cluster creates at start, as kube-apiserver's bootstrap policy does.

The rules are those of kube-apiserver's bootstrap policy (``cluster-admin``, the aggregated
``admin``/``edit``/``view`` and their ``system:aggregate-to-*`` parts, ``system:discovery``,
``system:basic-user``, ``system:public-info-viewer``, ``system:monitoring``,
``system:auth-delegator``) and its bindings (``system:masters``, ``system:authenticated``,
``system:unauthenticated``); one role of Tether's own, ``tether:viewer``, gives the kubeconfig's
``viewer`` user what it always had: read everything, write nothing.
"""

from __future__ import annotations

from typing import Any

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_API_VERSION = f"{RBAC_GROUP}/v1"
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
BOOTSTRAP_LABEL = "kubernetes.io/bootstrapping"
AGGREGATE_TO = "rbac.authorization.k8s.io/aggregate-to-"

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
UNAUTHENTICATED = "system:unauthenticated"
VIEWER_ROLE = "tether:viewer"

READ = ["get", "list", "watch"]
WRITE = ["create", "delete", "deletecollection", "patch", "update"]
READ_WRITE = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _urls(urls: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"nonResourceURLs": urls, "verbs": verbs}


def _aggregated(to: str) -> dict[str, Any]:
    return {"clusterRoleSelectors": [{"matchLabels": {AGGREGATE_TO + to: "true"}}]}


_AGGREGATE_TO_VIEW = [
    _rule(
        [""],
        [
            "configmaps",
            "endpoints",
            "persistentvolumeclaims",
            "persistentvolumeclaims/status",
            "pods",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "serviceaccounts",
            "services",
            "services/status",
        ],
        READ,
    ),
    _rule(
        [""],
        [
            "bindings",
            "events",
            "limitranges",
            "namespaces/status",
            "pods/log",
            "pods/status",
            "replicationcontrollers/status",
            "resourcequotas",
            "resourcequotas/status",
        ],
        READ,
    ),
    _rule([""], ["namespaces"], READ),
    _rule(["discovery.k8s.io"], ["endpointslices"], READ),
    _rule(
        ["apps"],
        [
            "controllerrevisions",
            "daemonsets",
            "daemonsets/status",
            "deployments",
            "deployments/scale",
            "deployments/status",
            "replicasets",
            "replicasets/scale",
            "replicasets/status",
            "statefulsets",
            "statefulsets/scale",
            "statefulsets/status",
        ],
        READ,
    ),
    _rule(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], READ),
    _rule(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], READ),
    _rule(
        ["extensions"],
        [
            "daemonsets",
            "daemonsets/status",
            "deployments",
            "deployments/scale",
            "deployments/status",
            "ingresses",
            "ingresses/status",
            "networkpolicies",
            "replicasets",
            "replicasets/scale",
            "replicasets/status",
            "replicationcontrollers/scale",
        ],
        READ,
    ),
    _rule(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], READ),
    _rule(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], READ),
]

_AGGREGATE_TO_EDIT = [
    _rule(
        [""],
        [
            "pods/attach",
            "pods/exec",
            "pods/portforward",
            "pods/proxy",
            "secrets",
            "services/proxy",
        ],
        READ,
    ),
    _rule([""], ["serviceaccounts"], ["impersonate"]),
    _rule([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], WRITE),
    _rule([""], ["pods/eviction"], ["create"]),
    _rule(
        [""],
        [
            "configmaps",
            "events",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "secrets",
            "serviceaccounts",
            "services",
            "services/proxy",
        ],
        WRITE,
    ),
    _rule([""], ["serviceaccounts/token"], ["create"]),
    _rule(
        ["apps"],
        [
            "daemonsets",
            "deployments",
            "deployments/rollback",
            "deployments/scale",
            "replicasets",
            "replicasets/scale",
            "statefulsets",
            "statefulsets/scale",
        ],
        WRITE,
    ),
    _rule(["autoscaling"], ["horizontalpodautoscalers"], WRITE),
    _rule(["batch"], ["cronjobs", "jobs"], WRITE),
    _rule(
        ["extensions"],
        [
            "daemonsets",
            "deployments",
            "deployments/rollback",
            "deployments/scale",
            "ingresses",
            "networkpolicies",
            "replicasets",
            "replicasets/scale",
            "replicationcontrollers/scale",
        ],
        WRITE,
    ),
    _rule(["policy"], ["poddisruptionbudgets"], WRITE),
    _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], WRITE),
    _rule(["coordination.k8s.io"], ["leases"], READ_WRITE),
]

_AGGREGATE_TO_ADMIN = [
    _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
    _rule([RBAC_GROUP], ["rolebindings", "roles"], READ_WRITE),
]

#: name -> (extra labels, rules or None for an aggregated role, aggregationRule or None)
CLUSTER_ROLES: dict[str, tuple[dict[str, str], list[dict[str, Any]], dict[str, Any] | None]] = {
    "cluster-admin": ({}, [_rule(["*"], ["*"], ["*"]), _urls(["*"], ["*"])], None),
    "admin": ({}, [], _aggregated("admin")),
    "edit": ({AGGREGATE_TO + "admin": "true"}, [], _aggregated("edit")),
    "view": ({AGGREGATE_TO + "edit": "true"}, [], _aggregated("view")),
    "system:aggregate-to-admin": ({AGGREGATE_TO + "admin": "true"}, _AGGREGATE_TO_ADMIN, None),
    "system:aggregate-to-edit": ({AGGREGATE_TO + "edit": "true"}, _AGGREGATE_TO_EDIT, None),
    "system:aggregate-to-view": ({AGGREGATE_TO + "view": "true"}, _AGGREGATE_TO_VIEW, None),
    "system:discovery": (
        {},
        [
            _urls(
                [
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
                ["get"],
            )
        ],
        None,
    ),
    "system:basic-user": (
        {},
        [
            _rule(
                ["authorization.k8s.io"],
                ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ["create"],
            ),
            _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
        ],
        None,
    ),
    "system:public-info-viewer": (
        {},
        [_urls(["/healthz", "/livez", "/readyz", "/version", "/version/"], ["get"])],
        None,
    ),
    "system:monitoring": (
        {},
        [
            _urls(
                [
                    "/healthz",
                    "/healthz/*",
                    "/livez",
                    "/livez/*",
                    "/metrics",
                    "/metrics/slis",
                    "/readyz",
                    "/readyz/*",
                ],
                ["get"],
            )
        ],
        None,
    ),
    "system:auth-delegator": (
        {},
        [
            _rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
            _rule(["authorization.k8s.io"], ["subjectaccessreviews"], ["create"]),
        ],
        None,
    ),
    VIEWER_ROLE: ({}, [_rule(["*"], ["*"], READ), _urls(["*"], ["get"])], None),
}

#: binding name -> (role name, [(subject kind, subject name)])
CLUSTER_ROLE_BINDINGS: dict[str, tuple[str, list[tuple[str, str]]]] = {
    "cluster-admin": ("cluster-admin", [("Group", MASTERS)]),
    "system:discovery": ("system:discovery", [("Group", AUTHENTICATED)]),
    "system:basic-user": ("system:basic-user", [("Group", AUTHENTICATED)]),
    "system:public-info-viewer": (
        "system:public-info-viewer",
        [("Group", AUTHENTICATED), ("Group", UNAUTHENTICATED)],
    ),
    "system:monitoring": ("system:monitoring", [("Group", "system:monitoring")]),
    VIEWER_ROLE: (VIEWER_ROLE, [("User", "viewer")]),
}


def _meta(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "name": name,
        "labels": {BOOTSTRAP_LABEL: "rbac-defaults", **labels},
        "annotations": {AUTOUPDATE: "true"},
    }


def bootstrap_cluster_roles() -> list[dict[str, Any]]:
    """The bootstrap ClusterRoles as objects to create (aggregated ones with empty rules)."""
    out = []
    for name, (labels, rules, aggregation) in CLUSTER_ROLES.items():
        obj: dict[str, Any] = {
            "apiVersion": RBAC_API_VERSION,
            "kind": "ClusterRole",
            "metadata": _meta(name, labels),
            "rules": [dict(rule) for rule in rules],
        }
        if aggregation is not None:
            obj["aggregationRule"] = aggregation
        out.append(obj)
    return out


def bootstrap_cluster_role_bindings() -> list[dict[str, Any]]:
    """The bootstrap ClusterRoleBindings as objects to create."""
    return [
        {
            "apiVersion": RBAC_API_VERSION,
            "kind": "ClusterRoleBinding",
            "metadata": _meta(name, {}),
            "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role},
            "subjects": [
                {"apiGroup": RBAC_GROUP, "kind": kind, "name": subject}
                for kind, subject in subjects
            ],
        }
        for name, (role, subjects) in CLUSTER_ROLE_BINDINGS.items()
    ]
