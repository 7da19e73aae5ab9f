"""The source stage: repositories mirrored, revisions resolved, trees read, changes detected.

Public surface; the modules behind it are `mirror`, `credentials`, `revisions`, `changes`,
`poller`, `webhooks`, `urls` and `errors`.
"""

from tether.source.changes import read_paths, touches
from tether.source.credentials import (
    RepoCredentials,
    credentials_from_secret,
    select_credentials,
)
from tether.source.errors import (
    AuthenticationError,
    CredentialsError,
    GitCommandError,
    GitError,
    HostKeyError,
    InvalidRepositoryURLError,
    InvalidSemverConstraintError,
    PathNotFoundError,
    RepositoryNotFoundError,
    RepositoryUnreachableError,
    RevisionError,
    RevisionNotFoundError,
    SourceError,
    WebhookError,
    WebhookNotConfiguredError,
    WebhookPayloadError,
    WebhookPayloadTooLargeError,
    WebhookSignatureError,
)
from tether.source.mirror import CommitTree, Mirror, MirrorCache, TreeEntry
from tether.source.poller import AppPoll, AppSource, PollResult, SourcePoller
from tether.source.revisions import (
    ResolvedRevision,
    SemverConstraint,
    Version,
    parse_constraint,
    resolve_revision,
)
from tether.source.urls import normalize_repo_url
from tether.source.webhooks import RefUpdate, WebhookEvent, WebhookSecrets, parse_webhook

__all__ = [
    "AppPoll",
    "AppSource",
    "AuthenticationError",
    "CommitTree",
    "CredentialsError",
    "GitCommandError",
    "GitError",
    "HostKeyError",
    "InvalidRepositoryURLError",
    "InvalidSemverConstraintError",
    "Mirror",
    "MirrorCache",
    "PathNotFoundError",
    "PollResult",
    "RefUpdate",
    "RepoCredentials",
    "RepositoryNotFoundError",
    "RepositoryUnreachableError",
    "ResolvedRevision",
    "RevisionError",
    "RevisionNotFoundError",
    "SemverConstraint",
    "SourceError",
    "SourcePoller",
    "TreeEntry",
    "Version",
    "WebhookError",
    "WebhookEvent",
    "WebhookNotConfiguredError",
    "WebhookPayloadError",
    "WebhookPayloadTooLargeError",
    "WebhookSecrets",
    "WebhookSignatureError",
    "credentials_from_secret",
    "normalize_repo_url",
    "parse_constraint",
    "parse_webhook",
    "read_paths",
    "resolve_revision",
    "select_credentials",
    "touches",
]
