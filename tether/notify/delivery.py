"""Notifications delivered in the background: a bounded queue, a few workers, retries with
backoff for what may pass later (``429``, ``5xx``, a connection error; ``Retry-After`` is
followed, within bounds).

Queueing never waits: a full queue refuses the notification at once (counted and logged), so a
slow or failing service can never slow a sync. Each outcome is told to ``done`` (the firing state
is kept, or dropped so the next change tries again).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tether.notify.senders import DeliveryError

log = logging.getLogger(__name__)

#: ``send()`` delivers one notification (raises DeliveryError)
Send = Callable[[], Awaitable[None]]
#: ``done(ok, error)`` after the last try
Done = Callable[[bool, str], Awaitable[None] | None]


@dataclass(frozen=True)
class DeliverySettings:
    queue_size: int = 1000
    workers: int = 4
    #: tries in all, and the backoff between them (doubling from ``first_delay``)
    attempts: int = 4
    first_delay: float = 1.0
    max_delay: float = 30.0


@dataclass
class _Job:
    what: str
    send: Send
    done: Done | None = None


@dataclass
class DeliveryStats:
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0
    errors: list[str] = field(default_factory=list)


class Delivery:
    """The background delivery of notifications."""

    def __init__(
        self,
        settings: DeliverySettings = DeliverySettings(),
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(settings.queue_size)
        self._workers: list[asyncio.Task[None]] = []
        self.stats = DeliveryStats()

    def start(self) -> None:
        for index in range(self.settings.workers):
            self._workers.append(asyncio.create_task(self._work(), name=f"notify-{index}"))

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()

    def submit(self, what: str, send: Send, done: Done | None = None) -> bool:
        """Queue one delivery (``what`` names it in logs); False, at once, when the queue is
        full."""
        try:
            self._queue.put_nowait(_Job(what, send, done))
        except asyncio.QueueFull:
            self.stats.dropped += 1
            log.warning("notification %s dropped: the delivery queue is full", what)
            return False
        return True

    async def idle(self) -> None:
        """Return once every queued delivery has ended (tests, shutdown)."""
        await self._queue.join()

    async def _work(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                ok, error = await self._attempt(job)
                if job.done is not None:
                    outcome = job.done(ok, error)
                    if outcome is not None:
                        await outcome
            except Exception:  # one job's bookkeeping never stops the worker
                log.exception("notification %s: delivery bookkeeping failed", job.what)
            finally:
                self._queue.task_done()

    async def _attempt(self, job: _Job) -> tuple[bool, str]:
        delay, last = self.settings.first_delay, "never tried"
        for attempt in range(1, self.settings.attempts + 1):
            try:
                await job.send()
            except DeliveryError as exc:
                last = exc.message
                if not exc.retry or attempt == self.settings.attempts:
                    break
                self.stats.retried += 1
                wait = min(exc.retry_after if exc.retry_after is not None else delay,
                           self.settings.max_delay)  # fmt: skip
                log.info("notification %s: %s; trying again in %.1f s", job.what, last, wait)
                await self._sleep(wait)
                delay = min(delay * 2, self.settings.max_delay)
            else:
                self.stats.delivered += 1
                return True, ""
        self.stats.failed += 1
        self.stats.errors = [*self.stats.errors[-99:], f"{job.what}: {last}"]
        log.warning("notification %s not delivered: %s", job.what, last)
        return False, last
