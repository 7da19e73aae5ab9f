"""Flux in the browser, against the real stack: the Flux page lists a Kustomization and its
GitRepository; the Kustomization's page shows the objects of its inventory with their health
and asks for a reconcile; a HelmRelease's page shows Helm's history and its objects."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tether.demo.repo import create_repository
from tether.localcluster.testing import eventually

from .conftest import Stack
from .helpers import sign_in

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

NAME = "ui-flux"


async def test_the_flux_pages_show_a_kustomization_and_its_objects(
    stack: Stack, page: Page
) -> None:
    ns_info = await stack.client.resource_for("v1", "Namespace")
    await stack.client.apply(
        ns_info, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAME}},
        field_manager="test", force=True,
    )  # fmt: skip
    meta = {"namespace": stack.namespace}
    docs = [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {**meta, "name": NAME},
         "spec": {"url": stack.repo_url, "interval": "60m", "ref": {"branch": "main"}}},
        {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
         "metadata": {**meta, "name": NAME},
         "spec": {"interval": "60m", "prune": True, "path": "./apps/catalog-service/staging",
                  "targetNamespace": NAME, "sourceRef": {"kind": "GitRepository", "name": NAME}}},
    ]  # fmt: skip
    for doc in docs:
        info = await stack.client.resource_for(doc["apiVersion"], doc["kind"])
        await stack.client.apply(info, doc, field_manager="test", force=True)
    ks_info = await stack.client.resource_for("kustomize.toolkit.fluxcd.io/v1", "Kustomization")

    async def ready() -> bool:
        obj = await stack.client.get(ks_info, NAME, stack.namespace)
        conditions = (obj.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    await eventually(ready, 90, "the Kustomization Ready")

    await sign_in(page, stack)
    await page.get_by_role("link", name="Flux").click()
    table = page.get_by_role("table", name="Flux objects")
    row = table.locator(f'tr[data-flux="kustomizations/{stack.namespace}/{NAME}"]')
    await expect(row.locator('[data-field="ready"]')).to_have_text("Ready")
    await expect(
        table.locator(f'tr[data-flux="gitrepositories/{stack.namespace}/{NAME}"]')
    ).to_contain_text("main@sha1:")
    await row.get_by_role("link", name=NAME).click()
    await expect(page).to_have_url(f"{stack.url}/flux/kustomizations/{stack.namespace}/{NAME}")
    tree = page.get_by_role("table", name="Resource tree")
    deployment = tree.locator(f'tr[data-object="Deployment/{NAME}/catalog-service"]')
    await expect(deployment.locator("[data-health]")).to_have_attribute("data-health", "Healthy")
    await expect(tree.locator(f'tr[data-object="Service/{NAME}/catalog-service"]')).to_be_visible()
    history = page.get_by_role("table", name="Reconciliation history")
    await expect(history.locator("tbody tr").first).to_contain_text("ReconciliationSucceeded")
    await expect(history.locator("tbody tr").first).to_contain_text("main@sha1:")
    await page.get_by_role("button", name="Diff").click()
    await expect(page.locator('[data-field="no-diff"]')).to_be_visible()
    await stack.screenshot(page, "flux-kustomization")
    await page.get_by_role("button", name="Reconcile").click()
    await expect(page.get_by_text("Reconcile requested")).to_be_visible()

    async def handled() -> bool:
        obj = await stack.client.get(ks_info, NAME, stack.namespace)
        asked = (obj["metadata"].get("annotations") or {}).get("reconcile.fluxcd.io/requestedAt")
        return bool(asked) and (obj.get("status") or {}).get("lastHandledReconcileAt") == asked

    await eventually(handled, 60, "the reconcile asked from the page handled")


TINY_DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector: {matchLabels: {app: tiny}}
  template:
    metadata: {labels: {app: tiny}}
    spec:
      containers: [{name: web, image: "nginx:{{ .Values.tag }}"}]
"""


async def test_a_helm_release_page_shows_its_history_and_objects(stack: Stack, page: Page) -> None:
    root = stack.work.parent
    create_repository(root / "ui-charts.git", root / "ui-charts", {
        "tiny/Chart.yaml": "apiVersion: v2\nname: tiny\nversion: 1.0.0\n",
        "tiny/values.yaml": "tag: '1.25'\n",
        "tiny/templates/deployment.yaml": TINY_DEPLOYMENT,
    })  # fmt: skip
    meta = {"namespace": stack.namespace}
    docs = [
        {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
         "metadata": {**meta, "name": "ui-charts"},
         "spec": {"url": stack.git.url("ui-charts.git"), "interval": "60m",
                  "ref": {"branch": "main"}}},
        {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
         "metadata": {**meta, "name": "tiny"},
         "spec": {"interval": "60m", "chart": {"spec": {"chart": "./tiny",
                  "sourceRef": {"kind": "GitRepository", "name": "ui-charts"}}}}},
    ]  # fmt: skip
    for doc in docs:
        info = await stack.client.resource_for(doc["apiVersion"], doc["kind"])
        await stack.client.apply(info, doc, field_manager="test", force=True)
    hr_info = await stack.client.resource_for("helm.toolkit.fluxcd.io/v2", "HelmRelease")

    async def ready() -> bool:
        obj = await stack.client.get(hr_info, "tiny", stack.namespace)
        conditions = (obj.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    await eventually(ready, 90, "the HelmRelease Ready")
    await sign_in(page, stack)
    await page.get_by_role("link", name="Flux").click()
    table = page.get_by_role("table", name="Flux objects")
    row = table.locator(f'tr[data-flux="helmreleases/{stack.namespace}/tiny"]')
    await expect(row.locator('[data-field="ready"]')).to_have_text("Ready")
    await row.get_by_role("link", name="tiny").click()
    await expect(page).to_have_url(f"{stack.url}/flux/helmreleases/{stack.namespace}/tiny")
    history = page.get_by_role("table", name="Release history")
    await expect(history.locator('tr[data-revision="1"]')).to_contain_text("tiny-1.0.0")
    await expect(history.locator('tr[data-revision="1"]')).to_contain_text("deployed")
    tree = page.get_by_role("table", name="Resource tree")
    deployment = tree.locator(f'tr[data-object="Deployment/{stack.namespace}/tiny"]')
    await expect(deployment.locator("[data-health]")).to_have_attribute("data-health", "Healthy")
    await stack.screenshot(page, "flux-helmrelease")
