"""Progressive syncs, the decisions: staging then production in two steps, maxUpdate as a number
and a percentage, a broken staging Application holding production (and saying which), apps that
match no step left alone."""

from __future__ import annotations

import pytest

from tether.appsets.errors import AppSetError
from tether.appsets.rollout import AppState, decide, steps_of

SET = {
    "spec": {
        "strategy": {
            "type": "RollingSync",
            "rollingSync": {
                "steps": [
                    {"matchExpressions": [{"key": "env", "operator": "In",
                                           "values": ["staging"]}]},
                    {"matchExpressions": [{"key": "env", "operator": "In",
                                           "values": ["production"]}], "maxUpdate": "50%"},
                ]
            },
        }
    }
}  # fmt: skip
STEPS = steps_of(SET)


def app(name: str, env: str, sync: str = "OutOfSync", health: str = "Healthy",
        phase: str = "") -> AppState:  # fmt: skip
    return AppState(name, {"env": env} if env else {}, sync, health, phase)


def test_staging_first_then_production_half_at_a_time() -> None:
    assert STEPS is not None
    fleet = [app("stg-a", "staging"), app("stg-b", "staging"), app("prod-a", "production"),
             app("prod-b", "production"), app("prod-c", "production"),
             app("prod-d", "production"), app("loose", "")]  # fmt: skip
    first = decide(STEPS, fleet)
    assert first.sync == ("stg-a", "stg-b")
    status = {s.name: (s.status, s.step) for s in first.statuses}
    assert status["prod-a"] == ("Waiting", 2) and status["loose"] == ("Waiting", 0)
    # staging synced and healthy: production starts, two of four at a time
    done = [app(a.name, a.labels.get("env", ""), "Synced") if a.name.startswith("stg") else a
            for a in fleet]  # fmt: skip
    second = decide(STEPS, done)
    assert second.sync == ("prod-a", "prod-b")
    # two syncing: no room until they finish
    syncing = [app(a.name, "production", "OutOfSync", phase="Running")
               if a.name in ("prod-a", "prod-b") else a for a in done]  # fmt: skip
    assert decide(STEPS, syncing).sync == ()


def test_a_broken_staging_app_holds_production() -> None:
    assert STEPS is not None
    fleet = [app("stg-a", "staging", "Synced", "Degraded"), app("stg-b", "staging", "Synced"),
             app("prod-a", "production")]  # fmt: skip
    decision = decide(STEPS, fleet)
    assert decision.sync == ()
    assert decision.held == "step 1 is held: Application stg-a failed"
    status = {s.name: s for s in decision.statuses}
    assert status["prod-a"].status == "Waiting" and "stg-a failed" in status["prod-a"].message
    # a sync that failed at the revision wanted is not tried again; a new revision is
    failed = AppState("stg-a", {"env": "staging"}, "OutOfSync", "Healthy", "Failed", True)
    assert decide(STEPS, [failed, app("prod-a", "production")]).sync == ()
    moved = AppState("stg-a", {"env": "staging"}, "OutOfSync", "Degraded", "Failed", False)
    assert decide(STEPS, [moved, app("prod-a", "production")]).sync == ("stg-a",)


def test_bad_strategies_are_refused() -> None:
    assert steps_of({"spec": {}}) is None
    assert steps_of({"spec": {"strategy": {"type": "AllAtOnce"}}}) is None
    with pytest.raises(AppSetError, match="RollingSync"):
        steps_of({"spec": {"strategy": {"type": "Canary"}}})
    with pytest.raises(AppSetError, match="at least one step"):
        steps_of({"spec": {"strategy": {"type": "RollingSync", "rollingSync": {"steps": []}}}})
