"""An async Kubernetes API client over plain dicts: discovery, CRUD, apply, watch.

Requests go through one ``httpx2`` connection pool configured by lightkube (auth, TLS), a token
bucket (client-side QPS/burst) and a retry loop (429 with Retry-After, 5xx and broken connections
on idempotent requests). Every request sent is counted by verb in :attr:`ClusterClient.stats`,
so callers can assert that a cached read cost nothing.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2
import orjson
from lightkube.config.kubeconfig import SingleConfig

from tether.cluster.config import (
    ClientSettings,
    auto_config,
    http_client,
    in_cluster_config,
    load_kubeconfig,
)
from tether.cluster.discovery import (
    AGGREGATED_ACCEPT,
    DiscoveryIndex,
    ResourceInfo,
    is_aggregated_content_type,
    legacy_group_versions,
    legacy_preferred_versions,
    parse_aggregated,
    parse_resource_list,
)
from tether.cluster.errors import (
    ClusterError,
    Expired,
    UnknownKind,
    Unreachable,
    error_from_status,
)
from tether.cluster.fasthttp import FastHTTP, FastHTTPError
from tether.cluster.ratelimit import TokenBucket

PatchType = Literal["merge", "json", "strategic"]
PropagationPolicy = Literal["Background", "Foreground", "Orphan"]

_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}
_APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
_RETRIABLE_SERVER_CODES = frozenset({500, 502, 503, 504})
# Errors raised before the request left this process: retrying them cannot apply a write twice.
_NOT_SENT_ERRORS = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)


@dataclass
class RequestStats:
    """Requests sent (each attempt counts), by verb, and the retries among them."""

    by_verb: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    retry_wait_seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.by_verb.values())

    def reset(self) -> None:
        """Start counting from zero (tests and benchmarks measure one step at a time)."""
        self.by_verb.clear()
        self.retries = 0
        self.retry_wait_seconds = 0.0


@dataclass
class ObjectList:
    """The items of a (possibly paginated) list and the resourceVersion to watch from."""

    items: list[dict[str, Any]]
    resource_version: str


@dataclass(frozen=True, slots=True)
class WatchEvent:
    """One watch event: ``ADDED``, ``MODIFIED``, ``DELETED`` or ``BOOKMARK``, and its object."""

    type: str
    object: dict[str, Any]


class ClusterClient:
    """Talks to one Kubernetes API server; objects in and out are plain dicts.

    Create it with :meth:`from_kubeconfig`, :meth:`in_cluster` or :meth:`from_env`, use it as an
    async context manager (or call :meth:`aclose`).
    """

    def __init__(
        self,
        config: SingleConfig,
        settings: ClientSettings | None = None,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.settings = settings or ClientSettings()
        self.stats = RequestStats()
        self.limiter = TokenBucket(self.settings.qps, self.settings.burst)
        self._http = http_client(config, self.settings, transport)
        # static credentials and no test transport: small calls take the lean HTTP/1.1 path
        self._fast: FastHTTP | None = None
        if transport is None and self.settings.fast_http:
            try:
                self._fast = FastHTTP.for_config(
                    config, self.settings.user_agent, self.settings.timeout
                )
            except (OSError, ValueError, ssl.SSLError):
                self._fast = None  # httpx reports the configuration problem on first use
        self._discovery: DiscoveryIndex | None = None
        self._discovery_stale = False
        self._discovery_generation = 0
        self._discovery_lock = asyncio.Lock()

    @classmethod
    def from_kubeconfig(
        cls,
        path: str | None = None,
        context: str | None = None,
        settings: ClientSettings | None = None,
    ) -> ClusterClient:
        """A client for one context of a kubeconfig file (default: ``$KUBECONFIG``, current)."""
        return cls(load_kubeconfig(path, context), settings)

    @classmethod
    def in_cluster(cls, settings: ClientSettings | None = None) -> ClusterClient:
        """A client for the cluster this pod runs in, with its service account."""
        return cls(in_cluster_config(), settings)

    @classmethod
    def from_env(cls, settings: ClientSettings | None = None) -> ClusterClient:
        """In-cluster when in a pod, else the kubeconfig, as kubectl decides."""
        return cls(auto_config(), settings)

    @property
    def server(self) -> str:
        return str(self.config.cluster.server)

    @property
    def namespace(self) -> str:
        """The context's default namespace (``default`` when the context names none)."""
        return self.config.namespace or "default"

    async def aclose(self) -> None:
        """Close the connection pools."""
        await self._http.aclose()
        if self._fast is not None:
            await self._fast.aclose()

    async def __aenter__(self) -> ClusterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- transport -------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2**attempt)
        # Full jitter keeps many clients from retrying in lock-step.
        return random.uniform(ceiling / 2, ceiling)

    def _retry_after(self, response: httpx2.Response) -> float | None:
        value = response.headers.get("retry-after")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            return None  # an HTTP-date: fall back to our own backoff
        return max(0.0, min(seconds, self.settings.max_retry_after))

    async def _send(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        idempotent: bool,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx2.Response:
        attempt = 0
        while True:
            await self.limiter.acquire()
            self.stats.by_verb[verb] += 1
            try:
                if self._fast is not None:
                    response = await self._fast.request(
                        method, path, params=params, content=content, headers=headers
                    )
                else:
                    response = await self._http.request(
                        method, path, params=params, content=content, headers=headers
                    )
            except FastHTTPError as exc:
                if (idempotent or not exc.sent) and attempt < self.settings.max_retries:
                    await self._wait_retry(self._backoff(attempt))
                    attempt += 1
                    continue
                raise Unreachable(f"cannot reach the API server {self.server}: {exc}") from exc
            except httpx2.TransportError as exc:
                retriable = idempotent or isinstance(exc, _NOT_SENT_ERRORS)
                if retriable and attempt < self.settings.max_retries:
                    await self._wait_retry(self._backoff(attempt))
                    attempt += 1
                    continue
                raise Unreachable(
                    f"cannot reach the API server {self.server}: {type(exc).__name__}: {exc}"
                ) from exc
            code = response.status_code
            if attempt < self.settings.max_retries and (
                code == 429 or (idempotent and code in _RETRIABLE_SERVER_CODES)
            ):
                # A 429 was refused before any processing, so even a create may be retried.
                delay = self._retry_after(response)
                await self._wait_retry(delay if delay is not None else self._backoff(attempt))
                attempt += 1
                continue
            return response

    async def _wait_retry(self, delay: float) -> None:
        self.stats.retries += 1
        self.stats.retry_wait_seconds += delay
        await asyncio.sleep(delay)

    @staticmethod
    def _error(response: httpx2.Response) -> ClusterError:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        return error_from_status(response.status_code, body, response.text[:500])

    async def request(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON answer; raise a ``ClusterError`` on failure.

        ``verb`` names the request in :attr:`stats`; ``idempotent`` (default: GET and DELETE)
        decides whether 5xx and broken connections are retried.
        """
        if idempotent is None:
            idempotent = method in ("GET", "DELETE")
        headers = {"Accept": "application/json"}
        content = None
        if body is not None:
            content = body if isinstance(body, bytes) else orjson.dumps(body)
            headers["Content-Type"] = content_type
        response = await self._send(
            method,
            path,
            verb=verb,
            idempotent=idempotent,
            params=params,
            content=content,
            headers=headers,
        )
        if response.status_code >= 400:
            raise self._error(response)
        if not response.content:
            return None
        return orjson.loads(response.content)

    # ---- discovery -------------------------------------------------------------------------

    async def discover(self, *, refresh: bool = False) -> DiscoveryIndex:
        """The server's resource types, fetched once and kept until refreshed or invalidated.

        Concurrent callers share one fetch; a ``refresh`` asked for while another refresh ran
        is served by that refresh.
        """
        generation = self._discovery_generation
        async with self._discovery_lock:
            current = self._discovery
            fresh = current is not None and not self._discovery_stale
            if fresh and (not refresh or self._discovery_generation != generation):
                assert current is not None
                return current
            index = await self._fetch_discovery()
            self._discovery = index
            self._discovery_stale = False
            self._discovery_generation += 1
            return index

    @property
    def discovery_stale(self) -> bool:
        """True when discovery was invalidated and the next lookup will fetch it again."""
        return self._discovery_stale

    def invalidate_discovery(self) -> None:
        """Mark discovery stale (a CRD changed); the next lookup fetches it again."""
        self._discovery_stale = True

    async def _fetch_discovery(self) -> DiscoveryIndex:
        index = DiscoveryIndex()
        headers = {"Accept": AGGREGATED_ACCEPT}
        api_resp, apis_resp = await asyncio.gather(
            self._send("GET", "/api", verb="discovery", idempotent=True, headers=headers),
            self._send("GET", "/apis", verb="discovery", idempotent=True, headers=headers),
        )
        legacy_api: dict[str, Any] | None = None
        legacy_apis: dict[str, Any] = {}
        for response, root in ((api_resp, "/api"), (apis_resp, "/apis")):
            if response.status_code == 404 and root == "/api":
                continue  # client-go tolerates a server without the core group
            if response.status_code >= 400:
                raise self._error(response)
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
            result = await self.request("GET", path, verb="discovery")
        except ClusterError as exc:
            # An aggregated API server that is down (503) or a group removed meanwhile (404)
            # must not hide every other group, as kubectl's partial discovery does.
            if exc.code in (404, 503):
                return None
            raise
        return result if isinstance(result, dict) else None

    async def resource_for(self, api_version: str, kind: str) -> ResourceInfo:
        """The resource type serving ``apiVersion``/``kind``; rediscovers once on a miss."""
        index = await self.discover()
        info = index.get(api_version, kind)
        if info is None:
            index = await self.discover(refresh=True)
            info = index.get(api_version, kind)
        if info is None:
            raise UnknownKind(f'no matches for kind "{kind}" in version "{api_version}"', code=404)
        return info

    async def resource_for_group_kind(self, group: str, kind: str) -> ResourceInfo:
        """The resource type for ``group``/``kind`` at the group's preferred version."""
        index = await self.discover()
        info = index.preferred(group, kind)
        if info is None:
            index = await self.discover(refresh=True)
            info = index.preferred(group, kind)
        if info is None:
            raise UnknownKind(f'no matches for kind "{kind}" in group "{group}"', code=404)
        return info

    async def resource_for_object(self, obj: dict[str, Any]) -> ResourceInfo:
        """The resource type of a manifest, from its ``apiVersion`` and ``kind``.

        On :class:`UnknownKind` discovery is invalidated and fetched once more: a server's
        discovery may lag behind a CRD that was just Established, and a refresh shared with a
        concurrent caller may predate it.
        """
        api_version, kind = api_version_kind(obj)
        try:
            return await self.resource_for(api_version, kind)
        except UnknownKind:
            self.invalidate_discovery()
            info = (await self.discover()).get(api_version, kind)
            if info is None:
                raise
            return info

    # ---- objects ---------------------------------------------------------------------------

    def _namespace_for(
        self, info: ResourceInfo, namespace: str | None, obj: dict[str, Any] | None = None
    ) -> str | None:
        if not info.namespaced:
            return None
        from_obj = ((obj or {}).get("metadata") or {}).get("namespace")
        return namespace or from_obj or self.namespace

    @staticmethod
    def _name_of(obj: dict[str, Any]) -> str:
        name = (obj.get("metadata") or {}).get("name")
        if not name:
            raise ClusterError("the object has no metadata.name", code=400, reason="BadRequest")
        return str(name)

    async def get(
        self, info: ResourceInfo, name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        """One object; raises :class:`NotFound` when it does not exist."""
        ns = self._namespace_for(info, namespace)
        result: dict[str, Any] = await self.request("GET", info.path(ns, name), verb="get")
        return result

    async def list(
        self,
        info: ResourceInfo,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int | None = None,
    ) -> ObjectList:
        """Every object of a type (in ``namespace``, or all namespaces), following pagination.

        Items get ``apiVersion``/``kind`` filled in (built-in list items lack them). If a
        continue token expires midway, the list restarts, as client-go's pager does.
        """
        params: dict[str, str] = {"limit": str(page_size or self.settings.list_page_size)}
        if label_selector:
            params["labelSelector"] = label_selector
        if field_selector:
            params["fieldSelector"] = field_selector
        path = info.path(namespace if info.namespaced else None)
        restarts = 0
        while True:
            items: list[dict[str, Any]] = []
            token = ""
            try:
                while True:
                    page_params = dict(params, **({"continue": token} if token else {}))
                    page = await self.request("GET", path, verb="list", params=page_params)
                    for item in page.get("items") or ():
                        item.setdefault("apiVersion", info.api_version)
                        item.setdefault("kind", info.kind)
                        items.append(item)
                    meta = page.get("metadata") or {}
                    token = meta.get("continue") or ""
                    if not token:
                        return ObjectList(items, str(meta.get("resourceVersion") or ""))
            except Expired:
                restarts += 1
                if restarts > 3:
                    raise

    async def watch(
        self,
        info: ResourceInfo,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
        bookmarks: bool = True,
        label_selector: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Changes of a type after ``resource_version``, until the server ends the stream.

        An in-stream ``ERROR`` event becomes an exception (:class:`Expired` for 410, so the
        caller relists); a broken connection becomes :class:`Unreachable`.
        """
        params: dict[str, str] = {"watch": "true"}
        if bookmarks:
            params["allowWatchBookmarks"] = "true"
        if resource_version:
            params["resourceVersion"] = resource_version
        if timeout_seconds is not None:
            params["timeoutSeconds"] = str(timeout_seconds)
        if label_selector:
            params["labelSelector"] = label_selector
        path = info.path(namespace if info.namespaced else None)
        # The read timeout must outlast the server's quiet periods; without timeoutSeconds the
        # server may hold the stream for an hour, so only connect/write are bounded then.
        read_timeout = None if timeout_seconds is None else timeout_seconds + 30.0
        timeout = httpx2.Timeout(self.settings.timeout, read=read_timeout)
        await self.limiter.acquire()
        self.stats.by_verb["watch"] += 1
        try:
            async with self._http.stream(
                "GET", path, params=params, timeout=timeout, headers={"Accept": "application/json"}
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._error(response)
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    event = orjson.loads(line)
                    kind = event.get("type", "")
                    obj = event.get("object") or {}
                    if kind == "ERROR":
                        raise error_from_status(int(obj.get("code") or 500), obj)
                    yield WatchEvent(kind, obj)
        except httpx2.TransportError as exc:
            raise Unreachable(
                f"watch of {info.plural} on {self.server} broke: {type(exc).__name__}: {exc}"
            ) from exc

    async def create(
        self,
        info: ResourceInfo,
        obj: dict[str, Any],
        namespace: str | None = None,
        *,
        dry_run: bool = False,
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """Create an object (POST); raises :class:`AlreadyExists` when the name is taken."""
        params = {"fieldManager": field_manager or self.settings.field_manager}
        if dry_run:
            params["dryRun"] = "All"
        ns = self._namespace_for(info, namespace, obj)
        result: dict[str, Any] = await self.request(
            "POST", info.path(ns), verb="create", params=params, body=obj
        )
        return result

    async def apply(
        self,
        info: ResourceInfo,
        obj: dict[str, Any],
        namespace: str | None = None,
        *,
        field_manager: str | None = None,
        force: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Server-side apply ``obj`` and return the object the server stored (or would store)."""
        params = {"fieldManager": field_manager or self.settings.field_manager}
        if force:
            params["force"] = "true"
        if dry_run:
            params["dryRun"] = "All"
        ns = self._namespace_for(info, namespace, obj)
        result: dict[str, Any] = await self.request(
            "PATCH",
            info.path(ns, self._name_of(obj)),
            verb="apply",
            params=params,
            body=obj,
            content_type=_APPLY_CONTENT_TYPE,
            idempotent=True,  # applying the same intent twice gives the same object
        )
        return result

    async def replace(
        self,
        info: ResourceInfo,
        obj: dict[str, Any],
        namespace: str | None = None,
        *,
        field_manager: str | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Replace a whole object (PUT) and return what the server stored (or would store).

        ``metadata.resourceVersion`` of ``obj`` makes the write conditional: the server answers
        :class:`Conflict` when the object changed since that version. Not retried after it was
        sent (a lost answer to a write that landed would come back as a Conflict).
        """
        params = {"fieldManager": field_manager or self.settings.field_manager}
        if dry_run:
            params["dryRun"] = "All"
        ns = self._namespace_for(info, namespace, obj)
        result: dict[str, Any] = await self.request(
            "PUT", info.path(ns, self._name_of(obj)), verb="update", params=params, body=obj
        )
        return result

    async def patch(
        self,
        info: ResourceInfo,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: PatchType = "merge",
        dry_run: bool = False,
        field_manager: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """Patch an object with a merge, JSON (RFC 6902) or strategic merge patch."""
        params = {"fieldManager": field_manager or self.settings.field_manager}
        if dry_run:
            params["dryRun"] = "All"
        path = info.path(self._namespace_for(info, namespace), name)
        if subresource:
            path += f"/{subresource}"
        result: dict[str, Any] = await self.request(
            "PATCH",
            path,
            verb="patch",
            params=params,
            body=patch,
            content_type=_PATCH_CONTENT_TYPES[patch_type],
            idempotent=patch_type == "merge",
        )
        return result

    async def delete(
        self,
        info: ResourceInfo,
        name: str,
        namespace: str | None = None,
        *,
        propagation_policy: PropagationPolicy | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Delete an object; returns the server's answer (the object, or a Success Status)."""
        options: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        params = {"dryRun": "All"} if dry_run else None
        result: dict[str, Any] = await self.request(
            "DELETE",
            info.path(self._namespace_for(info, namespace), name),
            verb="delete",
            params=params,
            body=options,
        )
        return result


def api_version_kind(obj: dict[str, Any]) -> tuple[str, str]:
    """``(apiVersion, kind)`` of a manifest."""
    return str(obj.get("apiVersion", "")), str(obj.get("kind", ""))


def group_of(api_version: str) -> str:
    """The API group of an apiVersion (``""`` for ``v1``)."""
    return api_version.rpartition("/")[0]


def unique_infos(infos: Iterable[ResourceInfo]) -> list[ResourceInfo]:
    """One ResourceInfo per (group, kind), keeping the first seen."""
    seen: dict[tuple[str, str], ResourceInfo] = {}
    for info in infos:
        seen.setdefault(info.group_kind, info)
    return list(seen.values())
