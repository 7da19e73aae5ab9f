"""Hostile servers on loopback for the freeze tests: ones that never answer, answer garbage, drip
bytes, or forward to a real git server until told to hang.

Each holds a connection at most `max_hold` seconds, a watchdog: a regression makes the test
fail after that long instead of hanging the suite.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType

Handler = Callable[[socket.socket], None]


class LoopbackServer:
    """Accepts connections on 127.0.0.1 and gives each to `handle` in its own thread."""

    def __init__(self, max_hold: float = 60.0) -> None:
        self.max_hold = max_hold
        self.accepted = threading.Event()
        self.closed_by_client = threading.Event()
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, path: str, scheme: str = "http") -> str:
        """A URL on this server."""
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    def handle(self, connection: socket.socket) -> None:
        """Say nothing; wait until the client hangs up (or the watchdog fires)."""
        self.hold(connection)

    def hold(self, connection: socket.socket) -> None:
        """Read and drop whatever comes until the client closes, at most `max_hold` seconds."""
        connection.settimeout(self.max_hold)
        try:
            while connection.recv(65536):
                pass
            self.closed_by_client.set()
        except OSError:
            pass

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            self.accepted.set()
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            self.handle(connection)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._listener.close()


class SilentServer(LoopbackServer):
    """Accepts, then never answers."""


class GarbageServer(LoopbackServer):
    """Answers every request with bytes that are not HTTP, then hangs up."""

    def handle(self, connection: socket.socket) -> None:
        connection.settimeout(self.max_hold)
        connection.recv(65536)
        connection.sendall(b"\x00\x17garbage\xff\xfe not http at all\r\n\r\n" * 64)


class NotGitServer(LoopbackServer):
    """An HTTP server that is not git (like the controller's API): JSON for every path."""

    def handle(self, connection: socket.socket) -> None:
        connection.settimeout(self.max_hold)
        connection.recv(65536)
        body = b'{"status": "ok"}'
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )


class DripServer(LoopbackServer):
    """Starts a chunked HTTP answer, then sends one byte a second: a stalled transfer."""

    def handle(self, connection: socket.socket) -> None:
        connection.settimeout(self.max_hold)
        connection.recv(65536)
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-git-upload-pack-advertisement\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        stop = threading.Event()
        for _ in range(int(self.max_hold)):
            try:
                connection.sendall(b"1\r\n0\r\n")
            except OSError:
                self.closed_by_client.set()
                return
            stop.wait(1.0)


class HangableProxy(LoopbackServer):
    """Forwards to a real server until `hang` is set; then new connections are held silently."""

    def __init__(self, target_port: int, max_hold: float = 60.0) -> None:
        super().__init__(max_hold)
        self.target_port = target_port
        self.hang = threading.Event()
        self.held = threading.Event()

    def handle(self, connection: socket.socket) -> None:
        if self.hang.is_set():
            self.held.set()
            self.hold(connection)
            return
        with socket.create_connection(("127.0.0.1", self.target_port)) as upstream:
            back = threading.Thread(target=_pipe, args=(upstream, connection), daemon=True)
            back.start()
            _pipe(connection, upstream)
            back.join(self.max_hold)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass
