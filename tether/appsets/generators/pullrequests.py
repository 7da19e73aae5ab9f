"""The Pull Request generator: one parameter set per open pull request of a repository on
GitHub, GitLab or Gitea, filtered by labels and by branch patterns, as Argo CD has it.

The pull requests are fetched before generation (the API is asynchronous and generation is
not) and handed in through the context, keyed by :func:`source_of`'s key; a pullRequest
generator whose fields use another generator's parameters is therefore refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tether.appsets.errors import AppSetError
from tether.appsets.generators.context import Context
from tether.appsets.params import Params
from tether.githost.models import PullRequest
from tether.notify.expr.errors import ExprError
from tether.notify.expr.re2 import compile_regex

#: the API of each provider when ``api`` is not given (Gitea has none: it is self-hosted)
DEFAULT_APIS = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
PROVIDERS = ("github", "gitlab", "gitea", "bitbucketServer")
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class PullRequestSource:
    """Where a pullRequest generator reads: the provider, its API, the repository path, the
    token's Secret and key, the labels every pull request must carry."""

    provider: str
    api: str
    repo: str
    secret: str
    key: str
    labels: tuple[str, ...]
    insecure: bool = False
    #: Bitbucket Server's basic auth: the user (the password is the Secret's key)
    username: str = ""

    @property
    def cache_key(self) -> str:
        return json.dumps([self.provider, self.api, self.repo, self.secret, self.key,
                           self.username])  # fmt: skip


def source_of(spec: Mapping[str, Any], where: str) -> PullRequestSource:
    providers = [p for p in spec if p in (*PROVIDERS, "bitbucket", "azuredevops")]
    if len(providers) != 1:
        raise AppSetError(f"{where} must name one provider ({', '.join(PROVIDERS)})")
    provider = providers[0]
    if provider not in PROVIDERS:
        raise AppSetError(f"{where}.{provider}: this provider is not supported by Tether yet")
    part = spec[provider]
    if not isinstance(part, Mapping):
        raise AppSetError(f"{where}.{provider} must be an object")
    if provider == "bitbucketServer":
        return _bitbucket_server(part, f"{where}.{provider}")
    repo = (
        str(part.get("project") or "")
        if provider == "gitlab"
        else f"{part.get('owner') or ''}/{part.get('repo') or ''}"
    )
    if repo in ("", "/") or repo.startswith("/") or repo.endswith("/"):
        raise AppSetError(f"{where}.{provider}: name the repository (owner and repo, or project)")
    api = str(part.get("api") or DEFAULT_APIS.get(provider, "")).rstrip("/")
    if not api:
        raise AppSetError(f"{where}.{provider}.api is required (the server's API address)")
    if provider == "github" and part.get("api") and not api.endswith("/api/v3"):
        api += "/api/v3"  # GitHub Enterprise's address, as Argo CD takes it
    if provider == "gitea" and not api.endswith("/api/v1"):
        api += "/api/v1"
    if provider == "gitlab" and part.get("api") and not api.endswith("/api/v4"):
        api += "/api/v4"
    token = part.get("tokenRef") or {}
    if not isinstance(token, Mapping) or not token.get("secretName") or not token.get("key"):
        raise AppSetError(f"{where}.{provider}.tokenRef needs secretName and key")
    labels = part.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise AppSetError(f"{where}.{provider}.labels must be a list of strings")
    return PullRequestSource(
        provider, api, repo, str(token["secretName"]), str(token["key"]), tuple(labels),
        part.get("insecure") is True,
    )  # fmt: skip


def _bitbucket_server(part: Mapping[str, Any], where: str) -> PullRequestSource:
    """``project``, ``repo``, ``api``, and ``bearerToken.tokenRef`` or ``basicAuth``
    (``username``, ``passwordRef``); Bitbucket Server has no labels."""
    project, repo, api = part.get("project"), part.get("repo"), part.get("api")
    if not all(isinstance(v, str) and v for v in (project, repo, api)):
        raise AppSetError(f"{where} needs project, repo and api")
    if part.get("labels"):
        raise AppSetError(f"{where}: Bitbucket Server pull requests have no labels to filter on")
    basic = part.get("basicAuth") or {}
    bearer = (part.get("bearerToken") or {}).get("tokenRef") or {}
    ref = basic.get("passwordRef") if basic else bearer
    if not isinstance(ref, Mapping) or not ref.get("secretName") or not ref.get("key"):
        raise AppSetError(f"{where} needs bearerToken.tokenRef or basicAuth with passwordRef")
    username = str(basic.get("username") or "") if basic else ""
    if basic and not username:
        raise AppSetError(f"{where}.basicAuth.username is required")
    return PullRequestSource(
        "bitbucketServer", str(api).rstrip("/"), f"{project}/{repo}", str(ref["secretName"]),
        str(ref["key"]), (), part.get("insecure") is True, username,
    )  # fmt: skip


def slug(text: str, most: int = 50) -> str:
    """A branch name as a DNS label (Argo CD's branch_slug): lower case, runs of other
    characters as one ``-``, at most ``most`` characters, no ``-`` at either end."""
    return _SLUG.sub("-", text.lower()).strip("-")[:most].strip("-")


def _passes(pull: PullRequest, filters: Any, where: str) -> bool:
    """Any filter may let a pull request through; within one, every condition must hold."""
    if not filters:
        return True
    if not isinstance(filters, list):
        raise AppSetError(f"{where}.filters must be a list")
    for index, entry in enumerate(filters):
        if not isinstance(entry, Mapping):
            raise AppSetError(f"{where}.filters[{index}] must be an object")
        checks = {"branchMatch": pull.head, "targetBranchMatch": pull.base}
        ok = True
        for field, text in checks.items():
            pattern = entry.get(field)
            if pattern is None:
                continue
            try:
                if not compile_regex(str(pattern), 0).search(text, 0):
                    ok = False
            except ExprError as exc:
                raise AppSetError(f"{where}.filters[{index}].{field}: {exc.message}") from None
        if ok:
            return True
    return False


def pull_requests(spec: Mapping[str, Any], ctx: Context, *, go: bool, where: str) -> list[Params]:
    source = source_of(spec, where)
    pulls = ctx.pull_requests.get(source.cache_key)
    if pulls is None:
        raise AppSetError(
            f"{where}: the pull requests of {source.repo} were not read (a pullRequest "
            "generator may not use another generator's parameters)"
        )
    found: list[Params] = []
    for pull in pulls:
        if not set(source.labels) <= set(pull.labels):
            continue
        if not _passes(pull, spec.get("filters"), where):
            continue
        params: Params = {
            "number": str(pull.number),
            "title": pull.title,
            "author": pull.author,
            "branch": pull.head,
            "branch_slug": slug(pull.head),
            "target_branch": pull.base,
            "target_branch_slug": slug(pull.base),
            "head_sha": pull.head_sha,
            "head_short_sha": pull.head_sha[:8],
            "head_short_sha_7": pull.head_sha[:7],
        }
        if go:
            params["labels"] = list(pull.labels)
        found.append(params)
    return found


def sources_in(generators: Any) -> list[PullRequestSource]:
    """The sources of every pullRequest generator of a set (matrix and merge children too)."""
    found: list[PullRequestSource] = []
    stack = [(g, f"spec.generators[{i}]") for i, g in enumerate(generators or [])]
    while stack:
        generator, where = stack.pop()
        if not isinstance(generator, Mapping):
            continue
        spec = generator.get("pullRequest")
        if isinstance(spec, Mapping):
            found.append(source_of(spec, f"{where}.pullRequest"))
        for combined in ("matrix", "merge"):
            inner = generator.get(combined)
            if isinstance(inner, Mapping) and isinstance(inner.get("generators"), list):
                stack += [
                    (child, f"{where}.{combined}.generators[{i}]")
                    for i, child in enumerate(inner["generators"])
                ]
    return found
