"""The rules of a sync request, on plain data: selection, prune candidates, ApplyOutOfSyncOnly,
hooks of partial syncs, RespectIgnoreDifferences (no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from tether.engine.errors import IgnoreRuleError
from tether.engine.ignore import IgnoreRule, parse_ignore_differences
from tether.engine.plan import PlanError, SyncOptions, plan_sync
from tether.engine.syncrequest import (
    SyncRequest,
    keys_to_skip,
    live_lookup,
    plan_request,
    prune_candidates,
    selected_desired,
    with_live_ignored_values,
)
from tether.names import HELM_HOOK_ANNOTATION, HOOK_ANNOTATION, SYNC_WAVE_ANNOTATION
from tether.resources import ResourceKey


def cm(name: str, namespace: str = "shop", **annotations: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": name}}


def hook_job(name: str, hook: str = "PreSync") -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "shop", "annotations": {HOOK_ANNOTATION: hook}},
    }


def names(objects: list[dict[str, Any]]) -> list[str]:
    return [o["metadata"]["name"] for o in objects]


def key(name: str, namespace: str = "shop") -> ResourceKey:
    return ResourceKey("", "ConfigMap", namespace, name)


# ---- selection -------------------------------------------------------------------------------


def test_without_a_selection_every_desired_object_is_synced() -> None:
    desired = [cm("a"), cm("b")]
    assert names(selected_desired(desired, None)) == ["a", "b"]
    assert names(selected_desired(desired, [])) == ["a", "b"]
    assert not SyncRequest(desired, resources=[]).partial


def test_a_selection_keeps_only_the_selected_desired_objects() -> None:
    desired = [cm("a"), cm("b"), cm("a", namespace="other")]
    assert names(selected_desired(desired, [key("a")])) == ["a"]
    assert SyncRequest(desired, resources=[key("a")]).partial


def test_a_selected_resource_without_namespace_selects_that_name_in_any_namespace() -> None:
    desired = [cm("a"), cm("b"), cm("a", namespace="other")]
    chosen = selected_desired(desired, [("", "ConfigMap", "", "a")])
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in chosen] == [
        ("shop", "a"),
        ("other", "a"),
    ]


# ---- prune candidates ------------------------------------------------------------------------


def test_prune_candidates_are_tracked_live_objects_that_left_git() -> None:
    live = [cm("kept"), cm("gone")]
    assert names(prune_candidates(live, [cm("kept")])) == ["gone"]


def test_hooks_are_never_prune_candidates() -> None:
    helm_hook = cm("helm-hook", **{HELM_HOOK_ANNOTATION: "pre-install"})
    live = [hook_job("migrate"), helm_hook, cm("gone")]
    assert names(prune_candidates(live, [])) == ["gone"]


def test_objects_owned_by_another_object_are_never_prune_candidates() -> None:
    child = cm("child")
    child["metadata"]["ownerReferences"] = [{"kind": "Deployment", "name": "web", "uid": "u1"}]
    assert names(prune_candidates([child, cm("gone")], [])) == ["gone"]


def test_objects_the_project_refuses_are_never_prune_candidates() -> None:
    live = [cm("inside"), cm("outside", namespace="kube-system")]

    def admit(obj: dict[str, Any]) -> str | None:
        ns = obj["metadata"]["namespace"]
        return None if ns == "shop" else f"namespace {ns} is not a destination"

    assert names(prune_candidates(live, [], admit=admit)) == ["inside"]


def test_a_partial_sync_prunes_only_live_objects_selected_by_their_exact_key() -> None:
    live = [cm("a"), cm("b"), cm("c")]
    selection = [key("a"), ("", "ConfigMap", "", "b")]
    assert names(prune_candidates(live, [], selection)) == ["a"]


# ---- ApplyOutOfSyncOnly ----------------------------------------------------------------------


def test_in_sync_keys_are_skipped_only_with_apply_out_of_sync_only() -> None:
    in_sync = {key("a")}
    assert keys_to_skip(SyncOptions(), in_sync) == frozenset()
    assert keys_to_skip(SyncOptions(apply_out_of_sync_only=True), in_sync) == {key("a")}
    parsed = SyncOptions.parse(["ApplyOutOfSyncOnly=true"])
    assert keys_to_skip(parsed, in_sync) == {key("a")}


# ---- planning a request ----------------------------------------------------------------------


def plan_order(request: SyncRequest) -> list[str]:
    plan = plan_request(request, selected_desired(request.desired, request.resources))
    return [f"{t.phase}/{t.action}/{t.key.name}" for t in plan.tasks]


def test_a_full_sync_runs_hooks_and_prunes_with_prune_on() -> None:
    request = SyncRequest(
        [hook_job("migrate"), cm("a")], live=[cm("gone")], options=SyncOptions(prune=True)
    )
    assert plan_order(request) == ["PreSync/hook/migrate", "Sync/apply/a", "Sync/prune/gone"]


def test_prune_candidates_are_only_listed_as_skipped_with_prune_off() -> None:
    request = SyncRequest([cm("a")], live=[cm("gone")])
    plan = plan_request(request, request.desired)
    assert [t.key.name for t in plan.tasks] == ["a"]
    assert plan.skipped == [(key("gone"), "pruning is disabled")]


def test_a_partial_sync_runs_no_hooks() -> None:
    desired = [hook_job("migrate"), cm("a"), cm("b")]
    request = SyncRequest(
        desired, live=[cm("a"), cm("gone")], resources=[key("a")], options=SyncOptions(prune=True)
    )
    assert plan_order(request) == ["Sync/apply/a"]


def test_a_partial_sync_prunes_a_selected_object_that_left_git() -> None:
    request = SyncRequest(
        [cm("a")],
        live=[cm("a"), cm("gone"), cm("other")],
        resources=[key("a"), key("gone")],
        options=SyncOptions(prune=True),
    )
    assert plan_order(request) == ["Sync/apply/a", "Sync/prune/gone"]


def test_skip_hooks_leaves_hooks_out_of_a_full_sync() -> None:
    request = SyncRequest([hook_job("migrate"), cm("a")], skip_hooks=True)
    assert plan_order(request) == ["Sync/apply/a"]


def test_leaving_hooks_out_keeps_what_the_plan_skipped() -> None:
    plan = plan_sync([hook_job("skipped", hook="Skip"), hook_job("migrate"), cm("a")])
    bare = plan.without_hooks()
    assert [t.key.name for t in bare.tasks] == ["a"]
    assert bare.skipped == plan.skipped and plan.skipped
    assert [t.key.name for t in plan.tasks] == ["migrate", "a"]  # the plan itself is unchanged


def test_an_unplannable_request_raises_plan_error_naming_the_object() -> None:
    bad = cm("bad", **{SYNC_WAVE_ANNOTATION: "soon"})
    with pytest.raises(PlanError, match="ConfigMap shop/bad"):
        plan_request(SyncRequest([bad]), [bad])


# ---- RespectIgnoreDifferences ----------------------------------------------------------------


def test_ignored_places_keep_the_live_value() -> None:
    desired, live = cm("a"), cm("a")
    live["data"] = {"k": "edited live"}
    rules = parse_ignore_differences([{"kind": "ConfigMap", "jsonPointers": ["/data/k"]}])
    lookup = live_lookup(SyncRequest([desired], live=[live]))
    kept = with_live_ignored_values([desired], lookup, rules)
    assert kept[0]["data"] == {"k": "edited live"}
    assert desired["data"] == {"k": "a"}


def test_live_of_is_where_ignored_values_come_from_when_given() -> None:
    untracked = cm("a")
    untracked["data"] = {"k": "from the cache"}
    request = SyncRequest([cm("a")], live=[], live_of={key("a"): untracked}.get)
    assert live_lookup(request)(key("a")) is untracked
    assert live_lookup(SyncRequest([cm("a")], live=[]))(key("a")) is None


def test_an_unreadable_ignore_rule_raises_its_message() -> None:
    broken = IgnoreRule(kind="ConfigMap", error="argocd-cm key x: not YAML")
    lookup = live_lookup(SyncRequest([cm("a")], live=[cm("a")]))
    with pytest.raises(IgnoreRuleError, match="argocd-cm key x: not YAML"):
        with_live_ignored_values([cm("a")], lookup, [broken])
