"""``health_of``: which check applies to an object, and the health an application counts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tether.engine.health._fields import group_kind, mapping, sequence
from tether.engine.health.apiservice import apiservice_health
from tether.engine.health.argo import workflow_health
from tether.engine.health.crd import crd_health
from tether.engine.health.cronjob import cronjob_health
from tether.engine.health.customizations import HealthCustomizations
from tether.engine.health.daemonset import daemonset_health
from tether.engine.health.deployment import deployment_health
from tether.engine.health.generic import KUBERNETES_GROUPS, generic_health
from tether.engine.health.hpa import hpa_health
from tether.engine.health.ingress import ingress_health
from tether.engine.health.job import job_health
from tether.engine.health.pod import pod_health
from tether.engine.health.pvc import pvc_health
from tether.engine.health.replicaset import replicaset_health
from tether.engine.health.service import service_health
from tether.engine.health.statefulset import statefulset_health
from tether.engine.health.status import MISSING, PROGRESSING, UNKNOWN, HealthStatus, aggregate
from tether.names import HOOK_FINALIZER, IGNORE_HEALTHCHECK_ANNOTATION

HealthCheck = Callable[[dict[str, Any]], HealthStatus]

#: Built-in checks by (API group, kind); the version does not matter.
BUILTIN_CHECKS: dict[tuple[str, str], HealthCheck] = {
    ("apps", "Deployment"): deployment_health,
    ("apps", "StatefulSet"): statefulset_health,
    ("apps", "DaemonSet"): daemonset_health,
    ("apps", "ReplicaSet"): replicaset_health,
    ("", "Pod"): pod_health,
    ("", "PersistentVolumeClaim"): pvc_health,
    ("", "Service"): service_health,
    ("batch", "Job"): job_health,
    ("batch", "CronJob"): cronjob_health,
    ("networking.k8s.io", "Ingress"): ingress_health,
    ("extensions", "Ingress"): ingress_health,
    ("autoscaling", "HorizontalPodAutoscaler"): hpa_health,
    ("apiregistration.k8s.io", "APIService"): apiservice_health,
    ("apiextensions.k8s.io", "CustomResourceDefinition"): crd_health,
    ("argoproj.io", "Workflow"): workflow_health,
}

_MISSING = HealthStatus(MISSING)
_PENDING_DELETION = HealthStatus(PROGRESSING, "Pending deletion")


def health_of(
    obj: dict[str, Any] | None, *, customizations: HealthCustomizations | None = None
) -> HealthStatus | None:
    """The health of a live object, or ``None`` when its kind has no notion of health.

    ``None`` for ``obj`` means the object does not exist: Missing. An object being deleted is
    Progressing ("Pending deletion"). Otherwise the first of these that applies decides: a Lua
    customization for its group/kind, Tether's built-in check for the kind, the standard
    conditions of a custom resource (see :mod:`tether.engine.health.generic`). ConfigMaps,
    Secrets, RBAC objects and the like have no health: ``None``, and they do not count in an
    application's health, as in Argo CD.
    """
    if obj is None:
        return _MISSING
    metadata = mapping(obj.get("metadata"))
    if metadata.get("deletionTimestamp") and HOOK_FINALIZER not in sequence(
        metadata.get("finalizers")
    ):
        return _PENDING_DELETION
    group, kind = group_kind(obj)
    if customizations is not None:
        custom = customizations.evaluate(obj, group, kind)
        if custom is not None:
            return custom
    check = BUILTIN_CHECKS.get((group, kind))
    if check is not None:
        try:
            return check(obj)
        except (TypeError, ValueError, AttributeError) as exc:
            # Fields of unexpected types in hand-written YAML: say so instead of crashing.
            return HealthStatus(UNKNOWN, f"cannot assess the health of this {kind}: {exc}")
    if group not in KUBERNETES_GROUPS:
        return generic_health(obj)
    return None


def has_health(
    obj: dict[str, Any] | None, *, customizations: HealthCustomizations | None = None
) -> bool:
    """Whether the object has a health status at all (``health_of`` is not ``None``)."""
    return health_of(obj, customizations=customizations) is not None


def ignores_healthcheck(obj: dict[str, Any] | None) -> bool:
    """Whether the object carries ``argocd.argoproj.io/ignore-healthcheck: "true"``."""
    if obj is None:
        return False
    annotations = mapping(mapping(obj.get("metadata")).get("annotations"))
    return annotations.get(IGNORE_HEALTHCHECK_ANNOTATION) == "true"


def app_health_of(
    obj: dict[str, Any] | None, *, customizations: HealthCustomizations | None = None
) -> HealthStatus | None:
    """The health this resource contributes to its application: ``None`` when it has no health
    or is excluded with the ignore-healthcheck annotation."""
    if ignores_healthcheck(obj):
        return None
    return health_of(obj, customizations=customizations)


def application_health(
    objects: Iterable[dict[str, Any] | None],
    *,
    customizations: HealthCustomizations | None = None,
) -> HealthStatus:
    """The health of an application from its resources' live objects (``None`` = missing)."""
    return aggregate(app_health_of(obj, customizations=customizations) for obj in objects)
