"""Steps the browser stories share: signing in, finding a card, waiting for an app, a commit."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from playwright.async_api import Locator, Page, expect

from .conftest import Stack

LIVE_TIMEOUT = 30_000  # ms: a poll interval of 1 s, a render, a sync and a health check


def overlay_image(work: Path, service: str, tag: str) -> dict[str, str | None]:
    path = f"apps/{service}/production/kustomization.yaml"
    doc = yaml.safe_load((work / path).read_text())
    doc["images"][0]["newTag"] = tag
    return {path: yaml.safe_dump(doc, sort_keys=False)}


def card(page: Page, name: str) -> Locator:
    return page.locator(f'.app-card[data-app="{name}"]')


async def sign_in(page: Page, stack: Stack) -> None:
    await page.goto(f"{stack.url}/applications")
    await expect(page).to_have_url(re.compile(r"/login\?next="))
    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Password").fill(stack.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/applications$"))


async def synced_healthy(stack: Stack, name: str) -> bool:
    status = (await stack.app(name)).get("status") or {}
    return (status.get("sync") or {}).get("status") == "Synced" and (
        status.get("health") or {}
    ).get("status") == "Healthy"
