"""Git-host clients: pull requests, comments and commit statuses on GitHub, GitLab and Gitea.

The narrow face image automation, pull-request previews and notifications use::

    host = host_for("https://github.com/acme/deploy.git", token=token)
    pull = await host.find_pull_request("acme/deploy", "tether/update", "main")

`host_for` picks the client from the repository URL (github.com and GitHub Enterprise's
``/api/v3``, GitLab's ``/api/v4``, Gitea and Forgejo's ``/api/v1``), or from an explicit
provider and API URL for a self-hosted server (and for tests). `repo_path` gives the path the
clients take as ``repo``. The token comes from a Secret; it is sent only in request headers to
the API's own origin and never appears in a message, log line or repr.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx2

from tether.githost.api import GitHostLimits
from tether.githost.errors import (
    GitHostAuthError,
    GitHostConfigError,
    GitHostError,
    GitHostNotFoundError,
    GitHostResponseError,
    GitHostUnreachableError,
    GitHostValidationError,
    RateLimitedError,
)
from tether.githost.gitea import GiteaClient
from tether.githost.github import GitHubClient
from tether.githost.gitlab import GitLabClient
from tether.githost.models import COMMIT_STATES, Comment, CommitState, GitHost, PullRequest

__all__ = [
    "COMMIT_STATES",
    "PROVIDERS",
    "Comment",
    "CommitState",
    "GitHost",
    "GitHostAuthError",
    "GitHostConfigError",
    "GitHostError",
    "GitHostLimits",
    "GitHostNotFoundError",
    "GitHostResponseError",
    "GitHostUnreachableError",
    "GitHostValidationError",
    "GitHubClient",
    "GitLabClient",
    "GiteaClient",
    "PullRequest",
    "RateLimitedError",
    "checked_api_url",
    "client_for",
    "host_for",
    "repo_path",
]

#: provider names `host_for` takes, and the client of each
PROVIDERS: dict[str, type[GitHubClient] | type[GitLabClient]] = {
    "github": GitHubClient,
    "gitlab": GitLabClient,
    "gitea": GiteaClient,
    "forgejo": GiteaClient,
}
_API_PATHS = {"github": "/api/v3", "gitlab": "/api/v4", "gitea": "/api/v1", "forgejo": "/api/v1"}
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^/:]+):(?P<path>(?!//).+)$")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost."})


def _parse(repo_url: str) -> tuple[str, str, str]:
    """(web origin, host name, repository path) of an https, http, ssh or scp-like URL."""
    url = repo_url.strip()
    if "://" in url:
        try:
            parts = urlsplit(url)
            host, port = (parts.hostname or ""), parts.port
        except ValueError:
            raise GitHostConfigError(f"{repo_url!r} is not a repository URL") from None
        scheme = parts.scheme.lower() if parts.scheme.lower() in ("http", "https") else "https"
        keep_port = port is not None and scheme == parts.scheme.lower()
        web = f"{scheme}://{host}{f':{port}' if keep_port else ''}"
        path = parts.path
    else:
        match = _SCP_LIKE.match(url)
        if match is None:
            raise GitHostConfigError(
                f"{repo_url!r} is not a repository URL; use https://host/owner/repo.git or "
                "git@host:owner/repo.git"
            )
        host, path = match.group("host"), match.group("path")
        web = f"https://{host}"
    path = path.strip("/").removesuffix(".git").strip("/")
    if not host or "/" not in path:
        raise GitHostConfigError(f"{repo_url!r} names no host and owner/repository path")
    return web, host.lower(), path


def repo_path(repo_url: str) -> str:
    """The repository's path on its host, as the clients take it: ``owner/name``, or GitLab's
    ``group/subgroup/project`` (``https://gitlab.com/g/s/p.git`` gives ``g/s/p``)."""
    return _parse(repo_url)[2]


def guess_provider(host: str) -> str | None:
    """The provider a host name suggests: github.com and ``github.*`` hosts, ``gitlab`` and
    ``gitea``/``forgejo`` in the name, codeberg.org (Forgejo); None when it says nothing."""
    if host in ("github.com", "www.github.com") or "github" in host:
        return "github"
    if "gitlab" in host:
        return "gitlab"
    if "gitea" in host or "forgejo" in host or host == "codeberg.org":
        return "gitea"
    return None


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def checked_api_url(api_url: str, insecure_http: bool) -> str:
    try:
        parts = urlsplit(api_url.strip())
        host = parts.hostname or ""
    except ValueError:
        raise GitHostConfigError(f"the API URL {api_url!r} is malformed") from None
    if parts.scheme not in ("http", "https") or not host:
        raise GitHostConfigError(f"the API URL {api_url!r} is not an http(s) URL")
    if parts.username is not None or parts.password is not None:
        raise GitHostConfigError(
            "the API URL carries user-info; give the token separately (from a Secret)"
        )
    if parts.scheme == "http" and not insecure_http and not _is_loopback(host):
        raise GitHostConfigError(
            f"the API URL of {host} is plain http, which would send the token in clear; use "
            "https, or allow insecure http explicitly"
        )
    return api_url.strip().rstrip("/")


def client_for(
    provider: str,
    api_url: str,
    token: str,
    *,
    insecure_http: bool = False,
    limits: GitHostLimits | None = None,
) -> GitHost:
    """The client of ``provider``'s API at ``api_url`` (a pull-request generator names both,
    not a repository URL); the same checks as :func:`host_for`."""
    if provider not in PROVIDERS:
        raise GitHostConfigError(
            f"unknown Git host provider {provider!r}; Tether speaks {', '.join(PROVIDERS)}"
        )
    if not token:
        raise GitHostConfigError(f"no token for {provider}: it comes from a Secret")
    checked = checked_api_url(api_url, insecure_http)
    return PROVIDERS[provider](checked, token, limits=limits, clock=time.time)


def host_for(
    repo_url: str,
    provider_hint: str | None = None,
    token: str = "",
    *,
    api_url: str | None = None,
    insecure_http: bool = False,
    limits: GitHostLimits | None = None,
    transport: httpx2.AsyncBaseTransport | None = None,
    clock: Callable[[], float] | None = None,
) -> GitHost:
    """The client for the host that serves ``repo_url``.

    ``provider_hint`` (github, gitlab, gitea, forgejo) overrides the guess from the host name;
    ``api_url`` overrides the API's address (a self-hosted server under a path, a test
    server). Without ``api_url``: github.com's API is ``https://api.github.com``, any other
    GitHub host's ``https://HOST/api/v3``; GitLab's ``/api/v4``; Gitea's ``/api/v1``. Plain
    http is refused for a non-loopback API unless ``insecure_http``. Raises
    `GitHostConfigError` when the provider cannot be told or the token is empty.
    """
    web, host, _ = _parse(repo_url)
    provider = (provider_hint or "").strip().lower() or guess_provider(host)
    if provider is None:
        raise GitHostConfigError(
            f"cannot tell which Git host serves {host}; set the provider "
            f"({', '.join(PROVIDERS)}) and, for a self-hosted server, its API URL"
        )
    if provider not in PROVIDERS:
        raise GitHostConfigError(
            f"unknown Git host provider {provider!r}; Tether speaks {', '.join(PROVIDERS)}"
        )
    if not token:
        raise GitHostConfigError(
            f"no token for {provider} at {host}: pull requests and statuses need one (from a "
            "Secret)"
        )
    if api_url is None:
        github_com = provider == "github" and host in ("github.com", "www.github.com")
        api_url = "https://api.github.com" if github_com else web + _API_PATHS[provider]
    checked = checked_api_url(api_url, insecure_http)
    return PROVIDERS[provider](
        checked, token, limits=limits, transport=transport, clock=clock or time.time
    )
