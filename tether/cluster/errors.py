"""Errors from talking to a Kubernetes API server, one class per thing that can go wrong.

Every error carries the server's ``metav1.Status`` message (what kubectl would print) and, for
validation failures, the per-field causes, so a caller can show the user exactly what the server
said without parsing strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tether.errors import TetherError


@dataclass(frozen=True)
class Cause:
    """One field-level cause from a Status (``details.causes[]``)."""

    reason: str
    message: str
    field: str


class ClusterError(TetherError):
    """A request to the Kubernetes API failed; ``code``/``reason`` are the server's Status fields."""

    def __init__(
        self,
        message: str,
        *,
        code: int = 0,
        reason: str = "",
        causes: tuple[Cause, ...] = (),
        retry_after: float | None = None,
        status: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.causes = causes
        self.retry_after = retry_after
        self.status = status or {}


class BadRequest(ClusterError):
    """400: the request was malformed (bad option, strict decoding error, bad selector)."""


class Unauthorized(ClusterError):
    """401: the credentials were missing, wrong or expired."""


class Forbidden(ClusterError):
    """403: the identity may not do this (RBAC, a terminating namespace, a protected namespace)."""


class NotFound(ClusterError):
    """404: the object, its namespace or its resource type does not exist."""


class Conflict(ClusterError):
    """409: an optimistic-concurrency or server-side-apply field conflict."""


class AlreadyExists(Conflict):
    """409 AlreadyExists: create of a name that is taken."""


class Expired(ClusterError):
    """410: a resourceVersion or continue token is older than the server's history."""


class Invalid(ClusterError):
    """422: the object failed validation; ``causes`` lists each field and why."""


class TooManyRequests(ClusterError):
    """429: the server throttled us (after our retries ran out)."""


class ServerError(ClusterError):
    """5xx: the server failed (after our retries ran out for idempotent requests)."""


class Unreachable(ClusterError):
    """The API server could not be reached or the connection broke (DNS, TLS, refused, timeout)."""


class UnknownKind(ClusterError):
    """Discovery does not know this apiVersion/kind (a missing CRD, a typo, a removed API)."""


class NotEstablished(ClusterError):
    """A CustomResourceDefinition did not reach ``Established=True`` in the time allowed."""


class CacheSyncError(ClusterError):
    """The live cache could not list one or more of the resource types it was asked to track."""


_BY_CODE: dict[int, type[ClusterError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Expired,
    422: Invalid,
    429: TooManyRequests,
}


def error_from_status(code: int, status: Any, fallback: str = "") -> ClusterError:
    """Build the matching :class:`ClusterError` from an HTTP code and a decoded Status body."""
    cls: type[ClusterError]
    if not isinstance(status, dict) or status.get("kind") != "Status":
        text = fallback.strip() or f"the server answered HTTP {code}"
        cls = _BY_CODE.get(code, ServerError if code >= 500 else ClusterError)
        return cls(text, code=code)
    code = int(status.get("code") or code)
    reason = str(status.get("reason") or "")
    details = status.get("details") or {}
    causes = tuple(
        Cause(str(c.get("reason", "")), str(c.get("message", "")), str(c.get("field", "")))
        for c in details.get("causes") or []
        if isinstance(c, dict)
    )
    retry_after = details.get("retryAfterSeconds")
    message = str(status.get("message") or reason or f"the server answered HTTP {code}")
    if reason == "AlreadyExists":
        cls = AlreadyExists
    elif reason == "Expired" or reason == "Gone":
        cls = Expired
    else:
        cls = _BY_CODE.get(code, ServerError if code >= 500 else ClusterError)
    return cls(
        message,
        code=code,
        reason=reason,
        causes=causes,
        retry_after=float(retry_after) if retry_after else None,
        status=status,
    )
