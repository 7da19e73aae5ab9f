"""Who may do what in the demo's cluster, as the mission runs production.

Only the operator's service account writes to the application namespaces; people read production
and may change staging:

* the controller runs as ServiceAccount ``argocd/tether-controller`` with exactly the RBAC that
  ``tether install`` ships (:mod:`tether.install.rbac`), through a kubeconfig holding its token;
* people get ``<state>/kubeconfig``: user ``developer`` (client certificate, group
  ``tether:developers``), who reads everything but Secrets (the bootstrap ``view`` ClusterRole
  and the Argo CD resources), and edits only the staging namespaces (``edit`` there);
* ``<state>/admin.kubeconfig`` is the cluster's admin (``system:masters``): the break-glass
  account, the one that shows a 2 AM ``kubectl scale`` in production being reverted.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.crds import wait_established
from tether.cluster.errors import NotFound
from tether.demo.apps import DEMO_APPS
from tether.demo.errors import DemoError
from tether.install.manifests import InstallOptions, install_manifests
from tether.install.names import CONTROLLER_NAME
from tether.localcluster.identities import ClusterAccess
from tether.names import ARGO_API_VERSION, DEFAULT_NAMESPACE

#: the people's user and group in the demo's kubeconfig
DEVELOPER = "developer"
DEVELOPERS = "tether:developers"
#: the Secret holding the controller's (non-expiring) ServiceAccount token
TOKEN_SECRET = f"{CONTROLLER_NAME}-token"
RBAC = "rbac.authorization.k8s.io/v1"
#: what of the install the demo applies: the controller runs in this process, not in a pod
_INSTALL_KINDS = frozenset(
    {
        "Namespace",
        "CustomResourceDefinition",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    }
)
_FIELD_MANAGER = "tether-up"


@dataclass(frozen=True)
class DemoAccess:
    """The kubeconfigs of the demo's three identities."""

    #: the controller's ServiceAccount, with the install's RBAC
    controller: Path
    #: people: read-only in production, edit in staging
    people: Path
    #: the cluster's admin
    admin: Path


def access_objects() -> list[dict[str, Any]]:
    """The install's controller RBAC, the app namespaces and the people's bindings."""
    install = [
        obj
        for obj in install_manifests(InstallOptions(secrets_controller=False))
        if obj["kind"] in _INSTALL_KINDS
    ]
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": app.name}}
        for app in DEMO_APPS
    ]
    token = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {
            "name": TOKEN_SECRET,
            "namespace": DEFAULT_NAMESPACE,
            "annotations": {"kubernetes.io/service-account.name": CONTROLLER_NAME},
        },
    }
    return [*install, token, *namespaces, *people_rbac()]


def _group_binding(
    kind: str, name: str, role_kind: str, role: str, ns: str | None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name} if ns is None else {"name": name, "namespace": ns}
    return {
        "apiVersion": RBAC,
        "kind": kind,
        "metadata": meta,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": DEVELOPERS}
        ],
    }


def people_rbac() -> list[dict[str, Any]]:
    """``view`` everywhere, the Argo CD resources readable, ``edit`` in the staging namespaces."""
    group = ARGO_API_VERSION.split("/")[0]
    apps_view = {
        "apiVersion": RBAC,
        "kind": "ClusterRole",
        "metadata": {"name": "tether-demo-applications-view"},
        "rules": [
            {
                "apiGroups": [group],
                "resources": ["applications", "appprojects", "applicationsets"],
                "verbs": ["get", "list", "watch"],
            }
        ],
    }
    objects = [
        apps_view,
        _group_binding(
            "ClusterRoleBinding", "tether-demo-developers-view", "ClusterRole", "view", None
        ),
        _group_binding(
            "ClusterRoleBinding",
            "tether-demo-developers-applications",
            "ClusterRole",
            "tether-demo-applications-view",
            None,
        ),
    ]
    for app in DEMO_APPS:
        if app.automated:  # staging
            objects.append(
                _group_binding(
                    "RoleBinding", "tether-demo-developers-edit", "ClusterRole", "edit", app.name
                )
            )
    return objects


async def apply_access(admin: ClusterClient) -> None:
    """Apply :func:`access_objects` as the cluster's admin (idempotent)."""
    objects = access_objects()
    for obj in objects:
        info = await admin.resource_for_object(obj)
        namespace = obj["metadata"].get("namespace")
        await admin.apply(info, obj, namespace, field_manager=_FIELD_MANAGER, force=True)
    crds = [o["metadata"]["name"] for o in objects if o["kind"] == "CustomResourceDefinition"]
    await wait_established(admin, crds, timeout=30.0)


async def controller_token(admin: ClusterClient, timeout: float = 30.0) -> str:
    """The token the cluster's token controller wrote into :data:`TOKEN_SECRET`."""
    info = await admin.resource_for("v1", "Secret")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            secret = await admin.get(info, TOKEN_SECRET, DEFAULT_NAMESPACE)
        except NotFound:
            secret = {}
        token = (secret.get("data") or {}).get("token")
        if token:
            return base64.b64decode(token).decode()
        if loop.time() > deadline:
            raise DemoError(
                f"the cluster wrote no token into Secret {DEFAULT_NAMESPACE}/{TOKEN_SECRET} "
                f"within {timeout:.0f}s"
            )
        await asyncio.sleep(0.1)


async def prepare_access(
    admin: ClusterClient, cluster: ClusterAccess, state_dir: Path
) -> DemoAccess:
    """Apply the demo's RBAC and write the kubeconfigs of the controller and of people."""
    await apply_access(admin)
    token = await controller_token(admin)
    account = f"system:serviceaccount:{DEFAULT_NAMESPACE}:{CONTROLLER_NAME}"
    controller = await asyncio.to_thread(
        cluster.token_kubeconfig, state_dir / "controller.kubeconfig", token, account
    )
    people = await asyncio.to_thread(
        cluster.cert_kubeconfig, state_dir / "kubeconfig", DEVELOPER, (DEVELOPERS,)
    )
    return DemoAccess(controller=controller, people=people, admin=state_dir / "admin.kubeconfig")
