"""Previews of pull requests, run beside the controller (or a server replica): a pull request
opened or pushed to gets its head fetched, the Applications whose files it changes compared at
the head with the live cluster (read only, the same comparison a sync makes), and one comment
plus a commit status posted. Bounded: pull requests previewed at once, app comparisons at once,
previews kept for the UI. A newer push to the same pull request cancels the older preview."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from tether.controller import project
from tether.controller.face import Observation
from tether.controller.previews import report, select
from tether.controller.previews.models import AppPreview, Failure, PullPreview
from tether.controller.previews.post import HostFactory, post, set_pending
from tether.controller.previews.settings import PreviewSettings
from tether.errors import TetherError
from tether.githost import host_for
from tether.render import RenderError
from tether.source.credentials import RepoCredentials
from tether.source.errors import SourceError
from tether.source.mirror import Mirror, MirrorCache
from tether.source.pullrequests import CLOSED, PREVIEW, PullRequestEvent
from tether.source.urls import normalize_repo_url, scrub_url

log = logging.getLogger(__name__)


class Comparer(Protocol):
    """Compares an app at a revision, read only (`OnDemandComparisons.compare_at`)."""

    async def compare_at(self, obj: dict[str, Any], revision: str) -> Observation: ...


@dataclass(frozen=True)
class PreviewLimits:
    #: pull requests previewed at once
    max_pulls: int = 4
    #: app comparisons at once, over every pull request
    max_apps: int = 4
    #: pull-request previews kept for the UI and the API (least recent dropped)
    max_kept: int = 256


def _failure(exc: BaseException) -> Failure:
    cause = exc.__cause__ or exc
    if isinstance(cause, project.ProjectViolation):
        return "project"
    if isinstance(cause, RenderError):
        return "render"
    return "error"


class Previews:
    """Pull-request previews: started by webhooks, kept for the UI."""

    def __init__(
        self,
        applications: Callable[[], Mapping[str, dict[str, Any]]],
        comparer: Comparer,
        mirrors: MirrorCache,
        credentials_for: Callable[[str], RepoCredentials | None],
        *,
        limits: PreviewLimits | None = None,
        hosts: HostFactory = host_for,
    ) -> None:
        self._applications = applications
        self._comparer = comparer
        self._mirrors = mirrors
        self._credentials_for = credentials_for
        self.limits = limits or PreviewLimits()
        self._hosts = hosts
        self._pulls = asyncio.Semaphore(self.limits.max_pulls)
        self._apps = asyncio.Semaphore(self.limits.max_apps)
        self._tasks: dict[tuple[str, int], asyncio.Task[PullPreview]] = {}
        self._kept: OrderedDict[tuple[str, int], PullPreview] = OrderedDict()

    # ---- the face ------------------------------------------------------------------------

    def on_pull_request(self, event: PullRequestEvent, settings: PreviewSettings) -> list[str]:
        """Start (or restart) the preview of ``event``'s pull request; the names of the apps
        that follow its base branch (those it changes are found once the head is fetched)."""
        key = (normalize_repo_url(event.repo_urls[0]), event.number)
        running = self._tasks.pop(key, None)
        if running is not None:
            running.cancel()
        if event.action == CLOSED:
            self._kept.pop(key, None)
            return []
        if event.action != PREVIEW or not settings.enabled:
            return []
        found = select.candidates(self._applications(), event)
        if not found:
            return []
        task = asyncio.create_task(self._run(event, found, settings), name=f"preview-{key}")
        self._tasks[key] = task
        task.add_done_callback(lambda done: self._finished(key, done))
        return [candidate.name for candidate in found]

    def preview(self, app: str, number: int) -> PullPreview | None:
        """The newest kept preview of pull request ``number`` that holds ``app``."""
        for (_, kept_number), kept in reversed(self._kept.items()):
            if kept_number == number and kept.app(app) is not None:
                return kept
        return None

    async def wait(self, repo_url: str, number: int) -> PullPreview | None:
        """The preview of a pull request once the running one is done (tests, benchmarks)."""
        key = (normalize_repo_url(repo_url), number)
        task = self._tasks.get(key)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        return self._kept.get(key)

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---- one pull request ----------------------------------------------------------------

    def _finished(self, key: tuple[str, int], task: asyncio.Task[PullPreview]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("preview of pull request %s failed: %s", key[1], error)
            return
        self._kept[key] = task.result()
        self._kept.move_to_end(key)
        while len(self._kept) > self.limits.max_kept:
            self._kept.popitem(last=False)

    async def _run(
        self, event: PullRequestEvent, found: list[select.Candidate], settings: PreviewSettings
    ) -> PullPreview:
        async with self._pulls:
            started = PullPreview(
                event.provider,
                event.repo_urls[0],
                event.number,
                event.head_sha,
                event.base_branch,
                event.title,
                event.url,
            )
            pending = await set_pending(started, settings, self._hosts)
            preview = await self._preview(started, event, found)
            problems = await post(preview, settings, self._hosts)
            told = (pending,) if pending else ()
            return replace(preview, delivery=told + problems)

    def _mirror(self, url: str) -> Mirror:
        return self._mirrors.mirror(url, self._credentials_for(url))

    async def _preview(
        self, started: PullPreview, event: PullRequestEvent, found: list[select.Candidate]
    ) -> PullPreview:
        # each spelling of the repository's URL the apps use has a mirror of its own: the head
        # goes into each, so every app resolves it without the network
        urls = list(dict.fromkeys(c.app.spec.all_sources[c.sources[0]].repo_url for c in found))
        try:
            heads = [
                await self._mirror(url).fetch_pull_async(
                    event.head_ref, event.base_branch, event.number
                )
                for url in urls
            ]
            head, base = heads[0]
            mirror = self._mirror(urls[0])
            changed, trees = await asyncio.to_thread(_changes, mirror, base, head)
        except (SourceError, TetherError) as exc:
            message = f"could not fetch the pull request's head from {scrub_url(urls[0])}: "
            return replace(started, error=message + exc.message, at=time.time())
        hit, missed = await asyncio.to_thread(select.split, found, changed, trees)
        apps = await asyncio.gather(*(self._app(candidate, head) for candidate in hit))
        return replace(
            started, head_sha=head, apps=tuple(apps), unaffected=tuple(missed), at=time.time()
        )

    async def _app(self, candidate: select.Candidate, head: str) -> AppPreview:
        automated = candidate.app.spec.sync_policy.automated
        prunes = bool(automated is not None and automated.enabled and automated.prune)
        base = AppPreview(candidate.name, candidate.app.spec.project, head, prunes=prunes)
        async with self._apps:
            try:
                observed = await self._comparer.compare_at(candidate.obj, candidate.revision(head))
            except TetherError as exc:
                return replace(base, failure=_failure(exc), error=exc.message)
        return replace(base, revision=observed.commit, objects=report.object_changes(observed.diff))


def _changes(mirror: Mirror, base: str, head: str) -> tuple[frozenset[str], tuple[Any, ...]]:
    """The paths the pull request changes (from the merge base) and the trees to read them at."""
    merge_base = mirror.merge_base(base, head) or base
    return mirror.changed_paths(merge_base, head), (mirror.tree(merge_base), mirror.tree(head))
