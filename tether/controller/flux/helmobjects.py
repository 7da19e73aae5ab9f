"""The objects around a HelmRelease that helm-controller keeps: the generated ``HelmChart``
(``<namespace>-<name>`` in the chart source's namespace, so ``flux get sources chart`` and
``kubectl get hc`` show what was pulled) and, when the HelmRelease is deleted, its release
uninstalled (unless suspended) and that HelmChart deleted before the finalizer goes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import ClusterError, Conflict, NotFound
from tether.controller.finalizers import without_finalizers
from tether.controller.flux.deletion import FINALIZER
from tether.controller.flux.helmcharts import (
    CHART_PULL_SUCCEEDED,
    ChartArtifact,
    ChartUnavailable,
)
from tether.controller.flux.helmrun import HelmFailed, HelmRunner
from tether.controller.flux.reconcile import tenant_user
from tether.controller.flux.remote import RemoteClusters, RemoteError
from tether.controller.status import now_iso
from tether.fields import InvalidSpecError
from tether.flux import status as fluxstatus
from tether.flux.helmspecs import HelmReleaseSpec, parse_helm_release
from tether.flux.ocispecs import verify_document
from tether.names import FLUX_HELM_FIELD_MANAGER, FLUX_SOURCE_API_VERSION

NAME_LABEL = "helm.toolkit.fluxcd.io/name"
NAMESPACE_LABEL = "helm.toolkit.fluxcd.io/namespace"
#: how soon a deletion helm refused is tried again
RETRY = 30.0


def chart_object(obj: Mapping[str, Any], spec: HelmReleaseSpec) -> dict[str, Any]:
    """The HelmChart a HelmRelease generates (without status)."""
    meta = obj.get("metadata") or {}
    template = spec.chart
    chart_spec: dict[str, Any] = {
        "chart": template.chart,
        "version": template.version,
        "sourceRef": {"kind": template.source.kind, "name": template.source.name},
        "interval": f"{int(template.interval)}s",
        "reconcileStrategy": template.reconcile_strategy,
    }
    if template.values_files:
        chart_spec["valuesFiles"] = list(template.values_files)
    if template.verify is not None:
        chart_spec["verify"] = verify_document(template.verify)
    return {
        "apiVersion": FLUX_SOURCE_API_VERSION,
        "kind": "HelmChart",
        "metadata": {
            "name": f"{meta.get('namespace')}-{meta.get('name')}",
            "namespace": template.source.namespace,
            "labels": {
                NAME_LABEL: str(meta.get("name")),
                NAMESPACE_LABEL: str(meta.get("namespace")),
            },
        },
        "spec": chart_spec,
    }


def chart_status(
    previous: Mapping[str, Any],
    chart: ChartArtifact | None,
    error: ChartUnavailable | None,
    generation: int,
    now: str,
) -> dict[str, Any]:
    if chart is None:
        failure = error or ChartUnavailable("chart not available")
        wanted = [(fluxstatus.READY, False, failure.reason, str(failure))]
        if failure.reason == fluxstatus.VERIFICATION_ERROR:
            wanted.append((fluxstatus.SOURCE_VERIFIED, False, failure.reason, str(failure)))
        return fluxstatus.updated(previous, wanted, generation, now)
    message = f"pulled '{chart.name}' chart with version '{chart.version}'"
    artifact = dict(previous.get("artifact") or {})
    if artifact.get("revision") != chart.version or artifact.get("digest") != chart.digest:
        artifact = {"revision": chart.version, "digest": chart.digest, "lastUpdateTime": now}
    wanted = [(fluxstatus.READY, True, CHART_PULL_SUCCEEDED, message),
              (fluxstatus.ARTIFACT_IN_STORAGE, True, CHART_PULL_SUCCEEDED, message)]  # fmt: skip
    if chart.verified:
        wanted.append((fluxstatus.SOURCE_VERIFIED, True, fluxstatus.SUCCEEDED, chart.verified))
    return fluxstatus.updated(
        previous, wanted, generation, now, artifact=artifact, observedChartName=chart.name
    )


class ChartPublisher:
    """Writes generated HelmCharts when they differ from what the watch holds."""

    def __init__(
        self,
        client: ClusterClient,
        info: Callable[[], ResourceInfo | None],
        cached: Callable[[str, str], Mapping[str, Any] | None],
    ) -> None:
        self.client = client
        self.info = info
        self.cached = cached

    async def publish(
        self,
        obj: Mapping[str, Any],
        spec: HelmReleaseSpec,
        chart: ChartArtifact | None,
        error: ChartUnavailable | None,
    ) -> None:
        info = self.info()
        if info is None:
            return
        desired = chart_object(obj, spec)
        meta = desired["metadata"]
        live = self.cached(meta["namespace"], meta["name"])
        try:
            if live is None or live.get("spec") != desired["spec"]:
                live = await self.client.apply(
                    info, desired, field_manager=FLUX_HELM_FIELD_MANAGER, force=True
                )
            previous = dict(live.get("status") or {})
            generation = int((live.get("metadata") or {}).get("generation") or 1)
            status = chart_status(previous, chart, error, generation, now_iso())
            if _conditions(status) != _conditions(previous) or status.get(
                "artifact"
            ) != previous.get("artifact"):
                await self.client.patch(
                    info,
                    meta["name"],
                    {"status": status},
                    meta["namespace"],
                    field_manager=FLUX_HELM_FIELD_MANAGER,
                    subresource="status",
                )
        except ClusterError:
            return  # the HelmChart is a view: the release goes on without it

    async def remove(self, obj: Mapping[str, Any], spec: HelmReleaseSpec) -> None:
        info = self.info()
        if info is None:
            return
        meta = chart_object(obj, spec)["metadata"]
        try:
            await self.client.delete(info, meta["name"], meta["namespace"])
        except ClusterError:
            pass


def _conditions(status: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (c.get("type"), c.get("status"), c.get("reason"), c.get("message"))
        for c in status.get("conditions") or ()
    ]


async def finalize_release(
    client: ClusterClient,
    info: ResourceInfo,
    runner: HelmRunner,
    charts: ChartPublisher,
    obj: dict[str, Any],
    remotes: RemoteClusters | None = None,
) -> float | None:
    """Uninstall the release of a HelmRelease being deleted (not when suspended, as Flux),
    delete its HelmChart, drop the finalizer; None when done, else when to look again."""
    meta = obj["metadata"]
    if FINALIZER not in (meta.get("finalizers") or ()):
        return None
    try:
        spec: HelmReleaseSpec | None = parse_helm_release(
            obj.get("spec"), meta["namespace"], meta["name"]
        )
    except InvalidSpecError:
        spec = None
    if spec is not None and not spec.suspend:
        user = tenant_user(meta["namespace"], spec.service_account)
        args = ["uninstall", spec.release_name, "-n", spec.target_namespace, "--ignore-not-found",
                "--timeout", f"{int(spec.uninstall.timeout)}s"]  # fmt: skip
        args += ["--keep-history"] if spec.uninstall.keep_history else []
        try:
            kubeconfig = None
            if spec.kube_config is not None and remotes is not None:
                kubeconfig = (await remotes.remote(meta["namespace"], spec.kube_config)).kubeconfig
            await runner.run(args, user=user, timeout=spec.uninstall.timeout, kubeconfig=kubeconfig)
        except (HelmFailed, RemoteError):
            return RETRY
    if spec is not None:
        await charts.remove(obj, spec)
    try:
        await client.patch(
            info, meta["name"], without_finalizers(obj, [FINALIZER]), meta["namespace"]
        )
    except Conflict:
        return 0.2  # changed meanwhile: read again
    except NotFound:
        return None
    except ClusterError:
        return RETRY
    return None
