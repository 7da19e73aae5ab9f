"""Running the `git` CLI for network operations, and turning its failures into `GitError`s."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from tether.source.credentials import GitEnvironment
from tether.source.errors import (
    AuthenticationError,
    GitCommandError,
    GitError,
    GitTimeoutError,
    HostKeyError,
    RepositoryNotFoundError,
    RepositoryUnreachableError,
    TLSCertificateError,
)
from tether.source.trust import DEFAULT_KNOWN_HOSTS_ORIGIN, DEFAULT_TLS_ORIGIN, url_host
from tether.source.urls import scrub_text, scrub_url

DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_OUTPUT = 64 * 1024 * 1024
_CHUNK = 65536
_STDERR_TAIL = 65536
_ACTIONS = ("ls-remote", "fetch", "clone", "gc")

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
# libcurl (OpenSSL or GnuTLS builds) refusing the server's certificate chain.
_TLS_UNTRUSTED = re.compile(
    r"SSL certificate problem|certificate verification failed|server verification failed|"
    r"certificate signer not trusted|self.signed certificate|unable to get local issuer",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(
    r"repository '.*' not found|does not appear to be a git repository|"
    r"returned error: 404|Repository not found|not a git repository",
    re.IGNORECASE,
)
# A stall git or ssh detected itself (http.lowSpeedLimit/lowSpeedTime, ConnectTimeout).
_TIMED_OUT = re.compile(
    r"Operation too slow|Operation timed out|Connection timed out|Timeout was reached|"
    r"timed out during banner exchange|Timeout, server .* not responding",
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


def _ssh_host(url: str) -> str:
    """The host of an SSH URL as known_hosts names it: `host`, or `[host]:port` off port 22."""
    if "://" not in url:
        return url.split("@", 1)[-1].split(":", 1)[0]  # scp-like user@host:path
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"[{host}]:{port}" if port not in (None, 22) else host


def classify_git_failure(
    url: str,
    stderr: str,
    secrets: Sequence[str],
    known_hosts_origin: str = DEFAULT_KNOWN_HOSTS_ORIGIN,
    tls_origin: str = DEFAULT_TLS_ORIGIN,
) -> GitError:
    """Map git's stderr to the `GitError` subclass a user can act on; secrets are scrubbed.

    The origins name where the operator configures trusted host keys and CAs."""
    shown = scrub_url(url)
    detail = scrub_text(_tail(stderr), tuple(secrets))
    if _HOST_KEY.search(stderr):
        return HostKeyError(
            f"the SSH host key of {_ssh_host(url)} ({shown}) is not trusted: add the host's "
            f"public key to {known_hosts_origin} (`ssh-keyscan` prints it), or set insecure: "
            f'"true" in the repository Secret to skip the check. git said: {detail}',
            url,
        )
    if _TLS_UNTRUSTED.search(stderr):
        host = url_host(url) or shown
        return TLSCertificateError(
            f"the TLS certificate of {host} ({shown}) is not trusted: add the PEM certificate "
            f'of its CA under the key {host!r} of {tls_origin}, or set insecure: "true" in '
            f"the repository Secret to skip the check. git said: {detail}",
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
    if stalled := _TIMED_OUT.search(stderr):
        # ssh's own line is not among git's last ones: quote the line that says what stalled.
        line = next(line for line in stderr.splitlines() if stalled.group(0) in line)
        return GitTimeoutError(
            f"the connection to {shown} timed out (the server stopped answering): check that "
            "the URL names a git server and that it is reachable. git said: "
            f"{scrub_text(line.strip(), tuple(secrets))}",
            url,
        )
    if _UNREACHABLE.search(stderr):
        return RepositoryUnreachableError(
            f"cannot reach {shown}: check the host name, network and TLS settings. git said: "
            f"{detail}",
            url,
        )
    return GitCommandError(f"git failed for {shown}: {detail}", url)


class _TimedOut(Exception):
    pass


class _TooMuchOutput(Exception):
    pass


def _collect(process: subprocess.Popen[bytes], timeout: float, max_output: int) -> tuple[str, str]:
    """Read stdout and stderr until git exits, within `timeout` seconds and `max_output` bytes.

    stderr keeps only its tail: it is quoted in errors, never needed whole.
    """
    deadline = time.monotonic() + timeout
    out, err = bytearray(), bytearray()
    assert process.stdout is not None and process.stderr is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, out)
        selector.register(process.stderr, selectors.EVENT_READ, err)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _TimedOut
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer: bytearray = key.data
                buffer.extend(chunk)
                if len(out) > max_output:
                    raise _TooMuchOutput
                del err[:-_STDERR_TAIL]
    try:
        process.wait(max(deadline - time.monotonic(), 0.001))
    except subprocess.TimeoutExpired:
        raise _TimedOut from None
    return out.decode(errors="replace"), err.decode(errors="replace")


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    # git runs its transports (git-remote-https, ssh) as children: killing git alone would
    # leave them holding the connection.
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def run_git(
    args: Sequence[str],
    url: str,
    environment: GitEnvironment,
    cwd: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_output: int = DEFAULT_MAX_OUTPUT,
) -> str:
    """Run `git ARGS` and return its stdout; raise a classified `GitError` on failure.

    `url` is only used to name the repository in errors. Standard input is closed so that
    nothing can ever wait for a prompt. git runs in its own process group, killed whole when
    it outlives `timeout` seconds (`GitTimeoutError`) or prints more than `max_output` bytes.
    """
    shown = scrub_url(url)
    action = next((a for a in args if a in _ACTIONS), "command")
    try:
        process = subprocess.Popen(
            ["git", *args],
            cwd=cwd,
            env=environment.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise GitCommandError("the `git` program is not installed or not on PATH", url) from None
    with process:
        try:
            stdout, stderr = _collect(process, timeout, max_output)
        except _TimedOut:
            raise GitTimeoutError(
                f"git {action} of {shown} timed out after {timeout:g} s without a complete "
                "answer: check that the URL names a git server and that it is reachable",
                url,
            ) from None
        except _TooMuchOutput:
            raise GitCommandError(
                f"git {action} of {shown} printed more than {max_output} bytes; refused "
                "(does the server advertise endless refs?)",
                url,
            ) from None
        finally:
            _kill_group(process)
    if process.returncode != 0:
        raise classify_git_failure(
            url,
            stderr,
            environment.secrets,
            environment.known_hosts_origin,
            environment.tls_origin,
        )
    return stdout
