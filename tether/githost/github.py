"""GitHub's REST API (github.com and GitHub Enterprise Server's ``/api/v3``), version 2022-11-28.

Endpoints: list, create and update pull requests (``/repos/{owner}/{repo}/pulls``), issue
comments (a pull request is an issue: ``/issues/{number}/comments``) and commit statuses
(``/statuses/{sha}``). Listings follow the ``Link`` header. A create that GitHub refuses with
422 "A pull request already exists" finds the open one and updates it instead.

Rate limits, as GitHub documents them: a 403 or 429 with ``x-ratelimit-remaining: 0`` lasts
until ``x-ratelimit-reset`` (epoch seconds); a secondary limit says ``retry-after`` seconds, or
nothing, and then a minute is the wait. Either raises `RateLimitedError` with that time; the
client does not sleep on its own, the caller's next round comes back later.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

import orjson

from tether.githost.api import DEFAULT_RETRY_AFTER, Answer, RestClient, status_body
from tether.githost.errors import (
    GitHostConfigError,
    GitHostResponseError,
    GitHostValidationError,
    RateLimitedError,
)
from tether.githost.models import COMMIT_STATES, Comment, CommitState, PullRequest, fit_text

API_VERSION = "2022-11-28"
#: GitHub refuses a pull request or comment body longer than this (characters)
MAX_BODY_CHARS = 65_536
#: and a status description longer than this
MAX_STATUS_DESCRIPTION = 140


def split_repo(repo: str) -> tuple[str, str]:
    """``owner`` and ``name`` of ``owner/name``, each quoted for a URL path."""
    owner, _, name = repo.strip("/").partition("/")
    if not owner or not name or "/" in name or ".." in (owner, name):
        raise GitHostConfigError(f"{repo!r} is not a repository path of the form owner/name")
    return quote(owner, safe=""), quote(name.removesuffix(".git"), safe="")


class GitHubClient(RestClient):
    """A `GitHost` for GitHub. ``api_url``: ``https://api.github.com``, or
    ``https://HOST/api/v3`` for GitHub Enterprise Server."""

    provider: ClassVar[str] = "GitHub"
    token_scopes: ClassVar[str] = (
        "a classic token needs the `repo` scope (`public_repo` for a public repository), a "
        "fine-grained token read and write access to Pull requests, Issues and Commit statuses"
    )
    #: the status a create answers when a pull request for the branches is already open
    exists_status: ClassVar[int] = 422
    #: the statuses an edit (PATCH) answers
    edit_statuses: ClassVar[tuple[int, ...]] = (200,)
    commit_states: ClassVar[tuple[str, ...]] = COMMIT_STATES

    def auth_headers(self, token: str) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
        }

    def list_params(self, owner: str, head: str, base: str) -> dict[str, str]:
        """Query of the open pull requests from ``head`` into ``base``."""
        return {
            "state": "open",
            "head": f"{owner}:{head}",
            "base": base,
            "per_page": str(self.limits.page_size),
        }

    async def find_pull_request(
        self, repo: str, head_branch: str, base_branch: str
    ) -> PullRequest | None:
        owner, name = split_repo(repo)
        action = f"looking for the open pull request {head_branch} → {base_branch} in {repo}"
        params = self.list_params(owner, head_branch, base_branch)
        wanted = (head_branch, base_branch, "open")
        owners = ("", repo.strip("/").partition("/")[0].lower())
        async for item in self.list_pages(f"repos/{owner}/{name}/pulls", params, action):
            pull = self.pull(item, action)
            # the query filters already; checked again so that a fork's branch of the same
            # name, or a host that ignores a filter, never passes for ours
            if (pull.head, pull.base, pull.state) == wanted and _head_owner(item) in owners:
                return pull
        return None

    async def open_pull_request(
        self, repo: str, head: str, base: str, title: str, body: str
    ) -> PullRequest:
        owner, name = split_repo(repo)
        action = f"opening a pull request {head} → {base} in {repo}"
        request = {"title": title, "head": head, "base": base, "body": self.fit(body)}
        answer = await self.send(
            "POST",
            f"repos/{owner}/{name}/pulls",
            action,
            body=request,
            accept=(201, self.exists_status),
        )
        if answer.status == 201:
            return self.pull(self.json_object(answer, action), action)
        if not self.already_exists(answer):
            raise self.error(answer, action)
        existing = await self.find_pull_request(repo, head, base)
        if existing is None:
            raise GitHostValidationError(
                f"{self.provider} at {self.host} says a pull request from {head} already exists "
                f"in {repo}, but none is open into {base}: {self.detail(answer)}",
                self.host,
            )
        return await self.update_pull_request(repo, existing.number, title, body)

    def already_exists(self, answer: Answer) -> bool:
        """True when a refused create means "a pull request for these branches is open"."""
        return "already exist" in self.detail(answer).lower()

    async def update_pull_request(
        self, repo: str, number: int, title: str | None = None, body: str | None = None
    ) -> PullRequest:
        owner, name = split_repo(repo)
        action = f"updating pull request #{number} in {repo}"
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = title
        if body is not None:
            changes["body"] = self.fit(body)
        answer = await self.send(
            "PATCH",
            f"repos/{owner}/{name}/pulls/{number}",
            action,
            body=changes,
            accept=self.edit_statuses,
        )
        return self.pull(self.json_object(answer, action), action)

    async def close_pull_request(self, repo: str, number: int, comment: str | None = None) -> None:
        owner, name = split_repo(repo)
        if comment:
            await self.comment(repo, number, comment)
        action = f"closing pull request #{number} in {repo}"
        await self.send(
            "PATCH",
            f"repos/{owner}/{name}/pulls/{number}",
            action,
            body={"state": "closed"},
            accept=self.edit_statuses,
        )

    async def comment(self, repo: str, number: int, body: str) -> None:
        owner, name = split_repo(repo)
        action = f"commenting on pull request #{number} in {repo}"
        await self.send(
            "POST",
            f"repos/{owner}/{name}/issues/{number}/comments",
            action,
            body={"body": self.fit(body)},
            accept=(201,),
        )

    async def list_pull_requests(self, repo: str) -> list[PullRequest]:
        owner, name = split_repo(repo)
        action = f"listing the open pull requests of {repo}"
        params = {**self.list_params(owner, "", ""), "state": "open"}
        params.pop("head", None)
        params.pop("base", None)
        params.pop("base_branch", None)
        return [
            self.pull(item, action)
            async for item in self.list_pages(f"repos/{owner}/{name}/pulls", params, action)
        ]

    async def comments(self, repo: str, number: int) -> list[Comment]:
        owner, name = split_repo(repo)
        action = f"listing the comments of pull request #{number} in {repo}"
        path = f"repos/{owner}/{name}/issues/{number}/comments"
        found = []
        async for item in self.list_pages(path, {"per_page": "100"}, action):
            found.append(Comment(_int(item.get("id")), _str(item.get("body"))))
        return found

    async def edit_comment(self, repo: str, number: int, comment_id: int, body: str) -> None:
        owner, name = split_repo(repo)
        action = f"editing comment {comment_id} of pull request #{number} in {repo}"
        await self.send(
            "PATCH",
            f"repos/{owner}/{name}/issues/comments/{comment_id}",
            action,
            body={"body": self.fit(body)},
            accept=self.edit_statuses,
        )

    async def set_commit_status(
        self,
        repo: str,
        sha: str,
        state: CommitState,
        context: str,
        description: str,
        target_url: str | None = None,
    ) -> None:
        owner, name = split_repo(repo)
        action = f"setting status {context!r} of commit {sha[:12]} in {repo}"
        words = {word: word for word in self.commit_states}
        request = status_body(
            state, words, ("context", context), description, target_url, MAX_STATUS_DESCRIPTION
        )
        await self.send(
            "POST",
            f"repos/{owner}/{name}/statuses/{quote(sha, safe='')}",
            action,
            body=request,
            accept=(201,),
        )

    def fit(self, body: str) -> str:
        return fit_text(body, MAX_BODY_CHARS)

    # -- answers ---------------------------------------------------------------------------

    def pull(self, item: dict[str, Any], action: str) -> PullRequest:
        """A `PullRequest` from GitHub's (and Gitea's) pull-request JSON. A listing's items
        have no ``merged``; ``merged_at`` says it there."""
        head, base = item.get("head"), item.get("base")
        try:
            assert isinstance(head, dict) and isinstance(base, dict)
            merged = item.get("merged")
            return PullRequest(
                number=_int(item["number"]),
                url=_str(item["html_url"]),
                head=_str(head["ref"]),
                base=_str(base["ref"]),
                title=_str(item.get("title") or ""),
                body=_str(item.get("body") or ""),
                state="open" if item.get("state") == "open" else "closed",
                merged=merged if isinstance(merged, bool) else item.get("merged_at") is not None,
                head_sha=_str(head.get("sha") or ""),
                labels=tuple(
                    _str(label.get("name"))
                    for label in item.get("labels") or []
                    if isinstance(label, dict) and label.get("name")
                ),
                author=_str((item.get("user") or {}).get("login") or ""),
            )
        except (AssertionError, KeyError, TypeError):
            raise GitHostResponseError(
                f"{self.provider} at {self.host} answered a pull request without number, "
                f"html_url, head or base while {action}",
                self.host,
            ) from None

    def detail(self, answer: Answer) -> str:
        """GitHub's message, with the ``errors`` of a 422 (each a message, or field and code)."""
        message = super().detail(answer)
        try:
            document = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            return message
        errors = document.get("errors") if isinstance(document, dict) else None
        parts: list[str] = []
        for entry in errors if isinstance(errors, list) else ():
            if isinstance(entry, dict) and entry.get("message"):
                parts.append(str(entry["message"]))
            elif isinstance(entry, dict) and entry.get("field"):
                parts.append(f"{entry.get('field')} {entry.get('code', 'invalid')}")
            elif isinstance(entry, str):
                parts.append(entry)
        return self.scrub(f"{message}: {'; '.join(parts)}") if parts else message

    def rate_limit(self, answer: Answer, action: str) -> RateLimitedError | None:
        if answer.status not in (403, 429):
            return None
        if answer.header_float("retry-after") is not None:
            return self.rate_limited(answer, action, self.retry_at(answer, reset_header=""))
        if answer.headers.get("x-ratelimit-remaining", "").strip() == "0":
            return self.rate_limited(answer, action, self.retry_at(answer, "x-ratelimit-reset"))
        if answer.status == 429 or "rate limit" in super().detail(answer).lower():
            return self.rate_limited(answer, action, self._clock() + DEFAULT_RETRY_AFTER)
        return None


def _head_owner(item: dict[str, Any]) -> str:
    label = (item.get("head") or {}).get("label") if isinstance(item.get("head"), dict) else None
    return label.partition(":")[0].lower() if isinstance(label, str) and ":" in label else ""


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("not an integer")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value
