"""What a cold sync costs the API server: requests per application, counted by verb.

The app is the benchmark's (bench/_fleet.py): a Deployment, a Service, a Secret, seven
ConfigMaps.

Only the controller uses the stack's client here, so only its requests are counted; the test watches
through kubectl (another process). Issue 17 measured ~29 requests per app of ten resources.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import yaml

from bench._fleet import app_objects, application
from tests.controller.stack import running_stack
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """A cluster of its own: what other modules left (Flux objects, Applications) would cost
    this controller requests that are not the app's."""
    with LocalCluster(
        port=0, kubeconfig=tmp_path_factory.mktemp("requests-cluster") / "kubeconfig"
    ) as cluster:
        yield cluster


async def test_a_cold_automated_sync_of_ten_resources_costs_few_requests(
    local_cluster: LocalCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root = tmp_path_factory.mktemp("requests")
    # a control namespace of its own: the Applications other tests left on this cluster are
    # not this controller's, and cost it nothing
    control = f"ctl-{uuid.uuid4().hex[:6]}"
    async with running_stack(
        local_cluster, root, namespace=control, reconcile_interval=3600.0
    ) as env:
        name = f"req-{uuid.uuid4().hex[:6]}"
        objects = app_objects(0)  # bench/controller.py's app: ten resources
        url, _ = env.new_repo({f"apps/{name}/all.yaml": yaml.safe_dump_all(objects)})
        stats = env.client.stats  # the controller's client; the test itself uses kubectl
        stats.reset()
        app = application(name, url, f"apps/{name}", name)  # the benchmark's Application
        app["metadata"]["namespace"] = control
        await env.apply(app)

        async def done() -> bool:
            out = await env.kube("get", "application", name, "-n", control, "-o", "json")
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
        assert per_app.get("apply") == 2 * len(objects), verbs
        # nothing read again: the dry run and the apply answers say what is needed
        assert per_app.get("get", 0) == 0, verbs
        # the namespace (one create, no read first) and the two Events of the operation
        assert per_app.get("create") == 3, verbs
        # comparison + operation start in one patch, the operation's end, the re-check, and
        # (when the Deployment was not yet Available then) its health turning Healthy; a
        # re-check that meets the rollout half-way writes its progress message too (the
        # re-check comes right after the sync now that the sync's writes are in the cache)
        assert per_app.get("patch", 0) <= 5, verbs
        assert sum(per_app.values()) <= 2 * len(objects) + 8, verbs
