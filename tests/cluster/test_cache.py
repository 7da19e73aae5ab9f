"""The live cache against the real local cluster: sync, events, resume, relist, owners, cost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tether.cluster import (
    CacheSyncError,
    ClientSettings,
    ClusterClient,
    LiveCache,
    ObjectKey,
    ResourceInfo,
    stamp,
)
from tether.cluster.index import ObjectIndex
from tether.localcluster.cluster import LocalCluster
from tether.localcluster.testing import eventually

from .conftest import config_map, deployment

Event = tuple[str, str, ObjectKey]


@pytest.fixture
async def infos(client: ClusterClient) -> dict[str, ResourceInfo]:
    return {
        "cm": await client.resource_for("v1", "ConfigMap"),
        "deploy": await client.resource_for("apps/v1", "Deployment"),
        "rs": await client.resource_for("apps/v1", "ReplicaSet"),
        "pod": await client.resource_for("v1", "Pod"),
    }


@pytest.fixture
async def cache(client: ClusterClient, namespace: str) -> AsyncIterator[LiveCache]:
    live = LiveCache(client, namespace=namespace)
    try:
        yield live
    finally:
        await live.close()


def recorder(cache: LiveCache) -> list[Event]:
    events: list[Event] = []
    cache.subscribe(lambda app, kind, key: events.append((app, kind, key)))
    return events


async def test_cache_lists_tracked_types_only(
    client: ClusterClient, cache: LiveCache, namespace: str, infos: dict[str, ResourceInfo]
) -> None:
    await client.apply(infos["cm"], config_map("one", namespace))
    await client.apply(infos["deploy"], deployment("web", namespace))
    await cache.track([infos["cm"]])
    assert cache.synced
    assert cache.get(ObjectKey("", "ConfigMap", namespace, "one")) is not None
    assert cache.get(ObjectKey("apps", "Deployment", namespace, "web")) is None
    assert [i.kind for i in cache.tracked] == ["ConfigMap"]


async def test_kubectl_scale_reaches_subscribers(
    client: ClusterClient,
    cache: LiveCache,
    namespace: str,
    infos: dict[str, ResourceInfo],
    kubectl: Any,
) -> None:
    await client.apply(infos["deploy"], stamp(deployment("web", namespace), "shop"))
    await cache.track([infos["deploy"]])
    events = recorder(cache)
    key = ObjectKey("apps", "Deployment", namespace, "web")
    await asyncio.to_thread(kubectl, "scale", "deployment/web", "--replicas=3", "-n", namespace)
    # how fast is bench/live_cache.py's to measure; here, that the watch event arrives at all
    # (the simulated controllers' status writes are MODIFIED events too: wait for the scale)
    await eventually(
        lambda: ((cache.get(key) or {}).get("spec") or {}).get("replicas") == 3,
        timeout=30.0,
        what="scaled Deployment in the cache",
    )
    assert ("shop", "MODIFIED", key) in events


async def test_reading_an_unchanged_app_from_the_cache_makes_no_request(
    client: ClusterClient, cache: LiveCache, namespace: str, infos: dict[str, ResourceInfo]
) -> None:
    for i in range(20):
        await client.apply(infos["cm"], stamp(config_map(f"c{i}", namespace), "quiet"))
    await cache.track([infos["cm"], infos["deploy"]])
    client.stats.reset()
    for _ in range(50):
        objs = cache.objects_of("quiet")
        for obj in objs:
            key = ObjectKey.of(obj)
            assert cache.get(key) is obj
            assert cache.get_by_uid(obj["metadata"]["uid"]) is obj
            assert cache.app_of(obj) == "quiet"
            cache.tree(obj)
        await client.resource_for("v1", "ConfigMap")  # discovery is cached too
    assert len(objs) == 20
    assert client.stats.total == 0, client.stats.by_verb


async def test_events_are_keyed_by_application_and_foreign_copies_are_ignored(
    client: ClusterClient, cache: LiveCache, namespace: str, infos: dict[str, ResourceInfo]
) -> None:
    await cache.track([infos["cm"]])
    events = recorder(cache)
    await client.apply(infos["cm"], stamp(config_map("a", namespace), "app-a"))
    await client.apply(infos["cm"], stamp(config_map("b", namespace), "app-b"))
    # A tool copied app-a's object under a new name, annotation and all.
    copied = stamp(config_map("a", namespace), "app-a")
    copied["metadata"]["name"] = "a-copy"
    await client.apply(infos["cm"], copied)
    await client.apply(infos["cm"], config_map("untracked", namespace))
    await client.apply(infos["cm"], stamp(config_map("a", namespace, {"k": "changed"}), "app-a"))
    await client.delete(infos["cm"], "b", namespace)
    key_a = ObjectKey("", "ConfigMap", namespace, "a")
    key_b = ObjectKey("", "ConfigMap", namespace, "b")
    expected = [
        ("app-a", "ADDED", key_a),
        ("app-b", "ADDED", key_b),
        ("app-a", "MODIFIED", key_a),
        ("app-b", "DELETED", key_b),
    ]
    await eventually(lambda: len(events) >= 4, what="four app events")
    assert events == expected
    assert [o["metadata"]["name"] for o in cache.objects_of("app-a")] == ["a"]
    assert cache.objects_of("app-b") == []
    assert cache.get(ObjectKey("", "ConfigMap", namespace, "a-copy")) is not None


def owner_refs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": obj["apiVersion"],
            "kind": obj["kind"],
            "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"],
            "controller": True,
        }
    ]


async def test_owner_index_finds_hand_made_children_and_maps_them_to_the_root_app(
    client: ClusterClient, cache: LiveCache, namespace: str, infos: dict[str, ResourceInfo]
) -> None:
    secret_info = await client.resource_for("v1", "Secret")
    await cache.track([infos["cm"], secret_info])
    events = recorder(cache)
    root = await client.apply(infos["cm"], stamp(config_map("root", namespace), "bundle"))
    part = await client.create(
        infos["cm"], config_map("part", namespace, ownerReferences=owner_refs(root))
    )
    leaf = await client.create(
        secret_info,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "leaf",
                "namespace": namespace,
                "ownerReferences": owner_refs(part),
            },
            "stringData": {"a": "b"},
        },
    )
    leaf_key = ObjectKey("", "Secret", namespace, "leaf")
    await eventually(lambda: cache.get(leaf_key) is not None, what="leaf in cache")
    root_uid = root["metadata"]["uid"]
    assert [c["metadata"]["name"] for c in cache.children(root_uid)] == ["part"]
    assert [c["metadata"]["name"] for c in cache.tree(root_uid)] == ["part", "leaf"]
    assert cache.children(leaf["metadata"]["uid"]) == []
    # "part" and "leaf" carry no tracking id; their changes still belong to "bundle".
    await eventually(lambda: ("bundle", "ADDED", leaf_key) in events, what="leaf added")
    await client.patch(secret_info, "leaf", {"metadata": {"labels": {"x": "y"}}}, namespace)
    await eventually(lambda: ("bundle", "MODIFIED", leaf_key) in events, what="leaf event")
    assert cache.objects_of("bundle") == [cache.get(ObjectKey.of(root))]
    # Cascading deletion removes the owner first; the children's deletions still reach the app.
    await client.delete(infos["cm"], "root", namespace, propagation_policy="Background")
    await eventually(lambda: ("bundle", "DELETED", leaf_key) in events, what="leaf deletion")
    assert cache.children(root_uid) == [] and cache.tree(root_uid) == []


async def test_change_of_a_child_seen_before_its_owner_reaches_the_app_once_the_owner_arrives(
    client: ClusterClient, cache: LiveCache, namespace: str, infos: dict[str, ResourceInfo]
) -> None:
    secret_info = await client.resource_for("v1", "Secret")
    await cache.track([secret_info])
    events = recorder(cache)
    owner = await client.apply(infos["cm"], stamp(config_map("owner", namespace), "late"))
    await client.create(
        secret_info,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "child",
                "namespace": namespace,
                "ownerReferences": owner_refs(owner),
            },
        },
    )
    child_key = ObjectKey("", "Secret", namespace, "child")
    await eventually(lambda: cache.get(child_key) is not None, what="child in cache")
    assert events == []  # its owner is not cached yet, so no app is known
    await cache.track([infos["cm"]])
    assert events == [("late", "ADDED", child_key)]


async def test_deployment_tree_holds_the_replicasets_and_pods_the_cluster_made(
    client: ClusterClient, cache: LiveCache, namespace: str, infos: dict[str, ResourceInfo]
) -> None:
    await cache.track([infos["deploy"], infos["rs"], infos["pod"]])
    events = recorder(cache)
    deploy = await client.apply(infos["deploy"], stamp(deployment("web", namespace, 2), "shop"))

    def kinds_in_tree() -> list[str]:
        return sorted(o["kind"] for o in cache.tree(deploy))

    await eventually(lambda: kinds_in_tree() == ["Pod", "Pod", "ReplicaSet"], what="rs and pods")
    pods = [o for o in cache.tree(deploy) if o["kind"] == "Pod"]
    assert all(cache.app_of(p) == "shop" for p in pods)
    added = {("shop", "ADDED", ObjectKey.of(p)) for p in pods}
    await eventually(lambda: added <= set(events), what="pod events for shop")


async def test_dropped_watch_resumes_from_resource_version_without_relisting(
    client: ClusterClient, namespace: str, infos: dict[str, ResourceInfo]
) -> None:
    # The server ends each watch after one second, as a proxy or the server's own timeout does.
    async with LiveCache(client, namespace=namespace, watch_timeout=1) as cache:
        await cache.track([infos["cm"]])
        events = recorder(cache)
        stats = cache.stats(infos["cm"])
        await eventually(lambda: stats.watches >= 2, timeout=5, what="a second watch")
        await client.apply(infos["cm"], stamp(config_map("late", namespace), "r"))
        key = ObjectKey("", "ConfigMap", namespace, "late")
        await eventually(lambda: ("r", "ADDED", key) in events, what="event after resume")
        assert stats.lists == 1 and stats.relists == 0
        assert stats.resumes >= 1
        assert client.stats.by_verb["list"] == 1


async def test_a_write_of_ours_is_cached_before_its_watch_event_and_no_older_event_undoes_it(
    client: ClusterClient, namespace: str, infos: dict[str, ResourceInfo]
) -> None:
    async with LiveCache(client, namespace=namespace) as cache:
        await cache.track([infos["cm"]])
        events = recorder(cache)
        await cache.pause()  # the watch lags as far as it can: it sees nothing until resumed
        key = ObjectKey("", "ConfigMap", namespace, "mine")
        for value in ("1", "2"):
            answer = await client.apply(
                infos["cm"], stamp(config_map("mine", namespace, {"k": value}), "app")
            )
            cache.written(answer)
            answer["data"]["k"] = "changed by the caller later"  # the cache holds its own copy
        assert (cache.get(key) or {}).get("data") == {"k": "2"}
        assert events == [("app", "ADDED", key), ("app", "MODIFIED", key)]
        cache.written({**one_version_back(cache, key), "data": {"k": "0"}})
        assert (cache.get(key) or {}).get("data") == {"k": "2"}
        # a type this cache does not follow is not kept: no watch would ever correct it
        web = await client.apply(infos["deploy"], deployment("web", namespace))
        cache.written(web)
        assert cache.get(ObjectKey.of(web)) is None
        cache.resume()
        # the watch now brings both writes (k=1, then k=2), then a write of someone else's
        await client.apply(infos["cm"], stamp(config_map("theirs", namespace), "app"))
        theirs = ObjectKey("", "ConfigMap", namespace, "theirs")
        await eventually(lambda: cache.get(theirs) is not None, what="the later write")
        assert (cache.get(key) or {}).get("data") == {"k": "2"}
        assert events == [
            ("app", "ADDED", key),
            ("app", "MODIFIED", key),
            ("app", "ADDED", theirs),
        ]


def one_version_back(cache: LiveCache, key: ObjectKey) -> dict[str, Any]:
    """The cached object with a resourceVersion one lower: an answer older than the cached."""
    obj = dict(cache.get(key) or {})
    meta = dict(obj["metadata"])
    meta["resourceVersion"] = str(int(meta["resourceVersion"]) - 1)
    return {**obj, "metadata": meta}


async def test_expired_watch_relists_and_reports_what_changed_meanwhile(tmp_path: Any) -> None:
    with LocalCluster(history_size=3) as small:
        assert small.kubeconfig is not None
        settings = ClientSettings(qps=0)
        async with ClusterClient.from_kubeconfig(str(small.kubeconfig), settings=settings) as c:
            cm = await c.resource_for("v1", "ConfigMap")
            ns = "relist"
            await c.create(await c.resource_for("v1", "Namespace"), {"metadata": {"name": ns}})
            for name in ("stays", "changes", "goes"):
                await c.apply(cm, stamp(config_map(name, ns), "app"))
            async with LiveCache(c, namespace=ns) as cache:
                await cache.track([cm])
                events = recorder(cache)
                await cache.pause()
                await c.apply(cm, stamp(config_map("changes", ns, {"k": "new"}), "app"))
                await c.delete(cm, "goes", ns)
                await c.apply(cm, stamp(config_map("arrives", ns), "app"))
                for i in range(5):  # push the watch's resourceVersion out of the history
                    await c.apply(cm, config_map(f"filler{i}", ns))
                cache.resume()
                await eventually(lambda: len(events) >= 3, what="synthetic relist events")
                stats = cache.stats(cm)
                assert (stats.lists, stats.relists) == (2, 1)
                assert sorted((kind, key.name) for _, kind, key in events) == [
                    ("ADDED", "arrives"),
                    ("DELETED", "goes"),
                    ("MODIFIED", "changes"),
                ]
                assert {app for app, _, _ in events} == {"app"}
                assert cache.get(ObjectKey("", "ConfigMap", ns, "goes")) is None
                changed = cache.get(ObjectKey("", "ConfigMap", ns, "changes"))
                assert changed is not None and changed["data"] == {"k": "new"}
                # After the relist the watch continues normally.
                await c.apply(cm, stamp(config_map("stays", ns, {"k": "2"}), "app"))
                await eventually(lambda: len(events) == 4, what="live event after relist")


async def test_managed_fields_are_kept_compact_by_default_whole_or_dropped_on_request(
    client: ClusterClient, namespace: str, infos: dict[str, ResourceInfo]
) -> None:
    for name in ("mf", "mf-twin"):
        await client.apply(infos["cm"], config_map(name, namespace))
    key, twin = (ObjectKey("", "ConfigMap", namespace, n) for n in ("mf", "mf-twin"))
    sent = await client.get(infos["cm"], "mf", namespace)
    server_entries = sent["metadata"]["managedFields"]
    assert all("time" in e for e in server_entries)
    async with LiveCache(client, namespace=namespace) as compact:
        await compact.track([infos["cm"]])
        kept, kept_twin = compact.get(key), compact.get(twin)
        assert kept is not None and kept_twin is not None
        entries = kept["metadata"]["managedFields"]
        assert entries == [{k: v for k, v in e.items() if k != "time"} for e in server_entries]
        # equal entries are one list shared by both objects
        assert kept_twin["metadata"]["managedFields"] is entries
        assert kept["metadata"]["namespace"] is kept_twin["metadata"]["namespace"]
    async with LiveCache(client, namespace=namespace, share=False) as whole:
        await whole.track([infos["cm"]])
        assert (whole.get(key) or {})["metadata"]["managedFields"] == server_entries
    async with LiveCache(client, namespace=namespace, keep_managed_fields=False) as lean:
        await lean.track([infos["cm"]])
        await client.apply(infos["cm"], config_map("mf", namespace, {"k": "2"}))
        await eventually(lambda: (lean.get(key) or {}).get("data") == {"k": "2"}, what="update")
        lean_obj = lean.get(key)
        assert lean_obj is not None and "managedFields" not in lean_obj["metadata"]


async def test_crd_changes_invalidate_discovery(
    client: ClusterClient, namespace: str, infos: dict[str, ResourceInfo]
) -> None:
    crd_info = await client.resource_for("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    async with LiveCache(client) as cache:
        await cache.track([crd_info])
        await client.discover()
        group = f"inv{int(time.time() * 1000) % 10**8}.example.com"
        await client.apply(
            crd_info,
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": f"gadgets.{group}"},
                "spec": {
                    "group": group,
                    "scope": "Cluster",
                    "names": {"plural": "gadgets", "kind": "Gadget"},
                    "versions": [
                        {
                            "name": "v1",
                            "served": True,
                            "storage": True,
                            "schema": {"openAPIV3Schema": {"type": "object"}},
                        }
                    ],
                },
            },
        )
        await eventually(lambda: client.discovery_stale, what="discovery invalidated")
        index = await client.discover()
        gadget = index.get(f"{group}/v1", "Gadget")
        assert gadget is not None and not gadget.namespaced


async def test_closing_the_cache_stops_every_watch_task(
    client: ClusterClient, namespace: str, infos: dict[str, ResourceInfo]
) -> None:
    cache = LiveCache(client, namespace=namespace)
    await cache.track(infos.values())
    assert len(_watch_tasks()) == 4
    await cache.close()
    assert _watch_tasks() == []


async def test_wait_synced_reports_a_type_that_cannot_be_listed(
    client: ClusterClient, namespace: str
) -> None:
    ghost = ResourceInfo("ghost.example.com", "v1", "Ghost", "ghosts", True, ("list", "watch"))
    async with LiveCache(client, namespace=namespace) as cache:
        with pytest.raises(CacheSyncError, match=r"ghosts\.ghost\.example\.com"):
            await cache.track([ghost])
        assert not cache.synced


def _watch_tasks() -> list[asyncio.Task[Any]]:
    return [
        t for t in asyncio.all_tasks() if t.get_name().startswith("tether-watch-") and not t.done()
    ]


async def test_type_subscribers_hear_every_object_of_their_type_tracked_or_not(
    client: ClusterClient, cache: LiveCache, namespace: str, infos: dict[str, ResourceInfo]
) -> None:
    await client.apply(infos["cm"], config_map("before", namespace))
    heard: list[tuple[str, str, str]] = []
    cache.subscribe_type(
        ("", "ConfigMap"),
        lambda event, obj: heard.append((event, obj["metadata"]["name"], obj["data"]["k"])),
    )
    app_events = recorder(cache)
    await cache.track([infos["cm"], infos["deploy"]])
    # the first list is read from the cache, not announced
    assert [o["metadata"]["name"] for o in cache.objects("", "ConfigMap")] == ["before"]
    await client.apply(infos["cm"], config_map("plain", namespace))
    await client.apply(infos["cm"], config_map("plain", namespace, {"k": "2"}))
    await client.delete(infos["cm"], "plain", namespace)
    await client.apply(infos["deploy"], deployment("other-type", namespace))
    expected = [("ADDED", "plain", "v"), ("MODIFIED", "plain", "2"), ("DELETED", "plain", "2")]
    await eventually(lambda: len(heard) >= 3, what="three ConfigMap events")
    assert heard == expected
    assert app_events == []  # none of them belongs to an application


def test_object_index_keeps_owner_and_app_lookups_consistent_across_updates() -> None:
    index = ObjectIndex()
    owner = stamp(deployment("web", "ns", uid="d1"), "shop")
    child = config_map("rs", "ns", ownerReferences=[{"uid": "d1", "controller": True}], uid="r1")
    index.put(ObjectKey.of(owner), owner)
    index.put(ObjectKey.of(child), child)
    assert index.app_of(child) == "shop" and index.children("d1") == [child]
    moved = stamp(deployment("web", "ns", uid="d1"), "other")
    index.put(ObjectKey.of(moved), moved)
    assert index.objects_of("shop") == [] and index.objects_of("other") == [moved]
    assert index.app_of(child) == "other"
    orphan = config_map("rs", "ns", uid="r1")
    index.put(ObjectKey.of(orphan), orphan)
    assert index.children("d1") == [] and index.dependent_uids("d1") == set()
    index.forget_type(("", "ConfigMap"))
    assert index.get_by_uid("r1") is None and len(index) == 1
