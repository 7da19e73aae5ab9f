"""One exception hierarchy for Tether: every error a user can cause says what went wrong."""

from __future__ import annotations


class TetherError(Exception):
    """Base class of every error Tether raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
