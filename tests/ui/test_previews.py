"""A pull request's preview page in the browser, against the real stack: the Deployment whose image
the pull request bumps, its image old → new, the changed field and the side-by-side diff; a
hostile pull-request title stays text."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tether.controller.previews import PreviewSettings
from tether.demo.repo import push_branch
from tether.localcluster.testing import eventually
from tether.source.pullrequests import PREVIEW, PullRequestEvent

from .conftest import Stack
from .helpers import overlay_image, sign_in, synced_healthy

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

NAME = "previewed-app"
TITLE = "<img src=x onerror=alert(1)> bump"


async def test_the_preview_page_shows_the_image_change_and_the_diff(
    stack: Stack, page: Page
) -> None:
    await stack.application(NAME, "apps/payment-service/production", "ui-previewed", True)
    await eventually(lambda: synced_healthy(stack, NAME), 90, f"{NAME} synced")
    changes = overlay_image(stack.work, "payment-service", "3.1.4")
    head = push_branch(stack.work, "ui-bump", {p: c for p, c in changes.items() if c})
    event = PullRequestEvent(
        "github", PREVIEW, 12, (stack.repo_url,), "main", "ui-bump", head, (stack.repo_url,),
        "main", TITLE, "https://github.example/acme/k8s-manifests/pull/12",
    )  # fmt: skip
    assert NAME in await stack.controller.on_pull_request(event, PreviewSettings())
    preview = await stack.controller.previews.wait(stack.repo_url, 12)
    assert preview is not None and preview.app(NAME) is not None

    await sign_in(page, stack)
    await page.goto(f"{stack.url}/applications/{NAME}/preview/12")
    obj = page.locator('[data-object="apps/Deployment ui-previewed/payment-service"]')
    await expect(obj.locator('[data-field="action"]')).to_have_text("changed")
    await expect(obj.locator('[data-field="image"]')).to_contain_text("→")
    await expect(obj.locator('[data-field="image"]')).to_contain_text(":3.1.4")
    await expect(obj.locator('[data-field="path"]')).to_have_text(
        "/spec/template/spec/containers/0/image"
    )
    await expect(obj.locator("table.diff-table")).to_be_visible()
    await expect(page.locator('[data-field="summary"]')).to_have_text(
        "0 added, 1 changed, 0 removed"
    )
    await expect(page.get_by_role("link", name=f"#12 {TITLE}")).to_be_visible()
    await expect(page.locator("img")).to_have_count(0)
    await stack.screenshot(page, "pull-request-preview")

    await page.goto(f"{stack.url}/applications/{NAME}/preview/13")
    await expect(page.get_by_role("alert")).to_contain_text("no preview of pull request #13")
