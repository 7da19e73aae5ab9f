"""Commit statuses as notifications, through the fake Git host (GitHub's documented REST API):
the template's repository, commit and status reach the commit; refusals and rate limits come back
as clear, retryable-or-not delivery errors without the token."""

from __future__ import annotations

import pytest

from tests.githost.conftest import TOKEN, Repo, git
from tether.githost.fake import FakeGitHost
from tether.notify.config import parse_service
from tether.notify.senders import DeliveryError, Rendered
from tether.notify.statuses import CommitStatuses, repository_path


def github(api_url: str, token: str = "$github-token") -> object:
    text = f"apiURL: {api_url}\ntoken: {token}\n"
    return parse_service("service.github", text, {"github-token": TOKEN})


def rendered(repo_url: str, sha: str, state: str = "success") -> Rendered:
    status = {"state": state, "label": "continuous-delivery/shop", "targetURL": "https://cd/shop"}
    part = {"repoURLPath": repo_url, "revisionPath": sha, "status": status}
    return Rendered("Application shop is synced.\nmore", {"github": part})


def test_repository_paths_from_any_spelling() -> None:
    assert repository_path("https://github.com/acme/shop.git") == "acme/shop"
    assert repository_path("git@github.com:acme/shop") == "acme/shop"
    assert repository_path("https://gitlab.example/group/sub/shop") == "group/sub/shop"
    with pytest.raises(DeliveryError, match="not a repository URL"):
        repository_path("https://github.com/")


@pytest.mark.asyncio
async def test_the_status_reaches_the_deployed_commit(fake: FakeGitHost, repo: Repo) -> None:
    sha = git(repo.work, "rev-parse", "HEAD")
    statuses = CommitStatuses()
    try:
        await statuses.send(github(fake.github_api_url), rendered(repo.url, sha))  # type: ignore[arg-type]
    finally:
        await statuses.aclose()
    (status,) = fake.forge.statuses(repo.name, sha)
    assert (status.state, status.context, status.target_url) == (
        "success",
        "continuous-delivery/shop",
        "https://cd/shop",
    )
    assert status.description == "Application shop is synced."


@pytest.mark.asyncio
async def test_refusals_are_clear_and_keep_the_token_out(fake: FakeGitHost, repo: Repo) -> None:
    statuses = CommitStatuses()
    try:
        with pytest.raises(DeliveryError) as unknown:
            await statuses.send(github(fake.github_api_url), rendered(repo.url, "0" * 40))  # type: ignore[arg-type]
        assert not unknown.value.retry and TOKEN not in unknown.value.message
        with pytest.raises(DeliveryError, match="is not one of pending, success"):
            await statuses.send(github(fake.github_api_url), rendered(repo.url, "a", "done"))  # type: ignore[arg-type]
        app_login = parse_service("service.github", "appID: 1\ninstallationID: 2\n", {})
        with pytest.raises(DeliveryError, match="GitHub App login"):
            await statuses.send(app_login, rendered(repo.url, "a"))
        fake.set_github_rate_limit(0)
        sha = git(repo.work, "rev-parse", "HEAD")
        with pytest.raises(DeliveryError) as limited:
            await statuses.send(github(fake.github_api_url), rendered(repo.url, sha))  # type: ignore[arg-type]
        assert limited.value.retry and limited.value.retry_after is not None
    finally:
        await statuses.aclose()


def deployed(repo_url: str, sha: str, **deployment: object) -> Rendered:
    part = {
        "repoURLPath": repo_url,
        "revisionPath": sha,
        "deployment": {
            "state": "success",
            "environment": "production",
            "environmentURL": "https://shop.example.com",
            "logURL": "https://cd/applications/shop?operation=true",
            "requiredContexts": [],
            **deployment,
        },
    }
    return Rendered("Application shop is now running new version.", {"github": part})


@pytest.mark.asyncio
async def test_a_deployment_is_created_once_and_gets_each_status(
    fake: FakeGitHost, repo: Repo
) -> None:
    sha = git(repo.work, "rev-parse", "HEAD")
    statuses = CommitStatuses()
    try:
        service = github(fake.github_api_url)
        await statuses.send(service, deployed(repo.url, sha))  # type: ignore[arg-type]
        await statuses.send(service, deployed(repo.url, sha, state="inactive"))  # type: ignore[arg-type]
    finally:
        await statuses.aclose()
    (deployment,) = fake.forge.deployments(repo.name)
    assert (deployment.sha, deployment.environment) == (sha, "production")
    states = [(s[1], s[3], s[4]) for s in deployment.statuses]
    assert states == [
        ("success", "https://cd/applications/shop?operation=true", "https://shop.example.com"),
        ("inactive", "https://cd/applications/shop?operation=true", "https://shop.example.com"),
    ]
    assert fake.forge.statuses(repo.name, sha) == []  # no commit status was asked for


@pytest.mark.asyncio
async def test_a_deployment_waits_for_green_checks_unless_told_otherwise(
    fake: FakeGitHost, repo: Repo
) -> None:
    sha = git(repo.work, "rev-parse", "HEAD")
    fake.forge.add_status(repo.name, sha, "failure", "ci/tests", "red", None, "ci")
    statuses = CommitStatuses()
    try:
        service = github(fake.github_api_url)
        with pytest.raises(DeliveryError) as refused:
            await statuses.send(  # GitHub's default: every context must be green
                service,
                deployed(repo.url, sha, requiredContexts=None, environment="staging"),  # type: ignore[arg-type]
            )
        assert "Commit status checks failed" in refused.value.message
        assert not refused.value.retry and TOKEN not in refused.value.message
        with pytest.raises(DeliveryError, match="not one of error, failure"):
            await statuses.send(service, deployed(repo.url, sha, state="done"))  # type: ignore[arg-type]
    finally:
        await statuses.aclose()
    assert fake.forge.deployments(repo.name, environment="staging") == []
