"""One Kustomization reconciled as kustomize-controller does it, on Tether's engine.

Order: spec read; ``suspend``; dependency cycle (named, which Flux does not); the source's
artifact; ``dependsOn`` ready at the source's revision; ``postBuild`` variables and SOPS keys;
the build (:mod:`tether.flux.build`, in a thread); the apply through :class:`SyncEngine`
(server-side dry run of the whole revision first, then server-side apply with Flux's field
manager, impersonating ``serviceAccountName`` when set), pruning what left the inventory and
still carries this Kustomization's labels; ``wait``/``healthChecks`` until ``timeout``; then one
status write: ``Ready`` (and ``Healthy``), ``inventory``, ``lastAppliedRevision``,
``lastAttemptedRevision``. A failure before the apply applies nothing and keeps the last
inventory and revision: what the last good revision deployed stays.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from tether.cluster.client import ClusterClient
from tether.cluster.discovery import ResourceInfo
from tether.cluster.errors import ClusterError, NotFound
from tether.cluster.tracking import Tracking, TrackingMethod
from tether.controller.flux import fluxdiff, inputs
from tether.controller.flux.gitrepos import Artifact, Outcome
from tether.controller.flux.helmcharts import ChartUnavailable
from tether.controller.flux.reconcile import (
    Failure,
    Lookup,
    check_dependencies,
    refuse_other_namespace,
    source_pending,
    tenant_user,
)
from tether.controller.flux.remote import RemoteClusters, RemoteError
from tether.controller.flux.sources import SourceArtifacts
from tether.engine.health import health_of
from tether.engine.health.status import DEGRADED, HEALTHY
from tether.engine.plan import SyncOptions
from tether.engine.sync import SyncEngine, SyncRequest
from tether.errors import TetherError
from tether.fields import InvalidSpecError
from tether.flux import status as fluxstatus
from tether.flux.build import BuildInput, build
from tether.flux.healthexprs import health_by_exprs
from tether.flux.kustomizations import FluxBuildOptions, parse_build_options
from tether.flux.specs import KustomizationSpec, ObjectRef, parse_kustomization
from tether.names import FLUX_KUSTOMIZATION_NAME_LABEL, FLUX_KUSTOMIZE_FIELD_MANAGER
from tether.resources import ResourceKey

HEALTH_POLL = 1.0


class Kustomizations:
    """Reconciles one Kustomization at a time per object (the part serialises them)."""

    def __init__(
        self,
        client: ClusterClient,
        sources: SourceArtifacts,
        lookup: Lookup,
        source_of: Callable[[ObjectRef], Mapping[str, Any] | None],
        follow: Callable[[list[ResourceInfo]], Awaitable[None]] | None = None,
        remotes: RemoteClusters | None = None,
    ) -> None:
        """``lookup`` gives a Kustomization by (namespace, name) and ``source_of`` a source
        object: the part's watches answer both."""
        self.client = client
        self.sources = sources
        self.lookup = lookup
        self.source_of = source_of
        #: told the kinds a Kustomization applied (the live cache then watches them)
        self.follow = follow
        #: clients of the clusters ``kubeConfig`` names
        self.remotes = remotes
        self.applies = 0

    async def reconcile(self, obj: Mapping[str, Any], now: str) -> Outcome:
        seen = fluxstatus.Observed.of(obj)
        namespace, previous, generation = seen.namespace, seen.status, seen.generation
        try:
            spec = parse_kustomization(obj.get("spec"), namespace)
            options = parse_build_options(obj.get("spec"))
        except InvalidSpecError as exc:
            failure = Failure(fluxstatus.refusal_reason(exc), exc.message, None, stalled=True)
            return Outcome(_failed(previous, failure, generation, now, None), None)
        if spec.suspend:
            return Outcome(None, None)
        revision: str | None = None
        objects: list[dict[str, Any]] | None = None
        started = time.monotonic()
        try:
            artifact = self._artifact(spec, namespace)
            revision = artifact.revision
            check_dependencies((namespace, seen.name), spec.depends_on, self.lookup,
                               spec.source, artifact.revision, obj)  # fmt: skip
            objects = await self._build(namespace, seen.name, spec, options, artifact)
            status = await self._apply(obj, spec, objects, artifact, generation, now)
        except Failure as failure:
            if failure.quiet:
                return Outcome(None, failure.requeue)
            status = _failed(previous, failure, generation, now, revision)
            if objects is not None and revision:
                _record(status, objects, failure.reason, now, started, revision)
            return Outcome(status, failure.requeue)
        assert revision is not None
        _record(status, objects, fluxstatus.RECONCILIATION_SUCCEEDED, now, started, revision)
        return Outcome(status, spec.interval)

    async def diff(self, obj: Mapping[str, Any]) -> list[dict[str, Any]]:
        """What applying the current revision would change (:mod:`fluxdiff`), built and compared
        as a reconcile would, applying nothing; :class:`fluxdiff.DiffError` when it cannot."""
        seen = fluxstatus.Observed.of(obj)
        try:
            spec = parse_kustomization(obj.get("spec"), seen.namespace)
            options = parse_build_options(obj.get("spec"))
            artifact = self._artifact(spec, seen.namespace)
            objects = await self._build(seen.namespace, seen.name, spec, options, artifact)
            client = await self._target(spec, seen.namespace)
        except InvalidSpecError as exc:
            raise fluxdiff.DiffError(exc.message) from None
        except Failure as failure:
            raise fluxdiff.DiffError(failure.message) from None
        diffs = await fluxdiff.diff_build(
            client, objects, seen.status, seen.namespace, seen.name, prune=spec.prune
        )
        return fluxdiff.describe(diffs)

    def _artifact(self, spec: KustomizationSpec, namespace: str) -> Artifact:
        source = spec.source
        refuse_other_namespace(source, namespace)
        artifact = self.sources.artifact(source.kind, source.namespace, source.name)
        if artifact is None:
            found = self.source_of(source)
            pending = source_pending(source, found)
            if pending is not None:
                raise pending
            state = "is not ready" if found is not None else "not found"
            message = f"{source.kind} '{source.namespace}/{source.name}' {state}"
            raise Failure(fluxstatus.ARTIFACT_FAILED, message, spec.retry_interval)
        return artifact

    async def _apply(
        self,
        obj: Mapping[str, Any],
        spec: KustomizationSpec,
        objects: list[dict[str, Any]],
        artifact: Artifact,
        generation: int,
        now: str,
    ) -> dict[str, Any]:
        meta = obj["metadata"]
        namespace, name = meta["namespace"], meta["name"]
        previous = dict(obj.get("status") or {})
        client = await self._target(spec, namespace)
        desired = inputs.applied(objects)
        await self._check_namespaces(client, desired, spec)
        keys = [ResourceKey.of(o) for o in desired]
        try:
            stale = (
                await inputs.stale_objects(client, previous, keys, namespace, name)
                if spec.prune
                else []
            )
        except fluxstatus.InventoryError as exc:
            raise Failure(fluxstatus.RECONCILIATION_FAILED, str(exc), spec.retry_interval) from None
        to_apply = await _without_present(client, desired)
        engine = SyncEngine(
            client,
            app_name=name,
            tracking=Tracking(TrackingMethod.LABEL, FLUX_KUSTOMIZATION_NAME_LABEL),
            field_manager=FLUX_KUSTOMIZE_FIELD_MANAGER,
            wave_timeout=spec.timeout,
        )
        request = SyncRequest(desired=to_apply, live=stale, options=SyncOptions(prune=spec.prune))
        result = await engine.run(request)
        if not result.succeeded and spec.force:
            immutable = [s.key for s in result.steps if "immutable" in s.message]
            if immutable:
                await _recreate(client, immutable, spec.timeout)
                result = await engine.run(request)
        self.applies += 1
        if not result.succeeded:
            raise Failure(fluxstatus.RECONCILIATION_FAILED, result.message, spec.retry_interval)
        if self.follow is not None and spec.kube_config is None:
            await self._follow(desired)
        healthy = await self._wait_healthy(client, spec, desired, namespace)
        inventory = fluxstatus.inventory(
            (ResourceKey.of(o), str(o.get("apiVersion", "")).rpartition("/")[2]) for o in desired
        )
        wanted = [(fluxstatus.READY, True, fluxstatus.RECONCILIATION_SUCCEEDED,
                   f"Applied revision: {artifact.revision}")]  # fmt: skip
        if healthy is not None:
            wanted.append((fluxstatus.HEALTHY, True, fluxstatus.SUCCEEDED, healthy))
        return fluxstatus.updated(
            previous,
            wanted,
            generation,
            now,
            lastAppliedRevision=artifact.revision,
            lastAttemptedRevision=artifact.revision,
            inventory=inventory,
        )

    async def _follow(self, desired: Sequence[dict[str, Any]]) -> None:
        assert self.follow is not None
        kinds = {(str(o.get("apiVersion")), str(o.get("kind"))) for o in desired}
        infos = []
        for api_version, kind in sorted(kinds):
            try:
                infos.append(await self.client.resource_for(api_version, kind))
            except ClusterError:
                continue
        await self.follow(infos)

    async def _target(self, spec: KustomizationSpec, namespace: str) -> ClusterClient:
        """The client of the cluster the Kustomization deploys to (``kubeConfig``: another),
        as its ``serviceAccountName`` when set (impersonated there)."""
        client = self.client
        if spec.kube_config is not None:
            if self.remotes is None:
                raise Failure(fluxstatus.RECONCILIATION_FAILED, "remote clusters are off", None)
            try:
                client = (await self.remotes.remote(namespace, spec.kube_config)).client
            except RemoteError as exc:
                raise Failure(
                    fluxstatus.RECONCILIATION_FAILED, str(exc), spec.retry_interval
                ) from None
        user = tenant_user(namespace, spec.service_account)
        return client.as_user(user) if user else client

    async def _check_namespaces(
        self, client: ClusterClient, desired: Sequence[dict[str, Any]], spec: KustomizationSpec
    ) -> None:
        """A namespaced object without a namespace is refused, as Flux refuses it (never put in
        ``default`` behind the user's back)."""
        for obj in desired:
            if (obj.get("metadata") or {}).get("namespace"):
                continue
            try:
                info = await client.resource_for(str(obj.get("apiVersion")), str(obj.get("kind")))
            except ClusterError:
                continue  # a kind this revision defines: the apply tells
            if info.namespaced:
                key = ResourceKey.of(obj)
                raise Failure(
                    fluxstatus.RECONCILIATION_FAILED,
                    f"{key.kind}/{key.name} namespace not specified: set metadata.namespace "
                    "or the Kustomization's spec.targetNamespace",
                    spec.retry_interval,
                )

    async def _build(
        self,
        namespace: str,
        name: str,
        spec: KustomizationSpec,
        options: FluxBuildOptions,
        artifact: Artifact,
    ) -> list[dict[str, Any]]:
        try:
            variables = await inputs.variables(self.client, namespace, spec)
            keys = await inputs.decryption_keys(self.client, namespace, spec)
            tree = await self.sources.tree(artifact)
            request = BuildInput(
                namespace=namespace,
                name=name,
                path=spec.path,
                options=options,
                variables=variables,
                substitute_always=spec.substitute_always,
                decryption=keys,
                ignore=artifact.ignore,
            )
            return await asyncio.to_thread(build, tree, request)
        except inputs.InputError as exc:
            raise Failure(fluxstatus.BUILD_FAILED, str(exc), spec.retry_interval) from None
        except TetherError as exc:
            raise Failure(fluxstatus.BUILD_FAILED, exc.message, spec.retry_interval) from None
        except ChartUnavailable as exc:
            raise Failure(fluxstatus.ARTIFACT_FAILED, str(exc), spec.retry_interval) from None

    async def _wait_healthy(
        self,
        client: ClusterClient,
        spec: KustomizationSpec,
        desired: Sequence[dict[str, Any]],
        namespace: str,
    ) -> str | None:
        """With ``wait`` (every applied object) or ``healthChecks``: poll until all are
        Healthy (message), fail fast on Degraded, or fail at ``timeout``. None: nothing waited."""
        if spec.wait:
            targets = [_ref_of(o, namespace) for o in desired]
        elif spec.health_checks:
            targets = list(spec.health_checks)
        else:
            return None
        deadline = time.monotonic() + spec.timeout
        while True:
            pending = []
            for ref in targets:
                live = await _get(client, ref)
                health = health_by_exprs(spec.health_check_exprs, live) or health_of(live)
                if health is None or health.status == HEALTHY:
                    continue
                if health.status == DEGRADED:
                    raise Failure(
                        fluxstatus.HEALTH_CHECK_FAILED,
                        f"{ref.kind}/{ref.namespace}/{ref.name} status: 'Failed': {health.message}",
                        spec.retry_interval,
                    )
                pending.append(f"{ref.kind}/{ref.namespace}/{ref.name}")
            if not pending:
                return "Health check passed"
            if time.monotonic() >= deadline:
                raise Failure(
                    fluxstatus.HEALTH_CHECK_FAILED,
                    f"timeout waiting for: [{', '.join(pending[:10])}]",
                    spec.retry_interval,
                )
            await asyncio.sleep(HEALTH_POLL)


async def _without_present(
    client: ClusterClient, desired: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``kustomize.toolkit.fluxcd.io/ssa: IfNotPresent``: such an object is created when it is
    missing and never written again (it stays in the inventory). ``Merge`` applies as the
    default does: Tether's apply never removes fields other managers own."""
    once = [o for o in desired if inputs.ssa_policy(o) == "ifnotpresent"]
    if not once:
        return list(desired)
    try:
        present = await fluxdiff.read_live(client, once)
    except fluxdiff.DiffError as exc:
        raise Failure(fluxstatus.RECONCILIATION_FAILED, str(exc), None) from None
    return [o for o in desired if ResourceKey.of(o) not in present]


async def _recreate(client: ClusterClient, keys: Sequence[ResourceKey], timeout: float) -> None:
    """``force``: delete the objects an apply could not change (an immutable field) and wait
    until they are gone, so the next apply creates them."""
    deadline = time.monotonic() + timeout
    for key in keys:
        try:
            info = await client.resource_for_group_kind(key.group, key.kind)
            await client.delete(info, key.name, key.namespace or None,
                                propagation_policy="Foreground")  # fmt: skip
            while time.monotonic() < deadline:
                await client.get(info, key.name, key.namespace or None)
                await asyncio.sleep(HEALTH_POLL / 4)
        except NotFound:
            continue
        except ClusterError as exc:
            raise Failure(fluxstatus.RECONCILIATION_FAILED,
                          f"{key.kind}/{key.name}: cannot recreate it: {exc.message}", None) from None  # fmt: skip


def _record(
    status: dict[str, Any],
    objects: Sequence[Mapping[str, Any]],
    reason: str,
    now: str,
    started: float,
    revision: str,
) -> None:
    """This reconcile in ``status.history`` (Flux's: the objects' digest and the outcome)."""
    status["history"] = fluxstatus.record_history(
        status.get("history") or (),
        fluxstatus.manifest_digest(objects),
        reason,
        now,
        time.monotonic() - started,
        revision,
    )


def _ref_of(obj: Mapping[str, Any], namespace: str) -> ObjectRef:
    meta = obj.get("metadata") or {}
    return ObjectRef(
        kind=str(obj.get("kind")),
        name=str(meta.get("name")),
        namespace=str(meta.get("namespace") or ""),
        api_version=str(obj.get("apiVersion")),
    )


async def _get(client: ClusterClient, ref: ObjectRef) -> dict[str, Any] | None:
    try:
        info = await client.resource_for(ref.api_version or "v1", ref.kind)
        return await client.get(info, ref.name, ref.namespace if info.namespaced else None)
    except NotFound:
        return None
    except ClusterError:
        return None


def _failed(
    previous: dict[str, Any], failure: Failure, generation: int, now: str, revision: str | None
) -> dict[str, Any]:
    """Ready=False with Flux's reason (Stalled when nothing more will be tried, else Reconciling
    ``ProgressingWithRetry``); inventory and lastAppliedRevision stay as they were."""
    wanted = [(fluxstatus.READY, False, failure.reason, failure.message)]
    if failure.stalled:
        wanted.append((fluxstatus.STALLED, True, failure.reason, failure.message))
    elif failure.requeue is not None:
        wanted.append((fluxstatus.RECONCILING, True, fluxstatus.PROGRESSING_WITH_RETRY,
                       failure.message))  # fmt: skip
    status = fluxstatus.updated(previous, wanted, generation, now)
    if revision:
        status["lastAttemptedRevision"] = revision
    return status
