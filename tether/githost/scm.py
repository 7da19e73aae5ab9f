"""What an SCM Provider generator asks of a Git host: the repositories of an organization, their
branches, and whether a path exists on a branch (GitHub's and Gitea's REST APIs, which share
these shapes). Functions over a `GitHubClient` (its requests, errors, rate limits, token)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from tether.githost.errors import GitHostNotFoundError
from tether.githost.github import GitHubClient, split_repo

#: repositories read from one organization at most
MAX_REPOSITORIES = 1_000


@dataclass(frozen=True)
class ScmRepository:
    organization: str
    name: str
    id: int
    clone_url: str
    ssh_url: str
    default_branch: str
    topics: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        return f"{self.organization}/{self.name}"


@dataclass(frozen=True)
class ScmBranch:
    name: str
    sha: str


async def organization_repositories(client: GitHubClient, organization: str) -> list[ScmRepository]:
    action = f"listing the repositories of {organization}"
    found = []
    params = {"per_page": "100", "limit": "50"}  # GitHub's and Gitea's page size words
    async for item in client.list_pages(
        f"orgs/{quote(organization, safe='')}/repos", params, action
    ):
        name, number = item.get("name"), item.get("id")
        if not isinstance(name, str) or not isinstance(number, int):
            continue
        topics = item.get("topics") or []
        found.append(
            ScmRepository(
                organization, name, number, str(item.get("clone_url") or ""),
                str(item.get("ssh_url") or ""), str(item.get("default_branch") or "main"),
                tuple(str(t) for t in topics if isinstance(t, str)),
            )
        )  # fmt: skip
        if len(found) >= MAX_REPOSITORIES:
            break
    return found


async def branches(client: GitHubClient, repo: str, only: str | None = None) -> list[ScmBranch]:
    """Every branch of ``repo``, or just ``only`` (its default one); a branch's head commit."""
    owner, name = split_repo(repo)
    action = f"reading the branches of {repo}"
    if only is not None:
        answer = await client.send(
            "GET", f"repos/{owner}/{name}/branches/{quote(only, safe='')}", action, accept=(200,)
        )
        items = [client.json_object(answer, action)]
    else:
        items = [
            item
            async for item in client.list_pages(
                f"repos/{owner}/{name}/branches", {"per_page": "100", "limit": "50"}, action
            )
        ]
    found = []
    for item in items:
        commit = item.get("commit") or {}
        sha = commit.get("sha") or commit.get("id")
        if isinstance(item.get("name"), str) and isinstance(sha, str):
            found.append(ScmBranch(item["name"], sha))
    return found


async def path_exists(client: GitHubClient, repo: str, path: str, ref: str) -> bool:
    """Whether ``path`` (a file or a folder) exists on ``ref``."""
    owner, name = split_repo(repo)
    clean = "/".join(quote(part, safe="") for part in path.strip("/").split("/") if part)
    try:
        await client.send(
            "GET",
            f"repos/{owner}/{name}/contents/{clean}",
            f"looking for {path} in {repo}",
            params={"ref": ref},
            accept=(200,),
        )
    except GitHostNotFoundError:
        return False
    return True
