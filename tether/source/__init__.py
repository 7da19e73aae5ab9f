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
    FileTooLargeError,
    GitCommandError,
    GitError,
    GitTimeoutError,
    HostKeyError,
    InvalidRepositoryURLError,
    InvalidSemverConstraintError,
    InvalidTreeError,
    PathNotFoundError,
    RepositoryNotAllowedError,
    RepositoryNotFoundError,
    RepositoryUnreachableError,
    RevisionError,
    RevisionNotFoundError,
    SourceError,
    TreeLimitError,
    TreeTooLargeError,
    WebhookError,
    WebhookNotConfiguredError,
    WebhookPayloadError,
    WebhookPayloadTooLargeError,
    WebhookSignatureError,
)
from tether.source.limits import GitTimeouts, TreeLimits
from tether.source.mirror import Mirror, MirrorCache
from tether.source.policy import RepoPolicy, check_repo_location
from tether.source.poller import AppPoll, AppSource, PollResult, SourcePoller
from tether.source.revisions import (
    ResolvedRevision,
    SemverConstraint,
    Version,
    parse_constraint,
    resolve_revision,
)
from tether.source.tree import CommitTree, TreeEntry
from tether.source.urls import normalize_repo_url, repo_match_key, repo_pattern_key
from tether.source.webhooks import RefUpdate, WebhookEvent, WebhookSecrets, parse_webhook

__all__ = [
    "AppPoll",
    "AppSource",
    "AuthenticationError",
    "CommitTree",
    "CredentialsError",
    "FileTooLargeError",
    "GitCommandError",
    "GitError",
    "GitTimeoutError",
    "GitTimeouts",
    "HostKeyError",
    "InvalidRepositoryURLError",
    "InvalidSemverConstraintError",
    "InvalidTreeError",
    "Mirror",
    "MirrorCache",
    "PathNotFoundError",
    "PollResult",
    "RefUpdate",
    "RepoCredentials",
    "RepoPolicy",
    "RepositoryNotAllowedError",
    "RepositoryNotFoundError",
    "RepositoryUnreachableError",
    "ResolvedRevision",
    "RevisionError",
    "RevisionNotFoundError",
    "SemverConstraint",
    "SourceError",
    "SourcePoller",
    "TreeEntry",
    "TreeLimitError",
    "TreeLimits",
    "TreeTooLargeError",
    "Version",
    "WebhookError",
    "WebhookEvent",
    "WebhookNotConfiguredError",
    "WebhookPayloadError",
    "WebhookPayloadTooLargeError",
    "WebhookSecrets",
    "WebhookSignatureError",
    "check_repo_location",
    "credentials_from_secret",
    "normalize_repo_url",
    "parse_constraint",
    "parse_webhook",
    "read_paths",
    "repo_match_key",
    "repo_pattern_key",
    "resolve_revision",
    "select_credentials",
    "touches",
]
