"""Choosing the client and its API URL from a repository URL, a provider hint and an override."""

from __future__ import annotations

import pytest

from tether.githost import (
    GiteaClient,
    GitHostConfigError,
    GitHubClient,
    GitLabClient,
    host_for,
    repo_path,
)

TOKEN = "ghp_hostForToken0123456789abcdef"


@pytest.mark.parametrize(
    ("repo_url", "kind", "api_url"),
    [
        ("https://github.com/acme/deploy.git", GitHubClient, "https://api.github.com/"),
        ("git@github.com:acme/deploy.git", GitHubClient, "https://api.github.com/"),
        ("ssh://git@github.com/acme/deploy", GitHubClient, "https://api.github.com/"),
        ("https://github.acme.corp/acme/deploy", GitHubClient, "https://github.acme.corp/api/v3/"),
        ("https://gitlab.com/platform/apps/deploy.git", GitLabClient, "https://gitlab.com/api/v4/"),
        ("git@gitlab.acme.corp:g/p.git", GitLabClient, "https://gitlab.acme.corp/api/v4/"),
        ("https://codeberg.org/acme/deploy.git", GiteaClient, "https://codeberg.org/api/v1/"),
        ("https://gitea.acme.corp:3000/a/d", GiteaClient, "https://gitea.acme.corp:3000/api/v1/"),
    ],
)
async def test_the_provider_and_api_come_from_the_host(
    repo_url: str, kind: type, api_url: str
) -> None:
    host = host_for(repo_url, token=TOKEN)
    try:
        assert type(host) is kind and str(host.api_url) == api_url  # type: ignore[attr-defined]
    finally:
        await host.aclose()


async def test_a_hint_and_an_api_url_override_the_guess() -> None:
    host = host_for(
        "https://git.acme.corp/acme/deploy.git",
        "forgejo",
        TOKEN,
        api_url="https://git.acme.corp/forge/api/v1",
    )
    try:
        assert isinstance(host, GiteaClient)
        assert host.host == "https://git.acme.corp"
        assert TOKEN not in repr(host)
    finally:
        await host.aclose()


async def test_a_loopback_api_may_be_plain_http() -> None:
    host = host_for(
        "http://127.0.0.1:9/acme/app.git", "github", TOKEN, api_url="http://127.0.0.1:9/api/v3"
    )
    await host.aclose()
    assert host.host == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("repo_url", "hint", "api_url", "words"),
    [
        ("https://git.acme.corp/acme/deploy", None, None, "cannot tell which Git host"),
        ("https://git.acme.corp/acme/deploy", "bitbucket", None, "unknown Git host provider"),
        ("https://github.com/acme/deploy", None, "http://ghe.acme.corp/api/v3", "plain http"),
        ("https://github.com/acme/deploy", None, "https://u:p@ghe.acme.corp/api/v3", "user-info"),
        ("https://github.com/deploy", None, None, "owner/repository path"),
        ("not a url", None, None, "not a repository URL"),
    ],
)
def test_what_cannot_be_used_is_a_config_error(
    repo_url: str, hint: str | None, api_url: str | None, words: str
) -> None:
    with pytest.raises(GitHostConfigError, match=words) as caught:
        host_for(repo_url, hint, TOKEN, api_url=api_url)
    assert TOKEN not in str(caught.value)


def test_a_token_is_required() -> None:
    with pytest.raises(GitHostConfigError, match="no token"):
        host_for("https://github.com/acme/deploy", token="")


@pytest.mark.parametrize(
    ("repo_url", "path"),
    [
        ("https://github.com/acme/deploy.git", "acme/deploy"),
        ("git@gitlab.com:platform/apps/deploy.git", "platform/apps/deploy"),
        ("https://user@gitea.acme.corp/acme/deploy/", "acme/deploy"),
    ],
)
def test_repo_path_is_the_path_on_the_host(repo_url: str, path: str) -> None:
    assert repo_path(repo_url) == path
