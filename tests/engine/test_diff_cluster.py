"""The diff against the real local cluster: objects applied by server-side apply as `tether`,
read back with everything the server adds, compared with and without the server's dry run."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import yaml

from tether.cluster import ClusterClient, LiveCache
from tether.engine.diff import (
    ClusterDryRunner,
    DryRunCache,
    ResourceKey,
    SyncStatus,
    compare,
)
from tether.engine.ignore import parse_ignore_differences
from tether.localcluster.testing import Kubectl

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports: [{containerPort: 80}]
        resources: {limits: {cpu: 500m, memory: 128Mi}}
"""

SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast, empty: ""}
"""


class CountingDryRunner:
    """Counts the requests a real dry runner makes."""

    def __init__(self, inner: ClusterDryRunner) -> None:
        self.inner = inner
        self.requests = 0
        self.answers: list[dict[str, Any]] = []

    async def dry_run_apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        answer = await self.inner.dry_run_apply(obj)
        self.answers.append(answer)
        return answer


@pytest.fixture
def runner(client: ClusterClient) -> CountingDryRunner:
    return CountingDryRunner(ClusterDryRunner(client))


def _manifests(text: str, namespace: str) -> list[dict[str, Any]]:
    objects = [o for o in yaml.safe_load_all(text) if o]
    for obj in objects:
        obj["metadata"]["namespace"] = namespace
    return objects


def _apply(kubectl: Kubectl, namespace: str, objects: list[dict[str, Any]]) -> None:
    kubectl(
        "apply",
        "--server-side",
        "--field-manager=tether",
        "-n",
        namespace,
        "-f",
        "-",
        input=yaml.safe_dump_all(objects),
    )


def _live(kubectl: Kubectl, namespace: str, *refs: str) -> dict[ResourceKey, dict[str, Any]]:
    """Live objects as the live cache holds them (managedFields included)."""
    found = {}
    for ref in refs:
        out = kubectl("get", ref, "-n", namespace, "-o", "json", "--show-managed-fields").stdout
        obj = json.loads(out)
        found[ResourceKey.of(obj)] = obj
    return found


async def test_applied_manifest_without_defaults_is_synced_without_requests(
    kubectl: Kubectl, namespace: str, runner: CountingDryRunner
) -> None:
    desired = _manifests(DEPLOYMENT + "---" + SERVICE + "---" + CONFIGMAP, namespace)
    _apply(kubectl, namespace, desired)
    live = _live(kubectl, namespace, "deploy/web", "svc/web", "cm/settings")
    result = await compare(
        desired, live, tracked_keys=live.keys(), dry_runner=runner, cache=DryRunCache()
    )
    assert result.status is SyncStatus.SYNCED, [r.diff for r in result.out_of_sync]
    assert [r.decided_by for r in result.resources] == ["local", "local", "local"]
    assert runner.requests == 0 and result.dry_run_requests == 0


async def test_kubectl_scale_is_out_of_sync_with_readable_diff(
    kubectl: Kubectl, namespace: str, runner: CountingDryRunner
) -> None:
    desired = _manifests(DEPLOYMENT, namespace)
    _apply(kubectl, namespace, desired)
    kubectl("scale", "deploy/web", "--replicas=5", "-n", namespace)
    live = _live(kubectl, namespace, "deploy/web")
    cache = DryRunCache()

    result = await compare(desired, live, dry_runner=runner, cache=cache)
    assert result.status is SyncStatus.OUT_OF_SYNC
    (resource,) = result.resources
    assert resource.decided_by == "dry-run" and runner.requests == 1
    changed = [line for line in resource.diff.splitlines()[2:] if line[:1] in "+-"]
    assert changed == ["-  replicas: 5", "+  replicas: 2"], resource.diff
    assert resource.diff.startswith("--- live\n+++ desired\n")

    # The same question again is answered from the cache.
    again = await compare(desired, live, dry_runner=runner, cache=cache)
    assert again.status is SyncStatus.OUT_OF_SYNC and runner.requests == 1

    rules = parse_ignore_differences(
        [{"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]}]
    )
    ignored = await compare(desired, live, rules=rules, dry_runner=runner, cache=cache)
    assert ignored.status is SyncStatus.SYNCED
    assert runner.requests == 1  # decided locally once the ignored field is left out


async def test_secret_change_shows_masked_values_only(
    kubectl: Kubectl, namespace: str, runner: CountingDryRunner
) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": namespace},
        "stringData": {"password": "first-Pa55word", "user": "admin-user"},
    }
    _apply(kubectl, namespace, [secret])
    live = _live(kubectl, namespace, "secret/creds")
    synced = await compare([secret], live, dry_runner=runner)
    assert synced.status is SyncStatus.SYNCED and runner.requests == 0

    changed = {**secret, "stringData": {"password": "second-Pa55word", "user": "admin-user"}}
    result = await compare([changed], live, dry_runner=runner)
    assert result.status is SyncStatus.OUT_OF_SYNC
    (resource,) = result.resources
    assert resource.decided_by == "dry-run"
    everything = repr(result) + resource.diff
    for value in ("first-Pa55word", "second-Pa55word", "admin-user"):
        assert value not in everything
        assert base64.b64encode(value.encode()).decode() not in everything
    changed_lines = [line for line in resource.diff.splitlines()[2:] if line[:1] in "+-"]
    assert len(changed_lines) == 2
    assert all(line.split(": ")[1].strip("+") == "" for line in changed_lines), changed_lines
    assert [c.path for c in resource.changes] == ["/data/password"]


async def test_undecidable_case_asks_the_server_and_then_the_cache(
    kubectl: Kubectl, namespace: str, runner: CountingDryRunner
) -> None:
    # Applied with replicas: 1 and an explicit pull policy, then both dropped from Git. The
    # local check sees owned fields dropped; only the server knows they reset to the same
    # defaults, so nothing would change.
    applied = _manifests(DEPLOYMENT, namespace)
    applied[0]["spec"]["replicas"] = 1
    applied[0]["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    _apply(kubectl, namespace, applied)
    live = _live(kubectl, namespace, "deploy/web")
    desired = _manifests(DEPLOYMENT, namespace)
    del desired[0]["spec"]["replicas"]
    cache = DryRunCache()

    first = await compare(desired, live, dry_runner=runner, cache=cache)
    assert first.status is SyncStatus.SYNCED, first.resources[0].diff
    assert first.resources[0].decided_by == "dry-run"
    assert runner.requests == 1 and first.dry_run_requests == 1

    second = await compare(desired, live, dry_runner=runner, cache=cache)
    assert second.status is SyncStatus.SYNCED
    assert runner.requests == 1 and second.dry_run_requests == 0
    assert second.resources[0].diff == first.resources[0].diff == ""

    # the cache keeps the answer without what is never compared (managedFields: half of it)
    (answer,) = runner.answers
    assert answer["metadata"]["managedFields"] and "status" in answer
    live_rv = next(iter(live.values()))["metadata"]["resourceVersion"]
    kept = cache.get(DryRunCache.key(desired[0], live_rv))
    assert isinstance(kept, dict) and "managedFields" not in kept["metadata"]
    assert "status" not in kept and kept["spec"] == answer["spec"]

    # The dry run did not change the object (its status moves on: the simulated controllers
    # report the rollout meanwhile, so only what a write would change is compared).
    after = _live(kubectl, namespace, "deploy/web")
    assert [_written(o) for o in after.values()] == [_written(o) for o in live.values()]


def _written(obj: dict[str, Any]) -> Any:
    """What an apply can change: spec, labels, annotations, generation and managed fields."""
    meta = obj["metadata"]
    return (
        obj["spec"],
        meta.get("labels"),
        meta.get("annotations"),
        meta["generation"],
        [
            (m.get("manager"), m.get("operation"), m.get("fieldsV1"))
            for m in meta.get("managedFields") or []
            if m.get("subresource") != "status"
        ],
    )


async def test_server_rejection_is_a_per_resource_error(
    kubectl: Kubectl, namespace: str, runner: CountingDryRunner
) -> None:
    applied = _manifests(SERVICE, namespace)
    _apply(kubectl, namespace, applied)
    live = _live(kubectl, namespace, "svc/web")
    invalid = _manifests(SERVICE, namespace)
    invalid[0]["spec"]["type"] = "NotAType"
    result = await compare(invalid, live, dry_runner=runner)
    (resource,) = result.resources
    assert resource.status is SyncStatus.UNKNOWN
    assert resource.error is not None and "422" in resource.error


async def test_the_live_caches_compact_objects_answer_as_the_servers_own(
    client: ClusterClient, kubectl: Kubectl, namespace: str
) -> None:
    # Applied by tether with keys a and b, then c set by another manager (an HPA, a person).
    applied = _manifests(CONFIGMAP, namespace)[0]
    applied["data"] = {"a": "1", "b": "2"}
    _apply(kubectl, namespace, [applied])
    info = await client.resource_for("v1", "ConfigMap")
    await client.patch(info, "settings", {"data": {"c": "3"}}, namespace, field_manager="hpa")
    key = ResourceKey("", "ConfigMap", namespace, "settings")
    from_server = _live(kubectl, namespace, "cm/settings")
    async with LiveCache(client, namespace=namespace) as cache:
        await cache.track([info])
        cached = cache.get(key)
        assert cached is not None and cached["data"] == {"a": "1", "b": "2", "c": "3"}
        assert all("time" not in e for e in cached["metadata"]["managedFields"])
        from_cache = {key: cached}

        dropped_b = {**applied, "data": {"a": "1"}}
        other_c = {**applied, "data": {"a": "1", "b": "2", "c": "other"}}
        ignore_hpa = parse_ignore_differences(
            [{"kind": "ConfigMap", "managedFieldsManagers": ["hpa"]}]
        )
        for desired, rules in ((dropped_b, []), (other_c, []), (other_c, ignore_hpa)):
            want = await compare([desired], from_server, rules=rules)
            got = await compare([desired], from_cache, rules=rules)
            assert got.resources[0].status is want.resources[0].status
            assert got.resources[0].changes == want.resources[0].changes
        # what each answer is: b dropped from Git is removed, c is not ours to change unless
        # the rule says whose it is
        assert (await compare([dropped_b], from_cache)).status is SyncStatus.OUT_OF_SYNC
        assert (await compare([other_c], from_cache)).status is SyncStatus.OUT_OF_SYNC
        ignored = await compare([other_c], from_cache, rules=ignore_hpa)
        assert ignored.status is SyncStatus.SYNCED
