"""The Kubernetes calls of the Sealed Secrets controller, on Tether's own cluster stack.

:class:`KubeApi` is what the controller needs; :class:`ClusterKubeApi` implements it on a
:class:`~tether.cluster.ClusterClient` (the same client, discovery, rate limits and retries as
the rest of Tether) and follows SealedSecrets and Secrets through a
:class:`~tether.cluster.LiveCache` (list once, then watch; a resumed watch lists nothing again,
an expired one relists and reports what changed meanwhile).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final, Protocol

from tether.cluster.cache import LiveCache
from tether.cluster.client import ClusterClient
from tether.cluster.config import ClientSettings
from tether.cluster.crds import CRD_API_VERSION, CRD_KIND, wait_established
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import AlreadyExists, Conflict, NotFound
from tether.names import SECRETS_FIELD_MANAGER
from tether.secrets.sealed import API_VERSION, KIND

#: the pseudo-event that tells a follower the current state has been seen in full
LISTED: Final = "LISTED"
#: field manager of the controller's writes (Secrets, SealedSecret status, Events)
FIELD_MANAGER: Final = SECRETS_FIELD_MANAGER
#: seconds the controller waits for the SealedSecret CRD it installed to be Established
DEFAULT_CRD_TIMEOUT: Final = 30.0
#: the controller's own client: each SealedSecret costs about three requests, and a client-side
#: limit of 50 a second would hold 300 new ones back for 16 s instead of 6 (the server's own
#: priority and fairness still applies)
CLIENT_SETTINGS: Final = ClientSettings(qps=0, field_manager=FIELD_MANAGER)


class KubeApi(Protocol):
    """The Kubernetes calls the controller makes; objects are plain dicts."""

    async def ensure_crd(self, crd: dict[str, Any]) -> None: ...

    async def ensure_namespace(self, name: str) -> None: ...

    async def list_secrets(self, namespace: str, label: str) -> list[dict[str, Any]]: ...

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def create_secret(self, secret: dict[str, Any]) -> dict[str, Any]: ...

    async def replace_secret(self, secret: dict[str, Any]) -> dict[str, Any]: ...

    async def delete_secret(self, namespace: str, name: str) -> None: ...

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None: ...

    async def create_event(self, event: dict[str, Any]) -> None: ...

    def watch_sealed_secrets(self) -> AsyncIterator[tuple[str, dict[str, Any]]]: ...

    def watch_owned_secrets(self) -> AsyncIterator[tuple[str, dict[str, Any]]]: ...


class ClusterKubeApi:
    """:class:`KubeApi` on a :class:`ClusterClient`, following objects through a LiveCache.

    Pass the ``cache`` of a process that already runs one to share its watches; by default
    the API has its own (without ``managedFields``, which the controller never reads). Every
    Secret of the cluster is cached, as Bitnami's controller's informer does, so an owned Secret
    deleted or edited by hand is seen.
    """

    def __init__(
        self,
        client: ClusterClient,
        *,
        cache: LiveCache | None = None,
        field_manager: str = FIELD_MANAGER,
        crd_timeout: float = DEFAULT_CRD_TIMEOUT,
    ) -> None:
        self.client = client
        self.cache = cache if cache is not None else LiveCache(client, keep_managed_fields=False)
        self.field_manager = field_manager
        self.crd_timeout = crd_timeout
        self._own_cache = cache is None
        self._own_client = False

    @classmethod
    def from_kubeconfig(
        cls, path: Path | str | None = None, settings: ClientSettings | None = None
    ) -> ClusterKubeApi:
        """An API on a kubeconfig file, or in-cluster / ``$KUBECONFIG`` when ``path`` is None.

        ``settings`` default to :data:`CLIENT_SETTINGS`: no client-side rate limit.
        """
        settings = settings or CLIENT_SETTINGS
        client = (
            ClusterClient.from_kubeconfig(str(path), settings=settings)
            if path
            else ClusterClient.from_env(settings)
        )
        api = cls(client, field_manager=settings.field_manager)
        api._own_client = True
        return api

    async def close(self) -> None:
        """Stop the watches of an own cache and close an own client."""
        if self._own_cache:
            await self.cache.close()
        if self._own_client:
            await self.client.aclose()

    async def _info(self, api_version: str, kind: str) -> ResourceInfo:
        return await self.client.resource_for_object({"apiVersion": api_version, "kind": kind})

    # ---- setup -----------------------------------------------------------------------------

    async def ensure_crd(self, crd: dict[str, Any]) -> None:
        """Create the CRD when missing, then wait until it is Established (NotEstablished)."""
        info = await self._info(CRD_API_VERSION, CRD_KIND)
        name = crd["metadata"]["name"]
        try:
            await self.client.get(info, name)
        except NotFound:
            try:
                await self.client.create(info, crd, field_manager=self.field_manager)
            except AlreadyExists:
                pass  # another replica created it meanwhile
        await wait_established(self.client, [name], self.crd_timeout)

    async def ensure_namespace(self, name: str) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        try:
            await self.client.create(
                await self._info("v1", "Namespace"), body, field_manager=self.field_manager
            )
        except Conflict:
            pass  # it exists

    # ---- Secrets ---------------------------------------------------------------------------

    async def list_secrets(self, namespace: str, label: str) -> list[dict[str, Any]]:
        """The Secrets of ``namespace`` that carry the label ``label`` (any value)."""
        info = await self._info("v1", "Secret")
        return (await self.client.list(info, namespace, label_selector=label)).items

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        # read from the server, not the cache: a replace must carry the newest resourceVersion
        try:
            return await self.client.get(await self._info("v1", "Secret"), name, namespace)
        except NotFound:
            return None

    async def create_secret(self, secret: dict[str, Any]) -> dict[str, Any]:
        info = await self._info("v1", "Secret")
        return await self.client.create(info, secret, field_manager=self.field_manager)

    async def replace_secret(self, secret: dict[str, Any]) -> dict[str, Any]:
        info = await self._info("v1", "Secret")
        return await self.client.replace(info, secret, field_manager=self.field_manager)

    async def delete_secret(self, namespace: str, name: str) -> None:
        try:
            await self.client.delete(await self._info("v1", "Secret"), name, namespace)
        except NotFound:
            pass

    # ---- SealedSecrets and Events -----------------------------------------------------------

    async def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        info = await self._info(API_VERSION, KIND)
        try:
            await self.client.patch(
                info,
                name,
                {"status": status},
                namespace,
                field_manager=self.field_manager,
                subresource="status",
            )
        except NotFound:
            pass  # deleted meanwhile: nothing to report on

    async def create_event(self, event: dict[str, Any]) -> None:
        info = await self._info("v1", "Event")
        await self.client.create(info, event, field_manager=self.field_manager)

    # ---- following -------------------------------------------------------------------------

    def watch_sealed_secrets(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        return self._follow(API_VERSION, KIND)

    def watch_owned_secrets(self) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        return self._follow("v1", "Secret")

    async def _follow(
        self, api_version: str, kind: str
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Every object of a type as ``ADDED``, then :data:`LISTED`, then each change.

        The cache's objects are handed out as they are: the follower must not mutate them.
        """
        info = await self._info(api_version, kind)
        changes: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        unsubscribe = self.cache.subscribe_type(
            info.group_kind, lambda event, obj: changes.put_nowait((event, obj))
        )
        try:
            await self.cache.track([info])
            for obj in self.cache.objects(info.group, info.kind):
                yield "ADDED", obj
            yield LISTED, {}
            while True:
                yield await changes.get()
        finally:
            unsubscribe()
