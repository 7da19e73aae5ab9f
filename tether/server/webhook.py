"""``POST /api/webhook``: a verified push from a Git forge refreshes the applications it touches."""

from __future__ import annotations

import dataclasses

from starlette.responses import Response

from tether.server.http import JSONResponse, error_response, read_body
from tether.server.state import Context
from tether.source.errors import WebhookError
from tether.source.webhooks import WebhookSecrets, parse_webhook

#: keys of the ``tether-secret`` Secret (Argo CD's ``argocd-secret`` names) per provider field
SECRET_KEYS = {
    "github": "webhook.github.secret",
    "gitlab": "webhook.gitlab.secret",
    "bitbucket": "webhook.bitbucket.secret",
    "bitbucket_uuid": "webhook.bitbucket.uuid",
    "bitbucket_server": "webhook.bitbucketserver.secret",
    "gitea": "webhook.gitea.secret",
    "gogs": "webhook.gogs.secret",
    "generic": "webhook.generic.secret",
}


async def webhook_secrets(ctx: Context) -> WebhookSecrets:
    """Secrets from ``tether-secret``, overridden by those of the server settings."""
    values = await ctx.state.secret_store.values()
    found = {field: values.get(key) or None for field, key in SECRET_KEYS.items()}
    configured = ctx.state.settings.webhook_secrets
    if configured is not None:
        for field in dataclasses.fields(configured):
            value = getattr(configured, field.name)
            if value:
                found[field.name] = value
    return WebhookSecrets(**found)


async def receive_webhook(ctx: Context) -> Response:
    limit = ctx.state.settings.webhook_max_bytes
    try:
        body = await read_body(ctx.request, limit)
        event = parse_webhook(
            dict(ctx.request.headers), body, await webhook_secrets(ctx), max_body_bytes=limit
        )
    except WebhookError as exc:
        return error_response(exc.message, exc.status)
    refreshed = await ctx.state.controller.on_webhook(event.repo_urls) if event.repo_urls else []
    return JSONResponse({"refreshed": sorted(refreshed), "provider": event.provider})
