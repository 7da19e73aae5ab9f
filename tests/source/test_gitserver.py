"""The loopback git server of tests and the demo: a chosen port, and pushes reported as they land."""

from __future__ import annotations

import errno
import socket
import threading
from pathlib import Path

import pytest

from tether.source.gitserver import GitHTTPServer
from tether.source.webhooks import RefUpdate

from .conftest import git


class Pushes:
    """An ``on_push`` listener that remembers what it heard."""

    def __init__(self) -> None:
        self.heard: list[tuple[Path, tuple[RefUpdate, ...]]] = []
        self.lock = threading.Lock()

    def __call__(self, repository: Path, refs: tuple[RefUpdate, ...]) -> None:
        with self.lock:
            self.heard.append((repository, refs))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The folder the server serves."""
    served = tmp_path / "served"
    served.mkdir()
    return served


def served_repository(root: Path, scratch: Path, server: GitHTTPServer) -> tuple[Path, Path]:
    """A bare repository under ``root`` and a working clone whose origin is its served URL."""
    bare = root / "shop.git"
    git(root, "init", "-q", "--bare", "--initial-branch=main", bare.name)
    work = scratch / "shop"
    git(scratch, "clone", "-q", server.url("shop.git"), str(work))
    git(work, "checkout", "-q", "-b", "main")
    return bare, work


def commit(work: Path, message: str) -> str:
    (work / "file.txt").write_text(message)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", message)
    return git(work, "rev-parse", "HEAD")


def test_a_push_is_reported_with_the_refs_it_moved(tmp_path: Path, root: Path) -> None:
    pushes = Pushes()
    with GitHTTPServer(root, on_push=pushes) as server:
        bare, work = served_repository(root, tmp_path, server)
        first = commit(work, "one")
        git(work, "push", "-q", "origin", "main")
        second = commit(work, "two")
        git(work, "tag", "v1")
        git(work, "push", "-q", "origin", "main", "v1")
        git(work, "push", "-q", "origin", ":v1")
    assert pushes.heard == [
        (bare.resolve(), (RefUpdate("refs/heads/main", None, first),)),
        (
            bare.resolve(),
            (
                RefUpdate("refs/heads/main", first, second),
                RefUpdate("refs/tags/v1", None, second),
            ),
        ),
        (bare.resolve(), (RefUpdate("refs/tags/v1", second, None),)),
    ]


def test_fetches_and_refused_pushes_are_not_reported(tmp_path: Path, root: Path) -> None:
    pushes = Pushes()
    with GitHTTPServer(root, on_push=pushes) as server:
        _, work = served_repository(root, tmp_path, server)
        commit(work, "one")
        git(work, "push", "-q", "origin", "main")
        other = tmp_path / "other"
        git(tmp_path, "clone", "-q", server.url("shop.git"), str(other))
        commit(other, "diverged")
        commit(work, "two")
        git(work, "push", "-q", "origin", "main")
        git(other, "fetch", "-q", "origin")
        with pytest.raises(AssertionError, match="rejected"):
            git(other, "push", "origin", "main")  # not a fast-forward: nothing moves
    assert len(pushes.heard) == 2, pushes.heard


def test_a_failing_listener_does_not_fail_the_push(tmp_path: Path, root: Path) -> None:
    def broken(repository: Path, refs: tuple[RefUpdate, ...]) -> None:
        raise RuntimeError("listener bug")

    with GitHTTPServer(root, on_push=broken) as server:
        bare, work = served_repository(root, tmp_path, server)
        sha = commit(work, "one")
        git(work, "push", "-q", "origin", "main")
    assert git(bare, "rev-parse", "main") == sha


def test_the_listener_can_be_set_after_the_start(tmp_path: Path, root: Path) -> None:
    pushes = Pushes()
    with GitHTTPServer(root) as server:
        _, work = served_repository(root, tmp_path, server)
        commit(work, "unheard")
        git(work, "push", "-q", "origin", "main")
        server.on_push = pushes
        sha = commit(work, "heard")
        git(work, "push", "-q", "origin", "main")
    assert [refs[0].after for _, refs in pushes.heard] == [sha]


def test_the_server_listens_on_the_port_it_is_given_and_refuses_one_in_use(
    tmp_path: Path,
) -> None:
    with GitHTTPServer(tmp_path) as first:
        with pytest.raises(OSError) as taken:
            GitHTTPServer(tmp_path, port=first.port)
        assert taken.value.errno == errno.EADDRINUSE
        port = first.port
    # the same port again once it is free: how the demo keeps its repository URL
    with GitHTTPServer(tmp_path, port=port) as again:
        assert again.port == port
        assert again.url("x.git") == f"http://127.0.0.1:{port}/x.git"
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
