"""Errors of the render stage: each names the file (and line, where YAML gives one) at fault."""

from __future__ import annotations

from tether.errors import TetherError


class RenderError(TetherError):
    """A path could not be turned into Kubernetes objects; nothing was rendered.

    ``file`` is relative to the repository root when the fault lies in a file of the repository,
    ``line`` is 1-based when known.
    """

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        if file is not None:
            where = f"{file}:{line}" if line is not None else file
            message = f"{where}: {message}"
        super().__init__(message)
        self.file = file
        self.line = line


class UnsafeRepositoryError(RenderError):
    """The repository tries to reach outside itself (symlink, value file, library path, base)."""


class RenderLimitError(RenderError):
    """A render went past a bound: time, output size, file size or tree size."""


class RenderTimeoutError(RenderLimitError):
    """A rendering tool ran longer than the time limit and was killed."""


class ToolFailedError(RenderError):
    """kustomize, helm or jsonnet reported an error; its message is included."""
