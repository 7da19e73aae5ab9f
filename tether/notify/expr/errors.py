"""The one error of the expression language: text refused or malformed at compile time, or an
evaluation that failed."""

from __future__ import annotations

from tether.errors import TetherError


class ExprError(TetherError):
    """An expression that cannot be compiled (refused or malformed) or failed to evaluate."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message if column is None else f"{message} at column {column}")
        self.column = column
