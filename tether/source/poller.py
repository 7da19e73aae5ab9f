"""Polling: one ref check per repository, a fetch only when a relevant ref moved, and the list of
applications whose files a new commit touched.

A poll round asks each repository for its refs once (`git ls-remote`), however many
applications use it. An application whose revision still resolves to its last commit costs a
dictionary lookup. When a revision moved to a commit the mirror lacks, the mirror is fetched
once; then each moved application is marked changed only if the diff between its old and new
commit touches a path its render reads (`changes.read_paths`).

When a repository is unreachable or a branch disappears, the application keeps its last good
commit (still readable in the mirror) and carries the error.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tether.source.changes import read_paths, touches
from tether.source.credentials import RepoCredentials
from tether.source.errors import SourceError
from tether.source.mirror import CommitTree, Mirror, MirrorCache
from tether.source.urls import check_repo_url, normalize_repo_url


@dataclass(frozen=True)
class AppSource:
    """Where an application's manifests come from (an Application's `spec.source`)."""

    name: str
    repo_url: str
    revision: str = "HEAD"
    path: str = ""
    value_files: tuple[str, ...] = ()
    extra_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppPoll:
    """The outcome of one poll round for one application.

    `commit` is the commit to render: the newly resolved one, or the last good one when `error`
    is set. `changed` is True when the application should render again (first poll, or a new
    commit that touched its files).
    """

    name: str
    commit: str | None
    previous: str | None
    changed: bool
    error: SourceError | None = None


@dataclass(frozen=True)
class PollResult:
    """What one poll round did, and what it found."""

    ref_checks: int
    fetches: int
    seconds: float
    apps: dict[str, AppPoll] = field(default_factory=dict)

    @property
    def changed(self) -> list[str]:
        """Names of the applications to render again, sorted."""
        return sorted(name for name, app in self.apps.items() if app.changed)

    @property
    def errors(self) -> dict[str, SourceError]:
        """Errors by application name."""
        return {name: app.error for name, app in self.apps.items() if app.error is not None}


@dataclass
class _AppState:
    source: AppSource
    commit: str | None = None


def _no_credentials(url: str) -> RepoCredentials | None:
    return None


class SourcePoller:
    """Tracks the applications' sources and polls their repositories."""

    def __init__(
        self,
        cache: MirrorCache,
        credentials_for: Callable[[str], RepoCredentials | None] = _no_credentials,
        max_workers: int = 16,
    ) -> None:
        self.cache = cache
        self.credentials_for = credentials_for
        self.max_workers = max_workers
        self._apps: dict[str, _AppState] = {}
        self._lock = threading.Lock()

    def register(self, source: AppSource) -> None:
        """Add or update an application; a change of repository, revision or path re-renders."""
        check_repo_url(source.repo_url)
        with self._lock:
            state = self._apps.get(source.name)
            if state is None or state.source != source:
                self._apps[source.name] = _AppState(source)

    def unregister(self, name: str) -> None:
        """Forget an application."""
        with self._lock:
            self._apps.pop(name, None)

    def commit_of(self, name: str) -> str | None:
        """The last good commit of an application (None before its first successful poll)."""
        with self._lock:
            state = self._apps.get(name)
            return state.commit if state else None

    def poll(self, repo_urls: Iterable[str] | None = None) -> PollResult:
        """Run one poll round over every repository, or only over `repo_urls` (e.g. from a
        webhook; https, ssh and `.git` spellings of a repository all match)."""
        started = time.perf_counter()
        with self._lock:
            wanted = {normalize_repo_url(u) for u in repo_urls} if repo_urls is not None else None
            by_repo: dict[str, list[_AppState]] = {}
            for state in self._apps.values():
                url = state.source.repo_url
                if wanted is None or normalize_repo_url(url) in wanted:
                    by_repo.setdefault(url, []).append(state)
            results: list[tuple[int, int, list[AppPoll]]] = []
            if by_repo:
                workers = min(self.max_workers, len(by_repo))
                with ThreadPoolExecutor(workers, thread_name_prefix="tether-poll") as pool:
                    results = list(
                        pool.map(lambda item: self._poll_repository(*item), by_repo.items())
                    )
        apps = {poll.name: poll for _, _, polls in results for poll in polls}
        return PollResult(
            ref_checks=sum(r[0] for r in results),
            fetches=sum(r[1] for r in results),
            seconds=time.perf_counter() - started,
            apps=apps,
        )

    async def poll_async(self, repo_urls: Iterable[str] | None = None) -> PollResult:
        """`poll` without blocking the event loop."""
        return await asyncio.to_thread(self.poll, repo_urls)

    def _poll_repository(self, url: str, states: list[_AppState]) -> tuple[int, int, list[AppPoll]]:
        mirror = self.cache.mirror(url, self.credentials_for(url))
        fetches_before = mirror.fetches
        try:
            refs = mirror.ls_remote()
        except SourceError as error:
            return 0, 0, [self._failed(state, error) for state in states]

        targets: dict[str, str | SourceError] = {}
        for revision in {state.source.revision for state in states}:
            try:
                # Fetches only when the commit a ref points at is missing from the mirror.
                targets[revision] = mirror.resolve(revision, refs).commit
            except SourceError as error:
                targets[revision] = error

        polls: list[AppPoll] = []
        trees: dict[str, CommitTree] = {}
        diffs: dict[tuple[str, str], frozenset[str]] = {}
        for state in states:
            target = targets[state.source.revision]
            if isinstance(target, SourceError):
                polls.append(self._failed(state, target))
                continue
            previous = state.commit
            changed = previous is None or (
                previous != target
                and self._touched(mirror, state.source, previous, target, trees, diffs)
            )
            state.commit = target
            polls.append(AppPoll(state.source.name, target, previous, changed))
        if any(poll.previous != poll.commit for poll in polls):
            mirror.keep(_commits_in_use(self._apps.values(), url))
        return 1, mirror.fetches - fetches_before, polls

    def _touched(
        self,
        mirror: Mirror,
        source: AppSource,
        old: str,
        new: str,
        trees: dict[str, CommitTree],
        diffs: dict[tuple[str, str], frozenset[str]],
    ) -> bool:
        if (old, new) not in diffs:
            diffs[(old, new)] = mirror.changed_paths(old, new)
        changed = diffs[(old, new)]
        if not changed:
            return False
        read: set[str] = set()
        # The old commit's references count too: a base the new commit stopped using changed
        # what the application renders.
        for commit in (old, new):
            if commit not in trees:
                trees[commit] = mirror.tree(commit)
            read |= read_paths(trees[commit], source.path, source.value_files, source.extra_paths)
        return touches(changed, read)

    @staticmethod
    def _failed(state: _AppState, error: SourceError) -> AppPoll:
        if state.commit is not None:
            note = f"; the last good commit {state.commit[:12]} stays in use"
            kept = replace_message(error, error.message + note)
        else:
            kept = error
        return AppPoll(state.source.name, state.commit, state.commit, False, kept)


def _commits_in_use(states: Iterable[_AppState], url: str) -> set[str]:
    return {s.commit for s in states if s.source.repo_url == url and s.commit is not None}


def replace_message(error: SourceError, message: str) -> SourceError:
    """A copy of `error` (same class and attributes) with another message."""
    copy = error.__class__.__new__(error.__class__)
    copy.__dict__.update(error.__dict__)
    copy.args = (message,)
    copy.message = message
    return copy
