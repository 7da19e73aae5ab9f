"""Listing an image repository's tags, and their digests, through the OCI distribution API.

What Flux's ImageRepository scan needs: `GET /v2/<name>/tags/list` page after page (`n=` and
the `Link: <...>; rel="next"` header), the tags filtered by the `exclusionList`, and on demand
the digest of a tag (`HEAD /v2/<name>/manifests/<tag>`). Every answer is read within bounds
(`RegistryLimits`) and the whole scan within one timeout (the ImageRepository's `spec.timeout`,
see `scan_timeout`).

Authentication follows the registry's 401 challenge: `Basic` sends the configured login;
`Bearer realm=...,service=...` asks the realm for a token (distribution's token spec; Docker
Hub, GHCR, Harbor, Quay) with the login as Basic credentials when one is configured, and the
token is cached per registry, realm, service, scope and login until shortly before its
`expires_in`. Tether always asks for `repository:<name>:pull`, never the scope a challenge
suggests, so a token is never broader than a scan needs.

Where credentials may go: nothing secret is sent until a challenge asks for it, and never in
a URL; a `Basic` challenge gets the login (in clear only from a registry marked `insecure`);
a token realm gets it under the rules of `dockerconfig.realm_refusal` (https, or plain http on
the insecure registry's own host); redirects are not followed, and a `Link` to the next page
must stay on the registry's scheme, host and port, so the header never reaches another server.
No password or token ever appears in a log line or an error message; text quoted from a
registry is scrubbed of them.

Charts and manifests from OCI registries (`tether.charts.oci`) use the same client: a
`session` (one login, one deadline, the wording of its errors) and `request`, which answers
the challenges and, when asked, follows redirects (a blob is often served by a storage
service): on the registry's own origin with its login, elsewhere without any Authorization
header, never from https down to http.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import islice

import httpx2
import orjson

from tether.durations import parse_duration
from tether.httpbody import read_bounded
from tether.images.dockerconfig import (
    TAG_PATTERN,
    Challenge,
    Credentials,
    ImageRef,
    parse_challenges,
    parse_repository,
    realm_refusal,
)
from tether.images.errors import (
    ImageError,
    RegistryAuthError,
    RegistryError,
    RegistryLimitError,
    RegistryResponseError,
    RegistryUnreachableError,
)
from tether.systemtls import system_context

MIB = 1024 * 1024
#: Flux's default `exclusionList`: cosign signatures are tags too
DEFAULT_EXCLUSIONS = (r"^.*\.sig$",)
#: when a caller gives no timeout; an ImageRepository's comes from `scan_timeout`
DEFAULT_TIMEOUT = 60.0
MANIFEST_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_ACCEPT_MANIFESTS = ", ".join(MANIFEST_MEDIA_TYPES)
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
_ERROR_BODY_BYTES = 64 * 1024
_DEFAULT_TOKEN_LIFETIME = 60.0  # the token spec's default when `expires_in` is absent
_MAX_TOKEN_LIFETIME = 3600.0
#: a registry that is down or rate-limits: the next scan may succeed
_UNAVAILABLE = frozenset({429, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]*)*)")


@dataclass(frozen=True)
class RegistryLimits:
    """Bounds on one scan: every answer is read up to a size, the listing up to a count."""

    page_size: int = 1000  # the `n=` of each tag list request
    max_pages: int = 1000
    max_tags: int = 100_000
    max_page_bytes: int = 4 * MIB
    max_manifest_bytes: int = 4 * MIB  # only read when a HEAD gives no digest
    max_token_bytes: int = 1 * MIB
    digest_concurrency: int = 8
    max_exclusions: int = 100
    max_exclusion_length: int = 1024
    max_cached_tokens: int = 1024


def scan_timeout(timeout: str | None, interval: str | None) -> float:
    """Seconds a scan may take, as Flux decides: `spec.timeout`, else `spec.interval`, at
    least 1 s. Raises `InvalidDurationError` for a malformed duration."""
    text = timeout or interval
    seconds = parse_duration(text) if text else DEFAULT_TIMEOUT
    return max(1.0, seconds)


def compile_exclusions(
    patterns: Iterable[str], limits: RegistryLimits | None = None
) -> tuple[re.Pattern[str], ...]:
    """Compile an `exclusionList`; a tag matching any pattern (anywhere, as Go's
    `MatchString`) is dropped. At most `max_exclusions` patterns of `max_exclusion_length`.
    Unlike Go's RE2, Python's `re` can backtrack: tags are at most 128 characters, but a
    pattern with nested repeats can still be slow on them."""
    limits = limits or RegistryLimits()
    listed = list(islice(patterns, limits.max_exclusions + 1))
    if len(listed) > limits.max_exclusions:
        raise ImageError(f"exclusionList has more than {limits.max_exclusions} patterns")
    compiled = []
    for pattern in listed:
        if not isinstance(pattern, str) or len(pattern) > limits.max_exclusion_length:
            raise ImageError(
                f"exclusionList entries are strings of at most {limits.max_exclusion_length} "
                "characters"
            )
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ImageError(
                f"exclusionList pattern {pattern!r} is not a regular expression: {exc}"
            ) from None
    return tuple(compiled)


def next_page_url(link_values: Iterable[str], current: str) -> str | None:
    """The `rel="next"` target of `Link` headers, resolved against `current`, or None."""
    for value in link_values:
        for match in _LINK.finditer(value):
            params = match.group(2)
            rel = re.search(r';\s*rel\s*=\s*"?([^";,]*)"?', params)
            if rel and "next" in rel.group(1).lower().split():
                return str(httpx2.URL(current).join(match.group(1)))
    return None


def _origin(url: httpx2.URL) -> tuple[str, str, int]:
    default = 443 if url.scheme == "https" else 80
    return (url.scheme, url.host.lower(), url.port or default)


def _header_safe(value: str) -> bool:
    return bool(value) and value.isascii() and value.isprintable() and " " not in value


@dataclass(frozen=True)
class RegistryWording:
    """How a session's errors name what they are about, and the remedies they suggest."""

    #: what the repository is to the user: "image repository", "OCI repository"
    subject: str = "image repository"
    #: how to give a login
    login_hint: str = "give the ImageRepository a secretRef"
    #: how to trust the registry's certificate
    ca_hint: str = "give the registry's CA through certSecretRef"
    #: how to speak plain http to a registry that does not speak TLS
    http_hint: str = "is the registry `insecure`?"


IMAGE_WORDING = RegistryWording()


@dataclass(frozen=True)
class RegistryAnswer:
    """One answer of a registry (a HEAD's body is empty, an error's is cut short)."""

    status: int
    headers: httpx2.Headers
    body: bytes


@dataclass(frozen=True)
class _Token:
    value: str = field(repr=False)
    expires: float


@dataclass(eq=False)
class RegistrySession:
    """The state of one call: where it goes, with what login, and the header it now sends."""

    image: ImageRef
    origin: str
    http: httpx2.AsyncClient
    insecure: bool
    credentials: Credentials | None = field(repr=False)
    authorization: str | None = field(default=None, repr=False)
    token_key: tuple[str, ...] | None = None
    token_fresh: bool = False
    wording: RegistryWording = IMAGE_WORDING

    @property
    def login(self) -> str:
        """Who is asking, for messages (never the password)."""
        return f"user {self.credentials.username!r}" if self.credentials else "anonymous access"

    @property
    def identity(self) -> str:
        """A digest of the login: cached tokens are never shared between logins."""
        if self.credentials is None:
            return ""
        secret = f"{self.credentials.username}\0{self.credentials.password}"
        return hashlib.sha256(secret.encode()).hexdigest()

    def scrub(self, text: str) -> str:
        """`text` (quoted from a server) without any secret of this scan, at most 300 chars."""
        secrets = list(self.credentials.secret_values()) if self.credentials else []
        if self.authorization:
            secrets.append(self.authorization.split(" ", 1)[-1])
        for secret in secrets:
            text = text.replace(secret, "***")
        text = "".join(c if c.isprintable() else " " for c in text)
        return text if len(text) <= 300 else text[:300] + "..."

    def error(self, kind: type[RegistryError], message: str) -> RegistryError:
        return kind(f"{self.wording.subject} {self.image.name}: {message}", self.image.name)

    def unreachable(self, exc: Exception, what: str) -> RegistryError:
        detail = self.scrub(f"{type(exc).__name__}: {exc}")
        hint = ""
        if "CERTIFICATE_VERIFY_FAILED" in detail or isinstance(exc.__context__, ssl.SSLError):
            hint = f" (TLS verification failed: {self.wording.ca_hint})"
        elif "WRONG_VERSION_NUMBER" in detail:
            hint = f" (the server does not speak TLS: {self.wording.http_hint})"
        return self.error(RegistryUnreachableError, f"cannot reach {what}: {detail}{hint}")


def error_detail(scan: RegistrySession, answer: RegistryAnswer) -> str:
    """The status and the registry's own error code and message, scrubbed."""
    detail = f"{answer.status}"
    try:
        errors = orjson.loads(answer.body).get("errors") or []
        first = errors[0]
        detail += f" {first.get('code', '')}: {first.get('message', '')}".rstrip(": ")
    except (orjson.JSONDecodeError, AttributeError, IndexError, TypeError, KeyError):
        pass
    return scan.scrub(detail)


def _tags_of_page(scan: RegistrySession, body: bytes) -> list[str]:
    """The tags of one `tags/list` answer; anything but the specified shape is an error."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise scan.error(RegistryResponseError, "the tag list is not JSON") from None
    if not isinstance(document, dict):
        raise scan.error(RegistryResponseError, "the tag list is not a JSON object")
    name = document.get("name")
    if not isinstance(name, str):
        raise scan.error(RegistryResponseError, "the tag list has no `name`")
    if name != scan.image.repository:
        raise scan.error(
            RegistryResponseError,
            f"the tag list is of {scan.scrub(repr(name))}, not of {scan.image.repository!r}",
        )
    tags = document.get("tags")
    if tags is None:
        return []
    if not isinstance(tags, list):
        raise scan.error(RegistryResponseError, "`tags` of the tag list is not a list")
    for tag in tags:
        if not isinstance(tag, str) or not TAG_PATTERN.fullmatch(tag):
            shown = scan.scrub(repr(tag))
            raise scan.error(RegistryResponseError, f"the tag list holds an invalid tag {shown}")
    return tags


def _token_of(scan: RegistrySession, body: bytes, where: str) -> tuple[str, float]:
    """The token of a token service's answer, and how long to cache it."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise scan.error(RegistryResponseError, f"{where} did not answer a JSON object")
    token = document.get("token") or document.get("access_token")
    if not isinstance(token, str) or not _header_safe(token):
        raise scan.error(RegistryResponseError, f"{where} gave no usable `token`")
    expires_in = document.get("expires_in")
    if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
        expires_in = _DEFAULT_TOKEN_LIFETIME
    # a margin, so that a token is not sent in the last seconds of its life
    return token, min(float(expires_in), _MAX_TOKEN_LIFETIME) * 0.8


def _tls_context(ca_certificate: str) -> ssl.SSLContext:
    context = httpx2.create_ssl_context()
    try:
        context.load_verify_locations(cadata=ca_certificate)
    except (ssl.SSLError, ValueError):
        raise ImageError("the CA certificate of certSecretRef (ca.crt) is not PEM") from None
    return context


class RegistryClient:
    """Lists tags and reads digests of image repositories; holds one connection pool and the
    token cache. Use as `async with RegistryClient() as client:` or call `aclose()`."""

    def __init__(
        self,
        *,
        limits: RegistryLimits | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        user_agent: str = "tether-image-scanner",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or RegistryLimits()
        self._clock = clock  # when cached tokens expire; tests move it
        self._transport = transport
        self._user_agent = user_agent
        self._tokens: dict[tuple[str, ...], _Token] = {}
        #: token requests sent, so tests can tell a cached token from a new one
        self.token_requests = 0
        self._http = self._new_http(system_context())

    def _new_http(self, verify: ssl.SSLContext | bool) -> httpx2.AsyncClient:
        # Proxies come from HTTPS_PROXY/NO_PROXY as in Go's default transport (trust_env).
        return httpx2.AsyncClient(
            verify=verify,
            follow_redirects=False,
            timeout=None,  # the scan's deadline bounds every request
            transport=self._transport,
            headers={"User-Agent": self._user_agent},
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @asynccontextmanager
    async def session(
        self,
        image: ImageRef | str,
        credentials: Credentials | None,
        insecure: bool,
        ca_certificate: str | None,
        timeout: float,
        *,
        tls_context: ssl.SSLContext | None = None,
        wording: RegistryWording = IMAGE_WORDING,
    ) -> AsyncIterator[RegistrySession]:
        """A session with the registry of `image`: its requests share the login (and the
        token it gets) and finish within `timeout` together. `insecure` speaks plain http;
        otherwise https with `tls_context` when given, else the system's CAs plus
        `ca_certificate` (PEM). Raises `RegistryUnreachableError` past the timeout."""
        ref = image if isinstance(image, ImageRef) else parse_repository(image)
        http = self._http
        if not insecure and tls_context is not None:
            http = self._new_http(tls_context)
        elif ca_certificate is not None and not insecure:
            http = self._new_http(_tls_context(ca_certificate))
        scheme = "http" if insecure else "https"
        scan = RegistrySession(
            ref, f"{scheme}://{ref.api_host}", http, insecure, credentials, wording=wording
        )
        try:
            async with asyncio.timeout(timeout):
                yield scan
        except TimeoutError:
            raise scan.error(
                RegistryUnreachableError,
                f"no complete answer from {ref.api_host} within the timeout of {timeout:g} s",
            ) from None
        finally:
            if http is not self._http:
                await http.aclose()

    async def list_tags(
        self,
        image: ImageRef | str,
        *,
        credentials: Credentials | None = None,
        insecure: bool = False,
        exclusions: Iterable[str] | None = DEFAULT_EXCLUSIONS,
        timeout: float = DEFAULT_TIMEOUT,
        ca_certificate: str | None = None,
    ) -> list[str]:
        """Every tag of `image` (a repository: `ghcr.io/org/app`), in the registry's order,
        without those matching an `exclusions` pattern (None: Flux's default).

        `insecure` speaks plain http (Flux's `spec.insecure`); otherwise https with the
        system's CAs plus `ca_certificate` (PEM, certSecretRef's `ca.crt`). Raises
        `RegistryUnreachableError`, `RegistryAuthError` or `RegistryResponseError`.
        """
        patterns = compile_exclusions(
            DEFAULT_EXCLUSIONS if exclusions is None else exclusions, self.limits
        )
        async with self.session(image, credentials, insecure, ca_certificate, timeout) as scan:
            tags = await self.all_tags(scan)
        return [tag for tag in tags if not any(p.search(tag) for p in patterns)]

    async def all_tags(self, scan: RegistrySession) -> list[str]:
        """Every tag of the session's repository, page after page, in the registry's order."""
        limits = self.limits
        url = f"{scan.origin}/v2/{scan.image.repository}/tags/list?n={limits.page_size}"
        seen: set[str] = set()
        tags: dict[str, None] = {}
        for _ in range(limits.max_pages):
            seen.add(url)
            answer = await self._fetch(scan, "GET", url, max_bytes=limits.max_page_bytes)
            if answer.status == 404:
                detail = error_detail(scan, answer)
                raise scan.error(RegistryResponseError, f"repository not found ({detail})")
            self._expect_success(scan, answer, "listing tags")
            for tag in _tags_of_page(scan, answer.body):
                tags[tag] = None
            if len(tags) > limits.max_tags:
                raise scan.error(RegistryResponseError, f"more than {limits.max_tags} tags")
            following = next_page_url(answer.headers.get_list("link"), url)
            if following is None:
                return list(tags)
            if _origin(httpx2.URL(following)) != _origin(httpx2.URL(scan.origin)):
                raise scan.error(
                    RegistryResponseError,
                    "the next page of the tag list is on another server; Tether does not "
                    "follow it (it would carry the registry's credentials there)",
                )
            if following in seen:
                raise scan.error(RegistryResponseError, "the tag list's pages loop")
            url = following
        raise scan.error(
            RegistryResponseError, f"the tag list has more than {limits.max_pages} pages"
        )

    async def digests(
        self,
        image: ImageRef | str,
        tags: Sequence[str],
        *,
        credentials: Credentials | None = None,
        insecure: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        ca_certificate: str | None = None,
    ) -> dict[str, str]:
        """The manifest digest (`sha256:...`) of each tag of `image`, as the registry reports
        it for an OCI index/manifest or a Docker manifest list/manifest (a multi-arch tag
        gives its index's digest, what a pull by digest needs). A tag the registry does not
        have is left out. At most `digest_concurrency` requests at once; same options and
        errors as `list_tags`.
        """
        wanted = list(dict.fromkeys(tags))
        if len(wanted) > self.limits.max_tags:
            raise ImageError(f"more than {self.limits.max_tags} tags asked for")
        for tag in wanted:
            if not TAG_PATTERN.fullmatch(tag):
                raise ImageError(f"{tag[:130]!r} is not a valid tag")
        found: dict[str, str] = {}
        async with self.session(image, credentials, insecure, ca_certificate, timeout) as scan:
            if wanted:
                # the first request settles authentication before the others start
                await self._record_digest(scan, wanted[0], found)
            pending: Iterator[str] = iter(wanted[1:])

            async def worker() -> None:
                for tag in pending:
                    await self._record_digest(scan, tag, found)

            try:
                async with asyncio.TaskGroup() as group:
                    for _ in range(max(1, self.limits.digest_concurrency)):
                        group.create_task(worker())
            except ExceptionGroup as failed:
                raise failed.exceptions[0] from None
        return {tag: found[tag] for tag in wanted if tag in found}

    async def _record_digest(self, scan: RegistrySession, tag: str, found: dict[str, str]) -> None:
        url = f"{scan.origin}/v2/{scan.image.repository}/manifests/{tag}"
        answer = await self._fetch(scan, "HEAD", url, max_bytes=0, accept=_ACCEPT_MANIFESTS)
        if answer.status == 404:
            return
        digest = answer.headers.get("docker-content-digest")
        if answer.status == 405 or (200 <= answer.status < 300 and not digest):
            # no digest from HEAD: the digest is that of the manifest's bytes
            answer = await self._fetch(
                scan, "GET", url, max_bytes=self.limits.max_manifest_bytes, accept=_ACCEPT_MANIFESTS
            )
            if answer.status == 404:
                return
            self._expect_success(scan, answer, f"reading the manifest of {tag!r}")
            found[tag] = "sha256:" + hashlib.sha256(answer.body).hexdigest()
            return
        self._expect_success(scan, answer, f"reading the digest of {tag!r}")
        if digest is None or not _DIGEST.fullmatch(digest):
            shown = scan.scrub(repr(digest))
            raise scan.error(RegistryResponseError, f"tag {tag!r} has an invalid digest {shown}")
        found[tag] = digest

    @staticmethod
    def _expect_success(scan: RegistrySession, answer: RegistryAnswer, what: str) -> None:
        if 200 <= answer.status < 300:
            return
        kind = RegistryUnreachableError if answer.status in _UNAVAILABLE else RegistryResponseError
        raise scan.error(kind, f"{what}: the registry answered {error_detail(scan, answer)}")

    async def request(
        self,
        scan: RegistrySession,
        method: str,
        url: str,
        *,
        max_bytes: int,
        accept: str | None = None,
        max_redirects: int = 0,
    ) -> RegistryAnswer:
        """One request of the session, its authentication challenges answered; a success's
        body is read within `max_bytes` (past it, `RegistryLimitError`).

        Up to `max_redirects` redirects are followed: to the registry's own origin with the
        session's login, anywhere else with no Authorization header and the system's CAs;
        never from https down to http. Any other status is the caller's to judge.
        """
        answer = await self._fetch(scan, method, url, max_bytes=max_bytes, accept=accept)
        registry = _origin(httpx2.URL(scan.origin))
        current = httpx2.URL(url)
        for _ in range(max_redirects):
            location = answer.headers.get("location")
            if answer.status not in _REDIRECTS or not location:
                return answer
            target = self._redirect_target(scan, current, location)
            if _origin(target) == registry:
                answer = await self._fetch(
                    scan, method, str(target), max_bytes=max_bytes, accept=accept
                )
            else:
                headers = {"Accept": accept} if accept else {}
                where = f"the server {target.host} the registry redirects to"
                answer = await self._exchange(
                    scan, method, target, headers, max_bytes, where, http=self._http
                )
            current = target
        if max_redirects and answer.status in _REDIRECTS:
            raise scan.error(
                RegistryResponseError, f"more than {max_redirects} redirects from {url}"
            )
        return answer

    @staticmethod
    def _redirect_target(scan: RegistrySession, current: httpx2.URL, location: str) -> httpx2.URL:
        try:
            target = current.join(location)
        except (httpx2.InvalidURL, ValueError):
            target = None
        if target is None or target.scheme not in ("http", "https") or not target.host:
            shown = scan.scrub(repr(location))
            raise scan.error(
                RegistryResponseError, f"the registry redirects to {shown}, not an http(s) URL"
            )
        if current.scheme == "https" and target.scheme != "https":
            raise scan.error(
                RegistryResponseError,
                f"the registry redirects from https to plain http ({target.host}); "
                "Tether does not follow it",
            )
        return target

    async def _fetch(
        self,
        scan: RegistrySession,
        method: str,
        url: str,
        *,
        max_bytes: int,
        accept: str | None = None,
    ) -> RegistryAnswer:
        """One request, answering the registry's authentication challenges (at most twice)."""
        for _ in range(3):
            headers = {"Accept": accept} if accept else {}
            if scan.authorization:
                headers["Authorization"] = scan.authorization
            answer = await self._exchange(scan, method, url, headers, max_bytes)
            if answer.status == 403:
                detail = error_detail(scan, answer)
                raise scan.error(RegistryAuthError, f"access denied to {scan.login} ({detail})")
            if answer.status != 401:
                return answer
            await self._answer_challenge(scan, answer)
        raise scan.error(RegistryAuthError, f"the registry keeps refusing {scan.login}")

    async def _exchange(
        self,
        scan: RegistrySession,
        method: str,
        url: str | httpx2.URL,
        headers: dict[str, str],
        max_bytes: int,
        where: str = "",
        *,
        http: httpx2.AsyncClient | None = None,
    ) -> RegistryAnswer:
        """Send one request (through the session's client unless `http` is given), read the
        answer within `max_bytes` (an error answer is cut)."""
        where = where or f"the registry {scan.image.api_host}"
        try:
            async with (http or scan.http).stream(method, url, headers=headers) as response:
                body: bytes | None = b""
                if method != "HEAD":
                    ok = response.is_success
                    body = await read_bounded(
                        response, max_bytes if ok else _ERROR_BODY_BYTES, truncate=not ok
                    )
        except httpx2.TransportError as exc:
            raise scan.unreachable(exc, where) from None
        except httpx2.DecodingError:
            raise scan.error(RegistryResponseError, f"{where} sent a broken encoding") from None
        if body is None:
            path = httpx2.URL(url).path
            raise scan.error(
                RegistryLimitError,
                f"{where} answered {method} {path} with over {max_bytes} bytes",
            )
        return RegistryAnswer(response.status_code, response.headers, body)

    async def _answer_challenge(self, scan: RegistrySession, answer: RegistryAnswer) -> None:
        """Set `scan.authorization` for the retry of a 401, or raise `RegistryAuthError`."""
        challenges = parse_challenges(answer.headers.get_list("www-authenticate"))
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer is not None:
            if scan.authorization and scan.authorization.startswith("Bearer "):
                if scan.token_fresh:
                    raise scan.error(
                        RegistryAuthError,
                        f"the registry refused the token its token service gave to "
                        f"{scan.login} ({error_detail(scan, answer)}); the repository may be "
                        f"private ({scan.wording.login_hint}) or not exist",
                    )
                if scan.token_key is not None:
                    self._tokens.pop(scan.token_key, None)
            await self._authorize_bearer(scan, bearer)
            return
        if any(c.scheme == "basic" for c in challenges):
            if scan.credentials is None:
                raise scan.error(
                    RegistryAuthError,
                    "the registry asks for a login and none is configured "
                    f"({scan.wording.login_hint})",
                )
            if scan.authorization is not None:
                raise scan.error(
                    RegistryAuthError, f"the registry refused the login of {scan.login}"
                )
            scan.authorization = f"Basic {scan.credentials.basic_token()}"
            return
        raise scan.error(
            RegistryAuthError, "the registry answered 401 without a Basic or Bearer challenge"
        )

    async def _authorize_bearer(self, scan: RegistrySession, challenge: Challenge) -> None:
        realm_text = challenge.params.get("realm", "")
        refusal = realm_refusal(scan.origin, realm_text, with_login=scan.credentials is not None)
        if refusal is not None:
            raise scan.error(RegistryAuthError, scan.scrub(refusal))
        realm = httpx2.URL(realm_text)
        service = challenge.params.get("service", "")
        scope = f"repository:{scan.image.repository}:pull"
        key = (scan.origin, str(realm), service, scope, scan.identity)
        cached = self._tokens.get(key)
        if cached is not None and cached.expires > self._clock():
            token, scan.token_fresh = cached.value, False
        else:
            token, lifetime = await self._request_token(scan, realm, service, scope)
            self._remember(key, _Token(token, self._clock() + lifetime))
            scan.token_fresh = True
        scan.authorization, scan.token_key = f"Bearer {token}", key

    async def _request_token(
        self, scan: RegistrySession, realm: httpx2.URL, service: str, scope: str
    ) -> tuple[str, float]:
        """Ask the realm for a token; returns it and how long to cache it."""
        params = {"scope": scope, **({"service": service} if service else {})}
        headers = {}
        if scan.credentials is not None:
            headers["Authorization"] = f"Basic {scan.credentials.basic_token()}"
        self.token_requests += 1
        where = f"the token service {realm.host}"
        url = realm.copy_merge_params(params)
        answer = await self._exchange(scan, "GET", url, headers, self.limits.max_token_bytes, where)
        if not 200 <= answer.status < 300:
            detail = error_detail(scan, answer)
            raise scan.error(RegistryAuthError, f"{where} refused {scan.login} ({detail})")
        return _token_of(scan, answer.body, where)

    def _remember(self, key: tuple[str, ...], token: _Token) -> None:
        if len(self._tokens) >= self.limits.max_cached_tokens:
            now = self._clock()
            for stale in [k for k, t in self._tokens.items() if t.expires <= now]:
                del self._tokens[stale]
            while len(self._tokens) >= self.limits.max_cached_tokens:
                del self._tokens[next(iter(self._tokens))]
        self._tokens[key] = token
