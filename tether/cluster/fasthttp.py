"""A lean HTTP/1.1 keep-alive client for the API server's small request/response calls.

The general client (httpx over anyio streams) costs about half a millisecond of CPU per request,
which bounds how fast a sync can apply objects. Kubernetes calls other than watches are simple:
one JSON request, one JSON answer with a Content-Length (or chunked) body. This client speaks just
that over asyncio's native TLS transport, with a pool of persistent connections. It is used only
when the credentials are static (a bearer token, basic auth or client certificates); exec
plugins and token files keep going through httpx, whose auth flow refreshes them.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
import tempfile
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx2

_MAX_HEADER_LINES = 200


class FastHTTPError(Exception):
    """The connection failed or the answer was not HTTP/1.1 as expected."""

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        #: whether the request may have reached the server (a retry is then not always safe)
        self.sent = sent


def _ssl_context(cluster: Any, user: Any) -> ssl.SSLContext:
    # as client-go: a cluster that names its CA is trusted through that CA alone (no system
    # bundle read: ~30 ms of a start)
    named_ca = bool(cluster.certificate_auth_data or cluster.certificate_auth)
    if named_ca and not getattr(cluster, "insecure", False):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    else:
        ctx = ssl.create_default_context()
    if getattr(cluster, "insecure", False):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cluster.certificate_auth_data:
        ctx.load_verify_locations(cadata=base64.b64decode(cluster.certificate_auth_data).decode())
    elif cluster.certificate_auth:
        ctx.load_verify_locations(cafile=cluster.certificate_auth)
    cert_data, key_data = user.client_cert_data, user.client_key_data
    if cert_data and key_data:
        # ssl wants files for a client certificate: write them to private temporary files
        with tempfile.TemporaryDirectory() as tmp:
            cert = Path(tmp) / "client.crt"
            key = Path(tmp) / "client.key"
            cert.write_bytes(base64.b64decode(cert_data))
            key.write_bytes(base64.b64decode(key_data))
            key.chmod(0o600)
            ctx.load_cert_chain(cert, key)
    elif user.client_cert and user.client_key:
        ctx.load_cert_chain(user.client_cert, user.client_key)
    return ctx


def static_auth_header(user: Any) -> str | bool | None:
    """The Authorization header for static credentials; None when none is needed (client
    certificates); False when the credentials are dynamic (exec, token file, auth provider)."""
    if user.exec is not None or user.auth_provider or user.token_file:
        return False
    if user.token:
        return f"Bearer {user.token}"
    if user.username and user.password:
        raw = f"{user.username}:{user.password}".encode()
        return f"Basic {base64.b64encode(raw).decode()}"
    return None


class FastHTTP:
    """Persistent HTTP/1.1 connections to one API server."""

    def __init__(
        self,
        server: str,
        ssl_context: ssl.SSLContext | None,
        headers: dict[str, str],
        *,
        max_connections: int = 32,
        timeout: float = 30.0,
    ) -> None:
        url = urlsplit(server)
        self.host = url.hostname or "localhost"
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        self.ssl = ssl_context if url.scheme == "https" else None
        self.headers = {"Host": url.netloc, **headers}
        self.timeout = timeout
        self._idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self._slots = asyncio.Semaphore(max_connections)

    @classmethod
    def for_config(
        cls, config: Any, user_agent: str, timeout: float, *, max_connections: int = 32
    ) -> FastHTTP | None:
        """A fast client for a lightkube SingleConfig, or None when its auth is dynamic."""
        auth = static_auth_header(config.user)
        if auth is False:
            return None
        headers = {"User-Agent": user_agent, "Accept": "application/json"}
        if isinstance(auth, str):
            headers["Authorization"] = auth
        server = str(config.cluster.server)
        context = _ssl_context(config.cluster, config.user) if server.startswith("https") else None
        return cls(server, context, headers, max_connections=max_connections, timeout=timeout)

    async def aclose(self) -> None:
        while self._idle:
            _, writer = self._idle.popleft()
            writer.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx2.Response:
        """Send one request and read the whole answer as an ``httpx2.Response``."""
        target = self.prefix + path + (f"?{urlencode(params)}" if params else "")
        lines = [f"{method} {target} HTTP/1.1"]
        merged = {**self.headers, **(headers or {})}
        body = content or b""
        if content is not None or method in ("POST", "PUT", "PATCH"):
            merged["Content-Length"] = str(len(body))
        lines += [f"{k}: {v}" for k, v in merged.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        async with self._slots:
            reused = bool(self._idle)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
            # that arrives as the exchange finishes, and a stopping worker then never stops
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._exchange(head + body, method)
            except FastHTTPError as exc:
                if reused and not exc.sent:
                    # a kept-alive connection the server had closed: one fresh try is safe
                    async with asyncio.timeout(self.timeout):
                        return await self._exchange(head + body, method)
                raise
            except TimeoutError as exc:
                raise FastHTTPError(f"no answer within {self.timeout:.0f}s", sent=True) from exc

    async def _connection(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        while self._idle:
            reader, writer = self._idle.popleft()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
            writer.close()
        try:
            return await asyncio.open_connection(self.host, self.port, ssl=self.ssl)
        except (OSError, ssl.SSLError) as exc:
            raise FastHTTPError(f"{type(exc).__name__}: {exc}", sent=False) from exc

    async def _exchange(self, data: bytes, method: str) -> httpx2.Response:
        reader, writer = await self._connection()
        try:
            writer.write(data)
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:
                raise FastHTTPError("connection closed before an answer", sent=False)
            parts = status_line.decode("latin-1").split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
                raise FastHTTPError(f"not an HTTP/1.1 answer: {status_line[:60]!r}", sent=True)
            status = int(parts[1])
            headers: list[tuple[str, str]] = []
            length: int | None = None
            chunked = False
            close = False
            for _ in range(_MAX_HEADER_LINES):
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                name, value = name.strip(), value.strip()
                headers.append((name, value))
                lowered = name.lower()
                if lowered == "content-length":
                    length = int(value)
                elif lowered == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
                elif lowered == "connection" and value.lower() == "close":
                    close = True
            if method == "HEAD" or status in (204, 304):
                body = b""
            elif chunked:
                body = await self._read_chunked(reader)
            elif length is not None:
                body = await reader.readexactly(length)
            else:
                body = await reader.read()
                close = True
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError) as exc:
            writer.close()
            raise FastHTTPError(f"{type(exc).__name__}: {exc}", sent=True) from exc
        except BaseException:
            writer.close()
            raise
        if close:
            writer.close()
        else:
            self._idle.append((reader, writer))
        return httpx2.Response(status, headers=headers, content=body)

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        out = bytearray()
        while True:
            size_line = await reader.readline()
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                # trailers end with an empty line
                line = await reader.readline()
                while line not in (b"\r\n", b"\n", b""):
                    line = await reader.readline()
                return bytes(out)
            out += await reader.readexactly(size)
            await reader.readexactly(2)
