"""API discovery: which resource types a server has, their plural, scope, verbs and versions.

lightkube has no discovery, so this module turns the server's discovery documents into
:class:`ResourceInfo` records. Aggregated discovery (``apidiscovery.k8s.io/v2``, two requests for
the whole server) is used when the server answers it; otherwise the legacy walk of ``/api``,
``/apis`` and one request per group-version. The parsing functions take documents and test
without a server; :class:`Discovery` fetches them and keeps the index.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from tether.cluster.errors import ClusterError, UnknownKind
from tether.cluster.transport import ApiTransport

AGGREGATED_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


@dataclass(frozen=True, slots=True)
class ResourceInfo:
    """One served resource type (a group, version and kind) and how to address it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    short_names: tuple[str, ...] = field(default=(), compare=False)

    @property
    def api_version(self) -> str:
        """``v1`` for the core group, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_kind(self) -> tuple[str, str]:
        return (self.group, self.kind)

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The collection path (or the item path when ``name`` is given)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base

    def supports(self, verb: str) -> bool:
        return verb in self.verbs


@dataclass
class DiscoveryIndex:
    """Every served (apiVersion, kind) and each group's preferred version."""

    resources: dict[tuple[str, str], ResourceInfo] = field(default_factory=dict)
    preferred_versions: dict[str, str] = field(default_factory=dict)
    aggregated: bool = False

    def add(self, info: ResourceInfo) -> None:
        self.resources.setdefault((info.api_version, info.kind), info)

    def get(self, api_version: str, kind: str) -> ResourceInfo | None:
        return self.resources.get((api_version, kind))

    def preferred(self, group: str, kind: str) -> ResourceInfo | None:
        """The resource for ``group``/``kind`` at the group's preferred version (or any served)."""
        version = self.preferred_versions.get(group)
        if version is not None:
            api_version = f"{group}/{version}" if group else version
            found = self.resources.get((api_version, kind))
            if found is not None:
                return found
        for info in self.resources.values():
            if info.group == group and info.kind == kind:
                return info
        return None

    def by_plural(self, group: str, plural: str) -> ResourceInfo | None:
        """The preferred-version resource named ``plural`` in ``group`` (``deployments``)."""
        for info in self.resources.values():
            if info.group == group and info.plural == plural:
                return self.preferred(group, info.kind) or info
        return None

    def __iter__(self) -> Iterator[ResourceInfo]:
        return iter(self.resources.values())

    def __len__(self) -> int:
        return len(self.resources)


def parse_aggregated(document: dict[str, Any], index: DiscoveryIndex) -> None:
    """Add the resources of an ``APIGroupDiscoveryList`` (from ``/api`` or ``/apis``)."""
    index.aggregated = True
    for group_doc in document.get("items") or []:
        group = (group_doc.get("metadata") or {}).get("name") or ""
        versions = group_doc.get("versions") or []
        if versions:
            # The first listed version is the preferred one.
            index.preferred_versions.setdefault(group, versions[0].get("version", ""))
        for version_doc in versions:
            version = version_doc.get("version", "")
            for res in version_doc.get("resources") or []:
                kind = (res.get("responseKind") or {}).get("kind") or ""
                if not kind:
                    continue
                index.add(
                    ResourceInfo(
                        group=group,
                        version=version,
                        kind=kind,
                        plural=res.get("resource", ""),
                        namespaced=res.get("scope") == "Namespaced",
                        verbs=tuple(res.get("verbs") or ()),
                        subresources=tuple(
                            s.get("subresource", "") for s in res.get("subresources") or ()
                        ),
                        short_names=tuple(res.get("shortNames") or ()),
                    )
                )


def legacy_group_versions(api: dict[str, Any] | None, apis: dict[str, Any]) -> list[str]:
    """Group-versions to fetch from ``/api`` (``APIVersions``) and ``/apis`` (``APIGroupList``)."""
    out = [f"{v}" for v in (api or {}).get("versions") or []]
    for group in apis.get("groups") or []:
        for version in group.get("versions") or []:
            out.append(version.get("groupVersion", ""))
    return [gv for gv in out if gv]


def legacy_preferred_versions(api: dict[str, Any] | None, apis: dict[str, Any]) -> dict[str, str]:
    """Preferred version per group from the legacy documents (core: the first of ``/api``)."""
    out: dict[str, str] = {}
    core = (api or {}).get("versions") or []
    if core:
        out[""] = core[0]
    for group in apis.get("groups") or []:
        preferred = (group.get("preferredVersion") or {}).get("version")
        versions = group.get("versions") or []
        if preferred is None and versions:
            preferred = versions[0].get("version")
        if preferred:
            out[group.get("name", "")] = preferred
    return out


def parse_resource_list(
    group_version: str, document: dict[str, Any], index: DiscoveryIndex
) -> None:
    """Add the resources of one legacy ``APIResourceList`` (``/apis/apps/v1``)."""
    group, _, version = group_version.rpartition("/")
    subresources: dict[str, list[str]] = {}
    mains: list[dict[str, Any]] = []
    for res in document.get("resources") or []:
        name = res.get("name", "")
        if "/" in name:
            parent, _, sub = name.partition("/")
            subresources.setdefault(parent, []).append(sub)
        else:
            mains.append(res)
    for res in mains:
        index.add(
            ResourceInfo(
                group=group,
                version=version,
                kind=res.get("kind", ""),
                plural=res["name"],
                namespaced=bool(res.get("namespaced")),
                verbs=tuple(res.get("verbs") or ()),
                subresources=tuple(subresources.get(res["name"], ())),
                short_names=tuple(res.get("shortNames") or ()),
            )
        )


def is_aggregated_content_type(content_type: str) -> bool:
    """True when a discovery response is an ``APIGroupDiscoveryList`` (decided by its parameters)."""
    params = {
        key.strip(): value.strip()
        for key, _, value in (part.partition("=") for part in content_type.split(";")[1:])
    }
    return params.get("g") == "apidiscovery.k8s.io" and params.get("as") == "APIGroupDiscoveryList"


#: seconds between two discovery fetches caused by lookups that found nothing
MISS_REFRESH_INTERVAL = 1.0


class Discovery:
    """The server's resource types, fetched through an :class:`ApiTransport` and kept until
    refreshed or invalidated (a CRD changed)."""

    def __init__(self, transport: ApiTransport) -> None:
        self._transport = transport
        self._index: DiscoveryIndex | None = None
        self._stale = False
        self._generation = 0
        #: seconds between two fetches caused by lookups that found nothing (0: every miss)
        self.miss_refresh_interval = MISS_REFRESH_INTERVAL
        self._fetched_at = -MISS_REFRESH_INTERVAL
        self._lock = asyncio.Lock()

    async def index(self, *, refresh: bool = False) -> DiscoveryIndex:
        """The server's resource types, fetched once and kept until refreshed or invalidated.

        Concurrent callers share one fetch; a ``refresh`` asked for while another refresh ran
        is served by that refresh.
        """
        generation = self._generation
        async with self._lock:
            current = self._index
            fresh = current is not None and not self._stale
            if fresh and (not refresh or self._generation != generation):
                assert current is not None
                return current
            index = await self._fetch_discovery()
            self._fetched_at = time.monotonic()
            self._index = index
            self._stale = False
            self._generation += 1
            return index

    @property
    def stale(self) -> bool:
        """True when discovery was invalidated and the next lookup will fetch it again."""
        return self._stale

    def invalidate(self) -> None:
        """Mark discovery stale (a CRD changed); the next lookup fetches it again."""
        self._stale = True

    async def _fetch_discovery(self) -> DiscoveryIndex:
        index = DiscoveryIndex()
        headers = {"Accept": AGGREGATED_ACCEPT}
        api_resp, apis_resp = await asyncio.gather(
            self._transport.send("GET", "/api", verb="discovery", idempotent=True, headers=headers),
            self._transport.send(
                "GET", "/apis", verb="discovery", idempotent=True, headers=headers
            ),
        )
        legacy_api: dict[str, Any] | None = None
        legacy_apis: dict[str, Any] = {}
        for response, root in ((api_resp, "/api"), (apis_resp, "/apis")):
            if response.status_code == 404 and root == "/api":
                continue  # client-go tolerates a server without the core group
            if response.status_code >= 400:
                raise self._transport.error(response)
            document = orjson.loads(response.content)
            if is_aggregated_content_type(response.headers.get("content-type", "")):
                parse_aggregated(document, index)
            elif root == "/api":
                legacy_api = document
            else:
                legacy_apis = document
        if legacy_api is None and not legacy_apis:
            return index
        index.aggregated = False
        for group, version in legacy_preferred_versions(legacy_api, legacy_apis).items():
            index.preferred_versions.setdefault(group, version)
        group_versions = legacy_group_versions(legacy_api, legacy_apis)
        # A type already known from an aggregated answer keeps that entry (index.add).
        documents = await asyncio.gather(*(self._fetch_group_version(gv) for gv in group_versions))
        for gv, document in zip(group_versions, documents, strict=True):
            if document is not None:
                parse_resource_list(gv, document, index)
        return index

    async def _fetch_group_version(self, group_version: str) -> dict[str, Any] | None:
        path = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
        try:
            result = await self._transport.request("GET", path, verb="discovery")
        except ClusterError as exc:
            # An aggregated API server that is down (503) or a group removed meanwhile (404)
            # must not hide every other group, as kubectl's partial discovery does.
            if exc.code in (404, 503):
                return None
            raise
        return result if isinstance(result, dict) else None

    async def resource_for(self, api_version: str, kind: str) -> ResourceInfo:
        """The resource type serving ``apiVersion``/``kind``; rediscovers once on a miss."""
        return await self._find(
            lambda index: index.get(api_version, kind),
            f'no matches for kind "{kind}" in version "{api_version}"',
        )

    async def resource_for_group_kind(self, group: str, kind: str) -> ResourceInfo:
        """The resource type for ``group``/``kind`` at the group's preferred version."""
        return await self._find(
            lambda index: index.preferred(group, kind),
            f'no matches for kind "{kind}" in group "{group}"',
        )

    async def _find(
        self, lookup: Callable[[DiscoveryIndex], ResourceInfo | None], missing: str
    ) -> ResourceInfo:
        info = lookup(await self.index())
        # a miss refetches discovery, at most once per interval: a revision naming a thousand
        # unknown kinds must not cost a thousand discovery fetches (invalidate() still forces one)
        if info is None and time.monotonic() - self._fetched_at >= self.miss_refresh_interval:
            info = lookup(await self.index(refresh=True))
        if info is None:
            raise UnknownKind(missing, code=404)
        return info

    async def resource_for_object(self, obj: dict[str, Any]) -> ResourceInfo:
        """The resource type of a manifest, from its ``apiVersion`` and ``kind``.

        On :class:`UnknownKind` discovery is invalidated and fetched once more: a server's
        discovery may lag behind a CRD that was just Established, and a refresh shared with a
        concurrent caller may predate it.
        """
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        try:
            return await self.resource_for(api_version, kind)
        except UnknownKind:
            self.invalidate()
            info = (await self.index()).get(api_version, kind)
            if info is None:
                raise
            return info
