"""What a HelmRelease needs next, decided on Helm's storage and the failures counted, across
Flux's remediation settings."""

from __future__ import annotations

from typing import Any

from tether.flux.helmactions import Attempts, Wanted, next_step
from tether.flux.helmspecs import HelmReleaseSpec, parse_helm_release
from tether.flux.helmstorage import HookRun, Release

WANTED = Wanted("podinfo", "6.15.0", "sha256:new")


def spec(**fields: Any) -> HelmReleaseSpec:
    body = {"interval": "5m", "chart": {"spec": {"chart": "podinfo",
            "sourceRef": {"kind": "HelmRepository", "name": "p"}}}, **fields}  # fmt: skip
    return parse_helm_release(body, "apps", "web")


def rev(version: int, status: str, chart: str = "6.15.0", digest: str = "sha256:new",
        tests: tuple[HookRun, ...] = ()) -> Release:  # fmt: skip
    return Release("web", "apps", version, status, "podinfo", chart, "", digest, "", "", "",
                   tests, "")  # fmt: skip


def test_install_then_test_then_nothing() -> None:
    tested = spec(test={"enable": True})
    assert next_step(tested, [], WANTED, Attempts()).kind == "install"
    assert next_step(tested, [rev(1, "deployed", tests=(HookRun("t", ""),))], WANTED,
                     Attempts()).kind == "test"  # fmt: skip
    done = [rev(1, "deployed", tests=(HookRun("t", "Succeeded"),))]
    assert next_step(tested, done, WANTED, Attempts()).kind == "none"
    assert next_step(spec(), [rev(1, "deployed")], WANTED, Attempts()).kind == "none"


def test_out_of_sync_upgrades_and_a_pending_release_is_unlocked() -> None:
    assert (
        next_step(spec(), [rev(1, "deployed", chart="6.14.1")], WANTED, Attempts()).kind
        == "upgrade"
    )
    assert next_step(spec(), [rev(1, "deployed", digest="sha256:old")], WANTED,
                     Attempts()).kind == "upgrade"  # fmt: skip
    assert next_step(spec(), [rev(2, "pending-upgrade")], WANTED, Attempts()).kind == "unlock"


def test_default_remediation_stalls_after_the_first_failure() -> None:
    failed = [rev(2, "failed"), rev(1, "deployed", chart="6.14.1")]
    step = next_step(spec(), failed, WANTED, Attempts(upgrade_failures=1, last_action="upgrade"))
    assert (step.kind, step.message) == ("stall", "Failed to upgrade after 1 attempt(s)")
    # something else wanted (counters reset by the reconciler): upgrade again
    assert next_step(spec(), failed, WANTED, Attempts(last_action="upgrade")).kind == "upgrade"


def test_retries_roll_back_to_the_last_good_revision_then_stall() -> None:
    retried = spec(upgrade={"remediation": {"retries": 1}})
    history = [rev(3, "failed"), rev(2, "superseded", chart="6.14.1"), rev(1, "superseded")]
    first = next_step(retried, history, WANTED, Attempts(upgrade_failures=1, last_action="upgrade"))
    assert (first.kind, first.to_version) == ("rollback", 2)
    rolled = [rev(4, "deployed", chart="6.14.1"), *history]
    assert next_step(retried, rolled, WANTED,
                     Attempts(upgrade_failures=1, last_action="upgrade")).kind == "upgrade"  # fmt: skip
    # retries spent: the last failure is still remediated (remediateLastFailure defaults on)
    spent = Attempts(upgrade_failures=2, last_action="upgrade")
    assert next_step(retried, history, WANTED, spent).kind == "rollback"
    assert next_step(retried, rolled, WANTED, spent).kind == "stall"
    assert next_step(retried, history, WANTED,
                     Attempts(upgrade_failures=1, last_action="upgrade",
                              remediation_failed=True)).kind == "stall"  # fmt: skip


def test_failed_tests_count_unless_ignored() -> None:
    tested = spec(test={"enable": True}, upgrade={"remediation": {"retries": 1}})
    failing = [rev(2, "deployed", tests=(HookRun("t", "Failed"),)), rev(1, "superseded")]
    attempts = Attempts(upgrade_failures=1, last_action="upgrade")
    assert next_step(tested, failing, WANTED, attempts).kind == "rollback"
    ignoring = spec(test={"enable": True, "ignoreFailures": True})
    assert next_step(ignoring, failing, WANTED, attempts).kind == "none"


def test_install_remediation_uninstalls_and_retry_on_failure_never_stalls() -> None:
    retried = spec(install={"remediation": {"retries": 2}})
    failed = [rev(1, "failed")]
    step = next_step(retried, failed, WANTED, Attempts(install_failures=1, last_action="install"))
    assert step.kind == "uninstall"
    assert next_step(retried, [], WANTED, Attempts(install_failures=1)).kind == "install"
    assert next_step(retried, [], WANTED, Attempts(install_failures=3)).kind == "stall"
    retry = spec(install={"strategy": {"name": "RetryOnFailure"}})
    assert next_step(retry, failed, WANTED,
                     Attempts(install_failures=9, last_action="install")).kind == "upgrade"  # fmt: skip
