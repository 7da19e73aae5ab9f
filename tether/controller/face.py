"""The controller as the API server sees it: a narrow face, and nothing else.

The server (and any other front end) uses only :class:`ControllerFace` and the plain data types
here; it never reaches into the controller's parts. Objects are the API server's dicts (read-only
to callers: they are the controller's copies); comparisons are the engine's typed results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tether.cluster.cache import LiveCache
from tether.cluster.client import ClusterClient
from tether.controller import clusters as cluster_secrets
from tether.controller.control import ControlNamespace
from tether.engine.diff import AppDiff
from tether.errors import TetherError
from tether.images.events import RegistryEvent
from tether.source.pullrequests import PullRequestEvent
from tether.source.webhooks import WebhookEvent

if TYPE_CHECKING:  # the previews build on this module
    from tether.controller.previews import PreviewSettings, PullPreview

log = logging.getLogger(__name__)

#: ``listener(kind, event_type, obj)``: kind is "application"; event_type ADDED/MODIFIED/DELETED
Listener = Callable[[str, str, dict[str, Any]], None]


class FluxDiffError(TetherError):
    """A Flux Kustomization's diff cannot be told (its build fails, or this API server does
    not compute it); the message says why."""


class Listeners:
    """The listeners of a face (``ControllerFace.subscribe``), each told of every change."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add ``listener``; returns the function that removes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def notify(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        """Tell every listener; one that raises is logged and the others are still told."""
        for listener in list(self._listeners):
            try:
                listener(kind, event_type, obj)
            except Exception:
                log.exception("listener failed")


@dataclass(frozen=True)
class ClusterView:
    """An app's destination cluster: its client and the live cache the controller keeps."""

    server: str
    client: ClusterClient
    cache: LiveCache


@dataclass(frozen=True)
class ClusterInfo:
    """A cluster apps may deploy to, as its cluster Secret registers it (no credentials)."""

    name: str
    server: str
    #: namespaces the cluster is limited to (empty: all of them)
    namespaces: tuple[str, ...] = ()
    project: str = ""


def cluster_info(entry: cluster_secrets.ClusterEntry) -> ClusterInfo:
    """What a face shows of a cluster (no credentials)."""
    return ClusterInfo(entry.name, entry.server, tuple(entry.namespaces), entry.project)


def cluster_infos(secrets: Mapping[str, Mapping[str, Any]]) -> list[ClusterInfo]:
    """``ControllerFace.clusters`` from the Secrets of the control namespace by name:
    in-cluster first, then every cluster Secret that parses, by Secret name."""
    out = [cluster_info(cluster_secrets.in_cluster_entry())]
    for _, secret in sorted(secrets.items()):
        if cluster_secrets.is_cluster_secret(secret):
            try:
                out.append(cluster_info(cluster_secrets.parse_cluster_secret(secret)))
            except cluster_secrets.ClusterSecretError:
                continue  # the apps that name it report why
    return out


@dataclass(frozen=True)
class RepositoryCounters:
    """Git requests to one repository since the controller started."""

    url: str
    ref_checks: int
    fetches: int


@dataclass(frozen=True)
class ControllerMetrics:
    """What the controller has done, for ``/metrics``."""

    #: reconciles, syncs, status_writes, polls
    counters: dict[str, int]
    #: seconds of the recent reconciles (newest last, bounded)
    reconcile_seconds: list[float]
    #: reconciles timed since start: the last ``reconciles_timed - previous`` entries of
    #: ``reconcile_seconds`` are new since a previous reading
    reconciles_timed: int
    queue_depth: int
    #: the in-cluster client's requests by verb, and how many were retries
    requests_by_verb: dict[str, int]
    request_retries: int
    repositories: list[RepositoryCounters] = field(default_factory=list)


@dataclass(frozen=True)
class Observation:
    """An app compared on demand by a server that runs apart from the controller."""

    #: the commit compared (the one the app's status reports)
    commit: str
    diff: AppDiff
    #: the desired objects without hooks (unmasked: mask before showing)
    desired: list[dict[str, Any]]


class ControllerFace(Protocol):
    """Everything the API server may ask of, or tell, the controller."""

    @property
    def namespace(self) -> str:
        """The control namespace (Applications, AppProjects, Tether's Secrets)."""
        ...

    @property
    def client(self) -> ClusterClient:
        """The client of the cluster the controller runs in (the server writes through it)."""
        ...

    def ready(self) -> bool:
        """Whether the controller has listed its control namespace (``/readyz``)."""
        ...

    # ---- the control namespace, as the controller follows it ------------------------------

    def applications(self) -> dict[str, dict[str, Any]]:
        """Every Application by name."""
        ...

    def projects(self) -> dict[str, dict[str, Any]]:
        """Every AppProject by name."""
        ...

    def configmap(self, name: str) -> dict[str, Any] | None:
        """A ConfigMap of the control namespace (``argocd-cm``, ``argocd-rbac-cm``...)."""
        ...

    def secrets(self) -> dict[str, dict[str, Any]]:
        """The repository and cluster Secrets of the control namespace by name."""
        ...

    def remember_application(self, obj: dict[str, Any]) -> None:
        """The server wrote ``obj``: keep it unless a newer copy is known."""
        ...

    # ---- one application --------------------------------------------------------------------

    def comparison(self, name: str) -> AppDiff | None:
        """The app's last comparison (None before its first)."""
        ...

    def desired(self, name: str) -> list[dict[str, Any]]:
        """The app's desired objects from its last comparison (unmasked: mask before showing)."""
        ...

    def cluster_of(self, name: str) -> ClusterView | None:
        """The app's destination cluster, once the controller has reconciled it."""
        ...

    async def refresh(self, name: str, hard: bool = False) -> None:
        """Compare the app again now; ``hard`` also checks its repository for new commits."""
        ...

    async def terminate(self, name: str) -> bool:
        """Stop the app's running operation; False when none runs."""
        ...

    # ---- events in and out --------------------------------------------------------------------

    async def on_webhook(self, repo_urls: Iterable[str]) -> list[str]:
        """A push arrived for these repositories: the apps whose commits changed."""
        ...

    async def on_pull_request(
        self, event: PullRequestEvent, settings: PreviewSettings
    ) -> list[str]:
        """A pull request opened, pushed to or closed: start (or drop) its preview; the names
        of the apps following its base branch."""
        ...

    def pull_preview(self, app: str, number: int) -> PullPreview | None:
        """The kept preview of pull request ``number`` holding ``app`` (None: none kept)."""
        ...

    def applicationsets(self) -> dict[str, dict[str, Any]]:
        """Every ApplicationSet of the control namespace by name."""
        ...

    async def preview_appset(self, appset: dict[str, Any]) -> dict[str, Any]:
        """What applying the ApplicationSet ``appset`` would do, nothing written: the
        Applications created, updated (with diffs), deleted, left, in conflict; or ``error``."""
        ...

    async def on_registry_event(self, event: RegistryEvent) -> list[str]:
        """A registry pushed images: scan now the ImageRepositories of those images; returns
        their names."""
        ...

    async def flux_receiver(self, path: str) -> dict[str, Any] | None:
        """The Flux Receiver whose ``status.webhookPath`` is ``path`` (None: none)."""
        ...

    async def flux_diff(self, namespace: str, name: str) -> list[dict[str, Any]] | None:
        """What applying the Flux Kustomization's current revision would change, each object
        ``{"group","kind","namespace","name","action","diff"}`` (None: no such Kustomization);
        :class:`FluxDiffError` (a :class:`TetherError`) when it cannot be told."""
        ...

    async def request_image_reconcile(self, kind: str, name: str) -> bool:
        """Ask for a run of the image object ``kind`` (repository, policy, automation) named
        ``name`` now (Flux's requestedAt annotation); False when it does not exist."""
        ...

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` on every Application change; returns the unsubscribe function."""
        ...

    def clusters(self) -> list[ClusterInfo]:
        """The clusters apps may deploy to: in-cluster first, then every cluster Secret that
        parses, by Secret name (a broken one is left out; the apps naming it report why)."""
        ...

    def check_cluster_secret(self, secret: Mapping[str, Any]) -> ClusterInfo:
        """The cluster this cluster Secret registers, read as the controller reads it; a
        ``TetherError`` naming what is wrong otherwise."""
        ...

    def check_repository_url(self, url: str) -> str:
        """The checked URL, or a ``SourceError`` (malformed, or a refused local repository)."""
        ...

    def metrics(self) -> ControllerMetrics:
        """Counters for ``/metrics``."""
        ...


class ControlNamespaceReadings:
    """The members of a face that read the control namespace, served from ``self.control``
    (the controller and a server replica both follow it with a `ControlNamespace`), and its
    listeners (``self.listeners``)."""

    control: ControlNamespace
    listeners: Listeners

    def ready(self) -> bool:
        return self.control.ready()

    def applications(self) -> dict[str, dict[str, Any]]:
        return self.control.application_objects()

    def projects(self) -> dict[str, dict[str, Any]]:
        return self.control.project_objects()

    def configmap(self, name: str) -> dict[str, Any] | None:
        return self.control.configmap(name)

    def secrets(self) -> dict[str, dict[str, Any]]:
        return self.control.secret_objects()

    def remember_application(self, obj: dict[str, Any]) -> None:
        self.control.remember(obj)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        return self.listeners.subscribe(listener)

    def clusters(self) -> list[ClusterInfo]:
        return cluster_infos(self.control.secret_objects())

    def check_cluster_secret(self, secret: Mapping[str, Any]) -> ClusterInfo:
        return cluster_info(cluster_secrets.parse_cluster_secret(dict(secret)))


@runtime_checkable
class ObservingFace(ControllerFace, Protocol):
    """The face of a server replica without a controller in its process (``tether server``).

    It holds no comparison of its own: :meth:`observe` renders and compares when asked (read
    only, never writing), and actions reach the controller through the cluster, as Argo CD's API
    server does (annotations, the ``operation`` field, ``status.operationState``). The sync
    ``comparison``/``desired``/``cluster_of`` of :class:`ControllerFace` answer only from what
    was observed already; the server awaits these instead.
    """

    async def observe(self, name: str) -> Observation | None:
        """The app compared now with its live objects (cached while nothing it depends on
        changed); None when it cannot be compared (its status says why)."""
        ...

    async def open_cluster(self, name: str) -> ClusterView | None:
        """The app's destination cluster, opened on demand, its cache following the kinds
        the app's status lists."""
        ...

    async def on_push(self, event: WebhookEvent) -> list[str]:
        """A verified push: ask the controller to refresh (hard) every app whose repository and
        target revision it concerns; returns their names (the writes are paced)."""
        ...
