"""Errors of the Git-host clients: each says what failed, on which host, and what to do.

No message, attribute or repr ever carries the token: text quoted from a host is scrubbed of it
and cut short before it is put in a message.
"""

from __future__ import annotations

from tether.errors import TetherError


class GitHostError(TetherError):
    """Base class of every error raised by `tether.githost`; ``host`` names the API (its
    scheme, host and port, never a credential), empty when no host was reached."""

    def __init__(self, message: str, host: str = "") -> None:
        super().__init__(message)
        self.host = host


class GitHostConfigError(GitHostError):
    """The provider cannot be told from the repository URL, is unknown, or the API URL is
    malformed: set the provider (github, gitlab, gitea) and, for a self-hosted server, its API
    URL."""


class GitHostUnreachableError(GitHostError):
    """The API could not be reached: DNS, refused connection, TLS, or a time limit."""


class GitHostAuthError(GitHostError):
    """The host refused the token (401), or the token may not do this (403)."""


class GitHostNotFoundError(GitHostError):
    """The repository, pull request or commit does not exist, or the token cannot see it (hosts
    answer 404 for private repositories the token has no access to)."""


class GitHostValidationError(GitHostError):
    """The host refused the request's content (422, or a 409 that is not an existing pull
    request): a missing branch, no commits between head and base, a bad state."""


class GitHostResponseError(GitHostError):
    """The host answered something its API does not document: not JSON, a missing field, a
    body over the size limit, a redirect, a server error (5xx)."""


class RateLimitedError(GitHostError):
    """The host is rate limiting this token. ``retry_at`` is when to try again (UTC epoch
    seconds), from GitHub's ``x-ratelimit-reset`` or a ``retry-after``; ``retry_after`` is the
    same as seconds from when the answer came."""

    def __init__(self, message: str, host: str, retry_at: float, retry_after: float) -> None:
        super().__init__(message, host)
        self.retry_at = retry_at
        self.retry_after = retry_after
