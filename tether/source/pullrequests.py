"""Pull-request webhooks: what GitHub, Gitea (and Forgejo) and GitLab say about a pull (merge)
request that was opened, pushed to, reopened or closed.

`pull_request_of(provider, event, payload)` reads a payload that `parse_webhook` has already
verified and returns a `PullRequestEvent`, or None when the payload is not about a pull request.
The shapes are the documented ones: GitHub's ``pull_request`` event (``action``, ``number``,
``pull_request.head/base``), Gitea's (the same names, ``synchronized`` for a push) and GitLab's
``Merge Request Hook`` (``object_attributes`` with ``iid``, ``source_branch``,
``target_branch``, ``last_commit``, ``action``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether.source.errors import WebhookPayloadError
from tether.source.payloads import as_dict, as_str, distinct_urls

#: what a preview is made for: the request's head moved or it (re)opened
PREVIEW = "preview"
#: the request was closed or merged: its preview is dropped
CLOSED = "closed"
#: anything else (labels, reviews, an edited title): nothing to do
IGNORED = "ignored"

_GITHUB_ACTIONS = {
    "opened": PREVIEW,
    "synchronize": PREVIEW,
    "synchronized": PREVIEW,  # Gitea's spelling
    "reopened": PREVIEW,
    "ready_for_review": PREVIEW,
    "closed": CLOSED,
}
_GITLAB_ACTIONS = {
    "open": PREVIEW,
    "reopen": PREVIEW,
    "update": PREVIEW,
    "close": CLOSED,
    "merge": CLOSED,
}
#: the ref a host keeps for every pull request's head, in the base repository (fork heads too)
PULL_HEAD_REFS = {
    "github": "refs/pull/{number}/head",
    "gitea": "refs/pull/{number}/head",
    "gogs": "refs/pull/{number}/head",
    "gitlab": "refs/merge-requests/{number}/head",
}


@dataclass(frozen=True)
class PullRequestEvent:
    """One pull request event. ``repo_urls`` are the base repository's URLs (where the apps'
    sources point), ``head_repo_urls`` those of the repository the head branch lives in (a
    fork's, or the same). ``default_branch`` is the base repository's, for apps that follow
    ``HEAD``."""

    provider: str
    action: str
    number: int
    repo_urls: tuple[str, ...]
    base_branch: str
    head_branch: str
    head_sha: str
    head_repo_urls: tuple[str, ...]
    default_branch: str
    title: str = ""
    url: str = ""

    @property
    def same_repository(self) -> bool:
        """True when the head branch lives in the base repository."""
        return bool(set(self.head_repo_urls) & set(self.repo_urls)) or not self.head_repo_urls

    @property
    def head_ref(self) -> str:
        """The ref to fetch the head commit from, in the base repository: the branch itself
        when it lives there, else the host's pull-request ref."""
        if self.same_repository:
            return f"refs/heads/{self.head_branch}"
        return PULL_HEAD_REFS.get(self.provider, PULL_HEAD_REFS["github"]).format(
            number=self.number
        )


def _repo_urls(repo: dict[str, Any]) -> tuple[str, ...]:
    return distinct_urls(repo.get("clone_url"), repo.get("html_url"), repo.get("ssh_url"))


def _checked(event: PullRequestEvent) -> PullRequestEvent:
    what = f"{event.provider} pull request webhook"
    if event.number <= 0:
        raise WebhookPayloadError(f"{what}: the payload has no pull request number")
    if not event.repo_urls:
        raise WebhookPayloadError(f"{what}: the payload names no base repository")
    if event.action == PREVIEW and not (event.base_branch and event.head_branch):
        raise WebhookPayloadError(f"{what}: the payload names no base or head branch")
    if event.action == PREVIEW and not (
        len(event.head_sha) in (40, 64) and all(c in "0123456789abcdef" for c in event.head_sha)
    ):
        raise WebhookPayloadError(f"{what}: the head commit is not a commit id")
    return event


def _github_like(provider: str, payload: dict[str, Any]) -> PullRequestEvent:
    pull = as_dict(payload.get("pull_request"))
    head, base = as_dict(pull.get("head")), as_dict(pull.get("base"))
    repository = as_dict(payload.get("repository")) or as_dict(base.get("repo"))
    number = payload.get("number", pull.get("number"))
    return _checked(
        PullRequestEvent(
            provider=provider,
            action=_GITHUB_ACTIONS.get(as_str(payload.get("action")), IGNORED),
            number=number if isinstance(number, int) and not isinstance(number, bool) else 0,
            repo_urls=_repo_urls(repository),
            base_branch=as_str(base.get("ref")),
            head_branch=as_str(head.get("ref")),
            head_sha=as_str(head.get("sha")).lower(),
            head_repo_urls=_repo_urls(as_dict(head.get("repo"))),
            default_branch=as_str(repository.get("default_branch")),
            title=as_str(pull.get("title"))[:300],
            url=as_str(pull.get("html_url")),
        )
    )


def _gitlab(payload: dict[str, Any]) -> PullRequestEvent:
    attributes = as_dict(payload.get("object_attributes"))
    project = as_dict(payload.get("project"))
    source, target = as_dict(attributes.get("source")), as_dict(attributes.get("target"))
    action = _GITLAB_ACTIONS.get(as_str(attributes.get("action")), IGNORED)
    if action == PREVIEW and as_str(attributes.get("action")) == "update":
        # an update without ``oldrev`` changed the title or labels, not the commits
        action = PREVIEW if attributes.get("oldrev") else IGNORED
    number = attributes.get("iid")
    return _checked(
        PullRequestEvent(
            provider="gitlab",
            action=action,
            number=number if isinstance(number, int) and not isinstance(number, bool) else 0,
            repo_urls=distinct_urls(
                target.get("git_http_url"),
                target.get("web_url"),
                target.get("git_ssh_url"),
                project.get("git_http_url"),
                project.get("web_url"),
            ),
            base_branch=as_str(attributes.get("target_branch")),
            head_branch=as_str(attributes.get("source_branch")),
            head_sha=as_str(as_dict(attributes.get("last_commit")).get("id")).lower(),
            head_repo_urls=distinct_urls(
                source.get("git_http_url"), source.get("web_url"), source.get("git_ssh_url")
            ),
            default_branch=as_str(project.get("default_branch") or target.get("default_branch")),
            title=as_str(attributes.get("title"))[:300],
            url=as_str(attributes.get("url")),
        )
    )


def pull_request_of(provider: str, event: str, payload: dict[str, Any]) -> PullRequestEvent | None:
    """The pull request a verified payload is about; None when it is about something else."""
    if provider in ("github", "gitea", "gogs") and event == "pull_request":
        return _github_like(provider, payload)
    if provider == "gitlab" and (
        event == "Merge Request Hook" or payload.get("object_kind") == "merge_request"
    ):
        return _gitlab(payload)
    return None
