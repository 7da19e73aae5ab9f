"""What a cold sync costs the API server: requests per application, counted by verb.

The controller gets a client of its own, so only its requests are counted; the test watches
through kubectl (another process). Issue 17 measured ~29 requests per app of ten resources.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import yaml

from tests.controller.stack import CONTROL_NS, running_stack
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


def ten_resources(name: str) -> str:
    """A Deployment, a Service, a Secret and seven ConfigMaps (bench/controller.py's app)."""
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80}]},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{name}-secret"},
            "stringData": {"token": "t"},
        },
    ] + [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-cm{i}"},
            "data": {"key": f"value-{i}"},
        }
        for i in range(7)
    ]
    return yaml.safe_dump_all(docs)


async def test_a_cold_automated_sync_of_ten_resources_costs_few_requests(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("requests")
    async with running_stack(local_cluster, root, reconcile_interval=3600.0) as env:
        name = f"req-{uuid.uuid4().hex[:6]}"
        url, _ = env.new_repo({f"apps/{name}/all.yaml": ten_resources(name)})
        stats = env.client.stats  # the controller's client; the test itself uses kubectl
        stats.reset()
        await env.application(
            name,
            url,
            name,
            **{
                "spec.source.path": f"apps/{name}",
                "spec.syncPolicy.syncOptions": ["CreateNamespace=true"],
            },
        )

        async def done() -> bool:
            out = await env.kube("get", "application", name, "-n", CONTROL_NS, "-o", "json")
            status = yaml.safe_load(out.stdout).get("status") or {}
            return (
                (status.get("sync") or {}).get("status") == "Synced"
                and (status.get("health") or {}).get("status") == "Healthy"
                and (status.get("operationState") or {}).get("phase") == "Succeeded"
            )

        await eventually(done, timeout=60, interval=0.3, what=f"{name} Synced and Healthy")
        verbs = dict(stats.by_verb)
        # the live cache's lists and watches are per kind and cluster, not per app
        per_app = {v: n for v, n in verbs.items() if v not in ("list", "watch")}
        # a server dry run of all ten before the first write, then the ten applies
        assert per_app.get("apply") == 20, verbs
        # nothing read again: the dry run and the apply answers say what is needed
        assert per_app.get("get", 0) == 0, verbs
        # the namespace (one create, no read first) and the two Events of the operation
        assert per_app.get("create") == 3, verbs
        # comparison + operation start in one patch, the operation's end, the re-check, and
        # (when the Deployment was not yet Available then) its health turning Healthy
        assert per_app.get("patch", 0) <= 4, verbs
        assert sum(per_app.values()) <= 27, verbs
