"""Bitbucket Server's open pull requests for the Pull Request generator, against its documented
REST shapes (``values``, ``isLastPage``, ``nextPageStart``; bearer or basic login), played by an
in-test handler on httpx2's MockTransport: there is no Bitbucket Server here."""

from __future__ import annotations

import base64
from typing import Any

import httpx2
import pytest

from tether.githost.bitbucketserver import BitbucketServerClient
from tether.githost.errors import GitHostAuthError

API = "https://bitbucket.example.com"
TOKEN = "BBDC-token-0123456789"


def pull(number: int, branch: str) -> dict[str, Any]:
    return {
        "id": number, "title": f"PR {number}", "state": "OPEN", "description": "",
        "fromRef": {"id": f"refs/heads/{branch}", "displayId": branch, "latestCommit": "c" * 40},
        "toRef": {"id": "refs/heads/main", "displayId": "main"},
        "author": {"user": {"name": "dev"}},
        "links": {"self": [{"href": f"{API}/projects/SHOP/repos/web/pull-requests/{number}"}]},
    }  # fmt: skip


def handler(expected_auth: str) -> Any:
    def answer(request: httpx2.Request) -> httpx2.Response:
        if request.headers.get("authorization") != expected_auth:
            return httpx2.Response(401, json={"errors": [{"message": "Authentication failed"}]})
        assert request.url.path == "/rest/api/1.0/projects/SHOP/repos/web/pull-requests"
        assert request.url.params["state"] == "OPEN"
        start = int(request.url.params["start"])
        if start == 0:
            return httpx2.Response(200, json={"values": [pull(1, "feature-a")], "start": 0,
                                              "isLastPage": False, "nextPageStart": 1})  # fmt: skip
        return httpx2.Response(200, json={"values": [pull(2, "feature-b")], "start": 1,
                                          "isLastPage": True})  # fmt: skip

    return answer


@pytest.mark.asyncio
async def test_open_pull_requests_across_pages_with_a_bearer_token() -> None:
    transport = httpx2.MockTransport(handler(f"Bearer {TOKEN}"))
    async with BitbucketServerClient(API, TOKEN, transport=transport) as client:
        pulls = await client.open_pull_requests("SHOP", "web")
    assert [(p.number, p.head, p.base, p.head_sha, p.author) for p in pulls] == [
        (1, "feature-a", "main", "c" * 40, "dev"), (2, "feature-b", "main", "c" * 40, "dev")
    ]  # fmt: skip


@pytest.mark.asyncio
async def test_basic_login_and_a_refusal_without_the_password() -> None:
    basic = "Basic " + base64.b64encode(b"bot:s3cret").decode()
    async with BitbucketServerClient(
        API, "bot:s3cret", basic=True, transport=httpx2.MockTransport(handler(basic))
    ) as client:
        assert len(await client.open_pull_requests("SHOP", "web")) == 2
    async with BitbucketServerClient(
        API, "bot:p4ss-not-this", basic=True, transport=httpx2.MockTransport(handler(basic))
    ) as client:
        with pytest.raises(GitHostAuthError) as refused:
            await client.open_pull_requests("SHOP", "web")
    assert "p4ss-not-this" not in refused.value.message
