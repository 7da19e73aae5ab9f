"""Sealed trees: an exported commit made read-only once, so renders can read it in place.

A commit's export is written once and shared by every application on that commit. Sealing it
(files 0444, folders 0555) and recording what the private copy used to check (every symbolic
link stays inside the tree, the largest file, the total size) lets a render skip the copy: the
checks run against the record, reads happen in place, and tools see the tree through a
read-only bind mount (:mod:`tether.render.sandbox`). The modes alone do not stop root; the
mount does, and where none can be made the render copies the tree as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tether.render.errors import RenderError, RenderLimitError, UnsafeRepositoryError
from tether.render.models import RenderLimits
from tether.render.tree import is_inside, walk


@dataclass(frozen=True)
class SealedTree:
    """A read-only tree and what sealing it found.

    ``root`` is resolved (no links); ``total_bytes`` adds up its files, ``largest`` is the
    biggest file (size, path relative to the root), ``escaping_link`` the first symbolic link
    (path, target) that resolves outside the root, if any.
    """

    root: Path
    total_bytes: int
    largest: tuple[int, str]
    escaping_link: tuple[str, str] | None


def seal_tree(root: Path | str) -> SealedTree:
    """Make the tree at ``root`` read-only for everyone and record its links and sizes.

    Links are checked here, once per commit, instead of on every render's copy; the tree must
    not change afterwards (only its writer, the export, may have written it).
    """
    real = os.path.realpath(root)
    if not os.path.isdir(real):
        raise RenderError(f"repository tree {root} is not a directory")
    try:
        return _seal(real)
    except OSError as exc:
        raise RenderError(f"cannot seal the repository tree: {exc.strerror or exc}") from None


def _seal(real: str) -> SealedTree:
    total = 0
    largest = (0, "")
    escaping: tuple[str, str] | None = None
    for top, dirnames, filenames in walk(real):
        for name in filenames:
            path = os.path.join(top, name)
            st = os.lstat(path)
            rel = _relative(real, path)
            if os.path.islink(path):
                if escaping is None and not is_inside(real, os.path.realpath(path)):
                    escaping = (rel, os.readlink(path))
                continue
            total += st.st_size
            largest = max(largest, (st.st_size, rel))
            # executables stay executable (a chart may ship a script as data)
            os.chmod(path, 0o555 if st.st_mode & 0o111 else 0o444)
        for name in dirnames:
            path = os.path.join(top, name)
            if os.path.islink(path):
                if escaping is None and not is_inside(real, os.path.realpath(path)):
                    escaping = (_relative(real, path), os.readlink(path))
                continue
            os.chmod(path, 0o555)
    os.chmod(real, 0o555)
    return SealedTree(Path(real), total, largest, escaping)


def _relative(root: str, path: str) -> str:
    return os.path.relpath(path, root).replace(os.sep, "/")


def check_sealed(tree: SealedTree, limits: RenderLimits) -> None:
    """The checks a private copy makes, against the record: links, file and tree sizes."""
    if tree.escaping_link is not None:
        rel, target = tree.escaping_link
        raise UnsafeRepositoryError(
            f"symbolic link points outside the repository (to {target})", file=rel
        )
    size, rel = tree.largest
    if size > limits.max_file_bytes:
        raise RenderLimitError(
            f"file is {size} bytes, larger than the {limits.max_file_bytes}-byte limit "
            "for files in a repository",
            file=rel,
        )
    if tree.total_bytes > limits.max_tree_bytes:
        raise RenderLimitError(
            f"repository is larger than the {limits.max_tree_bytes}-byte limit "
            f"({tree.total_bytes} bytes)"
        )
