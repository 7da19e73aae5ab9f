"""Sync planning: Argo CD's phase → wave → kind → name order, hooks and prunes."""

from __future__ import annotations

from typing import Any

import pytest

from tether.engine.plan import PlanError, SyncOptions, plan_sync


def obj(
    kind: str, name: str, api_version: str = "v1", wave: int | None = None, **annotations: str
) -> dict[str, Any]:
    ann = dict(annotations)
    if wave is not None:
        ann["argocd.argoproj.io/sync-wave"] = str(wave)
    meta: dict[str, Any] = {"name": name, "namespace": "app"}
    if ann:
        meta["annotations"] = ann
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def hook(
    kind: str, name: str, hook_type: str, policy: str | None = None, wave: int | None = None
) -> dict[str, Any]:
    o = obj(kind, name, "batch/v1" if kind == "Job" else "v1", wave)
    ann = o["metadata"].setdefault("annotations", {})
    ann["argocd.argoproj.io/hook"] = hook_type
    if policy:
        ann["argocd.argoproj.io/hook-delete-policy"] = policy
    return o


def order(plan: Any) -> list[str]:
    return [f"{t.phase}/{t.wave}/{t.action}/{t.key.kind}/{t.key.name}" for t in plan.tasks]


def test_kinds_sort_in_argo_cd_install_order_within_a_wave() -> None:
    desired = [
        obj("Deployment", "web", "apps/v1"),
        obj("Widget", "w", "example.com/v1"),
        obj("Service", "web"),
        obj("ConfigMap", "b"),
        obj("ConfigMap", "a"),
        obj("Namespace", "app"),
        obj("CustomResourceDefinition", "widgets.example.com", "apiextensions.k8s.io/v1"),
        obj("ServiceAccount", "sa"),
        obj("Ingress", "web", "networking.k8s.io/v1"),
    ]
    assert [t.key.kind + "/" + t.key.name for t in plan_sync(desired).tasks] == [
        "Namespace/app",
        "ConfigMap/a",
        "ConfigMap/b",
        "ServiceAccount/sa",
        "CustomResourceDefinition/widgets.example.com",
        "Service/web",
        "Deployment/web",
        "Ingress/web",
        "Widget/w",
    ]


def test_three_waves_with_presync_and_postsync_hooks_and_a_prune() -> None:
    desired = [
        obj("Deployment", "backend", "apps/v1", wave=1),
        obj("Deployment", "frontend", "apps/v1", wave=2),
        obj("ConfigMap", "config", wave=0),
        hook("Job", "migrate", "PreSync"),
        hook("Job", "smoke", "PostSync", "HookSucceeded"),
        hook("Job", "cleanup", "SyncFail"),
    ]
    gone = [obj("ConfigMap", "old", wave=1)]
    plan = plan_sync(desired, gone, SyncOptions(prune=True))
    assert order(plan) == [
        "PreSync/0/hook/Job/migrate",
        "Sync/0/apply/ConfigMap/config",
        "Sync/1/prune/ConfigMap/old",
        "Sync/1/apply/Deployment/backend",
        "Sync/2/apply/Deployment/frontend",
        "PostSync/0/hook/Job/smoke",
        "SyncFail/0/hook/Job/cleanup",
    ]
    assert [w for w, _ in plan.waves("Sync")] == [0, 1, 2]
    smoke = next(t for t in plan.tasks if t.key.name == "smoke")
    assert smoke.delete_policies == ("HookSucceeded",)
    migrate = next(t for t in plan.tasks if t.key.name == "migrate")
    assert migrate.delete_policies == ("BeforeHookCreation",)  # Argo CD's implicit default


def test_prunes_run_in_mirrored_wave_order_and_prune_last_goes_after_everything() -> None:
    desired = [obj("ConfigMap", "keep", wave=5)]
    gone = [
        obj("ConfigMap", "first-created", wave=-1),
        obj("ConfigMap", "mid", wave=1),
        obj("ConfigMap", "last-created", wave=3),
    ]
    plan = plan_sync(desired, gone, SyncOptions(prune=True))
    prunes = [(t.key.name, t.wave) for t in plan.tasks if t.action == "prune"]
    waves = {name: wave for name, wave in prunes}
    assert waves == {"first-created": 3, "mid": 1, "last-created": -1}
    last = plan_sync(desired, gone, SyncOptions(prune=True, prune_last=True))
    assert {t.wave for t in last.tasks if t.action == "prune"} == {6}
    assert last.tasks[-1].action == "prune"


def test_prune_disabled_or_prune_false_skips_with_a_reason() -> None:
    gone = [
        obj("ConfigMap", "old"),
        obj("ConfigMap", "protected", **{"argocd.argoproj.io/sync-options": "Prune=false"}),
    ]
    plan = plan_sync([], gone, SyncOptions(prune=False))
    assert plan.tasks == []
    assert {(k.name, why) for k, why in plan.skipped} == {
        ("old", "pruning is disabled"),
        ("protected", "Prune=false"),
    }
    plan = plan_sync([], gone, SyncOptions(prune=True))
    assert [t.key.name for t in plan.tasks] == ["old"]


def test_helm_hooks_map_to_argo_phases_and_weights() -> None:
    pre = obj("Job", "db-init", "batch/v1")
    pre["metadata"]["annotations"] = {
        "helm.sh/hook": "pre-install,pre-upgrade",
        "helm.sh/hook-weight": "-5",
        "helm.sh/hook-delete-policy": "hook-succeeded",
    }
    test = obj("Pod", "test-connection")
    test["metadata"]["annotations"] = {"helm.sh/hook": "test"}
    both = obj("Job", "argo-wins", "batch/v1")
    both["metadata"]["annotations"] = {
        "helm.sh/hook": "post-install",
        "argocd.argoproj.io/hook": "PreSync",
    }
    plan = plan_sync([pre, test, both])
    assert order(plan) == ["PreSync/-5/hook/Job/db-init", "PreSync/0/hook/Job/argo-wins"]
    assert plan.tasks[0].delete_policies == ("HookSucceeded",)
    assert [(k.name, why) for k, why in plan.skipped] == [("test-connection", "hook type Skip")]


def test_duplicate_identity_and_bad_wave_are_clear_errors() -> None:
    with pytest.raises(PlanError, match="ConfigMap app/a appears more than once"):
        plan_sync([obj("ConfigMap", "a"), obj("ConfigMap", "a")])
    with pytest.raises(PlanError, match="sync-wave must be an integer"):
        plan_sync([obj("ConfigMap", "a", **{"argocd.argoproj.io/sync-wave": "soon"})])


def test_sync_options_parse_argo_cd_names() -> None:
    options = SyncOptions.parse(
        [
            "CreateNamespace=true",
            "PruneLast=true,ApplyOutOfSyncOnly=true",
            "ServerSideApply=false",
            "PrunePropagationPolicy=background",
        ],
        prune=True,
    )
    assert options.create_namespace and options.prune_last and options.apply_out_of_sync_only
    assert not options.server_side_apply
    assert options.prune_propagation_policy == "background"
    assert options.prune
