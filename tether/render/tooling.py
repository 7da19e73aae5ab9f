"""Which kustomize and helm binaries render, and their versions (part of the cache key)."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import shutil
import subprocess
import threading

import orjson

from tether.errors import TetherError
from tether.render.errors import ToolFailedError
from tether.tools import find_tool

_lock = threading.Lock()
# (path, mtime_ns, size) -> version: an upgraded binary gets a new key, hence a new version
_versions: dict[tuple[str, int, int], str] = {}


def kustomize_argv() -> list[str]:
    """``kubectl kustomize`` (pinned or on PATH), else a standalone ``kustomize build``."""
    try:
        return [find_tool("kubectl"), "kustomize"]
    except TetherError:
        standalone = shutil.which("kustomize")
        if standalone:
            return [standalone, "build"]
        raise ToolFailedError(
            "neither kubectl nor kustomize found: run 'make tools' or put one on PATH"
        ) from None


def helm_binary() -> str:
    """The helm binary (pinned or on PATH)."""
    try:
        return find_tool("helm")
    except TetherError as exc:
        raise ToolFailedError(str(exc)) from None


def _ask_version(argv: list[str]) -> str:
    try:
        run = subprocess.run(argv, capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolFailedError(f"cannot get the version of {argv[0]}: {exc}") from None
    text = run.stdout.decode(errors="replace").strip()
    if argv[-1] == "json":
        info = orjson.loads(text)
        return f"kubectl {info['clientVersion']['gitVersion']} kustomize {info['kustomizeVersion']}"
    return text


def binary_version(path: str, version_argv: list[str]) -> str:
    """Version string of the binary at ``path``; asked once per binary file."""
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    cached = _versions.get(key)
    if cached is not None:
        return cached
    with _lock:
        cached = _versions.get(key)
        if cached is None:
            cached = _ask_version([path, *version_argv])
            _versions[key] = cached
    return cached


def kustomize_version() -> str:
    """Version of the kustomize that renders (kubectl's embedded one, or the standalone)."""
    argv = kustomize_argv()
    if argv[1] == "kustomize":
        return binary_version(argv[0], ["version", "--client", "-o", "json"])
    return binary_version(argv[0], ["version"])


def helm_version() -> str:
    """Version of the helm binary that renders."""
    return binary_version(helm_binary(), ["version", "--short"])


@functools.cache
def jsonnet_version() -> str:
    """Version of the gojsonnet library, from its package's metadata: Jsonnet evaluates in a
    worker process, and loading the library here would start a Go runtime in the controller
    (~6 MiB resident) only to read its version."""
    return "v" + importlib.metadata.version("gojsonnet")
