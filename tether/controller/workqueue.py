"""The controller's work queue: application names waiting for a reconcile.

A name is in the queue at most once however often it is asked for; delayed requests collapse to
the earliest; a name is reconciled by one worker at a time (asked for again while it is being
reconciled, it comes back once that worker is done, as client-go's workqueue does).

Two lanes, taken in turn: names never reconciled yet (first checks) and names reconciled
before (the re-check after a sync, a live change, a retry, the periodic resync). At a cold start
with a thousand apps the re-check that makes an app Synced and Healthy would otherwise wait
behind every first check; taken in turn, neither lane waits for the other: a name with ``p`` names
ahead of it in its lane is taken within ``2(p + 1)`` takes.
"""

from __future__ import annotations

import asyncio
from collections import deque

#: the lanes, in the order they take turns
FIRST_CHECKS = 0
RECHECKS = 1


class WorkQueue:
    """De-duplicating, delay-aware, two-lane queue of names with per-name exclusivity."""

    def __init__(self) -> None:
        self._lanes: tuple[deque[str], deque[str]] = (deque(), deque())
        #: one token per queued name: a taker waits on it, so no name is handed out twice
        self._ready: asyncio.Queue[None] = asyncio.Queue()
        self._queued: set[str] = set()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        #: names a worker holds now, and those asked for meanwhile
        self._active: set[str] = set()
        self._dirty: set[str] = set()
        #: names ever handed to a worker: their next request goes to the re-check lane
        self._seen: set[str] = set()
        self._turn = FIRST_CHECKS

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
        if name in self._active:
            self._dirty.add(name)  # queued again once its worker is done
            return
        if name not in self._queued:
            self._queued.add(name)
            self._lanes[RECHECKS if name in self._seen else FIRST_CHECKS].append(name)
            self._ready.put_nowait(None)

    def lane_of(self, name: str) -> int:
        """The lane a request for ``name`` goes to now."""
        return RECHECKS if name in self._seen else FIRST_CHECKS

    def _fire(self, name: str) -> None:
        self._timers.pop(name, None)
        self.add(name)

    async def take(self) -> str:
        """The next name to reconcile, now held by the caller until :meth:`done`. The lanes
        take turns; a lane with nothing waiting gives its turn away."""
        await self._ready.get()
        lane = self._lanes[self._turn]
        if not lane:
            lane = self._lanes[1 - self._turn]
        else:
            self._turn = 1 - self._turn
        name = lane.popleft()
        self._queued.discard(name)
        self._seen.add(name)
        self._active.add(name)
        return name

    def done(self, name: str) -> None:
        """The caller is finished with ``name``; queue it again if it was asked for meanwhile."""
        self._active.discard(name)
        if name in self._dirty:
            self._dirty.discard(name)
            self.add(name)

    def forget(self, name: str) -> None:
        """``name`` is gone (its Application was deleted): a new app of that name is a first
        check again."""
        self._seen.discard(name)

    def depth(self) -> int:
        """Names waiting (not counting delayed ones)."""
        return len(self._lanes[FIRST_CHECKS]) + len(self._lanes[RECHECKS])

    def close(self) -> None:
        """Cancel every delayed request."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
