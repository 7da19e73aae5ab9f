"""Bad requests get a clear 4xx and change nothing in the cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.server.conftest import CONTROL_NS, Stack, application

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app_name(stack: Stack) -> AsyncIterator[str]:
    yield await stack.manual_app("bad")


async def _cluster_state(stack: Stack) -> Any:
    """What a request could change: every Application (all but the status the controller keeps
    writing), AppProject and Secret of the control namespace."""
    out: dict[str, Any] = {}
    for api_version, kind in (
        ("argoproj.io/v1alpha1", "Application"),
        ("argoproj.io/v1alpha1", "AppProject"),
        ("v1", "Secret"),
    ):
        info = await stack.client.resource_for(api_version, kind)
        listing = await stack.client.list(info, CONTROL_NS)
        if kind == "Application":
            out[kind] = {
                o["metadata"]["name"]: (
                    o["spec"],
                    o.get("operation"),
                    {
                        k: v
                        for k, v in o["metadata"].items()
                        if k in ("labels", "annotations", "finalizers")
                    },
                )
                for o in listing.items
                # an app another test deleted may vanish meanwhile: not this test's doing
                if not o["metadata"].get("deletionTimestamp")
            }
        else:
            out[kind] = sorted(
                (o["metadata"]["name"], o["metadata"]["resourceVersion"]) for o in listing.items
            )
    return out


async def _expect(answer: Any, status: int, *words: str) -> None:
    assert answer.status_code == status, f"{answer.status_code}: {answer.text}"
    body = answer.json()
    assert body["code"] == status
    for word in words:
        assert word in body["error"], body["error"]


async def test_malformed_json_unknown_fields_and_bad_names_are_400(
    stack: Stack, app_name: str
) -> None:
    before = await _cluster_state(stack)
    base = f"/api/v1/applications/{app_name}"
    async with stack.http() as http:
        await _expect(
            await http.post(
                "/api/v1/applications",
                content=b'{"metadata": {"name": "x"',
                headers={"Content-Type": "application/json"},
            ),
            400,
            "not valid JSON",
        )
        await _expect(await http.post("/api/v1/applications", json=[1, 2]), 400, "JSON object")
        body = application("unknown-fields", "https://example.com/r.git", "x")
        body["spec"]["sourcee"] = {}
        body["colour"] = "blue"
        await _expect(await http.post("/api/v1/applications", json=body), 400, "colour")
        body.pop("colour")
        await _expect(await http.post("/api/v1/applications", json=body), 400, "sourcee")
        await _expect(
            await http.post(f"{base}/sync", json={"prune": True, "force": True}), 400, "force"
        )
        await _expect(await http.post(f"{base}/sync", json={"prune": "yes"}), 400, "prune")
        await _expect(await http.post(f"{base}/rollback", json={"id": "0"}), 400, "id")
        await _expect(await http.post(f"{base}/refresh", json={"hard": 1}), 400, "hard")
        await _expect(
            await http.post("/api/v1/repositories", json={"repo": "https://x/y.git", "pass": "p"}),
            400,
            "pass",
        )
        # local repositories are refused unless the operator allows them (docs/security.md)
        for local in ("file:///var/lib/tether/git/other.git", "/srv/git/other.git"):
            await _expect(
                await http.post("/api/v1/repositories", json={"repo": local}), 400, "local"
            )
        await _expect(
            await http.post(
                "/api/v1/session", json={"username": "admin", "password": "x", "otp": 1}
            ),
            400,
            "otp",
        )
        for bad in ("Payment_Service", "-leading", "UPPER", "a" * 254, "semi;colon"):
            await _expect(
                await http.post(
                    "/api/v1/applications",
                    json=application(bad, "https://example.com/r.git", "x"),
                ),
                400,
                "RFC 1123",
            )
        await _expect(await http.get("/api/v1/applications/Bad_Name"), 400, "RFC 1123")
        await _expect(await http.post("/api/v1/projects", json={"metadata": {"name": "a b"}}), 400)
        await _expect(
            await http.post(
                "/api/v1/applications",
                json={**application("smuggle", "https://example.com/r.git", "x"), "operation": {}},
            ),
            400,
            "operation",
        )
        await _expect(await http.get(f"{base}", params={"refresh": "always"}), 400, "refresh")
        await _expect(await http.delete(f"{base}", params={"cascade": "perhaps"}), 400, "cascade")
    assert await _cluster_state(stack) == before


async def test_path_traversal_in_names_is_400(stack: Stack, app_name: str) -> None:
    before = await _cluster_state(stack)
    base = f"/api/v1/applications/{app_name}"
    async with stack.http() as http:
        for name in ("../../etc/passwd", "..", "a/b", "x/../y"):
            await _expect(
                await http.get(
                    f"{base}/resource",
                    params={"kind": "Secret", "namespace": "kube-system", "name": name},
                ),
                400,
            )
            await _expect(
                await http.get(
                    f"{base}/resource", params={"kind": "Pod", "namespace": name, "name": "x"}
                ),
                400,
            )
            await _expect(
                await http.post(
                    f"{base}/sync", json={"resources": [{"kind": "Deployment", "name": name}]}
                ),
                400,
            )
        # an encoded '..' reaches the router as '..' and is refused, not resolved
        await _expect(await http.delete("/api/v1/applications/%2e%2e"), 400)
        await _expect(await http.get("/api/v1/applications/a..b"), 400)
        await _expect(
            await http.get(f"{base}/resource", params={"kind": "../Secret", "name": "x"}), 400
        )
    assert await _cluster_state(stack) == before


async def test_a_10_mb_body_is_refused_with_413_without_being_read(
    stack: Stack, app_name: str
) -> None:
    before = await _cluster_state(stack)
    big = b'{"metadata": {"name": "big"}, "spec": {"x": "' + b"a" * (10 * 1024 * 1024) + b'"}}'
    async with stack.http() as http:
        await _expect(
            await http.post(
                "/api/v1/applications",
                content=big,
                headers={"Content-Type": "application/json"},
            ),
            413,
            "limit",
        )

        # without a Content-Length (chunked), the limit stops the read as it is crossed
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b"a" * (1024 * 1024)

        await _expect(
            await http.post(f"/api/v1/applications/{app_name}/sync", content=chunks()), 413
        )
        await _expect(
            await http.post("/api/webhook", content=big, headers={"X-GitHub-Event": "push"}),
            413,
        )
        # the server still answers afterwards
        assert (await http.get("/api/v1/version")).status_code == 200
    assert await _cluster_state(stack) == before


async def test_unknown_api_paths_and_methods_answer_in_the_error_shape(stack: Stack) -> None:
    async with stack.http() as http:
        await _expect(await http.get("/api/v1/nothing-here"), 404, "no such")
        await _expect(await http.patch("/api/v1/applications"), 405, "method")
