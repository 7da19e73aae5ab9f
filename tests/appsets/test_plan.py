"""What applying a set's Applications would do: ownership by owner reference, the four
applicationsSync policies, preserved annotations and labels, ignored differences, and no write
when nothing changed."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tether.appsets.errors import AppSetError
from tether.appsets.plan import owner_reference, plan

UID = "set-uid"


def appset(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "shop", "namespace": "argocd", "uid": UID}, "spec": spec}


def app(name: str, path: str = "p", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd", **meta},
        "spec": {"project": "default", "source": {"repoURL": "https://r", "path": path},
                 "destination": {"server": "https://kubernetes.default.svc"}},
    }  # fmt: skip


def owned(name: str, path: str = "p", **meta: Any) -> dict[str, Any]:
    return app(name, path, ownerReferences=[owner_reference(appset())], **meta)


def test_create_update_delete_and_nothing_when_unchanged() -> None:
    existing = {"same": owned("same"), "moved": owned("moved", "old"), "gone": owned("gone"),
                "mine": app("mine")}  # fmt: skip
    desired = [app("same"), app("moved", "new"), app("new"), app("mine")]
    found = plan(appset(), desired, existing)
    assert [a["metadata"]["name"] for a in found.create] == ["new"]
    assert found.create[0]["metadata"]["ownerReferences"][0]["uid"] == UID
    assert [a["spec"]["source"]["path"] for a in found.update] == ["new"]
    assert found.delete == ("gone",) and found.unchanged == ("same",)
    assert found.conflicts == ("mine",)  # someone else's Application is never taken over


@pytest.mark.parametrize(
    ("policy", "updates", "deletes"),
    [("sync", 1, 1), ("create-update", 1, 0), ("create-delete", 0, 1), ("create-only", 0, 0)],
)
def test_the_policies(policy: str, updates: int, deletes: int) -> None:
    existing = {"moved": owned("moved", "old"), "gone": owned("gone")}
    found = plan(appset(syncPolicy={"applicationsSync": policy}), [app("moved", "new")], existing)
    assert (len(found.update), len(found.delete)) == (updates, deletes)
    assert len(found.held) == 2 - updates - deletes


def test_preserved_fields_and_ignored_differences_are_kept() -> None:
    live = owned("web", annotations={"argocd.argoproj.io/refresh": "hard", "team": "a",
                                     "other": "x"}, labels={"tier": "1"})  # fmt: skip
    live["spec"]["syncPolicy"] = {"automated": {"prune": True}}  # set by hand
    spec = {"preservedFields": {"annotations": ["team"], "labels": ["tier"]},
            "ignoreApplicationDifferences": [{"jsonPointers": ["/spec/syncPolicy"]}]}  # fmt: skip
    desired = app("web", annotations={"owner": "shop"})
    found = plan(appset(**spec), [desired], {"web": live})
    (updated,) = found.update
    assert updated["metadata"]["annotations"] == {
        "owner": "shop", "argocd.argoproj.io/refresh": "hard", "team": "a"
    }  # fmt: skip
    assert updated["metadata"]["labels"] == {"tier": "1"}
    assert updated["spec"]["syncPolicy"] == {"automated": {"prune": True}}
    # applied once, the next plan has nothing to do
    again = plan(appset(**spec), [desired], {"web": copy.deepcopy(updated)})
    assert again.unchanged == ("web",) and not again.update


def test_unsupported_rules_are_refused_clearly() -> None:
    with pytest.raises(AppSetError, match="jqPathExpressions are not supported yet"):
        plan(appset(ignoreApplicationDifferences=[{"jqPathExpressions": [".spec"]}]),
             [app("web")], {"web": owned("web", "old")})  # fmt: skip
    with pytest.raises(AppSetError, match="applicationsSync must be one of"):
        plan(appset(syncPolicy={"applicationsSync": "everything"}), [], {})


def test_requeue_follows_the_shortest_generator_request() -> None:
    from tether.controller.appsets import requeue_after

    spec = {"generators": [
        {"git": {"repoURL": "r", "requeueAfterSeconds": 600}},
        {"matrix": {"generators": [{"pullRequest": {"requeueAfterSeconds": 30}}, {"list": {}}]}},
    ]}  # fmt: skip
    assert requeue_after({"spec": spec}, 180) == 30
    assert requeue_after({"spec": {"generators": [{"list": {}}]}}, 180) == 180
    fast = {"generators": [{"pullRequest": {"requeueAfterSeconds": 1}}]}
    assert requeue_after({"spec": fast}, 180) == 10  # never a tight loop
