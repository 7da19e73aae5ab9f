"""The HTTP side shared by the Git-host clients: one connection pool, bounded answers, pages,
and the mapping of error answers onto `tether.githost.errors`.

Every request is bounded: `GitHostLimits.timeout` covers it from connect to the last byte (a
server that drips bytes is cut there too), answers are read up to a size, listings up to a number
of pages. Redirects are not followed and a next-page link must stay on the API's origin, so the
token is never sent to another server. The token travels only in request headers: it is never in
a URL, a message, a log line or a repr, and text quoted from a host is scrubbed of it.
"""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import httpx2
import orjson

from tether.githost.errors import (
    GitHostAuthError,
    GitHostError,
    GitHostNotFoundError,
    GitHostResponseError,
    GitHostUnreachableError,
    GitHostValidationError,
    RateLimitedError,
)
from tether.githost.models import fit_text
from tether.httpbody import read_bounded
from tether.source.urls import scrub_text
from tether.systemtls import system_context

MIB = 1024 * 1024
_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_REL = re.compile(r"""rel\s*=\s*"?([^";]*)"?""")
#: when a rate-limited answer does not say when to come back (GitHub: "at least one minute")
DEFAULT_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class GitHostLimits:
    """Bounds on every request of a client."""

    timeout: float = 30.0  # one request, connect to last byte
    connect_timeout: float = 10.0
    max_response_bytes: int = 8 * MIB
    max_error_bytes: int = 64 * 1024
    max_pages: int = 20
    page_size: int = 100
    max_quoted_chars: int = 300  # of a host's own message, in ours


@dataclass(frozen=True)
class Answer:
    """One answer, read whole (within bounds)."""

    status: int
    headers: httpx2.Headers
    body: bytes
    url: httpx2.URL

    def header_float(self, name: str) -> float | None:
        """A numeric header, or None when absent or not a number."""
        try:
            return float(self.headers.get(name, ""))
        except ValueError:
            return None


def origin(url: httpx2.URL) -> str:
    """``scheme://host[:port]`` of a URL, without user-info: what messages name."""
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{url.host}{port}"


def link_next(answer: Answer) -> str | None:
    """The ``rel="next"`` URL of a ``Link`` header (RFC 8288), as GitHub and Gitea send."""
    for match in _LINK.finditer(answer.headers.get("link", "")):
        rels = _REL.findall(match.group(2))
        if any("next" in rel.split() for rel in rels):
            return str(answer.url.join(match.group(1)))
    return None


def status_body(
    state: str,
    words: Mapping[str, str],
    label: tuple[str, str],
    description: str,
    target_url: str | None,
    max_description: int,
) -> dict[str, Any]:
    """The JSON of a commit status: ``state`` in the host's ``words``, the ``label`` field
    (GitHub's ``context``, GitLab's ``name``), a description cut to the host's maximum."""
    if state not in words:
        raise ValueError(f"commit state {state!r} is not one of {', '.join(words)}")
    body: dict[str, Any] = {
        "state": words[state],
        label[0]: label[1],
        "description": fit_text(description, max_description, "…"),
    }
    if target_url:
        body["target_url"] = target_url
    return body


class RestClient(ABC):
    """The common part of a Git-host client: subclasses add the provider's endpoints, headers,
    the scopes its tokens need, and how it signals rate limits and next pages."""

    provider: ClassVar[str] = ""
    #: what a token needs, said in the hint of a 403 or 404
    token_scopes: ClassVar[str] = ""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        limits: GitHostLimits | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        user_agent: str = "tether-githost",
    ) -> None:
        self.api_url = httpx2.URL(api_url.rstrip("/") + "/")
        self.limits = limits or GitHostLimits()
        # a token read from a Secret's file often ends with a newline
        self._token = token.strip()
        self._clock = clock  # when a rate limit ends; tests fix it
        self._http = httpx2.AsyncClient(
            verify=system_context(),
            follow_redirects=False,
            timeout=httpx2.Timeout(self.limits.timeout, connect=self.limits.connect_timeout),
            transport=transport,
            headers={"User-Agent": user_agent},
        )

    @property
    def host(self) -> str:
        """The API's origin, for messages."""
        return origin(self.api_url)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.api_url)!r})"

    @abstractmethod
    def auth_headers(self, token: str) -> dict[str, str]:
        """The headers that carry the token (and the API's media type)."""

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def scrub(self, text: str) -> str:
        """``text`` without the token or URL user-info, cut to `max_quoted_chars`."""
        cleaned = scrub_text(text, (self._token,)).strip()
        limit = self.limits.max_quoted_chars
        return cleaned if len(cleaned) <= limit else cleaned[:limit] + "…"

    # -- sending ---------------------------------------------------------------------------

    async def send(
        self,
        method: str,
        path: str,
        action: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        accept: Iterable[int] = (200, 201),
    ) -> Answer:
        """Send one request; return the answer when its status is in ``accept``, else raise
        the `GitHostError` it stands for. ``path`` is relative to the API URL, or an absolute
        URL on its origin (a next page)."""
        answer = await self._exchange(method, path, action, params, body)
        if answer.status in tuple(accept):
            return answer
        raise self.error(answer, action)

    async def _exchange(
        self,
        method: str,
        path: str,
        action: str,
        params: dict[str, str] | None,
        body: dict[str, Any] | None,
    ) -> Answer:
        url = self.api_url.join(path)
        if origin(url) != self.host:
            raise GitHostResponseError(
                f"{self.provider} at {self.host} pointed to another server ({origin(url)}) while "
                f"{action}; Tether does not send the token there",
                self.host,
            )
        content = orjson.dumps(body) if body is not None else None
        headers = self.auth_headers(self._token)
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with asyncio.timeout(self.limits.timeout):
                async with self._http.stream(
                    method, url, params=params, content=content, headers=headers
                ) as response:
                    ok = 200 <= response.status_code < 300
                    limit = self.limits.max_response_bytes if ok else self.limits.max_error_bytes
                    data = await read_bounded(response, limit, truncate=not ok)
        except TimeoutError:
            raise GitHostUnreachableError(
                f"{self.provider} at {self.host} did not answer within "
                f"{self.limits.timeout:g}s while {action}",
                self.host,
            ) from None
        except httpx2.TransportError as exc:
            raise GitHostUnreachableError(
                f"cannot reach {self.provider} at {self.host} while {action}: "
                f"{type(exc).__name__}: {self.scrub(str(exc))}",
                self.host,
            ) from None
        except httpx2.DecodingError:
            raise GitHostResponseError(
                f"{self.provider} at {self.host} sent a broken encoding while {action}", self.host
            ) from None
        if data is None:
            raise GitHostResponseError(
                f"{self.provider} at {self.host} answered with over "
                f"{self.limits.max_response_bytes} bytes while {action}",
                self.host,
            )
        return Answer(response.status_code, response.headers, data, url)

    def json(self, answer: Answer, action: str) -> Any:
        """The answer's JSON document."""
        try:
            return orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            raise GitHostResponseError(
                f"{self.provider} at {self.host} answered {answer.status} without JSON while "
                f"{action}",
                self.host,
            ) from None

    def json_object(self, answer: Answer, action: str) -> dict[str, Any]:
        """The answer's JSON object (a listing's item, a created record)."""
        document = self.json(answer, action)
        if not isinstance(document, dict):
            raise GitHostResponseError(
                f"{self.provider} at {self.host} answered {answer.status} with JSON that is not "
                f"an object while {action}",
                self.host,
            )
        return document

    async def list_pages(
        self, path: str, params: dict[str, str], action: str
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paginated listing, page after page (at most `max_pages`)."""
        next_path: str | None = path
        next_params: dict[str, str] | None = params
        for _ in range(self.limits.max_pages):
            if next_path is None:
                return
            answer = await self.send("GET", next_path, action, params=next_params)
            items = self.json(answer, action)
            if not isinstance(items, list):
                raise GitHostResponseError(
                    f"{self.provider} at {self.host} answered a listing with JSON that is not a "
                    f"list while {action}",
                    self.host,
                )
            for item in items:
                if isinstance(item, dict):
                    yield item
            next_path, next_params = self.next_page(answer, path, params)
        if next_path is not None:
            raise GitHostResponseError(
                f"{self.provider} at {self.host} has more than {self.limits.max_pages} pages "
                f"while {action}",
                self.host,
            )

    def next_page(
        self, answer: Answer, path: str, params: dict[str, str]
    ) -> tuple[str | None, dict[str, str] | None]:
        """Where the next page is: the ``Link`` header's ``next`` (GitHub, Gitea)."""
        return link_next(answer), None

    # -- errors ----------------------------------------------------------------------------

    def detail(self, answer: Answer) -> str:
        """The host's own words about an error answer (scrubbed, short)."""
        try:
            document = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            return self.scrub(answer.body.decode("utf-8", "replace")) or f"HTTP {answer.status}"
        message = document.get("message") if isinstance(document, dict) else None
        if isinstance(message, list):
            message = "; ".join(str(part) for part in message)
        return self.scrub(str(message)) if message else f"HTTP {answer.status}"

    def rate_limit(self, answer: Answer, action: str) -> RateLimitedError | None:
        """The rate limit an answer reports: a 429 with ``retry-after`` (seconds or an HTTP date)
        or ``ratelimit-reset`` (epoch seconds), else a minute."""
        if answer.status != 429:
            return None
        return self.rate_limited(answer, action, self.retry_at(answer))

    def retry_at(self, answer: Answer, reset_header: str = "ratelimit-reset") -> float:
        """When to retry, from ``retry-after`` or an epoch ``reset_header``; a minute if neither."""
        now = self._clock()
        value = answer.headers.get("retry-after", "").strip()
        seconds = answer.header_float("retry-after")
        if seconds is not None:
            return now + max(0.0, seconds)
        if value:
            try:
                moment = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                moment = None
            if moment is not None and moment.tzinfo is not None:
                return max(now, moment.timestamp())
        reset = answer.header_float(reset_header)
        if reset is not None:
            return max(now, reset)
        return now + DEFAULT_RETRY_AFTER

    def rate_limited(self, answer: Answer, action: str, retry_at: float) -> RateLimitedError:
        wait = max(0.0, retry_at - self._clock())
        return RateLimitedError(
            f"{self.provider} at {self.host} is rate limiting this token while {action} "
            f"({self.detail(answer)}); retry in {wait:.0f}s",
            self.host,
            retry_at,
            wait,
        )

    def error(self, answer: Answer, action: str) -> GitHostError:
        """The error an unexpected answer stands for."""
        limited = self.rate_limit(answer, action)
        if limited is not None:
            return limited
        status, detail = answer.status, self.detail(answer)
        where = f"{self.provider} at {self.host}"
        if status == 401:
            return GitHostAuthError(
                f"{where} refused the token while {action} ({detail}): it is wrong, expired or "
                "revoked; update the Secret that holds it",
                self.host,
            )
        if status == 403:
            return GitHostAuthError(
                f"{where} forbids {action} ({detail}): {self.token_scopes}", self.host
            )
        if status == 404:
            return GitHostNotFoundError(
                f"{where} found nothing while {action} ({detail}): check the repository path "
                "and branch names; "
                f"hosts answer 404 when the token cannot see a repository, and "
                f"{self.token_scopes}",
                self.host,
            )
        if status in (400, 409, 422):
            return GitHostValidationError(f"{where} refused {action}: {detail}", self.host)
        if 300 <= status < 400:
            return GitHostResponseError(
                f"{where} redirected while {action} (HTTP {status}); if the repository moved, "
                "update its URL",
                self.host,
            )
        return GitHostResponseError(
            f"{where} answered HTTP {status} while {action} ({detail})", self.host
        )
