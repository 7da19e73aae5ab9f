"""Pull-request previews on the real stack: the mission's repository on the loopback git server
behind the fake GitHub API (its documented REST shapes), staging and production apps synced on
the local cluster, pull requests opened with real pushes and told by GitHub-shaped, signed
``pull_request`` webhooks. The preview renders the head, compares it with the live cluster, and
posts one comment (edited in place on a new push) and the ``tether/preview`` status."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.controller.stack import Env, synced_healthy
from tether.controller.previews import PreviewSettings, PullPreview
from tether.demo.repo import create_repository, push_branch
from tether.githost.fake import FakeGitHost
from tether.localcluster.testing import eventually
from tether.source.webhooks import WebhookSecrets, parse_webhook

pytestmark = pytest.mark.asyncio(loop_scope="session")

TOKEN = "ghp_preview_" + uuid.uuid4().hex
HOOK_SECRET = "hook-" + uuid.uuid4().hex
PRODUCTION = "apps/payment-service/production/kustomization.yaml"
STAGING = "apps/payment-service/staging/kustomization.yaml"


@pytest.fixture(scope="module")
def forge(env: Env) -> Iterator[FakeGitHost]:
    with FakeGitHost(env.git, {TOKEN: "tether-bot"}) as host:
        yield host


def settings(forge: FakeGitHost) -> PreviewSettings:
    return PreviewSettings(
        ui_url="https://cd.example.com",
        tokens={"github": TOKEN},
        api_urls={"github": forge.github_api_url},
    )


def with_tag(work: Path, path: str, tag: str) -> str:
    doc = yaml.safe_load((work / path).read_text())
    doc["images"][0]["newTag"] = tag
    return yaml.safe_dump(doc)


async def previewed(
    env: Env, forge: FakeGitHost, repo: str, number: int, action: str = "opened"
) -> PullPreview:
    headers, body = forge.pull_request_webhook(repo, number, action, HOOK_SECRET)
    event = parse_webhook(headers, body, WebhookSecrets(github=HOOK_SECRET))
    assert event.pull_request is not None
    await env.controller.on_pull_request(event.pull_request, settings(forge))
    found = await env.controller.previews.wait(event.pull_request.repo_urls[0], number)
    assert found is not None
    return found


@pytest.fixture(scope="module")
async def deployed(env: Env, forge: FakeGitHost) -> tuple[str, Path, str]:
    """``acme/<repo>`` with the mission's manifests; its staging and production apps synced."""
    name = f"deploy-{uuid.uuid4().hex[:6]}"
    repo = f"acme/{name}"
    work = env.root / name
    create_repository(forge.git_server.root / "acme" / f"{name}.git", work)
    url = forge.repo_url(repo)
    for stage in ("staging", "production"):
        app = f"{name}-{stage}"
        await env.kube("create", "namespace", app)
        await env.application(
            app, url, app, **{"spec.source.path": f"apps/payment-service/{stage}"}
        )
    for stage in ("staging", "production"):
        await eventually(lambda s=stage: synced_healthy(env, f"{name}-{s}"), 90, f"{stage} synced")
    return repo, work, name


async def test_an_image_bump_previews_the_image_change_alone_in_one_comment(
    env: Env, forge: FakeGitHost, deployed: tuple[str, Path, str]
) -> None:
    repo, work, name = deployed
    head = push_branch(work, "bump-prod", {PRODUCTION: with_tag(work, PRODUCTION, "9.9.9")})
    pull = forge.forge.open_pull(repo, "bump-prod", "main", "Bump production", "", "dev")
    preview = await previewed(env, forge, repo, pull.number)

    assert preview.error == "" and preview.head_sha == head
    assert [app.app for app in preview.apps] == [f"{name}-production"]
    assert preview.unaffected == (f"{name}-staging",)
    (app,) = preview.apps
    assert not app.failed
    (change,) = app.objects
    assert (change.action, change.kind, change.name) == ("changed", "Deployment", "payment-service")
    assert change.fields == ("/spec/template/spec/containers/0/image",)
    (image,) = change.images
    assert image.old.endswith(":1.4.0") or image.old.rpartition(":")[2] != "9.9.9"
    assert image.new.endswith(":9.9.9")

    (comment,) = forge.comments(repo, pull.number)
    assert "<!-- tether-preview -->" in comment and f"{name}-production" in comment
    assert "9.9.9" in comment and f"{name}-staging`" not in comment.split("other application")[0]
    assert f"https://cd.example.com/applications/{name}-production/preview/{pull.number}" in (
        comment
    )
    statuses = forge.statuses(repo, head)
    assert statuses[0].context == "tether/preview" and statuses[0].state == "success"
    assert [s.state for s in statuses] == ["success", "pending"]

    # nothing was applied: the live Deployment still runs the old image
    live = await env.live("Deployment", "payment-service", f"{name}-production", "apps/v1")
    assert live is not None
    assert not live["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":9.9.9")

    # a new push to the pull request edits the one comment and sets the status on the new head
    second = push_branch(work, "bump-prod", {PRODUCTION: with_tag(work, PRODUCTION, "9.9.10")})
    preview = await previewed(env, forge, repo, pull.number, "synchronize")
    assert preview.head_sha == second
    (comment,) = forge.comments(repo, pull.number)
    assert "9.9.10" in comment and "9.9.9`" not in comment
    assert forge.statuses(repo, second)[0].state == "success"
    assert env.controller.pull_preview(f"{name}-production", pull.number) is preview


async def test_a_staging_change_previews_only_staging(
    env: Env, forge: FakeGitHost, deployed: tuple[str, Path, str]
) -> None:
    repo, work, name = deployed
    push_branch(work, "bump-staging", {STAGING: with_tag(work, STAGING, "2.0.0")})
    pull = forge.forge.open_pull(repo, "bump-staging", "main", "Bump staging", "", "dev")
    preview = await previewed(env, forge, repo, pull.number)
    assert [app.app for app in preview.apps] == [f"{name}-staging"]
    assert preview.unaffected == (f"{name}-production",)
    (change,) = preview.apps[0].objects
    assert change.images[0].new.endswith(":2.0.0")


async def test_a_broken_kustomization_fails_the_status_naming_file_and_line(
    env: Env, forge: FakeGitHost, deployed: tuple[str, Path, str]
) -> None:
    repo, work, name = deployed
    lines = (work / PRODUCTION).read_text().splitlines()
    lines.insert(2, "\tnewTag: oops")  # a tab cannot start a YAML token: line 3 is wrong
    broken = "\n".join(lines) + "\n"
    head = push_branch(work, "break-prod", {PRODUCTION: broken})
    pull = forge.forge.open_pull(repo, "break-prod", "main", "Break production", "", "dev")
    preview = await previewed(env, forge, repo, pull.number)
    (app,) = preview.apps
    assert app.failure == "render" and preview.state == "failure"
    where = f"{PRODUCTION}:3"  # the file and the line of the error
    assert where in app.error, app.error
    status = forge.statuses(repo, head)[0]
    assert status.state == "failure" and where in status.description
    (comment,) = forge.comments(repo, pull.number)
    assert "render failed" in comment
    # the production app keeps its last good state: nothing from the broken head is applied
    assert await synced_healthy(env, f"{name}-production")
