"""The SCM Provider generator: one parameter set per repository (and branch) of an organization
on GitHub or Gitea, filtered as Argo CD filters them.

The repositories, their branches and whether the paths the filters name exist are read before
generation and handed in through the context (see `tether.controller.appsetinputs`); the
filters are applied here: each filter's conditions must all hold (``repositoryMatch``,
``labelMatch`` on the topics, ``branchMatch``, ``pathsExist``, ``pathsDoNotExist``), any filter
may let a repository through, and without filters every repository passes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tether.appsets.errors import AppSetError
from tether.appsets.generators.context import Context
from tether.appsets.generators.pullrequests import DEFAULT_APIS
from tether.appsets.params import Params
from tether.githost.scm import ScmBranch, ScmRepository
from tether.notify.expr.errors import ExprError
from tether.notify.expr.re2 import compile_regex

PROVIDERS = ("github", "gitea", "gitlab")
_NORMALIZE = re.compile(r"[^a-zA-Z0-9-]+")


@dataclass(frozen=True)
class ScmSource:
    provider: str
    api: str
    organization: str
    secret: str
    key: str
    all_branches: bool
    insecure: bool = False
    #: GitLab: the group's subgroups too
    subgroups: bool = False

    @property
    def cache_key(self) -> str:
        return json.dumps(
            [self.provider, self.api, self.organization, self.secret, self.key, self.all_branches]
        )


@dataclass(frozen=True)
class ScmCandidate:
    """A repository at one branch, and which of the filters' paths exist there."""

    repository: ScmRepository
    branch: ScmBranch
    existing: frozenset[str] = frozenset()


def source_of(spec: Mapping[str, Any], where: str) -> ScmSource:
    known = (*PROVIDERS, "bitbucket", "bitbucketServer", "azureDevOps", "awsCodeCommit")
    providers = [p for p in spec if p in known]
    if len(providers) != 1:
        raise AppSetError(f"{where} must name one provider ({', '.join(PROVIDERS)})")
    provider = providers[0]
    if provider not in PROVIDERS:
        raise AppSetError(f"{where}.{provider}: this provider is not supported by Tether yet")
    part = spec[provider]
    if not isinstance(part, Mapping):
        raise AppSetError(f"{where}.{provider} must be an object")
    organization = str(part.get("group") or part.get("organization") or part.get("owner") or "")
    if not organization or (provider != "gitlab" and "/" in organization):
        raise AppSetError(f"{where}.{provider}: name the organization (a GitLab group)")
    api = str(part.get("api") or DEFAULT_APIS.get(provider, "")).rstrip("/")
    if not api:
        raise AppSetError(f"{where}.{provider}.api is required (the server's API address)")
    if provider == "github" and part.get("api") and not api.endswith("/api/v3"):
        api += "/api/v3"
    if provider == "gitea" and not api.endswith("/api/v1"):
        api += "/api/v1"
    if provider == "gitlab" and part.get("api") and not api.endswith("/api/v4"):
        api += "/api/v4"
    token = part.get("tokenRef") or {}
    if not isinstance(token, Mapping) or not token.get("secretName") or not token.get("key"):
        raise AppSetError(f"{where}.{provider}.tokenRef needs secretName and key")
    return ScmSource(provider, api, organization, str(token["secretName"]), str(token["key"]),
                     part.get("allBranches") is True, part.get("insecure") is True,
                     part.get("includeSubgroups") is True)  # fmt: skip


def filter_paths(spec: Mapping[str, Any]) -> frozenset[str]:
    """Every path a filter asks about (read before generation)."""
    paths: set[str] = set()
    for entry in spec.get("filters") or []:
        if isinstance(entry, Mapping):
            for key in ("pathsExist", "pathsDoNotExist"):
                paths.update(str(p).strip("/") for p in entry.get(key) or [])
    return frozenset(paths)


def _matches(pattern: Any, texts: tuple[str, ...], where: str) -> bool:
    try:
        regex = compile_regex(str(pattern), 0)
        return any(regex.search(text, 0) for text in texts)
    except ExprError as exc:
        raise AppSetError(f"{where}: {exc.message}") from None


def passes(candidate: ScmCandidate, filters: Any, where: str) -> bool:
    if not filters:
        return True
    if not isinstance(filters, list):
        raise AppSetError(f"{where}.filters must be a list")
    repo = candidate.repository
    for index, entry in enumerate(filters):
        if not isinstance(entry, Mapping):
            raise AppSetError(f"{where}.filters[{index}] must be an object")
        at = f"{where}.filters[{index}]"
        checks = [
            entry.get("repositoryMatch") is None
            or _matches(entry["repositoryMatch"], (repo.name,), f"{at}.repositoryMatch"),
            entry.get("labelMatch") is None
            or _matches(entry["labelMatch"], repo.topics, f"{at}.labelMatch"),
            entry.get("branchMatch") is None
            or _matches(entry["branchMatch"], (candidate.branch.name,), f"{at}.branchMatch"),
            all(str(p).strip("/") in candidate.existing for p in entry.get("pathsExist") or []),
            not any(
                str(p).strip("/") in candidate.existing for p in entry.get("pathsDoNotExist") or []
            ),
        ]
        if all(checks):
            return True
    return False


def scm_provider(spec: Mapping[str, Any], ctx: Context, *, go: bool, where: str) -> list[Params]:
    source = source_of(spec, where)
    candidates = ctx.scm.get(source.cache_key)
    if candidates is None:
        raise AppSetError(
            f"{where}: the repositories of {source.organization} were not read (an scmProvider "
            "generator may not use another generator's parameters)"
        )
    ssh = spec.get("cloneProtocol") == "ssh"
    found: list[Params] = []
    for candidate in candidates:
        if not passes(candidate, spec.get("filters"), where):
            continue
        repo, branch = candidate.repository, candidate.branch
        params: Params = {
            "organization": repo.organization,
            "repository": repo.name,
            "repository_id": str(repo.id),
            "url": repo.ssh_url if ssh else repo.clone_url,
            "branch": branch.name,
            "branch_normalized": _NORMALIZE.sub("-", branch.name).strip("-").lower(),
            "sha": branch.sha,
            "short_sha": branch.sha[:8],
            "short_sha_7": branch.sha[:7],
            "labels": list(repo.topics) if go else ",".join(repo.topics),
        }
        found.append(params)
    return found
