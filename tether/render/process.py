"""Running a rendering tool as a bounded subprocess: time limit, output size limit, clean kill."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from tether.render.errors import RenderLimitError, RenderTimeoutError, ToolFailedError

# stderr is only for error messages: keep its head, which names the problem
_MAX_STDERR = 64 * 1024
# how the Go runtime (helm, kubectl, gojsonnet) and Python say an allocation failed
_OUT_OF_MEMORY = re.compile(r"out of memory|cannot allocate memory|MemoryError")


@dataclass(frozen=True)
class ToolRun:
    """What a tool printed: stdout in full, stderr as text."""

    stdout: bytes
    stderr: str


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def run_tool(
    argv: list[str],
    *,
    what: str,
    cwd: str,
    env: dict[str, str],
    timeout: float,
    max_output_bytes: int,
    stdin: bytes | None = None,
    hide_prefix: str = "",
    preexec_fn: Callable[[], None] | None = None,
    limits_note: str = "",
) -> ToolRun:
    """Run ``argv``; raise when it fails, runs past ``timeout`` or prints too much.

    The tool gets its own process group so a timeout also ends anything it started (git, helm
    plugins); ``what`` names the render in error messages. ``hide_prefix`` (the private copy's
    path) is cut from messages so they show paths as the user knows them. ``preexec_fn`` runs
    in the child before the tool (resource limits); ``limits_note`` describes the CPU and memory
    limits for the message when the tool dies of one.
    """
    deadline = time.monotonic() + timeout
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
    except OSError as exc:
        raise ToolFailedError(f"{what}: cannot start {argv[0]}: {exc.strerror}") from None
    assert proc.stdout is not None and proc.stderr is not None
    if stdin is not None:
        assert proc.stdin is not None
        # requests are small (a few KiB); writing before reading cannot deadlock on them
        proc.stdin.write(stdin)
        proc.stdin.close()
    out = bytearray()
    err = bytearray()
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        open_streams = 2
        while open_streams:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _kill_group(proc)
                raise RenderTimeoutError(
                    f"{what} timed out after {timeout:g} s (time limit); the tool was stopped"
                )
            for key, _ in sel.select(remaining):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                buf: bytearray = key.data
                if buf is err:
                    if len(err) < _MAX_STDERR:
                        err.extend(chunk)
                    continue
                buf.extend(chunk)
                if len(out) > max_output_bytes:
                    _kill_group(proc)
                    raise RenderLimitError(
                        f"{what} produced more than {max_output_bytes} bytes of output "
                        "(output size limit)"
                    )
    try:
        code = proc.wait(max(deadline - time.monotonic(), 0.01))
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise RenderTimeoutError(
            f"{what} timed out after {timeout:g} s (time limit); the tool was stopped"
        ) from None
    finally:
        proc.stdout.close()
        proc.stderr.close()
    stderr = err.decode(errors="replace").strip()
    if hide_prefix:
        stderr = stderr.replace(hide_prefix.rstrip("/") + "/", "")
    _check_resource_limits(code, stderr, what, limits_note)
    if code != 0:
        # helm's closing hint points at a flag the user cannot pass through Tether
        detail = stderr.replace("Use --debug flag to render out invalid YAML", "").strip()
        detail = detail or f"exit status {code}"
        raise ToolFailedError(f"{what} failed: {detail}")
    return ToolRun(stdout=bytes(out), stderr=stderr)


def _check_resource_limits(code: int, stderr: str, what: str, note: str) -> None:
    """A tool that died of its CPU or memory limit is a limit error, without its stack dump."""
    if code == 0:
        return
    if code in (-signal.SIGKILL, -signal.SIGXCPU):
        # nothing here sent it: RLIMIT_CPU ends a tool with SIGKILL (or the kernel's OOM killer)
        raise RenderLimitError(f"{what} was killed past its CPU time or memory limit ({note})")
    if _OUT_OF_MEMORY.search(stderr[:4096]):
        raise RenderLimitError(f"{what} ran out of memory: it went past its limit ({note})")
