"""One image update: set the images, push the branch, keep its pull request.

An :class:`UpdateJob` is an ImageUpdateAutomation's (:func:`automation_job`: its setter markers)
or an Application's Image Updater annotations' (:mod:`tether.controller.imageapps`: a planner
edits the write-back target). :func:`run_job` takes it as plain data (with the credentials and a
snapshot of the Applications) and returns a
:class:`~tether.images.automationspec.RunOutcome` for the status; it never writes the cluster.
The git work (checkout, commit, the rendered diff, the push) runs in a worker thread. The pull
request (Tether's addition) is opened for the push branch into the checkout branch, updated in
place when newer images arrive, and closed when the checkout branch already holds every image
the policies chose (merged another way, or superseded by a later change).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.githost import GitHost, GitHostError, PullRequest, host_for, repo_path
from tether.images import pullbody
from tether.images.automation import (
    GitAccess,
    PreparedUpdate,
    PushRejectedError,
    UpdateAutomationError,
    UpdateResult,
    UpdateSpec,
    prepare_update,
    push_update,
)
from tether.images.automationspec import (
    GIT_OPERATION_FAILED,
    INVALID_SOURCE_CONFIGURATION,
    PULL_REQUEST_FAILED,
    SUCCEEDED,
    UPDATE_FAILED,
    AutomationConfigError,
    PullRequestSettings,
    RunOutcome,
    SourceRepository,
    config_failure,
    latest_image,
    observed_policies,
    run_message,
    update_spec,
)
from tether.images.errors import ImageError
from tether.images.setters import LatestImage, UpdatePlan
from tether.source.credentials import RepoCredentials
from tether.source.errors import GitError

log = logging.getLogger(__name__)

#: how a pull-request client is made (tests give the fake host's API URL through settings)
HostFactory = Callable[..., GitHost]


@dataclass(frozen=True)
class AutomationRun:
    """What one run needs, read from the cluster by the caller."""

    automation: Mapping[str, Any]
    source: SourceRepository
    policies: Mapping[tuple[str, str], Mapping[str, Any]]
    credentials: RepoCredentials | None = None
    pull: PullRequestSettings | None = None
    token: str = ""
    applications: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class UpdateJob:
    """One update to run: an automation's, or an Application's Image Updater annotations'.
    ``name`` (``namespace/name``) is what the pull request's footer names; ``planner`` replaces
    the setter markers (Image Updater's targets have none)."""

    name: str
    spec: UpdateSpec
    url: str
    latest: Mapping[tuple[str, str], LatestImage | None] = field(default_factory=dict)
    planner: Callable[[Path], UpdatePlan] | None = None
    credentials: RepoCredentials | None = None
    pull: PullRequestSettings | None = None
    token: str = ""
    applications: Sequence[Mapping[str, Any]] = ()
    observed: Mapping[str, Mapping[str, str]] | None = None


def automation_job(run: AutomationRun) -> UpdateJob:
    """The job of an ImageUpdateAutomation (raises ``AutomationConfigError`` for a spec that
    cannot run)."""
    meta = run.automation.get("metadata") or {}
    return UpdateJob(
        name=f"{meta.get('namespace', '')}/{meta.get('name', '')}",
        spec=update_spec(run.automation, run.source),
        url=run.source.url,
        latest={key: latest_image(policy) for key, policy in run.policies.items()},
        credentials=run.credentials,
        pull=run.pull,
        token=run.token,
        applications=run.applications,
        observed=observed_policies(run.policies),
    )


@dataclass(frozen=True)
class _Pushed:
    result: UpdateResult
    base_current: bool  # the checkout branch already holds what the policies chose
    title: str = ""
    body: str = ""


def _rendered_diffs(prepared: PreparedUpdate, job: UpdateJob) -> list[pullbody.TargetDiff]:
    """The rendered objects the update changes, for each app (or kustomization) it touches."""
    edited = sorted({edit.marker.path for edit in prepared.edits})
    with tempfile.TemporaryDirectory(prefix="tether-pull-diff-") as scratch:
        before, after = Path(scratch) / "before", Path(scratch) / "after"
        repo = prepared.worktree
        pullbody.export_commit(repo, prepared.result.checkout_commit, before, timeout=60.0)
        pullbody.export_commit(repo, prepared.head(), after, timeout=60.0)
        targets = pullbody.targets_for(edited, job.applications, job.url, tree=after)
        return pullbody.rendered_changes(before, after, targets)


def _pull_text(prepared: PreparedUpdate, job: UpdateJob) -> tuple[str, str]:
    """Title and body of the pull request: the images old -> new and the rendered diff."""
    changes = pullbody.image_changes(prepared.edits)
    return pullbody.pull_request_text(job.name, changes, _rendered_diffs(prepared, job))


def _update(job: UpdateJob, access: GitAccess) -> _Pushed:
    """Check out, set the images, commit, render the diff when a pull request wants it, push.
    Runs in a worker thread."""
    with prepare_update(
        job.spec, job.latest, credentials=job.credentials, access=access, planner=job.planner
    ) as prepared:
        base_current = not prepared.edits
        title = body = ""
        if job.pull is not None and not base_current:
            title, body = _pull_text(prepared, job)
        return _Pushed(push_update(prepared), base_current, title, body)


def _failure(error: Exception) -> RunOutcome:
    """The status outcome of an update that raised (nothing was pushed)."""
    if isinstance(error, AutomationConfigError):
        return config_failure(error)
    if isinstance(error, UpdateAutomationError) and not isinstance(error, PushRejectedError):
        return RunOutcome("stalled", INVALID_SOURCE_CONFIGURATION, str(error))
    if isinstance(error, PushRejectedError | GitError):
        return RunOutcome("retry", GIT_OPERATION_FAILED, str(error))
    return RunOutcome("retry", UPDATE_FAILED, str(error))


def _pull_record(pull: PullRequest, host: str) -> dict[str, Any]:
    return {
        "number": pull.number,
        "url": pull.url,
        "head": pull.head,
        "base": pull.base,
        "state": "merged" if pull.merged else pull.state,
        "host": host,
    }


async def _keep_pull_request(job: UpdateJob, pushed: _Pushed, hosts: HostFactory) -> dict[str, Any]:
    """Open or update the pull request of the push branch, or close it when nothing is left to
    propose. Returns the record for ``status.pullRequest`` (empty: no pull request open)."""
    assert job.pull is not None
    base = job.spec.checkout.branch
    if not base:
        raise AutomationConfigError(
            PULL_REQUEST_FAILED,
            "a pull request needs a branch to merge into: check out a branch "
            "(spec.git.checkout.ref.branch), not a tag, semver range or commit",
        )
    head = pushed.result.branch
    if head == base:
        raise AutomationConfigError(
            PULL_REQUEST_FAILED,
            f"the push branch is the checkout branch {base!r}: a pull request needs a push "
            "branch of its own (e.g. 'image-updates')",
        )
    host = hosts(job.url, job.pull.provider, job.token, api_url=job.pull.api_url)
    try:
        repo = repo_path(job.url)
        if pushed.base_current:
            found = await host.find_pull_request(repo, head, base)
            if found is not None:
                await host.close_pull_request(
                    repo,
                    found.number,
                    f"Closed by Tether: {base} already deploys every image the policies chose; "
                    "nothing is left to update.",
                )
            return {}
        pull = await host.open_pull_request(repo, head, base, pushed.title, pushed.body)
        return _pull_record(pull, host.host)
    finally:
        await host.aclose()


async def run_automation(
    run: AutomationRun, access: GitAccess, hosts: HostFactory = host_for
) -> RunOutcome:
    """Run the automation once; every failure becomes the outcome's condition."""
    try:
        job = automation_job(run)
    except ImageError as error:
        failed = _failure(error)
        return RunOutcome(
            failed.outcome, failed.reason, failed.message, observed=observed_policies(run.policies)
        )
    return await run_job(job, access, hosts)


async def run_job(job: UpdateJob, access: GitAccess, hosts: HostFactory = host_for) -> RunOutcome:
    """Run one update and keep its pull request; every failure becomes the outcome."""
    try:
        pushed = await asyncio.to_thread(_update, job, access)
    except (ImageError, GitError) as error:
        failed = _failure(error)
        return RunOutcome(failed.outcome, failed.reason, failed.message, observed=job.observed)
    result = pushed.result
    revision = f"{job.spec.checkout.branch or 'HEAD'}@sha1:{result.checkout_commit}"
    message = run_message(result)
    pull_request: dict[str, Any] | None = None
    if job.pull is not None:
        try:
            pull_request = await _keep_pull_request(job, pushed, hosts)
        except (GitHostError, AutomationConfigError) as error:
            return RunOutcome(
                "retry",
                PULL_REQUEST_FAILED,
                f"{message.splitlines()[0]}; the pull request failed: {error}",
                result=result,
                observed=job.observed,
                source_revision=revision,
            )
        if pull_request:
            message += f"\npull request #{pull_request['number']}: {pull_request['url']}"
    return RunOutcome(
        "ok",
        SUCCEEDED,
        message,
        result=result,
        observed=job.observed,
        source_revision=revision,
        pull_request=pull_request,
    )
