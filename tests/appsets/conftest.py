"""Git trees for the generators: real commits on the loopback git server, read through a mirror
as the controller reads them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.source.conftest import PASSWORD, USER, make_remote
from tether.appsets.generators.context import ClusterInfo, Context, GitTree
from tether.source.credentials import RepoCredentials
from tether.source.gitserver import GitHTTPServer
from tether.source.mirror import MirrorCache

Repo = Callable[[dict[str, str]], tuple[str, Context]]


@pytest.fixture(scope="module")
def appset_git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitHTTPServer]:
    with GitHTTPServer(tmp_path_factory.mktemp("appset-git"), (USER, PASSWORD)) as server:
        yield server


@pytest.fixture
def repo(appset_git: GitHTTPServer, tmp_path: Path) -> Repo:
    """``repo(files)``: a repository holding ``files``; its URL and a Context reading it."""

    def make(files: dict[str, str], clusters: tuple[ClusterInfo, ...] = ()) -> tuple[str, Context]:
        remote = make_remote(appset_git.root, tmp_path, appset_git.url("{name}"))
        remote.commit_and_push("files", files)
        cache = MirrorCache(tmp_path / "cache")
        creds = RepoCredentials(url="http://127.0.0.1/", username=USER, password=PASSWORD)

        def tree(url: str, revision: str) -> GitTree:
            mirror = cache.mirror(url, creds)
            return mirror.tree(mirror.resolve(revision).commit)

        return remote.url, Context(tree, clusters)

    return make  # type: ignore[return-value]
