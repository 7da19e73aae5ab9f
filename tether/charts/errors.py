"""Errors of charts from Helm repositories and OCI registries: each says which repository or
chart, and what to do.

No message ever carries a password, a token or a private key: repository URLs are quoted
without user-info, and text quoted from a server is scrubbed of the credentials sent to it.
"""

from __future__ import annotations

from tether.errors import TetherError


class ChartError(TetherError):
    """Base class of every error raised by `tether.charts`."""


class InvalidChartSourceError(ChartError):
    """What the Application asks for cannot be used: a repoURL that is not http(s) (or embeds a
    password), a chart name that is not one, a targetRevision that is neither a version nor a
    semver range, credentials whose certificate or CA is not PEM."""


class ChartRepositoryError(ChartError):
    """A request to a Helm repository failed; `url` names the repository (without user-info)."""

    def __init__(self, message: str, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        #: the HTTP status the repository answered, when it answered
        self.status = status


class ChartRepositoryUnreachableError(ChartRepositoryError):
    """The repository could not be reached (DNS, refused connection, TLS, timeout) or answered
    that it is unavailable (429, 502, 503, 504): the next attempt may succeed."""


class ChartAuthError(ChartRepositoryError):
    """The repository refused the credentials (401/403), or asked for some and none are set."""


class ChartIndexError(ChartRepositoryError):
    """The repository has no `index.yaml`, or it is not a Helm repository index."""


class ChartLimitError(ChartError):
    """Something is larger than a bound of `ChartLimits`: the index, an archive (compressed or
    unpacked), a file in it, the number of files, dependencies or their nesting."""


class ChartNotFoundError(ChartError):
    """The repository's index has no chart of that name."""


class ChartVersionNotFoundError(ChartError):
    """No version of the chart matches the targetRevision (or a dependency's version)."""


class ChartDigestError(ChartError):
    """A downloaded archive does not have the sha256 digest the index gives it."""


class ChartArchiveError(ChartError):
    """A chart archive is malformed or unsafe to unpack: not a gzip-compressed tar, a path that
    is absolute or climbs out with `..`, a link, a device, a member twice, no Chart.yaml."""


class ChartDependencyError(ChartError):
    """A dependency of a chart cannot be put in place: an OCI or `@alias` repository, no
    repository at all, a malformed `dependencies` entry."""


class OciArtifactError(ChartError):
    """An OCI manifest or artifact cannot be used: not a manifest (an image index, another
    schema), no chart or content layer, several where one is expected, a layer media type that
    is not accepted, a digest that is not sha256."""
