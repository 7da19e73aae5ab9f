"""Start a local cluster: certificates, tokens, kubeconfig, and the HTTPS server around the app.

:class:`LocalCluster` runs in-process (a thread with its own event loop) or as a subprocess
(``tether cluster up``); either way the caller gets a kubeconfig that kubectl and lightkube use
as they would a real cluster's.
"""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import uvicorn
import yaml
from cryptography.hazmat.primitives.asymmetric import ec

from tether.errors import TetherError
from tether.localcluster import pki
from tether.localcluster.bootstrap import AUTHENTICATED, MASTERS
from tether.localcluster.rbac import Identity
from tether.localcluster.server import LocalClusterApp
from tether.localcluster.tlspeer import ClientCertProtocol
from tether.localcluster.tokens import TokenIssuer
from tether.localcluster.workloads import WorkloadOptions

if TYPE_CHECKING:
    from tether.localcluster.identities import ClusterAccess

ADMIN_USER = "admin"
VIEWER_USER = "viewer"
CONTEXT = "tether-local"
VIEWER_CONTEXT = "tether-local-viewer"


class ClusterStartError(TetherError):
    """The local cluster could not start (port taken, state folder unreadable, ...)."""


@dataclass
class Credentials:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes
    admin_token: str
    viewer_token: str
    #: the CA's key, to issue client certificates (credentials saved before it existed lack it)
    ca_key_pem: bytes = b""
    #: the key ServiceAccount tokens are signed with
    sa_key_pem: bytes = b""


def generate_credentials() -> Credentials:
    """A fresh CA, a server certificate for 127.0.0.1/localhost signed by it, two tokens and the
    key ServiceAccount tokens are signed with."""
    ca_pem, ca_key_pem = pki.generate_ca()
    cert_pem, key_pem = pki.issue_server_cert(ca_pem, ca_key_pem)
    return Credentials(
        ca_pem=ca_pem,
        cert_pem=cert_pem,
        key_pem=key_pem,
        admin_token=secrets.token_urlsafe(32),
        viewer_token=secrets.token_urlsafe(32),
        ca_key_pem=ca_key_pem,
        sa_key_pem=pki.private_pem(ec.generate_private_key(ec.SECP256R1())),
    )


def load_or_create_credentials(state_dir: Path | None) -> Credentials:
    """Credentials saved under ``state_dir`` from an earlier run, or fresh ones (then saved)."""
    if state_dir is None:
        return generate_credentials()
    saved = state_dir / "credentials.json"
    if saved.exists():
        data = orjson.loads(saved.read_bytes())
        creds = Credentials(
            ca_pem=data["ca"].encode(),
            cert_pem=data["cert"].encode(),
            key_pem=data["key"].encode(),
            admin_token=data["admin_token"],
            viewer_token=data["viewer_token"],
            ca_key_pem=data.get("ca_key", "").encode(),
            sa_key_pem=data.get("sa_key", "").encode(),
        )
        if creds.sa_key_pem:
            return creds
        # saved by a version without ServiceAccount tokens: keep the CA, add the signing key
        creds.sa_key_pem = pki.private_pem(ec.generate_private_key(ec.SECP256R1()))
    else:
        creds = generate_credentials()
    payload = {
        "ca": creds.ca_pem.decode(),
        "cert": creds.cert_pem.decode(),
        "key": creds.key_pem.decode(),
        "admin_token": creds.admin_token,
        "viewer_token": creds.viewer_token,
        "ca_key": creds.ca_key_pem.decode(),
        "sa_key": creds.sa_key_pem.decode(),
    }
    _write_private(saved, orjson.dumps(payload))
    return creds


def kubeconfig_document(server: str, creds: Credentials) -> dict[str, Any]:
    ca_data = base64.b64encode(creds.ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": ca_data}}
        ],
        "users": [
            {"name": ADMIN_USER, "user": {"token": creds.admin_token}},
            {"name": VIEWER_USER, "user": {"token": creds.viewer_token}},
        ],
        "contexts": [
            {"name": CONTEXT, "context": {"cluster": CONTEXT, "user": ADMIN_USER}},
            {"name": VIEWER_CONTEXT, "context": {"cluster": CONTEXT, "user": VIEWER_USER}},
        ],
        "current-context": CONTEXT,
        "preferences": {},
    }


def identity_kubeconfig(
    server: str, ca_pem: bytes, user: str, user_entry: dict[str, Any]
) -> dict[str, Any]:
    """A kubeconfig with one context, for one identity (``user_entry``: a ``token``, or
    ``client-certificate-data`` and ``client-key-data``)."""
    ca_data = base64.b64encode(ca_pem).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": ca_data}}
        ],
        "users": [{"name": user, "user": user_entry}],
        "contexts": [{"name": user, "context": {"cluster": CONTEXT, "user": user}}],
        "current-context": user,
        "preferences": {},
    }


def cert_user_entry(cert_pem: bytes, key_pem: bytes) -> dict[str, str]:
    """The kubeconfig ``user`` of a client certificate."""
    return {
        "client-certificate-data": base64.b64encode(cert_pem).decode(),
        "client-key-data": base64.b64encode(key_pem).decode(),
    }


def write_kubeconfig(path: Path, doc: dict[str, Any]) -> Path:
    """Write a kubeconfig readable by its owner only."""
    _write_private(Path(path), yaml.safe_dump(doc, sort_keys=False).encode())
    return Path(path)


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


@dataclass
class LocalCluster:
    """A running (or ready to run) local cluster and what a client needs to reach it."""

    port: int = 0
    kubeconfig: Path | None = None
    state_dir: Path | None = None
    history_size: int = 10_000
    crd_establish_delay: float = 0.0
    #: simulated controllers and kubelet; None serves a bare API server (objects never run)
    workloads: WorkloadOptions | None = field(default_factory=WorkloadOptions)
    host: str = "127.0.0.1"
    app: LocalClusterApp | None = field(default=None, init=False)
    creds: Credentials = field(init=False)
    _server: uvicorn.Server | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _sock: socket.socket | None = field(default=None, init=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False)
    loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def admin_token(self) -> str:
        return self.creds.admin_token

    @property
    def viewer_token(self) -> str:
        return self.creds.viewer_token

    def access(self) -> ClusterAccess:
        """Admin access to this cluster, to make kubeconfigs for other identities with
        (``access().service_account_kubeconfig(...)``, ``access().cert_kubeconfig(...)``)."""
        from tether.localcluster.identities import ClusterAccess

        return ClusterAccess(self.url, self.creds.ca_pem, self.admin_token, self.creds.ca_key_pem)

    def __post_init__(self) -> None:
        if self.state_dir is not None:
            self.state_dir = Path(self.state_dir)
            self.state_dir.mkdir(parents=True, exist_ok=True)
        self.creds = load_or_create_credentials(self.state_dir)

    def _prepare(self) -> None:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(1024)
        except OSError as exc:
            raise ClusterStartError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror}"
            ) from exc
        self._sock = sock
        self.port = sock.getsockname()[1]
        if self.state_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="tether-cluster-")
            cert_dir = Path(self._tmp.name)
        else:
            cert_dir = Path(self.state_dir)
        _write_private(cert_dir / "ca.crt", self.creds.ca_pem)
        _write_private(cert_dir / "apiserver.crt", self.creds.cert_pem)
        _write_private(cert_dir / "apiserver.key", self.creds.key_pem)
        self._cert_dir = cert_dir
        if self.kubeconfig is None:
            self.kubeconfig = cert_dir / "kubeconfig"
        doc = kubeconfig_document(self.url, self.creds)
        _write_private(Path(self.kubeconfig), yaml.safe_dump(doc, sort_keys=False).encode())
        self.app = LocalClusterApp(
            {
                self.creds.admin_token: Identity(ADMIN_USER, (MASTERS, AUTHENTICATED)),
                self.creds.viewer_token: Identity(VIEWER_USER, (AUTHENTICATED,)),
            },
            history_size=self.history_size,
            crd_establish_delay=self.crd_establish_delay,
            state_file=(Path(self.state_dir) / "state.db") if self.state_dir is not None else None,
            workloads=self.workloads,
            issuer=TokenIssuer(pki.load_private_key(self.creds.sa_key_pem)),
            ca_pem=self.creds.ca_pem,
        )
        config = uvicorn.Config(
            self.app,
            ssl_certfile=str(cert_dir / "apiserver.crt"),
            ssl_keyfile=str(cert_dir / "apiserver.key"),
            # client certificates are optional; one not signed by the cluster CA fails the handshake
            ssl_cert_reqs=ssl.CERT_OPTIONAL,
            ssl_ca_certs=str(cert_dir / "ca.crt"),
            log_level="warning",
            access_log=False,
            lifespan="on",
            loop="uvloop",
            http=ClientCertProtocol,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)

    async def serve(self) -> None:
        """Serve until :meth:`stop` (or a signal, when run from the CLI)."""
        if self._server is None:
            self._prepare()
        assert self._server is not None and self._sock is not None
        self.loop = asyncio.get_running_loop()
        await self._server.serve(sockets=[self._sock])

    def start(self) -> LocalCluster:
        """Start in a background thread and return once the API answers."""
        self._prepare()
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            try:
                import uvloop

                uvloop.run(self._serve_signalled(ready))
            except BaseException as exc:
                errors.append(exc)
                ready.set()

        self._thread = threading.Thread(target=run, name="tether-local-cluster", daemon=True)
        self._thread.start()
        if not ready.wait(30) or errors:
            raise ClusterStartError(
                f"local cluster failed to start: {errors[0] if errors else 'timeout'}"
            )
        return self

    async def _serve_signalled(self, ready: threading.Event) -> None:
        assert self._server is not None
        task = asyncio.create_task(self.serve())
        while not self._server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        ready.set()
        await task

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self.app is not None and self.loop is not None:
                self.loop.call_soon_threadsafe(self.app.store.close_watchers)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def call(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(*args)`` on the cluster's event loop and return its result (tests use it)."""
        assert self.loop is not None
        future = asyncio.run_coroutine_threadsafe(_call_async(fn, *args), self.loop)
        return future.result(timeout=30)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _call_async(fn: Any, *args: Any) -> Any:
    result = fn(*args)
    if asyncio.iscoroutine(result):
        return await result
    return result


@dataclass
class ClusterProcess:
    """A local cluster in a child process (``tether cluster up``), for tests that need one."""

    kubeconfig: Path
    process: subprocess.Popen[bytes]

    @classmethod
    def start(
        cls, workdir: Path, extra_args: list[str] | None = None, timeout: float = 30.0
    ) -> ClusterProcess:
        kubeconfig = workdir / "kubeconfig"
        ready = workdir / "ready"
        for stale in (kubeconfig, ready):
            stale.unlink(missing_ok=True)
        args = [
            sys.executable,
            "-m",
            "tether.cli.main",
            "cluster",
            "up",
            "--port",
            "0",
            "--kubeconfig",
            str(kubeconfig),
            "--ready-file",
            str(ready),
            *(extra_args or []),
        ]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise ClusterStartError(f"local cluster exited early: {err.strip()}")
            if time.monotonic() > deadline:
                proc.kill()
                raise ClusterStartError("local cluster did not become ready in time")
            time.sleep(0.05)
        return cls(kubeconfig, proc)

    def access(self, state_dir: Path | None = None) -> ClusterAccess:
        """Admin access to this cluster from its kubeconfig; with the ``--state`` folder it was
        started with, client certificates can be issued too."""
        from tether.localcluster.identities import ClusterAccess, saved_ca_key

        ca_key = saved_ca_key(state_dir) if state_dir is not None else b""
        return ClusterAccess.from_kubeconfig(self.kubeconfig, ca_key)

    def stop(self, kill: bool = False) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
