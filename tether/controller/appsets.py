"""ApplicationSets as a part of the controller: each set of the control namespace is generated
(`tether.appsets`) and its Applications created, updated and deleted as its plan says, with
owner references so deleting the set deletes them (the API server's garbage collection).

A set is generated again when it changes, when an Application it owns changes or goes, when a
push reaches a repository its Git generators read, and every ``requeueAfterSeconds`` (180 s by
default, Argo CD's). Generation runs in a thread (Git trees, templates); the writes are
server-side applies with a field manager of their own, made only for what the plan changes: a
regeneration that changes nothing writes nothing. A generation that fails writes nothing but
its status: the Applications stay as they are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tether.appsets.applications import generate_applications
from tether.appsets.errors import AppSetError
from tether.appsets.generators.context import ClusterInfo, Context, GitTree
from tether.appsets.plan import Plan, owned_by, plan
from tether.appsets.preview import preview_document
from tether.appsets.rollout import (
    decide,
    steps_of,
)
from tether.cluster.cache import cancel_and_wait
from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound
from tether.controller import clusters as cluster_secrets
from tether.controller.appsetinputs import AppSetInputs
from tether.controller.appsetstatus import app_state, same_status, status_of, with_rollout
from tether.controller.watcher import ObjectWatcher
from tether.controller.workqueue import WorkQueue
from tether.names import (
    APPLICATION,
    APPLICATION_SET,
    ARGO_API_VERSION,
    IN_CLUSTER_SERVER,
    RESOURCES_FINALIZER,
)
from tether.source.credentials import RepoCredentials
from tether.source.errors import SourceError
from tether.source.mirror import MirrorCache
from tether.source.urls import normalize_repo_url

log = logging.getLogger(__name__)

#: Argo CD's default requeue of a set (its Git generators' polling)
DEFAULT_REQUEUE_SECONDS = 180.0
#: Application writes in flight at once (a set of 1,000 must not take 1,000 round trips in turn)
WRITES_AT_ONCE = 8
#: the field manager of the writes to generated Applications
FIELD_MANAGER = "tether-applicationset"


def cluster_infos(secrets: Mapping[str, Mapping[str, Any]]) -> tuple[ClusterInfo, ...]:
    """The clusters the Cluster generator sees: every cluster Secret that parses (its labels and
    annotations), and the local cluster unless a Secret declares it."""
    found = []
    for _, secret in sorted(secrets.items()):
        if not cluster_secrets.is_cluster_secret(secret):
            continue
        try:
            entry = cluster_secrets.parse_cluster_secret(dict(secret))
        except cluster_secrets.ClusterSecretError:
            continue
        meta = secret.get("metadata") or {}
        labels = dict(meta.get("labels") or {})
        found.append(
            ClusterInfo(entry.name, entry.server, entry.project, labels,
                        dict(meta.get("annotations") or {}))
        )  # fmt: skip
    if not any(c.server == IN_CLUSTER_SERVER for c in found):
        local = cluster_secrets.in_cluster_entry()
        found.insert(0, ClusterInfo(local.name, local.server, local=True))
    return tuple(found)


#: the shortest requeue a set may ask for (a tight loop on a hosted API would be refused there)
MIN_REQUEUE_SECONDS = 10.0


def requeue_after(obj: Mapping[str, Any], default: float) -> float:
    """The shortest ``requeueAfterSeconds`` of the set's generators (matrix and merge children
    too), else ``default``; never below :data:`MIN_REQUEUE_SECONDS`."""
    found: list[float] = []
    stack = list((obj.get("spec") or {}).get("generators") or [])
    while stack:
        generator = stack.pop()
        if not isinstance(generator, Mapping):
            continue
        for kind, spec in generator.items():
            if not isinstance(spec, Mapping):
                continue
            value = spec.get("requeueAfterSeconds")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                found.append(float(value))
            if kind in ("matrix", "merge") and isinstance(spec.get("generators"), list):
                stack.extend(spec["generators"])
    return max(MIN_REQUEUE_SECONDS, min(found)) if found else default


def _repositories(generators: Any) -> set[str]:
    """The repositories the Git generators of a set read (matrix and merge children too)."""
    found: set[str] = set()
    stack = list(generators) if isinstance(generators, list) else []
    while stack:
        generator = stack.pop()
        if not isinstance(generator, Mapping):
            continue
        git = generator.get("git")
        if isinstance(git, Mapping) and isinstance(git.get("repoURL"), str):
            found.add(normalize_repo_url(git["repoURL"]))
        for combined in ("matrix", "merge"):
            inner = generator.get(combined)
            if isinstance(inner, Mapping) and isinstance(inner.get("generators"), list):
                stack.extend(inner["generators"])
    return found


class ApplicationSets:
    """Generates the sets of the control namespace; see the module docstring."""

    def __init__(
        self,
        client: ClusterClient,
        namespace: str,
        *,
        applications: Callable[[], Mapping[str, dict[str, Any]]],
        secrets: Callable[[], Mapping[str, Mapping[str, Any]]],
        mirrors: MirrorCache,
        credentials_for: Callable[[str], RepoCredentials | None],
        active: Callable[[], bool] = lambda: True,
        remember: Callable[[dict[str, Any]], None] = lambda obj: None,
        requeue_seconds: float = DEFAULT_REQUEUE_SECONDS,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self._applications = applications
        self._secrets = secrets
        self._mirrors = mirrors
        self._credentials_for = credentials_for
        self._active = active
        #: keeps each written Application in the controller's cache before its watch event
        #: comes, so the next generation sees it (and writes nothing again)
        self._remember = remember
        self.requeue_seconds = requeue_seconds
        self.inputs = AppSetInputs(client, namespace)
        self.queue = WorkQueue()
        self.watcher: ObjectWatcher | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._working = False
        self.generations = 0
        self.writes = 0

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> bool:
        """Follow the sets and generate them; False (idle) when their CRD is not served or may
        not be read."""
        if not await self.follow(generate=True):
            return False
        self._tasks.append(asyncio.create_task(self._work(), name="applicationsets"))
        return True

    async def follow(self, *, generate: bool = False) -> bool:
        """Follow the sets (a server replica only reads them); False when they cannot be read."""
        try:
            info = await self.client.resource_for(ARGO_API_VERSION, APPLICATION_SET)
            await self.client.request(
                "GET", info.path(self.namespace), verb="list", params={"limit": "1"}
            )
        except ClusterError as exc:
            log.info("ApplicationSets off: they cannot be read (%s)", exc.message)
            return False
        self.watcher = ObjectWatcher(
            self.client, info, self.namespace, self._on_set if generate else None
        )
        self.watcher.start()
        return True

    def objects(self) -> dict[str, dict[str, Any]]:
        """The sets of the control namespace by name (empty when not followed)."""
        return dict(self.watcher.objects) if self.watcher is not None else {}

    async def stop(self) -> None:
        await asyncio.gather(*(cancel_and_wait(task) for task in self._tasks))
        self._tasks.clear()
        self.queue.close()
        if self.watcher is not None:
            await self.watcher.stop()

    async def idle(self) -> None:
        """Return once no set waits to be generated (tests)."""
        while self.queue.depth() or self._working:
            await asyncio.sleep(0.02)

    # ---- triggers ----------------------------------------------------------------------------

    def _on_set(self, event_type: str, obj: dict[str, Any]) -> None:
        if event_type != "DELETED":
            self.queue.add(obj["metadata"]["name"])

    def on_application(self, event_type: str, obj: Mapping[str, Any]) -> None:
        """An Application changed or went: its set (if any) is generated again, so that what
        the set manages comes back."""
        for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
            if isinstance(ref, Mapping) and ref.get("kind") == APPLICATION_SET:
                self.queue.add(str(ref.get("name")), delay=0.5)

    def on_push(self, repo_urls: Iterable[str]) -> list[str]:
        """Repositories moved: the sets whose Git generators read them; queued."""
        moved = {normalize_repo_url(u) for u in repo_urls}
        names = [
            name
            for name, obj in (self.watcher.objects.items() if self.watcher else ())
            if moved & _repositories((obj.get("spec") or {}).get("generators"))
        ]
        for name in names:
            self.queue.add(name)
        return names

    # ---- one set -----------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            name = await self.queue.take()
            self._working = True
            try:
                if self._active():
                    await self.reconcile(name)
            except Exception:  # one set's failure never stops the others
                log.exception("ApplicationSet %s failed", name)
            finally:
                self._working = False
                self.queue.done(name)
            obj = self.watcher.get(name) if self.watcher is not None else None
            if obj is not None:
                self.queue.add(name, delay=requeue_after(obj, self.requeue_seconds))

    def _tree(self, url: str, revision: str) -> GitTree:
        mirror = self._mirrors.mirror(url, self._credentials_for(url))
        try:
            return mirror.tree(mirror.resolve(revision).commit)
        except SourceError as exc:
            raise AppSetError(f"{url} at {revision}: {exc.message}") from None

    def _existing(self) -> dict[str, dict[str, Any]]:
        return {
            app_name: app
            for app_name, app in self._applications().items()
            if (app.get("metadata") or {}).get("namespace") in (None, self.namespace)
        }

    async def _plan(
        self, obj: Mapping[str, Any], existing: Mapping[str, Mapping[str, Any]]
    ) -> tuple[list[dict[str, Any]], Plan]:
        """The generated Applications of ``obj`` and the plan against ``existing``; an
        AppSetError when they cannot be had."""
        pulls = await self.inputs.pull_requests(obj)
        chosen = await self.inputs.decisions(obj)
        repositories = await self.inputs.scm(obj)
        ctx = Context(self._tree, cluster_infos(self._secrets()), pulls, chosen, repositories)
        desired = await asyncio.to_thread(generate_applications, obj, ctx)
        if steps_of(obj) is not None:
            # a progressive sync decides when each Application syncs: none syncs by itself
            for app in desired:
                (app["spec"].get("syncPolicy") or {}).pop("automated", None)
        if (obj.get("spec") or {}).get("syncPolicy", {}).get("preserveResourcesOnDeletion"):
            for app in desired:
                finalizers = app["metadata"].get("finalizers") or []
                app["metadata"]["finalizers"] = [
                    f for f in finalizers if not f.startswith(RESOURCES_FINALIZER)
                ]
        return desired, plan(obj, desired, existing)

    async def preview(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """What applying ``obj`` would do (nothing is written): `preview_document`, or its
        ``error``."""
        existing = self._existing()
        meta = obj.get("metadata") or {}
        stored = self.objects().get(str(meta.get("name") or ""))
        if stored is not None:
            # the set as it would be stored: the Applications the stored one owns are its own
            uid = (stored.get("metadata") or {}).get("uid")
            obj = {**obj, "metadata": {**meta, "uid": uid}}
        try:
            _, outcome = await self._plan(obj, existing)
        except AppSetError as exc:
            return {"error": exc.message}
        return preview_document(outcome, existing)

    async def reconcile(self, name: str) -> None:
        assert self.watcher is not None
        obj = self.watcher.get(name)
        if obj is None:
            return  # deleted: the API server's garbage collection takes its Applications
        started = time.monotonic()
        existing = self._existing()
        uid = str(obj["metadata"].get("uid") or "")
        owned = [n for n, app in existing.items() if owned_by(app, uid)]
        try:
            desired, outcome = await self._plan(obj, existing)
        except AppSetError as exc:
            log.warning("ApplicationSet %s: %s", name, exc.message)
            await self._write_status(obj, status_of(obj, None, exc.message, owned))
            return
        self.generations += 1
        await self._apply(outcome)
        made = [
            a["metadata"]["name"] for a in desired if a["metadata"]["name"] not in outcome.conflicts
        ]
        status = status_of(obj, outcome, "", made)
        steps = steps_of(obj)
        if steps is not None:
            decision = decide(
                steps, [app_state(self._applications().get(n) or {}, n) for n in made]
            )
            await self._sync(decision.sync)
            status = with_rollout(obj, status, decision)
        await self._write_status(obj, status)
        log.debug("ApplicationSet %s generated in %.3f s", name, time.monotonic() - started)

    def on_pull_request(self) -> list[str]:
        """A pull request moved somewhere: the sets with a pullRequest generator; queued."""
        names = [
            name
            for name, obj in (self.watcher.objects.items() if self.watcher else ())
            if '"pullRequest"' in json.dumps((obj.get("spec") or {}).get("generators"))
        ]
        for name in names:
            self.queue.add(name)
        return names

    async def _sync(self, names: Iterable[str]) -> None:
        """Ask for the sync of ``names`` (the ``operation`` field, as a person's sync does)."""
        info = await self.client.resource_for(ARGO_API_VERSION, APPLICATION)
        operation = {"initiatedBy": {"username": "applicationset-controller", "automated": True},
                     "sync": {"syncStrategy": {"hook": {}}}}  # fmt: skip
        for name in names:
            try:
                answer = await self.client.patch(
                    info, name, {"operation": operation}, self.namespace,
                    field_manager=FIELD_MANAGER,
                )  # fmt: skip
            except NotFound:
                continue
            self._remember(answer)
            self.writes += 1

    async def _apply(self, outcome: Plan) -> None:
        info = await self.client.resource_for(ARGO_API_VERSION, APPLICATION)
        gate = asyncio.Semaphore(WRITES_AT_ONCE)

        async def write(app: dict[str, Any]) -> None:
            async with gate:
                answer = await self.client.apply(info, app, field_manager=FIELD_MANAGER, force=True)
            self._remember(answer)
            self.writes += 1

        async def delete(app_name: str) -> None:
            async with gate:
                try:
                    await self.client.delete(info, app_name, self.namespace)
                except NotFound:
                    return
            self.writes += 1

        await asyncio.gather(*(write(a) for a in (*outcome.create, *outcome.update)))
        await asyncio.gather(*(delete(n) for n in outcome.delete))

    async def _write_status(self, obj: Mapping[str, Any], status: dict[str, Any]) -> None:
        if same_status(obj.get("status") or {}, status):
            return
        assert self.watcher is not None
        answer = await self.client.patch(
            self.watcher.info,
            obj["metadata"]["name"],
            {"status": status},
            self.namespace,
            field_manager=FIELD_MANAGER,
            subresource="status",
        )
        self.watcher.remember(answer)
        self.writes += 1
