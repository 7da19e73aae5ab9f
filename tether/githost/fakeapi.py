"""The HTTP face of the fake Git host: GitHub's REST API under ``/api/v3`` (GitHub Enterprise's
layout) and Gitea's under ``/api/v1``, over one `FakeForge`.

What each API documents, and only that: the pull-request, issue-comment, commit-status and
merge endpoints; tokens in ``Authorization`` (GitHub ``Bearer``/``token``, Gitea ``token``/
``Bearer``) with each API's 401 and 403 bodies; 404, 409 and 422 with their messages; pages
(``per_page``/``limit`` and ``page``, capped, with a ``Link`` header); GitHub's
``x-ratelimit-*`` headers on every answer, a per-token hourly budget, and a switch for its
secondary limit (403 or 429, with ``retry-after``); for Gitea, a switch for a 429 from a proxy.
The dialect classes hold what differs; the handlers are shared.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from tether.githost.fakeforge import FakeComment, FakeForge, FakePull, FakeStatus, Refusal

GITHUB_DOCS = "https://docs.github.com/rest"
RATE_LIMIT_WINDOW = 3600.0


@dataclass(frozen=True)
class FakeUser:
    """Whom a token stands for; a token without ``write`` may only read."""

    login: str
    write: bool = True


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it; ``auth_scheme`` is the word before the token."""

    api: str
    method: str
    path: str
    query: str
    auth_scheme: str
    headers: Mapping[str, str]
    body: Any


@dataclass
class ApiControls:
    """The switches and records tests use."""

    tokens: dict[str, FakeUser]
    max_page_size: int = 100
    github_rate_limit: int = 5000
    #: GitHub's secondary limit: (status 403 or 429, retry-after seconds or None) while set
    secondary_limit: tuple[int, float | None] | None = None
    #: Gitea behind a throttling proxy: 429 with this retry-after while set
    gitea_throttle: float | None = None
    #: where the server listens (``http://127.0.0.1:PORT``), once it does
    origin: str = ""
    #: the git server's URL of the repositories' folder (``clone_url`` is it plus ``o/r.git``)
    clone_prefix: str = ""
    requests: list[RecordedRequest] = field(default_factory=list)
    usage: dict[str, tuple[float, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class Call:
    """A request's parts, handed to a handler run off the event loop."""

    repo: str
    path: Mapping[str, str]
    query: Mapping[str, str]
    body: Any
    url: str
    origin: str
    user: FakeUser


def json_response(status: int, document: Any, headers: Mapping[str, str] | None = None) -> Response:
    content = b"" if document is None else orjson.dumps(document)
    media = "application/json; charset=utf-8"
    return Response(content, status_code=status, headers=dict(headers or {}), media_type=media)


class Dialect:
    """What GitHub and Gitea do differently; this base speaks GitHub."""

    name = "github"
    prefix = "/api/v3"
    max_page = 100
    default_page = 30
    edit_status = 200
    commit_states: tuple[str, ...] = ("error", "failure", "pending", "success")
    merge_methods: tuple[str, ...] = ("merge", "squash", "rebase")

    def __init__(self, forge: FakeForge, controls: ApiControls) -> None:
        self.forge = forge
        self.controls = controls

    def error(self, status: int, message: str, **extra: Any) -> Response:
        document = {"message": message, **extra, "documentation_url": GITHUB_DOCS}
        return json_response(status, {**document, "status": str(status)})

    def invalid(self, *errors: dict[str, str]) -> Response:
        return self.error(422, "Validation Failed", errors=list(errors))

    def unauthorized(self, token: str | None) -> Response:
        return self.error(401, "Requires authentication" if token is None else "Bad credentials")

    def read_only(self) -> Response:
        return self.error(403, "Resource not accessible by personal access token")

    def token(self, request: Request) -> tuple[str, str] | None:
        scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
        if scheme.lower() not in ("bearer", "token") or not token.strip():
            return None
        return scheme, token.strip()

    def throttled(self, token: str) -> tuple[Response | None, dict[str, str]]:
        """The rate-limit answer, if any, and the headers every answer carries."""
        with self.controls.lock:
            now = time.time()
            start, used = self.controls.usage.get(token, (now, 0))
            if now - start >= RATE_LIMIT_WINDOW:
                start, used = now, 0
            limit = self.controls.github_rate_limit
            exhausted = used >= limit
            used = used if exhausted else used + 1
            self.controls.usage[token] = (start, used)
            secondary = self.controls.secondary_limit
        reset = math.ceil(start + RATE_LIMIT_WINDOW)
        headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - used)),
            "x-ratelimit-used": str(used),
            "x-ratelimit-reset": str(reset),
            "x-ratelimit-resource": "core",
        }
        if exhausted:
            answer = self.error(403, "API rate limit exceeded for user. Check the rate limit.")
            return answer, headers
        if secondary is not None:
            status, retry_after = secondary
            answer = self.error(status, "You have exceeded a secondary rate limit. Please wait.")
            if retry_after is not None:
                answer.headers["retry-after"] = str(int(retry_after))
            return answer, headers
        return None, headers

    def refusal(self, refusal: Refusal, call: Call) -> Response:
        reason, owner = refusal.reason, call.repo.partition("/")[0]
        if reason in ("no-repo", "no-pull", "no-comment", "no-deployment", "no-branch", "no-path"):
            return self.error(404, "Not Found")
        if reason == "no-ref":
            return self.error(422, f"No ref found for: {refusal.detail}")
        if reason == "checks-failed":
            return self.error(409, f"Conflict: Commit status checks failed for {refusal.detail}.")
        if reason == "not-author":
            return self.error(403, "Must have admin rights to Repository.")
        if reason == "exists":
            head = refusal.existing.head if refusal.existing else refusal.detail
            message = f"A pull request already exists for {owner}:{head}."
            return self.invalid({"resource": "PullRequest", "code": "custom", "message": message})
        if reason in ("no-head", "no-base"):
            field_name = "head" if reason == "no-head" else "base"
            return self.invalid({"resource": "PullRequest", "field": field_name, "code": "invalid"})
        if reason in ("same-branch", "no-commits"):
            base, _, head = refusal.detail.partition("...")
            message = f"No commits between {base or head} and {head}"
            return self.invalid({"resource": "PullRequest", "code": "custom", "message": message})
        if reason == "merged-state":
            message = "state cannot be changed. The pull request has been merged."
            return self.invalid({"resource": "PullRequest", "code": "custom", "message": message})
        if reason == "moved":
            return self.error(409, "Head branch was modified. Review and try the merge again.")
        if reason == "no-commit":
            return self.error(422, f"No commit found for SHA: {refusal.detail}")
        return self.error(405, "Pull Request is not mergeable")

    def page(self, query: Mapping[str, str]) -> tuple[int, int]:
        size_text = query.get("per_page" if self.name == "github" else "limit", "")
        size = int(size_text) if size_text.isdigit() and int(size_text) > 0 else self.default_page
        page_text = query.get("page", "")
        page = int(page_text) if page_text.isdigit() and int(page_text) > 0 else 1
        return page, min(size, self.max_page, self.controls.max_page_size)

    def filter_pulls(self, pulls: list[FakePull], call: Call) -> list[FakePull]:
        head, base = call.query.get("head"), call.query.get("base")
        if head:
            owner, _, branch = head.rpartition(":")
            if owner and owner.lower() != call.repo.partition("/")[0].lower():
                return []
            pulls = [p for p in pulls if p.head == branch]
        return [p for p in pulls if p.base == base] if base else pulls

    def head_branch(self, head: str, call: Call) -> str | None:
        """The branch of a create's ``head`` (``owner:branch`` or ``branch``); None for a fork."""
        owner, _, branch = head.rpartition(":")
        return branch if not owner or owner.lower() == call.repo.partition("/")[0].lower() else None

    def user(self, login: str) -> dict[str, Any]:
        return {"login": login, "id": abs(hash(login)) % 100_000, "type": "User"}

    def repo(self, call: Call) -> dict[str, Any]:
        owner, _, name = call.repo.partition("/")
        return {
            "name": name,
            "full_name": call.repo,
            "owner": self.user(owner),
            "private": False,
            "html_url": f"{call.origin}/{call.repo}",
            "url": f"{call.origin}{self.prefix}/repos/{call.repo}",
        }

    def render_pull(self, pull: FakePull, call: Call, full: bool) -> dict[str, Any]:
        api, web = f"{call.origin}{self.prefix}/repos/{pull.repo}", f"{call.origin}/{pull.repo}"
        owner = pull.repo.partition("/")[0]
        repo = self.repo(call)

        def side(ref: str, sha: str) -> dict[str, Any]:
            return {
                "label": f"{owner}:{ref}",
                "ref": ref,
                "sha": sha,
                "user": self.user(owner),
                "repo": repo,
            }

        document: dict[str, Any] = {
            "url": f"{api}/pulls/{pull.number}",
            "id": pull.id,
            "node_id": f"PR_{pull.id}",
            "html_url": f"{web}/pull/{pull.number}",
            "diff_url": f"{web}/pull/{pull.number}.diff",
            "patch_url": f"{web}/pull/{pull.number}.patch",
            "issue_url": f"{api}/issues/{pull.number}",
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self.user(pull.user),
            "body": pull.body,
            "created_at": pull.created_at,
            "updated_at": pull.updated_at,
            "closed_at": pull.closed_at,
            "merged_at": pull.merged_at,
            "merge_commit_sha": pull.merge_commit_sha,
            "draft": False,
            "labels": [
                {"id": i + 1, "name": label, "color": "ededed", "default": False}
                for i, label in enumerate(pull.labels)
            ],
            "head": side(pull.head, pull.head_sha),
            "base": side(pull.base, pull.base_sha),
        }
        if full:  # the single-pull form; a listing's items have none of these
            merged_by = self.user(pull.merged_by) if pull.merged_by else None
            document.update(
                merged=pull.merged, mergeable=None, comments=pull.comments, merged_by=merged_by
            )
        return document

    def render_comment(self, comment: FakeComment, call: Call) -> dict[str, Any]:
        web = f"{call.origin}/{comment.repo}/pull/{comment.number}"
        return {
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "url": f"{call.origin}{self.prefix}/repos/{comment.repo}/issues/comments/{comment.id}",
            "html_url": f"{web}#issuecomment-{comment.id}",
            "body": comment.body,
            "user": self.user(comment.user),
            "created_at": comment.created_at,
            "updated_at": comment.updated_at or comment.created_at,
            "author_association": "OWNER",
            "issue_url": f"{call.origin}{self.prefix}/repos/{comment.repo}/issues/{comment.number}",
        }

    def render_status(self, status: FakeStatus, call: Call) -> dict[str, Any]:
        return {
            "url": f"{call.origin}{self.prefix}/repos/{status.repo}/statuses/{status.sha}",
            "id": status.id,
            "node_id": f"SC_{status.id}",
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": status.created_at,
            "updated_at": status.created_at,
            "creator": self.user(status.user),
        }

    def merge_request(self, call: Call, pull: FakePull) -> tuple[str, str, str | None] | Response:
        """(method, commit message, expected head sha) of a merge request's body."""
        body = call.body if isinstance(call.body, dict) else {}
        method = body.get("merge_method") or "merge"
        if method not in self.merge_methods:
            return self.invalid(
                {"resource": "PullRequest", "field": "merge_method", "code": "invalid"}
            )
        owner = call.repo.partition("/")[0]
        default = f"Merge pull request #{pull.number} from {owner}/{pull.head}"
        if method == "squash":
            default = f"{pull.title} (#{pull.number})"
        title = body.get("commit_title") or default
        detail = body.get("commit_message") or (pull.title if method == "merge" else "")
        return method, f"{title}\n\n{detail}".strip(), body.get("sha") or None

    def merged(self, pull: FakePull) -> Response:
        message = "Pull Request successfully merged"
        return json_response(
            200, {"sha": pull.merge_commit_sha, "merged": True, "message": message}
        )


class GiteaDialect(Dialect):
    """Gitea's (and Forgejo's) words for the same things."""

    name = "gitea"
    prefix = "/api/v1"
    max_page = 50
    default_page = 30
    edit_status = 201
    commit_states = ("pending", "success", "error", "failure", "warning")
    merge_methods = ("merge", "rebase", "rebase-merge", "squash", "fast-forward-only")

    def error(self, status: int, message: str, **extra: Any) -> Response:
        swagger = f"{self.controls.origin}/api/swagger"
        return json_response(status, {"message": message, **extra, "url": swagger})

    def invalid(self, *errors: dict[str, str]) -> Response:
        return self.error(422, "; ".join(e.get("message", "invalid") for e in errors))

    def unauthorized(self, token: str | None) -> Response:
        message = "token is required" if token is None else "invalid username, password or token"
        return self.error(401, message)

    def read_only(self) -> Response:
        return self.error(
            403,
            "token does not have at least one of required scope(s), required=[write:repository]",
        )

    def throttled(self, token: str) -> tuple[Response | None, dict[str, str]]:
        wait = self.controls.gitea_throttle
        if wait is None:
            return None, {}
        answer = json_response(429, {"message": "Too Many Requests"})
        answer.headers["retry-after"] = str(int(wait))
        return answer, {}

    def refusal(self, refusal: Refusal, call: Call) -> Response:
        reason = refusal.reason
        if reason in (
            "no-repo",
            "no-pull",
            "no-head",
            "no-base",
            "not-open",
            "no-commit",
            "no-comment",
            "no-branch",
            "no-path",
        ):
            return self.error(404, "The target couldn't be found.", errors=[])
        if reason == "not-author":
            return self.error(403, "user should be the comment poster", errors=[])
        if reason == "exists" and refusal.existing is not None:
            pull = refusal.existing
            targets = (
                f"[id: {pull.id}, issue_id: {pull.number}, head_repo_id: 1, base_repo_id: 1, "
                f"head_branch: {pull.head}, base_branch: {pull.base}]"
            )
            return self.error(409, f"pull request already exists for these targets {targets}")
        if reason in ("same-branch", "no-commits"):
            return self.error(
                422, "Invalid PullRequest: There are no changes between the head and the base"
            )
        if reason == "merged-state":
            return self.error(
                412, "cannot change state of this pull request, it was already merged"
            )
        if reason == "merged":
            return self.error(405, "")
        if reason == "moved":
            return self.error(409, "head out of date")
        if reason == "not-ff":
            return self.error(409, "the head branch is not a descendant of the base branch")
        return self.error(409, f"merge conflict: {refusal.detail[:200]}")

    def filter_pulls(self, pulls: list[FakePull], call: Call) -> list[FakePull]:
        base = call.query.get("base_branch")
        return [p for p in pulls if p.base == base] if base else pulls

    def user(self, login: str) -> dict[str, Any]:
        return {"id": abs(hash(login)) % 100_000, "login": login, "full_name": "", "email": ""}

    def render_pull(self, pull: FakePull, call: Call, full: bool) -> dict[str, Any]:
        web = f"{call.origin}/{pull.repo}/pulls/{pull.number}"
        repo = self.repo(call)

        def side(ref: str, sha: str) -> dict[str, Any]:
            return {"label": ref, "ref": ref, "sha": sha, "repo_id": 1, "repo": repo}

        return {
            "id": pull.id,
            "url": web,
            "number": pull.number,
            "user": self.user(pull.user),
            "title": pull.title,
            "body": pull.body,
            "labels": [
                {"id": i + 1, "name": label, "color": "ededed"}
                for i, label in enumerate(pull.labels)
            ],
            "milestone": None,
            "assignee": None,
            "assignees": None,
            "state": pull.state,
            "is_locked": False,
            "comments": pull.comments,
            "html_url": web,
            "diff_url": f"{web}.diff",
            "patch_url": f"{web}.patch",
            "mergeable": pull.state == "open",
            "merged": pull.merged,
            "merged_at": pull.merged_at,
            "merge_commit_sha": pull.merge_commit_sha,
            "merged_by": self.user(pull.merged_by) if pull.merged_by else None,
            "base": side(pull.base, pull.base_sha),
            "head": side(pull.head, pull.head_sha),
            "merge_base": pull.base_sha,
            "due_date": None,
            "created_at": pull.created_at,
            "updated_at": pull.updated_at,
            "closed_at": pull.closed_at,
        }

    def render_comment(self, comment: FakeComment, call: Call) -> dict[str, Any]:
        web = f"{call.origin}/{comment.repo}/pulls/{comment.number}"
        return {
            "id": comment.id,
            "html_url": f"{web}#issuecomment-{comment.id}",
            "pull_request_url": web,
            "issue_url": "",
            "user": self.user(comment.user),
            "original_author": "",
            "original_author_id": 0,
            "body": comment.body,
            "assets": [],
            "created_at": comment.created_at,
            "updated_at": comment.updated_at or comment.created_at,
        }

    def render_status(self, status: FakeStatus, call: Call) -> dict[str, Any]:
        return {
            "id": status.id,
            "status": status.state,
            "target_url": status.target_url or "",
            "description": status.description,
            "context": status.context,
            "url": f"{call.origin}{self.prefix}/repos/{status.repo}/statuses/{status.sha}",
            "creator": self.user(status.user),
            "created_at": status.created_at,
            "updated_at": status.created_at,
        }

    def merge_request(self, call: Call, pull: FakePull) -> tuple[str, str, str | None] | Response:
        body = call.body if isinstance(call.body, dict) else {}
        method = body.get("Do") or "merge"
        if method not in self.merge_methods:
            return self.error(422, f"[Do]: {method} is not a merge style")
        default = (
            f"Merge pull request '{pull.title}' (#{pull.number}) from {pull.head} into {pull.base}"
        )
        title = (body.get("MergeTitleField") or "").strip() or default
        detail = (body.get("MergeMessageField") or "").strip()
        return method, f"{title}\n\n{detail}".strip(), body.get("head_commit_id") or None

    def merged(self, pull: FakePull) -> Response:
        return Response(status_code=200)
