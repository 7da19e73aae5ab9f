"""Previews through the API server: a signed GitHub ``pull_request`` webhook to ``/api/webhook``
starts the preview, the token and the API's address come from ``tether-secret`` and
``argocd-cm``, the comment lands on the fake GitHub host, and
``GET /api/v1/applications/{name}/previews/{number}`` shows it to those who may see the app."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tests.server.conftest import CONTROL_NS, WEBHOOK_SECRET, Stack, application, eventually
from tether.demo.repo import create_repository, push_branch
from tether.githost.fake import FakeGitHost

pytestmark = pytest.mark.asyncio(loop_scope="session")
TOKEN = "ghp_server_preview_" + uuid.uuid4().hex
OVERLAY = "apps/payment-service/production/kustomization.yaml"


def bump(work: Path, branch: str, tag: str) -> None:
    doc = yaml.safe_load((work / OVERLAY).read_text())
    doc["images"][0]["newTag"] = tag
    push_branch(work, branch, {OVERLAY: yaml.safe_dump(doc)})


async def test_a_webhook_previews_and_the_api_shows_it(stack: Stack) -> None:
    with FakeGitHost(stack.git, {TOKEN: "tether-bot"}) as forge:
        await stack.kubectl(
            "-n", CONTROL_NS, "patch", "secret", "tether-secret", "--type", "merge", "-p",
            orjson.dumps({"stringData": {"preview.github.token": TOKEN}}).decode(),
        )  # fmt: skip
        settings = {"preview.github.apiURL": forge.github_api_url, "url": "https://cd.test"}
        await stack.kubectl(
            "-n", CONTROL_NS, "patch", "configmap", "argocd-cm", "--type", "merge", "-p",
            orjson.dumps({"data": settings}).decode(),
        )  # fmt: skip
        name = f"pv-{uuid.uuid4().hex[:6]}"
        repo = f"acme/{name}"
        work = stack.root / name
        create_repository(stack.root / "acme" / f"{name}.git", work)
        namespace = await stack.namespace(name)
        async with stack.http() as admin:
            body = application(name, forge.repo_url(repo), namespace, automated=False)
            assert (await admin.post("/api/v1/applications", json=body)).status_code == 201
        bump(work, "bump", "7.7.7")
        pull = forge.forge.open_pull(repo, "bump", "main", "Bump", "", "dev")
        headers, payload = forge.pull_request_webhook(repo, pull.number, "opened", WEBHOOK_SECRET)

        async with stack.http(None) as anonymous, stack.http() as admin:
            path = f"/api/v1/applications/{name}/previews/{pull.number}"
            finished = [0.0]

            async def newer() -> dict[str, Any] | None:
                answer = await admin.get(path)
                if answer.status_code != 200 or answer.json()["finishedAt"] <= finished[0]:
                    return None
                document: dict[str, Any] = answer.json()
                return document

            async def delivered() -> bool:
                # the settings reach the server within its Secret cache's few seconds: until
                # then a preview is made and not posted, and says why
                answer = await anonymous.post("/api/webhook", content=payload, headers=headers)
                assert answer.status_code == 200, answer.text
                assert answer.json()["previewing"] == [name]
                document = await eventually(newer, 60, "a new preview")
                finished[0] = document["finishedAt"]
                return not document["delivery"]

            await eventually(delivered, 60, "the preview posted")
            answer = await admin.get(f"/api/v1/applications/{name}/previews/{pull.number}")
            assert answer.status_code == 200, answer.text
            document: dict[str, Any] = answer.json()
            assert document["application"] == name and document["state"] == "success"
            assert document["pullRequest"]["number"] == pull.number
            deployment = next(o for o in document["objects"] if o["kind"] == "Deployment")
            assert deployment["images"][0]["new"].endswith(":7.7.7")
            (comment,) = forge.comments(repo, pull.number)
            assert f"https://cd.test/applications/{name}/preview/{pull.number}" in comment

            missing = await admin.get(f"/api/v1/applications/{name}/previews/999999")
            assert missing.status_code == 404 and "pull_request webhook" in missing.json()["error"]
            bad = await admin.get(f"/api/v1/applications/{name}/previews/abc")
            assert bad.status_code == 400
        async with stack.http("alice") as alice:  # role:readonly sees it
            shown = await alice.get(f"/api/v1/applications/{name}/previews/{pull.number}")
            assert shown.status_code == 200
        async with stack.http("bob") as bob:  # no role: the app is not his to see
            hidden = await bob.get(f"/api/v1/applications/{name}/previews/{pull.number}")
            assert hidden.status_code in (403, 404) and "7.7.7" not in hidden.text
