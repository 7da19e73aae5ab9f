"""ApplicationSets in the browser, against the real stack: the list links to the set; the set's
page shows the Applications it made (linked, with sync and health) and its rollout steps."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tether.localcluster.testing import eventually

from .conftest import Stack
from .helpers import sign_in

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

NAME = "ui-set"


async def test_a_set_shows_its_applications_and_rollout(stack: Stack, page: Page) -> None:
    info = await stack.client.resource_for("argoproj.io/v1alpha1", "ApplicationSet")
    body = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": NAME, "namespace": stack.namespace},
        "spec": {
            "generators": [{"list": {"elements": [{"env": "staging"}, {"env": "production"}]}}],
            "strategy": {"type": "RollingSync", "rollingSync": {"steps": [
                {"matchExpressions": [{"key": "env", "operator": "In", "values": ["staging"]}]},
                {"matchExpressions": [{"key": "env", "operator": "In",
                                       "values": ["production"]}]}]}},
            "template": {
                "metadata": {"name": f"{NAME}-{{{{env}}}}", "labels": {"env": "{{env}}"}},
                "spec": {"project": "default",
                         "source": {"repoURL": stack.repo_url, "targetRevision": "HEAD",
                                    "path": "apps/payment-service/{{env}}"},
                         "destination": {"server": "https://kubernetes.default.svc",
                                         "namespace": f"{NAME}-{{{{env}}}}"},
                         "syncPolicy": {"syncOptions": ["CreateNamespace=true"]}},
            },
        },
    }  # fmt: skip
    await stack.client.apply(info, body, field_manager="test", force=True)

    async def made() -> bool:
        obj = await stack.client.get(info, NAME, stack.namespace)
        return len((obj.get("status") or {}).get("applicationStatus") or []) == 2

    await eventually(made, 90, "the set generated with its rollout")
    await sign_in(page, stack)
    await page.goto(f"{stack.url}/applicationsets")
    await page.locator(f'tr[data-appset="{NAME}"] a').click()
    await expect(page).to_have_url(f"{stack.url}/applicationsets/{NAME}")
    apps = page.get_by_role("table", name="Generated applications")
    await expect(apps.locator(f'tr[data-app="{NAME}-staging"] a')).to_have_attribute(
        "href", f"/applications/{NAME}-staging"
    )
    await expect(apps.locator("tbody tr")).to_have_count(2)
    rollout = page.get_by_role("table", name="Rollout steps")
    await expect(rollout.locator(f'tr[data-rollout="{NAME}-staging"] td').first).to_have_text("1")
    production = rollout.locator(f'tr[data-rollout="{NAME}-production"]')
    await expect(production.locator("td").first).to_have_text("2")
    await expect(production.locator('[data-field="rollout-status"]')).to_have_text(
        re.compile("^(Waiting|Pending|Progressing|Healthy)$")
    )
    await expect(page.locator('[data-field="generators"]')).to_have_text("list")
    await stack.screenshot(page, "applicationset")
