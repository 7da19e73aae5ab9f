"""GitLab's REST API (``/api/v4``): merge requests, their notes, and commit statuses.

A project is addressed by its URL-encoded path (``group%2Fsubgroup%2Fproject``), a merge request
by its ``iid`` (the number people see). Listings follow the ``x-next-page`` header. A create that
GitLab refuses with 409 ("Another open merge request already exists for this source branch")
finds the open one and updates it. Rate limits are 429 answers with ``retry-after`` or
``ratelimit-reset`` (epoch seconds).

Commit states map onto GitLab's: ``failure`` and ``error`` are both ``failed``. GitLab refuses
to set a status to the state it already has (400 "Cannot transition status"); that counts as
done.

There is no fake GitLab server in `tether.githost.fake`: the tests check this client's
requests against GitLab's documented shapes with an in-test handler.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import quote

from tether.githost.api import Answer, RestClient, status_body
from tether.githost.errors import GitHostConfigError, GitHostResponseError, GitHostValidationError
from tether.githost.models import Comment, CommitState, PullRequest, fit_text

#: GitLab refuses a description or note longer than this (characters)
MAX_BODY_CHARS = 1_000_000
MAX_STATUS_DESCRIPTION = 255
_STATES = {"pending": "pending", "success": "success", "failure": "failed", "error": "failed"}


def project_id(repo: str) -> str:
    """The URL-encoded path GitLab takes where a project id goes."""
    path = repo.strip("/").removesuffix(".git")
    if "/" not in path or any(part in ("", ".", "..") for part in path.split("/")):
        raise GitHostConfigError(f"{repo!r} is not a project path of the form group/project")
    return quote(path, safe="")


class GitLabClient(RestClient):
    """A `GitHost` for GitLab (gitlab.com or self-managed). ``api_url``: ``https://HOST/api/v4``."""

    provider: ClassVar[str] = "GitLab"
    token_scopes: ClassVar[str] = (
        "the token needs the `api` scope and at least the Developer role in the project"
    )

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"PRIVATE-TOKEN": token, "Accept": "application/json"}

    def next_page(
        self, answer: Answer, path: str, params: dict[str, str]
    ) -> tuple[str | None, dict[str, str] | None]:
        following = answer.headers.get("x-next-page", "").strip()
        if not following.isdigit():
            return None, None
        return path, {**params, "page": following}

    async def find_pull_request(
        self, repo: str, head_branch: str, base_branch: str
    ) -> PullRequest | None:
        project = project_id(repo)
        action = f"looking for the open merge request {head_branch} → {base_branch} in {repo}"
        params = {
            "state": "opened",
            "source_branch": head_branch,
            "target_branch": base_branch,
            "per_page": str(self.limits.page_size),
            "page": "1",
        }
        async for item in self.list_pages(f"projects/{project}/merge_requests", params, action):
            found = self.merge_request(item, action)
            if (found.head, found.base, found.state) == (head_branch, base_branch, "open"):
                return found
        return None

    async def open_pull_request(
        self, repo: str, head: str, base: str, title: str, body: str
    ) -> PullRequest:
        project = project_id(repo)
        action = f"opening a merge request {head} → {base} in {repo}"
        request = {
            "source_branch": head,
            "target_branch": base,
            "title": title,
            "description": fit_text(body, MAX_BODY_CHARS),
        }
        answer = await self.send(
            "POST", f"projects/{project}/merge_requests", action, body=request, accept=(201, 409)
        )
        if answer.status == 201:
            return self.merge_request(self.json_object(answer, action), action)
        existing = await self.find_pull_request(repo, head, base)
        if existing is None:
            raise GitHostValidationError(
                f"{self.provider} at {self.host} refused {action}: {self.detail(answer)}",
                self.host,
            )
        return await self.update_pull_request(repo, existing.number, title, body)

    async def update_pull_request(
        self, repo: str, number: int, title: str | None = None, body: str | None = None
    ) -> PullRequest:
        action = f"updating merge request !{number} in {repo}"
        changes: dict[str, Any] = {}
        if title is not None:
            changes["title"] = title
        if body is not None:
            changes["description"] = fit_text(body, MAX_BODY_CHARS)
        answer = await self.send(
            "PUT",
            f"projects/{project_id(repo)}/merge_requests/{number}",
            action,
            body=changes,
            accept=(200,),
        )
        return self.merge_request(self.json_object(answer, action), action)

    async def close_pull_request(self, repo: str, number: int, comment: str | None = None) -> None:
        if comment:
            await self.comment(repo, number, comment)
        await self.send(
            "PUT",
            f"projects/{project_id(repo)}/merge_requests/{number}",
            f"closing merge request !{number} in {repo}",
            body={"state_event": "close"},
            accept=(200,),
        )

    async def comment(self, repo: str, number: int, body: str) -> None:
        await self.send(
            "POST",
            f"projects/{project_id(repo)}/merge_requests/{number}/notes",
            f"commenting on merge request !{number} in {repo}",
            body={"body": fit_text(body, MAX_BODY_CHARS)},
            accept=(201,),
        )

    async def list_pull_requests(self, repo: str) -> list[PullRequest]:
        action = f"listing the open merge requests of {repo}"
        params = {"state": "opened", "per_page": str(self.limits.page_size), "page": "1"}
        path = f"projects/{project_id(repo)}/merge_requests"
        return [
            self.merge_request(item, action) async for item in self.list_pages(path, params, action)
        ]

    async def comments(self, repo: str, number: int) -> list[Comment]:
        action = f"listing the notes of merge request !{number} in {repo}"
        path = f"projects/{project_id(repo)}/merge_requests/{number}/notes"
        params = {"per_page": "100", "sort": "asc", "order_by": "created_at"}
        found = []
        async for item in self.list_pages(path, params, action):
            if item.get("system"):
                continue  # GitLab's own notes (pushes, label changes)
            note_id, body = item.get("id"), item.get("body")
            if isinstance(note_id, int) and isinstance(body, str):
                found.append(Comment(note_id, body))
        return found

    async def edit_comment(self, repo: str, number: int, comment_id: int, body: str) -> None:
        await self.send(
            "PUT",
            f"projects/{project_id(repo)}/merge_requests/{number}/notes/{comment_id}",
            f"editing note {comment_id} of merge request !{number} in {repo}",
            body={"body": fit_text(body, MAX_BODY_CHARS)},
            accept=(200,),
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
        action = f"setting status {context!r} of commit {sha[:12]} in {repo}"
        request = status_body(
            state, _STATES, ("name", context), description, target_url, MAX_STATUS_DESCRIPTION
        )
        answer = await self.send(
            "POST",
            f"projects/{project_id(repo)}/statuses/{quote(sha, safe='')}",
            action,
            body=request,
            accept=(201, 400),
        )
        if answer.status == 400 and "cannot transition status" not in self.detail(answer).lower():
            raise self.error(answer, action)

    def merge_request(self, item: dict[str, Any], action: str) -> PullRequest:
        """A `PullRequest` from GitLab's merge-request JSON (``state``: opened, closed, locked,
        merged; ``locked`` is an open one being merged)."""
        try:
            number, url = item["iid"], item["web_url"]
            head, base = item["source_branch"], item["target_branch"]
            state = item.get("state")
            fields = (url, head, base, item.get("title") or "", item.get("description") or "")
            if isinstance(number, bool) or not isinstance(number, int):
                raise TypeError("iid")
            if not all(isinstance(value, str) for value in fields):
                raise TypeError("field")
        except (KeyError, TypeError):
            raise GitHostResponseError(
                f"{self.provider} at {self.host} answered a merge request without iid, web_url, "
                f"source_branch or target_branch while {action}",
                self.host,
            ) from None
        sha = item.get("sha")
        return PullRequest(
            number=number,
            url=url,
            head=head,
            base=base,
            title=fields[3],
            body=fields[4],
            state="open" if state in ("opened", "locked") else "closed",
            merged=state == "merged",
            head_sha=sha if isinstance(sha, str) else "",
            labels=tuple(
                str(label) for label in item.get("labels") or [] if isinstance(label, str)
            ),
            author=str((item.get("author") or {}).get("username") or ""),
        )
