"""What every Git-host client speaks: the `GitHost` protocol and the `PullRequest` record.

A pull request here is GitHub's and Gitea's pull request and GitLab's merge request alike;
``number`` is the number people see (GitLab's ``iid``), ``url`` the page in a browser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

#: the commit states Tether sets; each client maps them onto its host's words
CommitState = Literal["pending", "success", "failure", "error"]
COMMIT_STATES: tuple[CommitState, ...] = ("pending", "success", "failure", "error")


@dataclass(frozen=True)
class PullRequest:
    """A pull (merge) request as the host reported it.

    ``state`` is ``"open"`` or ``"closed"`` (a merged one is closed with ``merged`` true);
    ``head_sha`` is the commit the head branch pointed at when the host answered.
    """

    number: int
    url: str
    head: str
    base: str
    title: str
    body: str
    state: str
    merged: bool
    head_sha: str
    labels: tuple[str, ...] = ()
    author: str = ""


@dataclass(frozen=True)
class Comment:
    """A comment on a pull request (a GitLab note): its id on the host and its text."""

    id: int
    body: str


class GitHost(Protocol):
    """One Git host's pull-request API, for one token. ``repo`` is the repository's path on
    the host: ``owner/name`` (GitLab: ``group/subgroup/project``), see `repo_path`."""

    @property
    def host(self) -> str:
        """The API's origin (scheme, host, port), for messages."""
        ...

    async def find_pull_request(
        self, repo: str, head_branch: str, base_branch: str
    ) -> PullRequest | None:
        """The open pull request from ``head_branch`` into ``base_branch``, or None."""
        ...

    async def open_pull_request(
        self, repo: str, head: str, base: str, title: str, body: str
    ) -> PullRequest:
        """Open a pull request from branch ``head`` (which must exist) into ``base``. When one
        is already open for that pair, it is updated with this title and body and returned."""
        ...

    async def update_pull_request(
        self, repo: str, number: int, title: str | None = None, body: str | None = None
    ) -> PullRequest:
        """Change the title and/or body of pull request ``number``."""
        ...

    async def close_pull_request(self, repo: str, number: int, comment: str | None = None) -> None:
        """Close pull request ``number`` without merging, after posting ``comment`` if given."""
        ...

    async def comment(self, repo: str, number: int, body: str) -> None:
        """Post a comment on pull request ``number``."""
        ...

    async def list_pull_requests(self, repo: str) -> list[PullRequest]:
        """The open pull requests of ``repo`` (bounded by the pages read)."""
        ...

    async def comments(self, repo: str, number: int) -> list[Comment]:
        """The comments on pull request ``number``, oldest first (bounded by the pages read)."""
        ...

    async def edit_comment(self, repo: str, number: int, comment_id: int, body: str) -> None:
        """Replace the text of comment ``comment_id`` on pull request ``number``."""
        ...

    async def set_commit_status(
        self,
        repo: str,
        sha: str,
        state: CommitState,
        context: str,
        description: str,
        target_url: str | None = None,
    ) -> None:
        """Set the status named ``context`` of commit ``sha``."""
        ...

    async def aclose(self) -> None:
        """Close the connection pool."""
        ...


def fit_text(text: str, limit: int, marker: str = "\n\n… (truncated)") -> str:
    """``text`` cut to at most ``limit`` characters, ending with ``marker`` when cut: hosts
    refuse a body past their maximum, and a long manifest diff must not lose the pull request."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker[:limit]
