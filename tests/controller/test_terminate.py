"""A terminate written to the Application (what a server replica and Argo CD's API server write)
for an operation no sync runs of any more: the controller ends it instead of leaving the app busy."""

from __future__ import annotations

import json
import uuid

import pytest
import yaml

from tests.controller.stack import running_stack
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")

CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "one"}, "data": {}}


async def test_a_terminate_with_no_sync_running_ends_the_operation(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("terminate")
    control = f"ctl-{uuid.uuid4().hex[:6]}"
    async with running_stack(local_cluster, root, namespace=control) as env:
        name = f"term-{uuid.uuid4().hex[:6]}"
        url, _ = env.new_repo({"app/cm.yaml": yaml.safe_dump(CONFIGMAP)})
        app = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Application",
            "metadata": {"name": name, "namespace": control},
            "spec": {
                "project": "default",
                "source": {"repoURL": url, "path": "app", "targetRevision": "HEAD"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": name},
            },
        }
        await env.apply(app)

        async def status() -> dict:
            out = await env.kube("get", "application", name, "-n", control, "-o", "json")
            return json.loads(out.stdout).get("status") or {}

        async def compared() -> bool:
            return bool((await status()).get("sync", {}).get("status"))

        await eventually(compared, timeout=60, interval=0.2, what="the first comparison")
        # a sync that died with its replica, then a terminate from the UI
        state = {
            "operation": {"sync": {"revision": "HEAD"}},
            "phase": "Terminating",
            "message": "Syncing",
            "startedAt": "2026-01-01T00:00:00Z",
        }
        patch = json.dumps({"status": {"operationState": state}})
        await env.kube(
            "patch", "application", name, "-n", control, "--subresource=status",
            "--type=merge", "-p", patch,
        )  # fmt: skip

        async def ended() -> bool:
            op = (await status()).get("operationState") or {}
            return op.get("phase") == "Failed"

        await eventually(ended, timeout=30, interval=0.2, what="the terminated operation ended")
        op = (await status())["operationState"]
        assert op["message"] == "Operation terminated"
        assert op["startedAt"] == "2026-01-01T00:00:00Z"
        assert op["finishedAt"]
