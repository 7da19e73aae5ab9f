"""``/metrics``: Prometheus figures of the controller and the server, in a private registry.

Series are computed at scrape time from the controller's own records (application objects, and
the counters of `ControllerFace.metrics`); nothing is sampled in the background. Per-application
series only list the applications the scraping user may see.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from tether.controller.face import ControllerMetrics
from tether.controller.status import AppStatus, read_operation
from tether.server.auth import User
from tether.server.state import Context, ServerState, app_object, project_of

#: Argo CD's reconcile buckets (seconds), with finer ones below: Tether reconciles much faster
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
#: the finished phases ``argocd_app_sync_total`` counts
COUNTED_PHASES = ("Succeeded", "Failed", "Error")
APP_INFO_LABELS = (
    "namespace",
    "name",
    "project",
    "autosync_enabled",
    "repo",
    "dest_server",
    "dest_namespace",
    "sync_status",
    "health_status",
    "operation",
)

_scraper: contextvars.ContextVar[User | None] = contextvars.ContextVar("scraper", default=None)


class ReconcileHistogram:
    """``argocd_app_reconcile``: the durations the controller reports, folded in as they come."""

    def __init__(self) -> None:
        self.bucket_counts = [0] * (len(RECONCILE_BUCKETS) + 1)
        self.total = 0.0
        self.count = 0
        self._timed = 0

    def take(self, samples: list[float], timed: int) -> None:
        """Fold in the samples appended since the last call: ``timed`` counts every sample the
        controller ever took, ``samples`` holds the newest ones (the list is bounded)."""
        new = min(max(timed - self._timed, 0), len(samples))
        for value in samples[len(samples) - new :]:
            self.count += 1
            self.total += value
            self.bucket_counts[self._bucket(value)] += 1
        self._timed = max(self._timed, timed)

    @staticmethod
    def _bucket(value: float) -> int:
        for index, bound in enumerate(RECONCILE_BUCKETS):
            if value <= bound:
                return index
        return len(RECONCILE_BUCKETS)

    def family(self) -> HistogramMetricFamily:
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(RECONCILE_BUCKETS, self.bucket_counts, strict=False):
            running += count
            buckets.append((repr(bound), float(running)))
        buckets.append(("+Inf", float(running + self.bucket_counts[-1])))
        family = HistogramMetricFamily(
            "argocd_app_reconcile", "Application reconcile duration in seconds.", labels=[]
        )
        family.add_metric([], buckets, self.total)
        return family


def _app_info_labels(namespace: str, app: dict[str, Any], status: AppStatus) -> list[str]:
    spec = app.get("spec") or {}
    source = spec.get("source") or {}
    dest = spec.get("destination") or {}
    return [
        namespace,
        app["metadata"]["name"],
        project_of(app),
        str((spec.get("syncPolicy") or {}).get("automated") is not None).lower(),
        str(source.get("repoURL") or ""),
        str(dest.get("server") or dest.get("name") or ""),
        str(dest.get("namespace") or ""),
        status.sync,
        status.health,
        "sync" if app.get("operation") else "",
    ]


def _counter(
    name: str, text: str, labels: list[str], values: Iterable[tuple[list[str], float]]
) -> CounterMetricFamily:
    """A counter family with one sample per (label values, value)."""
    family = CounterMetricFamily(name, text, labels=labels)
    for label_values, value in values:
        family.add_metric(label_values, value)
    return family


def _controller_families(counters: ControllerMetrics) -> Iterator[Metric]:
    """The series of the controller's own counters."""
    yield _counter(
        "argocd_git_request",
        "Git requests by repository and type (ls-remote ref checks and fetches).",
        ["repo", "request_type"],
        (
            pair
            for repo in counters.repositories
            for pair in (
                ([repo.url, "ls-remote"], repo.ref_checks),
                ([repo.url, "fetch"], repo.fetches),
            )
        ),
    )
    yield _counter(
        "argocd_app_k8s_request",
        "Kubernetes API requests sent by the controller's client, by verb (retries included).",
        ["verb"],
        (([verb], count) for verb, count in sorted(counters.requests_by_verb.items())),
    )
    yield _counter(
        "tether_k8s_request_retries",
        "Kubernetes API requests retried after an error (throttling, 5xx, connection).",
        [],
        [([], counters.request_retries)],
    )
    depth = GaugeMetricFamily("tether_queue_depth", "Applications waiting for a reconcile.")
    depth.add_metric([], counters.queue_depth)
    yield depth
    yield _counter(
        "tether_controller_events",
        "Controller work: reconciles, syncs, status writes, Git polls, ApplicationSet "
        "generations and their writes.",
        ["kind"],
        (([key], value) for key, value in sorted(counters.counters.items())),
    )


class ServerMetrics:
    """Collects every series of ``/metrics``; also the listener that counts finished syncs."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        #: (app, phase) -> finished operations seen
        self.syncs: dict[tuple[str, str], int] = {}
        self._last_finished: dict[str, str] = {}
        self.logins: dict[str, int] = {}
        self.reconciles = ReconcileHistogram()

    # ---- event counting ------------------------------------------------------------------------

    def on_controller_event(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        """Count an operation each time an app's operationState reaches a new finished state."""
        if kind != "application" or event_type == "DELETED":
            return
        state = read_operation(obj)
        if state is None or state.phase not in COUNTED_PHASES or not state.finished_at:
            return
        name = obj["metadata"]["name"]
        marker = f"{state.finished_at}/{state.phase}/{state.started_at}"
        if self._last_finished.get(name) == marker:
            return
        first_sight = name not in self._last_finished
        self._last_finished[name] = marker
        if first_sight and event_type != "MODIFIED":
            # an operation that finished before this server started is not counted again
            return
        key = (name, state.phase)
        self.syncs[key] = self.syncs.get(key, 0) + 1

    def login(self, outcome: str) -> None:
        self.logins[outcome] = self.logins.get(outcome, 0) + 1

    # ---- collection ----------------------------------------------------------------------------

    def _app_info(self, user: User | None) -> tuple[GaugeMetricFamily, set[str]]:
        """``argocd_app_info`` of the apps ``user`` may see (everyone's for None), and their
        names."""
        info = GaugeMetricFamily(
            "argocd_app_info", "Information about applications.", labels=list(APP_INFO_LABELS)
        )
        visible: set[str] = set()
        policy = self.state.policy()
        for name, app in sorted(self.state.applications().items()):
            if user is not None and not policy.allowed(
                user.subjects, "applications", "get", app_object(app)
            ):
                continue
            visible.add(name)
            labels = _app_info_labels(self.state.namespace, app, self.state.statuses.of(app))
            info.add_metric(labels, 1.0)
        return info, visible

    def collect(self) -> Iterator[Metric]:
        namespace = self.state.namespace
        info, visible = self._app_info(_scraper.get())
        yield info
        yield _counter(
            "argocd_app_sync",
            "Operations finished, by application and phase (seen by this server).",
            ["namespace", "name", "phase"],
            (
                ([namespace, name, phase], count)
                for (name, phase), count in sorted(self.syncs.items())
                if name in visible
            ),
        )
        counters = self.state.controller.metrics()
        self.reconciles.take(counters.reconcile_seconds, counters.reconciles_timed)
        yield self.reconciles.family()
        yield from _controller_families(counters)
        yield _counter(
            "argocd_login_request",
            "Sign-in attempts by outcome.",
            ["status"],
            (([outcome], count) for outcome, count in sorted(self.logins.items())),
        )

    def render(self, user: User | None) -> bytes:
        token = _scraper.set(user)
        try:
            return generate_latest(self.registry)
        finally:
            _scraper.reset(token)


#: the Prometheus text format's content type
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def metrics_endpoint(ctx: Context) -> Response:
    metrics: ServerMetrics = ctx.extra["metrics"]
    return Response(metrics.render(ctx.caller), media_type=CONTENT_TYPE)


def metrics_app(metrics: ServerMetrics) -> Starlette:
    """The unauthenticated metrics listener (``--metrics-listen``): ``GET /metrics`` only, with
    every application's series, as Argo CD serves them on its metrics ports for Prometheus."""

    async def scrape(request: Request) -> Response:
        return Response(metrics.render(None), media_type=CONTENT_TYPE)

    async def not_found(request: Request) -> Response:
        return PlainTextResponse("only /metrics is served here", status_code=404)

    return Starlette(
        routes=[
            Route("/metrics", scrape, methods=["GET"]),
            Route("/{path:path}", not_found),
        ]
    )
