"""Gitea's and Forgejo's REST API (``/api/v1``), which follows GitHub's shapes closely.

The differences from GitHub that matter here: the token goes as ``Authorization: token ...``;
a listing cannot filter on the head branch (and pages with ``limit``, at most 50 by default);
a create answers 409 when a pull request for the branches is open; an edit answers 201; commit
states add ``warning``. Listings follow the ``Link`` header. Gitea has no API rate limit of its
own; a 429 from a proxy in front of it is read with its ``retry-after``.
"""

from __future__ import annotations

from typing import ClassVar

from tether.githost.api import Answer, RestClient
from tether.githost.errors import RateLimitedError
from tether.githost.github import GitHubClient
from tether.githost.models import COMMIT_STATES

#: Gitea's default `MAX_RESPONSE_ITEMS`: a larger `limit` is cut to it anyway
PAGE_SIZE = 50


class GiteaClient(GitHubClient):
    """A `GitHost` for Gitea and Forgejo. ``api_url``: ``https://HOST/api/v1``."""

    provider: ClassVar[str] = "Gitea"
    token_scopes: ClassVar[str] = (
        "the token needs the write:repository and write:issue scopes, and its user write "
        "access to the repository"
    )
    exists_status: ClassVar[int] = 409
    edit_statuses: ClassVar[tuple[int, ...]] = (200, 201)
    commit_states: ClassVar[tuple[str, ...]] = (*COMMIT_STATES, "warning")

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"token {token}", "Accept": "application/json"}

    def list_params(self, owner: str, head: str, base: str) -> dict[str, str]:
        # `base_branch` filters on Gitea 1.22 and later; older ones ignore it, and the
        # listing is matched on both branches afterwards in any case
        return {
            "state": "open",
            "base_branch": base,
            "limit": str(min(self.limits.page_size, PAGE_SIZE)),
        }

    def rate_limit(self, answer: Answer, action: str) -> RateLimitedError | None:
        # no x-ratelimit headers here: only a 429 (from a proxy in front) is a rate limit
        return RestClient.rate_limit(self, answer, action)
