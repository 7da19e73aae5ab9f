"""Flux Receivers on the API server: the Receiver's status names Flux's path (the SHA-256 of
token, name and namespace); a GitHub request signed with its token reconciles the
GitRepository it names; a forged signature, an event it does not take and an unknown path are
refused; a ping is answered and reconciles nothing; a generic-hmac Receiver reconciles every
Kustomization its labels select."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

import orjson
import pytest

from tests.server.conftest import Stack, eventually

ON_THE_STACK = pytest.mark.asyncio(loop_scope="session")
REQUESTED = "reconcile.fluxcd.io/requestedAt"


async def _get(stack: Stack, api_version: str, kind: str, name: str, ns: str) -> dict[str, Any]:
    info = await stack.client.resource_for(api_version, kind)
    return await stack.client.get(info, name, ns)


async def _apply(stack: Stack, *docs: dict[str, Any]) -> None:
    for doc in docs:
        info = await stack.client.resource_for(doc["apiVersion"], doc["kind"])
        await stack.client.apply(info, doc, field_manager="test", force=True)


def _receiver(name: str, ns: str, type_: str, resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "notification.toolkit.fluxcd.io/v1",
        "kind": "Receiver",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "type": type_,
            "events": ["push"] if type_ == "github" else [],
            "secretRef": {"name": "webhook-token"},
            "resources": resources,
        },
    }


async def _path(stack: Stack, name: str, ns: str) -> str:
    async def found() -> str | None:
        obj = await _get(stack, "notification.toolkit.fluxcd.io/v1", "Receiver", name, ns)
        return (obj.get("status") or {}).get("webhookPath")

    path = await eventually(found, 60, "the Receiver's path")
    assert isinstance(path, str)
    return path


@ON_THE_STACK
async def test_a_github_receiver_reconciles_its_git_repository(stack: Stack) -> None:
    ns = await stack.namespace("recv")
    token = uuid.uuid4().hex
    url, _ = stack.new_repo()
    await _apply(
        stack,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "webhook-token", "namespace": ns},
         "stringData": {"token": token}},
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {"name": "app", "namespace": ns},
         "spec": {"url": url, "interval": "60m", "ref": {"branch": "main"}}},
        _receiver("github", ns, "github",
                  [{"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository", "name": "app"}]),
    )  # fmt: skip
    path = await _path(stack, "github", ns)
    assert path == "/hook/" + hashlib.sha256(f"{token}github{ns}".encode()).hexdigest()

    body = orjson.dumps({"ref": "refs/heads/main"})
    signature = "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    forged = "sha256=" + hmac.new(b"guess", body, hashlib.sha256).hexdigest()
    async with stack.http(None) as http:
        refused = await http.post(path, content=body, headers={
            "X-GitHub-Event": "push", "X-Hub-Signature-256": forged})  # fmt: skip
        assert refused.status_code == 401, refused.text
        other = await http.post(path, content=body, headers={
            "X-GitHub-Event": "issues", "X-Hub-Signature-256": signature})  # fmt: skip
        assert other.status_code == 400 and "not one of" in other.text
        ping = await http.post(path, content=body, headers={
            "X-GitHub-Event": "ping", "X-Hub-Signature-256": signature})  # fmt: skip
        assert ping.status_code == 200 and ping.json() == {"ping": "ok"}
        unknown = await http.post("/hook/" + "0" * 64, content=body)
        assert unknown.status_code == 404
        answer = await http.post(path, content=body, headers={
            "X-GitHub-Event": "push", "X-Hub-Signature-256": signature})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["reconciled"] == [f"GitRepository/{ns}/app"]
    requested = answer.json()["requestedAt"]

    async def handled() -> bool:
        repo = await _get(stack, "source.toolkit.fluxcd.io/v1", "GitRepository", "app", ns)
        assert repo["metadata"]["annotations"][REQUESTED] == requested
        return (repo.get("status") or {}).get("lastHandledReconcileAt") == requested

    await eventually(handled, 60, "the GitRepository reconciled for the request")


@ON_THE_STACK
async def test_a_generic_hmac_receiver_reconciles_what_its_labels_select(stack: Stack) -> None:
    ns = await stack.namespace("recv")
    token = uuid.uuid4().hex
    kustomizations = [
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {"name": name, "namespace": ns, "labels": {"team": team}},
         "spec": {"interval": "60m", "prune": True, "suspend": True,
                  "sourceRef": {"kind": "GitRepository", "name": "none"}}}
        for name, team in (("a", "web"), ("b", "web"), ("c", "data"))
    ]  # fmt: skip
    await _apply(
        stack,
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "webhook-token", "namespace": ns},
         "stringData": {"token": token}},
        *kustomizations,
        _receiver("hmac", ns, "generic-hmac",
                  [{"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "name": "*", "matchLabels": {"team": "web"}}]),
    )  # fmt: skip
    path = await _path(stack, "hmac", ns)
    body = b'{"any": "payload"}'
    async with stack.http(None) as http:
        unsigned = await http.post(path, content=body)
        assert unsigned.status_code == 401 and "X-Signature" in unsigned.text
        sig = "sha512=" + hmac.new(token.encode(), body, hashlib.sha512).hexdigest()
        answer = await http.post(path, content=body, headers={"X-Signature": sig})
    assert answer.status_code == 200, answer.text
    assert answer.json()["reconciled"] == [f"Kustomization/{ns}/a", f"Kustomization/{ns}/b"]
    c = await _get(stack, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", "c", ns)
    assert REQUESTED not in (c["metadata"].get("annotations") or {})
