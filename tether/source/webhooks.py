"""Push webhooks from Git forges: verification and parsing (the HTTP endpoint lives in the server).

`parse_webhook(headers, body, secrets)` checks the size, identifies the provider from its
headers, verifies the signature or token in constant time, and returns a `WebhookEvent`: the
repository URLs, the refs that moved and, when the payload lists them, the changed files.

A provider without a configured secret is refused: an unauthenticated webhook would let anyone
who reaches the endpoint trigger refreshes (and exercise the parser).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tether.source.errors import (
    WebhookError,
    WebhookNotConfiguredError,
    WebhookPayloadError,
    WebhookPayloadTooLargeError,
    WebhookSignatureError,
)
from tether.source.payloads import as_dict, as_list, distinct_urls
from tether.source.pullrequests import PullRequestEvent, pull_request_of
from tether.source.urls import normalize_repo_url

MAX_BODY_BYTES = 1024 * 1024
ZERO_SHA = "0" * 40

GITHUB = "github"
GITLAB = "gitlab"
BITBUCKET = "bitbucket"
BITBUCKET_SERVER = "bitbucket-server"
GITEA = "gitea"
GOGS = "gogs"
GENERIC = "generic"


@dataclass(frozen=True)
class WebhookSecrets:
    """The secret configured for each provider (None: webhooks from it are refused).

    `bitbucket_uuid` is the alternative Bitbucket Cloud check Argo CD uses (`X-Hook-UUID`).
    """

    github: str | None = None
    gitlab: str | None = None
    bitbucket: str | None = None
    bitbucket_uuid: str | None = None
    bitbucket_server: str | None = None
    gitea: str | None = None
    gogs: str | None = None
    generic: str | None = None


@dataclass(frozen=True)
class RefUpdate:
    """One ref a push moved; `before` is None for a new ref, `after` None for a deleted one."""

    ref: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class WebhookEvent:
    """A verified webhook. `changed_files` is None when the payload does not list files."""

    provider: str
    event: str
    repo_urls: tuple[str, ...]
    refs: tuple[RefUpdate, ...] = ()
    changed_files: frozenset[str] | None = None
    #: set when the event is about a pull (merge) request rather than a push
    pull_request: PullRequestEvent | None = None

    @property
    def repositories(self) -> frozenset[str]:
        """The repositories in canonical form (`normalize_repo_url`)."""
        return frozenset(normalize_repo_url(url) for url in self.repo_urls)

    def concerns(self, repo_url: str) -> bool:
        """True when the event is about `repo_url` (any https/ssh/.git spelling)."""
        return normalize_repo_url(repo_url) in self.repositories


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _sha(value: Any) -> str | None:
    return value if isinstance(value, str) and value and value != ZERO_SHA else None


def _require_secret(secret: str | None, provider: str, setting: str) -> str:
    if not secret:
        raise WebhookNotConfiguredError(
            f"{provider} webhook refused: no secret is configured for {provider} ({setting}); "
            "set one here and in the webhook's settings at the forge",
            provider,
        )
    return secret


def _check_hmac(body: bytes, secret: str, given: str | None, header: str, prefix: str) -> None:
    if not given:
        raise WebhookSignatureError(f"webhook refused: the {header} header is missing")
    signature = given.strip()
    if prefix:
        if not signature.startswith(prefix):
            raise WebhookSignatureError(
                f"webhook refused: the {header} header does not start with {prefix!r}"
            )
        signature = signature[len(prefix) :]
    expected = hmac.new(_bytes(secret), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), _bytes(signature.lower())):
        raise WebhookSignatureError(
            f"webhook refused: the {header} signature does not match the configured secret"
        )


def _check_token(secret: str, given: str | None, header: str) -> None:
    if given is None or not hmac.compare_digest(_bytes(secret), _bytes(given)):
        raise WebhookSignatureError(
            f"webhook refused: the {header} header does not match the configured secret"
        )


def _json(body: bytes, provider: str) -> dict[str, Any]:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise WebhookPayloadError(f"{provider} webhook: the body is not JSON ({error})") from None
    if not isinstance(payload, dict):
        raise WebhookPayloadError(f"{provider} webhook: the body is not a JSON object")
    return payload


def _bytes(text: str) -> bytes:
    # Header values are text a client chose: a lone surrogate must not raise while encoding.
    return text.encode("utf-8", "surrogatepass")


def _commit_files(commits: Any) -> frozenset[str] | None:
    if not isinstance(commits, list) or not commits:
        return None
    files: set[str] = set()
    for commit in commits:
        for key in ("added", "modified", "removed"):
            value = as_dict(commit).get(key)
            if isinstance(value, list):
                files.update(v for v in value if isinstance(v, str))
    return frozenset(files)


def _github_like(provider: str, event: str, payload: dict[str, Any]) -> WebhookEvent:
    pull = pull_request_of(provider, event, payload)
    if pull is not None:
        return WebhookEvent(provider, event, pull.repo_urls, pull_request=pull)
    repository = as_dict(payload.get("repository"))
    urls = distinct_urls(
        repository.get("clone_url"),
        repository.get("html_url"),
        repository.get("ssh_url"),
        repository.get("git_url"),
    )
    if not urls:
        raise WebhookPayloadError(f"{provider} webhook: the payload names no repository")
    ref = payload.get("ref")
    refs: tuple[RefUpdate, ...] = ()
    if isinstance(ref, str) and ref:
        refs = (RefUpdate(ref, _sha(payload.get("before")), _sha(payload.get("after"))),)
    # GitHub lists at most 20 commits: a longer push has files we cannot see, so say unknown.
    commits = payload.get("commits")
    truncated = isinstance(commits, list) and len(commits) >= 20 and provider == GITHUB
    files = None if truncated else _commit_files(commits)
    return WebhookEvent(provider, event, urls, refs, files)


def _gitlab(event: str, payload: dict[str, Any]) -> WebhookEvent:
    pull = pull_request_of(GITLAB, event, payload)
    if pull is not None:
        return WebhookEvent(GITLAB, event, pull.repo_urls, pull_request=pull)
    project = as_dict(payload.get("project"))
    repository = as_dict(payload.get("repository"))
    urls = distinct_urls(
        project.get("git_http_url"),
        project.get("git_ssh_url"),
        project.get("web_url"),
        repository.get("git_http_url"),
        repository.get("git_ssh_url"),
        repository.get("homepage"),
    )
    if not urls:
        raise WebhookPayloadError("gitlab webhook: the payload names no repository")
    ref = payload.get("ref")
    refs: tuple[RefUpdate, ...] = ()
    if isinstance(ref, str) and ref:
        refs = (RefUpdate(ref, _sha(payload.get("before")), _sha(payload.get("after"))),)
    commits = payload.get("commits")
    total = payload.get("total_commits_count")
    # GitLab also caps the listed commits (20); when more were pushed the file list is partial.
    partial = isinstance(total, int) and isinstance(commits, list) and total > len(commits)
    return WebhookEvent(GITLAB, event, urls, refs, None if partial else _commit_files(commits))


def _bitbucket(event: str, payload: dict[str, Any]) -> WebhookEvent:
    repository = as_dict(payload.get("repository"))
    links = as_dict(repository.get("links"))
    html = as_dict(links.get("html")).get("href")
    full_name = repository.get("full_name")
    urls = distinct_urls(html, f"https://bitbucket.org/{full_name}" if full_name else None)
    if not urls:
        raise WebhookPayloadError("bitbucket webhook: the payload names no repository")
    refs: list[RefUpdate] = []
    for change in as_list(as_dict(payload.get("push")).get("changes")):
        old = as_dict(as_dict(change).get("old"))
        new = as_dict(as_dict(change).get("new"))
        name = new.get("name") or old.get("name")
        kind = new.get("type") or old.get("type")
        if not isinstance(name, str):
            continue
        prefix = "refs/tags/" if kind in ("tag", "annotated_tag") else "refs/heads/"
        before = _sha(as_dict(old.get("target")).get("hash"))
        after = _sha(as_dict(new.get("target")).get("hash"))
        refs.append(RefUpdate(prefix + name, before, after))
    return WebhookEvent(BITBUCKET, event, urls, tuple(refs), None)


def _bitbucket_server(event: str, payload: dict[str, Any]) -> WebhookEvent:
    repository = as_dict(payload.get("repository"))
    clones = as_list(as_dict(repository.get("links")).get("clone"))
    urls = distinct_urls(*(as_dict(link).get("href") for link in clones))
    if not urls and event != "diagnostics:ping":
        raise WebhookPayloadError("bitbucket-server webhook: the payload has no clone links")
    refs: list[RefUpdate] = []
    for change in as_list(payload.get("changes")):
        change = as_dict(change)
        ref = change.get("refId") or as_dict(change.get("ref")).get("id")
        if isinstance(ref, str):
            refs.append(RefUpdate(ref, _sha(change.get("fromHash")), _sha(change.get("toHash"))))
    return WebhookEvent(BITBUCKET_SERVER, event, urls, tuple(refs), None)


def _generic(payload: dict[str, Any]) -> WebhookEvent:
    repository = payload.get("repository")
    repositories = repository if isinstance(repository, list) else [repository]
    urls = distinct_urls(*repositories)
    if not urls:
        raise WebhookPayloadError(
            'generic webhook: "repository" must be a repository URL or a list of them'
        )
    refs: list[RefUpdate] = []
    for item in as_list(payload.get("refs")):
        item = as_dict(item)
        if isinstance(item.get("ref"), str):
            refs.append(RefUpdate(item["ref"], _sha(item.get("before")), _sha(item.get("after"))))
    files = payload.get("files")
    changed = frozenset(f for f in files if isinstance(f, str)) if isinstance(files, list) else None
    return WebhookEvent(GENERIC, "push", urls, tuple(refs), changed)


def parse_webhook(
    headers: Mapping[str, str],
    body: bytes,
    secrets: WebhookSecrets,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> WebhookEvent:
    """Verify and parse one webhook request; raise a `WebhookError` (with an HTTP `status`).

    `headers` may use any case. Supported: GitHub (`X-GitHub-Event`, `X-Hub-Signature-256`),
    GitLab (`X-Gitlab-Event`, `X-Gitlab-Token`), Bitbucket Cloud (`X-Event-Key: repo:push`,
    `X-Hub-Signature` or `X-Hook-UUID`), Bitbucket Server (`X-Event-Key: repo:refs_changed`,
    `X-Hub-Signature`), Gitea (`X-Gitea-Event`, `X-Gitea-Signature`), Gogs (`X-Gogs-Event`,
    `X-Gogs-Signature`) and Tether's generic form (`X-Tether-Event`, `X-Tether-Signature`).
    The signature is checked before the body is parsed.
    """
    if len(body) > max_body_bytes:
        raise WebhookPayloadTooLargeError(
            f"webhook refused: the body has {len(body)} bytes, more than the limit of "
            f"{max_body_bytes} bytes"
        )
    if (event := _header(headers, "X-Gitea-Event")) is not None:
        secret = _require_secret(secrets.gitea, GITEA, "webhook gitea secret")
        _check_hmac(body, secret, _header(headers, "X-Gitea-Signature"), "X-Gitea-Signature", "")
        return _github_like(GITEA, event, _json(body, GITEA))
    if (event := _header(headers, "X-Gogs-Event")) is not None:
        secret = _require_secret(secrets.gogs, GOGS, "webhook gogs secret")
        _check_hmac(body, secret, _header(headers, "X-Gogs-Signature"), "X-Gogs-Signature", "")
        return _github_like(GOGS, event, _json(body, GOGS))
    if (event := _header(headers, "X-GitHub-Event")) is not None:
        secret = _require_secret(secrets.github, GITHUB, "webhook github secret")
        _check_hmac(
            body,
            secret,
            _header(headers, "X-Hub-Signature-256"),
            "X-Hub-Signature-256",
            "sha256=",
        )
        if event == "ping":  # sent when the hook is created; names no push
            return WebhookEvent(GITHUB, event, ())
        return _github_like(GITHUB, event, _json(body, GITHUB))
    if (event := _header(headers, "X-Gitlab-Event")) is not None:
        secret = _require_secret(secrets.gitlab, GITLAB, "webhook gitlab secret")
        _check_token(secret, _header(headers, "X-Gitlab-Token"), "X-Gitlab-Token")
        return _gitlab(event, _json(body, GITLAB))
    if (event := _header(headers, "X-Event-Key")) is not None:
        server = event.startswith(("repo:refs_changed", "diagnostics:")) or (
            _header(headers, "X-Request-Id") is not None
            and _header(headers, "X-Hook-UUID") is None
            and _header(headers, "X-Request-UUID") is None
        )
        signature = _header(headers, "X-Hub-Signature")
        if server:
            secret = _require_secret(
                secrets.bitbucket_server, BITBUCKET_SERVER, "webhook bitbucket-server secret"
            )
            _check_hmac(body, secret, signature, "X-Hub-Signature", "sha256=")
            return _bitbucket_server(event, _json(body, BITBUCKET_SERVER))
        if secrets.bitbucket:
            _check_hmac(body, secrets.bitbucket, signature, "X-Hub-Signature", "sha256=")
        elif secrets.bitbucket_uuid:
            _check_token(secrets.bitbucket_uuid, _header(headers, "X-Hook-UUID"), "X-Hook-UUID")
        else:
            _require_secret(None, BITBUCKET, "webhook bitbucket secret or uuid")
        return _bitbucket(event, _json(body, BITBUCKET))
    if _header(headers, "X-Tether-Event") is not None:
        secret = _require_secret(secrets.generic, GENERIC, "webhook generic secret")
        _check_hmac(
            body, secret, _header(headers, "X-Tether-Signature"), "X-Tether-Signature", "sha256="
        )
        return _generic(_json(body, GENERIC))
    raise WebhookError(
        "webhook refused: no known provider header (X-GitHub-Event, X-Gitlab-Event, X-Event-Key, "
        "X-Gitea-Event, X-Gogs-Event or X-Tether-Event)"
    )
