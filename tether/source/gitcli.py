"""Running the `git` CLI for network operations, and turning its failures into `GitError`s."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tether.source.credentials import GitEnvironment
from tether.source.errors import (
    AuthenticationError,
    GitCommandError,
    GitError,
    HostKeyError,
    RepositoryNotFoundError,
    RepositoryUnreachableError,
)
from tether.source.urls import scrub_text, scrub_url

DEFAULT_TIMEOUT = 120.0

# Patterns over git's English output (LC_ALL=C is set), most specific first.
_AUTH = re.compile(
    r"Authentication failed|could not read (Username|Password)|terminal prompts disabled|"
    r"returned error: 40[13]|HTTP Basic: Access denied|Permission denied \(publickey|"
    r"Invalid username or password",
    re.IGNORECASE,
)
_HOST_KEY = re.compile(
    r"Host key verification failed|host key .* (?:is not known|has changed)|"
    r"REMOTE HOST IDENTIFICATION HAS CHANGED",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(
    r"repository '.*' not found|does not appear to be a git repository|"
    r"returned error: 404|Repository not found|not a git repository",
    re.IGNORECASE,
)
_UNREACHABLE = re.compile(
    r"Could not resolve host|Connection refused|Failed to connect|Connection timed out|"
    r"Operation timed out|Network is unreachable|No route to host|SSL|certificate|"
    r"Could not read from remote repository|Connection reset|Connection closed|Empty reply",
    re.IGNORECASE,
)


def _tail(stderr: str, lines: int = 3) -> str:
    kept = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return " / ".join(kept[-lines:]) or "no output"


def classify_git_failure(url: str, stderr: str, secrets: Sequence[str]) -> GitError:
    """Map git's stderr to the `GitError` subclass a user can act on; secrets are scrubbed."""
    shown = scrub_url(url)
    detail = scrub_text(_tail(stderr), tuple(secrets))
    if _HOST_KEY.search(stderr):
        return HostKeyError(
            f"the SSH host key of {shown} is not trusted: add the host's key to the known hosts "
            f"(or mark the repository insecure to skip the check). git said: {detail}",
            url,
        )
    if _AUTH.search(stderr):
        return AuthenticationError(
            f"authentication to {shown} failed: check the username and password, token or SSH "
            "key in the repository Secret (argocd.argoproj.io/secret-type: repository or "
            f"repo-creds). git said: {detail}",
            url,
        )
    if _NOT_FOUND.search(stderr):
        return RepositoryNotFoundError(
            f"no git repository at {shown}: check the URL (and that the credentials may see "
            f"it). git said: {detail}",
            url,
        )
    if _UNREACHABLE.search(stderr):
        return RepositoryUnreachableError(
            f"cannot reach {shown}: check the host name, network and TLS settings. git said: "
            f"{detail}",
            url,
        )
    return GitCommandError(f"git failed for {shown}: {detail}", url)


def run_git(
    args: Sequence[str],
    url: str,
    environment: GitEnvironment,
    cwd: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """Run `git ARGS` and return its stdout; raise a classified `GitError` on failure.

    `url` is only used to name the repository in errors. Standard input is closed so that
    nothing can ever wait for a prompt.
    """
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=environment.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RepositoryUnreachableError(
            f"git gave no answer from {scrub_url(url)} within {timeout:g} s: check that the "
            "host is reachable",
            url,
        ) from None
    except FileNotFoundError:
        raise GitCommandError("the `git` program is not installed or not on PATH", url) from None
    if completed.returncode != 0:
        raise classify_git_failure(url, completed.stderr, environment.secrets)
    return completed.stdout
