"""Who may do what: every route with an admin, a read-only user, a user without a role, no token."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
import pytest_asyncio

from tests.server.conftest import CONTROL_NS, USER_PASSWORD, Stack, application, eventually
from tether.server.routes import ENDPOINTS

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: not refused to the read-only user: signing out, a token for oneself (Argo CD's account
#: semantics), and a refresh, which changes nothing but when the app is compared (as in Argo CD)
READER_ALLOWED = {
    ("DELETE", "/api/v1/session"),
    ("POST", "/api/v1/account/token"),
    ("POST", "/api/v1/applications/{name}/refresh"),
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app_name(stack: Stack) -> AsyncIterator[str]:
    yield await stack.manual_app("acl")


def _path(path: str, app: str) -> str:
    return (
        path.replace("/flux/{kind}", "/flux/kustomizations")
        .replace("{name}", app)
        .replace("{namespace}", CONTROL_NS)
        .replace("{id}", "some-token-id")
        .replace("{kind}", "policies")
        .replace("{number}", "1")
    )


def _write_requests(stack: Stack, app: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """A valid request for every write route (so only RBAC can refuse it)."""
    new_app = application(f"new-{uuid.uuid4().hex[:5]}", "https://example.com/r.git", "x")
    base = f"/api/v1/applications/{app}"
    return [
        ("POST", "/api/v1/applications", new_app),
        ("PUT", base, None),  # filled with the current object below
        ("DELETE", base, None),
        ("POST", f"{base}/sync", {}),
        ("POST", f"{base}/rollback", {"id": 0}),
        ("DELETE", f"{base}/operation", None),
        ("POST", "/api/v1/projects", {"metadata": {"name": "ro-project"}, "spec": {}}),
        ("POST", f"/api/v1/flux/kustomizations/{CONTROL_NS}/{app}/reconcile", {}),
        ("DELETE", "/api/v1/projects/default", None),
        ("DELETE", f"/api/v1/projects/{app}", None),
        ("POST", "/api/v1/clusters", {"server": "https://10.0.0.1:6443", "config": {}}),
        ("POST", "/api/v1/repositories", {"repo": "https://example.com/org/repo.git"}),
        (
            "PUT",
            "/api/v1/account/password",
            {"name": "admin", "currentPassword": USER_PASSWORD, "newPassword": "x" * 12},
        ),
        ("POST", "/api/v1/account/token?account=admin", {}),
        ("DELETE", "/api/v1/account/tokens/some-id?account=admin", None),
        ("POST", f"/api/v1/images/policies/{app}/reconcile", None),
        (
            "POST",
            "/api/v1/applicationsets/preview",
            {
                "metadata": {"name": "ro-set"},
                "spec": {
                    "generators": [{"list": {"elements": [{"n": "a"}]}}],
                    "template": {"metadata": {"name": "ro-{{n}}"}, "spec": new_app["spec"]},
                },
            },
        ),
    ]


async def test_every_write_is_refused_with_403_for_the_read_only_user_and_nothing_changes(
    stack: Stack, app_name: str
) -> None:
    async with stack.http("admin") as admin:
        before = (await admin.get(f"/api/v1/applications/{app_name}")).json()
        projects_before = (await admin.get("/api/v1/projects")).json()
        repos_before = (await admin.get("/api/v1/repositories")).json()
        clusters_before = (await admin.get("/api/v1/clusters")).json()
    writes = _write_requests(stack, app_name)
    covered = {(m, p.split("?")[0]) for m, p, _ in writes}
    expected = {
        (
            e.method,
            e.path.replace("/flux/{kind}", "/flux/kustomizations")
            .replace("{name}", app_name)
            .replace("{namespace}", CONTROL_NS)
            .replace("{id}", "some-id")
            .replace("{kind}", "policies"),
        )
        for e in ENDPOINTS
        if e.method != "GET" and not e.public and (e.method, e.path) not in READER_ALLOWED
    }
    assert expected <= covered, f"write routes without a read-only check: {expected - covered}"
    async with stack.http("alice") as alice:
        for method, path, body in writes:
            if method == "PUT" and path.endswith(app_name):
                body = before
            answer = await alice.request(method, path, json=body)
            assert answer.status_code == 403, f"{method} {path}: {answer.status_code} {answer.text}"
            assert answer.json()["code"] == 403 and "permission denied" in answer.json()["error"]
    async with stack.http("admin") as admin:
        after = (await admin.get(f"/api/v1/applications/{app_name}")).json()
        assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"] or (
            after["spec"] == before["spec"] and after.get("operation") is None
        )
        assert (await admin.get("/api/v1/projects")).json() == projects_before
        assert (await admin.get("/api/v1/repositories")).json() == repos_before
        assert (await admin.get("/api/v1/clusters")).json() == clusters_before


async def test_the_read_only_user_may_refresh_an_application(stack: Stack, app_name: str) -> None:
    async with stack.http("alice") as alice:
        answer = await alice.post(f"/api/v1/applications/{app_name}/refresh", json={})
        assert answer.status_code == 200 and answer.json()["metadata"]["name"] == app_name
    async with stack.http("bob") as bob:
        answer = await bob.post(f"/api/v1/applications/{app_name}/refresh", json={})
        assert answer.status_code == 403


async def test_every_read_answers_the_read_only_user_and_the_admin(
    stack: Stack, app_name: str
) -> None:
    reads = [e for e in ENDPOINTS if e.method == "GET" and "stream" not in e.path]
    params = {
        "/api/v1/applications/{name}/resource": {"kind": "Deployment", "name": "missing"},
    }
    for user in ("alice", "admin"):
        async with stack.http(user) as http:
            for endpoint in reads:
                path = _path(endpoint.path, app_name)
                if endpoint.path.startswith("/api/v1/projects/"):
                    path = "/api/v1/projects/default"
                answer = await http.get(path, params=params.get(endpoint.path))
                # a resource that is not part of the app, a preview never made: a 404, not a
                # refusal
                missing = (
                    endpoint.path in params
                    or endpoint.path.endswith("/previews/{number}")
                    or endpoint.path.startswith("/api/v1/flux/kustomizations/")
                    or endpoint.path.startswith("/api/v1/flux/helmreleases/")
                    or endpoint.path == "/api/v1/applicationsets/{name}"
                )
                allowed = (404,) if missing else (200,)
                assert answer.status_code in allowed, f"{user} GET {endpoint.path}: {answer.text}"


async def test_no_token_gets_401_on_every_route_but_health_sign_in_and_webhook(
    stack: Stack, app_name: str
) -> None:
    async with stack.http(None) as anonymous:
        for endpoint in ENDPOINTS:
            answer = await anonymous.request(
                endpoint.method, _path(endpoint.path, app_name), json={}
            )
            if endpoint.public:
                assert answer.status_code != 401 or endpoint.path == "/api/webhook", endpoint.path
                continue
            assert answer.status_code == 401, f"{endpoint.method} {endpoint.path}: {answer.text}"
            assert answer.json()["code"] == 401


async def test_a_user_without_a_role_sees_no_application(stack: Stack, app_name: str) -> None:
    async with stack.http("bob") as bob:
        listing = await bob.get("/api/v1/applications")
        assert listing.status_code == 200 and listing.json()["items"] == []
        assert (await bob.get(f"/api/v1/applications/{app_name}")).status_code == 403
        assert (await bob.get("/api/v1/projects")).json()["items"] == []
        info = await bob.get("/api/v1/session/userinfo")
        assert info.json() == {"loggedIn": True, "username": "bob", "groups": [], "iss": "tether"}


async def test_rbac_changes_in_the_configmap_apply_without_a_restart(
    stack: Stack, app_name: str
) -> None:
    info = await stack.client.resource_for("v1", "ConfigMap")
    patch = {"data": {"policy.csv": "g, alice, role:readonly\ng, bob, role:readonly\n"}}
    await stack.client.patch(info, "argocd-rbac-cm", patch, CONTROL_NS)
    try:
        async with stack.http("bob") as bob:

            async def visible() -> bool:
                answer = await bob.get(f"/api/v1/applications/{app_name}")
                return answer.status_code == 200

            await eventually(visible, timeout=10, what="bob reads once he is mapped")
            assert (
                await bob.post(f"/api/v1/applications/{app_name}/sync", json={})
            ).status_code == 403
    finally:
        patch = {"data": {"policy.csv": "g, alice, role:readonly\n"}}
        await stack.client.patch(info, "argocd-rbac-cm", patch, CONTROL_NS)


async def test_sign_in_sets_an_http_only_cookie_that_authenticates_and_sign_out_ends_it(
    stack: Stack,
) -> None:
    async with stack.http(None) as http:
        answer = await http.post(
            "/api/v1/session", json={"username": "alice", "password": USER_PASSWORD}
        )
        assert answer.status_code == 200
        cookie = answer.headers["set-cookie"]
        assert "tether_token=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert (await http.get("/api/v1/session/userinfo")).json()["username"] == "alice"
        assert (await http.delete("/api/v1/session")).status_code == 200
        token = answer.json()["token"]
        again = await http.get(
            "/api/v1/session/userinfo", headers={"Authorization": f"Bearer {token}"}
        )
        assert again.status_code == 401 and "signed out" in again.json()["error"]


async def test_wrong_password_and_unknown_user_get_the_same_401(stack: Stack) -> None:
    async with stack.http(None) as http:
        wrong = await http.post(
            "/api/v1/session", json={"username": "alice", "password": "not-the-password"}
        )
        unknown = await http.post(
            "/api/v1/session", json={"username": "nobody", "password": "not-the-password"}
        )
        assert wrong.status_code == unknown.status_code == 401
        assert (
            wrong.json() == unknown.json() == {"error": "Invalid username or password", "code": 401}
        )
        # a successful sign-in clears the failures counted against this address
        ok = await http.post(
            "/api/v1/session", json={"username": "alice", "password": USER_PASSWORD}
        )
        assert ok.status_code == 200


async def test_repeated_failed_sign_ins_are_throttled_then_allowed_again(stack: Stack) -> None:
    async with stack.http(None) as http:
        codes = []
        for _ in range(6):
            answer = await http.post(
                "/api/v1/session", json={"username": "bob", "password": "guess"}
            )
            codes.append(answer.status_code)
        assert codes[:5] == [401] * 5 and codes[5] == 429
        locked = await http.post(
            "/api/v1/session", json={"username": "bob", "password": USER_PASSWORD}
        )
        assert locked.status_code == 429 and "Retry-After" in locked.headers

        async def open_again() -> bool:
            answer = await http.post(
                "/api/v1/session", json={"username": "bob", "password": USER_PASSWORD}
            )
            return answer.status_code == 200

        await eventually(open_again, timeout=10, what="lockout ends")


async def _signing_key(stack: Stack) -> bytes:
    info = await stack.client.resource_for("v1", "Secret")
    secret = await stack.client.get(info, "tether-secret", CONTROL_NS)
    assert "admin.passwordHash" in secret["data"]
    assert base64.b64decode(secret["data"]["admin.passwordHash"]).startswith(b"$argon2id$")
    return base64.b64decode(secret["data"]["server.secretkey"])


async def test_forged_expired_and_malformed_tokens_get_401(stack: Stack) -> None:
    key = await _signing_key(stack)
    now = int(time.time())
    claims = {
        "iss": "tether",
        "aud": "tether",
        "sub": "admin",
        "iat": now,
        "jti": "x",
        "typ": "session",
    }
    forged = jwt.encode(
        {**claims, "exp": now + 600}, b"another-key-another-key-another!", algorithm="HS256"
    )
    expired = jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, key, algorithm="HS256")
    unsigned = jwt.encode({**claims, "exp": now + 600}, None, algorithm="none")
    stranger = jwt.encode({**claims, "sub": "mallory", "exp": now + 600}, key, algorithm="HS256")
    api_unknown_id = jwt.encode(
        {**claims, "typ": "api", "jti": "never-issued"}, key, algorithm="HS256"
    )
    async with stack.http(None) as http:
        for token, reason in (
            (forged, "not valid"),
            (expired, "expired"),
            (unsigned, "not valid"),
            (stranger, "does not exist"),
            (api_unknown_id, "revoked"),
            ("garbage", "not valid"),
        ):
            answer = await http.get(
                "/api/v1/applications", headers={"Authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 401, reason
            assert reason in answer.json()["error"]
        basic = await http.get("/api/v1/applications", headers={"Authorization": "Basic eDp5"})
        assert basic.status_code == 401


async def test_api_tokens_are_listed_by_id_and_stop_working_when_revoked(stack: Stack) -> None:
    async with stack.http("alice") as alice:
        created = await alice.post("/api/v1/account/token", json={"id": "ci", "expiresIn": 3600})
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        assert created.json()["id"] == "ci" and created.json()["expiresAt"] > time.time()
        listed = (await alice.get("/api/v1/account/tokens")).json()["items"]
        assert [t["id"] for t in listed] == ["ci"] and "token" not in listed[0]
        assert (await alice.post("/api/v1/account/token", json={"id": "ci"})).status_code == 409
    async with stack.http(None, headers={"Authorization": f"Bearer {token}"}) as ci:
        assert (await ci.get("/api/v1/session/userinfo")).json()["username"] == "alice"
        # the token carries alice's permissions, no more
        assert (
            await ci.post("/api/v1/projects", json={"metadata": {"name": "p"}})
        ).status_code == 403
    async with stack.http("alice") as alice:
        assert (await alice.delete("/api/v1/account/tokens/ci")).status_code == 200
        assert (await alice.delete("/api/v1/account/tokens/ci")).status_code == 404
    async with stack.http(None, headers={"Authorization": f"Bearer {token}"}) as ci:

        async def refused() -> bool:
            return (await ci.get("/api/v1/session/userinfo")).status_code == 401

        # the Secret is re-read after a short cache lifetime
        await eventually(refused, timeout=10, what="revoked token refused")
    async with stack.http("bob") as bob:
        no_key = await bob.post("/api/v1/account/token", json={})
        assert no_key.status_code == 400 and "apiKey" in no_key.json()["error"]
