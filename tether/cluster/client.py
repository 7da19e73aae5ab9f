"""An async Kubernetes API client over plain dicts: discovery, CRUD, apply, watch.

Requests go through an :class:`~tether.cluster.transport.ApiTransport` (connection pools, a
token bucket, retries; every request counted by verb in :attr:`ClusterClient.stats`, so callers
can assert that a cached read cost nothing) and resource types are looked up in a
:class:`~tether.cluster.discovery.Discovery` kept for the life of the client.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import httpx2
import orjson
from lightkube.config.kubeconfig import SingleConfig

from tether.cluster.config import ClientSettings, auto_config, in_cluster_config, load_kubeconfig
from tether.cluster.discovery import Discovery, DiscoveryIndex, ResourceInfo
from tether.cluster.errors import ClusterError, Expired, error_from_status
from tether.cluster.transport import ApiTransport, RequestStats

__all__ = [
    "ClusterClient",
    "ObjectList",
    "PatchType",
    "PropagationPolicy",
    "RequestStats",
    "WatchEvent",
    "api_version_kind",
    "group_of",
    "unique_infos",
]

PatchType = Literal["merge", "json", "strategic"]
PropagationPolicy = Literal["Background", "Foreground", "Orphan"]

_PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
}
_APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
#: Kubernetes' impersonation header: the request runs as this user once the server has checked
#: that the caller may ``impersonate`` it
IMPERSONATE_USER_HEADER = "Impersonate-User"


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
        self.transport = ApiTransport(config, self.settings, transport)
        #: requests sent, by verb (the transport's counters)
        self.stats = self.transport.stats
        self.limiter = self.transport.limiter
        #: send one request and decode its JSON answer (:meth:`ApiTransport.request`)
        self.request = self.transport.request
        self.discovery = Discovery(self.transport)
        #: the user every request of this client is sent as (:meth:`as_user`), or None
        self.impersonating: str | None = None

    def as_user(self, user: str) -> ClusterClient:
        """A view of this client whose requests run as ``user`` (``Impersonate-User``).

        It shares the connection pools, the rate limiter, the request counters and discovery
        (fetched with this client's own identity: discovery is a read every identity may do).
        Watches are not made through a view (a live cache watches with the controller's own
        identity); closing a view closes nothing.
        """
        view = copy.copy(self)
        view.transport = _ImpersonatingTransport(self.transport, user)
        view.request = view.transport.request
        view.impersonating = user
        return view

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
        await self.transport.aclose()

    async def __aenter__(self) -> ClusterClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- requests and discovery -----------------------------------------------------------

    async def discover(self, *, refresh: bool = False) -> DiscoveryIndex:
        """The server's resource types, fetched once and kept until refreshed or invalidated.

        Concurrent callers share one fetch; a ``refresh`` asked for while another refresh ran
        is served by that refresh.
        """
        return await self.discovery.index(refresh=refresh)

    @property
    def discovery_stale(self) -> bool:
        """True when discovery was invalidated and the next lookup will fetch it again."""
        return self.discovery.stale

    def invalidate_discovery(self) -> None:
        """Mark discovery stale (a CRD changed); the next lookup fetches it again."""
        self.discovery.invalidate()

    async def resource_for(self, api_version: str, kind: str) -> ResourceInfo:
        """The resource type serving ``apiVersion``/``kind``; rediscovers once on a miss."""
        return await self.discovery.resource_for(api_version, kind)

    async def resource_for_group_kind(self, group: str, kind: str) -> ResourceInfo:
        """The resource type for ``group``/``kind`` at the group's preferred version."""
        return await self.discovery.resource_for_group_kind(group, kind)

    async def resource_for_object(self, obj: dict[str, Any]) -> ResourceInfo:
        """The resource type of a manifest, from its ``apiVersion`` and ``kind``.

        On :class:`UnknownKind` discovery is invalidated and fetched once more: a server's
        discovery may lag behind a CRD that was just Established, and a refresh shared with a
        concurrent caller may predate it.
        """
        return await self.discovery.resource_for_object(obj)

    # ---- objects ---------------------------------------------------------------------------

    def _namespace_for(
        self, info: ResourceInfo, namespace: str | None, obj: dict[str, Any] | None = None
    ) -> str | None:
        if not info.namespaced:
            return None
        from_obj = ((obj or {}).get("metadata") or {}).get("namespace")
        return namespace or from_obj or self.namespace

    def _write_params(self, field_manager: str | None, dry_run: bool) -> dict[str, str]:
        params = {"fieldManager": field_manager or self.settings.field_manager}
        if dry_run:
            params["dryRun"] = "All"
        return params

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
        lines = self.transport.stream_lines(
            path, params, read_timeout, what=f"watch of {info.plural}"
        )
        async for line in lines:
            event = orjson.loads(line)
            kind = event.get("type", "")
            obj = event.get("object") or {}
            if kind == "ERROR":
                raise error_from_status(int(obj.get("code") or 500), obj)
            yield WatchEvent(kind, obj)

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
        params = self._write_params(field_manager, dry_run)
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
        params = self._write_params(field_manager, dry_run)
        if force:
            params["force"] = "true"
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
        params = self._write_params(field_manager, dry_run)
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
        params = self._write_params(field_manager, dry_run)
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


class _ImpersonatingTransport(ApiTransport):
    """Another transport's pools, token bucket and counters, sending every request as one user."""

    def __init__(self, base: ApiTransport, user: str) -> None:
        # no ApiTransport.__init__: a view over the base's state, not a second connection pool
        self.__dict__.update(vars(base))
        self.user = user

    async def send(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **options: Any
    ) -> httpx2.Response:
        """The base's :meth:`ApiTransport.send` with the impersonation header added."""
        headers = {**(headers or {}), IMPERSONATE_USER_HEADER: self.user}
        return await super().send(method, path, headers=headers, **options)

    async def stream_lines(
        self, path: str, params: dict[str, str], read_timeout: float | None, what: str
    ) -> AsyncIterator[str]:
        """Refused: a watch made as another user would need that user's list and watch."""
        raise ClusterError(
            f"{what} as {self.user}: watches are made with the client's own identity"
        )
        yield ""  # pragma: no cover - makes this an async generator like the base's

    async def aclose(self) -> None:
        """Nothing to close: the pools belong to the client this view was made from."""


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
