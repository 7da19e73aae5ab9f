"""Plan a sync: which objects are applied, pruned or run as hooks, and in which order.

Order follows Argo CD exactly: phase (PreSync → Sync → PostSync; SyncFail only on failure), then
wave (``argocd.argoproj.io/sync-wave``, Helm ``hook-weight`` for Helm hooks), then kind (Argo CD's
install order: Namespaces, policies, ServiceAccounts, Secrets, ConfigMaps, storage, CRDs, RBAC,
Services, workloads, Ingresses, APIServices; custom resources last), then name. Prune tasks run in
mirrored wave order (what was created last goes first); ``PruneLast`` moves them after the last wave.
Pure functions over plain dicts: no cluster is needed to plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tether.errors import TetherError
from tether.names import (
    HELM_HOOK_ANNOTATION,
    HELM_HOOK_DELETE_POLICY_ANNOTATION,
    HELM_HOOK_WEIGHT_ANNOTATION,
    HOOK_ANNOTATION,
    HOOK_DELETE_POLICY_ANNOTATION,
    SYNC_OPTIONS_ANNOTATION,
    SYNC_WAVE_ANNOTATION,
)
from tether.resources import ResourceKey

#: the phases a sync runs in order; SyncFail runs only after a failure
SYNC_PHASES = ("PreSync", "Sync", "PostSync")
SYNC_FAIL_PHASE = "SyncFail"
PHASES = (*SYNC_PHASES, SYNC_FAIL_PHASE)
# Helm's weight and delete-policy annotations (its hook annotation is in tether.names)

#: gitops-engine's kind order within a wave; kinds not listed (custom resources) sort after
KIND_ORDER: tuple[str, ...] = (
    "Namespace",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "Secret",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ServiceAccount",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "Job",
    "CronJob",
    "Ingress",
    "APIService",
)
_KIND_RANK = {kind: i for i, kind in enumerate(KIND_ORDER)}


def kind_rank(kind: str) -> int:
    """The place of ``kind`` in :data:`KIND_ORDER`; kinds not listed come after every listed one."""
    return _KIND_RANK.get(kind, len(KIND_ORDER))


_HELM_HOOKS = {
    "pre-install": "PreSync",
    "pre-upgrade": "PreSync",
    "post-install": "PostSync",
    "post-upgrade": "PostSync",
    "pre-delete": "PreDelete",
    "post-delete": "PostDelete",
}
_HELM_POLICIES = {
    "before-hook-creation": "BeforeHookCreation",
    "hook-succeeded": "HookSucceeded",
    "hook-failed": "HookFailed",
}


class PlanError(TetherError):
    """A desired object cannot be planned (bad annotation, duplicate identity)."""

    def __init__(self, message: str, key: ResourceKey | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class SyncOptions:
    """Sync options from the Application and the per-resource annotation (Argo CD names)."""

    prune: bool = False
    prune_last: bool = False
    apply_out_of_sync_only: bool = False
    server_side_apply: bool = True
    replace: bool = False
    create_namespace: bool = False
    validate: bool = True
    fail_on_shared_resource: bool = False
    respect_ignore_differences: bool = False
    prune_propagation_policy: str = "foreground"
    dry_run: bool = False

    @classmethod
    def parse(
        cls, options: Iterable[str], *, prune: bool = False, dry_run: bool = False
    ) -> SyncOptions:
        values = _parse_option_list(options)
        return cls(
            prune=prune,
            prune_last=values.get("PruneLast") == "true",
            apply_out_of_sync_only=values.get("ApplyOutOfSyncOnly") == "true",
            server_side_apply=values.get("ServerSideApply", "true") != "false",
            replace=values.get("Replace") == "true",
            create_namespace=values.get("CreateNamespace") == "true",
            validate=values.get("Validate", "true") != "false",
            fail_on_shared_resource=values.get("FailOnSharedResource") == "true",
            respect_ignore_differences=values.get("RespectIgnoreDifferences") == "true",
            prune_propagation_policy=values.get("PrunePropagationPolicy", "foreground").lower(),
            dry_run=dry_run,
        )


def _parse_option_list(options: Iterable[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for option in options:
        for part in str(option).split(","):
            key, sep, value = part.strip().partition("=")
            if key:
                values[key] = value.strip().lower() if sep else "true"
    return values


def resource_options(obj: dict[str, Any]) -> dict[str, str]:
    """The ``argocd.argoproj.io/sync-options`` annotation of one object as a dict."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return _parse_option_list([annotations.get(SYNC_OPTIONS_ANNOTATION, "")])


@dataclass(frozen=True)
class SyncTask:
    """One step of a sync: apply an object, prune a live one, or run a hook."""

    key: ResourceKey
    obj: dict[str, Any] = field(compare=False, hash=False, repr=False)
    phase: str
    wave: int
    action: str  # "apply" | "prune" | "hook"
    hook_types: tuple[str, ...] = ()
    delete_policies: tuple[str, ...] = ()
    #: per-resource sync options (``Prune=false``, ``Replace=true``, ``ServerSideApply=false`` …)
    options: tuple[tuple[str, str], ...] = ()

    @property
    def is_hook(self) -> bool:
        return self.action == "hook"

    def option(self, name: str) -> str | None:
        return dict(self.options).get(name)

    def sort_key(self) -> tuple[int, int, int, str]:
        return (
            PHASES.index(self.phase) if self.phase in PHASES else len(PHASES),
            self.wave,
            kind_rank(self.key.kind),
            self.key.name,
        )


@dataclass
class SyncPlan:
    """Tasks in execution order, plus what was left out and why."""

    tasks: list[SyncTask]
    skipped: list[tuple[ResourceKey, str]] = field(default_factory=list)

    def phase(self, name: str) -> list[SyncTask]:
        return [t for t in self.tasks if t.phase == name]

    def without_hooks(self) -> SyncPlan:
        """The same plan with its hooks left out (a sync of selected resources runs none)."""
        return SyncPlan([t for t in self.tasks if not t.is_hook], list(self.skipped))

    def waves(self, phase: str) -> list[tuple[int, list[SyncTask]]]:
        """The tasks of one phase grouped by wave, in order."""
        groups: dict[int, list[SyncTask]] = {}
        for task in self.phase(phase):
            groups.setdefault(task.wave, []).append(task)
        return sorted(groups.items())


def _wave_of(obj: dict[str, Any], key: ResourceKey, helm: bool) -> int:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    raw = (
        annotations.get(HELM_HOOK_WEIGHT_ANNOTATION)
        if helm
        else annotations.get(SYNC_WAVE_ANNOTATION)
    )
    if helm and raw is None:
        raw = annotations.get(SYNC_WAVE_ANNOTATION)
    if raw is None or str(raw).strip() == "":
        return 0
    try:
        return int(str(raw).strip())
    except ValueError as exc:
        name = HELM_HOOK_WEIGHT_ANNOTATION if helm else SYNC_WAVE_ANNOTATION
        raise PlanError(f"{key}: annotation {name} must be an integer, got {raw!r}", key) from exc


def hook_info(obj: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(hook types, delete policies, is Helm) of an object; no hook types = an ordinary resource.

    An Argo CD hook annotation wins over Helm's on the same object, as in Argo CD. Helm test hooks
    map to ``Skip``: Argo CD never runs them.
    """
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    argo = annotations.get(HOOK_ANNOTATION)
    if argo:
        types = tuple(t.strip() for t in str(argo).split(",") if t.strip())
        policies = tuple(
            p.strip()
            for p in str(annotations.get(HOOK_DELETE_POLICY_ANNOTATION, "")).split(",")
            if p.strip()
        )
        return types, policies or ("BeforeHookCreation",), False
    helm = annotations.get(HELM_HOOK_ANNOTATION)
    if helm:
        names = [h.strip() for h in str(helm).split(",") if h.strip()]
        types_list: list[str] = []
        for name in names:
            if name in ("test", "test-success", "test-failure"):
                types_list.append("Skip")
            elif name in _HELM_HOOKS and _HELM_HOOKS[name] not in types_list:
                types_list.append(_HELM_HOOKS[name])
        helm_policies = [
            _HELM_POLICIES[p.strip()]
            for p in str(annotations.get(HELM_HOOK_DELETE_POLICY_ANNOTATION, "")).split(",")
            if p.strip() in _HELM_POLICIES
        ]
        return tuple(types_list), tuple(helm_policies) or ("BeforeHookCreation",), True
    return (), (), False


def plan_sync(
    desired: list[dict[str, Any]],
    prune: list[dict[str, Any]] | None = None,
    options: SyncOptions | None = None,
) -> SyncPlan:
    """Order ``desired`` (and the live objects in ``prune``) into a sync plan.

    Raises :class:`PlanError` for two desired objects with the same identity or an unreadable
    wave annotation, naming the object.
    """
    options = options or SyncOptions()
    skipped: list[tuple[ResourceKey, str]] = []
    tasks = _desired_tasks(desired, skipped)
    tasks.extend(_prune_tasks(prune or [], options, tasks, skipped))
    tasks.sort(key=SyncTask.sort_key)
    return SyncPlan(tasks, skipped)


def _desired_tasks(
    desired: list[dict[str, Any]], skipped: list[tuple[ResourceKey, str]]
) -> list[SyncTask]:
    """An apply task per desired object, a hook task per hook type; what is left out goes to
    ``skipped`` with the reason."""
    tasks: list[SyncTask] = []
    seen: set[ResourceKey] = set()
    for obj in desired:
        key = ResourceKey.of(obj)
        types, policies, is_helm = hook_info(obj)
        res_options = tuple(sorted(resource_options(obj).items()))
        if types:
            if "Skip" in types:
                skipped.append((key, "hook type Skip"))
                continue
            for hook_type in types:
                if hook_type not in PHASES:
                    # PreDelete/PostDelete hooks run on Application deletion, not on sync
                    skipped.append((key, f"{hook_type} hook runs on deletion only"))
                    continue
                wave = _wave_of(obj, key, is_helm)
                tasks.append(
                    SyncTask(key, obj, hook_type, wave, "hook", types, policies, res_options)
                )
            continue
        if key in seen:
            raise PlanError(f"{key} appears more than once in the desired state", key)
        seen.add(key)
        tasks.append(
            SyncTask(key, obj, "Sync", _wave_of(obj, key, False), "apply", (), (), res_options)
        )
    return tasks


def _prune_tasks(
    prune: list[dict[str, Any]],
    options: SyncOptions,
    tasks: list[SyncTask],
    skipped: list[tuple[ResourceKey, str]],
) -> list[SyncTask]:
    """A prune task per live object to delete, in mirrored waves (``PruneLast``: after the last
    wave of ``tasks``); what is not pruned goes to ``skipped`` with the reason."""
    prune_tasks: list[SyncTask] = []
    for obj in prune:
        key = ResourceKey.of(obj)
        res_options = tuple(sorted(resource_options(obj).items()))
        if dict(res_options).get("Prune") == "false":
            skipped.append((key, "Prune=false"))
            continue
        if not options.prune:
            skipped.append((key, "pruning is disabled"))
            continue
        prune_tasks.append(
            SyncTask(key, obj, "Sync", _wave_of(obj, key, False), "prune", (), (), res_options)
        )
    _mirror_prune_waves(prune_tasks)
    if prune_tasks and (
        options.prune_last or any(t.option("PruneLast") == "true" for t in prune_tasks)
    ):
        last = max((t.wave for t in tasks if t.phase == "Sync"), default=0)
        prune_tasks = [
            _with_wave(t, last + 1) if options.prune_last or t.option("PruneLast") == "true" else t
            for t in prune_tasks
        ]
    return prune_tasks


def _with_wave(task: SyncTask, wave: int) -> SyncTask:
    return SyncTask(
        task.key,
        task.obj,
        task.phase,
        wave,
        task.action,
        task.hook_types,
        task.delete_policies,
        task.options,
    )


def _mirror_prune_waves(prune_tasks: list[SyncTask]) -> None:
    """Swap prune waves symmetrically so pruning undoes creation order (gitops-engine's rule)."""
    waves = sorted({t.wave for t in prune_tasks})
    mirror = {w: waves[len(waves) - 1 - i] for i, w in enumerate(waves)}
    for i, task in enumerate(prune_tasks):
        prune_tasks[i] = _with_wave(task, mirror[task.wave])
