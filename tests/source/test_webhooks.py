"""Webhooks of each provider: valid signature accepted, bad one rejected, oversized body rejected."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson
import pytest

from tether.source import (
    WebhookError,
    WebhookNotConfiguredError,
    WebhookPayloadError,
    WebhookPayloadTooLargeError,
    WebhookSecrets,
    WebhookSignatureError,
    parse_webhook,
)
from tether.source.webhooks import RefUpdate

SECRET = "webhook-secret"
SECRETS = WebhookSecrets(
    github=SECRET,
    gitlab=SECRET,
    bitbucket=SECRET,
    bitbucket_server=SECRET,
    gitea=SECRET,
    gogs=SECRET,
    generic=SECRET,
)
OLD, NEW = "a" * 40, "b" * 40


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


GITHUB_BODY: dict[str, Any] = {
    "ref": "refs/heads/main",
    "before": OLD,
    "after": NEW,
    "repository": {
        "clone_url": "https://github.com/org/repo.git",
        "ssh_url": "git@github.com:org/repo.git",
        "html_url": "https://github.com/org/repo",
    },
    "commits": [
        {"added": ["apps/a/new.yaml"], "modified": ["apps/a/base/d.yaml"], "removed": []},
        {"added": [], "modified": [], "removed": ["apps/b/old.yaml"]},
    ],
}
GITLAB_BODY: dict[str, Any] = {
    "object_kind": "push",
    "ref": "refs/heads/main",
    "before": OLD,
    "after": NEW,
    "total_commits_count": 1,
    "project": {
        "git_http_url": "https://gitlab.com/group/repo.git",
        "git_ssh_url": "git@gitlab.com:group/repo.git",
    },
    "commits": [{"added": [], "modified": ["x.yaml"], "removed": []}],
}
BITBUCKET_BODY: dict[str, Any] = {
    "repository": {
        "full_name": "team/repo",
        "links": {"html": {"href": "https://bitbucket.org/team/repo"}},
    },
    "push": {
        "changes": [
            {
                "old": {"type": "branch", "name": "main", "target": {"hash": OLD}},
                "new": {"type": "branch", "name": "main", "target": {"hash": NEW}},
            },
            {"old": None, "new": {"type": "tag", "name": "v1", "target": {"hash": NEW}}},
        ]
    },
}
BITBUCKET_SERVER_BODY: dict[str, Any] = {
    "eventKey": "repo:refs_changed",
    "repository": {
        "slug": "repo",
        "links": {
            "clone": [
                {"href": "https://bitbucket.example.com/scm/prj/repo.git", "name": "http"},
                {"href": "ssh://git@bitbucket.example.com:7999/prj/repo.git", "name": "ssh"},
            ]
        },
    },
    "changes": [
        {
            "ref": {"id": "refs/heads/main", "type": "BRANCH"},
            "refId": "refs/heads/main",
            "fromHash": OLD,
            "toHash": NEW,
            "type": "UPDATE",
        }
    ],
}
GITEA_BODY: dict[str, Any] = {
    "ref": "refs/heads/main",
    "before": OLD,
    "after": "0" * 40,
    "repository": {
        "clone_url": "https://gitea.example.com/org/repo.git",
        "ssh_url": "git@gitea.example.com:org/repo.git",
    },
    "commits": [],
}
GENERIC_BODY: dict[str, Any] = {
    "repository": "https://git.example.com/org/repo.git",
    "refs": [{"ref": "refs/heads/main", "before": OLD, "after": NEW}],
    "files": ["apps/a/x.yaml"],
}

CASES = {
    "github": (
        GITHUB_BODY,
        lambda b, s: {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={s}"},
    ),
    "gitlab": (
        GITLAB_BODY,
        lambda b, s: {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": s},
    ),
    "bitbucket": (
        BITBUCKET_BODY,
        lambda b, s: {
            "X-Event-Key": "repo:push",
            "X-Hook-UUID": "u",
            "X-Hub-Signature": f"sha256={s}",
        },
    ),
    "bitbucket-server": (
        BITBUCKET_SERVER_BODY,
        lambda b, s: {"X-Event-Key": "repo:refs_changed", "X-Hub-Signature": f"sha256={s}"},
    ),
    "gitea": (GITEA_BODY, lambda b, s: {"X-Gitea-Event": "push", "X-Gitea-Signature": s}),
    "gogs": (GITEA_BODY, lambda b, s: {"X-Gogs-Event": "push", "X-Gogs-Signature": s}),
    "generic": (
        GENERIC_BODY,
        lambda b, s: {"X-Tether-Event": "push", "X-Tether-Signature": f"sha256={s}"},
    ),
}


def request(provider: str, good: bool = True) -> tuple[dict[str, str], bytes]:
    payload, headers = CASES[provider]
    body = orjson.dumps(payload)
    if provider == "gitlab":
        proof = SECRET if good else "wrong-token"
    else:
        proof = sign(body, SECRET if good else "wrong-secret")
    return headers(body, proof), body


@pytest.mark.parametrize("provider", sorted(CASES))
def test_valid_signature_is_accepted(provider: str) -> None:
    headers, body = request(provider)

    event = parse_webhook({k.lower(): v for k, v in headers.items()}, body, SECRETS)

    assert event.provider == provider
    assert event.refs and event.refs[0].ref == "refs/heads/main"
    assert event.repo_urls


@pytest.mark.parametrize("provider", sorted(CASES))
def test_bad_signature_is_rejected(provider: str) -> None:
    headers, body = request(provider, good=False)

    with pytest.raises(WebhookSignatureError) as caught:
        parse_webhook(headers, body, SECRETS)

    assert caught.value.status == 401
    assert SECRET not in str(caught.value)


# GitLab sends a shared token, not a signature of the body.
@pytest.mark.parametrize("provider", sorted(set(CASES) - {"gitlab"}))
def test_tampered_body_is_rejected(provider: str) -> None:
    headers, body = request(provider)

    with pytest.raises(WebhookSignatureError):
        parse_webhook(headers, body.replace(b"main", b"evil"), SECRETS)


@pytest.mark.parametrize("provider", sorted(CASES))
def test_oversized_body_is_rejected_before_verification(provider: str) -> None:
    headers, _ = request(provider)
    body = b" " * (1024 * 1024 + 1)

    with pytest.raises(WebhookPayloadTooLargeError, match="more than the limit") as caught:
        parse_webhook(headers, body, SECRETS)

    assert caught.value.status == 413


@pytest.mark.parametrize("provider", sorted(CASES))
def test_provider_without_configured_secret_is_refused(provider: str) -> None:
    headers, body = request(provider)

    with pytest.raises(WebhookNotConfiguredError, match="no secret is configured"):
        parse_webhook(headers, body, WebhookSecrets())


def test_github_push_gives_repository_refs_and_changed_files() -> None:
    headers, body = request("github")

    event = parse_webhook(headers, body, SECRETS)

    assert event.refs == (RefUpdate("refs/heads/main", OLD, NEW),)
    assert event.changed_files == {"apps/a/new.yaml", "apps/a/base/d.yaml", "apps/b/old.yaml"}
    assert event.concerns("git@github.com:org/repo")
    assert event.concerns("https://github.com/org/repo")
    assert not event.concerns("https://github.com/org/other")


def test_deleted_branch_and_new_tag_have_no_after_or_before() -> None:
    gitea = parse_webhook(*request("gitea"), SECRETS)
    bitbucket = parse_webhook(*request("bitbucket"), SECRETS)

    assert gitea.refs == (RefUpdate("refs/heads/main", OLD, None),)
    assert bitbucket.refs[1] == RefUpdate("refs/tags/v1", None, NEW)
    assert bitbucket.changed_files is None
    assert bitbucket.concerns("git@bitbucket.org:team/repo.git")


def test_bitbucket_server_clone_links_match_the_repository() -> None:
    event = parse_webhook(*request("bitbucket-server"), SECRETS)

    assert event.concerns("https://bitbucket.example.com/scm/prj/repo")
    assert event.refs == (RefUpdate("refs/heads/main", OLD, NEW),)


def test_bitbucket_cloud_hook_uuid_is_accepted_when_no_secret_is_set() -> None:
    body = orjson.dumps(BITBUCKET_BODY)
    headers = {"X-Event-Key": "repo:push", "X-Hook-UUID": "{1234}"}
    secrets = WebhookSecrets(bitbucket_uuid="{1234}")

    assert parse_webhook(headers, body, secrets).provider == "bitbucket"
    with pytest.raises(WebhookSignatureError):
        parse_webhook({**headers, "X-Hook-UUID": "{9999}"}, body, secrets)


def test_github_truncated_commit_list_means_files_unknown() -> None:
    payload = {**GITHUB_BODY, "commits": [{"modified": ["f"]}] * 20}
    body = orjson.dumps(payload)
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={sign(body)}"}

    assert parse_webhook(headers, body, SECRETS).changed_files is None


def test_signed_garbage_and_unknown_providers_are_clear_errors() -> None:
    body = b"not json"
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={sign(body)}"}

    with pytest.raises(WebhookPayloadError, match="not JSON"):
        parse_webhook(headers, body, SECRETS)
    with pytest.raises(WebhookError, match="no known provider header"):
        parse_webhook({"Content-Type": "application/json"}, b"{}", SECRETS)
