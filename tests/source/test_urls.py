"""`repo_match_key`: the form AppProject sourceRepos globs match on keeps scheme, host and port."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tether.controller.project import glob_match
from tether.source import normalize_repo_url, repo_match_key, repo_pattern_key


def permitted(pattern: str, url: str) -> bool:
    """sourceRepos matching as AppProject does it: globs with `/` as the separator."""
    return glob_match(repo_pattern_key(pattern), repo_match_key(url), separators="/")


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://GitHub.com/Org/Repo.git/", "https://github.com/org/repo"),
        ("https://github.com:443/org/repo", "https://github.com/org/repo"),
        ("http://git.example.com:80/team/x", "http://git.example.com/team/x"),
        ("http://git.example.com:8080/team/x", "http://git.example.com:8080/team/x"),
        ("git@github.com:org/repo.git", "ssh://git@github.com/org/repo"),
        ("ssh://git@github.com:22/org/repo", "ssh://git@github.com/org/repo"),
        ("ssh://git@github.com:2222/org/repo", "ssh://git@github.com:2222/org/repo"),
        ("ssh://admin@github.com/org/repo", "ssh://admin@github.com/org/repo"),
        ("git://host:9418/org/repo", "git://host/org/repo"),
        ("https://bot@host/org/repo", "https://host/org/repo"),
        ("https://[::1]:8443/org/repo", "https://[::1]:8443/org/repo"),
        ("https://host./org/repo", "https://host/org/repo"),
        ("https://host/team/%2e%2e/other/x", "https://host/other/x"),
        ("https://host/team/../other//x/./", "https://host/other/x"),
        ("/srv/git/repo.git", "file:///srv/git/repo"),
        ("file:///srv/git/repo.git", "file:///srv/git/repo"),
        ("*", "*"),
    ],
)
def test_match_key(url: str, key: str) -> None:
    assert repo_match_key(url) == key


def test_scheme_and_port_are_compared() -> None:
    """The hole of the issue: https://git.example.com/team/* allowed http on port 8080."""
    pattern = "https://git.example.com/team/*"

    assert permitted(pattern, "https://git.example.com/team/x.git")
    assert permitted(pattern, "https://git.example.com:443/team/x")
    assert not permitted(pattern, "http://git.example.com:8080/team/x")
    assert not permitted(pattern, "http://git.example.com/team/x")
    assert not permitted(pattern, "https://git.example.com:8443/team/x")
    assert not permitted(pattern, "git@git.example.com:team/x.git")
    # The loose webhook form cannot tell them apart, which is why it must not grant access.
    assert normalize_repo_url("http://git.example.com:8080/team/x") == normalize_repo_url(
        "https://git.example.com/team/x"
    )


def test_ssh_patterns_match_both_ssh_spellings() -> None:
    assert permitted("git@github.com:org/*", "ssh://git@github.com/org/repo.git")
    assert permitted("ssh://git@github.com/org/*", "git@github.com:org/repo")
    assert not permitted("git@github.com:org/*", "https://github.com/org/repo")
    assert not permitted("git@github.com:org/*", "ssh://root@github.com/org/repo")


def test_dot_segments_cannot_leave_an_allowed_folder() -> None:
    pattern = "https://git.example.com/team/**"

    assert not permitted(pattern, "https://git.example.com/team/../other/x")
    assert not permitted(pattern, "https://git.example.com/team/%2E%2E/other/x")
    assert permitted(pattern, "https://git.example.com/team/sub/x")


def test_pattern_keeps_negation_and_a_lone_star() -> None:
    assert repo_pattern_key("*") == "*"
    assert repo_pattern_key("!https://Host/Org/Secret.git") == "!https://host/org/secret"
    assert repo_pattern_key(" git@host:org/*.git ") == "ssh://git@host/org/*"


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=80) | st.from_regex(r"\A(https?|ssh|git|file)://[^\s]{0,60}\Z"))
def test_match_key_never_raises_and_is_stable(url: str) -> None:
    key = repo_match_key(url)

    assert repo_match_key(key) == key
    assert repo_pattern_key(url) in (key, f"!{repo_match_key(url.strip()[1:])}", "*")
