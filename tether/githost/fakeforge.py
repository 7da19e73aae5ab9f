"""The records of the fake Git host, whatever API is used to reach them: pull requests,
comments and commit statuses of the bare repositories a `GitHTTPServer` serves.

Repository ``owner/name`` is the bare repository ``ROOT/owner/name.git``; it exists when git
says so, and its branches are read from it on every question. A refusal is a `Refusal` whose
``reason`` each API turns into its own status and words. Thread-safe: the HTTP server and the
tests read and write it from different threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from tether.githost import fakegit
from tether.source.webhooks import RefUpdate

#: told of each ref a merge moved, as `GitHTTPServer.on_push` is of a push
RefListener = Callable[[Path, tuple[RefUpdate, ...]], None]


def timestamp(moment: float | None = None) -> str:
    """ISO 8601 in UTC, the form both APIs use."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


@dataclass
class FakePull:
    """One pull request; ``head_sha`` and ``base_sha`` follow the branches while it is open."""

    id: int
    repo: str
    number: int
    head: str
    base: str
    title: str
    body: str
    user: str
    created_at: str
    updated_at: str
    head_sha: str = ""
    base_sha: str = ""
    state: str = "open"
    merged: bool = False
    merge_commit_sha: str | None = None
    merged_by: str | None = None
    closed_at: str | None = None
    merged_at: str | None = None
    comments: int = 0
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class FakeComment:
    id: int
    repo: str
    number: int
    body: str
    user: str
    created_at: str
    updated_at: str = ""


@dataclass(frozen=True)
class FakeStatus:
    id: int
    repo: str
    sha: str
    state: str
    context: str
    description: str
    target_url: str | None
    user: str
    created_at: str


@dataclass
class FakeDeployment:
    id: int
    repo: str
    ref: str
    sha: str
    environment: str
    user: str
    created_at: str
    transient: bool = False
    #: (id, state, description, log_url, environment_url, created_at), oldest first
    statuses: list[tuple[int, str, str, str, str, str]] = field(default_factory=list)


class Refusal(Exception):
    """A request the host refuses. ``reason``: no-repo, no-pull, exists, no-head, no-base,
    same-branch, no-commits, not-open, merged (merging again), merged-state (reopening or
    closing a merged one), conflict, moved, not-ff, no-commit."""

    def __init__(self, reason: str, detail: str = "", existing: FakePull | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.existing = existing


class FakeForge:
    """Pull requests, comments and statuses over the bare repositories under ``root``."""

    def __init__(self, root: Path, on_ref_update: Callable[[], RefListener | None]) -> None:
        self.root = root
        self._listener = on_ref_update
        self._lock = threading.RLock()
        self._pulls: dict[str, list[FakePull]] = {}
        self._comments: list[FakeComment] = []
        self._statuses: list[FakeStatus] = []
        self._deployments: list[FakeDeployment] = []
        self._topics: dict[str, tuple[str, ...]] = {}
        self._ids = 1000

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    # -- repositories ----------------------------------------------------------------------

    def bare(self, repo: str) -> Path:
        """The bare repository of ``owner/name``; `Refusal` no-repo when there is none."""
        parts = repo.split("/")
        if len(parts) != 2 or any(part in ("", ".", "..") or "\\" in part for part in parts):
            raise Refusal("no-repo", repo)
        path = self.root / parts[0] / f"{parts[1]}.git"
        if not fakegit.is_bare_repository(path):
            raise Refusal("no-repo", repo)
        return path

    def create_repo(self, repo: str, branch: str = "main") -> Path:
        """Create the empty bare repository ``owner/name``."""
        owner, _, name = repo.partition("/")
        path = self.root / owner / f"{name}.git"
        fakegit.init_bare(path, branch)
        return path

    # -- pull requests ---------------------------------------------------------------------

    def _refresh(self, pull: FakePull, heads: dict[str, str]) -> FakePull:
        if pull.state == "open":
            pull.head_sha = heads.get(pull.head, pull.head_sha)
            pull.base_sha = heads.get(pull.base, pull.base_sha)
        return replace(pull)

    def pulls(self, repo: str, state: str = "all") -> list[FakePull]:
        """Copies of the pull requests of ``repo`` in ``state`` (open, closed, all), newest
        first as both APIs list them by default."""
        heads = fakegit.branch_heads(self.bare(repo))
        with self._lock:
            found = [p for p in self._pulls.get(repo, []) if state in ("all", p.state)]
            return [self._refresh(p, heads) for p in reversed(found)]

    def pull(self, repo: str, number: int) -> FakePull:
        """A copy of pull request ``number``; `Refusal` no-pull when there is none."""
        heads = fakegit.branch_heads(self.bare(repo))
        with self._lock:
            return self._refresh(self._find(repo, number), heads)

    def _find(self, repo: str, number: int) -> FakePull:
        for pull in self._pulls.get(repo, []):
            if pull.number == number:
                return pull
        raise Refusal("no-pull", f"#{number}")

    def open_pull(
        self, repo: str, head: str, base: str, title: str, body: str, user: str
    ) -> FakePull:
        """Open a pull request from branch ``head`` into ``base``, both in ``repo``."""
        bare = self.bare(repo)
        heads = fakegit.branch_heads(bare)
        if head == base:
            raise Refusal("same-branch", f"{base}...{head}")
        if head not in heads:
            raise Refusal("no-head", head)
        if base not in heads:
            raise Refusal("no-base", base)
        with self._lock:
            pulls = self._pulls.setdefault(repo, [])
            for pull in pulls:
                if (pull.head, pull.base, pull.state) == (head, base, "open"):
                    raise Refusal("exists", f"{head} → {base}", existing=replace(pull))
            if fakegit.commits_ahead(bare, heads[base], heads[head]) == 0:
                raise Refusal("no-commits", f"{base}...{head}")
            now = timestamp()
            pull = FakePull(
                id=self._next_id(),
                repo=repo,
                number=len(pulls) + 1,
                head=head,
                base=base,
                title=title,
                body=body,
                user=user,
                created_at=now,
                updated_at=now,
                head_sha=heads[head],
                base_sha=heads[base],
            )
            pulls.append(pull)
            return replace(pull)

    def label_pull(self, repo: str, number: int, labels: tuple[str, ...]) -> FakePull:
        """Set the labels of pull request ``number`` (as a person adding them in the UI)."""
        self.bare(repo)
        with self._lock:
            pull = self._find(repo, number)
            pull.labels = tuple(labels)
            pull.updated_at = timestamp()
            return replace(pull)

    def edit_pull(
        self,
        repo: str,
        number: int,
        *,
        title: str | None = None,
        body: str | None = None,
        state: str | None = None,
    ) -> FakePull:
        """Change title, body or state (open, closed) of a pull request."""
        heads = fakegit.branch_heads(self.bare(repo))
        with self._lock:
            pull = self._find(repo, number)
            if state is not None and state != pull.state:
                if pull.merged:
                    raise Refusal("merged-state", f"#{number}")
                if state == "open":
                    self._reopen(pull, heads)
                else:
                    self._refresh(pull, heads)
                    pull.state, pull.closed_at = "closed", timestamp()
            if title is not None:
                pull.title = title
            if body is not None:
                pull.body = body
            pull.updated_at = timestamp()
            return self._refresh(pull, heads)

    def _reopen(self, pull: FakePull, heads: dict[str, str]) -> None:
        if pull.head not in heads:
            raise Refusal("no-head", pull.head)
        for other in self._pulls.get(pull.repo, []):
            if (other.head, other.base, other.state) == (pull.head, pull.base, "open"):
                raise Refusal("exists", f"{pull.head} → {pull.base}", existing=replace(other))
        pull.state, pull.closed_at = "open", None

    def merge(
        self,
        repo: str,
        number: int,
        method: str,
        message: str,
        user: str,
        expected_head: str | None,
    ) -> FakePull:
        """Merge an open pull request by a real commit in its bare repository; the ref move is
        reported to the listener (the git server's ``on_push``)."""
        bare = self.bare(repo)
        with self._lock:
            pull = self._find(repo, number)
            if pull.merged:
                raise Refusal("merged", f"#{number}")
            if pull.state != "open":
                raise Refusal("not-open", f"#{number}")
        try:
            update = fakegit.merge_branches(
                bare, pull.base, pull.head, method, message, expected_head
            )
        except fakegit.NotFastForwardError as exc:
            raise Refusal("not-ff", str(exc)) from None
        except fakegit.MergeConflictError as exc:
            raise Refusal("conflict", str(exc)) from None
        except fakegit.BranchMovedError as exc:
            raise Refusal("moved", str(exc)) from None
        with self._lock:
            now = timestamp()
            pull.head_sha = fakegit.branch_heads(bare).get(pull.head, pull.head_sha)
            pull.base_sha = update.after or pull.base_sha
            pull.state, pull.merged, pull.merge_commit_sha = "closed", True, update.after
            pull.merged_by, pull.merged_at, pull.closed_at, pull.updated_at = user, now, now, now
            merged = replace(pull)
        listener = self._listener()
        if listener is not None:
            listener(bare, (update,))
        return merged

    # -- comments and statuses -------------------------------------------------------------

    def add_comment(self, repo: str, number: int, body: str, user: str) -> FakeComment:
        self.bare(repo)
        with self._lock:
            pull = self._find(repo, number)
            pull.comments += 1
            comment = FakeComment(self._next_id(), repo, number, body, user, timestamp())
            self._comments.append(comment)
            return comment

    def edit_comment(self, repo: str, comment_id: int, body: str, user: str) -> FakeComment:
        """Replace a comment's text; only its author may (the APIs answer 403 otherwise)."""
        self.bare(repo)
        with self._lock:
            for index, comment in enumerate(self._comments):
                if (comment.repo, comment.id) == (repo, comment_id):
                    if comment.user != user:
                        raise Refusal("not-author", f"comment {comment_id}")
                    edited = replace(comment, body=body, updated_at=timestamp())
                    self._comments[index] = edited
                    return edited
        raise Refusal("no-comment", f"comment {comment_id}")

    def comments(self, repo: str, number: int) -> list[FakeComment]:
        with self._lock:
            return [c for c in self._comments if (c.repo, c.number) == (repo, number)]

    def add_status(
        self,
        repo: str,
        sha: str,
        state: str,
        context: str,
        description: str,
        target_url: str | None,
        user: str,
    ) -> FakeStatus:
        if not fakegit.commit_exists(self.bare(repo), sha):
            raise Refusal("no-commit", sha)
        with self._lock:
            status = FakeStatus(
                self._next_id(),
                repo,
                sha,
                state,
                context,
                description,
                target_url,
                user,
                timestamp(),
            )
            self._statuses.append(status)
            return status

    # -- organizations (SCM providers) ---------------------------------------------------

    def organization_repos(self, organization: str) -> list[str]:
        """``organization/name`` of every bare repository of the organization, by name."""
        if organization in ("", ".", "..") or "/" in organization:
            raise Refusal("no-repo", organization)
        folder = self.root / organization
        if not folder.is_dir():
            raise Refusal("no-repo", organization)
        return [
            f"{organization}/{path.name.removesuffix('.git')}"
            for path in sorted(folder.iterdir())
            if path.name.endswith(".git") and fakegit.is_bare_repository(path)
        ]

    def set_topics(self, repo: str, topics: tuple[str, ...]) -> None:
        self.bare(repo)
        with self._lock:
            self._topics[repo] = tuple(topics)

    def topics(self, repo: str) -> tuple[str, ...]:
        with self._lock:
            return self._topics.get(repo, ())

    # -- deployments (GitHub) -------------------------------------------------------------

    def create_deployment(
        self,
        repo: str,
        ref: str,
        environment: str,
        required_contexts: list[str] | None,
        transient: bool,
        user: str,
    ) -> FakeDeployment:
        """A deployment of ``ref`` (a branch or a commit); with ``required_contexts`` None every
        context of the commit must be ``success`` (GitHub's default), else the named ones."""
        bare = self.bare(repo)
        sha = fakegit.branch_heads(bare).get(ref) or (
            ref if fakegit.commit_exists(bare, ref) else ""
        )
        if not sha:
            raise Refusal("no-ref", ref)
        latest: dict[str, str] = {}
        for status in self.statuses(repo, sha):  # newest first
            latest.setdefault(status.context, status.state)
        wanted = list(latest) if required_contexts is None else required_contexts
        if any(latest.get(context) != "success" for context in wanted):
            raise Refusal("checks-failed", ref)
        with self._lock:
            deployment = FakeDeployment(
                self._next_id(), repo, ref, sha, environment, user, timestamp(), transient
            )
            self._deployments.append(deployment)
            return deployment

    def deployments(
        self, repo: str, ref: str | None = None, environment: str | None = None
    ) -> list[FakeDeployment]:
        """The deployments of ``repo`` (of a ref, to an environment), newest first."""
        with self._lock:
            return [
                d
                for d in reversed(self._deployments)
                if d.repo == repo
                and ref in (None, d.ref, d.sha)
                and environment in (None, d.environment)
            ]

    def add_deployment_status(
        self, repo: str, deployment_id: int, state: str, description: str, log_url: str,
        environment_url: str,
    ) -> tuple[FakeDeployment, tuple[int, str, str, str, str, str]]:  # fmt: skip
        with self._lock:
            for deployment in self._deployments:
                if (deployment.repo, deployment.id) == (repo, deployment_id):
                    status = (self._next_id(), state, description, log_url, environment_url,
                              timestamp())  # fmt: skip
                    deployment.statuses.append(status)
                    return deployment, status
        raise Refusal("no-deployment", str(deployment_id))

    def statuses(self, repo: str, sha: str) -> list[FakeStatus]:
        """The statuses set on commit ``sha``, newest first (as the APIs list them)."""
        with self._lock:
            return [s for s in reversed(self._statuses) if (s.repo, s.sha) == (repo, sha)]
