"""Commit statuses as notifications: Argo CD's ``github`` service (and the same shape for GitLab),
through Tether's Git host clients (`tether.githost`).

The template's ``github`` (or ``gitlab``) part names, once rendered, the repository
(``repoURLPath``: its URL) and the commit (``revisionPath``), and the ``status``: ``state``
(``pending``, ``success``, ``failure``, ``error``), ``label`` (the status context) and
``targetURL``. The service holds the API's address (``apiURL``; GitHub Enterprise's
``enterpriseBaseURL`` too) and a ``token`` (Tether's: a token from the Secret). Argo CD's GitHub
App login (``appID``, ``installationID``, ``privateKey``) is refused with a clear message.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast
from urllib.parse import urlsplit

from tether.githost.deployments import DEPLOYMENT_STATES, DeploymentRequest, record_deployment
from tether.githost.errors import (
    GitHostError,
    GitHostResponseError,
    GitHostUnreachableError,
    RateLimitedError,
)
from tether.githost.github import GitHubClient
from tether.githost.gitlab import GitLabClient
from tether.githost.models import COMMIT_STATES, CommitState
from tether.notify.config import Service
from tether.notify.senders import DeliveryError, Rendered, scrub

DEFAULT_API = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
CLIENTS: dict[str, type[GitHubClient] | type[GitLabClient]] = {
    "github": GitHubClient,
    "gitlab": GitLabClient,
}


def repository_path(url: str) -> str:
    """``owner/name`` (GitLab: ``group/sub/name``) of a repository URL, any spelling
    (``https://host/owner/name.git``, ``git@host:owner/name``)."""
    text = url.strip()
    if "://" not in text and ":" in text:  # scp-like ssh
        text = "ssh://" + text.replace(":", "/", 1)
    path = urlsplit(text).path.strip("/").removesuffix(".git")
    if path.count("/") < 1:
        raise DeliveryError(f"repoURLPath gave {url!r}, not a repository URL")
    return path


def _api_url(service: Service) -> str:
    options = service.options
    if options.get("apiURL"):
        return str(options["apiURL"])
    if service.type == "github" and options.get("enterpriseBaseURL"):
        return str(options["enterpriseBaseURL"]).rstrip("/") + "/api/v3"
    return DEFAULT_API[service.type]


class CommitStatuses:
    """Sets commit statuses; one API client per service, kept."""

    def __init__(self) -> None:
        self._clients: dict[str, GitHubClient | GitLabClient] = {}

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()

    def _client(self, service: Service) -> GitHubClient | GitLabClient:
        options = service.options
        if any(
            options.get(k) for k in ("appID", "installationID", "privateKey")
        ) and not options.get("token"):
            raise DeliveryError(
                f"{service.type} {service.name}: GitHub App login (appID, installationID, "
                "privateKey) is not supported yet: put a token in the service as `token`"
            )
        if not options.get("token"):
            raise DeliveryError(f"{service.type} {service.name}: the service has no `token`")
        client = self._clients.get(service.name)
        if client is None:
            factory = CLIENTS[service.type]
            client = factory(_api_url(service), str(options["token"]), user_agent="tether-notify")
            self._clients[service.name] = client
        return client

    async def send(self, service: Service, rendered: Rendered) -> None:
        part = rendered.parts.get(service.type)
        if not isinstance(part, Mapping):
            raise DeliveryError(f"the template has no {service.type} part for {service.name}")
        status, deployment = part.get("status"), part.get("deployment")
        if not isinstance(status, Mapping) and not isinstance(deployment, Mapping):
            raise DeliveryError(
                f"{service.type}: the template names neither a status (state, label, targetURL) "
                "nor a deployment"
            )
        repo = repository_path(str(part.get("repoURLPath") or ""))
        sha = str(part.get("revisionPath") or "").strip()
        if not sha:
            raise DeliveryError(f"{service.type}.revisionPath gave no commit")
        if isinstance(status, Mapping):
            state = str(status.get("state") or "")
            if state not in COMMIT_STATES:
                raise DeliveryError(
                    f"{service.type}.status.state: {state!r} is not one of "
                    f"{', '.join(COMMIT_STATES)}"
                )
            await self._set(service, repo, sha, cast(CommitState, state), status, rendered)
        if isinstance(deployment, Mapping):
            await self._deploy(service, repo, sha, deployment, rendered)

    async def _set(
        self,
        service: Service,
        repo: str,
        sha: str,
        state: CommitState,
        status: Mapping[str, Any],
        rendered: Rendered,
    ) -> None:
        client = self._client(service)
        with _told_as_delivery_errors(service):
            await client.set_commit_status(
                repo,
                sha,
                state,
                context=str(status.get("label") or "continuous-delivery"),
                description=_first_line(rendered.message),
                target_url=str(status.get("targetURL") or "") or None,
            )

    async def _deploy(
        self,
        service: Service,
        repo: str,
        sha: str,
        deployment: Mapping[str, Any],
        rendered: Rendered,
    ) -> None:
        """Argo CD's ``github.deployment``: the deployment of the commit (or ``reference``) to
        ``environment`` found or created, then a status added with ``logURL`` and
        ``environmentURL``."""
        client = self._client(service)
        if not isinstance(client, GitHubClient) or service.type != "github":
            raise DeliveryError(f"{service.type}.deployment: deployments are GitHub's")
        state = str(deployment.get("state") or "")
        if state not in DEPLOYMENT_STATES:
            raise DeliveryError(
                f"github.deployment.state: {state!r} is not one of {', '.join(DEPLOYMENT_STATES)}"
            )
        contexts = deployment.get("requiredContexts")
        request = DeploymentRequest(
            ref=str(deployment.get("reference") or sha),
            environment=str(deployment.get("environment") or "production"),
            state=state,
            description=_first_line(rendered.message),
            log_url=str(deployment.get("logURL") or ""),
            environment_url=str(deployment.get("environmentURL") or ""),
            required_contexts=tuple(str(c) for c in contexts)
            if isinstance(contexts, list)
            else None,
            auto_merge=_flag(deployment.get("autoMerge"), True),
            transient_environment=_flag(deployment.get("transientEnvironment"), False),
        )
        with _told_as_delivery_errors(service):
            await record_deployment(client, repo, request)


def _first_line(text: str) -> str:
    stripped = text.strip()
    return stripped.splitlines()[0] if stripped else ""


def _flag(value: Any, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return default


@contextmanager
def _told_as_delivery_errors(service: Service) -> Iterator[None]:
    """A Git host's error as a DeliveryError: rate limits and unreachable hosts retried (at the
    host's reset time), the rest not; the service's secrets scrubbed."""
    try:
        yield
    except RateLimitedError as exc:
        raise DeliveryError(
            scrub(exc.message, service),
            retry=True,
            retry_after=max(0.0, exc.retry_at - time.time()),
        ) from None
    except (GitHostUnreachableError, GitHostResponseError) as exc:
        raise DeliveryError(scrub(exc.message, service), retry=True) from None
    except GitHostError as exc:
        raise DeliveryError(scrub(exc.message, service)) from None
