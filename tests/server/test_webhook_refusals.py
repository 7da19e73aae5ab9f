"""A webhook refused for want of a secret says where the secret goes, and the way it gives works."""

from __future__ import annotations

import hashlib
import hmac
import re
import shlex

import orjson
import pytest

from tests.server.conftest import CONTROL_NS, Stack, eventually
from tether.server.webhook import not_configured_message
from tether.source.errors import WebhookNotConfiguredError
from tether.source.webhooks import WebhookSecrets, parse_webhook

ON_THE_STACK = pytest.mark.asyncio(loop_scope="session")
#: headers that make each provider's request, and the key its refusal must name
UNCONFIGURED = {
    "github": ({"X-GitHub-Event": "push"}, "webhook.github.secret"),
    "gitlab": ({"X-Gitlab-Event": "Push Hook"}, "webhook.gitlab.secret"),
    "bitbucket": ({"X-Event-Key": "repo:push"}, "webhook.bitbucket.secret"),
    "bitbucket-server": ({"X-Event-Key": "repo:refs_changed"}, "webhook.bitbucketserver.secret"),
    "gitea": ({"X-Gitea-Event": "push"}, "webhook.gitea.secret"),
    "gogs": ({"X-Gogs-Event": "push"}, "webhook.gogs.secret"),
    "generic": ({"X-Tether-Event": "push"}, "webhook.generic.secret"),
}
#: providers the shared stack has no secret for (github and generic are configured)
REFUSED_BY_THE_STACK = ("gitlab", "bitbucket", "bitbucket-server", "gitea", "gogs")


def _command(message: str) -> list[str]:
    """The kubectl command a refusal suggests, as arguments."""
    found = re.search(r"`(kubectl [^`]+)`", message)
    assert found, f"no command in {message!r}"
    return shlex.split(found.group(1))


@pytest.mark.parametrize("provider", sorted(UNCONFIGURED))
def test_each_refusal_names_the_secret_its_key_and_the_command(provider: str) -> None:
    headers, key = UNCONFIGURED[provider]
    with pytest.raises(WebhookNotConfiguredError) as refused:
        parse_webhook(headers, b"{}", WebhookSecrets())
    message = not_configured_message(refused.value, "argocd")
    assert message.startswith(f"{provider} webhook refused: no secret is configured")
    where = "of Secret tether-secret in namespace argocd"
    if provider == "bitbucket":  # Bitbucket Cloud may be checked by the webhook's UUID instead
        where = f"(or webhook.bitbucket.uuid, the webhook's UUID) {where}"
    assert f"the key {key} {where}" in message
    assert _command(message) == [
        "kubectl",
        "-n",
        "argocd",
        "patch",
        "secret",
        "tether-secret",
        "--type",
        "merge",
        "-p",
        orjson.dumps({"stringData": {key: "<secret>"}}).decode(),
    ]


@ON_THE_STACK
async def test_the_api_refusal_says_where_the_secret_goes(stack: Stack) -> None:
    async with stack.http(None) as anonymous:
        for provider in REFUSED_BY_THE_STACK:
            headers, key = UNCONFIGURED[provider]
            answer = await anonymous.post("/api/webhook", content=b"{}", headers=headers)
            assert answer.status_code == 403, answer.text
            message = answer.json()["error"]
            assert f"the key {key}" in message and "Secret tether-secret" in message
            assert f"in namespace {CONTROL_NS}" in message
            assert f"kubectl -n {CONTROL_NS} patch secret tether-secret" in message


@ON_THE_STACK
async def test_the_suggested_command_makes_the_webhook_accepted(stack: Stack) -> None:
    secret = "gogs-hook-secret"
    payload = orjson.dumps({"ref": "refs/heads/main", "repository": {"clone_url": "http://x/y"}})
    signature = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    headers = {"X-Gogs-Event": "push", "X-Gogs-Signature": signature}
    async with stack.http(None) as anonymous:
        refused = await anonymous.post("/api/webhook", content=payload, headers=headers)
        assert refused.status_code == 403, refused.text
        command = [arg.replace("<secret>", secret) for arg in _command(refused.json()["error"])]
        await stack.kubectl(*command[1:])
        try:

            async def accepted() -> bool:
                answer = await anonymous.post("/api/webhook", content=payload, headers=headers)
                return answer.status_code == 200 and answer.json()["provider"] == "gogs"

            # the server reads tether-secret again after a short cache time
            await eventually(accepted, timeout=30, what="the gogs webhook accepted")
        finally:
            remove = orjson.dumps({"data": {"webhook.gogs.secret": None}}).decode()
            await stack.kubectl(*command[1:3], "patch", "secret", "tether-secret", "-p", remove)
