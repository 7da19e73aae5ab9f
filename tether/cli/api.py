"""How the ``tether`` client commands reach the API server and show its answers.

Three parts, each usable alone:

* the config file (``~/.config/tether/config.yaml`` or ``$TETHER_CONFIG``) that ``tether login``
  writes: the current server and, per server, the token and TLS settings;
* :class:`ApiClient`, a small httpx client for the REST API in ``docs/api-contract.md`` that turns
  every failure (connection, TLS, 401, 403, 4xx/5xx, non-JSON answers) into :class:`ApiClientError`
  carrying a message a user can act on;
* the click plumbing shared by ``app``, ``proj``, ``repo``, ``image``, ``cluster add|list``: the
  ``--server``/``--token`` options, ``-o table|json|yaml`` rendering with rich, and
  :class:`ApiCommand`, which prints ``error: <message>`` instead of a traceback.
"""

from __future__ import annotations

import functools
import os
import ssl
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import click
import httpx
import yaml

from tether import safeyaml
from tether.cli.options import output_option
from tether.cli.output import print_data, print_fields, print_table
from tether.errors import TetherError
from tether.names import ARGO_API_VERSION

# the click and printing helpers every command module takes from here
__all__ = [
    "NOT_LOGGED_IN",
    "ApiClient",
    "ApiClientError",
    "ApiCommand",
    "ApiGroup",
    "CliConfig",
    "CliConfigError",
    "CliError",
    "OutcomeError",
    "ServerEntry",
    "normalize_server",
    "object_to_create",
    "output_option",
    "print_data",
    "print_fields",
    "print_table",
    "read_object_file",
    "read_secret_stdin",
    "resolve_connection",
    "with_client",
]

# ---- errors -------------------------------------------------------------------------------------

NOT_LOGGED_IN = "not logged in or token expired: run tether login"
#: seconds the client waits for a refreshed Application: longer than the server's own wait for
#: the controller (60 s by default), so that the server's answer, not a client timeout, says
#: what happened
REFRESH_WAIT = 150.0


class CliConfigError(TetherError):
    """The client config file cannot be read or written."""


class ApiClientError(TetherError):
    """A request to the API server failed; ``status`` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


# ---- config file --------------------------------------------------------------------------------


def config_path() -> Path:
    """``$TETHER_CONFIG``, else ``$XDG_CONFIG_HOME/tether/config.yaml`` (``~/.config`` default)."""
    explicit = os.environ.get("TETHER_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "tether" / "config.yaml"


@dataclass
class ServerEntry:
    """What ``tether login`` remembers about one server."""

    token: str | None = None
    username: str | None = None
    insecure: bool = False
    ca: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.token:
            out["token"] = self.token
        if self.username:
            out["username"] = self.username
        if self.insecure:
            out["insecure"] = True
        if self.ca:
            out["ca"] = self.ca
        return out


@dataclass
class CliConfig:
    """The client config file: the current server and the servers logged in to."""

    path: Path
    current: str | None = None
    servers: dict[str, ServerEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> CliConfig:
        """Read the file; a missing file is an empty config."""
        path = path or config_path()
        try:
            raw = path.read_text()
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise CliConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            doc = safeyaml.load(raw) or {}
        except safeyaml.YamlError:
            raise CliConfigError(f"{path} is not valid YAML: fix or delete it") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("servers") or {}, dict):
            raise CliConfigError(f"{path} is not a tether config file: fix or delete it")
        servers: dict[str, ServerEntry] = {}
        for url, entry in (doc.get("servers") or {}).items():
            entry = entry if isinstance(entry, dict) else {}
            servers[str(url)] = ServerEntry(
                token=_str_or_none(entry.get("token")),
                username=_str_or_none(entry.get("username")),
                insecure=bool(entry.get("insecure", False)),
                ca=_str_or_none(entry.get("ca")),
            )
        return cls(path, _str_or_none(doc.get("current")), servers)

    def save(self) -> None:
        """Write the file readable by its owner only: it holds bearer tokens."""
        doc: dict[str, Any] = {
            "current": self.current,
            "servers": {url: entry.to_dict() for url, entry in self.servers.items()},
        }
        text = yaml.safe_dump(doc, sort_keys=False)
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # write beside the target and rename, so a crash never leaves half a file and the
            # token never sits in a file with wider permissions, even briefly
            fd, tmp = tempfile.mkstemp(prefix=".config-", dir=self.path.parent)
            try:
                os.fchmod(fd, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(text)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise CliConfigError(f"cannot write {self.path}: {exc.strerror or exc}") from None


def _str_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def normalize_server(server: str, plaintext: bool = False) -> str:
    """``host:port`` → ``https://host:port`` (``http://`` with ``plaintext``); no trailing ``/``."""
    server = server.strip().rstrip("/")
    if not server:
        raise CliConfigError("the server address is empty")
    if "://" not in server:
        server = f"{'http' if plaintext else 'https'}://{server}"
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CliConfigError(f"{server!r} is not an http(s) server address")
    return server


@dataclass(frozen=True)
class Connection:
    """Where and how to reach the API: resolved from flags, environment and the config file."""

    server: str
    token: str | None
    verify: bool | str = True


def resolve_connection(server: str | None, token: str | None) -> Connection:
    """Flags win over ``$TETHER_SERVER``/``$TETHER_TOKEN``, which win over the config file."""
    config = CliConfig.load()
    chosen = server or os.environ.get("TETHER_SERVER") or config.current
    if not chosen:
        raise CliConfigError(
            "no server: run tether login SERVER, or pass --server / set TETHER_SERVER"
        )
    url = normalize_server(chosen)
    entry = config.servers.get(url, ServerEntry())
    verify: bool | str = entry.ca or not entry.insecure
    return Connection(url, token or os.environ.get("TETHER_TOKEN") or entry.token, verify)


# ---- API client ---------------------------------------------------------------------------------


def path_segment(name: str) -> str:
    """``name`` quoted as one path segment, so ``../x`` or ``a/b`` cannot reach another route."""
    return quote(name, safe="")


class ApiClient:
    """The REST API of ``docs/api-contract.md`` over httpx; every failure is ApiClientError."""

    def __init__(
        self,
        server: str,
        token: str | None = None,
        *,
        verify: bool | str = True,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server
        headers = {"Accept": "application/json", "User-Agent": "tether-cli"}
        tls: bool | ssl.SSLContext = verify if isinstance(verify, bool) else _ca_context(verify)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(
            base_url=server,
            headers=headers,
            verify=tls,
            timeout=timeout,
            transport=transport,
        )

    @classmethod
    def from_connection(cls, connection: Connection) -> ApiClient:
        return cls(connection.server, connection.token, verify=connection.verify)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        signed_in: bool = True,
        timeout: float | None = None,
    ) -> Any:
        """Send one request and return the decoded JSON answer.

        ``signed_in=False`` is for the sign-in call itself: there a 401 means wrong credentials,
        so the server's own message is kept instead of the "run tether login" advice.
        ``timeout``: seconds to wait for this answer (default: the client's).
        """
        try:
            answer = self._http.request(
                method,
                path,
                params=_query(params),
                json=body if body is not None else None,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException:
            raise ApiClientError(f"{self.server}: no answer in time") from None
        except httpx.ConnectError as exc:
            raise ApiClientError(_connect_failure(self.server, exc)) from None
        except httpx.HTTPError as exc:
            raise ApiClientError(f"{self.server}: {exc}") from None
        if answer.status_code >= 400:
            raise ApiClientError(self._failure_message(answer, signed_in), answer.status_code)
        if not answer.content:
            return {}
        try:
            return answer.json()
        except ValueError:
            raise ApiClientError(
                f"{self.server}{path}: the answer is not JSON (is this a Tether server?)",
                answer.status_code,
            ) from None

    def _failure_message(self, answer: httpx.Response, signed_in: bool) -> str:
        message = ""
        try:
            doc = answer.json()
            if isinstance(doc, dict):
                message = str(doc.get("error") or doc.get("message") or "")
        except ValueError:
            message = ""
        if answer.status_code == 401 and signed_in:
            return NOT_LOGGED_IN
        if answer.status_code == 403:
            return message or "permission denied"
        return message or f"{answer.request.method} {answer.request.url.path}: HTTP " + (
            f"{answer.status_code} {answer.reason_phrase}".strip()
        )

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("POST", path, params=params, body=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body=body)

    def delete(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("DELETE", path, params=params)

    # session

    def sign_in(self, username: str, password: str) -> str:
        """A token for ``username``; raises ApiClientError with the server's reason on refusal."""
        answer = self.request(
            "POST",
            "/api/v1/session",
            body={"username": username, "password": password},
            signed_in=False,
        )
        token = answer.get("token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise ApiClientError(f"{self.server}: the sign-in answer has no token")
        return token

    def user_info(self) -> dict[str, Any]:
        return _mapping(self.get("/api/v1/session/userinfo"))

    def sign_out(self) -> None:
        self.delete("/api/v1/session")

    # applications

    def list_applications(
        self,
        projects: Sequence[str] = (),
        sync: str | None = None,
        health: str | None = None,
        selector: str | None = None,
    ) -> list[dict[str, Any]]:
        params = {"project": list(projects), "sync": sync, "health": health, "selector": selector}
        return _items(self.get("/api/v1/applications", params))

    def application(self, name: str, refresh: str | None = None) -> dict[str, Any]:
        """The Application; with ``refresh`` (normal or hard) as the controller has compared it
        again after this request (the server waits for that, up to its refresh timeout)."""
        path = f"/api/v1/applications/{path_segment(name)}"
        if refresh is None:
            return _mapping(self.get(path))
        answer = self.request("GET", path, params={"refresh": refresh}, timeout=REFRESH_WAIT)
        return _mapping(answer)

    def create_application(self, app: dict[str, Any], upsert: bool = False) -> dict[str, Any]:
        params = {"upsert": "true"} if upsert else None
        return _mapping(self.post("/api/v1/applications", app, params))

    def update_application(self, app: dict[str, Any]) -> dict[str, Any]:
        name = str((app.get("metadata") or {}).get("name", ""))
        return _mapping(self.put(f"/api/v1/applications/{path_segment(name)}", app))

    def delete_application(self, name: str, cascade: bool) -> None:
        path = f"/api/v1/applications/{path_segment(name)}"
        self.delete(path, {"cascade": "true" if cascade else "false"})

    def sync_application(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        path = f"/api/v1/applications/{path_segment(name)}/sync"
        return _mapping(self.post(path, request))

    def rollback_application(
        self, name: str, history_id: int, prune: bool, dry_run: bool = False
    ) -> dict[str, Any]:
        path = f"/api/v1/applications/{path_segment(name)}/rollback"
        return _mapping(self.post(path, {"id": history_id, "prune": prune, "dryRun": dry_run}))

    def managed_resources(self, name: str) -> list[dict[str, Any]]:
        return _items(self.get(f"/api/v1/applications/{path_segment(name)}/managed-resources"))

    def manifests(self, name: str) -> dict[str, Any]:
        return _mapping(self.get(f"/api/v1/applications/{path_segment(name)}/manifests"))

    def history(self, name: str) -> list[dict[str, Any]]:
        return _items(self.get(f"/api/v1/applications/{path_segment(name)}/history"))

    # projects, clusters, repositories

    def list_projects(self) -> list[dict[str, Any]]:
        return _items(self.get("/api/v1/projects"))

    def project(self, name: str) -> dict[str, Any]:
        return _mapping(self.get(f"/api/v1/projects/{path_segment(name)}"))

    def project_windows(self, name: str) -> dict[str, Any]:
        """A project's sync windows, each with whether it is active now."""
        return _mapping(self.get(f"/api/v1/projects/{path_segment(name)}/syncwindows"))

    def application_windows(self, name: str) -> dict[str, Any]:
        """The sync windows that apply to an app, and whether it may sync now."""
        return _mapping(self.get(f"/api/v1/applications/{path_segment(name)}/syncwindows"))

    def create_project(self, project: dict[str, Any]) -> dict[str, Any]:
        return _mapping(self.post("/api/v1/projects", project))

    def list_clusters(self) -> list[dict[str, Any]]:
        return _items(self.get("/api/v1/clusters"))

    def add_cluster(self, cluster: dict[str, Any]) -> Any:
        return self.post("/api/v1/clusters", cluster)

    def list_repositories(self) -> list[dict[str, Any]]:
        return _items(self.get("/api/v1/repositories"))

    def add_repository(self, repository: dict[str, Any]) -> Any:
        return self.post("/api/v1/repositories", repository)

    # images

    def images(self) -> dict[str, Any]:
        """``{"items": [summary...], "notes": [...]}`` of Flux's image objects."""
        return _mapping(self.get("/api/v1/images"))

    def reconcile_image(self, kind: str, name: str) -> dict[str, Any]:
        """Ask for a run now (kind: repositories, policies, automations)."""
        path = f"/api/v1/images/{path_segment(kind)}/{path_segment(name)}/reconcile"
        return _mapping(self.post(path, None))

    def application_images(self, name: str) -> dict[str, Any]:
        return _mapping(self.get(f"/api/v1/applications/{path_segment(name)}/images"))


def _ca_context(ca_file: str) -> ssl.SSLContext:
    """Trust exactly the certificates in ``ca_file`` (a self-signed server's CA)."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ApiClientError(f"{ca_file}: not a readable PEM CA certificate ({reason})") from None


def _query(params: Mapping[str, Any] | None) -> httpx.QueryParams | None:
    """Query pairs without the unset ones; lists become repeated keys (``project=a&project=b``)."""
    if not params:
        return None
    pairs: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in params.items():
        values = value if isinstance(value, list | tuple) else [value]
        pairs.extend((key, str(v)) for v in values if v not in (None, ""))
    return httpx.QueryParams(pairs)


def _connect_failure(server: str, exc: httpx.ConnectError) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return (
            f"{server}: the server's TLS certificate is not trusted "
            "(log in with --ca FILE, or --insecure to skip verification)"
        )
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
        return f"{server}: the server does not speak TLS here (use an http:// address)"
    reason = "connection refused" if "refused" in text.lower() else text or "cannot connect"
    return f"cannot reach {server}: {reason}"


def _mapping(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise ApiClientError("the server's answer is not a JSON object")
    return answer


def _items(answer: Any) -> list[dict[str, Any]]:
    items = _mapping(answer).get("items")
    if items is None:
        return []
    if not isinstance(items, list):
        raise ApiClientError("the server's answer has no list of items")
    return [i for i in items if isinstance(i, dict)]


# ---- click plumbing -----------------------------------------------------------------------------


class CliError(click.ClickException):
    """Printed as one ``error: <message>`` line on stderr; the command could not do its job."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class OutcomeError(CliError):
    """The command worked but the outcome asked for did not happen (a sync failed, a timeout)."""

    exit_code = 1


class ApiCommand(click.Command):
    """A command whose Tether errors, and any other failure, end as one ``error:`` line.

    Exit codes, the same on every command: 0 done, 1 the outcome asked for did not happen
    (differences found, a sync failed, a wait timed out), 2 the command could not do its job
    (usage, connection, authentication, permission, a server-side error).
    """

    #: how a failure is told (its ``show``): ``error: <message>`` here
    failure: type[click.ClickException] = CliError

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except TetherError as exc:
            raise self.failure(exc.message) from None
        except Exception as exc:
            # a bug must still not reach a user as a traceback; TETHER_DEBUG=1 shows it
            if os.environ.get("TETHER_DEBUG"):
                raise
            raise self.failure(f"unexpected {type(exc).__name__}: {exc}") from None


class ApiGroup(click.Group):
    """A group whose commands are :class:`ApiCommand` by default."""

    command_class = ApiCommand


F = TypeVar("F", bound=Callable[..., Any])


def with_client(*, server_flags: bool = True) -> Callable[[F], F]:
    """Give the command an ``api: ApiClient`` argument, closed when the command ends.

    ``server_flags`` adds ``--server``/``--token``; ``tether cluster add`` turns them off because
    its own ``--server``/``--token`` describe the cluster being added.
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            connection = resolve_connection(
                kwargs.pop("api_server", None), kwargs.pop("api_token", None)
            )
            with ApiClient.from_connection(connection) as api:
                return func(*args, api=api, **kwargs)

        if server_flags:
            run = click.option(
                "--token",
                "api_token",
                metavar="TOKEN",
                help="API token (default: $TETHER_TOKEN, then the one saved by tether login).",
            )(run)
            run = click.option(
                "--server",
                "api_server",
                metavar="URL",
                help="Tether API server (default: $TETHER_SERVER, then the one logged in to).",
            )(run)
        return run  # type: ignore[return-value]

    return decorate


def object_to_create(file: str | None, kind: str, name: str | None, what: str) -> dict[str, Any]:
    """The Argo CD object a ``create`` command starts from: the file's (``-``: stdin) or a new
    one, with apiVersion and kind defaulted and ``name`` (when given) as its name. A UsageError
    naming ``what`` when it has no name."""
    obj = read_object_file(file, kind) if file else {}
    obj.setdefault("apiVersion", ARGO_API_VERSION)
    obj.setdefault("kind", kind)
    metadata = obj.setdefault("metadata", {})
    if name:
        metadata["name"] = name
    if not metadata.get("name"):
        raise click.UsageError(f"give the {what} a NAME (or metadata.name in the file)")
    return obj


def read_object_file(path: str, what: str) -> dict[str, Any]:
    """One YAML or JSON object from ``path`` (``-``: stdin), or a CliError naming the file."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        doc = safeyaml.load(text, loader=safeyaml.KubernetesLoader)
    except safeyaml.YamlLimitError as exc:
        raise CliError(f"{path}: {exc}") from None
    except safeyaml.YamlError as exc:
        where = f" (line {exc.line})" if exc.line is not None else ""
        raise CliError(f"{path}: not valid YAML or JSON{where}") from None
    if not isinstance(doc, dict):
        raise CliError(f"{path}: expected one {what} object")
    return doc


def read_secret_stdin(what: str) -> str:
    """A password or key piped on stdin, without its trailing newline."""
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise CliError(f"no {what} on stdin")
    return value
