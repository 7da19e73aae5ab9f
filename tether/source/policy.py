"""Which repositories the controller may read at all, whatever a project allows.

Local repositories (`file://` URLs and paths) read the controller's own file system with the
controller's rights: an Application pointed at the controller's mirror of another repository
would deploy that repository's content without its credentials. They are refused unless the
operator allows them (a demo, tests), and even then never inside the controller's own cache and
state folders.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from tether.source.errors import RepositoryNotAllowedError
from tether.source.urls import check_repo_url, is_local_repo_url, local_repo_path, scrub_url

ALLOW_LOCAL_HINT = "an operator may allow local repositories (RepoPolicy allow_local)"


@dataclass(frozen=True)
class RepoPolicy:
    """The operator's rules for repository locations.

    `allow_local` admits `file://` URLs and absolute paths; `forbidden_roots` are folders no
    local repository may be in (the mirror cache adds its own root).
    """

    allow_local: bool = False
    forbidden_roots: tuple[Path, ...] = ()

    def forbidding(self, *roots: Path) -> RepoPolicy:
        """This policy with `roots` added to the forbidden folders."""
        return replace(self, forbidden_roots=(*self.forbidden_roots, *roots))


def _real(path: str | Path) -> Path:
    # realpath resolves symlinks and `..` even for parts that do not exist yet.
    return Path(os.path.realpath(path))


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_repo_location(url: str, policy: RepoPolicy) -> str:
    """Return the checked `url` (see `check_repo_url`), or raise `RepositoryNotAllowedError`
    when `policy` forbids reading it: a local repository while local ones are not allowed, or
    one inside a forbidden folder (symlinks and `..` resolved on both sides first)."""
    url = check_repo_url(url)
    if not is_local_repo_url(url):
        return url
    if not policy.allow_local:
        raise RepositoryNotAllowedError(
            f"local repository {scrub_url(url)!r} refused: repositories on the controller's own "
            f"file system are not allowed; use an https or ssh URL ({ALLOW_LOCAL_HINT})"
        )
    path = _real(local_repo_path(url))
    for root in policy.forbidden_roots:
        if _inside(path, _real(root)):
            raise RepositoryNotAllowedError(
                f"local repository {scrub_url(url)!r} refused: it lies inside the controller's "
                "own cache or state folder"
            )
    return url
