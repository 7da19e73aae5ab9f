"""GitLab for the SCM Provider generator, against GitLab's documented shapes (a group's projects,
a project's branches and repository tree, pages by x-next-page), played by an in-test handler on
httpx2's MockTransport as in test_gitlab.py: there is no GitLab server here."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tether.githost import GitLabClient
from tether.githost.scm import group_projects, project_branches, project_path_exists

TOKEN = "glpat-scmToken0123456789"
API = "https://gitlab.example.com/api/v4"

PROJECTS = [
    {"id": 11, "path_with_namespace": "platform/shop-web", "default_branch": "main",
     "http_url_to_repo": "https://gitlab.example.com/platform/shop-web.git",
     "ssh_url_to_repo": "git@gitlab.example.com:platform/shop-web.git", "topics": ["deploy-ok"]},
    {"id": 12, "path_with_namespace": "platform/infra/dns", "default_branch": "trunk",
     "http_url_to_repo": "https://gitlab.example.com/platform/infra/dns.git",
     "ssh_url_to_repo": "git@gitlab.example.com:platform/infra/dns.git", "topics": []},
]  # fmt: skip


def handler(request: httpx2.Request) -> httpx2.Response:
    assert request.headers.get("private-token") == TOKEN
    path = request.url.raw_path.decode().partition("?")[0]
    params = request.url.params
    if path == "/api/v4/groups/platform/projects":
        assert params["include_subgroups"] == "true"
        page = int(params.get("page", "1"))
        chunk = PROJECTS[page - 1 : page]
        more = page < len(PROJECTS)
        return httpx2.Response(
            200, json=chunk, headers={"x-next-page": str(page + 1) if more else ""}
        )
    if path == "/api/v4/projects/platform%2Fshop-web/repository/branches/main":
        return httpx2.Response(200, json={"name": "main", "commit": {"id": "a" * 40}})
    if path == "/api/v4/projects/platform%2Fshop-web/repository/branches":
        return httpx2.Response(200, json=[{"name": "main", "commit": {"id": "a" * 40}},
                                          {"name": "dev", "commit": {"id": "b" * 40}}])  # fmt: skip
    if path == "/api/v4/projects/platform%2Fshop-web/repository/tree":
        if params.get("path") == "missing-folder":
            return httpx2.Response(404, json={"message": "404 Tree Not Found"})
        entries: dict[str | None, list[dict[str, Any]]] = {
            None: [{"name": "deploy", "type": "tree"}, {"name": "README.md", "type": "blob"}],
            "deploy": [{"name": "kustomization.yaml", "type": "blob"}],
        }
        return httpx2.Response(200, json=entries.get(params.get("path"), []))
    return httpx2.Response(404, json={"message": "404 Not Found"})


@pytest.mark.asyncio
async def test_a_groups_projects_branches_and_paths() -> None:
    async with GitLabClient(API, TOKEN, transport=httpx2.MockTransport(handler)) as client:
        repos = await group_projects(client, "platform", True)
        assert [(r.name, r.default_branch, r.topics) for r in repos] == [
            ("shop-web", "main", ("deploy-ok",)), ("infra/dns", "trunk", ())
        ]  # fmt: skip
        assert repos[0].path == "platform/shop-web"
        (main,) = await project_branches(client, "platform/shop-web", "main")
        assert (main.name, main.sha) == ("main", "a" * 40)
        assert len(await project_branches(client, "platform/shop-web")) == 2
        assert await project_path_exists(client, "platform/shop-web", "deploy", "main")
        assert await project_path_exists(
            client, "platform/shop-web", "deploy/kustomization.yaml", "main"
        )
        assert not await project_path_exists(client, "platform/shop-web", "charts", "main")
        assert not await project_path_exists(
            client, "platform/shop-web", "missing-folder/x", "main"
        )
