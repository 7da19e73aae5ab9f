"""SSH repositories against a throwaway sshd: key auth, known-hosts checking, insecure mode."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.source.conftest import SSHServer, make_remote
from tether.source import AuthenticationError, HostKeyError, MirrorCache, RepoCredentials


@pytest.fixture
def ssh_repo(ssh_server: SSHServer, tmp_path: Path) -> tuple[str, str]:
    repo = make_remote(ssh_server.root, tmp_path, ssh_server.url("{name}"))
    sha = repo.commit_and_push("initial", {"app/cm.yaml": "kind: ConfigMap\n"})
    return repo.url, sha


def test_ssh_key_with_known_host_clones(
    ssh_server: SSHServer, ssh_repo: tuple[str, str], tmp_path: Path
) -> None:
    url, sha = ssh_repo
    cache = MirrorCache(tmp_path / "cache", known_hosts_file=ssh_server.known_hosts)
    mirror = cache.mirror(url, RepoCredentials(url=url, ssh_private_key=ssh_server.client_key))

    resolved = mirror.resolve("main")

    assert resolved.commit == sha
    assert mirror.tree(sha).read_file("app/cm.yaml") == b"kind: ConfigMap\n"


def test_unknown_host_key_fails_clearly(
    ssh_server: SSHServer, ssh_repo: tuple[str, str], tmp_path: Path
) -> None:
    url, _ = ssh_repo
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    cache = MirrorCache(tmp_path / "cache", known_hosts_file=empty)
    mirror = cache.mirror(url, RepoCredentials(url=url, ssh_private_key=ssh_server.client_key))

    with pytest.raises(HostKeyError, match=r"host key .* is not trusted"):
        mirror.ls_remote()


def test_insecure_repository_skips_the_host_key_check(
    ssh_server: SSHServer, ssh_repo: tuple[str, str], tmp_path: Path
) -> None:
    url, sha = ssh_repo
    cache = MirrorCache(tmp_path / "cache")
    creds = RepoCredentials(url=url, ssh_private_key=ssh_server.client_key, insecure=True)

    assert cache.mirror(url, creds).ls_remote()["refs/heads/main"] == sha


def test_wrong_ssh_key_is_an_authentication_error_without_the_key(
    ssh_server: SSHServer, ssh_repo: tuple[str, str], tmp_path: Path
) -> None:
    url, _ = ssh_repo
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True
    )
    other = (tmp_path / "other").read_text()
    cache = MirrorCache(tmp_path / "cache", known_hosts_file=ssh_server.known_hosts)

    with pytest.raises(AuthenticationError) as caught:
        cache.mirror(url, RepoCredentials(url=url, ssh_private_key=other)).ls_remote()

    assert "PRIVATE KEY" not in str(caught.value)
