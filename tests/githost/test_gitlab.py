"""The GitLab client against GitLab's documented merge-request, note and commit-status shapes.

There is no fake GitLab server, so a small in-test handler (on httpx2's MockTransport) plays
the part: it checks each request's method, path, ``PRIVATE-TOKEN`` header and JSON fields as
GitLab's REST API documents them, and answers with the documented statuses and fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx2
import orjson
import pytest

from tether.githost import (
    GitHostAuthError,
    GitHostNotFoundError,
    GitLabClient,
    RateLimitedError,
)

TOKEN = "glpat-fakeToken0123456789"
API = "https://gitlab.example.com/api/v4"
PROJECT = "/api/v4/projects/platform%2Fapps%2Fdeploy"
SHA = "a" * 40


@dataclass
class FakeGitLab:
    """Merge requests of one project, and what was asked."""

    merge_requests: list[dict[str, Any]] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    answer_next: httpx2.Response | None = None
    page_size: int = 1

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.raw_path.decode().partition("?")[0]
        self.seen.append(f"{request.method} {path}")
        if self.answer_next is not None:
            answer, self.answer_next = self.answer_next, None
            return answer
        if request.headers.get("private-token") != TOKEN:
            return httpx2.Response(401, json={"message": "401 Unauthorized"})
        if "authorization" in request.headers:
            raise AssertionError("GitLab takes the token in PRIVATE-TOKEN only")
        if not path.startswith(PROJECT):
            return httpx2.Response(404, json={"message": "404 Project Not Found"})
        body = orjson.loads(request.content) if request.content else {}
        return self.route(request, path[len(PROJECT) :], body)

    def route(self, request: httpx2.Request, path: str, body: dict[str, Any]) -> httpx2.Response:
        method = request.method
        if (method, path) == ("GET", "/merge_requests"):
            return self.listing(request.url.params)
        if (method, path) == ("POST", "/merge_requests"):
            return self.create(body)
        if path.startswith("/merge_requests/"):
            iid, _, rest = path[len("/merge_requests/") :].partition("/")
            found = next((m for m in self.merge_requests if m["iid"] == int(iid)), None)
            if found is None:
                return httpx2.Response(404, json={"message": "404 Not found"})
            if (method, rest) == ("PUT", ""):
                return self.edit(found, body)
            if (method, rest) == ("POST", "notes"):
                assert set(body) == {"body"}
                self.notes.append((found["iid"], body["body"]))
                return httpx2.Response(201, json={"id": len(self.notes), "body": body["body"]})
            if (method, rest) == ("GET", "notes"):
                return self.note_listing(found["iid"], request.url.params)
            if method == "PUT" and rest.startswith("notes/"):
                return self.edit_note(found["iid"], int(rest[len("notes/") :]), body)
        if method == "POST" and path == f"/statuses/{SHA}":
            assert body["state"] in ("pending", "running", "success", "failed", "canceled")
            if self.statuses and self.statuses[-1]["state"] == body["state"]:
                message = f"Cannot transition status via :run from :{body['state']}"
                return httpx2.Response(400, json={"message": message})
            self.statuses.append(body)
            return httpx2.Response(201, json={"id": len(self.statuses), "status": body["state"]})
        raise AssertionError(f"not a documented request: {method} {path}")

    def note_listing(self, iid: int, params: httpx2.QueryParams) -> httpx2.Response:
        assert params["sort"] == "asc" and params["order_by"] == "created_at"
        notes = [
            {"id": index + 1, "body": text, "system": text.startswith("added 1 commit")}
            for index, (on, text) in enumerate(self.notes)
            if on == iid
        ]
        page = int(params.get("page", "1"))
        chunk = notes[(page - 1) * self.page_size : page * self.page_size]
        more = page * self.page_size < len(notes)
        return httpx2.Response(
            200, json=chunk, headers={"x-next-page": str(page + 1) if more else ""}
        )

    def edit_note(self, iid: int, note_id: int, body: dict[str, Any]) -> httpx2.Response:
        assert set(body) == {"body"}
        if not 0 < note_id <= len(self.notes) or self.notes[note_id - 1][0] != iid:
            return httpx2.Response(404, json={"message": "404 Not found"})
        self.notes[note_id - 1] = (iid, body["body"])
        return httpx2.Response(200, json={"id": note_id, "body": body["body"]})

    def listing(self, params: httpx2.QueryParams) -> httpx2.Response:
        assert params["state"] == "opened"
        found = [
            m
            for m in self.merge_requests
            if m["state"] == "opened"
            and m["source_branch"] == params["source_branch"]
            and m["target_branch"] == params["target_branch"]
        ]
        # the filters are what GitLab documents; pages also carry the other open ones, so
        # that matching and x-next-page are both exercised
        found = [
            m for m in self.merge_requests if m["state"] == "opened" and m not in found
        ] + found
        page = int(params.get("page", "1"))
        chunk = found[(page - 1) * self.page_size : page * self.page_size]
        more = page * self.page_size < len(found)
        headers = {"x-next-page": str(page + 1) if more else "", "x-page": str(page)}
        return httpx2.Response(200, json=chunk, headers=headers)

    def create(self, body: dict[str, Any]) -> httpx2.Response:
        assert set(body) == {"source_branch", "target_branch", "title", "description"}
        for existing in self.merge_requests:
            pair = (existing["source_branch"], existing["target_branch"], existing["state"])
            if pair == (body["source_branch"], body["target_branch"], "opened"):
                message = [
                    "Another open merge request already exists for this source branch: "
                    f"!{existing['iid']}"
                ]
                return httpx2.Response(409, json={"message": message})
        iid = len(self.merge_requests) + 1
        created = {
            "id": 100 + iid,
            "iid": iid,
            "project_id": 7,
            "title": body["title"],
            "description": body["description"],
            "state": "opened",
            "source_branch": body["source_branch"],
            "target_branch": body["target_branch"],
            "sha": SHA,
            "web_url": f"https://gitlab.example.com/platform/apps/deploy/-/merge_requests/{iid}",
        }
        self.merge_requests.append(created)
        return httpx2.Response(201, json=created)

    def edit(self, found: dict[str, Any], body: dict[str, Any]) -> httpx2.Response:
        assert set(body) <= {"title", "description", "state_event"}
        found.update({k: v for k, v in body.items() if k in ("title", "description")})
        if body.get("state_event") == "close":
            found["state"] = "closed"
        return httpx2.Response(200, json=found)


@pytest.fixture
def gitlab() -> FakeGitLab:
    return FakeGitLab()


@pytest.fixture
async def client(gitlab: FakeGitLab) -> Any:
    async with GitLabClient(API, TOKEN, transport=httpx2.MockTransport(gitlab)) as host:
        yield host


REPO = "platform/apps/deploy"


async def test_open_then_find_across_pages(client: GitLabClient, gitlab: FakeGitLab) -> None:
    await client.open_pull_request(REPO, "other", "main", "Other", "")
    opened = await client.open_pull_request(REPO, "tether/update", "main", "Update", "app 1 → 2")

    found = await client.find_pull_request(REPO, "tether/update", "main")

    assert found == opened
    assert (opened.number, opened.head, opened.base, opened.state) == (
        2,
        "tether/update",
        "main",
        "open",
    )
    assert opened.url.endswith("/-/merge_requests/2") and opened.head_sha == SHA
    listed = [s for s in gitlab.seen if s.startswith("GET")]
    assert len(listed) == 2  # one merge request a page: the second page had it


async def test_opening_again_updates_the_open_one(client: GitLabClient, gitlab: FakeGitLab) -> None:
    first = await client.open_pull_request(REPO, "tether/update", "main", "Update", "1 → 2")

    second = await client.open_pull_request(REPO, "tether/update", "main", "Update to 3", "1 → 3")

    assert second.number == first.number and (second.title, second.body) == ("Update to 3", "1 → 3")
    assert len(gitlab.merge_requests) == 1
    assert gitlab.seen[-1] == f"PUT {PROJECT}/merge_requests/1"


async def test_close_posts_a_note_then_closes(client: GitLabClient, gitlab: FakeGitLab) -> None:
    opened = await client.open_pull_request(REPO, "tether/update", "main", "Update", "")

    await client.close_pull_request(REPO, opened.number, comment="Superseded by !2")

    assert gitlab.notes == [(1, "Superseded by !2")]
    assert gitlab.merge_requests[0]["state"] == "closed"
    assert await client.find_pull_request(REPO, "tether/update", "main") is None


async def test_commit_states_map_onto_gitlabs(client: GitLabClient, gitlab: FakeGitLab) -> None:
    await client.set_commit_status(REPO, SHA, "failure", "tether/sync", "Degraded", "https://t/x")
    await client.set_commit_status(REPO, SHA, "error", "tether/sync", "Degraded again")

    assert gitlab.statuses == [
        {
            "state": "failed",
            "name": "tether/sync",
            "description": "Degraded",
            "target_url": "https://t/x",
        }
    ]  # the second was already the state: GitLab's 400 "Cannot transition" counts as done


async def test_a_wrong_token_is_an_auth_error(gitlab: FakeGitLab) -> None:
    transport = httpx2.MockTransport(gitlab)
    async with GitLabClient(API, "glpat-wrong-0123456789", transport=transport) as client:
        with pytest.raises(GitHostAuthError, match="401 Unauthorized") as caught:
            await client.comment(REPO, 1, "x")
    assert "glpat-wrong" not in str(caught.value) and "`api` scope" not in str(caught.value)


async def test_an_unknown_project_is_not_found(client: GitLabClient) -> None:
    with pytest.raises(GitHostNotFoundError, match="`api` scope") as caught:
        await client.find_pull_request("platform/other", "a", "main")
    assert "404 Project Not Found" in str(caught.value) and TOKEN not in str(caught.value)


async def test_429_says_when_to_retry(gitlab: FakeGitLab) -> None:
    transport = httpx2.MockTransport(gitlab)
    async with GitLabClient(API, TOKEN, transport=transport, clock=lambda: 500.0) as client:
        gitlab.answer_next = httpx2.Response(
            429, json={"message": "Retry later"}, headers={"ratelimit-reset": "560"}
        )
        with pytest.raises(RateLimitedError) as caught:
            await client.comment(REPO, 1, "x")
    assert (caught.value.retry_at, caught.value.retry_after) == (560.0, 60.0)


def test_a_project_path_must_have_a_group() -> None:
    from tether.githost import GitHostConfigError
    from tether.githost.gitlab import project_id

    assert project_id("group/sub/project.git") == "group%2Fsub%2Fproject"
    with pytest.raises(GitHostConfigError):
        project_id("project")


async def test_notes_are_listed_across_pages_and_edited_in_place(
    client: GitLabClient, gitlab: FakeGitLab
) -> None:
    opened = await client.open_pull_request(REPO, "tether/preview", "main", "t", "b")
    await client.comment(REPO, opened.number, "first")
    gitlab.notes.append((opened.number, "added 1 commit"))  # GitLab's own system note
    await client.comment(REPO, opened.number, "<!-- mark --> preview")
    notes = await client.comments(REPO, opened.number)
    assert [n.body for n in notes] == ["first", "<!-- mark --> preview"]
    await client.edit_comment(REPO, opened.number, notes[1].id, "<!-- mark --> again")
    assert gitlab.notes[notes[1].id - 1] == (opened.number, "<!-- mark --> again")
    assert f"PUT {PROJECT}/merge_requests/{opened.number}/notes/{notes[1].id}" in gitlab.seen
