"""The HTTP side of the cluster client: one connection pool, rate limiting and retries.

Requests go through one ``httpx2`` connection pool configured by lightkube (auth, TLS) or, for
static credentials, the lean HTTP/1.1 client of :mod:`tether.cluster.fasthttp`; a token bucket
(client-side QPS/burst); and a retry loop (429 with Retry-After, 5xx and broken connections on
idempotent requests). Every request sent is counted by verb in :attr:`ApiTransport.stats`, so
callers can assert that a cached read cost nothing.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import orjson
from lightkube.config.kubeconfig import SingleConfig

from tether.cluster.config import ClientSettings, http_client
from tether.cluster.errors import ClusterError, Unreachable, error_from_status
from tether.cluster.fasthttp import FastHTTP, FastHTTPError
from tether.cluster.ratelimit import TokenBucket

_RETRIABLE_SERVER_CODES = frozenset({500, 502, 503, 504})
# Errors raised before the request left this process: retrying them cannot apply a write twice.
_NOT_SENT_ERRORS = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)


@dataclass
class RequestStats:
    """Requests sent (each attempt counts), by verb, and the retries among them."""

    by_verb: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    retry_wait_seconds: float = 0.0
    #: requests being answered now, and the most there ever were at once
    in_flight: int = 0
    peak_in_flight: int = 0

    @property
    def total(self) -> int:
        return sum(self.by_verb.values())

    def reset(self) -> None:
        """Start counting from zero (tests and benchmarks measure one step at a time)."""
        self.by_verb.clear()
        self.retries = 0
        self.retry_wait_seconds = 0.0
        self.peak_in_flight = self.in_flight


class ApiTransport:
    """Sends requests to one API server: connection pools, rate limit, retries, counting."""

    def __init__(
        self,
        config: SingleConfig,
        settings: ClientSettings,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.server = str(config.cluster.server)
        self.settings = settings
        self.stats = RequestStats()
        self.limiter = TokenBucket(settings.qps, settings.burst)
        #: requests of this client being answered at once (watches not counted): the bound that
        #: follows the server's pace, where a QPS limit guesses it
        self._in_flight = asyncio.Semaphore(settings.max_in_flight or 1_000_000)
        self._http = http_client(config, settings, transport)
        # static credentials and no test transport: small calls take the lean HTTP/1.1 path
        self._fast: FastHTTP | None = None
        if transport is None and settings.fast_http:
            try:
                self._fast = FastHTTP.for_config(
                    config,
                    settings.user_agent,
                    settings.timeout,
                    max_connections=settings.max_in_flight or 32,
                )
            except (OSError, ValueError, ssl.SSLError):
                self._fast = None  # httpx reports the configuration problem on first use

    @property
    def uses_fast_path(self) -> bool:
        """True when non-watch calls take the lean HTTP/1.1 client."""
        return self._fast is not None

    async def aclose(self) -> None:
        """Close the connection pools."""
        await self._http.aclose()
        if self._fast is not None:
            await self._fast.aclose()

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.backoff_max, self.settings.backoff_base * 2**attempt)
        # Full jitter keeps many clients from retrying in lock-step.
        return random.uniform(ceiling / 2, ceiling)

    def _retry_after(self, response: httpx2.Response) -> float | None:
        value = response.headers.get("retry-after")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            return None  # an HTTP-date: fall back to our own backoff
        return max(0.0, min(seconds, self.settings.max_retry_after))

    async def send(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        idempotent: bool,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx2.Response:
        """Send one request with rate limiting and retries; return the final answer, whatever
        its status. Raises :class:`Unreachable` when no answer came."""
        attempt = 0
        while True:
            await self.limiter.acquire()
            self.stats.by_verb[verb] += 1
            try:
                async with self._in_flight:
                    self.stats.in_flight += 1
                    self.stats.peak_in_flight = max(self.stats.peak_in_flight, self.stats.in_flight)
                    try:
                        response = await self._exchange(method, path, params, content, headers)
                    finally:
                        self.stats.in_flight -= 1
            except FastHTTPError as exc:
                if (idempotent or not exc.sent) and attempt < self.settings.max_retries:
                    await self._wait_retry(self._backoff(attempt))
                    attempt += 1
                    continue
                raise Unreachable(f"cannot reach the API server {self.server}: {exc}") from exc
            except httpx2.TransportError as exc:
                retriable = idempotent or isinstance(exc, _NOT_SENT_ERRORS)
                if retriable and attempt < self.settings.max_retries:
                    await self._wait_retry(self._backoff(attempt))
                    attempt += 1
                    continue
                raise Unreachable(
                    f"cannot reach the API server {self.server}: {type(exc).__name__}: {exc}"
                ) from exc
            code = response.status_code
            if attempt < self.settings.max_retries and (
                code == 429 or (idempotent and code in _RETRIABLE_SERVER_CODES)
            ):
                # A 429 was refused before any processing, so even a create may be retried.
                delay = self._retry_after(response)
                wait = delay if delay is not None else self._backoff(attempt)
                if code == 429:
                    # the server's priority level is full: every request of this client waits
                    self.limiter.pause(wait)
                await self._wait_retry(wait)
                attempt += 1
                continue
            return response

    async def _exchange(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        content: bytes | None,
        headers: dict[str, str] | None,
    ) -> httpx2.Response:
        if self._fast is not None:
            return await self._fast.request(
                method, path, params=params, content=content, headers=headers
            )
        return await self._http.request(
            method, path, params=params, content=content, headers=headers
        )

    async def _wait_retry(self, delay: float) -> None:
        self.stats.retries += 1
        self.stats.retry_wait_seconds += delay
        await asyncio.sleep(delay)

    @staticmethod
    def error(response: httpx2.Response) -> ClusterError:
        """The :class:`ClusterError` an error answer stands for."""
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        return error_from_status(response.status_code, body, response.text[:500])

    async def request(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        params: dict[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON answer; raise a ``ClusterError`` on failure.

        ``verb`` names the request in :attr:`stats`; ``idempotent`` (default: GET and DELETE)
        decides whether 5xx and broken connections are retried.
        """
        if idempotent is None:
            idempotent = method in ("GET", "DELETE")
        headers = {"Accept": "application/json"}
        content = None
        if body is not None:
            content = body if isinstance(body, bytes) else orjson.dumps(body)
            headers["Content-Type"] = content_type
        response = await self.send(
            method,
            path,
            verb=verb,
            idempotent=idempotent,
            params=params,
            content=content,
            headers=headers,
        )
        if response.status_code >= 400:
            raise self.error(response)
        if not response.content:
            return None
        return orjson.loads(response.content)

    async def stream_lines(
        self, path: str, params: dict[str, str], read_timeout: float | None, what: str
    ) -> AsyncIterator[str]:
        """The non-empty lines of a streamed answer (a watch), counted as one ``watch``.

        An error answer becomes its :class:`ClusterError`; a broken stream :class:`Unreachable`
        naming ``what``. ``read_timeout`` None waits for the server as long as it takes.
        """
        timeout = httpx2.Timeout(self.settings.timeout, read=read_timeout)
        await self.limiter.acquire()
        self.stats.by_verb["watch"] += 1
        try:
            async with self._http.stream(
                "GET", path, params=params, timeout=timeout, headers={"Accept": "application/json"}
            ) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self.error(response)
                async for line in response.aiter_lines():
                    if line.strip():
                        yield line
        except httpx2.TransportError as exc:
            raise Unreachable(
                f"{what} on {self.server} broke: {type(exc).__name__}: {exc}"
            ) from exc
