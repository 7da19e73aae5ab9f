"""Bitbucket Server (Data Center) for the Pull Request generator: the open pull requests of a
repository (``/rest/api/1.0/projects/{project}/repos/{repo}/pull-requests``), pages followed by
``isLastPage``/``nextPageStart``. The login is a bearer token (an HTTP access token) or a user
and password (basic auth), both from Secrets; neither appears in a message."""

from __future__ import annotations

import base64
from typing import Any, ClassVar
from urllib.parse import quote

from tether.githost.api import RestClient
from tether.githost.errors import GitHostResponseError
from tether.githost.models import PullRequest

#: pages of pull requests read at most (100 each)
MAX_PAGES = 20


class BitbucketServerClient(RestClient):
    """``api_url``: the server's address (``https://bitbucket.example.com``); ``token``: a
    bearer token, or ``user:password`` with ``basic=True``."""

    provider: ClassVar[str] = "Bitbucket Server"
    token_scopes: ClassVar[str] = "the token (or user) needs read access to the repository"

    def __init__(self, api_url: str, token: str, *, basic: bool = False, **options: Any) -> None:
        super().__init__(api_url, token, **options)
        self._basic = basic

    def auth_headers(self, token: str) -> dict[str, str]:
        if self._basic:
            encoded = base64.b64encode(token.encode()).decode()
            return {"Authorization": f"Basic {encoded}", "Accept": "application/json"}
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    async def open_pull_requests(self, project: str, repo: str) -> list[PullRequest]:
        path = (
            f"rest/api/1.0/projects/{quote(project, safe='')}/repos/{quote(repo, safe='')}"
            "/pull-requests"
        )
        action = f"listing the open pull requests of {project}/{repo}"
        found: list[PullRequest] = []
        start = 0
        for _ in range(MAX_PAGES):
            params = {"state": "OPEN", "start": str(start), "limit": "100"}
            answer = await self.send("GET", path, action, params=params, accept=(200,))
            page = self.json_object(answer, action)
            for item in page.get("values") or []:
                if isinstance(item, dict):
                    found.append(self._pull(item, action))
            if page.get("isLastPage", True) or not isinstance(page.get("nextPageStart"), int):
                return found
            start = page["nextPageStart"]
        raise GitHostResponseError(
            f"Bitbucket Server at {self.host} has more than {MAX_PAGES} pages while {action}",
            self.host,
        )

    def _pull(self, item: dict[str, Any], action: str) -> PullRequest:
        source, target = item.get("fromRef") or {}, item.get("toRef") or {}
        number = item.get("id")
        if (
            not isinstance(number, int)
            or not source.get("displayId")
            or not target.get("displayId")
        ):
            raise GitHostResponseError(
                f"Bitbucket Server at {self.host} answered a pull request without id, fromRef or "
                f"toRef while {action}",
                self.host,
            )
        author = ((item.get("author") or {}).get("user") or {}).get("name") or ""
        links = ((item.get("links") or {}).get("self") or [{}])[0]
        return PullRequest(
            number=number,
            url=str(links.get("href") or ""),
            head=str(source["displayId"]),
            base=str(target["displayId"]),
            title=str(item.get("title") or ""),
            body=str(item.get("description") or ""),
            state="open",
            merged=False,
            head_sha=str(source.get("latestCommit") or ""),
            author=str(author),
        )
