"""The automated sync policy as a pure decision, with plain data (no cluster, no clock)."""

from __future__ import annotations

from typing import Any

import yaml

from tests.controller.test_crds import PAYMENT_SERVICE
from tether.controller import models
from tether.controller.autosync import Decision, HealBackoff, HealSettings, decide
from tether.controller.status import read_status

COMMIT = "a" * 40
SETTINGS = HealSettings(first_delay=0.2, max_delay=60.0)


def application(**sync_policy: Any) -> models.Application:
    doc = yaml.safe_load(PAYMENT_SERVICE)
    doc["spec"]["syncPolicy"] = sync_policy
    return models.parse_application(doc)


def status(phase: str | None = None, revision: str = COMMIT, **state: Any) -> Any:
    app = models.parse_application(yaml.safe_load(PAYMENT_SERVICE))
    assert app.spec.source is not None
    doc: dict[str, Any] = {"status": {}}
    if phase is not None:
        doc["status"]["operationState"] = {
            "phase": phase,
            "syncResult": {"revision": revision, "source": app.spec.source.raw},
            **state,
        }
    return read_status(doc)


def run(
    app: models.Application,
    st: Any,
    *,
    sync: str = "OutOfSync",
    heal: HealBackoff | None = None,
    now: float = 1000.0,
    wall: float = 2_000_000_000.0,
    nothing_desired: bool = False,
) -> Decision:
    return decide(
        app,
        st,
        commit=COMMIT,
        sync_status=sync,
        nothing_desired=nothing_desired,
        heal=heal or HealBackoff(),
        settings=SETTINGS,
        now=now,
        wall_now=wall,
    )


AUTOMATED = {"automated": {"prune": True, "selfHeal": True}}


def test_only_an_out_of_sync_app_with_automation_is_synced() -> None:
    assert run(application(), status()).operation is None  # no syncPolicy at all
    off = application(automated={"enabled": False, "selfHeal": True})
    assert run(off, status()).reason == "automated sync is off"
    assert run(application(**AUTOMATED), status(), sync="Synced").operation is None
    assert run(application(**AUTOMATED), status(), sync="Unknown").operation is None
    decision = run(application(**AUTOMATED), status())
    assert decision.operation is not None
    sync = decision.operation.sync
    assert (sync.revision, sync.prune) == (COMMIT, True)
    assert decision.operation.initiated_by.automated


def test_a_new_revision_is_synced_once_then_only_self_heal_syncs_it_again() -> None:
    no_heal = application(automated={"prune": True})
    assert run(no_heal, status("Succeeded", revision="b" * 40)).operation is not None
    decision = run(no_heal, status("Succeeded"))
    assert decision.operation is None and "selfHeal is off" in decision.reason
    assert run(application(**AUTOMATED), status("Succeeded")).operation is not None
    assert run(application(**AUTOMATED), status("Running")).operation is None


def test_self_heal_waits_and_backs_off_while_drift_keeps_coming_back() -> None:
    app = application(**AUTOMATED)
    first = run(app, status("Succeeded"), heal=HealBackoff(), now=1000.0)
    assert first.operation is not None and first.heal == HealBackoff(0.2, 1000.0)
    # drift again 0.1 s later: too soon, look again when the delay is over
    soon = run(app, status("Succeeded"), heal=first.heal, now=1000.1)
    assert soon.operation is None and soon.retry_in is not None
    assert 0.1 < soon.retry_in <= 0.12
    # once the delay passed, heal again; drift that keeps coming back doubles the delay
    again = run(app, status("Succeeded"), heal=first.heal, now=1000.5)
    assert again.operation is not None and again.heal == HealBackoff(0.4, 1000.5)
    third = run(app, status("Succeeded"), heal=again.heal, now=1001.0)
    assert third.heal == HealBackoff(0.8, 1001.0)
    # the delay never passes the cap
    capped = run(app, status("Succeeded"), heal=HealBackoff(50.0, 1000.0), now=1051.0)
    assert capped.heal == HealBackoff(60.0, 1051.0)
    # quiet for long: back to the first delay
    calm = run(app, status("Succeeded"), heal=HealBackoff(0.8, 1000.0), now=2000.0)
    assert calm.heal == HealBackoff(0.2, 2000.0)


def test_failed_syncs_are_retried_with_backoff_until_the_limit() -> None:
    retry = {"limit": 2, "backoff": {"duration": "5s", "factor": 2, "maxDuration": "1m"}}
    app = application(**AUTOMATED, retry=retry)
    finished = "2033-05-18T03:33:20Z"  # 2_000_000_000 seconds since the epoch
    failed = status("Failed", finishedAt=finished, retryCount=1)
    waiting = run(app, failed, wall=2_000_000_003.0)  # second retry waits 10 s
    assert waiting.operation is None and waiting.retry_in is not None
    assert 7.0 < waiting.retry_in < 7.1
    assert run(app, failed, wall=2_000_000_011.0).operation is not None
    used_up = run(app, status("Failed", finishedAt=finished, retryCount=2), wall=2_000_009_999.0)
    assert used_up.operation is None and "retries are used up" in used_up.reason
    # no retry policy: a failed revision waits for a new one
    assert run(application(**AUTOMATED), status("Error", finishedAt=finished)).operation is None


def test_pruning_everything_needs_allow_empty() -> None:
    decision = run(application(**AUTOMATED), status(), nothing_desired=True)
    assert decision.operation is None and "allowEmpty" in decision.reason
    allowed = application(automated={"prune": True, "allowEmpty": True})
    assert run(allowed, status(), nothing_desired=True).operation is not None
    keep = application(automated={"prune": False})
    assert run(keep, status(), nothing_desired=True).operation is not None


def test_a_failed_sync_is_tried_again_at_once_when_the_sync_options_change() -> None:
    app = application(**AUTOMATED)  # no retry policy: a failure would wait for a new revision
    failed = status("Failed", finishedAt="2033-05-18T03:33:20Z")
    assert run(app, failed).operation is None
    changed = application(**AUTOMATED, syncOptions=["CreateNamespace=true"])
    decision = run(changed, failed)
    assert decision.operation is not None
    assert decision.operation.sync.sync_options == ("CreateNamespace=true",)


def test_heal_reverts_to_the_last_synced_revision_only() -> None:
    from tether.controller.autosync import decide_heal, last_synced

    app = application(automated={"enabled": False, "selfHeal": True})
    synced = read_status(
        {"status": {"history": [{"id": 0, "revision": "old"}, {"id": 1, "revision": "synced"}]}}
    )
    assert last_synced(synced) == "synced"
    assert last_synced(read_status({})) == ""

    def heal(st: Any, sync: str, revision: str = "synced") -> Decision:
        return decide_heal(
            app, st, revision=revision, sync_status=sync, heal=HealBackoff(), settings=SETTINGS,
            now=1000.0,
        )  # fmt: skip

    decision = heal(synced, "OutOfSync")
    assert decision.operation is not None and decision.operation.sync.revision == "synced"
    assert decision.heal == HealBackoff(0.2, 1000.0)
    assert heal(synced, "Synced").operation is None
    assert heal(read_status({}), "OutOfSync", revision="").operation is None  # never synced
    no_heal = application(automated={"enabled": False})
    assert (
        decide_heal(
            no_heal, synced, revision="synced", sync_status="OutOfSync", heal=HealBackoff(),
            settings=SETTINGS, now=1000.0,
        ).operation
        is None
    )  # fmt: skip
