"""The Flux part of the controller: GitRepositories, HelmRepositories, Kustomizations,
HelmReleases and Receivers of every namespace watched, reconciled by a few workers (one object
at a time each), statuses written; the HelmCharts HelmReleases generate are watched as a cache.

Triggers, as Flux's controllers have them and sooner: a new object or a new ``generation``;
``reconcile.fluxcd.io/requestedAt`` changed (echoed in ``status.lastHandledReconcileAt``); every
``interval`` (``retryInterval`` after a failure); a source's artifact moving wakes the
Kustomizations and HelmReleases reading it at once, and a Kustomization or HelmRelease turning
Ready wakes those depending on it (Flux looks again every 30 s). Its own status writes wake nothing else.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from tether.charts import ChartSource
from tether.cluster.cache import LiveCache, cancel_and_wait
from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, Conflict
from tether.controller.flux import events as flux_events
from tether.controller.flux.artifactgen import ArtifactGenerators
from tether.controller.flux.deletion import add_finalizer, finalize, needs_finalizer
from tether.controller.flux.gitrepos import GitRepositories, Outcome
from tether.controller.flux.helmcharts import HelmSources
from tether.controller.flux.helmobjects import ChartPublisher, finalize_release
from tether.controller.flux.helmreleases import HelmReleases
from tether.controller.flux.helmrun import HelmRunner
from tether.controller.flux.kustomize import Kustomizations
from tether.controller.flux.livedrift import LiveDrift
from tether.controller.flux.ocirepos import OCIRepositories
from tether.controller.flux.receivers import receiver_at, reconcile_receiver
from tether.controller.flux.remote import RemoteClusters
from tether.controller.flux.sources import SourceArtifacts
from tether.controller.status import now_iso
from tether.controller.watcher import ObjectWatcher
from tether.controller.workqueue import WorkQueue
from tether.flux import status as fluxstatus
from tether.flux.specs import ObjectRef, source_ref_of
from tether.names import (
    FLUX_ARTIFACT_GENERATOR,
    FLUX_EXTERNAL_ARTIFACT,
    FLUX_GENERATOR_API_VERSION,
    FLUX_GIT_REPOSITORY,
    FLUX_HELM_API_VERSION,
    FLUX_HELM_CHART,
    FLUX_HELM_RELEASE,
    FLUX_HELM_REPOSITORY,
    FLUX_KUSTOMIZATION,
    FLUX_KUSTOMIZE_API_VERSION,
    FLUX_OCI_REPOSITORY,
    FLUX_RECEIVER,
    FLUX_RECEIVER_API_VERSION,
    FLUX_RECONCILE_REQUEST_ANNOTATION,
    FLUX_SOURCE_API_VERSION,
)
from tether.notify.flux.events import ready_transition
from tether.notify.flux.models import FluxEvent
from tether.source.trust import RepoTrust

log = logging.getLogger(__name__)

#: reconciles at once by default (Flux's --concurrent: 4 per controller, 10 in later
#: releases); the controller's --flux-concurrent
WORKERS = 8
#: how often a replica not reconciling Flux objects looks whether it should
INACTIVE_REQUEUE = 15.0
#: seconds between a live change of an applied object and the Kustomization's reconcile
LIVE_DELAY = 0.5
#: status writes of the part, as Flux's status manager is named
STATUS_FIELD_MANAGER = "gotk-kustomize-controller"


def _key(kind: str, obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{kind}:{meta.get('namespace')}/{meta.get('name')}"


def _wanted(obj: Mapping[str, Any]) -> bool:
    """A change the object's owner asked for: new, a new generation, or a reconcile request
    not handled yet (a change of status alone, our own write, is not)."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    if meta.get("deletionTimestamp") or status.get("observedGeneration") != meta.get("generation"):
        return True
    requested = (meta.get("annotations") or {}).get(FLUX_RECONCILE_REQUEST_ANNOTATION)
    return bool(requested) and requested != status.get("lastHandledReconcileAt")


def _artifact_moved(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """A source's artifact changed: its revision, or (a GitRepository's) the included ones."""
    revisions = [(status.get("artifact") or {}).get("revision") for status in (before, after)]
    return revisions[0] != revisions[1] or (
        before.get("includedArtifacts") != after.get("includedArtifacts")
    )


class FluxPart:
    """See the module docstring."""

    def __init__(
        self,
        client: ClusterClient,
        cache_dir: Path,
        *,
        allow_local_repositories: bool = False,
        trust: RepoTrust | None = None,
        active: Any = lambda: True,
        namespace: str | None = None,
        report: Callable[[FluxEvent], Any] | None = None,
        live_cache: Callable[[], Awaitable[LiveCache]] | None = None,
        trusted_root: Path | None = None,
        workers: int = WORKERS,
    ) -> None:
        """``namespace``: follow only that one (a namespaced install may not list the others);
        None: every namespace. ``trusted_root``: Sigstore's, for keyless ``verify``.
        ``workers``: reconciles at once."""
        self.workers = workers
        self.client = client
        self.namespace = namespace
        #: where Ready transitions go as Flux events (the Alerts of the control namespace)
        self.report = report
        self.sources = GitRepositories(
            client,
            cache_dir,
            allow_local_repositories=allow_local_repositories,
            trust=trust,
            exists=lambda ns, name: self._get(FLUX_GIT_REPOSITORY, ns, name) is not None,
        )
        #: clients of the clusters ``kubeConfig`` names
        self.remotes = RemoteClusters(client)
        self.chart_source = ChartSource(cache_dir / "flux-charts" / "store")
        self.oci = OCIRepositories(
            client, self.chart_source, cache_dir / "flux-oci", trusted_root, trust
        )
        artifacts = SourceArtifacts(self.sources, self.oci)
        self.generators = ArtifactGenerators(
            client,
            artifacts,
            cache_dir / "flux-artifacts",
            lambda: self._info(FLUX_EXTERNAL_ARTIFACT),
            lambda namespace, name: self._get(FLUX_EXTERNAL_ARTIFACT, namespace, name),
        )
        artifacts.external = self.generators
        #: drift of applied objects heard at once from the live cache (when there is one)
        self.live = LiveDrift(live_cache, self._wake_kustomization) if live_cache else None
        self.kustomizations = Kustomizations(
            client,
            artifacts,
            self._kustomization,
            self._source,
            follow=self.live.follow if self.live is not None else None,
            remotes=self.remotes,
        )
        self._start_helm(client, cache_dir, trust)
        self._active = active
        self.queue = WorkQueue()
        self.watchers: dict[str, ObjectWatcher] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.reconciles = 0

    def _start_helm(self, client: ClusterClient, cache_dir: Path, trust: RepoTrust | None) -> None:
        """HelmRepositories and charts, the helm runner, the generated HelmCharts and the
        HelmReleases (on the sources made before)."""
        self.helm_sources = HelmSources(
            client,
            self.sources,
            self.chart_source,
            cache_dir / "flux-charts" / "unpacked",
            oci_chart=self.oci.chart,
            verify=self.oci.verifier.verify,
            trust=trust,
        )
        self.runner = HelmRunner(client.config, cache_dir / "helm")
        self.charts = ChartPublisher(
            client,
            lambda: self._info(FLUX_HELM_CHART),
            lambda namespace, name: self._get(FLUX_HELM_CHART, namespace, name),
        )
        self.helm_releases = HelmReleases(
            client,
            self.helm_sources,
            self.runner,
            self._helm_release,
            self.charts.publish,
            notify=self._emit,
            source_of=self._source,
            remotes=self.remotes,
        )

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> bool:
        """Follow both kinds; False (idle) when their CRDs are not served or may not be read."""
        try:
            for kind, api_version in (
                (FLUX_GIT_REPOSITORY, FLUX_SOURCE_API_VERSION),
                (FLUX_KUSTOMIZATION, FLUX_KUSTOMIZE_API_VERSION),
                (FLUX_RECEIVER, FLUX_RECEIVER_API_VERSION),
                (FLUX_HELM_REPOSITORY, FLUX_SOURCE_API_VERSION),
                (FLUX_OCI_REPOSITORY, FLUX_SOURCE_API_VERSION),
                (FLUX_HELM_CHART, FLUX_SOURCE_API_VERSION),
                (FLUX_HELM_RELEASE, FLUX_HELM_API_VERSION),
                (FLUX_ARTIFACT_GENERATOR, FLUX_GENERATOR_API_VERSION),
                (FLUX_EXTERNAL_ARTIFACT, FLUX_SOURCE_API_VERSION),
            ):
                info = await self.client.resource_for(api_version, kind)
                await self.client.request(
                    "GET", info.path(self.namespace), verb="list", params={"limit": "1"}
                )
                self.watchers[kind] = ObjectWatcher(
                    self.client, info, self.namespace, self._on_event(kind)
                )
        except ClusterError as exc:
            log.info("Flux Kustomizations off: they cannot be read (%s)", exc.message)
            self.watchers.clear()
            return False
        for watcher in self.watchers.values():
            watcher.start()
        self._tasks = [
            asyncio.create_task(self._work(), name=f"flux-{i}") for i in range(self.workers)
        ]
        return True

    async def stop(self) -> None:
        await asyncio.gather(*(cancel_and_wait(task) for task in self._tasks))
        self._tasks.clear()
        self.queue.close()
        for watcher in self.watchers.values():
            await watcher.stop()
        await self.chart_source.aclose()
        await self.remotes.aclose()

    async def idle(self) -> None:
        """Return once nothing waits to be reconciled now (tests)."""
        while self.queue.depth():
            await asyncio.sleep(0.05)

    # ---- lookups -----------------------------------------------------------------------------

    def _get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        watcher = self.watchers.get(kind)
        if watcher is None:
            return None
        if self.namespace is not None:
            return watcher.get(name) if namespace == self.namespace else None
        return watcher.get(f"{namespace}/{name}")

    async def diff(self, namespace: str, name: str) -> list[dict[str, Any]] | None:
        """What applying the Kustomization's current revision would change; None when there
        is no such Kustomization (:class:`fluxdiff.DiffError` when it cannot be told)."""
        obj = self._get(FLUX_KUSTOMIZATION, namespace, name)
        if obj is None:
            return None
        return await self.kustomizations.diff(obj)

    def receiver_at(self, path: str) -> dict[str, Any] | None:
        """The Receiver answering on ``path`` (``status.webhookPath``), from the watch."""
        watcher = self.watchers.get(FLUX_RECEIVER)
        return receiver_at(list(watcher.objects.values()), path) if watcher is not None else None

    def _info(self, kind: str) -> Any:
        watcher = self.watchers.get(kind)
        return watcher.info if watcher is not None else None

    def _kustomization(self, key: tuple[str, str]) -> Mapping[str, Any] | None:
        return self._get(FLUX_KUSTOMIZATION, *key)

    def _helm_release(self, key: tuple[str, str]) -> Mapping[str, Any] | None:
        return self._get(FLUX_HELM_RELEASE, *key)

    def _source(self, ref: ObjectRef) -> Mapping[str, Any] | None:
        return self._get(ref.kind, ref.namespace, ref.name)

    # ---- triggers ----------------------------------------------------------------------------

    def _on_event(self, kind: str) -> Any:
        def on_event(event_type: str, obj: dict[str, Any]) -> None:
            meta = obj.get("metadata") or {}
            if kind in (FLUX_HELM_CHART, FLUX_EXTERNAL_ARTIFACT):
                return  # generated (by HelmReleases, ArtifactGenerators): a cache only
            if event_type == "DELETED":
                self.queue.forget(_key(kind, obj))
                if kind == FLUX_GIT_REPOSITORY:
                    self.sources.forget(str(meta.get("namespace")), str(meta.get("name")))
                elif kind == FLUX_HELM_REPOSITORY:
                    self.helm_sources.forget(str(meta.get("namespace")), str(meta.get("name")))
                elif kind == FLUX_OCI_REPOSITORY:
                    self.oci.forget(str(meta.get("namespace")), str(meta.get("name")))
                return
            if event_type == "ADDED" or _wanted(obj):
                self.queue.add(_key(kind, obj))

        return on_event

    def _wake_readers(self, kind: str, namespace: str, name: str) -> None:
        """A source's artifact moved: the Kustomizations and HelmReleases reading it, and the
        GitRepositories including it, now."""
        if kind == FLUX_GIT_REPOSITORY:
            for obj in list(self.watchers[kind].objects.values()):
                includes = (obj.get("spec") or {}).get("include") or ()
                if obj["metadata"].get("namespace") == namespace and any(
                    isinstance(i, Mapping) and (i.get("repository") or {}).get("name") == name
                    for i in includes
                ):
                    self.queue.add(_key(kind, obj))
        for reader in (FLUX_KUSTOMIZATION, FLUX_HELM_RELEASE):
            for obj in list(self.watchers[reader].objects.values()):
                ref = source_ref_of(obj.get("spec") or {})
                ns = ref.get("namespace") or obj["metadata"].get("namespace")
                if (ref.get("kind"), ns, ref.get("name")) == (kind, namespace, name):
                    self.queue.add(_key(reader, obj))
        for obj in list(self.watchers[FLUX_ARTIFACT_GENERATOR].objects.values()):
            own = obj["metadata"].get("namespace")
            for source in (obj.get("spec") or {}).get("sources") or ():
                if isinstance(source, Mapping) and (
                    source.get("kind"),
                    source.get("namespace") or own,
                    source.get("name"),
                ) == (kind, namespace, name):
                    self.queue.add(_key(FLUX_ARTIFACT_GENERATOR, obj))

    def _wake_kustomization(self, namespace: str, name: str) -> None:
        """An object the Kustomization applied changed: reconcile it soon (changes coming
        together make one reconcile)."""
        if self._get(FLUX_KUSTOMIZATION, namespace, name) is not None:
            self.queue.add(f"{FLUX_KUSTOMIZATION}:{namespace}/{name}", delay=LIVE_DELAY)

    def _wake_dependents(self, kind: str, namespace: str, name: str) -> None:
        """A Kustomization or HelmRelease turned Ready: those of its kind depending on it."""
        for obj in list(self.watchers[kind].objects.values()):
            own = obj["metadata"].get("namespace")
            for dep in (obj.get("spec") or {}).get("dependsOn") or ():
                if isinstance(dep, Mapping) and (dep.get("namespace") or own, dep.get("name")) == (
                    namespace,
                    name,
                ):
                    self.queue.add(_key(kind, obj))

    # ---- work --------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            key = await self.queue.take()
            try:
                if self._active():
                    await self._reconcile(key)
                else:
                    # another replica reconciles Flux objects; this one looks again later, so
                    # it takes over if that replica goes
                    self.queue.add(key, delay=INACTIVE_REQUEUE)
            except Exception:  # one object's failure never stops the others
                log.exception("Flux %s failed", key)
            finally:
                self.queue.done(key)

    async def _reconcile(self, key: str) -> None:
        kind, _, path = key.partition(":")
        namespace, name = path.split("/", 1)
        obj = self._get(kind, namespace, name)
        if obj is None:
            return
        self.reconciles += 1
        now = now_iso()
        if kind in (FLUX_KUSTOMIZATION, FLUX_HELM_RELEASE):
            ready = await self._lifecycle(kind, obj)
            if ready is None:
                return
            if isinstance(ready, float):
                self.queue.add(key, delay=ready)
                return
            obj = ready
        outcome = await self._outcome(kind, obj, now)
        before = dict(obj.get("status") or {})
        written = await self._write_status(kind, obj, outcome)
        after = written.get("status") or {} if written is not None else before
        if kind in (FLUX_GIT_REPOSITORY, FLUX_HELM_REPOSITORY, FLUX_OCI_REPOSITORY):
            if _artifact_moved(before, after):
                self._wake_readers(kind, namespace, name)
        elif (
            kind in (FLUX_KUSTOMIZATION, FLUX_HELM_RELEASE)
            and not fluxstatus.is_ready({"status": before})
            and fluxstatus.is_ready({"status": after})
        ):
            self._wake_dependents(kind, namespace, name)
        if outcome.requeue is not None:
            self.queue.add(key, delay=outcome.requeue)

    async def _outcome(self, kind: str, obj: dict[str, Any], now: str) -> Outcome:
        if kind == FLUX_GIT_REPOSITORY:
            return await self.sources.reconcile(obj, now)
        if kind == FLUX_HELM_REPOSITORY:
            return await self.helm_sources.reconcile(obj, now)
        if kind == FLUX_OCI_REPOSITORY:
            return await self.oci.reconcile(obj, now)
        if kind == FLUX_ARTIFACT_GENERATOR:
            outcome, moved = await self.generators.reconcile(obj, now)
            namespace = str(obj["metadata"].get("namespace"))
            for name in moved:
                self._wake_readers(FLUX_EXTERNAL_ARTIFACT, namespace, name)
            return outcome
        if kind == FLUX_RECEIVER:
            return await reconcile_receiver(self.client, obj, now)
        if kind == FLUX_HELM_RELEASE:
            return await self.helm_releases.reconcile(obj, now)
        return await self.kustomizations.reconcile(obj, now)

    async def _lifecycle(self, kind: str, obj: dict[str, Any]) -> dict[str, Any] | float | None:
        """A Kustomization or HelmRelease being deleted is finalized (None: done, a float: look
        again then); one without Flux's finalizer gets it. Returns the object to reconcile."""
        watcher = self.watchers[kind]
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            if kind == FLUX_HELM_RELEASE:
                return await finalize_release(
                    self.client, watcher.info, self.runner, self.charts, obj, self.remotes
                )
            return await finalize(self.client, watcher.info, obj, self.remotes)
        if needs_finalizer(obj):
            try:
                obj = await add_finalizer(self.client, watcher.info, obj)
            except Conflict:
                return 0.2  # changed meanwhile: the next read has it
            watcher.remember(obj)
        return obj

    async def _emit(self, event: FluxEvent) -> None:
        """A Flux event: to the Alerts (``report``) and as a Kubernetes Event."""
        if self.report is not None:
            self.report(event)
        await flux_events.record(self.client, event)

    async def _write_status(
        self, kind: str, obj: dict[str, Any], outcome: Outcome
    ) -> dict[str, Any] | None:
        """Write the outcome's status when it differs (keys it drops are removed); the answer
        is kept by the watcher so the next reconcile reads it."""
        if outcome.status is None:
            return None
        status = dict(outcome.status)
        requested = (obj["metadata"].get("annotations") or {}).get(
            FLUX_RECONCILE_REQUEST_ANNOTATION
        )
        if requested:
            status["lastHandledReconcileAt"] = requested
        old = obj.get("status") or {}
        if old == status:
            return None
        revision = status.get("lastAttemptedRevision") or (status.get("artifact") or {}).get(
            "revision"
        )
        event = ready_transition(
            kind, obj, old, status, {"revision": str(revision)} if revision else None
        )
        if event is not None:
            await self._emit(event)
        return await self.watchers[kind].write_status(obj, status, STATUS_FIELD_MANAGER)
