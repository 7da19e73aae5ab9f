"""The fake host's GitHub Deployments API (``/repos/{owner}/{repo}/deployments`` and their
``statuses``), in GitHub's documented shapes: a ref that is no branch or commit is a 422, a
commit whose required contexts are not all green a 409, an unknown state a 422."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from tether.githost.fakeapi import Call, Dialect, json_response
from tether.githost.fakeforge import FakeDeployment

DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")


def render_deployment(d: Dialect, deployment: FakeDeployment, call: Call) -> dict[str, Any]:
    url = f"{call.origin}{d.prefix}/repos/{deployment.repo}/deployments/{deployment.id}"
    return {
        "url": url,
        "id": deployment.id,
        "sha": deployment.sha,
        "ref": deployment.ref,
        "task": "deploy",
        "environment": deployment.environment,
        "transient_environment": deployment.transient,
        "creator": d.user(deployment.user),
        "created_at": deployment.created_at,
        "updated_at": deployment.created_at,
        "statuses_url": f"{url}/statuses",
    }


def list_deployments(d: Dialect, call: Call) -> Response:
    d.forge.bare(call.repo)
    found = d.forge.deployments(
        call.repo, call.query.get("ref") or call.query.get("sha"), call.query.get("environment")
    )
    page, size = d.page(call.query)
    chunk = found[(page - 1) * size : page * size]
    return json_response(200, [render_deployment(d, x, call) for x in chunk])


def create_deployment(d: Dialect, call: Call) -> Response:
    body = call.body if isinstance(call.body, dict) else {}
    ref = body.get("ref")
    if not isinstance(ref, str) or not ref:
        return d.invalid({"resource": "Deployment", "field": "ref", "code": "missing_field"})
    contexts = body.get("required_contexts")
    if contexts is not None and (
        not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts)
    ):
        return d.invalid(
            {"resource": "Deployment", "field": "required_contexts", "code": "invalid"}
        )
    environment = body.get("environment") or "production"
    deployment = d.forge.create_deployment(
        call.repo, ref, str(environment), contexts, body.get("transient_environment") is True,
        call.user.login,
    )  # fmt: skip
    return json_response(201, render_deployment(d, deployment, call))


def create_deployment_status(d: Dialect, call: Call) -> Response:
    body = call.body if isinstance(call.body, dict) else {}
    state = body.get("state")
    if state not in DEPLOYMENT_STATES:
        return d.invalid({"resource": "DeploymentStatus", "field": "state", "code": "invalid"})
    texts = [str(body.get(k) or "") for k in ("description", "log_url", "environment_url")]
    deployment, status = d.forge.add_deployment_status(
        call.repo, int(call.path["id"]), str(state), *texts
    )
    status_id, state, description, log_url, environment_url, created_at = status
    return json_response(
        201,
        {
            "id": status_id,
            "state": state,
            "description": description,
            "environment": deployment.environment,
            "log_url": log_url,
            "environment_url": environment_url,
            "created_at": created_at,
            "deployment_url": (
                f"{call.origin}{d.prefix}/repos/{deployment.repo}/deployments/{deployment.id}"
            ),
            "creator": d.user(call.user.login),
        },
    )
