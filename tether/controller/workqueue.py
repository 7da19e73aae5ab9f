"""The controller's work queue: application names waiting for a reconcile.

A name is in the queue at most once however often it is asked for; delayed requests collapse to
the earliest; a name is reconciled by one worker at a time (asked for again while it is being
reconciled, it comes back once that worker is done, as client-go's workqueue does).

Three lanes. Names never reconciled yet (first checks) and names reconciled before (the
re-check after a sync, a live change, a retry) are taken in turn: at a cold start with a thousand
apps the re-check that makes an app Synced and Healthy would otherwise wait behind every first
check; taken in turn, a name with ``p`` names ahead of it in its lane is taken within ``2(p + 1)``
takes. The periodic resync of every app (``timeout.reconciliation``) has a lane of its own, taken
when the other two are empty and otherwise every :data:`RESYNC_SHARE`-th take: a thousand resyncs
never delay a drift's revert, and still finish under a steady stream of events. A resync asked for
a name already waiting does nothing; an event for a name waiting to be resynced moves it to the
re-check lane.
"""

from __future__ import annotations

import asyncio
from collections import deque

#: the lanes
FIRST_CHECKS = 0
RECHECKS = 1
RESYNCS = 2
#: one take in this many goes to the resync lane while the others have names waiting
RESYNC_SHARE = 4


class WorkQueue:
    """De-duplicating, delay-aware, three-lane queue of names with per-name exclusivity."""

    def __init__(self) -> None:
        self._lanes: tuple[deque[str], deque[str], deque[str]] = (deque(), deque(), deque())
        #: one token per queued name: a taker waits on it, so no name is handed out twice
        self._ready: asyncio.Queue[None] = asyncio.Queue()
        #: queued names and the lane each waits in (a lane may hold stale entries: skipped)
        self._queued: dict[str, int] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        #: names a worker holds now, and those asked for meanwhile
        self._active: set[str] = set()
        self._dirty: set[str] = set()
        #: names ever handed to a worker: their next request goes to the re-check lane
        self._seen: set[str] = set()
        self._turn = FIRST_CHECKS
        self._takes = 0

    def add(self, name: str, delay: float = 0.0, *, resync: bool = False) -> None:
        """Queue ``name`` (after ``delay`` seconds); repeated requests collapse into one.
        ``resync``: the periodic comparison, which yields to every other request."""
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
        lane = self.lane_of(name, resync=resync)
        waiting = self._queued.get(name)
        if waiting is None:
            self._queued[name] = lane
            self._lanes[lane].append(name)
            self._ready.put_nowait(None)
        elif waiting == RESYNCS and lane != RESYNCS:
            # an event for a name waiting to be resynced: it moves up (its old entry is stale)
            self._queued[name] = lane
            self._lanes[lane].append(name)

    def lane_of(self, name: str, *, resync: bool = False) -> int:
        """The lane a request for ``name`` goes to now."""
        if name not in self._seen:
            return FIRST_CHECKS
        return RESYNCS if resync else RECHECKS

    def _fire(self, name: str) -> None:
        self._timers.pop(name, None)
        self.add(name)

    async def take(self) -> str:
        """The next name to reconcile, now held by the caller until :meth:`done`. First checks
        and re-checks take turns (a lane with nothing waiting gives its turn away); resyncs
        come when both are empty, and every :data:`RESYNC_SHARE`-th take."""
        await self._ready.get()
        self._takes += 1
        turn = (self._turn, 1 - self._turn)
        order = (RESYNCS, *turn) if self._takes % RESYNC_SHARE == 0 else (*turn, RESYNCS)
        for lane in order:
            name = self._pop(lane)
            if name is not None:
                if lane != RESYNCS and lane == self._turn:
                    self._turn = 1 - self._turn
                self._queued.pop(name)
                self._seen.add(name)
                self._active.add(name)
                return name
        raise AssertionError("a queue token without a name")  # pragma: no cover

    def _pop(self, lane: int) -> str | None:
        """The first name that really waits in ``lane`` (stale entries dropped), or None."""
        names = self._lanes[lane]
        while names:
            name = names.popleft()
            if self._queued.get(name) == lane:
                return name
        return None

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
        return len(self._queued)

    def close(self) -> None:
        """Cancel every delayed request."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
