"""Webhooks for a server replica: which Applications a push concerns, and the paced writing of
their refresh requests (`tether.controller.observer.ClusterObserver.on_push`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from tether.cluster.errors import ClusterError
from tether.source.webhooks import WebhookEvent

log = logging.getLogger(__name__)

#: prefixes of the refs a push names, stripped to compare with a targetRevision (as Argo CD:
#: a branch and a tag of the same name are not told apart)
REF_PREFIXES = ("refs/heads/", "refs/tags/")


def _short(ref: str) -> str:
    for prefix in REF_PREFIXES:
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def push_concerns(event: WebhookEvent, app: Mapping[str, Any]) -> bool:
    """Whether a push concerns ``app``: one of its sources is the pushed repository (any
    spelling of its URL) and its target revision is a pushed ref (by short name, as Argo CD);
    ``HEAD`` matches any pushed branch (a payload does not always say which is the default);
    a payload naming no ref concerns every app of the repository."""
    spec = app.get("spec") or {}
    more = spec.get("sources")
    sources = [spec.get("source"), *(more if isinstance(more, list) else [])]
    pushed = {_short(r.ref) for r in event.refs}
    branches = any(r.ref.startswith(REF_PREFIXES[0]) for r in event.refs)
    for source in sources:
        if not isinstance(source, Mapping) or not event.concerns(str(source.get("repoURL", ""))):
            continue
        target = str(source.get("targetRevision") or "HEAD")
        if not event.refs or _short(target) in pushed or (target == "HEAD" and branches):
            return True
    return False


class RefreshPacer:
    """Writes refresh requests one app at a time, at most ``rate`` per second; an app already
    waiting is not queued twice. ``sleep`` and ``clock`` are asyncio's and the monotonic clock
    (tests pass their own)."""

    def __init__(
        self,
        write: Callable[[str], Awaitable[None]],
        rate: float,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("the webhook refresh rate must be positive")
        self._write = write
        self._interval = 1.0 / rate
        self._sleep = sleep
        self._clock = clock
        self._pending: dict[str, None] = {}
        self._task: asyncio.Task[None] | None = None
        self._next = 0.0
        self.written = 0

    def add(self, names: Iterable[str]) -> None:
        """Queue these apps (in order); start writing if nothing is."""
        for name in names:
            self._pending.setdefault(name, None)
        if self._pending and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="webhook-refreshes")

    def pending(self) -> list[str]:
        return list(self._pending)

    async def wait(self) -> None:
        """Return once every queued app has been written."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while self._pending:
            delay = self._next - self._clock()
            if delay > 0:
                await self._sleep(delay)
            name = next(iter(self._pending))
            del self._pending[name]
            self._next = max(self._clock(), self._next) + self._interval
            try:
                await self._write(name)
                self.written += 1
            except ClusterError as exc:
                log.warning("webhook refresh of %s not written: %s", name, exc.message)
