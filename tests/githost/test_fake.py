"""The fake host keeps to the documented APIs and to git: merges are real commits in the bare
repository that a fetch sees, refusals have the documented statuses and bodies, and GitHub's
rate-limit headers count."""

from __future__ import annotations

import httpx
import pytest

from tether.githost.fake import FakeGitHost
from tether.source.webhooks import RefUpdate

from .conftest import TOKEN, Pushes, Repo, git

GITHUB_HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"}
GITEA_HEADERS = {"Authorization": f"token {TOKEN}"}


def _open(fake: FakeGitHost, repo: Repo, branch: str = "tether/update", api: str = "github") -> int:
    url = fake.github_api_url if api == "github" else fake.gitea_api_url
    headers = GITHUB_HEADERS if api == "github" else GITEA_HEADERS
    answer = httpx.post(
        f"{url}/repos/{repo.name}/pulls",
        json={"title": "Update app", "head": branch, "base": "main", "body": "app 1.0 → 1.1"},
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["number"])


def _parents(repo: Repo, ref: str) -> list[str]:
    return repo.bare_git("rev-list", "--parents", "-n", "1", ref).split()[1:]


def test_github_merge_makes_a_merge_commit_that_a_fetch_sees(
    fake: FakeGitHost, repo: Repo, pushes: Pushes
) -> None:
    before = repo.bare_git("rev-parse", "refs/heads/main")
    head = repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    number = _open(fake, repo)

    answer = httpx.put(
        f"{fake.github_api_url}/repos/{repo.name}/pulls/{number}/merge",
        json={"merge_method": "merge"},
        headers=GITHUB_HEADERS,
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["merged"] is True
    merged = answer.json()["sha"]
    assert repo.bare_git("rev-parse", "refs/heads/main") == merged
    assert _parents(repo, merged) == [before, head]
    log = repo.bare_git("log", "--format=%s", "-n", "1", "refs/heads/main")
    assert log == f"Merge pull request #{number} from acme/tether/update"
    git(repo.work, "fetch", "-q", "origin")
    assert git(repo.work, "show", "origin/main:deploy.yaml") == "image: app:1.1.0"
    assert (repo.bare, (RefUpdate("refs/heads/main", before, merged),)) in pushes.seen
    pull = fake.pull(repo.name, number)
    assert (pull.state, pull.merged, pull.merge_commit_sha) == ("closed", True, merged)
    check = httpx.get(
        f"{fake.github_api_url}/repos/{repo.name}/pulls/{number}/merge", headers=GITHUB_HEADERS
    )
    assert check.status_code == 204


def test_github_squash_makes_one_commit_with_the_heads_tree(fake: FakeGitHost, repo: Repo) -> None:
    before = repo.bare_git("rev-parse", "refs/heads/main")
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    head = repo.push_branch("tether/update", {"other.yaml": "x: 1\n"})
    number = _open(fake, repo)

    squashed = fake.merge(repo.name, number, "squash", "Update app (#1)").merge_commit_sha

    assert squashed is not None and _parents(repo, squashed) == [before]
    assert repo.bare_git("rev-parse", f"{squashed}^{{tree}}") == repo.bare_git(
        "rev-parse", f"{head}^{{tree}}"
    )


def test_rebase_replays_the_head_onto_a_base_that_moved(fake: FakeGitHost, repo: Repo) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    number = _open(fake, repo)
    moved = repo.push_branch("main", {"README.md": "docs\n"})

    rebased = fake.merge(repo.name, number, "rebase").merge_commit_sha

    assert rebased is not None and _parents(repo, rebased) == [moved]
    assert repo.bare_git("show", "refs/heads/main:deploy.yaml") == "image: app:1.1.0"
    assert repo.bare_git("show", "refs/heads/main:README.md") == "docs"


def test_gitea_fast_forward_only_moves_main_to_the_head(fake: FakeGitHost, repo: Repo) -> None:
    head = repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    number = _open(fake, repo, api="gitea")

    answer = httpx.post(
        f"{fake.gitea_api_url}/repos/{repo.name}/pulls/{number}/merge",
        json={"Do": "fast-forward-only"},
        headers=GITEA_HEADERS,
    )

    assert (answer.status_code, answer.content) == (200, b"")
    assert repo.bare_git("rev-parse", "refs/heads/main") == head
    again = httpx.post(
        f"{fake.gitea_api_url}/repos/{repo.name}/pulls/{number}/merge",
        json={"Do": "merge"},
        headers=GITEA_HEADERS,
    )
    assert again.status_code == 405


def test_gitea_fast_forward_only_refuses_diverged_branches(fake: FakeGitHost, repo: Repo) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    number = _open(fake, repo, api="gitea")
    moved = repo.push_branch("main", {"README.md": "docs\n"})

    answer = httpx.post(
        f"{fake.gitea_api_url}/repos/{repo.name}/pulls/{number}/merge",
        json={"Do": "fast-forward-only"},
        headers=GITEA_HEADERS,
    )

    assert answer.status_code == 409
    assert repo.bare_git("rev-parse", "refs/heads/main") == moved


def test_a_merge_conflict_is_not_mergeable_and_leaves_main_alone(
    fake: FakeGitHost, repo: Repo
) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    number = _open(fake, repo)
    moved = repo.push_branch("main", {"deploy.yaml": "image: app:9.9.9\n"})

    answer = httpx.put(
        f"{fake.github_api_url}/repos/{repo.name}/pulls/{number}/merge", headers=GITHUB_HEADERS
    )

    assert answer.status_code == 405
    assert answer.json()["message"] == "Pull Request is not mergeable"
    assert repo.bare_git("rev-parse", "refs/heads/main") == moved
    assert fake.pull(repo.name, number).state == "open"


def test_merging_with_a_stale_head_sha_is_a_conflict(fake: FakeGitHost, repo: Repo) -> None:
    stale = repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    number = _open(fake, repo)
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.2.0\n"})

    answer = httpx.put(
        f"{fake.github_api_url}/repos/{repo.name}/pulls/{number}/merge",
        json={"sha": stale},
        headers=GITHUB_HEADERS,
    )

    assert answer.status_code == 409
    assert "Head branch was modified" in answer.json()["message"]


def test_github_refusals_use_the_documented_bodies(fake: FakeGitHost, repo: Repo) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    _open(fake, repo)
    pulls = f"{fake.github_api_url}/repos/{repo.name}/pulls"
    request = {"title": "t", "head": "tether/update", "base": "main"}

    exists = httpx.post(pulls, json=request, headers=GITHUB_HEADERS).json()
    missing = httpx.post(pulls, json={**request, "head": "gone"}, headers=GITHUB_HEADERS).json()
    wrong = httpx.get(pulls, headers={"Authorization": "Bearer nope"})
    unknown = httpx.get(f"{fake.github_api_url}/repos/acme/none/pulls", headers=GITHUB_HEADERS)

    assert exists["message"] == "Validation Failed"
    assert exists["errors"][0]["message"] == "A pull request already exists for acme:tether/update."
    assert missing["errors"] == [{"resource": "PullRequest", "field": "head", "code": "invalid"}]
    assert wrong.status_code == 401 and wrong.json()["message"] == "Bad credentials"
    assert unknown.status_code == 404 and unknown.json()["message"] == "Not Found"


def test_gitea_refusals_use_its_bodies(fake: FakeGitHost, repo: Repo) -> None:
    repo.push_branch("tether/update", {"deploy.yaml": "image: app:1.1.0\n"})
    _open(fake, repo, api="gitea")
    pulls = f"{fake.gitea_api_url}/repos/{repo.name}/pulls"
    request = {"title": "t", "head": "tether/update", "base": "main"}

    exists = httpx.post(pulls, json=request, headers=GITEA_HEADERS)
    wrong = httpx.get(pulls, headers={"Authorization": "token nope"})

    assert exists.status_code == 409
    assert exists.json()["message"].startswith("pull request already exists for these targets")
    assert wrong.status_code == 401
    assert wrong.json() == {
        "message": "invalid username, password or token",
        "url": f"{fake.url}/api/swagger",
    }


def test_github_counts_requests_in_its_rate_limit_headers(fake: FakeGitHost, repo: Repo) -> None:
    pulls = f"{fake.github_api_url}/repos/{repo.name}/pulls"

    first = httpx.get(pulls, headers=GITHUB_HEADERS).headers
    second = httpx.get(pulls, headers=GITHUB_HEADERS).headers

    assert first["x-ratelimit-limit"] == "5000"
    assert int(first["x-ratelimit-remaining"]) - int(second["x-ratelimit-remaining"]) == 1
    assert int(second["x-ratelimit-used"]) == int(first["x-ratelimit-used"]) + 1
    assert first["x-ratelimit-reset"] == second["x-ratelimit-reset"]


@pytest.mark.parametrize("status", [403, 429])
def test_github_secondary_limit_answers_as_documented(
    fake: FakeGitHost, repo: Repo, status: int
) -> None:
    fake.github_secondary_limit(status, 17)

    answer = httpx.get(f"{fake.github_api_url}/repos/{repo.name}/pulls", headers=GITHUB_HEADERS)

    assert answer.status_code == status and answer.headers["retry-after"] == "17"
    assert "secondary rate limit" in answer.json()["message"]


def test_github_listing_items_are_the_simple_form_with_link_pages(
    fake: FakeGitHost, repo: Repo
) -> None:
    for index in range(3):
        repo.push_branch(f"b{index}", {"deploy.yaml": f"image: app:3.{index}.0\n"}, start="main")
        _open(fake, repo, branch=f"b{index}")
    pulls = f"{fake.github_api_url}/repos/{repo.name}/pulls"

    answer = httpx.get(pulls, params={"per_page": "100"}, headers=GITHUB_HEADERS)
    single = httpx.get(f"{pulls}/1", headers=GITHUB_HEADERS).json()

    assert len(answer.json()) == 2  # the fake caps pages at 2
    assert "merged" not in answer.json()[0] and single["merged"] is False
    assert 'rel="next"' in answer.headers["link"] and "page=2" in answer.headers["link"]
    assert single["head"]["sha"] == repo.bare_git("rev-parse", "refs/heads/b0")
