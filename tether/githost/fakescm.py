"""The fake host's repository listing, branches and contents (GitHub's and Gitea's shapes), for
the SCM Provider generator: ``/orgs/{org}/repos``, ``/repos/{o}/{r}/branches[/{branch}]`` and
``/repos/{o}/{r}/contents/{path}?ref=``, all answered from the bare repositories."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from tether.githost import fakegit
from tether.githost.fakeapi import Call, Dialect, json_response
from tether.githost.fakeforge import Refusal


def _repository(d: Dialect, call: Call, repo: str) -> dict[str, Any]:
    bare = d.forge.bare(repo)
    owner, _, name = repo.partition("/")
    head = fakegit.git(bare, "symbolic-ref", "--short", "HEAD", check=False).stdout.strip()
    return {
        "id": abs(hash(repo)) % 10**8,
        "name": name,
        "full_name": repo,
        "owner": d.user(owner),
        "clone_url": f"{d.controls.clone_prefix}{repo}.git",
        "html_url": f"{call.origin}/{repo}",
        "ssh_url": f"git@127.0.0.1:{repo}.git",
        "default_branch": head or "main",
        "topics": list(d.forge.topics(repo)),
    }


def list_org_repos(d: Dialect, call: Call) -> Response:
    organization = call.path.get("org", "")
    repos = d.forge.organization_repos(organization)
    page, size = d.page(call.query)
    chunk = repos[(page - 1) * size : page * size]
    return json_response(200, [_repository(d, call, r) for r in chunk])


def _branch(name: str, sha: str) -> dict[str, Any]:
    return {"name": name, "commit": {"sha": sha, "id": sha}, "protected": False}


def list_branches(d: Dialect, call: Call) -> Response:
    heads = fakegit.branch_heads(d.forge.bare(call.repo))
    page, size = d.page(call.query)
    names = sorted(heads)[(page - 1) * size : page * size]
    return json_response(200, [_branch(n, heads[n]) for n in names])


def get_branch(d: Dialect, call: Call) -> Response:
    heads = fakegit.branch_heads(d.forge.bare(call.repo))
    name = call.path.get("branch", "")
    if name not in heads:
        raise Refusal("no-branch", name)
    return json_response(200, _branch(name, heads[name]))


def get_contents(d: Dialect, call: Call) -> Response:
    bare = d.forge.bare(call.repo)
    path = call.path.get("path", "")
    ref = call.query.get("ref") or "HEAD"
    if not fakegit.path_exists(bare, ref, path):
        raise Refusal("no-path", path)
    return json_response(200, {"name": path.rsplit("/", 1)[-1], "path": path, "type": "file"})
