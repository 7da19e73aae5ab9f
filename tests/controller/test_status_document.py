"""The Application status document: reading it (any shape) and building it, with plain data."""

from __future__ import annotations

from typing import Any

from tether.controller.comparison import assess
from tether.controller.status import (
    OUT_OF_SYNC,
    UNKNOWN,
    compared_update,
    conditions,
    history_after,
    next_status,
    read_operation,
    read_status,
    summary,
    sync_word,
)
from tether.engine.diff import AppDiff, ResourceDiff, SyncStatus
from tether.resources import ResourceKey


def test_reading_any_shape_gives_defaults_never_an_error() -> None:
    for junk in (None, 1, "x", [], {"status": 3}, {"status": {"sync": [], "history": "x"}}):
        st = read_status(junk)  # type: ignore[arg-type]
        assert (st.sync, st.health, st.history, st.operation) == (UNKNOWN, UNKNOWN, (), None)
    st = read_status(
        {
            "status": {
                "sync": {"status": "Synced", "revision": "abc"},
                "health": {"status": "Degraded", "message": "crash"},
                "operationState": {
                    "phase": "Failed",
                    "retryCount": "2",
                    "syncResult": {"revision": "abc", "source": {"path": "p"}},
                },
                "history": [{"id": 3, "revision": "abc"}, "junk"],
                "resources": [{"kind": "ConfigMap", "name": "c", "status": "Unknown"}],
                "conditions": [{"type": "ComparisonError", "message": "m"}],
            }
        }
    )
    assert (st.sync, st.revision, st.health, st.health_message) == (
        "Synced",
        "abc",
        "Degraded",
        "crash",
    )
    assert st.operation is not None and st.operation.failed and st.operation.retry_count == 2
    assert dict(st.operation.source) == {"path": "p"}
    assert [h.id for h in st.history] == [3]
    assert st.resources[0].status == "Unknown"
    assert st.condition("ComparisonError") is not None


def test_a_resource_that_could_not_be_compared_is_unknown_not_out_of_sync() -> None:
    assert sync_word(SyncStatus.SYNCED) == "Synced"
    assert sync_word(SyncStatus.UNKNOWN) == "Unknown"
    for status in (SyncStatus.OUT_OF_SYNC, SyncStatus.MISSING, SyncStatus.EXTRANEOUS):
        assert sync_word(status) == OUT_OF_SYNC


def test_conditions_keep_their_time_while_the_message_holds_and_clear_when_gone() -> None:
    status = {
        "conditions": [{"type": "ComparisonError", "message": "m", "lastTransitionTime": "t0"}]
    }
    same = conditions(status, [("ComparisonError", "m")], now="t1")
    assert same == [{"type": "ComparisonError", "message": "m", "lastTransitionTime": "t0"}]
    changed = conditions(status, [("ComparisonError", "other")], now="t1")
    assert changed[0]["lastTransitionTime"] == "t1"
    assert conditions(status, []) == []  # the comparison's own kinds go when not wanted
    kept = {"conditions": [{"type": "SyncError", "message": "s"}]}
    assert conditions(kept, []) == [{"type": "SyncError", "message": "s"}]
    assert conditions(kept, [], drop=("SyncError",)) == []


def test_an_unchanged_status_is_not_written_again() -> None:
    old = {"sync": {"status": "Synced"}, "reconciledAt": "t0"}
    assert next_status(old, {"sync": {"status": "Synced"}}) is None
    new = next_status(old, {"sync": {"status": "OutOfSync"}})
    assert new is not None and new["reconciledAt"] != "t0"


def test_history_appends_caps_and_records_a_resumed_operation_once() -> None:
    entry = {"revision": "r2", "deployStartedAt": "t", "deployedAt": "t2", "source": {}}
    history = [{"id": i, "revision": f"r{i}", "deployStartedAt": f"s{i}"} for i in range(3)]
    after = history_after(history, entry, limit=3)
    assert [h["id"] for h in after] == [1, 2, 3]
    # the same operation, resumed after a crash, once its result was recorded
    assert history_after(after, entry, limit=10, resumed=True) == after
    assert len(history_after(history, entry, limit=0)) == 4


def test_two_operations_to_one_revision_in_the_same_second_are_both_recorded() -> None:
    rollback = {
        "revision": "r1",
        "deployStartedAt": "2026-12-05T11:00:00Z",
        "initiatedBy": {"username": "admin"},
    }
    heal = {**rollback, "initiatedBy": {"automated": True}}  # the drift reverted right after
    history = history_after([], rollback, limit=10)
    assert [h["initiatedBy"] for h in history_after(history, heal, limit=10)] == [
        {"username": "admin"},
        {"automated": True},
    ]


def test_a_rollback_started_in_the_second_of_the_first_sync_is_recorded() -> None:
    first = {
        "revision": "r1",
        "deployStartedAt": "2026-12-05T11:00:00Z",
        "initiatedBy": {"username": "admin"},
    }
    history = history_after([], first, limit=10)
    history = history_after(history, {**first, "revision": "r2"}, limit=10)
    rolled = history_after(history, first, limit=10)  # same user, revision and second
    assert [(h["id"], h["revision"]) for h in rolled] == [(0, "r1"), (1, "r2"), (2, "r1")]


def test_summary_lists_the_images_of_every_workload_kind() -> None:
    deployment = {
        "kind": "Deployment",
        "spec": {"template": {"spec": {"containers": [{"image": "a:1"}]}}},
    }
    cronjob = {
        "kind": "CronJob",
        "spec": {
            "jobTemplate": {"spec": {"template": {"spec": {"initContainers": [{"image": "b:2"}]}}}}
        },
    }
    pod = {"kind": "Pod", "spec": {"containers": [{"image": "c:3"}]}}
    assert summary([deployment, cronjob, pod, {"kind": "ConfigMap"}]) == {
        "images": ["a:1", "b:2", "c:3"]
    }
    assert summary([{"kind": "Deployment", "spec": "junk"}]) == {}


def _cm(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "n"}}


def test_assess_reports_resources_health_and_errors_from_a_diff() -> None:
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "n", "generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                   "availableReplicas": 1, "readyReplicas": 1},
    }  # fmt: skip
    keys = {
        name: ResourceKey.of(obj)
        for name, obj in (("web", deploy), ("a", _cm("a")), ("b", _cm("b")))
    }
    diff = AppDiff(
        (
            ResourceDiff(keys["web"], SyncStatus.SYNCED),
            ResourceDiff(keys["a"], SyncStatus.UNKNOWN, error="dry run refused"),
            ResourceDiff(keys["b"], SyncStatus.EXTRANEOUS),
        )
    )
    live = {keys["web"]: deploy, keys["b"]: _cm("b")}
    entries, health, errors = assess(diff, live, [deploy, _cm("a")], None)
    assert [(e["kind"], e["name"], e["status"]) for e in entries] == [
        ("ConfigMap", "a", "Unknown"),
        ("ConfigMap", "b", "OutOfSync"),
        ("Deployment", "web", "Synced"),
    ]
    assert entries[1]["requiresPruning"] is True
    assert entries[2]["group"] == "apps" and entries[2]["health"]["status"] == "Healthy"
    assert health.status == "Missing"  # ConfigMap a is desired and not live
    assert errors == ["ConfigMap n/a: dry run refused"]


def test_the_compared_document_names_every_problem_in_one_condition() -> None:
    update = compared_update(
        {},
        sync_status="OutOfSync",
        commit="abc",
        source={"repoURL": "u"},
        destination={"namespace": "n"},
        health_status="Progressing",
        health_message="rolling",
        resources=[],
        problems=["git is away", "Widget (x/v1) unknown"],
        tool="Kustomize",
        desired=[],
        namespace="argocd",
    )
    assert update["sync"] == {
        "status": "OutOfSync",
        "revision": "abc",
        "comparedTo": {"source": {"repoURL": "u"}, "destination": {"namespace": "n"}},
    }
    assert update["health"] == {"status": "Progressing", "message": "rolling"}
    assert [c["message"] for c in update["conditions"]] == ["git is away; Widget (x/v1) unknown"]
    assert update["sourceType"] == "Kustomize"


def test_the_operation_alone_reads_as_in_the_whole_status() -> None:
    for junk in (None, {}, {"status": []}, {"status": {"operationState": "x"}}):
        assert read_operation(junk) is None  # type: ignore[arg-type]
    app = {
        "status": {
            "operationState": {
                "phase": "Succeeded",
                "message": "successfully synced",
                "startedAt": "2026-12-05T10:00:00Z",
                "finishedAt": "2026-12-05T10:00:02Z",
                "syncResult": {"revision": "abc"},
            },
            "resources": [{"kind": "ConfigMap", "name": "x"}],
        }
    }
    operation = read_operation(app)
    assert operation is not None and operation == read_status(app).operation
    assert (operation.phase, operation.finished_at) == ("Succeeded", "2026-12-05T10:00:02Z")
