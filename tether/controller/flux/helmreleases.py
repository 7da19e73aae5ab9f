"""One HelmRelease reconciled as helm-controller does it, with the pinned helm binary.

Order: spec read; ``suspend``; the chart source in the HelmRelease's own namespace (Flux's
``--no-cross-namespace-refs``); a dependency cycle, then ``dependsOn`` Ready; the chart
(:mod:`tether.controller.flux.helmcharts`), published as the generated ``HelmChart``; the
values (``valuesFrom`` then ``values``); then steps decided by :mod:`tether.flux.helmactions`
on Helm's own storage, run one after another (install, upgrade, test, remediation), at most a
few per reconcile. A failure before helm runs changes no release: what was deployed stays.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound
from tether.cluster.secretdata import decoded
from tether.controller.flux import helmdrift
from tether.controller.flux.gitrepos import Outcome
from tether.controller.flux.helmcharts import (
    ChartArtifact,
    ChartUnavailable,
    HelmSources,
    SourceNotFetched,
)
from tether.controller.flux.helmrun import POST_RENDERER, HelmFailed, HelmRunner
from tether.controller.flux.helmstatus import (
    GET_LAST_RELEASE_FAILED,
    INIT_FAILED,
    RELEASED,
    REMEDIATED,
    TEST_SUCCESS,
    Progress,
    attempts_of,
    chart_object,
    failed_status,
    renderers_digest,
    status_of,
)
from tether.controller.flux.reconcile import (
    Failure,
    Lookup,
    check_dependencies,
    refuse_other_namespace,
    source_pending,
    tenant_user,
)
from tether.controller.flux.remote import RemoteClusters, RemoteError
from tether.fields import InvalidSpecError
from tether.flux import status as fluxstatus
from tether.flux.helmactions import Step, Wanted, next_step
from tether.flux.helmspecs import ActionOptions, HelmReleaseSpec, parse_helm_release
from tether.flux.helmstorage import Release, StorageError, config_digest, history, unlocked
from tether.flux.helmvalues import ValuesError, ValuesInput, compose
from tether.flux.specs import ObjectRef
from tether.names import FLUX_HELM_API_VERSION, FLUX_HELM_RELEASE
from tether.notify.flux.models import FluxEvent, InvolvedObject

log = logging.getLogger(__name__)

#: steps run in one reconcile at most (unlock, upgrade, test, remediation)
MAX_STEPS = 4
#: how soon a release remediated is looked at again (the next attempt)
AFTER_REMEDIATION = 1.0


class HelmReleases:
    def __init__(
        self,
        client: ClusterClient,
        sources: HelmSources,
        runner: HelmRunner,
        lookup: Lookup,
        publish_chart: Callable[..., Any],
        notify: Callable[[FluxEvent], Awaitable[None]] | None = None,
        source_of: Callable[[ObjectRef], Mapping[str, Any] | None] = lambda ref: None,
        remotes: RemoteClusters | None = None,
    ) -> None:
        """``lookup`` gives a HelmRelease by (namespace, name); ``publish_chart(obj, spec,
        chart, error)`` writes the generated HelmChart."""
        self.client = client
        self.sources = sources
        self.runner = runner
        self.lookup = lookup
        self.publish_chart = publish_chart
        self.notify = notify
        self.source_of = source_of
        self.remotes = remotes
        #: drifts found (tests, metrics)
        self.drifts = 0

    async def reconcile(self, obj: Mapping[str, Any], now: str) -> Outcome:
        seen = fluxstatus.Observed.of(obj)
        previous, generation = seen.status, seen.generation
        try:
            spec = parse_helm_release(obj.get("spec"), seen.namespace, seen.name)
        except InvalidSpecError as exc:
            reason = fluxstatus.refusal_reason(exc)
            return Outcome(
                failed_status(previous, Failure(reason, exc.message, None, True), generation, now),
                None,
            )
        if spec.suspend:
            return Outcome(None, None)
        try:
            refuse_other_namespace(spec.chart.source, seen.namespace)
            check_dependencies((seen.namespace, seen.name), spec.depends_on, self.lookup,
                               spec.chart.source, None, obj)  # fmt: skip
            chart = await self._chart(obj, spec)
            values = await self._values(seen.namespace, spec)
        except Failure as failure:
            if failure.quiet:
                return Outcome(None, failure.requeue)
            return Outcome(failed_status(previous, failure, generation, now), failure.requeue)
        observed = str(previous.get("observedPostRenderersDigest") or "")
        wanted = Wanted(chart.name, chart.version, config_digest(values),
                        renderers_digest(spec), observed)  # fmt: skip
        attempts = attempts_of(obj, wanted, generation)
        try:
            remote = (
                await self.remotes.remote(seen.namespace, spec.kube_config)
                if (spec.kube_config is not None and self.remotes is not None)
                else None
            )
        except RemoteError as exc:
            refused = Failure(INIT_FAILED, str(exc), spec.interval)
            return Outcome(failed_status(previous, refused, generation, now), refused.requeue)
        client = self._client_for(seen.namespace, spec, remote.client if remote else None)
        progress = Progress(attempts, user=_user(seen.namespace, spec),
                            kubeconfig=remote.kubeconfig if remote else None)  # fmt: skip
        try:
            await self._steps(client, spec, chart, values, wanted, progress)
            if progress.in_sync and spec.drift_mode != "disabled" and progress.history:
                await self._drift(client, obj, spec, progress.history[0])
        except Failure as failure:
            return Outcome(failed_status(previous, failure, generation, now), failure.requeue)
        status = status_of(obj, spec, wanted, progress, generation, now)
        return Outcome(status, progress.requeue)

    # ---- inputs ------------------------------------------------------------------------------

    def _client_for(
        self, namespace: str, spec: HelmReleaseSpec, remote: ClusterClient | None
    ) -> ClusterClient:
        base = remote or self.client
        user = _user(namespace, spec)
        return base.as_user(user) if user else base

    async def _chart(self, obj: Mapping[str, Any], spec: HelmReleaseSpec) -> ChartArtifact:
        generated = spec.chart.source.kind != "OCIRepository"  # chartRef: no HelmChart
        try:
            chart = await self.sources.chart(spec.chart)
        except ChartUnavailable as exc:
            if isinstance(exc, SourceNotFetched):
                pending = source_pending(spec.chart.source, self.source_of(spec.chart.source))
                if pending is not None:
                    raise pending from None
            if not generated:
                raise Failure(fluxstatus.ARTIFACT_FAILED, str(exc), spec.interval) from None
            await self.publish_chart(obj, spec, None, exc)
            name = f"{spec.chart.source.namespace}/{chart_object(obj)}"
            raise Failure(
                fluxstatus.ARTIFACT_FAILED, f"HelmChart '{name}' is not ready: {exc}", spec.interval
            ) from None
        if generated:
            await self.publish_chart(obj, spec, chart, None)
        return chart

    async def _values(self, namespace: str, spec: HelmReleaseSpec) -> dict[str, Any]:
        sources = []
        for ref in spec.values_from:
            info = await self.client.resource_for("v1", ref.kind)
            try:
                found = await self.client.get(info, ref.name, namespace)
                data = decoded(found) if ref.kind == "Secret" else dict(found.get("data") or {})
            except NotFound:
                data = None
            except ClusterError as exc:
                raise Failure(INIT_FAILED, f"{ref.kind} '{namespace}/{ref.name}': {exc.message}",
                              spec.interval) from None  # fmt: skip
            sources.append(ValuesInput(ref.kind, ref.name, namespace, ref.values_key,
                                       ref.target_path, ref.optional, data))  # fmt: skip
        try:
            return compose(sources, spec.values)
        except ValuesError as exc:
            raise Failure(INIT_FAILED, f"could not resolve values: {exc}", spec.interval) from None

    async def _drift(
        self, client: ClusterClient, obj: Mapping[str, Any], spec: HelmReleaseSpec, release: Release
    ) -> None:
        """``driftDetection``: compare the deployed release with the cluster; correct it under
        ``enabled``; report it as a Flux event (``DriftDetected``) either way."""
        correct = spec.drift_mode == "enabled"
        try:
            drift = await helmdrift.check(
                client, release, spec.target_namespace, spec.drift_ignore, correct=correct
            )
        except helmdrift.DriftError as exc:
            reason = "DriftCorrectionFailed" if correct else "DriftDetectionFailed"
            raise Failure(reason, str(exc), spec.interval) from None
        if drift is None:
            return
        self.drifts += 1
        name = f"{release.namespace}/{release.name}.v{release.version}"
        message = drift.describe(name)
        log.info("HelmRelease %s: %s", chart_object(obj), message.replace("\n", "; "))
        if self.notify is not None:
            await self.notify(_event(obj, "info" if correct else "error", "DriftDetected", message))

    # ---- steps -------------------------------------------------------------------------------

    async def _history(self, client: ClusterClient, spec: HelmReleaseSpec) -> list[Release]:
        info = await client.resource_for("v1", "Secret")
        try:
            answer = await client.list(
                info,
                spec.storage_namespace,
                label_selector=f"owner=helm,name={spec.release_name}",
            )
            return history(answer.items)
        except (ClusterError, StorageError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise Failure(GET_LAST_RELEASE_FAILED, f"failed to get last release: {message}",
                          spec.interval) from None  # fmt: skip

    async def _steps(
        self,
        client: ClusterClient,
        spec: HelmReleaseSpec,
        chart: ChartArtifact,
        values: dict[str, Any],
        wanted: Wanted,
        progress: Progress,
    ) -> None:
        for _ in range(MAX_STEPS):
            releases = await self._history(client, spec)
            progress.history = releases
            step = next_step(spec, releases, wanted, progress.attempts)
            if step.kind == "none":
                progress.requeue = spec.interval
                progress.in_sync = True
                return
            if step.kind == "stall":
                progress.stalled = step.message
                progress.requeue = spec.interval
                return
            if step.kind == "unlock":
                await self._unlock(client, spec, releases[0])
                continue
            go_on = await self._run_step(client, spec, chart, values, step, releases, progress)
            released = progress.conditions.get(RELEASED)
            if step.kind in ("install", "upgrade") and released is not None and released[1]:
                # made with the wanted post-renderers now
                wanted = replace(wanted, observed_post_renderers=wanted.post_renderers_digest)
            if not go_on:
                return
        progress.history = await self._history(client, spec)

    async def _run_step(
        self,
        client: ClusterClient,
        spec: HelmReleaseSpec,
        chart: ChartArtifact,
        values: dict[str, Any],
        step: Step,
        releases: list[Release],
        progress: Progress,
    ) -> bool:
        """Run one step; whether the reconcile goes on with the next one."""
        target = f"{spec.target_namespace}/{spec.release_name}"
        shown = f"{chart.name}@{chart.version}"
        user = progress.user
        if step.kind in ("install", "upgrade"):
            action = step.kind
            try:
                await self._release(action, spec, chart, values, user, progress.kubeconfig)
            except HelmFailed as exc:
                self._count_failure(progress, action)
                reason = "InstallFailed" if action == "install" else "UpgradeFailed"
                progress.set(RELEASED, False, reason,
                             f"Helm {action} failed for release {target} with chart {shown}: {exc.message}")  # fmt: skip
                progress.conditions.pop(TEST_SUCCESS, None)
                return self._after_failure(spec, action, progress)
            progress.attempts = replace(progress.attempts, last_action=action)
            latest = (await self._history(client, spec))[:1]
            version = f".v{latest[0].version}" if latest else ""
            reason = "InstallSucceeded" if action == "install" else "UpgradeSucceeded"
            progress.set(RELEASED, True, reason,
                         f"Helm {action} succeeded for release {target}{version} with chart {shown}")  # fmt: skip
            progress.conditions.pop(REMEDIATED, None)
            return True
        if step.kind == "test":
            version = f"{target}.v{releases[0].version}"
            try:
                await self.runner.run(["test", spec.release_name, "-n", spec.target_namespace,
                                       "--timeout", _seconds(spec.test.timeout)],
                                      user=user, timeout=spec.test.timeout,
                                      kubeconfig=progress.kubeconfig)  # fmt: skip
            except HelmFailed as exc:
                progress.set(TEST_SUCCESS, False, "TestFailed",
                             f"Helm test failed for release {version} with chart {shown}: {exc.message}")  # fmt: skip
                if spec.test.ignore_failures:
                    return False
                self._count_failure(progress, progress.attempts.last_action or "install")
                return self._after_failure(
                    spec, progress.attempts.last_action or "install", progress
                )
            hooks = len(releases[0].tests)
            progress.set(TEST_SUCCESS, True, "TestSucceeded",
                         f"Helm test succeeded for release {version} with chart {shown}: "
                         f"{hooks} test hooks completed successfully")  # fmt: skip
            return True
        await self._remediate(spec, step, releases, progress, shown)
        progress.requeue = AFTER_REMEDIATION
        return False

    async def _release(
        self,
        action: str,
        spec: HelmReleaseSpec,
        chart: ChartArtifact,
        values: dict[str, Any],
        user: str | None,
        kubeconfig: dict[str, Any] | None,
    ) -> None:
        options = spec.install if action == "install" else spec.upgrade
        async with contextlib.AsyncExitStack() as files:
            path = await files.enter_async_context(self.runner.json_file(values))
            args = [action, spec.release_name, str(chart.path), "-n", spec.target_namespace,
                    "--values", str(path), *_wait_flags(options), "--timeout",
                    _seconds(options.timeout), "--description", f"{action} by Tether"]  # fmt: skip
            if spec.post_renderers:
                renderers = await files.enter_async_context(
                    self.runner.json_file(list(spec.post_renderers))
                )
                args += ["--post-renderer", POST_RENDERER, "--post-renderer-args", str(renderers)]
            if action == "install":
                args += ["--create-namespace"] if options.create_namespace else []
                args += ["--skip-crds"] if options.skip_crds else []
            else:
                args += ["--reset-values", "--history-max", str(spec.max_history)]
                args += ["--force-replace"] if options.force else []
                args += ["--cleanup-on-fail"] if options.cleanup_on_fail else []
            args += ["--no-hooks"] if options.disable_hooks else []
            await self.runner.run(args, user=user, timeout=options.timeout, kubeconfig=kubeconfig)

    async def _remediate(
        self,
        spec: HelmReleaseSpec,
        step: Step,
        releases: list[Release],
        progress: Progress,
        shown: str,
    ) -> None:
        user = progress.user
        target = f"{spec.target_namespace}/{spec.release_name}"
        if step.kind == "rollback":
            options = spec.rollback
            args = ["rollback", spec.release_name, str(step.to_version), "-n",
                    spec.target_namespace, *_wait_flags(options), "--timeout",
                    _seconds(options.timeout), "--history-max", str(spec.max_history)]  # fmt: skip
            done = f"Helm rollback to previous release {target}.v{step.to_version} with chart {shown} succeeded"  # fmt: skip
            failed_reason, reason = "RollbackFailed", "RollbackSucceeded"
        else:
            options = spec.uninstall
            args = ["uninstall", spec.release_name, "-n", spec.target_namespace,
                    "--timeout", _seconds(options.timeout), "--ignore-not-found"]  # fmt: skip
            args += ["--keep-history"] if options.keep_history else []
            args += ["--no-hooks"] if options.disable_hooks else []
            version = f".v{releases[0].version}" if releases else ""
            done = f"Helm uninstall for release {target}{version} with chart {shown} succeeded"
            failed_reason, reason = "UninstallFailed", "UninstallSucceeded"
        try:
            await self.runner.run(args, user=user, timeout=options.timeout,
                                  kubeconfig=progress.kubeconfig)  # fmt: skip
        except HelmFailed as exc:
            progress.attempts = replace(progress.attempts, remediation_failed=True)
            progress.set(REMEDIATED, False, failed_reason, f"Helm {step.kind} failed for release {target}: {exc.message}")  # fmt: skip
            return
        progress.set(REMEDIATED, True, reason, done)

    async def _unlock(self, client: ClusterClient, spec: HelmReleaseSpec, release: Release) -> None:
        info = await client.resource_for("v1", "Secret")
        name = f"sh.helm.release.v1.{release.name}.v{release.version}"
        try:
            secret = await client.get(info, name, spec.storage_namespace)
            await client.replace(info, unlocked(secret), spec.storage_namespace)
        except (ClusterError, StorageError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise Failure(GET_LAST_RELEASE_FAILED, f"cannot unlock release {name}: {message}",
                          spec.interval) from None  # fmt: skip

    @staticmethod
    def _count_failure(progress: Progress, action: str) -> None:
        attempts = progress.attempts
        if action == "upgrade":
            progress.attempts = replace(attempts, upgrade_failures=attempts.upgrade_failures + 1,
                                        last_action="upgrade")  # fmt: skip
        else:
            progress.attempts = replace(attempts, install_failures=attempts.install_failures + 1,
                                        last_action="install")  # fmt: skip

    @staticmethod
    def _after_failure(spec: HelmReleaseSpec, action: str, progress: Progress) -> bool:
        """Go on (to a remediation) unless the strategy only retries later."""
        remediation = spec.upgrade_remediation if action == "upgrade" else spec.install_remediation
        if remediation.on_failure == "RetryOnFailure":
            progress.requeue = remediation.retry_interval
            return False
        return True


def _event(obj: Mapping[str, Any], severity: str, reason: str, message: str) -> FluxEvent:
    meta = obj.get("metadata") or {}
    involved = InvolvedObject(
        FLUX_HELM_RELEASE,
        str(meta.get("name") or ""),
        str(meta.get("namespace") or ""),
        str(obj.get("apiVersion") or FLUX_HELM_API_VERSION),
        str(meta.get("uid") or ""),
    )
    return FluxEvent(involved, severity, reason, message, "helm-controller",
                     labels=dict(meta.get("labels") or {}))  # fmt: skip


def _user(namespace: str, spec: HelmReleaseSpec) -> str | None:
    return tenant_user(namespace, spec.service_account)


def _wait_flags(options: ActionOptions) -> list[str]:
    if options.disable_wait:
        return []
    return ["--wait=watcher"] + ([] if options.disable_wait_for_jobs else ["--wait-for-jobs"])


def _seconds(value: float) -> str:
    return f"{int(value)}s" if value >= 1 else "1s"
