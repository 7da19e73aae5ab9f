"""Errors of the source stage: each says what failed, for which repository, and what to do.

No message ever carries a credential: git's own output is scrubbed before it is quoted.
"""

from __future__ import annotations

from tether.errors import TetherError


class SourceError(TetherError):
    """Base class of every error raised by `tether.source`."""


class InvalidRepositoryURLError(SourceError):
    """The repository URL is malformed, uses a forbidden scheme, or embeds a password."""


class RepositoryNotAllowedError(InvalidRepositoryURLError):
    """The repository is local (`file://` or a path) and the operator did not allow local ones,
    or it lies inside one of the controller's own cache or state folders."""


class GitError(SourceError):
    """A git operation against a repository failed; `url` names the repository."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class AuthenticationError(GitError):
    """The server refused the credentials (or none were configured)."""


class HostKeyError(GitError):
    """The SSH host key is unknown or does not match the known hosts."""


class RepositoryUnreachableError(GitError):
    """The server could not be reached: DNS, refused connection, TLS or timeout."""


class TLSCertificateError(RepositoryUnreachableError):
    """The server's TLS certificate is not signed by a CA trusted for that host."""


class GitTimeoutError(RepositoryUnreachableError):
    """A git network operation took longer than its time limit, or the transfer stalled."""


class RepositoryNotFoundError(GitError):
    """The server answered but has no repository at that URL."""


class GitCommandError(GitError):
    """git failed in a way Tether does not classify; the message quotes git's (scrubbed) output."""


class RevisionError(SourceError):
    """A target revision could not be resolved to a commit."""


class RevisionNotFoundError(RevisionError):
    """No branch, tag, commit or matching semver tag exists for the target revision."""


class InvalidSemverConstraintError(RevisionError):
    """A semver constraint could not be parsed."""


class PathNotFoundError(SourceError):
    """A path does not exist in the tree of a commit."""


class TreeLimitError(SourceError):
    """A tree exceeds a size limit; checked from object headers, before any content is read."""


class FileTooLargeError(TreeLimitError):
    """One file is larger than the per-file limit; `path` names it."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class TreeTooLargeError(TreeLimitError):
    """The files under a path add up to more than the total limit, or are too many or too deep."""


class InvalidTreeError(SourceError):
    """A tree holds an entry no checkout could contain (a name such as `..`, a bad symlink)."""


class TrustConfigError(SourceError):
    """The known hosts or TLS certificates configured for repositories are over their limits."""


class CredentialsError(SourceError):
    """A repository Secret is malformed (bad base64, missing url, ...)."""


class WebhookError(SourceError):
    """A webhook request was rejected; the server answers with `status` (an HTTP status code)."""

    status = 400


class WebhookSignatureError(WebhookError):
    """The signature or token of a webhook is missing or wrong."""

    status = 401


class WebhookNotConfiguredError(WebhookError):
    """A webhook arrived from a provider that has no secret configured, so it cannot be trusted."""

    status = 403

    def __init__(self, message: str, provider: str = "") -> None:
        super().__init__(message)
        #: the provider whose secret is missing (github, gitlab, bitbucket, ...)
        self.provider = provider


class WebhookPayloadTooLargeError(WebhookError):
    """The webhook body exceeds the size limit."""

    status = 413


class WebhookPayloadError(WebhookError):
    """The webhook body is not the JSON the provider's event should carry."""
