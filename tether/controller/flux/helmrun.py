"""The pinned helm binary run against the cluster for one HelmRelease action.

Releases are real Helm releases (``helm ls``, ``helm history`` and ``helm rollback`` agree
with Tether) because Helm itself makes them. Each run gets the controller's credentials in a
private kubeconfig (mode 0600, written once per process from the client's own config),
``--kube-as-user system:serviceaccount:<ns>:<sa>`` when the HelmRelease names a service
account (the chart's ``lookup`` calls then run as that account too), a private helm home, no
repository configuration (the chart is already unpacked with its dependencies) and bounds:
its timeout plus a margin, the render limits' CPU time and memory (``prlimit``), 1 MiB of output
kept, the whole process group killed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
import yaml
from lightkube.config.kubeconfig import SingleConfig

from tether.render.models import DEFAULT_LIMITS
from tether.render.sandbox import limits_prefix
from tether.tools import find_tool

#: output kept of one run (stdout and stderr each)
MAX_OUTPUT = 1024 * 1024
#: seconds a run may take past the action's own timeout before it is killed
MARGIN = 30.0
#: the part of helm's error shown in a condition
MAX_ERROR = 2000


class HelmFailed(Exception):
    """helm said no; ``message`` is its error without helm's hints."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.output = output


POST_RENDERER = "tether-postrender"


def _write_plugin(folder: Path) -> None:
    """Helm 4's post-renderers are plugins: Tether's runs ``python -m tether.flux.postrender``
    with this interpreter."""
    folder.mkdir(parents=True, exist_ok=True)
    plugin = {
        "apiVersion": "v1",
        "type": "postrenderer/v1",
        "name": POST_RENDERER,
        "version": "0.1.0",
        "runtime": "subprocess",
        "runtimeConfig": {"platformCommand": [
            {"command": sys.executable, "args": ["-m", "tether.flux.postrender"]}]},
    }  # fmt: skip
    (folder / "plugin.yaml").write_text(yaml.safe_dump(plugin))


def kubeconfig_for(config: SingleConfig) -> dict[str, Any]:
    """A kubeconfig with the one context of ``config`` (relative files made absolute)."""
    cluster = msgspec.to_builtins(config.cluster)
    if cluster.get("certificate-authority"):
        cluster["certificate-authority"] = str(config.abs_file(cluster["certificate-authority"]))
    user = msgspec.to_builtins(config.user) if config.user is not None else {}
    for key in ("client-certificate", "client-key", "tokenFile"):
        if user.get(key):
            user[key] = str(config.abs_file(user[key]))
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cluster", "cluster": cluster}],
        "users": [{"name": "user", "user": user}],
        "contexts": [{"name": "tether", "context": {"cluster": "cluster", "user": "user"}}],
        "current-context": "tether",
    }


class HelmRunner:
    """Runs helm for the Flux part; one per controller process."""

    def __init__(self, config: SingleConfig, work: Path) -> None:
        self.config = config
        self.work = work
        self._kubeconfig: Path | None = None
        self.runs = 0

    def _prepare(self) -> Path:
        if self._kubeconfig is None:
            self.work.mkdir(parents=True, exist_ok=True, mode=0o700)
            _write_plugin(self.work / "plugins" / POST_RENDERER)
            fd, name = tempfile.mkstemp(prefix="kubeconfig-", dir=self.work)
            with os.fdopen(fd, "w") as handle:
                yaml.safe_dump(kubeconfig_for(self.config), handle)
            self._kubeconfig = Path(name)
        return self._kubeconfig

    def _write_json(self, values: Any) -> Path:
        self._prepare()
        fd, name = tempfile.mkstemp(prefix="values-", suffix=".json", dir=self.work)
        with os.fdopen(fd, "w") as handle:
            json.dump(values, handle)
        return Path(name)

    @contextlib.asynccontextmanager
    async def json_file(self, values: Any) -> AsyncIterator[Path]:
        """A private file (0600) holding ``values`` as JSON (helm reads values as YAML, with no
        YAML typing surprises), removed afterwards: values from Secrets are in it."""
        path = await asyncio.to_thread(self._write_json, values)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(path.unlink)

    def _env(self) -> dict[str, str]:
        home = self.work / "home"
        # the only plugin helm finds is Tether's post-renderer
        env = {
            "HOME": str(home),
            "PATH": "/usr/bin:/bin",
            "HELM_PLUGINS": str(self.work / "plugins"),
        }
        for part in ("CACHE", "CONFIG", "DATA"):
            env[f"HELM_{part}_HOME"] = str(home / part.lower())
        return env

    async def run(
        self,
        args: Sequence[str],
        *,
        user: str | None,
        timeout: float,
        cwd: Path | None = None,
        kubeconfig: Mapping[str, Any] | None = None,
    ) -> str:
        """helm's stdout; :class:`HelmFailed` when it fails or runs past ``timeout`` + margin.
        ``kubeconfig``: another cluster's (a HelmRelease's ``kubeConfig``), written privately
        for this run; else the controller's own."""
        own = await asyncio.to_thread(self._prepare)
        if kubeconfig is None:
            return await self._run(args, user, timeout, cwd, own)
        async with self.json_file(kubeconfig) as path:
            return await self._run(args, user, timeout, cwd, path)

    async def _run(
        self,
        args: Sequence[str],
        user: str | None,
        timeout: float,
        cwd: Path | None,
        kubeconfig: Path,
    ) -> str:
        # a chart is hostile input: its render gets the render limits' CPU time and memory
        argv = [*limits_prefix(DEFAULT_LIMITS), find_tool("helm"), *args,
                "--kubeconfig", str(kubeconfig)]  # fmt: skip
        if user:
            argv += ["--kube-as-user", user]
        self.runs += 1
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=str(cwd or self.work),
            env=self._env(),
            start_new_session=True,
        )
        try:
            out, err = await _collect(proc, timeout + MARGIN)
        finally:
            _kill(proc)
        if proc.returncode != 0:
            raise HelmFailed(_error_of(err, proc.returncode), out)
        return out


async def _collect(proc: asyncio.subprocess.Process, limit: float) -> tuple[str, str]:
    try:
        out, err, _ = await asyncio.wait_for(
            asyncio.gather(_bounded(proc.stdout), _bounded(proc.stderr), proc.wait()), limit
        )
    except TimeoutError:
        raise HelmFailed(f"helm ran past {limit:g} s and was stopped") from None
    return out, err


async def _bounded(stream: asyncio.StreamReader | None) -> str:
    """Read to the end, keeping the first :data:`MAX_OUTPUT` bytes."""
    if stream is None:
        return ""
    kept = bytearray()
    while chunk := await stream.read(1 << 16):
        if len(kept) < MAX_OUTPUT:
            kept.extend(chunk[: MAX_OUTPUT - len(kept)])
    return kept.decode(errors="replace")


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _error_of(stderr: str, code: int | None) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("Error: ") for line in lines if line.startswith("Error:")]
    text = "; ".join(errors) if errors else (lines[-1] if lines else f"exit status {code}")
    return text[:MAX_ERROR]
