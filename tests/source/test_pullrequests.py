"""Pull-request webhooks in the documented shapes of GitHub, Gitea and GitLab, and hostile ones."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
import pytest

from tether.source.errors import WebhookPayloadError
from tether.source.pullrequests import CLOSED, IGNORED, PREVIEW, pull_request_of
from tether.source.webhooks import WebhookSecrets, parse_webhook

SHA = "0123456789abcdef0123456789abcdef01234567"
FORK_SHA = "f" * 40


def github(action: str = "opened", *, fork: bool = False) -> dict[str, Any]:
    base_repo = {
        "clone_url": "https://github.com/acme/deploy.git",
        "html_url": "https://github.com/acme/deploy",
        "default_branch": "main",
    }
    head_repo = {"clone_url": "https://github.com/someone/deploy.git"} if fork else base_repo
    return {
        "action": action,
        "number": 42,
        "pull_request": {
            "number": 42,
            "title": "Bump payment-service",
            "html_url": "https://github.com/acme/deploy/pull/42",
            "head": {"ref": "bump", "sha": FORK_SHA if fork else SHA, "repo": head_repo},
            "base": {"ref": "main", "sha": "b" * 40, "repo": base_repo},
        },
        "repository": base_repo,
    }


def test_github_opened_names_the_base_repository_branches_and_head() -> None:
    event = pull_request_of("github", "pull_request", github())
    assert event is not None
    assert (event.action, event.number, event.base_branch, event.head_branch) == (
        PREVIEW, 42, "main", "bump"
    )  # fmt: skip
    assert event.head_sha == SHA and event.default_branch == "main"
    assert event.repo_urls[0] == "https://github.com/acme/deploy.git"
    assert event.same_repository and event.head_ref == "refs/heads/bump"


def test_a_fork_is_fetched_through_the_hosts_pull_ref() -> None:
    event = pull_request_of("github", "pull_request", github(fork=True))
    assert event is not None and not event.same_repository
    assert event.head_ref == "refs/pull/42/head"


@pytest.mark.parametrize(
    ("action", "meaning"),
    [("synchronize", PREVIEW), ("reopened", PREVIEW), ("closed", CLOSED), ("labeled", IGNORED)],
)
def test_github_actions(action: str, meaning: str) -> None:
    event = pull_request_of("github", "pull_request", github(action))
    assert event is not None and event.action == meaning


def test_gitea_says_synchronized() -> None:
    event = pull_request_of("gitea", "pull_request", github("synchronized"))
    assert event is not None and event.action == PREVIEW and event.head_ref == "refs/heads/bump"


def gitlab(action: str = "update", oldrev: str | None = "c" * 40) -> dict[str, Any]:
    return {
        "object_kind": "merge_request",
        "project": {
            "git_http_url": "https://gitlab.example.com/platform/deploy.git",
            "web_url": "https://gitlab.example.com/platform/deploy",
            "default_branch": "main",
        },
        "object_attributes": {
            "iid": 7,
            "action": action,
            "source_branch": "bump",
            "target_branch": "main",
            "last_commit": {"id": SHA},
            **({"oldrev": oldrev} if oldrev else {}),
            "source": {"git_http_url": "https://gitlab.example.com/platform/deploy.git"},
            "target": {"git_http_url": "https://gitlab.example.com/platform/deploy.git"},
            "url": "https://gitlab.example.com/platform/deploy/-/merge_requests/7",
        },
    }


def test_gitlab_merge_request_hook() -> None:
    event = pull_request_of("gitlab", "Merge Request Hook", gitlab())
    assert event is not None and event.action == PREVIEW and event.number == 7
    assert event.head_ref == "refs/heads/bump"
    # an update without oldrev changed the title or labels: no new commits to preview
    quiet = pull_request_of("gitlab", "Merge Request Hook", gitlab(oldrev=None))
    assert quiet is not None and quiet.action == IGNORED
    merged = pull_request_of("gitlab", "Merge Request Hook", gitlab("merge"))
    assert merged is not None and merged.action == CLOSED


@pytest.mark.parametrize(
    "broken",
    [
        {"number": "42"},
        {"number": True},
        {"pull_request": {"head": {"ref": "bump", "sha": "not-a-sha"}, "base": {"ref": "main"}}},
        {"pull_request": {"head": {"ref": "", "sha": SHA}, "base": {"ref": "main"}}},
        {"repository": None, "pull_request": {"head": {}, "base": {}}},
    ],
)
def test_hostile_payloads_are_refused_clearly(broken: dict[str, Any]) -> None:
    payload = {**github(), **broken}
    with pytest.raises(WebhookPayloadError, match="pull request webhook"):
        pull_request_of("github", "pull_request", payload)


def test_the_webhook_parser_hands_pull_requests_over_after_the_signature() -> None:
    body = orjson.dumps(github())
    signature = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "pull_request", "X-Hub-Signature-256": signature}
    event = parse_webhook(headers, body, WebhookSecrets(github="s3cret"))
    assert event.pull_request is not None and event.pull_request.number == 42
    assert event.refs == () and event.changed_files is None
