"""The clusters the controller deploys to: one client, live cache and dry-run cache each.

A cluster is opened on the first Application that names it (its cluster Secret gives the
address and credentials; the in-cluster destination reuses the controller's own client) and
stays open. Its live cache follows every kind an application of it uses, so drift and
extraneous objects are seen as watch events.

A destination may be limited to some namespaces: the controller's own cluster in namespaced mode
(``ControllerConfig.managed_namespaces``), any cluster whose Secret lists ``namespaces`` (as in
Argo CD, with ``clusterResources`` allowing cluster-scoped kinds there). Its cache then lists and
watches each namespace on its own, never cluster-wide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tether.cluster.cache import LiveCache
from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import UnknownKind
from tether.cluster.tracking import Tracking
from tether.controller import clusters
from tether.engine import diff as diffing
from tether.resources import ResourceKey

LiveListener = Callable[[str, str, Any], None]


@dataclass
class Destination:
    """A cluster the controller deploys to: its client, live cache and dry-run cache."""

    entry: clusters.ClusterEntry
    client: ClusterClient
    cache: LiveCache
    dry_runs: diffing.DryRunCache = field(default_factory=diffing.DryRunCache)

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The only namespaces written and watched here (empty: all of them)."""
        return self.cache.namespaces

    @property
    def cluster_resources(self) -> bool:
        """Whether cluster-scoped kinds are managed although ``namespaces`` is set."""
        return not self.namespaces or self.cache.cluster_resources

    @property
    def is_local(self) -> bool:
        """Whether this is the cluster the controller runs in (clients are shared then)."""
        return self.entry.server == clusters.IN_CLUSTER_SERVER

    async def follow(self, kinds: Iterable[tuple[str, str]]) -> list[str]:
        """Make the live cache follow these (apiVersion, kind); returns the unknown ones as
        ``"Kind (apiVersion)"``. Raises :class:`CacheSyncError` naming each kind that cannot be
        listed (a missing ``list``/``watch`` verb): comparing without it would take its objects
        for missing. Cluster-scoped kinds a namespaced destination does not manage are left
        out (admission refuses them)."""
        infos: list[ResourceInfo] = []
        unknown: list[str] = []
        for api_version, kind in kinds:
            try:
                info = await self.client.resource_for(api_version, kind)
            except UnknownKind:
                unknown.append(f"{kind} ({api_version})")
                continue
            if self.cache.watches(info):
                infos.append(info)
        # every call asks the cache (no request for a followed kind): a watch refused since the
        # last call must stop the comparison too
        await self.cache.track(infos)
        return unknown


def kinds_of(
    desired: list[dict[str, Any]], status_resources: list[dict[str, Any]]
) -> set[tuple[str, str]]:
    """(apiVersion, kind) of every desired object and of every resource the status lists (so
    objects that left Git are still followed, to be pruned or reported)."""
    kinds = {(str(d.get("apiVersion", "")), str(d.get("kind", ""))) for d in desired}
    for res in status_resources:
        group = str(res.get("group", ""))
        version = str(res.get("version", "v1"))
        kinds.add((f"{group}/{version}" if group else version, str(res.get("kind", ""))))
    return kinds


class Destinations:
    """Every destination cluster by server URL, opened on first use."""

    def __init__(
        self,
        client: ClusterClient,
        tracking: Tracking,
        on_live: LiveListener,
        managed_namespaces: tuple[str, ...] = (),
    ) -> None:
        """``managed_namespaces`` limits the controller's own cluster (namespaced mode)."""
        self.client = client
        self.tracking = tracking
        self.on_live = on_live
        self.managed_namespaces = managed_namespaces
        self._by_server: dict[str, Destination] = {}

    def get(self, server: str) -> Destination | None:
        return self._by_server.get(server)

    async def open(self, entry: clusters.ClusterEntry) -> Destination:
        """The destination of ``entry``, opened (client, live cache) on first use."""
        dest = self._by_server.get(entry.server)
        if dest is not None:
            return dest
        if entry.server == clusters.IN_CLUSTER_SERVER:
            client = self.client
        else:
            client = clusters.client_for(entry)
        namespaces, cluster_resources = namespace_limits(entry, self.managed_namespaces)
        cache = LiveCache(
            client,
            tracking=self.tracking,
            namespaces=namespaces,
            cluster_resources=cluster_resources,
        )
        cache.subscribe(self.on_live)
        dest = Destination(entry, client, cache)
        self._by_server[entry.server] = dest
        return dest

    async def close(self) -> None:
        for dest in self._by_server.values():
            await dest.cache.close()
            if dest.client is not self.client:
                await dest.client.aclose()
        self._by_server.clear()


def namespace_limits(
    entry: clusters.ClusterEntry, managed_namespaces: tuple[str, ...]
) -> tuple[tuple[str, ...], bool]:
    """The namespaces a destination is limited to and whether cluster-scoped kinds are managed
    there anyway: the controller's namespaced mode on its own cluster (never cluster-scoped
    kinds), else the cluster Secret's ``namespaces`` and ``clusterResources``."""
    if entry.is_in_cluster and managed_namespaces:
        return managed_namespaces, False
    return entry.namespaces, entry.cluster_resources


def live_view(
    desired: list[dict[str, Any]],
    cache_get: Callable[[ResourceKey], dict[str, Any] | None],
    tracked_objects: Iterable[dict[str, Any]],
    keep: Callable[[dict[str, Any]], bool],
) -> tuple[dict[ResourceKey, dict[str, Any]], list[ResourceKey]]:
    """The live objects a comparison sees: each desired one found in the cache, plus every object
    tracked as the app's that ``keep`` accepts (not a hook, within the project); and the keys of
    the latter."""
    live: dict[ResourceKey, dict[str, Any]] = {}
    for d in desired:
        key = ResourceKey.of(d)
        found = cache_get(key)
        if found is not None:
            live[key] = found
    tracked = []
    for obj in tracked_objects:
        if not keep(obj):
            continue
        key = ResourceKey.of(obj)
        live.setdefault(key, obj)
        tracked.append(key)
    return live, tracked
