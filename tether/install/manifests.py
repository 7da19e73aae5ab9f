"""Every object ``tether install`` applies, built from :class:`InstallOptions`.

``deploy/`` is generated from :func:`install_manifests` with the defaults (a test keeps the two
equal): the control namespace, the Argo CD CRDs and the SealedSecret CRD, the controller's
ServiceAccount, RBAC (:mod:`tether.install.rbac`), Deployment and Services, and the Sealed Secrets
controller with its own ServiceAccount and RBAC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from tether.controller.crds import installed_crds
from tether.install import rbac
from tether.install.names import (
    API_PORT,
    CONTROLLER_NAME,
    DEFAULT_IMAGE,
    METRICS_PORT,
    METRICS_SERVICE,
    NAME_LABEL,
    PART_OF,
    PART_OF_LABEL,
    SECRETS_CONTROLLER_NAME,
    SECRETS_PORT,
    SERVER_NAME,
)
from tether.names import DEFAULT_NAMESPACE
from tether.secrets.crd import sealed_secret_crd

#: the image's non-root user (docs/image.md); files it writes go to the scratch volumes
RUN_AS_USER = 999
CONTROLLER_RESOURCES = {
    "requests": {"cpu": "250m", "memory": "256Mi"},
    "limits": {"cpu": "2", "memory": "1Gi"},
}
#: it keeps every Secret of the cluster in memory (as Bitnami's informer does): raise the memory
#: limit on clusters with many large Secrets
SECRETS_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "512Mi"},
}


@dataclass(frozen=True)
class InstallOptions:
    """What varies between installs."""

    namespace: str = DEFAULT_NAMESPACE
    image: str = DEFAULT_IMAGE
    #: Argo CD's namespace-install: Roles in the control namespace and in ``managed_namespaces``
    namespaced: bool = False
    managed_namespaces: tuple[str, ...] = ()
    #: the Sealed Secrets controller (cluster-wide mode only: it unseals in every namespace)
    secrets_controller: bool = True

    @property
    def with_secrets_controller(self) -> bool:
        return self.secrets_controller and not self.namespaced


def _labels(name: str | None = None) -> dict[str, str]:
    labels = {PART_OF_LABEL: PART_OF}
    if name:
        labels[NAME_LABEL] = name
    return labels


def _object(
    api_version: str, kind: str, name: str, namespace: str | None, labels: dict[str, str]
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = labels
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def _service(name: str, namespace: str, selector: str, port: tuple[str, int]) -> dict[str, Any]:
    service = _object("v1", "Service", name, namespace, _labels(selector))
    service["spec"] = {
        "selector": {NAME_LABEL: selector},
        "ports": [{"name": port[0], "port": port[1], "targetPort": port[0], "protocol": "TCP"}],
    }
    return service


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _probe(path: str, port: str, period: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }


def controller_args(options: InstallOptions) -> list[str]:
    """The controller's command line: listen on the pod address, metrics on their own port."""
    args = [
        "controller",
        "--namespace",
        options.namespace,
        "--listen",
        f"0.0.0.0:{API_PORT}",
        "--metrics-listen",
        f"0.0.0.0:{METRICS_PORT}",
    ]
    if options.namespaced:
        for ns in options.managed_namespaces:
            args += ["--managed-namespace", ns]
    return args


def _deployment(name: str, namespace: str, pod: dict[str, Any]) -> dict[str, Any]:
    deployment = _object("apps/v1", "Deployment", name, namespace, _labels(name))
    deployment["spec"] = {
        # one replica; more share the applications by shard (docs/shards.md)
        "replicas": 1,
        "selector": {"matchLabels": {NAME_LABEL: name}},
        "template": {"metadata": {"labels": _labels(name)}, "spec": pod},
    }
    return deployment


def controller_deployment(options: InstallOptions) -> dict[str, Any]:
    """The controller, API, UI and webhooks: one pod, non-root, read-only root, probes."""
    container = {
        "name": "controller",
        "image": options.image,
        "args": controller_args(options),
        "ports": [
            {"name": "http", "containerPort": API_PORT, "protocol": "TCP"},
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "env": [
            {"name": "TETHER_NAMESPACE", "value": options.namespace},
            # the replica's name in the shard Leases: the pod's
            {
                "name": "TETHER_IDENTITY",
                "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}},
            },
            # Git mirrors and render caches live in the scratch volume
            {"name": "HOME", "value": "/var/lib/tether"},
        ],
        # /healthz answers while the process serves; /readyz once the watches are synced
        "livenessProbe": {**_probe("/healthz", "http", 10), "initialDelaySeconds": 5},
        "readinessProbe": _probe("/readyz", "http", 5),
        "resources": CONTROLLER_RESOURCES,
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "state", "mountPath": "/var/lib/tether"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod = {
        "serviceAccountName": CONTROLLER_NAME,
        "securityContext": _pod_security(),
        "containers": [container],
        "volumes": [{"name": "state", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }
    return _deployment(CONTROLLER_NAME, options.namespace, pod)


def secrets_controller_deployment(options: InstallOptions) -> dict[str, Any]:
    """The Sealed Secrets controller and its certificate endpoint (``/v1/cert.pem``)."""
    container = {
        "name": "secrets-controller",
        "image": options.image,
        "args": ["secrets-controller", "--listen", f"0.0.0.0:{SECRETS_PORT}"],
        "ports": [{"name": "http", "containerPort": SECRETS_PORT, "protocol": "TCP"}],
        "livenessProbe": {**_probe("/healthz", "http", 10), "initialDelaySeconds": 5},
        "readinessProbe": _probe("/healthz", "http", 5),
        "resources": SECRETS_RESOURCES,
        "securityContext": _container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod = {
        "serviceAccountName": SECRETS_CONTROLLER_NAME,
        "securityContext": _pod_security(),
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    return _deployment(SECRETS_CONTROLLER_NAME, options.namespace, pod)


def _controller_objects(options: InstallOptions) -> list[dict[str, Any]]:
    ns = options.namespace
    labels = _labels(CONTROLLER_NAME)
    if options.namespaced:
        roles = rbac.namespaced_rbac(ns, options.managed_namespaces, labels)
    else:
        roles = rbac.cluster_wide_rbac(ns, labels)
    return [
        _object("v1", "ServiceAccount", CONTROLLER_NAME, ns, labels),
        *roles,
        controller_deployment(options),
        _service(SERVER_NAME, ns, CONTROLLER_NAME, ("http", API_PORT)),
        # named "metrics" so a ServiceMonitor or a scrape config can pick the port by name
        _service(METRICS_SERVICE, ns, CONTROLLER_NAME, ("metrics", METRICS_PORT)),
    ]


def _secrets_objects(options: InstallOptions) -> list[dict[str, Any]]:
    ns = options.namespace
    labels = _labels(SECRETS_CONTROLLER_NAME)
    return [
        _object("v1", "ServiceAccount", SECRETS_CONTROLLER_NAME, ns, labels),
        *rbac.secrets_controller_rbac(ns, labels),
        secrets_controller_deployment(options),
        _service(SECRETS_CONTROLLER_NAME, ns, SECRETS_CONTROLLER_NAME, ("http", SECRETS_PORT)),
    ]


def _crds(options: InstallOptions) -> list[dict[str, Any]]:
    crds = installed_crds()
    if options.with_secrets_controller:
        crds.append(sealed_secret_crd())
    return crds


def install_manifests(options: InstallOptions | None = None) -> list[dict[str, Any]]:
    """Every object ``tether install`` applies, in the order it applies them."""
    options = options or InstallOptions()
    namespace = _object("v1", "Namespace", options.namespace, None, _labels())
    manifests = [namespace, *_crds(options), *_controller_objects(options)]
    if options.with_secrets_controller:
        manifests += _secrets_objects(options)
    # Dicts are shared above; a JSON round trip gives every object its own copies (callers
    # may modify them, and YAML then needs no anchors).
    copied: list[dict[str, Any]] = json.loads(json.dumps(manifests))
    return copied


def manifests_yaml(manifests: list[dict[str, Any]]) -> str:
    """A multi-document YAML stream of ``manifests``."""
    return "---\n".join(yaml.safe_dump(m, sort_keys=False) for m in manifests)
