"""A preview's comment and status on the fake host (GitHub's and Gitea's documented APIs): one
comment, edited in place; a comment someone else wrote with the marker is never taken over."""

from __future__ import annotations

from tests.githost.conftest import TOKEN, Repo
from tether.controller.previews import AppPreview, PreviewSettings, PullPreview
from tether.controller.previews.post import post, upsert_comment
from tether.controller.previews.report import MARKER
from tether.githost import GitHubClient
from tether.githost.fake import FakeGitHost


async def test_one_comment_edited_in_place_never_someone_elses(
    fake: FakeGitHost, repo: Repo, client: GitHubClient
) -> None:
    repo.push_branch("bump", {"deploy.yaml": "image: app:1.1.0\n"})
    pull = await client.open_pull_request(repo.name, "bump", "main", "Bump", "")
    # a reviewer quotes the marker: that comment is theirs (the host refuses the edit)
    fake.forge.add_comment(repo.name, pull.number, f"quoting {MARKER}", "reviewer")
    await upsert_comment(client, repo.name, pull.number, f"{MARKER} first")
    await upsert_comment(client, repo.name, pull.number, f"{MARKER} second")
    assert fake.comments(repo.name, pull.number) == [f"quoting {MARKER}", f"{MARKER} second"]


async def test_post_sets_comment_and_status_and_tells_what_failed(
    fake: FakeGitHost, repo: Repo
) -> None:
    head = repo.push_branch("bump2", {"deploy.yaml": "image: app:1.2.0\n"})
    pull = fake.forge.open_pull(repo.name, "bump2", "main", "Bump", "", "dev")
    preview = PullPreview("github", repo.url, pull.number, head, "main",
                          apps=(AppPreview("web", "default", head),))  # fmt: skip
    settings = PreviewSettings(tokens={"github": TOKEN}, api_urls={"github": fake.github_api_url})
    assert await post(preview, settings) == ()
    (status,) = fake.statuses(repo.name, head)
    assert (status.context, status.state) == ("tether/preview", "success")
    assert len(fake.comments(repo.name, pull.number)) == 1

    # no token: made, not posted, and said so
    (problem,) = await post(preview, PreviewSettings(api_urls=settings.api_urls))
    assert "no token for github" in problem
    # a commit the host does not know: the status fails, the comment is still edited
    unknown = PullPreview("github", repo.url, pull.number, "e" * 40, "main")
    (problem,) = await post(unknown, settings)
    assert problem.startswith("status: ") and TOKEN not in problem
    assert len(fake.comments(repo.name, pull.number)) == 1
