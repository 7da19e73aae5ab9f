"""``tether install``: put Tether's controller on a real cluster.

It applies, with server-side apply (field manager ``tether``), what ``deploy/`` holds: the control
namespace (``argocd`` by default, so Argo CD Applications apply unchanged), the Application and
AppProject CRDs, a ServiceAccount with cluster-wide RBAC, the controller Deployment and the
Service of its API. It then waits for the CRDs to be Established. ``--dry-run`` asks the API
server to validate everything without storing it; ``--print`` writes the YAML and touches nothing.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click
import yaml

from tether.cluster.client import ClusterClient
from tether.cluster.config import ClientSettings
from tether.cluster.crds import wait_established
from tether.cluster.errors import NotFound
from tether.controller.crds import crd_manifests
from tether.errors import TetherError
from tether.names import CONTROLLER_FIELD_MANAGER, DEFAULT_NAMESPACE

#: Placeholder: no image is published yet. Build one from this repository and pass ``--image``.
DEFAULT_IMAGE = "ghcr.io/tether/tether:0.1.0"
CONTROLLER_NAME = "tether-controller"
SERVER_NAME = "tether-server"
API_PORT = 8080
FIELD_MANAGER = CONTROLLER_FIELD_MANAGER

_LABELS = {"app.kubernetes.io/part-of": "tether"}


def install_manifests(
    namespace: str = DEFAULT_NAMESPACE, image: str = DEFAULT_IMAGE
) -> list[dict[str, Any]]:
    """Every object ``tether install`` applies, in the order it applies them."""
    component = {**_LABELS, "app.kubernetes.io/name": CONTROLLER_NAME}
    manifests: list[dict[str, Any]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": dict(_LABELS)},
        },
        *crd_manifests(),
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": CONTROLLER_NAME, "namespace": namespace, "labels": component},
        },
        *_rbac(namespace, component),
        _controller_deployment(namespace, image, component),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": SERVER_NAME, "namespace": namespace, "labels": component},
            "spec": {
                "selector": {"app.kubernetes.io/name": CONTROLLER_NAME},
                "ports": [
                    {"name": "http", "port": API_PORT, "targetPort": "http", "protocol": "TCP"}
                ],
            },
        },
    ]
    # The label dicts are shared above; a JSON round trip gives every object its own copies
    # (callers may modify them, and YAML then needs no anchors).
    copied: list[dict[str, Any]] = json.loads(json.dumps(manifests))
    return copied


def _rbac(namespace: str, component: dict[str, str]) -> list[dict[str, Any]]:
    """The controller's ClusterRole and its binding to the controller's ServiceAccount."""
    # Cluster-scoped names must not collide between two installs in different namespaces: the
    # ClusterRole is identical for all, the binding is per namespace.
    binding = f"{CONTROLLER_NAME}-{namespace}"
    return [
        {
            # Like Argo CD's application controller: it applies whatever Git holds, of any kind,
            # in any namespace, so it needs every verb on every resource. Narrow it (and use
            # AppProject resource lists) where the cluster's policy demands less.
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": CONTROLLER_NAME, "labels": component},
            "rules": [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": binding, "labels": component},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": CONTROLLER_NAME,
            },
            "subjects": [
                {"kind": "ServiceAccount", "name": CONTROLLER_NAME, "namespace": namespace}
            ],
        },
    ]


def _controller_deployment(namespace: str, image: str, component: dict[str, str]) -> dict[str, Any]:
    """The controller (and API server) Deployment: non-root, read-only root, scratch volumes."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": CONTROLLER_NAME, "namespace": namespace, "labels": component},
        "spec": {
            # One active controller; a second replica would stand by on the leader Lease.
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": CONTROLLER_NAME}},
            "template": {
                "metadata": {"labels": component},
                "spec": {
                    "serviceAccountName": CONTROLLER_NAME,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 999,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "controller",
                            "image": image,
                            "args": ["controller", "--namespace", namespace],
                            "ports": [
                                {"name": "http", "containerPort": API_PORT, "protocol": "TCP"}
                            ],
                            "env": [
                                {"name": "TETHER_NAMESPACE", "value": namespace},
                                # Git mirrors and render caches live in the scratch volume.
                                {"name": "HOME", "value": "/var/lib/tether"},
                            ],
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                                "limits": {"memory": "1Gi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "state", "mountPath": "/var/lib/tether"},
                                {"name": "tmp", "mountPath": "/tmp"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "state", "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def manifests_yaml(manifests: list[dict[str, Any]]) -> str:
    """A multi-document YAML stream of ``manifests``."""
    return "---\n".join(yaml.safe_dump(m, sort_keys=False) for m in manifests)


def deploy_install_yaml() -> str:
    """``deploy/install.yaml``: everything but the CRDs (those are in ``deploy/crds/``)."""
    objects = [m for m in install_manifests() if m["kind"] != "CustomResourceDefinition"]
    header = (
        "# Tether's controller for the control namespace argocd: namespace, RBAC, Deployment,\n"
        "# Service. Generated by tether/cli/install.py (tests/controller/test_install.py keeps\n"
        f"# them equal). The image {DEFAULT_IMAGE} is a placeholder: build one and set it.\n"
        "# Apply with the CRDs: kubectl apply --server-side -k deploy/\n"
    )
    return header + manifests_yaml(objects)


def _describe(obj: dict[str, Any]) -> str:
    """``kind.group/name`` as kubectl prints it (``deployment.apps/tether-controller``)."""
    group = str(obj["apiVersion"]).rpartition("/")[0]
    kind = str(obj["kind"]).lower()
    return (
        f"{kind}.{group}/{obj['metadata']['name']}"
        if group
        else f"{kind}/{obj['metadata']['name']}"
    )


async def install(
    client: ClusterClient,
    manifests: list[dict[str, Any]],
    *,
    dry_run: bool = False,
    timeout: float = 60.0,
    echo: Any = print,
) -> list[str]:
    """Server-side apply ``manifests`` through ``client``; returns the lines it printed."""
    lines: list[str] = []
    namespace_info = await client.resource_for("v1", "Namespace")
    new_namespaces: set[str] = set()
    for obj in manifests:
        info = await client.resource_for_object(obj)
        namespace = obj["metadata"].get("namespace")
        if dry_run and obj["kind"] == "Namespace":
            try:
                await client.get(namespace_info, obj["metadata"]["name"])
            except NotFound:
                new_namespaces.add(obj["metadata"]["name"])
        if dry_run and namespace in new_namespaces:
            # The server cannot dry-run into a namespace that a dry run did not create.
            line = f"{_describe(obj)} created (dry run; in new namespace {namespace})"
        else:
            await client.apply(info, obj, namespace, force=True, dry_run=dry_run)
            line = f"{_describe(obj)} serverside-applied" + (" (server dry run)" if dry_run else "")
        lines.append(line)
        echo(line)
    crds = [o["metadata"]["name"] for o in manifests if o["kind"] == "CustomResourceDefinition"]
    if crds and not dry_run:
        await wait_established(client, crds, timeout, poll_interval=0.1)
        line = f"established: {', '.join(crds)}"
        lines.append(line)
        echo(line)
    return lines


async def _run(
    kubeconfig: str | None,
    context: str | None,
    manifests: list[dict[str, Any]],
    dry_run: bool,
    timeout: float,
) -> None:
    settings = ClientSettings(field_manager=FIELD_MANAGER)
    async with ClusterClient.from_kubeconfig(kubeconfig, context, settings) as client:
        click.echo(f"installing Tether on {client.server}" + (" (dry run)" if dry_run else ""))
        await install(client, manifests, dry_run=dry_run, timeout=timeout, echo=click.echo)


@click.command("install")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Kubeconfig file.")
@click.option("--context", help="Kubeconfig context (default: the current one).")
@click.option(
    "--namespace",
    "-n",
    default=DEFAULT_NAMESPACE,
    show_default=True,
    help="Control namespace: where Applications, AppProjects and the controller live.",
)
@click.option(
    "--image",
    default=DEFAULT_IMAGE,
    show_default=True,
    help="Controller image (the default is a placeholder until images are published).",
)
@click.option("--dry-run", is_flag=True, help="Validate with the API server; change nothing.")
@click.option("--print", "print_only", is_flag=True, help="Write the YAML to stdout instead.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the CRDs.")
def install_command(
    kubeconfig: str | None,
    context: str | None,
    namespace: str,
    image: str,
    dry_run: bool,
    print_only: bool,
    timeout: float,
) -> None:
    """Install Tether (CRDs, RBAC, controller) on a cluster."""
    manifests = install_manifests(namespace, image)
    if print_only:
        click.echo(manifests_yaml(manifests), nl=False)
        return
    try:
        asyncio.run(_run(kubeconfig, context, manifests, dry_run, timeout))
    except TetherError as exc:
        raise click.ClickException(exc.message) from None
    if not dry_run:
        click.echo(
            f"Tether is installed in namespace {namespace}; "
            f"kubectl apply -n {namespace} -f <application.yaml> to add an Application."
        )
