"""What every step of the image build shares: its error and how it runs a command."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

#: lines of a failed command's output repeated in the error
LOG_TAIL_LINES = 20
#: a step running longer is stuck (a mirror that stopped answering): minutes, not hours
STEP_TIMEOUT = 1200.0


class ImageBuildError(Exception):
    """A step of the image build failed; the message says which and why."""


def _finish(process: subprocess.Popen[bytes], timeout: float) -> int | None:
    """Wait for ``process``; past ``timeout`` kill its whole process group (mmdebstrap's apt
    and dpkg too) and answer None."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return None
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def run(
    command: Sequence[str],
    log: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    what: str | None = None,
    timeout: float = STEP_TIMEOUT,
) -> None:
    """Run ``command`` with its output appended to ``log``; a failure names the step and ends
    with the last lines of the log, so no traceback is needed to see what went wrong."""
    step = what or command[0]
    with log.open("ab") as out:
        out.write(("$ " + " ".join(command) + "\n").encode())
        out.flush()
        try:
            process = subprocess.Popen(
                list(command),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise ImageBuildError(
                f"{command[0]} is not installed: run 'make image-packages'"
            ) from exc
        code = _finish(process, timeout)
    if code == 0:
        return
    lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    tail = "\n".join("  " + line for line in lines)
    why = f"did not finish in {timeout:g} s" if code is None else f"failed (exit {code})"
    raise ImageBuildError(f"{step} {why}; the end of {log}:\n{tail}")


def output_of(command: Sequence[str], cwd: Path | None = None) -> str:
    """Standard output of a short command (git queries), stripped; a failure is an error."""
    try:
        result = subprocess.run(list(command), capture_output=True, text=True, cwd=cwd)
    except FileNotFoundError as exc:
        raise ImageBuildError(f"{command[0]} is not installed") from exc
    if result.returncode != 0:
        raise ImageBuildError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    return result.stdout.strip()
