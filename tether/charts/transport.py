"""Bounded HTTP GETs against Helm repositories.

Every answer is read within a size bound (decoded, so a compressed bomb stops there too) and
every request, redirects included, within one timeout. Redirects are followed by hand, at most
`max_redirects`, never from https down to http, and the login goes only where `RepoAccess`
allows it: a redirect to another host gets no Authorization header and no client certificate.
Conditional requests (`If-None-Match`, `If-Modified-Since`) let an unchanged index cost a 304.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
from collections import OrderedDict
from dataclasses import dataclass

import httpx2

from tether.charts.access import RepoAccess, TLSMaterial
from tether.charts.errors import (
    ChartAuthError,
    ChartLimitError,
    ChartRepositoryError,
    ChartRepositoryUnreachableError,
    InvalidChartSourceError,
)
from tether.charts.limits import ChartLimits
from tether.charts.models import Validators
from tether.httpbody import read_bounded
from tether.source.urls import scrub_url
from tether.systemtls import system_context

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_UNAVAILABLE = frozenset({429, 502, 503, 504})
_MAX_TLS_CONTEXTS = 64
_ERROR_BODY_BYTES = 4096


@dataclass(frozen=True)
class Download:
    """One answer: 200 with its body, or 304 (not modified) with none."""

    url: str
    status: int
    body: bytes
    validators: Validators


def _tls_context(material: TLSMaterial) -> ssl.SSLContext:
    """A client TLS context: only the given CA when there is one (as Argo CD pins a server to
    its configured certificates), else the system's; the client certificate when given."""
    if material.ca_pem:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        try:
            context.load_verify_locations(cadata=material.ca_pem)
        except (ssl.SSLError, ValueError):
            raise InvalidChartSourceError(
                "the TLS certificate given for the Helm repository is not a PEM certificate"
            ) from None
    else:
        context = httpx2.create_ssl_context()
    if material.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if material.client_certificate or material.client_key:
        _load_client_certificate(context, material)
    return context


def _load_client_certificate(context: ssl.SSLContext, material: TLSMaterial) -> None:
    if not (material.client_certificate and material.client_key):
        raise InvalidChartSourceError(
            "the repository Secret has only one of tlsClientCertData and tlsClientCertKey: "
            "a client certificate needs both"
        )
    # ssl reads a certificate chain from files only: private ones, removed at once
    with tempfile.TemporaryDirectory(prefix="tether-chart-tls-") as folder:
        cert_file, key_file = os.path.join(folder, "tls.crt"), os.path.join(folder, "tls.key")
        for path, text in (
            (cert_file, material.client_certificate),
            (key_file, material.client_key),
        ):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(text)
        try:
            context.load_cert_chain(cert_file, key_file)
        except (ssl.SSLError, ValueError, OSError):
            raise InvalidChartSourceError(
                "tlsClientCertData and tlsClientCertKey of the repository Secret are not a PEM "
                "certificate and its matching private key"
            ) from None


class RepoTransport:
    """GETs from Helm repositories; one connection pool for the common case (system CAs, no
    client certificate), a short-lived one per request otherwise. TLS contexts are cached."""

    def __init__(self, limits: ChartLimits, transport: httpx2.AsyncBaseTransport | None = None):
        self.limits = limits
        self._transport = transport
        self._contexts: OrderedDict[str, ssl.SSLContext] = OrderedDict()
        self._http = self._client(system_context())

    def _client(self, verify: ssl.SSLContext | bool) -> httpx2.AsyncClient:
        # proxies come from HTTPS_PROXY/NO_PROXY, as for Helm (trust_env)
        return httpx2.AsyncClient(
            verify=verify,
            follow_redirects=False,
            timeout=None,  # one deadline bounds each request with its redirects
            transport=self._transport,
            headers={"User-Agent": "tether-helm-repository-client"},
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _context(self, material: TLSMaterial) -> ssl.SSLContext:
        key = material.fingerprint()
        context = self._contexts.get(key)
        if context is None:
            # loading CAs reads files and parses certificates: off the event loop
            context = await asyncio.to_thread(_tls_context, material)
            self._contexts[key] = context
            while len(self._contexts) > _MAX_TLS_CONTEXTS:
                self._contexts.popitem(last=False)
        return context

    async def get(
        self,
        url: str,
        access: RepoAccess,
        *,
        max_bytes: int,
        what: str,
        validators: Validators | None = None,
        compressed: bool = True,
    ) -> Download:
        """GET `url` (following redirects) and read its body within `max_bytes`.

        `what` names the thing for messages ("the index", "chart web 1.2.0"). With
        `validators` the request is conditional and may answer 304. `compressed=False` asks for
        the bytes as stored (an archive whose digest is checked must not be re-encoded).
        Raises `ChartRepositoryUnreachableError`, `ChartAuthError`, `ChartLimitError` or
        `ChartRepositoryError`.
        """
        shown_repo = scrub_url(access.repo_url)
        timeout = self.limits.request_timeout
        try:
            async with asyncio.timeout(timeout):
                return await self._follow(url, access, max_bytes, what, validators, compressed)
        except TimeoutError:
            raise ChartRepositoryUnreachableError(
                f"{what}: no complete answer from {scrub_url(url)} within {timeout:g} s",
                shown_repo,
            ) from None

    async def _follow(
        self,
        url: str,
        access: RepoAccess,
        max_bytes: int,
        what: str,
        validators: Validators | None,
        compressed: bool,
    ) -> Download:
        current = url
        for _ in range(self.limits.max_redirects + 1):
            headers = {"Accept-Encoding": "gzip, deflate" if compressed else "identity"}
            authorization = access.authorization(current)
            if authorization:
                headers["Authorization"] = authorization
            if validators is not None and access.same_origin(current):
                if validators.etag:
                    headers["If-None-Match"] = validators.etag
                if validators.last_modified:
                    headers["If-Modified-Since"] = validators.last_modified
            answer = await self._exchange(current, access, headers, max_bytes, what)
            if isinstance(answer, Download):
                return answer
            current = self._redirect_target(current, answer, access, what)
        raise ChartRepositoryError(
            f"{what}: more than {self.limits.max_redirects} redirects from {scrub_url(url)}",
            scrub_url(access.repo_url),
        )

    @staticmethod
    def _redirect_target(current: str, location: str, access: RepoAccess, what: str) -> str:
        try:
            target = httpx2.URL(current).join(location)
        except (httpx2.InvalidURL, ValueError):
            target = None
        if target is None or target.scheme not in ("http", "https"):
            raise ChartRepositoryError(
                f"{what}: {scrub_url(current)} redirects to {access.scrub(location)!r}, "
                "which is not an http(s) URL",
                scrub_url(access.repo_url),
            )
        if httpx2.URL(current).scheme == "https" and target.scheme != "https":
            raise ChartRepositoryError(
                f"{what}: {scrub_url(current)} redirects from https to plain http; "
                "Tether does not follow it",
                scrub_url(access.repo_url),
            )
        return str(target)

    async def _exchange(
        self, url: str, access: RepoAccess, headers: dict[str, str], max_bytes: int, what: str
    ) -> Download | str:
        """One request: the answer, or the Location of a redirect."""
        material = access.tls_for(url)
        http = self._http
        if not material.is_default:
            http = self._client(await self._context(material))
        try:
            async with http.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status in _REDIRECTS and response.headers.get("location"):
                    return response.headers["location"]
                if status == 200:
                    body = await read_bounded(response, max_bytes, truncate=False)
                    if body is None:
                        raise ChartLimitError(
                            f"{what}: {scrub_url(url)} is larger than {max_bytes} bytes"
                        )
                    return Download(url, status, body, _validators(response))
                if status == 304:
                    return Download(url, status, b"", _validators(response))
                detail = await read_bounded(response, _ERROR_BODY_BYTES, truncate=True)
                raise self._status_error(url, access, status, response, detail or b"", what)
        except (httpx2.TransportError, ssl.SSLError, ConnectionError) as exc:
            # a TLS 1.3 alert (no client certificate) can surface as a bare SSLError on read
            raise self._unreachable(url, access, exc, what) from None
        except httpx2.DecodingError:
            raise ChartRepositoryError(
                f"{what}: {scrub_url(url)} sent a body whose encoding is broken",
                scrub_url(access.repo_url),
            ) from None
        finally:
            if http is not self._http:
                await http.aclose()

    @staticmethod
    def _status_error(
        url: str,
        access: RepoAccess,
        status: int,
        response: httpx2.Response,
        body: bytes,
        what: str,
    ) -> ChartRepositoryError:
        shown_repo = scrub_url(access.repo_url)
        reason = access.scrub(response.reason_phrase or "")
        quoted = access.scrub(body.decode("utf-8", "replace").strip())
        detail = f"{status} {reason}".strip() + (f": {quoted}" if quoted else "")
        if status in (401, 403):
            if access.authorization(url) is None:
                hint = (
                    "it asks for a login and none is configured: add a repository Secret "
                    "(argocd.argoproj.io/secret-type: repository, type: helm) for "
                    f"{shown_repo}"
                )
                if not access.same_origin(url) and access.credentials is not None:
                    hint = "it is on another host, where the repository's login is not sent"
                return ChartAuthError(
                    f"{what}: {scrub_url(url)} refused {access.login}: {hint} ({detail})",
                    shown_repo,
                    status,
                )
            return ChartAuthError(
                f"{what}: {scrub_url(url)} refused the credentials of {access.login} ({detail})",
                shown_repo,
                status,
            )
        if status in _UNAVAILABLE or status >= 500:
            return ChartRepositoryUnreachableError(
                f"{what}: {scrub_url(url)} is unavailable ({detail})", shown_repo, status
            )
        return ChartRepositoryError(
            f"{what}: {scrub_url(url)} answered {detail}", shown_repo, status
        )

    @staticmethod
    def _unreachable(
        url: str, access: RepoAccess, exc: Exception, what: str
    ) -> ChartRepositoryUnreachableError:
        text = _first_message(exc)
        detail = access.scrub(f"{type(exc).__name__}: {text or 'connection closed'}")
        hint = ""
        if "CERTIFICATE_REQUIRED" in detail or "certificate required" in detail:
            hint = (
                " (the server wants a client certificate: give tlsClientCertData and "
                "tlsClientCertKey in the repository Secret)"
            )
        elif "CERTIFICATE_VERIFY_FAILED" in detail or isinstance(exc.__context__, ssl.SSLError):
            hint = (
                " (TLS verification failed: give the repository's CA in argocd-tls-certs-cm, "
                "or mark the repository insecure)"
            )
        elif "WRONG_VERSION_NUMBER" in detail:
            hint = " (the server does not speak TLS: is the repository http://?)"
        elif _hung_up(text) and access.tls_for(url).client_certificate is None:
            hint = (
                " (the server hung up: if it wants a client certificate, give "
                "tlsClientCertData and tlsClientCertKey in the repository Secret)"
            )
        return ChartRepositoryUnreachableError(
            f"{what}: cannot reach {scrub_url(url)}: {detail}{hint}", scrub_url(access.repo_url)
        )


def _hung_up(text: str) -> bool:
    lowered = text.lower()
    return not text or "broken pipe" in lowered or "connection reset" in lowered


def _first_message(exc: BaseException) -> str:
    """The first non-empty message along the exception's chain of causes ("" when none)."""
    current: BaseException | None = exc
    for _ in range(6):
        if current is None:
            break
        if str(current):
            return str(current) if current is exc else f"{type(current).__name__}: {current}"
        current = current.__cause__ or current.__context__
    return ""


def _validators(response: httpx2.Response) -> Validators:
    return Validators(
        etag=response.headers.get("etag") or None,
        last_modified=response.headers.get("last-modified") or None,
    )
