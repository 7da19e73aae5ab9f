"""Which notifications a change fires, and the state that keeps each from being sent twice: once
per oncePer value, again after the condition stopped holding, again after a failed send."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tether.notify.config import Condition, Subscription, Trigger
from tether.notify.firing import (
    STATE_ANNOTATION,
    decide,
    evaluate_trigger,
    failed,
    read_state,
    write_state,
)

# the two expressions these tests use, evaluated by hand (the expression language has its own
# tests): whether the last operation succeeded, and the synced revision
SUCCEEDED = "app.status.operationState.phase in ['Succeeded']"
REVISION = "app.status.sync.revision"


def evaluate(expression: str, env: Mapping[str, Any]) -> Any:
    status = env["app"].get("status") or {}
    if expression == SUCCEEDED:
        return (status.get("operationState") or {}).get("phase") == "Succeeded"
    if expression == REVISION:
        return (status.get("sync") or {}).get("revision")
    if expression == "not-a-bool":
        return "yes"
    raise AssertionError(expression)


TRIGGER = Trigger("on-sync-succeeded", (Condition(SUCCEEDED, ("app-sync-succeeded",), REVISION),))
SLACK = Subscription("on-sync-succeeded", "slack", "deploys")
MAIL = Subscription("on-sync-succeeded", "email", "ops@example.com")


def app(phase: str, revision: str) -> dict[str, Any]:
    return {"status": {"operationState": {"phase": phase}, "sync": {"revision": revision}}}


def step(
    state: dict[str, int], phase: str, revision: str, now: int = 1
) -> tuple[list[str], dict[str, int]]:
    results, _ = evaluate_trigger(TRIGGER, {"app": app(phase, revision)}, evaluate)
    sent, state = decide(TRIGGER.name, results, [SLACK, MAIL], state, now)
    return [f"{n.destination.service}:{n.templates[0]}" for n in sent], state


def test_once_per_revision_to_each_destination() -> None:
    sent, state = step({}, "Succeeded", "a1")
    assert sent == ["slack:app-sync-succeeded", "email:app-sync-succeeded"]
    assert step(state, "Succeeded", "a1")[0] == []  # the same revision: nothing again
    sent, state = step(state, "Succeeded", "b2")  # a new revision fires again
    assert len(sent) == 2 and len(state) == 4


def test_a_condition_that_stops_holding_fires_again_later() -> None:
    _, state = step({}, "Succeeded", "a1")
    _, state = step(state, "Running", "a1")
    # not triggered: the current revision's keys are dropped (Argo CD's rule)
    assert step(state, "Succeeded", "a1")[0] == [
        "slack:app-sync-succeeded",
        "email:app-sync-succeeded",
    ]


def test_a_failed_send_is_tried_again_at_the_next_change() -> None:
    results, _ = evaluate_trigger(TRIGGER, {"app": app("Succeeded", "a1")}, evaluate)
    sent, state = decide(TRIGGER.name, results, [SLACK], {}, 1)
    state = failed(state, sent[0])
    again, _ = decide(TRIGGER.name, results, [SLACK], state, 2)
    assert [n.key for n in again] == [sent[0].key]


def test_the_state_survives_in_the_annotation_and_stays_bounded() -> None:
    _, state = step({}, "Succeeded", "a1", now=100)
    stored = {"metadata": {"annotations": {STATE_ANNOTATION: write_state(state)}}}
    assert read_state(stored) == state
    assert step(read_state(stored), "Succeeded", "a1")[0] == []  # a restart resends nothing
    many = {f"k{i}": i for i in range(5000)}
    kept = read_state({"metadata": {"annotations": {STATE_ANNOTATION: write_state(many)}}})
    assert len(kept) == 1000 and min(kept.values()) == 4000
    assert read_state({"metadata": {"annotations": {STATE_ANNOTATION: "{broken"}}}) == {}


def test_a_condition_that_is_not_a_bool_does_not_hold_and_is_reported() -> None:
    trigger = Trigger("t", (Condition("not-a-bool", ("x",)),))
    results, problems = evaluate_trigger(trigger, {"app": {}}, evaluate)
    assert [r.triggered for r in results] == [False]
    assert problems == ["trigger t[0]: `when` gave str, not a bool"]
