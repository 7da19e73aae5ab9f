"""ClusterClient against the real local cluster: discovery, CRUD, apply, errors, limits, retries."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

import httpx2
import pytest

from tether.cluster import (
    AlreadyExists,
    ClientSettings,
    ClusterClient,
    Forbidden,
    Invalid,
    NotFound,
    TokenBucket,
    TooManyRequests,
    UnknownKind,
    Unreachable,
    load_kubeconfig,
)
from tether.localcluster.cluster import VIEWER_CONTEXT, LocalCluster
from tether.localcluster.testing import eventually

from .conftest import (
    ThrottlingProxy,
    config_map,
    deployment,
    kubeconfig_for,
    loopback_transport,
    unreachable_kubeconfig,
    write_kubeconfig,
)


async def test_discovery_reports_builtin_kinds_with_plural_scope_verbs_and_subresources(
    client: ClusterClient,
) -> None:
    index = await client.discover()
    assert index.aggregated
    deploy = await client.resource_for("apps/v1", "Deployment")
    assert (deploy.plural, deploy.namespaced) == ("deployments", True)
    assert {"get", "list", "watch", "patch"} <= set(deploy.verbs)
    assert {"scale", "status"} <= set(deploy.subresources)
    ns = await client.resource_for("v1", "Namespace")
    assert (ns.plural, ns.namespaced, ns.group) == ("namespaces", False, "")
    assert index.preferred_versions["apps"] == "v1"
    assert (await client.resource_for_group_kind("apps", "Deployment")) == deploy
    # Two aggregated requests cover the whole server; later lookups are free.
    assert client.stats.by_verb["discovery"] == 2
    await client.resource_for("v1", "ConfigMap")
    assert client.stats.by_verb["discovery"] == 2


async def test_legacy_discovery_walk_finds_the_same_types(local_cluster: LocalCluster) -> None:
    class LegacyOnly(httpx2.AsyncBaseTransport):
        """Ask discovery roots for plain JSON, as against a server without aggregated discovery."""

        def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
            self.inner = inner

        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            if request.url.path in ("/api", "/apis"):
                request.headers["Accept"] = "application/json"
            return await self.inner.handle_async_request(request)

        async def aclose(self) -> None:
            await self.inner.aclose()

    config = load_kubeconfig(str(local_cluster.kubeconfig))
    async with ClusterClient(config, transport=LegacyOnly(loopback_transport(config))) as legacy:
        index = await legacy.discover()
        assert not index.aggregated
        deploy = await legacy.resource_for("apps/v1", "Deployment")
        assert (deploy.plural, deploy.namespaced) == ("deployments", True)
        assert "scale" in deploy.subresources
        assert (await legacy.resource_for("v1", "Namespace")).namespaced is False
        # /api, /apis, then one request per group-version.
        assert legacy.stats.by_verb["discovery"] > 2


async def test_crd_created_mid_test_is_found_by_refreshing_discovery(
    client: ClusterClient, namespace: str
) -> None:
    client.discovery.miss_refresh_interval = 0  # the miss comes right after a fetch
    await client.discover()
    group = f"g{uuid.uuid4().hex[:8]}.example.com"
    crd_info = await client.resource_for("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }
    await client.apply(crd_info, crd)
    before = client.stats.by_verb["discovery"]
    widget = await client.resource_for(f"{group}/v1", "Widget")
    assert client.stats.by_verb["discovery"] == before + 2  # one refresh on the miss
    assert (widget.plural, widget.namespaced) == ("widgets", True)
    made = await client.apply(
        widget,
        {
            "apiVersion": f"{group}/v1",
            "kind": "Widget",
            "metadata": {"name": "w", "namespace": namespace},
        },
    )
    assert made["metadata"]["uid"]


async def test_unknown_kind_raises_after_one_refresh(client: ClusterClient) -> None:
    client.discovery.miss_refresh_interval = 0  # every miss may refresh
    await client.discover()
    with pytest.raises(UnknownKind, match='no matches for kind "Gizmo"'):
        await client.resource_for("nope.example.com/v1", "Gizmo")
    assert client.stats.by_verb["discovery"] == 4


async def test_misses_refresh_discovery_at_most_once_per_interval(client: ClusterClient) -> None:
    # a revision naming a thousand unknown kinds must not cost a thousand discovery fetches
    await client.discover()
    before = client.stats.by_verb["discovery"]
    for i in range(50):
        with pytest.raises(UnknownKind):
            await client.resource_for("nope.example.com/v1", f"Gizmo{i}")
    assert client.stats.by_verb["discovery"] == before  # fetched just now: no refresh
    client.discovery.invalidate()  # a CRD changed: the next lookup fetches again
    with pytest.raises(UnknownKind):
        await client.resource_for("nope.example.com/v1", "Gizmo")
    assert client.stats.by_verb["discovery"] == before + 2


async def test_apply_get_list_patch_delete_round_trip(
    client: ClusterClient, namespace: str
) -> None:
    cm_info = await client.resource_for("v1", "ConfigMap")
    applied = await client.apply(cm_info, config_map("a", namespace, {"x": "1"}), force=True)
    assert applied["data"] == {"x": "1"}
    assert applied["metadata"]["managedFields"][0]["manager"] == "tether"
    got = await client.get(cm_info, "a", namespace)
    assert got["metadata"]["uid"] == applied["metadata"]["uid"]
    await client.create(cm_info, config_map("b", namespace))
    listed = await client.list(cm_info, namespace)
    assert sorted(o["metadata"]["name"] for o in listed.items) == ["a", "b"]
    assert all(o["kind"] == "ConfigMap" and o["apiVersion"] == "v1" for o in listed.items)
    assert int(listed.resource_version) >= int(got["metadata"]["resourceVersion"])
    patched = await client.patch(cm_info, "a", {"data": {"y": "2"}}, namespace)
    assert patched["data"] == {"x": "1", "y": "2"}
    patched = await client.patch(
        cm_info, "a", [{"op": "remove", "path": "/data/x"}], namespace, patch_type="json"
    )
    assert patched["data"] == {"y": "2"}
    deploy_info = await client.resource_for("apps/v1", "Deployment")
    await client.apply(deploy_info, deployment("web", namespace))
    patched = await client.patch(
        deploy_info, "web", {"spec": {"replicas": 4}}, namespace, patch_type="strategic"
    )
    assert patched["spec"]["replicas"] == 4
    await client.delete(cm_info, "a", namespace, propagation_policy="Foreground")
    await client.delete(deploy_info, "web", namespace)
    with pytest.raises(NotFound, match='configmaps "a" not found'):
        await client.get(cm_info, "a", namespace)


async def test_list_follows_pagination(client: ClusterClient, namespace: str) -> None:
    cm_info = await client.resource_for("v1", "ConfigMap")
    for i in range(7):
        await client.create(cm_info, config_map(f"cm{i}", namespace))
    client.stats.reset()
    listed = await client.list(cm_info, namespace, page_size=3)
    assert len(listed.items) == 7
    assert client.stats.by_verb["list"] == 3


async def test_dry_run_apply_and_delete_persist_nothing(
    client: ClusterClient, namespace: str
) -> None:
    cm_info = await client.resource_for("v1", "ConfigMap")
    preview = await client.apply(cm_info, config_map("dry", namespace), dry_run=True)
    assert preview["metadata"]["name"] == "dry"
    with pytest.raises(NotFound):
        await client.get(cm_info, "dry", namespace)
    await client.apply(cm_info, config_map("real", namespace, {"v": "1"}))
    await client.apply(cm_info, config_map("real", namespace, {"v": "2"}), dry_run=True)
    await client.delete(cm_info, "real", namespace, dry_run=True)
    assert (await client.get(cm_info, "real", namespace))["data"] == {"v": "1"}


async def test_errors_carry_the_server_status(
    client: ClusterClient, namespace: str, local_cluster: LocalCluster
) -> None:
    cm_info = await client.resource_for("v1", "ConfigMap")
    await client.create(cm_info, config_map("dup", namespace))
    with pytest.raises(AlreadyExists) as exists:
        await client.create(cm_info, config_map("dup", namespace))
    assert exists.value.code == 409 and 'configmaps "dup" already exists' in exists.value.message
    deploy_info = await client.resource_for("apps/v1", "Deployment")
    with pytest.raises(Invalid) as invalid:
        await client.apply(deploy_info, deployment("bad", namespace, replicas=-1))
    assert invalid.value.code == 422
    assert any(c.field == "spec.replicas" for c in invalid.value.causes)
    async with ClusterClient.from_kubeconfig(
        str(local_cluster.kubeconfig), VIEWER_CONTEXT
    ) as viewer:
        with pytest.raises(Forbidden) as forbidden:
            await viewer.create(cm_info, config_map("nope", namespace))
        assert forbidden.value.code == 403 and forbidden.value.message


def test_token_bucket_lets_a_burst_through_then_spaces_requests_at_qps() -> None:
    now = [0.0]
    bucket = TokenBucket(qps=10, burst=5, clock=lambda: now[0])
    waits = [bucket.reserve() for _ in range(20)]
    assert waits[:5] == [0.0] * 5
    assert waits[5:] == pytest.approx([0.1 * i for i in range(1, 16)])
    assert (bucket.acquired, bucket.delayed) == (20, 15)
    now[0] = 1.5  # the queue has drained exactly
    assert bucket.tokens == pytest.approx(0.0)
    now[0] = 10.0  # a long idle refills only up to the burst
    assert bucket.tokens == pytest.approx(5.0)


def test_a_pause_holds_every_caller_until_it_ends() -> None:
    now = [0.0]
    bucket = TokenBucket(qps=0, burst=1, clock=lambda: now[0])  # no rate limit at all
    assert bucket.reserve() == 0.0
    bucket.pause(2.0)  # a 429 with Retry-After: 2
    bucket.pause(0.5)  # a shorter one meanwhile does not shorten it
    now[0] = 0.5
    assert [bucket.reserve(), bucket.reserve()] == [pytest.approx(1.5)] * 2
    now[0] = 2.0
    assert bucket.reserve() == 0.0
    assert (bucket.pauses, bucket.delayed) == (2, 2)


async def test_a_throttled_client_holds_its_other_requests_for_the_retry_after(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    async with ThrottlingProxy(local_cluster.url, local_cluster.creds.ca_pem, throttle=1) as proxy:
        path = write_kubeconfig(
            tmp_path / "kubeconfig", kubeconfig_for(proxy.url, {"token": local_cluster.admin_token})
        )
        async with ClusterClient.from_kubeconfig(path) as c:
            first = asyncio.create_task(c.request("GET", "/version", verb="get"))
            await eventually(lambda: c.limiter.pauses == 1, timeout=10, what="the 429")
            # sent after the 429: it waits out the server's Retry-After (1 s) too
            await c.request("GET", "/version", verb="get")
            await first
        assert [s for _, _, s in proxy.seen] == [429, 200, 200]
        assert c.limiter.delay_seconds > 0.5


@pytest.mark.parametrize("bound", [3, 0])
async def test_requests_in_flight_are_bounded_per_client(
    local_cluster: LocalCluster, bound: int
) -> None:
    settings = ClientSettings(max_in_flight=bound)
    async with ClusterClient.from_kubeconfig(str(local_cluster.kubeconfig), settings=settings) as c:
        await asyncio.gather(*(c.request("GET", "/version", verb="get") for _ in range(20)))
        assert c.stats.in_flight == 0
        if bound:
            assert c.stats.peak_in_flight == bound
        else:
            assert c.stats.peak_in_flight > 3  # without a bound they do overlap


async def test_client_rate_limit_holds_requests_beyond_the_burst(
    local_cluster: LocalCluster,
) -> None:
    settings = ClientSettings(qps=20, burst=2)
    async with ClusterClient.from_kubeconfig(str(local_cluster.kubeconfig), settings=settings) as c:
        await asyncio.gather(*(c.request("GET", "/version", verb="get") for _ in range(6)))
        assert c.stats.by_verb["get"] == 6
        # six at once through a bucket of two: the rest waited for tokens (how many and how
        # long depends on how far apart the event loop sent them, never more than if all six
        # came at the same instant: 0.05 + 0.10 + 0.15 + 0.20 s; the exact accounting is
        # tested with a fake clock above)
        assert c.limiter.acquired == 6
        assert 1 <= c.limiter.delayed <= 4
        assert 0 < c.limiter.delay_seconds <= 0.5 + 1e-9


async def test_throttled_request_is_retried_after_retry_after(
    local_cluster: LocalCluster, namespace: str, tmp_path: Path
) -> None:
    async with ThrottlingProxy(local_cluster.url, local_cluster.creds.ca_pem, throttle=2) as proxy:
        path = write_kubeconfig(
            tmp_path / "kubeconfig", kubeconfig_for(proxy.url, {"token": local_cluster.admin_token})
        )
        async with ClusterClient.from_kubeconfig(path) as c:
            cm_info = await c.resource_for("v1", "ConfigMap")  # /api throttled twice
            made = await c.create(cm_info, config_map("after-429", namespace))
        assert made["metadata"]["name"] == "after-429"
        assert [s for _, _, s in proxy.seen[:2]] == [429, 429]
        assert c.stats.retries == 2
        assert c.stats.retry_wait_seconds == pytest.approx(2.0)  # Retry-After: 1, honoured twice


async def test_throttling_beyond_max_retries_raises_too_many_requests(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    async with ThrottlingProxy(
        local_cluster.url, local_cluster.creds.ca_pem, throttle=5, retry_after=0
    ) as proxy:
        path = write_kubeconfig(
            tmp_path / "kubeconfig", kubeconfig_for(proxy.url, {"token": local_cluster.admin_token})
        )
        settings = ClientSettings(max_retries=2)
        async with ClusterClient.from_kubeconfig(path, settings=settings) as c:
            with pytest.raises(TooManyRequests, match="too many requests"):
                await c.request("GET", "/version", verb="get")
        assert c.stats.by_verb["get"] == 3


async def test_unreachable_server_raises_unreachable(tmp_path: Path) -> None:
    path = unreachable_kubeconfig(tmp_path / "kubeconfig")
    settings = ClientSettings(max_retries=1, backoff_base=0.01)
    async with ClusterClient.from_kubeconfig(path, settings=settings) as c:
        with pytest.raises(Unreachable, match="cannot reach the API server"):
            await c.discover()
        assert c.stats.retries >= 1


async def test_exec_credential_plugin_authenticates(
    local_cluster: LocalCluster, tmp_path: Path
) -> None:
    credential = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": local_cluster.admin_token},
    }
    plugin = tmp_path / "plugin.py"
    plugin.write_text(f"print({json.dumps(json.dumps(credential))})\n")
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": [str(plugin)],
        }
    }
    path = write_kubeconfig(
        tmp_path / "kubeconfig", kubeconfig_for(local_cluster.url, user, local_cluster.creds.ca_pem)
    )
    async with ClusterClient.from_kubeconfig(path) as c:
        ns = await c.get(await c.resource_for("v1", "Namespace"), "default")
    assert ns["metadata"]["name"] == "default"
