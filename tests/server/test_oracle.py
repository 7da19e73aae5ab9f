"""No existence oracle: a caller allowed only project A gets the same answer for an existing
application of project B as for one that does not exist, on every per-object route."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from tests.server.conftest import CONTROL_NS, USER_PASSWORD, Stack, application, eventually
from tether.server.routes import ENDPOINTS

pytestmark = pytest.mark.asyncio(loop_scope="session")

APP_PREFIX = "/api/v1/applications/{name}"


@dataclass
class Tenants:
    carol: str  # her token: she may do anything in project A and nothing else
    project_a: str
    project_b: str
    app_a: str
    app_b: str


async def _merge_data(stack: Stack, configmap: str, data: dict[str, str]) -> None:
    info = await stack.client.resource_for("v1", "ConfigMap")
    await stack.client.patch(info, configmap, {"data": data}, CONTROL_NS)


async def _project(http: httpx.AsyncClient, name: str) -> None:
    spec = {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]}
    answer = await http.post("/api/v1/projects", json={"metadata": {"name": name}, "spec": spec})
    assert answer.status_code == 201, answer.text


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def tenants(stack: Stack) -> AsyncIterator[Tenants]:
    tag = uuid.uuid4().hex[:5]
    project_a, project_b = f"team-a-{tag}", f"team-b-{tag}"
    await _merge_data(stack, "argocd-cm", {"accounts.carol": "login"})
    # an overlay key of its own, so other tests rewriting policy.csv leave it alone
    policy = (
        f"p, role:team-a, applications, *, {project_a}/*, allow\n"
        f"p, role:team-a, projects, get, {project_a}, allow\n"
        "g, carol, role:team-a\n"
    )
    await _merge_data(stack, "argocd-rbac-cm", {"policy.oracle.csv": policy})
    url, _work = stack.new_repo()
    names = {}
    async with stack.http("admin") as admin:
        await _project(admin, project_a)
        await _project(admin, project_b)
        for project in (project_a, project_b):
            name = f"{project}-app"
            body = application(name, url, f"ns-{tag}", automated=False)
            body["spec"]["project"] = project
            answer = await admin.post("/api/v1/applications", json=body)
            assert answer.status_code == 201, answer.text
            names[project] = name

        async def password_set() -> bool:
            answer = await admin.put(
                "/api/v1/account/password",
                json={
                    "name": "carol",
                    "currentPassword": stack.server.admin_password,
                    "newPassword": USER_PASSWORD,
                },
            )
            return answer.status_code == 200

        await eventually(password_set, what="carol's account")
    async with stack.http(None) as anonymous:
        answer = await anonymous.post(
            "/api/v1/session", json={"username": "carol", "password": USER_PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        token = answer.json()["token"]
    async with stack.http(None, headers={"Authorization": f"Bearer {token}"}) as carol:

        async def sees_her_project() -> bool:
            answer = await carol.get(f"/api/v1/applications/{names[project_a]}")
            return answer.status_code == 200

        await eventually(sees_her_project, what="the team-a policy in effect")
    yield Tenants(token, project_a, project_b, names[project_a], names[project_b])


def _request(method: str, path: str, body_name: str | None, name: str, project: str) -> Any:
    """A well-formed request for the route, so that only existence and RBAC can refuse it."""
    params = {"kind": "Secret", "name": "x"} if path.endswith("/resource") else None
    body: Any = None
    if body_name == "Application":
        body = application(name, "https://example.com/r.git", "x", automated=False)
        body["spec"]["project"] = project
    elif body_name == "RollbackRequest":
        body = {"id": 0}
    elif body_name is not None:
        body = {}
    return method, path.replace("{name}", name), params, body


def _shape(answer: httpx.Response, name: str) -> tuple[int, str]:
    return answer.status_code, answer.text.replace(name, "<name>")


async def test_every_application_route_answers_alike_for_a_hidden_and_a_missing_app(
    stack: Stack, tenants: Tenants
) -> None:
    routes = [e for e in ENDPOINTS if e.path.startswith(APP_PREFIX)]
    assert len(routes) >= 13, "every per-application route is checked"
    missing = f"{tenants.project_b}-nothing"
    headers = {"Authorization": f"Bearer {tenants.carol}"}
    async with stack.http(None, headers=headers) as carol:
        for endpoint in routes:
            answers = []
            for name in (tenants.app_b, missing):
                method, path, params, body = _request(
                    endpoint.method, endpoint.path, endpoint.body, name, tenants.project_a
                )
                answer = await carol.request(method, path, params=params, json=body)
                answers.append(_shape(answer, name))
            hidden, absent = answers
            where = f"{endpoint.method} {endpoint.path}"
            assert hidden == absent, f"{where}: {hidden} differs from {absent}"
            assert hidden[0] == 403 and "permission denied" in hidden[1], where
            assert tenants.project_b not in hidden[1], where
        # her own project's application answers
        own = await carol.get(f"/api/v1/applications/{tenants.app_a}")
        assert own.status_code == 200


async def test_project_routes_answer_alike_for_a_hidden_and_a_missing_project(
    stack: Stack, tenants: Tenants
) -> None:
    headers = {"Authorization": f"Bearer {tenants.carol}"}
    async with stack.http(None, headers=headers) as carol:
        for method in ("GET", "DELETE"):
            hidden = await carol.request(method, f"/api/v1/projects/{tenants.project_b}")
            absent = await carol.request(method, "/api/v1/projects/no-such-project")
            assert _shape(hidden, tenants.project_b) == _shape(absent, "no-such-project")
            assert hidden.status_code == 403


async def test_a_name_taken_in_a_hidden_project_says_only_that_it_is_taken(
    stack: Stack, tenants: Tenants
) -> None:
    headers = {"Authorization": f"Bearer {tenants.carol}"}
    body = application(tenants.app_b, "https://example.com/r.git", "x", automated=False)
    body["spec"]["project"] = tenants.project_a
    async with stack.http(None, headers=headers) as carol:
        for upsert in ("false", "true"):
            answer = await carol.post("/api/v1/applications", params={"upsert": upsert}, json=body)
            assert answer.status_code == 409, answer.text
            assert answer.json() == {
                "error": f"application {tenants.app_b} already exists",
                "code": 409,
            }
    async with stack.http("admin") as admin:
        kept = (await admin.get(f"/api/v1/applications/{tenants.app_b}")).json()
        assert kept["spec"]["project"] == tenants.project_b


async def test_who_may_see_every_project_still_gets_not_found(
    stack: Stack, tenants: Tenants
) -> None:
    for user in ("admin", "alice"):
        async with stack.http(user) as http:
            answer = await http.get(f"/api/v1/applications/{tenants.project_b}-nothing")
            assert answer.status_code == 404, f"{user}: {answer.text}"
