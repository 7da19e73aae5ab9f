"""The application page's Images section in the browser, against the real stack: the image the
app's Deployment runs, its current tag, the latest tag its ImagePolicy allows and the link to
the pending pull request of the app's ImageUpdateAutomation; a commit that deploys the new tag
is seen without a reload."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.server import flux_objects as flux
from tether.demo.repo import commit_and_push
from tether.localcluster.testing import eventually

from .conftest import Stack
from .helpers import LIVE_TIMEOUT, overlay_image, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

NAME = "images-app"
DEST = "ui-images"
IMAGE = "ghcr.io/example/payment-service"
PULL_URL = "https://github.example/acme/k8s-manifests/pull/7"


async def _compared_at(stack: Stack, revision: str | None = None) -> bool:
    sync = ((await stack.app(NAME)).get("status") or {}).get("sync") or {}
    return bool(sync.get("status")) and (revision is None or sync.get("revision") == revision)


async def test_the_images_section_shows_tags_and_the_pending_pull_request(
    stack: Stack, page: Page
) -> None:
    await stack.application(NAME, "apps/payment-service/production", DEST, automated=False)
    await eventually(lambda: _compared_at(stack), what=f"{NAME} compared")
    client, ns = stack.client, stack.namespace
    await flux.put(client, ns, flux.image_repository("payment", IMAGE), flux.scanned(["1.5.0"]))
    policy = flux.image_policy("payment", "payment")
    await flux.put(client, ns, policy, flux.resolved(IMAGE, "1.5.0", "1.4.0"))
    automation = flux.image_update_automation("payment", "Application", NAME)
    await flux.put(client, ns, automation, flux.proposed(7, PULL_URL))

    await sign_in(page, stack)
    await page.goto(f"{stack.url}/applications/{NAME}")
    section = page.get_by_role("region", name="Images")
    row = section.locator(f'tr[data-image="{IMAGE}"]')
    await expect(row.locator('[data-field="image"]')).to_have_text(IMAGE)
    await expect(row.locator('[data-field="image"]')).to_have_attribute("title", f"{IMAGE}:1.4.0")
    await expect(row.locator('[data-field="current-tag"]')).to_have_text("1.4.0")
    await expect(row.locator('[data-field="latest-tag"]')).to_have_text("1.5.0")
    await expect(row.locator('[data-field="update"]')).to_have_text("update available")
    link = row.get_by_role("link", name="Pull request #7")
    await expect(link).to_have_attribute("href", PULL_URL)
    await expect(link).to_have_attribute("target", "_blank")
    await expect(row).to_contain_text("Deployment/payment-service")
    await stack.screenshot(page, "images-update-available")

    # the pull request merged: the new tag reaches the desired manifests, the page follows
    merged = commit_and_push(
        stack.work, "payment 1.5.0", overlay_image(stack.work, "payment-service", "1.5.0")
    )
    await eventually(lambda: _compared_at(stack, merged), 60, "the new commit compared")
    await expect(row.locator('[data-field="current-tag"]')).to_have_text(
        "1.5.0", timeout=LIVE_TIMEOUT
    )
    await expect(row.locator('[data-field="update"]')).to_have_count(0)
    await stack.screenshot(page, "images-up-to-date")
