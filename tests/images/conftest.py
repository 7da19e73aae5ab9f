"""Registries for the registry client's tests: Debian's docker-registry on loopback (anonymous,
htpasswd, token auth with a token service of our own, TLS), images pushed through the
distribution API, and a programmable fake registry for answers a real one never gives.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tether.images.testing import OCI_MANIFEST as OCI_MANIFEST
from tether.images.testing import RunningRegistry as RunningRegistry
from tether.images.testing import docker_registry as docker_registry
from tether.images.testing import free_port as free_port
from tether.images.testing import push_image as push_image
from tether.images.testing import put_manifest as put_manifest

USERNAME = "scanner"
PASSWORD = "correct horse"
#: bcrypt of PASSWORD at cost 5 (cheap: docker-registry checks it on every request)
PASSWORD_BCRYPT = "$2b$05$rGlHLWRylwYyJfmeDfPbcOGK5v7R1FsUqjh3cNn7bZUMK.0Cz0HJu"
TOKEN_SERVICE = "tether-test-registry"
TOKEN_ISSUER = "tether-test-issuer"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def needs_docker_registry() -> None:
    # `make test` installs it (image-packages): missing, the suite fails rather than skips
    assert shutil.which("docker-registry") is not None, (
        "docker-registry is not installed (`make image-packages` installs it)"
    )


@pytest.fixture(scope="session")
def open_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """An anonymous docker-registry."""
    with docker_registry(tmp_path_factory.mktemp("open-registry")) as registry:
        yield registry


@pytest.fixture(scope="session")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A docker-registry that wants HTTP basic auth (htpasswd) for USERNAME/PASSWORD."""
    root = tmp_path_factory.mktemp("basic-registry")
    (root / "htpasswd").write_text(f"{USERNAME}:{PASSWORD_BCRYPT}\n")
    auth = {"htpasswd": {"realm": "tether-test", "path": str(root / "htpasswd")}}
    with docker_registry(root, auth) as registry:
        yield registry


def basic_header(username: str = USERNAME, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# --- certificates and the token service ------------------------------------------------------


@dataclass(frozen=True)
class KeyPair:
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        certificate, key = folder / f"{name}.crt", folder / f"{name}.key"
        certificate.write_text(self.certificate_pem)
        key.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        return certificate, key


def make_certificate(name: str, issuer: KeyPair | None = None, server: bool = False) -> KeyPair:
    """A self-signed CA (no `issuer`) or a certificate for 127.0.0.1 signed by `issuer`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=not server, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False,
        )
    certificate = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return KeyPair(key, certificate)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed_token(signer: KeyPair, service: str, subject: str, access: list[Any]) -> str:
    """A JWT as distribution's token auth verifies it: RS256, the signing certificate in `x5c`."""
    der = signer.certificate.public_bytes(serialization.Encoding.DER)
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    now = int(time.time())
    claims = {
        "iss": TOKEN_ISSUER,
        "sub": subject,
        "aud": service,
        "iat": now,
        "nbf": now - 30,
        "exp": now + 300,
        "jti": hashlib.sha256(f"{now}{time.perf_counter_ns()}".encode()).hexdigest()[:16],
        "access": access,
    }
    payload = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = signer.key.sign(payload.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{payload}.{_b64url(signature)}"


# --- a programmable HTTP server ---------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Seen:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


Route = Callable[[Seen], Reply]


class FakeServer:
    """An HTTP server on 127.0.0.1 whose answers a test sets per path (`routes`); it records
    every request. A path without a route answers 404."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self.release = threading.Event()  # a route may wait on it to stall an answer
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                seen = Seen(
                    self.command,
                    split.path,
                    parse_qs(split.query),
                    {k.lower(): v for k, v in self.headers.items()},
                )
                server.requests.append(seen)
                route = server.routes.get(split.path)
                reply = route(seen) if route else Reply(404, b'{"errors":[{"code":"NOT_FOUND"}]}')
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_HEAD = do_PUT = do_POST = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def seen(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def fake_registry() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture
def other_server() -> Iterator[FakeServer]:
    """A second server, for realms and links that point elsewhere."""
    server = FakeServer()
    yield server
    server.close()


class TokenService(FakeServer):
    """distribution's token service for USERNAME/PASSWORD: a login gets every action it asks
    for, anonymous access gets none. `issued` counts the tokens given."""

    def __init__(self, signer: KeyPair) -> None:
        super().__init__()
        self.signer = signer
        self.issued = 0
        self.routes["/token"] = self._token

    def _token(self, seen: Seen) -> Reply:
        authorization = seen.headers.get("authorization")
        subject = ""
        if authorization is not None:
            if authorization != basic_header()["Authorization"]:
                return Reply(401, b'{"details":"invalid username or password"}')
            subject = USERNAME
        access = []
        for scope in seen.query.get("scope", []):
            kind, name, actions = scope.split(":")
            if subject:
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        service = seen.query.get("service", [""])[0]
        token = signed_token(self.signer, service, subject, access)
        self.issued += 1
        return Reply(200, json.dumps({"token": token, "expires_in": 300}).encode())

    def push_header(self, repository: str) -> dict[str, str]:
        scope = f"repository:{repository}:pull,push"
        answer = httpx.get(
            self.url("/token"),
            params={"service": TOKEN_SERVICE, "scope": scope},
            headers=basic_header(),
        )
        return {"Authorization": f"Bearer {answer.json()['token']}"}


@dataclass(frozen=True)
class TokenRegistry:
    registry: RunningRegistry
    tokens: TokenService


@pytest.fixture(scope="session")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistry]:
    """A docker-registry with `auth: token`, trusting a token service run by the test."""
    needs_docker_registry()
    root = tmp_path_factory.mktemp("token-registry")
    signer = make_certificate("tether test token signer")
    bundle, _ = signer.write(root, "signer")
    tokens = TokenService(signer)
    auth = {
        "token": {
            "realm": tokens.url("/token"),
            "service": TOKEN_SERVICE,
            "issuer": TOKEN_ISSUER,
            "rootcertbundle": str(bundle),
        }
    }
    try:
        with docker_registry(root, auth) as registry:
            yield TokenRegistry(registry, tokens)
    finally:
        tokens.close()


@dataclass(frozen=True)
class TLSRegistry:
    registry: RunningRegistry
    ca_pem: str
    ca_file: Path


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSRegistry]:
    """A docker-registry over https with a certificate from a CA of its own."""
    root = tmp_path_factory.mktemp("tls-registry")
    ca = make_certificate("tether test CA")
    ca_file, _ = ca.write(root, "ca")
    certificate, key = make_certificate("127.0.0.1", issuer=ca, server=True).write(root, "server")
    with docker_registry(root, tls=(certificate, key, ca_file)) as registry:
        yield TLSRegistry(registry, ca.certificate_pem, ca_file)


# --- a registry that posts notifications ------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One request a notification endpoint received: its headers and its body, as sent."""

    path: str
    headers: dict[str, str]
    body: bytes


class NotificationSink:
    """An endpoint on 127.0.0.1 that keeps every POST whole and answers 200, as the server's
    webhook endpoint would (a registry retries, and stalls its queue, on anything else)."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                sink.deliveries.append(Delivery(self.path, dict(self.headers.items()), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


#: what the notifying registry sends as `Authorization: Bearer <NOTIFICATION_TOKEN>`
NOTIFICATION_TOKEN = "registry-notification-token"


@dataclass(frozen=True)
class NotifyingRegistry:
    registry: RunningRegistry
    sink: NotificationSink


@pytest.fixture(scope="session")
def notifying_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NotifyingRegistry]:
    """An anonymous docker-registry whose `notifications` post every event to a sink, with the
    header `Authorization: Bearer NOTIFICATION_TOKEN`."""
    needs_docker_registry()
    sink = NotificationSink()
    endpoint = {
        "name": "tether",
        "url": sink.url("/api/webhook"),
        "headers": {"Authorization": [f"Bearer {NOTIFICATION_TOKEN}"]},
        "timeout": "2s",
        "threshold": 5,
        "backoff": "1s",
    }
    root = tmp_path_factory.mktemp("notifying-registry")
    try:
        with docker_registry(root, notifications={"endpoints": [endpoint]}) as registry:
            yield NotifyingRegistry(registry, sink)
    finally:
        sink.close()
