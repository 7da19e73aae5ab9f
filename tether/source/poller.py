"""Polling: one ref check per repository, a fetch only when a relevant ref moved, and the list of
applications whose files a new commit touched.

A poll round asks each repository for its refs once (`git ls-remote`), however many
applications use it. An application whose revision still resolves to its last commit costs a
dictionary lookup. When a revision moved to a commit the mirror lacks, the mirror is fetched
once; then each moved application is marked changed only if the diff between its old and new
commit touches a path its render reads (`changes.read_paths`).

When a repository is unreachable or a branch disappears, the application keeps its last good
commit (still readable in the mirror) and carries the error.

Concurrency: `register`, `unregister` and `commit_of` run on the event loop, so the lock they
take guards the application table only and is never held across I/O. A repository is polled by
a worker of the poller's own thread pool: it snapshots that repository's applications under the
lock, talks to git without it, and merges the outcome back under it. A per-repository lock
(taken by workers only) keeps two polls of one repository in order, and a poll requested while
another waits for that repository joins the waiting one, so a repository that hangs holds at
most two workers until its timeout, and never the event loop or the other repositories.

A newly registered application costs no ref check of its own (`first_poll`): when its
repository's refs were read less than `refs_max_age` seconds ago it resolves from them (a fetch
only if the mirror lacks the commit); when a poll of that repository is running it waits for
that one; otherwise it starts (or joins) one. N applications registered together on one
repository therefore cost one `ls-remote`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pygit2

from tether.source.changes import read_paths, touches
from tether.source.credentials import RepoCredentials
from tether.source.errors import GitCommandError, SourceError
from tether.source.mirror import Mirror, MirrorCache
from tether.source.tree import CommitTree
from tether.source.urls import normalize_repo_url, scrub_url

#: how long a repository's last ref check answers for a newly registered application (seconds);
#: Argo CD's repo-server reuses an ls-remote for 3 minutes (--revision-cache-expiration)
DEFAULT_REFS_MAX_AGE = 60.0


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


@dataclass(frozen=True)
class _Snapshot:
    """An application as a worker saw it when its repository's poll began."""

    source: AppSource
    commit: str | None


@dataclass(frozen=True)
class _RepoOutcome:
    ref_checks: int
    fetches: int
    polls: list[AppPoll]


def _no_credentials(url: str) -> RepoCredentials | None:
    return None


class SourcePoller:
    """Tracks the applications' sources and polls their repositories."""

    def __init__(
        self,
        cache: MirrorCache,
        credentials_for: Callable[[str], RepoCredentials | None] = _no_credentials,
        max_workers: int = 16,
        refs_max_age: float = DEFAULT_REFS_MAX_AGE,
    ) -> None:
        self.cache = cache
        self.credentials_for = credentials_for
        self.max_workers = max_workers
        self.refs_max_age = refs_max_age
        self._apps: dict[str, _AppState] = {}
        # the refs each repository's last successful ref check saw, and when (monotonic)
        self._refs: dict[str, tuple[float, dict[str, str]]] = {}
        self._running: dict[str, Future[_RepoOutcome]] = {}
        # Guards the tables below only; never held across I/O (taken on the event loop).
        self._lock = threading.Lock()
        self._repo_locks: dict[str, threading.Lock] = {}
        # What each app's render reads at a commit, per repository (read and written only by
        # that repository's poll, under its repo lock): a push compares every app of the
        # repository at the old and the new commit, and the old one was the last poll's new one.
        self._reads: dict[str, dict[tuple[str, AppSource], frozenset[str]]] = {}
        self._waiting: dict[str, Future[_RepoOutcome]] = {}
        self._pool = ThreadPoolExecutor(max_workers, thread_name_prefix="tether-poll")

    def register(self, source: AppSource) -> None:
        """Add or update an application; a change of repository, revision or path re-renders.

        Raises a `SourceError` for a malformed URL or a location the cache's policy refuses.
        """
        self.cache.check(source.repo_url)
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

    def close(self) -> None:
        """Stop the workers once the polls in progress end."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def poll(self, repo_urls: Iterable[str] | None = None) -> PollResult:
        """Run one poll round over every repository, or only over `repo_urls` (e.g. from a
        webhook; https, ssh and `.git` spellings of a repository all match)."""
        started = time.perf_counter()
        outcomes = [future.result() for future in self._submit(repo_urls)]
        return _result(outcomes, time.perf_counter() - started)

    async def poll_async(self, repo_urls: Iterable[str] | None = None) -> PollResult:
        """`poll` without blocking the event loop (nor a thread of its default executor)."""
        started = time.perf_counter()
        futures = self._submit(repo_urls)
        outcomes = [await asyncio.wrap_future(future) for future in futures]
        return _result(outcomes, time.perf_counter() - started)

    async def first_poll(self, name: str) -> AppPoll | None:
        """Resolve a registered application that has no commit yet, sharing its repository's
        ref check: from refs read less than `refs_max_age` seconds ago (no network), after the
        poll of that repository already running, or else from a poll of its own (joined by
        others). None when the application is unknown or already has a commit."""
        for _ in range(3):
            with self._lock:
                state = self._apps.get(name)
                if state is None or state.commit is not None:
                    return None
                source = state.source
                seen = self._refs.get(source.repo_url)
                running = self._running.get(source.repo_url)
            if seen is not None and time.monotonic() - seen[0] <= self.refs_max_age:
                resolving = self._pool.submit(self._resolve_from_refs, name, source, seen[1])
                return await asyncio.wrap_future(resolving)
            if running is None:
                break
            # shielded: a cancelled caller must not cancel a poll other applications share
            with contextlib.suppress(Exception):
                await asyncio.shield(asyncio.wrap_future(running))
        return (await self.poll_async([source.repo_url])).apps.get(name)

    def _resolve_from_refs(self, name: str, source: AppSource, refs: dict[str, str]) -> AppPoll:
        """An application's first commit from refs its repository's last check saw (a fetch
        only when the mirror lacks the commit)."""
        url = source.repo_url
        first = _Snapshot(source, None)
        try:
            mirror = self.cache.mirror(url, self.credentials_for(url))
            commit = mirror.resolve(source.revision, refs).commit
        except SourceError as error:
            return _failed(name, first, error)
        except (pygit2.GitError, OSError) as error:
            failure = GitCommandError(
                f"reading the mirror of {scrub_url(url)} failed: {error}", url
            )
            return _failed(name, first, failure)
        with self._lock:
            before = {s.commit for s in self._apps.values() if s.source.repo_url == url}
            state = self._apps.get(name)
            if state is not None and state.source == source and state.commit is None:
                state.commit = commit
            in_use = {
                s.commit for s in self._apps.values() if s.source.repo_url == url and s.commit
            }
        if commit not in before:
            mirror.keep(in_use)
        return AppPoll(name, commit, None, True)

    def _submit(self, repo_urls: Iterable[str] | None) -> list[Future[_RepoOutcome]]:
        wanted = {normalize_repo_url(u) for u in repo_urls} if repo_urls is not None else None
        with self._lock:
            urls = {
                state.source.repo_url
                for state in self._apps.values()
                if wanted is None or normalize_repo_url(state.source.repo_url) in wanted
            }
            futures = []
            for url in sorted(urls):
                # A poll still waiting for this repository starts after this request: joining it
                # sees everything this request would.
                future = self._waiting.get(url)
                if future is None:
                    future = self._pool.submit(self._poll_repository, url)
                    self._waiting[url] = future
                    future.add_done_callback(functools.partial(self._finished, url))
                futures.append(future)
            return futures

    def _finished(self, url: str, future: Future[_RepoOutcome]) -> None:
        with self._lock:
            if self._running.get(url) is future:
                del self._running[url]

    def _poll_repository(self, url: str) -> _RepoOutcome:
        with self._lock:
            repo_lock = self._repo_locks.setdefault(url, threading.Lock())
        with repo_lock:
            with self._lock:
                future = self._waiting.pop(url, None)
                if future is not None:
                    self._running[url] = future
                snapshots = {
                    name: _Snapshot(state.source, state.commit)
                    for name, state in self._apps.items()
                    if state.source.repo_url == url
                }
            try:
                mirror = self.cache.mirror(url, self.credentials_for(url))
                outcome = self._check_repository(url, mirror, snapshots)
                in_use = self._merge(url, snapshots, outcome.polls)
                self._keep_reads(url, in_use)
                if any(poll.previous != poll.commit for poll in outcome.polls):
                    mirror.keep(in_use)
            except SourceError as error:
                # A malformed Secret or a refused URL fails this repository's applications,
                # not the whole round.
                return _RepoOutcome(0, 0, [_failed(n, a, error) for n, a in snapshots.items()])
            except (pygit2.GitError, OSError) as error:
                failure = GitCommandError(
                    f"reading the mirror of {scrub_url(url)} failed: {error}", url
                )
                return _RepoOutcome(0, 0, [_failed(n, a, failure) for n, a in snapshots.items()])
            return outcome

    def _keep_reads(self, url: str, in_use: set[str]) -> None:
        """Forget the read paths at commits no application of ``url`` is at any more."""
        with self._lock:
            reads = self._reads.get(url)
            if reads:
                self._reads[url] = {k: v for k, v in reads.items() if k[0] in in_use}

    def _merge(self, url: str, snapshots: dict[str, _Snapshot], polls: list[AppPoll]) -> set[str]:
        """Record the new commits (unless the application changed meanwhile); return the
        commits the repository's applications use now."""
        with self._lock:
            for poll in polls:
                state = self._apps.get(poll.name)
                if state is not None and state.source == snapshots[poll.name].source:
                    state.commit = poll.commit
            return {s.commit for s in self._apps.values() if s.source.repo_url == url and s.commit}

    def _check_repository(
        self, url: str, mirror: Mirror, apps: dict[str, _Snapshot]
    ) -> _RepoOutcome:
        fetches_before = mirror.fetches
        try:
            refs = mirror.ls_remote()
        except SourceError as error:
            with self._lock:
                self._refs.pop(url, None)
            return _RepoOutcome(0, 0, [_failed(name, app, error) for name, app in apps.items()])
        with self._lock:
            self._refs[url] = (time.monotonic(), refs)

        targets: dict[str, str | SourceError] = {}
        for revision in {app.source.revision for app in apps.values()}:
            try:
                # Fetches only when the commit a ref points at is missing from the mirror.
                targets[revision] = mirror.resolve(revision, refs).commit
            except SourceError as error:
                targets[revision] = error

        polls: list[AppPoll] = []
        trees: dict[str, CommitTree] = {}
        diffs: dict[tuple[str, str], frozenset[str]] = {}
        for name, app in apps.items():
            target = targets[app.source.revision]
            if isinstance(target, SourceError):
                polls.append(_failed(name, app, target))
                continue
            previous = app.commit
            try:
                changed = previous is None or (
                    previous != target
                    and self._touched(mirror, app.source, previous, target, trees, diffs)
                )
            except (SourceError, KeyError, pygit2.GitError):
                changed = True  # the render will meet the problem and say it
            polls.append(AppPoll(name, target, previous, changed))
        return _RepoOutcome(1, mirror.fetches - fetches_before, polls)

    def _read_paths(self, source: AppSource, tree: CommitTree) -> frozenset[str]:
        """What ``source``'s render reads at ``tree``'s commit, remembered per repository."""
        with self._lock:
            reads = self._reads.setdefault(source.repo_url, {})
        key = (tree.commit, source)
        found = reads.get(key)
        if found is None:
            found = read_paths(tree, source.path, source.value_files, source.extra_paths)
            reads[key] = found
        return found

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
            read |= self._read_paths(source, trees[commit])
        return touches(changed, read)


def _result(outcomes: list[_RepoOutcome], seconds: float) -> PollResult:
    return PollResult(
        ref_checks=sum(o.ref_checks for o in outcomes),
        fetches=sum(o.fetches for o in outcomes),
        seconds=seconds,
        apps={poll.name: poll for outcome in outcomes for poll in outcome.polls},
    )


def _failed(name: str, app: _Snapshot, error: SourceError) -> AppPoll:
    if app.commit is not None:
        note = f"; the last good commit {app.commit[:12]} stays in use"
        kept = replace_message(error, error.message + note)
    else:
        kept = error
    return AppPoll(name, app.commit, app.commit, False, kept)


def replace_message(error: SourceError, message: str) -> SourceError:
    """A copy of `error` (same class and attributes) with another message."""
    copy = error.__class__.__new__(error.__class__)
    copy.__dict__.update(error.__dict__)
    copy.args = (message,)
    copy.message = message
    return copy
