"""Local repositories (`file://`, paths): refused by default, and never the controller's own
folders even when an operator allows them."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.source.conftest import Remote, git
from tether.source import (
    AppSource,
    GitError,
    InvalidRepositoryURLError,
    MirrorCache,
    RepoCredentials,
    RepoPolicy,
    RepositoryNotAllowedError,
    SourcePoller,
    check_repo_location,
)
from tether.source.credentials import git_environment
from tether.source.gitcli import run_git

LOCAL = RepoPolicy(allow_local=True)


@pytest.mark.parametrize("url", ["file:///srv/git/repo.git", "/srv/git/repo.git"])
def test_local_repositories_are_refused_by_default(url: str, tmp_path: Path) -> None:
    cache = MirrorCache(tmp_path / "cache")
    poller = SourcePoller(cache)

    with pytest.raises(RepositoryNotAllowedError, match="not allowed") as caught:
        poller.register(AppSource("app", url))
    with pytest.raises(RepositoryNotAllowedError):
        cache.mirror(url)

    assert "allow_local" in str(caught.value)
    poller.close()


def test_allowed_local_repository_is_polled(remote: Remote, tmp_path: Path) -> None:
    poller = SourcePoller(MirrorCache(tmp_path / "cache", policy=LOCAL))
    poller.register(AppSource("app", remote.bare.as_uri(), "main"))
    poller.register(AppSource("path", str(remote.bare), "main"))

    result = poller.poll()

    assert result.errors == {}
    tip = git(remote.bare, "rev-parse", "main")
    assert result.apps["app"].commit == result.apps["path"].commit == tip
    poller.close()


def test_mirror_of_another_repository_is_refused_even_when_local_is_allowed(
    remote: Remote, credentials: RepoCredentials, tmp_path: Path
) -> None:
    """The attack of the issue: an app pointed at the controller's mirror of a private
    repository would deploy it without its credentials."""
    cache = MirrorCache(tmp_path / "cache", policy=LOCAL)
    private = cache.mirror(remote.url, credentials)
    private.fetch()
    poller = SourcePoller(cache)
    outside = tmp_path / "innocent"
    outside.symlink_to(private.path)
    spellings = [
        private.path.as_uri(),
        str(private.path),
        outside.as_uri(),  # a symlink from elsewhere into the cache
        f"file://{tmp_path}/elsewhere/../cache/{private.path.name}",
        "file://" + quote(str(private.path)).replace("cache", "%63ache"),  # git decodes it
        f"file://localhost{private.path}",
    ]

    for url in spellings:
        with pytest.raises(RepositoryNotAllowedError, match="cache or state folder"):
            poller.register(AppSource("thief", url))
    poller.close()


def test_operator_roots_are_refused_too(remote: Remote, tmp_path: Path) -> None:
    state = remote.bare.parent
    policy = RepoPolicy(allow_local=True, forbidden_roots=(state,))

    with pytest.raises(RepositoryNotAllowedError, match="cache or state folder"):
        check_repo_location(remote.bare.as_uri(), policy)
    assert check_repo_location("https://git.example.com/org/r.git", policy)


@pytest.mark.parametrize(
    "url", ["file://otherhost/srv/repo.git", "relative/repo.git", "./repo.git"]
)
def test_local_urls_git_would_read_oddly_are_refused(url: str) -> None:
    with pytest.raises(InvalidRepositoryURLError):
        check_repo_location(url, LOCAL)


def test_git_itself_refuses_the_file_transport_unless_allowed(remote: Remote) -> None:
    url = remote.bare.as_uri()
    with (
        git_environment(url, None, None) as environment,
        pytest.raises(GitError, match="transport 'file' not allowed"),
    ):
        run_git(["ls-remote", url], url, environment)
    with git_environment(url, None, None, allow_file=True) as environment:
        assert "refs/heads/main" in run_git(["ls-remote", url], url, environment)
