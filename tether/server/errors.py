"""Errors the API answers with: each carries its HTTP status and a message a user can act on."""

from __future__ import annotations

from tether.cluster.errors import ClusterError, Conflict, NotFound
from tether.errors import TetherError


class SettingsError(TetherError):
    """A server setting that cannot be used (the message names it); raised before listening."""


class ApiError(TetherError):
    """An answer other than success; rendered as ``{"error": message, "code": status}``."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class BadRequest(ApiError):
    status = 400


class Unauthenticated(ApiError):
    status = 401


class PermissionDenied(ApiError):
    status = 403


class NotFoundError(ApiError):
    status = 404


class ConflictError(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class TooManyRequests(ApiError):
    """Sign-in refused for a while after repeated failures."""

    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def cluster_error(exc: ClusterError) -> ApiError:
    """A cluster refusal of a write as an API answer (the cluster's message names the field)."""
    if isinstance(exc, NotFound):
        return NotFoundError(exc.message)
    if isinstance(exc, Conflict):
        return ConflictError(exc.message)
    if exc.code in (400, 422):
        return BadRequest(exc.message)
    return ApiError(f"the cluster refused the change: {exc.message}", 502)
