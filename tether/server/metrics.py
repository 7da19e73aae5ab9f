"""``/metrics``: Prometheus figures of the controller and the server, in a private registry.

Series are computed at scrape time from the controller's own records (application objects,
reconcile durations, request counters); nothing is sampled in the background. Per-application
series only list the applications the scraping user may see.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from starlette.responses import Response

from tether.server.auth import User
from tether.server.state import Context, ServerState, app_object

#: Argo CD's reconcile buckets (seconds), with finer ones below: Tether reconciles much faster
RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
TERMINAL_PHASES = ("Succeeded", "Failed", "Error")

_scraper: contextvars.ContextVar[User | None] = contextvars.ContextVar("scraper", default=None)


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
        self._bucket_counts = [0] * (len(RECONCILE_BUCKETS) + 1)
        self._reconcile_sum = 0.0
        self._reconcile_count = 0
        self._last_sample: float | None = None
        self._consumed = 0

    # ---- event counting ------------------------------------------------------------------------

    def on_controller_event(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        """Count an operation each time an app's operationState reaches a new finished state."""
        if kind != "application" or event_type == "DELETED":
            return
        state = (obj.get("status") or {}).get("operationState") or {}
        phase = state.get("phase")
        finished = state.get("finishedAt")
        if phase not in TERMINAL_PHASES or not finished:
            return
        name = obj["metadata"]["name"]
        marker = f"{finished}/{phase}/{state.get('startedAt')}"
        if self._last_finished.get(name) == marker:
            return
        first_sight = name not in self._last_finished
        self._last_finished[name] = marker
        if first_sight and event_type != "MODIFIED":
            # an operation that finished before this server started is not counted again
            return
        key = (name, str(phase))
        self.syncs[key] = self.syncs.get(key, 0) + 1

    def login(self, outcome: str) -> None:
        self.logins[outcome] = self.logins.get(outcome, 0) + 1

    def _take_reconcile_samples(self) -> None:
        """Fold durations the controller appended since the last scrape into the histogram.

        The controller keeps a bounded list that it trims from the front, so the last sample
        seen is found by identity rather than by index.
        """
        samples = self.state.controller.reconcile_seconds
        start = 0
        if self._last_sample is not None:
            start = len(samples)
            for index in range(len(samples) - 1, -1, -1):
                if samples[index] is self._last_sample:
                    start = index + 1
                    break
            else:
                start = 0  # trimmed past our mark: take what is there
        for value in samples[start:]:
            self._reconcile_count += 1
            self._reconcile_sum += value
            for i, bound in enumerate(RECONCILE_BUCKETS):
                if value <= bound:
                    self._bucket_counts[i] += 1
                    break
            else:
                self._bucket_counts[-1] += 1
        if samples:
            self._last_sample = samples[-1]

    # ---- collection ----------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        user = _scraper.get()
        controller = self.state.controller
        info = GaugeMetricFamily(
            "argocd_app_info",
            "Information about applications.",
            labels=[
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
            ],
        )
        visible: set[str] = set()
        policy = self.state.policy()
        for name, app in sorted(self.state.applications().items()):
            if user is not None and not policy.allowed(
                user.subjects, "applications", "get", app_object(app)
            ):
                continue
            visible.add(name)
            spec = app.get("spec") or {}
            status = app.get("status") or {}
            source = spec.get("source") or {}
            dest = spec.get("destination") or {}
            operation = app.get("operation") or {}
            info.add_metric(
                [
                    self.state.namespace,
                    name,
                    str(spec.get("project") or "default"),
                    str((spec.get("syncPolicy") or {}).get("automated") is not None).lower(),
                    str(source.get("repoURL") or ""),
                    str(dest.get("server") or dest.get("name") or ""),
                    str(dest.get("namespace") or ""),
                    str((status.get("sync") or {}).get("status") or "Unknown"),
                    str((status.get("health") or {}).get("status") or "Unknown"),
                    "sync" if operation else "",
                ],
                1.0,
            )
        yield info
        syncs = CounterMetricFamily(
            "argocd_app_sync",
            "Operations finished, by application and phase (seen by this server).",
            labels=["namespace", "name", "phase"],
        )
        for (name, phase), count in sorted(self.syncs.items()):
            if name in visible:
                syncs.add_metric([self.state.namespace, name, phase], count)
        yield syncs
        self._take_reconcile_samples()
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip(RECONCILE_BUCKETS, self._bucket_counts, strict=False):
            running += count
            buckets.append((repr(bound), float(running)))
        buckets.append(("+Inf", float(running + self._bucket_counts[-1])))
        reconcile = HistogramMetricFamily(
            "argocd_app_reconcile", "Application reconcile duration in seconds.", labels=[]
        )
        reconcile.add_metric([], buckets, self._reconcile_sum)
        yield reconcile
        git = CounterMetricFamily(
            "argocd_git_request",
            "Git requests by repository and type (ls-remote ref checks and fetches).",
            labels=["repo", "request_type"],
        )
        for mirror in controller.mirrors.mirrors():
            git.add_metric([mirror.url, "ls-remote"], mirror.ref_checks)
            git.add_metric([mirror.url, "fetch"], mirror.fetches)
        yield git
        k8s = CounterMetricFamily(
            "argocd_app_k8s_request",
            "Kubernetes API requests sent by the controller's client, by verb (retries included).",
            labels=["verb"],
        )
        for verb, count in sorted(controller.client.stats.by_verb.items()):
            k8s.add_metric([verb], count)
        yield k8s
        retries = CounterMetricFamily(
            "tether_k8s_request_retries",
            "Kubernetes API requests retried after an error (throttling, 5xx, connection).",
        )
        retries.add_metric([], controller.client.stats.retries)
        yield retries
        depth = GaugeMetricFamily("tether_queue_depth", "Applications waiting for a reconcile.")
        depth.add_metric([], controller.queue.qsize())
        yield depth
        stats = CounterMetricFamily(
            "tether_controller_events",
            "Controller work: reconciles, syncs, status writes and Git polls.",
            labels=["kind"],
        )
        for key, value in sorted(controller.stats.items()):
            stats.add_metric([key], value)
        yield stats
        logins = CounterMetricFamily(
            "argocd_login_request", "Sign-in attempts by outcome.", labels=["status"]
        )
        for outcome, count in sorted(self.logins.items()):
            logins.add_metric([outcome], count)
        yield logins

    def render(self, user: User | None) -> bytes:
        token = _scraper.set(user)
        try:
            return generate_latest(self.registry)
        finally:
            _scraper.reset(token)


async def metrics_endpoint(ctx: Context) -> Response:
    metrics: ServerMetrics = ctx.extra["metrics"]
    return Response(
        metrics.render(ctx.caller), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
