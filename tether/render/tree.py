"""The tree a render works on: a private, read-only copy, or a sealed export read in place.

Tools never change the caller's tree: either they see a private copy (made here, symbolic links
checked and sizes bounded while copying), or, for a sealed export (:mod:`tether.render.sealed`,
checked once when it was written), the export itself mounted read-only for them. Renders whose
preparation writes (kustomization edits, chart dependencies, SOPS decryption) always copy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from tether.render.errors import RenderError, RenderLimitError, UnsafeRepositoryError
from tether.render.models import MiB, RenderLimits
from tether.render.process import ToolRun, run_tool
from tether.render.sandbox import can_protect_tree, confine

_SKIPPED_NAMES = frozenset({".git"})
_MEMORY_FS = "/dev/shm"


def workspace_parent(limits: RenderLimits) -> str:
    """Where private copies go: ``$TETHER_RENDER_TMPDIR``, else a memory file system with room for
    the largest tree allowed (creating files there costs ~100x less than on a disk), else the
    system temporary folder."""
    configured = os.environ.get("TETHER_RENDER_TMPDIR")
    if configured:
        return configured
    try:
        st = os.statvfs(_MEMORY_FS)
        if os.access(_MEMORY_FS, os.W_OK) and st.f_bavail * st.f_frsize > 2 * limits.max_tree_bytes:
            return _MEMORY_FS
    except OSError:
        pass
    return tempfile.gettempdir()


def walk(
    root: Path | str, *, follow_links: bool = False
) -> Iterator[tuple[str, list[str], list[str]]]:
    """``os.walk``, top-down, without recursion: Python 3.11's recurses once per folder level
    and a repository may nest folders a thousand deep. Callers may prune ``dirnames`` in place;
    with ``follow_links`` each real folder is visited once, so link cycles end."""
    pending = [str(root)]
    seen: set[str] = set()
    while pending:
        top = pending.pop()
        if follow_links:
            real = os.path.realpath(top)
            if real in seen:
                continue
            seen.add(real)
        dirnames: list[str] = []
        filenames: list[str] = []
        links: set[str] = set()
        try:
            with os.scandir(top) as entries:
                for entry in entries:
                    if entry.is_dir():
                        dirnames.append(entry.name)
                        if entry.is_symlink():
                            links.add(entry.name)
                    else:
                        filenames.append(entry.name)
        except OSError:
            continue
        dirnames.sort()
        filenames.sort()
        yield top, dirnames, filenames
        pending.extend(
            os.path.join(top, name)
            for name in reversed(dirnames)
            if follow_links or name not in links
        )


def remove_tree(root: Path | str) -> None:
    """``shutil.rmtree(root, ignore_errors=True)`` without recursion (see :func:`walk`)."""
    if os.path.islink(root):
        # a link is removed, never what it points to
        with contextlib.suppress(OSError):
            os.unlink(root)
        return
    folders: list[str] = []
    for top, _, filenames in walk(root):
        folders.append(top)
        for name in filenames:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(top, name))
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            if os.path.islink(folder):
                os.unlink(folder)
            else:
                os.rmdir(folder)


def is_inside(root: str, path: str) -> bool:
    """Whether ``path`` (already resolved) is ``root`` or below it."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_inside(root: Path, base: Path, relative: str, what: str) -> Path:
    """``base / relative`` resolved through symlinks; an error when it leaves ``root``.

    A leading ``/`` means the repository root, as in Argo CD's value file paths.
    """
    start = root if relative.startswith("/") else base
    candidate = os.path.realpath(os.path.join(start, relative.lstrip("/")))
    if not is_inside(str(root), candidate):
        raise UnsafeRepositoryError(f"{what} {relative!r} resolves outside the repository")
    return Path(candidate)


class Workspace:
    """A temporary folder holding ``repo/`` (the copy) and ``scratch/`` (tool homes, values).

    With ``in_place`` (a sealed tree only) nothing is copied: ``repo`` is the tree itself, tools
    see it read-only, and a file the render rewrites (an edited kustomization) is written to the
    scratch folder and laid over the original, for this render's reads and tools only; anything
    else that would write into the tree is refused.
    """

    def __init__(
        self, tree_root: Path, limits: RenderLimits, *, in_place: bool = False, only: str = ""
    ) -> None:
        """``only``: copy just that folder of the tree (relative, at the same place in the
        copy), for a render its caller knows reads nothing outside it."""
        self.source_root = Path(os.path.realpath(tree_root))
        self.only = only.strip("/")
        if not self.source_root.is_dir():
            raise RenderError(f"repository tree {tree_root} is not a directory")
        self.limits = limits
        self.in_place = in_place
        self.base = Path(
            os.path.realpath(
                tempfile.mkdtemp(prefix="tether-render-", dir=workspace_parent(limits))
            )
        )
        self.repo = self.source_root if in_place else self.base / "repo"
        self.scratch = self.base / "scratch"
        self._copied_bytes = 0
        self._read_bytes = 0
        self._sealed = False
        # original path in the tree -> this render's version of it (in-place renders only)
        self._overlays: dict[str, Path] = {}

    def __enter__(self) -> Workspace:
        try:
            self.scratch.mkdir()
            if not self.in_place:
                self.repo.mkdir()
                self._copy_tree()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    def _copy_tree(self) -> None:
        # a work list, not recursion: a repository may nest folders thousands deep
        pending = [(self.source_root, self.repo, "")]
        if self.only:
            source = Path(os.path.realpath(self.source_root / self.only))
            if not is_inside(str(self.source_root), str(source)) or not source.is_dir():
                raise RenderError(f"path {self.only!r} is not a folder of the repository")
            (self.repo / self.only).mkdir(parents=True)
            pending = [(source, self.repo / self.only, self.only + "/")]
        while pending:
            src, dst, rel = pending.pop()
            try:
                pending.extend(reversed(self._copy_dir(src, dst, rel)))
            except OSError as exc:
                raise RenderError(f"cannot copy: {exc.strerror or exc}", file=rel or ".") from None

    def _copy_dir(self, src: Path, dst: Path, rel: str) -> list[tuple[Path, Path, str]]:
        """Copy the files and links of one folder; returns its sub-folders, still to copy."""
        folders: list[tuple[Path, Path, str]] = []
        with os.scandir(src) as entries:
            names = sorted(entries, key=lambda e: e.name)
        for entry in names:
            if entry.name in _SKIPPED_NAMES:
                continue
            entry_rel = f"{rel}{entry.name}"
            target = dst / entry.name
            if entry.is_symlink():
                self._copy_symlink(Path(entry.path), target, entry_rel)
            elif entry.is_dir(follow_symlinks=False):
                target.mkdir()
                folders.append((Path(entry.path), target, entry_rel + "/"))
            elif entry.is_file(follow_symlinks=False):
                self._count_copy(entry.stat(follow_symlinks=False).st_size, entry_rel)
                shutil.copyfile(entry.path, target)
            # sockets, FIFOs and devices are not content: a FIFO would block any tool reading it
        return folders

    def _count_copy(self, size: int, rel: str) -> None:
        """Check a file about to be copied against the file and tree size limits."""
        self._check_file_size(size, rel)
        self._copied_bytes += size
        if self._copied_bytes > self.limits.max_tree_bytes:
            raise RenderLimitError(
                f"repository is larger than the {self.limits.max_tree_bytes}-byte limit "
                "(reached while copying this file)",
                file=rel,
            )

    def _check_file_size(self, size: int, rel: str) -> None:
        if size > self.limits.max_file_bytes:
            raise RenderLimitError(
                f"file is {size} bytes, larger than the {self.limits.max_file_bytes}-byte limit "
                "for files in a repository",
                file=rel,
            )

    def _copy_symlink(self, link: Path, target: Path, rel: str) -> None:
        resolved = os.path.realpath(link)
        if not is_inside(str(self.source_root), resolved):
            raise UnsafeRepositoryError(
                f"symbolic link points outside the repository (to {os.readlink(link)})", file=rel
            )
        # recreate it relative, aimed at the copy, so it cannot reach back into the caller's tree
        inside = os.path.relpath(resolved, self.source_root)
        aim = os.path.relpath(self.repo / inside, target.parent)
        os.symlink(aim, target)

    def writable(self, path: Path) -> Path:
        """``path``, about to be written; an error when the tree is shared (read in place)."""
        if self.in_place:
            # the render chose the in-place path wrongly: never write into a shared export
            raise RenderError(
                "internal error: a render tried to write into the shared repository tree",
                file=self.relative(path),
            )
        return path

    def write_file(self, path: Path, data: bytes) -> None:
        """Write ``data`` as a fresh file at ``path`` of the copy (never through a link, whose
        target other apps may share); in place, replace an existing regular file for this
        render only (see :meth:`can_overlay`)."""
        if self.in_place and self.can_overlay(path):
            overlay = self.scratch / "overlays" / str(len(self._overlays))
            overlay.parent.mkdir(exist_ok=True)
            overlay.write_bytes(data)
            self._overlays[str(path)] = overlay
            return
        self.writable(path)
        if path.is_symlink():
            path.unlink()
        path.write_bytes(data)

    def can_overlay(self, path: Path) -> bool:
        """Whether a render in place may replace ``path`` for itself: a regular file of the tree
        (not a link, whose target other folders may share) that tools can be shown another
        version of (a mount namespace can be made here)."""
        return (
            path.is_file()
            and not path.is_symlink()
            and is_inside(str(self.repo), str(path))
            and can_protect_tree(network=self.limits.allow_remote_bases)
        )

    def copy_folder(self, src: Path, dst: Path) -> None:
        """Copy a folder of the copy to another place in it, links followed (as
        ``shutil.copytree(symlinks=False)``), within the file and tree size limits."""
        self.writable(dst)
        for top, dirnames, filenames in walk(src, follow_links=True):
            rel = os.path.relpath(top, src)
            target = dst if rel == "." else dst / rel
            target.mkdir(exist_ok=True)
            for name in dirnames:
                (target / name).mkdir(exist_ok=True)
            for name in filenames:
                path = os.path.join(top, name)
                self._count_copy(os.stat(path).st_size, self.relative(path))
                shutil.copyfile(path, target / name)

    def seal(self) -> None:
        """Make the copy read-only once preparation (kustomization edits, chart deps) is done;
        a tree read in place was sealed when it was exported."""
        if self.in_place:
            return
        for dirpath, dirnames, filenames in walk(self.repo):
            for name in filenames:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o444)
            for name in dirnames:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    os.chmod(path, 0o555)
        os.chmod(self.repo, 0o555)
        self._sealed = True

    def cleanup(self) -> None:
        """Remove the workspace, read-only parts included."""
        if self._sealed:
            os.chmod(self.repo, 0o755)
            for dirpath, dirnames, _ in walk(self.repo):
                for name in dirnames:
                    path = os.path.join(dirpath, name)
                    if not os.path.islink(path):
                        os.chmod(path, stat.S_IRWXU)
        remove_tree(self.base)

    def run(
        self,
        argv: list[str],
        *,
        what: str,
        env: dict[str, str],
        stdin: bytes | None = None,
        network: bool = False,
    ) -> ToolRun:
        """Run a tool from the scratch folder under this render's limits, confined (see
        :mod:`tether.render.sandbox`; ``network`` leaves it the network); messages show
        repository paths, not the copy's."""
        limits = self.limits
        read_only: tuple[tuple[str, str], ...] = ()
        if self.in_place:
            # the tree first, then this render's files laid over files of it
            read_only = ((str(self.repo), str(self.repo)),)
            read_only += tuple((str(new), old) for old, new in self._overlays.items())
        confined = confine(argv, limits, what=what, network=network, read_only=read_only)
        note = (
            f"{limits.tool_cpu_seconds} s of CPU, {limits.tool_memory_bytes // MiB} MiB of memory"
        )
        return run_tool(
            confined.argv,
            what=what,
            cwd=str(self.scratch),
            env=env,
            timeout=limits.timeout_seconds,
            max_output_bytes=limits.max_output_bytes,
            stdin=stdin,
            hide_prefix=str(self.repo),
            preexec_fn=confined.preexec_fn,
            limits_note=note,
        )

    def read(self, path: Path) -> bytes:
        """A file of the copy, its size checked (``stat``) before it is read: above
        ``max_file_bytes``, or past ``max_read_bytes`` for this render, it is a RenderLimitError
        naming the file."""
        limits = self.limits
        rel = self.relative(path)
        source = self._overlays.get(str(path), path)
        try:
            size = os.stat(source).st_size
            if size <= limits.max_file_bytes and self._read_bytes + size <= limits.max_read_bytes:
                with open(source, "rb") as fh:
                    # at most one byte more than allowed: a file that grew is still caught
                    data = fh.read(limits.max_file_bytes + 1)
                size = len(data)
        except OSError as exc:
            raise RenderError(f"cannot read: {exc.strerror or exc}", file=rel) from None
        self._check_file_size(size, rel)
        if self._read_bytes + size > limits.max_read_bytes:
            raise RenderLimitError(
                f"render read more than {limits.max_read_bytes} bytes of the repository "
                "(reached at this file)",
                file=rel,
            )
        self._read_bytes += size
        return data

    def relative(self, path: Path | str) -> str:
        """A path inside the copy as the user knows it: relative to the repository root."""
        rel = os.path.relpath(path, self.repo)
        return "." if rel == "." else rel.replace(os.sep, "/")
