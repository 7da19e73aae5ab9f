"""Running hostile input in a child process bounded in memory and time.

A regression in a crash case (a segfault, a memory blow-up, a freeze) then fails the test that
found it instead of taking pytest, or the machine, down with it.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GiB = 1024**3


def run_bounded(
    argv: list[str],
    *,
    memory_bytes: int = 2 * GiB,
    timeout: float = 120.0,
    stdin: bytes | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``argv`` with its address space limited (RLIMIT_AS) and a time limit; the test
    fails if the child does not finish in time."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        return subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            timeout=timeout,
            preexec_fn=limit,  # pytest's own process starts no threads that fork could trip on
            cwd=cwd or ROOT,
            env=env,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{argv[:3]} did not finish within {timeout} s")


def run_python(
    code: str, args: list[str] | None = None, **kwargs: object
) -> subprocess.CompletedProcess[bytes]:
    """``python -c code args...`` from the project root, bounded as :func:`run_bounded`."""
    return run_bounded([sys.executable, "-c", code, *(args or [])], **kwargs)  # type: ignore[arg-type]


def run_tether(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """The ``tether`` command of this checkout, bounded as :func:`run_bounded`."""
    code = "import sys; sys.argv[0] = 'tether'; from tether.cli.main import main; main()"
    return run_bounded([sys.executable, "-c", code, *args], **kwargs)  # type: ignore[arg-type]
