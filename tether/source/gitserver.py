"""A small smart-HTTP git server on loopback: `git http-backend` behind HTTP Basic auth.

For tests, benchmarks and demos: it serves every bare repository under a folder, at
`http://127.0.0.1:PORT/NAME.git` (`https://` when given a TLS context), and accepts pushes from
authenticated users. Not a production
server: one thread per request, whole request and response bodies in memory.

A push that moved refs is reported to `on_push(repository, refs)` once git has answered the
client, so the demo can poll at once (a forge's webhook, without the forge).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from tether.source.webhooks import RefUpdate

log = logging.getLogger(__name__)

#: called with the bare repository's path and the refs a push moved
PushListener = Callable[[Path, tuple[RefUpdate, ...]], None]

_RECEIVE_PACK = "/git-receive-pack"
#: reading a repository's refs around a push; a local `for-each-ref` takes milliseconds
_REFS_TIMEOUT = 30.0


def _git_env() -> dict[str, str]:
    """git with no user or system configuration (the served repositories are the only input)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
    }


def read_refs(repository: Path) -> dict[str, str]:
    """Every ref of ``repository`` and the object it names (empty when git cannot read it)."""
    try:
        completed = subprocess.run(
            ["git", "for-each-ref", "--format=%(objectname) %(refname)"],
            cwd=repository,
            env=_git_env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=_REFS_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return {}
    refs: dict[str, str] = {}
    for line in completed.stdout.splitlines():
        sha, _, name = line.partition(" ")
        refs[name] = sha
    return refs


def moved_refs(before: dict[str, str], after: dict[str, str]) -> tuple[RefUpdate, ...]:
    """The refs that differ between two readings, sorted by name (None: absent)."""
    names = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    return tuple(RefUpdate(name, before.get(name), after.get(name)) for name in names)


class _Handler(BaseHTTPRequestHandler):
    server: _GitHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        # Quiet: tests and benchmarks print their own figures.
        return

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _authorized(self) -> str | None:
        credentials = self.server.credentials
        if credentials is None:
            return "anonymous"
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        ok_user = hmac.compare_digest(user.encode(), credentials[0].encode())
        ok_password = hmac.compare_digest(password.encode(), credentials[1].encode())
        return user if ok_user and ok_password else None

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        self.server.requests += 1
        user = self._authorized()
        if user is None:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        parts = urlsplit(self.path)
        env = {
            **_git_env(),
            "GIT_PROJECT_ROOT": str(self.server.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            # Pushes are allowed for anyone who passed authentication.
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.receivepack",
            "GIT_CONFIG_VALUE_0": "true",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": parts.path,
            "QUERY_STRING": parts.query,
            "REMOTE_USER": user,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
        }
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        body = self._body() if self.command == "POST" else b""
        env["CONTENT_LENGTH"] = str(len(body))
        # refs are read around a push only when someone listens (two short git runs)
        listening = self.server.on_push is not None
        pushed = self._pushed_repository(parts.path) if listening else None
        before = read_refs(pushed) if pushed is not None else {}
        completed = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        self._answer(completed.stdout)
        if pushed is not None:
            self._report_push(pushed, before)

    def _pushed_repository(self, path: str) -> Path | None:
        """The repository a push request writes to; None for any other request (or a path
        outside the served folder, which http-backend refuses anyway)."""
        if self.command != "POST" or not path.endswith(_RECEIVE_PACK):
            return None
        root = self.server.root.resolve()
        repository = (root / path[: -len(_RECEIVE_PACK)].lstrip("/")).resolve()
        if repository == root or not repository.is_relative_to(root) or not repository.is_dir():
            return None
        return repository

    def _report_push(self, repository: Path, before: dict[str, str]) -> None:
        """Tell the listener which refs the push moved (nothing when none did: a refused push)."""
        listener = self.server.on_push
        refs = moved_refs(before, read_refs(repository))
        if listener is None or not refs:
            return
        try:
            listener(repository, refs)
        except Exception:
            # the push itself succeeded; a listener's failure must not reach the git client
            log.exception("push listener failed for %s", repository)

    def _answer(self, cgi_output: bytes) -> None:
        """Send http-backend's CGI output as the HTTP response."""
        head, _, payload = cgi_output.partition(b"\r\n\r\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class _GitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connections when many clients arrive at once (a poll
    # round asks every repository together) and the kernel retries them a second later.
    request_queue_size = 128
    root: Path
    credentials: tuple[str, str] | None
    requests: int
    on_push: PushListener | None

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that refuses the certificate ends the TLS handshake: its choice, not a
        # server fault worth a traceback
        if isinstance(sys.exc_info()[1], ssl.SSLError):
            log.debug("TLS handshake with %s failed: %s", client_address, sys.exc_info()[1])
            return
        super().handle_error(request, client_address)


class GitHTTPServer:
    """Serve the bare repositories under `root` over smart HTTP on 127.0.0.1.

    `port` 0 (the default) takes a free port; a port in use raises `OSError` (errno
    EADDRINUSE) here, before anything is served. With `credentials` (user, password) every
    request needs HTTP Basic auth. With `tls` (a server-side `ssl.SSLContext`) it speaks HTTPS. `on_push` (also settable later) hears of every push that
    moved refs. Use as a context manager, or call `start()` and `stop()`.
    """

    def __init__(
        self,
        root: Path,
        credentials: tuple[str, str] | None = None,
        *,
        port: int = 0,
        on_push: PushListener | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.root = root
        self.scheme = "https" if tls is not None else "http"
        self._server = _GitHTTPServer(("127.0.0.1", port), _Handler)
        if tls is not None:
            # handshakes happen on the request threads, so a slow client blocks no other
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server.root = root
        self._server.credentials = credentials
        self._server.requests = 0
        self._server.on_push = on_push
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="git-http", daemon=True
        )

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def on_push(self) -> PushListener | None:
        """Called (on the request's thread) with the repository and the refs each push moved."""
        return self._server.on_push

    @on_push.setter
    def on_push(self, listener: PushListener | None) -> None:
        self._server.on_push = listener

    @property
    def requests(self) -> int:
        """How many HTTP requests the server has answered."""
        return self._server.requests

    def url(self, name: str) -> str:
        """The URL of the repository `name` (a folder under the root, e.g. `app.git`)."""
        return f"{self.scheme}://127.0.0.1:{self.port}/{name}"

    def start(self) -> GitHTTPServer:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> GitHTTPServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
