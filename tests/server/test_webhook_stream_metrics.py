"""Webhooks, live updates, metrics, the OpenAPI document and the static UI on the real stack."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from typing import Any

import orjson
import pytest

from tests.server.conftest import WEBHOOK_SECRET, Stack, application, eventually
from tether.demo.repo import commit_and_push
from tether.server.routes import ENDPOINTS

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _github(payload: bytes, secret: str | None) -> dict[str, str]:
    headers = {"X-GitHub-Event": "push", "Content-Type": "application/json"}
    if secret is not None:
        digest = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
        headers["X-Hub-Signature-256"] = f"sha256={digest}"
    return headers


async def test_a_signed_webhook_refreshes_only_the_apps_of_that_repository(stack: Stack) -> None:
    name = f"hook-{uuid.uuid4().hex[:5]}"
    url, work = stack.new_repo()
    other_url, _ = stack.new_repo()
    ns = await stack.namespace(name)
    async with stack.http() as http:
        created = await http.post("/api/v1/applications", json=application(name, url, ns))
        assert created.status_code == 201

        async def synced() -> bool:
            status = (await http.get(f"/api/v1/applications/{name}")).json().get("status") or {}
            return (status.get("sync") or {}).get("status") == "Synced"

        await eventually(synced, timeout=30, what="first sync")
    # polling off for the webhook half: a regular poll finding the commit first would leave
    # the webhook nothing to refresh (the test then failed now and then)
    stack.controller.config.reconcile_interval = 3600
    await polls_settled(stack)
    try:
        path = "apps/payment-service/production/kustomization.yaml"
        sha = commit_and_push(
            work, "bump", {path: (work / path).read_text().replace("1.4.0", "1.9.0")}
        )
        payload = orjson.dumps(
            {"ref": "refs/heads/main", "after": sha, "repository": {"clone_url": url}}
        )
        async with stack.http(None) as anonymous:
            answer = await anonymous.post(
                "/api/webhook", content=payload, headers=_github(payload, WEBHOOK_SECRET)
            )
    finally:
        stack.controller.config.reconcile_interval = 1.0
    async with stack.http(None) as anonymous:
        assert answer.status_code == 200, answer.text
        assert answer.json()["refreshed"] == [name]
        unrelated = orjson.dumps({"ref": "refs/heads/main", "repository": {"clone_url": other_url}})
        answer = await anonymous.post(
            "/api/webhook", content=unrelated, headers=_github(unrelated, WEBHOOK_SECRET)
        )
        assert answer.status_code == 200 and answer.json()["refreshed"] == []


async def polls_settled(stack: Stack) -> None:
    """Return once no poll of the controller's loop runs: its count held still for longer than
    the loop's tick (a poll started before the interval changed would find the push first)."""
    async with asyncio.timeout(60):
        while True:
            seen = stack.controller.polls
            await asyncio.sleep(1.5)  # the observation window (longer than the loop's tick)
            if stack.controller.polls == seen:
                return


async def test_a_webhook_with_a_wrong_or_missing_signature_is_refused(stack: Stack) -> None:
    url, _ = stack.new_repo()
    payload = orjson.dumps({"ref": "refs/heads/main", "repository": {"clone_url": url}})
    calls: list[Any] = []
    real = stack.controller.on_webhook

    async def spy(urls: Any) -> list[str]:
        calls.append(urls)
        return await real(urls)

    stack.controller.on_webhook = spy  # type: ignore[method-assign]
    try:
        await _send_refused_webhooks(stack, payload)
    finally:
        stack.controller.on_webhook = real  # type: ignore[method-assign]
    assert calls == [], "a refused webhook reached the controller"


async def _send_refused_webhooks(stack: Stack, payload: bytes) -> None:
    async with stack.http(None) as anonymous:
        wrong = await anonymous.post(
            "/api/webhook", content=payload, headers=_github(payload, "not-the-secret")
        )
        assert wrong.status_code == 401 and "does not match" in wrong.json()["error"]
        missing = await anonymous.post(
            "/api/webhook", content=payload, headers=_github(payload, None)
        )
        assert missing.status_code == 401 and "missing" in missing.json()["error"]
        gitlab = await anonymous.post(
            "/api/webhook", content=payload, headers={"X-Gitlab-Event": "Push Hook"}
        )
        assert gitlab.status_code == 403 and "no secret is configured" in gitlab.json()["error"]
        nobody = await anonymous.post("/api/webhook", content=payload)
        assert nobody.status_code == 400
        signed_junk = b"not json"
        junk = await anonymous.post(
            "/api/webhook", content=signed_junk, headers=_github(signed_junk, WEBHOOK_SECRET)
        )
        assert junk.status_code == 400


async def _read_events(
    stack: Stack, user: str, into: list[dict[str, Any]], ready: asyncio.Event
) -> None:
    async with stack.http(user) as http, http.stream("GET", "/api/v1/stream/applications") as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        ready.set()
        async for line in resp.aiter_lines():
            if line.startswith("data:"):
                into.append(orjson.loads(line[5:].strip()))


async def test_the_stream_delivers_application_changes_to_those_who_may_see_them(
    stack: Stack,
) -> None:
    alice_events: list[dict[str, Any]] = []
    bob_events: list[dict[str, Any]] = []
    ready = [asyncio.Event(), asyncio.Event()]
    readers = [
        asyncio.create_task(_read_events(stack, "alice", alice_events, ready[0])),
        asyncio.create_task(_read_events(stack, "bob", bob_events, ready[1])),
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 10)
        name = f"sse-{uuid.uuid4().hex[:5]}"
        url, _ = stack.new_repo()
        ns = await stack.namespace(name)
        async with stack.http() as http:
            created = await http.post("/api/v1/applications", json=application(name, url, ns))
            assert created.status_code == 201

        async def seen_synced() -> bool:
            return any(
                e["application"]["metadata"]["name"] == name
                and ((e["application"].get("status") or {}).get("sync") or {}).get("status")
                == "Synced"
                for e in alice_events
            )

        await eventually(seen_synced, timeout=30, what="Synced seen on the stream")
        assert {e["type"] for e in alice_events} <= {"ADDED", "MODIFIED", "DELETED"}
        assert any(e["type"] == "ADDED" for e in alice_events)
        assert bob_events == [], "a user without a role saw applications on the stream"
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


async def test_metrics_show_app_info_syncs_reconciles_and_request_counts(stack: Stack) -> None:
    name = f"met-{uuid.uuid4().hex[:5]}"
    url, _ = stack.new_repo()
    ns = await stack.namespace(name)
    async with stack.http() as http:
        assert (
            await http.post("/api/v1/applications", json=application(name, url, ns))
        ).status_code == 201

        async def counted() -> str:
            text = (await http.get("/metrics")).text
            synced = any(
                line.startswith("argocd_app_info")
                and f'name="{name}"' in line
                and 'sync_status="Synced"' in line
                for line in text.splitlines()
            )
            return text if synced and f'argocd_app_sync_total{{name="{name}"' in text else ""

        text = await eventually(counted, timeout=30, what="sync counted and Synced")
        info = [
            line
            for line in text.splitlines()
            if line.startswith("argocd_app_info") and f'name="{name}"' in line
        ]
        assert (
            len(info) == 1
            and 'sync_status="Synced"' in info[0]
            and f'dest_namespace="{ns}"' in info[0]
        )
        assert f'repo="{url}"' in info[0]
        assert (
            f'argocd_app_sync_total{{name="{name}",namespace="srv-argocd",phase="Succeeded"}} 1.0'
            in text
        )
        count = next(
            line for line in text.splitlines() if line.startswith("argocd_app_reconcile_count")
        )
        assert float(count.split()[-1]) > 0
        assert 'argocd_app_k8s_request_total{verb="apply"}' in text
        assert f'argocd_git_request_total{{repo="{url}",request_type="ls-remote"}}' in text
        assert "tether_queue_depth" in text
    async with stack.http("bob") as bob:
        assert f'name="{name}"' not in (await bob.get("/metrics")).text


async def test_the_openapi_document_lists_every_route(stack: Stack) -> None:
    async with stack.http("alice") as reader:
        document = (await reader.get("/api/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    listed = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert listed == {(e.method, e.path) for e in ENDPOINTS}


async def test_the_ui_is_served_for_pages_and_files_without_leaving_its_folder(
    stack: Stack,
) -> None:
    async with stack.http(None) as browser:
        for page in ("/", "/applications", "/applications/payment-service"):
            answer = await browser.get(page)
            assert answer.status_code == 200 and "<title>Tether</title>" in answer.text
            assert answer.headers["content-type"].startswith("text/html")
        script = await browser.get("/assets/app.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("application/javascript")
        for escape in (
            "/%2e%2e/secret.txt",
            "/assets/%2e%2e/%2e%2e/secret.txt",
            "/..%2fsecret.txt",
        ):
            answer = await browser.get(escape)
            assert "outside the UI folder" not in answer.text
        assert (await browser.get("/api/v1/unknown")).headers["content-type"] == "application/json"
        assert (await browser.get("/healthz")).text == "ok"
        assert (await browser.get("/readyz")).text == "ok"
