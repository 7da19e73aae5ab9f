"""A fake Git host for tests and the demo: GitHub's and Gitea's pull-request REST APIs on
loopback, backed by the real git server's bare repositories.

A Git host's API is a service that cannot run here, so this stands in for it, honestly: it
follows the documented requests and answers of GitHub (``/api/v3``, as GitHub Enterprise lays
it out) and Gitea (``/api/v1``) for pull requests, issue comments, commit statuses and merges;
it refuses a wrong token with each API's 401 body, a read-only one with its 403; it keeps
GitHub's ``x-ratelimit-*`` count per token and can be switched into its secondary rate limit;
and every question about branches is asked of git. A pull request can only be opened for a
branch that exists in the bare repository, its ``head.sha`` is that branch's commit, and a merge
(`merge`, or the API's merge endpoint) makes a real commit in the bare repository, reported to
the git server's ``on_push`` listener as a push would be, so a controller sees it by fetching.

There is no GitLab API here; the GitLab client is tested against its documented request
shapes instead (see ``tests/githost``).

    with GitHTTPServer(root) as git, FakeGitHost(git, {"s3cret": "tether-bot"}) as forge:
        clone_url = forge.create_repo("acme/deploy")
        client = GitHubClient(forge.github_api_url, "s3cret")
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import socket
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from tether.githost import fakedeploy, fakegit, fakescm
from tether.githost.fakeapi import (
    ApiControls,
    Call,
    Dialect,
    FakeUser,
    GiteaDialect,
    RecordedRequest,
    json_response,
)
from tether.githost.fakeforge import FakeComment, FakeForge, FakePull, FakeStatus, Refusal
from tether.source.gitserver import GitHTTPServer

__all__ = ["FakeComment", "FakeGitHost", "FakePull", "FakeStatus", "FakeUser", "RecordedRequest"]

Handler = Callable[[Dialect, Call], Response]
_NOT_JSON = object()


def _number(call: Call) -> int:
    text = call.path.get("number", "")
    if not text.isdigit():
        raise Refusal("no-pull", text)
    return int(text)


def _text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    return value if isinstance(value, str) else ""


def _page_links(dialect: Dialect, call: Call, page: int, size: int, total: int) -> dict[str, str]:
    last = max(1, math.ceil(total / size))
    parts = urlsplit(call.url)
    query = dict(parse_qsl(parts.query))

    def at(number: int) -> str:
        return urlunsplit(parts._replace(query=urlencode({**query, "page": str(number)})))

    rels = [("next", page + 1), ("last", last)] if page < last else []
    rels += [("first", 1), ("prev", page - 1)] if page > 1 else []
    headers = {"link": ", ".join(f'<{at(n)}>; rel="{rel}"' for rel, n in rels)} if rels else {}
    if dialect.name == "gitea":
        headers["x-total-count"] = str(total)
    return headers


def list_pulls(d: Dialect, call: Call) -> Response:
    state = call.query.get("state", "open")
    if state not in ("open", "closed", "all"):
        return d.invalid({"resource": "PullRequest", "field": "state", "code": "invalid"})
    pulls = d.filter_pulls(d.forge.pulls(call.repo, state), call)
    page, size = d.page(call.query)
    chunk = pulls[(page - 1) * size : page * size]
    documents = [d.render_pull(p, call, full=False) for p in chunk]
    return json_response(200, documents, _page_links(d, call, page, size, len(pulls)))


def create_pull(d: Dialect, call: Call) -> Response:
    body = call.body if isinstance(call.body, dict) else {}
    fields = {name: body.get(name) for name in ("title", "head", "base")}
    missing = [name for name, value in fields.items() if not isinstance(value, str) or not value]
    if missing:
        return d.invalid(
            *(
                {"resource": "PullRequest", "field": name, "code": "missing_field"}
                for name in missing
            )
        )
    branch = d.head_branch(str(fields["head"]), call)
    if branch is None:
        raise Refusal("no-head", str(fields["head"]))
    text = _text(body, "body")
    pull = d.forge.open_pull(
        call.repo, branch, str(fields["base"]), str(fields["title"]), text, call.user.login
    )
    where = {"location": f"{call.origin}{d.prefix}/repos/{call.repo}/pulls/{pull.number}"}
    return json_response(201, d.render_pull(pull, call, full=True), where)


def get_pull(d: Dialect, call: Call) -> Response:
    return json_response(200, d.render_pull(d.forge.pull(call.repo, _number(call)), call, True))


def edit_pull(d: Dialect, call: Call) -> Response:
    body = call.body if isinstance(call.body, dict) else {}
    state = body.get("state")
    if state is not None and state not in ("open", "closed"):
        return d.invalid({"resource": "PullRequest", "field": "state", "code": "invalid"})
    title, text = body.get("title"), body.get("body")
    if not isinstance(title, str | None) or not isinstance(text, str | None):
        return d.invalid({"resource": "PullRequest", "field": "title", "code": "invalid"})
    pull = d.forge.edit_pull(call.repo, _number(call), title=title or None, body=text, state=state)
    return json_response(d.edit_status, d.render_pull(pull, call, full=True))


def merge_pull(d: Dialect, call: Call) -> Response:
    pull = d.forge.pull(call.repo, _number(call))
    if pull.merged:
        raise Refusal("merged", f"#{pull.number}")
    asked = d.merge_request(call, pull)
    if isinstance(asked, Response):
        return asked
    method, message, expected = asked
    merged = d.forge.merge(call.repo, pull.number, method, message, call.user.login, expected)
    return d.merged(merged)


def merged_check(d: Dialect, call: Call) -> Response:
    merged = d.forge.pull(call.repo, _number(call)).merged
    return Response(status_code=204) if merged else d.error(404, "Not Found")


def create_comment(d: Dialect, call: Call) -> Response:
    body = call.body if isinstance(call.body, dict) else {}
    text = body.get("body")
    if not isinstance(text, str) or not text:
        return d.invalid({"resource": "IssueComment", "field": "body", "code": "missing_field"})
    comment = d.forge.add_comment(call.repo, _number(call), text, call.user.login)
    return json_response(201, d.render_comment(comment, call))


def edit_comment(d: Dialect, call: Call) -> Response:
    body = call.body if isinstance(call.body, dict) else {}
    text = body.get("body")
    if not isinstance(text, str) or not text:
        return d.invalid({"resource": "IssueComment", "field": "body", "code": "missing_field"})
    comment = d.forge.edit_comment(call.repo, int(call.path["id"]), text, call.user.login)
    return json_response(200, d.render_comment(comment, call))


def list_comments(d: Dialect, call: Call) -> Response:
    d.forge.pull(call.repo, _number(call))
    comments = d.forge.comments(call.repo, _number(call))
    return json_response(200, [d.render_comment(c, call) for c in comments])


def create_status(d: Dialect, call: Call) -> Response:
    body = call.body if isinstance(call.body, dict) else {}
    state = body.get("state")
    if state not in d.commit_states:
        message = "state is not included in the list"
        return d.invalid(
            {"resource": "Status", "field": "state", "code": "custom", "message": message}
        )
    context, description = _text(body, "context") or "default", _text(body, "description")
    target = _text(body, "target_url") or None
    status = d.forge.add_status(
        call.repo,
        call.path["ref"],
        str(state),
        context or "default",
        description,
        target,
        call.user.login,
    )
    return json_response(201, d.render_status(status, call))


def list_statuses(d: Dialect, call: Call) -> Response:
    d.forge.bare(call.repo)
    statuses = d.forge.statuses(call.repo, call.path["ref"])
    return json_response(200, [d.render_status(s, call) for s in statuses])


def _run(d: Dialect, handler: Handler, call: Call) -> Response:
    try:
        return handler(d, call)
    except Refusal as refusal:
        return d.refusal(refusal, call)


def _endpoint(d: Dialect, handler: Handler, write: bool) -> Callable[[Request], Any]:
    async def serve(request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = _NOT_JSON
        credentials = d.token(request)
        _record(d, request, credentials[0] if credentials else "", body)
        user = d.controls.tokens.get(credentials[1]) if credentials else None
        if credentials is None or user is None:
            return d.unauthorized(None if credentials is None else "")
        limited, headers = d.throttled(credentials[1])
        if limited is not None:
            answer = limited
        elif write and not user.write:
            answer = d.read_only()
        elif body is _NOT_JSON:
            answer = d.error(400, "Problems parsing JSON")
        else:
            params = {key: str(value) for key, value in request.path_params.items()}
            call = Call(
                repo=f"{params.get('owner', '')}/{params.get('repo', '')}",
                path=params,
                query=dict(request.query_params),
                body=body,
                url=str(request.url),
                origin=d.controls.origin,
                user=user,
            )
            answer = await asyncio.to_thread(_run, d, handler, call)
        answer.headers.update(headers)
        return answer

    return serve


def _record(d: Dialect, request: Request, scheme: str, body: Any) -> None:
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    entry = RecordedRequest(
        d.name,
        request.method,
        request.url.path,
        request.url.query,
        scheme,
        headers,
        None if body is _NOT_JSON else body,
    )
    with d.controls.lock:
        d.controls.requests.append(entry)


def _routes(d: Dialect) -> list[Route]:
    repo = "/repos/{owner}/{repo}"
    pull = f"{repo}/pulls/{{number}}"
    merge_verb = "PUT" if d.name == "github" else "POST"
    statuses = (
        f"{repo}/commits/{{ref}}/statuses" if d.name == "github" else f"{repo}/statuses/{{ref}}"
    )
    table: list[tuple[str, str, Handler, bool]] = [
        ("GET", f"{repo}/pulls", list_pulls, False),
        ("POST", f"{repo}/pulls", create_pull, True),
        ("GET", pull, get_pull, False),
        ("PATCH", pull, edit_pull, True),
        ("GET", f"{pull}/merge", merged_check, False),
        (merge_verb, f"{pull}/merge", merge_pull, True),
        ("GET", f"{repo}/issues/{{number}}/comments", list_comments, False),
        ("POST", f"{repo}/issues/{{number}}/comments", create_comment, True),
        ("PATCH", f"{repo}/issues/comments/{{id:int}}", edit_comment, True),
        ("GET", statuses, list_statuses, False),
        ("POST", f"{repo}/statuses/{{ref}}", create_status, True),
    ]
    table += [
        ("GET", "/orgs/{org}/repos", fakescm.list_org_repos, False),
        ("GET", f"{repo}/branches", fakescm.list_branches, False),
        ("GET", f"{repo}/branches/{{branch}}", fakescm.get_branch, False),
        ("GET", f"{repo}/contents/{{path:path}}", fakescm.get_contents, False),
    ]
    if d.name == "github":
        table += [
            ("GET", f"{repo}/deployments", fakedeploy.list_deployments, False),
            ("POST", f"{repo}/deployments", fakedeploy.create_deployment, True),
            (
                "POST",
                f"{repo}/deployments/{{id:int}}/statuses",
                fakedeploy.create_deployment_status,
                True,
            ),
        ]
    return [Route(path, _endpoint(d, h, write), methods=[verb]) for verb, path, h, write in table]


def build_app(forge: FakeForge, controls: ApiControls) -> Starlette:
    """The Starlette app serving both APIs over ``forge``."""
    github, gitea = Dialect(forge, controls), GiteaDialect(forge, controls)

    async def not_found(request: Request, exc: Exception) -> Response:
        dialect = gitea if request.url.path.startswith(gitea.prefix) else github
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        return dialect.error(status, "Not Found")

    mounts = [
        Mount(github.prefix, routes=_routes(github)),
        Mount(gitea.prefix, routes=_routes(gitea)),
    ]
    return Starlette(routes=mounts, exception_handlers={404: not_found, 405: not_found})


class FakeGitHost:
    """The fake host on ``http://127.0.0.1:PORT``: GitHub's API at `github_api_url`, Gitea's at
    `gitea_api_url`, over the bare repositories of ``git_server`` (``owner/name`` is
    ``ROOT/owner/name.git``). ``tokens`` maps each accepted token to a login (or a `FakeUser`,
    which may be read-only). ``max_page_size`` caps every page below the APIs' own caps, so
    that a test sees pagination with a few records. Use as a context manager."""

    def __init__(
        self,
        git_server: GitHTTPServer,
        tokens: Mapping[str, str | FakeUser] | None = None,
        *,
        max_page_size: int = 100,
    ) -> None:
        self.git_server = git_server
        self.forge = FakeForge(git_server.root, lambda: git_server.on_push)
        users = {
            t: u if isinstance(u, FakeUser) else FakeUser(u) for t, u in (tokens or {}).items()
        }
        self.controls = ApiControls(
            tokens=users, max_page_size=max_page_size, clone_prefix=git_server.url("")
        )
        self.app = build_app(self.forge, self.controls)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The fake host's web origin (pull requests' ``html_url`` start with it)."""
        return self.controls.origin

    @property
    def github_api_url(self) -> str:
        return f"{self.url}/api/v3"

    @property
    def gitea_api_url(self) -> str:
        return f"{self.url}/api/v1"

    def start(self) -> FakeGitHost:
        """Serve in a background thread; return once the server accepts connections."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        self.controls.origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        server = self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name="fake-git-host",
            daemon=True,
        )
        self._thread.start()
        for _ in range(1000):
            if server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not server.started:
            raise RuntimeError("the fake Git host did not start within 10s")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeGitHost:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- setting up and looking --------------------------------------------------------------

    def create_repo(self, repo: str, branch: str = "main") -> str:
        """Create the empty bare repository ``owner/name`` on the git server; its clone URL."""
        self.forge.create_repo(repo, branch)
        return self.repo_url(repo)

    def repo_url(self, repo: str) -> str:
        """The git server's clone URL of ``owner/name``."""
        return self.git_server.url(f"{repo}.git")

    def bare_path(self, repo: str) -> Path:
        return self.forge.bare(repo)

    def add_token(self, token: str, login: str, *, write: bool = True) -> None:
        with self.controls.lock:
            self.controls.tokens[token] = FakeUser(login, write)

    def pulls(self, repo: str, state: str = "all") -> list[FakePull]:
        return self.forge.pulls(repo, state)

    def pull(self, repo: str, number: int) -> FakePull:
        return self.forge.pull(repo, number)

    def comments(self, repo: str, number: int) -> list[str]:
        """The bodies of the comments on pull request ``number``, oldest first."""
        return [c.body for c in self.forge.comments(repo, number)]

    def statuses(self, repo: str, sha: str) -> list[FakeStatus]:
        """The statuses set on commit ``sha``, newest first."""
        return self.forge.statuses(repo, sha)

    def pull_request_webhook(
        self, repo: str, number: int, action: str, secret: str, *, dialect: str = "github"
    ) -> tuple[dict[str, str], bytes]:
        """The ``pull_request`` webhook the host sends for ``action`` (opened, synchronize,
        closed...) on pull request ``number``: headers (signed with ``secret`` as GitHub's
        ``X-Hub-Signature-256``, or Gitea's ``X-Gitea-Signature``) and the JSON body, in the
        documented shape (``action``, ``number``, ``pull_request.head/base``, ``repository``)."""
        pull = self.forge.pull(repo, number)
        owner = repo.partition("/")[0]
        repository = {
            "full_name": repo,
            "name": repo.partition("/")[2],
            "owner": {"login": owner},
            "clone_url": self.repo_url(repo),
            "html_url": f"{self.url}/{repo}",
            "default_branch": fakegit.default_branch(self.bare_path(repo)),
        }
        body = orjson.dumps(
            {
                "action": action,
                "number": number,
                "pull_request": {
                    "number": number,
                    "state": pull.state,
                    "title": pull.title,
                    "html_url": f"{self.url}/{repo}/pull/{number}",
                    "merged": pull.merged,
                    "head": {"ref": pull.head, "sha": pull.head_sha, "repo": repository},
                    "base": {"ref": pull.base, "sha": pull.base_sha, "repo": repository},
                },
                "repository": repository,
                "sender": {"login": pull.user},
            }
        )
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if dialect == "gitea":
            headers = {"X-Gitea-Event": "pull_request", "X-Gitea-Signature": signature}
        else:
            headers = {
                "X-GitHub-Event": "pull_request",
                "X-Hub-Signature-256": f"sha256={signature}",
            }
        return {**headers, "Content-Type": "application/json"}, body

    def merge(self, repo: str, number: int, method: str = "merge", message: str = "") -> FakePull:
        """Merge pull request ``number`` as a person pressing the button would."""
        text = message or f"Merge pull request #{number}"
        return self.forge.merge(repo, number, method, text, "maintainer", None)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self.controls.lock:
            return list(self.controls.requests)

    # -- rate limits ---------------------------------------------------------------------------

    def set_github_rate_limit(self, limit: int) -> None:
        """GitHub's requests per token per hour (5000 by default); the count so far stays."""
        self.controls.github_rate_limit = limit

    def github_secondary_limit(self, status: int = 403, retry_after: float | None = 60) -> None:
        """Answer every GitHub request as over its secondary rate limit until cleared."""
        self.controls.secondary_limit = (status, retry_after)

    def throttle_gitea(self, retry_after: float) -> None:
        """Answer every Gitea request 429 with ``retry-after`` (a proxy in front) until cleared."""
        self.controls.gitea_throttle = retry_after

    def clear_rate_limits(self) -> None:
        """No switch on, every token's count back to zero."""
        with self.controls.lock:
            self.controls.secondary_limit = None
            self.controls.gitea_throttle = None
            self.controls.usage.clear()
