"""GitHub's Deployments API (``/repos/{owner}/{repo}/deployments`` and their ``statuses``), as
Argo CD's ``github`` notification service uses it: the deployment of a ref to an environment is
found (or created), then a deployment status is added to it.

Functions over a `GitHubClient` (its requests, errors, rate limits and token handling)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from tether.githost.errors import GitHostResponseError
from tether.githost.github import GitHubClient, split_repo

#: the states GitHub accepts for a deployment status
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
MAX_DESCRIPTION = 140


@dataclass(frozen=True)
class DeploymentRequest:
    """What to record: the ``ref`` (a commit or branch) deployed to ``environment``."""

    ref: str
    environment: str
    state: str
    description: str = ""
    log_url: str = ""
    environment_url: str = ""
    #: contexts that must be green before GitHub accepts the deployment (None: GitHub's
    #: default, every context; [] none)
    required_contexts: tuple[str, ...] | None = None
    auto_merge: bool = True
    transient_environment: bool = False


async def find_deployment(
    client: GitHubClient, repo: str, ref: str, environment: str
) -> int | None:
    """The newest deployment of ``ref`` to ``environment``; None when there is none."""
    owner, name = split_repo(repo)
    action = f"looking for the deployment of {ref[:40]} to {environment} in {repo}"
    params = {"ref": ref, "environment": environment, "per_page": "1"}
    answer = await client.send(
        "GET", f"repos/{owner}/{name}/deployments", action, params=params, accept=(200,)
    )
    found = client.json(answer, action)
    if not isinstance(found, list):
        raise GitHostResponseError(
            f"GitHub answered a listing that is not a list while {action}", client.host
        )
    for item in found:
        if isinstance(item, dict) and isinstance(item.get("id"), int):
            return int(item["id"])
    return None


async def record_deployment(client: GitHubClient, repo: str, request: DeploymentRequest) -> int:
    """Find or create the deployment, add the status; the deployment's id."""
    if request.state not in DEPLOYMENT_STATES:
        raise ValueError(
            f"deployment state {request.state!r} is not one of {', '.join(DEPLOYMENT_STATES)}"
        )
    owner, name = split_repo(repo)
    deployment = await find_deployment(client, repo, request.ref, request.environment)
    if deployment is None:
        action = f"creating the deployment of {request.ref[:40]} to {request.environment} in {repo}"
        body: dict[str, object] = {
            "ref": request.ref,
            "environment": request.environment,
            "auto_merge": request.auto_merge,
            "transient_environment": request.transient_environment,
        }
        if request.required_contexts is not None:
            body["required_contexts"] = list(request.required_contexts)
        answer = await client.send(
            "POST", f"repos/{owner}/{name}/deployments", action, body=body, accept=(201,)
        )
        created = client.json_object(answer, action)
        if not isinstance(created.get("id"), int):
            raise GitHostResponseError(f"GitHub answered without an id while {action}", client.host)
        deployment = int(created["id"])
    action = f"adding status {request.state} to deployment {deployment} in {repo}"
    status: dict[str, object] = {"state": request.state}
    if request.description:
        status["description"] = request.description[:MAX_DESCRIPTION]
    if request.log_url:
        status["log_url"] = request.log_url
    if request.environment_url:
        status["environment_url"] = request.environment_url
    await client.send(
        "POST",
        f"repos/{owner}/{name}/deployments/{quote(str(deployment))}/statuses",
        action,
        body=status,
        accept=(201,),
    )
    return deployment
