"""A Helm chart repository on loopback for the chart tests: real charts packaged by the pinned
helm, an index written by `helm repo index`, served by a stdlib HTTP(S) server with basic auth,
ETags and programmable answers; certificates from the image tests' helper."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import shutil
import ssl
import subprocess
import tarfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from tests.images.conftest import KeyPair
from tether.tools import find_tool

USERNAME = "chart-reader"
PASSWORD = "s3cret-chart-pass"


def run_helm(*args: str, home: Path) -> str:
    """Run the pinned helm with a private home; its stdout."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)}
    env.update({f"HELM_{k}_HOME": str(home / k.lower()) for k in ("CACHE", "CONFIG", "DATA")})
    done = subprocess.run(
        [find_tool("helm"), *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def chart_files(
    name: str, version: str, dependencies: list[dict[str, str]] | None = None
) -> dict[str, str]:
    """A small chart: one ConfigMap naming the chart and its version."""
    meta = f"apiVersion: v2\nname: {name}\nversion: {version}\nappVersion: '{version}'\n"
    if dependencies:
        meta += "dependencies:\n"
        for dep in dependencies:
            meta += "".join(
                f"{'- ' if i == 0 else '  '}{k}: {v!r}\n" for i, (k, v) in enumerate(dep.items())
            )
    template = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-NAME\n"
        "data:\n  chart: NAME\n  version: {{ .Chart.Version | quote }}\n"
    ).replace("NAME", name)
    return {"Chart.yaml": meta, "templates/configmap.yaml": template}


def write_chart(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def package(charts: dict[str, list[str]], out: Path, home: Path) -> None:
    """`helm package` every chart version named (one helm run for all)."""
    sources = out.parent / f"{out.name}-sources"
    folders = []
    for name, versions in charts.items():
        for version in versions:
            folders.append(
                write_chart(sources / f"{name}-{version}" / name, chart_files(name, version))
            )
    out.mkdir(parents=True, exist_ok=True)
    run_helm("package", *map(str, folders), "-d", str(out), home=home)


def tgz(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    """A gzip-compressed tar of exactly these members (for archives helm would never make)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def file_member(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    return info, data


def chart_tgz(name: str, files: dict[str, str]) -> bytes:
    """A chart archive as helm lays it out (`<name>/...`), written by Python."""
    return tgz([file_member(f"{name}/{rel}", text.encode()) for rel, text in files.items()])


# --- certificates ---------------------------------------------------------------------------


def key_pem(pair: KeyPair) -> str:
    """The pair's private key as PEM, as a repository Secret's tlsClientCertKey holds it."""
    return pair.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@dataclass(frozen=True)
class ServerTLS:
    """The server's certificate, and the CA its clients must present a certificate of."""

    server: KeyPair
    client_ca: KeyPair | None = None


# --- the repository server ------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    status: int


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class ChartRepoServer:
    """Serves the files of `root` under `/charts/` (basic auth when a password is set); a path
    in `routes` answers what its function says instead."""

    def __init__(
        self,
        root: Path,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: ServerTLS | None = None,
        scratch: Path | None = None,
    ) -> None:
        self.root = root
        self.username, self.password = username, password
        self.routes: dict[str, Callable[[Seen], Reply]] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self.scheme = "http"
        if tls is not None:
            self.scheme = "https"
            self._server.socket = self._tls_context(tls, scratch or root.parent).wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @staticmethod
    def _tls_context(tls: ServerTLS, scratch: Path) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls.server.write(scratch, f"server-{id(tls)}"))
        if tls.client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(cadata=tls.client_ca.certificate_pem)
        return context

    @property
    def url(self) -> str:
        """The repository URL (what `repoURL` says)."""
        return f"{self.scheme}://127.0.0.1:{self.port}/charts"

    def seen(self, suffix: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path.endswith(suffix)]

    def index(self, url: str | None = None) -> None:
        """(Re)write index.yaml with `helm repo index --url`, as a chart repository's CI does."""
        (self.root / "index.yaml").unlink(missing_ok=True)
        run_helm(
            "repo",
            "index",
            str(self.root),
            "--url",
            url or self.url,
            home=self.root.parent / "helm-home",
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _authorized(self, header: str) -> bool:
        if self.password is None:
            return True
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return header == f"Basic {token}"

    def _answer(self, path: str, headers: dict[str, str]) -> Reply:
        seen = Seen(path, headers, 0)
        if path in self.routes:
            return self.routes[path](seen)
        if not self._authorized(headers.get("authorization", "")):
            return Reply(401, b"login required\n", {"WWW-Authenticate": 'Basic realm="charts"'})
        if not path.startswith("/charts/"):
            return Reply(404, b"not found\n")
        file = self.root / path.removeprefix("/charts/")
        if ".." in path or not file.is_file():
            return Reply(404, b"not found\n")
        body = file.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        modified = formatdate(file.stat().st_mtime, usegmt=True)
        validators = {"ETag": etag, "Last-Modified": modified}
        if headers.get("if-none-match") == etag:
            return Reply(304, b"", validators)
        if file.suffix == ".yaml" and "gzip" in headers.get("accept-encoding", ""):
            return Reply(200, gzip.compress(body), {**validators, "Content-Encoding": "gzip"})
        return Reply(200, body, validators)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                path = self.path.split("?", 1)[0]
                reply = server._answer(path, headers)
                with server._lock:
                    server.requests.append(Seen(path, headers, reply.status))
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

        return Handler


def copy_repo(packaged: Path, target: Path) -> Path:
    """A private copy of the packaged charts, for one server."""
    shutil.copytree(packaged, target)
    return target
