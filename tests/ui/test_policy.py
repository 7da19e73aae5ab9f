"""The sync policy and the history in the browser, against the real stack: each deployment shows
its commit (subject, author, date) and what started it; a rollback under auto-sync is refused
and the dialog says the way forward; the sync policy dialog switches an application between
Automated, Manual with auto-revert and Manual through the API; in Manual with auto-revert a
rollback is allowed and drift is then reverted to it.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tether.demo.repo import commit_and_push
from tether.localcluster.testing import eventually

from .conftest import Stack
from .helpers import LIVE_TIMEOUT, card, overlay_image, sign_in, synced_healthy

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

NAME = "policy-app"
DEST = "ui-policy"


async def automated_of(stack: Stack) -> Any:
    return ((await stack.app(NAME))["spec"].get("syncPolicy") or {}).get("automated")


async def image_of(stack: Stack) -> str:
    live = await stack.live("apps/v1", "Deployment", "payment-service", DEST)
    image: str = live["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


async def choose_policy(page: Page, label: str, *, prune: bool = False, heal: bool = False) -> None:
    """Open the sync policy dialog, choose ``label`` (and the automated options), save."""
    await page.get_by_role("button", name="Sync policy").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("radio", name=label, exact=True).check()
    if label == "Automated":
        await dialog.get_by_role("checkbox", name="Prune").set_checked(prune)
        await dialog.get_by_role("checkbox", name="Self-heal").set_checked(heal)
    else:
        await expect(dialog.get_by_role("checkbox", name="Prune")).to_be_disabled()
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()


async def test_history_policy_dialog_and_rollback_in_the_browser(stack: Stack, page: Page) -> None:
    await stack.application(NAME, "apps/payment-service/production", DEST, automated=True)
    await eventually(lambda: synced_healthy(stack, NAME), what=f"{NAME} deployed")
    await eventually(lambda: _deployments_are(stack, 1), what="the first deployment recorded")
    first_image = await image_of(stack)
    second = commit_and_push(
        stack.work, "release payment 1.6.0", overlay_image(stack.work, "payment-service", "1.6.0")
    )
    await eventually(lambda: _deployments_are(stack, 2), what="the commit deployed by auto-sync")

    await sign_in(page, stack)
    await card(page, NAME).get_by_role("link", name=NAME).click()
    facts = page.locator("#facts")
    await expect(facts.locator('[data-field="sync-policy"]')).to_have_text(
        "Automated (prune, self-heal)"
    )
    # each deployment: its commit, author and what started it
    rows = page.locator(".history tbody tr")
    await expect(rows).to_have_count(2, timeout=LIVE_TIMEOUT)
    newest = rows.first
    await expect(newest.locator("td").nth(1)).to_have_text(second[:7])
    await expect(newest.locator('[data-field="commit-message"]')).to_have_text(
        "release payment 1.6.0"
    )
    await expect(newest.locator('[data-field="commit-author"]')).to_contain_text("Tether Demo")
    await expect(newest.locator("[data-trigger]").last).to_have_text("Auto-sync")
    await expect(rows.last.locator('[data-field="commit-message"]')).to_have_text(
        "Initial manifests"
    )
    await stack.screenshot(page, "history-with-commits")

    # under auto-sync the rollback is refused, and the dialog says the way forward
    await page.get_by_role("button", name="Roll back to history 0").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.locator('[data-field="rollback-refusal"]')).to_contain_text(
        f"tether app set {NAME} --sync-policy none"
    )
    await dialog.get_by_role("button", name="Roll back").click()
    await expect(dialog.get_by_role("alert")).to_contain_text(
        f"tether app set {NAME} --sync-policy none"
    )
    await stack.screenshot(page, "rollback-refused")
    await dialog.get_by_role("button", name="change the sync policy").click()

    # the policy dialog opened from there: Manual with auto-revert
    policy = page.get_by_role("dialog")
    await expect(policy.get_by_role("heading")).to_have_text(f"Sync policy of {NAME}")
    await expect(policy.get_by_role("radio", name="Automated", exact=True)).to_be_checked()
    await policy.get_by_role("radio", name="Manual with auto-revert", exact=True).check()
    await stack.screenshot(page, "sync-policy-dialog")
    await policy.get_by_role("button", name="Save").click()
    await expect(policy).to_be_hidden()
    await expect(facts.locator('[data-field="sync-policy"]')).to_have_text("Manual, auto-revert")
    assert await automated_of(stack) == {"prune": True, "selfHeal": True, "enabled": False}

    # now the rollback is allowed, and drift is reverted to the rolled-back revision
    await page.get_by_role("button", name="Roll back to history 0").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("drift is reverted to this revision")
    await dialog.get_by_role("button", name="Roll back").click()
    await expect(dialog).to_be_hidden()
    await expect(rows).to_have_count(3, timeout=LIVE_TIMEOUT)
    await expect(rows.first.locator("[data-trigger]").last).to_have_text("Rollback")
    await eventually(lambda: _image_is(stack, first_image), what="the rollback applied")
    deployment = await stack.client.resource_for("apps/v1", "Deployment")
    await stack.client.patch(
        deployment, "payment-service", {"spec": {"replicas": 5}}, DEST, field_manager="kubectl"
    )
    await expect(page.locator('.history tbody tr[data-trigger="selfHeal"]').first).to_be_visible(
        timeout=LIVE_TIMEOUT
    )
    await expect(
        page.locator('.history tbody tr[data-trigger="selfHeal"] [data-trigger]').first
    ).to_have_text("Drift reverted")
    assert await image_of(stack) == first_image
    await stack.screenshot(page, "drift-reverted")

    # back to Automated (self-heal only), then Manual
    await choose_policy(page, "Automated", heal=True)
    await expect(facts.locator('[data-field="sync-policy"]')).to_have_text("Automated (self-heal)")
    assert await automated_of(stack) == {"selfHeal": True}
    await choose_policy(page, "Manual")
    await expect(facts.locator('[data-field="sync-policy"]')).to_have_text("Manual")
    assert await automated_of(stack) is None
    assert (await stack.app(NAME))["spec"]["syncPolicy"]["syncOptions"] == ["CreateNamespace=true"]
    await page.get_by_role("link", name="Applications").click()
    await expect(card(page, NAME).locator('[data-field="sync-policy"]')).to_have_text("Manual")


async def _image_is(stack: Stack, image: str) -> bool:
    return await image_of(stack) == image


async def _deployments_are(stack: Stack, count: int) -> bool:
    """``count`` deployments in the history, and no operation running."""
    status = (await stack.app(NAME)).get("status") or {}
    phase = (status.get("operationState") or {}).get("phase")
    return len(status.get("history") or []) == count and phase not in (None, "Running")
