"""The GitHub and Gitea clients against the fake host: one open pull request per branch pair,
found, updated, closed with a comment; commit statuses; bodies within the host's limits."""

from __future__ import annotations

from tether.githost import GitHostValidationError, GitHubClient, PullRequest
from tether.githost.fake import FakeGitHost
from tether.githost.github import MAX_BODY_CHARS

from .conftest import Repo

BODY = "Images:\n- app: 1.0.0 → 1.1.0\n\n```diff\n-image: app:1.0.0\n+image: app:1.1.0\n```\n"


async def test_open_pull_request_points_at_the_pushed_commit(
    client: GitHubClient, repo: Repo, fake: FakeGitHost
) -> None:
    sha = repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})

    pull = await client.open_pull_request(repo.name, "tether/update", "main", "Update app", BODY)

    assert (pull.head, pull.base, pull.state, pull.merged) == (
        "tether/update",
        "main",
        "open",
        False,
    )
    assert pull.head_sha == sha == repo.bare_git("rev-parse", "refs/heads/tether/update")
    assert pull.url.startswith(f"{fake.url}/{repo.name}/pull")
    assert (pull.title, pull.body) == ("Update app", BODY)
    assert [p.number for p in fake.pulls(repo.name)] == [pull.number]


async def test_find_returns_the_open_pull_request_of_the_branch_pair(
    client: GitHubClient, repo: Repo
) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    repo.push_branch("other", {"deploy.yaml": "image: app:2.0.0\n"}, start="main")
    opened = await client.open_pull_request(repo.name, "tether/update", "main", "Update", BODY)
    await client.open_pull_request(repo.name, "other", "main", "Other", "x")

    assert await client.find_pull_request(repo.name, "tether/update", "main") == opened
    assert await client.find_pull_request(repo.name, "tether/update", "release") is None
    assert await client.find_pull_request(repo.name, "missing", "main") is None


async def test_find_sees_the_head_move_when_newer_images_are_pushed(
    client: GitHubClient, repo: Repo
) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    opened = await client.open_pull_request(repo.name, "tether/update", "main", "Update", BODY)
    newer = repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.2.0\n"})

    found = await client.find_pull_request(repo.name, "tether/update", "main")

    assert found is not None and found.number == opened.number
    assert found.head_sha == newer != opened.head_sha


async def test_update_changes_title_and_body(
    client: GitHubClient, repo: Repo, fake: FakeGitHost
) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    opened = await client.open_pull_request(repo.name, "tether/update", "main", "Update", BODY)

    updated = await client.update_pull_request(repo.name, opened.number, body="app 1.0.0 → 1.2.0")
    retitled = await client.update_pull_request(repo.name, opened.number, title="Update app to 1.2")

    assert (updated.title, updated.body) == ("Update", "app 1.0.0 → 1.2.0")
    assert (retitled.title, retitled.body) == ("Update app to 1.2", "app 1.0.0 → 1.2.0")
    stored = fake.pull(repo.name, opened.number)
    assert (stored.title, stored.body) == ("Update app to 1.2", "app 1.0.0 → 1.2.0")


async def test_opening_again_updates_the_open_one_after_the_host_refuses(
    client: GitHubClient, repo: Repo, fake: FakeGitHost
) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    first = await client.open_pull_request(repo.name, "tether/update", "main", "Update", BODY)
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.2.0\n"})

    second = await client.open_pull_request(
        repo.name, "tether/update", "main", "Update to 1.2", "app 1.0.0 → 1.2.0"
    )

    assert second.number == first.number
    assert (second.title, second.body) == ("Update to 1.2", "app 1.0.0 → 1.2.0")
    assert len(fake.pulls(repo.name)) == 1
    refused = [
        r for r in fake.requests if r.method == "POST" and r.path.endswith(f"{repo.name}/pulls")
    ]
    assert len(refused) == 2  # the create was sent, refused (422 / 409), then found and patched


async def test_close_with_comment_leaves_no_open_pull_request(
    client: GitHubClient, repo: Repo, fake: FakeGitHost
) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    opened = await client.open_pull_request(repo.name, "tether/update", "main", "Update", BODY)

    await client.close_pull_request(repo.name, opened.number, comment="Superseded by #7")

    stored = fake.pull(repo.name, opened.number)
    assert (stored.state, stored.merged) == ("closed", False)
    assert fake.comments(repo.name, opened.number) == ["Superseded by #7"]
    assert await client.find_pull_request(repo.name, "tether/update", "main") is None


async def test_a_closed_pull_request_is_replaced_by_a_new_one(
    client: GitHubClient, repo: Repo
) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    first = await client.open_pull_request(repo.name, "tether/update", "main", "Update", BODY)
    await client.close_pull_request(repo.name, first.number)

    second = await client.open_pull_request(repo.name, "tether/update", "main", "Update", BODY)

    assert second.number == first.number + 1 and second.state == "open"


async def test_comment_is_recorded(client: GitHubClient, repo: Repo, fake: FakeGitHost) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    opened = await client.open_pull_request(repo.name, "tether/update", "main", "Update", BODY)

    await client.comment(repo.name, opened.number, "Preview synced: Healthy")

    assert fake.comments(repo.name, opened.number) == ["Preview synced: Healthy"]


async def test_commit_status_is_recorded_on_the_commit(
    client: GitHubClient, repo: Repo, fake: FakeGitHost
) -> None:
    sha = repo.bare_git("rev-parse", "refs/heads/main")

    await client.set_commit_status(
        repo.name, sha, "pending", "tether/sync", "Syncing", "https://tether.example/apps/app"
    )
    await client.set_commit_status(repo.name, sha, "success", "tether/sync", "x" * 300)

    latest, first = fake.statuses(repo.name, sha)
    assert (first.state, first.context, first.description) == ("pending", "tether/sync", "Syncing")
    assert first.target_url == "https://tether.example/apps/app"
    assert latest.state == "success" and latest.target_url is None
    assert len(latest.description) == 140 and latest.description.endswith("…")


async def test_a_long_body_is_cut_to_the_hosts_maximum(
    client: GitHubClient, repo: Repo, fake: FakeGitHost
) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    diff = "+line\n" * 20_000

    opened = await client.open_pull_request(repo.name, "tether/update", "main", "Update", diff)

    stored = fake.pull(repo.name, opened.number).body
    assert len(stored) <= MAX_BODY_CHARS and stored.endswith("(truncated)")
    assert stored.startswith("+line\n+line\n")


async def test_opening_for_a_branch_with_no_new_commits_is_refused(
    client: GitHubClient, repo: Repo
) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    repo.bare_git("update-ref", "refs/heads/tether/update", "refs/heads/main")

    try:
        await client.open_pull_request(repo.name, "tether/update", "main", "Update", BODY)
    except GitHostValidationError as exc:
        assert "no" in str(exc).lower() and "between" in str(exc)
    else:
        raise AssertionError("a pull request without commits was opened")


def test_pull_request_is_a_frozen_record() -> None:
    pull = PullRequest(1, "u", "h", "b", "t", "", "open", False, "0" * 40)
    try:
        pull.number = 2  # type: ignore[misc]
    except AttributeError:
        return
    raise AssertionError("PullRequest is mutable")
