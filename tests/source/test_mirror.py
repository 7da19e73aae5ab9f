"""Mirrors against a real git http-backend behind Basic auth: clone, poll, fetch, revisions."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.source.conftest import PASSWORD, USER, Remote, git
from tether.source import (
    AppSource,
    AuthenticationError,
    CredentialsError,
    MirrorCache,
    RepoCredentials,
    RepositoryNotFoundError,
    RepositoryUnreachableError,
    RevisionNotFoundError,
    SourcePoller,
    credentials_from_secret,
)
from tether.source.gitserver import GitHTTPServer


def test_clone_reads_file_and_tree_at_commit(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    sha = remote.commit_and_push("add app", {"apps/a/deploy.yaml": "kind: Deployment\n"})
    mirror = cache.mirror(remote.url, credentials)

    resolved = mirror.resolve("main")

    assert resolved.commit == sha
    assert mirror.fetches == 1
    tree = mirror.tree(sha)
    assert tree.read_file("apps/a/deploy.yaml") == b"kind: Deployment\n"
    assert [e.name for e in tree.list_dir("apps")] == ["a"]
    assert tree.kind("apps/a") == "dir"
    assert tree.kind("missing") is None


def test_changed_paths_lists_files_between_two_commits(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    first = remote.commit_and_push("one", {"a/x.yaml": "1", "b/y.yaml": "1"})
    second = remote.commit_and_push("two", {"a/x.yaml": "2"})
    mirror = cache.mirror(remote.url, credentials)
    mirror.fetch()

    assert mirror.changed_paths(first, second) == {"a/x.yaml"}


def test_commit_info_gives_author_date_and_subject(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    sha = remote.commit_and_push("Bump payment to 1.5.0\n\nlong body\n", {"a.yaml": "1"})
    mirror = cache.mirror(remote.url, credentials)
    mirror.fetch()
    info = mirror.commit_info(sha)
    assert info is not None
    assert info.subject == "Bump payment to 1.5.0"
    author = git(remote.work, "log", "-1", "--format=%an <%ae>|%aI", sha).strip().split("|")
    assert info.author == author[0]
    assert info.date == author[1]
    assert mirror.commit_info("0" * 40) is None


def test_export_writes_read_only_tree_with_symlinks_unresolved(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials, tmp_path: Path
) -> None:
    remote.write("app/cm.yaml", "kind: ConfigMap\n")
    (remote.work / "app" / "link").symlink_to("/etc/passwd")
    sha = remote.commit("with symlink")
    remote.push("HEAD:refs/heads/main")
    mirror = cache.mirror(remote.url, credentials)
    mirror.fetch()

    mirror.tree(sha).export(tmp_path / "out", "app")

    assert (tmp_path / "out" / "cm.yaml").read_text() == "kind: ConfigMap\n"
    assert (tmp_path / "out" / "link").is_symlink()
    assert str((tmp_path / "out" / "link").readlink()) == "/etc/passwd"
    assert (tmp_path / "out" / "cm.yaml").stat().st_mode & 0o222 == 0


def test_poll_checks_refs_without_fetch_when_nothing_moved(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    poller = SourcePoller(cache, lambda url: credentials)
    poller.register(AppSource("a", remote.url, "main", "apps/a"))
    first = poller.poll()

    second = poller.poll()

    assert first.fetches == 1 and first.changed == ["a"]
    assert second.ref_checks == 1
    assert second.fetches == 0
    assert second.changed == []
    assert second.apps["a"].commit == first.apps["a"].commit


def test_poll_fetches_once_when_branch_moved(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    poller = SourcePoller(cache, lambda url: credentials)
    for name in ("a", "b"):
        poller.register(AppSource(name, remote.url, "main", f"apps/{name}"))
    poller.poll()
    new = remote.commit_and_push("change a", {"apps/a/x.yaml": "new"})

    result = poller.poll()

    assert result.ref_checks == 1
    assert result.fetches == 1
    assert result.changed == ["a"]
    assert result.apps["b"].commit == new  # b follows the commit but needs no render


def test_force_push_is_followed(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    remote.commit_and_push("doomed", {"app/x.yaml": "1"})
    poller = SourcePoller(cache, lambda url: credentials)
    poller.register(AppSource("app", remote.url, "main", "app"))
    doomed = poller.poll().apps["app"].commit
    git(remote.work, "reset", "-q", "--hard", "HEAD~1")
    rewritten = remote.commit("rewritten", {"app/x.yaml": "2"})
    remote.push("HEAD:refs/heads/main", force=True)

    result = poller.poll()

    assert result.apps["app"].commit == rewritten != doomed
    assert result.changed == ["app"]
    assert cache.mirror(remote.url).tree(rewritten).read_file("app/x.yaml") == b"2"


def test_deleted_branch_gives_clear_error_and_keeps_last_good_commit(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    good = remote.commit_and_push("feature", {"app/x.yaml": "1"}, branch="feature")
    poller = SourcePoller(cache, lambda url: credentials)
    poller.register(AppSource("app", remote.url, "feature", "app"))
    poller.poll()
    remote.push(":refs/heads/feature")

    result = poller.poll()

    app = result.apps["app"]
    assert isinstance(app.error, RevisionNotFoundError)
    assert "'feature'" in str(app.error) and "was it deleted?" in str(app.error)
    assert good[:12] in str(app.error)
    assert app.commit == good and app.changed is False
    mirror = cache.mirror(remote.url)
    assert mirror.tree(good).read_file("app/x.yaml") == b"1"
    assert f"refs/tether/keep/{good}" in git(mirror.path, "for-each-ref", "--format=%(refname)")


def test_wrong_password_is_a_clear_error_without_the_password(
    remote: Remote, cache: MirrorCache
) -> None:
    wrong = RepoCredentials(url=remote.url, username=USER, password="Wr0ng-" + PASSWORD)
    poller = SourcePoller(cache, lambda url: wrong)
    poller.register(AppSource("app", remote.url, "main", "app"))

    error = poller.poll().apps["app"].error

    assert isinstance(error, AuthenticationError)
    assert "authentication to" in str(error) and "repository Secret" in str(error)
    assert "Wr0ng" not in str(error) and PASSWORD not in str(error)
    assert "Wr0ng" not in repr(wrong)


def test_missing_credentials_are_an_authentication_error(
    remote: Remote, cache: MirrorCache
) -> None:
    with pytest.raises(AuthenticationError):
        cache.mirror(remote.url).ls_remote()


def test_unreachable_server_is_a_clear_error(cache: MirrorCache) -> None:
    with GitHTTPServer(Path("/nonexistent")) as server:
        url = server.url("gone.git")
    mirror = cache.mirror(url)

    with pytest.raises(RepositoryUnreachableError, match="cannot reach"):
        mirror.ls_remote()


def test_unknown_repository_is_a_not_found_error(
    git_server: GitHTTPServer, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    with pytest.raises(RepositoryNotFoundError, match="no git repository"):
        cache.mirror(git_server.url("nope.git"), credentials).ls_remote()


def test_unreachable_remote_keeps_last_good_commit(
    remote: Remote, tmp_path: Path, credentials: RepoCredentials
) -> None:
    cache = MirrorCache(tmp_path / "c")
    poller = SourcePoller(cache, lambda url: credentials)
    with GitHTTPServer(remote.bare.parent, (USER, PASSWORD)) as server:
        url = server.url(remote.bare.name)
        poller.register(AppSource("app", url, "main", ""))
        good = poller.poll().apps["app"].commit

    result = poller.poll()

    assert isinstance(result.apps["app"].error, RepositoryUnreachableError)
    assert result.apps["app"].commit == good
    assert good is not None and cache.mirror(url).tree(good).read_file("README.md") == b"hello\n"


def test_tag_and_annotated_tag_resolve_to_their_commit(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    light = remote.commit_and_push("one", {"v": "1"})
    git(remote.work, "tag", "light")
    annotated = remote.commit_and_push("two", {"v": "2"})
    git(remote.work, "tag", "-a", "-m", "release", "v2.0.0")
    remote.push("--tags")
    mirror = cache.mirror(remote.url, credentials)

    assert mirror.resolve("light").commit == light
    assert mirror.resolve("v2.0.0").commit == annotated
    assert mirror.resolve("refs/tags/v2.0.0").commit == annotated


def test_semver_constraint_picks_newest_matching_tag(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    commits = {}
    for version in ("v1.0.0", "v1.2.0", "1.2.7", "v1.3.0-rc.1", "v2.0.0"):
        commits[version] = remote.commit_and_push(version, {"version": version})
        git(remote.work, "tag", "-a", "-m", version, version)
    remote.push("--tags")
    mirror = cache.mirror(remote.url, credentials)
    refs = mirror.ls_remote()

    assert mirror.resolve("1.2.*", refs).commit == commits["1.2.7"]
    assert mirror.resolve(">=1.0.0 <2.0.0", refs).commit == commits["1.2.7"]
    assert mirror.resolve("^1.0", refs).commit == commits["1.2.7"]
    assert mirror.resolve("~1.0", refs).commit == commits["v1.0.0"]
    assert mirror.resolve(">=1.3.0-rc.0 <2.0.0", refs).commit == commits["v1.3.0-rc.1"]
    assert mirror.resolve("*", refs).commit == commits["v2.0.0"]
    with pytest.raises(RevisionNotFoundError, match="no tag matches"):
        mirror.resolve("3.x", refs)


def test_short_and_full_sha_and_head_resolve(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    old = remote.commit_and_push("old", {"f": "1"})
    new = remote.commit_and_push("new", {"f": "2"})
    git(remote.bare, "symbolic-ref", "HEAD", "refs/heads/main")
    mirror = cache.mirror(remote.url, credentials)

    assert mirror.resolve(old[:8]).commit == old
    assert mirror.resolve(old).commit == old
    assert mirror.resolve("HEAD").commit == new
    with pytest.raises(RevisionNotFoundError, match="no commit starting with"):
        mirror.resolve("deadbee")


def test_poll_with_short_sha_needs_no_fetch_once_present(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    pinned = remote.commit_and_push("pinned", {"f": "1"})
    poller = SourcePoller(cache, lambda url: credentials)
    poller.register(AppSource("app", remote.url, pinned[:10], ""))
    assert poller.poll().apps["app"].commit == pinned
    remote.commit_and_push("later", {"f": "2"})

    result = poller.poll()

    assert result.fetches == 0 and result.changed == [] and result.apps["app"].commit == pinned


def test_readers_run_while_fetch_waits_and_see_new_commit_after(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    mirror = cache.mirror(remote.url, credentials)
    first = mirror.resolve("main").commit
    second = remote.commit_and_push("next", {"f": "2"})
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(50):
                assert mirror.tree(first).read_file("README.md") == b"hello\n"
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for thread in readers:
        thread.start()
    mirror.fetch()
    for thread in readers:
        thread.join(timeout=30)

    assert errors == []
    assert mirror.has_commit(second)


def test_a_malformed_secret_fails_its_repository_not_the_round(
    remote: Remote, cache: MirrorCache, credentials: RepoCredentials
) -> None:
    broken_url = "https://git.example.com/team/broken.git"

    def credentials_for(url: str) -> RepoCredentials:
        if url == broken_url:
            return credentials_from_secret({"metadata": {"name": "bad"}, "data": {"url": "%"}})
        return credentials

    poller = SourcePoller(cache, credentials_for)
    poller.register(AppSource("broken", broken_url))
    poller.register(AppSource("fine", remote.url, "main"))

    result = poller.poll()

    assert isinstance(result.apps["broken"].error, CredentialsError)
    assert "'bad'" in str(result.apps["broken"].error)
    assert result.apps["fine"].error is None and result.apps["fine"].commit is not None
    poller.close()
