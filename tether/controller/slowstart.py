"""Reconciles admitted as TCP's slow start admits packets: few at first, one more per finished one.

At a cold start every Application waits for its first check at once. With all the workers
taking one each, twenty pipelines (resolve, render, dry runs, applies) share one event loop and
one API server, so every app finishes late and the first one no sooner than the rest. Admitting
``initial`` at first and one more for each reconcile that ends lets the first apps finish at the
speed of one, while the concurrency still reaches ``maximum`` after ``maximum - initial``
reconciles (a second or two of a cold start).
"""

from __future__ import annotations

import asyncio

#: reconciles admitted at once before any has finished
INITIAL = 2


class SlowStart:
    """A limit on reconciles running at once that grows by one per finished reconcile."""

    def __init__(self, maximum: int, initial: int = INITIAL) -> None:
        if maximum < 1:
            raise ValueError("maximum must be at least 1")
        self.maximum = maximum
        self.limit = max(1, min(initial, maximum))
        self._slots = asyncio.Semaphore(self.limit)

    async def acquire(self) -> None:
        """Wait for a slot."""
        await self._slots.acquire()

    def release(self) -> None:
        """A reconcile ended: its slot comes back, with one more while below ``maximum``."""
        self._slots.release()
        if self.limit < self.maximum:
            self.limit += 1
            self._slots.release()
