"""Repository URLs: validation, a canonical form for matching, and scrubbing for messages."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from tether.source.errors import InvalidRepositoryURLError

# Transports git may use for a repository. `ext::` and friends run commands, so they never pass.
ALLOWED_SCHEMES = frozenset({"https", "http", "ssh", "git", "file"})

_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^/:]+):(?P<path>(?!//).+)$")
_TRANSPORT_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")


# Ports a URL may leave out: the same server with or without them is the same repository.
DEFAULT_PORTS = {"https": "443", "http": "80", "ssh": "22", "git": "9418"}


def is_local_repo_url(url: str) -> bool:
    """True for what git reads from the local file system: `file://` URLs and paths.

    git takes anything that is neither `scheme://...` nor scp-like `host:path` (no slash before
    the first colon) as a path.
    """
    url = url.strip()
    if "://" in url:
        return url.split("://", 1)[0].lower() == "file"
    return _SCP_LIKE.match(url) is None


def local_repo_path(url: str) -> str:
    """The file-system path git reads for a local repository URL, as git decodes it.

    git percent-decodes `file://` URLs and ignores their host; a path is taken as it is.
    Raises `InvalidRepositoryURLError` for a `file://` URL naming a host other than
    `localhost`, and for a relative path (relative to what? the controller's working folder).
    """
    url = url.strip()
    if "://" in url:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise InvalidRepositoryURLError(
                f"repository URL {scrub_url(url)!r} names a host; a local repository URL is "
                "file:///absolute/path"
            )
        path = unquote(parts.path)
    else:
        path = url
    if not path.startswith("/"):
        raise InvalidRepositoryURLError(
            f"local repository {url!r} is not an absolute path; use file:///absolute/path"
        )
    return path


def check_repo_url(url: str) -> str:
    """Return `url` stripped of surrounding blanks, or raise if git must not be pointed at it.

    Credentials belong in a Secret: a URL carrying a password is refused so that it can never end
    up in a mirror's config, a process list or a log line. Local repositories (`file://` URLs and
    absolute paths) pass here; whether they are allowed is `RepoPolicy`'s decision.
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
        try:
            parts = urlsplit(url)
            password = parts.password
            hostname = parts.hostname
        except ValueError as error:
            raise InvalidRepositoryURLError(
                f"repository URL {scrub_url(url)!r} is malformed: {error}"
            ) from None
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise InvalidRepositoryURLError(
                f"repository URL scheme {scheme!r} is not supported; "
                f"use one of {', '.join(sorted(ALLOWED_SCHEMES))}"
            )
        if password is not None:
            raise InvalidRepositoryURLError(
                f"repository URL {scrub_url(url)} embeds a password; put the credentials in a "
                "repository Secret instead"
            )
        if scheme != "file" and not hostname:
            raise InvalidRepositoryURLError(f"repository URL {url!r} has no host")
        return url
    if _SCP_LIKE.match(url) or url.startswith("/"):
        return url
    raise InvalidRepositoryURLError(
        f"{url!r} is not a repository URL; use https://host/org/repo.git or git@host:org/repo.git"
    )


def normalize_repo_url(url: str) -> str:
    """Canonical `host/path` form so that https, ssh and `.git` spellings of one repository match.

    `https://GitHub.com/org/Repo.git/`, `git@github.com:org/Repo` and `ssh://git@github.com/org/Repo`
    all give `github.com/org/repo`. Ports are dropped because the same repository is commonly served
    on 443 and 22. Case is folded as the big forges are case-insensitive for repository paths.
    This loose form finds the repositories a webhook names; it must never grant access: project
    `sourceRepos` match on `repo_match_key`, which keeps scheme and port.
    """
    url = url.strip()
    if "://" in url:
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower()
        except ValueError:
            return url.lower().rstrip("/")
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


def _split_authority(authority: str) -> tuple[str, str, str]:
    """(user, host, port) of `user:password@host:port`; the password is dropped."""
    userinfo, _, hostport = authority.rpartition("@")
    user = userinfo.partition(":")[0]
    if hostport.startswith("[") and "]" in hostport:
        # An IPv6 literal keeps its brackets; a port may follow the closing one.
        end = hostport.index("]") + 1
        host, rest = hostport[:end], hostport[end:]
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = hostport.partition(":")
    return user, host.rstrip("."), port


def _clean_match_path(path: str) -> str:
    """Percent-decoded, dot segments resolved, empty segments and a `.git` suffix dropped.

    Dot segments are resolved the way HTTP clients and servers do, so that
    `team/%2e%2e/other/x` cannot pass for a repository under `team/`.
    """
    segments: list[str] = []
    for segment in unquote(path).split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    joined = "/".join(segments)
    return joined[: -len(".git")] if joined.endswith(".git") else joined


def repo_match_key(url: str) -> str:
    """The canonical form AppProject `sourceRepos` globs are matched against.

    As Argo CD's `git.NormalizeGitURL`: lowercase, scheme kept, scp-like `git@host:org/repo` is
    `ssh://git@host/org/repo`, no `.git` suffix nor trailing `/`, and an ssh user name stays
    (`git@host` and `admin@host` are different logins). Unlike Argo CD, default ports are elided
    (https 443, http 80, ssh 22, git 9418; others are kept), an http(s) user name and any
    password are dropped, a trailing dot of the host is dropped, and the path is percent-decoded
    with its `.` / `..` segments resolved. An absolute path is `file:///path`. Anything else
    (a pattern such as `*`) comes back lowercased and stripped, unchanged otherwise.
    Never raises.
    """
    text = url.strip().lower()
    scp = None if "://" in text else _SCP_LIKE.match(text)
    if "://" in text:
        scheme, rest = text.split("://", 1)
        authority, _, path = rest.partition("/")
    elif scp is not None:
        scheme, path = "ssh", scp.group("path")
        user = scp.group("user")
        authority = f"{user}@{scp.group('host')}" if user else scp.group("host")
    elif text.startswith("/"):
        scheme, authority, path = "file", "", text
    else:
        return text
    user, host, port = _split_authority(authority)
    if port == DEFAULT_PORTS.get(scheme):
        port = ""
    login = f"{user}@" if user and scheme == "ssh" else ""
    return f"{scheme}://{login}{host}{':' + port if port else ''}/{_clean_match_path(path)}"


def repo_pattern_key(pattern: str) -> str:
    """A `sourceRepos` entry (a glob, maybe `!`-negated) in the form `repo_match_key` gives URLs.

    The `!` stays in front and a lone `*` stays as it is (it allows every repository); the rest
    goes through `repo_match_key`, whose string handling leaves glob characters alone. Match the
    result against `repo_match_key(repoURL)` with `/` as the separator.
    """
    text = pattern.strip()
    deny = text.startswith("!")
    body = text[1:].strip() if deny else text
    key = body if body == "*" else repo_match_key(body)
    return f"!{key}" if deny else key


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
