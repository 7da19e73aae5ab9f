"""Bare mirrors of remote repositories, one per URL, and read-only trees at a commit.

Network operations (`ls-remote`, `fetch`) run the `git` CLI; everything that reads objects runs
in-process through pygit2. Each mirror has a readers-writer lock: a fetch waits for running reads
to finish and blocks new ones, while any number of reads run together. The synchronous methods
are safe to call from threads; the `*_async` ones run them off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pygit2
from pygit2.enums import FileMode

from tether.source.credentials import RepoCredentials, git_environment
from tether.source.errors import PathNotFoundError, RevisionNotFoundError, SourceError
from tether.source.gitcli import DEFAULT_TIMEOUT, run_git
from tether.source.revisions import (
    ResolvedRevision,
    is_commit_sha,
    resolve_revision,
)
from tether.source.urls import check_repo_url, scrub_url

# Only branches and tags are mirrored: forges advertise many more refs (pull requests, merge
# requests) that no Application targets and that would make every fetch heavier.
FETCH_REFSPECS = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
# Commits an application still uses are kept reachable here so that `git gc` never drops the
# last good commit of a branch that was deleted or force-pushed away.
KEEP_PREFIX = "refs/tether/keep/"


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


@dataclass(frozen=True)
class TreeEntry:
    """One entry of a directory in a commit's tree. `kind` is file, dir, symlink or submodule."""

    name: str
    path: str
    kind: str
    size: int | None = None


def _kind(filemode: int) -> str:
    if filemode == FileMode.TREE:
        return "dir"
    if filemode == FileMode.LINK:
        return "symlink"
    if filemode == FileMode.COMMIT:
        return "submodule"
    return "file"


def clean_repo_path(path: str) -> str:
    """`path` relative to the repository root in canonical form ('' for the root).

    Raises `PathNotFoundError` for a path that leaves the repository (`..` above the root).
    """
    parts: list[str] = []
    for part in PurePosixPath(path.replace("\\", "/")).parts:
        if part in ("/", "."):
            continue
        if part == "..":
            if not parts:
                raise PathNotFoundError(f"path {path!r} leaves the repository")
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


class CommitTree:
    """The read-only tree of one commit of a mirror.

    A CommitTree has its own repository handle, so separate trees read in parallel threads;
    one tree serializes its own calls.
    """

    def __init__(self, mirror: Mirror, commit: str) -> None:
        self.mirror = mirror
        self.commit = commit
        self._lock = threading.Lock()
        self._repo = pygit2.Repository(str(mirror.path))
        obj = self._repo.get(commit)
        if obj is None:
            raise RevisionNotFoundError(
                f"commit {commit} is not in the mirror of {scrub_url(mirror.url)}"
            )
        self._tree = obj.peel(pygit2.Tree)

    def _lookup(self, path: str) -> pygit2.Object | None:
        clean = clean_repo_path(path)
        if clean == "":
            return self._tree
        try:
            return self._tree[clean]
        except KeyError:
            return None

    def kind(self, path: str) -> str | None:
        """file, dir, symlink or submodule; None when nothing is at `path`."""
        with self._lock:
            obj = self._lookup(path)
            return None if obj is None else _kind(obj.filemode or FileMode.TREE)

    def exists(self, path: str) -> bool:
        """True when something is at `path`."""
        return self.kind(path) is not None

    def read_file(self, path: str) -> bytes:
        """The content of the file at `path` (a symlink gives its target text)."""
        with self._lock:
            obj = self._lookup(path)
            if obj is None or not isinstance(obj, pygit2.Blob):
                raise PathNotFoundError(
                    f"{path!r} is not a file at commit {self.commit[:12]} of "
                    f"{scrub_url(self.mirror.url)}"
                )
            return obj.data

    def list_dir(self, path: str = "") -> list[TreeEntry]:
        """The entries of the directory at `path`, sorted by name."""
        clean = clean_repo_path(path)
        with self._lock:
            obj = self._lookup(clean)
            if not isinstance(obj, pygit2.Tree):
                raise PathNotFoundError(
                    f"{path!r} is not a directory at commit {self.commit[:12]} of "
                    f"{scrub_url(self.mirror.url)}"
                )
            entries = []
            for child in obj:
                name = child.name or ""
                kind = _kind(child.filemode)
                size = child.size if isinstance(child, pygit2.Blob) else None
                entries.append(TreeEntry(name, f"{clean}/{name}" if clean else name, kind, size))
        return sorted(entries, key=lambda e: e.name)

    def walk(self, path: str = "") -> Iterator[TreeEntry]:
        """Every entry under `path`, depth first, directories before their content."""
        for entry in self.list_dir(path):
            yield entry
            if entry.kind == "dir":
                yield from self.walk(entry.path)

    def export(self, destination: Path, path: str = "") -> None:
        """Write the subtree at `path` into `destination` (created; must not exist).

        Symlinks are written as symlinks, unresolved: deciding whether one escapes the tree is
        the reader's job. Submodules are left out. Files are read-only for everyone.
        """
        clean = clean_repo_path(path)
        destination.mkdir(parents=True)
        with self._lock:
            root = self._lookup(clean)
            if not isinstance(root, pygit2.Tree):
                raise PathNotFoundError(
                    f"{path!r} is not a directory at commit {self.commit[:12]} of "
                    f"{scrub_url(self.mirror.url)}"
                )
            self._export_tree(root, destination)

    def _export_tree(self, tree: pygit2.Tree, directory: Path) -> None:
        for child in tree:
            target = directory / (child.name or "")
            if isinstance(child, pygit2.Tree):
                target.mkdir()
                self._export_tree(child, target)
            elif child.filemode == FileMode.LINK and isinstance(child, pygit2.Blob):
                os.symlink(child.data.decode(errors="surrogateescape"), target)
            elif isinstance(child, pygit2.Blob):
                target.write_bytes(child.data)
                executable = child.filemode == FileMode.BLOB_EXECUTABLE
                target.chmod(0o555 if executable else 0o444)


def _mirror_dirname(url: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", scrub_url(url).split("://")[-1]).strip("-.")[-48:]
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return f"{slug}-{digest}.git"


class Mirror:
    """A bare mirror of the branches and tags of one remote repository, in a cache folder."""

    def __init__(
        self,
        url: str,
        path: Path,
        credentials: RepoCredentials | None = None,
        known_hosts_file: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = check_repo_url(url)
        self.path = path
        self.credentials = credentials
        self.known_hosts_file = known_hosts_file
        self.timeout = timeout
        self.lock = ReadWriteLock()
        self.ref_checks = 0
        self.fetches = 0
        self._generation = 0
        self._local = threading.local()

    # -- network --------------------------------------------------------------------------------

    def _git(self, args: list[str], cwd: Path | None = None) -> str:
        with git_environment(self.url, self.credentials, self.known_hosts_file) as environment:
            return run_git(args, self.url, environment, cwd=cwd, timeout=self.timeout)

    def ls_remote(self) -> dict[str, str]:
        """The remote's HEAD, branches and tags as {ref name: commit}; no mirror needed.

        Annotated tags appear twice, as `refs/tags/x` (the tag object) and `refs/tags/x^{}` (the
        commit), as git prints them.
        """
        output = self._git(["ls-remote", self.url])
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
        with self.lock.writing():
            if self.cloned:
                return False
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Clone beside the final place and rename, so that a failed clone leaves nothing
            # that looks like a mirror.
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
            ]
        )
        self.fetches += 1

    def fetch(self) -> None:
        """Bring the mirror up to date with the remote (clone it first when needed).

        Branches and tags are forced and pruned, so force-pushes and deletions show up.
        """
        if self.ensure():
            return
        with self.lock.writing():
            self._fetch_into(self.path)
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

    def tree(self, commit: str) -> CommitTree:
        """The read-only tree of `commit` (a full SHA the mirror holds)."""
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
        """`ls_remote` without blocking the event loop."""
        return await asyncio.to_thread(self.ls_remote)

    async def fetch_async(self) -> None:
        """`fetch` without blocking the event loop."""
        await asyncio.to_thread(self.fetch)

    async def resolve_async(
        self, revision: str, refs: dict[str, str] | None = None
    ) -> ResolvedRevision:
        """`resolve` without blocking the event loop."""
        return await asyncio.to_thread(self.resolve, revision, refs)

    async def tree_async(self, commit: str) -> CommitTree:
        """`tree` without blocking the event loop (it waits while a fetch holds the lock)."""
        return await asyncio.to_thread(self.tree, commit)


class MirrorCache:
    """The cache folder: one shared `Mirror` per repository URL."""

    def __init__(
        self,
        root: Path,
        known_hosts_file: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.root = root
        self.known_hosts_file = known_hosts_file
        self.timeout = timeout
        self._mirrors: dict[str, Mirror] = {}
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        # Mirrors may hold private code: only this user reads the cache.
        root.chmod(stat.S_IRWXU)

    def mirror(self, url: str, credentials: RepoCredentials | None = None) -> Mirror:
        """The mirror of `url`, created on first use; `credentials` replace the previous ones."""
        url = check_repo_url(url)
        with self._lock:
            mirror = self._mirrors.get(url)
            if mirror is None:
                mirror = Mirror(
                    url,
                    self.root / _mirror_dirname(url),
                    credentials,
                    self.known_hosts_file,
                    self.timeout,
                )
                self._mirrors[url] = mirror
            else:
                mirror.credentials = credentials
            return mirror

    def mirrors(self) -> list[Mirror]:
        """Every mirror created so far."""
        with self._lock:
            return list(self._mirrors.values())
