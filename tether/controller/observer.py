"""The controller's read-only side, for API servers that run apart from it (``tether server``).

:class:`ClusterObserver` is the :class:`~tether.controller.face.ObservingFace` of a server
replica. It follows the control namespace by list+watch (read only: it never bootstraps) and
holds no comparison of its own: :class:`~tether.controller.ondemand.OnDemandComparisons` renders an app's compared commit
with the controller's own parts (desired state, destinations, admission, comparison) when the
diff or the manifests are asked for, never writing, and keeps the answer while the app, its
project, the settings and the live objects it looked at stay the same (and at most a TTL).

Actions reach the controller through the cluster, as Argo CD's API server does: a refresh is the
``argocd.argoproj.io/refresh`` annotation (written by the API), a sync the ``operation`` field,
a terminate ``status.operationState.phase: Terminating``, a webhook the hard refresh annotation
on each app the push concerns, paced by :class:`RefreshPacer`.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import CacheSyncError, Conflict, NotFound, UnknownKind
from tether.controller.config import ControllerConfig
from tether.controller.control import ControlNamespace
from tether.controller.desired import DesiredState
from tether.controller.destinations import kinds_of
from tether.controller.face import (
    ClusterView,
    ControllerMetrics,
    ControlNamespaceReadings,
    FluxDiffError,
    Listeners,
    Observation,
    RepositoryCounters,
)
from tether.controller.imagerequests import REPOSITORY, repositories_of_event, request_reconcile
from tether.controller.ondemand import (
    ObservationError,
    ObserverSettings,
    OnDemandComparisons,
    resource_version,
)
from tether.controller.previews import Previews, PreviewSettings, PullPreview
from tether.controller.pushes import RefreshPacer, push_concerns
from tether.controller.repoconfig import RepoConfig
from tether.controller.status import TERMINATING, read_status
from tether.engine.diff import AppDiff
from tether.images.events import RegistryEvent
from tether.names import (
    APPLICATION,
    ARGO_API_VERSION,
    REFRESH_ANNOTATION,
    SERVER_FIELD_MANAGER,
)
from tether.source.credentials import RepoCredentials, select_credentials
from tether.source.pullrequests import PullRequestEvent
from tether.source.webhooks import WebhookEvent

log = logging.getLogger(__name__)

#: tries of the terminate write when the controller's own status writes race it
TERMINATE_ATTEMPTS = 3


# ---- the face -------------------------------------------------------------------------------


class ClusterObserver(ControlNamespaceReadings):
    """The face of a server replica: the control namespace from the cluster, comparisons on
    demand, actions written to the cluster for the controller (see the module's docstring)."""

    def __init__(
        self,
        client: ClusterClient,
        config: ControllerConfig,
        settings: ObserverSettings | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.settings = settings or ObserverSettings()
        cache_dir = config.cache_dir or Path(tempfile.mkdtemp(prefix="tether-server-cache-"))
        self.control = ControlNamespace(
            client,
            config.namespace,
            on_application=self._on_application,
            on_project=lambda *_: None,
            on_secret=lambda *_: None,
            on_configmap=self._on_configmap,
        )
        self.repo_config = RepoConfig(cache_dir / "trust", config.namespace)
        self.sources = DesiredState(
            client,
            config.namespace,
            cache_dir,
            self._credentials_for,
            tracking=config.tracking,
            allow_local_repositories=config.allow_local_repositories,
            trust=self.repo_config.trust,
        )
        self.comparisons = OnDemandComparisons(
            client, config, self.control, self.settings, sources=self.sources
        )
        self.previews = Previews(
            self.control.application_objects,
            self.comparisons,
            self.sources.mirrors,
            self._credentials_for,
        )
        # followed, not generated: a server replica shows and previews sets (the controller
        # generates them)
        # the controller imports this module for request_termination: the sets' modules load
        # only in a server replica
        from tether.controller.appsets import ApplicationSets

        self.appsets = ApplicationSets(
            client,
            config.namespace,
            applications=self.control.application_objects,
            secrets=self.control.secret_objects,
            mirrors=self.sources.mirrors,
            credentials_for=self._credentials_for,
        )
        from tether.controller.flux.receivers import ReceiverListing

        self._receivers = ReceiverListing(client)
        self.pacer = RefreshPacer(self._request_hard_refresh, self.settings.webhook_refresh_rate)
        self.listeners = Listeners()

    @property
    def namespace(self) -> str:
        return self.config.namespace

    async def start(self) -> None:
        """List and watch the control namespace (nothing is bootstrapped or written); an
        ObservationError saying what to do when it cannot be."""
        where = f"namespace {self.namespace}"
        try:
            async with asyncio.timeout(self.settings.start_timeout):
                await self.control.start()
        except UnknownKind as exc:
            raise ObservationError(
                f"{exc.message}: Argo CD's resources are not installed in this cluster; install "
                "Tether first (tether install), or start tether controller once"
            ) from None
        except TimeoutError:
            raise ObservationError(
                f"the Applications, AppProjects, Secrets and ConfigMaps of {where} could not be "
                f"listed within {self.settings.start_timeout:g}s: may this identity list and "
                "watch them? (the log names the refusal)"
            ) from None
        await self.appsets.follow()  # optional: without the CRD, no sets are shown

    async def stop(self) -> None:
        await self.pacer.stop()
        await self.appsets.stop()
        await self.previews.close()
        await self.control.stop()
        await self.comparisons.close()
        await self.sources.aclose()

    # ---- the control namespace (read through ControlNamespaceReadings) ------------------------

    def _on_application(self, event_type: str, obj: dict[str, Any]) -> None:
        if event_type == "DELETED":
            self.comparisons.forget(obj["metadata"]["name"])
        self.listeners.notify("application", event_type, obj)

    def _on_configmap(self, event_type: str, obj: dict[str, Any]) -> None:
        if self.repo_config.follows(obj["metadata"]["name"]):
            self.repo_config.on_configmap(event_type, obj)

    def _credentials_for(self, url: str) -> RepoCredentials | None:
        return select_credentials(url, self.control.repository_secrets())

    # ---- one application ----------------------------------------------------------------------

    def comparison(self, name: str) -> AppDiff | None:
        kept = self.comparisons.kept(name)
        return kept.diff if kept is not None else None

    def desired(self, name: str) -> list[dict[str, Any]]:
        kept = self.comparisons.kept(name)
        return list(kept.desired) if kept is not None else []

    async def observe(self, name: str) -> Observation | None:
        obj = self.control.application(name)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return None
        try:
            return await self.comparisons.observe(obj)
        except ObservationError as exc:
            log.info("%s not compared on demand: %s", name, exc.message)
            return None

    def cluster_of(self, name: str) -> ClusterView | None:
        obj = self.control.application(name)
        found = self.control.destination_of(obj) if obj is not None else None
        dest = self.comparisons.destinations.get(found[1].server) if found else None
        return None if dest is None else ClusterView(dest.entry.server, dest.client, dest.cache)

    async def open_cluster(self, name: str) -> ClusterView | None:
        obj = self.control.application(name)
        found = self.control.destination_of(obj) if obj is not None else None
        if obj is None or found is None:
            return None
        dest = await self.comparisons.destinations.open(found[1])
        resources = list((obj.get("status") or {}).get("resources") or [])
        try:
            await dest.follow(kinds_of([], resources))
        except CacheSyncError as exc:
            log.warning("objects of %s not followed: %s", name, exc.message)
        return ClusterView(dest.entry.server, dest.client, dest.cache)

    # ---- actions, through the cluster ---------------------------------------------------------

    async def refresh(self, name: str, hard: bool = False) -> None:
        """The API writes the refresh annotation the controller acts on; here only the kept
        comparison is dropped, so the next diff is computed anew."""
        self.comparisons.forget(name)

    async def terminate(self, name: str) -> bool:
        """Ask the controller to stop the app's running operation (see :func:`request_termination`)."""
        return await request_termination(self.client, self.control, self.namespace, name)

    async def on_webhook(self, repo_urls: Iterable[str]) -> list[str]:
        return await self.on_push(WebhookEvent("generic", "push", tuple(repo_urls)))

    async def on_push(self, event: WebhookEvent) -> list[str]:
        matched = [
            name
            for name, obj in sorted(self.control.application_objects().items())
            if push_concerns(event, obj)
        ]
        self.pacer.add(matched)
        return matched

    async def on_pull_request(
        self, event: PullRequestEvent, settings: PreviewSettings
    ) -> list[str]:
        return self.previews.on_pull_request(event, settings)

    def pull_preview(self, app: str, number: int) -> PullPreview | None:
        return self.previews.preview(app, number)

    async def preview_appset(self, appset: dict[str, Any]) -> dict[str, Any]:
        return await self.appsets.preview(appset)

    def applicationsets(self) -> dict[str, dict[str, Any]]:
        return self.appsets.objects()

    async def flux_receiver(self, path: str) -> dict[str, Any] | None:
        return await self._receivers.find(path)

    async def flux_diff(self, namespace: str, name: str) -> list[dict[str, Any]] | None:
        raise FluxDiffError(
            "the diff of a Flux Kustomization is computed by the controller's own API server; "
            "this API server runs apart from it (tether server): ask the controller's, or run "
            "'tether flux diff kustomization' with a local folder"
        )

    async def on_registry_event(self, event: RegistryEvent) -> list[str]:
        """Ask the controller to scan the event's ImageRepositories now (Flux's
        reconcile-request annotation)."""
        names = await repositories_of_event(self.client, self.namespace, event)
        return await request_reconcile(
            self.client, self.namespace, REPOSITORY, names, SERVER_FIELD_MANAGER
        )

    async def request_image_reconcile(self, kind: str, name: str) -> bool:
        done = await request_reconcile(
            self.client, self.namespace, kind, [name], SERVER_FIELD_MANAGER
        )
        return bool(done)

    async def _request_hard_refresh(self, name: str) -> None:
        obj = self.control.application(name)
        annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
        if obj is None or annotations.get(REFRESH_ANNOTATION) == "hard":
            return  # gone, or already asked for: the controller will see it
        info = await self.client.resource_for(ARGO_API_VERSION, APPLICATION)
        patch = {"metadata": {"annotations": {REFRESH_ANNOTATION: "hard"}}}
        try:
            updated = await self.client.patch(
                info, name, patch, self.namespace, field_manager=SERVER_FIELD_MANAGER
            )
        except NotFound:
            return
        self.control.remember(updated)

    # ---- events, clusters, counters -----------------------------------------------------------

    def check_repository_url(self, url: str) -> str:
        return self.sources.check_repository_url(url)

    def metrics(self) -> ControllerMetrics:
        """The replica's own work: comparisons computed on demand, webhook refreshes written
        and its client's requests (no reconciles: the controller does those)."""
        return ControllerMetrics(
            counters={
                "observations": self.comparisons.computed,
                "webhook_refreshes": self.pacer.written,
            },
            reconcile_seconds=[],
            reconciles_timed=0,
            queue_depth=len(self.pacer.pending()),
            requests_by_verb=dict(self.client.stats.by_verb),
            request_retries=self.client.stats.retries,
            repositories=[
                RepositoryCounters(m.url, m.ref_checks, m.fetches)
                for m in self.sources.mirrors.mirrors()
            ],
        )


async def request_termination(
    client: ClusterClient, control: ControlNamespace, namespace: str, name: str
) -> bool:
    """Ask the controller that runs the app's operation to stop it, as Argo CD's API server
    does: ``status.operationState.phase: Terminating``. False when none runs."""
    info = await client.resource_for(ARGO_API_VERSION, APPLICATION)
    obj = control.application(name)
    for _ in range(TERMINATE_ATTEMPTS):
        state = read_status(obj).operation if obj is not None else None
        if obj is None or state is None or not state.running:
            return False
        body = {
            "status": {"operationState": {"phase": TERMINATING}},
            "metadata": {"resourceVersion": resource_version(obj)},
        }
        try:
            updated = await client.patch(
                info,
                name,
                body,
                namespace,
                patch_type="merge",
                field_manager=SERVER_FIELD_MANAGER,
                subresource="status",
            )
        except NotFound:
            return False
        except Conflict:
            # most often the controller's own status write: look again
            try:
                obj = await client.get(info, name, namespace)
            except NotFound:
                return False
            continue
        control.remember(updated)
        return True
    raise Conflict("the application changed while the terminate was requested; try again")
