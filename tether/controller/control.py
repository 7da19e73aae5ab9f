"""The control namespace as the controller follows it, and its bootstrap.

Applications, AppProjects, the repository and cluster Secrets and the ConfigMaps of the control
namespace, each mirrored by list+watch (:class:`ObjectWatcher`), with a callback per change; and
the readings the rest of the controller takes from them (projects, credentials, clusters,
``argocd-cm`` settings).

The copies kept are lighter than the API server's (see :meth:`ControlNamespace.lighten`): no
``metadata.managedFields`` (nothing reads them: the API server's writes start from a fresh copy
without them) and short strings shared between objects.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from tether.cluster import wait_established
from tether.cluster.client import ClusterClient
from tether.cluster.errors import Forbidden, NotFound
from tether.cluster.index import SharedValues
from tether.controller import clusters, crds, models, project
from tether.controller.watcher import Callback, ObjectWatcher
from tether.engine.health import HealthCustomizations
from tether.engine.ignore import IgnoreRule, parse_system_rules
from tether.errors import TetherError
from tether.names import (
    APP_PROJECT,
    APPLICATION,
    ARGO_API_VERSION,
    DEFAULT_PROJECT,
    SECRET_TYPE_CLUSTER,
    SECRET_TYPE_LABEL,
    SECRET_TYPE_REPO_CREDS,
    SECRET_TYPE_REPOSITORY,
    SETTINGS_CONFIGMAP,
)

log = logging.getLogger(__name__)

#: how long start() waits for the first list of each kind
SYNC_TIMEOUT = 60.0


class ControlNamespace:
    """The objects of the control namespace, kept current; callbacks on every change."""

    def __init__(
        self,
        client: ClusterClient,
        namespace: str,
        *,
        on_application: Callback,
        on_project: Callback,
        on_secret: Callback,
        on_configmap: Callback,
        compact: bool = True,
    ) -> None:
        """``compact=False`` keeps every object as the API server sent it (for measurements)."""
        self.client = client
        self.namespace = namespace
        self._shared = SharedValues() if compact else None
        self._callbacks = tuple(
            self._lightening(c) for c in (on_application, on_project, on_secret, on_configmap)
        )
        self.applications: ObjectWatcher | None = None
        self.projects: ObjectWatcher | None = None
        self.secrets: ObjectWatcher | None = None
        self.configmaps: ObjectWatcher | None = None

    def lighten(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` without ``metadata.managedFields`` and with its short strings shared, in
        place (``obj`` itself is returned); unchanged when not compacting."""
        if self._shared is None:
            return obj
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            meta.pop("managedFields", None)
        self._shared.strings_in(obj)
        return obj

    def _lightening(self, callback: Callback) -> Callback:
        """``callback`` after :meth:`lighten`: the watcher stores the very object it hands to its
        callback, so every copy it keeps goes through here first."""

        def call(event_type: str, obj: dict[str, Any]) -> None:
            callback(event_type, self.lighten(obj))

        return call

    def _watchers(self) -> list[ObjectWatcher]:
        found = (self.projects, self.secrets, self.configmaps, self.applications)
        return [w for w in found if w is not None]

    async def start(self) -> None:
        """List and watch every kind; return once each has been listed."""
        on_app, on_proj, on_secret, on_cm = self._callbacks
        ns = self.namespace
        info = self.client.resource_for
        self.applications = ObjectWatcher(
            self.client, await info(ARGO_API_VERSION, APPLICATION), ns, on_app
        )
        self.projects = ObjectWatcher(
            self.client, await info(ARGO_API_VERSION, APP_PROJECT), ns, on_proj
        )
        self.secrets = ObjectWatcher(
            self.client, await info("v1", "Secret"), ns, on_secret, label_selector=SECRET_TYPE_LABEL
        )
        self.configmaps = ObjectWatcher(self.client, await info("v1", "ConfigMap"), ns, on_cm)
        for watcher in self._watchers():
            watcher.start()
        for watcher in self._watchers():
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can drop a cancellation
            async with asyncio.timeout(SYNC_TIMEOUT):
                await watcher.synced.wait()

    async def stop(self) -> None:
        for watcher in self._watchers():
            await watcher.stop()

    def ready(self) -> bool:
        watchers = (self.applications, self.projects, self.configmaps)
        return all(w is not None and w.synced.is_set() for w in watchers)

    # ---- objects -------------------------------------------------------------------------------

    @staticmethod
    def _objects(watcher: ObjectWatcher | None) -> dict[str, dict[str, Any]]:
        return watcher.objects if watcher is not None else {}

    def application_objects(self) -> dict[str, dict[str, Any]]:
        return self._objects(self.applications)

    def application(self, name: str) -> dict[str, Any] | None:
        return self.application_objects().get(name)

    def remember(self, obj: dict[str, Any]) -> None:
        """An Application we (or the API server) just wrote: keep it unless a newer copy is known.

        The kept copy is lightened; ``obj`` itself keeps its ``managedFields``."""
        if self.applications is not None:
            meta = obj.get("metadata")
            if self._shared is not None and isinstance(meta, dict) and "managedFields" in meta:
                obj = {**obj, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
            self.applications.remember(self.lighten(obj))

    def project_objects(self) -> dict[str, dict[str, Any]]:
        return self._objects(self.projects)

    def secret_objects(self) -> dict[str, dict[str, Any]]:
        return self._objects(self.secrets)

    def configmap(self, name: str) -> dict[str, Any] | None:
        return self._objects(self.configmaps).get(name)

    def project_of(self, app: models.Application) -> tuple[project.Project, dict[str, Any]]:
        """The app's AppProject, parsed and as stored; InvalidSpecError when it does not exist."""
        name = app.spec.project or DEFAULT_PROJECT
        obj = self.project_objects().get(name)
        if obj is None:
            raise models.InvalidSpecError(
                f"Application referencing project {name} which does not exist"
            )
        return project.parse_project(obj), obj

    def destination_of(
        self, obj: dict[str, Any]
    ) -> tuple[models.Application, clusters.ClusterEntry] | None:
        """The parsed Application and the cluster it deploys to; None when its spec or its
        destination is not valid (its reconcile reports why)."""
        try:
            app = models.parse_application(obj)
            entry = clusters.resolve_destination(app.spec.destination, self.cluster_secrets())
        except TetherError:
            return None
        return None if entry is None else (app, entry)

    def apps_of_project(self, name: str) -> list[str]:
        return [
            app_name
            for app_name, app in self.application_objects().items()
            if ((app.get("spec") or {}).get("project") or DEFAULT_PROJECT) == name
        ]

    def _secrets_of_type(self, *types: str) -> list[dict[str, Any]]:
        return [
            s
            for s in self.secret_objects().values()
            if (s["metadata"].get("labels") or {}).get(SECRET_TYPE_LABEL) in types
        ]

    def repository_secrets(self) -> list[dict[str, Any]]:
        return self._secrets_of_type(SECRET_TYPE_REPOSITORY, SECRET_TYPE_REPO_CREDS)

    def cluster_secrets(self) -> list[dict[str, Any]]:
        return self._secrets_of_type(SECRET_TYPE_CLUSTER)

    # ---- argocd-cm -----------------------------------------------------------------------------

    def settings(self) -> dict[str, str]:
        return dict((self.configmap(SETTINGS_CONFIGMAP) or {}).get("data") or {})

    def health_customizations(self) -> HealthCustomizations | None:
        data = self.settings()
        if not any(k.startswith("resource.customizations") for k in data):
            return None
        return HealthCustomizations.from_configmap(data)

    def system_rules(self) -> list[IgnoreRule]:
        return list(parse_system_rules(self.settings()))


# ---- bootstrap ------------------------------------------------------------------------------------


async def bootstrap(client: ClusterClient, namespace: str, field_manager: str) -> None:
    """Install the CRDs, the control namespace and the default AppProject when missing.

    A step the controller's identity may not take (a namespaced install cannot read CRDs or
    Namespaces) is left to ``tether install`` and logged, not fatal: the watches that follow
    report what is really missing.
    """
    # the namespace before the CRDs: whoever waits for the CRDs to be served (a user, a test, an
    # install script) can write Applications into it at once
    for step in (_bootstrap_namespace, _bootstrap_crds, _bootstrap_project):
        try:
            await step(client, namespace, field_manager)
        except Forbidden as exc:
            log.warning("bootstrap: %s; leaving it to tether install", exc.message)


async def _bootstrap_crds(client: ClusterClient, namespace: str, field_manager: str) -> None:
    crd_info = await client.resource_for("apiextensions.k8s.io/v1", "CustomResourceDefinition")
    manifests = crds.installed_crds()

    async def ensure(crd: dict[str, Any]) -> None:
        try:
            await client.get(crd_info, crd["metadata"]["name"])
        except NotFound:
            await client.apply(crd_info, crd, field_manager=field_manager, force=True)

    # looked up at once, not one after the other (a start waits on them)
    outcomes = await asyncio.gather(*(ensure(crd) for crd in manifests), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome  # the first failure, once every lookup has ended
    await wait_established(client, [c["metadata"]["name"] for c in manifests], 30.0)


async def _bootstrap_namespace(client: ClusterClient, namespace: str, field_manager: str) -> None:
    ns_info = await client.resource_for("v1", "Namespace")
    try:
        await client.get(ns_info, namespace)
    except NotFound:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        await client.apply(ns_info, body, field_manager=field_manager, force=True)


async def _bootstrap_project(client: ClusterClient, namespace: str, field_manager: str) -> None:
    proj_info = await client.resource_for(ARGO_API_VERSION, APP_PROJECT)
    try:
        await client.get(proj_info, DEFAULT_PROJECT, namespace)
    except NotFound:
        default = project.default_project(namespace)
        await client.apply(proj_info, default, field_manager=field_manager, force=True)
