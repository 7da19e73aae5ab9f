"""What an ApplicationSet's generators read besides Git and the cluster Secrets, fetched before
generation (generation runs in a thread, these are network reads): the open pull requests of its
pullRequest generators (with the token of their Secret, never logged) and the status entries of
its clusterDecisionResource generators."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from tether.appsets.errors import AppSetError
from tether.appsets.generators.decisions import DecisionSource
from tether.appsets.generators.decisions import sources_in as decision_sources_in
from tether.appsets.generators.pullrequests import PullRequestSource, sources_in
from tether.appsets.generators.scm import ScmCandidate, ScmSource, filter_paths
from tether.appsets.generators.scm import source_of as scm_source_of
from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound
from tether.githost import GitHostError, PullRequest, checked_api_url, client_for
from tether.githost.bitbucketserver import BitbucketServerClient
from tether.githost.errors import GitHostNotFoundError
from tether.githost.github import GitHubClient
from tether.githost.gitlab import GitLabClient
from tether.githost.models import GitHost
from tether.githost.scm import (
    branches,
    group_projects,
    organization_repositories,
    path_exists,
    project_branches,
    project_path_exists,
)


class AppSetInputs:
    """Reads for the generators of the sets of one namespace."""

    def __init__(self, client: ClusterClient, namespace: str) -> None:
        self.client = client
        self.namespace = namespace

    async def pull_requests(self, obj: Mapping[str, Any]) -> dict[str, tuple[PullRequest, ...]]:
        """The open pull requests each pullRequest generator of ``obj`` reads, fetched now
        with the token of its Secret (never logged)."""
        found: dict[str, tuple[PullRequest, ...]] = {}
        for source in sources_in((obj.get("spec") or {}).get("generators")):
            if source.cache_key in found:
                continue
            token = await self._secret_value(source.secret, source.key)
            try:
                found[source.cache_key] = await _open_pull_requests(source, token)
            except GitHostError as exc:
                raise AppSetError(f"pull requests of {source.repo}: {exc.message}") from None
        return found

    async def scm(self, obj: Mapping[str, Any]) -> dict[str, tuple[ScmCandidate, ...]]:
        """The repositories (at their default branch, or every branch) of each scmProvider
        generator of ``obj``, with which of its filters' paths exist on each."""
        found: dict[str, tuple[ScmCandidate, ...]] = {}
        for spec, where in _generators_named(
            (obj.get("spec") or {}).get("generators"), "scmProvider"
        ):
            source = scm_source_of(spec, where)
            if source.cache_key in found:
                continue
            token = await self._secret_value(source.secret, source.key)
            paths = filter_paths(spec)
            try:
                host = client_for(source.provider, source.api, token, insecure_http=source.insecure)
                try:
                    found[source.cache_key] = await _candidates(host, source, paths)
                finally:
                    await host.aclose()
            except GitHostError as exc:
                raise AppSetError(
                    f"the repositories of {source.organization}: {exc.message}"
                ) from None
        return found

    async def decisions(
        self, obj: Mapping[str, Any]
    ) -> dict[str, tuple[str, tuple[Mapping[str, object], ...]]]:
        """The status entries each clusterDecisionResource generator of ``obj`` reads."""
        found: dict[str, tuple[str, tuple[Mapping[str, object], ...]]] = {}
        for source in decision_sources_in((obj.get("spec") or {}).get("generators")):
            if source.cache_key not in found:
                found[source.cache_key] = await self._decision_entries(source)
        return found

    async def _decision_entries(
        self, source: DecisionSource
    ) -> tuple[str, tuple[Mapping[str, object], ...]]:
        try:
            info = await self.client.resource_for("v1", "ConfigMap")
            data = (await self.client.get(info, source.configmap, self.namespace)).get("data") or {}
        except NotFound:
            raise AppSetError(f"the ConfigMap {source.configmap} does not exist") from None
        except ClusterError as exc:
            raise AppSetError(f"the ConfigMap {source.configmap}: {exc.message}") from None
        api_version, kind = str(data.get("apiVersion") or ""), str(data.get("kind") or "")
        list_key = str(data.get("statusListKey") or "clusters")
        match_key = str(data.get("matchKey") or "clusterName")
        index = await self.client.discover()
        group = api_version.rpartition("/")[0]
        resource = index.get(api_version, kind) or index.by_plural(group, kind)
        if resource is None:
            raise AppSetError(
                f"the ConfigMap {source.configmap} names {api_version} {kind}, which the cluster "
                "does not serve"
            )
        try:
            if source.name:
                objs = [await self.client.get(resource, source.name, self.namespace)]
            else:
                listing = await self.client.list(
                    resource, self.namespace, label_selector=selector_string(source.selector)
                )
                objs = list(listing.items)
        except NotFound:
            objs = []
        except ClusterError as exc:
            raise AppSetError(f"{kind} cannot be read: {exc.message}") from None
        entries = tuple(
            entry
            for item in objs
            for entry in (item.get("status") or {}).get(list_key) or []
            if isinstance(entry, Mapping)
        )
        return match_key, entries

    async def _secret_value(self, name: str, key: str) -> str:
        info = await self.client.resource_for("v1", "Secret")
        try:
            secret = await self.client.get(info, name, self.namespace)
        except NotFound:
            raise AppSetError(f"the Secret {name} does not exist in {self.namespace}") from None
        except ClusterError as exc:
            raise AppSetError(f"the Secret {name} cannot be read: {exc.message}") from None
        value = (secret.get("data") or {}).get(key)
        if not value:
            raise AppSetError(f"the Secret {name} has no key {key}")
        return base64.b64decode(str(value)).decode("utf-8", "replace").strip()


async def _open_pull_requests(source: PullRequestSource, token: str) -> tuple[PullRequest, ...]:
    if source.provider == "bitbucketServer":
        project, _, repo = source.repo.partition("/")
        credential = f"{source.username}:{token}" if source.username else token
        server = BitbucketServerClient(
            checked_api_url(source.api, source.insecure), credential, basic=bool(source.username)
        )
        try:
            return tuple(await server.open_pull_requests(project, repo))
        finally:
            await server.aclose()
    host = client_for(source.provider, source.api, token, insecure_http=source.insecure)
    try:
        return tuple(await host.list_pull_requests(source.repo))
    finally:
        await host.aclose()


def _generators_named(generators: Any, kind: str) -> list[tuple[Mapping[str, Any], str]]:
    """Every generator of ``kind`` in a set, with where it is (matrix and merge children too)."""
    found = []
    stack = [(g, f"spec.generators[{i}]") for i, g in enumerate(generators or [])]
    while stack:
        generator, where = stack.pop()
        if not isinstance(generator, Mapping):
            continue
        if isinstance(generator.get(kind), Mapping):
            found.append((generator[kind], f"{where}.{kind}"))
        for combined in ("matrix", "merge"):
            inner = generator.get(combined)
            if isinstance(inner, Mapping) and isinstance(inner.get("generators"), list):
                stack += [(c, f"{where}.{combined}.generators[{i}]")
                          for i, c in enumerate(inner["generators"])]  # fmt: skip
    return found


async def _candidates(
    host: GitHost, source: ScmSource, paths: frozenset[str]
) -> tuple[ScmCandidate, ...]:
    found = []
    if isinstance(host, GitLabClient):
        repos = await group_projects(host, source.organization, source.subgroups)
    else:
        assert isinstance(host, GitHubClient)  # GitHub and Gitea share these calls
        repos = await organization_repositories(host, source.organization)
    for repo in repos:
        only = None if source.all_branches else repo.default_branch
        try:
            if isinstance(host, GitLabClient):
                heads = await project_branches(host, repo.path, only)
            else:
                assert isinstance(host, GitHubClient)
                heads = await branches(host, repo.path, only)
        except GitHostNotFoundError:
            continue  # an empty repository: no branch yet
        for branch in heads:
            existing = []
            for path in sorted(paths):
                if isinstance(host, GitLabClient):
                    here = await project_path_exists(host, repo.path, path, branch.name)
                else:
                    assert isinstance(host, GitHubClient)
                    here = await path_exists(host, repo.path, path, branch.name)
                if here:
                    existing.append(path)
            found.append(ScmCandidate(repo, branch, frozenset(existing)))
    return tuple(found)


def selector_string(selector: Mapping[str, Any]) -> str:
    """A label selector as the API's ``labelSelector`` query: ``k=v,k in (a,b),!k``."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = ",".join(expression.get("values") or [])
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                      "Exists": f"{key}", "DoesNotExist": f"!{key}"}.get(operator, ""))  # fmt: skip
    return ",".join(p for p in parts if p)
