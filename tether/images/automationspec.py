"""An ImageUpdateAutomation read into the update step's plain data, and the status it gets.

What the object names is resolved here, without reading the cluster: the caller passes the
source object (a Flux ``GitRepository`` or, Tether's addition, an Argo CD ``Application`` whose
repository the automation updates) and the ImagePolicies of the automation's namespace.

* :func:`source_of` gives the repository URL, the ref to check out and the credentials Secret.
* :func:`selected_policies` applies ``spec.policySelector`` (all policies when absent, as Flux).
* :func:`update_spec` gives the :class:`~tether.images.automation.UpdateSpec`; settings Tether
  cannot honour (commit signing, push options, a strategy other than ``Setters``) are refused
  with :class:`AutomationConfigError`, never ignored.
* :func:`pull_request_settings` reads Tether's pull-request annotations (see docs/images.md).
* :func:`automation_status` builds the ``status`` document as Flux's
  image-automation-controller writes it, plus Tether's ``pullRequest``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tether.durations import InvalidDurationError, parse_duration
from tether.images.automation import (
    AutomationObject,
    CheckoutRef,
    UpdateResult,
    UpdateSpec,
    UpdateStatus,
)
from tether.images.errors import ImageError
from tether.images.reflector import Outcome, finish_status, rfc3339, start_status
from tether.images.setters import LatestImage
from tether.names import (
    APPLICATION,
    PULL_REQUEST_ANNOTATION,
    PULL_REQUEST_API_URL_ANNOTATION,
    PULL_REQUEST_SECRET_ANNOTATION,
)
from tether.source.credentials import RepoCredentials

#: Flux's GitRepository kind (source.toolkit.fluxcd.io)
GIT_REPOSITORY = "GitRepository"
#: condition reasons of Flux's image-automation-controller (api/v1), and Tether's own last
INVALID_SOURCE_CONFIGURATION = "InvalidSourceConfiguration"
INVALID_POLICY_SELECTOR = "InvalidPolicySelector"
INVALID_UPDATE_STRATEGY = "InvalidUpdateStrategy"
GIT_OPERATION_FAILED = "GitOperationFailed"
UPDATE_FAILED = "UpdateFailed"
DEPENDENCY_NOT_READY = "DependencyNotReady"
SUCCEEDED = "Succeeded"
PULL_REQUEST_FAILED = "PullRequestFailed"
#: the key of the pull-request Secret that holds the API token
TOKEN_KEY = "token"
_SELECTOR_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})
_FULL_SHA = re.compile(r"[0-9a-f]{40}")


class AutomationConfigError(ImageError):
    """The automation (or what it names) cannot be run as written; ``reason`` is the Flux
    condition reason, ``stalled`` says only a change of the spec helps."""

    def __init__(self, reason: str, message: str, *, stalled: bool = True) -> None:
        super().__init__(message)
        self.reason = reason
        self.stalled = stalled


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True)
class SourceRepository:
    """The repository an automation updates. ``secret_name``: a Secret of the automation's
    namespace with its credentials (a GitRepository's ``secretRef``); None: the repository
    credentials Tether already has for the URL."""

    kind: str
    name: str
    url: str
    ref: CheckoutRef
    secret_name: str | None = None


def source_ref(automation: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name) of ``spec.sourceRef``; the namespace defaults to the
    automation's own, the kind to GitRepository."""
    ref = _map(_map(automation.get("spec")).get("sourceRef"))
    own = _text(_map(automation.get("metadata")).get("namespace"))
    kind = _text(ref.get("kind")) or GIT_REPOSITORY
    return kind, _text(ref.get("namespace")) or own, _text(ref.get("name"))


def checkout_ref(value: Any) -> CheckoutRef:
    """A ``ref`` mapping (``git.checkout.ref`` or a GitRepository's ``spec.ref``)."""
    ref = _map(value)
    return CheckoutRef(
        branch=_text(ref.get("branch")),
        tag=_text(ref.get("tag")),
        semver=_text(ref.get("semver")),
        name=_text(ref.get("name")),
        commit=_text(ref.get("commit")),
    )


def source_of(kind: str, obj: Mapping[str, Any] | None, where: str) -> SourceRepository:
    """The repository of the automation's source object (None: it does not exist)."""
    if obj is None:
        raise AutomationConfigError(DEPENDENCY_NOT_READY, f"{where} does not exist", stalled=False)
    name = _text(_map(obj.get("metadata")).get("name"))
    spec = _map(obj.get("spec"))
    if kind == APPLICATION:
        source = _map(spec.get("source"))
        url = _text(source.get("repoURL"))
        if not url:
            raise AutomationConfigError(
                INVALID_SOURCE_CONFIGURATION,
                f"{where} has no spec.source.repoURL (multi-source Applications cannot be the "
                "source of an automation yet)",
            )
        revision = _text(source.get("targetRevision"))
        if _FULL_SHA.fullmatch(revision):
            ref = CheckoutRef(commit=revision)
        elif revision and revision != "HEAD":
            ref = CheckoutRef(branch=revision.removeprefix("refs/heads/"))
        else:
            ref = CheckoutRef()
        return SourceRepository(kind, name, url, ref)
    url = _text(spec.get("url"))
    if not url:
        raise AutomationConfigError(INVALID_SOURCE_CONFIGURATION, f"{where} has no spec.url")
    secret = _text(_map(spec.get("secretRef")).get("name")) or None
    return SourceRepository(kind, name, url, checkout_ref(spec.get("ref")), secret)


def git_repository_credentials(url: str, data: Mapping[str, str] | None) -> RepoCredentials | None:
    """A Flux GitRepository's ``secretRef`` (username/password, bearerToken, identity)."""
    if not data:
        return None
    return RepoCredentials(
        url=url,
        username=data.get("username"),
        password=data.get("password"),
        bearer_token=data.get("bearerToken"),
        ssh_private_key=data.get("identity"),
    )


# ---- policies -------------------------------------------------------------------------------


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Whether a LabelSelector selects ``labels``; an unknown operator is an error."""
    for label, wanted in _map(selector.get("matchLabels")).items():
        if labels.get(label) != wanted:
            return False
    for raw in selector.get("matchExpressions") or []:
        expression = _map(raw)
        key, operator = str(expression.get("key")), expression.get("operator")
        values = expression.get("values") or []
        if operator not in _SELECTOR_OPERATORS or not isinstance(values, list):
            raise AutomationConfigError(
                INVALID_POLICY_SELECTOR,
                f"spec.policySelector: operator {operator!r} is not one of "
                f"{', '.join(sorted(_SELECTOR_OPERATORS))}",
            )
        present = key in labels
        if operator == "In" and (not present or labels[key] not in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def selected_policies(
    automation: Mapping[str, Any], policies: Mapping[str, Mapping[str, Any]]
) -> dict[tuple[str, str], Mapping[str, Any]]:
    """The ImagePolicies (of the automation's namespace, by name) its ``policySelector``
    selects, keyed as markers name them: ``(namespace, name)``."""
    namespace = _text(_map(automation.get("metadata")).get("namespace"))
    selector = _map(_map(automation.get("spec")).get("policySelector"))
    chosen = {}
    for name, policy in sorted(policies.items()):
        labels = _map(_map(policy.get("metadata")).get("labels"))
        if selector_matches(selector, labels):
            chosen[(namespace, name)] = policy
    return chosen


def latest_image(policy: Mapping[str, Any]) -> LatestImage | None:
    """The policy's ``status.latestRef`` (None: it has chosen no image yet)."""
    ref = _map(_map(policy.get("status")).get("latestRef"))
    name, tag, digest = ref.get("name"), ref.get("tag"), ref.get("digest")
    if not isinstance(name, str) or not isinstance(tag, str) or not name or not tag:
        return None
    return LatestImage(name, tag, digest if isinstance(digest, str) and digest else None)


def observed_policies(
    policies: Mapping[tuple[str, str], Mapping[str, Any]],
) -> dict[str, dict[str, str]]:
    """``status.observedPolicies``: each policy's latest image, by policy name."""
    observed = {}
    for (_, name), policy in policies.items():
        latest = latest_image(policy)
        if latest is not None:
            ref = {"name": latest.name, "tag": latest.tag}
            if latest.digest:
                ref["digest"] = latest.digest
            observed[name] = ref
    return observed


# ---- the update spec ------------------------------------------------------------------------


def interval_seconds(automation: Mapping[str, Any]) -> float:
    """``spec.interval`` in seconds (the CRD requires it; a bad one stalls)."""
    text = _text(_map(automation.get("spec")).get("interval"))
    try:
        seconds = parse_duration(text) if text else 0.0
    except InvalidDurationError:
        seconds = 0.0
    if seconds <= 0:
        raise AutomationConfigError(
            INVALID_SOURCE_CONFIGURATION,
            f"spec.interval {text!r} is not a positive duration (e.g. '30m')",
        )
    return seconds


def _refuse_unsupported(spec: Mapping[str, Any]) -> None:
    git = _map(spec.get("git"))
    strategy = _text(_map(spec.get("update")).get("strategy")) or "Setters"
    if strategy != "Setters":
        raise AutomationConfigError(
            INVALID_UPDATE_STRATEGY, f"spec.update.strategy {strategy!r}: only Setters exists"
        )
    if _map(git.get("commit")).get("signingKey"):
        raise AutomationConfigError(
            INVALID_SOURCE_CONFIGURATION,
            "spec.git.commit.signingKey: Tether does not sign commits yet; remove it (the "
            "pull request's review stands in for the signature) or keep Flux for this one",
        )
    if _map(git.get("push")).get("options"):
        raise AutomationConfigError(
            INVALID_SOURCE_CONFIGURATION,
            "spec.git.push.options: push options are not sent by Tether; remove them",
        )


def update_spec(automation: Mapping[str, Any], source: SourceRepository) -> UpdateSpec:
    """The update step's settings: the automation's ``git`` over its source's ref."""
    meta = _map(automation.get("metadata"))
    spec = _map(automation.get("spec"))
    _refuse_unsupported(spec)
    git = _map(spec.get("git"))
    checkout = _map(git.get("checkout"))
    ref = checkout_ref(checkout.get("ref")) if checkout.get("ref") else source.ref
    if ref == CheckoutRef():
        raise AutomationConfigError(
            INVALID_SOURCE_CONFIGURATION,
            f"{source.kind} {source.name} follows the repository's HEAD: set "
            "spec.git.checkout.ref.branch to the branch the automation updates",
        )
    commit = _map(git.get("commit"))
    author = _map(commit.get("author"))
    push = _map(git.get("push"))
    values = _map(commit.get("messageTemplateValues"))
    return UpdateSpec(
        url=source.url,
        checkout=ref,
        author_email=_text(author.get("email")),
        author_name=_text(author.get("name")),
        message_template=commit.get("messageTemplate") or "",
        template_values={str(k): str(v) for k, v in values.items()},
        push_branch=_text(push.get("branch")),
        push_refspec=_text(push.get("refspec")),
        update_path=_text(_map(spec.get("update")).get("path")),
        automation=AutomationObject(_text(meta.get("namespace")), _text(meta.get("name"))),
    )


# ---- pull requests (Tether's addition) --------------------------------------------------------


@dataclass(frozen=True)
class PullRequestSettings:
    """Where the automation's pull request goes. ``provider`` None: guessed from the host."""

    secret: str
    provider: str | None = None
    api_url: str | None = None


def pull_request_settings(automation: Mapping[str, Any]) -> PullRequestSettings | None:
    """Tether's pull-request annotations of the automation (None: no pull request, the push
    branch alone, as Flux)."""
    notes = _map(_map(automation.get("metadata")).get("annotations"))
    provider = _text(notes.get(PULL_REQUEST_ANNOTATION)).lower()
    if not provider or provider == "false":
        return None
    secret = _text(notes.get(PULL_REQUEST_SECRET_ANNOTATION))
    if not secret:
        raise AutomationConfigError(
            PULL_REQUEST_FAILED,
            f"annotation {PULL_REQUEST_ANNOTATION} asks for a pull request but "
            f"{PULL_REQUEST_SECRET_ANNOTATION} names no Secret (with the key {TOKEN_KEY!r})",
        )
    api_url = _text(notes.get(PULL_REQUEST_API_URL_ANNOTATION)) or None
    return PullRequestSettings(secret, None if provider in ("true", "auto") else provider, api_url)


# ---- status ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOutcome:
    """One run of an automation, for its status."""

    outcome: Outcome
    reason: str
    message: str
    result: UpdateResult | None = None
    observed: Mapping[str, Mapping[str, str]] | None = None
    source_revision: str | None = None
    #: ``status.pullRequest``: None leaves it as it was, empty removes it
    pull_request: Mapping[str, Any] | None = None


def config_failure(error: AutomationConfigError) -> RunOutcome:
    """The outcome of a run refused before it started."""
    return RunOutcome("stalled" if error.stalled else "retry", error.reason, str(error))


def run_message(result: UpdateResult) -> str:
    """Flux's Ready message after a run."""
    if result.status is UpdateStatus.PUSHED and result.commit:
        return f"pushed commit '{result.commit[:7]}' to branch '{result.branch}'\n{result.message}"
    return "repository up-to-date"


def automation_status(
    automation: Mapping[str, Any], run: RunOutcome, now: datetime
) -> dict[str, Any]:
    """The automation's ``status`` after ``run``."""
    status = start_status(automation)
    stamp = rfc3339(now)
    status["lastAutomationRunTime"] = stamp
    result = run.result
    if result is not None and result.status is UpdateStatus.PUSHED and result.commit:
        status["lastPushCommit"] = result.commit
        status["lastPushTime"] = stamp
    if run.observed is not None:
        status["observedPolicies"] = {k: dict(v) for k, v in run.observed.items()}
    if run.source_revision:
        status["observedSourceRevision"] = run.source_revision
    if run.pull_request:
        status["pullRequest"] = dict(run.pull_request)
    elif run.pull_request is not None:
        status.pop("pullRequest", None)  # closed, merged, or nothing to propose
    finish_status(status, automation, run.outcome, run.reason, run.message, stamp)
    return status


__all__ = [
    "GIT_REPOSITORY", "AutomationConfigError", "PullRequestSettings",
    "RunOutcome", "SourceRepository", "automation_status", "checkout_ref", "config_failure",
    "git_repository_credentials", "interval_seconds",
    "latest_image", "observed_policies", "pull_request_settings", "run_message",
    "selected_policies", "selector_matches", "source_of", "source_ref", "update_spec",
]  # fmt: skip
