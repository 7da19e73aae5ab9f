"""The resource types the local cluster serves: built-in kinds and those CRDs add.

A :class:`ResourceType` carries what routing, discovery and the storage rules need to know about a
kind: its URL names, scope, subresources, how ``metadata.generation`` moves and how deletes answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ScaleSpec:
    """Where a kind keeps the numbers its ``/scale`` subresource exposes (dotted JSON paths)."""

    spec_replicas: str = ".spec.replicas"
    status_replicas: str = ".status.replicas"
    label_selector: str | None = ".status.selector"


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = False
    scale: ScaleSpec | None = None
    #: "spec": bumps on any change outside metadata/status; "spec+annotations": Deployment rule;
    #: "none": the kind does not track generation; "custom": custom resources
    generation: str = "spec"
    #: the store answers a delete with the deleted object instead of a Status (Pods, SAs)
    return_deleted_object: bool = False
    default_propagation: str = "Background"
    #: name rule: "subdomain", "label" or "path" (RBAC objects accept any path segment)
    name_rule: str = "subdomain"
    verbs: tuple[str, ...] = ALL_VERBS
    #: CRD version schema (openAPIV3Schema) for custom resources
    openapi_schema: dict[str, Any] | None = field(default=None, compare=False, hash=False)
    crd_name: str | None = None
    selectable_fields: tuple[str, ...] = ()
    #: a CRD version's additionalPrinterColumns, for kubectl's table output
    printer_columns: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        """``plural.group`` as Kubernetes messages print a resource (``deployments.apps``)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def key(self) -> tuple[str, str]:
        """Identity of the stored collection: objects of all versions of a resource share it."""
        return (self.group, self.plural)

    @property
    def is_custom(self) -> bool:
        return self.crd_name is not None


def _t(
    group: str,
    kind: str,
    plural: str,
    namespaced: bool = True,
    **kwargs: Any,
) -> ResourceType:
    version = kwargs.pop("version", "v1")
    return ResourceType(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        singular=kind.lower(),
        namespaced=namespaced,
        **kwargs,
    )


_WORKLOAD: dict[str, Any] = {"has_status": True, "scale": ScaleSpec(), "categories": ("all",)}

BUILTIN_TYPES: tuple[ResourceType, ...] = (
    _t(
        "",
        "Namespace",
        "namespaces",
        False,
        short_names=("ns",),
        has_status=True,
        generation="none",
        name_rule="label",
    ),
    _t("", "ConfigMap", "configmaps", short_names=("cm",), generation="none"),
    _t("", "Node", "nodes", False, short_names=("no",), has_status=True, generation="none"),
    _t("", "Secret", "secrets", generation="none"),
    _t(
        "",
        "Service",
        "services",
        short_names=("svc",),
        categories=("all",),
        has_status=True,
        generation="none",
        name_rule="label",
    ),
    _t(
        "",
        "ServiceAccount",
        "serviceaccounts",
        short_names=("sa",),
        generation="none",
        return_deleted_object=True,
    ),
    _t(
        "",
        "Pod",
        "pods",
        short_names=("po",),
        categories=("all",),
        has_status=True,
        generation="none",
        return_deleted_object=True,
    ),
    _t(
        "",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        short_names=("pvc",),
        has_status=True,
        generation="none",
    ),
    _t("", "Event", "events", short_names=("ev",), generation="none"),
    _t(
        "apps",
        "Deployment",
        "deployments",
        short_names=("deploy",),
        generation="spec+annotations",
        **_WORKLOAD,
    ),
    _t("apps", "ReplicaSet", "replicasets", short_names=("rs",), **_WORKLOAD),
    _t("apps", "StatefulSet", "statefulsets", short_names=("sts",), **_WORKLOAD),
    _t(
        "apps",
        "DaemonSet",
        "daemonsets",
        short_names=("ds",),
        has_status=True,
        categories=("all",),
    ),
    _t(
        "batch",
        "Job",
        "jobs",
        has_status=True,
        categories=("all",),
        default_propagation="Orphan",
    ),
    _t("batch", "CronJob", "cronjobs", short_names=("cj",), has_status=True, categories=("all",)),
    _t("networking.k8s.io", "Ingress", "ingresses", short_names=("ing",), has_status=True),
    _t("networking.k8s.io", "NetworkPolicy", "networkpolicies", short_names=("netpol",)),
    _t("rbac.authorization.k8s.io", "Role", "roles", generation="none", name_rule="path"),
    _t(
        "rbac.authorization.k8s.io",
        "RoleBinding",
        "rolebindings",
        generation="none",
        name_rule="path",
    ),
    _t(
        "rbac.authorization.k8s.io",
        "ClusterRole",
        "clusterroles",
        False,
        generation="none",
        name_rule="path",
    ),
    _t(
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        "clusterrolebindings",
        False,
        generation="none",
        name_rule="path",
    ),
    _t(
        "policy",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        short_names=("pdb",),
        has_status=True,
    ),
    _t(
        "autoscaling",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        version="v2",
        short_names=("hpa",),
        has_status=True,
        categories=("all",),
    ),
    _t("coordination.k8s.io", "Lease", "leases", generation="none"),
    _t(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        short_names=("crd", "crds"),
        has_status=True,
    ),
)


class TypeRegistry:
    """Lookup of served resource types by URL segment and by apiVersion/kind."""

    def __init__(self) -> None:
        self._by_path: dict[tuple[str, str, str], ResourceType] = {}
        self._by_gvk: dict[tuple[str, str, str], ResourceType] = {}
        self.generation = 0
        for rt in BUILTIN_TYPES:
            self.add(rt)

    def add(self, rt: ResourceType) -> None:
        self._by_path[(rt.group, rt.version, rt.plural)] = rt
        self._by_gvk[(rt.group, rt.version, rt.kind)] = rt
        self.generation += 1

    def remove_crd(self, crd_name: str) -> list[ResourceType]:
        gone = [rt for rt in self._by_path.values() if rt.crd_name == crd_name]
        for rt in gone:
            self._by_path.pop((rt.group, rt.version, rt.plural), None)
            self._by_gvk.pop((rt.group, rt.version, rt.kind), None)
        if gone:
            self.generation += 1
        return gone

    def by_path(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_gvk(self, group: str, version: str, kind: str) -> ResourceType | None:
        return self._by_gvk.get((group, version, kind))

    def by_key(self, key: tuple[str, str]) -> list[ResourceType]:
        return [rt for rt in self._by_path.values() if rt.key == key]

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(list(self._by_path.values()))

    def group_versions(self) -> dict[str, list[str]]:
        """Group name -> served versions, preferred first (core group is ``""``)."""
        out: dict[str, list[str]] = {}
        for rt in self._by_path.values():
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._by_path.values() if rt.group == group and rt.version == version]
