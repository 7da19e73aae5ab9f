"""What an SCM Provider generator asks of a Git host: the repositories of an organization (a
GitLab group's projects), their branches, and whether a path exists on a branch. Functions over
a `GitHubClient` (GitHub and Gitea share these shapes) or a `GitLabClient` (their requests,
errors, rate limits and token handling)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from tether.githost.errors import GitHostNotFoundError
from tether.githost.github import GitHubClient, split_repo
from tether.githost.gitlab import GitLabClient, project_id

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


# ---- GitLab (groups, projects, repository branches and files) ---------------------------------


async def group_projects(client: GitLabClient, group: str, subgroups: bool) -> list[ScmRepository]:
    """The projects of a GitLab group (and its subgroups when asked), as repositories whose
    ``organization`` is the group and ``name`` the project's path under it."""
    action = f"listing the projects of {group}"
    params = {"per_page": "100", "page": "1", "include_subgroups": "true" if subgroups else "false"}
    found = []
    path = f"groups/{quote(group, safe='')}/projects"
    async for item in client.list_pages(path, params, action):
        full, number = item.get("path_with_namespace"), item.get("id")
        if (
            not isinstance(full, str)
            or not isinstance(number, int)
            or not full.startswith(group + "/")
        ):
            continue
        topics = item.get("topics") or item.get("tag_list") or []
        found.append(
            ScmRepository(
                group, full[len(group) + 1 :], number, str(item.get("http_url_to_repo") or ""),
                str(item.get("ssh_url_to_repo") or ""), str(item.get("default_branch") or "main"),
                tuple(str(t) for t in topics if isinstance(t, str)),
            )
        )  # fmt: skip
        if len(found) >= MAX_REPOSITORIES:
            break
    return found


async def project_branches(
    client: GitLabClient, project: str, only: str | None = None
) -> list[ScmBranch]:
    action = f"reading the branches of {project}"
    base = f"projects/{project_id(project)}/repository/branches"
    if only is not None:
        answer = await client.send("GET", f"{base}/{quote(only, safe='')}", action, accept=(200,))
        items = [client.json_object(answer, action)]
    else:
        items = [
            item async for item in client.list_pages(base, {"per_page": "100", "page": "1"}, action)
        ]
    return [
        ScmBranch(item["name"], str((item.get("commit") or {}).get("id")))
        for item in items
        if isinstance(item.get("name"), str) and (item.get("commit") or {}).get("id")
    ]


async def project_path_exists(client: GitLabClient, project: str, path: str, ref: str) -> bool:
    """Whether ``path`` is a file or a folder of ``project`` at ``ref`` (GitLab's tree of the
    folder holding it lists it)."""
    clean = path.strip("/")
    parent, _, name = clean.rpartition("/")
    params = {"ref": ref, "per_page": "100", "page": "1"}
    if parent:
        params["path"] = parent
    action = f"looking for {path} in {project}"
    base = f"projects/{project_id(project)}/repository/tree"
    try:
        async for item in client.list_pages(base, params, action):
            if item.get("name") == name:
                return True
    except GitHostNotFoundError:
        return False
    return False
