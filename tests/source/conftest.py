"""Real git servers on loopback for the source tests.

`git_server`: `git http-backend` behind HTTP Basic auth (tether.source.gitserver).
`ssh_server`: a throwaway `sshd` on a free port with its own host key and one client key; the
tests that use it are skipped, saying why, when no `sshd` binary is installed (Debian package
`openssh-server`).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tether.localcluster.testing import wait_until
from tether.source import MirrorCache, RepoCredentials
from tether.source.gitserver import GitHTTPServer

USER = "tether-bot"
PASSWORD = "s3cret-Passw0rd-xyz"
_names = itertools.count()


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` with a fixed identity and no user configuration; return stdout."""
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    completed = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {completed.stderr}")
    return completed.stdout.strip()


@dataclass
class Remote:
    """A bare repository served by the test server, and a working clone that pushes to it."""

    bare: Path
    work: Path
    url: str

    def write(self, path: str, content: str) -> None:
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)

    def commit(self, message: str, files: dict[str, str] | None = None) -> str:
        for path, content in (files or {}).items():
            self.write(path, content)
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.work, "rev-parse", "HEAD")

    def push(self, *refspecs: str, force: bool = False) -> None:
        git(self.work, "push", "-q", *(["--force"] if force else []), "origin", *refspecs)

    def commit_and_push(self, message: str, files: dict[str, str], branch: str = "main") -> str:
        sha = self.commit(message, files)
        self.push(f"HEAD:refs/heads/{branch}")
        return sha


def make_remote(root: Path, scratch: Path, url_for: str) -> Remote:
    name = f"repo{next(_names)}.git"
    bare = root / name
    git(root, "init", "-q", "--bare", "--initial-branch=main", name)
    work = scratch / name.removesuffix(".git")
    git(scratch, "clone", "-q", str(bare), str(work))
    git(work, "checkout", "-q", "-b", "main")
    return Remote(bare, work, url_for.format(name=name))


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHTTPServer]:
    root = tmp_path_factory.mktemp("served")
    with GitHTTPServer(root, (USER, PASSWORD)) as server:
        yield server


@pytest.fixture
def remote(git_server: GitHTTPServer, tmp_path: Path) -> Remote:
    """A fresh repository on the HTTP server, with one commit on `main`."""
    repo = make_remote(git_server.root, tmp_path, git_server.url("{name}"))
    repo.commit_and_push("initial", {"README.md": "hello\n"})
    return repo


@pytest.fixture
def credentials() -> RepoCredentials:
    return RepoCredentials(url="http://127.0.0.1/", username=USER, password=PASSWORD)


@pytest.fixture
def cache(tmp_path: Path) -> MirrorCache:
    return MirrorCache(tmp_path / "cache")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int, process: subprocess.Popen[bytes]) -> bool:
    """Whether sshd accepts connections on ``port``; an error if it has exited."""
    if process.poll() is not None:
        raise RuntimeError(f"sshd exited early: {process.stderr.read() if process.stderr else ''}")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class SSHServer:
    root: Path
    port: int
    user: str
    client_key: str
    known_hosts: Path

    def url(self, name: str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{self.root / name}"


def _sshd_binary() -> str | None:
    return shutil.which("sshd") or next(
        (p for p in ("/usr/sbin/sshd", "/usr/local/sbin/sshd") if os.access(p, os.X_OK)), None
    )


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    sshd = _sshd_binary()
    if sshd is None:
        # `make test` installs openssh-server; without it the SSH tests cannot prove anything
        pytest.fail(
            "sshd is not installed (Debian package openssh-server): run `make system-packages`"
        )
    base = tmp_path_factory.mktemp("sshd")
    root = base / "repos"
    root.mkdir()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "host")], check=True
    )
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "client")], check=True
    )
    (base / "authorized_keys").write_text((base / "client.pub").read_text())
    port = _free_port()
    config = base / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {base / 'host'}",
                f"AuthorizedKeysFile {base / 'authorized_keys'}",
                f"PidFile {base / 'sshd.pid'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "UsePAM no",
                "StrictModes no",
                "",
            ]
        )
    )
    if os.geteuid() == 0:
        # sshd running as root insists on its privilege separation directory.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    process = subprocess.Popen(
        [sshd, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_until(lambda: _listening(port, process), timeout=10, what=f"sshd on port {port}")
        host_key = (base / "host.pub").read_text().split()
        known_hosts = base / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")

        user = pwd.getpwuid(os.geteuid()).pw_name
        yield SSHServer(root, port, user, (base / "client").read_text(), known_hosts)
    finally:
        process.terminate()
        process.wait(timeout=10)
