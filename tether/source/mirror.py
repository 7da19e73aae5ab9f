"""Bare mirrors of remote repositories, one per URL, and read-only trees at a commit.

Network operations (`ls-remote`, `fetch`) run the `git` CLI, each within its time limit;
everything that reads objects runs in-process through pygit2. No lock a reader takes is ever
held across network I/O: a fetch (or the first clone) holds only the mirror's network lock,
which serializes fetches of that mirror and nothing else, while reads go on (git writes new
packs and then swaps refs atomically). Each mirror also has a readers-writer lock for the local
writes that could disturb readers (`keep`, `git gc`). The synchronous methods are safe to call
from threads; the `*_async` ones run them off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pygit2

from tether.source.credentials import RepoCredentials, git_environment
from tether.source.errors import RevisionNotFoundError, SourceError
from tether.source.gitcli import run_git
from tether.source.limits import GitTimeouts, TreeLimits
from tether.source.policy import RepoPolicy, check_repo_location
from tether.source.revisions import (
    ResolvedRevision,
    is_commit_sha,
    resolve_revision,
)
from tether.source.tree import CommitTree
from tether.source.trust import RepoTrust
from tether.source.urls import scrub_url

# Only branches and tags are mirrored: forges advertise many more refs (pull requests, merge
# requests) that no Application targets and that would make every fetch heavier.
FETCH_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
# Commits an application still uses are kept reachable here so that `git gc` never drops the
# last good commit of a branch that was deleted or force-pushed away.
KEEP_PREFIX = "refs/tether/keep/"
# The heads of pull requests being previewed (``refs/tether/pulls/<number>``): out of the fetch
# refspecs, so a fetch never prunes them, and dropped when the request closes.
PULL_PREFIX = "refs/tether/pulls/"

T = TypeVar("T")


#: longest commit subject kept in a history entry
MAX_SUBJECT = 200


@dataclass(frozen=True)
class CommitInfo:
    """What Argo CD's revision metadata shows of a commit."""

    author: str
    date: str
    subject: str


class ReadWriteLock:
    """Many readers or one writer; a waiting writer holds back new readers so fetches happen."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the lock shared for the duration of the block."""
        with self._condition:
            while self._writer or self._writers_waiting:
                self._condition.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                if self._readers == 0:
                    self._condition.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the lock exclusively for the duration of the block."""
        with self._condition:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._condition.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._condition:
                self._writer = False
                self._condition.notify_all()


def _mirror_dirname(url: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", scrub_url(url).split("://")[-1]).strip("-.")[-48:]
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return f"{slug}-{digest}.git"


class Mirror:
    """A bare mirror of the branches and tags of one remote repository, in a cache folder.

    `policy` is checked here too, so a Mirror built directly cannot read a refused location.
    """

    def __init__(
        self,
        url: str,
        path: Path,
        credentials: RepoCredentials | None = None,
        known_hosts_file: Path | None = None,
        timeouts: GitTimeouts | None = None,
        limits: TreeLimits | None = None,
        policy: RepoPolicy | None = None,
        trust: RepoTrust | None = None,
    ) -> None:
        self.policy = policy or RepoPolicy()
        self.url = check_repo_location(url, self.policy)
        self.trust = trust
        self.path = path
        self.credentials = credentials
        self.known_hosts_file = known_hosts_file
        self.timeouts = timeouts or GitTimeouts()
        self.limits = limits or TreeLimits()
        self.lock = ReadWriteLock()
        # Held across network I/O, so only by threads that fetch: never by readers, never on
        # the event loop. It keeps two fetches of one mirror from racing for its ref locks.
        self._network = threading.Lock()
        self.ref_checks = 0
        self.fetches = 0
        self._generation = 0
        self._local = threading.local()

    # -- network --------------------------------------------------------------------------------

    def _git(self, args: list[str], timeout: float) -> str:
        with git_environment(
            self.url,
            self.credentials,
            self.known_hosts_file,
            self.timeouts,
            allow_file=self.policy.allow_local,
            trust=self.trust,
        ) as environment:
            return run_git(
                args,
                self.url,
                environment,
                timeout=timeout,
                max_output=self.timeouts.max_output_bytes,
            )

    def ls_remote(self) -> dict[str, str]:
        """The remote's HEAD, branches and tags as {ref name: commit}; no mirror needed.

        Annotated tags appear twice, as `refs/tags/x` (the tag object) and `refs/tags/x^{}` (the
        commit), as git prints them.
        """
        output = self._git(["ls-remote", self.url], self.timeouts.ls_remote)
        self.ref_checks += 1
        refs: dict[str, str] = {}
        for line in output.splitlines():
            sha, _, name = line.partition("\t")
            if name == "HEAD" or name.startswith(("refs/heads/", "refs/tags/")):
                refs[name] = sha
        return refs

    @property
    def cloned(self) -> bool:
        """True once the mirror exists on disk."""
        return (self.path / "HEAD").exists()

    def ensure(self) -> bool:
        """Clone the mirror if it does not exist yet; True when this call cloned it."""
        if self.cloned:
            return False
        with self._network:
            return self._clone()

    def _clone(self) -> bool:
        if self.cloned:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Clone beside the final place and rename, so that a failed clone leaves nothing
        # that looks like a mirror, and readers never see a half-made one.
        scratch = Path(tempfile.mkdtemp(prefix=".clone-", dir=self.path.parent))
        try:
            pygit2.init_repository(str(scratch), bare=True)
            self._fetch_into(scratch)
            scratch.rename(self.path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self._generation += 1
        return True

    def _fetch_into(self, repository: Path) -> None:
        self._git(
            [
                # Housekeeping waits for `maintain`, under the lock that keeps readers out.
                "-c",
                "gc.auto=0",
                "-c",
                "maintenance.auto=false",
                "-C",
                str(repository),
                "fetch",
                "--prune",
                "--force",
                "--quiet",
                "--no-write-fetch-head",
                "--no-recurse-submodules",
                self.url,
                *FETCH_REFSPECS,
            ],
            self.timeouts.fetch,
        )
        self.fetches += 1

    def fetch(self) -> None:
        """Bring the mirror up to date with the remote (clone it first when needed).

        Branches and tags are forced and pruned, so force-pushes and deletions show up. Reads
        of the mirror go on meanwhile; they see the new commits once the fetch is done.
        """
        with self._network:
            if self._clone():
                return
            self._fetch_into(self.path)
            self._generation += 1
        self.maintain()

    def fetch_pull(self, head_ref: str, base_branch: str, number: int) -> tuple[str, str]:
        """Fetch a pull request's head (``head_ref`` of the remote: its branch, or the host's
        ``refs/pull/N/head``) and its base branch; (head commit, base commit).

        Both names come from a webhook: each must be a valid ref name, or nothing is fetched.
        """
        base_ref = f"refs/heads/{base_branch}"
        for ref in (head_ref, base_ref):
            if not pygit2.reference_is_valid_name(ref) or ref.startswith("-"):
                raise RevisionNotFoundError(f"{ref[:200]!r} is not a valid ref name")
        local = f"{PULL_PREFIX}{number}"
        with self._network:
            self._clone()
            self._git(
                [
                    *("-c", "gc.auto=0", "-c", "maintenance.auto=false"),
                    *("-C", str(self.path), "fetch", "--force", "--quiet"),
                    *("--no-write-fetch-head", "--no-recurse-submodules", self.url),
                    f"+{head_ref}:{local}",
                    f"+{base_ref}:{base_ref}",
                ],
                self.timeouts.fetch,
            )
            self.fetches += 1
            self._generation += 1
        with self.lock.reading():
            repo = self._repo()
            return str(repo.references[local].peel(pygit2.Commit).id), str(
                repo.references[base_ref].peel(pygit2.Commit).id
            )

    def drop_pull(self, number: int) -> None:
        """Forget a closed pull request's head (its commits go at the next ``git gc``)."""
        if not self.cloned:
            return
        with self.lock.writing():
            repo = pygit2.Repository(str(self.path))
            name = f"{PULL_PREFIX}{number}"
            if name in repo.references:
                repo.references.delete(name)
            self._generation += 1

    def merge_base(self, one: str, other: str) -> str | None:
        """The best common ancestor of two commits the mirror holds; None when they share none."""
        with self.lock.reading():
            found = self._repo().merge_base(one, other)
            return str(found) if found is not None else None

    def maintain(self) -> None:
        """`git gc --auto`: repack when fetches left many packs. Local work, so it may hold the
        write lock (repacking deletes packs a reader could be opening)."""
        with self.lock.writing():
            self._git(["-C", str(self.path), "gc", "--auto", "--quiet"], self.timeouts.local)
            self._generation += 1

    # -- reads ----------------------------------------------------------------------------------

    def _repo(self) -> pygit2.Repository:
        # One handle per thread: libgit2 handles are not meant to be shared between threads.
        # A fetch bumps the generation, so handles reopen and see the new packs and refs.
        cached = getattr(self._local, "repo", None)
        if cached is None or cached[0] != self._generation:
            if not self.cloned:
                raise SourceError(
                    f"the mirror of {scrub_url(self.url)} is not cloned yet; fetch it first"
                )
            cached = (self._generation, pygit2.Repository(str(self.path)))
            self._local.repo = cached
        repo: pygit2.Repository = cached[1]
        return repo

    def has_commit(self, commit: str) -> bool:
        """True when the mirror holds `commit` (a full SHA) as a commit."""
        if not self.cloned:
            return False
        with self.lock.reading():
            obj = self._repo().get(commit)
            return obj is not None and obj.type == pygit2.enums.ObjectType.COMMIT

    def find_commit(self, prefix: str) -> str | None:
        """The full SHA of the commit whose id starts with `prefix` (7 to 40 hex digits)."""
        if not self.cloned or not is_commit_sha(prefix):
            return None
        with self.lock.reading():
            try:
                obj = self._repo().revparse_single(prefix)
            except KeyError:
                return None
            except ValueError:
                raise RevisionNotFoundError(
                    f"the short SHA {prefix!r} is ambiguous in {scrub_url(self.url)}; "
                    "give more digits"
                ) from None
            try:
                return str(obj.peel(pygit2.Commit).id)
            except (pygit2.InvalidSpecError, ValueError):
                return None

    def resolve(self, revision: str, refs: dict[str, str] | None = None) -> ResolvedRevision:
        """Resolve a targetRevision to a commit the mirror holds, fetching if it must.

        `refs` is an `ls_remote()` result to reuse; without it one is taken.
        """
        if refs is None:
            refs = self.ls_remote()
        resolved = resolve_revision(refs, revision)
        if resolved is not None:
            if not self.has_commit(resolved.commit):
                self.fetch()
            if self.has_commit(resolved.commit):
                return resolved
            raise RevisionNotFoundError(
                f"commit {resolved.commit} (revision {revision!r}) is not on any branch or tag "
                f"of {scrub_url(self.url)}"
            )
        if is_commit_sha(revision):
            commit = self.find_commit(revision)
            if commit is None:
                self.fetch()
                commit = self.find_commit(revision)
            if commit is not None:
                return ResolvedRevision(revision, commit, None)
            raise RevisionNotFoundError(
                f"no commit starting with {revision!r} on any branch or tag of "
                f"{scrub_url(self.url)}"
            )
        raise RevisionNotFoundError(
            f"revision {revision!r} not found in {scrub_url(self.url)}: there is no branch or "
            "tag of that name (was it deleted?), and it is neither a commit SHA nor a semver "
            "constraint"
        )

    def commit_info(self, commit: str) -> CommitInfo | None:
        """Author, date and subject of `commit` (a full SHA), or None when the mirror does not
        hold it. The subject is the message's first line, bounded in length."""
        if not self.has_commit(commit):
            return None
        with self.lock.reading():
            obj = self._repo().get(commit)
            if not isinstance(obj, pygit2.Commit):
                return None
            author = obj.author
            offset = timezone(timedelta(minutes=author.offset))
            return CommitInfo(
                author=f"{author.name} <{author.email}>",
                date=datetime.fromtimestamp(author.time, offset).isoformat(),
                subject=(obj.message or "").strip().split("\n", 1)[0][:MAX_SUBJECT],
            )

    def tree(self, commit: str) -> CommitTree:
        """The read-only tree of `commit` (a full SHA the mirror holds); a SourceError when
        the mirror is not cloned (a revision recorded before, from a repository that went)."""
        if not self.cloned:
            raise SourceError(
                f"the mirror of {scrub_url(self.url)} is not cloned: commit {commit[:12]} "
                "cannot be read"
            )
        with self.lock.reading():
            return CommitTree(self, commit)

    def changed_paths(self, old: str, new: str) -> frozenset[str]:
        """Paths added, modified, deleted or renamed (both names) between two commits."""
        with self.lock.reading():
            repo = self._repo()
            old_tree = repo[old].peel(pygit2.Tree)
            new_tree = repo[new].peel(pygit2.Tree)
            diff = old_tree.diff_to_tree(new_tree)
            paths: set[str] = set()
            for delta in diff.deltas:
                paths.add(delta.old_file.path)
                paths.add(delta.new_file.path)
            return frozenset(paths)

    def keep(self, commits: set[str]) -> None:
        """Make exactly `commits` the commits protected from garbage collection."""
        if not self.cloned:
            return
        with self.lock.writing():
            repo = pygit2.Repository(str(self.path))
            current = {
                name[len(KEEP_PREFIX) :]
                for name in repo.listall_references()
                if name.startswith(KEEP_PREFIX)
            }
            for commit in current - commits:
                repo.references.delete(KEEP_PREFIX + commit)
            for commit in commits - current:
                if repo.get(commit) is not None:
                    repo.references.create(KEEP_PREFIX + commit, commit, force=True)

    # -- async ----------------------------------------------------------------------------------

    async def ls_remote_async(self) -> dict[str, str]:
        """`ls_remote` without blocking the event loop (nor its default executor's threads)."""
        return await _on_git_threads(self.ls_remote)

    async def fetch_async(self) -> None:
        """`fetch` without blocking the event loop."""
        await _on_git_threads(self.fetch)

    async def resolve_async(
        self, revision: str, refs: dict[str, str] | None = None
    ) -> ResolvedRevision:
        """`resolve` without blocking the event loop."""
        return await _on_git_threads(self.resolve, revision, refs)

    async def fetch_pull_async(
        self, head_ref: str, base_branch: str, number: int
    ) -> tuple[str, str]:
        """`fetch_pull` without blocking the event loop."""
        return await _on_git_threads(self.fetch_pull, head_ref, base_branch, number)

    async def commit_info_async(self, commit: str) -> CommitInfo | None:
        """`commit_info` without blocking the event loop."""
        return await asyncio.to_thread(self.commit_info, commit)

    async def tree_async(self, commit: str) -> CommitTree:
        """`tree` without blocking the event loop (it waits only while `git gc` repacks)."""
        return await asyncio.to_thread(self.tree, commit)


# Network operations get threads of their own: a few repositories that hang until their time
# limit must not occupy the event loop's default executor, which renders and exports use.
_GIT_THREADS = ThreadPoolExecutor(max_workers=32, thread_name_prefix="tether-git")


async def _on_git_threads(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_GIT_THREADS, function, *args)


class MirrorCache:
    """The cache folder: one shared `Mirror` per repository URL.

    `policy` decides which repository locations may be mirrored; the cache's own root is always
    forbidden to local repositories. `timeouts` and `limits` apply to every mirror. `trust`
    holds the SSH known hosts (unless `known_hosts_file` is given) and the CAs of https servers;
    its files are read by every git command, so an update applies at the next one.
    """

    def __init__(
        self,
        root: Path,
        known_hosts_file: Path | None = None,
        timeouts: GitTimeouts | None = None,
        limits: TreeLimits | None = None,
        policy: RepoPolicy | None = None,
        trust: RepoTrust | None = None,
    ) -> None:
        self.root = root
        self.known_hosts_file = known_hosts_file
        self.trust = trust
        self.timeouts = timeouts or GitTimeouts()
        self.limits = limits or TreeLimits()
        self.policy = (policy or RepoPolicy()).forbidding(root)
        self._mirrors: dict[str, Mirror] = {}
        # Held for dictionary work only: `mirror()` is called on the event loop.
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        # Mirrors may hold private code: only this user reads the cache.
        root.chmod(stat.S_IRWXU)

    def check(self, url: str) -> str:
        """The checked `url`, or a `SourceError` when it is malformed or the policy refuses it."""
        return check_repo_location(url, self.policy)

    def mirror(self, url: str, credentials: RepoCredentials | None = None) -> Mirror:
        """The mirror of `url`, created on first use; `credentials` replace the previous ones.

        Raises `RepositoryNotAllowedError` for a location the policy refuses.
        """
        url = self.check(url)
        with self._lock:
            mirror = self._mirrors.get(url)
            if mirror is not None:
                mirror.credentials = credentials
                return mirror
        # Built outside the lock: checking a local path reads the file system.
        candidate = Mirror(
            url,
            self.root / _mirror_dirname(url),
            credentials,
            self.known_hosts_file,
            self.timeouts,
            self.limits,
            self.policy,
            self.trust,
        )
        with self._lock:
            mirror = self._mirrors.setdefault(url, candidate)
            mirror.credentials = credentials
            return mirror

    def mirrors(self) -> list[Mirror]:
        """Every mirror created so far."""
        with self._lock:
            return list(self._mirrors.values())
