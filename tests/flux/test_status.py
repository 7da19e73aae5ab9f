"""Flux's status shapes: revisions, conditions, inventory; and dependsOn."""

from __future__ import annotations

from typing import Any

import pytest

from tether.flux import depends, status
from tether.flux.specs import ObjectRef
from tether.resources import ResourceKey

SHA = "1eabc9a41ca088515cab83f1cce49eb43e84b67f"


def test_revisions_as_flux_spells_them() -> None:
    assert status.git_revision("main", SHA) == f"main@sha1:{SHA}"
    assert status.git_revision(None, SHA) == f"sha1:{SHA}"
    assert status.git_revision("v1.0", "ab" * 32) == f"v1.0@sha256:{'ab' * 32}"
    assert status.revision_commit(f"main@sha1:{SHA}") == SHA
    assert status.revision_commit(f"sha1:{SHA}") == SHA
    assert status.revision_commit(f"main/{SHA}") == SHA  # Flux's older form


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    first = status.conditions([], [("Ready", False, "Progressing", "working")], 1, "T1")
    assert first == [
        {
            "type": "Ready",
            "status": "False",
            "observedGeneration": 1,
            "lastTransitionTime": "T1",
            "reason": "Progressing",
            "message": "working",
        }
    ]
    same = status.conditions(first, [("Ready", False, "BuildFailed", "bad")], 2, "T2")
    assert same[0]["lastTransitionTime"] == "T1" and same[0]["reason"] == "BuildFailed"
    flipped = status.conditions(
        same,
        [("Healthy", True, "Succeeded", "ok"), ("Ready", True, "ReconciliationSucceeded", "ok")],
        2,
        "T3",
    )
    assert [c["type"] for c in flipped] == ["Ready", "Healthy"]  # Ready first
    assert flipped[0]["lastTransitionTime"] == "T3"
    long = status.condition([], "Ready", False, "BuildFailed", "x" * 10_000, 1, "T")
    assert len(long["message"]) == status.MAX_MESSAGE


def _obj(
    ready: bool | None, generation: int = 1, observed: int = 1, **extra: Any
) -> dict[str, Any]:
    conditions = (
        [] if ready is None else [{"type": "Ready", "status": "True" if ready else "False"}]
    )
    return {
        "metadata": {"name": "infra", "namespace": "flux-system", "generation": generation},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
        "status": {"observedGeneration": observed, "conditions": conditions, **extra},
    }


def test_readiness_is_for_the_current_generation() -> None:
    assert status.is_ready(_obj(True))
    assert not status.is_ready(_obj(False))
    assert not status.is_ready(_obj(None))
    assert not status.is_ready(_obj(True, generation=2, observed=1))


def test_inventory_ids_round_trip() -> None:
    keys = [
        (ResourceKey("apps", "Deployment", "web", "podinfo"), "v1"),
        (ResourceKey("", "Namespace", "", "web"), "v1"),
        (ResourceKey("", "Service", "web", "podinfo"), "v1"),
    ]
    inv = status.inventory(keys)
    assert [e["id"] for e in inv["entries"]] == [
        "_web__Namespace",
        "web_podinfo__Service",
        "web_podinfo_apps_Deployment",
    ]
    assert sorted(status.inventory_keys({"inventory": inv})) == sorted(keys)
    assert status.inventory_keys({}) == []
    with pytest.raises(status.InventoryError, match="not <namespace>_<name>_<group>_<kind>"):
        status.inventory_keys(
            {"inventory": {"entries": [{"id": "web_podinfo_Deployment", "v": "v1"}]}}
        )


SOURCE = ObjectRef("GitRepository", "flux-system", "flux-system")
DEP = (ObjectRef("Kustomization", "infra", "flux-system"),)


def test_a_dependency_holds_until_ready_at_the_source_s_revision() -> None:
    def lookup(found: dict[str, Any] | None) -> Any:
        return lambda key: found

    rev = f"main@sha1:{SHA}"
    assert (
        depends.blocking(DEP, lookup(None), SOURCE, rev)
        == "dependency 'flux-system/infra' not found"
    )
    assert depends.blocking(DEP, lookup(_obj(False)), SOURCE, rev) == (
        "dependency 'flux-system/infra' is not ready"
    )
    stale = _obj(True, lastAppliedRevision=f"main@sha1:{'0' * 40}")
    assert depends.blocking(DEP, lookup(stale), SOURCE, rev) == (
        "dependency 'flux-system/infra' revision is not up to date"
    )
    other_source = ObjectRef("GitRepository", "apps", "flux-system")
    assert depends.blocking(DEP, lookup(stale), other_source, rev) is None
    assert depends.blocking(DEP, lookup(_obj(True, lastAppliedRevision=rev)), SOURCE, rev) is None


def test_cycles_are_found_and_named() -> None:
    graph = {
        ("ns", "a"): [("ns", "b")],
        ("ns", "b"): [("ns", "c"), ("ns", "d")],
        ("ns", "c"): [("ns", "a")],
        ("ns", "d"): [],
        ("ns", "e"): [("ns", "a")],
    }
    edges = lambda key: graph.get(key, [])  # noqa: E731
    cycle = depends.cycle_through(("ns", "a"), edges)
    assert cycle == [("ns", "a"), ("ns", "b"), ("ns", "c"), ("ns", "a")]
    assert depends.describe_cycle(cycle) == "dependency cycle: ns/a -> ns/b -> ns/c -> ns/a"
    assert depends.cycle_through(("ns", "e"), edges) is None  # waits on a cycle, is not on it
    assert depends.cycle_through(("ns", "d"), edges) is None
    assert depends.cycle_through(("ns", "x"), lambda key: [key]) == [("ns", "x"), ("ns", "x")]
    chain = {("ns", str(i)): [("ns", str(i + 1))] for i in range(10_000)}
    assert depends.cycle_through(("ns", "0"), lambda key: chain.get(key, [])) is None


def test_history_counts_the_same_outcome_and_keeps_five() -> None:
    from tether.flux.status import record_history

    history = record_history([], "sha256:a", "ReconciliationSucceeded", "t1", 1.25, "main@sha1:1")
    history = record_history(
        history, "sha256:a", "ReconciliationSucceeded", "t2", 0.5, "main@sha1:1"
    )
    assert len(history) == 1
    assert history[0]["totalReconciliations"] == 2
    assert (history[0]["firstReconciled"], history[0]["lastReconciled"]) == ("t1", "t2")
    assert history[0]["lastReconciledDuration"] == "0.5s"
    history = record_history(history, "sha256:a", "HealthCheckFailed", "t3", 2, "main@sha1:1")
    assert [h["lastReconciledStatus"] for h in history] == [
        "HealthCheckFailed",
        "ReconciliationSucceeded",
    ]
    for i in range(10):
        history = record_history(
            history, f"sha256:{i}", "ReconciliationSucceeded", f"u{i}", 1, f"r{i}"
        )
    assert len(history) == 5 and history[0]["metadata"]["revision"] == "r9"
