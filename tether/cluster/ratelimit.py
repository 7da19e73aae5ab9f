"""Client-side rate limiting: a token bucket, as client-go's ``flowcontrol`` limiter.

The bucket holds up to ``burst`` tokens and refills at ``qps`` tokens a second. A request that
finds no token reserves the next one (the balance goes negative) and sleeps until it is due, so
waiting callers are served in arrival order and the long-run rate never exceeds ``qps``.

A server that answers 429 with Retry-After (API Priority and Fairness: the client's priority
level is full) asks the *client* to slow down, not one request: :meth:`TokenBucket.pause` holds
every caller until then, so a throttled controller backs off as a whole.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """Async token bucket; ``qps <= 0`` disables limiting (every acquire is immediate)."""

    def __init__(
        self,
        qps: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._stamp = clock()
        #: requests let through, and how many of them had to wait
        self.acquired = 0
        self.delayed = 0
        #: total seconds the limiter made callers wait (the accounting, not wall time)
        self.delay_seconds = 0.0
        #: no caller passes before this time (a server's Retry-After); and how often it was set
        self._resume_at = clock()
        self.pauses = 0

    @property
    def tokens(self) -> float:
        """Tokens available now (negative when callers are queued for future tokens)."""
        self._refill()
        return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.qps)
        self._stamp = now

    def reserve(self) -> float:
        """Take one token and return how long the caller must wait before using it."""
        self.acquired += 1
        wait = max(0.0, self._resume_at - self._clock())
        if self.qps > 0:
            self._refill()
            self._tokens -= 1.0
            if self._tokens < 0:
                wait = max(wait, -self._tokens / self.qps)
        if wait > 0:
            self.delayed += 1
            self.delay_seconds += wait
        return wait

    def pause(self, seconds: float) -> None:
        """Hold every caller for ``seconds`` from now (a later pause already set stands)."""
        self.pauses += 1
        self._resume_at = max(self._resume_at, self._clock() + seconds)

    async def acquire(self) -> None:
        """Wait until this caller may send one request."""
        wait = self.reserve()
        if wait > 0:
            await self._sleep(wait)
