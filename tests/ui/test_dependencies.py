"""Application dependencies on the application page, in the browser against the real stack: an
app that names one not created yet says what it waits for; created, the dependency comes up, the
waiting app syncs and the page follows, without a reload."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.ui.helpers import LIVE_TIMEOUT, sign_in, synced_healthy
from tether.localcluster.testing import eventually
from tether.names import DEPENDS_ON_ANNOTATION

from .conftest import Stack

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

INFRA, WEB = "deps-infra", "deps-web"


async def test_the_page_shows_the_wait_and_the_dependencies(stack: Stack, page: Page) -> None:
    await stack.application(
        WEB, "apps/payment-service/production", "ui-deps-web", True, {DEPENDS_ON_ANNOTATION: INFRA}
    )
    await sign_in(page, stack)
    await page.goto(f"{stack.url}/applications/{WEB}")
    card = page.get_by_role("region", name="Dependencies")
    await expect(card.locator(f'[data-dependency="{INFRA}"]')).to_contain_text("does not exist")
    await expect(card.locator('[data-field="dependency-wait"]')).to_contain_text(
        f"Syncs wait for {INFRA} (does not exist)", timeout=LIVE_TIMEOUT
    )
    await stack.screenshot(page, "dependency-wait")

    await stack.application(INFRA, "apps/payment-service/production", "ui-deps-infra", True)
    await eventually(lambda: synced_healthy(stack, INFRA), 60, f"{INFRA} up")
    await eventually(lambda: synced_healthy(stack, WEB), 60, f"{WEB} synced after {INFRA}")
    await expect(card).to_contain_text("Every dependency is ready", timeout=LIVE_TIMEOUT)
    await expect(card.locator(f'[data-dependency="{INFRA}"]')).to_contain_text("Healthy")

    await page.goto(f"{stack.url}/applications/{INFRA}")
    needed = page.get_by_role("region", name="Dependencies")
    await expect(needed.locator(f'[data-dependency="{WEB}"]')).to_be_visible()
