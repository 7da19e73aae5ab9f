"""Sync windows on the application page, in the browser against the real stack: a deny window
says why the automated sync waits; lifted, the app syncs and the note goes, without a reload."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.ui.helpers import LIVE_TIMEOUT, sign_in, synced_healthy
from tether.localcluster.testing import eventually

from .conftest import Stack

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

NAME = "windowed-app"
FREEZE = {"kind": "deny", "schedule": "* * * * *", "duration": "24h", "applications": [NAME]}


async def _windows(stack: Stack, windows: list[dict[str, Any]]) -> None:
    info = await stack.client.resource_for("argoproj.io/v1alpha1", "AppProject")
    await stack.client.patch(info, "default", {"spec": {"syncWindows": windows}}, stack.namespace)


async def _out_of_sync(stack: Stack) -> bool:
    sync = ((await stack.app(NAME)).get("status") or {}).get("sync") or {}
    return sync.get("status") == "OutOfSync"


async def test_a_deny_window_is_shown_and_its_end_lets_the_sync_run(
    stack: Stack, page: Page
) -> None:
    await _windows(stack, [FREEZE])
    try:
        await stack.application(NAME, "apps/payment-service/production", "ui-windowed", True)
        await eventually(lambda: _out_of_sync(stack), what=f"{NAME} compared and held")
        await sign_in(page, stack)
        await page.goto(f"{stack.url}/applications/{NAME}")
        note = page.locator('[data-field="sync-windows"]')
        await expect(note).to_contain_text("Sync denied")
        await expect(note).to_contain_text("sync denied by window #0 deny '* * * * *' for 24h")
        await expect(note.locator("li")).to_have_count(1)
        await stack.screenshot(page, "sync-window-denied")
    finally:
        await _windows(stack, [])
    await eventually(lambda: synced_healthy(stack, NAME), 60, f"{NAME} synced after the window")
    await expect(page.locator('[data-field="sync-windows"]')).to_have_count(0, timeout=LIVE_TIMEOUT)
