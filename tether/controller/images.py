"""Image automation in the controller: Flux's ImageRepositories scanned, ImagePolicies
evaluated, ImageUpdateAutomations run, their statuses written as Flux writes them.

The three kinds are followed in the control namespace by list+watch. Work goes through one
queue of keys (``repository/<name>``, ``policy/<name>``, ``automation/<name>``) served by a
few workers:

- a repository is scanned when it appears or its spec changes, every ``spec.interval``, at
  once when a registry webhook names its image (:meth:`ImageAutomation.on_registry_event`), and
  on Flux's ``reconcile.fluxcd.io/requestedAt`` annotation; its tags stay in memory only;
- a policy is evaluated when its repository's tags or its own spec change;
- an automation runs when the latest image of a policy it selects moves, its spec changes, and
  every ``spec.interval`` (the fallback, as Flux).

A failure is retried with backoff (capped at the object's interval); a spec that cannot work
stalls until it changes. Statuses are written only when they differ from what the object
holds. The registry and Git work never holds the event loop: the registry client is async, the
git work runs in a thread (see :mod:`tether.controller.imageupdates`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from tether.cluster.cache import cancel_and_wait
from tether.cluster.client import ClusterClient
from tether.cluster.errors import ClusterError, NotFound
from tether.cluster.secretdata import decoded
from tether.controller.imageapps import generated_objects, git_credentials, updater_job
from tether.controller.imageappwrites import GeneratedObjects, OutcomeEvents, Recorder
from tether.controller.imagerequests import (
    AUTOMATION,
    KINDS,
    POLICY,
    REPOSITORY,
    repositories_of_event,
    request_reconcile,
)
from tether.controller.imageupdates import (
    AutomationRun,
    HostFactory,
    UpdateJob,
    run_automation,
    run_job,
)
from tether.controller.watcher import ObjectWatcher
from tether.controller.workqueue import WorkQueue
from tether.durations import InvalidDurationError, parse_duration
from tether.githost import host_for
from tether.images import automationspec as specs
from tether.images.automation import GitAccess
from tether.images.dockerconfig import credentials_from_dockerconfig, parse_repository
from tether.images.errors import ImageError
from tether.images.events import RegistryEvent, concerns
from tether.images.imageupdater import ImageUpdaterConfigError, UpdaterConfig, read_updater_config
from tether.images.reflector import evaluate, image_repository_ref, scan
from tether.images.registry import RegistryClient
from tether.names import (
    APPLICATION,
    FLUX_IMAGE_API_VERSION,
    FLUX_RECONCILE_REQUEST_ANNOTATION,
    FLUX_SOURCE_API_VERSION,
    IMAGE_UPDATER_APP_LABEL,
    IMAGE_UPDATER_PREFIX,
    PULL_REQUEST_ANNOTATION,
)
from tether.notify.flux.events import ready_transition
from tether.notify.flux.models import FluxEvent
from tether.source.credentials import RepoCredentials

log = logging.getLogger(__name__)

#: annotation prefixes of an Application the image automation reads
_APP_PREFIXES = (IMAGE_UPDATER_PREFIX, PULL_REQUEST_ANNOTATION.partition("/")[0])

#: the queue's key kind of an Application with Image Updater annotations
APPLICATION_KIND = "application"
#: how long start() waits for the first list of each kind
SYNC_TIMEOUT = 60.0
#: first retry after a failure, doubled each time, capped at the object's interval
RETRY_SECONDS = 5.0
#: how long a policy change waits for others before its automations run (one commit for all)
COALESCE_SECONDS = 0.2


def _key(kind: str, name: str) -> str:
    return f"{kind}/{name}"


def _interval(spec: Mapping[str, Any]) -> float | None:
    """``spec.interval`` in seconds (None: absent or malformed; the status says so)."""
    text = spec.get("interval")
    try:
        return parse_duration(text) if isinstance(text, str) and text else None
    except InvalidDurationError:
        return None


def _trigger(obj: Mapping[str, Any]) -> tuple[Any, Any]:
    """What asks for work when it changes: the generation and Flux's reconcile request."""
    meta = obj.get("metadata") or {}
    return meta.get("generation"), (meta.get("annotations") or {}).get(
        FLUX_RECONCILE_REQUEST_ANNOTATION
    )


class ImageAutomation:
    """Scans, policies and automations of the control namespace; see the module docstring."""

    def __init__(
        self,
        client: ClusterClient,
        namespace: str,
        field_manager: str,
        *,
        applications: Callable[[], Mapping[str, dict[str, Any]]],
        credentials_for: Callable[[str], RepoCredentials | None],
        access: GitAccess,
        active: Callable[[], bool] = lambda: True,
        registry: RegistryClient | None = None,
        hosts: HostFactory = host_for,
        record: Recorder | None = None,
        report: Callable[[FluxEvent], object] | None = None,
        workers: int = 2,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.field_manager = field_manager
        self.applications = applications
        self.credentials_for = credentials_for
        self.access = access
        self.active = active
        self.registry = registry or RegistryClient()
        self.hosts = hosts
        self.workers = workers
        #: the last outcome of each Application's Image Updater update, and its Events
        self.events = OutcomeEvents(record)
        #: told a Flux event when an object's Ready condition changes (Flux Alerts route them)
        self.report = report
        self.queue = WorkQueue()
        self.watchers: dict[str, ObjectWatcher] = {}
        #: the last good tags of each repository (Flux keeps them in its database)
        self.tags: dict[str, tuple[str, ...]] = {}
        self._digests: dict[tuple[str, str], str] = {}
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._failures: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.runs = 0

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> bool:
        """Follow the three kinds and start the workers; False (and idle, with a warning)
        when the CRDs are not installed or the controller may not read them: image automation
        is optional, the rest of the controller runs without it."""
        infos = {}
        for kind, crd_kind in KINDS.items():
            try:
                infos[kind] = info = await self.client.resource_for(
                    FLUX_IMAGE_API_VERSION, crd_kind
                )
                # one item: may the controller read them at all (a namespaced install's Role
                # may not name these kinds)
                await self.client.request(
                    "GET", info.path(self.namespace), verb="list", params={"limit": "1"}
                )
            except ClusterError as exc:
                log.warning("image automation off: %s cannot be read (%s)", crd_kind, exc.message)
                return False
        for kind, info in infos.items():
            self.watchers[kind] = ObjectWatcher(
                self.client, info, self.namespace, self._on_event(kind)
            )
            self.watchers[kind].start()
        self.generated = GeneratedObjects(
            self.client,
            self.namespace,
            self.field_manager,
            {KINDS[kind]: self.watchers[kind] for kind in (REPOSITORY, POLICY)},
        )
        try:
            async with asyncio.timeout(SYNC_TIMEOUT):
                for watcher in self.watchers.values():
                    await watcher.synced.wait()
        except TimeoutError:
            log.warning("image automation: not every kind was listed in %.0f s", SYNC_TIMEOUT)
        for i in range(self.workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"images-{i}"))
        return True

    async def stop(self) -> None:
        await asyncio.gather(*(cancel_and_wait(task) for task in self._tasks))
        self._tasks.clear()
        self.queue.close()
        for watcher in self.watchers.values():
            await watcher.stop()
        await self.registry.aclose()

    # ---- readings ----------------------------------------------------------------------------

    def objects(self, kind: str) -> dict[str, dict[str, Any]]:
        """The objects of ``kind`` (repository, policy, automation) by name."""
        watcher = self.watchers.get(kind)
        return dict(watcher.objects) if watcher is not None else {}

    # ---- triggers ----------------------------------------------------------------------------

    def _on_event(self, kind: str) -> Callable[[str, dict[str, Any]], None]:
        def changed(event_type: str, obj: dict[str, Any]) -> None:
            name = obj["metadata"]["name"]
            key = _key(kind, name)
            if event_type == "DELETED":
                self._seen.pop(key, None)
                self._failures.pop(key, None)
                if kind == REPOSITORY:
                    self.tags.pop(name, None)
                self.queue.forget(key)
                return
            trigger = _trigger(obj)
            if self._seen.get(key) != trigger:  # not our own status write
                self._seen[key] = trigger
                self.queue.add(key)

        return changed

    def on_application(self, event_type: str, obj: dict[str, Any]) -> None:
        """An Application changed: its Image Updater annotations (or their absence) are looked
        at again when they, its source or the pull-request annotations moved."""
        name = obj["metadata"]["name"]
        key = _key(APPLICATION_KIND, name)
        notes = (obj.get("metadata") or {}).get("annotations") or {}
        trigger = (
            tuple(sorted((k, v) for k, v in notes.items() if k.startswith(_APP_PREFIXES))),
            str((obj.get("spec") or {}).get("source")),
            event_type == "DELETED",
        )
        if self._seen.get(key) != trigger and (trigger[0] or key in self._seen):
            self._seen[key] = trigger
            self.queue.add(key)

    def on_registry_event(self, event: RegistryEvent) -> list[str]:
        """A registry reported pushed images: scan now every ImageRepository of those images.
        Returns their names."""
        names = []
        for name, obj in self.objects(REPOSITORY).items():
            image = (obj.get("spec") or {}).get("image")
            if isinstance(image, str) and concerns(event, image):
                names.append(name)
                self.queue.add(_key(REPOSITORY, name))
        return sorted(names)

    # ---- the workers -------------------------------------------------------------------------

    async def _worker(self) -> None:
        handlers = {
            REPOSITORY: self._scan,
            POLICY: self._evaluate,
            AUTOMATION: self._automate,
            APPLICATION_KIND: self._application,
        }
        while True:
            key = await self.queue.take()
            kind, _, name = key.partition("/")
            try:
                if self.active():
                    await handlers[kind](name)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("image automation: %s failed", key)
                self._retry(key, None)
            finally:
                self.queue.done(key)

    def _retry(self, key: str, interval: float | None) -> None:
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = RETRY_SECONDS * 2 ** min(failures - 1, 10)
        self.queue.add(key, min(delay, interval) if interval else delay)

    def _settled(self, key: str, next_in: float | None) -> None:
        self._failures.pop(key, None)
        if next_in:
            self.queue.add(key, next_in)

    async def _secret(self, name: str | None, *, decode: bool = True) -> dict[str, str] | None:
        """The ``data`` of a Secret of the control namespace, decoded (``decode=False``: as
        base64, what the registry code reads); None when it does not exist."""
        if not name:
            return None
        info = await self.client.resource_for("v1", "Secret")
        try:
            secret = await self.client.get(info, name, self.namespace)
        except NotFound:
            return None
        return decoded(secret) if decode else dict(secret.get("data") or {})

    async def _write_status(self, kind: str, obj: dict[str, Any], status: dict[str, Any]) -> None:
        """Write ``status`` when it differs from the object's (keys it drops are removed)."""
        old = obj.get("status") or {}
        if old == status:
            return
        if self.report is not None:
            event = ready_transition(KINDS[kind], obj, old, status)
            if event is not None:
                self.report(event)
        await self.watchers[kind].write_status(obj, status, self.field_manager)

    # ---- repositories ------------------------------------------------------------------------

    async def _scan(self, name: str) -> None:
        obj = self.watchers[REPOSITORY].get(name)
        if obj is None:
            return
        spec = obj.get("spec") or {}
        secret = await self._secret((spec.get("secretRef") or {}).get("name"), decode=False)
        certs = await self._secret((spec.get("certSecretRef") or {}).get("name"))
        outcome = await scan(
            obj,
            secret_data=secret,
            ca_pem=(certs or {}).get("ca.crt"),
            client=self.registry,
            now=datetime.now(UTC),
            previous_tags=self.tags.get(name),
        )
        await self._write_status(REPOSITORY, obj, outcome.status)
        key = _key(REPOSITORY, name)
        if outcome.scanned and outcome.tags is not None:
            if self.tags.get(name) != outcome.tags:
                self.tags[name] = outcome.tags
                self._policies_of(name)
            self._settled(key, outcome.requeue_after)
        elif not (outcome.stalled or outcome.suspended):
            self._retry(key, _interval(spec))

    def _policies_of(self, repository: str) -> None:
        for name, policy in self.objects(POLICY).items():
            if image_repository_ref(policy) == (self.namespace, repository):
                self.queue.add(_key(POLICY, name))

    # ---- policies ----------------------------------------------------------------------------

    async def _evaluate(self, name: str) -> None:
        obj = self.watchers[POLICY].get(name)
        if obj is None:
            return
        namespace, repo_name = image_repository_ref(obj)
        repository = (
            self.watchers[REPOSITORY].get(repo_name) if namespace == self.namespace else None
        )
        tags = self.tags.get(repo_name) if repository is not None else None
        digests = {tag: d for (repo, tag), d in self._digests.items() if repo == repo_name}
        outcome = evaluate(obj, tags, digests or None, repository=repository)
        if outcome.digest_needed is not None and repository is not None:
            error = await self._look_up_digest(repository, repo_name, outcome.digest_needed)
            digests = {tag: d for (repo, tag), d in self._digests.items() if repo == repo_name}
            outcome = evaluate(obj, tags, digests, repository=repository, digest_error=error)
        await self._write_status(POLICY, obj, outcome.status)
        if outcome.changed:
            self._automations_of(name)
        self._settled(_key(POLICY, name), outcome.requeue_after)

    async def _look_up_digest(
        self, repository: Mapping[str, Any], repo_name: str, tag: str
    ) -> ImageError | None:
        spec = repository.get("spec") or {}
        secret = await self._secret((spec.get("secretRef") or {}).get("name"), decode=False)
        try:
            image = parse_repository(str(spec.get("image")))
            credentials = (
                credentials_from_dockerconfig(secret, image.registry)
                if secret is not None
                else None
            )
            found = await self.registry.digests(
                image, [tag], credentials=credentials, insecure=spec.get("insecure") is True
            )
        except ImageError as error:
            return error
        for found_tag, digest in found.items():
            self._digests[(repo_name, found_tag)] = digest
        return None

    def _automations_of(self, policy: str) -> None:
        policies = self.objects(POLICY)
        labels = (policies.get(policy, {}).get("metadata") or {}).get("labels") or {}
        if app := labels.get(IMAGE_UPDATER_APP_LABEL):
            self.queue.add(_key(APPLICATION_KIND, app), COALESCE_SECONDS)
        for name, automation in self.objects(AUTOMATION).items():
            try:
                chosen = specs.selected_policies(automation, policies)
            except specs.AutomationConfigError:
                chosen = {}
            if (self.namespace, policy) in chosen:
                self.queue.add(_key(AUTOMATION, name), COALESCE_SECONDS)

    # ---- automations -------------------------------------------------------------------------

    async def _automation_run(self, obj: Mapping[str, Any]) -> AutomationRun:
        """Everything a run of ``obj`` needs, read from the cluster (may raise
        :class:`~tether.images.automationspec.AutomationConfigError`)."""
        kind, namespace, name = specs.source_ref(obj)
        where = f"{kind} '{namespace}/{name}'"
        source_obj: Mapping[str, Any] | None = None
        if kind == APPLICATION and namespace == self.namespace:
            source_obj = self.applications().get(name)
        elif kind == specs.GIT_REPOSITORY:
            source_obj = await self._git_repository(namespace, name, where)
        elif kind == APPLICATION:
            where += f" (Applications are read from the control namespace {self.namespace})"
        source = specs.source_of(kind, source_obj, where)
        pull = specs.pull_request_settings(obj)
        token = ""
        if pull is not None:
            token = (await self._secret(pull.secret) or {}).get(specs.TOKEN_KEY, "")
            if not token:
                raise specs.AutomationConfigError(
                    specs.PULL_REQUEST_FAILED,
                    f"Secret {pull.secret} has no key {specs.TOKEN_KEY!r} (the Git host's API "
                    "token for the pull request)",
                    stalled=False,
                )
        credentials = self.credentials_for(source.url)
        if source.secret_name:
            credentials = specs.git_repository_credentials(
                source.url, await self._secret(source.secret_name)
            )
        return AutomationRun(
            obj,
            source,
            specs.selected_policies(obj, self.objects(POLICY)),
            credentials,
            pull,
            token,
            list(self.applications().values()),
        )

    async def _git_repository(
        self, namespace: str, name: str, where: str
    ) -> Mapping[str, Any] | None:
        try:
            info = await self.client.resource_for(FLUX_SOURCE_API_VERSION, specs.GIT_REPOSITORY)
            return await self.client.get(info, name, namespace)
        except NotFound:
            return None
        except ClusterError as exc:
            raise specs.AutomationConfigError(
                specs.DEPENDENCY_NOT_READY, f"{where} cannot be read: {exc}", stalled=False
            ) from None

    async def _automate(self, name: str) -> None:
        obj = self.watchers[AUTOMATION].get(name)
        if obj is None or (obj.get("spec") or {}).get("suspend") is True:
            return
        key = _key(AUTOMATION, name)
        try:
            interval: float | None = specs.interval_seconds(obj)
            run = await self._automation_run(obj)
        except specs.AutomationConfigError as error:
            outcome = specs.config_failure(error)
            interval = None
        else:
            outcome = await run_automation(run, self.access, self.hosts)
            self.runs += 1
        await self._write_status(
            AUTOMATION, obj, specs.automation_status(obj, outcome, datetime.now(UTC))
        )
        if outcome.outcome == "retry":
            self._retry(key, interval)
        elif outcome.outcome == "ok":
            self._settled(key, interval)

    # ---- Applications with Image Updater annotations ----------------------------------------

    async def _application(self, name: str) -> None:
        app = self.applications().get(name)
        config = None
        if app is not None:
            try:
                config = read_updater_config(app)
            except ImageUpdaterConfigError as error:
                await self.events.note(
                    app, specs.RunOutcome("stalled", "InvalidConfiguration", str(error))
                )
        wanted = generated_objects(config, app) if config is not None and app is not None else []
        await self.generated.keep(name, wanted)
        if config is None or app is None:
            if app is None:
                self._seen.pop(_key(APPLICATION_KIND, name), None)
                self.events.forget(name)
            return
        policies = {
            n: p
            for n, p in self.objects(POLICY).items()
            if ((p.get("metadata") or {}).get("labels") or {}).get(IMAGE_UPDATER_APP_LABEL) == name
        }
        if not any(specs.latest_image(p) for p in policies.values()):
            return  # nothing chosen yet: a policy's first latest image queues this again
        try:
            job = await self._updater_job(app, config, policies)
        except specs.AutomationConfigError as error:
            outcome = specs.config_failure(error)
        else:
            outcome = await run_job(job, self.access, self.hosts)
            self.runs += 1
        await self.events.note(app, outcome)
        if outcome.outcome == "retry":
            self._retry(_key(APPLICATION_KIND, name), None)

    async def _updater_job(
        self, app: dict[str, Any], config: UpdaterConfig, policies: Mapping[str, Any]
    ) -> UpdateJob:
        pull = specs.pull_request_settings(app)
        token = ""
        if pull is not None:
            token = (await self._secret(pull.secret) or {}).get(specs.TOKEN_KEY, "")
        ref = config.git_credentials
        secret = await self._secret(ref.name) if ref.kind == "secret" else None
        credentials = git_credentials(config, self.credentials_for(config.repo_url), secret)
        return updater_job(
            config,
            policies,
            credentials=credentials,
            pull=pull,
            token=token,
            applications=list(self.applications().values()),
        )


__all__ = [
    "APPLICATION_KIND",
    "AUTOMATION",
    "POLICY",
    "REPOSITORY",
    "ImageAutomation",
    "repositories_of_event",
    "request_reconcile",
]
