"""The read-only tree of one commit: file reads, listings and exports, bounded before reading.

Every blob's size comes from its object header (`odb.read_header`), so a file over the limit is
refused without its content ever being inflated into memory. Entry names are checked as git's
own checkout checks them: a crafted tree cannot write outside the export folder.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pygit2
from pygit2.enums import FileMode

from tether.source.errors import (
    FileTooLargeError,
    InvalidTreeError,
    PathNotFoundError,
    RevisionNotFoundError,
    SourceError,
    TreeTooLargeError,
)
from tether.source.urls import scrub_url

if TYPE_CHECKING:
    from tether.source.mirror import Mirror

# Longest symlink target the kernel accepts (PATH_MAX minus the terminating NUL).
MAX_SYMLINK_TARGET = 4095


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
    # split by hand, not through PurePosixPath: called for every file a poll or an export
    # looks at, and pathlib interns every part it parses
    for part in path.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise PathNotFoundError(f"path {path!r} leaves the repository")
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)


@dataclass
class _Budget:
    """What one export has used so far, against its limits."""

    tree: CommitTree
    entries: int = 0
    bytes: int = 0

    def add(self, path: str, size: int) -> None:
        limits = self.tree.limits
        self.entries += 1
        self.bytes += size
        if self.entries > limits.max_entries:
            raise TreeTooLargeError(
                f"{self.tree.where()} has more than {limits.max_entries} entries (limit reached "
                f"at {path!r}); nothing was exported"
            )
        if self.bytes > limits.max_tree_bytes:
            raise TreeTooLargeError(
                f"the files of {self.tree.where()} add up to more than {limits.max_tree_bytes} "
                f"bytes (limit reached at {path!r}); nothing was exported"
            )


class CommitTree:
    """The read-only tree of one commit of a mirror.

    A CommitTree has its own repository handle, so separate trees read in parallel threads;
    one tree serializes its own calls. Reads are bounded by the mirror's `TreeLimits`.
    """

    def __init__(self, mirror: Mirror, commit: str) -> None:
        self.mirror = mirror
        self.commit = commit
        self.limits = mirror.limits
        self._lock = threading.Lock()
        self._repo = pygit2.Repository(str(mirror.path))
        obj = self._repo.get(commit)
        if obj is None:
            raise RevisionNotFoundError(
                f"commit {commit} is not in the mirror of {scrub_url(mirror.url)}"
            )
        self._tree = obj.peel(pygit2.Tree)
        #: folders looked up so far, by clean path (None: no folder there)
        self._directories: dict[str, pygit2.Tree | None] = {}

    def where(self) -> str:
        """The commit and repository, for messages."""
        return f"commit {self.commit[:12]} of {scrub_url(self.mirror.url)}"

    def _lookup(self, path: str) -> pygit2.Object | None:
        clean = clean_repo_path(path)
        if clean == "":
            return self._tree
        parent, _, name = clean.rpartition("/")
        directory = self._directory(parent)
        if directory is None:
            return None
        try:
            return directory[name]
        except KeyError:
            return None

    def _directory(self, path: str) -> pygit2.Tree | None:
        """The tree of the folder at ``path`` (clean), None when there is no folder there.

        Folders met are kept for the life of this CommitTree: libgit2 does not cache a tree
        object over 4 KiB, so a lookup by full path would inflate a folder of 1,000 apps again
        for every file looked up in it (what the poller does for each app of a monorepo)."""
        if path == "":
            return self._tree
        if path in self._directories:
            return self._directories[path]
        found: pygit2.Tree | None = self._tree
        walked = ""
        for part in path.split("/"):
            walked = f"{walked}/{part}" if walked else part
            if walked in self._directories:
                found = self._directories[walked]
            else:
                entry = found[part] if found is not None and part in found else None
                found = entry if isinstance(entry, pygit2.Tree) else None
                self._directories[walked] = found
            if found is None:
                break
        return found

    def _size(self, obj: pygit2.Object) -> int:
        # The header alone: the content of a huge blob is never inflated to learn its size.
        return int(self._repo.odb.read_header(obj.id)[1])

    def _checked_size(self, obj: pygit2.Object, path: str) -> int:
        size = self._size(obj)
        if size > self.limits.max_file_bytes:
            raise FileTooLargeError(
                f"{path!r} at {self.where()} has {size} bytes, more than the limit of "
                f"{self.limits.max_file_bytes} bytes per file; it was not read",
                path,
            )
        return size

    def kind(self, path: str) -> str | None:
        """file, dir, symlink or submodule; None when nothing is at `path`."""
        with self._lock:
            obj = self._lookup(path)
            return None if obj is None else _kind(obj.filemode or FileMode.TREE)

    def exists(self, path: str) -> bool:
        """True when something is at `path`."""
        return self.kind(path) is not None

    def read_file(self, path: str) -> bytes:
        """The content of the file at `path` (a symlink gives its target text).

        Raises `FileTooLargeError` for a file over the per-file limit, before reading it.
        """
        with self._lock:
            obj = self._lookup(path)
            if obj is None or not isinstance(obj, pygit2.Blob):
                raise PathNotFoundError(f"{path!r} is not a file at {self.where()}")
            self._checked_size(obj, clean_repo_path(path))
            return obj.data

    def list_dir(self, path: str = "") -> list[TreeEntry]:
        """The entries of the directory at `path`, sorted by name; file sizes from headers."""
        clean = clean_repo_path(path)
        with self._lock:
            obj = self._lookup(clean)
            if not isinstance(obj, pygit2.Tree):
                raise PathNotFoundError(f"{path!r} is not a directory at {self.where()}")
            entries = []
            for child in obj:
                name = child.name or ""
                kind = _kind(child.filemode)
                size = self._size(child) if isinstance(child, pygit2.Blob) else None
                entries.append(TreeEntry(name, f"{clean}/{name}" if clean else name, kind, size))
        return sorted(entries, key=lambda e: e.name)

    def walk(self, path: str = "") -> Iterator[TreeEntry]:
        """Every entry under `path`, depth first, directories before their content."""
        # An explicit stack: a crafted tree thousands of folders deep must not hit the
        # interpreter's recursion limit.
        stack = [iter(self.list_dir(path))]
        while stack:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
                continue
            yield entry
            if entry.kind == "dir":
                stack.append(iter(self.list_dir(entry.path)))

    def export(self, destination: Path, path: str = "") -> None:
        """Write the subtree at `path` into `destination` (created; must not exist).

        Symlinks are written as symlinks, unresolved: deciding whether one escapes the tree is
        the reader's job. Submodules are left out. Files are read-only for everyone. The limits
        (size per file, total size, entries, depth) are checked from headers before each file
        is read; when one is exceeded, or an entry is invalid, `destination` is removed and a
        `SourceError` names the path.
        """
        clean = clean_repo_path(path)
        destination.mkdir(parents=True)
        try:
            with self._lock:
                root = self._lookup(clean)
                if not isinstance(root, pygit2.Tree):
                    raise PathNotFoundError(f"{path!r} is not a directory at {self.where()}")
                self._export_tree(root, destination, clean)
        except BaseException:
            shutil.rmtree(destination, ignore_errors=True)
            raise

    def _export_tree(self, root: pygit2.Tree, destination: Path, base: str) -> None:
        budget = _Budget(self)
        stack: list[tuple[pygit2.Tree, Path, str, int]] = [(root, destination, base, 1)]
        while stack:
            tree, directory, prefix, depth = stack.pop()
            if depth > self.limits.max_depth:
                raise TreeTooLargeError(
                    f"{prefix!r} at {self.where()} is nested more than "
                    f"{self.limits.max_depth} folders deep; nothing was exported"
                )
            for child in tree:
                name = self._checked_name(child.name or "", prefix)
                child_path = f"{prefix}/{name}" if prefix else name
                target = directory / name
                try:
                    if isinstance(child, pygit2.Tree):
                        budget.add(child_path, 0)
                        target.mkdir()
                        stack.append((child, target, child_path, depth + 1))
                    elif isinstance(child, pygit2.Blob):
                        self._export_blob(child, target, child_path, budget)
                except OSError as error:
                    raise SourceError(
                        f"could not export {child_path!r} of {self.where()}: {error.strerror}"
                    ) from None

    def _export_blob(self, blob: pygit2.Blob, target: Path, path: str, budget: _Budget) -> None:
        size = self._checked_size(blob, path)
        budget.add(path, size)
        if blob.filemode == FileMode.LINK:
            if size > MAX_SYMLINK_TARGET:
                raise InvalidTreeError(
                    f"symlink {path!r} at {self.where()} has a target of {size} bytes; no "
                    "file system accepts one that long"
                )
            link = blob.data
            if b"\0" in link:
                raise InvalidTreeError(f"symlink {path!r} at {self.where()} has a NUL byte")
            os.symlink(link.decode(errors="surrogateescape"), target)
            return
        target.write_bytes(blob.data)
        executable = blob.filemode == FileMode.BLOB_EXECUTABLE
        target.chmod(0o555 if executable else 0o444)

    def _checked_name(self, name: str, prefix: str) -> str:
        # git's checkout refuses these too; a crafted tree could otherwise write outside the
        # export folder (`..`, a name with `/`) or plant a `.git` folder.
        if name in ("", ".", "..") or "/" in name or "\0" in name or name.lower() == ".git":
            raise InvalidTreeError(
                f"the tree of {self.where()} has an entry named {name!r} in {prefix or '/'!r}, "
                "which no checkout may hold; refused"
            )
        return name
