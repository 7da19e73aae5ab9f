"""``POST /api/v1/applicationsets/preview`` and ``tether appset preview FILE`` on the real stack:
what a Git-directory set would create, then — once applied — what a change to it would update
(with the diff), for those who may create sets; nothing is applied by a preview."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tests.server.conftest import CONTROL_NS, Stack, eventually
from tether.cli.appset import appset_group

pytestmark = pytest.mark.asyncio(loop_scope="session")


def appset(name: str, url: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": name},
        "spec": {
            "generators": [{"git": {"repoURL": url, "revision": "HEAD",
                                    "directories": [{"path": "apps/*"}]}}],
            "template": {
                "metadata": {"name": f"{name}-{{{{path.basename}}}}"},
                "spec": {"project": "default",
                         "source": {"repoURL": url, "targetRevision": "HEAD",
                                    "path": "{{path}}/production"},
                         "destination": {"server": "https://kubernetes.default.svc",
                                         "namespace": namespace}},
            },
        },
    }  # fmt: skip


async def owned(stack: Stack, name: str) -> list[str]:
    info = await stack.client.resource_for("argoproj.io/v1alpha1", "Application")
    listing = await stack.client.list(info, CONTROL_NS)
    return sorted(
        a["metadata"]["name"]
        for a in listing.items
        if any(r.get("name") == name for r in a["metadata"].get("ownerReferences") or [])
    )


async def test_a_preview_says_what_applying_a_set_would_do(stack: Stack, tmp_path: Path) -> None:
    url, _ = stack.new_repo()
    name = f"pv-{uuid.uuid4().hex[:5]}"
    body = appset(name, url, "shop")
    expected = [f"{name}-catalog-service", f"{name}-payment-service"]
    async with stack.http() as admin:
        answer = await admin.post("/api/v1/applicationsets/preview", json=body)
        assert answer.status_code == 200, answer.text
        found = answer.json()
        assert [c["name"] for c in found["create"]] == expected
        assert found["create"][0]["application"]["spec"]["source"]["path"] == (
            "apps/catalog-service/production"
        )
        assert await owned(stack, name) == []  # a preview applies nothing

        # applied for real, the controller makes them; a change previews as updates
        info = await stack.client.resource_for("argoproj.io/v1alpha1", "ApplicationSet")
        await stack.client.apply(
            info, {**body, "metadata": {"name": name, "namespace": CONTROL_NS}},
            field_manager="test", force=True,
        )  # fmt: skip
        await eventually(lambda: owned(stack, name), what="the generated Applications")
        await eventually(lambda: _len_is(owned(stack, name), 2), what="both Applications")
        changed = appset(name, url, "shop-v2")
        answer = await admin.post("/api/v1/applicationsets/preview", json=changed)
        found = answer.json()
        assert [u["name"] for u in found["update"]] == expected and found["create"] == []
        assert "-    namespace: shop\n+    namespace: shop-v2" in found["update"][0]["diff"]

        broken = appset(name, url, "shop")
        broken["spec"]["generators"][0]["git"]["directories"] = []
        answer = await admin.post("/api/v1/applicationsets/preview", json=broken)
        assert "directories or files" in answer.json()["error"]
    for user in ("alice", "bob"):  # read-only and no role: no sets of their own
        async with stack.http(user) as http:
            answer = await http.post("/api/v1/applicationsets/preview", json=changed)
            assert answer.status_code == 403, answer.text

    # the command line, as a user types it
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump({**changed, "metadata": {"name": name}}))
    env = {"TETHER_SERVER": stack.url, "TETHER_TOKEN": stack.tokens["admin"],
           "TETHER_CONFIG": str(tmp_path / "config.yaml")}  # fmt: skip
    result = await asyncio.to_thread(
        CliRunner(env=env).invoke, appset_group, ["preview", str(path)]
    )
    assert result.exit_code == 0, result.output
    assert "update" in result.output and f"{name}-payment-service" in result.output
    assert "+    namespace: shop-v2" in result.output
    as_json = await asyncio.to_thread(
        CliRunner(env=env).invoke, appset_group, ["preview", str(path), "-o", "json"]
    )
    assert json.loads(as_json.output)["unchanged"] == []


async def _len_is(names: Any, count: int) -> bool:
    return len(await names) == count
