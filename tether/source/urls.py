"""Repository URLs: validation, a canonical form for matching, and scrubbing for messages."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tether.source.errors import InvalidRepositoryURLError

# Transports git may use for a repository. `ext::` and friends run commands, so they never pass.
ALLOWED_SCHEMES = frozenset({"https", "http", "ssh", "git", "file"})

_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^/:]+):(?P<path>(?!//).+)$")
_TRANSPORT_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


def check_repo_url(url: str) -> str:
    """Return `url` stripped of surrounding blanks, or raise if git must not be pointed at it.

    Credentials belong in a Secret: a URL carrying a password is refused so that it can never end
    up in a mirror's config, a process list or a log line.
    """
    url = url.strip()
    if not url:
        raise InvalidRepositoryURLError("the repository URL is empty")
    if url.startswith("-"):
        # git would read it as an option (e.g. --upload-pack=COMMAND).
        raise InvalidRepositoryURLError(f"repository URL {url!r} may not start with '-'")
    if _TRANSPORT_HELPER.match(url):
        raise InvalidRepositoryURLError(
            f"repository URL {scrub_url(url)!r} uses git's transport-helper syntax (name::...), "
            "which is not supported"
        )
    if "://" in url:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise InvalidRepositoryURLError(
                f"repository URL scheme {scheme!r} is not supported; "
                f"use one of {', '.join(sorted(ALLOWED_SCHEMES))}"
            )
        if parts.password is not None:
            raise InvalidRepositoryURLError(
                f"repository URL {scrub_url(url)} embeds a password; put the credentials in a "
                "repository Secret instead"
            )
        if scheme != "file" and not parts.hostname:
            raise InvalidRepositoryURLError(f"repository URL {url!r} has no host")
        return url
    if _SCP_LIKE.match(url):
        return url
    raise InvalidRepositoryURLError(
        f"{url!r} is not a repository URL; use https://host/org/repo.git or git@host:org/repo.git"
    )


def normalize_repo_url(url: str) -> str:
    """Canonical `host/path` form so that https, ssh and `.git` spellings of one repository match.

    `https://GitHub.com/org/Repo.git/`, `git@github.com:org/Repo` and `ssh://git@github.com/org/Repo`
    all give `github.com/org/repo`. Ports are dropped because the same repository is commonly served
    on 443 and 22. Case is folded as the big forges are case-insensitive for repository paths.
    """
    url = url.strip()
    if "://" in url:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        path = parts.path
        if parts.scheme.lower() == "file":
            host = ""
    else:
        match = _SCP_LIKE.match(url)
        if match is None:
            return url.lower().rstrip("/")
        host = match.group("host").lower()
        path = match.group("path")
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")]
    path = path.rstrip("/")
    return f"{host}/{path}".lower()


def scrub_url(url: str) -> str:
    """`url` with any user-info (user and password) removed, for messages."""
    return _USERINFO.sub(r"\g<scheme>", url)


def scrub_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove URL user-info and every given secret string from `text`."""
    cleaned = _USERINFO.sub(r"\g<scheme>", text)
    for secret in secrets:
        if secret:
            cleaned = cleaned.replace(secret, "***")
    return cleaned
