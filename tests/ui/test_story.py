"""The web UI story of the issue, in Chromium against the real stack: sign in, see the seeded
`payment-service` Synced and Healthy, push a commit and watch it arrive without reloading, sync
a manual application from the sync dialog, read a diff, roll back from the history.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tether.demo.repo import commit_and_push
from tether.localcluster.testing import eventually

from .conftest import Stack
from .helpers import LIVE_TIMEOUT, card, overlay_image, sign_in, synced_healthy

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]


async def test_sign_in_refuses_a_wrong_password_and_pages_need_a_session(
    stack: Stack, page: Page
) -> None:
    await page.goto(f"{stack.url}/applications/payment-service")
    await expect(page).to_have_url(re.compile(r"/login\?next=%2Fapplications%2Fpayment-service"))
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")
    await stack.screenshot(page, "sign-in-refused")
    # the session cookie is HttpOnly: no script can read the token
    await page.get_by_label("Password").fill(stack.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/applications/payment-service$"))
    assert "tether_token" not in await page.evaluate("document.cookie")
    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/login"))


async def test_the_gitops_story_in_the_browser(stack: Stack, page: Page) -> None:
    # seed: payment-service deploys itself; catalog-service waits for a person to sync it
    await stack.application(
        "payment-service", "apps/payment-service/production", "ui-payment", automated=True
    )
    await stack.application(
        "catalog-service", "apps/catalog-service/production", "ui-catalog", automated=False
    )
    await eventually(lambda: synced_healthy(stack, "payment-service"), what="payment-service")

    await sign_in(page, stack)
    payment = card(page, "payment-service")
    await expect(payment.locator("[data-sync]")).to_have_attribute("data-sync", "Synced")
    await expect(payment.locator("[data-health]")).to_have_attribute("data-health", "Healthy")
    catalog = card(page, "catalog-service")
    await expect(catalog.locator("[data-sync]")).to_have_attribute(
        "data-sync", "OutOfSync", timeout=LIVE_TIMEOUT
    )
    await expect(page.locator('[data-stat="total"] .stat-n')).to_have_text("2")
    await stack.screenshot(page, "applications")

    # filters: only the application that differs from Git
    await page.get_by_role("checkbox", name=re.compile("^OutOfSync")).check()
    await expect(page.locator(".app-card")).to_have_count(1)
    await expect(catalog).to_be_visible()
    await page.get_by_role("button", name="Clear filters").click()
    await page.get_by_label("Search").fill("payment")
    await expect(page.locator(".app-card")).to_have_count(1)
    await page.get_by_label("Search").fill("")

    # the manual application: first sync from the sync dialog
    await catalog.get_by_role("link", name="catalog-service").click()
    await expect(page.get_by_role("heading", name="catalog-service")).to_be_visible()
    await expect(
        page.get_by_role("button", name=re.compile(r"^Deployment catalog-service"))
    ).to_be_visible()
    await page.get_by_role("button", name="Sync", exact=True).click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_role("checkbox", name=re.compile("Prune"))).not_to_be_checked()
    await stack.screenshot(page, "sync-dialog")
    await dialog.get_by_role("button", name="Synchronize").click()
    await expect(dialog).to_be_hidden()
    badges = page.locator("#app-badges")
    await expect(badges.locator("[data-sync]")).to_have_attribute(
        "data-sync", "Synced", timeout=LIVE_TIMEOUT
    )
    await expect(badges.locator("[data-health]")).to_have_attribute(
        "data-health", "Healthy", timeout=LIVE_TIMEOUT
    )
    await expect(page.locator("#operation [data-phase]")).to_have_attribute(
        "data-phase", "Succeeded"
    )
    await expect(page.locator(".tree-node[data-kind=Pod]").first).to_be_visible(
        timeout=LIVE_TIMEOUT
    )
    await stack.screenshot(page, "catalog-synced-tree")

    # a commit: the automated app moves to it, the manual one turns OutOfSync, no reload
    await page.get_by_role("link", name="Applications").click()
    await expect(payment.locator('[data-field="revision"]')).to_have_text(stack.first_commit[:7])
    await page.evaluate("window.__sameDocument = true")
    changes = {
        **overlay_image(stack.work, "payment-service", "1.5.0"),
        **overlay_image(stack.work, "catalog-service", "2.2.0"),
    }
    second = commit_and_push(stack.work, "release payment 1.5.0, catalog 2.2.0", changes)
    await expect(payment.locator('[data-field="revision"]')).to_have_text(
        second[:7], timeout=LIVE_TIMEOUT
    )
    await expect(payment.locator("[data-sync]")).to_have_attribute(
        "data-sync", "Synced", timeout=LIVE_TIMEOUT
    )
    await expect(catalog.locator("[data-sync]")).to_have_attribute(
        "data-sync", "OutOfSync", timeout=LIVE_TIMEOUT
    )
    assert await page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    await stack.screenshot(page, "after-commit-live")

    # the diff of the resource that changed, side by side
    await catalog.get_by_role("link", name="catalog-service").click()
    deployment = page.get_by_role("button", name=re.compile(r"^Deployment catalog-service,"))
    await expect(deployment).to_have_attribute("data-sync", "OutOfSync")
    await deployment.click()
    panel = page.locator("#side-panel")
    await panel.get_by_role("tab", name="Diff").click()
    await expect(panel.locator(".diff-table td.code.del")).to_contain_text(["2.1.3"])
    await expect(panel.locator(".diff-table td.code.add")).to_contain_text(["2.2.0"])
    await stack.screenshot(page, "diff")
    await panel.get_by_role("tab", name="Desired manifest").click()
    await expect(panel.locator(".yaml")).to_contain_text("catalog-service:2.2.0")
    await panel.get_by_role("tab", name="Live manifest").click()
    await expect(panel.locator(".yaml")).to_contain_text("catalog-service:2.1.3")
    await panel.get_by_role("tab", name="Events").click()
    await expect(panel.locator(".events, .panel-note")).to_be_visible()
    await panel.get_by_role("button", name="Close panel").click()
    await expect(panel).to_be_hidden()

    # sync the new revision, then roll back to the first one from the history
    await page.get_by_role("button", name="Sync", exact=True).click()
    await page.get_by_role("dialog").get_by_role("button", name="Synchronize").click()
    await expect(page.locator('#facts [data-field="revision"]')).to_have_text(
        second[:7], timeout=LIVE_TIMEOUT
    )
    await expect(badges.locator("[data-sync]")).to_have_attribute(
        "data-sync", "Synced", timeout=LIVE_TIMEOUT
    )
    history = page.locator(".history tbody tr")
    await expect(history).to_have_count(2)
    await stack.screenshot(page, "history")
    await page.get_by_role("button", name="Roll back to history 0").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text(stack.first_commit[:7])
    await dialog.get_by_role("button", name="Roll back").click()
    await expect(history).to_have_count(3, timeout=LIVE_TIMEOUT)
    await expect(history.first.locator("td").nth(1)).to_have_text(stack.first_commit[:7])
    await expect(page.locator("#operation [data-phase]")).to_have_attribute(
        "data-phase", "Succeeded", timeout=LIVE_TIMEOUT
    )
    # Git still says 2.2.0 while the cluster runs the rolled-back 2.1.3
    await expect(badges.locator("[data-sync]")).to_have_attribute(
        "data-sync", "OutOfSync", timeout=LIVE_TIMEOUT
    )
    live = await stack.live("apps/v1", "Deployment", "catalog-service", "ui-catalog")
    image = live["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "ghcr.io/example/catalog-service:2.1.3"
    await stack.screenshot(page, "rolled-back")
    print(f"screenshots: {[str(p) for p in stack.shots]}")


async def test_a_broken_application_shows_its_condition_and_can_be_refreshed(
    stack: Stack, page: Page
) -> None:
    await stack.application("broken-app", "apps/does-not-exist", "ui-broken", automated=False)
    await sign_in(page, stack)
    await card(page, "broken-app").get_by_role("link", name="broken-app").click()
    condition = page.get_by_role("list", name="Conditions").locator(".callout")
    await expect(condition.first).to_contain_text("ComparisonError", timeout=LIVE_TIMEOUT)
    await expect(condition.first).to_contain_text("does-not-exist")
    await page.get_by_role("button", name="Refresh", exact=True).click()
    await expect(page.locator(".toast")).to_contain_text("compared again")
    await stack.screenshot(page, "broken-app-condition")
