"""Exec credential plugins, as kubectl runs them (``client.authentication.k8s.io`` v1, v1beta1).

A plugin (``aws eks get-token``, ``gke-gcloud-auth-plugin``, ``kubelogin``, ...) is a command
that prints an ``ExecCredential`` on stdout. It runs with ``KUBERNETES_EXEC_INFO`` describing
the request, no stdin, within a time limit and an output limit, in its own process group
(killed whole when it overruns). The token it gives is reused until its
``status.expirationTimestamp`` passes or the server answers 401, then the plugin runs again;
concurrent requests share one run. A plugin that fails raises :class:`ExecPluginError` naming
the command, its exit status and the end of its stderr (or the install hint when the command
is missing).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2
import orjson

from tether.cluster.errors import ClusterError

EXEC_API_V1 = "client.authentication.k8s.io/v1"
EXEC_API_V1BETA1 = "client.authentication.k8s.io/v1beta1"
#: the versions of the exec protocol kubectl still speaks (v1alpha1 left in Kubernetes 1.24)
EXEC_API_VERSIONS = (EXEC_API_V1, EXEC_API_V1BETA1)
KIB = 1024


class ExecPluginError(ClusterError):
    """An exec credential plugin could not be run or gave no usable credential."""


@dataclass(frozen=True)
class ExecLimits:
    """Bounds on one run of a plugin: wall-clock seconds, stdout bytes, stderr bytes quoted."""

    timeout: float = 60.0
    max_output_bytes: int = 1024 * KIB
    stderr_tail_bytes: int = 4 * KIB


@dataclass(frozen=True)
class ExecConfig:
    """A kubeconfig ``user.exec`` (or Argo CD's ``execProviderConfig``)."""

    command: str
    api_version: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    install_hint: str = ""

    @property
    def name(self) -> str:
        """The command as errors show it (its file name)."""
        return os.path.basename(self.command) or self.command


@dataclass(frozen=True)
class ExecCredential:
    """The token a plugin gave, and when it stops being valid (None: until a 401)."""

    token: str = field(repr=False)
    expires: datetime | None = None

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires is not None and (now or datetime.now(UTC)) >= self.expires


def check_exec_config(raw: Mapping[str, Any], where: str) -> ExecConfig:
    """An ``execProviderConfig`` document (Argo CD's field names) as an :class:`ExecConfig`;
    raises ``ValueError`` saying which field is wrong."""
    command = raw.get("command")
    if not isinstance(command, str) or not command.strip():
        raise ValueError(f"{where}.command must name the plugin to run")
    api_version = raw.get("apiVersion")
    if api_version not in EXEC_API_VERSIONS:
        raise ValueError(
            f"{where}.apiVersion must be one of {', '.join(EXEC_API_VERSIONS)} "
            f"(got {api_version!r})"
        )
    args = raw.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ValueError(f"{where}.args must be a list of strings")
    env = raw.get("env") or {}
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise ValueError(f"{where}.env must map names to string values")
    hint = raw.get("installHint") or ""
    return ExecConfig(command, api_version, tuple(args), tuple(env.items()), str(hint))


def _exec_info(config: ExecConfig) -> str:
    """``KUBERNETES_EXEC_INFO``: the request, never interactive (there is no terminal)."""
    return orjson.dumps(
        {"apiVersion": config.api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    ).decode()


async def _read(
    stream: asyncio.StreamReader, limit: int, keep_tail: bool, on_overflow: Callable[[], None]
) -> bytes | None:
    """Everything ``stream`` gives up to ``limit`` bytes (with ``keep_tail``, its last ``limit``
    bytes). Past the limit without ``keep_tail`` it calls ``on_overflow`` (which stops the
    plugin), reads on to the end without keeping anything, and returns None."""
    data = bytearray()
    overflowed = False
    while chunk := await stream.read(64 * KIB):
        if overflowed:
            continue
        data.extend(chunk)
        if len(data) > limit:
            if keep_tail:
                del data[:-limit]
            else:
                overflowed = True
                data.clear()
                on_overflow()
    return None if overflowed else bytes(data)


def _kill_group(process: asyncio.subprocess.Process) -> None:
    # the plugin may have started helpers (a shell script, a cloud CLI): stop them all
    if process.returncode is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def _reap(process: asyncio.subprocess.Process) -> None:
    """Wait for a killed plugin: its pipes are read to their end, or asyncio never sees it
    exit. A helper that escaped the process group and holds a pipe is given up on."""
    assert process.stdout is not None and process.stderr is not None

    async def drain(stream: asyncio.StreamReader) -> None:
        while await stream.read(64 * KIB):
            pass

    try:
        async with asyncio.timeout(10):  # not wait_for: it can swallow a cancellation on 3.11
            await asyncio.gather(drain(process.stdout), drain(process.stderr), process.wait())
    except TimeoutError:
        pass


def _tail(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    return " / ".join(lines[-5:]) or "no output on stderr"


async def run_exec_plugin(
    config: ExecConfig, where: str, limits: ExecLimits | None = None
) -> ExecCredential:
    """Run the plugin once and read its ``ExecCredential``; ``where`` names the cluster."""
    limits = limits or ExecLimits()
    env = {**os.environ, **dict(config.env), "KUBERNETES_EXEC_INFO": _exec_info(config)}
    shown = f"exec plugin {config.name!r} of {where}"
    try:
        process = await asyncio.create_subprocess_exec(
            config.command,
            *config.args,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except (FileNotFoundError, PermissionError) as exc:
        hint = config.install_hint or "install it in the controller's image or PATH"
        raise ExecPluginError(f"{shown} cannot be run ({exc.strerror}): {hint}") from None
    assert process.stdout is not None and process.stderr is not None
    try:
        async with asyncio.timeout(limits.timeout):
            stdout, stderr, status = await asyncio.gather(
                _read(process.stdout, limits.max_output_bytes, False, lambda: _kill_group(process)),
                _read(process.stderr, limits.stderr_tail_bytes, True, lambda: None),
                process.wait(),
            )
    except TimeoutError:
        raise ExecPluginError(f"{shown} did not finish within {limits.timeout:g} s") from None
    finally:
        _kill_group(process)
        await _reap(process)
    if stdout is None:
        raise ExecPluginError(f"{shown} printed more than {limits.max_output_bytes} bytes; refused")
    if status != 0:
        raise ExecPluginError(f"{shown} exited with status {status}: {_tail(stderr or b'')}")
    return parse_exec_credential(stdout, config, shown)


def parse_exec_credential(output: bytes, config: ExecConfig, shown: str) -> ExecCredential:
    """The token of an ``ExecCredential`` document, checked as kubectl checks it."""
    try:
        document = orjson.loads(output)
    except orjson.JSONDecodeError:
        raise ExecPluginError(f"{shown} printed no ExecCredential JSON on stdout") from None
    if not isinstance(document, dict) or document.get("kind") != "ExecCredential":
        raise ExecPluginError(f"{shown} printed JSON that is not an ExecCredential")
    if document.get("apiVersion") != config.api_version:
        raise ExecPluginError(
            f"{shown} is configured for {config.api_version} but answered "
            f"{str(document.get('apiVersion'))[:80]!r}"
        )
    status = document.get("status")
    if not isinstance(status, dict):
        raise ExecPluginError(f"{shown} answered an ExecCredential without status")
    token = status.get("token")
    if not isinstance(token, str) or not token:
        what = "a client certificate" if status.get("clientCertificateData") else "no token"
        raise ExecPluginError(f"{shown} gave {what}; Tether takes bearer tokens from plugins")
    return ExecCredential(token, _expiry(status.get("expirationTimestamp"), shown))


def _expiry(value: Any, shown: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ExecPluginError(
            f"{shown} gave an expirationTimestamp that is not RFC 3339: {str(value)[:40]!r}"
        ) from None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


class ExecAuth(httpx2.Auth):
    """httpx auth that sends the plugin's token, running the plugin again when it expired or
    the server refused it. One per client; concurrent requests share a run."""

    def __init__(self, config: ExecConfig, where: str, limits: ExecLimits | None = None) -> None:
        self.config = config
        self.where = where
        self.limits = limits or ExecLimits()
        self.runs = 0
        self._credential: ExecCredential | None = None
        self._lock = asyncio.Lock()

    async def token(self, refused: str | None = None) -> str:
        """A valid token; ``refused`` is one the server answered 401 to (run again unless
        another request already did)."""
        async with self._lock:
            current = self._credential
            if current is None or current.expired() or current.token == refused:
                self.runs += 1
                current = await run_exec_plugin(self.config, self.where, self.limits)
                self._credential = current
            return current.token

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        token = await self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            token = await self.token(refused=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request

    def sync_auth_flow(
        self, request: httpx2.Request
    ) -> Generator[httpx2.Request, httpx2.Response, None]:
        raise ExecPluginError(f"exec plugin of {self.where}: only asynchronous clients run it")
