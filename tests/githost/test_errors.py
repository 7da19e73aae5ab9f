"""What goes wrong, against the fake host: refused tokens, missing things, rate limits, pages,
bounds and time limits; and the token never shows in a message, a repr or a URL."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tether.githost import (
    GiteaClient,
    GitHostAuthError,
    GitHostError,
    GitHostLimits,
    GitHostNotFoundError,
    GitHostResponseError,
    GitHostUnreachableError,
    GitHostValidationError,
    GitHubClient,
    RateLimitedError,
)
from tether.githost.fake import FakeGitHost

from .conftest import READ_ONLY_TOKEN, TOKEN, Repo

WRONG_TOKEN = "ghp_wrongToken0123456789abcdefABCDEF"


def _client(fake: FakeGitHost, api: str, token: str = TOKEN, **options: object) -> GitHubClient:
    kind = GitHubClient if api == "github" else GiteaClient
    url = fake.github_api_url if api == "github" else fake.gitea_api_url
    return kind(url, token, **options)  # type: ignore[arg-type]


def _no_token_in(error: BaseException, *tokens: str) -> None:
    for token in tokens:
        assert token not in str(error) and token not in repr(error)
        assert token not in repr(vars(error))


@pytest.mark.parametrize("api", ["github", "gitea"])
async def test_a_wrong_token_is_an_auth_error_that_does_not_quote_it(
    fake: FakeGitHost, repo: Repo, api: str
) -> None:
    async with _client(fake, api, WRONG_TOKEN) as client:
        with pytest.raises(GitHostAuthError) as caught:
            await client.find_pull_request(repo.name, "tether/update", "main")
    words = "Bad credentials" if api == "github" else "invalid username, password or token"
    assert words in str(caught.value) and "update the Secret" in str(caught.value)
    _no_token_in(caught.value, WRONG_TOKEN, TOKEN)


@pytest.mark.parametrize("api", ["github", "gitea"])
async def test_a_read_only_token_cannot_open_and_the_error_names_the_scopes(
    fake: FakeGitHost, repo: Repo, api: str
) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    async with _client(fake, api, READ_ONLY_TOKEN) as client:
        assert await client.find_pull_request(repo.name, "tether/update", "main") is None
        with pytest.raises(GitHostAuthError) as caught:
            await client.open_pull_request(repo.name, "tether/update", "main", "t", "b")
    assert ("`repo` scope" if api == "github" else "write:repository") in str(caught.value)
    _no_token_in(caught.value, READ_ONLY_TOKEN)


@pytest.mark.parametrize("api", ["github", "gitea"])
async def test_an_unknown_repository_is_not_found_with_a_hint_about_access(
    fake: FakeGitHost, api: str
) -> None:
    async with _client(fake, api) as client:
        with pytest.raises(GitHostNotFoundError) as caught:
            await client.open_pull_request("acme/nowhere", "tether/update", "main", "t", "b")
    assert "acme/nowhere" in str(caught.value) and "token cannot see" in str(caught.value)
    _no_token_in(caught.value, TOKEN)


@pytest.mark.parametrize(
    ("api", "expected"), [("github", GitHostValidationError), ("gitea", GitHostNotFoundError)]
)
async def test_opening_for_a_branch_that_was_never_pushed_is_refused(
    fake: FakeGitHost, repo: Repo, api: str, expected: type[GitHostError]
) -> None:
    async with _client(fake, api) as client:
        with pytest.raises(expected) as caught:
            await client.open_pull_request(repo.name, "never-pushed", "main", "t", "b")
    assert fake.pulls(repo.name) == []
    if api == "github":
        assert "head invalid" in str(caught.value)


async def test_github_primary_rate_limit_raises_with_the_reset_time(
    fake: FakeGitHost, repo: Repo
) -> None:
    fake.set_github_rate_limit(1)
    async with _client(fake, "github") as client:
        assert await client.find_pull_request(repo.name, "tether/update", "main") is None
        with pytest.raises(RateLimitedError) as caught:
            await client.find_pull_request(repo.name, "tether/update", "main")
    limited = caught.value
    # the fake's window is an hour from the first request
    assert time.time() + 3500 < limited.retry_at <= time.time() + 3601
    assert 3500 < limited.retry_after <= 3601
    assert limited.retry_at == int(limited.retry_at)  # x-ratelimit-reset is whole epoch seconds
    _no_token_in(limited, TOKEN)


@pytest.mark.parametrize(("status", "retry_after", "wait"), [(429, 30, 30.0), (403, None, 60.0)])
async def test_github_secondary_rate_limit_says_when_to_retry(
    fake: FakeGitHost, repo: Repo, status: int, retry_after: int | None, wait: float
) -> None:
    fake.github_secondary_limit(status, retry_after)
    async with _client(fake, "github", clock=lambda: 1_000.0) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.comment(repo.name, 1, "hello")
    assert (caught.value.retry_at, caught.value.retry_after) == (1_000.0 + wait, wait)
    assert "secondary rate limit" in str(caught.value)


async def test_gitea_behind_a_throttling_proxy_is_rate_limited(
    fake: FakeGitHost, repo: Repo
) -> None:
    fake.throttle_gitea(45)
    async with _client(fake, "gitea", clock=lambda: 50.0) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.find_pull_request(repo.name, "tether/update", "main")
    assert (caught.value.retry_at, caught.value.retry_after) == (95.0, 45.0)


async def _open_five(client: GitHubClient, repo: Repo) -> list[int]:
    numbers = []
    for index in range(5):
        branch = f"update-{index}"
        repo.push_branch(branch, {"deploy.yaml": f"image: app:2.{index}.0\n"}, start="main")
        pull = await client.open_pull_request(repo.name, branch, "main", f"Update {index}", "b")
        numbers.append(pull.number)
    return numbers


async def test_github_listing_follows_link_headers_across_pages(
    fake: FakeGitHost, repo: Repo
) -> None:
    async with _client(fake, "github") as client:
        numbers = await _open_five(client, repo)
        path = f"repos/{repo.name}/pulls"
        action = "listing pull requests"
        listed = [
            item["number"] async for item in client.list_pages(path, {"state": "all"}, action)
        ]
    assert sorted(listed) == numbers  # the fake pages by 2: three pages
    pages = [r.query for r in fake.requests if r.method == "GET" and r.path.endswith(path)]
    assert [q for q in pages if "page=" in q][-2:] == ["state=all&page=2", "state=all&page=3"]


async def test_gitea_find_reads_every_page_to_find_the_oldest(
    fake: FakeGitHost, repo: Repo
) -> None:
    async with _client(fake, "gitea") as client:
        numbers = await _open_five(client, repo)
        found = await client.find_pull_request(repo.name, "update-0", "main")
    assert found is not None and found.number == numbers[0]
    listed = [
        r for r in fake.requests if r.api == "gitea" and r.path.endswith(f"{repo.name}/pulls")
    ]
    assert any("page=3" in r.query for r in listed)


async def test_the_next_page_must_stay_on_the_api_origin(fake: FakeGitHost) -> None:
    before = len(fake.requests)
    async with _client(fake, "github") as client:
        with pytest.raises(GitHostResponseError, match="another server"):
            await client.send("GET", "http://127.0.0.2:1/repos/acme/app/pulls?page=2", "listing")
    assert len(fake.requests) == before


async def test_an_answer_over_the_size_limit_is_refused(fake: FakeGitHost, repo: Repo) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    async with _client(fake, "github", limits=GitHostLimits(max_response_bytes=512)) as client:
        with pytest.raises(GitHostResponseError, match="over 512 bytes"):
            await client.open_pull_request(repo.name, "tether/update", "main", "t", "b")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (into the backlog) and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield int(listener.getsockname()[1])


@pytest.mark.timeout(60)  # a client without its own time limit would wait forever
async def test_a_host_that_never_answers_times_out(silent_port: int) -> None:
    limits = GitHostLimits(timeout=0.5)
    async with GitHubClient(
        f"http://127.0.0.1:{silent_port}/api/v3", TOKEN, limits=limits
    ) as client:
        with pytest.raises(GitHostUnreachableError, match=r"did not answer within 0\.5s"):
            await client.find_pull_request("acme/app", "tether/update", "main")


async def test_a_refused_connection_is_unreachable() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    async with GiteaClient(f"http://127.0.0.1:{port}/api/v1", TOKEN) as client:
        with pytest.raises(GitHostUnreachableError, match="cannot reach Gitea") as caught:
            await client.comment("acme/app", 1, "x")
    _no_token_in(caught.value, TOKEN)


@pytest.mark.parametrize(("api", "scheme"), [("github", "Bearer"), ("gitea", "token")])
async def test_requests_carry_the_documented_headers_and_no_token_in_urls(
    fake: FakeGitHost, repo: Repo, api: str, scheme: str
) -> None:
    before = len(fake.requests)
    async with _client(fake, api) as client:
        await client.find_pull_request(repo.name, "tether/update", "main")
        assert TOKEN not in repr(client)
    sent = fake.requests[before:]
    assert sent and all(r.auth_scheme == scheme for r in sent)
    assert all(TOKEN not in r.path + r.query for r in sent)
    if api == "github":
        assert sent[0].headers["accept"] == "application/vnd.github+json"
        assert sent[0].headers["x-github-api-version"] == "2022-11-28"
        assert "head=acme%3Atether%2Fupdate" in sent[0].query
    else:
        assert "base_branch=main" in sent[0].query and "limit=" in sent[0].query


async def test_a_token_from_a_secret_file_may_end_with_a_newline(
    fake: FakeGitHost, repo: Repo
) -> None:
    async with _client(fake, "github", f"{TOKEN}\n") as client:
        assert await client.find_pull_request(repo.name, "tether/update", "main") is None


async def test_an_unknown_commit_state_is_a_programming_error(
    fake: FakeGitHost, repo: Repo
) -> None:
    async with _client(fake, "github") as client:
        with pytest.raises(ValueError, match="not one of"):
            await client.set_commit_status(repo.name, "0" * 40, "done", "ctx", "")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("api", "expected"), [("github", GitHostValidationError), ("gitea", GitHostNotFoundError)]
)
async def test_a_status_for_a_commit_the_repository_lacks_is_refused(
    fake: FakeGitHost, repo: Repo, api: str, expected: type[GitHostError]
) -> None:
    async with _client(fake, api) as client:
        with pytest.raises(expected):
            await client.set_commit_status(repo.name, "f" * 40, "success", "tether/sync", "ok")
    assert fake.statuses(repo.name, "f" * 40) == []
