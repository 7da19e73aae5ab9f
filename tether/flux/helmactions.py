"""What a HelmRelease needs next, decided on plain data as helm-controller decides it.

Inputs: the spec, the release's revisions in Helm's storage (newest first), what is wanted now
(chart and values digest) and the failures counted for it in the status. Output: one step.

- no release (or an uninstalled one): ``install``;
- a release left ``pending-*`` by an interrupted run: ``unlock`` (marked failed, as Flux does);
- deployed, the wanted chart and values, tests enabled and not run on it: ``test``;
- deployed and in sync (tests passed or ignored): ``none``;
- failed (or its tests failed, not ignored) after an attempt for what is wanted now: remediate
  (``rollback`` to the last good revision or ``uninstall``, per the action's remediation) while
  retries remain or ``remediateLastFailure`` asks for it once they are spent; ``stall`` once
  they are spent (nothing more until the spec, chart or values change, or a reset is asked);
- anything else (out of sync, a failure not attempted for what is wanted now): ``upgrade``.

Under the ``RetryOnFailure`` strategy nothing is remediated and nothing stalls: the failed
action is tried again after the strategy's ``retryInterval``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tether.flux.helmspecs import HelmReleaseSpec, Remediation
from tether.flux.helmstorage import PENDING, Release

StepKind = Literal["install", "upgrade", "test", "rollback", "uninstall", "unlock", "none", "stall"]
RETRY_ON_FAILURE = "RetryOnFailure"


@dataclass(frozen=True)
class Wanted:
    chart_name: str
    chart_version: str
    config_digest: str
    #: of ``postRenderers``; compared with what the status says the release was made with
    post_renderers_digest: str = ""
    #: ``status.observedPostRenderersDigest``
    observed_post_renderers: str = ""


@dataclass(frozen=True)
class Attempts:
    """The failures counted in the status for what is wanted now (reset when it changes)."""

    install_failures: int = 0
    upgrade_failures: int = 0
    #: ``install`` or ``upgrade``: the last release action tried
    last_action: str | None = None
    #: the last remediation failed: nothing more is tried for what is wanted now
    remediation_failed: bool = False


@dataclass(frozen=True)
class Step:
    kind: StepKind
    #: for ``rollback``: the revision to go back to
    to_version: int | None = None
    #: for ``stall``: why
    message: str = ""


def in_sync(release: Release, wanted: Wanted) -> bool:
    """The release was made of the wanted chart and values (and post-renderers)."""
    return (release.chart_name, release.chart_version, release.config_digest) == (
        wanted.chart_name,
        wanted.chart_version,
        wanted.config_digest,
    ) and wanted.post_renderers_digest == wanted.observed_post_renderers


def last_good(history: Sequence[Release]) -> Release | None:
    """The newest revision before the latest that was deployed successfully."""
    for release in history[1:]:
        if release.status in ("superseded", "deployed"):
            return release
    return None


def next_step(
    spec: HelmReleaseSpec, history: Sequence[Release], wanted: Wanted, attempts: Attempts
) -> Step:
    """See the module docstring."""
    latest = history[0] if history else None
    if latest is not None and latest.status in PENDING:
        return Step("unlock")
    if latest is None or latest.status == "uninstalled":
        remediation = spec.install_remediation
        if _spent(remediation, attempts.install_failures):
            return Step("stall", message=_stalled("install", attempts.install_failures))
        return Step("install")
    failed = latest.status == "failed" or (
        latest.status == "deployed"
        and spec.test.enable
        and latest.tests_failed
        and not _ignores_tests(spec, attempts)
    )
    if not failed and latest.status == "deployed" and in_sync(latest, wanted):
        if spec.test.enable and not latest.tests_run:
            return Step("test")
        return Step("none")
    action = _active_action(latest, attempts)
    remediation = spec.upgrade_remediation if action == "upgrade" else spec.install_remediation
    failures = attempts.upgrade_failures if action == "upgrade" else attempts.install_failures
    if failed and failures > 0 and remediation.on_failure != RETRY_ON_FAILURE:
        if attempts.remediation_failed:
            return Step("stall", message=f"{_stalled(action, failures)}; remediation failed")
        if not remediation.exhausted(failures) or remediation.must_remediate_last_failure:
            return _remediate(action, remediation, history)
    if _spent(remediation, failures):
        return Step("stall", message=_stalled(action, failures))
    return Step("upgrade")


def _active_action(latest: Release, attempts: Attempts) -> str:
    if attempts.last_action in ("install", "upgrade"):
        return attempts.last_action
    return "install" if latest.version <= 1 else "upgrade"


def _ignores_tests(spec: HelmReleaseSpec, attempts: Attempts) -> bool:
    if spec.test.ignore_failures:
        return True
    remediation = (
        spec.upgrade_remediation if attempts.last_action == "upgrade" else spec.install_remediation
    )
    return bool(remediation.ignore_test_failures)


def _spent(remediation: Remediation, failures: int) -> bool:
    return (
        failures > 0 and remediation.on_failure != RETRY_ON_FAILURE
        and remediation.exhausted(failures)
    )  # fmt: skip


def _remediate(action: str, remediation: Remediation, history: Sequence[Release]) -> Step:
    if action == "upgrade" and remediation.strategy == "rollback":
        good = last_good(history)
        if good is not None:
            return Step("rollback", to_version=good.version)
    return Step("uninstall")


def _stalled(action: str, failures: int) -> str:
    return f"Failed to {action} after {failures} attempt(s)"
