"""Commits exported as sealed, read-only trees, written once per (repository, commit) and
shared by every render on them (Argo CD Applications and Flux Kustomizations alike)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
from collections.abc import Callable
from pathlib import Path

from tether.render import SealedTree, seal_tree
from tether.render.tree import remove_tree
from tether.source.mirror import Mirror


class TreeExports:
    """Exports under ``root``; ``mirror_for(url)`` gives the mirror holding a repository's
    commits."""

    def __init__(self, root: Path, mirror_for: Callable[[str], Mirror]) -> None:
        self.root = root
        self._mirror_for = mirror_for
        self._exports: dict[tuple[str, str], SealedTree] = {}
        #: exports being written: every caller of the commit waits for the one export
        self._exporting: dict[tuple[str, str], asyncio.Task[SealedTree]] = {}

    async def export(self, url: str, commit: str) -> SealedTree:
        """The tree of ``commit`` as files, sealed read-only (links checked). Callers asking
        while it is written wait for that one export (at a cold start, every app of a
        repository asks at once)."""
        key = (url, commit)
        sealed = self._exports.get(key)
        if sealed is not None and sealed.root.exists():
            return sealed
        task = self._exporting.get(key)
        if task is None:
            task = asyncio.create_task(self._export(url, commit), name=f"export {commit[:12]}")
            self._exporting[key] = task
            task.add_done_callback(lambda _: self._exporting.pop(key, None))
        # shielded: one caller's cancelled reconcile must not cancel the export others wait for
        return await asyncio.shield(task)

    async def _export(self, url: str, commit: str) -> SealedTree:
        tree = await self._mirror_for(url).tree_async(commit)
        digest = hashlib.sha256(f"{url}@{commit}".encode()).hexdigest()[:32]
        path = self.root / digest
        if not path.exists():
            tmp = path.with_name(path.name + f".tmp{os.getpid()}{random.randint(0, 1 << 30)}")
            await asyncio.to_thread(tree.export, tmp)
            try:
                tmp.rename(path)
            except OSError:
                # another process sharing the cache exported it first: keep theirs, drop ours
                await asyncio.to_thread(remove_tree, tmp)
        # sealed again after a restart too: the record lives in memory only
        sealed = await asyncio.to_thread(seal_tree, path)
        self._exports[(url, commit)] = sealed
        return sealed
