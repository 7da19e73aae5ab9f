"""A GitRepository's ``include``: other GitRepositories' artifacts placed in its own.

The composed tree is the including repository's commit with, for each include in order, the
folder ``fromPath`` of the included artifact (less what that repository's own ignore rules
leave out of its artifact, as Flux archives it) copied to ``toPath``, replacing what was there.
A path that would pass through a symbolic link (out of either tree) is refused. Each
combination of revisions is built once, in a folder named by it, and sealed read-only.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tether.errors import TetherError
from tether.flux.sourceignore import SourceIgnore


class IncludeError(TetherError):
    """An include that cannot be placed; ``reason`` is Flux's (``CopyFailure``,
    ``IllegalPath``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Part:
    """One include to place: the included tree, its ignore rules and the two paths."""

    name: str
    root: Path
    ignore: str | None
    from_path: str
    to_path: str


def _through_link(root: Path, path: str) -> bool:
    current = root
    for part in path.split("/") if path else ():
        current = current / part
        if current.is_symlink():
            return True
    return False


def _copy(source: Path, target: Path, ignore: object = None) -> None:
    """``source`` copied to ``target`` (links as links), its folders left writable: the sealed
    trees copied from are read-only, and includes are placed inside the copy."""
    shutil.copytree(source, target, symlinks=True, ignore=ignore)  # type: ignore[arg-type]
    for top, _, _ in os.walk(target):
        os.chmod(top, 0o755)


def _place(tree: Path, part: Part) -> None:
    where = f"'{part.name}' include from '{part.from_path or '.'}' to '{part.to_path}'"
    if _through_link(part.root, part.from_path) or _through_link(tree, part.to_path):
        raise IncludeError("IllegalPath", f"path calculation for {where} failed: a symbolic link")
    source = part.root / part.from_path if part.from_path else part.root
    if not source.is_dir():
        raise IncludeError(
            "CopyFailure", f"failed to copy {where}: no folder '{part.from_path}' in it"
        )
    left_out = set(SourceIgnore.of_tree(part.root, part.ignore).excluded(part.root, part.from_path))

    def ignored(folder: str, names: list[str]) -> set[str]:
        rel = os.path.relpath(folder, part.root).replace(os.sep, "/")
        prefix = "" if rel == "." else rel + "/"
        return {name for name in names if prefix + name in left_out}

    target = tree / part.to_path
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    _copy(source, target, ignored)


def compose(folder: Path, identity: str, base: Path, parts: Sequence[Part]) -> Path:
    """The composed tree ``folder/<identity>``: made from ``base`` and ``parts`` unless it
    exists already."""
    final = folder / identity
    if final.is_dir():
        return final
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".compose-", dir=folder))
    try:
        tree = staging / "tree"
        _copy(base, tree)
        for part in parts:
            _place(tree, part)
        try:
            os.rename(tree, final)
        except OSError:
            if not final.is_dir():
                raise
        return final
    except OSError as exc:
        raise IncludeError("CopyFailure", f"failed to copy includes: {exc.strerror}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
