"""The controller's work queue: application names waiting for a reconcile.

A name is in the queue at most once however often it is asked for; delayed requests collapse to
the earliest; a name is reconciled by one worker at a time (asked for again while it is being
reconciled, it comes back once that worker is done).
"""

from __future__ import annotations

import asyncio


class WorkQueue:
    """De-duplicating, delay-aware queue of names with per-name exclusivity."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        #: names a worker holds now, and those asked for meanwhile
        self._active: set[str] = set()
        self._dirty: set[str] = set()

    def add(self, name: str, delay: float = 0.0) -> None:
        """Queue ``name`` (after ``delay`` seconds); repeated requests collapse into one."""
        if delay > 0:
            loop = asyncio.get_running_loop()
            existing = self._timers.get(name)
            due = loop.time() + delay
            if existing is not None and existing.when() <= due:
                return
            if existing is not None:
                existing.cancel()
            self._timers[name] = loop.call_at(due, self._fire, name)
            return
        if name not in self._queued:
            self._queued.add(name)
            self._queue.put_nowait(name)

    def _fire(self, name: str) -> None:
        self._timers.pop(name, None)
        self.add(name)

    async def take(self) -> str | None:
        """The next name to reconcile, now held by the caller until :meth:`done`; ``None`` when
        the name taken is held by another worker (it comes back when that one is done)."""
        name = await self._queue.get()
        self._queued.discard(name)
        if name in self._active:
            self._dirty.add(name)
            return None
        self._active.add(name)
        return name

    def done(self, name: str) -> None:
        """The caller is finished with ``name``; queue it again if it was asked for meanwhile."""
        self._active.discard(name)
        if name in self._dirty:
            self._dirty.discard(name)
            self.add(name)

    def depth(self) -> int:
        """Names waiting (not counting delayed ones)."""
        return self._queue.qsize()

    def close(self) -> None:
        """Cancel every delayed request."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
