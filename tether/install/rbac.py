"""The RBAC ``tether install`` ships: only the verbs Tether uses, nothing on ``*`` URLs.

Two forms, as Argo CD ships them:

* **cluster-wide**: one ClusterRole (:func:`controller_cluster_role`) for everything Git may hold,
  anywhere, plus a Role in the control namespace for the Lease and Events.
* **namespaced** (Argo CD's namespace-install): a Role and RoleBinding in the control namespace
  and in each managed namespace; the only cluster-wide grant is a read-only ClusterRole (API
  discovery, the Argo CD CRDs and the namespaces it manages).

The Sealed Secrets controller gets its own ServiceAccount and ClusterRole
(:func:`secrets_controller_rbac`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tether.controller.crds import installed_crds
from tether.install.names import CONTROLLER_NAME, SECRETS_CONTROLLER_NAME
from tether.secrets.crd import CRD_NAME as SEALED_SECRET_CRD

RBAC_API: str = "rbac.authorization.k8s.io/v1"
#: what the controller does to the objects it manages: read and watch them (the live cache),
#: create, server-side apply (patch), replace (update, ``Replace=true``), prune (delete). Not
#: ``deletecollection``, ``escalate``, ``bind``: an app that creates Roles granting more than
#: this needs them added (see docs/install.md).
MANAGE_VERBS: tuple[str, ...] = ("get", "list", "watch", "create", "update", "patch", "delete")
#: the discovery documents the client reads (``/api``, ``/apis/<group>/<version>``, the version)
DISCOVERY_URLS: tuple[str, ...] = ("/version", "/api", "/api/*", "/apis", "/apis/*")


def _rule(groups: Sequence[str], resources: Sequence[str], verbs: Sequence[str]) -> dict[str, Any]:
    return {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}


def manage_rule() -> dict[str, Any]:
    """Every kind Git may hold (Applications and their status included), the usual verbs."""
    return _rule(["*"], ["*"], MANAGE_VERBS)


def impersonate_rule() -> dict[str, Any]:
    """``impersonate`` on ServiceAccounts: AppProject ``destinationServiceAccounts``."""
    return _rule([""], ["serviceaccounts"], ["impersonate"])


def discovery_rule() -> dict[str, Any]:
    """``get`` on the discovery URLs (and only those: no ``nonResourceURLs: ['*']``)."""
    return {"nonResourceURLs": list(DISCOVERY_URLS), "verbs": ["get"]}


def control_namespace_rules() -> list[dict[str, Any]]:
    """The replicas' Leases (``tether-replica-*``, ``tether-shards``) and the Events of the
    control namespace."""
    return [
        _rule(["coordination.k8s.io"], ["leases"], MANAGE_VERBS),
        _rule(["", "events.k8s.io"], ["events"], ["create", "patch"]),
    ]


def _meta(name: str, labels: dict[str, str], namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(labels)
    return meta


def _role(
    kind: str, name: str, labels: dict[str, str], rules: list[dict[str, Any]], ns: str | None
) -> dict[str, Any]:
    return {
        "apiVersion": RBAC_API,
        "kind": kind,
        "metadata": _meta(name, labels, ns),
        "rules": rules,
    }


def _binding(
    kind: str,
    name: str,
    role_kind: str,
    role: str,
    account: tuple[str, str],
    labels: dict[str, str],
    ns: str | None = None,
) -> dict[str, Any]:
    """A (Cluster)RoleBinding of ``role`` to the ServiceAccount ``account`` (namespace, name)."""
    return {
        "apiVersion": RBAC_API,
        "kind": kind,
        "metadata": _meta(name, labels, ns),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": account[1], "namespace": account[0]}],
    }


def controller_cluster_role(labels: dict[str, str]) -> dict[str, Any]:
    """The cluster-wide mode's ClusterRole (one for every install: the rules never vary)."""
    rules = [manage_rule(), impersonate_rule(), discovery_rule()]
    return _role("ClusterRole", CONTROLLER_NAME, labels, rules, None)


def cluster_wide_rbac(namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """ClusterRole + binding, and the control namespace's Role + binding."""
    account = (namespace, CONTROLLER_NAME)
    # cluster-scoped names carry the namespace: two installs must not share a binding
    binding = f"{CONTROLLER_NAME}-{namespace}"
    return [
        controller_cluster_role(labels),
        _binding("ClusterRoleBinding", binding, "ClusterRole", CONTROLLER_NAME, account, labels),
        _role("Role", CONTROLLER_NAME, labels, control_namespace_rules(), namespace),
        _binding(
            "RoleBinding", CONTROLLER_NAME, "Role", CONTROLLER_NAME, account, labels, namespace
        ),
    ]


def read_cluster_role(
    name: str, namespaces: Sequence[str], labels: dict[str, str]
) -> dict[str, Any]:
    """The namespaced mode's only ClusterRole: reads the controller cannot do from a Role."""
    crds = [c["metadata"]["name"] for c in installed_crds()]
    rules = [
        # the start checks its CRDs (Argo CD's, Flux's image kinds) are there and Established
        {
            **_rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], ["get"]),
            "resourceNames": crds,
        },
        # the start checks the control namespace exists; CreateNamespace=true reads its target
        {**_rule([""], ["namespaces"], ["get"]), "resourceNames": list(namespaces)},
        discovery_rule(),
    ]
    return _role("ClusterRole", name, labels, rules, None)


def namespaced_rbac(
    namespace: str, managed: Sequence[str], labels: dict[str, str]
) -> list[dict[str, Any]]:
    """A Role and RoleBinding per namespace (control first), and the read-only ClusterRole."""
    account = (namespace, CONTROLLER_NAME)
    read = f"{CONTROLLER_NAME}-read-{namespace}"
    objects = [
        read_cluster_role(read, [namespace, *managed], labels),
        _binding("ClusterRoleBinding", read, "ClusterRole", read, account, labels),
    ]
    for ns in dict.fromkeys([namespace, *managed]):
        rules = [manage_rule()]
        rules += control_namespace_rules() if ns == namespace else [impersonate_rule()]
        objects.append(_role("Role", CONTROLLER_NAME, labels, rules, ns))
        objects.append(
            _binding("RoleBinding", CONTROLLER_NAME, "Role", CONTROLLER_NAME, account, labels, ns)
        )
    return objects


def secrets_controller_rbac(namespace: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """The Sealed Secrets controller: Secrets it unseals anywhere, its CRD, status, Events."""
    rules = [
        # it writes the unsealed Secret next to each SealedSecret, and its keys in kube-system
        _rule([""], ["secrets"], ["get", "list", "watch", "create", "update", "delete"]),
        _rule(["bitnami.com"], ["sealedsecrets"], ["get", "list", "watch"]),
        _rule(["bitnami.com"], ["sealedsecrets/status"], ["update", "patch"]),
        _rule(["", "events.k8s.io"], ["events"], ["create", "patch"]),
        {
            **_rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], ["get"]),
            "resourceNames": [SEALED_SECRET_CRD],
        },
        # its start creates the keys' namespace when missing (a create cannot name the object)
        _rule([""], ["namespaces"], ["create"]),
        discovery_rule(),
    ]
    account = (namespace, SECRETS_CONTROLLER_NAME)
    binding = f"{SECRETS_CONTROLLER_NAME}-{namespace}"
    return [
        _role("ClusterRole", SECRETS_CONTROLLER_NAME, labels, rules, None),
        _binding(
            "ClusterRoleBinding", binding, "ClusterRole", SECRETS_CONTROLLER_NAME, account, labels
        ),
    ]
