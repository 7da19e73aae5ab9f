"""The one error of the template package: where in which template, and what went wrong."""

from __future__ import annotations

from tether.errors import TetherError


class TemplateError(TetherError):
    """A template that does not parse, or fails while executing, or passes a limit.

    The message follows Go's ``text/template`` ("template: NAME:LINE: ..." when parsing,
    "template: NAME:LINE:COL: executing ..." when executing); ``line`` and ``column`` are
    1-based, 0 when the error has no place (a limit on the whole template).
    """

    def __init__(self, message: str, *, name: str = "", line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.name = name
        self.line = line
        self.column = column


class TemplateLimitError(TemplateError):
    """A template or its execution passed one of the bounds of :class:`TemplateLimits`."""
